//! Drives `berth push/pull/login/logout/search/build/builder prune` against a fake Engine API
//! that records request lines, the `X-Registry-Auth` header and bodies.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

/// One recorded request.
#[derive(Debug, Clone)]
struct Seen {
    what: String,
    auth: Option<Value>,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn record(log: &Log, what: String, h: &HeaderMap, body: &[u8]) {
    let auth = h
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| base64::engine::general_purpose::URL_SAFE.decode(s).ok())
        .and_then(|b| serde_json::from_slice(&b).ok());
    if let Ok(mut l) = log.lock() {
        l.push(Seen {
            what,
            auth,
            body: body.to_vec(),
        });
    }
}

fn lines(v: &[Value]) -> Response {
    let mut s = String::new();
    for l in v {
        s.push_str(&l.to_string());
        s.push('\n');
    }
    (StatusCode::OK, s).into_response()
}

async fn ping() -> Response {
    ([("API-Version", "1.41")], "OK").into_response()
}

async fn images_post(
    State(log): State<Log>,
    UrlPath(rest): UrlPath<String>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
) -> Response {
    let q = q.unwrap_or_default();
    record(&log, format!("POST /images/{rest}?{q}"), &h, b"");
    let Some(name) = rest.strip_suffix("/push") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if name == "bad" {
        return lines(&[
            json!({"status": "The push refers to repository [docker.io/library/bad]"}),
            json!({"errorDetail": {"message": "denied: requested access to the resource is denied"}, "error": "denied: requested access to the resource is denied"}),
        ]);
    }
    let tag = q.strip_prefix("tag=").unwrap_or("latest");
    lines(&[
        json!({"status": format!("The push refers to repository [{name}]")}),
        json!({"status": "Preparing", "progressDetail": {}, "id": "65014c70e84b"}),
        json!({"status": "Pushing", "progressDetail": {"current": 512, "total": 1024}, "id": "65014c70e84b"}),
        json!({"status": "Pushed", "progressDetail": {}, "id": "65014c70e84b"}),
        json!({"status": format!("{tag}: digest: sha256:aaaa size: 527")}),
        json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": "sha256:aaaa", "Size": 527}}),
    ])
}

async fn pull(State(log): State<Log>, RawQuery(q): RawQuery, h: HeaderMap) -> Response {
    record(
        &log,
        format!("POST /images/create?{}", q.unwrap_or_default()),
        &h,
        b"",
    );
    lines(&[
        json!({"status": "Pulling from app", "id": "v1"}),
        json!({"status": "Digest: sha256:aaaa"}),
        json!({"status": "Status: Image is up to date for localhost:5000/app:v1"}),
    ])
}

async fn auth(State(log): State<Log>, h: HeaderMap, body: Bytes) -> Response {
    record(&log, "POST /auth".into(), &h, &body);
    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
    if v["password"] == "wrong" {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "login attempt to http://localhost:5000/v2/ failed with status: 401 Unauthorized"})),
        )
            .into_response();
    }
    axum::Json(json!({"Status": "Login Succeeded", "IdentityToken": ""})).into_response()
}

async fn search(State(log): State<Log>, RawQuery(q): RawQuery, h: HeaderMap) -> Response {
    record(
        &log,
        format!("GET /images/search?{}", q.unwrap_or_default()),
        &h,
        b"",
    );
    axum::Json(json!([
        {"name": "busybox", "description": "Busybox base image.", "star_count": 3300, "is_official": true, "is_automated": false},
        {"name": "someone/busybox-extra", "description": "An unofficial busybox image with a rather long description text", "star_count": 2, "is_official": false, "is_automated": false}
    ]))
    .into_response()
}

async fn build(
    State(log): State<Log>,
    RawQuery(q): RawQuery,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let q = q.unwrap_or_default();
    record(&log, format!("POST /build?{q}"), &h, &body);
    if q.contains("target=fail") {
        return lines(&[
            json!({"stream": "Step 1/2 : FROM bb\n"}),
            json!({"errorDetail": {"code": 2, "message": "The command '/bin/sh -c false' returned a non-zero code: 1"}, "error": "The command '/bin/sh -c false' returned a non-zero code: 1"}),
        ]);
    }
    lines(&[
        json!({"stream": "Step 1/1 : FROM bb\n"}),
        json!({"stream": " ---> 2406ad29c3c4\n"}),
        json!({"aux": {"ID": "sha256:2406ad29c3c4aaaa"}}),
        json!({"stream": "Successfully built 2406ad29c3c4\n"}),
        json!({"stream": "Successfully tagged x:1\n"}),
    ])
}

async fn build_prune(State(log): State<Log>, RawQuery(q): RawQuery, h: HeaderMap) -> Response {
    record(
        &log,
        format!("POST /build/prune?{}", q.unwrap_or_default()),
        &h,
        b"",
    );
    axum::Json(json!({"CachesDeleted": ["c1", "c2"], "SpaceReclaimed": 2048})).into_response()
}

struct Fake {
    dir: tempfile::TempDir,
    sock: PathBuf,
    log: Log,
    _rt: tokio::runtime::Runtime,
}

fn fake() -> Fake {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let sock = dir.path().join("d.sock");
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let log: Log = Arc::default();
    let app = Router::new()
        .route("/_ping", get(ping))
        .route("/v1.41/auth", post(auth))
        .route("/v1.41/images/search", get(search))
        .route("/v1.41/images/create", post(pull))
        .route("/v1.41/images/{*rest}", post(images_post))
        .route("/v1.41/build", post(build))
        .route("/v1.41/build/prune", post(build_prune))
        .with_state(log.clone());
    let listener = rt
        .block_on(async { tokio::net::UnixListener::bind(&sock) })
        .unwrap_or_else(|e| panic!("bind: {e}"));
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Fake {
        dir,
        sock,
        log,
        _rt: rt,
    }
}

impl Fake {
    fn berth(&self, args: &[&str], stdin: &[u8]) -> Output {
        let home = self.dir.path().join("home");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .env("HOME", &home)
            .env("BERTH_CONFIG", self.dir.path().join("berthcfg"))
            .env("DOCKER_CONFIG", self.dir.path().join("dockercfg"))
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn berth: {e}"));
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin);
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("wait berth: {e}"))
    }

    fn take(&self) -> Vec<Seen> {
        self.log
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tar_names(body: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(body);
    let mut v: Vec<String> = ar
        .entries()
        .unwrap_or_else(|e| panic!("tar: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| {
            e.path()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    v.sort();
    v
}

#[test]
fn login_push_pull_logout() {
    let f = fake();
    let out = f.berth(
        &["login", "-u", "alice", "--password-stdin", "localhost:5000"],
        b"pw\n",
    );
    assert_eq!(
        text(&out.stdout),
        "Login Succeeded\n",
        "{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
    let seen = f.take();
    let auth = seen.iter().find(|s| s.what == "POST /auth");
    let body: Value = auth
        .and_then(|s| serde_json::from_slice(&s.body).ok())
        .unwrap_or_default();
    assert_eq!(
        body,
        json!({"username": "alice", "password": "pw", "serveraddress": "localhost:5000"})
    );
    let cfg: Value = std::fs::read(f.dir.path().join("berthcfg/config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    assert_eq!(cfg["auths"]["localhost:5000"]["auth"], "YWxpY2U6cHc=");

    let out = f.berth(
        &["login", "-u", "alice", "-p", "wrong", "localhost:5000"],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).ends_with(
            "Error response from daemon: login attempt to http://localhost:5000/v2/ failed with status: 401 Unauthorized\n"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = f.berth(&["login", "--password-stdin", "localhost:5000"], b"x");
    assert_eq!(
        text(&out.stderr),
        "the --password-stdin option requires --username to be set\n"
    );
    assert_eq!(out.status.code(), Some(1));
    f.take();

    let out = f.berth(&["push", "localhost:5000/app:v1"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "The push refers to repository [localhost:5000/app]\n65014c70e84b: Preparing\n65014c70e84b: Pushed\nv1: digest: sha256:aaaa size: 527\n"
    );
    let seen = f.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].what, "POST /images/localhost:5000/app/push?tag=v1");
    assert_eq!(
        seen[0].auth,
        Some(json!({"username": "alice", "password": "pw", "serveraddress": "localhost:5000"}))
    );

    let out = f.berth(&["image", "push", "-q", "localhost:5000/app"], b"");
    assert_eq!(text(&out.stdout), "localhost:5000/app:latest\n");
    assert_eq!(
        f.take()[0].what,
        "POST /images/localhost:5000/app/push?tag=latest"
    );
    let out = f.berth(&["push", "localhost:5000/app"], b"");
    assert!(text(&out.stdout).starts_with("Using default tag: latest\nThe push refers"));
    let out = f.berth(&["push", "--all-tags", "localhost:5000/app"], b"");
    assert_eq!(out.status.code(), Some(0));
    let seen = f.take();
    assert_eq!(
        seen.last().map(|s| s.what.as_str()),
        Some("POST /images/localhost:5000/app/push?")
    );
    let out = f.berth(&["push", "-a", "localhost:5000/app:v1"], b"");
    assert_eq!(text(&out.stderr), "tag can't be used with --all-tags/-a\n");
    assert_eq!(out.status.code(), Some(1));

    let out = f.berth(&["push", "bad"], b"");
    assert_eq!(
        text(&out.stderr),
        "denied: requested access to the resource is denied\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let seen = f.take();
    // No stored Hub credentials: the header is the anonymous `{}`.
    assert_eq!(seen.last().and_then(|s| s.auth.clone()), Some(json!({})));

    let out = f.berth(&["pull", "localhost:5000/app:v1"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let seen = f.take();
    assert_eq!(
        seen[0].auth,
        Some(json!({"username": "alice", "password": "pw", "serveraddress": "localhost:5000"}))
    );

    let out = f.berth(&["logout", "localhost:5000"], b"");
    assert_eq!(
        text(&out.stdout),
        "Removing login credentials for localhost:5000\n"
    );
    let out = f.berth(&["logout", "localhost:5000"], b"");
    assert_eq!(
        text(&out.stdout),
        "Removing login credentials for localhost:5000\n"
    );
    let out = f.berth(&["logout"], b"");
    assert_eq!(
        text(&out.stdout),
        "Removing login credentials for https://index.docker.io/v1/\n"
    );
    let cfg: Value = std::fs::read(f.dir.path().join("berthcfg/config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    assert_eq!(cfg["auths"], json!({}));
}

#[test]
fn docker_config_is_read_for_pull() {
    let f = fake();
    let d = f.dir.path().join("dockercfg");
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        d.join("config.json"),
        r#"{"auths":{"https://index.docker.io/v1/":{"auth":"Ym9iOnNlY3JldA=="}}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = f.berth(&["pull", "busybox"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let seen = f.take();
    assert_eq!(
        seen[0].auth,
        Some(
            json!({"username": "bob", "password": "secret", "serveraddress": "https://index.docker.io/v1/"})
        )
    );
}

#[test]
fn search_table_and_query() {
    let f = fake();
    let out = f.berth(
        &[
            "search",
            "--limit",
            "5",
            "-f",
            "is-official=true",
            "busybox",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "NAME                    DESCRIPTION                                     STARS     OFFICIAL
busybox                 Busybox base image.                             3300      [OK]
someone/busybox-extra   An unofficial busybox image with a rather lo…   2         \n"
    );
    let seen = f.take();
    assert_eq!(
        seen[0].what,
        "GET /images/search?term=busybox&limit=5&filters=%7B%22is-official%22%3A%7B%22true%22%3Atrue%7D%7D"
    );
    let out = f.berth(
        &["search", "--format", "{{.Name}}: {{.StarCount}}", "busybox"],
        b"",
    );
    assert_eq!(
        text(&out.stdout),
        "busybox: 3300\nsomeone/busybox-extra: 2\n"
    );
    let out = f.berth(
        &[
            "search",
            "--no-trunc",
            "--format",
            "{{.Description}}",
            "busybox",
        ],
        b"",
    );
    assert!(text(&out.stdout).contains("rather long description text\n"));
}

#[test]
fn build_sends_context_and_renders() {
    let f = fake();
    let ctx = f.dir.path().join("ctx");
    for (p, c) in [
        ("Dockerfile", "FROM bb\n"),
        (".dockerignore", "*.log\n!keep.log\n"),
        ("a.txt", "a"),
        ("x.log", "x"),
        ("keep.log", "k"),
    ] {
        std::fs::create_dir_all(&ctx).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(ctx.join(p), c).unwrap_or_else(|e| panic!("{e}"));
    }
    let iid = f.dir.path().join("iid");
    let out = f.berth(
        &[
            "build",
            "-t",
            "x:1",
            "-t",
            "y",
            "--build-arg",
            "A=1",
            "--label",
            "l=v",
            "--target",
            "t",
            "--no-cache",
            "--pull",
            "--network",
            "host",
            "--iidfile",
            &iid.to_string_lossy(),
            "ctx",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("Sending build context to Docker daemon  "),
        "{stdout}"
    );
    assert!(stdout.ends_with(
        "Step 1/1 : FROM bb\n ---> 2406ad29c3c4\nSuccessfully built 2406ad29c3c4\nSuccessfully tagged x:1\n"
    ));
    let mut id = String::new();
    let _ = std::fs::File::open(&iid).and_then(|mut f| f.read_to_string(&mut id));
    assert_eq!(id, "sha256:2406ad29c3c4aaaa");
    let seen = f.take();
    assert_eq!(seen.len(), 1);
    let q = seen[0].what.trim_start_matches("POST /build?");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .collect()
    };
    assert_eq!(get("t"), vec!["x:1", "y"]);
    assert_eq!(get("dockerfile"), vec!["Dockerfile"]);
    assert_eq!(get("buildargs"), vec![r#"{"A":"1"}"#]);
    assert_eq!(get("labels"), vec![r#"{"l":"v"}"#]);
    assert_eq!(get("target"), vec!["t"]);
    assert_eq!(get("nocache"), vec!["1"]);
    assert_eq!(get("pull"), vec!["1"]);
    assert_eq!(get("networkmode"), vec!["host"]);
    assert_eq!(get("rm"), vec!["1"]);
    assert_eq!(
        tar_names(&seen[0].body),
        vec![".dockerignore", "Dockerfile", "a.txt", "keep.log"]
    );

    // A bare Dockerfile on stdin becomes a one-file context.
    let out = f.berth(&["image", "build", "-q", "-"], b"FROM bb\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let seen = f.take();
    assert!(seen[0].what.contains("q=1"));
    assert_eq!(tar_names(&seen[0].body), vec!["Dockerfile"]);
    assert_eq!(text(&out.stdout), "sha256:2406ad29c3c4aaaa\n");

    let out = f.berth(&["build", "--target", "fail", "ctx"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "The command '/bin/sh -c false' returned a non-zero code: 1\n"
    );
    assert!(text(&out.stdout).ends_with("Step 1/2 : FROM bb\n"));

    let out = f.berth(&["build", "nosuchdir"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "unable to prepare context: path \"nosuchdir\" not found\n"
    );

    f.take();
    let out = f.berth(&["builder", "prune", "-af"], b"");
    assert_eq!(
        text(&out.stdout),
        "Deleted build cache objects:\nc1\nc2\n\nTotal reclaimed space: 2.048kB\n"
    );
    assert_eq!(f.take()[0].what, "POST /build/prune?all=1");
}

#[test]
fn argument_errors_need_no_daemon() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("-H")
            .arg(format!("unix://{}", dir.path().join("none.sock").display()))
            .args(args)
            .env("BERTH_CONFIG", dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let out = run(&["push"]);
    assert_eq!(
        text(&out.stderr),
        "docker: 'docker push' requires 1 argument\n\nUsage:  docker push [OPTIONS] NAME[:TAG]\n\nRun 'docker push --help' for more information\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["build", "-t", "BAD:x", "."]);
    assert_eq!(
        text(&out.stderr),
        "invalid argument \"BAD:x\" for \"-t, --tag\" flag: invalid reference format: repository name (library/BAD) must be lowercase\n\nUsage:  docker build [OPTIONS] PATH | URL | -\n\nRun 'docker build --help' for more information\n"
    );
    assert_eq!(out.status.code(), Some(125));
    let out = run(&["search", "--filter", "bad", "x"]);
    assert_eq!(out.status.code(), Some(125));
    let out = run(&["login", "-u", "a", "-p", "x", "--password-stdin"]);
    assert_eq!(
        text(&out.stderr),
        "conflicting options: cannot specify both --password and --password-stdin\n"
    );
    let out = run(&["login", "localhost:5000"]);
    assert_eq!(
        text(&out.stderr),
        "Error: Cannot perform an interactive login from a non TTY device\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["logout", "localhost:5000"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn flags_parse_like_docker() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sock: &Path = &dir.path().join("none.sock");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args(["push", "--bogus", "x"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(125));
}
