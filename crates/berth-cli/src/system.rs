//! System commands: version, info, system df, system prune, events.

use std::io::Write;

use clap::Args;
use http::Method;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::client::{Client, MAX_API_VERSION, empty_body, query};
use crate::container::{api_timestamp, filters_json};
use crate::error::{CliError, Result};
use crate::format::{Tmpl, bytes_size, human_size};

/// `docker version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// `docker info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// `docker events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
}

/// `docker system df`.
#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

/// `docker system prune`.
#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    pub filter: Vec<String>,
}

fn client_info(client: &Client) -> Value {
    json!({
        "Platform": {"Name": ""},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": client.version(),
        "DefaultAPIVersion": MAX_API_VERSION,
        "GitCommit": "berth",
        "GoVersion": "rust",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        a => a,
    }
}

fn tabbed(lines: &[String], minwidth: usize) -> Result<Vec<u8>> {
    let mut tw = tabwriter::TabWriter::new(Vec::new())
        .minwidth(minwidth - 1)
        .padding(1);
    for l in lines {
        tw.write_all(l.as_bytes())?;
        tw.write_all(b"\n")?;
    }
    tw.flush()?;
    tw.into_inner()
        .map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))
}

/// Renders the text of `docker version` (client part and, when known, server part).
pub fn version_text(client_v: &Value, server: Option<&Value>) -> Result<String> {
    let s = |v: &Value, p: &str| {
        v.pointer(p)
            .map(|x| match x {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                x => x.to_string(),
            })
            .unwrap_or_default()
    };
    let mut lines = Vec::new();
    let pname = s(client_v, "/Platform/Name");
    lines.push(if pname.is_empty() {
        "Client:".to_string()
    } else {
        format!("Client: {pname}")
    });
    lines.push(format!(" Version:\t{}", s(client_v, "/Version")));
    let api = s(client_v, "/ApiVersion");
    let def = s(client_v, "/DefaultAPIVersion");
    if api != def {
        lines.push(format!(" API version:\t{api} (downgraded from {def})"));
    } else {
        lines.push(format!(" API version:\t{api}"));
    }
    lines.push(format!(" Go version:\t{}", s(client_v, "/GoVersion")));
    lines.push(format!(" Git commit:\t{}", s(client_v, "/GitCommit")));
    lines.push(format!(" Built:\t{}", s(client_v, "/BuildTime")));
    lines.push(format!(
        " OS/Arch:\t{}/{}",
        s(client_v, "/Os"),
        s(client_v, "/Arch")
    ));
    lines.push(format!(" Context:\t{}", s(client_v, "/Context")));
    if let Some(sv) = server {
        lines.push(String::new());
        let pname = s(sv, "/Platform/Name");
        lines.push(if pname.is_empty() {
            "Server:".to_string()
        } else {
            format!("Server: {pname}")
        });
        let comps = sv
            .get("Components")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let comps = if comps.is_empty() {
            vec![
                json!({"Name": "Engine", "Version": s(sv, "/Version"), "Details": {
                "ApiVersion": s(sv, "/ApiVersion"), "MinAPIVersion": s(sv, "/MinAPIVersion"),
                "GoVersion": s(sv, "/GoVersion"), "GitCommit": s(sv, "/GitCommit"),
                "BuildTime": s(sv, "/BuildTime"), "Os": s(sv, "/Os"), "Arch": s(sv, "/Arch"),
                "Experimental": s(sv, "/Experimental"), "KernelVersion": s(sv, "/KernelVersion")}}),
            ]
        } else {
            comps
        };
        for c in &comps {
            let name = s(c, "/Name");
            lines.push(format!(" {name}:"));
            if name == "Engine" {
                lines.push(format!("  Version:\t{}", s(c, "/Version")));
                lines.push(format!(
                    "  API version:\t{} (minimum version {})",
                    s(c, "/Details/ApiVersion"),
                    s(c, "/Details/MinAPIVersion")
                ));
                lines.push(format!("  Go version:\t{}", s(c, "/Details/GoVersion")));
                lines.push(format!("  Git commit:\t{}", s(c, "/Details/GitCommit")));
                lines.push(format!("  Built:\t{}", s(c, "/Details/BuildTime")));
                lines.push(format!(
                    "  OS/Arch:\t{}/{}",
                    s(c, "/Details/Os"),
                    s(c, "/Details/Arch")
                ));
                lines.push(format!(
                    "  Experimental:\t{}",
                    s(c, "/Details/Experimental")
                ));
            } else {
                lines.push(format!("  Version:\t{}", s(c, "/Version")));
                let mut keys: Vec<(String, String)> = c
                    .get("Details")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                keys.sort();
                for (k, v) in keys {
                    lines.push(format!("  {k}:\t{v}"));
                }
            }
        }
    }
    let bytes = tabbed(&lines, 20)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `docker version`.
pub async fn version(client: &mut Client, a: VersionArgs) -> Result<u8> {
    let neg = client.negotiate().await;
    let cv = client_info(client);
    let server = match neg {
        Ok(_) => Some(client.get("/version").await),
        Err(e) => Some(Err(e)),
    };
    let (sv, err) = match server {
        Some(Ok(v)) => (Some(v), None),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    if let Some(f) = &a.format {
        // Templates see Go's field names: `APIVersion` is `ApiVersion` on the wire.
        let go_names = |v: &Value| {
            let mut v = v.clone();
            if f.contains("APIVersion")
                && let Some(m) = v.as_object_mut()
                && let Some(api) = m.get("ApiVersion").cloned()
            {
                m.insert("APIVersion".into(), api);
            }
            v
        };
        let data = json!({"Client": go_names(&cv), "Server": sv.as_ref().map(go_names)});
        let f = if f == "json" {
            "{{json .}}"
        } else {
            f.as_str()
        };
        writeln!(std::io::stdout(), "{}", Tmpl::parse(f)?.render_json(&data)?)?;
    } else {
        write!(std::io::stdout(), "{}", version_text(&cv, sv.as_ref())?)?;
    }
    match err {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

fn jstr(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(x) => x.to_string(),
    }
}

/// Renders the text of `docker info` from `/info`.
pub fn info_text(i: &Value) -> String {
    let mut o = String::new();
    let mut l = |s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    l("Client:".into());
    l(format!(" Version:    {}", env!("CARGO_PKG_VERSION")));
    l(" Context:    default".into());
    l(" Debug Mode: false".into());
    l(String::new());
    l("Server:".into());
    l(format!(" Containers: {}", jstr(i, "Containers")));
    l(format!("  Running: {}", jstr(i, "ContainersRunning")));
    l(format!("  Paused: {}", jstr(i, "ContainersPaused")));
    l(format!("  Stopped: {}", jstr(i, "ContainersStopped")));
    l(format!(" Images: {}", jstr(i, "Images")));
    l(format!(" Server Version: {}", jstr(i, "ServerVersion")));
    l(format!(" Storage Driver: {}", jstr(i, "Driver")));
    if let Some(ds) = i.get("DriverStatus").and_then(Value::as_array) {
        for pair in ds {
            if let Some(p) = pair.as_array()
                && p.len() == 2
            {
                l(format!(
                    "  {}: {}",
                    p[0].as_str().unwrap_or(""),
                    p[1].as_str().unwrap_or("")
                ));
            }
        }
    }
    l(format!(" Logging Driver: {}", jstr(i, "LoggingDriver")));
    l(format!(" Cgroup Driver: {}", jstr(i, "CgroupDriver")));
    l(format!(" Cgroup Version: {}", jstr(i, "CgroupVersion")));
    l(" Plugins:".into());
    let plug = |k: &str| -> String {
        i.pointer(&format!("/Plugins/{k}"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    l(format!("  Volume: {}", plug("Volume")));
    l(format!("  Network: {}", plug("Network")));
    l(format!("  Log: {}", plug("Log")));
    let swarm = i
        .pointer("/Swarm/LocalNodeState")
        .and_then(Value::as_str)
        .unwrap_or("inactive");
    l(format!(" Swarm: {swarm}"));
    let mut runtimes: Vec<String> = i
        .get("Runtimes")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    runtimes.sort();
    l(format!(" Runtimes: {}", runtimes.join(" ")));
    l(format!(" Default Runtime: {}", jstr(i, "DefaultRuntime")));
    l(format!(" Init Binary: {}", jstr(i, "InitBinary")));
    let commit = |k: &str| {
        i.pointer(&format!("/{k}/ID"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    l(format!(
        " containerd version: {}",
        commit("ContainerdCommit")
    ));
    l(format!(" runc version: {}", commit("RuncCommit")));
    l(format!(" init version: {}", commit("InitCommit")));
    if let Some(so) = i.get("SecurityOptions").and_then(Value::as_array)
        && !so.is_empty()
    {
        l(" Security Options:".into());
        for opt in so.iter().filter_map(Value::as_str) {
            let mut name = String::new();
            let mut rest = Vec::new();
            for kv in opt.split(',') {
                match kv.split_once('=') {
                    Some(("name", v)) => name = v.to_string(),
                    Some((k, v)) => rest.push((k.to_string(), v.to_string())),
                    None => name = kv.to_string(),
                }
            }
            l(format!("  {name}"));
            for (k, v) in rest {
                let mut c = k.chars();
                let k = match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                    None => k,
                };
                l(format!("   {k}: {v}"));
            }
        }
    }
    l(format!(" Kernel Version: {}", jstr(i, "KernelVersion")));
    l(format!(" Operating System: {}", jstr(i, "OperatingSystem")));
    l(format!(" OSType: {}", jstr(i, "OSType")));
    l(format!(" Architecture: {}", jstr(i, "Architecture")));
    l(format!(" CPUs: {}", jstr(i, "NCPU")));
    let mem = i.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0);
    l(format!(" Total Memory: {}", bytes_size(mem)));
    l(format!(" Name: {}", jstr(i, "Name")));
    l(format!(" ID: {}", jstr(i, "ID")));
    l(format!(" Docker Root Dir: {}", jstr(i, "DockerRootDir")));
    l(format!(
        " Debug Mode: {}",
        i.get("Debug").and_then(Value::as_bool).unwrap_or(false)
    ));
    for (k, label) in [
        ("HttpProxy", "HTTP Proxy"),
        ("HttpsProxy", "HTTPS Proxy"),
        ("NoProxy", "No Proxy"),
    ] {
        let v = jstr(i, k);
        if !v.is_empty() {
            l(format!(" {label}: {v}"));
        }
    }
    let labels = i
        .get("Labels")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    l(" Labels:".into());
    for lab in labels.iter().filter_map(Value::as_str) {
        l(format!("  {lab}"));
    }
    l(format!(
        " Experimental: {}",
        i.get("ExperimentalBuild")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    ));
    if let Some(cidrs) = i
        .pointer("/RegistryConfig/InsecureRegistryCIDRs")
        .and_then(Value::as_array)
    {
        l(" Insecure Registries:".into());
        for c in cidrs.iter().filter_map(Value::as_str) {
            l(format!("  {c}"));
        }
    }
    l(format!(
        " Live Restore Enabled: {}",
        i.get("LiveRestoreEnabled")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    ));
    o
}

/// `docker info`.
pub async fn info(client: &Client, a: InfoArgs) -> Result<u8> {
    let i = client.get("/info").await?;
    if let Some(f) = &a.format {
        let f = if f == "json" {
            "{{json .}}"
        } else {
            f.as_str()
        };
        writeln!(std::io::stdout(), "{}", Tmpl::parse(f)?.render_json(&i)?)?;
        return Ok(0);
    }
    write!(std::io::stdout(), "{}", info_text(&i))?;
    if let Some(ws) = i.get("Warnings").and_then(Value::as_array) {
        for w in ws.iter().filter_map(Value::as_str) {
            eprintln!("{w}");
        }
    }
    Ok(0)
}

/// `docker events`.
pub async fn events(client: &Client, a: EventsArgs) -> Result<u8> {
    let now = chrono::Utc::now().timestamp();
    let mut q = Vec::new();
    if let Some(s) = &a.since {
        q.push(("since", api_timestamp(s, now)?));
    }
    if let Some(u) = &a.until {
        q.push(("until", api_timestamp(u, now)?));
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let tmpl = match a.format.as_deref() {
        Some("json") => Some(Tmpl::parse("{{json .}}")?),
        Some(f) if !f.is_empty() => Some(Tmpl::parse(f)?),
        _ => None,
    };
    let reader = client
        .stream(
            Method::GET,
            &format!("/events{}", query(&q)),
            empty_body(),
            None,
        )
        .await?;
    let mut lines = tokio::io::BufReader::new(reader).lines();
    while let Some(line) = lines.next_line().await? {
        let Ok(ev) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let text = match &tmpl {
            Some(t) => t.render_json(&ev)?,
            None => event_line(&ev),
        };
        let mut o = std::io::stdout().lock();
        writeln!(o, "{text}")?;
        o.flush()?;
    }
    Ok(0)
}

/// Docker's default event line: `<time> <type> <action> <id> (k=v, ...)`.
pub fn event_line(ev: &Value) -> String {
    let nanos = ev
        .get("timeNano")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| ev.get("time").and_then(Value::as_i64).unwrap_or(0) * 1_000_000_000);
    let t = chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%dT%H:%M:%S%.9f%:z")
                .to_string()
        })
        .unwrap_or_default();
    let typ = jstr(ev, "Type");
    let action = jstr(ev, "Action");
    let id = ev
        .pointer("/Actor/ID")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut attrs: Vec<String> = ev
        .pointer("/Actor/Attributes")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    attrs.sort();
    let mut s = format!("{t} {typ} {action} {id}");
    if !attrs.is_empty() {
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    s
}

/// `docker system df`.
pub async fn df(client: &Client, a: DfArgs) -> Result<u8> {
    let d = client.get("/system/df").await?;
    let arr = |k: &str| {
        d.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let images = arr("Images");
    let containers = arr("Containers");
    let volumes = arr("Volumes");
    let cache = arr("BuildCache");
    let i64f = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let img_size: i64 = d
        .get("LayersSize")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| images.iter().map(|i| i64f(i, "Size")).sum());
    let img_active = images.iter().filter(|i| i64f(i, "Containers") > 0).count();
    let img_active_size: i64 = images
        .iter()
        .filter(|i| i64f(i, "Containers") > 0)
        .map(|i| i64f(i, "Size") - i64f(i, "SharedSize").max(0))
        .sum::<i64>()
        + images
            .iter()
            .filter(|i| i64f(i, "Containers") > 0)
            .map(|i| i64f(i, "SharedSize").max(0))
            .max()
            .unwrap_or(0);
    let img_reclaim = (img_size - img_active_size).max(0);
    let c_size: i64 = containers.iter().map(|c| i64f(c, "SizeRw")).sum();
    let c_active = containers
        .iter()
        .filter(|c| c.get("State").and_then(Value::as_str) == Some("running"))
        .count();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| c.get("State").and_then(Value::as_str) != Some("running"))
        .map(|c| i64f(c, "SizeRw"))
        .sum();
    let v_size: i64 = volumes
        .iter()
        .map(|v| {
            v.pointer("/UsageData/Size")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .max(0)
        })
        .sum();
    let v_active = volumes
        .iter()
        .filter(|v| {
            v.pointer("/UsageData/RefCount")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                > 0
        })
        .count();
    let v_reclaim: i64 = volumes
        .iter()
        .filter(|v| {
            v.pointer("/UsageData/RefCount")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                == 0
        })
        .map(|v| {
            v.pointer("/UsageData/Size")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .max(0)
        })
        .sum();
    let b_size: i64 = cache.iter().map(|b| i64f(b, "Size")).sum();
    let b_active = cache
        .iter()
        .filter(|b| b.get("InUse").and_then(Value::as_bool).unwrap_or(false))
        .count();
    let pct = |r: i64, t: i64| -> String {
        if t > 0 {
            format!("{} ({}%)", human_size(r as f64), (r * 100) / t)
        } else {
            human_size(r as f64)
        }
    };
    let rows = vec![
        (
            "Images",
            images.len(),
            img_active,
            img_size,
            pct(img_reclaim, img_size),
        ),
        (
            "Containers",
            containers.len(),
            c_active,
            c_size,
            pct(c_reclaim, c_size),
        ),
        (
            "Local Volumes",
            volumes.len(),
            v_active,
            v_size,
            pct(v_reclaim, v_size),
        ),
        (
            "Build Cache",
            cache.len(),
            b_active,
            b_size,
            human_size(0.0),
        ),
    ];
    if let Some(f) = &a.format {
        let lf = crate::format::ListFormat::new(f)?;
        let data: Vec<_> = rows
            .iter()
            .map(|(t, total, active, size, rec)| {
                let mut m = std::collections::BTreeMap::new();
                m.insert("Type".to_string(), t.to_string());
                m.insert("TotalCount".to_string(), total.to_string());
                m.insert("Active".to_string(), active.to_string());
                m.insert("Size".to_string(), human_size(*size as f64));
                m.insert("Reclaimable".to_string(), rec.clone());
                m
            })
            .collect();
        lf.write(
            &mut std::io::stdout(),
            &[
                ("Type", "TYPE"),
                ("TotalCount", "TOTAL"),
                ("Active", "ACTIVE"),
                ("Size", "SIZE"),
                ("Reclaimable", "RECLAIMABLE"),
            ],
            &data,
        )?;
        return Ok(0);
    }
    let mut lines = vec!["TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE".to_string()];
    for (t, total, active, size, rec) in rows {
        lines.push(format!(
            "{t}\t{total}\t{active}\t{}\t{rec}",
            human_size(size as f64)
        ));
    }
    crate::format::table(&mut std::io::stdout(), &lines)?;
    Ok(0)
}

/// The "filtered with" part of Docker's system prune warning (empty without filters).
pub fn prune_filter_note(filters: &[String]) -> String {
    if filters.is_empty() {
        return String::new();
    }
    let mut f: Vec<&String> = filters.iter().collect();
    f.sort();
    let mut s = "\n  Items to be pruned will be filtered with:".to_string();
    for x in f {
        s.push_str("\n  - ");
        s.push_str(x);
    }
    s.push('\n');
    s
}

/// `docker system prune`.
pub async fn system_prune(client: &Client, a: SystemPruneArgs) -> Result<u8> {
    if a.volumes
        && a.filter
            .iter()
            .any(|f| f.trim_start().starts_with("until="))
    {
        return Err(CliError::invalid(
            "ERROR: The \"until\" filter is not supported with \"--volumes\"",
        ));
    }
    if !a.force
        && !crate::image::confirm(&format!(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n{}  - {}\n  - {} build cache\n{}\n",
            if a.volumes {
                "  - all anonymous volumes not used by at least one container\n"
            } else {
                ""
            },
            if a.all {
                "all images without at least one container associated to them"
            } else {
                "all dangling images"
            },
            if a.all { "all" } else { "unused" },
            prune_filter_note(&a.filter)
        ))?
    {
        return Ok(0);
    }
    let f = filters_json(&a.filter)?;
    let mut q = Vec::new();
    if let Some(f) = &f {
        q.push(("filters", f.clone()));
    }
    let mut o = std::io::stdout().lock();
    let mut total: i64 = 0;
    let c = client
        .post(&format!("/containers/prune{}", query(&q)), None)
        .await?;
    if let Some(ids) = c
        .get("ContainersDeleted")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        writeln!(o, "Deleted Containers:")?;
        for id in ids.iter().filter_map(Value::as_str) {
            writeln!(o, "{id}")?;
        }
        writeln!(o)?;
    }
    total += c.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    if let Ok(n) = client
        .post(&format!("/networks/prune{}", query(&q)), None)
        .await
        && let Some(ids) = n
            .get("NetworksDeleted")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
    {
        writeln!(o, "Deleted Networks:")?;
        for id in ids.iter().filter_map(Value::as_str) {
            writeln!(o, "{id}")?;
        }
        writeln!(o)?;
    }
    if a.volumes
        && let Ok(v) = client
            .post(&format!("/volumes/prune{}", query(&q)), None)
            .await
    {
        if let Some(ids) = v
            .get("VolumesDeleted")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        {
            writeln!(o, "Deleted Volumes:")?;
            for id in ids.iter().filter_map(Value::as_str) {
                writeln!(o, "{id}")?;
            }
            writeln!(o)?;
        }
        total += v.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    }
    let mut iq = q.clone();
    let mut fm: std::collections::BTreeMap<String, std::collections::BTreeMap<String, bool>> = f
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    fm.entry("dangling".into())
        .or_default()
        .insert((!a.all).to_string(), true);
    iq.retain(|(k, _)| *k != "filters");
    iq.push(("filters", serde_json::to_string(&fm).unwrap_or_default()));
    let i = client
        .post(&format!("/images/prune{}", query(&iq)), None)
        .await?;
    crate::image::print_image_deletes(&mut o, i.get("ImagesDeleted"), true)?;
    total += i.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    if let Ok(b) = client.post("/build/prune", None).await {
        total += b.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    }
    writeln!(o, "Total reclaimed space: {}", human_size(total as f64))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_layout() {
        let cv = json!({"Platform": {"Name": ""}, "Version": "28.2.2", "ApiVersion": "1.41",
            "DefaultAPIVersion": "1.50", "GitCommit": "e6534b4", "GoVersion": "go1.24.3",
            "Os": "linux", "Arch": "amd64", "BuildTime": "Fri May 30 12:07:14 2025", "Context": "default"});
        let sv = json!({"Components": [
            {"Name": "Engine", "Version": "20.10.24+dfsg1", "Details": {"ApiVersion": "1.41", "MinAPIVersion": "1.12",
              "GoVersion": "go1.19.8", "GitCommit": "5d6db84", "BuildTime": "Thu May  7 21:09:36 2026", "Os": "linux", "Arch": "amd64", "Experimental": "false"}},
            {"Name": "runc", "Version": "1.1.5+ds1", "Details": {"GitCommit": "1.1.5+ds1-1+deb12u1"}}]});
        let text = version_text(&cv, Some(&sv)).unwrap_or_default();
        let expected = "Client:
 Version:           28.2.2
 API version:       1.41 (downgraded from 1.50)
 Go version:        go1.24.3
 Git commit:        e6534b4
 Built:             Fri May 30 12:07:14 2025
 OS/Arch:           linux/amd64
 Context:           default

Server:
 Engine:
  Version:          20.10.24+dfsg1
  API version:      1.41 (minimum version 1.12)
  Go version:       go1.19.8
  Git commit:       5d6db84
  Built:            Thu May  7 21:09:36 2026
  OS/Arch:          linux/amd64
  Experimental:     false
 runc:
  Version:          1.1.5+ds1
  GitCommit:        1.1.5+ds1-1+deb12u1
";
        assert_eq!(text, expected);
    }

    #[test]
    fn event_lines() {
        let ev = json!({"Type": "container", "Action": "start", "Actor": {"ID": "abc", "Attributes": {"name": "x", "image": "bb"}}, "time": 0, "timeNano": 0});
        assert!(event_line(&ev).ends_with(" container start abc (image=bb, name=x)"));
    }
}
