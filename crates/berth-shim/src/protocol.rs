//! The shim socket protocol: one JSON request line per connection, one JSON response line;
//! `attach` and `exec` then carry the raw stream on the same connection (Docker's multiplexed
//! framing when there is no TTY).

use serde::{Deserialize, Serialize};

/// A request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start the created container.
    Start,
    /// Report state.
    State,
    /// Answer when the init process exits.
    Wait,
    /// Send a signal to init.
    Kill {
        /// Signal number.
        signal: i32,
    },
    /// Freeze.
    Pause,
    /// Thaw.
    Resume,
    /// Attach to the container's stdio.
    Attach {
        /// Forward client bytes to stdin.
        stdin: bool,
        /// Receive stdout.
        stdout: bool,
        /// Receive stderr.
        stderr: bool,
    },
    /// Run a process in the container.
    Exec {
        /// Exec id.
        exec_id: String,
        /// OCI process.
        process: serde_json::Value,
        /// Do not stream.
        detach: bool,
    },
    /// State of an exec.
    ExecState {
        /// Exec id.
        exec_id: String,
    },
    /// Resize a TTY.
    Resize {
        /// Exec id, or None for the container.
        exec_id: Option<String>,
        /// Rows.
        height: u16,
        /// Columns.
        width: u16,
    },
    /// Pids in the container.
    Pids,
    /// Delete a never-started container and exit.
    Shutdown,
}

/// A response line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Response {
    /// Success.
    pub ok: bool,
    /// Error text when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// created, running, paused, stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Exit code, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// RFC 3339 nanos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// RFC 3339 nanos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Killed by the OOM killer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_killed: Option<bool>,
    /// Exec running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    /// Pids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Vec<u32>>,
}

impl Response {
    /// A bare success.
    pub fn ok() -> Self {
        Response {
            ok: true,
            ..Default::default()
        }
    }
    /// A failure.
    pub fn err(msg: impl Into<String>) -> Self {
        Response {
            ok: false,
            error: Some(msg.into()),
            ..Default::default()
        }
    }
}

/// Contents of `exit.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitInfo {
    /// Exit code (128+signal when killed).
    pub exit_code: i32,
    /// RFC 3339 nanos.
    pub finished_at: String,
    /// Killed by the OOM killer.
    #[serde(default)]
    pub oom_killed: bool,
}
