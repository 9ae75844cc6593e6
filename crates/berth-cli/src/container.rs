//! Container commands: run, create, start, ps, logs, rm, stop, kill, inspect, exec, wait, ...

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use clap::Args;
use http::Method;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::client::{Client, empty_body, esc, query};
use crate::error::{CliError, Result};
use crate::format::{
    ListFormat, Tmpl, go_json, go_time_string, human_duration, human_size_prec, parse_go_duration,
    parse_rfc3339, since,
};
use crate::opts::{ContainerOpts, build_create, normalize_env, parse_env_file_content};
use crate::stream::{DEFAULT_DETACH_KEYS, PumpEnd, RawTerminal, parse_detach_keys, pump};

/// `docker run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Container options.
    #[command(flatten)]
    pub opts: ContainerOpts,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// `docker create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Container options.
    #[command(flatten)]
    pub opts: ContainerOpts,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// `docker start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Containers.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `docker ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", allow_hyphen_values = true)]
    pub last: Option<i64>,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
}

/// `docker logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show logs since timestamp or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative
    #[arg(long)]
    pub until: Option<String>,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `docker rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    /// Containers.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `docker stop` / `docker restart`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        alias = "time",
        allow_hyphen_values = true
    )]
    pub timeout: Option<i64>,
    /// Containers.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `docker kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Containers.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `docker inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    pub size: bool,
    /// Return JSON for specified type
    #[arg(long = "type")]
    pub typ: Option<String>,
    /// Objects.
    #[arg(value_name = "NAME|ID", required = true)]
    pub names: Vec<String>,
}

/// `docker exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// CONTAINER COMMAND [ARG...]
    #[arg(value_name = "CONTAINER", required = true, num_args = 2.., trailing_var_arg = true)]
    pub container_and_cmd: Vec<String>,
}

/// `docker wait` and other commands taking just container names.
#[derive(Debug, Args)]
pub struct ContainersArgs {
    /// Containers.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

fn out() -> std::io::StdoutLock<'static> {
    std::io::stdout().lock()
}

/// Docker's `toStatusError` for run/create/start: 127 for missing executables, 126 for
/// permission problems, 125 otherwise, with the `docker: ...` + help hint wording.
pub fn run_status_error(err: CliError, cmd: &str) -> CliError {
    if let CliError::Status { .. } = err {
        return err;
    }
    let msg = err.to_string();
    let code = if msg.contains("executable file not found")
        || msg.contains("no such file or directory")
        || msg.contains("system cannot find the file specified")
    {
        127
    } else if msg.contains("permission denied") || msg.contains("is a directory") {
        126
    } else {
        125
    };
    CliError::Status {
        message: format!("docker: {msg}\n\nRun 'docker {cmd} --help' for more information"),
        code,
    }
}

fn familiar_with_tag(image: &str) -> (String, Option<berth_core::Reference>) {
    match berth_core::Reference::parse(image) {
        Ok(r) => {
            let r = r.with_default_tag();
            (r.familiar_string(), Some(r))
        }
        Err(_) => (image.to_string(), None),
    }
}

/// Pulls an image through `POST /images/create`, printing progress lines to `w`.
pub async fn pull_image(
    client: &Client,
    image: &str,
    w: &mut dyn Write,
    quiet: bool,
) -> Result<()> {
    let (_, r) = familiar_with_tag(image);
    let (from, tag) = match &r {
        Some(r) => (
            r.familiar_repository(),
            r.digest
                .as_ref()
                .map(|d| d.to_string())
                .or_else(|| r.tag.clone())
                .unwrap_or_else(|| "latest".into()),
        ),
        None => (image.to_string(), "latest".to_string()),
    };
    let path = format!(
        "/images/create{}",
        query(&[("fromImage", from), ("tag", tag)])
    );
    let headers = crate::registry::auth_headers_for_image(image);
    let reader = client
        .stream_with(Method::POST, &path, empty_body(), None, &headers)
        .await?;
    render_progress(reader, w, quiet).await?;
    Ok(())
}

/// Renders a Docker JSON-progress stream (pull, push, build's pulls) line by line into `w`.
/// An `{"error": ...}` line ends it with that message; `aux` objects are collected and returned.
pub async fn render_progress<R: tokio::io::AsyncRead + Unpin>(
    reader: R,
    w: &mut dyn Write,
    quiet: bool,
) -> Result<Vec<Value>> {
    render_progress_with(reader, w, quiet, |message| CliError::Daemon {
        status: 500,
        message,
    })
    .await
}

/// [`render_progress`] with the error an `{"error": ...}` line turns into chosen by `on_error`.
pub async fn render_progress_with<R: tokio::io::AsyncRead + Unpin>(
    reader: R,
    w: &mut dyn Write,
    quiet: bool,
    on_error: impl Fn(String) -> CliError,
) -> Result<Vec<Value>> {
    let mut aux = Vec::new();
    let mut lines = tokio::io::BufReader::new(reader).lines();
    while let Some(line) = lines.next_line().await? {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            return Err(on_error(e.to_string()));
        }
        if let Some(a) = v.get("aux") {
            aux.push(a.clone());
            continue;
        }
        if quiet {
            continue;
        }
        let status = v.get("status").and_then(Value::as_str).unwrap_or("");
        // Per-layer progress updates are only meaningful on a terminal; skip them here.
        if v.get("progressDetail")
            .is_some_and(|p| p.get("current").is_some())
        {
            continue;
        }
        match v.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() => writeln!(w, "{id}: {status}")?,
            _ => writeln!(w, "{status}")?,
        }
    }
    Ok(aux)
}

/// Creates a container (pulling per `--pull`), printing warnings; returns its id.
async fn create_container(
    client: &Client,
    o: &ContainerOpts,
    detach: bool,
    quiet: bool,
) -> Result<String> {
    let plan = build_create(o, detach)?;
    if !matches!(plan.pull.as_str(), "always" | "missing" | "never") {
        return Err(CliError::invalid(format!(
            "invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"",
            plan.pull
        )));
    }
    let mut q = Vec::new();
    if let Some(n) = &plan.name {
        q.push(("name", n.clone()));
    }
    if let Some(p) = &plan.platform {
        q.push(("platform", p.clone()));
    }
    let path = format!("/containers/create{}", query(&q));
    if plan.pull == "always" {
        pull_image(client, &plan.image, &mut std::io::stderr(), quiet).await?;
    }
    let resp = match client.post(&path, Some(&plan.body)).await {
        Ok(v) => v,
        Err(CliError::Daemon {
            status: 404,
            message,
        }) if plan.pull == "missing" => {
            let (fam, _) = familiar_with_tag(&plan.image);
            let _ = message;
            eprintln!("Unable to find image '{fam}' locally");
            pull_image(client, &plan.image, &mut std::io::stderr(), quiet).await?;
            client.post(&path, Some(&plan.body)).await?
        }
        Err(e) => return Err(e),
    };
    if let Some(ws) = resp.get("Warnings").and_then(Value::as_array) {
        for w in ws.iter().filter_map(Value::as_str) {
            eprintln!("WARNING: {w}");
        }
    }
    let id = resp
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::Protocol("create response without Id".into()))?
        .to_string();
    if let Some(f) = &o.cidfile {
        std::fs::write(f, &id)?;
    }
    Ok(id)
}

/// `docker create`.
pub async fn create(client: &Client, a: CreateArgs) -> Result<u8> {
    // Like docker's `create`, `-i` means "attach stdin" (StdinOnce), so a later
    // `start -a -i` ends when its input does.
    let id = create_container(client, &a.opts, false, a.quiet)
        .await
        .map_err(|e| run_status_error(e, "create"))?;
    writeln!(out(), "{id}")?;
    Ok(0)
}

/// Spawns `POST /containers/{id}/wait` and returns a handle yielding the exit code.
async fn spawn_wait(
    client: &Client,
    id: &str,
    condition: &str,
) -> tokio::task::JoinHandle<Result<i64>> {
    let c = client.clone();
    let path = format!(
        "/containers/{}/wait{}",
        esc(id),
        query(&[("condition", condition.into())])
    );
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = tokio::spawn(async move {
        let resp = c.request(Method::POST, &path, empty_body(), None).await;
        let _ = tx.send(());
        let resp = resp?;
        use http_body_util::BodyExt;
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| CliError::Protocol(e.to_string()))?
            .to_bytes();
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Protocol(format!("invalid wait response: {e}")))?;
        if let Some(m) = v.pointer("/Error/Message").and_then(Value::as_str)
            && !m.is_empty()
        {
            return Err(CliError::Protocol(m.to_string()));
        }
        Ok(v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0))
    });
    // The daemon answers the headers of a wait as soon as the waiter is registered; wait for
    // that (bounded, in case a daemon only answers at exit) so a fast exit is not missed.
    let _ = tokio::time::timeout(std::time::Duration::from_millis(1000), rx).await;
    h
}

async fn resize(client: &Client, path_prefix: &str) {
    if let Some((h, w)) = crate::stream::terminal_size() {
        let path = format!(
            "{path_prefix}/resize{}",
            query(&[("h", h.to_string()), ("w", w.to_string())])
        );
        let _ = client.post(&path, None).await;
    }
}

/// Resizes the remote TTY now and whenever the local terminal changes size.
fn monitor_resize(client: &Client, path_prefix: String) -> tokio::task::JoinHandle<()> {
    let c = client.clone();
    tokio::spawn(async move {
        resize(&c, &path_prefix).await;
        let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while sig.recv().await.is_some() {
            resize(&c, &path_prefix).await;
        }
    })
}

/// Forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 to the container.
fn proxy_signals(client: &Client, id: &str) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let c = client.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(8);
        for (k, name) in kinds {
            let Ok(mut s) = signal(k) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            let path = format!(
                "/containers/{}/kill{}",
                esc(&id),
                query(&[("signal", name.into())])
            );
            let _ = c.post(&path, None).await;
        }
    })
}

fn detach_keys(s: &Option<String>) -> Result<Vec<u8>> {
    match s {
        Some(k) => parse_detach_keys(k),
        None => Ok(DEFAULT_DETACH_KEYS.to_vec()),
    }
}

/// `docker run`.
pub async fn run(client: &Client, a: RunArgs) -> Result<u8> {
    let o = &a.opts;
    let keys = detach_keys(&a.detach_keys).map_err(|e| run_status_error(e, "run"))?;
    let attach_stdin = if a.detach {
        false
    } else if o.attach.is_empty() {
        o.interactive
    } else {
        o.attach.iter().any(|s| s.eq_ignore_ascii_case("stdin"))
    };
    if o.tty && attach_stdin && !std::io::stdin().is_terminal() {
        return Err(CliError::Status {
            message: "the input device is not a TTY".into(),
            code: 1,
        });
    }
    let id = create_container(client, o, a.detach, a.quiet)
        .await
        .map_err(|e| run_status_error(e, "run"))?;
    let cpath = format!("/containers/{}", esc(&id));
    if a.detach {
        client
            .post(&format!("{cpath}/start"), None)
            .await
            .map_err(|e| run_status_error(e, "run"))?;
        writeln!(out(), "{id}")?;
        return Ok(0);
    }
    let (att_out, att_err) = if o.attach.is_empty() {
        (true, true)
    } else {
        (
            o.attach.iter().any(|s| s.eq_ignore_ascii_case("stdout")),
            o.attach.iter().any(|s| s.eq_ignore_ascii_case("stderr")),
        )
    };
    let mut aq = vec![
        ("stream", "1".to_string()),
        ("stdin", if attach_stdin { "1" } else { "0" }.to_string()),
        ("stdout", if att_out { "1" } else { "0" }.to_string()),
        ("stderr", if att_err { "1" } else { "0" }.to_string()),
    ];
    if let Some(k) = &a.detach_keys {
        aq.push(("detachKeys", k.clone()));
    }
    let hijacked = client
        .hijack(&format!("{cpath}/attach{}", query(&aq)), None)
        .await
        .map_err(|e| run_status_error(e, "run"))?;
    let waiter = spawn_wait(client, &id, if o.rm { "removed" } else { "next-exit" }).await;
    let raw = if o.tty && attach_stdin {
        Some(RawTerminal::enable()?)
    } else {
        None
    };
    let pumping = tokio::spawn(pump(hijacked, o.tty, attach_stdin, keys));
    if let Err(e) = client.post(&format!("{cpath}/start"), None).await {
        pumping.abort();
        drop(raw);
        if o.rm {
            let _ = waiter.await;
        }
        return Err(run_status_error(e, "run"));
    }
    let resizer = o.tty.then(|| monitor_resize(client, cpath.clone()));
    let sigs = (a.sig_proxy && !o.tty).then(|| proxy_signals(client, &id));
    let end = pumping
        .await
        .map_err(|e| CliError::Protocol(e.to_string()))?;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    if let Some(s) = sigs {
        s.abort();
    }
    match end {
        Ok(PumpEnd::Detached) => {
            waiter.abort();
            return Ok(0);
        }
        Ok(PumpEnd::Finished) => {}
        Err(e) => eprintln!("{e}"),
    }
    let code = waiter
        .await
        .map_err(|e| CliError::Protocol(e.to_string()))??;
    Ok(exit_byte(code))
}

fn exit_byte(code: i64) -> u8 {
    (code & 0xff) as u8
}

/// `docker start`.
pub async fn start(client: &Client, a: StartArgs) -> Result<u8> {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(CliError::invalid(
                "you cannot start and attach multiple containers at once",
            ));
        }
        let name = &a.containers[0];
        let info = client
            .get(&format!("/containers/{}/json", esc(name)))
            .await?;
        let id = info
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_string();
        let tty = info
            .pointer("/Config/Tty")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let open_stdin = info
            .pointer("/Config/OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let auto_remove = info
            .pointer("/HostConfig/AutoRemove")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let stdin = a.interactive && open_stdin;
        if tty && stdin && !std::io::stdin().is_terminal() {
            return Err(CliError::Status {
                message: "the input device is not a TTY".into(),
                code: 1,
            });
        }
        let keys = detach_keys(&a.detach_keys)?;
        let cpath = format!("/containers/{}", esc(&id));
        let mut aq = vec![
            ("stream", "1".to_string()),
            ("stdin", if stdin { "1" } else { "0" }.to_string()),
            ("stdout", "1".to_string()),
            ("stderr", "1".to_string()),
        ];
        if let Some(k) = &a.detach_keys {
            aq.push(("detachKeys", k.clone()));
        }
        let hijacked = client
            .hijack(&format!("{cpath}/attach{}", query(&aq)), None)
            .await?;
        let waiter = spawn_wait(
            client,
            &id,
            if auto_remove { "removed" } else { "next-exit" },
        )
        .await;
        let raw = if tty && stdin {
            Some(RawTerminal::enable()?)
        } else {
            None
        };
        let pumping = tokio::spawn(pump(hijacked, tty, stdin, keys));
        if let Err(e) = client.post(&format!("{cpath}/start"), None).await {
            pumping.abort();
            drop(raw);
            return Err(e);
        }
        let resizer = tty.then(|| monitor_resize(client, cpath.clone()));
        let sigs = (!tty).then(|| proxy_signals(client, &id));
        let end = pumping
            .await
            .map_err(|e| CliError::Protocol(e.to_string()))?;
        drop(raw);
        if let Some(r) = resizer {
            r.abort();
        }
        if let Some(s) = sigs {
            s.abort();
        }
        if let Ok(PumpEnd::Detached) = end {
            waiter.abort();
            return Ok(0);
        }
        if let Err(e) = end {
            eprintln!("{e}");
        }
        let code = waiter
            .await
            .map_err(|e| CliError::Protocol(e.to_string()))??;
        return Ok(exit_byte(code));
    }
    let mut failed = Vec::new();
    for c in &a.containers {
        match client
            .post(&format!("/containers/{}/start", esc(c)), None)
            .await
        {
            Ok(_) => writeln!(out(), "{c}")?,
            Err(e) => failed.push(e.to_string()),
        }
    }
    crate::volume::multi_result(failed)
}

/// Builds the `filters` query value from `k=v` flags (`{"k":{"v":true}}`, as the Go client).
pub fn filters_json(filters: &[String]) -> Result<Option<String>> {
    if filters.is_empty() {
        return Ok(None);
    }
    let mut m: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for f in filters {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| CliError::invalid("bad format of filter (expected name=value)"))?;
        m.entry(k.trim().to_lowercase())
            .or_default()
            .insert(v.to_string(), true);
    }
    Ok(Some(serde_json::to_string(&m).unwrap_or_default()))
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Docker's `Ellipsis`: cut to `max` display chars, the last being `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Docker's `DisplayablePorts` for `docker ps`.
pub fn displayable_ports(ports: &[Value]) -> String {
    struct P {
        ip: String,
        private: u64,
        public: u64,
        typ: String,
    }
    let mut ps: Vec<P> = ports
        .iter()
        .map(|p| P {
            ip: p
                .get("IP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            private: p.get("PrivatePort").and_then(Value::as_u64).unwrap_or(0),
            public: p.get("PublicPort").and_then(Value::as_u64).unwrap_or(0),
            typ: p
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
                .to_string(),
        })
        .collect();
    ps.sort_by(|a, b| {
        a.private
            .cmp(&b.private)
            .then(a.ip.cmp(&b.ip))
            .then(a.public.cmp(&b.public))
            .then(a.typ.cmp(&b.typ))
    });
    let form = |key: &str, first: u64, last: u64| -> String {
        let (ip, typ) = match key.split_once('/') {
            Some((ip, t)) => (ip.to_string(), t.to_string()),
            None => (String::new(), key.to_string()),
        };
        let mut g = first.to_string();
        if first != last {
            g = format!("{g}-{last}");
        }
        if !ip.is_empty() {
            g = format!("{ip}:{g}->{g}");
        }
        format!("{g}/{typ}")
    };
    let mut groups: Vec<(String, u64, u64)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in &ps {
        let mut key = p.typ.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                let hp = if p.ip.contains(':') {
                    format!("[{}]:{}", p.ip, p.public)
                } else {
                    format!("{}:{}", p.ip, p.public)
                };
                host_mappings.push(format!("{hp}->{}/{}", p.private, p.typ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.typ);
        }
        match groups.iter_mut().find(|g| g.0 == key) {
            None => groups.push((key, p.private, p.private)),
            Some(g) => {
                if p.private == g.2 + 1 {
                    g.2 = p.private;
                } else {
                    result.push(form(&g.0, g.1, g.2));
                    g.1 = p.private;
                    g.2 = p.private;
                }
            }
        }
    }
    for g in &groups {
        result.push(form(&g.0, g.1, g.2));
    }
    result.extend(host_mappings);
    result.join(", ")
}

fn short(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Platform", "PLATFORM"),
];

/// One `docker ps` row as the formatter context fields.
pub fn ps_row(c: &Value, trunc: bool) -> BTreeMap<String, String> {
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut r = BTreeMap::new();
    let id = s("Id");
    r.insert("ID".into(), if trunc { short(&id) } else { id });
    let mut image = s("Image");
    if trunc {
        let image_id = s("ImageID");
        if image.starts_with("sha256:")
            || short(&image) == short(&image_id)
                && !image.contains(':')
                && image.len() >= 12
                && image.chars().all(|c| c.is_ascii_hexdigit())
        {
            image = short(&image);
        }
    }
    r.insert("Image".into(), image);
    let cmd = s("Command");
    r.insert(
        "Command".into(),
        go_quote(&if trunc { ellipsis(&cmd, 20) } else { cmd }),
    );
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    r.insert("CreatedAt".into(), go_time_string(created));
    r.insert(
        "RunningFor".into(),
        format!("{} ago", human_duration(since(created))),
    );
    r.insert(
        "Ports".into(),
        displayable_ports(
            c.get("Ports")
                .and_then(Value::as_array)
                .map_or(&[][..], |v| v),
        ),
    );
    r.insert("State".into(), s("State"));
    r.insert("Status".into(), s("Status"));
    let srw = c.get("SizeRw").and_then(Value::as_i64).unwrap_or(0);
    let srfs = c.get("SizeRootFs").and_then(Value::as_i64).unwrap_or(0);
    let mut size = human_size_prec(srw as f64, 3);
    if srfs > 0 {
        size = format!("{size} (virtual {})", human_size_prec(srfs as f64, 3));
    }
    r.insert("Size".into(), size);
    let names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.strip_prefix('/').unwrap_or(n).to_string())
                .filter(|n| !trunc || !n.contains('/'))
                .collect()
        })
        .unwrap_or_default();
    r.insert("Names".into(), names.join(","));
    let mut labels: Vec<String> = c
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    r.insert("Labels".into(), labels.join(","));
    let mounts = c
        .get("Mounts")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mnames: Vec<String> = mounts
        .iter()
        .map(|m| {
            let name = m
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .or_else(|| m.get("Source").and_then(Value::as_str))
                .unwrap_or("");
            if trunc {
                ellipsis(name, 15)
            } else {
                name.to_string()
            }
        })
        .collect();
    r.insert("Mounts".into(), mnames.join(","));
    r.insert(
        "LocalVolumes".into(),
        mounts
            .iter()
            .filter(|m| m.get("Driver").and_then(Value::as_str) == Some("local"))
            .count()
            .to_string(),
    );
    let mut nets: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    nets.sort();
    r.insert("Networks".into(), nets.join(","));
    r.insert("Platform".into(), String::new());
    r
}

/// `docker ps`.
pub async fn ps(client: &Client, a: PsArgs) -> Result<u8> {
    let mut q = Vec::new();
    if a.all {
        q.push(("all", "1".to_string()));
    }
    let limit = if a.latest {
        Some(1)
    } else {
        a.last.filter(|n| *n > 0)
    };
    if let Some(n) = limit {
        q.push(("limit", n.to_string()));
    }
    let format = match (&a.format, a.quiet) {
        (_, true) => "{{.ID}}".to_string(),
        (Some(f), false) if !f.is_empty() && f != "table" => f.clone(),
        _ => {
            let mut f = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".to_string();
            if a.size {
                f.push_str("\t{{.Size}}");
            }
            f
        }
    };
    if a.size || (!a.quiet && format.contains(".Size")) {
        q.push(("size", "1".to_string()));
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let lf = ListFormat::new(&format)?;
    let list = client
        .get(&format!("/containers/json{}", query(&q)))
        .await?;
    let rows: Vec<_> = list
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| ps_row(c, !a.no_trunc))
        .collect();
    lf.write(&mut out(), PS_HEADERS, &rows)?;
    Ok(0)
}

/// Docker's `GetTimestamp`: relative durations, RFC 3339 / date forms, or unix seconds.
pub fn api_timestamp(value: &str, now: i64) -> Result<String> {
    if let Ok(d) = parse_go_duration(value) {
        let t = now as i128 * 1_000_000_000 - d as i128;
        let secs = t.div_euclid(1_000_000_000);
        let nanos = t.rem_euclid(1_000_000_000);
        return Ok(format!("{secs}.{nanos:09}"));
    }
    if value.chars().all(|c| c.is_ascii_digit() || c == '.') && !value.is_empty() {
        return Ok(value.to_string());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, f) {
            let t = t.and_utc();
            return Ok(format!(
                "{}.{:09}",
                t.timestamp(),
                t.timestamp_subsec_nanos()
            ));
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let t = d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp())
            .unwrap_or(0);
        return Ok(format!("{t}.000000000"));
    }
    Err(CliError::invalid(format!(
        "invalid value for \"since\": failed to parse value as time or duration: \"{value}\""
    )))
}

/// `docker logs`.
pub async fn logs(client: &Client, a: LogsArgs) -> Result<u8> {
    let info = client
        .get(&format!("/containers/{}/json", esc(&a.container)))
        .await?;
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let now = chrono::Utc::now().timestamp();
    let mut q = vec![("stdout", "1".to_string()), ("stderr", "1".to_string())];
    if let Some(s) = &a.since {
        q.push(("since", api_timestamp(s, now)?));
    }
    if let Some(u) = &a.until {
        q.push(("until", api_timestamp(u, now)?));
    }
    if a.timestamps {
        q.push(("timestamps", "1".into()));
    }
    if a.details {
        q.push(("details", "1".into()));
    }
    if a.follow {
        q.push(("follow", "1".into()));
    }
    q.push(("tail", a.tail.clone()));
    let reader = client
        .stream(
            Method::GET,
            &format!("/containers/{}/logs{}", esc(&a.container), query(&q)),
            empty_body(),
            None,
        )
        .await?;
    crate::stream::copy_output(reader, tty).await?;
    Ok(0)
}

/// `docker rm`.
pub async fn rm(client: &Client, a: RmArgs) -> Result<u8> {
    let mut errs = Vec::new();
    for c in &a.containers {
        let mut q = Vec::new();
        if a.force {
            q.push(("force", "1".to_string()));
        }
        if a.volumes {
            q.push(("v", "1".to_string()));
        }
        if a.link {
            q.push(("link", "1".to_string()));
        }
        match client
            .delete(&format!("/containers/{}{}", esc(c), query(&q)))
            .await
        {
            Ok(_) => writeln!(out(), "{c}")?,
            Err(e) => errs.push(e.to_string()),
        }
    }
    crate::volume::multi_result(errs)
}

/// `docker stop`.
pub async fn stop(client: &Client, a: StopArgs) -> Result<u8> {
    stop_or_restart(client, a, "stop").await
}

/// `docker restart`.
pub async fn restart(client: &Client, a: StopArgs) -> Result<u8> {
    stop_or_restart(client, a, "restart").await
}

/// `stop` and `restart` take the same flags and report the same way.
async fn stop_or_restart(client: &Client, a: StopArgs, verb: &str) -> Result<u8> {
    let mut errs = Vec::new();
    for c in &a.containers {
        let mut q = Vec::new();
        if let Some(t) = a.timeout {
            q.push(("t", t.to_string()));
        }
        if let Some(s) = &a.signal {
            q.push(("signal", s.clone()));
        }
        match client
            .post(&format!("/containers/{}/{verb}{}", esc(c), query(&q)), None)
            .await
        {
            Ok(_) => writeln!(out(), "{c}")?,
            Err(e) => errs.push(e.to_string()),
        }
    }
    crate::volume::multi_result(errs)
}

/// `docker kill`.
pub async fn kill(client: &Client, a: KillArgs) -> Result<u8> {
    let mut errs = Vec::new();
    for c in &a.containers {
        let mut q = Vec::new();
        if let Some(s) = &a.signal {
            q.push(("signal", s.clone()));
        }
        match client
            .post(&format!("/containers/{}/kill{}", esc(c), query(&q)), None)
            .await
        {
            Ok(_) => writeln!(out(), "{c}")?,
            Err(e) => errs.push(e.to_string()),
        }
    }
    crate::volume::multi_result(errs)
}

/// Simple per-container POST commands (`pause`, `unpause`) printing the name on success.
pub async fn simple_post(client: &Client, names: &[String], action: &str) -> Result<u8> {
    let mut errs = Vec::new();
    for c in names {
        match client
            .post(&format!("/containers/{}/{action}", esc(c)), None)
            .await
        {
            Ok(_) => writeln!(out(), "{c}")?,
            Err(e) => errs.push(e.to_string()),
        }
    }
    crate::volume::multi_result(errs)
}

/// `docker wait`.
pub async fn wait(client: &Client, a: ContainersArgs) -> Result<u8> {
    let mut errs = Vec::new();
    for c in &a.containers {
        match client
            .post(&format!("/containers/{}/wait", esc(c)), None)
            .await
        {
            Ok(v) => writeln!(
                out(),
                "{}",
                v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0)
            )?,
            Err(e) => errs.push(e.to_string()),
        }
    }
    crate::volume::multi_result(errs)
}

/// Pretty JSON as Docker prints it (4-space indent, Go HTML escaping).
pub fn pretty_json(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    use serde::Serialize;
    let _ = v.serialize(&mut ser);
    let s = String::from_utf8_lossy(&buf).into_owned();
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Prints inspect results (`-f` template per element, else a JSON array).
pub fn print_inspect(items: &[Value], format: &Option<String>) -> Result<()> {
    let mut o = out();
    match format.as_deref() {
        Some(f) if !f.is_empty() && f != "json" => {
            let t = Tmpl::parse(f)?;
            for it in items {
                writeln!(o, "{}", t.render_json(it)?)?;
            }
        }
        Some("json") => {
            for it in items {
                writeln!(o, "{}", go_json(it))?;
            }
        }
        _ => writeln!(o, "{}", pretty_json(&Value::Array(items.to_vec())))?,
    }
    Ok(())
}

/// `docker inspect` (and `container inspect` with `typ = container`).
pub async fn inspect(client: &Client, a: InspectArgs) -> Result<u8> {
    let mut items = Vec::new();
    let mut errs = Vec::new();
    for n in &a.names {
        let cpath = format!(
            "/containers/{}/json{}",
            esc(n),
            if a.size { "?size=1" } else { "" }
        );
        let ipath = format!("/images/{}/json", esc(n));
        let res = match a.typ.as_deref() {
            Some("container") => client.get(&cpath).await,
            Some("image") => client.get(&ipath).await,
            Some("") | None => match client.get(&cpath).await {
                Err(e) if e.status() == Some(404) => match client.get(&ipath).await {
                    Err(e) if e.status() == Some(404) => {
                        Err(CliError::Invalid(format!("Error: No such object: {n}")))
                    }
                    r => r,
                },
                r => r,
            },
            Some(t) => {
                return Err(CliError::invalid(format!(
                    "\"{t}\" is not a valid value for --type"
                )));
            }
        };
        match res {
            Ok(v) => items.push(v),
            Err(CliError::Daemon {
                status: 404,
                message,
            }) => errs.push(format!("Error: {message}")),
            Err(e) => errs.push(e.to_string()),
        }
    }
    if !(items.is_empty() && a.format.is_some()) {
        print_inspect(&items, &a.format)?;
    }
    crate::volume::multi_result(errs)
}

/// `docker exec`.
pub async fn exec(client: &Client, a: ExecArgs) -> Result<u8> {
    let container = &a.container_and_cmd[0];
    let cmd = &a.container_and_cmd[1..];
    let keys = detach_keys(&a.detach_keys)?;
    let mut env = Vec::new();
    for f in &a.env_file {
        let content = std::fs::read_to_string(f)
            .map_err(|e| CliError::invalid(format!("open {f}: {}", crate::opts::io_msg(&e))))?;
        env.extend(parse_env_file_content(&content, f)?);
    }
    env.extend(a.env.iter().map(|e| normalize_env(e)));
    // An inspect first makes "no such container" win over other errors, as Docker does.
    client
        .get(&format!("/containers/{}/json", esc(container)))
        .await?;
    if a.tty && a.interactive && !a.detach && !std::io::stdin().is_terminal() {
        return Err(CliError::Status {
            message: "the input device is not a TTY".into(),
            code: 1,
        });
    }
    let mut body = json!({
        "User": a.user.clone().unwrap_or_default(),
        "Privileged": a.privileged,
        "Tty": a.tty,
        "AttachStdin": a.interactive && !a.detach,
        "AttachStderr": !a.detach,
        "AttachStdout": !a.detach,
        "Detach": a.detach,
        "Env": env,
        "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "Cmd": cmd,
    });
    if let Some(k) = &a.detach_keys {
        body["DetachKeys"] = json!(k);
    }
    if a.tty
        && let Some((h, w)) = crate::stream::terminal_size()
    {
        body["ConsoleSize"] = json!([h, w]);
    }
    let created = client
        .post(&format!("/containers/{}/exec", esc(container)), Some(&body))
        .await?;
    let exec_id = created
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::Protocol("exec create response without Id".into()))?
        .to_string();
    let epath = format!("/exec/{}", esc(&exec_id));
    let start_body = json!({"Detach": a.detach, "Tty": a.tty});
    if a.detach {
        client
            .post(&format!("{epath}/start"), Some(&start_body))
            .await?;
        return Ok(0);
    }
    let hijacked = client
        .hijack(&format!("{epath}/start"), Some(&start_body))
        .await?;
    let raw = if a.tty && a.interactive {
        Some(RawTerminal::enable()?)
    } else {
        None
    };
    let resizer = a.tty.then(|| monitor_resize(client, epath.clone()));
    let end = pump(hijacked, a.tty, a.interactive, keys).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    match end {
        Ok(PumpEnd::Detached) => return Ok(0),
        Ok(PumpEnd::Finished) => {}
        Err(e) => eprintln!("{e}"),
    }
    // The exit code may be recorded a moment after the stream closes: poll with a deadline.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = client.get(&format!("{epath}/json")).await?;
        let running = v.get("Running").and_then(Value::as_bool).unwrap_or(false);
        if !running || tokio::time::Instant::now() >= deadline {
            return Ok(exit_byte(
                v.get("ExitCode").and_then(Value::as_i64).unwrap_or(0),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Parses an RFC 3339 `Created` field of an inspect result into "x ago" text.
pub fn ago(rfc3339: &str) -> String {
    match parse_rfc3339(rfc3339) {
        Some(t) => format!("{} ago", human_duration(since(t))),
        None => "N/A".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_ellipsis() {
        assert_eq!(go_quote("sh -c 'exit 3'"), "\"sh -c 'exit 3'\"");
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(ellipsis("httpd -f -p 80", 20), "httpd -f -p 80");
        assert_eq!(
            ellipsis("abcdefghijklmnopqrstuvwxyz", 20),
            "abcdefghijklmnopqrs…"
        );
    }

    #[test]
    fn ports_display() {
        let p = json!([
            {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"}
        ]);
        assert_eq!(
            displayable_ports(p.as_array().map_or(&[][..], |v| v)),
            "127.0.0.1:18080->80/tcp"
        );
        let p = json!([
            {"PrivatePort": 80, "Type": "tcp"},
            {"PrivatePort": 81, "Type": "tcp"},
            {"PrivatePort": 53, "Type": "udp"},
            {"IP": "0.0.0.0", "PrivatePort": 90, "PublicPort": 90, "Type": "tcp"}
        ]);
        assert_eq!(
            displayable_ports(p.as_array().map_or(&[][..], |v| v)),
            "53/udp, 80-81/tcp, 0.0.0.0:90->90/tcp"
        );
        assert_eq!(displayable_ports(&[]), "");
    }

    #[test]
    fn filters() {
        assert_eq!(
            filters_json(&["name=a".into(), "status=exited".into(), "name=b".into()])
                .ok()
                .flatten(),
            Some(r#"{"name":{"a":true,"b":true},"status":{"exited":true}}"#.to_string())
        );
        assert!(filters_json(&["bad".into()]).is_err());
    }

    #[test]
    fn status_errors() {
        let e = run_status_error(
            CliError::Daemon {
                status: 500,
                message: "exec: \"x\": executable file not found in $PATH".into(),
            },
            "run",
        );
        assert_eq!(e.exit_code(), 127);
        assert_eq!(
            e.to_string(),
            "docker: Error response from daemon: exec: \"x\": executable file not found in $PATH\n\nRun 'docker run --help' for more information"
        );
        let e = run_status_error(
            CliError::Daemon {
                status: 500,
                message: "permission denied".into(),
            },
            "run",
        );
        assert_eq!(e.exit_code(), 126);
        let e = run_status_error(
            CliError::Daemon {
                status: 404,
                message: "No such image: x:latest".into(),
            },
            "run",
        );
        assert_eq!(e.exit_code(), 125);
    }

    #[test]
    fn timestamps() {
        assert_eq!(api_timestamp("10s", 100).ok(), Some("90.000000000".into()));
        assert_eq!(
            api_timestamp("1700000000", 0).ok(),
            Some("1700000000".into())
        );
        assert_eq!(
            api_timestamp("2024-01-01T00:00:00Z", 0).ok(),
            Some("1704067200.000000000".into())
        );
        assert!(api_timestamp("yesterday", 0).is_err());
    }

    #[test]
    fn ps_rows() {
        let c = json!({"Id": "de2d05bb0219709863ac542495b4e59911e17983d4d0677338fd835798715029",
            "Names": ["/anchor-web"], "Image": "bb", "ImageID": "sha256:1886", "Command": "httpd -f -p 80",
            "Created": 0, "Ports": [], "State": "running", "Status": "Up 2 seconds", "Labels": {"b": "2", "a": "1"}});
        let r = ps_row(&c, true);
        assert_eq!(r["ID"], "de2d05bb0219");
        assert_eq!(r["Names"], "anchor-web");
        assert_eq!(r["Command"], "\"httpd -f -p 80\"");
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["Size"], "0B");
    }
}
