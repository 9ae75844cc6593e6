//! `docker build` with the classic builder's API (`POST /build`): client-side context tar
//! honouring `.dockerignore`, stdin contexts/Dockerfiles, stream rendering; `builder prune`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use http::Method;
use serde_json::{Map, Value, json};
use tokio::io::AsyncBufReadExt;

use crate::client::{Client, full_body, query};
use crate::container::filters_json;
use crate::error::{CliError, Result};
use crate::format::human_size;
use crate::volume::{Arity, check_args, check_filters, print_deleted};

// ---------------------------------------------------------------------------------------------
// .dockerignore

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A literal character.
    Lit(char),
    /// `*`: any run of non-`/` characters.
    Star,
    /// `?`: one non-`/` character.
    One,
    /// `[...]`: ranges, negated or not.
    Class(Vec<(char, char)>, bool),
    /// `**` at the end: anything, `/` included.
    AnyEnd,
    /// `**` (and `**/`) elsewhere: nothing, or anything ending in `/`.
    AnyDirs,
}

/// A `.dockerignore` pattern, compiled.
#[derive(Debug, Clone)]
struct Pattern {
    toks: Vec<Tok>,
    exclusion: bool,
}

/// Lexically cleans a slash path like Go's `filepath.Clean` (relative result, no leading `/`).
fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !p.starts_with('/') {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        ".".to_string()
    } else {
        out.join("/")
    }
}

fn compile(p: &str) -> Vec<Tok> {
    let cs: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        i += 1;
        match c {
            '*' if cs.get(i) == Some(&'*') => {
                i += 1;
                if cs.get(i) == Some(&'/') {
                    i += 1;
                }
                toks.push(if i >= cs.len() {
                    Tok::AnyEnd
                } else {
                    Tok::AnyDirs
                });
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '\\' => {
                if let Some(&n) = cs.get(i) {
                    toks.push(Tok::Lit(n));
                    i += 1;
                } else {
                    toks.push(Tok::Lit('\\'));
                }
            }
            '[' => {
                let mut j = i;
                let neg = matches!(cs.get(j), Some('^') | Some('!'));
                if neg {
                    j += 1;
                }
                let mut ranges = Vec::new();
                let mut closed = false;
                let mut first = true;
                while j < cs.len() {
                    let mut a = cs[j];
                    if a == ']' && !first {
                        closed = true;
                        j += 1;
                        break;
                    }
                    first = false;
                    if a == '\\' && j + 1 < cs.len() {
                        j += 1;
                        a = cs[j];
                    }
                    j += 1;
                    if cs.get(j) == Some(&'-') && cs.get(j + 1).is_some_and(|c| *c != ']') {
                        let mut b = cs[j + 1];
                        j += 2;
                        if b == '\\' && j < cs.len() {
                            b = cs[j];
                            j += 1;
                        }
                        ranges.push((a, b));
                    } else {
                        ranges.push((a, a));
                    }
                }
                if closed {
                    toks.push(Tok::Class(ranges, neg));
                    i = j;
                } else {
                    toks.push(Tok::Lit('['));
                }
            }
            c => toks.push(Tok::Lit(c)),
        }
    }
    toks
}

fn match_toks(t: &[Tok], s: &[char]) -> bool {
    let Some((first, rest)) = t.split_first() else {
        return s.is_empty();
    };
    match first {
        Tok::Lit(c) => s.first() == Some(c) && match_toks(rest, &s[1..]),
        Tok::One => s.first().is_some_and(|c| *c != '/') && match_toks(rest, &s[1..]),
        Tok::Class(ranges, neg) => {
            s.first()
                .is_some_and(|c| *c != '/' && ranges.iter().any(|(a, b)| a <= c && c <= b) != *neg)
                && match_toks(rest, &s[1..])
        }
        Tok::Star => {
            let mut k = 0;
            loop {
                if match_toks(rest, &s[k..]) {
                    return true;
                }
                if k >= s.len() || s[k] == '/' {
                    return false;
                }
                k += 1;
            }
        }
        Tok::AnyEnd => true,
        Tok::AnyDirs => {
            if match_toks(rest, s) {
                return true;
            }
            (0..s.len()).any(|k| s[k] == '/' && match_toks(rest, &s[k + 1..]))
        }
    }
}

/// Docker's `.dockerignore` matcher: patterns in order, the last match wins, `!` re-includes,
/// and a pattern matching a parent directory matches everything below it.
#[derive(Debug, Clone, Default)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
}

/// Reads `.dockerignore` text into patterns (comments and blank lines dropped, cleaned paths).
pub fn parse_dockerignore(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut p = line.trim();
        if p.is_empty() {
            continue;
        }
        let invert = p.starts_with('!');
        if invert {
            p = p[1..].trim();
        }
        let mut s = String::new();
        if !p.is_empty() {
            s = clean(p);
        }
        out.push(if invert { format!("!{s}") } else { s });
    }
    out
}

impl IgnoreMatcher {
    /// Compiles patterns as produced by [`parse_dockerignore`].
    pub fn new(patterns: &[String]) -> IgnoreMatcher {
        let patterns = patterns
            .iter()
            .filter_map(|p| {
                let (exclusion, body) = match p.strip_prefix('!') {
                    Some(b) => (true, b),
                    None => (false, p.as_str()),
                };
                if body.is_empty() {
                    return None;
                }
                Some(Pattern {
                    toks: compile(body),
                    exclusion,
                })
            })
            .collect();
        IgnoreMatcher { patterns }
    }

    /// Whether any `!` pattern exists (excluded directories must then still be walked).
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether the context-relative slash path `path` is left out of the context.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let comps: Vec<&str> = path.split('/').collect();
        let prefixes: Vec<Vec<char>> = (1..=comps.len())
            .map(|n| comps[..n].join("/").chars().collect())
            .collect();
        let mut matched = false;
        for p in &self.patterns {
            // Only a pattern that could flip the outcome needs evaluating.
            if p.exclusion != matched {
                continue;
            }
            if prefixes.iter().any(|s| match_toks(&p.toks, s)) {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

// ---------------------------------------------------------------------------------------------
// Context archive

/// Tars `dir` (uid/gid 0, lexical order), leaving out what `m` excludes except `keep` paths.
pub fn tar_context(dir: &Path, m: &IgnoreMatcher, keep: &[String]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    walk(&mut b, dir, "", m, keep)?;
    b.into_inner()
}

fn walk(
    b: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    rel: &str,
    m: &IgnoreMatcher,
    keep: &[String],
) -> std::io::Result<()> {
    let here = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names: Vec<String> = std::fs::read_dir(&here)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let full = root.join(&r);
        let meta = std::fs::symlink_metadata(&full)?;
        let excluded = m.excluded(&r) && !keep.contains(&r);
        if excluded && !(meta.is_dir() && m.has_exclusions()) {
            continue;
        }
        if !excluded {
            let mut h = tar::Header::new_gnu();
            h.set_metadata(&meta);
            h.set_uid(0);
            h.set_gid(0);
            if meta.is_dir() {
                h.set_size(0);
                b.append_data(&mut h, format!("{r}/"), std::io::empty())?;
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&full)?;
                h.set_size(0);
                b.append_link(&mut h, &r, target)?;
            } else if meta.is_file() {
                let f = std::fs::File::open(&full)?;
                b.append_data(&mut h, &r, f)?;
            }
            // Sockets, fifos and devices are skipped, as their content cannot be sent.
        }
        if meta.is_dir() {
            walk(b, root, &r, m, keep)?;
        }
    }
    Ok(())
}

/// Whether `data` starts like an archive Docker accepts as a context (tar or compressed).
pub fn is_archive(data: &[u8]) -> bool {
    let compressed: [&[u8]; 4] = [
        &[0x1f, 0x8b],
        b"BZh",
        &[0xfd, b'7', b'z', b'X', b'Z', 0x00],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    compressed.iter().any(|m| data.starts_with(m))
        || data.get(257..262).is_some_and(|m| m == b"ustar")
}

/// A tar holding `files` (name, content) with mode 0644, for stdin Dockerfiles.
pub fn tar_files(files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(now);
        b.append_data(&mut h, name, *data)?;
    }
    b.into_inner()
}

/// Appends extra files to an uncompressed tar archive (drops its end-of-archive blocks).
fn append_to_tar(mut tar: Vec<u8>, files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    // An archive ends with two zero blocks; strip trailing zero blocks before appending.
    while tar.len() >= 512 && tar[tar.len() - 512..].iter().all(|b| *b == 0) {
        tar.truncate(tar.len() - 512);
    }
    tar.extend_from_slice(&tar_files(files)?);
    Ok(tar)
}

// ---------------------------------------------------------------------------------------------
// Flags and request

/// `docker build`.
#[derive(Debug, Args, Default)]
pub struct BuildArgs {
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set build-time variables
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_delimiter = ',')]
    pub cache_from: Vec<String>,
    /// Set the parent cgroup for the "RUN" instructions during build
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Compress the build context using gzip
    #[arg(long)]
    pub compress: bool,
    /// Skip image verification (default true)
    #[arg(long = "disable-content-trust", num_args = 0..=1, require_equals = true,
        default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub disable_content_trust: Option<bool>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<String>,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Set the networking mode for the RUN instructions during build (default "default")
    #[arg(long)]
    pub network: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Set type of progress output (accepted for compatibility; the classic builder streams text)
    #[arg(long)]
    pub progress: Option<String>,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Remove intermediate containers after a successful build (default true)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new())]
    pub rm: Option<bool>,
    /// Size of "/dev/shm"
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Squash newly built layers into a single new layer
    #[arg(long)]
    pub squash: bool,
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// Build context (exactly one).
    #[arg(value_name = "PATH | URL | -")]
    pub args: Vec<String>,
}

/// Docker's text for an invalid `-t` value (exit 125 with usage).
pub fn invalid_tag(t: &str) -> Option<CliError> {
    let e = berth_core::Reference::parse(t).err()?;
    let mut why = e.to_string();
    if matches!(e, berth_core::reference::ReferenceError::Uppercase) {
        // Docker names the offending repository path: `library/BAD` for `BAD:x`.
        let name = t.split('@').next().unwrap_or(t);
        let name = match name.rsplit_once(':') {
            Some((n, tag)) if !tag.contains('/') => n,
            _ => name,
        };
        let path = match name.split_once('/') {
            Some((d, rest)) if d.contains(['.', ':']) || d == "localhost" => rest.to_string(),
            Some(_) => name.to_string(),
            None => format!("library/{name}"),
        };
        why = format!("invalid reference format: repository name ({path}) must be lowercase");
    }
    Some(status(
        format!(
            "invalid argument \"{t}\" for \"-t, --tag\" flag: {why}\n\nUsage:  docker build [OPTIONS] PATH | URL | -\n\nRun 'docker build --help' for more information"
        ),
        125,
    ))
}

impl BuildArgs {
    /// Checks arguments and tags before any daemon contact (Docker's texts and exit codes).
    pub fn check(&self) -> Result<()> {
        if let Some(e) = self.tag.iter().find_map(|t| invalid_tag(t)) {
            return Err(e);
        }
        check_args(
            "build",
            "[OPTIONS] PATH | URL | -",
            self.args.len(),
            Arity::Exact(1),
        )
    }

    /// The context argument.
    pub fn context(&self) -> &str {
        self.args.first().map(String::as_str).unwrap_or("")
    }
}

fn status(message: impl Into<String>, code: u8) -> CliError {
    CliError::Status {
        message: message.into(),
        code,
    }
}

/// `k=v` → `v`; bare `k` → `$k` when set, else JSON null (Docker's build-arg rule).
pub fn build_args_json(args: &[String], env: impl Fn(&str) -> Option<String>) -> Value {
    let mut m = Map::new();
    for a in args {
        match a.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), json!(v)),
            None => m.insert(a.clone(), env(a).map_or(Value::Null, Value::from)),
        };
    }
    Value::Object(m)
}

/// `k=v` → `v`; bare `k` → empty string.
pub fn labels_json(labels: &[String]) -> Value {
    let mut m = Map::new();
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        m.insert(k.to_string(), json!(v));
    }
    Value::Object(m)
}

/// The `POST /build` query for the flags; `dockerfile` is the in-context Dockerfile name,
/// `remote` a URL context.
pub fn build_query(
    a: &BuildArgs,
    dockerfile: Option<&str>,
    remote: Option<&str>,
) -> Result<String> {
    let mut q: Vec<(&str, String)> = Vec::new();
    for t in &a.tag {
        q.push(("t", t.clone()));
    }
    if let Some(r) = remote {
        q.push(("remote", r.to_string()));
    }
    if let Some(d) = dockerfile {
        q.push(("dockerfile", d.to_string()));
    }
    if !a.add_host.is_empty() {
        q.push(("extrahosts", a.add_host.join(",")));
    }
    if a.quiet {
        q.push(("q", "1".into()));
    }
    if a.no_cache {
        q.push(("nocache", "1".into()));
    }
    q.push(("rm", if a.rm.unwrap_or(true) { "1" } else { "0" }.into()));
    if a.force_rm {
        q.push(("forcerm", "1".into()));
    }
    if a.pull {
        q.push(("pull", "1".into()));
    }
    if a.squash {
        q.push(("squash", "1".into()));
    }
    if let Some(t) = &a.target {
        q.push(("target", t.clone()));
    }
    if let Some(n) = &a.network {
        q.push(("networkmode", n.clone()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    if let Some(c) = &a.cgroup_parent {
        q.push(("cgroupparent", c.clone()));
    }
    if let Some(m) = &a.memory {
        q.push(("memory", crate::format::parse_ram(m)?.to_string()));
    }
    if let Some(s) = &a.shm_size {
        q.push(("shmsize", crate::format::parse_ram(s)?.to_string()));
    }
    if !a.cache_from.is_empty() {
        q.push(("cachefrom", json!(a.cache_from).to_string()));
    }
    if !a.build_arg.is_empty() {
        let v = build_args_json(&a.build_arg, |k| std::env::var(k).ok());
        q.push(("buildargs", v.to_string()));
    }
    if !a.label.is_empty() {
        q.push(("labels", labels_json(&a.label).to_string()));
    }
    Ok(query(&q))
}

/// What to send: the context tar (or none for a URL context) and the Dockerfile name in it.
#[derive(Debug)]
pub struct Prepared {
    /// The tar body; `None` for remote contexts.
    pub body: Option<Vec<u8>>,
    /// `dockerfile` query value.
    pub dockerfile: Option<String>,
    /// `remote` query value.
    pub remote: Option<String>,
}

fn is_remote(ctx: &str) -> bool {
    ["http://", "https://", "git://", "git@", "github.com/"]
        .iter()
        .any(|p| ctx.starts_with(p))
}

fn random_suffix() -> String {
    let mut b = [0u8; 10];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b.copy_from_slice(&t.to_le_bytes()[..10]);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Builds the context from the positional argument, `-f`, and `stdin` (read lazily).
pub fn prepare_context(ctx: &str, file: Option<&str>, stdin: &mut dyn Read) -> Result<Prepared> {
    if ctx == "-" {
        if file == Some("-") {
            return Err(status(
                "invalid argument: can't use stdin for both build context and dockerfile",
                1,
            ));
        }
        let mut data = Vec::new();
        stdin.read_to_end(&mut data)?;
        if is_archive(&data) {
            return Ok(Prepared {
                body: Some(data),
                dockerfile: Some(file.unwrap_or("Dockerfile").to_string()),
                remote: None,
            });
        }
        let body = tar_files(&[("Dockerfile", &data)])?;
        return Ok(Prepared {
            body: Some(body),
            dockerfile: Some("Dockerfile".into()),
            remote: None,
        });
    }
    if is_remote(ctx) {
        return Ok(Prepared {
            body: None,
            dockerfile: file.map(str::to_string),
            remote: Some(ctx.to_string()),
        });
    }
    let dir = PathBuf::from(ctx);
    let meta = std::fs::metadata(&dir).map_err(|_| {
        status(
            format!("unable to prepare context: path \"{ctx}\" not found"),
            1,
        )
    })?;
    if !meta.is_dir() {
        return Err(status(
            format!("unable to prepare context: context must be a directory: {ctx}"),
            1,
        ));
    }
    let dir = std::path::absolute(&dir)?;
    // -f is relative to the current directory, not the context (Docker's rule).
    let mut extra: Option<(String, Vec<u8>)> = None;
    let rel_dockerfile = match file {
        Some("-") => {
            let mut data = Vec::new();
            stdin.read_to_end(&mut data)?;
            let name = format!(".dockerfile.{}", random_suffix());
            extra = Some((name.clone(), data));
            name
        }
        _ => {
            let df = match file {
                Some(f) => std::path::absolute(f)?,
                None => dir.join("Dockerfile"),
            };
            if std::fs::symlink_metadata(&df).is_err() {
                let shown = if file.is_some() {
                    df.clone()
                } else {
                    dir.join("Dockerfile")
                };
                return Err(status(
                    format!(
                        "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                        shown.display()
                    ),
                    1,
                ));
            }
            match df.strip_prefix(&dir) {
                Ok(r) if !r.as_os_str().is_empty() => r.to_string_lossy().into_owned(),
                _ => {
                    // Outside the context: send its content under a random name.
                    let data = std::fs::read(&df)?;
                    let name = format!(".dockerfile.{}", random_suffix());
                    extra = Some((name.clone(), data));
                    name
                }
            }
        }
    };
    let patterns = match std::fs::read_to_string(dir.join(".dockerignore")) {
        Ok(t) => parse_dockerignore(&t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let m = IgnoreMatcher::new(&patterns);
    let keep = vec![".dockerignore".to_string(), rel_dockerfile.clone()];
    let mut body = tar_context(&dir, &m, &keep)
        .map_err(|e| status(format!("error checking context: {e}"), 1))?;
    if let Some((name, data)) = &extra {
        body = append_to_tar(body, &[(name.as_str(), data.as_slice())])?;
    }
    Ok(Prepared {
        body: Some(body),
        dockerfile: Some(rel_dockerfile),
        remote: None,
    })
}

/// Every stored credential, as the `X-Registry-Config` map Docker sends with builds.
fn registry_config_header() -> Option<String> {
    use base64::Engine;
    let mut m = Map::new();
    let dirs = [
        crate::registry::berth_config_dir(),
        std::env::var_os("DOCKER_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker"))),
    ];
    for d in dirs.iter().flatten().rev() {
        let Ok(bytes) = std::fs::read(d.join("config.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        for k in v
            .get("auths")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|a| a.keys())
        {
            if let Some(c) = crate::registry::load_credentials_in(std::slice::from_ref(d), k) {
                let mut e = json!({"username": c.username, "password": c.password, "serveraddress": c.server});
                if let Some(t) = c.identity_token {
                    e["identitytoken"] = json!(t);
                }
                m.insert(c.server.clone(), e);
            }
        }
    }
    if m.is_empty() {
        return None;
    }
    Some(base64::engine::general_purpose::URL_SAFE.encode(Value::Object(m).to_string()))
}

/// Outcome of reading a build's JSON stream.
#[derive(Debug, Default, PartialEq)]
pub struct BuildOutcome {
    /// The image ID from `{"aux":{"ID":...}}`.
    pub image_id: Option<String>,
    /// The `{"error":...}` message, if the build failed.
    pub error: Option<String>,
    /// `errorDetail.code` of the failure (the failed RUN's exit status), when non-zero.
    pub code: Option<i64>,
}

impl BuildOutcome {
    /// Docker's exit code for a failed build: the error's code when it fits, else 1.
    pub fn exit_code(&self) -> u8 {
        self.code
            .and_then(|c| u8::try_from(c).ok())
            .filter(|c| *c != 0)
            .unwrap_or(1)
    }
}

/// Renders a `POST /build` stream into `out` (text as it arrives; pull statuses as lines).
pub async fn render_build<R: tokio::io::AsyncRead + Unpin>(
    reader: R,
    out: &mut dyn Write,
) -> Result<BuildOutcome> {
    let mut res = BuildOutcome::default();
    let mut lines = tokio::io::BufReader::new(reader).lines();
    while let Some(line) = lines.next_line().await? {
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            res.error = Some(e.to_string());
            res.code = v.pointer("/errorDetail/code").and_then(Value::as_i64);
            break;
        }
        if let Some(id) = v.pointer("/aux/ID").and_then(Value::as_str) {
            res.image_id = Some(id.to_string());
            continue;
        }
        if let Some(s) = v.get("stream").and_then(Value::as_str) {
            out.write_all(s.as_bytes())?;
            out.flush()?;
            continue;
        }
        if let Some(st) = v.get("status").and_then(Value::as_str) {
            if v.get("progressDetail")
                .is_some_and(|p| p.get("current").is_some())
            {
                continue;
            }
            match v.get("id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => writeln!(out, "{id}: {st}")?,
                _ => writeln!(out, "{st}")?,
            }
        }
    }
    Ok(res)
}

/// `docker build`.
pub async fn build(client: &Client, a: BuildArgs) -> Result<u8> {
    a.check()?;
    if let Some(p) = a.progress.as_deref()
        && !matches!(p, "auto" | "plain" | "tty" | "quiet" | "rawjson")
    {
        return Err(status(format!("invalid progress mode: {p}"), 1));
    }
    if let Some(f) = &a.iidfile
        && let Err(e) = std::fs::remove_file(f)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(status(format!("Removing image ID file: {e}"), 1));
    }
    let ctx = a.context().to_string();
    let file = a.file.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        let mut stdin = std::io::stdin();
        prepare_context(&ctx, file.as_deref(), &mut stdin)
    })
    .await
    .map_err(|e| CliError::Protocol(e.to_string()))??;
    let path = format!(
        "/build{}",
        build_query(
            &a,
            prepared.dockerfile.as_deref(),
            prepared.remote.as_deref()
        )?
    );
    let mut stdout = std::io::stdout();
    let body = prepared.body.unwrap_or_default();
    if !a.quiet && prepared.remote.is_none() {
        writeln!(
            stdout,
            "Sending build context to Docker daemon  {}",
            human_size(body.len() as f64)
        )?;
    }
    let mut headers = Vec::new();
    if let Some(h) = registry_config_header() {
        headers.push(("X-Registry-Config", h));
    }
    let reader = client
        .stream_with(
            Method::POST,
            &path,
            full_body(bytes::Bytes::from(body)),
            Some("application/x-tar"),
            &headers,
        )
        .await?;
    let mut buf = Vec::new();
    let outcome = if a.quiet {
        render_build(reader, &mut buf).await?
    } else {
        render_build(reader, &mut stdout).await?
    };
    if let Some(e) = &outcome.error {
        if a.quiet {
            std::io::stderr().write_all(&buf)?;
        }
        return Err(status(e.clone(), outcome.exit_code()));
    }
    if a.quiet {
        // With q=1 Docker's daemon streams only the image ID; print exactly that even if the
        // daemon sent more.
        match &outcome.image_id {
            Some(id) => writeln!(stdout, "{id}")?,
            None => stdout.write_all(&buf)?,
        }
    }
    if let (Some(f), Some(id)) = (&a.iidfile, &outcome.image_id) {
        std::fs::write(f, id).map_err(|e| status(format!("Writing image ID file: {e}"), 1))?;
    }
    Ok(0)
}

/// `docker builder prune`.
#[derive(Debug, Args)]
pub struct BuilderPruneArgs {
    /// Unexpected positional arguments (rejected with Docker's text).
    #[arg(hide = true)]
    pub args: Vec<String>,
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage")]
    pub keep_storage: Option<String>,
}

/// The `POST /build/prune` path for the flags.
pub fn builder_prune_path(a: &BuilderPruneArgs) -> Result<String> {
    let mut q = Vec::new();
    if a.all {
        q.push(("all", "1".to_string()));
    }
    if let Some(k) = &a.keep_storage {
        q.push(("keep-storage", crate::format::parse_ram(k)?.to_string()));
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    Ok(format!("/build/prune{}", query(&q)))
}

/// `docker builder prune`.
pub async fn builder_prune(client: &Client, a: BuilderPruneArgs) -> Result<u8> {
    check_args("builder prune", "", a.args.len(), Arity::None)?;
    check_filters("builder prune", "", "--filter", &a.filter)?;
    let path = builder_prune_path(&a)?;
    let msg = if a.all {
        "WARNING! This will remove all build cache.\n"
    } else {
        "WARNING! This will remove all dangling build cache.\n"
    };
    if !a.force && !crate::image::confirm(msg)? {
        // Docker v28 cancels silently with exit 0.
        return Ok(0);
    }
    let v = client.post(&path, None).await?;
    let mut o = std::io::stdout().lock();
    print_deleted(&mut o, "build cache objects", v.get("CachesDeleted"))?;
    let total = v.get("SpaceReclaimed").and_then(Value::as_i64).unwrap_or(0);
    writeln!(o, "Total reclaimed space: {}", human_size(total as f64))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pats: &str) -> IgnoreMatcher {
        IgnoreMatcher::new(&parse_dockerignore(pats))
    }

    #[test]
    fn ignore_basic_and_parents() {
        let i = m("# comment\n\n*.log\n/tmp\nnode_modules\n");
        assert!(i.excluded("a.log"));
        assert!(!i.excluded("dir/a.log"), "* does not cross /");
        assert!(i.excluded("tmp"));
        assert!(i.excluded("tmp/x/y"), "parent dir match excludes children");
        assert!(i.excluded("node_modules/pkg/index.js"));
        assert!(!i.excluded("src/main.rs"));
    }

    #[test]
    fn ignore_double_star_and_exceptions() {
        let i = m("**/*.tmp\n!keep/**/*.tmp\ndocs/**\n!docs/README.md\n");
        assert!(i.excluded("a.tmp"));
        assert!(i.excluded("x/y/z.tmp"));
        assert!(!i.excluded("keep/z.tmp"));
        assert!(!i.excluded("keep/a/b/z.tmp"));
        assert!(i.excluded("docs/guide.md"));
        assert!(!i.excluded("docs/README.md"));
        let i = m("*\n!Dockerfile\n!src\n");
        assert!(i.excluded("x"));
        assert!(!i.excluded("Dockerfile"));
        assert!(!i.excluded("src/lib.rs"));
        let i = m("a/**/b\n");
        assert!(i.excluded("a/b"));
        assert!(i.excluded("a/x/y/b"));
        assert!(!i.excluded("a/xb"));
        let i = m("f?o\n[ab]c\n[!x]y\nesc\\*\n./dot/../clean\n");
        assert!(i.excluded("fxo") && !i.excluded("f/o"));
        assert!(i.excluded("ac") && i.excluded("bc") && !i.excluded("cc"));
        assert!(i.excluded("zy") && !i.excluded("xy"));
        assert!(i.excluded("esc*") && !i.excluded("escX"));
        assert!(i.excluded("clean"));
        assert!(m("**\n").excluded("any/thing"));
    }

    #[test]
    fn context_tar_honours_ignore() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path();
        for (f, c) in [
            ("Dockerfile", "FROM bb\n"),
            (
                ".dockerignore",
                "*.log\nsecret\n.dockerignore\nDockerfile\n!secret/ok\n",
            ),
            ("a.txt", "a"),
            ("b.log", "b"),
            ("secret/key", "k"),
            ("secret/ok", "o"),
            ("sub/c.log", "c"),
        ] {
            let fp = p.join(f);
            if let Some(parent) = fp.parent() {
                std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            std::fs::write(fp, c).unwrap_or_else(|e| panic!("{e}"));
        }
        let prepared = prepare_context(&p.to_string_lossy(), None, &mut std::io::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(prepared.dockerfile.as_deref(), Some("Dockerfile"));
        let body = prepared.body.unwrap_or_default();
        let mut ar = tar::Archive::new(body.as_slice());
        let mut names: Vec<String> = ar
            .entries()
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok())
            .map(|e| {
                assert_eq!(e.header().uid().unwrap_or(1), 0);
                e.path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                ".dockerignore",
                "Dockerfile",
                "a.txt",
                "secret/ok",
                "sub/",
                "sub/c.log"
            ]
        );
    }

    #[test]
    fn stdin_contexts() {
        let df = b"FROM busybox\nRUN true\n".to_vec();
        let p = prepare_context("-", None, &mut df.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        let body = p.body.unwrap_or_default();
        assert!(is_archive(&body));
        let mut ar = tar::Archive::new(body.as_slice());
        let mut e = ar.entries().unwrap_or_else(|e| panic!("{e}"));
        let mut first = e
            .next()
            .and_then(|x| x.ok())
            .unwrap_or_else(|| panic!("empty tar"));
        let mut s = String::new();
        let _ = first.read_to_string(&mut s);
        assert_eq!(s, "FROM busybox\nRUN true\n");
        let p2 = prepare_context("-", Some("sub/Df"), &mut body.as_slice())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p2.body.as_deref(), Some(body.as_slice()));
        assert_eq!(p2.dockerfile.as_deref(), Some("sub/Df"));
        assert!(prepare_context("-", Some("-"), &mut std::io::empty()).is_err());
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p3 = prepare_context(&d.path().to_string_lossy(), Some("-"), &mut df.as_slice())
            .unwrap_or_else(|e| panic!("{e}"));
        let name = p3.dockerfile.unwrap_or_default();
        assert!(name.starts_with(".dockerfile."));
        let body = p3.body.unwrap_or_default();
        let mut ar = tar::Archive::new(body.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok())
            .map(|e| {
                e.path()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(names, vec![name]);
        let missing = prepare_context(&d.path().to_string_lossy(), None, &mut std::io::empty());
        assert!(missing.is_err());
    }

    #[test]
    fn query_shape() {
        let a = BuildArgs {
            tag: vec!["a:1".into(), "b".into()],
            build_arg: vec!["X=1".into(), "BERTH_SURELY_UNSET_VAR".into()],
            label: vec!["l=v".into(), "bare".into()],
            target: Some("stage".into()),
            no_cache: true,
            pull: true,
            quiet: true,
            network: Some("host".into()),
            args: vec![".".into()],
            ..Default::default()
        };
        let q = build_query(&a, Some("Dockerfile"), None).unwrap_or_default();
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(q.trim_start_matches('?').as_bytes())
                .into_owned()
                .collect();
        let get = |k: &str| -> Vec<String> {
            pairs
                .iter()
                .filter(|(a, _)| a == k)
                .map(|(_, v)| v.clone())
                .collect()
        };
        assert_eq!(get("t"), vec!["a:1", "b"]);
        assert_eq!(get("dockerfile"), vec!["Dockerfile"]);
        assert_eq!(get("rm"), vec!["1"]);
        assert_eq!(get("q"), vec!["1"]);
        assert_eq!(get("nocache"), vec!["1"]);
        assert_eq!(get("pull"), vec!["1"]);
        assert_eq!(get("target"), vec!["stage"]);
        assert_eq!(get("networkmode"), vec!["host"]);
        let ba: Value = serde_json::from_str(&get("buildargs")[0]).unwrap_or_default();
        assert_eq!(ba, json!({"X": "1", "BERTH_SURELY_UNSET_VAR": null}));
        let l: Value = serde_json::from_str(&get("labels")[0]).unwrap_or_default();
        assert_eq!(l, json!({"l": "v", "bare": ""}));
        assert_eq!(
            build_args_json(&["HOME2".into()], |_| Some("v".into())),
            json!({"HOME2": "v"})
        );
    }

    #[tokio::test]
    async fn renders_stream() {
        let s = "{\"stream\":\"Step 1/1 : FROM bb\\n\"}\n{\"status\":\"Pulling fs layer\",\"id\":\"abc\"}\n{\"aux\":{\"ID\":\"sha256:1\"}}\n{\"stream\":\"Successfully built 1\\n\"}\n";
        let mut out = Vec::new();
        let o = render_build(s.as_bytes(), &mut out)
            .await
            .unwrap_or_default();
        assert_eq!(o.image_id.as_deref(), Some("sha256:1"));
        assert_eq!(
            String::from_utf8_lossy(&out),
            "Step 1/1 : FROM bb\nabc: Pulling fs layer\nSuccessfully built 1\n"
        );
        let e =
            "{\"stream\":\"x\\n\"}\n{\"errorDetail\":{\"message\":\"boom\"},\"error\":\"boom\"}\n";
        let o = render_build(e.as_bytes(), &mut Vec::new())
            .await
            .unwrap_or_default();
        assert_eq!(o.error.as_deref(), Some("boom"));
        assert_eq!(o.exit_code(), 1);
        let e = "{\"errorDetail\":{\"code\":3,\"message\":\"x\"},\"error\":\"x\"}\n";
        let o = render_build(e.as_bytes(), &mut Vec::new())
            .await
            .unwrap_or_default();
        assert_eq!(o.exit_code(), 3);
    }
}
