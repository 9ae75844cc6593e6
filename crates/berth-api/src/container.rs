//! Container request and response bodies: create, update, wait, top, changes, inspect, `ps`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::ContainerConfig;
use crate::host::{
    DeviceMapping, DeviceRequest, HostConfig, RestartPolicy, ThrottleDevice, Ulimit, WeightDevice,
};
use crate::network::{NetworkSettings, NetworkingConfig, SummaryNetworkSettings};
use crate::serde_util::is_empty_str;

/// Body of `POST /containers/create`: the container config at the top level, plus
/// `HostConfig` and `NetworkingConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateRequest {
    /// The container config (its fields sit at the top level of the body).
    #[serde(flatten)]
    pub config: ContainerConfig,
    /// Host config.
    pub host_config: Option<HostConfig>,
    /// Networks to connect at create time.
    pub networking_config: Option<NetworkingConfig>,
}

/// Response of `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateResponse {
    /// New container id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Warnings (`[]` when none).
    pub warnings: Vec<String>,
}

/// Body of `POST /containers/{id}/update`: `Resources` fields plus `RestartPolicy`.
/// Unset fields are left out when serialized (dockerd treats absent and zero alike).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerUpdateRequest {
    /// `--cpu-shares`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    /// `--memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// `--cpus` × 1e9.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nano_cpus: Option<i64>,
    /// `--cgroup-parent` (not updatable; accepted and ignored by dockerd).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// `--blkio-weight`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_weight: Option<i64>,
    /// `--blkio-weight-device`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    /// `--device-read-bps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    /// `--device-write-bps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    /// `--device-read-iops`.
    #[serde(
        rename = "BlkioDeviceReadIOps",
        skip_serializing_if = "Option::is_none"
    )]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    /// `--device-write-iops`.
    #[serde(
        rename = "BlkioDeviceWriteIOps",
        skip_serializing_if = "Option::is_none"
    )]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    /// `--cpu-period`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    /// `--cpu-quota`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    /// `--cpu-rt-period`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_realtime_period: Option<i64>,
    /// `--cpu-rt-runtime`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_realtime_runtime: Option<i64>,
    /// `--cpuset-cpus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset_mems: Option<String>,
    /// Devices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<DeviceMapping>>,
    /// Device cgroup rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_cgroup_rules: Option<Vec<String>>,
    /// Device requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_requests: Option<Vec<DeviceRequest>>,
    /// `--kernel-memory` (deprecated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_memory: Option<i64>,
    /// Kernel TCP memory (deprecated).
    #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_memory_tcp: Option<i64>,
    /// `--memory-reservation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i64>,
    /// `--memory-swap`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    /// `--memory-swappiness`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
    /// `--oom-kill-disable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    /// `--pids-limit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// Ulimits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ulimits: Option<Vec<Ulimit>>,
    /// Windows only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<i64>,
    /// Windows only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<i64>,
    /// Windows only.
    #[serde(rename = "IOMaximumIOps", skip_serializing_if = "Option::is_none")]
    pub io_maximum_iops: Option<i64>,
    /// Windows only.
    #[serde(rename = "IOMaximumBandwidth", skip_serializing_if = "Option::is_none")]
    pub io_maximum_bandwidth: Option<i64>,
    /// `--restart`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
}

/// Response of `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerUpdateResponse {
    /// Warnings (`null` when none, as dockerd sends).
    pub warnings: Option<Vec<String>>,
}

/// `Error` of a wait response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerWaitError {
    /// What went wrong while waiting.
    pub message: String,
}

/// Response of `POST /containers/{id}/wait`; keys in the order dockerd's generated struct
/// prints them (`{"Error":null,"StatusCode":0}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerWaitResponse {
    /// `null` unless waiting itself failed.
    pub error: Option<ContainerWaitError>,
    /// Exit code of the container.
    pub status_code: i64,
}

/// Response of `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerTopResponse {
    /// One row per process, one string per column.
    pub processes: Vec<Vec<String>>,
    /// Column titles (`UID PID PPID C STIME TTY TIME CMD` by default).
    pub titles: Vec<String>,
}

/// One item of `GET /containers/{id}/changes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerChange {
    /// Changed path.
    pub path: String,
    /// 0 = modified, 1 = added, 2 = deleted.
    pub kind: u8,
}

impl ContainerChange {
    /// `Kind` of a modified path.
    pub const MODIFIED: u8 = 0;
    /// `Kind` of an added path.
    pub const ADDED: u8 = 1;
    /// `Kind` of a deleted path.
    pub const DELETED: u8 = 2;
}

/// One healthcheck probe result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckResult {
    /// RFC 3339 start time.
    pub start: String,
    /// RFC 3339 end time.
    pub end: String,
    /// Probe exit code (0 healthy, 1 unhealthy, other = error).
    pub exit_code: i64,
    /// Probe output (truncated).
    pub output: String,
}

/// `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: i64,
    /// Last probe results (at most 5).
    pub log: Vec<HealthcheckResult>,
}

/// `State` of `docker inspect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub status: String,
    /// Running (also true while paused).
    pub running: bool,
    /// Paused.
    pub paused: bool,
    /// Restarting.
    pub restarting: bool,
    /// Killed by the OOM killer.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Dead.
    pub dead: bool,
    /// Host pid of the main process (0 when not running).
    pub pid: i64,
    /// Last exit code.
    pub exit_code: i64,
    /// Last start error.
    pub error: String,
    /// RFC 3339 (`0001-01-01T00:00:00Z` if never).
    pub started_at: String,
    /// RFC 3339 (`0001-01-01T00:00:00Z` if never).
    pub finished_at: String,
    /// Health, only for containers with a healthcheck.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// `GraphDriver` of container and image inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GraphDriver {
    /// `LowerDir`, `MergedDir`, `UpperDir`, `WorkDir` (sorted, as Go prints maps).
    pub data: Option<BTreeMap<String, String>>,
    /// `overlay2`, `vfs`, ...
    pub name: String,
}

/// One mount of a container (`Mounts` in inspect and `ps`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(skip_serializing_if = "is_empty_str")]
    pub r#type: String,
    /// Volume name.
    #[serde(skip_serializing_if = "is_empty_str")]
    pub name: String,
    /// Host path.
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Volume driver.
    #[serde(skip_serializing_if = "is_empty_str")]
    pub driver: String,
    /// Mode string from `-v` (e.g. `ro,z`).
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Propagation (`rprivate`, ...).
    pub propagation: String,
}

/// `docker inspect CONTAINER`, in dockerd's key order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    /// Full id.
    #[serde(rename = "Id")]
    pub id: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// Executable of the main process.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Runtime state.
    pub state: ContainerState,
    /// Image id (`sha256:...`).
    pub image: String,
    /// Path of the container's resolv.conf.
    pub resolv_conf_path: String,
    /// Path of the container's hostname file.
    pub hostname_path: String,
    /// Path of the container's hosts file.
    pub hosts_path: String,
    /// Path of the json log (empty for other drivers).
    pub log_path: String,
    /// `/name`.
    pub name: String,
    /// Restarts done by the restart policy.
    pub restart_count: i64,
    /// Storage driver.
    pub driver: String,
    /// `linux`.
    pub platform: String,
    /// SELinux mount label.
    pub mount_label: String,
    /// SELinux process label.
    pub process_label: String,
    /// AppArmor profile.
    pub app_armor_profile: String,
    /// Running exec ids (`null` when none).
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    /// Host config.
    pub host_config: HostConfig,
    /// Storage driver data.
    pub graph_driver: GraphDriver,
    /// Writable layer size (only with `size=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// Total rootfs size (only with `size=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    /// Mounts (`[]` when none).
    pub mounts: Vec<MountPoint>,
    /// Config.
    pub config: ContainerConfig,
    /// Network settings.
    pub network_settings: NetworkSettings,
}

/// A port of a `docker ps` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Port {
    /// Host address (omitted when not published).
    #[serde(rename = "IP", skip_serializing_if = "is_empty_str")]
    pub ip: String,
    /// Container port.
    pub private_port: u16,
    /// Host port (omitted when not published).
    #[serde(skip_serializing_if = "is_zero_u16")]
    pub public_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub r#type: String,
}

fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

/// `HostConfig` of a `docker ps` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    /// Network mode (omitted when empty).
    #[serde(skip_serializing_if = "is_empty_str")]
    pub network_mode: String,
}

/// One item of `GET /containers/json` (`docker ps`), in dockerd's key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    /// Full id.
    #[serde(rename = "Id")]
    pub id: String,
    /// `/name` (plus legacy link names).
    pub names: Vec<String>,
    /// Image as the user gave it.
    pub image: String,
    /// Image id.
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// Command line, shell-quoted as dockerd joins it.
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    /// Exposed and published ports.
    pub ports: Vec<Port>,
    /// Writable layer size (only with `size=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// Total rootfs size (only with `size=1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `exited`, ...
    pub state: String,
    /// Human status: `Up 2 minutes`, `Exited (3) 1 second ago`, ...
    pub status: String,
    /// Network mode.
    pub host_config: SummaryHostConfig,
    /// Networks.
    pub network_settings: Option<SummaryNetworkSettings>,
    /// Mounts.
    pub mounts: Vec<MountPoint>,
}

/// Response of `POST /containers/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainersPruneReport {
    /// Removed container ids (`null` when none).
    pub containers_deleted: Option<Vec<String>>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}
