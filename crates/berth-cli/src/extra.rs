//! Less central container commands: attach, top, stats, update, rename, port, cp, diff, export,
//! commit, and pull.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use clap::Args;
use http::Method;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::client::{Client, empty_body, esc, full_body, query, reader_body};
use crate::container::{pull_image, run_status_error};
use crate::error::{CliError, Result};
use crate::format::{bytes_size, human_size, human_size_prec, parse_ram};
use crate::image::write_stream_out;
use crate::stream::{DEFAULT_DETACH_KEYS, PumpEnd, RawTerminal, parse_detach_keys, pump};

/// `docker attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `docker top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// ps options.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `docker stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Containers.
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// `docker update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Containers.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `docker rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// Container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// New name.
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

/// `docker port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

/// `docker cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Source.
    #[arg(value_name = "SRC")]
    pub src: String,
    /// Destination.
    #[arg(value_name = "DEST")]
    pub dst: String,
}

/// `docker diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `docker export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `docker commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub pause: bool,
    /// Container.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Repository and tag.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `docker pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Image.
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub image: String,
}

/// `docker attach`.
pub async fn attach(client: &Client, a: AttachArgs) -> Result<u8> {
    let info = client
        .get(&format!("/containers/{}/json", esc(&a.container)))
        .await?;
    if !info
        .pointer("/State/Running")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Err(CliError::invalid(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if info
        .pointer("/State/Paused")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return Err(CliError::invalid(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(&a.container)
        .to_string();
    let tty = info
        .pointer("/Config/Tty")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stdin = !a.no_stdin
        && info
            .pointer("/Config/OpenStdin")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if tty && stdin && !std::io::stdin().is_terminal() {
        return Err(CliError::Status {
            message: "the input device is not a TTY".into(),
            code: 1,
        });
    }
    let keys = match &a.detach_keys {
        Some(k) => parse_detach_keys(k)?,
        None => DEFAULT_DETACH_KEYS.to_vec(),
    };
    let mut q = vec![
        ("stream", "1".to_string()),
        ("stdin", if stdin { "1" } else { "0" }.to_string()),
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
    ];
    if let Some(k) = &a.detach_keys {
        q.push(("detachKeys", k.clone()));
    }
    let cpath = format!("/containers/{}", esc(&id));
    let h = client
        .hijack(&format!("{cpath}/attach{}", query(&q)), None)
        .await?;
    let raw = if tty && stdin {
        Some(RawTerminal::enable()?)
    } else {
        None
    };
    if tty && let Some((hh, ww)) = crate::stream::terminal_size() {
        let _ = client
            .post(
                &format!(
                    "{cpath}/resize{}",
                    query(&[("h", hh.to_string()), ("w", ww.to_string())])
                ),
                None,
            )
            .await;
    }
    let end = pump(h, tty, stdin, keys).await;
    drop(raw);
    match end {
        Ok(PumpEnd::Detached) => return Ok(0),
        Ok(PumpEnd::Finished) => {}
        Err(e) => eprintln!("{e}"),
    }
    let v = client.post(&format!("{cpath}/wait"), None).await?;
    Ok((v.get("StatusCode").and_then(Value::as_i64).unwrap_or(0) & 0xff) as u8)
}

/// `docker top`.
pub async fn top(client: &Client, a: TopArgs) -> Result<u8> {
    let mut q = Vec::new();
    if !a.ps_args.is_empty() {
        q.push(("ps_args", a.ps_args.join(" ")));
    }
    let v = client
        .get(&format!(
            "/containers/{}/top{}",
            esc(&a.container),
            query(&q)
        ))
        .await?;
    let mut lines = Vec::new();
    let strs = |x: &Value| -> Vec<String> {
        x.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    lines.push(strs(v.get("Titles").unwrap_or(&Value::Null)).join("\t"));
    for p in v
        .get("Processes")
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default()
    {
        lines.push(strs(p).join("\t"));
    }
    let mut tw = tabwriter::TabWriter::new(Vec::new())
        .minwidth(17)
        .padding(3);
    for l in &lines {
        tw.write_all(l.as_bytes())?;
        tw.write_all(b"\n")?;
    }
    tw.flush()?;
    let bytes = tw
        .into_inner()
        .map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))?;
    std::io::stdout().write_all(&bytes)?;
    Ok(0)
}

/// One `docker stats` row from a stats sample.
pub fn stats_row(
    id: &str,
    name: &str,
    s: &Value,
    trunc: bool,
) -> std::collections::BTreeMap<String, String> {
    let n = |p: &str| s.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
    let cpu_delta =
        n("/cpu_stats/cpu_usage/total_usage") - n("/precpu_stats/cpu_usage/total_usage");
    let sys_delta = n("/cpu_stats/system_cpu_usage") - n("/precpu_stats/system_cpu_usage");
    let mut online = n("/cpu_stats/online_cpus");
    if online == 0.0 {
        online = s
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map_or(0.0, |a| a.len() as f64);
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * online * 100.0
    } else {
        0.0
    };
    let usage = n("/memory_stats/usage");
    let cache = if s
        .pointer("/memory_stats/stats/total_inactive_file")
        .is_some()
    {
        n("/memory_stats/stats/total_inactive_file")
    } else {
        n("/memory_stats/stats/inactive_file")
    };
    let mem = (usage - cache).max(0.0);
    let limit = n("/memory_stats/limit");
    let mem_pct = if limit > 0.0 {
        mem / limit * 100.0
    } else {
        0.0
    };
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = s.get("networks").and_then(Value::as_object) {
        for v in nets.values() {
            rx += v.get("rx_bytes").and_then(Value::as_f64).unwrap_or(0.0);
            tx += v.get("tx_bytes").and_then(Value::as_f64).unwrap_or(0.0);
        }
    }
    let (mut br, mut bw) = (0.0, 0.0);
    if let Some(ios) = s
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
    {
        for e in ios {
            let v = e.get("value").and_then(Value::as_f64).unwrap_or(0.0);
            match e
                .get("op")
                .and_then(Value::as_str)
                .map(str::to_lowercase)
                .as_deref()
            {
                Some("read") => br += v,
                Some("write") => bw += v,
                _ => {}
            }
        }
    }
    let mut r = std::collections::BTreeMap::new();
    r.insert(
        "ID".to_string(),
        if trunc {
            id.chars().take(12).collect()
        } else {
            id.to_string()
        },
    );
    r.insert(
        "Container".into(),
        if trunc {
            id.chars().take(12).collect()
        } else {
            id.to_string()
        },
    );
    r.insert("Name".into(), name.trim_start_matches('/').to_string());
    r.insert("CPUPerc".into(), format!("{cpu:.2}%"));
    r.insert(
        "MemUsage".into(),
        format!("{} / {}", bytes_size(mem), bytes_size(limit)),
    );
    r.insert("MemPerc".into(), format!("{mem_pct:.2}%"));
    r.insert(
        "NetIO".into(),
        format!("{} / {}", human_size_prec(rx, 3), human_size_prec(tx, 3)),
    );
    r.insert(
        "BlockIO".into(),
        format!("{} / {}", human_size_prec(br, 3), human_size_prec(bw, 3)),
    );
    r.insert(
        "PIDs".into(),
        format!("{}", n("/pids_stats/current") as u64),
    );
    r
}

/// `docker stats` (one sample per container; streaming mode repeats until interrupted).
pub async fn stats(client: &Client, a: StatsArgs) -> Result<u8> {
    let names: Vec<String> = if a.containers.is_empty() {
        let list = client
            .get(&format!(
                "/containers/json{}",
                if a.all { "?all=1" } else { "" }
            ))
            .await?;
        list.as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|c| c.get("Id").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        a.containers.clone()
    };
    let format = match &a.format {
        Some(f) if !f.is_empty() && f != "table" => f.clone(),
        _ => "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}".into(),
    };
    let lf = crate::format::ListFormat::new(&format)?;
    let headers = [
        ("ID", "CONTAINER ID"),
        ("Container", "CONTAINER"),
        ("Name", "NAME"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ];
    loop {
        let mut rows = Vec::new();
        let mut errs = Vec::new();
        for n in &names {
            match client
                .get(&format!("/containers/{}/stats?stream=0", esc(n)))
                .await
            {
                Ok(s) => {
                    let id = s.get("id").and_then(Value::as_str).unwrap_or(n).to_string();
                    let name = s
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    rows.push(stats_row(&id, &name, &s, !a.no_trunc));
                }
                Err(e) => errs.push(e.to_string()),
            }
        }
        if !errs.is_empty() {
            return Err(CliError::Status {
                message: errs.join("\n"),
                code: 1,
            });
        }
        let mut o = std::io::stdout().lock();
        if !a.no_stream && o.is_terminal() {
            // Clear the screen between refreshes, as the docker CLI does on a terminal.
            write!(o, "\x1b[2J\x1b[H")?;
        }
        lf.write(&mut o, &headers, &rows)?;
        o.flush()?;
        if a.no_stream {
            return Ok(0);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// `docker update`.
pub async fn update(client: &Client, a: UpdateArgs) -> Result<u8> {
    let mut body = serde_json::Map::new();
    if let Some(c) = &a.cpus {
        let f: f64 = c.parse().map_err(|_| {
            CliError::invalid(format!("invalid argument \"{c}\" for \"--cpus\" flag"))
        })?;
        body.insert("NanoCpus".into(), json!((f * 1e9) as i64));
    }
    if let Some(v) = a.cpu_shares {
        body.insert("CpuShares".into(), json!(v));
    }
    if let Some(v) = &a.cpuset_cpus {
        body.insert("CpusetCpus".into(), json!(v));
    }
    if let Some(v) = a.cpu_period {
        body.insert("CpuPeriod".into(), json!(v));
    }
    if let Some(v) = a.cpu_quota {
        body.insert("CpuQuota".into(), json!(v));
    }
    let ram = |s: &str| -> Result<i64> { if s == "-1" { Ok(-1) } else { parse_ram(s) } };
    if let Some(v) = &a.memory {
        body.insert("Memory".into(), json!(ram(v)?));
    }
    if let Some(v) = &a.memory_reservation {
        body.insert("MemoryReservation".into(), json!(ram(v)?));
    }
    if let Some(v) = &a.memory_swap {
        body.insert("MemorySwap".into(), json!(ram(v)?));
    }
    if let Some(v) = a.pids_limit {
        body.insert("PidsLimit".into(), json!(v));
    }
    if let Some(r) = &a.restart {
        body.insert("RestartPolicy".into(), crate::opts::parse_restart(r)?);
    }
    if body.is_empty() {
        return Err(CliError::invalid(
            "you must provide one or more flags when using this command",
        ));
    }
    let body = Value::Object(body);
    let mut errs = Vec::new();
    for c in &a.containers {
        match client
            .post(&format!("/containers/{}/update", esc(c)), Some(&body))
            .await
        {
            Ok(v) => {
                for w in v
                    .get("Warnings")
                    .and_then(Value::as_array)
                    .map(|a| a.as_slice())
                    .unwrap_or_default()
                {
                    if let Some(w) = w.as_str() {
                        eprintln!("{w}");
                    }
                }
                writeln!(std::io::stdout(), "{c}")?;
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    if errs.is_empty() {
        Ok(0)
    } else {
        Err(CliError::Status {
            message: errs.join("\n"),
            code: 1,
        })
    }
}

/// `docker rename`.
pub async fn rename(client: &Client, a: RenameArgs) -> Result<u8> {
    let new = a.new_name.trim();
    if new.is_empty() {
        return Err(CliError::invalid(
            "Error: Neither old nor new names may be empty",
        ));
    }
    client
        .post(
            &format!(
                "/containers/{}/rename{}",
                esc(&a.container),
                query(&[("name", new.to_string())])
            ),
            None,
        )
        .await?;
    Ok(0)
}

/// The `docker port` lines from `NetworkSettings.Ports`.
pub fn port_lines(ports: &Value, filter: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(m) = ports.as_object() else {
        return out;
    };
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by_key(|k| {
        let (p, proto) = k.split_once('/').unwrap_or((k.as_str(), "tcp"));
        (p.parse::<u32>().unwrap_or(0), proto.to_string())
    });
    let want = filter.map(|f| {
        if f.contains('/') {
            f.to_string()
        } else {
            format!("{f}/tcp")
        }
    });
    for k in keys {
        if want.as_deref().is_some_and(|w| w != k) {
            continue;
        }
        for b in m[k].as_array().map(|a| a.as_slice()).unwrap_or_default() {
            let ip = b.get("HostIp").and_then(Value::as_str).unwrap_or("");
            let port = b.get("HostPort").and_then(Value::as_str).unwrap_or("");
            let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
            let hp = if ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            };
            if want.is_some() {
                out.push(hp);
            } else {
                out.push(format!("{k} -> {hp}"));
            }
        }
    }
    out
}

/// `docker port`.
pub async fn port(client: &Client, a: PortArgs) -> Result<u8> {
    let info = client
        .get(&format!("/containers/{}/json", esc(&a.container)))
        .await?;
    let ports = info
        .pointer("/NetworkSettings/Ports")
        .cloned()
        .unwrap_or(Value::Null);
    let lines = port_lines(&ports, a.port.as_deref());
    if lines.is_empty()
        && let Some(p) = &a.port
    {
        let p = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        return Err(CliError::invalid(format!(
            "Error: No public port '{p}' published for {}",
            a.container
        )));
    }
    let mut o = std::io::stdout().lock();
    for l in lines {
        writeln!(o, "{l}")?;
    }
    Ok(0)
}

/// Splits `container:path`; a leading `/` or `.` means a local path (as Docker's `splitCpArg`).
pub fn split_cp_arg(arg: &str) -> (Option<String>, String) {
    if arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg.to_string());
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() => (Some(c.to_string()), p.to_string()),
        _ => (None, arg.to_string()),
    }
}

fn path_stat(headers: &http::HeaderMap) -> Option<Value> {
    let h = headers.get("x-docker-container-path-stat")?.to_str().ok()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(h).ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Rewrites the first path component of every entry (`src` basename → `new_root`).
fn rename_root(path: &Path, new_root: &str) -> PathBuf {
    let mut comps = path.components();
    comps.next();
    let rest = comps.as_path();
    if rest.as_os_str().is_empty() {
        PathBuf::from(new_root)
    } else {
        Path::new(new_root).join(rest)
    }
}

/// `docker cp`.
pub async fn cp(client: &Client, a: CpArgs) -> Result<u8> {
    let (sc, sp) = split_cp_arg(&a.src);
    let (dc, dp) = split_cp_arg(&a.dst);
    match (sc, dc) {
        (Some(c), None) => {
            let (headers, mut reader) = client
                .stream_with_headers(
                    Method::GET,
                    &format!(
                        "/containers/{}/archive{}",
                        esc(&c),
                        query(&[("path", sp.clone())])
                    ),
                    empty_body(),
                )
                .await?;
            if dp == "-" {
                let mut so = tokio::io::stdout();
                tokio::io::copy(&mut reader, &mut so).await?;
                return Ok(0);
            }
            let mut buf = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut buf).await?;
            let total = buf.len();
            let dst = PathBuf::from(&dp);
            let _ = path_stat(&headers);
            let (extract_dir, new_root) = if dst.is_dir() {
                (dst.clone(), None)
            } else {
                let parent = dst
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf();
                if !parent.is_dir() {
                    return Err(CliError::invalid(format!(
                        "invalid output path: directory \"{}\" does not exist",
                        parent.display()
                    )));
                }
                let name = dst
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                (parent, Some(name))
            };
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut ar = tar::Archive::new(std::io::Cursor::new(buf));
                ar.set_preserve_permissions(true);
                for entry in ar.entries()? {
                    let mut entry = entry?;
                    let p = entry.path()?.into_owned();
                    let target = match &new_root {
                        Some(r) => rename_root(&p, r),
                        None => p,
                    };
                    // Never write outside the destination directory.
                    if target.components().any(|c| {
                        matches!(
                            c,
                            std::path::Component::ParentDir
                                | std::path::Component::RootDir
                                | std::path::Component::Prefix(_)
                        )
                    }) {
                        continue;
                    }
                    let full = extract_dir.join(&target);
                    if let Some(parent) = full.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    entry.unpack(&full)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| CliError::Protocol(e.to_string()))??;
            if !a.quiet && std::io::stderr().is_terminal() {
                eprintln!("Successfully copied {} to {}", human_size(total as f64), dp);
            }
            Ok(0)
        }
        (None, Some(c)) => {
            if sp == "-" {
                client
                    .request(
                        Method::PUT,
                        &format!(
                            "/containers/{}/archive{}",
                            esc(&c),
                            query(&[("path", dp.clone())])
                        ),
                        reader_body(tokio::io::stdin()),
                        Some("application/x-tar"),
                    )
                    .await?;
                return Ok(0);
            }
            let src = PathBuf::from(&sp);
            let meta = std::fs::symlink_metadata(&src).map_err(|e| {
                CliError::invalid(format!("lstat {}: {}", sp, crate::opts::io_msg(&e)))
            })?;
            // Where the entry lands: into DEST if it is an existing directory, else as DEST.
            let head = client
                .raw_head(&format!(
                    "/containers/{}/archive{}",
                    esc(&c),
                    query(&[("path", dp.clone())])
                ))
                .await;
            let dest_is_dir = match &head {
                Ok(h) => path_stat(h)
                    .and_then(|s| s.get("mode").and_then(Value::as_u64))
                    .is_some_and(|m| m & (1 << 31) != 0),
                Err(_) => false,
            };
            let base = src
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| ".".into());
            let (put_dir, name) = if dest_is_dir || dp.ends_with('/') {
                (dp.clone(), base)
            } else {
                let d = Path::new(&dp);
                let parent = d
                    .parent()
                    .map(|p| p.to_string_lossy().to_string())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "/".into());
                let name = d
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or(base);
                (parent, name)
            };
            let follow = a.follow_link;
            let tarball = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                let mut b = tar::Builder::new(Vec::new());
                b.follow_symlinks(follow);
                if meta.is_dir() {
                    b.append_dir_all(&name, &src)?;
                } else {
                    b.append_path_with_name(&src, &name)?;
                }
                b.into_inner()
            })
            .await
            .map_err(|e| CliError::Protocol(e.to_string()))??;
            let total = tarball.len();
            client
                .request(
                    Method::PUT,
                    &format!(
                        "/containers/{}/archive{}",
                        esc(&c),
                        query(&[("path", put_dir)])
                    ),
                    full_body(tarball.into()),
                    Some("application/x-tar"),
                )
                .await?;
            if !a.quiet && std::io::stderr().is_terminal() {
                eprintln!(
                    "Successfully copied {} to {}:{}",
                    human_size(total as f64),
                    c,
                    dp
                );
            }
            Ok(0)
        }
        (Some(_), Some(_)) => Err(CliError::invalid(
            "copying between containers is not supported",
        )),
        (None, None) => Err(CliError::invalid(
            "must specify at least one container source",
        )),
    }
}

/// `docker diff`.
pub async fn diff(client: &Client, a: DiffArgs) -> Result<u8> {
    let v = client
        .get(&format!("/containers/{}/changes", esc(&a.container)))
        .await?;
    let mut o = std::io::stdout().lock();
    for ch in v.as_array().map(|a| a.as_slice()).unwrap_or_default() {
        let kind = match ch.get("Kind").and_then(Value::as_i64) {
            Some(1) => "A",
            Some(2) => "D",
            _ => "C",
        };
        writeln!(
            o,
            "{kind} {}",
            ch.get("Path").and_then(Value::as_str).unwrap_or("")
        )?;
    }
    Ok(0)
}

/// `docker export`.
pub async fn export(client: &Client, a: ExportArgs) -> Result<u8> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::invalid(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let reader = client
        .stream(
            Method::GET,
            &format!("/containers/{}/export", esc(&a.container)),
            empty_body(),
            None,
        )
        .await?;
    write_stream_out(reader, a.output.as_deref(), "").await?;
    Ok(0)
}

/// `docker commit`.
pub async fn commit(client: &Client, a: CommitArgs) -> Result<u8> {
    let mut q = vec![("container", a.container.clone())];
    if let Some(r) = &a.reference {
        if let Err(e) = berth_core::Reference::parse(r) {
            return Err(CliError::invalid(e.to_string()));
        }
        let (repo, tag) = crate::image::split_repo_tag(r);
        q.push(("repo", repo));
        if !tag.is_empty() {
            q.push(("tag", tag));
        }
    }
    if let Some(m) = &a.message {
        q.push(("comment", m.clone()));
    }
    if let Some(au) = &a.author {
        q.push(("author", au.clone()));
    }
    q.push(("pause", if a.pause { "1" } else { "0" }.into()));
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    let v = client
        .post(&format!("/commit{}", query(&q)), Some(&json!({})))
        .await?;
    writeln!(
        std::io::stdout(),
        "{}",
        v.get("Id").and_then(Value::as_str).unwrap_or("")
    )?;
    Ok(0)
}

/// `docker pull`.
pub async fn pull(client: &Client, a: PullArgs) -> Result<u8> {
    let r = berth_core::Reference::parse(&a.image).map_err(|e| CliError::invalid(e.to_string()))?;
    let r = r.with_default_tag();
    if r.tag.as_deref() == Some("latest") && !a.image.contains(':') && !a.quiet {
        writeln!(std::io::stdout(), "Using default tag: latest")?;
    }
    pull_image(client, &a.image, &mut std::io::stdout(), a.quiet)
        .await
        .map_err(|e| match e {
            CliError::Status { .. } => e,
            e => CliError::Status {
                message: e.to_string(),
                code: 1,
            },
        })?;
    writeln!(std::io::stdout(), "{r}")?;
    let _ = run_status_error;
    Ok(0)
}

impl Client {
    /// HEAD request returning the headers (used for `docker cp` path stats).
    pub async fn raw_head(&self, path: &str) -> Result<http::HeaderMap> {
        let resp = self.request(Method::HEAD, path, empty_body(), None).await?;
        let headers = resp.headers().clone();
        let _ = resp.into_body().collect().await;
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_args() {
        assert_eq!(
            split_cp_arg("c:/etc/hosts"),
            (Some("c".into()), "/etc/hosts".into())
        );
        assert_eq!(split_cp_arg("/tmp/a:b"), (None, "/tmp/a:b".into()));
        assert_eq!(split_cp_arg("./x"), (None, "./x".into()));
        assert_eq!(split_cp_arg("-"), (None, "-".into()));
        assert_eq!(rename_root(Path::new("hosts"), "h2"), PathBuf::from("h2"));
        assert_eq!(
            rename_root(Path::new("dir/a/b"), "new"),
            PathBuf::from("new/a/b")
        );
    }

    #[test]
    fn ports() {
        let p = json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}], "53/udp": null});
        assert_eq!(
            port_lines(&p, None),
            vec!["80/tcp -> 0.0.0.0:8080", "80/tcp -> [::]:8080"]
        );
        assert_eq!(
            port_lines(&p, Some("80")),
            vec!["0.0.0.0:8080", "[::]:8080"]
        );
    }

    #[test]
    fn stats_math() {
        let s = json!({"cpu_stats": {"cpu_usage": {"total_usage": 200}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 1048576, "limit": 2097152, "stats": {"inactive_file": 0}},
            "pids_stats": {"current": 3}});
        let r = stats_row("abcdef0123456789", "/web", &s, true);
        assert_eq!(r["CPUPerc"], "20.00%");
        assert_eq!(r["MemUsage"], "1MiB / 2MiB");
        assert_eq!(r["MemPerc"], "50.00%");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["NetIO"], "0B / 0B");
    }
}
