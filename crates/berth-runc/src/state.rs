//! runc's `state` JSON document, built from libcontainer's container state.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use libcontainer::container::ContainerStatus;
use serde::Serialize;

/// The OCI spec version runc 1.1 reports.
pub const OCI_VERSION: &str = "1.0.2-dev";

/// runc's `state` output, field order as runc prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuncState {
    /// OCI spec version.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the init process; 0 once stopped.
    pub pid: i32,
    /// `creating`, `created`, `running`, `paused` or `stopped`.
    pub status: String,
    /// Absolute bundle path.
    pub bundle: String,
    /// Absolute rootfs path.
    pub rootfs: String,
    /// Creation time, Go RFC 3339 with trimmed nanoseconds.
    pub created: String,
    /// Spec annotations (omitted when empty, sorted like Go maps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Owner; runc prints an empty string for root-owned containers.
    pub owner: String,
}

/// runc's lower-case status word.
pub fn status_word(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Paused => "paused",
        ContainerStatus::Stopped => "stopped",
    }
}

/// Formats a time like Go's `time.RFC3339Nano` (fraction without trailing zeros).
pub fn go_rfc3339_nano(t: DateTime<Utc>) -> String {
    let full = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    let trimmed = full.trim_end_matches('0').trim_end_matches('.');
    format!("{trimmed}Z")
}

/// Resolves the spec's `root.path` against the bundle.
pub fn rootfs_path(bundle: &Path, root: &Path) -> PathBuf {
    if root.is_absolute() {
        root.to_path_buf()
    } else {
        bundle.join(root)
    }
}

/// Inputs for [`build`], gathered from libcontainer's state and the bundle's spec.
#[derive(Debug, Clone)]
pub struct StateInput<'a> {
    /// Container id.
    pub id: &'a str,
    /// Current status.
    pub status: ContainerStatus,
    /// Recorded init pid.
    pub pid: Option<i32>,
    /// Bundle directory.
    pub bundle: &'a Path,
    /// Rootfs directory.
    pub rootfs: &'a Path,
    /// Creation time.
    pub created: Option<DateTime<Utc>>,
    /// Spec annotations.
    pub annotations: Option<&'a HashMap<String, String>>,
}

/// Builds runc's state document.
pub fn build(input: &StateInput<'_>) -> RuncState {
    let pid = match input.status {
        ContainerStatus::Stopped => 0,
        _ => input.pid.unwrap_or(0),
    };
    let annotations = input
        .annotations
        .filter(|a| !a.is_empty())
        .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    RuncState {
        oci_version: OCI_VERSION.to_string(),
        id: input.id.to_string(),
        pid,
        status: status_word(input.status).to_string(),
        bundle: input.bundle.to_string_lossy().into_owned(),
        rootfs: input.rootfs.to_string_lossy().into_owned(),
        created: input
            .created
            .map(go_rfc3339_nano)
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string()),
        annotations,
        owner: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn go_time_trims() {
        let t = Utc
            .timestamp_opt(1_700_000_000, 884_811_900)
            .single()
            .unwrap_or_default();
        assert_eq!(go_rfc3339_nano(t), "2023-11-14T22:13:20.8848119Z");
        let whole = Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(go_rfc3339_nano(whole), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn state_json_matches_runc_layout() {
        let st = build(&StateInput {
            id: "c1",
            status: ContainerStatus::Created,
            pid: Some(42),
            bundle: Path::new("/b"),
            rootfs: Path::new("/b/rootfs"),
            created: Utc.timestamp_opt(1_700_000_000, 5).single(),
            annotations: None,
        });
        let json = serde_json::to_string(&st).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"ociVersion":"1.0.2-dev","id":"c1","pid":42,"status":"created","bundle":"/b","rootfs":"/b/rootfs","created":"2023-11-14T22:13:20.000000005Z","owner":""}"#
        );
    }

    #[test]
    fn stopped_has_pid_zero_and_annotations_sorted() {
        let mut ann = HashMap::new();
        ann.insert("z".to_string(), "1".to_string());
        ann.insert("a".to_string(), "2".to_string());
        let st = build(&StateInput {
            id: "c1",
            status: ContainerStatus::Stopped,
            pid: Some(42),
            bundle: Path::new("/b"),
            rootfs: Path::new("/b/rootfs"),
            created: None,
            annotations: Some(&ann),
        });
        assert_eq!(st.pid, 0);
        let json = serde_json::to_string(&st).unwrap_or_default();
        assert!(
            json.contains(r#""annotations":{"a":"2","z":"1"},"owner":"""#),
            "{json}"
        );
    }

    #[test]
    fn rootfs_relative() {
        assert_eq!(
            rootfs_path(Path::new("/b"), Path::new("rootfs")),
            PathBuf::from("/b/rootfs")
        );
        assert_eq!(
            rootfs_path(Path::new("/b"), Path::new("/r")),
            PathBuf::from("/r")
        );
    }
}
