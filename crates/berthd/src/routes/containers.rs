//! `/containers/...` and `/exec/...` routes (hijacked streams live in `hijack`).

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::qbool;
use super::system::{Json, parse_filters};
use crate::containers::exec::ExecSpec;
use crate::error::{ApiError, ApiResult};
use crate::server::AppState;

/// Query of `GET /containers/json`.
#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    all: Option<String>,
    limit: Option<i64>,
    size: Option<String>,
    filters: Option<String>,
}

fn matches_filters(
    st: &AppState,
    r: &crate::containers::ContainerRecord,
    f: &BTreeMap<String, Vec<String>>,
) -> ApiResult<bool> {
    for (key, vals) in f {
        if vals.is_empty() {
            continue;
        }
        let ok = match key.as_str() {
            "id" => vals.iter().any(|v| r.id.starts_with(v.as_str())),
            "name" => vals.iter().any(|v| {
                let v = v.trim_start_matches('/');
                r.short_name().contains(v)
            }),
            "label" => vals.iter().all(|v| {
                let labels = r.config.labels.clone().unwrap_or_default();
                match v.split_once('=') {
                    Some((k, val)) => labels.get(k).map(String::as_str) == Some(val),
                    None => labels.contains_key(v.as_str()),
                }
            }),
            "status" => {
                for v in vals {
                    if ![
                        "created",
                        "restarting",
                        "running",
                        "removing",
                        "paused",
                        "exited",
                        "dead",
                    ]
                    .contains(&v.as_str())
                    {
                        return Err(ApiError::invalid(format!("Invalid filter 'status={v}'")));
                    }
                }
                vals.contains(&r.state.status)
            }
            "exited" => vals.iter().any(|v| {
                !r.state.running
                    && r.has_been_started
                    && v.parse::<i64>().ok() == Some(r.state.exit_code)
            }),
            "ancestor" => vals.iter().any(|v| {
                r.config.image.as_deref() == Some(v.as_str())
                    || r.image == *v
                    || st
                        .images
                        .get(v)
                        .map(|img| img.id.to_string() == r.image)
                        .unwrap_or(false)
            }),
            "before" | "since" => {
                let mut ok = true;
                for v in vals {
                    let other = st.containers.get(v)?.snapshot();
                    ok &= if key == "before" {
                        r.created < other.created
                    } else {
                        r.created > other.created
                    };
                }
                ok
            }
            "health" => vals.iter().any(|v| {
                let h = r
                    .state
                    .health
                    .as_ref()
                    .map(|h| h.status.as_str())
                    .unwrap_or("none");
                h == v
            }),
            "network" => vals
                .iter()
                .any(|v| r.host_config.network_mode.as_deref().unwrap_or("default") == v),
            "volume" | "publish" | "expose" | "isolation" | "is-task" => true,
            other => return Err(ApiError::invalid(format!("Invalid filter '{other}'"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// GET `/containers/json`.
pub async fn list(State(st): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json> {
    let filters = parse_filters(q.filters.as_deref())?;
    let all = qbool(&q.all);
    let size = qbool(&q.size);
    let limit = q.limit.filter(|l| *l > 0);
    let mut recs: Vec<_> = st.containers.all().iter().map(|c| c.snapshot()).collect();
    recs.sort_by(|a, b| b.created.cmp(&a.created));
    let mut out = Vec::new();
    for r in recs {
        if !all
            && limit.is_none()
            && !r.state.running
            && !filters.contains_key("status")
            && !filters.contains_key("exited")
        {
            continue;
        }
        if !matches_filters(&st, &r, &filters)? {
            continue;
        }
        let sz = if size {
            Some(st.containers.sizes(&r).await)
        } else {
            None
        };
        out.push(st.containers.summary_json(&r, sz));
        if limit.is_some_and(|l| out.len() as i64 >= l) {
            break;
        }
    }
    Ok(Json(Value::Array(out)))
}

/// Query of `POST /containers/create`.
#[derive(Debug, Deserialize, Default)]
pub struct CreateQuery {
    name: Option<String>,
}

/// POST `/containers/create`.
pub async fn create(
    State(st): State<AppState>,
    Query(q): Query<CreateQuery>,
    version: Option<axum::Extension<crate::server::RequestVersion>>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: berth_api::ContainerCreateRequest = if body.is_empty() {
        return Err(ApiError::invalid(
            "Config cannot be empty in order to create a container",
        ));
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?
    };
    if version.is_some_and(|axum::Extension(v)| (v.0, v.1) < (1, 44)) {
        crate::containers::network::check_single_endpoint(req.networking_config.as_ref())?;
    }
    let created = st.containers.create(q.name.as_deref(), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": created.id, "Warnings": created.warnings})),
    )
        .into_response())
}

/// Query of `GET /containers/{id}/json`.
#[derive(Debug, Deserialize, Default)]
pub struct InspectQuery {
    size: Option<String>,
}

/// GET `/containers/{id}/json`.
pub async fn inspect(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<InspectQuery>,
) -> ApiResult<Json> {
    let c = st.containers.get(&id)?;
    let r = c.snapshot();
    let execs = crate::containers::lock(&c.exec_ids).clone();
    let size = if qbool(&q.size) {
        Some(st.containers.sizes(&r).await)
    } else {
        None
    };
    Ok(Json(st.containers.inspect_json(&r, &execs, size)))
}

/// Query of `DELETE /containers/{id}`.
#[derive(Debug, Deserialize, Default)]
pub struct RemoveQuery {
    force: Option<String>,
    v: Option<String>,
    link: Option<String>,
}

/// DELETE `/containers/{id}`.
pub async fn remove(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<StatusCode> {
    if qbool(&q.link) {
        return Err(ApiError::invalid(
            "Conflict, cannot remove the default link name of the container",
        ));
    }
    st.containers
        .remove_with_volumes(&id, qbool(&q.force), qbool(&q.v))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE `/containers/{parent}/{alias}`: with `link=1`, removes the legacy link `alias` of
/// container `parent` (dockerd names a link `/parent/alias`); the linked container stays.
pub async fn remove_link(
    State(st): State<AppState>,
    Path((parent, alias)): Path<(String, String)>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<StatusCode> {
    let full = format!("{parent}/{alias}");
    if !qbool(&q.link) {
        return Err(ApiError::not_found(format!("No such container: {full}")));
    }
    st.containers.remove_link(&parent, &alias).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST `/containers/{id}/start`.
pub async fn start(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    Ok(if st.containers.start(&id).await? {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    })
}

/// Query of stop/restart.
#[derive(Debug, Deserialize, Default)]
pub struct StopQuery {
    t: Option<i64>,
    signal: Option<String>,
}

/// POST `/containers/{id}/stop`.
pub async fn stop(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> ApiResult<StatusCode> {
    Ok(
        if st.containers.stop(&id, q.t, q.signal.as_deref()).await? {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::NOT_MODIFIED
        },
    )
}

/// POST `/containers/{id}/restart`.
pub async fn restart(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<StopQuery>,
) -> ApiResult<StatusCode> {
    st.containers.restart(&id, q.t, q.signal.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of kill.
#[derive(Debug, Deserialize, Default)]
pub struct KillQuery {
    signal: Option<String>,
}

/// POST `/containers/{id}/kill`.
pub async fn kill(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<KillQuery>,
) -> ApiResult<StatusCode> {
    st.containers.kill(&id, q.signal.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST `/containers/{id}/pause`.
pub async fn pause(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    st.containers.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// POST `/containers/{id}/unpause`.
pub async fn unpause(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    st.containers.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of wait.
#[derive(Debug, Deserialize, Default)]
pub struct WaitQuery {
    condition: Option<String>,
}

/// POST `/containers/{id}/wait`: headers go out at once, the body when the condition holds.
pub async fn wait(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> ApiResult<Response> {
    let fut = st
        .containers
        .wait(&id, q.condition.as_deref().unwrap_or(""))
        .await?;
    let body = futures_util::stream::once(async move {
        let code = fut.await;
        let mut v =
            serde_json::to_vec(&json!({"StatusCode": code, "Error": null})).unwrap_or_default();
        v.push(b'\n');
        Ok::<_, std::io::Error>(Bytes::from(v))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

/// Query of rename.
#[derive(Debug, Deserialize, Default)]
pub struct RenameQuery {
    name: Option<String>,
}

/// POST `/containers/{id}/rename`.
pub async fn rename(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<RenameQuery>,
) -> ApiResult<StatusCode> {
    st.containers.rename(&id, q.name.as_deref().unwrap_or(""))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of resize.
#[derive(Debug, Deserialize, Default)]
pub struct ResizeQuery {
    h: Option<u16>,
    w: Option<u16>,
}

/// POST `/containers/{id}/resize`.
pub async fn resize(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ResizeQuery>,
) -> ApiResult<StatusCode> {
    let c = st.containers.get(&id)?;
    let shim = c
        .shim()
        .ok_or_else(|| ApiError::conflict(format!("Container {} is not running", c.id)))?;
    shim.resize(None, q.h.unwrap_or(0), q.w.unwrap_or(0))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(StatusCode::OK)
}

/// POST `/exec/{id}/resize`.
pub async fn exec_resize(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ResizeQuery>,
) -> ApiResult<StatusCode> {
    let inst = st.containers.exec_get(&id)?;
    let c = st.containers.get(&inst.container_id)?;
    let shim = c
        .shim()
        .ok_or_else(|| ApiError::conflict(format!("Container {} is not running", c.id)))?;
    shim.resize(Some(&id), q.h.unwrap_or(0), q.w.unwrap_or(0))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(StatusCode::OK)
}

/// POST `/containers/{id}/exec`.
pub async fn exec_create(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: berth_api::ExecCreateRequest = super::decode_go_json_keys(
        &body,
        &[
            "User",
            "Privileged",
            "Tty",
            "ConsoleSize",
            "AttachStdin",
            "AttachStderr",
            "AttachStdout",
            "Detach",
            "DetachKeys",
            "Env",
            "WorkingDir",
            "Cmd",
        ],
    )
    .map_err(|e| ApiError::invalid(format!("invalid JSON: {}", e.message)))?;
    let spec = ExecSpec {
        cmd: req.cmd.unwrap_or_default(),
        env: req.env.unwrap_or_default(),
        user: req.user.unwrap_or_default(),
        working_dir: req.working_dir.unwrap_or_default(),
        tty: req.tty.unwrap_or(false),
        privileged: req.privileged.unwrap_or(false),
        attach_stdin: req.attach_stdin.unwrap_or(false),
        attach_stdout: req.attach_stdout.unwrap_or(false),
        attach_stderr: req.attach_stderr.unwrap_or(false),
        detach_keys: req.detach_keys.unwrap_or_default(),
    };
    let exec_id = st.containers.exec_create(&id, spec)?;
    Ok((StatusCode::CREATED, Json(json!({"Id": exec_id}))).into_response())
}

/// GET `/exec/{id}/json`.
pub async fn exec_inspect(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json> {
    let inst = st.containers.exec_get(&id)?;
    st.containers.exec_refresh(&inst).await;
    Ok(Json(inst.inspect_json()))
}

/// Query of logs.
#[derive(Debug, Deserialize, Default)]
pub struct LogsQuery {
    follow: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    since: Option<String>,
    until: Option<String>,
    timestamps: Option<String>,
    tail: Option<String>,
}

/// GET `/containers/{id}/logs`.
pub async fn logs(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    let c = st.containers.get(&id)?;
    let r = c.snapshot();
    let (stdout, stderr) = (qbool(&q.stdout), qbool(&q.stderr));
    if !stdout && !stderr {
        return Err(ApiError::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let driver = r
        .host_config
        .log_config
        .as_ref()
        .and_then(|l| l.r#type.clone())
        .unwrap_or_default();
    if driver == "none" || r.log_path.is_empty() {
        return Err(ApiError::invalid(
            "configured logging driver does not support reading".to_string(),
        ));
    }
    let opts = crate::logs::LogOptions {
        follow: qbool(&q.follow),
        stdout,
        stderr,
        since: q
            .since
            .as_deref()
            .and_then(super::system::parse_time_nanos)
            .filter(|n| *n > 0),
        until: q
            .until
            .as_deref()
            .and_then(super::system::parse_time_nanos)
            .filter(|n| *n > 0),
        timestamps: qbool(&q.timestamps),
        tail: q.tail.as_deref().and_then(|t| t.parse::<usize>().ok()),
        tty: r.config.tty.unwrap_or(false),
    };
    let stream = crate::logs::stream(c.clone(), std::path::PathBuf::from(&r.log_path), opts);
    let ctype = if r.config.tty.unwrap_or(false) {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(([(header::CONTENT_TYPE, ctype)], Body::from_stream(stream)).into_response())
}

/// Query of top.
#[derive(Debug, Deserialize, Default)]
pub struct TopQuery {
    ps_args: Option<String>,
}

/// GET `/containers/{id}/top`: the host's `ps` output restricted to the container's processes.
pub async fn top(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<TopQuery>,
) -> ApiResult<Json> {
    let c = st.containers.get(&id)?;
    let r = c.snapshot();
    let shim = c
        .shim()
        .filter(|_| r.state.running)
        .ok_or_else(|| ApiError::conflict(format!("Container {} is not running", r.id)))?;
    let pids = shim
        .pids()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let args = q.ps_args.unwrap_or_else(|| "-ef".into());
    let out = tokio::process::Command::new("ps")
        .args(args.split_whitespace())
        .output()
        .await
        .map_err(|e| ApiError::internal(format!("running ps: {e}")))?;
    if !out.status.success() {
        return Err(ApiError::internal(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ApiError::internal("Couldn't find PID field in ps output"))?;
    let mut procs = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<u32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        procs.push(row);
    }
    Ok(Json(json!({"Titles": titles, "Processes": procs})))
}

/// Query of stats.
#[derive(Debug, Deserialize, Default)]
pub struct StatsQuery {
    stream: Option<String>,
    #[serde(rename = "one-shot")]
    one_shot: Option<String>,
}

/// GET `/containers/{id}/stats`.
pub async fn stats(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<StatsQuery>,
) -> ApiResult<Response> {
    let c = st.containers.get(&id)?;
    let stream = q.stream.is_none() || qbool(&q.stream);
    let s = crate::stats::stream(st.containers.clone(), c, stream, qbool(&q.one_shot));
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(s),
    )
        .into_response())
}

/// POST `/containers/{id}/update`.
pub async fn update(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json> {
    let req: berth_api::ContainerUpdateRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?;
    let warnings = crate::stats::update(&st.containers, &id, req).await?;
    Ok(Json(
        json!({"Warnings": if warnings.is_empty() { Value::Null } else { json!(warnings) }}),
    ))
}

/// Paths the engine itself creates in a container's layer (mount points of its own mounts).
/// dockerd keeps them in a separate "-init" layer, so they never show in `docker diff`.
const INIT_PATHS: &[&str] = &[
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/etc/mtab",
    "/.dockerenv",
];
/// Subtrees that are mounted over at run time; changes under them are not the container's.
const INIT_TREES: &[&str] = &["/dev", "/proc", "/sys"];

/// Drops the engine's own mount points from a change list, and the directories that only show
/// up as changed because of them.
fn without_init_paths(list: Vec<berth_snapshot::Change>) -> Vec<berth_snapshot::Change> {
    let under = |p: &str, root: &str| p == root || p.starts_with(&format!("{root}/"));
    let kept: Vec<berth_snapshot::Change> = list
        .into_iter()
        .filter(|c| {
            !INIT_PATHS.contains(&c.path.as_str()) && !INIT_TREES.iter().any(|t| under(&c.path, t))
        })
        .collect();
    let parents_of_init: Vec<&str> = INIT_PATHS
        .iter()
        .filter_map(|p| p.rsplit_once('/').map(|(d, _)| d))
        .filter(|d| !d.is_empty())
        .collect();
    kept.iter()
        .filter(|c| {
            !parents_of_init.contains(&c.path.as_str())
                || kept
                    .iter()
                    .any(|o| o.path.len() > c.path.len() && under(&o.path, &c.path))
        })
        .cloned()
        .collect()
}

/// GET `/containers/{id}/changes`.
pub async fn changes(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json> {
    let c = st.containers.get(&id)?;
    let snap = st.snap.clone();
    let id = c.id.clone();
    let list = tokio::task::spawn_blocking(move || snap.changes(&id)).await??;
    let v: Vec<Value> = without_init_paths(list)
        .into_iter()
        .map(|ch| json!({"Path": ch.path, "Kind": ch.kind as u8}))
        .collect();
    Ok(Json(if v.is_empty() {
        Value::Null
    } else {
        Value::Array(v)
    }))
}

/// GET `/containers/{id}/export`: the container's filesystem as a tar stream.
pub async fn export(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let c = st.containers.get(&id)?;
    let root = st.containers.container_dir(&c.id).join("rootfs");
    let body = crate::archive::tar_stream(root, std::path::PathBuf::from("."), None);
    st.events.publish(
        "container",
        "export",
        &c.id,
        crate::containers::lifecycle::attrs(&c.snapshot()),
    );
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// Query of the archive endpoints.
#[derive(Debug, Deserialize, Default)]
pub struct ArchiveQuery {
    path: Option<String>,
    #[serde(rename = "noOverwriteDirNonDir")]
    no_overwrite_dir_non_dir: Option<String>,
    #[serde(rename = "copyUIDGID")]
    copy_uid_gid: Option<String>,
}

fn stat_header(st: &crate::archive::PathStat) -> ApiResult<HeaderValue> {
    use base64::Engine as _;
    let json = serde_json::to_vec(st).map_err(|e| ApiError::internal(e.to_string()))?;
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json))
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// Where an archive path lives on the host: the container's rootfs, or, for a path inside a bind
/// or volume mount (longest destination wins), the mount's source; with the path relative to it
/// and whether the mount is writable. As in dockerd, `docker cp` reaches into mounted volumes
/// even while the container is stopped.
fn archive_target(
    rootfs: &std::path::Path,
    mounts: &[berth_volumes::MountRecord],
    path: &str,
) -> (std::path::PathBuf, String, bool) {
    let best = mounts
        .iter()
        .filter(|m| (m.kind == "bind" || m.kind == "volume") && !m.source.is_empty())
        .filter(|m| {
            let dest = m.destination.trim_end_matches('/');
            !dest.is_empty()
                && (path == dest
                    || path
                        .strip_prefix(dest)
                        .is_some_and(|rest| rest.starts_with('/')))
        })
        .max_by_key(|m| m.destination.trim_end_matches('/').len());
    match best {
        Some(m) => {
            let rest = &path[m.destination.trim_end_matches('/').len()..];
            let rest = if rest.is_empty() { "/" } else { rest };
            (std::path::PathBuf::from(&m.source), rest.to_string(), m.rw)
        }
        None => (rootfs.to_path_buf(), path.to_string(), true),
    }
}

/// HEAD `/containers/{id}/archive`.
pub async fn archive_head(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ArchiveQuery>,
) -> ApiResult<Response> {
    let c = st.containers.get(&id)?;
    let rootfs = st.containers.container_dir(&c.id).join("rootfs");
    let (root, path, _) =
        archive_target(&rootfs, &c.snapshot().mounts, &q.path.unwrap_or_default());
    let stat =
        tokio::task::spawn_blocking(move || crate::archive::stat_path(&root, &path)).await??;
    let mut h = HeaderMap::new();
    h.insert("X-Docker-Container-Path-Stat", stat_header(&stat)?);
    Ok((StatusCode::OK, h).into_response())
}

/// GET `/containers/{id}/archive`.
pub async fn archive_get(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ArchiveQuery>,
) -> ApiResult<Response> {
    let c = st.containers.get(&id)?;
    let rootfs = st.containers.container_dir(&c.id).join("rootfs");
    let (root, path, _) =
        archive_target(&rootfs, &c.snapshot().mounts, &q.path.unwrap_or_default());
    let (root2, path2) = (root.clone(), path.clone());
    let stat =
        tokio::task::spawn_blocking(move || crate::archive::stat_path(&root2, &path2)).await??;
    let resolved = crate::archive::resolve_in_root(&root, &path, false)?;
    let rel = resolved
        .strip_prefix(&root)
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let name = stat.name.clone();
    let body = crate::archive::tar_stream(root, rel, Some(name));
    let mut h = HeaderMap::new();
    h.insert("X-Docker-Container-Path-Stat", stat_header(&stat)?);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-tar"),
    );
    Ok((StatusCode::OK, h, body).into_response())
}

/// PUT `/containers/{id}/archive`: extracts a tar into a directory of the container.
pub async fn archive_put(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ArchiveQuery>,
    body: Body,
) -> ApiResult<StatusCode> {
    let c = st.containers.get(&id)?;
    if c.snapshot().host_config.readonly_rootfs.unwrap_or(false) {
        return Err(ApiError::new(
            berth_core::ErrorKind::Forbidden,
            "container rootfs is marked read-only",
        ));
    }
    let rootfs = st.containers.container_dir(&c.id).join("rootfs");
    let (root, path, writable) =
        archive_target(&rootfs, &c.snapshot().mounts, &q.path.unwrap_or_default());
    if !writable {
        return Err(ApiError::new(
            berth_core::ErrorKind::Forbidden,
            "mounted volume is marked read-only",
        ));
    }
    let _ = (qbool(&q.no_overwrite_dir_non_dir), qbool(&q.copy_uid_gid));
    crate::archive::extract_body(root, path, body).await?;
    Ok(StatusCode::OK)
}

/// Query of prune.
#[derive(Debug, Deserialize, Default)]
pub struct PruneQuery {
    filters: Option<String>,
}

/// POST `/containers/prune`.
pub async fn prune(State(st): State<AppState>, Query(q): Query<PruneQuery>) -> ApiResult<Json> {
    let filters = parse_filters(q.filters.as_deref())?;
    let until = filters
        .get("until")
        .and_then(|v| v.first())
        .and_then(|s| super::system::parse_time_nanos(s).or_else(|| parse_go_duration(s)));
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in st.containers.all() {
        let r = c.snapshot();
        if r.state.running || r.state.restarting {
            continue;
        }
        if let Some(u) = until {
            let created = chrono::DateTime::parse_from_rfc3339(&r.created)
                .ok()
                .and_then(|t| t.timestamp_nanos_opt())
                .unwrap_or(0);
            if created >= u {
                continue;
            }
        }
        let mut f = filters.clone();
        f.remove("until");
        if !matches_filters(&st, &r, &f)? {
            continue;
        }
        let (rw, _) = st.containers.sizes(&r).await;
        if st.containers.remove(&r.id, false).await.is_ok() {
            reclaimed += rw;
            deleted.push(r.id);
        }
    }
    st.events.publish(
        "container",
        "prune",
        "",
        BTreeMap::from([("reclaimed".to_string(), reclaimed.to_string())]),
    );
    Ok(Json(
        json!({"ContainersDeleted": if deleted.is_empty() { Value::Null } else { json!(deleted) }, "SpaceReclaimed": reclaimed}),
    ))
}

/// `10m`, `1h30m`, `24h` → now minus that, in unix nanos.
fn parse_go_duration(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match ch {
            'h' => 3600.0,
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
    }
    if !num.is_empty() {
        return None;
    }
    Some(chrono::Utc::now().timestamp_nanos_opt()? - (total * 1e9) as i64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    fn mount(kind: &str, source: &str, dest: &str, rw: bool) -> berth_volumes::MountRecord {
        berth_volumes::MountRecord {
            kind: kind.into(),
            source: source.into(),
            destination: dest.into(),
            rw,
            ..Default::default()
        }
    }

    #[test]
    fn archive_paths_inside_mounts_resolve_to_the_mount_source() {
        let root = std::path::Path::new("/c/rootfs");
        let mounts = vec![
            mount("volume", "/v/a/_data", "/vol1", true),
            mount("bind", "/host/deep", "/vol1/deep/", false),
            mount("tmpfs", "", "/tmp", true),
        ];
        let t = |p: &str| archive_target(root, &mounts, p);
        assert_eq!(
            t("/vol1/data.txt"),
            ("/v/a/_data".into(), "/data.txt".into(), true)
        );
        assert_eq!(t("/vol1"), ("/v/a/_data".into(), "/".into(), true));
        assert_eq!(t("/vol1/."), ("/v/a/_data".into(), "/.".into(), true));
        assert_eq!(t("/vol1/deep/x"), ("/host/deep".into(), "/x".into(), false));
        assert_eq!(t("/vol10/x"), (root.to_path_buf(), "/vol10/x".into(), true));
        assert_eq!(t("/tmp/x"), (root.to_path_buf(), "/tmp/x".into(), true));
    }
}
