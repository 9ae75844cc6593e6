//! The image store: content-addressed blobs (sha256, verified on write), image configs, tags, and the import/commit/save/load paths that turn tars into images and back.
//!
//! On disk (under the data root):
//! ```text
//! content/blobs/sha256/<hex>   image configs (by image id) and uncompressed layer tars (by diff id)
//! content/ingest/              blobs being written; renamed into blobs/ once verified
//! tmp/                         scratch space (extracted `docker load` archives)
//! berth.redb                   tables image_records (id → meta), image_tags (ref → id),
//!                              image_layers (chain id → parent, diff id, size)
//! ```
//! Layers are unpacked once by the snapshotter and shared by every image whose chain contains
//! them; a layer is dropped when no remaining image references its chain. A write that fails
//! (import, commit, load of one image) removes the layers and blobs it created; nothing is
//! visible until its single metadata transaction commits. Modules: `store` (lookups, writes),
//! `delete` (rmi/prune rules), `archive` (save/load formats), `content` (blobs), `changes`
//! (`--change` lines).

mod archive;
mod changes;
mod content;
mod delete;
mod distribution;
mod store;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

use berth_core::{Classify, Digest, ErrorKind};
use serde::{Deserialize, Serialize};

pub use changes::apply_changes;
pub use delete::InUse;
pub use distribution::{BlobMapping, MEDIA_TYPE_LAYER_GZIP};
pub use store::ImageStore;

/// The `config` part of an image config: the same structure as a container's `Config`.
pub type RunConfig = berth_api::ContainerConfig;

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Diff ids of the layers, base first.
    pub diff_ids: Vec<Digest>,
}

/// One `history` entry of an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when this step added no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// A Docker/OCI image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// CPU architecture (Go naming: amd64, arm64).
    #[serde(default)]
    pub architecture: String,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment (import message, commit message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Run defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<RunConfig>,
    /// Container the image was committed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// That container's config (Docker writes it on commit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_config: Option<serde_json::Value>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Engine version that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// History, base first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// OS.
    #[serde(default)]
    pub os: String,
    /// Layers.
    #[serde(default)]
    pub rootfs: RootFs,
    /// OS variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image as the store knows it.
#[derive(Debug, Clone)]
pub struct ImageRecord {
    /// `sha256:` of the config.
    pub id: Digest,
    /// Familiar tags (`busybox:latest`).
    pub repo_tags: Vec<String>,
    /// `name@sha256:` digests (from pulls).
    pub repo_digests: Vec<String>,
    /// Creation time.
    pub created: String,
    /// Bytes of all its layers.
    pub size: u64,
    /// Image it was committed from.
    pub parent: Option<Digest>,
    /// Parsed config.
    pub config: ImageConfig,
    /// When a tag last moved to it.
    pub last_tag_time: Option<String>,
}

/// One line of `docker rmi` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    /// A tag was removed.
    Untagged(String),
    /// An image was deleted.
    Deleted(String),
}

/// Options of `import`.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `-c` change lines.
    pub changes: Vec<String>,
    /// `-m` message.
    pub message: String,
    /// Tag to give the image.
    pub reference: Option<berth_core::Reference>,
    /// `--platform`.
    pub platform: Option<String>,
}

/// Options of `commit`.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The container's image.
    pub parent: Option<Digest>,
    /// The container's config (becomes the image's).
    pub config: RunConfig,
    /// `-c` change lines.
    pub changes: Vec<String>,
    /// `-a`.
    pub author: String,
    /// `-m`.
    pub comment: String,
    /// Container id.
    pub container_id: String,
    /// The container's own config as it ran (before overrides and changes): the image's
    /// `container_config`, as dockerd records it.
    pub container_config: Option<RunConfig>,
    /// Tag to give the image.
    pub reference: Option<berth_core::Reference>,
}

/// An image read by `load`.
#[derive(Debug, Clone)]
pub struct LoadedImage {
    /// Its id.
    pub id: Digest,
    /// Tags given to it.
    pub tags: Vec<String>,
}

/// `/images/{id}/history` item.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryItem {
    /// Image id, or `<missing>`.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// Command.
    pub created_by: String,
    /// Tags (top entry only).
    pub tags: Option<Vec<String>>,
    /// Layer size.
    pub size: u64,
    /// Comment.
    pub comment: String,
}

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No such image (message in Docker's words).
    #[error("No such image: {0}")]
    NotFound(String),
    /// A conflict (message in Docker's words).
    #[error("{0}")]
    Conflict(String),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Content did not match its digest.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Expected digest.
        expected: String,
        /// Computed digest.
        actual: String,
    },
    /// Snapshot failure.
    #[error(transparent)]
    Snapshot(#[from] berth_snapshot::SnapshotError),
    /// I/O failure.
    #[error("{context}: {source}")]
    Io {
        /// What failed.
        context: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Metadata store failure.
    #[error("metadata store: {0}")]
    Db(String),
}

impl Classify for ImageError {
    fn kind(&self) -> ErrorKind {
        match self {
            ImageError::NotFound(_) => ErrorKind::NotFound,
            ImageError::Conflict(_) => ErrorKind::Conflict,
            ImageError::Invalid(_) | ImageError::DigestMismatch { .. } => {
                ErrorKind::InvalidArgument
            }
            ImageError::Snapshot(e) => e.kind(),
            ImageError::Io { .. } | ImageError::Db(_) => ErrorKind::Internal,
        }
    }
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
    let context = context.into();
    move |source| ImageError::Io { context, source }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, ImageError>;

/// The image's run config as `image inspect` shows it (`null` when the image has none).
pub fn docker_config_json(cfg: Option<&RunConfig>) -> serde_json::Value {
    cfg.map(|c| serde_json::to_value(c).unwrap_or(serde_json::Value::Null))
        .unwrap_or(serde_json::Value::Null)
}

/// `docker commit --change`-free overrides: fields set in `over` replace those in `base`.
pub fn overlay_run_config(base: &mut RunConfig, over: RunConfig) {
    macro_rules! take {
        ($($f:ident),*) => { $( if over.$f.is_some() { base.$f = over.$f; } )* };
    }
    take!(
        hostname,
        domainname,
        user,
        exposed_ports,
        tty,
        open_stdin,
        stdin_once,
        env,
        cmd,
        healthcheck,
        image,
        volumes,
        working_dir,
        entrypoint,
        on_build,
        labels,
        stop_signal,
        stop_timeout,
        shell
    );
}
