//! Layer and container-filesystem snapshots: image layers unpacked once and shared, a private writable layer per container (overlayfs, or vfs copies as a fallback).
//!
//! Lifecycle (the contract every implementation keeps):
//! 1. `apply_layer(parent, tar)` unpacks one image layer (an uncompressed tar in Docker's
//!    AUFS-whiteout format: `.wh.<name>` deletes `<name>`, `.wh..wh..opq` makes its directory
//!    opaque) on top of the chain `parent`, and returns the layer's identity. Layers are
//!    immutable once applied and addressed by their chain id
//!    (`chain(L1)=diff(L1)`, `chain(L1..Ln)=sha256("<chain(L1..Ln-1)> <diff(Ln)>")`).
//! 2. `prepare(key, parent)` creates an empty writable layer for a container over a chain.
//! 3. `mount(key, target)` mounts the container filesystem at `target`; `unmount(target)` undoes it.
//! 4. `changes(key)` / `diff_tar(key, out)` describe the container's writes (for `docker diff`
//!    and `docker commit`); `usage(key)` sizes them.
//! 5. `remove(key)` drops the writable layer; `remove_layer(chain)` drops an unused image layer.

use std::io::{Read, Write};
use std::path::Path;

use berth_core::Digest;

/// What applying a layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedLayer {
    /// sha256 of the uncompressed tar stream that was applied (the image config's diff_id).
    pub diff_id: Digest,
    /// Chain id of the layer stack ending in this layer.
    pub chain_id: Digest,
    /// Bytes of file content this layer adds on disk.
    pub size: u64,
}

/// One path a container changed, as `docker diff` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute path inside the container, e.g. `/etc/foo`.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// Kind of change, numbered as the Engine API's `/containers/{id}/changes` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// 0 = "C": existed below and was modified (or is a directory containing changes).
    Modified = 0,
    /// 1 = "A": new in the container.
    Added = 1,
    /// 2 = "D": deleted by the container.
    Deleted = 2,
}

/// Errors of the snapshot stores.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The named layer chain does not exist.
    #[error("layer {0} does not exist")]
    LayerNotFound(String),
    /// The container snapshot does not exist.
    #[error("snapshot {0} does not exist")]
    SnapshotNotFound(String),
    /// The container snapshot already exists.
    #[error("snapshot {0} already exists")]
    SnapshotExists(String),
    /// A layer tar was malformed or tried to escape the layer root.
    #[error("invalid layer archive: {0}")]
    InvalidArchive(String),
    /// A layer tar's sha256 was not the expected diff id (nothing was kept).
    #[error("layer digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The diff id the caller expected.
        expected: String,
        /// The digest of the tar actually read.
        actual: String,
    },
    /// An I/O error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What failed (path or operation).
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl berth_core::Classify for SnapshotError {
    fn kind(&self) -> berth_core::ErrorKind {
        use berth_core::ErrorKind;
        match self {
            SnapshotError::LayerNotFound(_) | SnapshotError::SnapshotNotFound(_) => {
                ErrorKind::NotFound
            }
            SnapshotError::SnapshotExists(_) => ErrorKind::Conflict,
            SnapshotError::InvalidArchive(_) | SnapshotError::DigestMismatch { .. } => {
                ErrorKind::InvalidArgument
            }
            SnapshotError::Io { .. } => ErrorKind::Internal,
        }
    }
}

/// Result alias for snapshot operations.
pub type Result<T> = std::result::Result<T, SnapshotError>;

/// A store of image layers and container writable layers. See the module doc for the lifecycle.
pub trait Snapshotter: Send + Sync {
    /// Docker's name for this driver (`overlay2` or `vfs`), shown in `docker info`.
    fn name(&self) -> &'static str;
    /// Unpacks `layer` (uncompressed tar) over `parent`; idempotent if the chain already exists
    /// (the tar is still read to the end and hashed).
    fn apply_layer(&self, parent: Option<&Digest>, layer: &mut dyn Read) -> Result<AppliedLayer>;
    /// Like `apply_layer`, but the layer becomes visible only if the tar's sha256 is
    /// `expected`; otherwise fails with `DigestMismatch` and keeps nothing, so a caller can
    /// unpack a stream while it is still being verified. The default checks at the end of the
    /// stream (relying on `apply_layer` reading to the end before it commits); drivers
    /// override it to compare the digest they already compute, before their commit.
    fn apply_layer_verified(
        &self,
        parent: Option<&Digest>,
        layer: &mut dyn Read,
        expected: &Digest,
    ) -> Result<AppliedLayer> {
        let mut v = unpack::VerifyingReader::new(layer, expected);
        let res = self.apply_layer(parent, &mut v);
        match v.mismatch() {
            Some(actual) => Err(SnapshotError::DigestMismatch {
                expected: expected.to_string(),
                actual: actual.to_string(),
            }),
            None => res,
        }
    }
    /// Whether a layer chain has been applied.
    fn has_layer(&self, chain_id: &Digest) -> bool;
    /// Removes an image layer; the caller guarantees nothing uses it.
    fn remove_layer(&self, chain_id: &Digest) -> Result<()>;
    /// Creates the writable layer `key` over `parent` (None = empty rootfs).
    fn prepare(&self, key: &str, parent: Option<&Digest>) -> Result<()>;
    /// Mounts the container filesystem `key` at `target` (an existing directory).
    fn mount(&self, key: &str, target: &Path) -> Result<()>;
    /// Unmounts a filesystem mounted by `mount`; not an error if it is not mounted.
    fn unmount(&self, target: &Path) -> Result<()>;
    /// Removes the writable layer `key`; not an error if it does not exist.
    fn remove(&self, key: &str) -> Result<()>;
    /// The container's changes relative to its parent chain, sorted by path.
    fn changes(&self, key: &str) -> Result<Vec<Change>>;
    /// Writes the container's changes as a layer tar (AUFS whiteouts) to `out`.
    fn diff_tar(&self, key: &str, out: &mut dyn Write) -> Result<()>;
    /// Bytes used by the container's writable layer.
    fn usage(&self, key: &str) -> Result<u64>;
}

mod overlay;
mod unpack;
mod vfs;

pub use overlay::{OverlaySnapshotter, overlay_supported};
pub use vfs::VfsSnapshotter;

/// Chain id of a layer over `parent` (OCI image spec: `sha256(parent + " " + diff_id)`).
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
    }
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let context = context.into();
    move |source| SnapshotError::Io { context, source }
}

/// The error for a tar whose digest is not the one expected (None when it matches or when
/// nothing was expected).
fn check_digest(expected: Option<&Digest>, actual: &Digest) -> Result<()> {
    match expected {
        Some(e) if e != actual => Err(SnapshotError::DigestMismatch {
            expected: e.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Bytes of regular files under `dir` (hard links counted once).
fn dir_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && (m.nlink() == 1 || seen.insert((m.dev(), m.ino()))) {
                total += m.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert_eq!(chain_id(None, &a), a);
        let ab = chain_id(Some(&a), &b);
        assert_eq!(ab, Digest::of(format!("{a} {b}").as_bytes()));
        assert_ne!(ab, chain_id(Some(&b), &a));
    }
}
