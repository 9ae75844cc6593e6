//! Image commands: images, import, tag, rmi, image inspect, history, image prune, save, load.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use clap::Args;
use http::Method;
use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use crate::client::{Client, Reader, empty_body, esc, query, reader_body};
use crate::container::{ellipsis, filters_json, print_inspect};
use crate::error::{CliError, Result};
use crate::format::{
    ListFormat, go_time_string, human_duration, human_size, human_size_prec, since,
};

/// `docker images` / `docker image ls`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Repository (and optional tag) to list.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `docker import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long)]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// file|URL|- to import.
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    /// Repository and tag for the new image.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

/// `docker tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Source image.
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    /// Target reference.
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

/// `docker rmi`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// Images.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// `docker image inspect`.
#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Images.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// `docker history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Image.
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

/// `docker image prune` / `docker container prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
}

/// `docker save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    pub output: Option<String>,
    /// Images.
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

/// `docker load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    pub input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

fn short_image_id(id: &str) -> String {
    id.strip_prefix("sha256:")
        .unwrap_or(id)
        .chars()
        .take(12)
        .collect()
}

/// Splits `name[:tag]` into (repository, tag) the way `docker tag` does.
pub fn split_repo_tag(s: &str) -> (String, String) {
    if let Some((repo, dig)) = s.split_once('@') {
        return (repo.to_string(), dig.to_string());
    }
    match s.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_string(), tag.to_string()),
        _ => (s.to_string(), String::new()),
    }
}

fn familiar(name: &str) -> String {
    match berth_core::Reference::parse(name) {
        Ok(r) => r.familiar_repository(),
        Err(_) => name.to_string(),
    }
}

const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "SIZE"),
];

/// The `docker images` rows of one image summary.
pub fn image_rows(img: &Value, trunc: bool) -> Vec<BTreeMap<String, String>> {
    let id = img.get("Id").and_then(Value::as_str).unwrap_or("");
    let created = img.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let size = img.get("Size").and_then(Value::as_i64).unwrap_or(0);
    let n_or = |k: &str| match img.get(k).and_then(Value::as_i64) {
        Some(n) if n >= 0 => n,
        _ => -1,
    };
    let mut base = BTreeMap::new();
    base.insert(
        "ID".to_string(),
        if trunc {
            short_image_id(id)
        } else {
            id.to_string()
        },
    );
    base.insert(
        "CreatedSince".into(),
        format!("{} ago", human_duration(since(created))),
    );
    base.insert("CreatedAt".into(), go_time_string(created));
    base.insert("Size".into(), human_size_prec(size as f64, 3));
    base.insert("VirtualSize".into(), human_size(size as f64));
    let containers = n_or("Containers");
    base.insert(
        "Containers".into(),
        if containers < 0 {
            "N/A".into()
        } else {
            containers.to_string()
        },
    );
    let shared = n_or("SharedSize");
    base.insert(
        "SharedSize".into(),
        if shared < 0 {
            "N/A".into()
        } else {
            human_size_prec(shared as f64, 3)
        },
    );
    base.insert(
        "UniqueSize".into(),
        if shared < 0 {
            "N/A".into()
        } else {
            human_size_prec((size - shared) as f64, 3)
        },
    );

    let strs = |k: &str| -> Vec<String> {
        img.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut tags: Vec<(String, String)> = Vec::new();
    for t in strs("RepoTags") {
        if t == "<none>:<none>" {
            continue;
        }
        let (r, tag) = split_repo_tag(&t);
        tags.push((familiar(&r), tag));
    }
    let mut digests: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in strs("RepoDigests") {
        if d == "<none>@<none>" {
            continue;
        }
        if let Some((r, dg)) = d.split_once('@') {
            digests.entry(familiar(r)).or_default().push(dg.to_string());
        }
    }
    let mut rows = Vec::new();
    let mut row = |repo: &str, tag: &str, digest: &str| {
        let mut r = base.clone();
        r.insert("Repository".into(), repo.to_string());
        r.insert("Tag".into(), tag.to_string());
        r.insert("Digest".into(), digest.to_string());
        rows.push(r);
    };
    for (repo, tag) in &tags {
        let d = digests
            .get(repo)
            .and_then(|d| d.first())
            .cloned()
            .unwrap_or_else(|| "<none>".into());
        row(repo, tag, &d);
    }
    for (repo, ds) in &digests {
        if tags.iter().any(|(r, _)| r == repo) {
            continue;
        }
        for d in ds {
            row(repo, "<none>", d);
        }
    }
    if tags.is_empty() && digests.is_empty() {
        row("<none>", "<none>", "<none>");
    }
    rows
}

/// `docker images`.
pub async fn images(client: &Client, a: ImagesArgs) -> Result<u8> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let mut q = Vec::new();
    if a.all {
        q.push(("all", "1".to_string()));
    }
    if let Some(f) = filters_json(&filters)? {
        q.push(("filters", f));
    }
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match &a.format {
            Some(f) if !f.is_empty() && f != "table" => f.clone(),
            _ if a.digests => "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into(),
            _ => "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into(),
        }
    };
    let lf = ListFormat::new(&format)?;
    let list = client.get(&format!("/images/json{}", query(&q))).await?;
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for img in list.as_array().map(|a| a.as_slice()).unwrap_or_default() {
        for r in image_rows(img, !a.no_trunc) {
            if a.quiet && !seen.insert(r.get("ID").cloned().unwrap_or_default()) {
                continue;
            }
            rows.push(r);
        }
    }
    lf.write(&mut std::io::stdout().lock(), IMAGE_HEADERS, &rows)?;
    Ok(0)
}

async fn open_input(path: Option<&str>) -> Result<crate::client::Body> {
    match path {
        None | Some("-") => Ok(reader_body(tokio::io::stdin())),
        Some(p) => {
            let f = tokio::fs::File::open(p)
                .await
                .map_err(|e| CliError::invalid(format!("open {p}: {}", crate::opts::io_msg(&e))))?;
            Ok(reader_body(f))
        }
    }
}

/// Reads a JSON-message stream, printing `stream`/`status` text; fails on `error`.
async fn print_json_messages(reader: Reader, w: &mut dyn Write) -> Result<()> {
    let mut lines = tokio::io::BufReader::new(reader).lines();
    while let Some(line) = lines.next_line().await? {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(e) = v
            .pointer("/errorDetail/message")
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
        {
            return Err(CliError::Status {
                message: e.to_string(),
                code: 1,
            });
        }
        if let Some(s) = v.get("stream").and_then(Value::as_str) {
            write!(w, "{s}")?;
        } else if let Some(s) = v.get("status").and_then(Value::as_str) {
            match v.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => writeln!(w, "{id}: {s}")?,
                _ => writeln!(w, "{s}")?,
            }
        }
    }
    Ok(())
}

/// `docker import`.
pub async fn import(client: &Client, a: ImportArgs) -> Result<u8> {
    let mut q = Vec::new();
    let is_url = a.source.starts_with("http://") || a.source.starts_with("https://");
    q.push((
        "fromSrc",
        if is_url {
            a.source.clone()
        } else {
            "-".to_string()
        },
    ));
    if let Some(r) = &a.reference {
        if let Err(e) = berth_core::Reference::parse(r) {
            return Err(CliError::invalid(e.to_string()));
        }
        q.push(("repo", r.clone()));
    }
    if let Some(m) = &a.message {
        q.push(("message", m.clone()));
    }
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    let body = if is_url {
        empty_body()
    } else {
        open_input(Some(&a.source)).await?
    };
    let reader = client
        .stream(
            Method::POST,
            &format!("/images/create{}", query(&q)),
            body,
            Some("application/x-tar"),
        )
        .await?;
    print_json_messages(reader, &mut std::io::stdout().lock()).await?;
    Ok(0)
}

/// `docker tag`.
pub async fn tag(client: &Client, a: TagArgs) -> Result<u8> {
    if let Err(e) = berth_core::Reference::parse(&a.target) {
        return Err(CliError::invalid(e.to_string()));
    }
    let (repo, tag) = split_repo_tag(&a.target);
    let mut q = vec![("repo", repo)];
    if !tag.is_empty() {
        q.push(("tag", tag));
    }
    client
        .post(
            &format!("/images/{}/tag{}", esc(&a.source), query(&q)),
            None,
        )
        .await?;
    Ok(0)
}

/// Prints `Untagged:`/`Deleted:` lines (lower case for prune output, as Docker).
pub fn print_image_deletes(w: &mut dyn Write, items: Option<&Value>, prune: bool) -> Result<()> {
    let Some(items) = items.and_then(Value::as_array).filter(|a| !a.is_empty()) else {
        return Ok(());
    };
    if prune {
        writeln!(w, "Deleted Images:")?;
    }
    for it in items {
        if let Some(u) = it.get("Untagged").and_then(Value::as_str) {
            writeln!(w, "{}: {u}", if prune { "untagged" } else { "Untagged" })?;
        }
        if let Some(d) = it.get("Deleted").and_then(Value::as_str) {
            writeln!(w, "{}: {d}", if prune { "deleted" } else { "Deleted" })?;
        }
    }
    if prune {
        writeln!(w)?;
    }
    Ok(())
}

/// `docker rmi`.
pub async fn rmi(client: &Client, a: RmiArgs) -> Result<u8> {
    let mut errs = Vec::new();
    for img in &a.images {
        let mut q = Vec::new();
        if a.force {
            q.push(("force", "1".to_string()));
        }
        if a.no_prune {
            q.push(("noprune", "1".to_string()));
        }
        match client
            .delete(&format!("/images/{}{}", esc(img), query(&q)))
            .await
        {
            Ok(v) => print_image_deletes(&mut std::io::stdout().lock(), Some(&v), false)?,
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

/// `docker image inspect`.
pub async fn image_inspect(client: &Client, a: ImageInspectArgs) -> Result<u8> {
    let mut items = Vec::new();
    let mut errs = Vec::new();
    for i in &a.images {
        match client.get(&format!("/images/{}/json", esc(i))).await {
            Ok(v) => items.push(v),
            Err(e) => errs.push(e.to_string()),
        }
    }
    if !(items.is_empty() && a.format.is_some()) {
        print_inspect(&items, &a.format)?;
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

/// The `docker history` rows.
pub fn history_rows(items: &[Value], human: bool, trunc: bool) -> Vec<BTreeMap<String, String>> {
    items
        .iter()
        .map(|h| {
            let mut r = BTreeMap::new();
            let id = h.get("Id").and_then(Value::as_str).unwrap_or("<missing>");
            r.insert(
                "ID".to_string(),
                if trunc && id != "<missing>" {
                    short_image_id(id)
                } else {
                    id.to_string()
                },
            );
            let created = h.get("Created").and_then(Value::as_i64).unwrap_or(0);
            r.insert(
                "CreatedSince".into(),
                if human {
                    format!("{} ago", human_duration(since(created)))
                } else {
                    chrono::DateTime::from_timestamp(created, 0)
                        .map(|t| {
                            t.with_timezone(&chrono::Local)
                                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        })
                        .unwrap_or_default()
                },
            );
            r.insert("CreatedAt".into(), go_time_string(created));
            let by = h
                .get("CreatedBy")
                .and_then(Value::as_str)
                .unwrap_or("")
                .replace('\t', " ");
            r.insert(
                "CreatedBy".into(),
                if trunc { ellipsis(&by, 45) } else { by },
            );
            let size = h.get("Size").and_then(Value::as_i64).unwrap_or(0);
            r.insert(
                "Size".into(),
                if human {
                    human_size_prec(size as f64, 3)
                } else {
                    size.to_string()
                },
            );
            r.insert(
                "Comment".into(),
                h.get("Comment")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            );
            r
        })
        .collect()
}

/// `docker history`.
pub async fn history(client: &Client, a: HistoryArgs) -> Result<u8> {
    let v = client
        .get(&format!("/images/{}/history", esc(&a.image)))
        .await?;
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match &a.format {
            Some(f) if !f.is_empty() && f != "table" => f.clone(),
            _ => "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into(),
        }
    };
    let lf = ListFormat::new(&format)?;
    let rows = history_rows(
        v.as_array().map(|a| a.as_slice()).unwrap_or_default(),
        a.human,
        !a.no_trunc,
    );
    lf.write(
        &mut std::io::stdout().lock(),
        &[
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedBy", "CREATED BY"),
            ("Size", "SIZE"),
            ("Comment", "COMMENT"),
        ],
        &rows,
    )?;
    Ok(0)
}

/// Asks `msg` + `Are you sure you want to continue? [y/N] ` on stdin.
pub fn confirm(msg: &str) -> Result<bool> {
    let mut o = std::io::stdout().lock();
    write!(o, "{msg}Are you sure you want to continue? [y/N] ")?;
    o.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y"))
}

/// `docker image prune`.
pub async fn image_prune(client: &Client, a: PruneArgs) -> Result<u8> {
    let msg = if a.all {
        "WARNING! This will remove all images without at least one container associated to them.\n"
    } else {
        "WARNING! This will remove all dangling images.\n"
    };
    if !a.force && !confirm(msg)? {
        return Ok(0);
    }
    let mut fm: BTreeMap<String, BTreeMap<String, bool>> = filters_json(&a.filter)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    fm.entry("dangling".into())
        .or_default()
        .insert((!a.all).to_string(), true);
    let q = vec![("filters", serde_json::to_string(&fm).unwrap_or_default())];
    let v = client
        .post(&format!("/images/prune{}", query(&q)), None)
        .await?;
    let mut o = std::io::stdout().lock();
    print_image_deletes(&mut o, v.get("ImagesDeleted"), true)?;
    let total = v.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    writeln!(o, "Total reclaimed space: {}", human_size(total as f64))?;
    Ok(0)
}

/// `docker container prune`.
pub async fn container_prune(client: &Client, a: PruneArgs) -> Result<u8> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.\n")? {
        return Ok(0);
    }
    let mut q = Vec::new();
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let v = client
        .post(&format!("/containers/prune{}", query(&q)), None)
        .await?;
    let mut o = std::io::stdout().lock();
    if let Some(ids) = v
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
    let total = v.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    writeln!(o, "Total reclaimed space: {}", human_size(total as f64))?;
    Ok(0)
}

/// Copies a response stream to a file or stdout (refusing a terminal, as Docker).
pub async fn write_stream_out(reader: Reader, output: Option<&str>, what: &str) -> Result<()> {
    let mut reader = reader;
    match output {
        Some(p) if p != "-" => {
            let mut f = tokio::fs::File::create(p).await.map_err(|e| {
                CliError::invalid(format!(
                    "failed to save image: invalid output path: {}",
                    crate::opts::io_msg(&e)
                ))
            })?;
            tokio::io::copy(&mut reader, &mut f).await?;
            use tokio::io::AsyncWriteExt;
            f.flush().await?;
        }
        _ => {
            if std::io::stdout().is_terminal() {
                return Err(CliError::invalid(format!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect{what}"
                )));
            }
            let mut so = tokio::io::stdout();
            tokio::io::copy(&mut reader, &mut so).await?;
            use tokio::io::AsyncWriteExt;
            so.flush().await?;
        }
    }
    Ok(())
}

/// `docker save`.
pub async fn save(client: &Client, a: SaveArgs) -> Result<u8> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::invalid(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let q: Vec<(&str, String)> = a.images.iter().map(|i| ("names", i.clone())).collect();
    let reader = client
        .stream(
            Method::GET,
            &format!("/images/get{}", query(&q)),
            empty_body(),
            None,
        )
        .await?;
    write_stream_out(reader, a.output.as_deref(), "").await?;
    Ok(0)
}

/// `docker load`.
pub async fn load(client: &Client, a: LoadArgs) -> Result<u8> {
    if a.input.is_none() && std::io::stdin().is_terminal() {
        return Err(CliError::invalid(
            "requested load from stdin, but stdin is empty",
        ));
    }
    let body = open_input(a.input.as_deref()).await?;
    let q = if a.quiet {
        vec![("quiet", "1".to_string())]
    } else {
        Vec::new()
    };
    let reader = client
        .stream(
            Method::POST,
            &format!("/images/load{}", query(&q)),
            body,
            Some("application/x-tar"),
        )
        .await?;
    print_json_messages(reader, &mut std::io::stdout().lock()).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repo_tag_split() {
        assert_eq!(split_repo_tag("bb"), ("bb".into(), "".into()));
        assert_eq!(split_repo_tag("bb:1"), ("bb".into(), "1".into()));
        assert_eq!(
            split_repo_tag("host:5000/bb"),
            ("host:5000/bb".into(), "".into())
        );
        assert_eq!(
            split_repo_tag("host:5000/bb:2"),
            ("host:5000/bb".into(), "2".into())
        );
    }

    #[test]
    fn rows_of_images() {
        let img = json!({"Id": "sha256:1886ea272e501bfb6b86586d080a2ce721904c107c54d094a88395fba83ee627",
            "RepoTags": ["bb:latest"], "RepoDigests": [], "Created": 0, "Size": 1984000, "Containers": -1, "SharedSize": -1});
        let rows = image_rows(&img, true);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["Repository"], "bb");
        assert_eq!(rows[0]["Tag"], "latest");
        assert_eq!(rows[0]["ID"], "1886ea272e50");
        assert_eq!(rows[0]["Size"], "1.98MB");
        assert_eq!(rows[0]["VirtualSize"], "1.984MB");
        assert_eq!(rows[0]["Digest"], "<none>");
        assert_eq!(rows[0]["Containers"], "N/A");
        let dangling = json!({"Id": "sha256:ab", "RepoTags": [], "Created": 0, "Size": 0});
        assert_eq!(image_rows(&dangling, true)[0]["Repository"], "<none>");
    }

    #[test]
    fn history_table() {
        let items = vec![
            json!({"Id": "<missing>", "Created": 0, "CreatedBy": "/bin/sh -c #(nop)  CMD [\"sh\"]", "Size": 0, "Comment": ""}),
        ];
        let r = history_rows(&items, true, true);
        assert_eq!(r[0]["ID"], "<missing>");
        assert_eq!(r[0]["Size"], "0B");
        let r = history_rows(&items, false, true);
        assert_eq!(r[0]["Size"], "0");
    }
}
