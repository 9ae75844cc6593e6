//! Drives the real `berth` binary against a tiny in-process fake Engine API on a unix socket.

use std::path::{Path, PathBuf};
use std::process::Output;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![stream, 0, 0, 0];
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn err(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({"message": msg}))).into_response()
}

async fn ping() -> Response {
    (
        [("API-Version", "1.41"), ("Content-Type", "text/plain")],
        "OK",
    )
        .into_response()
}

async fn create(axum::Json(body): axum::Json<Value>) -> Response {
    match body["Image"].as_str() {
        Some("missing") => err(StatusCode::NOT_FOUND, "No such image: missing:latest"),
        Some("nocmd") => axum::Json(json!({"Id": "bad", "Warnings": []})).into_response(),
        _ => {
            assert_eq!(body["AttachStdout"], true);
            assert_eq!(body["HostConfig"]["Memory"], 64 * 1024 * 1024);
            axum::Json(json!({"Id": "good", "Warnings": []})).into_response()
        }
    }
}

async fn pull() -> Response {
    (
        StatusCode::OK,
        "{\"errorDetail\":{\"message\":\"pull access denied for missing\"},\"error\":\"pull access denied for missing\"}\n",
    )
        .into_response()
}

async fn attach(mut req: Request) -> Response {
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        if let Ok(up) = upgrade.await {
            let mut io = hyper_util::rt::TokioIo::new(up);
            let _ = io.write_all(&frame(1, b"hello\n")).await;
            let _ = io.write_all(&frame(2, b"oops\n")).await;
            let _ = io.shutdown().await;
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .body(Body::empty())
        .unwrap_or_default()
}

async fn start(UrlPath(id): UrlPath<String>) -> Response {
    if id == "bad" {
        return err(
            StatusCode::BAD_REQUEST,
            "failed to create task: exec: \"nosuchcmd\": executable file not found in $PATH",
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn wait() -> Response {
    axum::Json(json!({"StatusCode": 3, "Error": null})).into_response()
}

async fn list() -> Response {
    let now = chrono::Utc::now().timestamp();
    axum::Json(json!([
        {"Id": "de2d05bb0219709863ac542495b4e59911e17983d4d0677338fd835798715029", "Names": ["/anchor-web"],
         "Image": "bb", "ImageID": "sha256:1886", "Command": "httpd -f -p 80", "Created": now,
         "Ports": [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"}],
         "Labels": {}, "State": "running", "Status": "Up Less than a second"},
        {"Id": "2abe17461bd5d17bf6765b3541b2285b5ac17caaedda810eca5840d94380881f", "Names": ["/anchor-exited"],
         "Image": "bb", "ImageID": "sha256:1886", "Command": "sh -c 'exit 3'", "Created": now,
         "Ports": [], "Labels": {}, "State": "exited", "Status": "Exited (3) Less than a second ago"}
    ]))
    .into_response()
}

async fn inspect(UrlPath(id): UrlPath<String>) -> Response {
    if id == "nosuch" {
        return err(StatusCode::NOT_FOUND, "No such container: nosuch");
    }
    axum::Json(json!({"Id": "good", "State": {"Status": "exited", "ExitCode": 3}, "Config": {"Tty": false}}))
        .into_response()
}

async fn remove(UrlPath(id): UrlPath<String>) -> Response {
    if id == "nosuch" {
        return err(StatusCode::NOT_FOUND, "No such container: nosuch");
    }
    StatusCode::NO_CONTENT.into_response()
}

struct Fake {
    _dir: tempfile::TempDir,
    sock: PathBuf,
    rt: tokio::runtime::Runtime,
}

fn fake() -> Fake {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let sock = dir.path().join("d.sock");
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let app = Router::new()
        .route("/_ping", get(ping))
        .route("/v1.41/containers/create", post(create))
        .route("/v1.41/images/create", post(pull))
        .route("/v1.41/containers/json", get(list))
        .route("/v1.41/containers/{id}/attach", post(attach))
        .route("/v1.41/containers/{id}/start", post(start))
        .route("/v1.41/containers/{id}/wait", post(wait))
        .route("/v1.41/containers/{id}/json", get(inspect))
        .route("/v1.41/containers/{id}", axum::routing::delete(remove));
    let listener = rt
        .block_on(async { tokio::net::UnixListener::bind(&sock) })
        .unwrap_or_else(|e| panic!("bind: {e}"));
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Fake {
        _dir: dir,
        sock,
        rt,
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
fn run_attaches_demuxes_and_exits_with_container_code() {
    let f = fake();
    let out = berth(
        &f.sock,
        &["run", "-m", "64m", "busybox", "sh", "-c", "exit 3"],
    );
    assert_eq!(text(&out.stdout), "hello\n");
    assert_eq!(text(&out.stderr), "oops\n");
    assert_eq!(out.status.code(), Some(3));
    drop(f.rt);
}

#[test]
fn run_missing_image_reports_and_exits_125() {
    let f = fake();
    let out = berth(&f.sock, &["run", "missing"]);
    assert_eq!(
        text(&out.stderr),
        "Unable to find image 'missing:latest' locally\ndocker: Error response from daemon: pull access denied for missing\n\nRun 'docker run --help' for more information\n"
    );
    assert_eq!(out.status.code(), Some(125));
    let out = berth(&f.sock, &["run", "--pull", "never", "missing"]);
    assert_eq!(
        text(&out.stderr),
        "docker: Error response from daemon: No such image: missing:latest\n\nRun 'docker run --help' for more information\n"
    );
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn run_command_not_found_exits_127() {
    let f = fake();
    let out = berth(&f.sock, &["run", "-d", "nocmd"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(text(&out.stderr).contains("executable file not found in $PATH"));
}

#[test]
fn ps_table_matches_docker_layout() {
    let f = fake();
    let out = berth(&f.sock, &["ps", "-a"]);
    let expected = "CONTAINER ID   IMAGE     COMMAND            CREATED                  STATUS                              PORTS                     NAMES
de2d05bb0219   bb        \"httpd -f -p 80\"   Less than a second ago   Up Less than a second               127.0.0.1:18080->80/tcp   anchor-web
2abe17461bd5   bb        \"sh -c 'exit 3'\"   Less than a second ago   Exited (3) Less than a second ago                             anchor-exited
";
    assert_eq!(text(&out.stdout), expected);
    let out = berth(&f.sock, &["ps", "-q"]);
    assert_eq!(text(&out.stdout), "de2d05bb0219\n2abe17461bd5\n");
    let out = berth(&f.sock, &["ps", "--format", "{{.Names}}\\t{{.State}}"]);
    assert_eq!(
        text(&out.stdout),
        "anchor-web\trunning\nanchor-exited\texited\n"
    );
}

#[test]
fn rm_and_inspect_errors() {
    let f = fake();
    let out = berth(&f.sock, &["rm", "good", "nosuch"]);
    assert_eq!(text(&out.stdout), "good\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such container: nosuch\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = berth(
        &f.sock,
        &[
            "inspect",
            "-f",
            "{{.State.ExitCode}} {{json .Config}}",
            "good",
        ],
    );
    assert_eq!(text(&out.stdout), "3 {\"Tty\":false}\n");
}

#[test]
fn no_daemon_message() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let sock = dir.path().join("none.sock");
    let out = berth(&sock, &["ps"]);
    assert_eq!(
        text(&out.stderr),
        format!(
            "Cannot connect to the Docker daemon at unix://{}. Is the docker daemon running?\n",
            sock.display()
        )
    );
    assert_eq!(out.status.code(), Some(1));
}
