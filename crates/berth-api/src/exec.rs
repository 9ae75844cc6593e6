//! Exec request and response bodies.

use serde::{Deserialize, Serialize};

use crate::serde_util::{deserialize_str_slice, is_empty_str};

/// Body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreateRequest {
    /// `user[:group]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Extended privileges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Allocate a TTY.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Initial TTY `[height, width]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<Vec<u64>>,
    /// Attach stdin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach_stdin: Option<bool>,
    /// Attach stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach_stderr: Option<bool>,
    /// Attach stdout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach_stdout: Option<bool>,
    /// Run detached (CLI-side hint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detach: Option<bool>,
    /// Detach key sequence, e.g. `ctrl-p,ctrl-q`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detach_keys: Option<String>,
    /// Extra `KEY=value` environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Command (a single string is accepted on input).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_str_slice"
    )]
    pub cmd: Option<Vec<String>>,
}

/// Body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartRequest {
    /// Start without attaching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detach: Option<bool>,
    /// TTY (must match the create request).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Initial TTY `[height, width]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<Vec<u64>>,
}

/// `{"Id": ...}` response (exec create, commit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdResponse {
    /// The new object's id.
    #[serde(rename = "Id")]
    pub id: String,
}

/// `ProcessConfig` of an exec inspect (lower-case keys, as dockerd prints them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecProcessConfig {
    /// TTY.
    pub tty: bool,
    /// Executable.
    pub entrypoint: String,
    /// Its arguments.
    pub arguments: Vec<String>,
    /// Privileged (omitted when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// User (omitted when empty).
    #[serde(skip_serializing_if = "is_empty_str")]
    pub user: String,
}

/// Response of `GET /exec/{id}/json`, in dockerd's key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecInspect {
    /// Exec id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Still running.
    pub running: bool,
    /// Exit code (`null` until it exits).
    pub exit_code: Option<i64>,
    /// What runs.
    pub process_config: ExecProcessConfig,
    /// Stdin attached.
    pub open_stdin: bool,
    /// Stderr attached.
    pub open_stderr: bool,
    /// Stdout attached.
    pub open_stdout: bool,
    /// Can be removed (exited).
    pub can_remove: bool,
    /// Container id.
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// Detach keys (base64 of the key bytes, as Go prints `[]byte`; empty by default).
    pub detach_keys: String,
    /// Host pid (0 when not running).
    pub pid: i64,
}
