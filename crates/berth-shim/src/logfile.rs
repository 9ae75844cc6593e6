//! The json-file log writer: one JSON object per line exactly as Docker writes them
//! (`{"log":"...","stream":"stdout","time":"..."}`), split on newlines, rotated at a size.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes and rotates a json-file log.
pub struct JsonFileWriter {
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

impl JsonFileWriter {
    /// Opens (appending) a log.
    pub fn open(path: &Path, max_size: Option<u64>, max_file: u32) -> std::io::Result<Self> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(JsonFileWriter {
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
        let obj = serde_json::json!({
            "log": String::from_utf8_lossy(line),
            "stream": if stream == 2 { "stderr" } else { "stdout" },
            "time": now(),
        });
        let mut bytes = serde_json::to_vec(&obj).unwrap_or_default();
        bytes.push(b'\n');
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
        let mut w = JsonFileWriter::open(&p, None, 3).unwrap();
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
        let mut w = JsonFileWriter::open(&p, Some(200), 3).unwrap();
        for _ in 0..20 {
            w.write(1, b"0123456789012345678901234567890123456789\n")
                .unwrap();
        }
        assert!(PathBuf::from(format!("{}.1", p.display())).exists());
        assert!(PathBuf::from(format!("{}.2", p.display())).exists());
        assert!(!PathBuf::from(format!("{}.3", p.display())).exists());
        assert!(std::fs::metadata(&p).unwrap().len() <= 200);
    }
}
