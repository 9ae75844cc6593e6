//! OCI runtime spec generation: a container's config.json built the way Docker builds it (mounts, masked paths, capabilities, seccomp, namespaces, cgroup resources, users).
//!
//! Entry point: [`build_spec`] turns a [`SpecInput`] (what the daemon knows about a container
//! once its image config and HostConfig are merged) into an `oci_spec::runtime::Spec`. Host
//! facts the result depends on (rlimits, kernel, capabilities the kernel knows, /dev) come
//! through the [`Host`] seam so the logic is unit-tested without root.

mod caps;
mod devices;
pub mod seccomp;
mod spec;
mod user;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use caps::{
    ALL_CAPABILITIES, CapError, DEFAULT_CAPABILITIES, all_capabilities, capabilities,
    default_capabilities, host_last_cap, normalize_capability,
};
pub use devices::{
    DeviceError, DeviceMapping, DeviceNode, default_device_rules, device_at, devices_from_mapping,
    host_devices, parse_device_cgroup_rule,
};
pub use seccomp::{SeccompError, default_seccomp, default_seccomp_for, seccomp_from_profile};
pub use spec::{
    DEFAULT_PATH_ENV, Host, SystemHost, bind_mount, build_spec, build_spec_json, build_spec_on,
    container_env, tmpfs_mount,
};
pub use user::{ResolvedUser, UserError, resolve_group_add, resolve_user};

/// Errors of spec generation.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A capability problem.
    #[error(transparent)]
    Capability(#[from] CapError),
    /// A user/group problem.
    #[error(transparent)]
    User(#[from] UserError),
    /// A custom seccomp profile problem.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// A device problem.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// A `--ulimit` name Linux does not have.
    #[error("invalid ulimit type: {0}")]
    InvalidUlimit(String),
    /// A `--tmpfs`/mount option or path the spec cannot carry.
    #[error("invalid mount config: {0}")]
    InvalidMount(String),
    /// The generated document does not fit the OCI schema (a bug).
    #[error("generating OCI spec: {0}")]
    Encode(String),
}

impl berth_core::Classify for SpecError {
    fn kind(&self) -> berth_core::ErrorKind {
        match self {
            SpecError::Capability(e) => e.kind(),
            SpecError::User(e) => e.kind(),
            SpecError::Seccomp(e) => e.kind(),
            SpecError::Device(e) => e.kind(),
            SpecError::InvalidUlimit(_) | SpecError::InvalidMount(_) => {
                berth_core::ErrorKind::InvalidArgument
            }
            SpecError::Encode(_) => berth_core::ErrorKind::Internal,
        }
    }
}

/// How a namespace is set up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NamespaceMode {
    /// A new namespace for the container.
    #[default]
    Private,
    /// The host's namespace.
    Host,
    /// Join the namespace at this path (e.g. another container's `/proc/<pid>/ns/net`).
    Path(PathBuf),
}

/// Which seccomp profile applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SeccompMode {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filtering.
    Unconfined,
    /// A Docker-format JSON profile (the file's content).
    Profile(String),
}

/// Cgroup limits (Docker's HostConfig names; `None` = not set).
#[derive(Debug, Clone, Default)]
pub struct Resources {
    /// Memory limit, bytes.
    pub memory: Option<i64>,
    /// Memory+swap, bytes (-1 unlimited; unset with `memory` set → twice `memory`, as Docker).
    pub memory_swap: Option<i64>,
    /// Soft limit, bytes.
    pub memory_reservation: Option<i64>,
    /// CPUs × 1e9 (becomes quota over a 100ms period).
    pub nano_cpus: Option<i64>,
    /// Relative CPU weight.
    pub cpu_shares: Option<i64>,
    /// CFS quota (µs).
    pub cpu_quota: Option<i64>,
    /// CFS period (µs).
    pub cpu_period: Option<i64>,
    /// Allowed CPUs (`0-3,5`).
    pub cpuset_cpus: Option<String>,
    /// Allowed memory nodes.
    pub cpuset_mems: Option<String>,
    /// Max pids (0 or negative: unlimited).
    pub pids_limit: Option<i64>,
    /// Block IO weight (10..1000).
    pub blkio_weight: Option<i64>,
    /// Disable the OOM killer.
    pub oom_kill_disable: bool,
}

/// Everything the spec is made from.
#[derive(Debug, Clone, Default)]
pub struct SpecInput {
    /// Container id.
    pub id: String,
    /// Root filesystem (already mounted).
    pub rootfs: PathBuf,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// argv (entrypoint + cmd).
    pub args: Vec<String>,
    /// Environment (image env merged with `-e`); PATH, HOSTNAME and TERM are added as Docker does.
    pub env: Vec<String>,
    /// Working directory (empty: `/`).
    pub cwd: String,
    /// User (see [`resolve_user`]).
    pub user: ResolvedUser,
    /// Allocate a TTY.
    pub tty: bool,
    /// Initial console size (height, width) for a TTY.
    pub console_size: Option<(u32, u32)>,
    /// Hostname.
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// `--privileged`.
    pub privileged: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: bool,
    /// Seccomp choice.
    pub seccomp: SeccompMode,
    /// Network namespace.
    pub network: NamespaceMode,
    /// IPC namespace.
    pub ipc: NamespaceMode,
    /// `--ipc none`: no /dev/shm at all.
    pub ipc_none: bool,
    /// A host directory to bind at /dev/shm instead of a private tmpfs (shareable IPC).
    pub shm_path: Option<PathBuf>,
    /// PID namespace.
    pub pid: NamespaceMode,
    /// Share the host's UTS namespace.
    pub uts_host: bool,
    /// `--cgroupns private`.
    pub cgroupns_private: bool,
    /// Cgroup path (cgroupfs style, `/parent/id`).
    pub cgroups_path: String,
    /// Limits.
    pub resources: Resources,
    /// Extra mounts (hosts/hostname/resolv.conf binds, volumes, tmpfs); they replace default
    /// mounts at the same destination.
    pub mounts: Vec<oci_spec::runtime::Mount>,
    /// Host path of the init binary for `--init` (bound read-only at /sbin/docker-init).
    pub init: Option<PathBuf>,
    /// Namespaced sysctls.
    pub sysctls: BTreeMap<String, String>,
    /// `--ulimit` as (name, soft, hard); name like `nofile`.
    pub ulimits: Vec<(String, u64, u64)>,
    /// OOM score adjustment.
    pub oom_score_adj: Option<i32>,
    /// /dev/shm size in bytes (default 64 MiB).
    pub shm_size: Option<u64>,
    /// `--device` mappings.
    pub devices: Vec<DeviceMapping>,
    /// `--device-cgroup-rule` entries.
    pub device_cgroup_rules: Vec<String>,
    /// HostConfig.MaskedPaths when set (e.g. empty for `systempaths=unconfined`); None: Docker's.
    pub masked_paths: Option<Vec<String>>,
    /// HostConfig.ReadonlyPaths when set; None: Docker's.
    pub readonly_paths: Option<Vec<String>>,
}
