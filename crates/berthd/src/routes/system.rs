//! `/_ping`, `/version`, `/info`, `/events`, `/system/df`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::server::{API_VERSION, AppState, BERTH_VERSION, MIN_API_VERSION};

/// GET/HEAD `/_ping`.
pub async fn ping() -> Response {
    let mut h = HeaderMap::new();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    (StatusCode::OK, h, "OK").into_response()
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn runtime_version(path: &std::path::Path) -> String {
    std::process::Command::new(path)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.rsplit(' ').next().unwrap_or("").to_string())
        })
        .unwrap_or_default()
}

/// GET `/version`.
pub async fn version(State(st): State<AppState>) -> Json {
    let build_time = "2026-11-25T00:00:00.000000000+00:00";
    let rt_name = st.cfg.default_runtime.clone();
    let rt_version = st
        .cfg
        .runtime_path(&rt_name)
        .map(|p| runtime_version(&p))
        .unwrap_or_default();
    Json(json!({
        "Platform": {"Name": "berth"},
        "Components": [
            {"Name": "Engine", "Version": BERTH_VERSION, "Details": {
                "ApiVersion": API_VERSION, "Arch": go_arch(), "BuildTime": build_time, "Experimental": "false",
                "GitCommit": "berth", "GoVersion": "rust", "KernelVersion": kernel_version(),
                "MinAPIVersion": MIN_API_VERSION, "Os": "linux"}},
            {"Name": rt_name, "Version": rt_version, "Details": {"GitCommit": ""}},
            {"Name": "docker-init", "Version": "0.19.0", "Details": {"GitCommit": ""}}
        ],
        "Version": BERTH_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "berth",
        "GoVersion": "rust",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel_version(),
        "BuildTime": build_time
    }))
}

/// A JSON response body, written without escaping `<`/`>` (as Go's encoder would; clients don't care).
pub struct Json(pub Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        let mut body = serde_json::to_vec(&self.0).unwrap_or_default();
        body.push(b'\n');
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let mut pretty = "Linux".to_string();
    let mut version = String::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("PRETTY_NAME=") {
            pretty = v.trim_matches('"').to_string();
        } else if let Some(v) = line.strip_prefix("VERSION_ID=") {
            version = v.trim_matches('"').to_string();
        }
    }
    (pretty, version)
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse::<u64>().ok())
                })
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Whether the unified cgroup v2 hierarchy has controllers (else we run on v1).
pub fn cgroup_version() -> &'static str {
    match std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers") {
        Ok(s) if !s.trim().is_empty() => "2",
        _ => "1",
    }
}

/// A stable daemon id stored in the data root.
fn daemon_id(st: &AppState) -> String {
    let path = st.cfg.data_root.join("engine-id");
    if let Ok(s) = std::fs::read_to_string(&path) {
        return s.trim().to_string();
    }
    let id = berth_core::generate_id();
    let _ = std::fs::write(&path, &id);
    id
}

/// GET `/info`.
pub async fn info(State(st): State<AppState>) -> ApiResult<Json> {
    let counts = st.containers.counts().await;
    let images = st.images.clone();
    let n_images = tokio::task::spawn_blocking(move || images.list().len()).await?;
    let (os, os_version) = os_release();
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut runtimes = serde_json::Map::new();
    for (name, path) in &st.cfg.runtimes {
        runtimes.insert(name.clone(), json!({"path": path}));
    }
    let cg = cgroup_version();
    let nfd = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    let driver = st.snap.name();
    let driver_status = if driver == "overlay2" {
        json!([
            ["Backing Filesystem", "extfs"],
            ["Supports d_type", "true"],
            ["Using metacopy", "false"],
            ["Native Overlay Diff", "true"],
            ["userxattr", "false"]
        ])
    } else {
        json!([])
    };
    let rt_commit = st
        .cfg
        .runtime_path(&st.cfg.default_runtime)
        .map(|p| runtime_version(&p))
        .unwrap_or_default();
    Ok(Json(json!({
        "ID": daemon_id(&st),
        "Containers": counts.total,
        "ContainersRunning": counts.running,
        "ContainersPaused": counts.paused,
        "ContainersStopped": counts.stopped,
        "Images": n_images,
        "Driver": driver,
        "DriverStatus": driver_status,
        "Plugins": {"Volume": ["local"], "Network": ["host", "null"], "Authorization": null,
                    "Log": ["json-file", "local", "none"]},
        "MemoryLimit": true,
        "SwapLimit": cg == "2",
        "KernelMemory": false,
        "KernelMemoryTCP": false,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "IPv4Forwarding": std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").map(|s| s.trim() == "1").unwrap_or(false),
        "BridgeNfIptables": false,
        "BridgeNfIp6tables": false,
        "Debug": st.cfg.log_level == "debug",
        "NFd": nfd,
        "OomKillDisable": cg == "1",
        "NGoroutines": 0,
        "SystemTime": chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
        "LoggingDriver": st.cfg.log_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cg,
        "NEventsListener": st.events.listeners(),
        "KernelVersion": kernel_version(),
        "OperatingSystem": os,
        "OSVersion": os_version,
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(&st.cfg),
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "MemTotal": mem_total(),
        "GenericResources": null,
        "DockerRootDir": st.cfg.data_root,
        "HttpProxy": std::env::var("HTTP_PROXY").unwrap_or_default(),
        "HttpsProxy": std::env::var("HTTPS_PROXY").unwrap_or_default(),
        "NoProxy": std::env::var("NO_PROXY").unwrap_or_default(),
        "Name": host,
        "Labels": st.cfg.labels,
        "ExperimentalBuild": false,
        "ServerVersion": BERTH_VERSION,
        "Runtimes": runtimes,
        "DefaultRuntime": st.cfg.default_runtime,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": rt_commit, "Expected": rt_commit},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": null
    })))
}

/// Query of `/events`.
#[derive(Debug, Deserialize, Default)]
pub struct EventsQuery {
    since: Option<String>,
    until: Option<String>,
    filters: Option<String>,
}

/// Parses Docker's `--since/--until` values: unix seconds (with optional fraction) or RFC 3339.
pub fn parse_time_nanos(s: &str) -> Option<i64> {
    if let Ok(f) = s.parse::<f64>() {
        return Some((f * 1e9) as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt();
    }
    None
}

fn event_matches(ev: &crate::events::Event, filters: &BTreeMap<String, Vec<String>>) -> bool {
    for (key, vals) in filters {
        if vals.is_empty() {
            continue;
        }
        let ok = match key.as_str() {
            "type" => vals.iter().any(|v| v == ev.kind),
            "event" => vals
                .iter()
                .any(|v| v == &ev.action || ev.action.starts_with(&format!("{v}:"))),
            "container" => {
                ev.kind == "container"
                    && vals.iter().any(|v| {
                        ev.id.starts_with(v.as_str()) || ev.attributes.get("name") == Some(v)
                    })
            }
            "image" => vals
                .iter()
                .any(|v| ev.attributes.get("image") == Some(v) || ev.id == *v),
            "label" => vals.iter().any(|v| match v.split_once('=') {
                Some((k, val)) => ev.attributes.get(k).map(String::as_str) == Some(val),
                None => ev.attributes.contains_key(v),
            }),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Parses the `filters` query parameter (both of Docker's shapes, via `berth_api::Filters`)
/// into key → values.
pub fn parse_filters(raw: Option<&str>) -> ApiResult<BTreeMap<String, Vec<String>>> {
    let f = berth_api::Filters::parse(raw)?;
    Ok(f.keys()
        .map(|k| {
            (
                k.to_string(),
                f.get(k).into_iter().map(String::from).collect(),
            )
        })
        .collect())
}

/// GET `/events`: history since `since`, then live events until `until` (or forever).
pub async fn events(
    State(st): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Response> {
    let filters = parse_filters(q.filters.as_deref())?;
    let since = q.since.as_deref().and_then(parse_time_nanos);
    let until = q.until.as_deref().and_then(parse_time_nanos);
    let (history, rx) = st.events.subscribe();
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let past: Vec<_> = match since {
        Some(s) => history
            .into_iter()
            .filter(|e| e.time_nano >= s && until.is_none_or(|u| e.time_nano <= u))
            .filter(|e| event_matches(e, &filters))
            .collect(),
        None => Vec::new(),
    };
    let past_stream =
        futures_util::stream::iter(past.into_iter().map(|e| Ok::<_, std::io::Error>(line(&e))));
    let live_deadline = until.filter(|u| *u > now);
    if until.is_some() && live_deadline.is_none() {
        return Ok(stream_response(past_stream.boxed()));
    }
    let live = tokio_stream_from(rx, filters);
    let live = match live_deadline {
        Some(u) => {
            let dur = std::time::Duration::from_nanos((u - now).max(0) as u64);
            let stop = tokio::time::sleep(dur);
            live.take_until(stop).boxed()
        }
        None => live.boxed(),
    };
    Ok(stream_response(past_stream.chain(live).boxed()))
}

fn line(e: &crate::events::Event) -> bytes::Bytes {
    let mut v = serde_json::to_vec(&e.to_json()).unwrap_or_default();
    v.push(b'\n');
    bytes::Bytes::from(v)
}

fn tokio_stream_from(
    rx: tokio::sync::broadcast::Receiver<crate::events::Event>,
    filters: BTreeMap<String, Vec<String>>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    futures_util::stream::unfold((rx, filters), |(mut rx, filters)| async move {
        loop {
            match rx.recv().await {
                Ok(e) if event_matches(&e, &filters) => return Some((Ok(line(&e)), (rx, filters))),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

fn stream_response(
    s: futures_util::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(s),
    )
        .into_response()
}

/// GET `/system/df`.
pub async fn system_df(State(st): State<AppState>) -> ApiResult<Json> {
    let images = st.images.clone();
    let list = tokio::task::spawn_blocking(move || images.list()).await?;
    let containers = st.containers.list_summaries(true, true).await;
    let mut layers_size: u64 = 0;
    let mut imgs = Vec::new();
    for img in &list {
        layers_size += img.size;
        let used = containers
            .iter()
            .filter(|c| c["ImageID"].as_str() == Some(img.id.to_string().as_str()))
            .count();
        imgs.push(json!({
            "Containers": used,
            "Created": crate::routes::images::created_unix(&img.created),
            "Id": img.id.to_string(),
            "Labels": img.config.config.as_ref().and_then(|c| c.labels.clone()),
            "ParentId": img.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
            "RepoDigests": if img.repo_digests.is_empty() { Value::Null } else { json!(img.repo_digests) },
            "RepoTags": img.repo_tags,
            "SharedSize": 0,
            "Size": img.size,
            "VirtualSize": img.size,
        }));
    }
    Ok(Json(json!({
        "LayersSize": layers_size,
        "Images": imgs,
        "Containers": containers,
        "Volumes": super::volumes::df_json(&st),
        "BuildCache": Value::Null,
        "BuilderSize": 0
    })))
}

/// `RegistryConfig` of `/info`: CIDRs of insecure registries (127.0.0.0/8 always), an index
/// entry per insecure host name, and the mirrors.
fn registry_config(cfg: &crate::config::DaemonConfig) -> Value {
    let mut cidrs = vec!["127.0.0.0/8".to_string()];
    let mut index = serde_json::Map::new();
    index.insert(
        "docker.io".into(),
        json!({"Name": "docker.io", "Mirrors": cfg.registry_mirrors, "Secure": true, "Official": true}),
    );
    for r in &cfg.insecure_registries {
        if r.contains('/') {
            cidrs.push(r.clone());
        } else {
            index.insert(
                r.clone(),
                json!({"Name": r, "Mirrors": [], "Secure": false, "Official": false}),
            );
        }
    }
    json!({
        "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
        "InsecureRegistryCIDRs": cidrs, "IndexConfigs": index, "Mirrors": cfg.registry_mirrors,
    })
}
