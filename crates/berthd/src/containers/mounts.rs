//! A container's mounts: planned at create from `Binds`, `Mounts`, `VolumesFrom` and the image's
//! `VOLUME`s (creating the volumes they name, copying image content into new ones), turned into
//! OCI bind/tmpfs mounts at start, and released at exit and removal.

use std::collections::BTreeMap;
use std::path::Path;

use berth_volumes::{MountRecord, parse_bind, parse_volumes_from};

use super::{ContainerRecord, ContainerService};
use crate::error::{ApiError, ApiResult};

fn vol_err(e: berth_volumes::VolumeError) -> ApiError {
    ApiError::from_classified(e)
}

impl ContainerService {
    /// Plans and prepares the mounts of a new container whose rootfs is mounted at `rootfs`.
    /// Volumes created here for it are removed again if planning fails.
    pub(crate) fn plan_mounts(
        &self,
        rec: &ContainerRecord,
        rootfs: &Path,
    ) -> ApiResult<Vec<MountRecord>> {
        let mut created: Vec<String> = Vec::new();
        let res = self.plan_mounts_inner(rec, rootfs, &mut created);
        if res.is_err() {
            for name in created {
                let _ = self.volumes.remove(&name, &[]);
            }
        }
        res
    }

    fn plan_mounts_inner(
        &self,
        rec: &ContainerRecord,
        rootfs: &Path,
        created: &mut Vec<String>,
    ) -> ApiResult<Vec<MountRecord>> {
        let hc = &rec.host_config;
        // Later sources override earlier ones at the same destination, in dockerd's order:
        // volumes-from, then image/config VOLUMEs, then binds, then --mount.
        let mut by_dest: BTreeMap<String, MountRecord> = BTreeMap::new();
        for spec in hc.volumes_from.clone().unwrap_or_default() {
            let (name, rw) = parse_volumes_from(&spec).map_err(vol_err)?;
            let src = self.get(&name)?.snapshot();
            for m in &src.mounts {
                let mut m = m.clone();
                if let Some(rw) = rw {
                    m.rw = rw;
                }
                m.mode = String::new();
                // The volume belongs to the container that made it.
                m.anonymous = false;
                by_dest.insert(m.destination.clone(), m);
            }
        }
        for dest in rec.config.volumes.clone().unwrap_or_default().keys() {
            if by_dest.contains_key(dest) {
                continue;
            }
            let mut m = parse_bind(dest).map_err(vol_err)?;
            m.anonymous = true;
            by_dest.insert(m.destination.clone(), m);
        }
        for b in hc.binds.clone().unwrap_or_default() {
            let m = parse_bind(&b).map_err(vol_err)?;
            by_dest.insert(m.destination.clone(), m);
        }
        for spec in hc.mounts.clone().unwrap_or_default() {
            let m = from_mount_spec(&spec)?;
            by_dest.insert(m.destination.clone(), m);
        }
        let mut out = Vec::new();
        for (_, mut m) in by_dest {
            match m.kind.as_str() {
                "bind" => {
                    let src = Path::new(&m.source);
                    if !src.exists() {
                        if m.require_source {
                            return Err(ApiError::invalid(format!(
                                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                                m.source
                            )));
                        }
                        // `-v /missing:/x` creates the host directory, as dockerd does.
                        std::fs::create_dir_all(src)?;
                    }
                }
                "volume" if m.source.is_empty() => {
                    let anonymous = m.name.is_empty();
                    let existed = !anonymous && self.volumes.get(&m.name).is_ok();
                    let v = self
                        .volumes
                        .create(
                            (!anonymous).then_some(m.name.as_str()),
                            &m.driver,
                            &BTreeMap::new(),
                            &BTreeMap::new(),
                            anonymous,
                        )
                        .map_err(vol_err)?;
                    if !existed {
                        created.push(v.name.clone());
                    }
                    m.name = v.name.clone();
                    m.source = v.mountpoint.display().to_string();
                    m.driver = v.driver.clone();
                    if !m.no_copy {
                        let inside =
                            crate::archive::resolve_in_root(rootfs, &m.destination, false)?;
                        let data = self.volumes.mount(&v.name, &rec.id).map_err(vol_err)?;
                        let copied = berth_volumes::copy_up(&inside, &data);
                        self.volumes.unmount(&v.name, &rec.id);
                        copied.map_err(vol_err)?;
                    }
                }
                _ => {}
            }
            out.push(m);
        }
        Ok(out)
    }

    /// The OCI mounts of a starting container (volumes mounted for it as needed).
    pub(crate) fn oci_mounts(
        &self,
        rec: &ContainerRecord,
    ) -> ApiResult<Vec<oci_spec::runtime::Mount>> {
        let mut out = Vec::new();
        for m in &rec.mounts {
            let mount = match m.kind.as_str() {
                "tmpfs" => {
                    let mut o = vec![
                        "nosuid".to_string(),
                        "nodev".to_string(),
                        "noexec".to_string(),
                    ];
                    o.extend(
                        m.tmpfs_options
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from),
                    );
                    oci_spec::runtime::MountBuilder::default()
                        .destination(&m.destination)
                        .typ("tmpfs")
                        .source("tmpfs")
                        .options(o)
                        .build()
                }
                _ => {
                    let source = if m.kind == "volume" {
                        self.volumes.mount(&m.name, &rec.id).map_err(vol_err)?
                    } else {
                        Path::new(&m.source).to_path_buf()
                    };
                    let mut o = vec!["rbind".to_string()];
                    o.push(if m.propagation.is_empty() {
                        "rprivate".to_string()
                    } else {
                        m.propagation.clone()
                    });
                    if !m.rw {
                        o.push("ro".into());
                    }
                    oci_spec::runtime::MountBuilder::default()
                        .destination(&m.destination)
                        .typ("bind")
                        .source(source)
                        .options(o)
                        .build()
                }
            };
            out.push(mount.map_err(|e| ApiError::internal(e.to_string()))?);
        }
        Ok(out)
    }

    /// Lets go of option-mounted volumes when a container stops.
    pub(crate) fn release_mounts(&self, rec: &ContainerRecord) {
        for m in rec.mounts.iter().filter(|m| m.kind == "volume") {
            self.volumes.unmount(&m.name, &rec.id);
        }
    }

    /// Removes the anonymous volumes a removed container made (`rm -v`, `--rm`), unless another
    /// container still uses them.
    pub(crate) fn remove_anonymous_volumes(&self, rec: &ContainerRecord) {
        for m in rec
            .mounts
            .iter()
            .filter(|m| m.kind == "volume" && m.anonymous)
        {
            if self.users_of_volume(&m.name).is_empty()
                && let Err(e) = self.volumes.remove(&m.name, &[])
            {
                tracing::warn!("removing volume {}: {e}", m.name);
            }
        }
    }

    /// Ids of the containers whose mounts name a volume.
    pub fn users_of_volume(&self, name: &str) -> Vec<String> {
        self.all()
            .iter()
            .filter_map(|c| {
                let r = c.snapshot();
                r.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
                    .then_some(r.id)
            })
            .collect()
    }
}

/// A `--mount` entry (`HostConfig.Mounts`) as a mount record, with dockerd's validation.
fn from_mount_spec(spec: &berth_api::MountSpec) -> ApiResult<MountRecord> {
    let typ = spec.r#type.clone().unwrap_or_default();
    let target = spec.target.clone().unwrap_or_default();
    let invalid =
        |msg: &str| ApiError::invalid(format!("invalid mount config for type \"{typ}\": {msg}"));
    if target.is_empty() {
        return Err(invalid("field Target must not be empty"));
    }
    if !target.starts_with('/') {
        return Err(invalid(&format!(
            "invalid mount path: '{target}' mount path must be absolute"
        )));
    }
    let rw = !spec.read_only.unwrap_or(false);
    let source = spec.source.clone().unwrap_or_default();
    match typ.as_str() {
        "bind" => {
            if source.is_empty() {
                return Err(invalid("field Source must not be empty"));
            }
            Ok(MountRecord {
                kind: "bind".into(),
                source,
                destination: target,
                rw,
                propagation: spec
                    .bind_options
                    .as_ref()
                    .and_then(|b| b.propagation.clone())
                    .unwrap_or_else(|| "rprivate".into()),
                require_source: true,
                ..Default::default()
            })
        }
        "volume" => Ok(MountRecord {
            kind: "volume".into(),
            name: source.clone(),
            destination: target,
            driver: "local".into(),
            mode: "z".into(),
            rw,
            no_copy: spec
                .volume_options
                .as_ref()
                .and_then(|v| v.no_copy)
                .unwrap_or(false),
            anonymous: source.is_empty(),
            ..Default::default()
        }),
        "tmpfs" => {
            if !source.is_empty() {
                return Err(invalid("field Source must not be specified"));
            }
            let mut opts = Vec::new();
            if let Some(t) = &spec.tmpfs_options {
                if let Some(size) = t.size_bytes.filter(|s| *s > 0) {
                    opts.push(format!("size={size}"));
                }
                if let Some(mode) = t.mode {
                    opts.push(format!("mode={mode:o}"));
                }
            }
            Ok(MountRecord {
                kind: "tmpfs".into(),
                destination: target,
                rw,
                tmpfs_options: opts.join(","),
                ..Default::default()
            })
        }
        other => Err(ApiError::invalid(format!(
            "mount type unknown: \"{other}\""
        ))),
    }
}
