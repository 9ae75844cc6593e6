//! Seccomp profiles in Docker's JSON format and their resolution into an OCI `LinuxSeccomp`.
//!
//! A Docker profile is not an OCI filter: its rules carry `includes`/`excludes` conditions
//! (capabilities in the bounding set, host architecture, minimum kernel) that are resolved
//! once, when the container's spec is built. Resolution keeps the rules' order and emits one
//! OCI syscall entry per surviving rule, exactly as dockerd does, so a custom profile passed
//! with `--security-opt seccomp=...` behaves as under Docker.
//!
//! The default profile is berth's own data, equivalent to Docker's: deny with EPERM by
//! default, allow the ordinary syscalls, open capability-gated groups to containers holding
//! the capability, restrict `clone` namespace flags and hide `clone3` without CAP_SYS_ADMIN.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompOperator,
    LinuxSyscall,
};
use serde::{Deserialize, Serialize};

/// Errors of seccomp profile handling.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile is not valid JSON of the expected shape.
    #[error("Decoding seccomp profile failed: {0}")]
    Decode(String),
    /// The profile is well-formed but contradictory or uses unknown names.
    #[error("{0}")]
    Invalid(String),
}

impl berth_core::Classify for SeccompError {
    fn kind(&self) -> berth_core::ErrorKind {
        berth_core::ErrorKind::InvalidArgument
    }
}

/// A seccomp profile in Docker's format (`defaultAction`, `archMap`, `syscalls[]` with
/// `includes`/`excludes`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Action for syscalls no rule matches.
    pub default_action: String,
    /// errno returned by an `SCMP_ACT_ERRNO` default action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// Explicit architecture list (exclusive with `arch_map`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// Per-native-architecture list of the architectures to include.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch_map: Option<Vec<ArchMap>>,
    /// Seccomp filter flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    /// Path of a seccomp notify agent socket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    /// Opaque metadata for the notify agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    /// Rules, applied in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syscalls: Option<Vec<Rule>>,
}

/// One `archMap` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    /// Native architecture, e.g. `SCMP_ARCH_X86_64`.
    pub architecture: String,
    /// Architectures that run on it too (e.g. x86, x32).
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// One syscall rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Legacy single name (exclusive with `names`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Syscall names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// `SCMP_ACT_*`.
    pub action: String,
    /// errno for `SCMP_ACT_ERRNO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions (all must hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<RuleArg>>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The rule applies only when all of these hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Filter>,
    /// The rule is dropped when any of these holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Filter>,
}

/// Condition on an argument.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuleArg {
    /// Argument index.
    pub index: u32,
    /// First operand.
    pub value: u64,
    /// Second operand (the expected value for `SCMP_CMP_MASKED_EQ`).
    #[serde(default)]
    pub value_two: u64,
    /// `SCMP_CMP_*`.
    pub op: String,
}

/// Conditions of `includes` / `excludes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// Capabilities (bounding set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caps: Option<Vec<String>>,
    /// Go architecture names (`amd64`, `arm64`, `s390x`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arches: Option<Vec<String>>,
    /// Minimum kernel version, `major.minor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// What a profile is resolved against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Go architecture name of the host (`amd64`, ...).
    pub arch: String,
    /// Host kernel (major, minor).
    pub kernel: (u32, u32),
    /// The container's bounding capabilities (`CAP_*`).
    pub caps: Vec<String>,
}

impl Target {
    /// The running host with the given capabilities.
    pub fn host(caps: &[String]) -> Target {
        Target {
            arch: go_arch().to_string(),
            kernel: host_kernel(),
            caps: caps.to_vec(),
        }
    }
}

/// The host architecture in Go's naming (the names profiles use in `arches`).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "mips64" if cfg!(target_endian = "little") => "mips64le",
        "mips" if cfg!(target_endian = "little") => "mipsle",
        other => other,
    }
}

fn native_scmp_arch(go: &str) -> Option<&'static str> {
    Some(match go {
        "386" => "SCMP_ARCH_X86",
        "amd64" => "SCMP_ARCH_X86_64",
        "arm" => "SCMP_ARCH_ARM",
        "arm64" => "SCMP_ARCH_AARCH64",
        "mips" => "SCMP_ARCH_MIPS",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mipsle" => "SCMP_ARCH_MIPSEL",
        "mips64le" => "SCMP_ARCH_MIPSEL64",
        "ppc64" => "SCMP_ARCH_PPC64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390" => "SCMP_ARCH_S390",
        "s390x" => "SCMP_ARCH_S390X",
        _ => return None,
    })
}

/// Parses `major.minor[.patch][-suffix]` (a `uname -r` or a profile's `minKernel`).
pub fn parse_kernel(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split(['.', '-', '+']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

fn host_kernel() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| u.release().to_str().and_then(parse_kernel))
        .unwrap_or((0, 0))
}

fn enum_from_str<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, SeccompError> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| SeccompError::Invalid(format!("unrecognized seccomp {what}: {s:?}")))
}

/// Parses a Docker-format profile.
pub fn parse_profile(json: &str) -> Result<Profile, SeccompError> {
    serde_json::from_str(json).map_err(|e| SeccompError::Decode(e.to_string()))
}

/// Resolves a Docker-format profile for one container, as dockerd's `setupSeccomp` does.
pub fn resolve(profile: &Profile, target: &Target) -> Result<LinuxSeccomp, SeccompError> {
    let archs = profile.architectures.as_deref().unwrap_or_default();
    let arch_map = profile.arch_map.as_deref().unwrap_or_default();
    if !archs.is_empty() && !arch_map.is_empty() {
        return Err(SeccompError::Invalid(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'"
                .into(),
        ));
    }
    let mut arch_names: Vec<String> = archs.to_vec();
    if let Some(native) = native_scmp_arch(&target.arch) {
        for m in arch_map.iter().filter(|m| m.architecture == native) {
            arch_names.push(m.architecture.clone());
            arch_names.extend(m.sub_architectures.iter().flatten().cloned());
        }
    }
    let architectures = arch_names
        .iter()
        .map(|a| enum_from_str::<Arch>("architecture", a))
        .collect::<Result<Vec<_>, _>>()?;

    let mut syscalls = Vec::new();
    for rule in profile.syscalls.iter().flatten() {
        let names = match (&rule.name, &rule.names) {
            (Some(n), Some(ns)) if !n.is_empty() && !ns.is_empty() => {
                return Err(SeccompError::Invalid("use either 'name' or 'names'".into()));
            }
            (Some(n), _) if !n.is_empty() => vec![n.clone()],
            (_, Some(ns)) => ns.clone(),
            _ => Vec::new(),
        };
        if !applies(rule, target)? {
            continue;
        }
        let action = enum_from_str::<LinuxSeccompAction>("action", &rule.action)?;
        let mut call = LinuxSyscall::default();
        call.set_names(names)
            .set_action(action)
            .set_errno_ret(rule.errno_ret);
        if let Some(args) = rule.args.as_ref().filter(|a| !a.is_empty()) {
            let mut out = Vec::with_capacity(args.len());
            for a in args {
                let mut b = LinuxSeccompArgBuilder::default()
                    .index(a.index as usize)
                    .value(a.value)
                    .op(enum_from_str::<LinuxSeccompOperator>("operator", &a.op)?);
                if a.value_two != 0 {
                    b = b.value_two(a.value_two);
                }
                out.push(
                    b.build()
                        .map_err(|e| SeccompError::Invalid(e.to_string()))?,
                );
            }
            call.set_args(Some(out));
        }
        syscalls.push(call);
    }

    let mut out = LinuxSeccomp::default();
    out.set_default_action(enum_from_str("action", &profile.default_action)?)
        .set_default_errno_ret(profile.default_errno_ret)
        .set_architectures((!architectures.is_empty()).then_some(architectures))
        .set_listener_path(profile.listener_path.clone().map(Into::into))
        .set_listener_metadata(profile.listener_metadata.clone())
        .set_syscalls(Some(syscalls));
    if let Some(flags) = profile.flags.as_ref().filter(|f| !f.is_empty()) {
        out.set_flags(Some(
            flags
                .iter()
                .map(|f| enum_from_str("flag", f))
                .collect::<Result<Vec<_>, _>>()?,
        ));
    }
    Ok(out)
}

fn kernel_at_least(target: &Target, min: &str) -> Result<bool, SeccompError> {
    let want = parse_kernel(min)
        .ok_or_else(|| SeccompError::Invalid(format!("invalid kernel version: {min:?}")))?;
    Ok(target.kernel >= want)
}

/// Whether a rule survives its `excludes` and `includes` for this target.
fn applies(rule: &Rule, t: &Target) -> Result<bool, SeccompError> {
    let has_cap = |c: &String| t.caps.iter().any(|x| x == c);
    if let Some(ex) = &rule.excludes {
        if ex.arches.iter().flatten().any(|a| *a == t.arch) {
            return Ok(false);
        }
        if ex.caps.iter().flatten().any(has_cap) {
            return Ok(false);
        }
        if let Some(k) = &ex.min_kernel
            && kernel_at_least(t, k)?
        {
            return Ok(false);
        }
    }
    if let Some(inc) = &rule.includes {
        if let Some(arches) = inc.arches.as_ref().filter(|a| !a.is_empty())
            && !arches.contains(&t.arch)
        {
            return Ok(false);
        }
        if !inc.caps.iter().flatten().all(has_cap) {
            return Ok(false);
        }
        if let Some(k) = &inc.min_kernel
            && !kernel_at_least(t, k)?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Syscalls every container may make.
#[rustfmt::skip]
const BASE_ALLOW: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir",
    "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve",
    "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl",
    "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
    "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue",
    "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents",
    "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
    "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
    "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname",
    "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
    "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
    "lgetxattr", "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "lstat",
    "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
    "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall",
    "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll",
    "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
    "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
    "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
    "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
    "sched_yield", "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32",
    "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
    "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32",
    "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
    "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs",
    "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
    "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
    "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink",
    "unlinkat", "uretprobe", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4",
    "waitid", "waitpid", "write", "writev",
];

/// `clone` flags that create namespaces: NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
pub const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// Personas `personality(2)` may select: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32,
/// and 0xffffffff (the query-only call).
const PERSONAS: &[u64] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// Groups of syscalls a capability opens.
const CAP_GATED: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Architecture-specific syscalls, by Go architecture names.
const ARCH_SPECIFIC: &[(&[&str], &[&str])] = &[
    (&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (
        &["s390", "s390x"],
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    (&["riscv64"], &["riscv_flush_icache"]),
];

fn strings(v: &[&str]) -> Option<Vec<String>> {
    Some(v.iter().map(|s| s.to_string()).collect())
}

fn allow(names: &[&str]) -> Rule {
    Rule {
        names: strings(names),
        action: "SCMP_ACT_ALLOW".into(),
        ..Default::default()
    }
}

fn arg(index: u32, value: u64, op: &str) -> Option<Vec<RuleArg>> {
    Some(vec![RuleArg {
        index,
        value,
        value_two: 0,
        op: op.into(),
    }])
}

fn only_with(caps: &[&str]) -> Option<Filter> {
    Some(Filter {
        caps: strings(caps),
        ..Default::default()
    })
}

/// berth's default profile in Docker's format (resolve it with [`resolve`]).
pub fn default_profile() -> Profile {
    let mut rules = vec![allow(BASE_ALLOW)];
    // ptrace is safe without CAP_SYS_PTRACE since 4.8 fixed the seccomp-bypass through it.
    rules.push(Rule {
        includes: Some(Filter {
            min_kernel: Some("4.8".into()),
            ..Default::default()
        }),
        ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
    });
    // AF_VSOCK (40) reaches the hypervisor's services; every other family is fine.
    rules.push(Rule {
        args: arg(0, 40, "SCMP_CMP_NE"),
        ..allow(&["socket"])
    });
    for &p in PERSONAS {
        rules.push(Rule {
            args: arg(0, p, "SCMP_CMP_EQ"),
            ..allow(&["personality"])
        });
    }
    for (arches, names) in ARCH_SPECIFIC {
        rules.push(Rule {
            includes: Some(Filter {
                arches: strings(arches),
                ..Default::default()
            }),
            ..allow(names)
        });
    }
    for (cap, names) in &CAP_GATED[..2] {
        rules.push(Rule {
            includes: only_with(&[cap]),
            ..allow(names)
        });
    }
    // Without CAP_SYS_ADMIN, clone may not create namespaces (s390 swaps the first two args).
    let s390 = strings(&["s390", "s390x"]);
    rules.push(Rule {
        args: Some(vec![RuleArg {
            index: 0,
            value: CLONE_NAMESPACE_FLAGS,
            value_two: 0,
            op: "SCMP_CMP_MASKED_EQ".into(),
        }]),
        excludes: Some(Filter {
            caps: strings(&["CAP_SYS_ADMIN"]),
            arches: s390.clone(),
            min_kernel: None,
        }),
        ..allow(&["clone"])
    });
    rules.push(Rule {
        args: Some(vec![RuleArg {
            index: 1,
            value: CLONE_NAMESPACE_FLAGS,
            value_two: 0,
            op: "SCMP_CMP_MASKED_EQ".into(),
        }]),
        comment: Some("s390 parameter ordering for clone is different".into()),
        includes: Some(Filter {
            arches: s390,
            ..Default::default()
        }),
        excludes: Some(Filter {
            caps: strings(&["CAP_SYS_ADMIN"]),
            ..Default::default()
        }),
        ..allow(&["clone"])
    });
    // clone3 passes its flags in memory that seccomp cannot inspect: answer ENOSYS (38) so
    // libc falls back to clone, whose flags the rule above checks.
    rules.push(Rule {
        names: strings(&["clone3"]),
        action: "SCMP_ACT_ERRNO".into(),
        errno_ret: Some(38),
        excludes: Some(Filter {
            caps: strings(&["CAP_SYS_ADMIN"]),
            ..Default::default()
        }),
        ..Default::default()
    });
    for (cap, names) in &CAP_GATED[2..] {
        rules.push(Rule {
            includes: only_with(&[cap]),
            ..allow(names)
        });
    }
    let arch = |a: &str, subs: &[&str]| ArchMap {
        architecture: a.into(),
        sub_architectures: if subs.is_empty() { None } else { strings(subs) },
    };
    Profile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(1),
        arch_map: Some(vec![
            arch("SCMP_ARCH_X86_64", &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
            arch("SCMP_ARCH_AARCH64", &["SCMP_ARCH_ARM"]),
            arch(
                "SCMP_ARCH_MIPS64",
                &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
            ),
            arch(
                "SCMP_ARCH_MIPS64N32",
                &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
            ),
            arch(
                "SCMP_ARCH_MIPSEL64",
                &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
            ),
            arch(
                "SCMP_ARCH_MIPSEL64N32",
                &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
            ),
            arch("SCMP_ARCH_S390X", &["SCMP_ARCH_S390"]),
            arch("SCMP_ARCH_RISCV64", &[]),
        ]),
        syscalls: Some(rules),
        ..Default::default()
    }
}

/// The default profile resolved for a container whose bounding set is `caps`, on this host.
pub fn default_seccomp_for(caps: &[String]) -> LinuxSeccomp {
    // Resolving our own data cannot fail (a unit test resolves it for every architecture).
    resolve(&default_profile(), &Target::host(caps)).unwrap_or_default()
}

/// The default profile resolved for Docker's default capability set, on this host.
pub fn default_seccomp() -> LinuxSeccomp {
    default_seccomp_for(&crate::default_capabilities())
}

/// A custom Docker-format profile (`--security-opt seccomp=<file>`) resolved for `caps`.
pub fn seccomp_from_profile(json: &str, caps: &[String]) -> Result<LinuxSeccomp, SeccompError> {
    resolve(&parse_profile(json)?, &Target::host(caps))
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
