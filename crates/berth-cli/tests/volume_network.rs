//! Drives `berth volume ...` / `berth network ...` against a small fake Engine API that records
//! request bodies and query strings.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// What the fake saw: (method + path + query, body).
type Log = Arc<Mutex<Vec<(String, Value)>>>;

fn err(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({"message": msg}))).into_response()
}

fn record(log: &Log, what: String, body: Value) {
    if let Ok(mut l) = log.lock() {
        l.push((what, body));
    }
}

async fn ping() -> Response {
    ([("API-Version", "1.41")], "OK").into_response()
}

fn vol(name: &str) -> Value {
    json!({"CreatedAt": "2026-11-25T07:59:39Z", "Driver": "local", "Labels": null,
        "Mountpoint": format!("/d/volumes/{name}/_data"), "Name": name, "Options": null, "Scope": "local"})
}

async fn vol_list(State(log): State<Log>, RawQuery(q): RawQuery) -> Response {
    record(
        &log,
        format!("GET /volumes?{}", q.unwrap_or_default()),
        Value::Null,
    );
    axum::Json(json!({"Volumes": [vol("v10"), vol("v9"), vol("alpha")], "Warnings": null}))
        .into_response()
}

async fn vol_create(State(log): State<Log>, axum::Json(body): axum::Json<Value>) -> Response {
    record(&log, "POST /volumes/create".into(), body.clone());
    let name = body["Name"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("anon");
    axum::Json(vol(name)).into_response()
}

async fn vol_get(UrlPath(name): UrlPath<String>) -> Response {
    if name == "nope" {
        return err(StatusCode::NOT_FOUND, "get nope: no such volume");
    }
    axum::Json(vol(&name)).into_response()
}

async fn vol_rm(
    State(log): State<Log>,
    UrlPath(name): UrlPath<String>,
    RawQuery(q): RawQuery,
) -> Response {
    record(
        &log,
        format!("DELETE /volumes/{name}?{}", q.unwrap_or_default()),
        Value::Null,
    );
    match name.as_str() {
        "nope" => err(StatusCode::NOT_FOUND, "get nope: no such volume"),
        "busy" => err(
            StatusCode::CONFLICT,
            "remove busy: volume is in use - [abc]",
        ),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn vol_prune(State(log): State<Log>, RawQuery(q): RawQuery) -> Response {
    record(
        &log,
        format!("POST /volumes/prune?{}", q.unwrap_or_default()),
        Value::Null,
    );
    axum::Json(json!({"VolumesDeleted": ["a", "b"], "SpaceReclaimed": 1_200_000})).into_response()
}

fn net(name: &str, id: &str) -> Value {
    json!({"Name": name, "Id": id, "Created": "2026-11-25T07:59:19.342561577Z", "Scope": "local",
        "Driver": "bridge", "EnableIPv6": false, "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false, "Attachable": false, "Ingress": false, "ConfigFrom": {"Network": ""},
        "ConfigOnly": false, "Containers": {}, "Options": {}, "Labels": {}})
}

async fn net_list() -> Response {
    axum::Json(json!([
        net(
            "mynet",
            "5fb0f9d3e0ff5cb51dd671fa7955206d02db8a83631a85de69d8f2d78385fc02"
        ),
        net(
            "bridge",
            "a60cbc6260a5e658b0fd5e817d8d117717dd23c12206cb50e7314f0a7162781d"
        ),
    ]))
    .into_response()
}

async fn net_create(State(log): State<Log>, axum::Json(body): axum::Json<Value>) -> Response {
    record(&log, "POST /networks/create".into(), body);
    axum::Json(json!({"Id": "5fb0f9d3e0ff", "Warning": ""})).into_response()
}

async fn net_get(UrlPath(name): UrlPath<String>) -> Response {
    if name == "nope" {
        return err(StatusCode::NOT_FOUND, "network nope not found");
    }
    axum::Json(net(&name, "5fb0f9d3e0ff")).into_response()
}

async fn net_rm(UrlPath(name): UrlPath<String>) -> Response {
    match name.as_str() {
        "nope" => err(StatusCode::NOT_FOUND, "network nope not found"),
        "bridge" => err(
            StatusCode::FORBIDDEN,
            "bridge is a pre-defined network and cannot be removed",
        ),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn net_prune() -> Response {
    axum::Json(json!({"NetworksDeleted": ["n1", "n2"]})).into_response()
}

async fn net_action(
    State(log): State<Log>,
    UrlPath((id, action)): UrlPath<(String, String)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    record(&log, format!("POST /networks/{id}/{action}"), body);
    StatusCode::OK.into_response()
}

struct Fake {
    _dir: tempfile::TempDir,
    sock: PathBuf,
    log: Log,
    _rt: tokio::runtime::Runtime,
}

impl Fake {
    fn seen(&self, prefix: &str) -> Vec<(String, Value)> {
        self.log
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|(w, _)| w.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn fake() -> Fake {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let sock = dir.path().join("d.sock");
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let log: Log = Arc::default();
    let app = Router::new()
        .route("/_ping", get(ping))
        .route("/v1.41/volumes", get(vol_list))
        .route("/v1.41/volumes/create", post(vol_create))
        .route("/v1.41/volumes/prune", post(vol_prune))
        .route("/v1.41/volumes/{name}", get(vol_get).delete(vol_rm))
        .route("/v1.41/networks", get(net_list))
        .route("/v1.41/networks/create", post(net_create))
        .route("/v1.41/networks/prune", post(net_prune))
        .route("/v1.41/networks/{name}", get(net_get).delete(net_rm))
        .route("/v1.41/networks/{id}/{action}", post(net_action))
        .with_state(log.clone());
    let listener = rt
        .block_on(async { tokio::net::UnixListener::bind(&sock) })
        .unwrap_or_else(|e| panic!("bind: {e}"));
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Fake {
        _dir: dir,
        sock,
        log,
        _rt: rt,
    }
}

fn berth(sock: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn berth: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn volume_create_ls_inspect() {
    let f = fake();
    let out = berth(
        &f.sock,
        &[
            "volume",
            "create",
            "--label",
            "k=v",
            "-o",
            "type=tmpfs",
            "-o",
            "o=size=1m",
            "myvol",
        ],
    );
    assert_eq!(text(&out.stdout), "myvol\n");
    assert_eq!(out.status.code(), Some(0));
    let body = &f.seen("POST /volumes/create")[0].1;
    assert_eq!(
        body,
        &json!({"Name": "myvol", "Driver": "local", "DriverOpts": {"type": "tmpfs", "o": "size=1m"}, "Labels": {"k": "v"}})
    );
    let out = berth(&f.sock, &["volume", "ls", "-f", "dangling=true"]);
    assert_eq!(
        text(&out.stdout),
        "DRIVER    VOLUME NAME\nlocal     alpha\nlocal     v9\nlocal     v10\n"
    );
    let q = &f.seen("GET /volumes")[0].0;
    assert!(
        q.contains("filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D"),
        "{q}"
    );
    let out = berth(&f.sock, &["volume", "list", "-q"]);
    assert_eq!(text(&out.stdout), "alpha\nv9\nv10\n");
    let out = berth(&f.sock, &["volume", "inspect", "nope"]);
    assert_eq!(text(&out.stdout), "[]\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: get nope: no such volume\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = berth(
        &f.sock,
        &[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Labels}}",
            "x",
            "nope",
        ],
    );
    assert_eq!(text(&out.stdout), "x map[]\n");
    assert_eq!(out.status.code(), Some(1));
    let out = berth(&f.sock, &["volume", "create", "a", "b"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .starts_with("docker: 'docker volume create' requires at most 1 argument\n")
    );
}

#[test]
fn volume_rm_and_prune() {
    let f = fake();
    let out = berth(&f.sock, &["volume", "rm", "-f", "a", "nope", "busy", "b"]);
    assert_eq!(text(&out.stdout), "a\nb\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: get nope: no such volume\nError response from daemon: remove busy: volume is in use - [abc]\n"
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        f.seen("DELETE /volumes/a")[0].0,
        "DELETE /volumes/a?force=1"
    );
    let out = berth(&f.sock, &["volume", "prune", "-f", "--filter", "label=x"]);
    assert_eq!(
        text(&out.stdout),
        "Deleted Volumes:\na\nb\n\nTotal reclaimed space: 1.2MB\n"
    );
    // The fake speaks API 1.41, where --all does not exist yet.
    let out = berth(&f.sock, &["volume", "prune", "-a", "-f"]);
    assert_eq!(
        text(&out.stderr),
        "\"--all\" requires API version 1.42, but the Docker daemon API version is 1.41\n"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn network_commands() {
    let f = fake();
    let out = berth(&f.sock, &["network", "ls"]);
    assert_eq!(
        text(&out.stdout),
        "NETWORK ID     NAME      DRIVER    SCOPE\na60cbc6260a5   bridge    bridge    local\n5fb0f9d3e0ff   mynet     bridge    local\n"
    );
    let out = berth(&f.sock, &["network", "ls", "-q", "--no-trunc"]);
    assert_eq!(
        text(&out.stdout),
        "a60cbc6260a5e658b0fd5e817d8d117717dd23c12206cb50e7314f0a7162781d\n5fb0f9d3e0ff5cb51dd671fa7955206d02db8a83631a85de69d8f2d78385fc02\n"
    );
    let out = berth(
        &f.sock,
        &[
            "network",
            "create",
            "--subnet",
            "10.77.0.0/24",
            "--gateway",
            "10.77.0.1",
            "--label",
            "a=b",
            "mynet",
        ],
    );
    assert_eq!(text(&out.stdout), "5fb0f9d3e0ff\n");
    let body = &f.seen("POST /networks/create")[0].1;
    assert_eq!(body["Name"], "mynet");
    assert_eq!(
        body["IPAM"]["Config"],
        json!([{"Subnet": "10.77.0.0/24", "Gateway": "10.77.0.1"}])
    );
    let out = berth(&f.sock, &["network", "inspect", "nope"]);
    assert_eq!(text(&out.stdout), "[]\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: network nope not found\n"
    );
    let out = berth(&f.sock, &["network", "rm", "x", "bridge", "nope"]);
    assert_eq!(text(&out.stdout), "x\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: bridge is a pre-defined network and cannot be removed\nError response from daemon: network nope not found\nexit status 1\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = berth(&f.sock, &["network", "rm", "-f", "nope"]);
    assert_eq!(out.status.code(), Some(0));
    let out = berth(&f.sock, &["network", "prune", "-f"]);
    assert_eq!(text(&out.stdout), "Deleted Networks:\nn1\nn2\n\n");
    let out = berth(
        &f.sock,
        &[
            "network",
            "connect",
            "--alias",
            "al",
            "--ip",
            "10.77.0.5",
            "mynet",
            "c1",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let body = &f.seen("POST /networks/mynet/connect")[0].1;
    assert_eq!(body["Container"], "c1");
    assert_eq!(body["EndpointConfig"]["Aliases"], json!(["al"]));
    assert_eq!(
        body["EndpointConfig"]["IPAMConfig"],
        json!({"IPv4Address": "10.77.0.5"})
    );
    let out = berth(&f.sock, &["network", "disconnect", "-f", "mynet", "c1"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        f.seen("POST /networks/mynet/disconnect")[0].1,
        json!({"Container": "c1", "Force": true})
    );
    let out = berth(&f.sock, &["network", "connect", "mynet"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("docker: 'docker network connect' requires 2 arguments\n")
    );
}
