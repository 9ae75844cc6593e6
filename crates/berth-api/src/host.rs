//! `HostConfig` (dockerd's `container.HostConfig`, `Resources` flattened in) and its parts.
//!
//! Fields are `Option`s so requests can omit anything or send `null`. Serialization follows
//! Go: plain Go values print their zero value when unset, Go slices/maps/pointers print `null`,
//! `omitempty` fields are left out. [`HostConfig::fill_defaults`] then adds what dockerd and the
//! docker CLI fill in, so `inspect` of a plain `docker run` matches [`HostConfig::docker_default`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use crate::serde_util::{
    bool_or_false, deserialize_str_slice, int_or_zero, map_or_empty, none_or_empty_map,
    none_or_empty_str, none_or_empty_vec, none_or_false, str_or_empty,
};

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `""`/`no`, `always`, `unless-stopped` or `on-failure`; printed as `no` when unset.
    #[serde(serialize_with = "policy_name")]
    pub name: Option<String>,
    /// Retries for `on-failure`.
    #[serde(serialize_with = "int_or_zero")]
    pub maximum_retry_count: Option<i64>,
}

fn policy_name<S: Serializer>(v: &Option<String>, se: S) -> Result<S::Ok, S::Error> {
    se.serialize_str(match v.as_deref() {
        None | Some("") => "no",
        Some(x) => x,
    })
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// Driver name (`json-file`, `local`, `none`, ...).
    #[serde(serialize_with = "str_or_empty")]
    pub r#type: Option<String>,
    /// Driver options; printed as `{}` when unset, as dockerd does.
    #[serde(serialize_with = "map_or_empty")]
    pub config: Option<BTreeMap<String, String>>,
}

/// One host binding of a container port (`PortBindings` and `NetworkSettings.Ports` values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// Host address (`""` = all).
    #[serde(serialize_with = "str_or_empty")]
    pub host_ip: Option<String>,
    /// Host port (`""` = ephemeral).
    #[serde(serialize_with = "str_or_empty")]
    pub host_port: Option<String>,
}

/// `"80/tcp" → bindings` (a `null` value means exposed but not published).
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// A ulimit (`--ulimit nofile=1024:2048`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    /// `nofile`, `nproc`, ...
    #[serde(serialize_with = "str_or_empty")]
    pub name: Option<String>,
    /// Hard limit.
    #[serde(serialize_with = "int_or_zero")]
    pub hard: Option<i64>,
    /// Soft limit.
    #[serde(serialize_with = "int_or_zero")]
    pub soft: Option<i64>,
}

/// `--device /dev/x:/dev/y:rwm`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    /// Device on the host.
    #[serde(serialize_with = "str_or_empty")]
    pub path_on_host: Option<String>,
    /// Path inside the container.
    #[serde(serialize_with = "str_or_empty")]
    pub path_in_container: Option<String>,
    /// Cgroup permissions, e.g. `rwm`.
    #[serde(serialize_with = "str_or_empty")]
    pub cgroup_permissions: Option<String>,
}

/// `--gpus`-style device request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceRequest {
    /// Driver name.
    #[serde(serialize_with = "str_or_empty")]
    pub driver: Option<String>,
    /// Number of devices (-1 = all).
    #[serde(serialize_with = "int_or_zero")]
    pub count: Option<i64>,
    /// Device ids.
    #[serde(rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    /// OR-list of AND-lists of capabilities.
    pub capabilities: Option<Vec<Vec<String>>>,
    /// Driver options.
    pub options: Option<BTreeMap<String, String>>,
}

/// `--blkio-weight-device`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    /// Device path.
    #[serde(serialize_with = "str_or_empty")]
    pub path: Option<String>,
    /// Relative weight.
    #[serde(serialize_with = "int_or_zero")]
    pub weight: Option<i64>,
}

/// `--device-read-bps` and friends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    /// Device path.
    #[serde(serialize_with = "str_or_empty")]
    pub path: Option<String>,
    /// Rate (bytes or ops per second).
    #[serde(serialize_with = "int_or_zero")]
    pub rate: Option<i64>,
}

/// Bind options of a `--mount type=bind`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    /// `private`, `rprivate`, `shared`, ...
    #[serde(skip_serializing_if = "none_or_empty_str")]
    pub propagation: Option<String>,
    /// Do not bind submounts.
    #[serde(skip_serializing_if = "none_or_false")]
    pub non_recursive: Option<bool>,
}

/// Driver of a volume mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeDriverConfig {
    /// Driver name.
    #[serde(skip_serializing_if = "none_or_empty_str")]
    pub name: Option<String>,
    /// Driver options.
    #[serde(skip_serializing_if = "none_or_empty_map")]
    pub options: Option<BTreeMap<String, String>>,
}

/// Volume options of a `--mount type=volume`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    /// Do not copy image data into a new volume.
    #[serde(skip_serializing_if = "none_or_false")]
    pub no_copy: Option<bool>,
    /// Labels for a new volume.
    #[serde(skip_serializing_if = "none_or_empty_map")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Driver for a new volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<VolumeDriverConfig>,
}

/// Tmpfs options of a `--mount type=tmpfs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Size in bytes (0 = unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Permission bits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// A `--mount` entry (`HostConfig.Mounts`), in dockerd's key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountSpec {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(skip_serializing_if = "none_or_empty_str")]
    pub r#type: Option<String>,
    /// Host path or volume name.
    #[serde(skip_serializing_if = "none_or_empty_str")]
    pub source: Option<String>,
    /// Path in the container.
    #[serde(skip_serializing_if = "none_or_empty_str")]
    pub target: Option<String>,
    /// Read only.
    #[serde(skip_serializing_if = "none_or_false")]
    pub read_only: Option<bool>,
    /// Consistency hint (ignored on Linux).
    #[serde(skip_serializing_if = "none_or_empty_str")]
    pub consistency: Option<String>,
    /// Bind options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    /// Volume options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// Tmpfs options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `HostConfig`, in dockerd's key order (`Resources` fields inline, as Go embeds them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `-v src:dst[:opts]` binds.
    pub binds: Option<Vec<String>>,
    /// `--cidfile` (client side only; echoed back).
    #[serde(rename = "ContainerIDFile", serialize_with = "str_or_empty")]
    pub container_id_file: Option<String>,
    /// Log driver and options; prints `{"Type":"","Config":{}}` when unset, as Go does.
    #[serde(serialize_with = "log_config_or_zero")]
    pub log_config: Option<LogConfig>,
    /// `default`, `bridge`, `host`, `none`, `container:<id>` or a network name.
    #[serde(serialize_with = "str_or_empty")]
    pub network_mode: Option<String>,
    /// Published ports.
    pub port_bindings: Option<PortMap>,
    /// Restart policy; prints `{"Name":"no","MaximumRetryCount":0}` when unset.
    #[serde(serialize_with = "restart_policy_or_zero")]
    pub restart_policy: Option<RestartPolicy>,
    /// `--rm`.
    #[serde(serialize_with = "bool_or_false")]
    pub auto_remove: Option<bool>,
    /// `--volume-driver`.
    #[serde(serialize_with = "str_or_empty")]
    pub volume_driver: Option<String>,
    /// `--volumes-from`.
    pub volumes_from: Option<Vec<String>>,
    /// `--cap-add`.
    #[serde(deserialize_with = "deserialize_str_slice")]
    pub cap_add: Option<Vec<String>>,
    /// `--cap-drop`.
    #[serde(deserialize_with = "deserialize_str_slice")]
    pub cap_drop: Option<Vec<String>>,
    /// `host` or `private`.
    #[serde(serialize_with = "str_or_empty")]
    pub cgroupns_mode: Option<String>,
    /// `--dns`.
    pub dns: Option<Vec<String>>,
    /// `--dns-option`.
    pub dns_options: Option<Vec<String>>,
    /// `--dns-search`.
    pub dns_search: Option<Vec<String>>,
    /// `--add-host host:ip`.
    pub extra_hosts: Option<Vec<String>>,
    /// `--group-add`.
    pub group_add: Option<Vec<String>>,
    /// `private`, `shareable`, `host`, `none`, `container:<id>`.
    #[serde(serialize_with = "str_or_empty")]
    pub ipc_mode: Option<String>,
    /// Cgroup to use (`container:<id>`).
    #[serde(serialize_with = "str_or_empty")]
    pub cgroup: Option<String>,
    /// Legacy links.
    pub links: Option<Vec<String>>,
    /// `--oom-score-adj`.
    #[serde(serialize_with = "int_or_zero")]
    pub oom_score_adj: Option<i64>,
    /// `host` or `container:<id>`.
    #[serde(serialize_with = "str_or_empty")]
    pub pid_mode: Option<String>,
    /// `--privileged`.
    #[serde(serialize_with = "bool_or_false")]
    pub privileged: Option<bool>,
    /// `-P`.
    #[serde(serialize_with = "bool_or_false")]
    pub publish_all_ports: Option<bool>,
    /// `--read-only`.
    #[serde(serialize_with = "bool_or_false")]
    pub readonly_rootfs: Option<bool>,
    /// `--security-opt`.
    pub security_opt: Option<Vec<String>>,
    /// `--storage-opt` (omitted when empty).
    #[serde(skip_serializing_if = "none_or_empty_map")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    /// `--tmpfs path → options` (omitted when empty).
    #[serde(skip_serializing_if = "none_or_empty_map")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `host` or empty.
    #[serde(rename = "UTSMode", serialize_with = "str_or_empty")]
    pub uts_mode: Option<String>,
    /// `host` or empty.
    #[serde(serialize_with = "str_or_empty")]
    pub userns_mode: Option<String>,
    /// `/dev/shm` size in bytes.
    #[serde(serialize_with = "int_or_zero")]
    pub shm_size: Option<i64>,
    /// `--sysctl` (omitted when empty).
    #[serde(skip_serializing_if = "none_or_empty_map")]
    pub sysctls: Option<BTreeMap<String, String>>,
    /// OCI runtime name (omitted when empty).
    #[serde(skip_serializing_if = "none_or_empty_str")]
    pub runtime: Option<String>,
    /// Initial TTY `[height, width]`; always printed, `[0,0]` when unset.
    #[serde(serialize_with = "console_size")]
    pub console_size: Option<Vec<u64>>,
    /// Windows isolation; empty on Linux.
    #[serde(serialize_with = "str_or_empty")]
    pub isolation: Option<String>,
    /// `--cpu-shares`.
    #[serde(serialize_with = "int_or_zero")]
    pub cpu_shares: Option<i64>,
    /// `--memory` in bytes.
    #[serde(serialize_with = "int_or_zero")]
    pub memory: Option<i64>,
    /// `--cpus` × 1e9.
    #[serde(serialize_with = "int_or_zero")]
    pub nano_cpus: Option<i64>,
    /// `--cgroup-parent`.
    #[serde(serialize_with = "str_or_empty")]
    pub cgroup_parent: Option<String>,
    /// `--blkio-weight`.
    #[serde(serialize_with = "int_or_zero")]
    pub blkio_weight: Option<i64>,
    /// `--blkio-weight-device`.
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    /// `--device-read-bps`.
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    /// `--device-write-bps`.
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    /// `--device-read-iops`.
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    /// `--device-write-iops`.
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    /// `--cpu-period`.
    #[serde(serialize_with = "int_or_zero")]
    pub cpu_period: Option<i64>,
    /// `--cpu-quota`.
    #[serde(serialize_with = "int_or_zero")]
    pub cpu_quota: Option<i64>,
    /// `--cpu-rt-period`.
    #[serde(serialize_with = "int_or_zero")]
    pub cpu_realtime_period: Option<i64>,
    /// `--cpu-rt-runtime`.
    #[serde(serialize_with = "int_or_zero")]
    pub cpu_realtime_runtime: Option<i64>,
    /// `--cpuset-cpus`.
    #[serde(serialize_with = "str_or_empty")]
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    #[serde(serialize_with = "str_or_empty")]
    pub cpuset_mems: Option<String>,
    /// `--device`.
    pub devices: Option<Vec<DeviceMapping>>,
    /// `--device-cgroup-rule`.
    pub device_cgroup_rules: Option<Vec<String>>,
    /// `--gpus`.
    pub device_requests: Option<Vec<DeviceRequest>>,
    /// Deprecated kernel memory limit.
    #[serde(serialize_with = "int_or_zero")]
    pub kernel_memory: Option<i64>,
    /// Deprecated kernel TCP memory limit.
    #[serde(rename = "KernelMemoryTCP", serialize_with = "int_or_zero")]
    pub kernel_memory_tcp: Option<i64>,
    /// `--memory-reservation`.
    #[serde(serialize_with = "int_or_zero")]
    pub memory_reservation: Option<i64>,
    /// `--memory-swap` (-1 = unlimited).
    #[serde(serialize_with = "int_or_zero")]
    pub memory_swap: Option<i64>,
    /// `--memory-swappiness` (`null` = inherit).
    pub memory_swappiness: Option<i64>,
    /// `--oom-kill-disable` (`null` until [`HostConfig::fill_defaults`] sets `false`).
    pub oom_kill_disable: Option<bool>,
    /// `--pids-limit` (`null` = unlimited).
    pub pids_limit: Option<i64>,
    /// `--ulimit`.
    pub ulimits: Option<Vec<Ulimit>>,
    /// Windows only.
    #[serde(serialize_with = "int_or_zero")]
    pub cpu_count: Option<i64>,
    /// Windows only.
    #[serde(serialize_with = "int_or_zero")]
    pub cpu_percent: Option<i64>,
    /// Windows only.
    #[serde(rename = "IOMaximumIOps", serialize_with = "int_or_zero")]
    pub io_maximum_iops: Option<i64>,
    /// Windows only.
    #[serde(rename = "IOMaximumBandwidth", serialize_with = "int_or_zero")]
    pub io_maximum_bandwidth: Option<i64>,
    /// `--mount` specs (omitted when empty).
    #[serde(skip_serializing_if = "none_or_empty_vec")]
    pub mounts: Option<Vec<MountSpec>>,
    /// Paths masked in the container (`null` for privileged containers).
    pub masked_paths: Option<Vec<String>>,
    /// Paths made read-only in the container (`null` for privileged containers).
    pub readonly_paths: Option<Vec<String>>,
    /// `--init` (omitted when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

fn log_config_or_zero<S: Serializer>(v: &Option<LogConfig>, se: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(l) => l.serialize(se),
        None => LogConfig::default().serialize(se),
    }
}

fn restart_policy_or_zero<S: Serializer>(
    v: &Option<RestartPolicy>,
    se: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(p) => p.serialize(se),
        None => RestartPolicy::default().serialize(se),
    }
}

fn console_size<S: Serializer>(v: &Option<Vec<u64>>, se: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) if v.len() == 2 => v.serialize(se),
        _ => [0u64, 0].serialize(se),
    }
}

/// Docker 20.10's default masked paths (not applied to privileged containers).
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// Docker's default read-only paths (not applied to privileged containers).
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Default `/dev/shm` size: 64 MiB.
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

impl HostConfig {
    /// What `docker inspect` shows as `HostConfig` for a plain `docker run IMAGE` on a cgroup v1
    /// host with the json-file log driver and the `runc` runtime.
    pub fn docker_default() -> HostConfig {
        let mut h = HostConfig {
            log_config: Some(LogConfig {
                r#type: Some("json-file".into()),
                config: Some(BTreeMap::new()),
            }),
            runtime: Some("runc".into()),
            // The docker CLI's create body always carries these, empty.
            port_bindings: Some(BTreeMap::new()),
            dns: Some(Vec::new()),
            dns_options: Some(Vec::new()),
            dns_search: Some(Vec::new()),
            blkio_weight_device: Some(Vec::new()),
            devices: Some(Vec::new()),
            ..HostConfig::default()
        };
        h.fill_defaults(false);
        h
    }

    /// Fills in what dockerd (and the docker CLI's create body) set when a container is
    /// created, so `inspect` shows Docker's values. Leaves set fields alone; never touches
    /// `LogConfig`'s driver or `Runtime` (the daemon's configuration decides those).
    pub fn fill_defaults(&mut self, cgroup_v2: bool) {
        if self.network_mode.as_deref().unwrap_or("").is_empty() {
            self.network_mode = Some("default".into());
        }
        self.restart_policy
            .get_or_insert_with(RestartPolicy::default);
        if self.cgroupns_mode.as_deref().unwrap_or("").is_empty() {
            self.cgroupns_mode = Some(if cgroup_v2 { "private" } else { "host" }.into());
        }
        // Dns, DnsOptions, DnsSearch, Devices, BlkioWeightDevice and PortBindings stay as the
        // client sent them: the docker CLI sends empty lists, raw API clients get null back.
        if self.ipc_mode.as_deref().unwrap_or("").is_empty() {
            self.ipc_mode = Some("private".into());
        }
        if self.shm_size.unwrap_or(0) <= 0 {
            self.shm_size = Some(DEFAULT_SHM_SIZE);
        }
        self.oom_kill_disable.get_or_insert(false);
        if self.privileged != Some(true) {
            self.masked_paths
                .get_or_insert_with(|| strings(DEFAULT_MASKED_PATHS));
            self.readonly_paths
                .get_or_insert_with(|| strings(DEFAULT_READONLY_PATHS));
        }
    }
}
