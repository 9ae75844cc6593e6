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
        let mut bind_specs = hc.binds.clone().unwrap_or_default();
        // The same spec twice is one mount (the docker CLI may repeat it).
        let mut seen = std::collections::HashSet::new();
        bind_specs.retain(|b| seen.insert(b.clone()));
        let binds = bind_specs
            .iter()
            .map(|b| parse_bind(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(vol_err)?;
        let mounts = hc
            .mounts
            .clone()
            .unwrap_or_default()
            .iter()
            .map(berth_volumes::parse_mount_spec)
            .collect::<Result<Vec<_>, _>>()
            .map_err(vol_err)?;
        let tmpfs: Vec<String> = hc.tmpfs.clone().unwrap_or_default().into_keys().collect();
        berth_volumes::check_duplicates(&binds, &mounts, &tmpfs).map_err(vol_err)?;
        for m in binds.into_iter().chain(mounts) {
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
                    // Only shared/slave binds need the host's mount table (binds default to
                    // rprivate, so a start normally skips reading it).
                    if m.kind == "bind"
                        && matches!(
                            m.propagation.as_str(),
                            "shared" | "rshared" | "slave" | "rslave"
                        )
                    {
                        let info = std::fs::read_to_string("/proc/self/mountinfo")?;
                        let real = std::fs::canonicalize(&source).unwrap_or(source.clone());
                        check_propagation(&info, &real, &m.propagation)
                            .map_err(ApiError::internal)?;
                    }
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

/// dockerd's check before a bind with shared or slave propagation: the mount holding the
/// source must itself be shared (`shared`/`rshared`), or shared or a slave (`slave`/`rslave`);
/// otherwise the propagation asked for could never happen. `mountinfo` is
/// /proc/self/mountinfo's text.
pub(crate) fn check_propagation(
    mountinfo: &str,
    source: &Path,
    propagation: &str,
) -> Result<(), String> {
    let slave_ok = match propagation {
        "shared" | "rshared" => false,
        "slave" | "rslave" => true,
        _ => return Ok(()),
    };
    // The mount whose mount point is the longest prefix of `source`.
    let holder = mountinfo
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let point = unescape_mountinfo(fields.get(4)?);
            let optional: Vec<&str> = fields
                .get(6..)?
                .iter()
                .take_while(|f| **f != "-")
                .copied()
                .collect();
            source.starts_with(&point).then(|| {
                (
                    point,
                    optional.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                )
            })
        })
        .max_by_key(|(point, _)| point.as_os_str().len());
    let Some((point, optional)) = holder else {
        return Ok(());
    };
    let shared = optional.iter().any(|o| o.starts_with("shared:"));
    let slave = optional.iter().any(|o| o.starts_with("master:"));
    if shared || (slave_ok && slave) {
        return Ok(());
    }
    Err(format!(
        "path {} is mounted on {} but it is not a {} mount",
        source.display(),
        point.display(),
        if slave_ok {
            "shared or slave"
        } else {
            "shared"
        }
    ))
}

/// A mountinfo path field with its octal escapes (`\040` for a space) decoded.
fn unescape_mountinfo(field: &str) -> std::path::PathBuf {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && (b'0'..=b'3').contains(&b[i + 1])
            && b[i + 2..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    std::path::PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod propagation_tests {
    use super::*;

    const INFO: &str = "\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
30 22 0:40 / /mnt/shared rw,relatime shared:7 - tmpfs tmpfs rw
31 22 0:41 / /mnt/slave rw,relatime master:7 - tmpfs tmpfs rw
32 22 0:42 / /mnt/with\\040space rw,relatime shared:9 - tmpfs tmpfs rw
";

    #[test]
    fn shared_and_slave_binds_need_a_matching_source_mount() {
        let c = |p: &str, prop: &str| check_propagation(INFO, Path::new(p), prop);
        assert_eq!(
            c("/srv/data", "rshared").unwrap_err(),
            "path /srv/data is mounted on / but it is not a shared mount"
        );
        assert_eq!(
            c("/srv/data", "rslave").unwrap_err(),
            "path /srv/data is mounted on / but it is not a shared or slave mount"
        );
        assert!(c("/srv/data", "rprivate").is_ok());
        assert!(c("/mnt/shared/x", "rshared").is_ok());
        assert!(c("/mnt/slave/x", "rslave").is_ok());
        assert!(c("/mnt/slave/x", "shared").is_err());
        assert!(c("/mnt/with space/y", "rshared").is_ok());
        // Path components, not string prefixes.
        assert!(c("/mnt/sharedother", "rshared").is_err());
    }
}
