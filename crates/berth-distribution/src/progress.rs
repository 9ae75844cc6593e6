//! Progress events and their Docker jsonmessage encoding.

use serde_json::{Value, json};

/// One progress event; the daemon writes `progress_json(&p)` plus "\r\n" per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A status line without id, e.g. "Digest: sha256:..." or "The push refers to repository [x]".
    Status(String),
    /// A status line for an id (short layer id or tag), e.g. ("Pulling fs layer", "<12hex>").
    IdStatus {
        /// Status text.
        status: String,
        /// Short layer id or tag.
        id: String,
    },
    /// Byte progress of a layer ("Downloading", "Extracting", "Pushing").
    Bytes {
        /// Status text.
        status: String,
        /// Short layer id.
        id: String,
        /// Bytes done.
        current: u64,
        /// Total bytes, if known.
        total: Option<u64>,
    },
    /// The result of pushing one tag, sent right after its `<tag>: digest: ... size: N` line
    /// as dockerd's `aux` message (the CLI reads it, e.g. for content trust).
    PushResult {
        /// The tag pushed.
        tag: String,
        /// Manifest digest (`sha256:...`).
        digest: String,
        /// Manifest size in bytes.
        size: u64,
    },
    /// A terminal error.
    Error(String),
}

/// Encodes one event exactly as Docker's jsonmessage line (without the trailing newline).
pub fn progress_json(p: &Progress) -> Value {
    match p {
        Progress::Status(s) => json!({"status": s}),
        Progress::IdStatus { status, id } => json!({"status": status, "id": id}),
        Progress::Bytes {
            status,
            id,
            current,
            total,
        } => {
            let mut detail = serde_json::Map::new();
            detail.insert("current".into(), json!(current));
            if let Some(t) = total {
                detail.insert("total".into(), json!(t));
            }
            json!({"status": status, "progressDetail": detail, "progress": bar(*current, *total), "id": id})
        }
        Progress::PushResult { tag, digest, size } => json!({
            "progressDetail": {},
            "aux": {"Tag": tag, "Digest": digest, "Size": size},
        }),
        Progress::Error(m) => json!({"errorDetail": {"message": m}, "error": m}),
    }
}

/// Docker's 50-column bar followed by "cur/total" in decimal units.
fn bar(current: u64, total: Option<u64>) -> String {
    match total {
        Some(t) if t > 0 => {
            let width = 50u64;
            let filled = (current.min(t) * width / t) as usize;
            let mut s = String::from("[");
            s.push_str(&"=".repeat(filled));
            if filled < width as usize {
                s.push('>');
                s.push_str(&" ".repeat(width as usize - filled - 1));
            }
            format!("{s}] {}/{}", human(current), human(t))
        }
        _ => human(current),
    }
}

/// Decimal size with up to 3 significant digits, like go-units HumanSize ("1.2MB", "3MB").
fn human(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let s = format!("{v:.4}");
    // Keep 3 significant digits, drop trailing zeros.
    let digits_before = s.find('.').unwrap_or(s.len());
    let decimals = 3usize.saturating_sub(digits_before);
    let mut out = format!("{v:.decimals$}");
    if out.contains('.') {
        out = out.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{out}{}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_lines() {
        let v = progress_json(&Progress::IdStatus {
            status: "Pulling fs layer".into(),
            id: "abc".into(),
        });
        assert_eq!(v.to_string(), r#"{"status":"Pulling fs layer","id":"abc"}"#);
        let v = progress_json(&Progress::Error("boom".into()));
        assert_eq!(
            v.to_string(),
            r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#
        );
        let v = progress_json(&Progress::Bytes {
            status: "Downloading".into(),
            id: "abc".into(),
            current: 1_200_000,
            total: Some(3_000_000),
        });
        assert_eq!(v["progressDetail"]["total"], 3_000_000);
        assert!(
            v["progress"]
                .as_str()
                .is_some_and(|s| s.ends_with("] 1.2MB/3MB"))
        );
    }

    #[test]
    fn encodes_push_result_as_dockerd_aux() {
        let v = progress_json(&Progress::PushResult {
            tag: "v1".into(),
            digest: "sha256:abc".into(),
            size: 527,
        });
        // Byte for byte what dockerd writes (jsonmessage field order, PushResult field order).
        assert_eq!(
            v.to_string(),
            r#"{"progressDetail":{},"aux":{"Tag":"v1","Digest":"sha256:abc","Size":527}}"#
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(999), "999B");
        assert_eq!(human(1_200_000), "1.2MB");
        assert_eq!(human(3_000_000), "3MB");
        assert_eq!(human(12_345_678), "12.3MB");
    }
}
