//! Offline mark-and-sweep garbage collection (filesystem or S3 storage).
//!
//! Mark: every manifest revision of every repository is live, and so is everything it references
//! (config, layers, blobs, child manifests of an index). Sweep: every blob that was not marked is
//! deleted (or only listed with `dry_run`), along with repository links to it. Run it while the
//! registry is stopped: an upload finishing during the sweep could otherwise lose a blob that a
//! manifest is about to reference.

use std::collections::HashSet;
use std::io::Write;

use berth_core::Digest;

use crate::config::RegistryConfig;
use crate::error::RegistryError;
use crate::storage::Store;

/// What a collection found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Number of blobs (including manifests) still referenced.
    pub marked: usize,
    /// Blobs deleted (or, in a dry run, that would be deleted).
    pub swept: Vec<Digest>,
    /// Bytes they occupy.
    pub bytes: u64,
}

fn referenced(doc: &serde_json::Value) -> Vec<Digest> {
    let mut out = Vec::new();
    let mut push = |v: &serde_json::Value| {
        if let Some(d) = v
            .get("digest")
            .and_then(|d| d.as_str())
            .and_then(|s| s.parse().ok())
        {
            out.push(d);
        }
    };
    if let Some(c) = doc.get("config") {
        push(c);
    }
    for key in ["layers", "blobs", "manifests"] {
        for d in doc
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            push(d);
        }
    }
    out
}

/// The collection itself; progress lines are collected into `log`.
pub async fn collect(
    store: &Store,
    dry_run: bool,
    log: &mut Vec<String>,
) -> std::io::Result<GcReport> {
    let mut marked: HashSet<Digest> = HashSet::new();
    let repos = store.repositories().await?;
    for repo in &repos {
        for d in store.revisions(repo).await? {
            log.push(format!("{repo}: marking manifest {d}"));
            marked.insert(d.clone());
            let Some(bytes) = store.read_blob(&d).await? else {
                continue;
            };
            let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            for r in referenced(&doc) {
                if marked.insert(r.clone()) {
                    log.push(format!("{repo}: marking blob {r}"));
                }
            }
        }
    }
    let mut report = GcReport {
        marked: marked.len(),
        ..Default::default()
    };
    for d in store.all_blobs().await? {
        if marked.contains(&d) {
            continue;
        }
        let size = store.blob_size(&d).await?.unwrap_or(0);
        log.push(format!("blob eligible for deletion: {d}"));
        if !dry_run {
            store.delete_blob(&d).await?;
        }
        report.bytes += size;
        report.swept.push(d);
    }
    if !dry_run && !report.swept.is_empty() {
        let swept: HashSet<&Digest> = report.swept.iter().collect();
        for repo in &repos {
            for d in store.layer_links(repo).await? {
                if swept.contains(&d) {
                    store.unlink_blob(repo, &d).await?;
                }
            }
        }
    }
    log.push(format!(
        "\n{} blobs marked, {} blobs {}deleted ({} bytes)",
        report.marked,
        report.swept.len(),
        if dry_run { "eligible to be " } else { "" },
        report.bytes
    ));
    Ok(report)
}

/// Runs a collection over the configured storage, writing progress lines to `out`. Safe to call
/// from inside or outside a tokio runtime (it runs on a private one in its own thread).
pub fn garbage_collect(
    cfg: &RegistryConfig,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<GcReport, RegistryError> {
    let store = crate::open_store(cfg)?;
    let (result, log) = std::thread::scope(|s| {
        s.spawn(|| {
            let mut log = Vec::new();
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return (Err(e), log),
            };
            let r = rt.block_on(collect(&store, dry_run, &mut log));
            (r, log)
        })
        .join()
        .unwrap_or_else(|_| (Err(std::io::Error::other("gc thread panicked")), Vec::new()))
    });
    for line in &log {
        writeln!(out, "{line}").map_err(|e| RegistryError::io("write output", e))?;
    }
    result.map_err(|e| RegistryError::io("garbage collect", e))
}
