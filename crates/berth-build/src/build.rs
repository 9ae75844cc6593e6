//! The classic builder: runs a parsed Dockerfile against the image store, one image per step,
//! with Docker's legacy output and a persistent step cache.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Stdio};
use std::sync::Arc;

use berth_core::{Classify, Digest, ErrorKind, Reference};
use berth_image::{History, ImageConfig, ImageError, ImageStore, RootFs, RunConfig};
use berth_snapshot::Snapshotter;
use redb::{ReadableDatabase, TableDefinition};
use sha2::{Digest as _, Sha256};

use crate::archive;
use crate::dockerfile::{
    self, Command, CopySpec, ExpandError, Healthcheck, Instruction, ParseError, Step,
};
use crate::fsutil::{self, CopyAttrs, IgnoreRules};

/// The step cache: key (hex sha256 of parent image, instruction, content hash) → image id.
pub const CACHE_TABLE: TableDefinition<&str, &str> = TableDefinition::new("build_cache");

/// Build arguments that need no ARG declaration (Docker's predefined proxy args).
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Options of one build (the `POST /build` query parameters).
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Dockerfile path inside the context (`dockerfile`, default `Dockerfile`).
    pub dockerfile: String,
    /// Tags to give the result (`t`, repeated).
    pub tags: Vec<String>,
    /// `buildargs` (JSON object; a null value means unset).
    pub build_args: HashMap<String, Option<String>>,
    /// `target` stage.
    pub target: Option<String>,
    /// `nocache`.
    pub no_cache: bool,
    /// `pull`: always ask the puller for base images.
    pub pull: bool,
    /// `labels` (JSON object) added to the final image.
    pub labels: HashMap<String, String>,
    /// `networkmode` for RUN (`none` isolates; anything else uses the host network).
    pub network_mode: Option<String>,
    /// `q`: no step output, only the aux id.
    pub quiet: bool,
    /// `rm` (accepted; no intermediate containers are kept either way).
    pub rm: bool,
    /// `forcerm` (accepted; see `rm`).
    pub force_rm: bool,
    /// `platform` (only the host platform is built).
    pub platform: Option<String>,
    /// `cachefrom` (accepted, unused: the local cache is always consulted).
    pub cache_from: Vec<String>,
    /// `shmsize` in bytes for RUN.
    pub shm_size: Option<u64>,
    /// `extrahosts`: `name:ip` lines RUN steps see in /etc/hosts.
    pub extra_hosts: Vec<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            dockerfile: "Dockerfile".into(),
            tags: Vec::new(),
            build_args: HashMap::new(),
            target: None,
            no_cache: false,
            pull: false,
            labels: HashMap::new(),
            network_mode: None,
            quiet: false,
            rm: true,
            force_rm: false,
            platform: None,
            cache_from: Vec::new(),
            shm_size: None,
            extra_hosts: Vec::new(),
        }
    }
}

impl BuildOptions {
    /// Options from `POST /build` query pairs (repeated `t`; JSON `buildargs`, `labels`,
    /// `cachefrom`; Docker's boolean spellings). Unknown parameters are ignored.
    pub fn from_query(pairs: &[(String, String)]) -> Result<BuildOptions, BuildError> {
        let mut o = BuildOptions::default();
        let truthy =
            |v: &str| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "t" | "yes");
        let bad = |k: &str, e: serde_json::Error| BuildError::Invalid(format!("invalid {k}: {e}"));
        // Go's FormValue: a parameter given twice counts with its first value (docker-py sends
        // `dockerfile` twice for an out-of-context Dockerfile); only `t` and `extrahosts` repeat.
        let mut seen = HashSet::new();
        for (k, v) in pairs {
            if k != "t" && k != "extrahosts" && !seen.insert(k.as_str()) {
                continue;
            }
            match k.as_str() {
                "dockerfile" if !v.is_empty() => o.dockerfile = v.clone(),
                "t" if !v.is_empty() => o.tags.push(v.clone()),
                "buildargs" if !v.is_empty() => {
                    o.build_args = serde_json::from_str(v).map_err(|e| bad(k, e))?
                }
                "labels" if !v.is_empty() => {
                    o.labels = serde_json::from_str(v).map_err(|e| bad(k, e))?
                }
                "cachefrom" if !v.is_empty() => {
                    o.cache_from = serde_json::from_str(v).map_err(|e| bad(k, e))?
                }
                "extrahosts" if !v.is_empty() => o.extra_hosts.push(v.clone()),
                "target" if !v.is_empty() => o.target = Some(v.clone()),
                "networkmode" if !v.is_empty() => o.network_mode = Some(v.clone()),
                "platform" if !v.is_empty() => o.platform = Some(v.clone()),
                "shmsize" if !v.is_empty() => {
                    o.shm_size = Some(
                        v.parse()
                            .map_err(|_| BuildError::Invalid(format!("invalid shmsize: {v}")))?,
                    )
                }
                "nocache" => o.no_cache = truthy(v),
                "pull" => o.pull = truthy(v),
                "q" => o.quiet = truthy(v),
                "rm" => o.rm = truthy(v),
                "forcerm" => o.force_rm = truthy(v),
                _ => {}
            }
        }
        Ok(o)
    }
}

/// Where build output goes; the daemon wraps it as `{"stream": ...}` / `{"aux":{"ID":...}}`.
pub trait BuildOutput {
    /// Text for the user (usually whole lines ending in `\n`).
    fn stream(&mut self, text: &str);
    /// The id of the built image (sent once, before `Successfully built`).
    fn aux_id(&mut self, id: &Digest);
}

/// Collects output in memory (tests, `berth build` without a daemon).
#[derive(Debug, Default, Clone)]
pub struct CollectOutput {
    /// Everything streamed.
    pub text: String,
    /// The aux id, once sent.
    pub id: Option<Digest>,
}

impl BuildOutput for CollectOutput {
    fn stream(&mut self, text: &str) {
        self.text.push_str(text);
    }
    fn aux_id(&mut self, id: &Digest) {
        self.id = Some(id.clone());
    }
}

/// Pulls a missing base image by name (set by the daemon; errors are shown to the user).
pub type Puller = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Puts RUN steps on a daemon network (`build --network <name>`); the daemon provides it, as
/// networks are its business, not the builder's.
pub trait NetworkJoiner: Send + Sync {
    /// Joins step `id` to `network`: a network namespace with an endpoint there.
    fn join(&self, id: &str, network: &str) -> Result<JoinedNetwork, String>;
    /// Undoes `join` for step `id`.
    fn leave(&self, id: &str);
}

/// Where a step joined a network.
#[derive(Debug, Clone)]
pub struct JoinedNetwork {
    /// The network namespace to run in.
    pub netns: PathBuf,
    /// The resolv.conf a container on that network gets (the embedded DNS on user networks).
    pub resolv_conf: String,
}

/// Leaves the network when the step is over, however it ends.
struct LeaveNetwork {
    joiner: Arc<dyn NetworkJoiner>,
    id: String,
}

impl Drop for LeaveNetwork {
    fn drop(&mut self) {
        self.joiner.leave(&self.id);
    }
}

/// The network a RUN step gets.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RunNet {
    /// The host's (also what `default` and `bridge` mean here: no NAT on the hot path).
    Host,
    /// A private namespace with only loopback.
    None,
    /// A daemon network by name or id.
    Named(String),
}

/// Errors of a build.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A variable substitution failed.
    #[error(transparent)]
    Expand(#[from] ExpandError),
    /// Bad input (options, context, instruction arguments), in Docker's words.
    #[error("{0}")]
    Invalid(String),
    /// A base image could not be found or pulled.
    #[error("{0}")]
    NotFound(String),
    /// A RUN step failed.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        /// The command as Docker shows it (`/bin/sh -c false`).
        command: String,
        /// Its exit code.
        code: i32,
    },
    /// Image store failure.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// Snapshot failure.
    #[error(transparent)]
    Snapshot(#[from] berth_snapshot::SnapshotError),
    /// OCI spec failure.
    #[error(transparent)]
    Spec(#[from] berth_oci::SpecError),
    /// I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What failed.
        context: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Cache database failure.
    #[error("build cache: {0}")]
    Db(String),
}

impl Classify for BuildError {
    fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Parse(_) | BuildError::Expand(_) | BuildError::Invalid(_) => {
                ErrorKind::InvalidArgument
            }
            BuildError::NotFound(_) => ErrorKind::NotFound,
            BuildError::RunFailed { .. } => ErrorKind::InvalidArgument,
            BuildError::Image(e) => e.kind(),
            BuildError::Snapshot(e) => e.kind(),
            BuildError::Spec(e) => e.kind(),
            BuildError::Io { .. } | BuildError::Db(_) => ErrorKind::Internal,
        }
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

fn db_err(e: impl std::fmt::Display) -> BuildError {
    BuildError::Db(e.to_string())
}

/// Everything a build needs from the host: stores, the OCI runtime, and scratch space.
pub struct LocalBackend {
    store: Arc<ImageStore>,
    snap: Arc<dyn Snapshotter>,
    db: Arc<redb::Database>,
    runtime: PathBuf,
    runtime_root: PathBuf,
    work_dir: PathBuf,
    puller: Option<Puller>,
    networks: Option<Arc<dyn NetworkJoiner>>,
}

impl LocalBackend {
    /// Creates the backend; `work_dir` (`<data-root>/build`) holds contexts and bundles while a
    /// build runs. Creates the `build_cache` table.
    pub fn new(
        store: Arc<ImageStore>,
        snap: Arc<dyn Snapshotter>,
        db: Arc<redb::Database>,
        runtime: PathBuf,
        runtime_root: PathBuf,
        work_dir: PathBuf,
    ) -> Result<Self, BuildError> {
        std::fs::create_dir_all(&work_dir).map_err(io_err(work_dir.display().to_string()))?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(CACHE_TABLE).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(LocalBackend {
            store,
            snap,
            db,
            runtime,
            runtime_root,
            work_dir,
            puller: None,
            networks: None,
        })
    }

    /// Sets what puts RUN steps on daemon networks (`build --network <name>`).
    pub fn with_networks(mut self, networks: Arc<dyn NetworkJoiner>) -> Self {
        self.networks = Some(networks);
        self
    }

    /// Sets the hook that pulls a missing (or, with `pull`, every) base image.
    pub fn with_puller(mut self, puller: Puller) -> Self {
        self.puller = Some(puller);
        self
    }

    fn cache_get(&self, key: &str) -> Option<Digest> {
        let rtx = self.db.begin_read().ok()?;
        let t = rtx.open_table(CACHE_TABLE).ok()?;
        let v = t.get(key).ok()??;
        v.value().parse().ok()
    }

    fn cache_put(&self, key: &str, id: &Digest) -> Result<(), BuildError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(CACHE_TABLE).map_err(db_err)?;
            t.insert(key, id.to_string().as_str()).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }
}

/// Empties the build cache. Returns bytes freed: always 0, since cached steps are ordinary
/// (untagged) images that `image prune` removes.
pub fn prune_cache(backend: &LocalBackend) -> Result<u64, BuildError> {
    let tx = backend.db.begin_write().map_err(db_err)?;
    tx.delete_table(CACHE_TABLE).map_err(db_err)?;
    tx.open_table(CACHE_TABLE).map_err(db_err)?;
    tx.commit().map_err(db_err)?;
    Ok(0)
}

fn rand_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn short(d: &Digest) -> &str {
    &d.hex()[..12]
}

fn now() -> String {
    berth_core::time::rfc3339_nanos(chrono::Utc::now())
}

fn host_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        o => o,
    }
    .to_string()
}

/// Output wrapper that honours `quiet`.
struct Out<'a> {
    inner: &'a mut dyn BuildOutput,
    quiet: bool,
}

impl Out<'_> {
    fn line(&mut self, s: &str) {
        if !self.quiet {
            self.inner.stream(s);
        }
    }
}

/// Removes a directory tree when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A writable snapshot mounted at `<dir>/rootfs`; unmounted and removed when dropped.
struct Mounted<'a> {
    snap: &'a dyn Snapshotter,
    key: String,
    dir: PathBuf,
    rootfs: PathBuf,
    mounted: bool,
}

impl<'a> Mounted<'a> {
    fn new(b: &'a LocalBackend, key: String, parent: Option<&Digest>) -> Result<Self, BuildError> {
        let chain = match parent {
            Some(id) => b.store.layer_chain(id)?,
            None => None,
        };
        let dir = b.work_dir.join(&key);
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).map_err(io_err(rootfs.display().to_string()))?;
        let mut m = Mounted {
            snap: b.snap.as_ref(),
            key,
            dir,
            rootfs,
            mounted: false,
        };
        m.snap.prepare(&m.key, chain.as_ref())?;
        m.snap.mount(&m.key, &m.rootfs)?;
        m.mounted = true;
        Ok(m)
    }

    fn unmount(&mut self) -> Result<(), BuildError> {
        if self.mounted {
            self.snap.unmount(&self.rootfs)?;
            self.mounted = false;
        }
        Ok(())
    }
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        if self.mounted {
            let _ = self.snap.unmount(&self.rootfs);
        }
        let _ = self.snap.remove(&self.key);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One stage: its FROM and the steps after it.
struct StageDef {
    name: Option<String>,
    from: Step,
    steps: Vec<Step>,
}

/// Mutable state of the stage being built.
struct State {
    image: Option<Digest>,
    cfg: ImageConfig,
    /// Declared ARGs in scope and their values.
    args: BTreeMap<String, Option<String>>,
    cmd_set: bool,
}

impl State {
    fn run(&mut self) -> &mut RunConfig {
        self.cfg.config.get_or_insert_with(RunConfig::default)
    }

    fn env_get(&self, k: &str) -> Option<String> {
        let env = self.cfg.config.as_ref().and_then(|c| c.env.as_ref())?;
        env.iter().find_map(|e| {
            let (ek, v) = e.split_once('=')?;
            (ek == k).then(|| v.to_string())
        })
    }

    /// Variable lookup for substitution: ENV wins over ARG.
    fn lookup(&self, k: &str) -> Option<String> {
        self.env_get(k)
            .or_else(|| self.args.get(k).cloned().flatten())
    }

    fn set_env(&mut self, k: &str, v: &str) {
        let env = self.run().env.get_or_insert_with(Vec::new);
        let item = format!("{k}={v}");
        match env.iter().position(|e| e.split('=').next() == Some(k)) {
            Some(i) => env[i] = item,
            None => env.push(item),
        }
    }
}

/// The build of one context.
struct Builder<'a> {
    b: &'a LocalBackend,
    opts: &'a BuildOptions,
    out: Out<'a>,
    ctx: PathBuf,
    escape: char,
    meta_args: BTreeMap<String, Option<String>>,
    consumed: BTreeSet<String>,
    stage_results: Vec<Option<(Option<Digest>, Option<String>)>>,
    step_no: usize,
    total: usize,
    /// With `--cache-from`: the named images and all their ancestors, found once per build.
    cache_from_ids: Option<HashSet<Digest>>,
}

/// Builds the Dockerfile in `context_tar` (plain or gzip tar); returns the image id.
pub fn build(
    backend: &LocalBackend,
    context_tar: &mut dyn Read,
    opts: &BuildOptions,
    out: &mut dyn BuildOutput,
) -> Result<Digest, BuildError> {
    let ctx_dir = backend.work_dir.join(format!("ctx-{}", &rand_hex()[..16]));
    std::fs::create_dir_all(&ctx_dir).map_err(io_err(ctx_dir.display().to_string()))?;
    let _ctx_guard = TempDir(ctx_dir.clone());
    extract_context(context_tar, &ctx_dir)?;
    let df_rel = fsutil::clean_rel(&opts.dockerfile);
    let df_rel = if df_rel.is_empty() {
        "Dockerfile".to_string()
    } else {
        df_rel
    };
    let df_path = fsutil::resolve_in_root(&ctx_dir, &df_rel).map_err(io_err("Dockerfile"))?;
    let text = std::fs::read_to_string(&df_path).map_err(|_| {
        BuildError::Invalid(format!(
            "Cannot locate specified Dockerfile: {}",
            opts.dockerfile
        ))
    })?;
    let file_name = Path::new(&df_rel)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let df = dockerfile::parse_named(&text, &file_name)?;
    if let Ok(ig) = std::fs::read_to_string(ctx_dir.join(".dockerignore")) {
        prune_ignored(&ctx_dir, "", &IgnoreRules::parse(&ig))?;
    }
    let mut builder = Builder {
        b: backend,
        opts,
        out: Out {
            inner: out,
            quiet: opts.quiet,
        },
        ctx: ctx_dir.clone(),
        escape: df.escape,
        meta_args: BTreeMap::new(),
        consumed: BTreeSet::new(),
        stage_results: Vec::new(),
        step_no: 0,
        total: 0,
        cache_from_ids: None,
    };
    builder.run(df)
}

fn extract_context(r: &mut dyn Read, dir: &Path) -> Result<(), BuildError> {
    let mut br = BufReader::new(r);
    let head = br.fill_buf().map_err(io_err("reading build context"))?;
    if head.is_empty() {
        return Ok(());
    }
    let gz = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let rdr: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(br))
    } else {
        Box::new(br)
    };
    let mut ar = tar::Archive::new(rdr);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    ar.unpack(dir)
        .map_err(|e| BuildError::Invalid(format!("invalid build context: {e}")))
}

/// Deletes context entries `.dockerignore` excludes (the Dockerfile and `.dockerignore` are
/// read before this).
fn prune_ignored(root: &Path, rel: &str, rules: &IgnoreRules) -> Result<(), BuildError> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let rd = std::fs::read_dir(&dir).map_err(io_err(dir.display().to_string()))?;
    for e in rd {
        let e = e.map_err(io_err("reading context"))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let excluded = rules.excluded(&r);
        if is_dir {
            if excluded && !rules.may_reinclude_under(&r) {
                std::fs::remove_dir_all(e.path()).map_err(io_err(r.clone()))?;
            } else {
                prune_ignored(root, &r, rules)?;
            }
        } else if excluded {
            std::fs::remove_file(e.path()).map_err(io_err(r.clone()))?;
        }
    }
    Ok(())
}

/// Go's `%q`-style list Docker uses in history lines: `["a" "b"]`.
fn quoted_list(v: &[String]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(" "))
}

/// Parses Go durations like `30s`, `1m30s`, `500ms` into nanoseconds.
fn parse_duration(s: &str) -> Option<i64> {
    let mut total: f64 = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num.parse().ok()?;
        num.clear();
        let mult = match unit.as_str() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += v * mult;
        any = true;
    }
    if !num.is_empty() {
        if num == "0" {
            return Some(0);
        }
        return None;
    }
    any.then_some(total as i64)
}

impl<'a> Builder<'a> {
    fn lookup_fn<'s>(&'s self, st: &'s State) -> impl Fn(&str) -> Option<String> + 's {
        move |k: &str| st.lookup(k)
    }

    fn expand(&self, st: &State, w: &str) -> Result<String, BuildError> {
        let f = self.lookup_fn(st);
        Ok(dockerfile::expand(w, &f, self.escape)?)
    }

    fn build_arg(&self, name: &str) -> Option<Option<String>> {
        self.opts.build_args.get(name).cloned()
    }

    fn run(&mut self, df: dockerfile::Dockerfile) -> Result<Digest, BuildError> {
        // Split into global ARGs and stages.
        let mut stages: Vec<StageDef> = Vec::new();
        for step in df.steps {
            match (&step.instruction, stages.last_mut()) {
                (Instruction::From { name, .. }, _) => stages.push(StageDef {
                    name: name.clone(),
                    from: step.clone(),
                    steps: Vec::new(),
                }),
                (Instruction::Arg(args), None) => {
                    for (k, v) in args {
                        let val = match self.build_arg(k) {
                            Some(Some(v)) => Some(v),
                            _ => match v {
                                Some(d) => {
                                    let meta = &self.meta_args;
                                    let f = |n: &str| meta.get(n).cloned().flatten();
                                    Some(dockerfile::expand(d, &f, self.escape)?)
                                }
                                None => None,
                            },
                        };
                        if self.opts.build_args.contains_key(k) {
                            self.consumed.insert(k.clone());
                        }
                        self.meta_args.insert(k.clone(), val);
                    }
                }
                (_, None) => {
                    return Err(BuildError::Invalid(format!(
                        "{}:{}: no build stage in current context",
                        "Dockerfile", step.line
                    )));
                }
                (_, Some(s)) => s.steps.push(step),
            }
        }
        if stages.is_empty() {
            return Err(BuildError::Invalid(
                "the Dockerfile (Dockerfile) cannot be empty".into(),
            ));
        }
        let target = match &self.opts.target {
            Some(t) if !t.is_empty() => {
                let t = t.to_ascii_lowercase();
                stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(t.as_str()))
                    .ok_or_else(|| {
                        BuildError::Invalid(format!(
                            "failed to reach build target {t} in Dockerfile"
                        ))
                    })?
            }
            _ => stages.len() - 1,
        };
        stages.truncate(target + 1);
        if !self.opts.labels.is_empty() {
            let mut labels: Vec<(&String, &String)> = self.opts.labels.iter().collect();
            labels.sort();
            let pairs: Vec<(String, String)> = labels
                .iter()
                .map(|(k, v)| {
                    (
                        serde_json::to_string(k).unwrap_or_default(),
                        serde_json::to_string(v).unwrap_or_default(),
                    )
                })
                .collect();
            let original = format!(
                "LABEL {}",
                pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            if let Some(last) = stages.last_mut() {
                last.steps.push(Step {
                    line: 0,
                    original,
                    instruction: Instruction::Label(pairs),
                });
            }
        }
        // Only stages the target depends on are built.
        let needed = self.needed_stages(&stages, target);
        self.total = stages
            .iter()
            .enumerate()
            .filter(|(i, _)| needed.contains(i))
            .map(|(_, s)| s.steps.len() + 1)
            .sum();
        self.stage_results = vec![None; stages.len()];
        self.build_stages(&stages, &needed)?;
        let (id, _) = self.stage_results[target]
            .clone()
            .ok_or_else(|| BuildError::Invalid("target stage was not built".into()))?;
        let id = match id {
            Some(id) => id,
            None => {
                // `FROM scratch` alone: Docker refuses too.
                return Err(BuildError::Invalid(
                    "No image was generated. Is your Dockerfile empty?".into(),
                ));
            }
        };
        let unused: Vec<&String> = self
            .opts
            .build_args
            .keys()
            .filter(|k| !self.consumed.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let mut u: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            u.sort();
            self.out.line(&format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                u.join(" ")
            ));
        }
        self.out.inner.aux_id(&id);
        self.out
            .line(&format!("Successfully built {}\n", short(&id)));
        for t in &self.opts.tags {
            let r = Reference::parse(t)
                .map_err(|e| BuildError::Invalid(format!("invalid tag {t:?}: {e}")))?
                .with_default_tag();
            self.b.store.tag(&id, &r)?;
            self.out
                .line(&format!("Successfully tagged {}\n", r.familiar_string()));
        }
        Ok(id)
    }

    /// Indices of stages `target` needs (through FROM <stage> and COPY --from).
    fn needed_stages(&self, stages: &[StageDef], target: usize) -> BTreeSet<usize> {
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if needed.insert(i) {
                todo.extend(self.stage_deps(stages, i));
            }
        }
        needed
    }

    /// Earlier stages stage `i` uses (FROM <stage>, COPY --from=<stage>).
    fn stage_deps(&self, stages: &[StageDef], i: usize) -> Vec<usize> {
        let meta = &self.meta_args;
        let f = |n: &str| meta.get(n).cloned().flatten();
        let mut refs = Vec::new();
        if let Instruction::From { image, .. } = &stages[i].from.instruction {
            refs.push(dockerfile::expand(image, &f, self.escape).unwrap_or_default());
        }
        for s in &stages[i].steps {
            if let Instruction::Copy(c) = &s.instruction
                && let Some(from) = c.flag("from")
            {
                refs.push(from.to_string());
            }
        }
        refs.iter()
            .filter_map(|r| stage_index(stages, r, i))
            .collect()
    }

    /// Builds the needed stages; stages whose dependencies are all built run in parallel
    /// (their output is buffered and shown in stage order).
    fn build_stages(
        &mut self,
        stages: &[StageDef],
        needed: &BTreeSet<usize>,
    ) -> Result<(), BuildError> {
        let mut offsets = vec![0usize; stages.len()];
        let mut acc = 0;
        for (i, s) in stages.iter().enumerate() {
            if needed.contains(&i) {
                offsets[i] = acc;
                acc += s.steps.len() + 1;
            }
        }
        let deps: Vec<Vec<usize>> = (0..stages.len())
            .map(|i| self.stage_deps(stages, i))
            .collect();
        let mut done: BTreeSet<usize> = BTreeSet::new();
        while done.len() < needed.len() {
            let wave: Vec<usize> = needed
                .iter()
                .copied()
                .filter(|i| !done.contains(i) && deps[*i].iter().all(|d| done.contains(d)))
                .collect();
            if wave.is_empty() {
                return Err(BuildError::Invalid(
                    "circular dependency between stages".into(),
                ));
            }
            if wave.len() == 1 {
                let i = wave[0];
                self.step_no = offsets[i];
                let res = self.build_stage(stages, i, &stages[i])?;
                self.stage_results[i] = Some(res);
                done.insert(i);
                continue;
            }
            type StageOutcome = (
                usize,
                CollectOutput,
                BTreeSet<String>,
                Result<(Option<Digest>, Option<String>), BuildError>,
            );
            let results: Vec<StageOutcome> = std::thread::scope(|scope| {
                let handles: Vec<_> = wave
                    .iter()
                    .map(|&i| {
                        let b = self.b;
                        let opts = self.opts;
                        let ctx = self.ctx.clone();
                        let escape = self.escape;
                        let meta_args = self.meta_args.clone();
                        let stage_results = self.stage_results.clone();
                        let quiet = self.out.quiet;
                        let total = self.total;
                        let step_no = offsets[i];
                        scope.spawn(move || {
                            let mut buf = CollectOutput::default();
                            let (res, consumed) = {
                                let mut sub = Builder {
                                    b,
                                    opts,
                                    out: Out {
                                        inner: &mut buf,
                                        quiet,
                                    },
                                    ctx,
                                    escape,
                                    meta_args,
                                    consumed: BTreeSet::new(),
                                    stage_results,
                                    step_no,
                                    total,
                                    cache_from_ids: None,
                                };
                                let r = sub.build_stage(stages, i, &stages[i]);
                                (r, sub.consumed)
                            };
                            (i, buf, consumed, res)
                        })
                    })
                    .collect();
                handles.into_iter().filter_map(|h| h.join().ok()).collect()
            });
            if results.len() != wave.len() {
                return Err(BuildError::Invalid("a build stage panicked".into()));
            }
            let mut first_err = None;
            for (i, buf, consumed, res) in results {
                if first_err.is_some() {
                    break;
                }
                self.out.line(&buf.text);
                self.consumed.extend(consumed);
                match res {
                    Ok(r) => {
                        self.stage_results[i] = Some(r);
                        done.insert(i);
                    }
                    Err(e) => first_err = Some(e),
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        Ok(())
    }

    fn header(&mut self, original: &str) {
        self.step_no += 1;
        let s = format!("Step {}/{} : {}\n", self.step_no, self.total, original);
        self.out.line(&s);
    }

    fn build_stage(
        &mut self,
        stages: &[StageDef],
        idx: usize,
        stage: &StageDef,
    ) -> Result<(Option<Digest>, Option<String>), BuildError> {
        self.header(&stage.from.original);
        let Instruction::From { image, .. } = &stage.from.instruction else {
            return Err(BuildError::Invalid("stage without FROM".into()));
        };
        let meta = &self.meta_args;
        let f = |n: &str| meta.get(n).cloned().flatten();
        let image = dockerfile::expand(image, &f, self.escape)?;
        let mut st = State {
            image: None,
            cfg: ImageConfig::default(),
            args: BTreeMap::new(),
            cmd_set: false,
        };
        if let Some(j) = stage_index(stages, &image, idx) {
            let (id, _) = self.stage_results[j]
                .clone()
                .ok_or_else(|| BuildError::Invalid(format!("stage {image} was not built")))?;
            st.image = id;
        } else if image.eq_ignore_ascii_case("scratch") {
            st.image = None;
        } else {
            st.image = Some(self.base_image(&image)?);
        }
        match &st.image {
            Some(id) => {
                st.cfg = self.b.store.config(id)?;
                self.out.line(&format!(" ---> {}\n", short(id)));
            }
            None => {
                st.cfg = ImageConfig {
                    architecture: host_arch(),
                    os: "linux".into(),
                    ..Default::default()
                };
                self.out.line(" ---> \n");
            }
        }
        if st.env_get("PATH").is_none() {
            st.set_env(
                "PATH",
                berth_oci::DEFAULT_PATH_ENV.trim_start_matches("PATH="),
            );
        }
        // ONBUILD triggers of the base run first, then are dropped from the child.
        let triggers = st
            .cfg
            .config
            .as_ref()
            .and_then(|c| c.on_build.clone())
            .unwrap_or_default();
        if !triggers.is_empty() {
            let n = triggers.len();
            self.out.line(&format!(
                "# Executing {n} build trigger{}\n",
                if n == 1 { "" } else { "s" }
            ));
            st.run().on_build = None;
            for t in triggers {
                let df = dockerfile::parse_named(&t, "ONBUILD")?;
                for s in df.steps {
                    self.dispatch(stages, &mut st, &s)?;
                }
            }
        }
        for s in &stage.steps {
            self.header(&s.original);
            self.dispatch(stages, &mut st, s)?;
        }
        Ok((st.image, stage.name.clone()))
    }

    fn base_image(&mut self, name: &str) -> Result<Digest, BuildError> {
        if self.opts.pull
            && let Some(p) = &self.b.puller
        {
            p(name).map_err(BuildError::NotFound)?;
        }
        match self.b.store.get(name) {
            Ok(r) => Ok(r.id),
            Err(ImageError::NotFound(_)) => match &self.b.puller {
                Some(p) => {
                    p(name).map_err(BuildError::NotFound)?;
                    Ok(self.b.store.get(name)?.id)
                }
                None => {
                    let repo = Reference::parse(name)
                        .map(|r| r.familiar_repository())
                        .unwrap_or_else(|_| name.to_string());
                    Err(BuildError::NotFound(format!(
                        "pull access denied for {repo}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
                    )))
                }
            },
            Err(e) => Err(e.into()),
        }
    }

    fn cache_key(st: &State, desc: &str, content: &str) -> String {
        let mut h = Sha256::new();
        h.update(
            st.image
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "scratch".into()),
        );
        h.update(b"\n");
        h.update(desc.as_bytes());
        h.update(b"\n");
        h.update(content.as_bytes());
        hex::encode(h.finalize())
    }

    /// Reuses a cached step when allowed; returns whether it did.
    /// With `--cache-from`, as in dockerd's classic builder, a cached step counts only when it
    /// is one of the named images or an ancestor of one (names that do not resolve are
    /// skipped, so unknown names alone disable the cache).
    fn cache_from_allows(&mut self, id: &Digest) -> bool {
        // Bounds the parent walk should a chain ever loop.
        const MAX_DEPTH: usize = 10_000;
        let store = &self.b.store;
        let names = &self.opts.cache_from;
        self.cache_from_ids
            .get_or_insert_with(|| {
                let mut ids = HashSet::new();
                for name in names {
                    let mut cur = store.get(name).ok().map(|r| r.id);
                    for _ in 0..MAX_DEPTH {
                        let Some(c) = cur.take() else {
                            break;
                        };
                        cur = store.get(&c.to_string()).ok().and_then(|r| r.parent);
                        if !ids.insert(c) {
                            break;
                        }
                    }
                }
                ids
            })
            .contains(id)
    }

    fn try_cache(&mut self, st: &mut State, key: &str) -> Result<bool, BuildError> {
        if self.opts.no_cache {
            return Ok(false);
        }
        let Some(id) = self.b.cache_get(key) else {
            return Ok(false);
        };
        if !self.opts.cache_from.is_empty() && !self.cache_from_allows(&id) {
            return Ok(false);
        }
        let Ok(cfg) = self.b.store.config(&id) else {
            return Ok(false);
        };
        st.image = Some(id.clone());
        st.cfg = cfg;
        self.out
            .line(&format!(" ---> Using cache\n ---> {}\n", short(&id)));
        Ok(true)
    }

    fn dispatch(
        &mut self,
        stages: &[StageDef],
        st: &mut State,
        s: &Step,
    ) -> Result<(), BuildError> {
        match &s.instruction {
            Instruction::From { .. } => {
                return Err(BuildError::Invalid("unexpected FROM".into()));
            }
            Instruction::Run {
                flags,
                command,
                heredocs,
            } => return self.run_step(st, flags, command, heredocs),
            Instruction::Copy(c) => return self.copy_step(stages, st, c, false),
            Instruction::Add(c) => return self.copy_step(stages, st, c, true),
            _ => {}
        }
        // Metadata-only steps: compute the new config, then commit without a layer.
        let desc: String;
        match &s.instruction {
            Instruction::Env(pairs) => {
                let mut set = Vec::new();
                for (k, v) in pairs {
                    set.push((self.expand(st, k)?, self.expand(st, v)?));
                }
                for (k, v) in &set {
                    st.set_env(k, v);
                }
                desc = format!(
                    "ENV {}",
                    set.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            Instruction::Arg(args) => {
                let mut parts = Vec::new();
                for (k, d) in args {
                    let val = match self.build_arg(k) {
                        Some(Some(v)) => Some(v),
                        _ => match d {
                            Some(d) => Some(self.expand(st, d)?),
                            None => self.meta_args.get(k).cloned().flatten(),
                        },
                    };
                    if self.opts.build_args.contains_key(k) {
                        self.consumed.insert(k.clone());
                    }
                    parts.push(match d {
                        Some(d) => format!("{k}={d}"),
                        None => k.clone(),
                    });
                    st.args.insert(k.clone(), val);
                }
                desc = format!("ARG {}", parts.join(" "));
            }
            Instruction::Label(pairs) => {
                let mut set = Vec::new();
                for (k, v) in pairs {
                    set.push((self.expand(st, k)?, self.expand(st, v)?));
                }
                let labels = st.run().labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in &set {
                    labels.insert(k.clone(), v.clone());
                }
                desc = format!(
                    "LABEL {}",
                    set.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            Instruction::Maintainer(m) => {
                st.cfg.author = Some(m.clone());
                desc = format!("MAINTAINER {m}");
            }
            Instruction::Cmd(c) => {
                let v = self.command_vec(st, c);
                st.run().cmd = Some(v.clone());
                st.cmd_set = true;
                desc = format!("CMD {}", quoted_list(&v));
            }
            Instruction::Entrypoint(c) => {
                let v = self.command_vec(st, c);
                st.run().entrypoint = Some(v.clone());
                if !st.cmd_set {
                    // Docker: a new ENTRYPOINT drops the CMD inherited from the base.
                    st.run().cmd = None;
                }
                desc = format!("ENTRYPOINT {}", quoted_list(&v));
            }
            Instruction::Shell(v) => {
                st.run().shell = Some(v.clone());
                desc = format!("SHELL {}", quoted_list(v));
            }
            Instruction::Expose(ports) => {
                let mut ps = Vec::new();
                for p in ports {
                    let p = self.expand(st, p)?;
                    let p = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    ps.push(p);
                }
                let ep = st.run().exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in &ps {
                    ep.insert(p.clone(), Default::default());
                }
                desc = format!("EXPOSE {}", ps.join(" "));
            }
            Instruction::User(u) => {
                let u = self.expand(st, u)?;
                st.run().user = Some(u.clone());
                desc = format!("USER {u}");
            }
            Instruction::Workdir(w) => {
                let w = self.expand(st, w)?;
                let cur = st
                    .cfg
                    .config
                    .as_ref()
                    .and_then(|c| c.working_dir.clone())
                    .filter(|w| !w.is_empty())
                    .unwrap_or_else(|| "/".into());
                let joined = if w.starts_with('/') {
                    w
                } else {
                    format!("{cur}/{w}")
                };
                let clean = format!("/{}", fsutil::clean_rel(&joined));
                st.run().working_dir = Some(clean.clone());
                desc = format!("WORKDIR {clean}");
            }
            Instruction::Volume(vs) => {
                let mut list = Vec::new();
                for v in vs {
                    list.push(self.expand(st, v)?);
                }
                let vols = st.run().volumes.get_or_insert_with(BTreeMap::new);
                for v in &list {
                    vols.insert(v.clone(), Default::default());
                }
                desc = format!("VOLUME {}", quoted_list(&list));
            }
            Instruction::Stopsignal(sig) => {
                let sig = self.expand(st, sig)?;
                st.run().stop_signal = Some(sig.clone());
                desc = format!("STOPSIGNAL {sig}");
            }
            Instruction::Onbuild(t) => {
                st.run()
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(t.clone());
                desc = format!("ONBUILD {t}");
            }
            Instruction::Healthcheck(h) => {
                let hc = match h {
                    Healthcheck::None => berth_api::HealthConfig {
                        test: Some(vec!["NONE".into()]),
                        ..Default::default()
                    },
                    Healthcheck::Cmd { flags, command } => {
                        let test = match command {
                            Command::Exec(v) => {
                                let mut t = vec!["CMD".to_string()];
                                t.extend(v.iter().cloned());
                                t
                            }
                            Command::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                        };
                        let dur = |name: &str| -> Result<Option<i64>, BuildError> {
                            match dockerfile::flag(flags, name) {
                                None => Ok(None),
                                Some(v) => parse_duration(v).map(Some).ok_or_else(|| {
                                    BuildError::Invalid(format!("time: invalid duration \"{v}\""))
                                }),
                            }
                        };
                        let retries = match dockerfile::flag(flags, "retries") {
                            None => None,
                            Some(v) => Some(v.parse::<i64>().map_err(|_| {
                                BuildError::Invalid(format!("invalid --retries value {v:?}"))
                            })?),
                        };
                        berth_api::HealthConfig {
                            test: Some(test),
                            interval: dur("interval")?,
                            timeout: dur("timeout")?,
                            start_period: dur("start-period")?,
                            start_interval: dur("start-interval")?,
                            retries,
                        }
                    }
                };
                let t = hc.test.clone().unwrap_or_default();
                st.run().healthcheck = Some(hc);
                desc = format!("HEALTHCHECK &{{{}}}", quoted_list(&t));
            }
            Instruction::From { .. }
            | Instruction::Run { .. }
            | Instruction::Copy(_)
            | Instruction::Add(_) => return unreachable_step(),
        }
        let created_by = format!("/bin/sh -c #(nop)  {desc}");
        let key = Self::cache_key(st, &created_by, "");
        if self.try_cache(st, &key)? {
            return Ok(());
        }
        // Docker 20.10 commits metadata steps through a (never started) container too, and
        // says so.
        let sid = rand_hex()[..12].to_string();
        self.out.line(&format!(" ---> Running in {sid}\n"));
        let id = self.commit(st, &created_by, None)?;
        self.b.cache_put(&key, &id)?;
        self.removed_intermediate(&sid);
        self.out.line(&format!(" ---> {}\n", short(&id)));
        Ok(())
    }

    /// Docker's line for a step's container, removed after a successful step unless `--rm=false`
    /// (always with `--force-rm`).
    fn removed_intermediate(&mut self, sid: &str) {
        if self.opts.rm || self.opts.force_rm {
            self.out
                .line(&format!("Removing intermediate container {sid}\n"));
        }
    }

    /// CMD/ENTRYPOINT value: exec form as is, shell form through SHELL.
    fn command_vec(&self, st: &State, c: &Command) -> Vec<String> {
        match c {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut v = shell_of(st);
                v.push(s.clone());
                v
            }
        }
    }

    /// Stores the state's config as a new image; `layer` is a new layer tar (path, diff id).
    fn commit(
        &mut self,
        st: &mut State,
        created_by: &str,
        layer: Option<(&Path, Digest)>,
    ) -> Result<Digest, BuildError> {
        let mut cfg = st.cfg.clone();
        let created = now();
        cfg.created = Some(created.clone());
        cfg.container = None;
        cfg.container_config = None;
        if let Some(parent) = &st.image {
            cfg.config.get_or_insert_with(RunConfig::default).image = Some(parent.to_string());
        }
        cfg.rootfs.kind = "layers".into();
        let n_old = cfg.rootfs.diff_ids.len();
        if let Some((_, d)) = &layer {
            cfg.rootfs.diff_ids.push(d.clone());
        }
        cfg.history.push(History {
            created: Some(created),
            created_by: Some(created_by.to_string()),
            empty_layer: layer.is_none(),
            ..Default::default()
        });
        if cfg.rootfs.diff_ids.is_empty() {
            cfg.rootfs = RootFs {
                kind: "layers".into(),
                diff_ids: Vec::new(),
            };
        }
        let bytes = serde_json::to_vec(&cfg)
            .map_err(|e| BuildError::Invalid(format!("encoding image config: {e}")))?;
        let old = cfg.rootfs.diff_ids.clone();
        let store = &self.b.store;
        let layer_path = layer.as_ref().map(|(p, _)| p.to_path_buf());
        let mut open = |i: usize| -> berth_image::Result<Box<dyn Read>> {
            if i == n_old
                && let Some(p) = &layer_path
            {
                let f = std::fs::File::open(p).map_err(|e| ImageError::Io {
                    context: p.display().to_string(),
                    source: e,
                })?;
                return Ok(Box::new(f));
            }
            let d = old
                .get(i)
                .ok_or_else(|| ImageError::Invalid("layer index out of range".into()))?;
            Ok(Box::new(store.layer_tar(d)?))
        };
        let rec = store.store_pulled(&bytes, &mut open, None, None)?;
        if let Some(parent) = &st.image {
            store.set_parent(&rec.id, parent)?;
        }
        st.image = Some(rec.id.clone());
        st.cfg = cfg;
        Ok(rec.id)
    }

    /// Writes the snapshot's diff to a temp file; returns it with its diff id.
    fn diff_layer(&self, m: &Mounted<'_>) -> Result<(TempDir, PathBuf, Digest), BuildError> {
        let dir = self.b.work_dir.join(format!("layer-{}", &rand_hex()[..16]));
        std::fs::create_dir_all(&dir).map_err(io_err(dir.display().to_string()))?;
        let guard = TempDir(dir.clone());
        let path = dir.join("layer.tar");
        let f = std::fs::File::create(&path).map_err(io_err(path.display().to_string()))?;
        let mut w = HashWriter {
            inner: std::io::BufWriter::new(f),
            h: Sha256::new(),
        };
        self.b.snap.diff_tar(&m.key, &mut w)?;
        w.inner.flush().map_err(io_err("writing layer"))?;
        let d = Digest::from_hasher(w.h);
        Ok((guard, path, d))
    }

    fn run_step(
        &mut self,
        st: &mut State,
        flags: &dockerfile::Flags,
        command: &Command,
        heredocs: &[dockerfile::Heredoc],
    ) -> Result<(), BuildError> {
        // The classic builder has no cache, bind or tmpfs mounts nor security modes; only
        // `--network` (a BuildKit flag) is honoured here.
        for (k, _) in flags {
            if k != "network" {
                return Err(BuildError::Invalid(format!(
                    "the --{k} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
                )));
            }
        }
        let run_net = run_network(
            dockerfile::flag(flags, "network"),
            self.opts.network_mode.as_deref(),
        );
        let args: Vec<String> = match command {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut v = shell_of(st);
                let only_markers = !heredocs.is_empty() && {
                    let mut rest = s.clone();
                    for h in heredocs {
                        for m in [
                            format!("<<-'{}'", h.name),
                            format!("<<-\"{}\"", h.name),
                            format!("<<-{}", h.name),
                            format!("<<'{}'", h.name),
                            format!("<<\"{}\"", h.name),
                            format!("<<{}", h.name),
                        ] {
                            rest = rest.replacen(&m, "", 1);
                        }
                    }
                    rest.trim().is_empty()
                };
                if only_markers {
                    let body: String = heredocs.iter().map(|h| h.content.as_str()).collect();
                    v.push(body);
                } else if heredocs.is_empty() {
                    v.push(s.clone());
                } else {
                    // The shell reads the here-documents itself.
                    let mut script = format!("{s}\n");
                    for h in heredocs {
                        script.push_str(&h.content);
                        script.push_str(&h.name);
                        script.push('\n');
                    }
                    v.push(script);
                }
                v
            }
        };
        // Declared build args reach RUN as environment (ENV wins), and show in history.
        let mut arg_env: Vec<String> = Vec::new();
        for (k, v) in &st.args {
            if let Some(v) = v
                && st.env_get(k).is_none()
            {
                arg_env.push(format!("{k}={v}"));
            }
        }
        for k in PREDEFINED_ARGS {
            if let Some(Some(v)) = self.opts.build_args.get(*k)
                && !st.args.contains_key(*k)
            {
                arg_env.push(format!("{k}={v}"));
            }
        }
        let shown = args.join(" ");
        let created_by = if arg_env.is_empty() {
            shown.clone()
        } else {
            format!("|{} {} {}", arg_env.len(), arg_env.join(" "), shown)
        };
        // The network a step ran with is part of its identity (not of its history text).
        let net_key = match dockerfile::flag(flags, "network") {
            Some(n) => format!(" network={n}"),
            None => String::new(),
        };
        let key = Self::cache_key(st, &format!("RUN {created_by}{net_key}"), "");
        if self.try_cache(st, &key)? {
            return Ok(());
        }
        let id = rand_hex();
        let sid = id[..12].to_string();
        self.out.line(&format!(" ---> Running in {sid}\n"));
        let mut m = Mounted::new(self.b, format!("build-{}", &id[..24]), st.image.as_ref())?;
        let run_cfg = st.cfg.config.clone().unwrap_or_default();
        let cwd = run_cfg
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into());
        let cwd_host = fsutil::resolve_in_root(&m.rootfs, &cwd).map_err(io_err("workdir"))?;
        fsutil::mkdir_all(&cwd_host, None).map_err(io_err(format!("creating workdir {cwd}")))?;
        let user_s = run_cfg.user.clone().unwrap_or_default();
        let user = if user_s.is_empty() {
            berth_oci::ResolvedUser::default()
        } else {
            berth_oci::resolve_user(&m.rootfs, &user_s)
                .map_err(|e| BuildError::Invalid(e.to_string()))?
        };
        let mut env = run_cfg.env.clone().unwrap_or_default();
        env.extend(arg_env);
        // `build --network <name>`: the step joins that daemon network (its DNS included) for as
        // long as it runs; `_leave` takes it off again.
        let (network, joined, _leave) = match &run_net {
            RunNet::Host => (berth_oci::NamespaceMode::Host, None, None),
            RunNet::None => (berth_oci::NamespaceMode::Private, None, None),
            RunNet::Named(name) => {
                let Some(joiner) = self.b.networks.clone() else {
                    return Err(BuildError::Invalid(format!("network {name} not found")));
                };
                let j = joiner.join(&id, name).map_err(BuildError::Invalid)?;
                let leave = LeaveNetwork {
                    joiner,
                    id: id.clone(),
                };
                (
                    berth_oci::NamespaceMode::Path(j.netns.clone()),
                    Some(j),
                    Some(leave),
                )
            }
        };
        // With the host network, RUN sees the host's resolver and hosts files (read-only, like
        // Docker's build containers); mount points the image lacked are removed before the diff.
        let mut mounts = Vec::new();
        let mut created_mountpoints = Vec::new();
        if network == berth_oci::NamespaceMode::Host && m.rootfs.join("etc").is_dir() {
            for f in ["/etc/resolv.conf", "/etc/hosts"] {
                if !Path::new(f).is_file() {
                    continue;
                }
                let inside = fsutil::resolve_in_root(&m.rootfs, f).map_err(io_err(f))?;
                if std::fs::symlink_metadata(&inside).is_err() {
                    created_mountpoints.push(inside);
                }
                mounts.push(berth_oci::bind_mount(Path::new(f), f, true, None));
            }
        }
        if let Some(j) = &joined
            && m.rootfs.join("etc").is_dir()
        {
            let resolv = m.dir.join("resolv.conf");
            std::fs::write(&resolv, &j.resolv_conf)
                .map_err(io_err(resolv.display().to_string()))?;
            let inside = fsutil::resolve_in_root(&m.rootfs, "/etc/resolv.conf")
                .map_err(io_err("/etc/resolv.conf"))?;
            if std::fs::symlink_metadata(&inside).is_err() {
                created_mountpoints.push(inside);
            }
            mounts.push(berth_oci::bind_mount(
                &resolv,
                "/etc/resolv.conf",
                true,
                None,
            ));
        }
        // `--add-host` (and a named network): RUN steps see an /etc/hosts of their own.
        if (!self.opts.extra_hosts.is_empty() || joined.is_some()) && m.rootfs.join("etc").is_dir()
        {
            let base = if network == berth_oci::NamespaceMode::Host {
                std::fs::read_to_string("/etc/hosts").unwrap_or_default()
            } else {
                String::new()
            };
            let hosts_file = m.dir.join("hosts");
            std::fs::write(
                &hosts_file,
                hosts_with_extras(&base, &self.opts.extra_hosts),
            )
            .map_err(io_err(hosts_file.display().to_string()))?;
            mounts.retain(|mnt| mnt.destination() != Path::new("/etc/hosts"));
            let inside =
                fsutil::resolve_in_root(&m.rootfs, "/etc/hosts").map_err(io_err("/etc/hosts"))?;
            if std::fs::symlink_metadata(&inside).is_err() && !created_mountpoints.contains(&inside)
            {
                created_mountpoints.push(inside);
            }
            mounts.push(berth_oci::bind_mount(&hosts_file, "/etc/hosts", true, None));
        }
        let input = berth_oci::SpecInput {
            mounts,
            id: id.clone(),
            rootfs: m.rootfs.clone(),
            args: args.clone(),
            env: berth_oci::container_env(&sid, false, &env),
            cwd,
            user,
            hostname: sid.clone(),
            network,
            uts_host: false,
            cgroups_path: format!("/berth-build-{}", &id[..24]),
            shm_size: self.opts.shm_size,
            ..Default::default()
        };
        let spec = berth_oci::build_spec(&input)?;
        let spec_bytes = serde_json::to_vec_pretty(&spec)
            .map_err(|e| BuildError::Invalid(format!("encoding OCI spec: {e}")))?;
        let cfg_path = m.dir.join("config.json");
        std::fs::write(&cfg_path, spec_bytes).map_err(io_err(cfg_path.display().to_string()))?;
        let code = self.run_container(&m.dir, &id)?;
        for p in created_mountpoints {
            if std::fs::symlink_metadata(&p).is_ok_and(|md| md.is_file() && md.len() == 0) {
                let _ = std::fs::remove_file(&p);
            }
        }
        if code != 0 {
            if self.opts.force_rm {
                self.out
                    .line(&format!("Removing intermediate container {sid}\n"));
            }
            return Err(BuildError::RunFailed {
                command: shown,
                code,
            });
        }
        m.unmount()?;
        let (_g, path, diff) = self.diff_layer(&m)?;
        drop(m);
        let img = self.commit(st, &created_by, Some((&path, diff)))?;
        self.removed_intermediate(&sid);
        self.b.cache_put(&key, &img)?;
        self.out.line(&format!(" ---> {}\n", short(&img)));
        Ok(())
    }

    /// Runs the bundle in `dir` to completion, streaming its output; returns the exit code.
    fn run_container(&mut self, dir: &Path, id: &str) -> Result<i32, BuildError> {
        let mut child = Proc::new(&self.b.runtime)
            .arg("--root")
            .arg(&self.b.runtime_root)
            .arg("run")
            .arg("--bundle")
            .arg(dir)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_err(format!("starting {}", self.b.runtime.display())))?;
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let mut readers = Vec::new();
        if let Some(o) = child.stdout.take() {
            readers.push(spawn_reader(Box::new(o), tx.clone(), false));
        }
        if let Some(e) = child.stderr.take() {
            readers.push(spawn_reader(Box::new(e), tx.clone(), true));
        }
        drop(tx);
        for chunk in rx {
            self.out.line(&String::from_utf8_lossy(&chunk));
        }
        for r in readers {
            let _ = r.join();
        }
        let status = child.wait().map_err(io_err("waiting for runtime"))?;
        // `run` deletes the container on exit; make sure nothing is left if it failed early.
        let _ = Proc::new(&self.b.runtime)
            .arg("--root")
            .arg(&self.b.runtime_root)
            .args(["delete", "--force", id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        use std::os::unix::process::ExitStatusExt;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }

    fn copy_step(
        &mut self,
        stages: &[StageDef],
        st: &mut State,
        c: &CopySpec,
        is_add: bool,
    ) -> Result<(), BuildError> {
        let kw = if is_add { "ADD" } else { "COPY" };
        let dest_raw = self.expand(st, &c.dest)?;
        let wd = st
            .cfg
            .config
            .as_ref()
            .and_then(|c| c.working_dir.clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into());
        let dest_dir_syntax =
            dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
        let dest_abs = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!("{wd}/{dest_raw}")
        };
        let dest_abs = format!("/{}", fsutil::clean_rel(&dest_abs));
        let chown = match c.flag("chown") {
            Some(v) => Some(self.expand(st, v)?),
            None => None,
        };
        let chmod = match c.flag("chmod") {
            Some(v) => Some(
                u32::from_str_radix(v, 8)
                    .map_err(|_| BuildError::Invalid(format!("invalid chmod parameter: {v}")))?,
            ),
            None => None,
        };
        // Where sources come from: the context, or another stage/image.
        let from = match c.flag("from") {
            Some(f) => Some(self.expand(st, f)?),
            None => None,
        };
        let mut from_image: Option<Option<Digest>> = None;
        if let Some(f) = &from {
            if is_add {
                return Err(BuildError::Invalid("ADD does not support --from".into()));
            }
            let cur = stages.len();
            let id = match stage_index(stages, f, cur) {
                Some(j) => {
                    self.stage_results[j]
                        .clone()
                        .ok_or_else(|| BuildError::Invalid(format!("stage {f} was not built")))?
                        .0
                }
                None => Some(self.base_image(f)?),
            };
            from_image = Some(id);
        }
        // Sources: heredocs, or paths (globs expanded) in the source root.
        let mut heredoc_files: Vec<(String, String)> = Vec::new();
        let mut patterns: Vec<String> = Vec::new();
        let mut urls: Vec<String> = Vec::new();
        for s in &c.sources {
            if let Some(h) = c.heredocs.iter().find(|h| {
                s.trim_start_matches("<<")
                    .trim_start_matches('-')
                    .trim_matches(['\'', '"'])
                    == h.name
                    && s.starts_with("<<")
            }) {
                let content = if h.expand {
                    let f = self.lookup_fn(st);
                    expand_heredoc(&h.content, &f)
                } else {
                    h.content.clone()
                };
                heredoc_files.push((h.name.clone(), content));
                continue;
            }
            let s = self.expand(st, s)?;
            if crate::fetch::is_url(&s) {
                if !is_add {
                    return Err(BuildError::Invalid("source can't be a URL for COPY".into()));
                }
                urls.push(s);
                continue;
            }
            patterns.push(s);
        }
        // URLs are downloaded on every build: their content is the cache key (as in Docker).
        let mut url_files: Vec<(String, PathBuf)> = Vec::new();
        let _dl_guard = if urls.is_empty() {
            None
        } else {
            let dir = self.b.work_dir.join(format!("dl-{}", &rand_hex()[..16]));
            let guard = TempDir(dir.clone());
            for (i, u) in urls.iter().enumerate() {
                let sub = dir.join(i.to_string());
                std::fs::create_dir_all(&sub).map_err(io_err(sub.display().to_string()))?;
                let f =
                    crate::fetch::fetch(u, &sub).map_err(|e| BuildError::Invalid(e.to_string()))?;
                if f.name.is_empty() && dest_dir_syntax {
                    return Err(BuildError::Invalid(
                        crate::fetch::FetchError::NoFilename(u.clone()).to_string(),
                    ));
                }
                let name = if f.name.is_empty() {
                    "download".to_string()
                } else {
                    f.name
                };
                url_files.push((name, f.path));
            }
            Some(guard)
        };
        let mut src_mount: Option<Mounted<'_>> = None;
        let src_root: PathBuf = match &from_image {
            None => self.ctx.clone(),
            Some(id) => {
                let m = Mounted::new(
                    self.b,
                    format!("buildsrc-{}", &rand_hex()[..24]),
                    id.as_ref(),
                )?;
                let r = m.rootfs.clone();
                src_mount = Some(m);
                r
            }
        };
        let mut sources: Vec<(String, PathBuf)> = Vec::new();
        for p in &patterns {
            let rel = fsutil::clean_rel(p);
            let found = expand_sources(&src_root, &rel)?;
            if found.is_empty() {
                return Err(BuildError::Invalid(if fsutil::has_glob(&rel) {
                    format!("{kw} failed: no source files were specified")
                } else {
                    format!(
                        "{kw} failed: file not found in build context or excluded by .dockerignore: stat {rel}: file does not exist"
                    )
                }));
            }
            sources.extend(found);
        }
        let count = sources.len() + heredoc_files.len() + url_files.len();
        let multi = count > 1 || patterns.iter().any(|p| fsutil::has_glob(p));
        if count > 1 && !dest_dir_syntax {
            return Err(BuildError::Invalid(format!(
                "When using {kw} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        // Cache key: content of what is copied (or the source image for --from).
        let mut h = Sha256::new();
        let single_dir = sources.len() == 1
            && heredoc_files.is_empty()
            && sources[0].1.is_dir()
            && !sources[0].1.is_symlink();
        match &from_image {
            Some(id) => {
                h.update(format!("from {id:?}\n"));
                for (rel, _) in &sources {
                    h.update(format!("{rel}\n"));
                }
            }
            None => {
                for (rel, p) in &sources {
                    h.update(format!("src {rel}\n"));
                    hash_tree(&mut h, p, "")?;
                }
            }
        }
        for (n, body) in &heredoc_files {
            h.update(format!("heredoc {n}\n{body}"));
        }
        for (n, p) in &url_files {
            h.update(format!("url {n}\n"));
            hash_tree(&mut h, p, "")?;
        }
        let content = hex::encode(h.finalize());
        let kind = if multi || count > 1 {
            "multi"
        } else if single_dir {
            "dir"
        } else {
            "file"
        };
        let flags_desc = format!(
            "{}{}",
            chown
                .as_deref()
                .map(|c| format!("--chown={c} "))
                .unwrap_or_default(),
            chmod.map(|m| format!("--chmod={m:o} ")).unwrap_or_default()
        );
        let created_by =
            format!("/bin/sh -c #(nop) {kw} {flags_desc}{kind}:{content} in {dest_raw} ");
        let key = Self::cache_key(st, &created_by, &content);
        if self.try_cache(st, &key)? {
            return Ok(());
        }
        let mut m = Mounted::new(
            self.b,
            format!("build-{}", &rand_hex()[..24]),
            st.image.as_ref(),
        )?;
        let owner = match &chown {
            Some(u) => {
                let r = berth_oci::resolve_user(&m.rootfs, u).map_err(|e| {
                    BuildError::Invalid(format!(
                        "unable to convert uid/gid chown string to host mapping: {e}"
                    ))
                })?;
                Some((r.uid, r.gid))
            }
            None if from_image.is_some() => None,
            None => Some((0, 0)),
        };
        let attrs = CopyAttrs { owner, mode: chmod };
        let dir_owner = chown.as_ref().and(owner);
        let dest_host =
            fsutil::resolve_in_root(&m.rootfs, &dest_abs).map_err(io_err(dest_abs.clone()))?;
        let dest_is_dir = dest_dir_syntax || dest_host.is_dir();
        let ioe = |e: std::io::Error| BuildError::Invalid(format!("{kw} failed: {e}"));
        for (rel, p) in &sources {
            let meta = std::fs::symlink_metadata(p).map_err(ioe)?;
            if meta.is_dir() {
                fsutil::mkdir_all(&dest_host, dir_owner).map_err(ioe)?;
                let mut entries: Vec<_> = std::fs::read_dir(p)
                    .map_err(ioe)?
                    .collect::<std::io::Result<Vec<_>>>()
                    .map_err(ioe)?;
                entries.sort_by_key(|e| e.file_name());
                for e in entries {
                    fsutil::copy_entry(&e.path(), &dest_host.join(e.file_name()), attrs)
                        .map_err(ioe)?;
                }
                continue;
            }
            if is_add && from_image.is_none() && meta.is_file() && archive::is_archive(p) {
                fsutil::mkdir_all(&dest_host, dir_owner).map_err(ioe)?;
                archive::extract(p, &dest_host).map_err(ioe)?;
                continue;
            }
            let base = Path::new(rel)
                .file_name()
                .map(|f| f.to_os_string())
                .unwrap_or_default();
            let target = if dest_is_dir {
                fsutil::mkdir_all(&dest_host, dir_owner).map_err(ioe)?;
                dest_host.join(base)
            } else {
                if let Some(parent) = dest_host.parent() {
                    fsutil::mkdir_all(parent, dir_owner).map_err(ioe)?;
                }
                dest_host.clone()
            };
            fsutil::copy_entry(p, &target, attrs).map_err(ioe)?;
        }
        // Downloads are copied as they are (never unpacked), keeping 0600 unless --chmod.
        for (name, p) in &url_files {
            let target = if dest_is_dir {
                fsutil::mkdir_all(&dest_host, dir_owner).map_err(ioe)?;
                dest_host.join(name)
            } else {
                if let Some(parent) = dest_host.parent() {
                    fsutil::mkdir_all(parent, dir_owner).map_err(ioe)?;
                }
                dest_host.clone()
            };
            fsutil::copy_entry(p, &target, attrs).map_err(ioe)?;
        }
        for (name, body) in &heredoc_files {
            let target = if dest_is_dir {
                fsutil::mkdir_all(&dest_host, dir_owner).map_err(ioe)?;
                dest_host.join(name)
            } else {
                if let Some(parent) = dest_host.parent() {
                    fsutil::mkdir_all(parent, dir_owner).map_err(ioe)?;
                }
                dest_host.clone()
            };
            write_file(&target, body.as_bytes(), attrs).map_err(ioe)?;
        }
        drop(src_mount);
        m.unmount()?;
        let (_g, path, diff) = self.diff_layer(&m)?;
        drop(m);
        let img = self.commit(st, &created_by, Some((&path, diff)))?;
        self.b.cache_put(&key, &img)?;
        self.out.line(&format!(" ---> {}\n", short(&img)));
        Ok(())
    }
}

/// The network namespace of a RUN: `RUN --network` wins over the build's `networkmode`;
/// `none` gets a private namespace with only loopback, anything else the host's network.
fn run_network(flag: Option<&str>, build_mode: Option<&str>) -> RunNet {
    let mode = match flag {
        Some("default") | None => build_mode,
        Some(m) => Some(m),
    };
    match mode {
        Some("none") => RunNet::None,
        None | Some("" | "default" | "bridge" | "host") => RunNet::Host,
        Some(name) => RunNet::Named(name.to_string()),
    }
}

fn unreachable_step() -> Result<(), BuildError> {
    Err(BuildError::Invalid(
        "internal: layer step in metadata path".into(),
    ))
}

fn shell_of(st: &State) -> Vec<String> {
    st.cfg
        .config
        .as_ref()
        .and_then(|c| c.shell.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// Index of the stage named (or numbered) `r`, only among stages before `before`.
fn stage_index(stages: &[StageDef], r: &str, before: usize) -> Option<usize> {
    let lower = r.to_ascii_lowercase();
    if let Some(i) = stages
        .iter()
        .take(before)
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
    {
        return Some(i);
    }
    match r.parse::<usize>() {
        Ok(i) if i < before.min(stages.len()) => Some(i),
        _ => None,
    }
}

/// Expands `$VAR`/`${VAR}` in an unquoted heredoc body (quotes and other text stay as they are).
fn expand_heredoc(body: &str, f: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            let rest: String = chars[i..].iter().collect();
            // Reuse the word expander on just the `$...` part.
            let end = if chars.get(i + 1) == Some(&'{') {
                rest.find('}').map(|e| e + 1)
            } else {
                let n = rest[1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map(|e| e + 1)
                    .unwrap_or(rest.len());
                (n > 1).then_some(n)
            };
            if let Some(end) = end {
                let part = &rest[..end];
                if let Ok(v) = dockerfile::expand(part, f, '\\') {
                    out.push_str(&v);
                    i += part.chars().count();
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Resolves a (possibly glob) relative source inside `root`. Returns (relative name, host path).
fn expand_sources(root: &Path, rel: &str) -> Result<Vec<(String, PathBuf)>, BuildError> {
    // Symlinks (in the context too) resolve as if `root` were `/`, so none leads out of it.
    let resolve = |r: &str| -> Result<PathBuf, BuildError> {
        fsutil::resolve_in_root(root, r).map_err(io_err(r.to_string()))
    };
    if !fsutil::has_glob(rel) {
        let p = resolve(rel)?;
        return Ok(if std::fs::symlink_metadata(&p).is_ok() {
            vec![(rel.to_string(), p)]
        } else {
            Vec::new()
        });
    }
    // Component-wise glob expansion.
    let mut cur: Vec<String> = vec![String::new()];
    for comp in rel.split('/') {
        let mut next = Vec::new();
        for base in &cur {
            if !fsutil::has_glob(comp) {
                let r = if base.is_empty() {
                    comp.to_string()
                } else {
                    format!("{base}/{comp}")
                };
                if std::fs::symlink_metadata(resolve(&r)?).is_ok() {
                    next.push(r);
                }
                continue;
            }
            let dir = resolve(base)?;
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for n in names {
                if fsutil::glob_match(comp, &n) {
                    next.push(if base.is_empty() {
                        n
                    } else {
                        format!("{base}/{n}")
                    });
                }
            }
        }
        cur = next;
    }
    cur.into_iter()
        .map(|r| Ok((r.clone(), resolve(&r)?)))
        .collect()
}

/// Hashes names, types, modes and contents under `p` (sorted, deterministic).
fn hash_tree(h: &mut Sha256, p: &Path, rel: &str) -> Result<(), BuildError> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).map_err(io_err(p.display().to_string()))?;
    h.update(format!("{rel}\0{:o}\0", m.mode()));
    if m.file_type().is_symlink() {
        let t = std::fs::read_link(p).map_err(io_err(p.display().to_string()))?;
        h.update(t.to_string_lossy().as_bytes());
    } else if m.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(p)
            .map_err(io_err(p.display().to_string()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            let r = format!("{rel}/{}", n.to_string_lossy());
            hash_tree(h, &p.join(&n), &r)?;
        }
    } else if m.is_file() {
        let mut f = std::fs::File::open(p).map_err(io_err(p.display().to_string()))?;
        std::io::copy(&mut f, h).map_err(io_err(p.display().to_string()))?;
    }
    h.update(b"\n");
    Ok(())
}

fn write_file(p: &Path, data: &[u8], attrs: CopyAttrs) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::symlink_metadata(p).is_ok() {
        std::fs::remove_file(p)?;
    }
    std::fs::write(p, data)?;
    std::fs::set_permissions(
        p,
        std::fs::Permissions::from_mode(attrs.mode.unwrap_or(0o644)),
    )?;
    if let Some((u, g)) = attrs.owner {
        std::os::unix::fs::lchown(p, Some(u), Some(g))?;
    }
    Ok(())
}

/// An /etc/hosts for a RUN step: `base` (or the loopback names when empty) plus one line per
/// `name:ip` extra host, as `--add-host` writes them.
fn hosts_with_extras(base: &str, extras: &[String]) -> String {
    let mut out = if base.trim().is_empty() {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".to_string()
    } else {
        base.to_string()
    };
    if !out.ends_with('\n') {
        out.push('\n');
    }
    for e in extras {
        if let Some((name, ip)) = e.split_once(':') {
            out.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    out
}

/// Forwards what `r` yields to `tx`, chunk by chunk. Stderr chunks are wrapped in the ANSI
/// bright-red escape codes, as dockerd's classic builder marks a step's stderr.
fn spawn_reader(
    mut r: Box<dyn Read + Send>,
    tx: std::sync::mpsc::Sender<Vec<u8>>,
    stderr: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = if stderr {
                        [b"\x1b[91m".as_slice(), &buf[..n], b"\x1b[0m"].concat()
                    } else {
                        buf[..n].to_vec()
                    };
                    if tx.send(chunk).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

/// A writer that hashes what passes through.
struct HashWriter<W: Write> {
    inner: W,
    h: Sha256,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.h.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn extra_hosts_are_appended_to_the_hosts_file() {
        let extras = vec![
            "hello.test:10.0.0.1".to_string(),
            "v6.test:fd00::1".to_string(),
        ];
        assert_eq!(
            hosts_with_extras("", &extras),
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.1\thello.test\nfd00::1\tv6.test\n"
        );
        assert_eq!(
            hosts_with_extras("1.2.3.4 h", &extras[..1]),
            "1.2.3.4 h\n10.0.0.1\thello.test\n"
        );
    }

    #[test]
    fn options_from_query() {
        let q: Vec<(String, String)> = [
            ("t", "a:1"),
            ("t", "b"),
            ("dockerfile", "sub/Dockerfile.dev"),
            ("dockerfile", "second/Dockerfile"),
            ("extrahosts", "a.test:10.0.0.1"),
            ("extrahosts", "b.test:10.0.0.2"),
            ("buildargs", r#"{"A":"1","B":null}"#),
            ("labels", r#"{"l":"v"}"#),
            ("nocache", "1"),
            ("rm", "0"),
            ("q", "true"),
            ("target", "build"),
            ("networkmode", "host"),
            ("shmsize", "1024"),
            ("version", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let o = BuildOptions::from_query(&q).unwrap();
        assert_eq!(o.tags, vec!["a:1", "b"]);
        assert_eq!(o.dockerfile, "sub/Dockerfile.dev");
        assert_eq!(o.extra_hosts, vec!["a.test:10.0.0.1", "b.test:10.0.0.2"]);
        assert_eq!(o.build_args.get("A"), Some(&Some("1".to_string())));
        assert_eq!(o.build_args.get("B"), Some(&None));
        assert_eq!(o.labels.get("l").map(String::as_str), Some("v"));
        assert!(o.no_cache && o.quiet && !o.rm);
        assert_eq!(o.target.as_deref(), Some("build"));
        assert_eq!(o.network_mode.as_deref(), Some("host"));
        assert_eq!(o.shm_size, Some(1024));
        assert!(BuildOptions::from_query(&[("buildargs".into(), "x".into())]).is_err());
        assert!(BuildOptions::default().rm);
    }

    #[test]
    fn run_network_flag_overrides_build_mode() {
        use RunNet::{Host, Named, None as Private};
        assert_eq!(run_network(None, None), Host);
        assert_eq!(run_network(None, Some("none")), Private);
        assert_eq!(run_network(Some("default"), Some("none")), Private);
        assert_eq!(run_network(Some("none"), None), Private);
        assert_eq!(run_network(Some("host"), Some("none")), Host);
        assert_eq!(run_network(Some("default"), Some("bridge")), Host);
        assert_eq!(run_network(None, Some("mynet")), Named("mynet".into()));
        assert_eq!(run_network(Some("none"), Some("mynet")), Private);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("x"), None);
    }

    #[test]
    fn history_lists() {
        assert_eq!(
            quoted_list(&["/bin/sh".into(), "-c".into(), "echo \"hi\"".into()]),
            r#"["/bin/sh" "-c" "echo \"hi\""]"#
        );
    }

    #[test]
    fn heredoc_bodies_expand_variables_only() {
        let f = |k: &str| (k == "A").then(|| "x".to_string());
        assert_eq!(
            expand_heredoc("a $A '${A}' \"q\" $ 5\n", &f),
            "a x 'x' \"q\" $ 5\n"
        );
    }
}
