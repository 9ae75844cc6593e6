//! Device nodes and device-cgroup rules: Docker's default allow list, `--device`,
//! `--device-cgroup-rule`, and the host's devices for `--privileged`.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Errors of device handling.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// `--device` names something that is neither a device node nor a directory of them.
    #[error("error gathering device information while adding custom device {path:?}: {reason}")]
    NotADevice {
        /// The host path given.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// A `--device-cgroup-rule` that is not `<a|b|c> <major|*>:<minor|*> <rwm>`.
    #[error("invalid device cgroup rule format: '{0}'")]
    BadRule(String),
    /// A permission string that is not a subset of `rwm`.
    #[error("invalid device mode: {0}")]
    BadMode(String),
}

impl berth_core::Classify for DeviceError {
    fn kind(&self) -> berth_core::ErrorKind {
        berth_core::ErrorKind::InvalidArgument
    }
}

/// A `--device host[:container[:perms]]` mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceMapping {
    /// Device node (or directory of nodes) on the host.
    pub path_on_host: String,
    /// Where it appears in the container (empty: same as on the host).
    pub path_in_container: String,
    /// Cgroup permissions, a subset of `rwm` (empty: `rwm`).
    pub cgroup_permissions: String,
}

/// Docker's default device-cgroup rules for an unprivileged container: deny everything, then
/// allow null, zero, urandom, random, tty, console; deny fuse. (runc and youki add the pty
/// devices and /dev/full themselves, as they do under Docker.)
pub fn default_device_rules() -> Vec<Value> {
    let allow = |major: i64, minor: i64| json!({"allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm"});
    vec![
        json!({"allow": false, "access": "rwm"}),
        allow(1, 5),
        allow(1, 3),
        allow(1, 9),
        allow(1, 8),
        allow(5, 0),
        allow(5, 1),
        json!({"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"}),
    ]
}

/// A device node found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Path (in the container once mapped).
    pub path: PathBuf,
    /// `c` or `b`.
    pub kind: char,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Mode bits without the file type.
    pub file_mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl DeviceNode {
    /// The `linux.devices` entry.
    pub fn to_spec(&self) -> Value {
        json!({"path": self.path, "type": self.kind.to_string(), "major": self.major, "minor": self.minor,
               "fileMode": self.file_mode, "uid": self.uid, "gid": self.gid})
    }

    /// The `linux.resources.devices` rule allowing it.
    pub fn rule(&self, access: &str) -> Value {
        json!({"allow": true, "type": self.kind.to_string(), "major": self.major, "minor": self.minor, "access": access})
    }
}

/// The device node at `path` (not following a final symlink), or None if it is none.
pub fn device_at(path: &Path) -> Option<DeviceNode> {
    let m = path.symlink_metadata().ok()?;
    let ft = m.file_type();
    let kind = if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else {
        return None;
    };
    let rdev = m.rdev();
    let major = nix::sys::stat::major(rdev);
    // Major 0 is the "unnamed" range: not a real device.
    if major == 0 {
        return None;
    }
    Some(DeviceNode {
        path: path.to_path_buf(),
        kind,
        major,
        minor: nix::sys::stat::minor(rdev),
        file_mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
    })
}

fn check_mode(perms: &str) -> Result<String, DeviceError> {
    if perms.is_empty() {
        return Ok("rwm".into());
    }
    if perms.len() > 3 || !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(DeviceError::BadMode(perms.to_string()));
    }
    Ok(perms.to_string())
}

/// Devices and cgroup rules of one `--device` mapping (Docker's `DevicesFromPath`): a symlink
/// is resolved, a directory contributes every device below it.
pub fn devices_from_mapping(m: &DeviceMapping) -> Result<(Vec<Value>, Vec<Value>), DeviceError> {
    let access = check_mode(&m.cgroup_permissions)?;
    let host = Path::new(&m.path_on_host);
    let inside = if m.path_in_container.is_empty() {
        host
    } else {
        Path::new(&m.path_in_container)
    };
    let resolved = std::fs::canonicalize(host).unwrap_or_else(|_| host.to_path_buf());
    if let Some(mut d) = device_at(&resolved) {
        d.path = inside.to_path_buf();
        return Ok((vec![d.to_spec()], vec![d.rule(&access)]));
    }
    let (mut devs, mut rules) = (Vec::new(), Vec::new());
    if resolved.is_dir() {
        for d in walk_devices(&resolved, &[]) {
            let rel = d
                .path
                .strip_prefix(&resolved)
                .unwrap_or(&d.path)
                .to_path_buf();
            let node = DeviceNode {
                path: inside.join(rel),
                ..d
            };
            devs.push(node.to_spec());
            rules.push(node.rule(&access));
        }
    }
    if devs.is_empty() {
        let reason = if host.exists() {
            "not a device node"
        } else {
            "no such file or directory"
        };
        return Err(DeviceError::NotADevice {
            path: m.path_on_host.clone(),
            reason: reason.into(),
        });
    }
    Ok((devs, rules))
}

fn walk_devices(root: &Path, skip_dirs: &[&str]) -> Vec<DeviceNode> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = rd.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                if !skip_dirs.iter().any(|s| e.file_name() == *s) {
                    stack.push(p);
                }
            } else if let Some(d) = device_at(&p) {
                out.push(d);
            }
        }
    }
    out
}

/// Every device node under /dev, as containerd's `HostDevices` lists them for a privileged
/// container: pts, shm, fd, mqueue and the lxc/udev helper dirs are skipped, as is
/// /dev/console (the runtime provides it) and /dev/ptmx (always the devpts symlink).
pub fn host_devices() -> Vec<Value> {
    walk_devices(
        Path::new("/dev"),
        &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"],
    )
    .into_iter()
    .filter(|d| d.path != Path::new("/dev/console") && d.path != Path::new("/dev/ptmx"))
    .map(|d| d.to_spec())
    .collect()
}

/// Parses a `--device-cgroup-rule` (`c 1:3 mr`, `a *:* rwm`).
pub fn parse_device_cgroup_rule(rule: &str) -> Result<Value, DeviceError> {
    let bad = || DeviceError::BadRule(rule.to_string());
    let parts: Vec<&str> = rule.split(' ').collect();
    let [kind, numbers, access] = parts.as_slice() else {
        return Err(bad());
    };
    if !matches!(*kind, "a" | "b" | "c") {
        return Err(bad());
    }
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |s: &str| -> Result<Value, DeviceError> {
        if s == "*" {
            return Ok(json!(-1));
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<i64>().map(|n| json!(n)).map_err(|_| bad())
    };
    if access.is_empty()
        || access.len() > 3
        || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
    {
        return Err(bad());
    }
    Ok(
        json!({"allow": true, "type": kind, "major": number(major)?, "minor": number(minor)?, "access": access}),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn default_rules_are_dockers() {
        let r = default_device_rules();
        assert_eq!(r.len(), 8);
        assert_eq!(r[0], json!({"allow": false, "access": "rwm"}));
        assert_eq!(
            r[1],
            json!({"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"})
        );
        assert_eq!(
            r[7],
            json!({"allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm"})
        );
    }

    #[test]
    fn device_mappings() {
        let m = DeviceMapping {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/mynull".into(),
            cgroup_permissions: "rw".into(),
        };
        let (devs, rules) = devices_from_mapping(&m).unwrap();
        assert_eq!(devs[0]["path"], "/dev/mynull");
        assert_eq!(devs[0]["type"], "c");
        assert_eq!(devs[0]["major"], 1);
        assert_eq!(devs[0]["minor"], 3);
        assert_eq!(
            rules[0],
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"})
        );
        let tmp = tempfile::tempdir().unwrap();
        let not_dev = DeviceMapping {
            path_on_host: tmp.path().display().to_string(),
            ..Default::default()
        };
        assert!(
            devices_from_mapping(&not_dev)
                .unwrap_err()
                .to_string()
                .contains("error gathering device information")
        );
        let bad_mode = DeviceMapping {
            path_on_host: "/dev/null".into(),
            cgroup_permissions: "rwx".into(),
            ..Default::default()
        };
        assert_eq!(
            devices_from_mapping(&bad_mode).unwrap_err().to_string(),
            "invalid device mode: rwx"
        );
    }

    #[test]
    fn cgroup_rules() {
        assert_eq!(
            parse_device_cgroup_rule("c 1:3 mr").unwrap(),
            json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "mr"})
        );
        assert_eq!(parse_device_cgroup_rule("a *:* rwm").unwrap()["major"], -1);
        for bad in ["c 1:3", "x 1:3 r", "c 1-3 r", "c 1:3 rwmx", "c a:3 r"] {
            assert!(parse_device_cgroup_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_devices_skip_console_and_pts() {
        for d in host_devices() {
            let p = d["path"].as_str().unwrap();
            assert!(p != "/dev/console" && !p.starts_with("/dev/pts/"), "{p}");
        }
    }
}
