//! Reading a container's json-file log (written by its shim) for `docker logs` and `attach
//! --logs`: rotated files oldest first, stream/time/tail filters, Docker framing, and follow
//! until the container stops.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use crate::containers::Container;

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep streaming new lines until the container stops.
    pub follow: bool,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Only entries at or after (unix nanos).
    pub since: Option<i64>,
    /// Only entries before (unix nanos).
    pub until: Option<i64>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// The container has a TTY: no multiplexing headers.
    pub tty: bool,
}

#[derive(Debug, Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

/// Log files of a container, oldest first (`x.log.N` ... `x.log.1`, `x.log`).
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for i in (1..100).rev() {
        let p = PathBuf::from(format!("{}.{i}", path.display()));
        if p.exists() {
            files.push(p);
        }
    }
    files.push(path.to_path_buf());
    files
}

/// Turns one log line into its framed bytes, if it passes the filters.
fn frame(line: &str, o: &LogOptions) -> Option<Vec<u8>> {
    let e: Entry = serde_json::from_str(line).ok()?;
    let is_err = e.stream == "stderr";
    if (is_err && !o.stderr) || (!is_err && !o.stdout) {
        return None;
    }
    if o.since.is_some() || o.until.is_some() {
        let t = chrono::DateTime::parse_from_rfc3339(&e.time)
            .ok()?
            .timestamp_nanos_opt()?;
        if o.since.is_some_and(|s| t < s) || o.until.is_some_and(|u| t >= u) {
            return None;
        }
    }
    let mut payload = Vec::with_capacity(e.log.len() + 40);
    if o.timestamps {
        payload.extend_from_slice(e.time.as_bytes());
        payload.push(b' ');
    }
    payload.extend_from_slice(e.log.as_bytes());
    if o.tty {
        return Some(payload);
    }
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.push(if is_err { 2 } else { 1 });
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    Some(out)
}

/// Reads everything currently in the files; returns framed chunks and (last file, its offset).
pub fn read_existing(path: &Path, o: &LogOptions) -> (Vec<Vec<u8>>, u64) {
    let mut lines: Vec<String> = Vec::new();
    let mut offset = 0;
    for f in log_files(path) {
        let Ok(file) = std::fs::File::open(&f) else {
            continue;
        };
        let mut r = BufReader::new(file);
        let mut line = String::new();
        let mut pos = 0u64;
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !line.ends_with('\n') {
                        // A partial line is still being written; read it next time.
                        break;
                    }
                    pos += n as u64;
                    lines.push(line.trim_end_matches('\n').to_string());
                }
            }
        }
        if f == path {
            offset = pos;
        }
    }
    let mut framed: Vec<Vec<u8>> = lines.iter().filter_map(|l| frame(l, o)).collect();
    if let Some(n) = o.tail {
        let skip = framed.len().saturating_sub(n);
        framed.drain(..skip);
    }
    (framed, offset)
}

/// Streams the log as Docker frames.
pub fn stream(
    c: Arc<Container>,
    path: PathBuf,
    o: LogOptions,
) -> futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let (p2, o2) = (path.clone(), o.clone());
        let Ok((chunks, mut offset)) =
            tokio::task::spawn_blocking(move || read_existing(&p2, &o2)).await
        else {
            return;
        };
        for ch in chunks {
            if tx.send(Ok(Bytes::from(ch))).await.is_err() {
                return;
            }
        }
        if !o.follow {
            return;
        }
        let mut rx_state = c.wait_tx.subscribe();
        let mut ino = std::fs::metadata(&path)
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap_or(0);
        loop {
            let running = rx_state.borrow().running;
            // Read what was appended since the last pass.
            let (p2, o2) = (path.clone(), o.clone());
            let res = tokio::task::spawn_blocking(move || read_from(&p2, offset, ino, &o2)).await;
            let Ok((chunks, new_off, new_ino)) = res else {
                return;
            };
            offset = new_off;
            ino = new_ino;
            for ch in chunks {
                if tx.send(Ok(Bytes::from(ch))).await.is_err() {
                    return;
                }
            }
            if !running || rx_state.borrow().removed {
                return;
            }
            // Wake on the container stopping or after a short interval to look for new lines.
            tokio::select! {
                _ = rx_state.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    use futures_util::StreamExt as _;
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
        .boxed()
}

fn read_from(path: &Path, offset: u64, ino: u64, o: &LogOptions) -> (Vec<Vec<u8>>, u64, u64) {
    let Ok(mut f) = std::fs::File::open(path) else {
        return (Vec::new(), offset, ino);
    };
    let meta_ino = f
        .metadata()
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap_or(0);
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // Rotated (new inode) or truncated: start the new file from its beginning.
    let start = if meta_ino != ino || len < offset {
        0
    } else {
        offset
    };
    if f.seek(SeekFrom::Start(start)).is_err() {
        return (Vec::new(), offset, ino);
    }
    let mut r = BufReader::new(f);
    let mut out = Vec::new();
    let mut pos = start;
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !line.ends_with('\n') {
                    break;
                }
                pos += n as u64;
                if let Some(fr) = frame(line.trim_end_matches('\n'), o) {
                    out.push(fr);
                }
            }
        }
    }
    (out, pos, meta_ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> LogOptions {
        LogOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        }
    }

    #[test]
    fn frames_filters_and_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c-json.log");
        std::fs::write(format!("{}.1", p.display()), "{\"log\":\"old\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00.000000001Z\"}\n").unwrap();
        std::fs::write(
            &p,
            "{\"log\":\"out\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:01Z\"}\n{\"log\":\"err\\n\",\"stream\":\"stderr\",\"time\":\"2026-01-01T00:00:02Z\"}\n{\"log\":\"part",
        )
        .unwrap();
        let (all, off) = read_existing(&p, &opts());
        assert_eq!(all.len(), 3);
        assert_eq!(&all[0][8..], b"old\n");
        assert_eq!(all[2][0], 2);
        assert_eq!(
            u32::from_be_bytes([all[2][4], all[2][5], all[2][6], all[2][7]]),
            4
        );
        assert!(off > 0);
        let (tail, _) = read_existing(
            &p,
            &LogOptions {
                tail: Some(1),
                ..opts()
            },
        );
        assert_eq!(&tail[0][8..], b"err\n");
        let (out_only, _) = read_existing(
            &p,
            &LogOptions {
                stderr: false,
                tty: true,
                timestamps: true,
                ..opts()
            },
        );
        assert_eq!(out_only.len(), 2);
        assert_eq!(out_only[1], b"2026-01-01T00:00:01Z out\n");
        let since = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:01.5Z")
            .unwrap()
            .timestamp_nanos_opt();
        let (late, _) = read_existing(&p, &LogOptions { since, ..opts() });
        assert_eq!(late.len(), 1);
    }
}
