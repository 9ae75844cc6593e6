//! Registry commands: `push`, `login`, `logout`, `search`, plus the credentials file
//! (`~/.berth/config.json`, written; `~/.docker/config.json`, read) and `X-Registry-Auth`;
//! `berth registry serve|garbage-collect|htpasswd` execs the `berth-registry` server binary.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use clap::Args;
use http::Method;
use serde_json::{Map, Value, json};

use crate::client::{Client, empty_body, esc, query};
use crate::container::{filters_json, render_progress_with};
use crate::error::{CliError, Result};
use crate::format::ListFormat;
use crate::volume::{Arity, check_args, check_filters};

/// Docker's key for Docker Hub in `auths` (also the default `login`/`logout` server).
pub const DEFAULT_SERVER: &str = "https://index.docker.io/v1/";

/// Stored credentials for one registry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Creds {
    /// User name.
    pub username: String,
    /// Password (empty when an identity token is used).
    pub password: String,
    /// Long-lived identity token returned by `POST /auth`, if any.
    pub identity_token: Option<String>,
    /// The `auths` key the credentials belong to.
    pub server: String,
}

/// The `auths` key for a server argument or registry domain: Hub's aliases map to
/// [`DEFAULT_SERVER`], anything else to its bare `host[:port]`.
pub fn server_key(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DEFAULT_SERVER.into(),
        h => h.to_string(),
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// berth's config directory: `$BERTH_CONFIG` or `~/.berth`.
pub fn berth_config_dir() -> Option<PathBuf> {
    match std::env::var_os("BERTH_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => Some(PathBuf::from(d)),
        None => home().map(|h| h.join(".berth")),
    }
}

/// Docker's config directory: `$DOCKER_CONFIG` or `~/.docker` (read only).
fn docker_config_dir() -> Option<PathBuf> {
    match std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        Some(d) => Some(PathBuf::from(d)),
        None => home().map(|h| h.join(".docker")),
    }
}

fn read_json(p: &Path) -> Option<Map<String, Value>> {
    let bytes = std::fs::read(p).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Decodes one `auths` entry (Docker accepts `auth`, or `username`/`password`, plus `identitytoken`).
fn entry_creds(entry: &Value, key: &str) -> Option<Creds> {
    let mut c = Creds {
        server: key.to_string(),
        ..Default::default()
    };
    if let Some(enc) = entry.get("auth").and_then(Value::as_str)
        && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(enc.trim())
        && let Ok(s) = String::from_utf8(raw)
        && let Some((u, p)) = s.split_once(':')
    {
        c.username = u.to_string();
        c.password = p.to_string();
    }
    if c.username.is_empty() {
        let field = |n: &str| {
            entry
                .get(n)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        c.username = field("username");
        c.password = field("password");
    }
    c.identity_token = entry
        .get("identitytoken")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    (!c.username.is_empty() || c.identity_token.is_some()).then_some(c)
}

/// Credentials for `server` from `config.json` files in `dirs`, first hit wins.
pub fn load_credentials_in(dirs: &[PathBuf], server: &str) -> Option<Creds> {
    let key = server_key(server);
    dirs.iter()
        .filter_map(|d| read_json(&d.join("config.json")))
        .find_map(|m| {
            let auths = m.get("auths")?.as_object()?;
            auths
                .iter()
                .find(|(k, _)| server_key(k) == key)
                .and_then(|(_, v)| entry_creds(v, &key))
        })
}

/// Stored credentials for `server`: berth's config first, then Docker's.
pub fn load_credentials(server: &str) -> Option<Creds> {
    let dirs: Vec<PathBuf> = [berth_config_dir(), docker_config_dir()]
        .into_iter()
        .flatten()
        .collect();
    load_credentials_in(&dirs, server)
}

/// Writes `dir/config.json` atomically (temp file in the same directory, then rename; 0600).
fn write_config(dir: &Path, m: &Map<String, Value>) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join("config.json");
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(&Value::Object(m.clone()))
        .map_err(|e| CliError::Protocol(e.to_string()))?;
    let write = || -> std::io::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::Io(std::io::Error::new(
            e.kind(),
            format!("writing {}: {e}", target.display()),
        ))
    })
}

/// Saves `c` under `server`'s key in `dir/config.json`, keeping every other key.
pub fn store_credentials_in(dir: &Path, server: &str, c: &Creds) -> Result<()> {
    let key = server_key(server);
    let mut m = read_json(&dir.join("config.json")).unwrap_or_default();
    let auths = m.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    let b64 = |s: String| base64::engine::general_purpose::STANDARD.encode(s);
    let mut entry = Map::new();
    match &c.identity_token {
        Some(tok) => {
            // Docker keeps the user name with an empty password next to the token.
            entry.insert("auth".into(), json!(b64(format!("{}:", c.username))));
            entry.insert("identitytoken".into(), json!(tok));
        }
        None => {
            entry.insert(
                "auth".into(),
                json!(b64(format!("{}:{}", c.username, c.password))),
            );
        }
    }
    if let Some(a) = auths.as_object_mut() {
        a.retain(|k, _| server_key(k) != key);
        a.insert(key, Value::Object(entry));
    }
    write_config(dir, &m)
}

/// Saves credentials in berth's config (`$BERTH_CONFIG` or `~/.berth`); returns the file path.
pub fn store_credentials(server: &str, c: &Creds) -> Result<PathBuf> {
    let dir = berth_config_dir().ok_or_else(|| CliError::invalid("cannot find home directory"))?;
    store_credentials_in(&dir, server, c)?;
    Ok(dir.join("config.json"))
}

/// Removes `server`'s entry from `dir/config.json`; false when there was none.
pub fn erase_credentials_in(dir: &Path, server: &str) -> Result<bool> {
    let key = server_key(server);
    let Some(mut m) = read_json(&dir.join("config.json")) else {
        return Ok(false);
    };
    let removed = match m.get_mut("auths").and_then(Value::as_object_mut) {
        Some(a) => {
            let before = a.len();
            a.retain(|k, _| server_key(k) != key);
            a.len() != before
        }
        None => false,
    };
    if removed {
        write_config(dir, &m)?;
    }
    Ok(removed)
}

/// Removes `server`'s credentials from berth's config; false when there were none.
pub fn erase_credentials(server: &str) -> Result<bool> {
    match berth_config_dir() {
        Some(d) => erase_credentials_in(&d, server),
        None => Ok(false),
    }
}

/// `X-Registry-Auth` value: base64url of `{username,password,serveraddress}` or
/// `{identitytoken,serveraddress}`.
pub fn encode_auth(c: &Creds) -> String {
    let v = match &c.identity_token {
        Some(t) => json!({"identitytoken": t, "serveraddress": c.server}),
        None => json!({"username": c.username, "password": c.password, "serveraddress": c.server}),
    };
    base64::engine::general_purpose::URL_SAFE.encode(v.to_string())
}

/// The `auths` key of the registry an image name lives in.
pub fn registry_key_of(image: &str) -> String {
    match berth_core::Reference::parse(image) {
        Ok(r) => server_key(&r.domain),
        Err(_) => DEFAULT_SERVER.to_string(),
    }
}

/// `X-Registry-Auth` header for `image`'s registry when credentials are stored (else none).
pub fn auth_headers_for_image(image: &str) -> Vec<(&'static str, String)> {
    match load_credentials(&registry_key_of(image)) {
        Some(c) => vec![("X-Registry-Auth", encode_auth(&c))],
        None => Vec::new(),
    }
}

/// `docker push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Skip image signing (default true)
    #[arg(long = "disable-content-trust", num_args = 0..=1, require_equals = true,
        default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub disable_content_trust: Option<bool>,
    /// Push a platform-specific manifest as a single-platform image to the registry.
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Image (exactly one; a Vec so the count error is Docker's, not clap's).
    #[arg(value_name = "NAME[:TAG]")]
    pub args: Vec<String>,
}

impl PushArgs {
    /// Checks the positional arguments (Docker's text, exit 1).
    pub fn check(&self) -> Result<()> {
        check_args(
            "push",
            "[OPTIONS] NAME[:TAG]",
            self.args.len(),
            Arity::Exact(1),
        )
    }

    /// The image argument.
    pub fn image(&self) -> &str {
        self.args.first().map(String::as_str).unwrap_or("")
    }
}

/// A writer that forwards everything and remembers whether a `digest: ` status line went by.
struct Seen<'a> {
    inner: &'a mut dyn Write,
    digest_line: bool,
}

impl Write for Seen<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.windows(8).any(|w| w == b"digest: ") {
            self.digest_line = true;
        }
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The request path of a push: `/images/{familiar repo}/push[?tag=..]`.
pub fn push_path(r: &berth_core::Reference, platform: Option<&str>) -> String {
    let mut q = Vec::new();
    if let Some(t) = &r.tag {
        q.push(("tag", t.clone()));
    }
    if let Some(p) = platform {
        let mut parts = p.split('/');
        let mut pv = Map::new();
        pv.insert("os".into(), json!(parts.next().unwrap_or("")));
        if let Some(a) = parts.next() {
            pv.insert("architecture".into(), json!(a));
        }
        if let Some(v) = parts.next() {
            pv.insert("variant".into(), json!(v));
        }
        q.push(("platform", Value::Object(pv).to_string()));
    }
    format!(
        "/images/{}/push{}",
        esc(&r.familiar_repository()),
        query(&q)
    )
}

/// `docker push`.
pub async fn push(client: &Client, a: PushArgs) -> Result<u8> {
    a.check()?;
    let mut r = berth_core::Reference::parse(a.image()).map_err(|e| CliError::Status {
        message: e.to_string(),
        code: 1,
    })?;
    let name_only = r.tag.is_none() && r.digest.is_none();
    if a.all_tags && !name_only {
        return Err(CliError::Status {
            message: "tag can't be used with --all-tags/-a".into(),
            code: 1,
        });
    }
    let mut stdout = std::io::stdout();
    if !a.all_tags && name_only {
        r.tag = Some("latest".to_string());
        if !a.quiet {
            writeln!(stdout, "Using default tag: latest")?;
        }
    }
    let key = server_key(&r.domain);
    let auth = match load_credentials(&key) {
        Some(c) => encode_auth(&c),
        // Docker always sends the header; anonymous is an empty JSON object.
        None => base64::engine::general_purpose::URL_SAFE.encode("{}"),
    };
    let path = push_path(&r, a.platform.as_deref());
    let reader = client
        .stream_with(
            Method::POST,
            &path,
            empty_body(),
            None,
            &[("X-Registry-Auth", auth)],
        )
        .await?;
    let mut seen = Seen {
        inner: &mut stdout,
        digest_line: false,
    };
    let aux = render_progress_with(reader, &mut seen, a.quiet, |m| CliError::Status {
        message: m,
        code: 1,
    })
    .await?;
    let printed = seen.digest_line;
    if a.quiet {
        writeln!(stdout, "{r}")?;
        return Ok(0);
    }
    if !printed {
        for x in &aux {
            if let (Some(t), Some(d)) = (
                x.get("Tag").and_then(Value::as_str),
                x.get("Digest").and_then(Value::as_str),
            ) {
                let size = x.get("Size").and_then(Value::as_i64).unwrap_or(0);
                writeln!(stdout, "{t}: digest: {d} size: {size}")?;
            }
        }
    }
    Ok(0)
}

/// `docker login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Server (at most one).
    #[arg(value_name = "SERVER")]
    pub args: Vec<String>,
}

fn status1(message: impl Into<String>) -> CliError {
    CliError::Status {
        message: message.into(),
        code: 1,
    }
}

/// Reads one line from the terminal, echo off when `secret`.
fn prompt(label: &str, secret: bool) -> Result<String> {
    let mut err = std::io::stderr();
    write!(err, "{label}")?;
    err.flush()?;
    let stdin = std::io::stdin();
    let saved = if secret {
        rustix::termios::tcgetattr(&stdin).ok().inspect(|t| {
            let mut quiet = t.clone();
            quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
            let _ =
                rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
        })
    } else {
        None
    };
    let mut line = String::new();
    let res = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &t);
        writeln!(err)?;
    }
    res?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Checks the login arguments and flag combination with Docker v28's messages.
pub fn check_login_flags(a: &LoginArgs) -> Result<()> {
    check_args(
        "login",
        "[OPTIONS] [SERVER]",
        a.args.len(),
        Arity::AtMost(1),
    )?;
    if a.password.is_some() && a.password_stdin {
        return Err(status1(
            "conflicting options: cannot specify both --password and --password-stdin",
        ));
    }
    if a.password_stdin && a.username.as_deref().unwrap_or("").is_empty() {
        return Err(status1(
            "the --password-stdin option requires --username to be set",
        ));
    }
    Ok(())
}

/// `docker login`.
/// Gathers login credentials from flags, stdin, stored credentials or the terminal; runs
/// before any daemon contact, as Docker's flag and TTY errors do.
pub fn login_credentials(a: &LoginArgs) -> Result<Creds> {
    check_login_flags(a)?;
    let server = a
        .args
        .first()
        .cloned()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    let key = server_key(&server);
    let tty = std::io::stdin().is_terminal();
    let mut username = a.username.clone().unwrap_or_default();
    let mut password = a.password.clone().unwrap_or_default();
    if a.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if a.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        password = s.trim_end_matches(['\n', '\r']).to_string();
    }
    let mut token = None;
    if username.is_empty() && password.is_empty() {
        if let Some(c) = load_credentials(&key) {
            eprintln!(
                "Authenticating with existing credentials... [Username: {}]",
                c.username
            );
            username = c.username;
            password = c.password;
            token = c.identity_token;
        } else {
            if !tty {
                return Err(status1(
                    "Error: Cannot perform an interactive login from a non TTY device",
                ));
            }
            username = prompt("Username: ", false)?;
        }
    }
    if username.is_empty() && token.is_none() {
        return Err(status1("Error: Non-null Username Required"));
    }
    if password.is_empty() && token.is_none() {
        if !tty {
            return Err(status1(
                "Error: Cannot perform an interactive login from a non TTY device",
            ));
        }
        password = prompt("Password: ", true)?;
        if password.is_empty() {
            return Err(status1("Error: Password Required"));
        }
    }
    Ok(Creds {
        username,
        password,
        identity_token: token,
        server: key,
    })
}

/// `docker login` after [`login_credentials`]: `POST /auth`, then store and report.
pub async fn login(client: &Client, c: Creds) -> Result<u8> {
    let Creds {
        username,
        password,
        identity_token: token,
        server: key,
    } = c;
    let mut body = json!({"username": username, "password": password, "serveraddress": key});
    if let Some(t) = &token {
        body["identitytoken"] = json!(t);
    }
    let resp = client.post("/auth", Some(&body)).await?;
    let identity = resp
        .get("IdentityToken")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or(token);
    let creds = Creds {
        password: if identity.is_some() {
            String::new()
        } else {
            password
        },
        username,
        identity_token: identity,
        server: key.clone(),
    };
    let path = store_credentials(&key, &creds)?;
    eprintln!(
        "WARNING! Your credentials are stored unencrypted in '{}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n",
        path.display()
    );
    println!("Login Succeeded");
    Ok(0)
}

/// `docker logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Server (at most one).
    #[arg(value_name = "SERVER")]
    pub args: Vec<String>,
}

/// `docker logout`: Docker v28 prints the same line whether or not credentials were stored.
pub fn logout(a: LogoutArgs) -> Result<u8> {
    check_args("logout", "[SERVER]", a.args.len(), Arity::AtMost(1))?;
    let server = a
        .args
        .into_iter()
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    let key = server_key(&server);
    println!("Removing login credentials for {key}");
    erase_credentials(&key)?;
    Ok(0)
}

/// `docker search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long)]
    pub limit: Option<i64>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Term (exactly one).
    #[arg(value_name = "TERM")]
    pub args: Vec<String>,
}

impl SearchArgs {
    /// Checks arguments and filters (Docker's texts and exit codes).
    pub fn check(&self) -> Result<()> {
        check_args("search", "[OPTIONS] TERM", self.args.len(), Arity::Exact(1))?;
        check_filters("search", "[OPTIONS] TERM", "-f, --filter", &self.filter)
    }

    /// The search term.
    pub fn term(&self) -> &str {
        self.args.first().map(String::as_str).unwrap_or("")
    }
}

/// Column titles of `docker search` templates.
pub const SEARCH_HEADERS: &[(&str, &str)] = &[
    ("Name", "NAME"),
    ("Description", "DESCRIPTION"),
    ("StarCount", "STARS"),
    ("IsOfficial", "OFFICIAL"),
    ("IsAutomated", "AUTOMATED"),
];

/// Docker v28's default `search` table (the AUTOMATED column is gone).
pub const SEARCH_TABLE: &str = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

/// Docker's `formatter.Ellipsis`: cut to `max` characters, the last replaced by `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One search result as template fields.
pub fn search_row(v: &Value, trunc: bool) -> BTreeMap<String, String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let ok = |k: &str| {
        if v.get(k).and_then(Value::as_bool).unwrap_or(false) {
            "[OK]".to_string()
        } else {
            String::new()
        }
    };
    let mut desc = s("description").replace(['\n', '\r'], " ");
    if trunc {
        desc = ellipsis(&desc, 45);
    }
    let mut m = BTreeMap::new();
    m.insert("Name".into(), s("name"));
    m.insert("Description".into(), desc);
    m.insert(
        "StarCount".into(),
        v.get("star_count")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            .to_string(),
    );
    m.insert("IsOfficial".into(), ok("is_official"));
    m.insert("IsAutomated".into(), ok("is_automated"));
    m
}

/// The `GET /images/search` path for the flags.
pub fn search_path(a: &SearchArgs) -> Result<String> {
    let mut q = vec![("term", a.term().to_string())];
    if let Some(l) = a.limit {
        q.push(("limit", l.to_string()));
    }
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    Ok(format!("/images/search{}", query(&q)))
}

/// `docker search`.
pub async fn search(client: &Client, a: SearchArgs) -> Result<u8> {
    a.check()?;
    let fmt = match a.format.as_deref() {
        None | Some("") | Some("table") => SEARCH_TABLE.to_string(),
        Some(f) => f.to_string(),
    };
    let lf = ListFormat::new(&fmt)?;
    let path = search_path(&a)?;
    let auth = auth_headers_for_image(a.term());
    let v = if auth.is_empty() {
        client.get(&path).await?
    } else {
        let reader = client
            .stream_with(Method::GET, &path, empty_body(), None, &auth)
            .await?;
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut Box::pin(reader), &mut bytes).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Protocol(format!("invalid JSON from daemon: {e}")))?
    };
    let rows: Vec<BTreeMap<String, String>> = v
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|r| search_row(r, !a.no_trunc))
        .collect();
    let mut out = std::io::stdout().lock();
    lf.write(&mut out, SEARCH_HEADERS, &rows)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(u: &str, p: &str) -> Creds {
        Creds {
            username: u.into(),
            password: p.into(),
            identity_token: None,
            server: String::new(),
        }
    }

    #[test]
    fn server_keys() {
        assert_eq!(server_key(""), DEFAULT_SERVER);
        assert_eq!(server_key("docker.io"), DEFAULT_SERVER);
        assert_eq!(server_key("https://index.docker.io/v1/"), DEFAULT_SERVER);
        assert_eq!(server_key("localhost:5000"), "localhost:5000");
        assert_eq!(server_key("https://localhost:5000/v2/"), "localhost:5000");
        assert_eq!(registry_key_of("busybox"), DEFAULT_SERVER);
        assert_eq!(registry_key_of("127.0.0.1:5000/a/b:1"), "127.0.0.1:5000");
    }

    #[test]
    fn auth_header_encoding() {
        let mut c = creds("u", "p?>");
        c.server = "localhost:5000".into();
        let enc = encode_auth(&c);
        assert!(!enc.contains('+') && !enc.contains('/'));
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(&enc)
            .unwrap_or_default();
        let v: Value = serde_json::from_slice(&raw).unwrap_or_default();
        assert_eq!(
            v,
            json!({"username": "u", "password": "p?>", "serveraddress": "localhost:5000"})
        );
        c.identity_token = Some("tok".into());
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(encode_auth(&c))
            .unwrap_or_default();
        let v: Value = serde_json::from_slice(&raw).unwrap_or_default();
        assert_eq!(
            v,
            json!({"identitytoken": "tok", "serveraddress": "localhost:5000"})
        );
    }

    #[test]
    fn credentials_round_trip() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let berth = d.path().join("berth");
        let docker = d.path().join("docker");
        std::fs::create_dir_all(&docker).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            docker.join("config.json"),
            r#"{"auths":{"https://ghcr.io":{"auth":"Z2g6c2VjcmV0"}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(&berth).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(berth.join("config.json"), r#"{"other":1}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let dirs = vec![berth.clone(), docker.clone()];
        assert!(store_credentials_in(&berth, "localhost:5000", &creds("alice", "pw")).is_ok());
        assert!(store_credentials_in(&berth, "docker.io", &creds("bob", "x:y")).is_ok());
        let m = read_json(&berth.join("config.json")).unwrap_or_default();
        assert_eq!(m["other"], 1);
        assert_eq!(m["auths"]["localhost:5000"]["auth"], "YWxpY2U6cHc=");
        let c = load_credentials_in(&dirs, "http://localhost:5000");
        assert_eq!(c.as_ref().map(|c| c.username.as_str()), Some("alice"));
        let c = load_credentials_in(&dirs, "");
        assert_eq!(c.map(|c| c.password), Some("x:y".to_string()));
        let c = load_credentials_in(&dirs, "ghcr.io");
        assert_eq!(c.map(|c| c.password), Some("secret".to_string()));
        assert!(matches!(
            erase_credentials_in(&berth, "localhost:5000"),
            Ok(true)
        ));
        assert!(matches!(
            erase_credentials_in(&berth, "localhost:5000"),
            Ok(false)
        ));
        assert!(load_credentials_in(&dirs, "localhost:5000").is_none());
        let m = read_json(&berth.join("config.json")).unwrap_or_default();
        assert_eq!(m["other"], 1);
        assert!(m["auths"].get(DEFAULT_SERVER).is_some());
    }

    #[test]
    fn search_rows_and_paths() {
        let v = json!({"name": "busybox", "description": "Busybox base image with a long description that goes on", "star_count": 3300, "is_official": true});
        let r = search_row(&v, true);
        assert_eq!(r["Description"].chars().count(), 45);
        assert!(r["Description"].ends_with('…'));
        assert_eq!(r["StarCount"], "3300");
        assert_eq!(r["IsOfficial"], "[OK]");
        assert_eq!(r["IsAutomated"], "");
        let mut out = Vec::new();
        let lf = ListFormat::new(SEARCH_TABLE).unwrap_or_else(|e| panic!("{e}"));
        let short =
            json!({"name": "bb", "description": "d", "star_count": 1, "is_official": false});
        assert!(
            lf.write(&mut out, SEARCH_HEADERS, &[search_row(&short, true)])
                .is_ok()
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "NAME      DESCRIPTION   STARS     OFFICIAL\nbb        d             1         \n"
        );
    }

    #[test]
    fn push_paths() {
        let r =
            berth_core::Reference::parse("localhost:5000/app:v1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            push_path(&r, None),
            "/images/localhost:5000/app/push?tag=v1"
        );
        let r = berth_core::Reference::parse("busybox").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(push_path(&r, None), "/images/busybox/push");
    }
}

/// `berth registry ...`: the registry server, run by exec'ing `berth-registry` (no daemon).
#[derive(Debug, clap::Subcommand)]
pub enum RegistryCmd {
    /// Serve the OCI Distribution API (no config: filesystem storage on :5000)
    Serve {
        /// distribution-style YAML configuration
        config: Option<PathBuf>,
    },
    /// Delete blobs no manifest references (run with the registry stopped)
    GarbageCollect {
        /// Only list what would be deleted
        #[arg(long, short = 'd')]
        dry_run: bool,
        /// distribution-style YAML configuration
        config: PathBuf,
    },
    /// Print an htpasswd line (bcrypt) for a user
    Htpasswd {
        /// User name
        user: String,
        /// Password
        password: String,
    },
}

/// The registry server's binary name.
pub const REGISTRY_BINARY: &str = "berth-registry";

impl RegistryCmd {
    /// The `berth-registry` arguments this command stands for.
    pub fn argv(&self) -> Vec<std::ffi::OsString> {
        match self {
            RegistryCmd::Serve { config } => {
                let mut v = vec!["serve".into()];
                v.extend(config.iter().map(|c| c.clone().into_os_string()));
                v
            }
            RegistryCmd::GarbageCollect { dry_run, config } => {
                let mut v = vec!["garbage-collect".into()];
                if *dry_run {
                    v.push("--dry-run".into());
                }
                v.push(config.clone().into_os_string());
                v
            }
            RegistryCmd::Htpasswd { user, password } => {
                vec!["htpasswd".into(), user.into(), password.into()]
            }
        }
    }
}

/// Where `name` is: next to `exe` (the running `berth`), else the first match on `path`
/// (a `$PATH` value).
pub fn find_beside_or_on_path(
    name: &str,
    exe: Option<&Path>,
    path: Option<&std::ffi::OsStr>,
) -> Option<PathBuf> {
    let beside = exe.and_then(Path::parent).map(|d| d.join(name));
    beside
        .into_iter()
        .chain(path.into_iter().flat_map(|p| {
            std::env::split_paths(p)
                .map(|d| d.join(name))
                .collect::<Vec<_>>()
        }))
        .find(|c| c.is_file())
}

/// Replaces this process with `berth-registry <args>`; returns only on failure, with the
/// error to report (exit code 125, as for the CLI's own failures to run anything).
pub fn exec_registry(cmd: &RegistryCmd) -> CliError {
    use std::os::unix::process::CommandExt as _;
    let exe = std::env::current_exe().ok();
    let Some(bin) = find_beside_or_on_path(
        REGISTRY_BINARY,
        exe.as_deref(),
        std::env::var_os("PATH").as_deref(),
    ) else {
        return CliError::Status {
            message: format!(
                "berth: {REGISTRY_BINARY} not found next to {} nor on $PATH",
                exe.as_deref()
                    .map_or_else(|| "berth".into(), |p| p.display().to_string())
            ),
            code: 125,
        };
    };
    let e = std::process::Command::new(&bin).args(cmd.argv()).exec();
    CliError::Status {
        message: format!("berth: failed to run {}: {e}", bin.display()),
        code: 125,
    }
}

#[cfg(test)]
mod registry_cmd_tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn argv_passes_arguments_through() {
        let gc = RegistryCmd::GarbageCollect {
            dry_run: true,
            config: "/c.yml".into(),
        };
        assert_eq!(gc.argv(), ["garbage-collect", "--dry-run", "/c.yml"]);
        let serve = RegistryCmd::Serve { config: None };
        assert_eq!(serve.argv(), ["serve"]);
    }

    #[test]
    fn binary_beside_the_exe_wins_over_path() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(b.path().join("tool"), "").unwrap();
        let path = std::env::join_paths([Path::new("/nonexistent"), b.path()]).unwrap();
        let exe = a.path().join("berth");
        assert_eq!(
            find_beside_or_on_path("tool", Some(&exe), Some(&path)),
            Some(b.path().join("tool"))
        );
        std::fs::write(a.path().join("tool"), "").unwrap();
        assert_eq!(
            find_beside_or_on_path("tool", Some(&exe), Some(&path)),
            Some(a.path().join("tool"))
        );
        assert_eq!(
            find_beside_or_on_path("nope", Some(&exe), Some(&path)),
            None
        );
    }
}
