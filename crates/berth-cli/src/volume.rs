//! Volume commands: volume create, ls, inspect, rm, prune.

use std::collections::BTreeMap;
use std::io::Write;

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Client, esc, query};
use crate::container::{filters_json, pretty_json};
use crate::error::{CliError, Result};
use crate::format::{ListFormat, Tmpl, go_json, human_size};

/// `docker volume create`.
#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long)]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long, hide = true)]
    pub name: Option<String>,
    /// Volume name (at most one; counted by the command for Docker's error text).
    #[arg(value_name = "VOLUME")]
    pub volume: Vec<String>,
}

/// `docker volume ls`.
#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Display only cluster volumes, and use cluster volume list formatting
    #[arg(long)]
    pub cluster: bool,
    /// Unexpected positional arguments (rejected with Docker's text).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `docker volume inspect`.
#[derive(Debug, Args)]
pub struct VolumeInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Volumes.
    #[arg(value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

/// `docker volume rm`.
#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Volumes.
    #[arg(value_name = "VOLUME")]
    pub volumes: Vec<String>,
}

/// `docker volume prune`.
#[derive(Debug, Args)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Unexpected positional arguments (rejected with Docker's text).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// Docker's `ConvertKVStringsToMap`: `k=v` → k:v, a bare `k` → k:"".
pub fn kv_map(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// Go's `sortorder.NaturalLess`: digit runs compare numerically and sort before other bytes.
pub fn natural_less(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            return da;
        }
        if !da {
            if a[i] != b[j] {
                return a[i] < b[j];
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (ni, nj) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (ra, rb) = (&a[ni..i], &b[nj..j]);
        if ra.len() != rb.len() {
            return ra.len() < rb.len();
        }
        if ra != rb {
            return ra < rb;
        }
        // Same value: the one with fewer leading zeros sorts first.
        if ni != nj {
            return ni < nj;
        }
    }
    a.len() < b.len()
}

/// Sorts JSON objects by their `Name` in natural order, as the docker CLI lists do.
pub fn sort_by_name(items: &mut [Value]) {
    items.sort_by(|x, y| {
        let n = |v: &Value| {
            v.get("Name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (a, b) = (n(x), n(y));
        if natural_less(&a, &b) {
            std::cmp::Ordering::Less
        } else if natural_less(&b, &a) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
}

/// Joins a JSON label map as `k=v,k2=v2` (sorted for stable output).
pub fn join_labels(labels: Option<&Value>) -> String {
    labels
        .and_then(Value::as_object)
        .map(|m| {
            let mut v: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            v.sort();
            v.join(",")
        })
        .unwrap_or_default()
}

const VOLUME_HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("Group", "GROUP"),
    ("Availability", "AVAILABILITY"),
    ("Status", "STATUS"),
];

/// The `docker volume ls` row (template fields) of one volume.
pub fn volume_row(v: &Value) -> BTreeMap<String, String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut r = BTreeMap::new();
    r.insert("Name".to_string(), s("Name"));
    r.insert("Driver".into(), s("Driver"));
    r.insert("Scope".into(), s("Scope"));
    r.insert("Mountpoint".into(), s("Mountpoint"));
    r.insert("Labels".into(), join_labels(v.get("Labels")));
    let usage = v.get("UsageData").filter(|u| u.is_object());
    let num = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_i64);
    r.insert(
        "Links".into(),
        num("RefCount").map_or_else(|| "N/A".into(), |n| n.to_string()),
    );
    r.insert(
        "Size".into(),
        num("Size").map_or_else(|| "N/A".into(), |n| human_size(n as f64)),
    );
    // Swarm cluster volumes are not supported: these columns are always N/A.
    for k in ["Group", "Availability", "Status"] {
        r.insert(k.into(), "N/A".into());
    }
    r
}

/// The request body of `volume create`.
pub fn volume_create_body(a: &VolumeCreateArgs) -> Result<Value> {
    check_args(
        "volume create",
        "[OPTIONS] [VOLUME]",
        a.volume.len(),
        Arity::AtMost(1),
    )?;
    let name = match (&a.name, a.volume.first()) {
        (Some(_), Some(_)) => {
            return Err(CliError::invalid(
                "conflicting options: cannot specify a volume-name through both --name and as a positional arg",
            ));
        }
        (Some(n), None) | (None, Some(n)) => n.clone(),
        (None, None) => String::new(),
    };
    Ok(json!({
        "Name": name,
        "Driver": a.driver,
        "DriverOpts": kv_map(&a.opt),
        "Labels": kv_map(&a.label),
    }))
}

/// `docker volume create`.
pub async fn volume_create(client: &Client, a: VolumeCreateArgs) -> Result<u8> {
    let body = volume_create_body(&a)?;
    let v = client.post("/volumes/create", Some(&body)).await?;
    println!("{}", v.get("Name").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

/// The effective `volume ls` template.
pub fn volume_ls_format(quiet: bool, format: Option<&str>) -> String {
    // A custom --format wins over -q; -q only replaces the default table.
    match format {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ if quiet => "{{.Name}}".to_string(),
        _ => "table {{.Driver}}\t{{.Name}}".to_string(),
    }
}

/// `docker volume ls`.
pub async fn volume_ls(client: &Client, a: VolumeLsArgs) -> Result<u8> {
    check_filters("volume ls", "[OPTIONS]", "-f, --filter", &a.filter)?;
    check_args("volume ls", "[OPTIONS]", a.args.len(), Arity::None)?;
    let lf = ListFormat::new(&volume_ls_format(a.quiet, a.format.as_deref()))?;
    let mut q = Vec::new();
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let v = client.get(&format!("/volumes{}", query(&q))).await?;
    let mut vols: Vec<Value> = v
        .get("Volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if a.cluster {
        vols.retain(|v| v.get("ClusterVolume").is_some_and(|c| !c.is_null()));
    }
    sort_by_name(&mut vols);
    let rows: Vec<_> = vols.iter().map(volume_row).collect();
    lf.write(&mut std::io::stdout().lock(), VOLUME_HEADERS, &rows)?;
    Ok(0)
}

/// How many positional arguments a command takes (cobra's `cli.RequiresMaxArgs` & co).
#[derive(Debug, Clone, Copy)]
pub enum Arity {
    /// `cli.NoArgs`.
    None,
    /// `cli.ExactArgs(n)`.
    Exact(usize),
    /// `cli.RequiresMinArgs(n)`.
    AtLeast(usize),
    /// `cli.RequiresMaxArgs(n)`.
    AtMost(usize),
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "argument" } else { "arguments" }
}

/// Checks the positional argument count, failing with the docker CLI's text and exit 1.
/// `cmd` is e.g. `volume create`, `usage` the usage line after `docker cmd`.
pub fn check_args(cmd: &str, usage: &str, n: usize, arity: Arity) -> Result<()> {
    // The trailing hint words differ per validator in docker v28 ("SRun" is verbatim).
    let (what, hint) = match arity {
        Arity::None if n > 0 => ("accepts no arguments".to_string(), "Run"),
        Arity::Exact(k) if n != k => (format!("requires {k} {}", plural(k)), "Run"),
        Arity::AtLeast(k) if n < k => (format!("requires at least {k} {}", plural(k)), "See"),
        Arity::AtMost(k) if n > k => (format!("requires at most {k} {}", plural(k)), "SRun"),
        _ => return Ok(()),
    };
    Err(CliError::Status {
        message: format!(
            "docker: 'docker {cmd}' {what}\n\nUsage:  docker {cmd} {usage}\n\n{hint} 'docker {cmd} --help' for more information"
        ),
        code: 1,
    })
}

/// Validates `name=value` filter flags the way Docker's flag parser does (exit 125 with usage).
/// `flag` is how Docker names the flag (`-f, --filter` or `--filter`).
pub fn check_filters(cmd: &str, usage: &str, flag: &str, filters: &[String]) -> Result<()> {
    match filters.iter().find(|f| !f.contains('=')) {
        Some(bad) => Err(CliError::Status {
            message: format!(
                "invalid argument \"{bad}\" for \"{flag}\" flag: bad format of filter (expected name=value)\n\nUsage:  docker {cmd} {usage}\n\nRun 'docker {cmd} --help' for more information"
            ),
            code: 125,
        }),
        None => Ok(()),
    }
}

/// Replaces JSON `null` at the given top-level or `/`-separated keys with `{}` so that a Go
/// template prints `map[]` for them, as the typed Go structs (nil maps) do.
pub fn nil_maps(v: &Value, keys: &[&str]) -> Value {
    let mut v = v.clone();
    for k in keys {
        let ptr = format!("/{k}");
        if let Some(x) = v.pointer_mut(&ptr)
            && x.is_null()
        {
            *x = json!({});
        }
    }
    v
}

/// Prints `volume`/`network inspect` results: pretty JSON array by default, one compact JSON
/// array for `json`, else the template per item (an empty line when nothing was found).
pub fn print_inspect_items(
    w: &mut dyn Write,
    items: &[Value],
    format: Option<&str>,
    map_keys: &[&str],
) -> Result<()> {
    match format {
        None | Some("") => writeln!(w, "{}", pretty_json(&Value::Array(items.to_vec())))?,
        Some("json") => writeln!(w, "{}", go_json(&Value::Array(items.to_vec())))?,
        Some(f) => {
            let t = Tmpl::parse(f)?;
            if items.is_empty() {
                writeln!(w)?;
            }
            for it in items {
                writeln!(w, "{}", t.render_json(&nil_maps(it, map_keys))?)?;
            }
        }
    }
    Ok(())
}

/// `docker volume inspect`.
pub async fn volume_inspect(client: &Client, a: VolumeInspectArgs) -> Result<u8> {
    check_args(
        "volume inspect",
        "[OPTIONS] VOLUME [VOLUME...]",
        a.volumes.len(),
        Arity::AtLeast(1),
    )?;
    let mut items = Vec::new();
    let mut errs = Vec::new();
    for n in &a.volumes {
        match client.get(&format!("/volumes/{}", esc(n))).await {
            Ok(v) => items.push(v),
            Err(e) => errs.push(e.to_string()),
        }
    }
    print_inspect_items(
        &mut std::io::stdout().lock(),
        &items,
        a.format.as_deref(),
        &["Labels", "Options"],
    )?;
    multi_result(errs)
}

/// Turns collected per-target errors into Docker's exit status 1 (one line each).
pub fn multi_result(errs: Vec<String>) -> Result<u8> {
    if errs.is_empty() {
        Ok(0)
    } else {
        Err(CliError::Status {
            message: errs.join("\n"),
            code: 1,
        })
    }
}

/// `docker volume rm`.
pub async fn volume_rm(client: &Client, a: VolumeRmArgs) -> Result<u8> {
    check_args(
        "volume rm",
        "[OPTIONS] VOLUME [VOLUME...]",
        a.volumes.len(),
        Arity::AtLeast(1),
    )?;
    let q = if a.force {
        vec![("force", "1".to_string())]
    } else {
        Vec::new()
    };
    let mut errs = Vec::new();
    for n in &a.volumes {
        match client
            .delete(&format!("/volumes/{}{}", esc(n), query(&q)))
            .await
        {
            Ok(_) => println!("{n}"),
            Err(e) => errs.push(e.to_string()),
        }
    }
    multi_result(errs)
}

/// Whether API version `v` (e.g. `1.41`) is older than `min`.
pub fn api_before(v: &str, min: (u32, u32)) -> bool {
    let parsed = v
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    parsed.is_some_and(|p| p < min)
}

/// The `filters` query of `volume prune` (adds `all=true` for `--all`).
pub fn volume_prune_filters(a: &VolumePruneArgs) -> Result<Option<String>> {
    let mut fm: BTreeMap<String, BTreeMap<String, bool>> = filters_json(&a.filter)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    if a.all {
        if fm.contains_key("all") {
            return Err(CliError::invalid(
                "conflicting options: cannot specify both --all and --filter all=1",
            ));
        }
        fm.entry("all".into())
            .or_default()
            .insert("true".into(), true);
    }
    if fm.is_empty() {
        return Ok(None);
    }
    Ok(Some(serde_json::to_string(&fm).unwrap_or_default()))
}

/// Writes a prune report's `Deleted <what>:` list followed by a blank line (nothing if empty).
pub fn print_deleted(w: &mut dyn Write, what: &str, ids: Option<&Value>) -> Result<()> {
    if let Some(ids) = ids.and_then(Value::as_array).filter(|a| !a.is_empty()) {
        writeln!(w, "Deleted {what}:")?;
        for id in ids.iter().filter_map(Value::as_str) {
            writeln!(w, "{id}")?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// `docker volume prune`.
pub async fn volume_prune(client: &Client, a: VolumePruneArgs) -> Result<u8> {
    check_filters("volume prune", "[OPTIONS]", "--filter", &a.filter)?;
    check_args("volume prune", "[OPTIONS]", a.args.len(), Arity::None)?;
    let old_api = api_before(client.version(), (1, 42));
    if a.all && old_api {
        return Err(CliError::invalid(format!(
            "\"--all\" requires API version 1.42, but the Docker daemon API version is {}",
            client.version()
        )));
    }
    let filters = volume_prune_filters(&a)?;
    // Before API 1.42 the daemon prunes named volumes too, so Docker warns about all of them.
    let msg = if a.all || old_api {
        "WARNING! This will remove all local volumes not used by at least one container.\n"
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container.\n"
    };
    if !a.force && !crate::image::confirm(msg)? {
        // Docker v28 cancels silently with exit 0.
        return Ok(0);
    }
    let mut q = Vec::new();
    if let Some(f) = filters {
        q.push(("filters", f));
    }
    let v = client
        .post(&format!("/volumes/prune{}", query(&q)), None)
        .await?;
    let mut o = std::io::stdout().lock();
    print_deleted(&mut o, "Volumes", v.get("VolumesDeleted"))?;
    let total = v.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    writeln!(o, "Total reclaimed space: {}", human_size(total as f64))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arity_and_inspect() {
        let e = check_args("volume create", "[OPTIONS] [VOLUME]", 2, Arity::AtMost(1));
        assert_eq!(
            e.err().map(|e| e.to_string()).unwrap_or_default(),
            "docker: 'docker volume create' requires at most 1 argument\n\nUsage:  docker volume create [OPTIONS] [VOLUME]\n\nSRun 'docker volume create --help' for more information"
        );
        assert!(check_args("x", "", 1, Arity::AtMost(1)).is_ok());
        assert!(check_args("x", "", 0, Arity::AtLeast(1)).is_err());
        assert!(check_args("x", "", 1, Arity::Exact(2)).is_err());
        assert!(check_args("x", "", 1, Arity::None).is_err());
        assert!(api_before("1.41", (1, 42)));
        assert!(!api_before("1.50", (1, 42)));
        let items = vec![json!({"Name": "tvol", "Labels": null, "Options": {"o": "x"}})];
        let render = |f: Option<&str>, items: &[Value]| {
            let mut o = Vec::new();
            assert!(print_inspect_items(&mut o, items, f, &["Labels", "Options"]).is_ok());
            String::from_utf8_lossy(&o).into_owned()
        };
        assert_eq!(
            render(Some("{{.Name}} {{.Labels}}"), &items),
            "tvol map[]\n"
        );
        assert_eq!(render(Some("{{.Name}}"), &[]), "\n");
        assert_eq!(render(Some("json"), &[]), "[]\n");
        assert_eq!(render(None, &[]), "[]\n");
        assert_eq!(
            render(Some("json"), &items),
            "[{\"Name\":\"tvol\",\"Labels\":null,\"Options\":{\"o\":\"x\"}}]\n"
        );
    }

    #[test]
    fn natural_order() {
        assert!(natural_less("a2", "a10"));
        assert!(!natural_less("a10", "a2"));
        assert!(natural_less("a", "b"));
        assert!(natural_less("a", "ab"));
        assert!(!natural_less("a", "a"));
        assert!(natural_less("v1a", "v01"));
        assert!(natural_less("1", "a"));
        assert!(natural_less("v1", "v01"));
        let mut items = vec![
            json!({"Name": "n10"}),
            json!({"Name": "n9"}),
            json!({"Name": "m"}),
        ];
        sort_by_name(&mut items);
        let names: Vec<_> = items
            .iter()
            .map(|v| v["Name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, vec!["m", "n9", "n10"]);
    }

    #[test]
    fn create_body() {
        let a = VolumeCreateArgs {
            driver: "local".into(),
            label: vec!["k=v".into(), "bare".into()],
            opt: vec!["type=tmpfs".into(), "o=size=1m".into()],
            name: None,
            volume: vec!["myvol".into()],
        };
        let b = volume_create_body(&a).unwrap_or_default();
        assert_eq!(
            b,
            json!({"Name": "myvol", "Driver": "local",
                "DriverOpts": {"type": "tmpfs", "o": "size=1m"}, "Labels": {"k": "v", "bare": ""}})
        );
        let both = VolumeCreateArgs {
            name: Some("x".into()),
            ..a
        };
        assert!(volume_create_body(&both).is_err());
    }

    #[test]
    fn ls_table() {
        let vols = [
            json!({"Name": "myvol", "Driver": "local", "Scope": "local", "Labels": {"k": "v", "a": "b"}, "Mountpoint": "/m"}),
            json!({"Name": "v2", "Driver": "local", "Scope": "local", "Labels": null, "UsageData": {"RefCount": 2, "Size": 1200000}}),
        ];
        let rows: Vec<_> = vols.iter().map(volume_row).collect();
        assert_eq!(rows[0]["Labels"], "a=b,k=v");
        assert_eq!(rows[0]["Links"], "N/A");
        assert_eq!(rows[1]["Links"], "2");
        assert_eq!(rows[1]["Size"], "1.2MB");
        let mut out = Vec::new();
        let lf = ListFormat::new(&volume_ls_format(false, None));
        assert!(lf.is_ok());
        if let Ok(lf) = lf {
            assert!(lf.write(&mut out, VOLUME_HEADERS, &rows).is_ok());
        }
        assert_eq!(
            String::from_utf8_lossy(&out),
            "DRIVER    VOLUME NAME\nlocal     myvol\nlocal     v2\n"
        );
        assert_eq!(volume_ls_format(true, Some("{{.Driver}}")), "{{.Driver}}");
        assert_eq!(volume_ls_format(true, Some("table")), "{{.Name}}");
        assert_eq!(volume_ls_format(false, Some("{{.Driver}}")), "{{.Driver}}");
    }

    #[test]
    fn prune_filters() {
        let a = VolumePruneArgs {
            all: true,
            filter: vec!["label=x".into()],
            force: true,
            args: vec![],
        };
        assert_eq!(
            volume_prune_filters(&a).ok().flatten().as_deref(),
            Some(r#"{"all":{"true":true},"label":{"x":true}}"#)
        );
        let a = VolumePruneArgs {
            all: true,
            filter: vec!["all=1".into()],
            force: true,
            args: vec![],
        };
        assert!(volume_prune_filters(&a).is_err());
        let a = VolumePruneArgs {
            all: false,
            filter: vec![],
            force: true,
            args: vec![],
        };
        assert_eq!(volume_prune_filters(&a).ok().flatten(), None);
        let mut o = Vec::new();
        assert!(print_deleted(&mut o, "Volumes", Some(&json!(["a", "b"]))).is_ok());
        assert_eq!(String::from_utf8_lossy(&o), "Deleted Volumes:\na\nb\n\n");
    }
}
