//! Docker's mount specifications: `HostConfig.Binds` strings (`-v`), `--volumes-from` entries,
//! and the per-container mount records `inspect` shows as `Mounts`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Result, VolumeError};

/// One mount of a container, persisted with it and shown by `inspect` as a `Mounts` item.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountRecord {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// Volume name (volumes only).
    #[serde(default)]
    pub name: String,
    /// Host path (bind) or the volume's `_data` path.
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Volume driver (`local`) or empty.
    #[serde(default)]
    pub driver: String,
    /// Mode string as given (`ro`, `z`, ...).
    #[serde(default)]
    pub mode: String,
    /// Writable.
    pub rw: bool,
    /// Bind propagation (`rprivate` for binds).
    #[serde(default)]
    pub propagation: String,
    /// Do not copy image content into a new volume.
    #[serde(default)]
    pub no_copy: bool,
    /// The volume was created for this container (removed by `rm -v` and `--rm`).
    #[serde(default)]
    pub anonymous: bool,
    /// tmpfs mount options (`size=1m,mode=1777`).
    #[serde(default)]
    pub tmpfs_options: String,
    /// Bind source missing is an error instead of being created (`--mount type=bind`).
    #[serde(default)]
    pub require_source: bool,
}

impl MountRecord {
    /// The `Mounts` item of `docker inspect`, shaped as dockerd prints it.
    pub fn to_api_json(&self) -> Value {
        match self.kind.as_str() {
            "volume" => json!({
                "Type": "volume", "Name": self.name, "Source": self.source,
                "Destination": self.destination, "Driver": self.driver, "Mode": self.mode,
                "RW": self.rw, "Propagation": self.propagation,
            }),
            "tmpfs" => json!({
                "Type": "tmpfs", "Source": "", "Destination": self.destination, "Mode": self.mode,
                "RW": self.rw, "Propagation": self.propagation,
            }),
            _ => json!({
                "Type": "bind", "Source": self.source, "Destination": self.destination,
                "Mode": self.mode, "RW": self.rw, "Propagation": self.propagation,
            }),
        }
    }
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// Whether `mode` is a valid `-v` mode list (`ro,z`, `rw`, `nocopy`, `rshared`...).
fn valid_mode(mode: &str) -> bool {
    let (mut rw, mut label, mut prop, mut copy, mut consistency) = (0, 0, 0, 0, 0);
    for m in mode.split(',') {
        match m {
            "ro" | "rw" => rw += 1,
            "z" | "Z" => label += 1,
            "nocopy" => copy += 1,
            "consistent" | "cached" | "delegated" => consistency += 1,
            p if PROPAGATIONS.contains(&p) => prop += 1,
            _ => return false,
        }
    }
    rw <= 1 && label <= 1 && prop <= 1 && copy <= 1 && consistency <= 1
}

fn absolute_dest(spec: &str, kind: &str, dest: &str) -> Result<()> {
    if dest.starts_with('/') {
        if clean(dest) == "/" {
            return Err(VolumeError::Invalid(format!(
                "invalid volume specification: '{spec}': invalid mount config for type \"{kind}\": invalid specification: destination can't be '/'"
            )));
        }
        return Ok(());
    }
    Err(VolumeError::Invalid(format!(
        "invalid volume specification: '{spec}': invalid mount config for type \"{kind}\": invalid mount path: '{dest}' mount path must be absolute"
    )))
}

fn invalid_spec(spec: &str) -> VolumeError {
    VolumeError::Invalid(format!("invalid volume specification: '{spec}'"))
}

/// Parses one `HostConfig.Binds` entry the way dockerd's Linux parser does: `/host:/ctr[:mode]`
/// is a bind, `name:/ctr[:mode]` a named volume, `/ctr` an anonymous volume. A name with
/// characters a local volume may not have is accepted here: `VolumeStore::create` rejects it
/// with dockerd's `create <name>: ... includes invalid characters ...` message.
pub fn parse_bind(spec: &str) -> Result<MountRecord> {
    let parts: Vec<&str> = spec.splitn(4, ':').collect();
    if parts.first().is_none_or(|p| p.is_empty()) {
        return Err(invalid_spec(spec));
    }
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        // `/foo:ro` names no destination: dockerd refuses it as a whole.
        [_, m] if valid_mode(m) => return Err(invalid_spec(spec)),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid_spec(spec)),
    };
    if !mode.is_empty() && !valid_mode(mode) {
        return Err(VolumeError::Invalid(format!("invalid mode: {mode}")));
    }
    if dst.is_empty() {
        let kind = if src.starts_with('/') {
            "bind"
        } else {
            "volume"
        };
        return Err(VolumeError::Invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"{kind}\": field Target must not be empty"
        )));
    }
    let modes: Vec<&str> = mode.split(',').filter(|m| !m.is_empty()).collect();
    let rw = !modes.contains(&"ro");
    let propagation = modes
        .iter()
        .find(|m| PROPAGATIONS.contains(m))
        .map(|p| p.to_string());
    let no_copy = modes.contains(&"nocopy");
    if src.starts_with('/') {
        absolute_dest(spec, "bind", dst)?;
        if no_copy {
            return Err(VolumeError::Invalid(format!(
                "invalid volume specification: '{spec}': invalid mount config for type \"bind\": field VolumeOptions must not be specified"
            )));
        }
        return Ok(MountRecord {
            kind: "bind".into(),
            source: clean(src),
            destination: clean(dst),
            mode: mode.to_string(),
            rw,
            propagation: propagation.unwrap_or_else(|| "rprivate".into()),
            ..Default::default()
        });
    }
    absolute_dest(spec, "volume", dst)?;
    if propagation.is_some() {
        return Err(VolumeError::Invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"volume\": field BindOptions must not be specified"
        )));
    }
    Ok(MountRecord {
        kind: "volume".into(),
        name: src.to_string(),
        destination: clean(dst),
        driver: "local".into(),
        // dockerd records the SELinux default `z` for named volumes given without a mode.
        mode: if mode.is_empty() && !src.is_empty() {
            "z".into()
        } else {
            mode.to_string()
        },
        rw,
        no_copy,
        anonymous: src.is_empty(),
        ..Default::default()
    })
}

/// Splits a `--volumes-from` entry into the container and the access override: `Some(false)`
/// when the mode has `ro`, else `None` (the source's own RW is kept: dockerd computes
/// `RW = source.RW && !ro`, so `:rw` never makes a read-only mount writable).
/// Propagation and copy modes are refused as dockerd does (`invalid mode: rshared`).
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>)> {
    if spec.is_empty() {
        return Err(VolumeError::Invalid(
            "volumes-from specification cannot be an empty string".into(),
        ));
    }
    let Some((id, mode)) = spec.split_once(':') else {
        return Ok((spec.to_string(), None));
    };
    if mode.is_empty() {
        return Ok((id.to_string(), None));
    }
    let modes: Vec<&str> = mode.split(',').collect();
    if !valid_mode(mode)
        || modes
            .iter()
            .any(|m| PROPAGATIONS.contains(m) || *m == "nocopy")
    {
        return Err(VolumeError::Invalid(format!("invalid mode: {mode}")));
    }
    let ro = modes.contains(&"ro");
    Ok((id.to_string(), ro.then_some(false)))
}

/// Formats a tmpfs size the way dockerd does (largest of g/m/k dividing it evenly).
fn tmpfs_size(bytes: i64) -> String {
    for (suffix, div) in [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes % div == 0 {
            return format!("{}{suffix}", bytes / div);
        }
    }
    bytes.to_string()
}

/// Validates one `HostConfig.Mounts` entry (`--mount`) with dockerd's messages and turns it into
/// a mount record. The bind source's existence is not checked here (no I/O): the caller
/// refuses a missing one when `require_source` is set, with
/// `invalid mount config for type "bind": bind source path does not exist: <path>`.
/// A tmpfs record's `tmpfs_options` holds dockerd's option string (`ro,mode=1700,size=2m`).
pub fn parse_mount_spec(spec: &berth_api::MountSpec) -> Result<MountRecord> {
    let typ = spec.r#type.clone().unwrap_or_default();
    let target = spec.target.clone().unwrap_or_default();
    let source = spec.source.clone().unwrap_or_default();
    let invalid =
        |msg: &str| VolumeError::Invalid(format!("invalid mount config for type \"{typ}\": {msg}"));
    if target.is_empty() {
        return Err(invalid("field Target must not be empty"));
    }
    if clean(&target) == "/" {
        return Err(invalid("invalid specification: destination can't be '/'"));
    }
    if !target.starts_with('/') {
        return Err(invalid(&format!(
            "invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    let read_only = spec.read_only.unwrap_or(false);
    match typ.as_str() {
        "bind" => {
            if source.is_empty() {
                return Err(invalid("field Source must not be empty"));
            }
            let propagation = spec
                .bind_options
                .as_ref()
                .and_then(|b| b.propagation.clone())
                .filter(|p| !p.is_empty());
            if let Some(p) = &propagation
                && !PROPAGATIONS.contains(&p.as_str())
            {
                return Err(invalid(&format!("invalid propagation mode: {p}")));
            }
            if spec.volume_options.is_some() {
                return Err(invalid("field VolumeOptions must not be specified"));
            }
            if !source.starts_with('/') {
                return Err(invalid(&format!(
                    "invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            Ok(MountRecord {
                kind: "bind".into(),
                source: clean(&source),
                destination: clean(&target),
                rw: !read_only,
                propagation: propagation.unwrap_or_else(|| "rprivate".into()),
                require_source: true,
                ..Default::default()
            })
        }
        "volume" => {
            if spec.bind_options.is_some() {
                return Err(invalid("field BindOptions must not be specified"));
            }
            if read_only && source.is_empty() {
                return Err(invalid(
                    "must not set ReadOnly mode when using anonymous volumes",
                ));
            }
            let no_copy = spec
                .volume_options
                .as_ref()
                .and_then(|v| v.no_copy)
                .unwrap_or(false);
            Ok(MountRecord {
                kind: "volume".into(),
                name: source.clone(),
                destination: clean(&target),
                driver: "local".into(),
                mode: "z".into(),
                rw: !read_only,
                no_copy,
                anonymous: source.is_empty(),
                ..Default::default()
            })
        }
        "tmpfs" => {
            if spec.bind_options.is_some() {
                return Err(invalid("field BindOptions must not be specified"));
            }
            if !source.is_empty() {
                return Err(invalid("field Source must not be specified"));
            }
            let mut opts = Vec::new();
            if read_only {
                opts.push("ro".to_string());
            }
            if let Some(t) = &spec.tmpfs_options {
                if let Some(mode) = t.mode.filter(|m| *m != 0) {
                    opts.push(format!("mode={mode:o}"));
                }
                if let Some(size) = t.size_bytes.filter(|s| *s != 0) {
                    opts.push(format!("size={}", tmpfs_size(size)));
                }
            }
            Ok(MountRecord {
                kind: "tmpfs".into(),
                destination: clean(&target),
                rw: !read_only,
                tmpfs_options: opts.join(","),
                ..Default::default()
            })
        }
        _ => Err(invalid("mount type unknown")),
    }
}

/// dockerd's `Duplicate mount point: <dest>` checks at container create: two `Binds` at one
/// destination, a `Binds` entry at a `Tmpfs` destination, or a `Mounts` entry at a destination
/// a `Binds` or earlier `Mounts` entry already has. (`Mounts` over `Tmpfs`, and anything over
/// an image/`Config.Volumes` destination, are accepted: the later one wins.)
pub fn check_duplicates(
    binds: &[MountRecord],
    mounts: &[MountRecord],
    tmpfs_destinations: &[String],
) -> Result<()> {
    let dup = |d: &str| VolumeError::Invalid(format!("Duplicate mount point: {d}"));
    let tmpfs: Vec<String> = tmpfs_destinations.iter().map(|d| clean(d)).collect();
    let mut seen: Vec<&str> = Vec::new();
    for b in binds {
        if seen.contains(&b.destination.as_str()) || tmpfs.contains(&b.destination) {
            return Err(dup(&b.destination));
        }
        seen.push(&b.destination);
    }
    for m in mounts {
        if seen.contains(&m.destination.as_str()) {
            return Err(dup(&m.destination));
        }
        seen.push(&m.destination);
    }
    Ok(())
}

/// Lexically cleans a path (no `..` resolution against the filesystem): `//a/./b/` → `/a/b`.
fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            x => out.push(x),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_parse_like_dockerd() {
        let b = parse_bind("/tmp/src:/b:ro").unwrap();
        assert_eq!(b.kind, "bind");
        assert_eq!(b.source, "/tmp/src");
        assert!(!b.rw);
        assert_eq!(b.mode, "ro");
        assert_eq!(b.propagation, "rprivate");
        let v = parse_bind("myvol:/data").unwrap();
        assert_eq!(
            (v.kind.as_str(), v.name.as_str(), v.mode.as_str()),
            ("volume", "myvol", "z")
        );
        assert!(v.rw && !v.anonymous);
        let a = parse_bind("/anon").unwrap();
        assert!(a.anonymous);
        assert_eq!(a.mode, "");
        let n = parse_bind("cache:/c:ro,nocopy").unwrap();
        assert!(n.no_copy && !n.rw);
        let s = parse_bind("/h:/c:rshared").unwrap();
        assert_eq!(s.propagation, "rshared");
    }

    #[test]
    fn bad_binds_get_dockerd_messages() {
        let msg = |s: &str| parse_bind(s).unwrap_err().to_string();
        assert_eq!(msg("bad:name:/x"), "invalid mode: /x");
        assert_eq!(msg("/a:/b:zz"), "invalid mode: zz");
        assert_eq!(
            msg("myvol:relative"),
            "invalid volume specification: 'myvol:relative': invalid mount config for type \"volume\": invalid mount path: 'relative' mount path must be absolute"
        );
        assert_eq!(msg("a:b:c:d"), "invalid volume specification: 'a:b:c:d'");
        assert!(msg("/a:/b:ro,rw").starts_with("invalid mode"));
    }

    #[test]
    fn volumes_from_modes() {
        assert_eq!(parse_volumes_from("data").unwrap(), ("data".into(), None));
        assert_eq!(
            parse_volumes_from("data:ro").unwrap(),
            ("data".into(), Some(false))
        );
        // `:rw` keeps the source's own RW (never upgrades a read-only mount).
        assert_eq!(
            parse_volumes_from("data:rw").unwrap(),
            ("data".into(), None)
        );
        assert_eq!(
            parse_volumes_from("data:ro,z").unwrap(),
            ("data".into(), Some(false))
        );
        let msg = |s: &str| parse_volumes_from(s).unwrap_err().to_string();
        assert_eq!(msg("data:zz"), "invalid mode: zz");
        assert_eq!(msg("data:rshared"), "invalid mode: rshared");
        assert_eq!(msg("data:nocopy"), "invalid mode: nocopy");
        assert_eq!(
            msg(""),
            "volumes-from specification cannot be an empty string"
        );
    }

    // Expected texts below were captured from dockerd 20.10.24 on 2026-11-25.
    #[test]
    fn more_bind_forms_match_dockerd() {
        let msg = |s: &str| parse_bind(s).unwrap_err().to_string();
        assert_eq!(msg("/foo:ro"), "invalid volume specification: '/foo:ro'");
        assert_eq!(msg(":/x"), "invalid volume specification: ':/x'");
        assert_eq!(msg("/a:/x:ro,rw"), "invalid mode: ro,rw");
        assert_eq!(msg("/a:/x:Z,z"), "invalid mode: Z,z");
        assert_eq!(
            msg("/a:/"),
            "invalid volume specification: '/a:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'"
        );
        assert_eq!(
            msg("/a:rel"),
            "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"
        );
        assert_eq!(
            msg("/a:/x:nocopy"),
            "invalid volume specification: '/a:/x:nocopy': invalid mount config for type \"bind\": field VolumeOptions must not be specified"
        );
        assert_eq!(
            msg("v:/x:rshared"),
            "invalid volume specification: 'v:/x:rshared': invalid mount config for type \"volume\": field BindOptions must not be specified"
        );
        // Names a local volume may not have pass here; the store refuses them on create.
        assert_eq!(parse_bind("foo/bar:/x").unwrap().name, "foo/bar");
        assert_eq!(parse_bind("./rel:/x").unwrap().name, "./rel");
        let full = parse_bind("/a:/x:rw,z,rshared,cached").unwrap();
        assert_eq!(
            (full.rw, full.propagation.as_str(), full.mode.as_str()),
            (true, "rshared", "rw,z,rshared,cached")
        );
        let ro = parse_bind("/h:/hr:ro,rshared").unwrap();
        assert_eq!((ro.rw, ro.propagation.as_str()), (false, "rshared"));
        assert_eq!(parse_bind("nv:/nv:ro,nocopy").unwrap().mode, "ro,nocopy");
        assert_eq!(parse_bind("/a//b/:/x/../y/").unwrap().destination, "/y");
    }

    fn mspec(typ: &str, src: &str, dst: &str) -> berth_api::MountSpec {
        berth_api::MountSpec {
            r#type: Some(typ.into()),
            source: (!src.is_empty()).then(|| src.into()),
            target: (!dst.is_empty()).then(|| dst.into()),
            ..Default::default()
        }
    }

    #[test]
    fn mount_specs_match_dockerd() {
        let msg = |m: &berth_api::MountSpec| parse_mount_spec(m).unwrap_err().to_string();
        assert_eq!(
            msg(&mspec("bind", "", "/y")),
            "invalid mount config for type \"bind\": field Source must not be empty"
        );
        assert_eq!(
            msg(&mspec("tmpfs", "x", "/y")),
            "invalid mount config for type \"tmpfs\": field Source must not be specified"
        );
        assert_eq!(
            msg(&mspec("volume", "", "")),
            "invalid mount config for type \"volume\": field Target must not be empty"
        );
        assert_eq!(
            msg(&mspec("bind", "rel", "/y")),
            "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"
        );
        assert_eq!(
            msg(&mspec("foo", "", "/x")),
            "invalid mount config for type \"foo\": mount type unknown"
        );
        let mut ro_anon = mspec("volume", "", "/y");
        ro_anon.read_only = Some(true);
        assert_eq!(
            msg(&ro_anon),
            "invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes"
        );
        let mut vol_bind = mspec("volume", "x", "/y");
        vol_bind.bind_options = Some(berth_api::BindOptions {
            propagation: Some("rshared".into()),
            ..Default::default()
        });
        assert_eq!(
            msg(&vol_bind),
            "invalid mount config for type \"volume\": field BindOptions must not be specified"
        );
        let mut bogus = mspec("bind", "/tmp", "/y");
        bogus.bind_options = Some(berth_api::BindOptions {
            propagation: Some("bogus".into()),
            ..Default::default()
        });
        assert_eq!(
            msg(&bogus),
            "invalid mount config for type \"bind\": invalid propagation mode: bogus"
        );

        let b = parse_mount_spec(&mspec("bind", "/tmp/", "/b2")).unwrap();
        assert_eq!(
            (b.kind.as_str(), b.source.as_str(), b.propagation.as_str()),
            ("bind", "/tmp", "rprivate")
        );
        assert!(b.require_source && b.rw && b.mode.is_empty());
        let v = parse_mount_spec(&mspec("volume", "", "/anonm")).unwrap();
        assert!(v.anonymous && v.rw);
        assert_eq!(v.mode, "z");
        let mut t = mspec("tmpfs", "", "/t3");
        t.read_only = Some(true);
        t.tmpfs_options = Some(berth_api::TmpfsOptions {
            size_bytes: Some(2 << 20),
            mode: Some(0o1700),
        });
        let t = parse_mount_spec(&t).unwrap();
        assert_eq!(t.tmpfs_options, "ro,mode=1700,size=2m");
        assert!(!t.rw);
        let j = t.to_api_json();
        assert_eq!(j["Type"], "tmpfs");
        assert_eq!(j["Source"], "");
        assert_eq!(tmpfs_size(1000), "1000");
        assert_eq!(tmpfs_size(3 << 10), "3k");
    }

    #[test]
    fn duplicate_mount_points() {
        let b = |s: &str| parse_bind(s).unwrap();
        let m = |d: &str| parse_mount_spec(&mspec("bind", "/tmp", d)).unwrap();
        let err = |r: Result<()>| r.unwrap_err().to_string();
        assert_eq!(
            err(check_duplicates(&[b("/a:/x"), b("/b:/x")], &[], &[])),
            "Duplicate mount point: /x"
        );
        assert_eq!(
            err(check_duplicates(&[b("/a:/x")], &[m("/x")], &[])),
            "Duplicate mount point: /x"
        );
        assert_eq!(
            err(check_duplicates(&[], &[m("/x"), m("/x/")], &[])),
            "Duplicate mount point: /x"
        );
        assert_eq!(
            err(check_duplicates(&[b("/a:/x")], &[], &["/x".into()])),
            "Duplicate mount point: /x"
        );
        // `--mount` over `--tmpfs` is accepted by dockerd.
        check_duplicates(&[b("/a:/y")], &[m("/x")], &["/x".into()]).unwrap();
    }

    #[test]
    fn inspect_shape() {
        let v = parse_bind("/h:/c").unwrap().to_api_json();
        assert_eq!(v["Type"], "bind");
        assert_eq!(v["Propagation"], "rprivate");
        assert!(v.get("Name").is_none());
        let mut vol = parse_bind("n:/d").unwrap();
        vol.source = "/var/lib/berth/volumes/n/_data".into();
        let j = vol.to_api_json();
        assert_eq!(j["Driver"], "local");
        assert_eq!(j["Propagation"], "");
    }
}
