//! System-level bodies: `/version`, `/info`, `/events`, `/system/df`, volumes, and the
//! error body every failing request returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::container::ContainerSummary;
use crate::image::ImageSummary;
use crate::serde_util::{deserialize_null_default, is_empty_str, is_false, is_zero_i64};

/// `{"message": ...}`, the body of every error response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorResponse {
    /// The error text the CLI prints after `Error response from daemon: `.
    pub message: String,
}

impl ErrorResponse {
    /// An error body with this message.
    pub fn new(message: impl Into<String>) -> ErrorResponse {
        ErrorResponse {
            message: message.into(),
        }
    }
}

/// `Platform` of `/version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VersionPlatform {
    /// Product name, e.g. `Docker Engine - Community`.
    pub name: String,
}

/// One entry of `/version` `Components` (Engine, containerd, runc, docker-init).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    /// Component name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `GitCommit`, `ApiVersion`, ... (omitted when empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, String>>,
}

/// Response of `GET /version`, in dockerd's key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemVersion {
    /// Product.
    pub platform: VersionPlatform,
    /// Components (omitted when empty).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "deserialize_null_default"
    )]
    pub components: Vec<ComponentVersion>,
    /// Engine version.
    pub version: String,
    /// Newest API version served.
    pub api_version: String,
    /// Oldest API version served.
    #[serde(rename = "MinAPIVersion", skip_serializing_if = "is_empty_str")]
    pub min_api_version: String,
    /// Source commit.
    pub git_commit: String,
    /// Toolchain version (dockerd reports Go's; berthd reports rustc's).
    pub go_version: String,
    /// `linux`.
    pub os: String,
    /// `amd64`, ...
    pub arch: String,
    /// Kernel release (omitted when empty).
    #[serde(skip_serializing_if = "is_empty_str")]
    pub kernel_version: String,
    /// Experimental features on (omitted when false).
    #[serde(skip_serializing_if = "is_false")]
    pub experimental: bool,
    /// Build time (omitted when empty).
    #[serde(skip_serializing_if = "is_empty_str")]
    pub build_time: String,
}

/// `Plugins` of `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginsInfo {
    /// Volume drivers.
    pub volume: Vec<String>,
    /// Network drivers.
    pub network: Vec<String>,
    /// Authorization plugins (`null` when none).
    pub authorization: Option<Vec<String>>,
    /// Log drivers.
    pub log: Vec<String>,
}

/// One `IndexConfigs` entry of `/info` `RegistryConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IndexInfo {
    /// Registry name (`docker.io`).
    pub name: String,
    /// Mirrors.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub mirrors: Vec<String>,
    /// TLS verified.
    pub secure: bool,
    /// The official index.
    pub official: bool,
}

/// `RegistryConfig` of `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegistryConfig {
    /// Deprecated.
    #[serde(
        rename = "AllowNondistributableArtifactsCIDRs",
        deserialize_with = "deserialize_null_default"
    )]
    pub allow_nondistributable_artifacts_cidrs: Vec<String>,
    /// Deprecated.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub allow_nondistributable_artifacts_hostnames: Vec<String>,
    /// Insecure registry networks (`127.0.0.0/8`).
    #[serde(
        rename = "InsecureRegistryCIDRs",
        deserialize_with = "deserialize_null_default"
    )]
    pub insecure_registry_cidrs: Vec<String>,
    /// Registry name → info.
    pub index_configs: BTreeMap<String, IndexInfo>,
    /// Registry mirrors.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub mirrors: Vec<String>,
}

/// One `/info` `Runtimes` entry (lower-case keys, as dockerd prints them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeInfo {
    /// Runtime binary.
    pub path: String,
    /// Extra arguments (omitted when empty).
    #[serde(
        rename = "runtimeArgs",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "deserialize_null_default"
    )]
    pub runtime_args: Vec<String>,
}

/// `ContainerdCommit` / `RuncCommit` / `InitCommit` of `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Commit {
    /// Actual commit.
    #[serde(rename = "ID")]
    pub id: String,
    /// Commit the engine expects.
    #[serde(rename = "Expected")]
    pub expected: String,
}

/// A swarm manager peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PeerNode {
    /// Node id.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// `host:port`.
    pub addr: String,
}

/// `Swarm` of `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmInfo {
    /// Node id (empty when inactive).
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Node address.
    pub node_addr: String,
    /// `inactive`, `pending`, `active`, `error`, `locked`.
    pub local_node_state: String,
    /// This node is a manager.
    pub control_available: bool,
    /// Last error.
    pub error: String,
    /// Managers (`null` when inactive).
    pub remote_managers: Option<Vec<PeerNode>>,
    /// Node count (omitted when 0).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub nodes: i64,
    /// Manager count (omitted when 0).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub managers: i64,
    /// Cluster info (managers only; omitted otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<serde_json::Value>,
    /// Warnings (omitted when none).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "deserialize_null_default"
    )]
    pub warnings: Vec<String>,
}

impl SwarmInfo {
    /// What a node outside any swarm reports.
    pub fn inactive() -> SwarmInfo {
        SwarmInfo {
            local_node_state: "inactive".into(),
            ..SwarmInfo::default()
        }
    }
}

/// Response of `GET /info`, in dockerd's (API 1.41) key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemInfo {
    /// Daemon id.
    #[serde(rename = "ID")]
    pub id: String,
    /// All containers.
    pub containers: i64,
    /// Running containers.
    pub containers_running: i64,
    /// Paused containers.
    pub containers_paused: i64,
    /// Stopped containers.
    pub containers_stopped: i64,
    /// Images.
    pub images: i64,
    /// Storage driver.
    pub driver: String,
    /// Storage driver `[key, value]` pairs.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub driver_status: Vec<[String; 2]>,
    /// Plugins.
    pub plugins: PluginsInfo,
    /// Memory limits supported.
    pub memory_limit: bool,
    /// Swap limits supported.
    pub swap_limit: bool,
    /// Kernel memory limits supported.
    pub kernel_memory: bool,
    /// Kernel TCP memory limits supported.
    #[serde(rename = "KernelMemoryTCP")]
    pub kernel_memory_tcp: bool,
    /// CFS period supported.
    pub cpu_cfs_period: bool,
    /// CFS quota supported.
    pub cpu_cfs_quota: bool,
    /// CPU shares supported.
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    /// Cpusets supported.
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    /// Pids limits supported.
    pub pids_limit: bool,
    /// IPv4 forwarding on.
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    /// `bridge-nf-call-iptables` on.
    pub bridge_nf_iptables: bool,
    /// `bridge-nf-call-ip6tables` on.
    pub bridge_nf_ip6tables: bool,
    /// Daemon debug mode.
    pub debug: bool,
    /// Open file descriptors of the daemon.
    #[serde(rename = "NFd")]
    pub n_fd: i64,
    /// OOM-kill disabling supported.
    pub oom_kill_disable: bool,
    /// Goroutines (berthd: tokio tasks or threads).
    #[serde(rename = "NGoroutines")]
    pub n_goroutines: i64,
    /// RFC 3339 daemon time.
    pub system_time: String,
    /// Default log driver.
    pub logging_driver: String,
    /// `cgroupfs` or `systemd`.
    pub cgroup_driver: String,
    /// `1` or `2`.
    pub cgroup_version: String,
    /// Event listeners.
    #[serde(rename = "NEventsListener")]
    pub n_events_listener: i64,
    /// Kernel release.
    pub kernel_version: String,
    /// `PRETTY_NAME` of os-release.
    pub operating_system: String,
    /// `VERSION_ID` of os-release.
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    /// `linux`.
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// `uname -m`.
    pub architecture: String,
    /// `https://index.docker.io/v1/`.
    pub index_server_address: String,
    /// Registry settings.
    pub registry_config: Option<RegistryConfig>,
    /// CPUs.
    #[serde(rename = "NCPU")]
    pub ncpu: i64,
    /// Memory in bytes.
    pub mem_total: i64,
    /// Swarm generic resources (`null`).
    pub generic_resources: Option<Vec<serde_json::Value>>,
    /// Data root.
    pub docker_root_dir: String,
    /// `HTTP_PROXY` of the daemon.
    pub http_proxy: String,
    /// `HTTPS_PROXY` of the daemon.
    pub https_proxy: String,
    /// `NO_PROXY` of the daemon.
    pub no_proxy: String,
    /// Host name.
    pub name: String,
    /// Daemon labels (`[]` when none).
    #[serde(deserialize_with = "deserialize_null_default")]
    pub labels: Vec<String>,
    /// Experimental build.
    pub experimental_build: bool,
    /// Engine version.
    pub server_version: String,
    /// Runtime name → binary.
    pub runtimes: BTreeMap<String, RuntimeInfo>,
    /// Default runtime.
    pub default_runtime: String,
    /// Swarm state.
    pub swarm: SwarmInfo,
    /// Live restore.
    pub live_restore_enabled: bool,
    /// Windows isolation (empty on Linux).
    pub isolation: String,
    /// Init binary name.
    pub init_binary: String,
    /// containerd commit (berthd: shim).
    pub containerd_commit: Commit,
    /// Runtime commit.
    pub runc_commit: Commit,
    /// Init commit.
    pub init_commit: Commit,
    /// `name=seccomp,profile=default`, ...
    #[serde(deserialize_with = "deserialize_null_default")]
    pub security_options: Vec<String>,
    /// Warnings the CLI prints at the end (`null` when none).
    pub warnings: Option<Vec<String>>,
}

/// `Actor` of an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventActor {
    /// Object id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Name, image, labels, exitCode, ...
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One line of `GET /events`, in dockerd's key order (legacy `status`/`id`/`from` first,
/// set for container and image events only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    /// Legacy: the action.
    #[serde(skip_serializing_if = "is_empty_str")]
    pub status: String,
    /// Legacy: the object id.
    #[serde(skip_serializing_if = "is_empty_str")]
    pub id: String,
    /// Legacy: the image of a container event.
    #[serde(skip_serializing_if = "is_empty_str")]
    pub from: String,
    /// `container`, `image`, `network`, `volume`, `daemon`, ...
    #[serde(rename = "Type")]
    pub r#type: String,
    /// `create`, `start`, `die`, `exec_start: sh`, ...
    #[serde(rename = "Action")]
    pub action: String,
    /// The object.
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    /// `local` or `swarm`.
    pub scope: String,
    /// Unix seconds (omitted when 0).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub time: i64,
    /// Unix nanoseconds (omitted when 0).
    #[serde(rename = "timeNano", skip_serializing_if = "is_zero_i64")]
    pub time_nano: i64,
}

/// `UsageData` of a volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeUsageData {
    /// Containers using it (-1 = not computed).
    pub ref_count: i64,
    /// Bytes (-1 = not computed).
    pub size: i64,
}

/// A volume (`volume inspect`, `volume ls`, `system df`); keys sorted, as dockerd's generated
/// struct prints them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    /// RFC 3339 creation time (omitted when empty).
    #[serde(skip_serializing_if = "is_empty_str")]
    pub created_at: String,
    /// `local`.
    pub driver: String,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Host path of the data.
    pub mountpoint: String,
    /// Name.
    pub name: String,
    /// Driver options.
    pub options: Option<BTreeMap<String, String>>,
    /// `local`.
    pub scope: String,
    /// Driver status (omitted when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, serde_json::Value>>,
    /// Usage (only in `system df`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

/// Response of `GET /volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeListResponse {
    /// Volumes.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub volumes: Vec<Volume>,
    /// Warnings (`null` when none).
    pub warnings: Option<Vec<String>>,
}

/// Response of `POST /volumes/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumesPruneReport {
    /// Removed volume names (`null` when none).
    pub volumes_deleted: Option<Vec<String>>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// A build cache record of `system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BuildCache {
    /// Record id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Parent record.
    pub parent: String,
    /// Record type.
    pub r#type: String,
    /// Description.
    pub description: String,
    /// In use.
    pub in_use: bool,
    /// Shared.
    pub shared: bool,
    /// Bytes.
    pub size: i64,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 last use (`null` if never).
    pub last_used_at: Option<String>,
    /// Uses.
    pub usage_count: i64,
}

/// Response of `GET /system/df`, in dockerd's key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemDf {
    /// Bytes used by all layers.
    pub layers_size: i64,
    /// Images.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub images: Vec<ImageSummary>,
    /// Containers.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub containers: Vec<ContainerSummary>,
    /// Volumes.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub volumes: Vec<Volume>,
    /// Build cache records.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub build_cache: Vec<BuildCache>,
    /// Deprecated total of the build cache.
    pub builder_size: i64,
}
