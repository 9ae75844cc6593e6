//! Content-addressed registry storage over a pluggable driver (filesystem or S3).
//!
//! Layout (keys relative to the root directory or S3 prefix):
//! ```text
//! blobs/sha256/<hex>                               blob and manifest bytes, immutable
//! uploads/<id>                                     in-progress upload data (local disk only)
//! repositories/<name>/_layers/<hex>                empty: the blob is linked into <name>
//! repositories/<name>/_manifests/revisions/<hex>   contains the manifest's media type
//! repositories/<name>/_manifests/tags/<tag>        contains the tagged digest (`sha256:<hex>`)
//! repositories/<name>/_referrers/<subject>/<hex>   contains the referrer's descriptor JSON
//! ```
//! Invariants: a blob only ever appears whole (fs: rename of a fsynced file after digest
//! verification; S3: a single PUT) so readers never see partial content, and concurrent pushes
//! of the same blob each publish identical bytes under the same key. Upload sessions live on local
//! disk (`uploads/` under the fs root, or `storage.s3.localuploaddirectory`), so a registry
//! replica must finish the uploads it started. Repository names never contain a component
//! starting with `_`, so they cannot collide with the bookkeeping directories.

pub mod fs;
pub mod s3;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_core::Digest;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};

use crate::error::{ApiError, Code};

/// Media types the registry knows how to validate.
pub mod media {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Docker image manifest v2 schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
}

pub(crate) fn rand_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}

pub(crate) fn not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

/// Key arithmetic for the layout above; keys are `/`-separated and relative to the root.
pub mod keys {
    use berth_core::Digest;

    /// `blobs/sha256`.
    pub const BLOBS: &str = "blobs/sha256";
    /// `repositories`.
    pub const REPOS: &str = "repositories";

    /// The key holding a blob.
    pub fn blob(d: &Digest) -> String {
        format!("{BLOBS}/{}", d.hex())
    }
    /// The `_layers` directory of a repository.
    pub fn layers_dir(name: &str) -> String {
        format!("{REPOS}/{name}/_layers")
    }
    /// The link of a blob into a repository.
    pub fn layer_link(name: &str, d: &Digest) -> String {
        format!("{REPOS}/{name}/_layers/{}", d.hex())
    }
    /// The revisions directory of a repository.
    pub fn revisions_dir(name: &str) -> String {
        format!("{REPOS}/{name}/_manifests/revisions")
    }
    /// One revision link.
    pub fn revision(name: &str, hex: &str) -> String {
        format!("{REPOS}/{name}/_manifests/revisions/{hex}")
    }
    /// The tags directory of a repository.
    pub fn tags_dir(name: &str) -> String {
        format!("{REPOS}/{name}/_manifests/tags")
    }
    /// One tag.
    pub fn tag(name: &str, tag: &str) -> String {
        format!("{REPOS}/{name}/_manifests/tags/{tag}")
    }
    /// The referrers directory for one subject.
    pub fn referrers_dir(name: &str, subject: &Digest) -> String {
        format!("{REPOS}/{name}/_referrers/{}", subject.hex())
    }
}

/// The storage driver below the registry logic: small atomic objects plus streamed blobs.
#[derive(Debug, Clone)]
pub enum Backend {
    /// Local filesystem.
    Fs(fs::FsBackend),
    /// S3-compatible object store.
    S3(s3::S3Backend),
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Backend::Fs($b) => $e,
            Backend::S3($b) => $e,
        }
    };
}

impl Backend {
    /// Reads a whole object.
    pub async fn read(&self, key: &str) -> std::io::Result<Option<Bytes>> {
        dispatch!(self, b => b.read(key).await)
    }
    /// Writes a whole object atomically.
    pub async fn write(&self, key: &str, data: &[u8]) -> std::io::Result<()> {
        dispatch!(self, b => b.write(key, data).await)
    }
    /// The size of an object, if it exists.
    pub async fn size(&self, key: &str) -> std::io::Result<Option<u64>> {
        dispatch!(self, b => b.size(key).await)
    }
    /// Deletes an object; false when it did not exist.
    pub async fn delete(&self, key: &str) -> std::io::Result<bool> {
        dispatch!(self, b => b.delete(key).await)
    }
    /// Immediate children of a directory key, sorted.
    pub async fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        dispatch!(self, b => b.list(dir).await)
    }
    /// Streams `len` bytes of an object from `start`.
    pub async fn read_range(
        &self,
        key: &str,
        start: u64,
        len: u64,
    ) -> std::io::Result<BoxStream<'static, std::io::Result<Bytes>>> {
        dispatch!(self, b => b.read_range(key, start, len).await)
    }
    /// All repository names, sorted.
    pub async fn repositories(&self) -> std::io::Result<Vec<String>> {
        dispatch!(self, b => b.repositories().await)
    }
    /// Moves a verified local upload file into place under `key`.
    async fn commit(&self, key: &str, local: &Path, size: u64, d: &Digest) -> std::io::Result<()> {
        match self {
            Backend::Fs(b) => b.commit(key, local).await,
            Backend::S3(b) => b.commit(key, local, size, d.hex()).await,
        }
    }
}

/// Validates a repository name against the spec's grammar (lowercase path components separated
/// by `/`, each `[a-z0-9]+` joined by `.`, `_`, `__` or `-+`).
pub fn valid_repo_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    name.split('/').all(valid_component)
}

use berth_core::reference::valid_component;
pub use berth_core::reference::valid_tag;

/// State of one in-progress upload; the hasher runs as data arrives so PUT need not re-read.
/// ring's SHA-256 is used because it is assembly-optimised even in debug builds.
struct Upload {
    repo: String,
    size: u64,
    hasher: ring::digest::Context,
    touched: std::time::Instant,
}

/// An upload is synced in the background each time this many more bytes arrived.
const SYNC_CHUNK: u64 = 32 << 20;
/// Body chunks queued between the socket and the writing thread.
const WRITE_QUEUE: usize = 64;

/// Hashes and appends the chunks from `rx` to `file` until the sender is dropped; returns the
/// hasher, the bytes written and whether everything was written (and background syncs
/// succeeded). A write error stops it, which the sender sees as a closed channel.
fn write_upload(
    file: std::fs::File,
    mut hasher: ring::digest::Context,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> (ring::digest::Context, u64, std::io::Result<()>) {
    use std::io::Write;
    let mut sync = berth_core::sync_ahead::SyncAhead::new(&file, SYNC_CHUNK).ok();
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut written = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        if let Err(e) = w.write_all(&chunk) {
            return (hasher, written, Err(e));
        }
        hasher.update(&chunk);
        written += chunk.len() as u64;
        if let Some(s) = &mut sync {
            // What is still in the buffer is not in the file yet.
            s.wrote(written - w.buffer().len() as u64);
        }
    }
    let mut res = w.flush();
    if let Some(s) = &mut sync
        && let Err(e) = s.finish()
    {
        res = res.and(Err(e));
    }
    (hasher, written, res)
}

/// Sessions idle this long are abandoned: their state and data are dropped.
const UPLOAD_EXPIRY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

fn finish_hash(ctx: ring::digest::Context) -> Digest {
    let hex = hex::encode(ctx.finish().as_ref());
    // 64 lowercase hex characters by construction.
    Digest::from_hex(&hex).unwrap_or_else(|_| Digest::of(b""))
}

/// A manifest as read back from storage.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// The media type it was pushed with.
    pub media_type: String,
    /// Its exact bytes.
    pub bytes: Bytes,
}

type UploadMap = HashMap<String, Arc<tokio::sync::Mutex<Upload>>>;

/// The registry's storage logic over a [`Backend`], used by the HTTP handlers and the GC.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    upload_dir: PathBuf,
    uploads: Arc<Mutex<UploadMap>>,
}

fn parse_text_digest(b: &[u8]) -> Option<Digest> {
    std::str::from_utf8(b).ok()?.trim().parse().ok()
}

impl Store {
    /// Opens a filesystem store rooted at `root` (creating directories as needed).
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        let fs = fs::FsBackend::open(&root)?;
        std::fs::create_dir_all(root.join(keys::BLOBS))?;
        std::fs::create_dir_all(root.join(keys::REPOS))?;
        Self::with_backend(Backend::Fs(fs), root.join("uploads"))
    }

    /// A store over any backend, staging uploads in the local directory `upload_dir`.
    /// Session state is in memory, so upload files left by an earlier process are unreachable:
    /// those older than [`UPLOAD_EXPIRY`] are removed here.
    pub fn with_backend(backend: Backend, upload_dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&upload_dir)?;
        for entry in std::fs::read_dir(&upload_dir)?.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > UPLOAD_EXPIRY);
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(Store {
            backend,
            upload_dir,
            uploads: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The storage driver.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The size of a blob if it exists anywhere in the store.
    pub async fn blob_size(&self, d: &Digest) -> std::io::Result<Option<u64>> {
        self.backend.size(&keys::blob(d)).await
    }

    /// The size of a blob if it exists and is linked into `repo` (as a layer or a manifest).
    pub async fn repo_blob_size(&self, repo: &str, d: &Digest) -> std::io::Result<Option<u64>> {
        let linked = self
            .backend
            .size(&keys::layer_link(repo, d))
            .await?
            .is_some()
            || self
                .backend
                .size(&keys::revision(repo, d.hex()))
                .await?
                .is_some();
        if !linked {
            return Ok(None);
        }
        self.blob_size(d).await
    }

    /// Reads a whole blob (configs, manifests).
    pub async fn read_blob(&self, d: &Digest) -> std::io::Result<Option<Bytes>> {
        self.backend.read(&keys::blob(d)).await
    }

    /// Streams part of a blob.
    pub async fn blob_stream(
        &self,
        d: &Digest,
        start: u64,
        len: u64,
    ) -> std::io::Result<BoxStream<'static, std::io::Result<Bytes>>> {
        self.backend.read_range(&keys::blob(d), start, len).await
    }

    /// Links an existing blob into `repo`.
    pub async fn link_blob(&self, repo: &str, d: &Digest) -> std::io::Result<()> {
        // An empty marker; writing it twice concurrently is harmless.
        self.backend.write(&keys::layer_link(repo, d), b"").await
    }

    /// Removes a blob's link from `repo`; false when it was not linked.
    pub async fn unlink_blob(&self, repo: &str, d: &Digest) -> std::io::Result<bool> {
        self.backend.delete(&keys::layer_link(repo, d)).await
    }

    /// Whether a repository exists (has tags, revisions or layers).
    pub async fn repo_exists(&self, repo: &str) -> std::io::Result<bool> {
        Ok(!self
            .backend
            .list(&keys::revisions_dir(repo))
            .await?
            .is_empty()
            || !self.backend.list(&keys::layers_dir(repo)).await?.is_empty())
    }

    fn uploads_map(&self) -> std::sync::MutexGuard<'_, UploadMap> {
        // A poisoned map only means a handler panicked mid-insert; the map itself is still valid.
        self.uploads.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn upload_path(&self, id: &str) -> PathBuf {
        self.upload_dir.join(id)
    }

    /// Starts an upload session for `repo`; returns its id.
    pub async fn start_upload(&self, repo: &str) -> std::io::Result<String> {
        let id = rand_hex(16);
        tokio::fs::File::create(self.upload_path(&id)).await?;
        let up = Upload {
            repo: repo.to_string(),
            size: 0,
            hasher: ring::digest::Context::new(&ring::digest::SHA256),
            touched: std::time::Instant::now(),
        };
        self.expire_uploads().await;
        self.uploads_map()
            .insert(id.clone(), Arc::new(tokio::sync::Mutex::new(up)));
        Ok(id)
    }

    /// Drops sessions idle longer than [`UPLOAD_EXPIRY`] (a session in use is locked: skipped).
    async fn expire_uploads(&self) {
        let stale: Vec<String> = self
            .uploads_map()
            .iter()
            .filter(|(_, h)| {
                h.try_lock()
                    .is_ok_and(|u| u.touched.elapsed() > UPLOAD_EXPIRY)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            self.uploads_map().remove(&id);
            let _ = tokio::fs::remove_file(self.upload_path(&id)).await;
        }
    }

    fn upload_handle(
        &self,
        repo: &str,
        id: &str,
    ) -> Result<Arc<tokio::sync::Mutex<Upload>>, ApiError> {
        let h = self.uploads_map().get(id).cloned();
        h.ok_or_else(|| {
            ApiError::new(Code::BlobUploadUnknown)
                .detail(serde_json::json!({"repository": repo, "upload": id}))
        })
    }

    /// The current size of an upload.
    pub async fn upload_size(&self, repo: &str, id: &str) -> Result<u64, ApiError> {
        let h = self.upload_handle(repo, id)?;
        let up = h.lock().await;
        if up.repo != repo {
            return Err(ApiError::new(Code::BlobUploadUnknown));
        }
        Ok(up.size)
    }

    /// Appends a body to an upload. `start`, from `Content-Range`, must equal the current size.
    /// A body that fails midway is rolled back, so the session stays usable.
    pub async fn append_upload<S, E>(
        &self,
        repo: &str,
        id: &str,
        start: Option<u64>,
        body: S,
    ) -> Result<u64, ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let h = self.upload_handle(repo, id)?;
        let mut up = h.lock().await;
        if up.repo != repo {
            return Err(ApiError::new(Code::BlobUploadUnknown));
        }
        if let Some(s) = start
            && s != up.size
        {
            return Err(ApiError::new(Code::RangeInvalid)
                .detail(serde_json::json!({"expected_start": up.size, "got": s})));
        }
        let path = self.upload_path(id);
        let file = tokio::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .await?
            .into_std()
            .await;
        // The body is read here while a blocking thread hashes and writes it (and syncs it in
        // the background as it grows): reading, hashing and writing overlap instead of taking
        // turns, and the fsync at completion only waits for the last stretch.
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(WRITE_QUEUE);
        let hasher = up.hasher.clone();
        let writer = tokio::task::spawn_blocking(move || write_upload(file, hasher, rx));
        let mut body = body;
        let mut failure: Option<ApiError> = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => {
                    if tx.send(c).await.is_err() {
                        break; // the writer failed; its error is collected below
                    }
                }
                Err(e) => {
                    failure = Some(
                        ApiError::new(Code::BlobUploadInvalid)
                            .message(format!("reading request body: {e}")),
                    );
                    break;
                }
            }
        }
        drop(tx);
        let (hasher, written, wrote) = writer.await.map_err(std::io::Error::other)?;
        if let Err(e) = wrote {
            failure.get_or_insert(e.into());
        }
        if let Some(err) = failure {
            // Roll back to what the session had before this body.
            let f = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .await?;
            f.set_len(up.size).await?;
            return Err(err);
        }
        up.hasher = hasher;
        up.size += written;
        up.touched = std::time::Instant::now();
        Ok(up.size)
    }

    /// Completes an upload: verifies the digest (deleting the data on mismatch), then publishes
    /// the blob and links it into the repository.
    pub async fn finish_upload(
        &self,
        repo: &str,
        id: &str,
        expected: &Digest,
    ) -> Result<u64, ApiError> {
        let h = self.upload_handle(repo, id)?;
        let up = h.lock().await;
        if up.repo != repo {
            return Err(ApiError::new(Code::BlobUploadUnknown));
        }
        let path = self.upload_path(id);
        let actual = finish_hash(up.hasher.clone());
        let size = up.size;
        drop(up);
        self.uploads_map().remove(id);
        if &actual != expected {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(ApiError::new(Code::DigestInvalid).detail(
                serde_json::json!({"expected": expected.to_string(), "actual": actual.to_string()}),
            ));
        }
        if self.blob_size(expected).await? == Some(size) {
            // Already stored (concurrent or repeated push): skip the copy.
            let _ = tokio::fs::remove_file(&path).await;
        } else {
            let f = tokio::fs::File::open(&path).await?;
            f.sync_all().await?;
            drop(f);
            self.backend
                .commit(&keys::blob(expected), &path, size, expected)
                .await?;
        }
        self.link_blob(repo, expected).await?;
        Ok(size)
    }

    /// Cancels an upload and deletes its data.
    pub async fn cancel_upload(&self, repo: &str, id: &str) -> Result<(), ApiError> {
        let h = self.upload_handle(repo, id)?;
        let up = h.lock().await;
        if up.repo != repo {
            return Err(ApiError::new(Code::BlobUploadUnknown));
        }
        drop(up);
        self.uploads_map().remove(id);
        let _ = tokio::fs::remove_file(self.upload_path(id)).await;
        Ok(())
    }

    /// Resolves a tag or digest reference to a digest, if the repository has it.
    pub async fn resolve(&self, repo: &str, reference: &str) -> std::io::Result<Option<Digest>> {
        if let Ok(d) = reference.parse::<Digest>() {
            let exists = self
                .backend
                .size(&keys::revision(repo, d.hex()))
                .await?
                .is_some();
            return Ok(exists.then_some(d));
        }
        Ok(self
            .backend
            .read(&keys::tag(repo, reference))
            .await?
            .and_then(|b| parse_text_digest(&b)))
    }

    /// Reads a manifest by tag or digest.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> std::io::Result<Option<StoredManifest>> {
        let Some(digest) = self.resolve(repo, reference).await? else {
            return Ok(None);
        };
        let Some(mt) = self
            .backend
            .read(&keys::revision(repo, digest.hex()))
            .await?
        else {
            return Ok(None);
        };
        let Some(bytes) = self.read_blob(&digest).await? else {
            return Ok(None);
        };
        Ok(Some(StoredManifest {
            digest,
            media_type: String::from_utf8_lossy(&mt).into_owned(),
            bytes,
        }))
    }

    /// Stores manifest bytes as a blob and a revision of `repo`, then points `tag` at it.
    pub async fn put_manifest(
        &self,
        repo: &str,
        digest: &Digest,
        media_type: &str,
        bytes: &[u8],
        tag: Option<&str>,
    ) -> std::io::Result<()> {
        if self.blob_size(digest).await?.is_none() {
            self.backend.write(&keys::blob(digest), bytes).await?;
        }
        self.backend
            .write(&keys::revision(repo, digest.hex()), media_type.as_bytes())
            .await?;
        if let Some(tag) = tag {
            self.backend
                .write(&keys::tag(repo, tag), digest.to_string().as_bytes())
                .await?;
        }
        Ok(())
    }

    /// Records `referrer` (a descriptor) as pointing at `subject` in `repo`.
    pub async fn add_referrer(
        &self,
        repo: &str,
        subject: &Digest,
        referrer: &Digest,
        descriptor: &serde_json::Value,
    ) -> std::io::Result<()> {
        let key = format!("{}/{}", keys::referrers_dir(repo, subject), referrer.hex());
        self.backend
            .write(&key, descriptor.to_string().as_bytes())
            .await
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`, sorted by digest.
    pub async fn referrers(
        &self,
        repo: &str,
        subject: &Digest,
    ) -> std::io::Result<Vec<serde_json::Value>> {
        let dir = keys::referrers_dir(repo, subject);
        let mut out = Vec::new();
        for n in self.backend.list(&dir).await? {
            // Skip referrers whose manifest was deleted since.
            if self
                .backend
                .size(&keys::revision(repo, &n))
                .await?
                .is_none()
            {
                continue;
            }
            if let Some(text) = self.backend.read(&format!("{dir}/{n}")).await?
                && let Ok(v) = serde_json::from_slice(&text)
            {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Deletes a manifest revision and every tag pointing at it; false if unknown.
    pub async fn delete_manifest(&self, repo: &str, digest: &Digest) -> std::io::Result<bool> {
        if !self
            .backend
            .delete(&keys::revision(repo, digest.hex()))
            .await?
        {
            return Ok(false);
        }
        for tag in self.tags(repo).await? {
            let key = keys::tag(repo, &tag);
            if let Some(b) = self.backend.read(&key).await?
                && parse_text_digest(&b).as_ref() == Some(digest)
            {
                self.backend.delete(&key).await?;
            }
        }
        Ok(true)
    }

    /// Deletes a tag; false if unknown.
    pub async fn delete_tag(&self, repo: &str, tag: &str) -> std::io::Result<bool> {
        self.backend.delete(&keys::tag(repo, tag)).await
    }

    /// The tags of `repo`, sorted.
    pub async fn tags(&self, repo: &str) -> std::io::Result<Vec<String>> {
        self.backend.list(&keys::tags_dir(repo)).await
    }

    /// The tag whose image describes a repository: `latest` if present, else the last in order.
    pub async fn latest_tag(&self, repo: &str) -> std::io::Result<Option<String>> {
        let tags = self.tags(repo).await?;
        if tags.iter().any(|t| t == "latest") {
            return Ok(Some("latest".into()));
        }
        Ok(tags.last().cloned())
    }

    /// All repositories, sorted.
    pub async fn repositories(&self) -> std::io::Result<Vec<String>> {
        self.backend.repositories().await
    }

    /// Digests of a repository's manifest revisions.
    pub async fn revisions(&self, repo: &str) -> std::io::Result<Vec<Digest>> {
        Ok(self
            .backend
            .list(&keys::revisions_dir(repo))
            .await?
            .iter()
            .filter_map(|h| Digest::from_hex(h).ok())
            .collect())
    }

    /// Digests of every stored blob.
    pub async fn all_blobs(&self) -> std::io::Result<Vec<Digest>> {
        Ok(self
            .backend
            .list(keys::BLOBS)
            .await?
            .iter()
            .filter_map(|h| Digest::from_hex(h).ok())
            .collect())
    }

    /// Deletes a blob (GC only).
    pub async fn delete_blob(&self, d: &Digest) -> std::io::Result<bool> {
        self.backend.delete(&keys::blob(d)).await
    }

    /// Digests linked into a repository's `_layers`.
    pub async fn layer_links(&self, repo: &str) -> std::io::Result<Vec<Digest>> {
        Ok(self
            .backend
            .list(&keys::layers_dir(repo))
            .await?
            .iter()
            .filter_map(|h| Digest::from_hex(h).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names() {
        for ok in ["a", "library/busybox", "a.b_c__d---e/f0", "x/y/z"] {
            assert!(valid_repo_name(ok), "{ok}");
        }
        for bad in [
            "",
            "A",
            "a/",
            "/a",
            "a//b",
            "_a",
            "a/_layers",
            "a..b",
            "a___b",
            "a-",
            "../x",
        ] {
            assert!(!valid_repo_name(bad), "{bad}");
        }
    }

    #[test]
    fn tags() {
        assert!(valid_tag("latest"));
        assert!(valid_tag("_v1.2-rc"));
        assert!(!valid_tag(".x"));
        assert!(!valid_tag("a/b"));
        assert!(!valid_tag(&"a".repeat(129)));
    }
}
