//! Capability sets: Docker's defaults and its `--cap-add` / `--cap-drop` / `--privileged` rules.

/// Errors of capability handling.
#[derive(Debug, thiserror::Error)]
pub enum CapError {
    /// A name that is not a Linux capability (Docker: `unknown capability: "CAP_FOO"`).
    #[error("unknown capability: {0:?}")]
    Unknown(String),
}

impl berth_core::Classify for CapError {
    fn kind(&self) -> berth_core::ErrorKind {
        berth_core::ErrorKind::InvalidArgument
    }
}

/// Every capability Linux defines, in kernel number order (CAP_CHOWN = 0 ...).
#[rustfmt::skip]
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/// Docker's default capabilities, in Docker's order.
#[rustfmt::skip]
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Docker's 14 default capabilities.
pub fn default_capabilities() -> Vec<String> {
    DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect()
}

/// The highest capability number the running kernel knows (`/proc/sys/kernel/cap_last_cap`).
pub fn host_last_cap() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The daemon's own bounding set (`CapBnd` of /proc/self/status) as a bit mask.
pub fn host_bounding_set() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

/// All capabilities the host kernel supports (what `--privileged` and `--cap-add ALL` grant).
pub fn all_capabilities(last_cap: Option<usize>) -> Vec<String> {
    let n = last_cap.map_or(ALL_CAPABILITIES.len(), |l| {
        (l + 1).min(ALL_CAPABILITIES.len())
    });
    ALL_CAPABILITIES[..n]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// `net_admin`, `CAP_NET_ADMIN` → `CAP_NET_ADMIN`; `all` → `ALL`.
pub fn normalize_capability(c: &str) -> Result<String, CapError> {
    let up = c.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let name = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL_CAPABILITIES.contains(&name.as_str()) {
        Ok(name)
    } else {
        Err(CapError::Unknown(name))
    }
}

fn normalize_all(list: &[String]) -> Result<Vec<String>, CapError> {
    list.iter().map(|c| normalize_capability(c)).collect()
}

/// The capability set of a container (Docker's `TweakCapabilities`): privileged → all; an
/// `ALL` in cap-add → all minus cap-drop; an `ALL` in cap-drop → just cap-add; otherwise the
/// defaults minus cap-drop plus cap-add. Names are case-insensitive, `CAP_` optional.
///
/// Capabilities outside this process's own bounding set are left out: no runtime started by
/// the daemon could grant them, and asking makes the container fail to start.
pub fn capabilities(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, CapError> {
    tweak(
        cap_add,
        cap_drop,
        privileged,
        host_last_cap(),
        host_bounding_set(),
    )
}

pub(crate) fn tweak(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
    last_cap: Option<usize>,
    bounding: Option<u64>,
) -> Result<Vec<String>, CapError> {
    let mut caps = tweak_unclamped(cap_add, cap_drop, privileged, last_cap)?;
    if let Some(mask) = bounding {
        caps.retain(|c| {
            ALL_CAPABILITIES
                .iter()
                .position(|a| a == c)
                .is_some_and(|bit| bit < 64 && mask & (1 << bit) != 0)
        });
    }
    Ok(caps)
}

fn tweak_unclamped(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
    last_cap: Option<usize>,
) -> Result<Vec<String>, CapError> {
    // Docker grants a privileged container everything before even looking at the lists.
    if privileged {
        return Ok(all_capabilities(last_cap));
    }
    let add = normalize_all(cap_add)?;
    let drop = normalize_all(cap_drop)?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        all_capabilities(last_cap)
            .into_iter()
            .filter(|c| !drop.contains(c))
            .collect()
    } else if drop.iter().any(|c| c == "ALL") {
        add
    } else {
        let mut caps: Vec<String> = default_capabilities()
            .into_iter()
            .filter(|c| !drop.contains(c))
            .collect();
        caps.extend(add);
        caps
    };
    // Docker may list a capability twice (`--cap-add CHOWN`); the set is what matters.
    let mut seen = std::collections::HashSet::new();
    caps.retain(|c| seen.insert(c.clone()));
    Ok(caps)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn docker_rules() {
        assert_eq!(
            tweak(&[], &[], false, Some(40), None).unwrap(),
            default_capabilities()
        );
        let c = tweak(
            &s(&["net_admin", "chown"]),
            &s(&["CAP_CHOWN", "mknod"]),
            false,
            Some(40),
            None,
        )
        .unwrap();
        assert!(c.contains(&"CAP_NET_ADMIN".into()));
        assert!(
            c.contains(&"CAP_CHOWN".into()),
            "cap-add wins over cap-drop, as in Docker"
        );
        assert!(!c.contains(&"CAP_MKNOD".into()));
        assert_eq!(
            tweak(&[], &s(&["all"]), false, Some(40), None).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            tweak(&s(&["kill"]), &s(&["ALL"]), false, Some(40), None).unwrap(),
            s(&["CAP_KILL"])
        );
        let all_but = tweak(&s(&["ALL"]), &s(&["sys_admin"]), false, Some(40), None).unwrap();
        assert_eq!(all_but.len(), 40);
        assert!(!all_but.contains(&"CAP_SYS_ADMIN".into()));
        assert_eq!(tweak(&[], &[], true, Some(40), None).unwrap().len(), 41);
        assert_eq!(tweak(&[], &[], true, Some(37), None).unwrap().len(), 38);
        // A host without CAP_SYS_RESOURCE (bit 24) in its bounding set cannot hand it out.
        let clamped = tweak(
            &s(&["sys_resource"]),
            &[],
            true,
            Some(40),
            Some(0x1ff_feff_ffff),
        )
        .unwrap();
        assert_eq!(clamped.len(), 40);
        assert!(!clamped.contains(&"CAP_SYS_RESOURCE".into()));
        assert_eq!(host_bounding_set().map(|m| m != 0), Some(true));
        assert_eq!(
            tweak(&s(&["bogus"]), &[], false, None, None)
                .unwrap_err()
                .to_string(),
            r#"unknown capability: "CAP_BOGUS""#
        );
    }
}
