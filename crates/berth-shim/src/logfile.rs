//! Container log writers, split on newlines and rotated at a size: `json-file` (one JSON
//! object per line exactly as Docker writes them, `{"log":"...","stream":"stdout","time":"..."}`)
//! and `local` (Docker's local driver format: each entry a protobuf `LogEntry` framed by its
//! big-endian u32 length before and after, so the file can be read both ways).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The on-disk format of a container log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Docker's json-file driver.
    JsonFile,
    /// Docker's local driver (protobuf entries).
    Local,
}

/// File name of a local-driver log inside its `local-logs` directory, as Docker names it.
pub const LOCAL_LOG_NAME: &str = "container.log";

impl LogFormat {
    /// The format of a log file, from its name: the local driver's file is `container.log`.
    pub fn of_path(path: &Path) -> LogFormat {
        if path.file_name().is_some_and(|n| n == LOCAL_LOG_NAME) {
            LogFormat::Local
        } else {
            LogFormat::JsonFile
        }
    }
}

/// One decoded local-driver entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEntry {
    /// `stdout` or `stderr`.
    pub source: String,
    /// Unix time in nanoseconds.
    pub time_nano: i64,
    /// The bytes logged, without the newline that ended the line.
    pub line: Vec<u8>,
    /// The line had no newline (it was split at 16 KiB or ended the output).
    pub partial: bool,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

/// Encodes one entry as Docker's local driver stores it (length, protobuf `LogEntry`, length).
pub fn encode_local(e: &LocalEntry) -> Vec<u8> {
    let mut msg = Vec::with_capacity(e.line.len() + 32);
    // field 1 source (bytes), 2 time_nano (varint), 3 line (bytes), 4 partial (varint)
    msg.push(0x0a);
    put_varint(&mut msg, e.source.len() as u64);
    msg.extend_from_slice(e.source.as_bytes());
    msg.push(0x10);
    put_varint(&mut msg, e.time_nano as u64);
    msg.push(0x1a);
    put_varint(&mut msg, e.line.len() as u64);
    msg.extend_from_slice(&e.line);
    if e.partial {
        msg.extend_from_slice(&[0x20, 1]);
    }
    let len = (msg.len() as u32).to_be_bytes();
    let mut out = Vec::with_capacity(msg.len() + 8);
    out.extend_from_slice(&len);
    out.extend_from_slice(&msg);
    out.extend_from_slice(&len);
    out
}

fn decode_message(msg: &[u8]) -> Option<LocalEntry> {
    let mut e = LocalEntry {
        source: String::new(),
        time_nano: 0,
        line: Vec::new(),
        partial: false,
    };
    let mut pos = 0;
    while pos < msg.len() {
        let key = get_varint(msg, &mut pos)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                let v = get_varint(msg, &mut pos)?;
                match field {
                    2 => e.time_nano = v as i64,
                    4 => e.partial = v != 0,
                    _ => {}
                }
            }
            2 => {
                let n = usize::try_from(get_varint(msg, &mut pos)?).ok()?;
                let bytes = msg.get(pos..pos.checked_add(n)?)?;
                pos += n;
                match field {
                    1 => e.source = String::from_utf8_lossy(bytes).into_owned(),
                    3 => e.line = bytes.to_vec(),
                    _ => {}
                }
            }
            1 => pos += 8,
            5 => pos += 4,
            _ => return None,
        }
    }
    (pos == msg.len()).then_some(e)
}

/// Decodes the complete entries at the start of `buf`; returns them and the bytes consumed
/// (an entry still being written is left for the next read). Stops at corrupt data.
pub fn decode_local(buf: &[u8]) -> (Vec<LocalEntry>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(head) = buf.get(pos..pos + 4) {
        let n = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let Some(tail) = buf.get(pos + 4 + n..pos + 8 + n) else {
            break;
        };
        if tail != head {
            break;
        }
        match decode_message(&buf[pos + 4..pos + 4 + n]) {
            Some(e) => out.push(e),
            None => break,
        }
        pos += 8 + n;
    }
    (out, pos)
}

/// Writes and rotates a container log in either format.
pub struct LogWriter {
    format: LogFormat,
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    partial: [Vec<u8>; 2],
}

fn now() -> String {
    berth_core::time::rfc3339_nanos(chrono::Utc::now())
}

impl LogWriter {
    /// Opens (appending) a log.
    pub fn open(
        format: LogFormat,
        path: &Path,
        max_size: Option<u64>,
        max_file: u32,
    ) -> std::io::Result<Self> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            format,
            path: path.to_path_buf(),
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            partial: [Vec::new(), Vec::new()],
        })
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.max_file <= 1 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for i in (1..self.max_file - 1).rev() {
            let from = PathBuf::from(format!("{}.{i}", self.path.display()));
            let to = PathBuf::from(format!("{}.{}", self.path.display(), i + 1));
            if from.exists() {
                std::fs::rename(from, to)?;
            }
        }
        std::fs::rename(&self.path, format!("{}.1", self.path.display()))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }

    fn entry(&mut self, stream: usize, line: &[u8]) -> std::io::Result<()> {
        let source = if stream == 2 { "stderr" } else { "stdout" };
        let bytes = match self.format {
            LogFormat::JsonFile => {
                let obj = serde_json::json!({
                    "log": String::from_utf8_lossy(line),
                    "stream": source,
                    "time": now(),
                });
                let mut bytes = serde_json::to_vec(&obj).unwrap_or_default();
                bytes.push(b'\n');
                bytes
            }
            LogFormat::Local => {
                let (line, partial) = match line.strip_suffix(b"\n") {
                    Some(l) => (l, false),
                    None => (line, true),
                };
                encode_local(&LocalEntry {
                    source: source.to_string(),
                    time_nano: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
                    line: line.to_vec(),
                    partial,
                })
            }
        };
        if let Some(max) = self.max_size
            && self.size > 0
            && self.size + bytes.len() as u64 > max
        {
            self.rotate()?;
        }
        self.file.write_all(&bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Logs output of stream 1 (stdout) or 2 (stderr); complete lines are written, the rest
    /// waits for its newline (or for `flush`).
    pub fn write(&mut self, stream: usize, data: &[u8]) -> std::io::Result<()> {
        let idx = if stream == 2 { 1 } else { 0 };
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos + 1;
            let line = buf[start..end].to_vec();
            self.entry(stream, &line)?;
            start = end;
        }
        // Docker splits very long lines at 16 KiB.
        let mut rest = buf[start..].to_vec();
        while rest.len() >= 16 * 1024 {
            let chunk: Vec<u8> = rest.drain(..16 * 1024).collect();
            self.entry(stream, &chunk)?;
        }
        self.partial[idx] = rest;
        Ok(())
    }

    /// Writes any unterminated output.
    pub fn flush(&mut self) -> std::io::Result<()> {
        for idx in 0..2 {
            let rest = std::mem::take(&mut self.partial[idx]);
            if !rest.is_empty() {
                self.entry(if idx == 1 { 2 } else { 1 }, &rest)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_rotated() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c-json.log");
        let mut w = LogWriter::open(LogFormat::JsonFile, &p, None, 3).unwrap();
        w.write(1, b"hello\nwor").unwrap();
        w.write(1, b"ld\n").unwrap();
        w.write(2, b"oops").unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["log"], "hello\n");
        assert_eq!(lines[1]["log"], "world\n");
        assert_eq!(lines[2]["stream"], "stderr");
        assert_eq!(lines[2]["log"], "oops");
        drop(w);
        let mut w = LogWriter::open(LogFormat::JsonFile, &p, Some(200), 3).unwrap();
        for _ in 0..20 {
            w.write(1, b"0123456789012345678901234567890123456789\n")
                .unwrap();
        }
        assert!(PathBuf::from(format!("{}.1", p.display())).exists());
        assert!(PathBuf::from(format!("{}.2", p.display())).exists());
        assert!(!PathBuf::from(format!("{}.3", p.display())).exists());
        assert!(std::fs::metadata(&p).unwrap().len() <= 200);
    }

    #[test]
    fn local_format_round_trips_and_rotates() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(LOCAL_LOG_NAME);
        assert_eq!(LogFormat::of_path(&p), LogFormat::Local);
        assert_eq!(
            LogFormat::of_path(&d.path().join("x-json.log")),
            LogFormat::JsonFile
        );
        let mut w = LogWriter::open(LogFormat::Local, &p, None, 1).unwrap();
        w.write(1, b"hello\nwor").unwrap();
        w.write(2, b"err\n").unwrap();
        w.flush().unwrap();
        let buf = std::fs::read(&p).unwrap();
        let (entries, used) = decode_local(&buf);
        assert_eq!(used, buf.len());
        let got: Vec<(&str, &[u8], bool)> = entries
            .iter()
            .map(|e| (e.source.as_str(), e.line.as_slice(), e.partial))
            .collect();
        assert_eq!(
            got,
            [
                ("stdout", &b"hello"[..], false),
                ("stderr", &b"err"[..], false),
                ("stdout", &b"wor"[..], true)
            ]
        );
        assert!(entries[0].time_nano > 1_700_000_000_000_000_000);
        // A torn entry at the end is left for later; the length trailer must match.
        let (e2, used2) = decode_local(&buf[..buf.len() - 3]);
        assert_eq!(e2.len(), 2);
        assert!(used2 < buf.len());
        let mut bad = buf.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode_local(&bad).0.len(), 2);
        drop(w);
        let mut w = LogWriter::open(LogFormat::Local, &p, Some(300), 2).unwrap();
        for _ in 0..20 {
            w.write(1, b"0123456789012345678901234567890123456789\n")
                .unwrap();
        }
        assert!(PathBuf::from(format!("{}.1", p.display())).exists());
        assert!(std::fs::metadata(&p).unwrap().len() <= 300);
        let (rest, _) = decode_local(&std::fs::read(&p).unwrap());
        assert!(!rest.is_empty());
    }
}
