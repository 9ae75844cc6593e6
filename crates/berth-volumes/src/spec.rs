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
        if dest == "/" {
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

/// Parses one `HostConfig.Binds` entry the way dockerd's Linux parser does: `/host:/ctr[:mode]`
/// is a bind, `name:/ctr[:mode]` a named volume, `/ctr` an anonymous volume.
pub fn parse_bind(spec: &str) -> Result<MountRecord> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(VolumeError::Invalid(format!(
                "invalid volume specification: '{spec}'"
            )));
        }
    };
    if dst.is_empty() {
        return Err(VolumeError::Invalid(format!(
            "invalid volume specification: '{spec}'"
        )));
    }
    if !mode.is_empty() && !valid_mode(mode) {
        return Err(VolumeError::Invalid(format!("invalid mode: {mode}")));
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
    if !src.is_empty() && src.contains('/') {
        return Err(VolumeError::Invalid(format!(
            "invalid volume specification: '{spec}'"
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

/// Splits a `--volumes-from` entry into the container and the access override
/// (`Some(true)` = `:rw`, `Some(false)` = `:ro`).
pub fn parse_volumes_from(spec: &str) -> Result<(String, Option<bool>)> {
    match spec.split_once(':') {
        None => Ok((spec.to_string(), None)),
        Some((c, "rw")) => Ok((c.to_string(), Some(true))),
        Some((c, "ro")) => Ok((c.to_string(), Some(false))),
        Some((_, m)) => Err(VolumeError::Invalid(format!(
            "invalid mode for volumes-from: {m}"
        ))),
    }
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
        assert!(parse_volumes_from("data:zz").is_err());
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
