//! `ImageStore`: images, tags and layers, every metadata change one redb transaction.
//!
//! Schema (redb tables):
//! ```text
//! image_records  "sha256:<image id>"   → JSON Meta {parent, layer_sizes, last_tag_time, repo_digests}
//! image_tags     "docker.io/library/x:tag" → "sha256:<image id>"
//! image_layers   "sha256:<chain id>"   → JSON LayerMeta {parent chain, size}: layers this store applied
//! ```
//! Write protocol (import, commit, load of one image): layer tars are ingested and verified,
//! unpacked by the snapshotter, their blobs committed, then one write transaction makes the
//! image (record + tags + layers) visible. On any failure before that transaction the layers
//! and blobs created for it are removed again, so a failed write leaves nothing behind.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_core::chunk_worker::ChunkWorker;
use berth_core::{Digest, Reference};
use berth_snapshot::Snapshotter;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::content::{ContentStore, decompress};
use crate::{
    CommitOptions, History, HistoryItem, ImageConfig, ImageError, ImageRecord, ImportOptions,
    Result, RootFs, apply_changes, io_err,
};

pub(crate) const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("image_records");
pub(crate) const TAGS: TableDefinition<&str, &str> = TableDefinition::new("image_tags");
pub(crate) const LAYERS: TableDefinition<&str, &[u8]> = TableDefinition::new("image_layers");

/// What redb keeps per image besides its config blob.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) parent: Option<Digest>,
    pub(crate) layer_sizes: Vec<u64>,
    pub(crate) last_tag_time: Option<String>,
    #[serde(default)]
    pub(crate) repo_digests: Vec<String>,
}

/// What redb keeps per applied layer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct LayerMeta {
    pub(crate) parent: Option<Digest>,
    #[serde(default)]
    pub(crate) diff_id: Option<Digest>,
    pub(crate) size: u64,
}

/// Things created on disk for an image not yet committed to the metadata store; removed again
/// if the image's transaction never happens.
#[derive(Default)]
pub(crate) struct Pending {
    pub(crate) new_chains: Vec<Digest>,
    new_blobs: Vec<Digest>,
    layers: Vec<(Digest, LayerMeta)>,
}

/// The image store (blocking; call from a blocking thread). See the module doc for the schema.
pub struct ImageStore {
    pub(crate) db: Arc<redb::Database>,
    pub(crate) content: ContentStore,
    pub(crate) snap: Arc<dyn Snapshotter>,
    pub(crate) tmp: PathBuf,
    /// Serializes writers so read-modify-write of tags and layer GC see a consistent view.
    write_lock: Mutex<()>,
}

pub(crate) fn db_err(e: impl std::fmt::Display) -> ImageError {
    ImageError::Db(e.to_string())
}

fn json_err(e: serde_json::Error) -> ImageError {
    ImageError::Invalid(e.to_string())
}

pub(crate) fn now() -> String {
    berth_core::time::rfc3339_nanos(chrono::Utc::now())
}

/// Docker's `stringid.TruncateID` of an image id.
pub(crate) fn short(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

/// Familiar form of a stored (normalized) tag.
pub(crate) fn familiar(tag: &str) -> String {
    Reference::parse(tag)
        .map(|r| r.familiar_string())
        .unwrap_or_else(|_| tag.to_string())
}

/// Adds `new` repo digests, replacing an older digest of the same repository (Docker keeps one
/// per repository).
pub(crate) fn merge_repo_digests(have: &mut Vec<String>, new: &[String]) {
    for d in new {
        let repo = d.split('@').next().unwrap_or(d);
        have.retain(|h| h.split('@').next() != Some(repo));
        have.push(d.clone());
    }
}

/// Chain ids of every layer of an image, base first.
pub(crate) fn chains_of(cfg: &ImageConfig) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::new();
    for d in &cfg.rootfs.diff_ids {
        let c = berth_snapshot::chain_id(out.last(), d);
        out.push(c);
    }
    out
}

impl ImageStore {
    /// Opens the store under `data_root` (blobs in `content/`, scratch space in `tmp/`).
    pub fn open(
        data_root: &Path,
        db: Arc<redb::Database>,
        snap: Arc<dyn Snapshotter>,
    ) -> Result<Self> {
        let content = ContentStore::open(data_root)?;
        let tmp = data_root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(io_err(tmp.display().to_string()))?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(RECORDS).map_err(db_err)?;
        tx.open_table(TAGS).map_err(db_err)?;
        tx.open_table(LAYERS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(ImageStore {
            db,
            content,
            snap,
            tmp,
            write_lock: Mutex::new(()),
        })
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn metas(&self) -> Result<Vec<(Digest, Meta)>> {
        let rtx = self.db.begin_read().map_err(db_err)?;
        let t = rtx.open_table(RECORDS).map_err(db_err)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(db_err)? {
            let (k, v) = row.map_err(db_err)?;
            if let (Ok(id), Ok(meta)) = (
                k.value().parse::<Digest>(),
                serde_json::from_slice::<Meta>(v.value()),
            ) {
                out.push((id, meta));
            }
        }
        Ok(out)
    }

    pub(crate) fn meta(&self, id: &Digest) -> Result<Option<Meta>> {
        let rtx = self.db.begin_read().map_err(db_err)?;
        let t = rtx.open_table(RECORDS).map_err(db_err)?;
        Ok(t.get(id.to_string().as_str())
            .map_err(db_err)?
            .and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    pub(crate) fn layer_meta(&self, chain: &Digest) -> Result<Option<LayerMeta>> {
        let rtx = self.db.begin_read().map_err(db_err)?;
        let t = rtx.open_table(LAYERS).map_err(db_err)?;
        Ok(t.get(chain.to_string().as_str())
            .map_err(db_err)?
            .and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    pub(crate) fn all_layers(&self) -> Result<Vec<(Digest, LayerMeta)>> {
        let rtx = self.db.begin_read().map_err(db_err)?;
        let t = rtx.open_table(LAYERS).map_err(db_err)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(db_err)? {
            let (k, v) = row.map_err(db_err)?;
            if let (Ok(id), Ok(meta)) = (
                k.value().parse::<Digest>(),
                serde_json::from_slice::<LayerMeta>(v.value()),
            ) {
                out.push((id, meta));
            }
        }
        Ok(out)
    }

    pub(crate) fn tags(&self) -> Result<Vec<(String, Digest)>> {
        let rtx = self.db.begin_read().map_err(db_err)?;
        let t = rtx.open_table(TAGS).map_err(db_err)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(db_err)? {
            let (k, v) = row.map_err(db_err)?;
            if let Ok(id) = v.value().parse::<Digest>() {
                out.push((k.value().to_string(), id));
            }
        }
        Ok(out)
    }

    pub(crate) fn tags_of(&self, id: &Digest) -> Result<Vec<String>> {
        let mut t: Vec<String> = self
            .tags()?
            .into_iter()
            .filter(|(_, i)| i == id)
            .map(|(r, _)| r)
            .collect();
        t.sort();
        Ok(t)
    }

    /// Parsed config of an image.
    pub fn config(&self, id: &Digest) -> Result<ImageConfig> {
        let raw = self.raw_config(id)?;
        serde_json::from_slice(&raw)
            .map_err(|e| ImageError::Invalid(format!("image config {id}: {e}")))
    }

    /// Raw config bytes (whose sha256 is the id), exactly as stored.
    pub fn raw_config(&self, id: &Digest) -> Result<Vec<u8>> {
        if !self.content.has(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        self.content.get(id)
    }

    pub(crate) fn record(&self, id: &Digest, meta: Meta) -> Result<ImageRecord> {
        let config = self.config(id)?;
        let repo_tags: Vec<String> = self.tags_of(id)?.iter().map(|t| familiar(t)).collect();
        Ok(ImageRecord {
            id: id.clone(),
            repo_tags,
            repo_digests: meta.repo_digests.clone(),
            created: config
                .created
                .clone()
                .unwrap_or_else(|| berth_core::time::ZERO_TIME.to_string()),
            size: meta.layer_sizes.iter().sum(),
            parent: meta.parent.clone(),
            config,
            last_tag_time: meta.last_tag_time.clone(),
        })
    }

    /// All images (unordered).
    pub fn list(&self) -> Vec<ImageRecord> {
        self.metas()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(id, m)| self.record(&id, m).ok())
            .collect()
    }

    /// Whether another image names `id` as its parent.
    pub fn is_parent(&self, id: &Digest) -> bool {
        self.metas()
            .unwrap_or_default()
            .iter()
            .any(|(_, m)| m.parent.as_ref() == Some(id))
    }

    /// Looks an image up by full id, reference, or unique id prefix (Docker's order); the error
    /// is Docker's `No such image: <name>`.
    pub fn get(&self, name: &str) -> Result<ImageRecord> {
        let (id, _) = self.resolve(name)?;
        let meta = self
            .meta(&id)?
            .ok_or_else(|| ImageError::NotFound(name.to_string()))?;
        self.record(&id, meta)
    }

    /// Resolves a name to (id, Some(normalized tag) if it was named by tag).
    pub(crate) fn resolve(&self, name: &str) -> Result<(Digest, Option<String>)> {
        let full = name
            .parse::<Digest>()
            .ok()
            .or_else(|| Digest::from_hex(name).ok());
        if let Some(d) = &full
            && self.meta(d)?.is_some()
        {
            return Ok((d.clone(), None));
        }
        let parsed = Reference::parse(name).ok().map(|r| r.with_default_tag());
        if let Some(r) = &parsed {
            if r.digest.is_some() {
                // `name@sha256:...`: a repo digest recorded by a pull.
                let want = r.familiar_string();
                let canonical = r.to_string();
                for (id, m) in self.metas()? {
                    if m.repo_digests.iter().any(|d| *d == want || *d == canonical) {
                        return Ok((id, None));
                    }
                }
            } else {
                let key = r.to_string();
                let rtx = self.db.begin_read().map_err(db_err)?;
                let t = rtx.open_table(TAGS).map_err(db_err)?;
                if let Some(v) = t.get(key.as_str()).map_err(db_err)?
                    && let Ok(id) = v.value().parse::<Digest>()
                {
                    return Ok((id, Some(key)));
                }
            }
        }
        let prefix = name.strip_prefix("sha256:").unwrap_or(name);
        if full.is_none() && !prefix.is_empty() && berth_core::id::is_hex_prefix(prefix) {
            let hits: Vec<Digest> = self
                .metas()?
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| id.hex().starts_with(prefix))
                .collect();
            if hits.len() == 1 {
                return Ok((hits[0].clone(), None));
            }
        }
        let shown = match &parsed {
            Some(r) if !name.starts_with("sha256:") && full.is_none() => r.familiar_string(),
            _ => name.to_string(),
        };
        Err(ImageError::NotFound(shown))
    }

    /// Top chain id of an image's layers, to pass to `Snapshotter::prepare` (None for an image
    /// without layers).
    pub fn layer_chain(&self, id: &Digest) -> Result<Option<Digest>> {
        Ok(chains_of(&self.config(id)?).pop())
    }

    /// Stores one uncompressed layer tar: applies it over `parent` unless that chain exists,
    /// and keeps the tar as a blob. With `expected` (pull, load) the tar is unpacked while it
    /// is read, hashed once by the snapshotter, which commits the layer only if the digest
    /// matches; otherwise the tar is hashed first. Either way a mismatch stores nothing.
    fn add_layer(
        &self,
        parent: Option<&Digest>,
        layer: &mut dyn Read,
        expected: Option<&Digest>,
        pending: &mut Pending,
    ) -> Result<(Digest, u64)> {
        if let Some(e) = expected
            && !self.snap.has_layer(&berth_snapshot::chain_id(parent, e))
        {
            return self.add_layer_streaming(parent, layer, e, pending);
        }
        let mut ing = self.content.ingest()?;
        std::io::copy(layer, &mut ing)
            .map_err(|e| ImageError::Invalid(format!("reading layer: {e}")))?;
        let diff_id = ing
            .digest()
            .ok_or_else(|| ImageError::Invalid("layer ingest was not hashed".into()))?;
        if let Some(e) = expected
            && *e != diff_id
        {
            return Err(ImageError::DigestMismatch {
                expected: e.to_string(),
                actual: diff_id.to_string(),
            });
        }
        let tar_size = ing.size();
        let chain = berth_snapshot::chain_id(parent, &diff_id);
        let size = if self.snap.has_layer(&chain) {
            self.layer_meta(&chain)?.map(|m| m.size).unwrap_or(tar_size)
        } else {
            let mut f = ing.reopen()?;
            let applied = self.snap.apply_layer(parent, &mut f)?;
            pending.new_chains.push(chain.clone());
            applied.size
        };
        if !self.content.has(&diff_id) {
            self.content.commit(ing, Some(&diff_id))?;
            pending.new_blobs.push(diff_id.clone());
        }
        pending.layers.push((
            chain,
            LayerMeta {
                parent: parent.cloned(),
                diff_id: Some(diff_id.clone()),
                size,
            },
        ));
        Ok((diff_id, size))
    }

    /// One pass over a layer expected to hash to `expected`: the snapshotter unpacks it into
    /// its temp dir while the same bytes are copied into an unhashed ingest (when the tar blob
    /// is missing); the snapshotter's digest check gates its commit, and the ingest is committed
    /// by rename only after that.
    fn add_layer_streaming(
        &self,
        parent: Option<&Digest>,
        layer: &mut dyn Read,
        expected: &Digest,
        pending: &mut Pending,
    ) -> Result<(Digest, u64)> {
        let chain = berth_snapshot::chain_id(parent, expected);
        let ing = if self.content.has(expected) {
            None
        } else {
            Some(self.content.ingest_unhashed()?)
        };
        // The copy is written by a helper thread, off the unpacking thread's path.
        let copy = match ing {
            Some(i) => Some(
                ChunkWorker::spawn("layer-copy", TEE_CHUNK, i, |ing, chunk| {
                    ing.write_all(chunk)
                })
                .map_err(io_err("starting layer copy"))?,
            ),
            None => None,
        };
        let mut tee = Tee { inner: layer, copy };
        let applied = self
            .snap
            .apply_layer_verified(parent, &mut tee, expected)
            .map_err(|e| match e {
                berth_snapshot::SnapshotError::DigestMismatch { expected, actual } => {
                    ImageError::DigestMismatch { expected, actual }
                }
                e => ImageError::Snapshot(e),
            })?;
        pending.new_chains.push(chain.clone());
        if let Some(w) = tee.copy {
            let ing = w.finish().map_err(io_err("writing layer blob"))?;
            self.content.commit_verified(ing, expected)?;
            pending.new_blobs.push(expected.clone());
        }
        pending.layers.push((
            chain,
            LayerMeta {
                parent: parent.cloned(),
                diff_id: Some(expected.clone()),
                size: applied.size,
            },
        ));
        Ok((expected.clone(), applied.size))
    }

    /// Makes an image visible: config blob, record, layers and tags in one transaction.
    pub(crate) fn store_image(
        &self,
        cfg_bytes: &[u8],
        mut meta: Meta,
        tags: &[Reference],
        pending: &mut Pending,
    ) -> Result<Digest> {
        let existed = self.content.has(&Digest::of(cfg_bytes));
        let id = self.content.put(cfg_bytes)?;
        if !existed {
            pending.new_blobs.push(id.clone());
        }
        if !tags.is_empty() {
            meta.last_tag_time = Some(now());
        }
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut recs = tx.open_table(RECORDS).map_err(db_err)?;
            let existing = recs
                .get(id.to_string().as_str())
                .map_err(db_err)?
                .map(|v| v.value().to_vec());
            let meta = match existing.and_then(|b| serde_json::from_slice::<Meta>(&b).ok()) {
                Some(mut old) => {
                    if meta.last_tag_time.is_some() {
                        old.last_tag_time = meta.last_tag_time.clone();
                    }
                    merge_repo_digests(&mut old.repo_digests, &meta.repo_digests);
                    old
                }
                None => meta,
            };
            let bytes = serde_json::to_vec(&meta).map_err(json_err)?;
            recs.insert(id.to_string().as_str(), bytes.as_slice())
                .map_err(db_err)?;
            let mut t = tx.open_table(TAGS).map_err(db_err)?;
            for r in tags {
                t.insert(r.to_string().as_str(), id.to_string().as_str())
                    .map_err(db_err)?;
            }
            let mut l = tx.open_table(LAYERS).map_err(db_err)?;
            for (chain, lm) in &pending.layers {
                if l.get(chain.to_string().as_str()).map_err(db_err)?.is_none() {
                    let bytes = serde_json::to_vec(lm).map_err(json_err)?;
                    l.insert(chain.to_string().as_str(), bytes.as_slice())
                        .map_err(db_err)?;
                }
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(id)
    }

    /// Removes what a failed write created (newest first).
    fn rollback(&self, pending: Pending) {
        for c in pending.new_chains.iter().rev() {
            if let Err(e) = self.snap.remove_layer(c) {
                tracing::warn!("rolling back layer {c}: {e}");
            }
        }
        for b in &pending.new_blobs {
            self.content.delete(b);
        }
    }

    /// Runs a write that creates one image; undoes its disk effects if it fails.
    pub(crate) fn with_rollback<T>(&self, f: impl FnOnce(&mut Pending) -> Result<T>) -> Result<T> {
        let mut pending = Pending::default();
        match f(&mut pending) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.rollback(pending);
                Err(e)
            }
        }
    }

    /// `docker import`: a rootfs tar (raw, gzip or zstd) becomes a one-layer image.
    pub fn import(&self, tar: &mut dyn Read, opts: ImportOptions) -> Result<ImageRecord> {
        // Validate everything cheap before reading a possibly large tar.
        let mut run = crate::RunConfig::default();
        apply_changes(&mut run, &opts.changes)?;
        let (os, arch, variant) = platform(opts.platform.as_deref())?;
        if let Some(r) = &opts.reference
            && r.digest.is_some()
        {
            return Err(ImageError::Invalid(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let guard = self.lock();
        let id = self.with_rollback(|p| {
            let mut rdr = decompress(Box::new(tar))?;
            let (diff_id, size) = self.add_layer(None, &mut rdr, None, p)?;
            let created = now();
            // Docker records the message (default `Imported from -`) as comment and history.
            let msg = if opts.message.is_empty() {
                "Imported from -".to_string()
            } else {
                opts.message.clone()
            };
            let cfg = ImageConfig {
                architecture: arch,
                comment: Some(msg.clone()),
                config: Some(run),
                created: Some(created.clone()),
                history: vec![History {
                    created: Some(created),
                    comment: Some(msg),
                    ..Default::default()
                }],
                os,
                rootfs: RootFs {
                    kind: "layers".into(),
                    diff_ids: vec![diff_id],
                },
                variant,
                ..Default::default()
            };
            let bytes = serde_json::to_vec(&cfg).map_err(json_err)?;
            let tags: Vec<Reference> = opts
                .reference
                .iter()
                .map(|r| r.clone().with_default_tag())
                .collect();
            self.store_image(
                &bytes,
                Meta {
                    layer_sizes: vec![size],
                    ..Default::default()
                },
                &tags,
                p,
            )
        })?;
        drop(guard);
        self.get(&id.to_string())
    }

    /// `docker commit`: the container's diff (uncompressed layer tar) becomes a new layer over
    /// its image; an empty diff still adds a layer.
    pub fn commit(&self, layer_tar: &mut dyn Read, opts: CommitOptions) -> Result<ImageRecord> {
        let mut run = opts.config.clone();
        apply_changes(&mut run, &opts.changes)?;
        if let Some(r) = &opts.reference
            && r.digest.is_some()
        {
            return Err(ImageError::Invalid(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let guard = self.lock();
        let (mut cfg, parent_chain, mut sizes) = match &opts.parent {
            Some(p) => {
                let meta = self
                    .meta(p)?
                    .ok_or_else(|| ImageError::NotFound(p.to_string()))?;
                (self.config(p)?, self.layer_chain(p)?, meta.layer_sizes)
            }
            None => {
                let (os, architecture, _) = platform(None)?;
                (
                    ImageConfig {
                        architecture,
                        os,
                        ..Default::default()
                    },
                    None,
                    Vec::new(),
                )
            }
        };
        let id = self.with_rollback(|p| {
            let (diff_id, size) = self.add_layer(parent_chain.as_ref(), layer_tar, None, p)?;
            let created = now();
            let author = Some(opts.author.clone()).filter(|s| !s.is_empty());
            let comment = Some(opts.comment.clone()).filter(|s| !s.is_empty());
            // Docker's history line for a commit is the container's command.
            let created_by = opts
                .config
                .cmd
                .as_ref()
                .map(|c| c.join(" "))
                .filter(|s| !s.is_empty());
            cfg.config = Some(run);
            cfg.container = Some(opts.container_id.clone()).filter(|s| !s.is_empty());
            cfg.container_config = opts
                .container_config
                .as_ref()
                .and_then(|c| serde_json::to_value(c).ok());
            cfg.created = Some(created.clone());
            cfg.author = author.clone();
            cfg.comment = comment.clone();
            cfg.rootfs.kind = "layers".into();
            cfg.rootfs.diff_ids.push(diff_id);
            cfg.history.push(History {
                created: Some(created),
                created_by,
                author,
                comment,
                empty_layer: false,
            });
            sizes.push(size);
            let bytes = serde_json::to_vec(&cfg).map_err(json_err)?;
            let tags: Vec<Reference> = opts
                .reference
                .iter()
                .map(|r| r.clone().with_default_tag())
                .collect();
            let meta = Meta {
                parent: opts.parent.clone(),
                layer_sizes: sizes,
                ..Default::default()
            };
            self.store_image(&bytes, meta, &tags, p)
        })?;
        drop(guard);
        self.get(&id.to_string())
    }

    /// Adds a fully formed image (from `load`): its raw config and a function opening layer
    /// `i` as an uncompressed tar. Each layer is verified against the config's diff ids.
    pub(crate) fn add_image(
        &self,
        cfg_bytes: &[u8],
        layers: &mut dyn FnMut(usize) -> Result<Box<dyn Read>>,
        tags: &[Reference],
        repo_digests: &[String],
    ) -> Result<Digest> {
        let cfg: ImageConfig = serde_json::from_slice(cfg_bytes)
            .map_err(|e| ImageError::Invalid(format!("invalid image config: {e}")))?;
        let _g = self.lock();
        self.with_rollback(|p| {
            let mut chain: Option<Digest> = None;
            let mut sizes = Vec::new();
            for (i, expected) in cfg.rootfs.diff_ids.iter().enumerate() {
                let next = berth_snapshot::chain_id(chain.as_ref(), expected);
                if self.snap.has_layer(&next) && self.content.has(expected) {
                    let size = match self.layer_meta(&next)? {
                        Some(m) => m.size,
                        None => self
                            .content
                            .path(expected)
                            .metadata()
                            .map(|m| m.len())
                            .unwrap_or(0),
                    };
                    p.layers.push((
                        next.clone(),
                        LayerMeta {
                            parent: chain.clone(),
                            diff_id: Some(expected.clone()),
                            size,
                        },
                    ));
                    sizes.push(size);
                } else {
                    let mut r = layers(i)?;
                    let (_, size) = self.add_layer(chain.as_ref(), &mut r, Some(expected), p)?;
                    sizes.push(size);
                }
                chain = Some(next);
            }
            self.store_image(
                cfg_bytes,
                Meta {
                    layer_sizes: sizes,
                    repo_digests: repo_digests.to_vec(),
                    ..Default::default()
                },
                tags,
                p,
            )
        })
    }

    /// Tags an image, moving the tag if it pointed elsewhere (the old image may become dangling).
    pub fn tag(&self, id: &Digest, r: &Reference) -> Result<()> {
        if r.digest.is_some() {
            return Err(ImageError::Invalid(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let _g = self.lock();
        let key = r.clone().with_default_tag().to_string();
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut recs = tx.open_table(RECORDS).map_err(db_err)?;
            let cur = recs
                .get(id.to_string().as_str())
                .map_err(db_err)?
                .map(|v| v.value().to_vec());
            let mut meta: Meta = cur
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
            meta.last_tag_time = Some(now());
            let bytes = serde_json::to_vec(&meta).map_err(json_err)?;
            recs.insert(id.to_string().as_str(), bytes.as_slice())
                .map_err(db_err)?;
            let mut t = tx.open_table(TAGS).map_err(db_err)?;
            t.insert(key.as_str(), id.to_string().as_str())
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// `docker history`, newest first, with Docker's `/images/{id}/history` fields.
    pub fn history(&self, id: &Digest) -> Result<Vec<HistoryItem>> {
        let cfg = self.config(id)?;
        let meta = self.meta(id)?.unwrap_or_default();
        let tags: Vec<String> = self.tags_of(id)?.iter().map(|t| familiar(t)).collect();
        let mut layer_sizes = meta.layer_sizes.iter();
        let hist = if cfg.history.is_empty() {
            cfg.rootfs
                .diff_ids
                .iter()
                .map(|_| History::default())
                .collect()
        } else {
            cfg.history.clone()
        };
        let mut items: Vec<HistoryItem> = hist
            .iter()
            .map(|h| HistoryItem {
                id: "<missing>".into(),
                created: h
                    .created
                    .as_deref()
                    .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                    .map(|t| t.timestamp())
                    .unwrap_or(0),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: None,
                size: if h.empty_layer {
                    0
                } else {
                    layer_sizes.next().copied().unwrap_or(0)
                },
                comment: h.comment.clone().unwrap_or_default(),
            })
            .collect();
        items.reverse();
        if let Some(top) = items.first_mut() {
            top.id = id.to_string();
            top.tags = if tags.is_empty() { None } else { Some(tags) };
        }
        Ok(items)
    }

    /// Writes images as a `docker save` archive (Docker 25+ layout, readable by OCI tools).
    /// An image named by tag carries that tag; named by id, all its tags.
    pub fn save(&self, names: &[String], out: &mut dyn Write) -> Result<()> {
        let mut images: Vec<(Digest, Vec<String>)> = Vec::new();
        for n in names {
            let (id, by_tag) = self.resolve(n)?;
            let tags = match by_tag {
                Some(t) => vec![familiar(&t)],
                None => self.tags_of(&id)?.iter().map(|t| familiar(t)).collect(),
            };
            match images.iter_mut().find(|(i, _)| *i == id) {
                Some((_, existing)) => {
                    for t in tags {
                        if !existing.contains(&t) {
                            existing.push(t);
                        }
                    }
                }
                None => images.push((id, tags)),
            }
        }
        crate::archive::write_save(self, &images, out)
    }

    /// `docker load`: reads a `docker save` archive (either layout, optionally compressed) or an
    /// OCI image layout tar. `progress` gets one line per loaded tag.
    pub fn load(
        &self,
        archive: &mut dyn Read,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<crate::LoadedImage>> {
        let dir = tempfile::Builder::new()
            .prefix("load")
            .tempdir_in(&self.tmp)
            .map_err(io_err("load dir"))?;
        crate::archive::read_load(self, archive, dir.path(), progress)
    }

    /// Diff ids of an image's layers, base first.
    pub(crate) fn diff_ids(&self, id: &Digest) -> Result<Vec<Digest>> {
        Ok(self.config(id)?.rootfs.diff_ids)
    }

    /// Tags of an image, normalized (`docker.io/library/x:tag`), sorted.
    pub fn tag_refs(&self, id: &Digest) -> Result<Vec<String>> {
        self.tags_of(id)
    }
}

/// `(os, architecture, variant)` from `--platform` (default: this host, linux).
fn platform(p: Option<&str>) -> Result<(String, String, Option<String>)> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
    .to_string();
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(("linux".into(), arch, None));
    };
    let parts: Vec<&str> = p.split('/').collect();
    let bad = || {
        ImageError::Invalid(format!(
            "\"{p}\": unknown operating system or architecture: invalid argument"
        ))
    };
    match parts.as_slice() {
        [os] if *os == "linux" => Ok(((*os).into(), arch, None)),
        [os, a] if !os.is_empty() && !a.is_empty() => Ok(((*os).into(), (*a).into(), None)),
        [os, a, v] if !os.is_empty() && !a.is_empty() && !v.is_empty() => {
            Ok(((*os).into(), (*a).into(), Some((*v).into())))
        }
        _ => Err(bad()),
    }
}

/// Bytes per chunk handed to the layer-blob copy thread (one write syscall each).
const TEE_CHUNK: usize = 1 << 20;

/// Copies everything read from `inner` into `copy`.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    copy: Option<ChunkWorker<crate::content::Ingest>>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(w) = &mut self.copy {
            w.push(&buf[..n])?;
        }
        Ok(n)
    }
}
