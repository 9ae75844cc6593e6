//! `docker pull`: manifest (list) resolution, parallel verified layer downloads, one store write.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};

use berth_core::{Digest, Reference};
use berth_image::{ImageConfig, ImageRecord, ImageStore};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::session::{Session, api_host, registry_error_text};
use crate::{AuthConfig, Client, DistError, Progress};

pub(crate) const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
const MT_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";
/// Manifests bigger than this are refused (as containerd does).
const MAX_MANIFEST: usize = 4 << 20;
/// Layers downloaded at once (Docker's default).
const PARALLEL: usize = 3;
/// How many times a cut-short blob download is resumed (Docker retries a layer 5 times).
pub(crate) const MAX_RESUMES: u32 = 5;

/// A content descriptor.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: String,
    pub(crate) digest: String,
    #[serde(default)]
    pub(crate) size: u64,
    #[serde(default)]
    pub(crate) platform: Option<Platform>,
}

/// Platform of a manifest list entry.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ManifestDoc {
    #[serde(rename = "schemaVersion", default)]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

fn short(d: &str) -> String {
    let h = d.strip_prefix("sha256:").unwrap_or(d);
    h.chars().take(12).collect()
}

fn id_status(status: &str, id: &str) -> Progress {
    Progress::IdStatus {
        status: status.to_string(),
        id: id.to_string(),
    }
}

/// `(os, arch, variant)` wanted: `--platform` or this host.
fn wanted_platform(p: Option<&str>) -> Result<(String, String, Option<String>), DistError> {
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        other => other,
    };
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(("linux".into(), host_arch.into(), None));
    };
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        [os] => Ok(((*os).into(), host_arch.into(), None)),
        [os, a] => Ok(((*os).into(), (*a).into(), None)),
        [os, a, v] => Ok(((*os).into(), (*a).into(), Some((*v).into()))),
        _ => Err(DistError::Invalid(format!(
            "\"{p}\": unknown operating system or architecture: invalid argument"
        ))),
    }
}

/// Picks the manifest for a platform from a list/index.
fn select(
    entries: &[Descriptor],
    want: &(String, String, Option<String>),
) -> Result<Descriptor, DistError> {
    let (os, arch, variant) = want;
    let matches = |d: &&Descriptor| {
        d.platform.as_ref().is_some_and(|p| {
            p.os == *os
                && p.architecture == *arch
                && match variant {
                    Some(v) => p.variant.as_deref() == Some(v.as_str()),
                    None => true,
                }
        })
    };
    // Prefer the arm64 v8 / no-variant entry when no variant was asked for.
    let mut hits: Vec<&Descriptor> = entries.iter().filter(matches).collect();
    hits.sort_by_key(|d| {
        d.platform
            .as_ref()
            .and_then(|p| p.variant.clone())
            .map_or(0, |v| if v == "v8" { 1 } else { 2 })
    });
    hits.first().map(|d| (*d).clone()).ok_or_else(|| {
        let shown = match variant {
            Some(v) => format!("{os}/{arch}/{v}"),
            None => format!("{os}/{arch}"),
        };
        DistError::NotFound(format!(
            "no matching manifest for {shown} in the manifest list entries"
        ))
    })
}

/// Progress sink shared by concurrent downloads.
type Sink<'a> = &'a (dyn Fn(Progress) + Send + Sync);

struct PullCtx<'a> {
    sess: Session,
    r: Reference,
    /// How Docker names the image in errors (`host/name:tag` / `busybox:latest`).
    shown: String,
    progress: Sink<'a>,
    has_creds: bool,
}

impl PullCtx<'_> {
    /// Maps a failed manifest/blob response to Docker's error.
    async fn fail(&self, resp: reqwest::Response, what_not_found: &str) -> DistError {
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        let text = registry_error_text(&body);
        match status {
            StatusCode::NOT_FOUND => DistError::NotFound(format!(
                "{what_not_found}: {}",
                text.unwrap_or_else(|| "manifest unknown: manifest unknown".into())
            )),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if self.has_creds => {
                DistError::Unauthorized(
                    text.unwrap_or_else(|| "unauthorized: authentication required".into()),
                )
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let mut m = format!(
                    "pull access denied for {}, repository does not exist or may require 'docker login'",
                    self.r.familiar_repository()
                );
                if let Some(t) = text {
                    m.push_str(": ");
                    m.push_str(&t);
                }
                DistError::Unauthorized(m)
            }
            s => DistError::Protocol(format!(
                "received unexpected HTTP status: {} {}{}",
                s.as_u16(),
                s.canonical_reason().unwrap_or(""),
                text.map(|t| format!(": {t}")).unwrap_or_default()
            )),
        }
    }

    /// GETs a manifest by tag or digest; returns (bytes, digest, media type).
    async fn manifest(&self, tag_or_digest: &str) -> Result<(Vec<u8>, Digest, String), DistError> {
        let path = format!("/v2/{}/manifests/{tag_or_digest}", self.r.path);
        let accept = [
            MT_DOCKER_MANIFEST,
            MT_DOCKER_LIST,
            MT_OCI_MANIFEST,
            MT_OCI_INDEX,
            MT_SCHEMA1_SIGNED,
        ]
        .join(", ");
        let resp = self
            .sess
            .send(Method::GET, &path, |r| r.header("Accept", accept))
            .await?;
        if !resp.status().is_success() {
            let nf = format!("manifest for {} not found", self.shown);
            return Err(self.fail(resp, &nf).await);
        }
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let body = read_limited(resp, MAX_MANIFEST).await?;
        let digest = Digest::of(&body);
        if let Ok(want) = tag_or_digest.parse::<Digest>()
            && want != digest
        {
            return Err(DistError::Protocol(format!(
                "manifest verification failed for digest {want}"
            )));
        }
        Ok((body, digest, ct))
    }

    /// Downloads a blob into `out`, verifying its digest; reports bytes under `id` if given.
    /// A body cut short (connection reset, early EOF) is resumed up to [`MAX_RESUMES`] times
    /// with `Range: bytes=<received>-`; a server that ignores Range sends it all again.
    /// `written(n)` is called after each write with the bytes now in `out` from offset 0
    /// (it may repeat lower values after a restart from scratch).
    async fn blob_to(
        &self,
        digest: &str,
        size: Option<u64>,
        out: &mut std::fs::File,
        id: Option<&str>,
        written: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, DistError> {
        let want: Digest = digest
            .parse()
            .map_err(|_| DistError::Protocol(format!("invalid digest {digest}")))?;
        let path = format!("/v2/{}/blobs/{digest}", self.r.path);
        let mut hasher = Sha256::new();
        let mut done = 0u64;
        let mut last_report = 0u64;
        let mut total = size.filter(|s| *s > 0);
        let mut resumes = 0u32;
        loop {
            let from = done;
            let resp = self
                .sess
                .send(Method::GET, &path, |r| {
                    if from > 0 {
                        r.header(reqwest::header::RANGE, format!("bytes={from}-"))
                    } else {
                        r
                    }
                })
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) if from > 0 && resumes < MAX_RESUMES => {
                    resumes += 1;
                    tracing::debug!(digest, resumes, "resuming blob download: {e}");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let status = resp.status();
            if !status.is_success() {
                let nf = format!("blob {digest} not found");
                return Err(self.fail(resp, &nf).await);
            }
            if from > 0 && status != StatusCode::PARTIAL_CONTENT {
                // Range not honoured: the whole blob comes again. It overwrites the same bytes
                // (no truncation: a reader may already be past them); the digest check at the
                // end and the store's diff id check catch a server that changed its mind.
                use std::io::Seek;
                out.seek(std::io::SeekFrom::Start(0))
                    .map_err(|e| DistError::Io(format!("rewinding download: {e}")))?;
                hasher = Sha256::new();
                done = 0;
                last_report = 0;
            }
            if from == 0 {
                total = total.or(resp.content_length());
            }
            let mut stream = resp.bytes_stream();
            let mut cut: Option<String> = None;
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        cut = Some(e.to_string());
                        break;
                    }
                };
                hasher.update(&chunk);
                out.write_all(&chunk)
                    .map_err(|e| DistError::Io(format!("writing download: {e}")))?;
                done += chunk.len() as u64;
                written(done);
                if let Some(id) = id
                    && (done - last_report >= 512 * 1024 || Some(done) == total)
                {
                    last_report = done;
                    (self.progress)(Progress::Bytes {
                        status: "Downloading".into(),
                        id: id.to_string(),
                        current: done,
                        total,
                    });
                }
            }
            let short_body = total.is_some_and(|t| done < t);
            if cut.is_none() && !short_body {
                break;
            }
            let why = cut.unwrap_or_else(|| format!("unexpected EOF after {done} bytes"));
            if resumes >= MAX_RESUMES {
                return Err(DistError::Transport(format!(
                    "error pulling blob {digest}: {why}"
                )));
            }
            resumes += 1;
            tracing::debug!(digest, done, resumes, "resuming blob download: {why}");
        }
        if let Some(id) = id {
            (self.progress)(id_status("Verifying Checksum", id));
        }
        let got = Digest::from_hasher(hasher);
        if got != want {
            return Err(DistError::Protocol(format!(
                "filesystem layer verification failed for digest {want}"
            )));
        }
        Ok(done)
    }
}

/// Start applying layers once the downloads' remaining time, at the rate seen so far, is
/// below this.
const APPLY_AHEAD: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether the apply may start: everything arrived, or the rest should within [`APPLY_AHEAD`].
fn should_start(elapsed: std::time::Duration, got: u64, want: u64) -> bool {
    if got >= want {
        return true;
    }
    if got == 0 {
        return false;
    }
    // At least 10 ms, so a first burst does not promise an infinite rate.
    let rate = got as f64 / elapsed.as_secs_f64().max(0.01);
    ((want - got) as f64 / rate) <= APPLY_AHEAD.as_secs_f64()
}

/// Locks a mutex even if a panicking thread poisoned it (the state stays meaningful).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Tells the apply thread to start (`true`) or give up (`false`); the first word counts.
#[derive(Default)]
struct Gate {
    go: Mutex<Option<bool>>,
    cv: Condvar,
}

impl Gate {
    fn open(&self, go: bool) {
        let mut g = lock(&self.go);
        if g.is_none() {
            *g = Some(go);
            self.cv.notify_all();
        }
    }

    /// Blocks until told; true means go.
    fn wait(&self) -> bool {
        let mut g = lock(&self.go);
        loop {
            if let Some(go) = *g {
                return go;
            }
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Releases the apply thread (as an abort) if the downloads end without saying.
struct GateGuard(Arc<Gate>);

impl Drop for GateGuard {
    fn drop(&mut self) {
        self.0.open(false);
    }
}

/// One layer download that the store may read while it grows.
struct Feed {
    file: tempfile::NamedTempFile,
    state: Mutex<FeedState>,
    cv: Condvar,
}

#[derive(Default)]
struct FeedState {
    /// Bytes present from offset 0.
    written: u64,
    /// Set once: Ok after the digest was verified, or the download's error.
    end: Option<Result<(), String>>,
}

impl Feed {
    fn new(file: tempfile::NamedTempFile) -> Feed {
        Feed {
            file,
            state: Mutex::default(),
            cv: Condvar::new(),
        }
    }

    /// Records that `n` bytes are present; returns how many are new.
    fn advance(&self, n: u64) -> u64 {
        let mut g = lock(&self.state);
        if n <= g.written {
            return 0;
        }
        let added = n - g.written;
        g.written = n;
        self.cv.notify_all();
        added
    }

    fn finish(&self, end: Result<(), String>) {
        let mut g = lock(&self.state);
        if g.end.is_none() {
            g.end = Some(end);
            self.cv.notify_all();
        }
    }
}

/// Ends a feed as failed if its download stops without finishing it (e.g. cancelled).
struct FinishGuard(Arc<Feed>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        self.0.finish(Err("download cancelled".into()));
    }
}

/// Reads a [`Feed`] from the start, waiting for bytes still to come; EOF only once the
/// download was verified, an error if it failed.
struct FeedReader {
    feed: Arc<Feed>,
    file: std::fs::File,
    pos: u64,
    id: String,
    size: u64,
    reported: Option<u64>,
    tx: tokio::sync::mpsc::UnboundedSender<Progress>,
}

impl std::io::Read for FeedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        if buf.is_empty() {
            return Ok(0);
        }
        let (avail, verified) = {
            let mut g = lock(&self.feed.state);
            loop {
                let verified = matches!(g.end, Some(Ok(())));
                if self.pos < g.written {
                    break (g.written - self.pos, verified);
                }
                match &g.end {
                    Some(Ok(())) => return Ok(0),
                    Some(Err(e)) => return Err(std::io::Error::other(e.clone())),
                    None => g = self.feed.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                }
            }
        };
        let want = buf.len().min(usize::try_from(avail).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(std::io::Error::other("download file shorter than written"));
        }
        self.pos += n as u64;
        // "Extracting" once the download is complete, as dockerd shows it.
        if verified
            && self
                .reported
                .is_none_or(|r| self.pos - r >= 512 * 1024 || self.pos >= self.size)
        {
            self.reported = Some(self.pos);
            let _ = self.tx.send(Progress::Bytes {
                status: "Extracting".into(),
                id: self.id.clone(),
                current: self.pos,
                total: Some(self.size.max(self.pos)),
            });
        }
        Ok(n)
    }
}

async fn read_limited(resp: reqwest::Response, max: usize) -> Result<Vec<u8>, DistError> {
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| DistError::Transport(e.to_string()))?;
        if out.len() + chunk.len() > max {
            return Err(DistError::Protocol("manifest too large".into()));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// How Docker names `r` in messages (`busybox:latest`, `host:5000/x:tag`) and the tag or
/// digest its manifest is fetched by.
fn shown_and_tag(r: &Reference) -> (String, String) {
    let shown = if r.domain == "docker.io" {
        r.familiar_string()
    } else {
        r.to_string()
    };
    let tag_id = match (&r.tag, &r.digest) {
        (_, Some(d)) => d.to_string(),
        (Some(t), None) => t.clone(),
        (None, None) => "latest".into(),
    };
    (shown, tag_id)
}

/// Parses a user's reference (`busybox`, `host:5000/x:tag`, `x@sha256:..`).
pub(crate) fn parse_reference(s: &str) -> Result<Reference, DistError> {
    Reference::parse(s)
        .map(Reference::with_default_tag)
        .map_err(|e| DistError::Invalid(e.to_string()))
}

impl Client {
    /// Pulls `reference` into `store`, reporting progress; nothing is stored on failure.
    /// Emits Docker's final `Digest: ...` and `Status: ...` lines itself.
    pub async fn pull(
        &self,
        store: &Arc<ImageStore>,
        reference: &str,
        platform: Option<&str>,
        auth: Option<&AuthConfig>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<ImageRecord, DistError> {
        let r = parse_reference(reference)?;
        let want = wanted_platform(platform)?;
        let (shown, tag_id) = shown_and_tag(&r);
        let (ctx, top_digest, mt, doc) = self
            .resolve(&r, &shown, &tag_id, &want, auth, progress)
            .await?;
        if doc.schema_version == 1 || mt == MT_SCHEMA1 || mt == MT_SCHEMA1_SIGNED {
            return Err(DistError::Protocol(format!(
                "[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of {} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2.",
                r.familiar_string()
            )));
        }
        let cfg_desc = doc
            .config
            .clone()
            .ok_or_else(|| DistError::Protocol("manifest has no config".into()))?;

        // Config first: its diff ids tell which layers the store already has.
        let mut cfg_file = tempfile::tempfile_in(store.tmp_dir())
            .map_err(|e| DistError::Io(format!("temp file: {e}")))?;
        ctx.blob_to(
            &cfg_desc.digest,
            Some(cfg_desc.size),
            &mut cfg_file,
            None,
            &|_| {},
        )
        .await
        .map_err(|e| match e {
            DistError::Protocol(m) if m.starts_with("filesystem") => DistError::Protocol(format!(
                "image config verification failed for digest {}",
                cfg_desc.digest
            )),
            e => e,
        })?;
        let cfg_bytes = read_file(&mut cfg_file)?;
        let cfg: ImageConfig = serde_json::from_slice(&cfg_bytes)
            .map_err(|e| DistError::Protocol(format!("invalid image config: {e}")))?;
        if cfg.rootfs.diff_ids.len() != doc.layers.len() {
            return Err(DistError::Protocol(
                "layers from manifest don't match image configuration".into(),
            ));
        }
        let image_id = Digest::of(&cfg_bytes);
        let repo_digest = format!("{}@{top_digest}", r.familiar_repository());
        let tagged = Reference {
            digest: None,
            ..r.clone()
        };

        // Up to date: the tag (or, by digest, the image) already is this image.
        let up_to_date = match &r.tag {
            Some(_) => store.tag_target(&tagged) == Some(image_id.clone()),
            None => store.get(&image_id.to_string()).is_ok(),
        };
        if up_to_date {
            let st = store.clone();
            let (id, rd) = (image_id.clone(), repo_digest.clone());
            let rec = tokio::task::spawn_blocking(move || {
                st.add_repo_digest(&id, &rd)?;
                st.get(&id.to_string())
            })
            .await
            .map_err(|e| DistError::Io(e.to_string()))??;
            progress(Progress::Status(format!("Digest: {top_digest}")));
            progress(Progress::Status(format!(
                "Status: Image is up to date for {}",
                r.familiar_string()
            )));
            return Ok(rec);
        }

        // Which layers to fetch.
        let mut chain: Option<Digest> = None;
        let mut needed: Vec<bool> = Vec::new();
        for (i, d) in cfg.rootfs.diff_ids.iter().enumerate() {
            let c = berth_snapshot::chain_id(chain.as_ref(), d);
            let have = store.has_layer(&c, d);
            needed.push(!have);
            let id = short(&doc.layers[i].digest);
            if have {
                progress(id_status("Already exists", &id));
            }
            chain = Some(c);
        }
        let mut to_fetch: Vec<Descriptor> = Vec::new();
        for (i, l) in doc.layers.iter().enumerate() {
            if needed[i] && !to_fetch.iter().any(|d| d.digest == l.digest) {
                to_fetch.push(l.clone());
            }
        }
        for l in &to_fetch {
            progress(id_status("Pulling fs layer", &short(&l.digest)));
        }
        for l in to_fetch.iter().skip(PARALLEL) {
            progress(id_status("Waiting", &short(&l.digest)));
        }
        // Downloads go to temp files while the store applies them: the apply starts once the
        // remaining download time looks short (so the store's lock is not held for a slow
        // transfer), and reads each file as it grows; a layer reads to its end only after its
        // digest was verified, so unverified bytes never complete a layer.
        let tmp = store.tmp_dir().to_path_buf();
        let mut feeds: HashMap<String, Arc<Feed>> = HashMap::new();
        for l in &to_fetch {
            let f = tempfile::NamedTempFile::new_in(&tmp)
                .map_err(|e| DistError::Io(format!("temp file: {e}")))?;
            feeds.insert(l.digest.clone(), Arc::new(Feed::new(f)));
        }
        let gate = Arc::new(Gate::default());
        let want_bytes: u64 = to_fetch.iter().map(|l| l.size).sum();
        let got = std::sync::atomic::AtomicU64::new(0);
        let started = std::time::Instant::now();

        // Apply in a blocking thread; its progress comes back over a channel.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
        let st = store.clone();
        let layers = doc.layers.clone();
        let rd = repo_digest.clone();
        let tag_ref = r.tag.as_ref().map(|_| tagged.clone());
        let source = r.repository();
        let job_feeds = feeds.clone();
        let job_gate = gate.clone();
        let job = tokio::task::spawn_blocking(move || {
            if !job_gate.wait() {
                return Err(berth_image::ImageError::Invalid("pull aborted".into()));
            }
            let mut last: Option<String> = None;
            let progress_tx = tx.clone();
            let mut open = |i: usize| -> berth_image::Result<Box<dyn std::io::Read>> {
                let l = layers.get(i).ok_or_else(|| {
                    berth_image::ImageError::Invalid(format!("no layer {i} in manifest"))
                })?;
                let id = short(&l.digest);
                if let Some(prev) = last.replace(id.clone()) {
                    let _ = progress_tx.send(id_status("Pull complete", &prev));
                }
                let feed = job_feeds.get(&l.digest).ok_or_else(|| {
                    berth_image::ImageError::Invalid(format!(
                        "layer {} was not downloaded",
                        l.digest
                    ))
                })?;
                let file = feed
                    .file
                    .reopen()
                    .map_err(|e| berth_image::ImageError::Io {
                        context: "reopening download".into(),
                        source: e,
                    })?;
                Ok(Box::new(FeedReader {
                    feed: feed.clone(),
                    file,
                    pos: 0,
                    id,
                    size: l.size,
                    reported: None,
                    tx: progress_tx.clone(),
                }))
            };
            let rec = st.store_pulled(&cfg_bytes, &mut open, tag_ref.as_ref(), Some(&rd));
            if let Ok(rec) = &rec {
                // Remember each layer's compressed form and where it lives, so a later push
                // can skip or mount it instead of recompressing.
                for (diff, l) in rec.config.rootfs.diff_ids.iter().zip(&layers) {
                    let Ok(digest) = l.digest.parse::<Digest>() else {
                        continue;
                    };
                    if st.blob_mapping(diff).is_some_and(|m| m.digest != digest) {
                        continue;
                    }
                    let _ = st.record_blob_mapping(
                        diff,
                        berth_image::BlobMapping {
                            digest,
                            size: l.size,
                            media_type: l.media_type.clone(),
                            sources: vec![source.clone()],
                        },
                    );
                }
            }
            if rec.is_ok()
                && let Some(prev) = last
            {
                let _ = tx.send(id_status("Pull complete", &prev));
            }
            rec
        });

        let ctx_ref = &ctx;
        let (gate_ref, got_ref, feeds_ref) = (&gate, &got, &feeds);
        let downloads = async move {
            // Whatever happens to this future, the apply thread is released.
            let _release = GateGuard(gate_ref.clone());
            let results: Vec<Result<(), DistError>> =
                futures_util::stream::iter(to_fetch.iter().cloned())
                    .map(|l| async move {
                        let feed = feeds_ref
                            .get(&l.digest)
                            .cloned()
                            .ok_or_else(|| DistError::Io("no download file".into()))?;
                        let _finish = FinishGuard(feed.clone());
                        let mut out = feed
                            .file
                            .as_file()
                            .try_clone()
                            .map_err(|e| DistError::Io(format!("temp file: {e}")))?;
                        let id = short(&l.digest);
                        let on_written = |n: u64| {
                            let added = feed.advance(n);
                            let now = got_ref
                                .fetch_add(added, std::sync::atomic::Ordering::Relaxed)
                                + added;
                            if should_start(started.elapsed(), now, want_bytes) {
                                gate_ref.open(true);
                            }
                        };
                        let res = ctx_ref
                            .blob_to(&l.digest, Some(l.size), &mut out, Some(&id), &on_written)
                            .await;
                        match &res {
                            Ok(_) => {
                                (ctx_ref.progress)(id_status("Download complete", &id));
                                feed.finish(Ok(()));
                            }
                            Err(e) => feed.finish(Err(e.to_string())),
                        }
                        res.map(|_| ())
                    })
                    .buffer_unordered(PARALLEL)
                    .collect()
                    .await;
            gate_ref.open(results.iter().all(Result::is_ok));
            results
        };
        let drain = async {
            while let Some(ev) = rx.recv().await {
                progress(ev);
            }
        };
        let (results, ()) = tokio::join!(downloads, drain);
        let job_res = job.await.map_err(|e| DistError::Io(e.to_string()))?;
        // A download's own error explains a failed apply better than the apply's.
        for res in results {
            res?;
        }
        drop(feeds);
        let rec = job_res?;
        progress(Progress::Status(format!("Digest: {top_digest}")));
        progress(Progress::Status(format!(
            "Status: Downloaded newer image for {}",
            r.familiar_string()
        )));
        Ok(rec)
    }

    /// `docker pull -a`: every tag of the repository.
    pub async fn pull_all_tags(
        &self,
        store: &Arc<ImageStore>,
        reference: &str,
        platform: Option<&str>,
        auth: Option<&AuthConfig>,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Vec<ImageRecord>, DistError> {
        let raw = Reference::parse(reference).map_err(|e| DistError::Invalid(e.to_string()))?;
        let r = parse_reference(reference)?;
        if raw.digest.is_some() || raw.tag.is_some() {
            return Err(DistError::Invalid(
                "tag can't be used with --all-tags/-a".into(),
            ));
        }
        let tags = self.tags(&r, auth).await?;
        let mut out = Vec::new();
        for t in tags {
            let one = format!("{}:{t}", r.repository());
            out.push(self.pull(store, &one, platform, auth, progress).await?);
        }
        Ok(out)
    }

    /// What `GET /distribution/{name}/json` answers, without pulling: the descriptor of the
    /// manifest the reference names and the platforms it offers (an index's entries, or the
    /// platform in a single manifest's config), as dockerd's `DistributionInspect`.
    pub async fn inspect_distribution(
        &self,
        reference: &str,
        auth: Option<&AuthConfig>,
    ) -> Result<serde_json::Value, DistError> {
        let r = parse_reference(reference)?;
        let (shown, tag_id) = shown_and_tag(&r);
        let quiet = |_: Progress| {};
        let mut last_err = None;
        for (host, mirror) in self.endpoints(&r) {
            let attempt = async {
                let sess = self.pull_session(&r, &host, mirror, auth).await?;
                let ctx = PullCtx {
                    has_creds: sess.has_credentials(),
                    sess,
                    r: r.clone(),
                    shown: shown.clone(),
                    progress: &quiet,
                };
                let (body, digest, ct) = ctx.manifest(&tag_id).await?;
                let doc: ManifestDoc = serde_json::from_slice(&body)
                    .map_err(|e| DistError::Protocol(format!("invalid manifest: {e}")))?;
                let mt = doc.media_type.clone().unwrap_or(ct);
                let platforms: Vec<serde_json::Value> = if !doc.manifests.is_empty() {
                    doc.manifests
                        .iter()
                        .filter_map(|d| d.platform.as_ref())
                        .map(|p| platform_json(&p.architecture, &p.os, p.variant.as_deref()))
                        .collect()
                } else if let Some(cfg) = &doc.config {
                    let mut f = tempfile::tempfile()
                        .map_err(|e| DistError::Io(format!("temp file: {e}")))?;
                    ctx.blob_to(&cfg.digest, Some(cfg.size), &mut f, None, &|_| {})
                        .await?;
                    let c: ImageConfig = serde_json::from_slice(&read_file(&mut f)?)
                        .map_err(|e| DistError::Protocol(format!("invalid image config: {e}")))?;
                    vec![platform_json(&c.architecture, &c.os, c.variant.as_deref())]
                } else {
                    Vec::new()
                };
                Ok::<_, DistError>(serde_json::json!({
                    "Descriptor": {"mediaType": mt, "digest": digest.to_string(), "size": body.len()},
                    "Platforms": platforms,
                }))
            };
            match attempt.await {
                Ok(v) => return Ok(v),
                Err(e) if mirror => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| DistError::Transport("no registry endpoint".into())))
    }

    /// Lists a repository's tags (`GET /v2/<name>/tags/list`).
    pub async fn tags(
        &self,
        r: &Reference,
        auth: Option<&AuthConfig>,
    ) -> Result<Vec<String>, DistError> {
        let mut last_err = None;
        for (host, mirror) in self.endpoints(r) {
            match self.tags_from(r, &host, mirror, auth).await {
                Ok(t) => return Ok(t),
                Err(e) if mirror => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| DistError::Transport("no registry endpoint".into())))
    }

    async fn tags_from(
        &self,
        r: &Reference,
        host: &str,
        mirror: bool,
        auth: Option<&AuthConfig>,
    ) -> Result<Vec<String>, DistError> {
        let sess = self.pull_session(r, host, mirror, auth).await?;
        let resp = sess
            .send(Method::GET, &format!("/v2/{}/tags/list", r.path), |b| b)
            .await?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if !status.is_success() {
            let t = registry_error_text(&body).unwrap_or_else(|| status.to_string());
            return Err(if status == StatusCode::NOT_FOUND {
                DistError::NotFound(t)
            } else {
                DistError::Unauthorized(t)
            });
        }
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let t: Tags = serde_json::from_slice(&body)
            .map_err(|e| DistError::Protocol(format!("tags list: {e}")))?;
        Ok(t.tags.unwrap_or_default())
    }

    /// Where to fetch `r` from, in order: for Docker Hub the configured mirrors (flag
    /// `true`), then the registry itself.
    pub(crate) fn endpoints(&self, r: &Reference) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        if r.domain == "docker.io" {
            for m in &self.opts.mirrors {
                let host = m
                    .trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .trim_end_matches('/');
                if !host.is_empty() {
                    out.push((host.to_string(), true));
                }
            }
        }
        out.push((api_host(&r.domain), false));
        out
    }

    /// Opens and authorizes a pull session on one endpoint (mirrors get no credentials).
    async fn pull_session(
        &self,
        r: &Reference,
        host: &str,
        mirror: bool,
        auth: Option<&AuthConfig>,
    ) -> Result<Session, DistError> {
        let mut sess = Session::open(self, host, if mirror { None } else { auth }).await?;
        let has_creds = sess.has_credentials();
        match sess
            .authorize(&[format!("repository:{}:pull", r.path)])
            .await
        {
            Err(DistError::Unauthorized(m)) if !has_creds => Err(DistError::Unauthorized(format!(
                "pull access denied for {}, repository does not exist or may require 'docker login': {m}",
                r.familiar_repository()
            ))),
            res => res.map(|_| sess),
        }
    }

    /// Finds the image manifest for the wanted platform, trying mirrors first for Docker Hub
    /// and falling back (as dockerd does) to the next endpoint when a mirror is unreachable,
    /// lacks the manifest or fails; the upstream registry's error is the one reported.
    /// Returns the context bound to the endpoint that answered, the top manifest digest and
    /// media type, and the platform's manifest.
    async fn resolve<'a>(
        &self,
        r: &Reference,
        shown: &str,
        tag_id: &str,
        want: &(String, String, Option<String>),
        auth: Option<&AuthConfig>,
        progress: Sink<'a>,
    ) -> Result<(PullCtx<'a>, Digest, String, ManifestDoc), DistError> {
        let endpoints = self.endpoints(r);
        let mut last_err = None;
        for (host, mirror) in endpoints {
            let attempt = async {
                let sess = self.pull_session(r, &host, mirror, auth).await?;
                let ctx = PullCtx {
                    has_creds: sess.has_credentials(),
                    sess,
                    r: r.clone(),
                    shown: shown.to_string(),
                    progress,
                };
                let (body, top_digest, ct) = ctx.manifest(tag_id).await?;
                // Like dockerd, say "Pulling from" only once the manifest exists, so a missing
                // one is a plain error response rather than a half-started stream.
                progress(id_status(&format!("Pulling from {}", r.path), tag_id));
                let doc: ManifestDoc = serde_json::from_slice(&body)
                    .map_err(|e| DistError::Protocol(format!("invalid manifest: {e}")))?;
                let mt = doc.media_type.clone().unwrap_or(ct);
                let is_index =
                    mt == MT_DOCKER_LIST || mt == MT_OCI_INDEX || !doc.manifests.is_empty();
                let doc = if is_index {
                    let d = select(&doc.manifests, want)?;
                    let (b, _, _) = ctx.manifest(&d.digest).await?;
                    serde_json::from_slice::<ManifestDoc>(&b)
                        .map_err(|e| DistError::Protocol(format!("invalid manifest: {e}")))?
                } else {
                    doc
                };
                Ok::<_, DistError>((ctx, top_digest, mt, doc))
            };
            match attempt.await {
                Ok(found) => return Ok(found),
                Err(e) if mirror => {
                    tracing::info!(mirror = %host, "mirror failed, trying the next endpoint: {e}");
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| DistError::Transport("no registry endpoint".into())))
    }
}

/// An OCI platform as dockerd's JSON writes it (`variant` only when set).
fn platform_json(architecture: &str, os: &str, variant: Option<&str>) -> serde_json::Value {
    let mut p = serde_json::json!({"architecture": architecture, "os": os});
    if let Some(v) = variant.filter(|v| !v.is_empty()) {
        p["variant"] = serde_json::json!(v);
    }
    p
}

fn read_file(f: &mut std::fs::File) -> Result<Vec<u8>, DistError> {
    use std::io::{Read, Seek};
    let mut v = Vec::new();
    f.seek(std::io::SeekFrom::Start(0))
        .and_then(|_| f.read_to_end(&mut v))
        .map_err(|e| DistError::Io(format!("reading download: {e}")))?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_starts_when_the_rest_is_near() {
        let ms = std::time::Duration::from_millis;
        assert!(should_start(ms(1), 10, 10));
        assert!(!should_start(ms(1), 0, 10));
        // 1 MB in 10 ms: 100 MB/s, 50 MB more is 0.5 s away.
        assert!(should_start(ms(10), 1_000_000, 51_000_000));
        // 1 MB in 1 s: 199 MB more is minutes away.
        assert!(!should_start(ms(1000), 1_000_000, 200_000_000));
    }

    #[test]
    fn picks_platform() {
        let entries: Vec<Descriptor> = serde_json::from_str(
            r#"[{"digest":"sha256:a","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
                {"digest":"sha256:b","platform":{"os":"linux","architecture":"amd64"}}]"#,
        )
        .unwrap_or_default();
        let want = ("linux".to_string(), "amd64".to_string(), None);
        assert_eq!(
            select(&entries, &want).map(|d| d.digest).ok().as_deref(),
            Some("sha256:b")
        );
        let want = ("linux".to_string(), "s390x".to_string(), None);
        assert_eq!(
            select(&entries, &want)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("no matching manifest for linux/s390x in the manifest list entries")
        );
    }
}
