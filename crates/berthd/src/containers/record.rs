//! The persisted form of a container (one redb row per container, JSON encoded) and its state
//! machine fields, named as `docker inspect` shows them.

use berth_api::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};

/// `State` of `docker inspect`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct StateRecord {
    /// created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    /// Whether the init process runs (also true while paused).
    pub running: bool,
    /// Frozen.
    pub paused: bool,
    /// Waiting to be restarted by its restart policy.
    pub restarting: bool,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
    /// Could not be removed.
    pub dead: bool,
    /// Init pid on the host (0 when not running).
    pub pid: i64,
    /// Last exit code.
    pub exit_code: i64,
    /// Last start error.
    pub error: String,
    /// RFC 3339 nanos or Docker's zero time.
    pub started_at: String,
    /// RFC 3339 nanos or Docker's zero time.
    pub finished_at: String,
    /// Health, when the container has a healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthRecord>,
}

/// `State.Health`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HealthRecord {
    /// starting, healthy, unhealthy.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: i64,
    /// Last results (at most 5).
    pub log: Vec<HealthLogEntry>,
}

/// One healthcheck probe result.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct HealthLogEntry {
    /// RFC 3339 start time.
    pub start: String,
    /// RFC 3339 end time.
    pub end: String,
    /// Exit code of the probe (-1 = timed out / failed to run).
    pub exit_code: i64,
    /// Output of the probe (truncated).
    pub output: String,
}

/// Everything berthd stores about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex chars.
    pub id: String,
    /// Name with its leading slash, as Docker stores it.
    pub name: String,
    /// RFC 3339 nanos.
    pub created: String,
    /// First word of the command line.
    pub path: String,
    /// Remaining words.
    pub args: Vec<String>,
    /// Effective config (image defaults merged).
    pub config: ContainerConfig,
    /// Host config as given (with defaults filled).
    pub host_config: HostConfig,
    /// Image id (`sha256:...`).
    pub image: String,
    /// State.
    pub state: StateRecord,
    /// Restarts done by the restart policy since the last manual start.
    pub restart_count: i64,
    /// Whether the user stopped it (restart policies then hold off).
    pub manually_stopped: bool,
    /// Whether it was ever started (for `ps` "Created" vs "Exited").
    pub has_been_started: bool,
    /// Storage driver name.
    pub driver: String,
    /// OCI runtime name used.
    pub runtime: String,
    /// json-file log path ("" when logging is off).
    pub log_path: String,
    /// Networks the container is connected to (`NetworkSettings.Networks`): what was asked
    /// for (aliases, links, static IP) plus the live endpoint while it runs.
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, berth_api::EndpointSettings>,
    /// Network namespace path while running (`NetworkSettings.SandboxKey`).
    #[serde(default)]
    pub sandbox_key: String,
    /// Host ports actually bound while running (`NetworkSettings.Ports`).
    #[serde(default)]
    pub ports: berth_api::PortMap,
    /// Volumes, binds and tmpfs mounts (`Mounts`).
    #[serde(default)]
    pub mounts: Vec<berth_volumes::MountRecord>,
}

impl ContainerRecord {
    /// The name without its slash.
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// The command line as `docker ps` quotes it.
    pub fn command_line(&self) -> String {
        let mut s = self.path.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}
