//! Tar streams in and out of a container's filesystem (`docker cp`, `docker export`), with every
//! path resolved inside the container root (symlinks included) so nothing escapes it.

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use futures_util::StreamExt as _;
use serde::Serialize;

use crate::error::{ApiError, ApiResult};

/// `X-Docker-Container-Path-Stat` payload.
#[derive(Debug, Clone, Serialize)]
pub struct PathStat {
    /// Base name.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Go's os.FileMode bits (type bits in the high bits).
    pub mode: u32,
    /// RFC 3339 mtime.
    pub mtime: String,
    /// Symlink target, if a symlink.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Resolves `path` inside `root`, following symlinks as if `root` were `/` (the final
/// component is followed too unless `nofollow_last`).
pub fn resolve_in_root(root: &Path, path: &str, nofollow_last: bool) -> ApiResult<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .rev()
        .collect();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                parts.pop();
                continue;
            }
            _ => {}
        }
        let mut cand = root.to_path_buf();
        cand.extend(parts.iter());
        cand.push(&part);
        let is_last = todo.is_empty();
        match std::fs::symlink_metadata(&cand) {
            Ok(m) if m.file_type().is_symlink() && !(is_last && nofollow_last) => {
                hops += 1;
                if hops > 40 {
                    return Err(ApiError::invalid("too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&cand)?;
                if target.is_absolute() {
                    parts.clear();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => todo.push(s.to_string_lossy().into_owned()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => parts.push(part),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(parts.iter());
    Ok(out)
}

fn go_mode(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    let perm = m.permissions().mode() & 0o777;
    let ft = m.file_type();
    let mut mode = perm;
    if ft.is_dir() {
        mode |= 1 << 31;
    } else if ft.is_symlink() {
        mode |= 1 << 27;
    }
    mode
}

/// Stats a path in the container for `docker cp`.
pub fn stat_path(root: &Path, path: &str) -> ApiResult<PathStat> {
    let p = resolve_in_root(root, path, true)?;
    let m = std::fs::symlink_metadata(&p)
        .map_err(|_| ApiError::not_found(format!("Could not find the file {path} in container")))?;
    let link_target = if m.file_type().is_symlink() {
        std::fs::read_link(&p)
            .map(|t| t.display().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let mtime = m
        .modified()
        .map(chrono::DateTime::<chrono::Utc>::from)
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    Ok(PathStat {
        name,
        size: m.len() as i64,
        mode: go_mode(&m),
        mtime,
        link_target,
    })
}

/// Streams a tar of `root/rel`; entries are named under `rename` (or relative to root).
pub fn tar_stream(root: PathBuf, rel: PathBuf, rename: Option<String>) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(16);
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(64 * 1024),
        };
        let mut b = tar::Builder::new(writer);
        b.follow_symlinks(false);
        let src = root.join(&rel);
        let res = if rel.as_os_str().is_empty() || rel == Path::new(".") {
            b.append_dir_all(".", &src)
        } else {
            let name = rename.unwrap_or_else(|| {
                rel.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            match std::fs::symlink_metadata(&src) {
                Ok(m) if m.is_dir() => b.append_dir_all(&name, &src),
                Ok(_) => b.append_path_with_name(&src, &name),
                Err(e) => Err(e),
            }
        };
        let res = res
            .and_then(|_| b.into_inner())
            .and_then(|mut w| w.flush_all());
        if let Err(e) = res {
            let _ = tx.blocking_send(Err(e));
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|x| (x, rx))
    }))
}

/// A blocking `Write` that forwards 64 KiB chunks to an async body channel.
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    /// Wraps a channel sender.
    pub fn new(tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Sends what is buffered.
    pub fn flush_all(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::take(&mut self.buf);
            self.tx
                .blocking_send(Ok(bytes::Bytes::from(chunk)))
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away")
                })?;
        }
        Ok(())
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush_all()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` on a blocking thread, reading the request body through a channel as it arrives.
pub async fn with_body_reader<T, F>(body: Body, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn std::io::Read) -> ApiResult<T> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel::<bytes::Bytes>(16);
    let task = tokio::task::spawn_blocking(move || {
        let mut reader = ChannelReader {
            rx,
            cur: bytes::Bytes::new(),
        };
        let res = f(&mut reader);
        // Drain so the sender never blocks on a reader that stopped early.
        drop(reader);
        res
    });
    let mut s = body.into_data_stream();
    while let Some(chunk) = s.next().await {
        let chunk = chunk.map_err(|e| ApiError::invalid(e.to_string()))?;
        if tx.send(chunk).is_err() {
            break;
        }
    }
    drop(tx);
    task.await?
}

/// Extracts an uploaded tar into directory `path` of the container.
pub async fn extract_body(root: PathBuf, path: String, body: Body) -> ApiResult<()> {
    let dest = resolve_in_root(&root, &path, false)?;
    match std::fs::metadata(&dest) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(ApiError::invalid(format!(
                "extraction point is not a directory: {path}"
            )));
        }
        Err(_) => {
            return Err(ApiError::not_found(format!(
                "Could not find the file {path} in container"
            )));
        }
    }
    with_body_reader(body, move |reader| {
        let mut ar = tar::Archive::new(reader);
        ar.set_preserve_permissions(true);
        ar.set_overwrite(true);
        for entry in ar.entries().map_err(|e| ApiError::invalid(e.to_string()))? {
            let mut entry = entry.map_err(|e| ApiError::invalid(e.to_string()))?;
            let rel = entry
                .path()
                .map_err(|e| ApiError::invalid(e.to_string()))?
                .into_owned();
            if rel.components().any(|c| matches!(c, Component::ParentDir)) {
                return Err(ApiError::invalid(format!(
                    "invalid path in archive: {}",
                    rel.display()
                )));
            }
            // Resolve the parent inside the root so symlinks in the container cannot redirect us.
            let parent = rel
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let pdir = resolve_in_root(&dest, &parent, false)?;
            std::fs::create_dir_all(&pdir)?;
            let Some(fname) = rel.file_name() else {
                continue;
            };
            entry
                .unpack(pdir.join(fname))
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        Ok(())
    })
    .await
}

struct ChannelReader {
    rx: std::sync::mpsc::Receiver<bytes::Bytes>,
    cur: bytes::Bytes,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.cur = b,
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("up")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/link/passwd", false).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(root, "/up", false).unwrap(),
            root.join("etc")
        );
        assert_eq!(
            resolve_in_root(root, "/../../x", false).unwrap(),
            root.join("x")
        );
        assert_eq!(
            resolve_in_root(root, "/link", true).unwrap(),
            root.join("link")
        );
    }
}
