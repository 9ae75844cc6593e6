//! What the registry client needs from the store: storing pulled images, repo digests, and the
//! diff id → compressed blob mapping used (and cached) by push.
//!
//! Table `image_blob_map`: `"sha256:<diff id>"` → JSON [`BlobMapping`].

use std::io::Read;
use std::path::{Path, PathBuf};

use berth_core::{Digest, Reference};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::store::ImageStore;
use crate::store::{Meta, db_err, merge_repo_digests};
use crate::{ImageError, ImageRecord, Result, io_err};

pub(crate) const BLOB_MAP: TableDefinition<&str, &[u8]> = TableDefinition::new("image_blob_map");

/// Media type of a gzip-compressed Docker layer.
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The compressed form of a layer as known to registries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMapping {
    /// Digest of the compressed blob.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// Repositories (`host/path`) known to hold the blob, for cross-repo mounts.
    #[serde(default)]
    pub sources: Vec<String>,
}

impl ImageStore {
    /// Scratch directory on the store's filesystem (downloads land here before being applied).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Whether the layer with chain id `chain` (and diff id `diff_id`) is already applied, so a
    /// pull can skip downloading it ("Already exists").
    pub fn has_layer(&self, chain: &Digest, diff_id: &Digest) -> bool {
        self.snap.has_layer(chain) && self.content.has(diff_id)
    }

    /// Stores a pulled image: `config_bytes` is the verified config blob; `layers(i)` opens layer
    /// `i` (compressed or not; it is decompressed and checked against the config's diff id) and is
    /// only called for layers the store lacks. Tags `reference` (if it has a tag) and records
    /// `repo_digest` (`host/name@sha256:...`). Nothing is left behind on failure.
    pub fn store_pulled(
        &self,
        config_bytes: &[u8],
        layers: &mut dyn FnMut(usize) -> Result<Box<dyn Read>>,
        reference: Option<&Reference>,
        repo_digest: Option<&str>,
    ) -> Result<ImageRecord> {
        let tags: Vec<Reference> = reference
            .filter(|r| r.tag.is_some())
            .map(|r| Reference {
                digest: None,
                ..r.clone()
            })
            .into_iter()
            .collect();
        let digests: Vec<String> = repo_digest.map(str::to_string).into_iter().collect();
        let mut open = |i: usize| -> Result<Box<dyn Read>> {
            let r = layers(i)?;
            crate::content::decompress(r)
        };
        let id = self.add_image(config_bytes, &mut open, &tags, &digests)?;
        self.get(&id.to_string())
    }

    /// Adds a repo digest (`host/name@sha256:...`) to an existing image (after a push).
    pub fn add_repo_digest(&self, id: &Digest, repo_digest: &str) -> Result<()> {
        self.update_meta(id, |meta| {
            merge_repo_digests(&mut meta.repo_digests, &[repo_digest.to_string()]);
        })
    }

    /// Records `parent` as the image `id` was built on (the builder's intermediate images),
    /// so `images` hides parents as dockerd does and `history` follows the chain. An image
    /// that already has a parent keeps it.
    pub fn set_parent(&self, id: &Digest, parent: &Digest) -> Result<()> {
        if id == parent {
            return Ok(());
        }
        self.update_meta(id, |meta| {
            meta.parent.get_or_insert_with(|| parent.clone());
        })
    }

    /// Read-modify-write of one image's metadata row in a single transaction.
    fn update_meta(&self, id: &Digest, f: impl FnOnce(&mut Meta)) -> Result<()> {
        let _g = self.lock();
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut recs = tx.open_table(crate::store::RECORDS).map_err(db_err)?;
            let cur = recs
                .get(id.to_string().as_str())
                .map_err(db_err)?
                .map(|v| v.value().to_vec());
            let mut meta: Meta = cur
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
            f(&mut meta);
            let bytes =
                serde_json::to_vec(&meta).map_err(|e| ImageError::Invalid(e.to_string()))?;
            recs.insert(id.to_string().as_str(), bytes.as_slice())
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Opens the uncompressed tar of a layer by diff id.
    pub fn layer_tar(&self, diff_id: &Digest) -> Result<std::fs::File> {
        if !self.content.has(diff_id) {
            return Err(ImageError::NotFound(format!("layer {diff_id}")));
        }
        self.content.open_blob(diff_id)
    }

    /// The known compressed form of a layer, if any.
    pub fn blob_mapping(&self, diff_id: &Digest) -> Option<BlobMapping> {
        let rtx = self.db.begin_read().ok()?;
        let t = rtx.open_table(BLOB_MAP).ok()?;
        let v = t.get(diff_id.to_string().as_str()).ok()??;
        serde_json::from_slice(v.value()).ok()
    }

    /// Records (replacing) the compressed form of a layer; `sources` are merged when the
    /// compressed digest is unchanged.
    pub fn record_blob_mapping(&self, diff_id: &Digest, mut m: BlobMapping) -> Result<()> {
        if let Some(old) = self.blob_mapping(diff_id)
            && old.digest == m.digest
        {
            for s in old.sources {
                if !m.sources.contains(&s) {
                    m.sources.push(s);
                }
            }
        }
        let bytes = serde_json::to_vec(&m).map_err(|e| ImageError::Invalid(e.to_string()))?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(BLOB_MAP).map_err(db_err)?;
            t.insert(diff_id.to_string().as_str(), bytes.as_slice())
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// The gzip-compressed blob of a layer for push: the cached one when present, otherwise
    /// compresses the layer tar, stores the blob and records the mapping. Returns the mapping and
    /// the blob's path.
    pub fn compressed_layer(&self, diff_id: &Digest) -> Result<(BlobMapping, PathBuf)> {
        if let Some(m) = self.blob_mapping(diff_id)
            && self.content.has(&m.digest)
        {
            let p = self.content.path(&m.digest);
            return Ok((m, p));
        }
        let mut src = self.layer_tar(diff_id)?;
        let ing = self.content.ingest()?;
        let mut gz = flate2::write::GzEncoder::new(ing, flate2::Compression::fast());
        std::io::copy(&mut src, &mut gz).map_err(io_err("compressing layer"))?;
        let ing = gz.finish().map_err(io_err("compressing layer"))?;
        let size = ing.size();
        let digest = self.content.commit(ing, None)?;
        let keep_sources = self
            .blob_mapping(diff_id)
            .filter(|m| m.digest == digest)
            .map(|m| m.sources)
            .unwrap_or_default();
        let m = BlobMapping {
            digest: digest.clone(),
            size,
            media_type: MEDIA_TYPE_LAYER_GZIP.to_string(),
            sources: keep_sources,
        };
        self.record_blob_mapping(diff_id, m.clone())?;
        Ok((m, self.content.path(&digest)))
    }

    /// Deletes the cached compressed blob of a layer whose tar is gone; the mapping stays, as
    /// it still lets a push skip or mount the layer if it comes back.
    pub(crate) fn drop_compressed(&self, diff_id: &Digest) {
        if let Some(m) = self.blob_mapping(diff_id) {
            self.content.delete(&m.digest);
        }
    }

    /// The image id (config digest) a normalized tag points to, if any.
    pub fn tag_target(&self, reference: &Reference) -> Option<Digest> {
        let key = reference.clone().with_default_tag().to_string();
        self.tags()
            .ok()?
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, id)| id)
    }
}
