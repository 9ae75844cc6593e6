//! The filesystem driver: keys are paths below the root; writes are staged in `uploads/`,
//! fsynced and renamed, so readers only ever see complete files.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{not_found, rand_hex};

/// Filesystem storage rooted at a directory.
#[derive(Debug, Clone)]
pub struct FsBackend {
    root: PathBuf,
}

impl FsBackend {
    /// Opens (creating) the root and its staging directory.
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join("uploads"))?;
        Ok(FsBackend { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub(super) async fn read(&self, key: &str) -> std::io::Result<Option<Bytes>> {
        match tokio::fs::read(self.path(key)).await {
            Ok(b) => Ok(Some(Bytes::from(b))),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn write(&self, key: &str, data: &[u8]) -> std::io::Result<()> {
        let tmp = self
            .root
            .join("uploads")
            .join(format!("tmp-{}", rand_hex(12)));
        let mut f = tokio::fs::File::create(&tmp).await?;
        f.write_all(data).await?;
        f.sync_all().await?;
        drop(f);
        self.commit(key, &tmp).await
    }

    /// Moves a complete local file into place under `key`.
    pub(super) async fn commit(&self, key: &str, local: &Path) -> std::io::Result<()> {
        let dest = self.path(key);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        match tokio::fs::rename(local, &dest).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = tokio::fs::remove_file(local).await;
                Err(e)
            }
        }
    }

    pub(super) async fn size(&self, key: &str) -> std::io::Result<Option<u64>> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn delete(&self, key: &str) -> std::io::Result<bool> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn list(&self, dir: &str) -> std::io::Result<Vec<String>> {
        let mut rd = match tokio::fs::read_dir(self.path(dir)).await {
            Ok(r) => r,
            Err(e) if not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        while let Some(e) = rd.next_entry().await? {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
        out.sort();
        Ok(out)
    }

    pub(super) async fn read_range(
        &self,
        key: &str,
        start: u64,
        len: u64,
    ) -> std::io::Result<BoxStream<'static, std::io::Result<Bytes>>> {
        let mut f = tokio::fs::File::open(self.path(key)).await?;
        if start > 0 {
            f.seek(std::io::SeekFrom::Start(start)).await?;
        }
        Ok(tokio_util::io::ReaderStream::with_capacity(f.take(len), 256 * 1024).boxed())
    }

    pub(super) async fn repositories(&self) -> std::io::Result<Vec<String>> {
        let dir = self.root.join("repositories");
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk_repos(&dir, String::new(), &mut out)?;
            out.sort();
            Ok(out)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

fn walk_repos(dir: &Path, prefix: String, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if not_found(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut is_repo = false;
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "_manifests" || name == "_layers" {
            is_repo = true;
        } else if !name.starts_with('_') {
            let child = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            walk_repos(&entry.path(), child, out)?;
        }
    }
    if is_repo && !prefix.is_empty() {
        out.push(prefix);
    }
    Ok(())
}
