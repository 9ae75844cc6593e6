//! `Config` of a container (`container.Config` in dockerd): what a create request carries at
//! its top level, what `inspect` shows under `Config`, and an image's run config.
//!
//! Every field is an `Option` so a request can leave anything out or send `null`. On output,
//! fields Go prints unconditionally show their zero value when unset (`""`, `false`), lists and
//! maps show `null`, and Go's `omitempty` fields are left out when unset or empty.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::serde_util::{
    bool_or_false, deserialize_str_slice, none_or_empty_map, none_or_empty_str, none_or_empty_vec,
    none_or_false, none_or_zero, str_or_empty,
};

/// The `{}` placeholder value of port and volume sets (`"80/tcp": {}`). Any value is
/// accepted on input (some image configs carry `null` there).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Empty {}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Empty {})
    }
}

/// A container's healthcheck (`Config.Healthcheck`); durations are in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args...]`, `["CMD-SHELL", command]`, or empty to inherit.
    #[serde(skip_serializing_if = "none_or_empty_vec")]
    pub test: Option<Vec<String>>,
    /// Time between probes.
    #[serde(skip_serializing_if = "none_or_zero")]
    pub interval: Option<i64>,
    /// Probe timeout.
    #[serde(skip_serializing_if = "none_or_zero")]
    pub timeout: Option<i64>,
    /// Grace period during which failures do not count.
    #[serde(skip_serializing_if = "none_or_zero")]
    pub start_period: Option<i64>,
    /// Probe interval during the start period (API 1.44+).
    #[serde(skip_serializing_if = "none_or_zero")]
    pub start_interval: Option<i64>,
    /// Consecutive failures before the container is unhealthy.
    #[serde(skip_serializing_if = "none_or_zero")]
    pub retries: Option<i64>,
}

/// `Config` of a container, an image (`image inspect` `.Config`) or a commit, in dockerd's
/// key order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    /// Hostname inside the container (berthd sets the short id when empty).
    #[serde(serialize_with = "str_or_empty")]
    pub hostname: Option<String>,
    /// NIS domain name.
    #[serde(serialize_with = "str_or_empty")]
    pub domainname: Option<String>,
    /// `user[:group]` the process runs as.
    #[serde(serialize_with = "str_or_empty")]
    pub user: Option<String>,
    /// Whether the client attaches stdin.
    #[serde(serialize_with = "bool_or_false")]
    pub attach_stdin: Option<bool>,
    /// Whether the client attaches stdout.
    #[serde(serialize_with = "bool_or_false")]
    pub attach_stdout: Option<bool>,
    /// Whether the client attaches stderr.
    #[serde(serialize_with = "bool_or_false")]
    pub attach_stderr: Option<bool>,
    /// Exposed ports, `"80/tcp": {}` (omitted when empty).
    #[serde(skip_serializing_if = "none_or_empty_map")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    /// Allocate a TTY.
    #[serde(serialize_with = "bool_or_false")]
    pub tty: Option<bool>,
    /// Keep stdin open.
    #[serde(serialize_with = "bool_or_false")]
    pub open_stdin: Option<bool>,
    /// Close stdin after the first attach detaches.
    #[serde(serialize_with = "bool_or_false")]
    pub stdin_once: Option<bool>,
    /// `KEY=value` environment.
    pub env: Option<Vec<String>>,
    /// Command (a single string is accepted on input).
    #[serde(deserialize_with = "deserialize_str_slice")]
    pub cmd: Option<Vec<String>>,
    /// Healthcheck (omitted when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Windows-only flag that the command is already escaped (omitted when false).
    #[serde(skip_serializing_if = "none_or_false")]
    pub args_escaped: Option<bool>,
    /// Image name as the user gave it.
    #[serde(serialize_with = "str_or_empty")]
    pub image: Option<String>,
    /// Anonymous volumes, `"/data": {}`.
    pub volumes: Option<BTreeMap<String, Empty>>,
    /// Working directory.
    #[serde(serialize_with = "str_or_empty")]
    pub working_dir: Option<String>,
    /// Entrypoint (a single string is accepted on input).
    #[serde(deserialize_with = "deserialize_str_slice")]
    pub entrypoint: Option<Vec<String>>,
    /// Disable networking (omitted when false).
    #[serde(skip_serializing_if = "none_or_false")]
    pub network_disabled: Option<bool>,
    /// MAC address (omitted when empty; deprecated in 1.44 for the endpoint setting).
    #[serde(skip_serializing_if = "none_or_empty_str")]
    pub mac_address: Option<String>,
    /// ONBUILD triggers.
    pub on_build: Option<Vec<String>>,
    /// Labels. `null` when unset, as in `image inspect`; Docker clients send `{}` on create,
    /// which is why containers show `{}`.
    pub labels: Option<BTreeMap<String, String>>,
    /// Stop signal (omitted when empty).
    #[serde(skip_serializing_if = "none_or_empty_str")]
    pub stop_signal: Option<String>,
    /// Seconds to wait before killing on stop (omitted when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Shell for shell-form RUN/CMD/ENTRYPOINT (omitted when empty).
    #[serde(
        skip_serializing_if = "none_or_empty_vec",
        deserialize_with = "deserialize_str_slice"
    )]
    pub shell: Option<Vec<String>>,
}
