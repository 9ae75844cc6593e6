//! Reading a container's log (json-file or local format, written by its shim) for `docker logs`
//! and `attach --logs`: rotated files oldest first, stream/time/tail filters, Docker framing,
//! and follow until the container stops.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_shim::logfile::{LogFormat, decode_local};
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

/// One entry of either format.
struct Record {
    is_err: bool,
    time: String,
    log: Vec<u8>,
}

fn json_record(line: &str) -> Option<Record> {
    let e: Entry = serde_json::from_str(line).ok()?;
    Some(Record {
        is_err: e.stream == "stderr",
        time: e.time,
        log: e.log.into_bytes(),
    })
}

/// Turns one entry into its framed bytes, if it passes the filters.
fn frame(e: Record, o: &LogOptions) -> Option<Vec<u8>> {
    let is_err = e.is_err;
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
    payload.extend_from_slice(&e.log);
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

/// Reads the complete entries of one file from `start`; returns them and the end offset.
fn read_records(file: std::fs::File, start: u64, format: LogFormat) -> (Vec<Record>, u64) {
    let mut r = BufReader::new(file);
    if r.seek(SeekFrom::Start(start)).is_err() {
        return (Vec::new(), start);
    }
    let mut out = Vec::new();
    let mut pos = start;
    if format == LogFormat::Local {
        let mut buf = Vec::new();
        if std::io::Read::read_to_end(&mut r, &mut buf).is_err() {
            return (out, pos);
        }
        let (entries, used) = decode_local(&buf);
        for e in entries {
            let mut log = e.line;
            if !e.partial {
                log.push(b'\n');
            }
            let t = chrono::DateTime::from_timestamp_nanos(e.time_nano);
            out.push(Record {
                is_err: e.source == "stderr",
                time: berth_core::time::rfc3339_nanos(t),
                log,
            });
        }
        return (out, pos + used as u64);
    }
    let mut line = String::new();
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
                if let Some(rec) = json_record(line.trim_end_matches('\n')) {
                    out.push(rec);
                }
            }
        }
    }
    (out, pos)
}

/// Reads everything currently in the files; returns framed chunks and (last file, its offset).
pub fn read_existing(path: &Path, o: &LogOptions) -> (Vec<Vec<u8>>, u64) {
    let format = LogFormat::of_path(path);
    let mut records = Vec::new();
    let mut offset = 0;
    for f in log_files(path) {
        let Ok(file) = std::fs::File::open(&f) else {
            continue;
        };
        let (recs, pos) = read_records(file, 0, format);
        records.extend(recs);
        if f == path {
            offset = pos;
        }
    }
    let mut framed: Vec<Vec<u8>> = records.into_iter().filter_map(|r| frame(r, o)).collect();
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
    let Ok(f) = std::fs::File::open(path) else {
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
    let (recs, pos) = read_records(f, start, LogFormat::of_path(path));
    let out = recs.into_iter().filter_map(|r| frame(r, o)).collect();
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

    #[test]
    fn local_format_is_read_and_followed() {
        use berth_shim::logfile::{LOCAL_LOG_NAME, LocalEntry, encode_local};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(LOCAL_LOG_NAME);
        let entry = |src: &str, t: i64, line: &[u8], partial: bool| {
            encode_local(&LocalEntry {
                source: src.into(),
                time_nano: t,
                line: line.to_vec(),
                partial,
            })
        };
        let base = 1_790_000_000_000_000_000i64;
        let mut buf = entry("stdout", base, b"one", false);
        buf.extend(entry("stderr", base + 1_000_000_000, b"two", false));
        std::fs::write(&p, &buf).unwrap();
        let (all, off) = read_existing(&p, &opts());
        assert_eq!(off, buf.len() as u64);
        assert_eq!(&all[0][8..], b"one\n");
        assert_eq!(all[1][0], 2);
        assert_eq!(&all[1][8..], b"two\n");
        let (ts, _) = read_existing(
            &p,
            &LogOptions {
                tty: true,
                timestamps: true,
                since: Some(base + 1),
                ..opts()
            },
        );
        assert_eq!(ts, [b"2026-09-21T14:13:21.000000000Z two\n".to_vec()]);
        // Appended later, with a torn entry at the end: only the whole one is returned.
        let more = entry("stdout", base + 2, b"three", true);
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        std::io::Write::write_all(&mut f, &more).unwrap();
        std::io::Write::write_all(&mut f, &more[..5]).unwrap();
        let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&p).unwrap());
        let (chunks, new_off, _) = read_from(&p, off, ino, &opts());
        assert_eq!(chunks.len(), 1);
        assert_eq!(&chunks[0][8..], b"three");
        assert_eq!(new_off, off + more.len() as u64);
    }
}
