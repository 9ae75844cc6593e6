//! runc-style error reporting: the bare message on stderr, and a logrus-shaped line in the
//! `--log` file (`{"level":"error","msg":"...","time":"..."}` with `--log-format json`).

use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

/// Log line layout selected by `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// logrus text: `time="..." level=error msg="..."`.
    Text,
    /// logrus JSON.
    Json,
}

impl LogFormat {
    /// Parses `--log-format`; runc rejects anything but `text` and `json`.
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value {
            None | Some("text") | Some("") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(other) => Err(format!("invalid log-format: {other}")),
        }
    }
}

/// Formats one log line (without newline).
pub fn format_line(format: LogFormat, level: &str, msg: &str, time: DateTime<Utc>) -> String {
    let time = time.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    match format {
        LogFormat::Json => {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        }
        LogFormat::Text => {
            // Quote the message the way logrus does (Go %q-like escaping of quotes/backslashes).
            let quoted = serde_json::Value::String(msg.to_string()).to_string();
            format!("time=\"{time}\" level={level} msg={quoted}")
        }
    }
}

/// Where errors go.
#[derive(Debug, Clone)]
pub struct Logger {
    file: Option<PathBuf>,
    format: LogFormat,
}

impl Logger {
    /// A logger writing lines to `file` (when given) in `format`.
    pub fn new(file: Option<PathBuf>, format: LogFormat) -> Self {
        Logger { file, format }
    }

    /// Reports an error: the message on stderr and a line in the log file.
    pub fn error(&self, msg: &str) {
        eprintln!("{msg}");
        self.append("error", msg);
    }

    /// Appends one line to the log file, if any; failures to log are ignored on purpose
    /// because the error itself has already been printed.
    pub fn append(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let line = format_line(self.format, level, msg, Utc::now());
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }

    /// Opens the log file for libcontainer's own tracing output (`--debug`).
    pub fn debug_writer(&self) -> Option<std::fs::File> {
        let path = self.file.as_ref()?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn json_line() {
        let t = Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(
            format_line(LogFormat::Json, "error", "exec: \"x\": y", t),
            r#"{"level":"error","msg":"exec: \"x\": y","time":"2023-11-14T22:13:20Z"}"#
        );
        assert_eq!(
            format_line(LogFormat::Text, "error", "container does not exist", t),
            r#"time="2023-11-14T22:13:20Z" level=error msg="container does not exist""#
        );
    }

    #[test]
    fn parse_format() {
        assert_eq!(LogFormat::parse(Some("json")), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse(None), Ok(LogFormat::Text));
        assert!(LogFormat::parse(Some("xml")).is_err());
    }
}
