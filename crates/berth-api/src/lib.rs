//! Docker Engine API types shared by berthd and the berth CLI, serialized with Docker's key order and its null-versus-empty choices.
//!
//! Field order in every struct is the key order dockerd prints (serde_json's `preserve_order`
//! is on workspace-wide, and `serde_json::to_value` keeps struct order). Keys are PascalCase
//! with explicit renames where Docker differs (`Id`, `ExecIDs`, `OOMKilled`, ...).
//!
//! Two families of types:
//! - request bodies and the configs stored with a container ([`ContainerConfig`],
//!   [`HostConfig`], [`ContainerCreateRequest`], [`ExecCreateRequest`],
//!   [`ContainerUpdateRequest`]): every field is an `Option`, unknown keys are ignored and
//!   `null` is accepted anywhere; on output unset fields print what Go prints for its zero
//!   value (`""`/`false`/`0` for plain values, `null` for lists/maps, left out for `omitempty`).
//! - response bodies ([`ContainerInspect`], [`ContainerSummary`], [`ImageInspect`],
//!   [`SystemInfo`], ...): plain fields, `Option` only where Docker prints `null` or omits the
//!   key. They also deserialize (for the CLI), tolerating missing keys.

mod config;
mod container;
mod exec;
mod filters;
mod host;
mod image;
mod network;
mod serde_util;
mod system;

pub use config::{ContainerConfig, Empty, HealthConfig};
pub use container::{
    ContainerChange, ContainerCreateRequest, ContainerCreateResponse, ContainerInspect,
    ContainerState, ContainerSummary, ContainerTopResponse, ContainerUpdateRequest,
    ContainerUpdateResponse, ContainerWaitError, ContainerWaitResponse, ContainersPruneReport,
    GraphDriver, Health, HealthcheckResult, MountPoint, Port, SummaryHostConfig,
};
pub use exec::{ExecCreateRequest, ExecInspect, ExecProcessConfig, ExecStartRequest, IdResponse};
pub use filters::{FilterError, Filters};
pub use host::{
    BindOptions, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, DEFAULT_SHM_SIZE, DeviceMapping,
    DeviceRequest, HostConfig, LogConfig, MountSpec, PortBinding, PortMap, RestartPolicy,
    ThrottleDevice, TmpfsOptions, Ulimit, VolumeDriverConfig, VolumeOptions, WeightDevice,
};
pub use image::{
    DeleteItem, HistoryItem, ImageInspect, ImageMetadata, ImageSummary, ImagesPruneReport, RootFs,
};
pub use network::{
    Address, EndpointIpamConfig, EndpointSettings, NetworkSettings, NetworkingConfig,
    SummaryNetworkSettings,
};
pub use serde_util::{deserialize_null_default, deserialize_str_slice};
pub use system::{
    BuildCache, Commit, ComponentVersion, ErrorResponse, EventActor, EventMessage, IndexInfo,
    PeerNode, PluginsInfo, RegistryConfig, RuntimeInfo, SwarmInfo, SystemDf, SystemInfo,
    SystemVersion, VersionPlatform, Volume, VolumeListResponse, VolumeUsageData,
    VolumesPruneReport,
};

/// `ContainerUpdateRequest` under the name the contract uses.
pub type ContainerUpdate = ContainerUpdateRequest;
