//! `GET /v1/search`: the Docker Hub search shape answered from this registry's repositories.

use berth_core::Digest;

use crate::error::ApiError;
use crate::storage::Store;

/// The `org.opencontainers.image.description` label of a repository's latest tag, or "".
async fn description(store: &Store, repo: &str) -> Result<String, ApiError> {
    let Some(tag) = store.latest_tag(repo).await? else {
        return Ok(String::new());
    };
    let Some(mut m) = store.get_manifest(repo, &tag).await? else {
        return Ok(String::new());
    };
    let mut doc: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap_or_default();
    if let Some(list) = doc.get("manifests").and_then(|v| v.as_array()) {
        // For an index, describe the linux/amd64 image if present, else the first one.
        let pick = list
            .iter()
            .find(|x| {
                x.pointer("/platform/os").and_then(|v| v.as_str()) == Some("linux")
                    && x.pointer("/platform/architecture").and_then(|v| v.as_str()) == Some("amd64")
            })
            .or_else(|| list.first());
        let Some(child) = pick.and_then(|x| x.get("digest")).and_then(|v| v.as_str()) else {
            return Ok(String::new());
        };
        let Some(cm) = store.get_manifest(repo, child).await? else {
            return Ok(String::new());
        };
        m = cm;
        doc = serde_json::from_slice(&m.bytes).unwrap_or_default();
    }
    let Some(cd) = doc
        .pointer("/config/digest")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse::<Digest>().ok())
    else {
        return Ok(String::new());
    };
    let Some(bytes) = store.read_blob(&cd).await? else {
        return Ok(String::new());
    };
    let cfg: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(cfg
        .pointer("/config/Labels/org.opencontainers.image.description")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string())
}

/// Repositories whose name contains `query` (case-insensitive), at most `n`, in Docker's
/// `{"num_results","query","results":[{"name","description","star_count","is_official","is_automated"}]}` shape.
pub async fn search(store: &Store, query: &str, n: usize) -> Result<serde_json::Value, ApiError> {
    let needle = query.to_lowercase();
    let mut results = Vec::new();
    for repo in store.repositories().await? {
        if results.len() >= n {
            break;
        }
        if !needle.is_empty() && !repo.contains(&needle) {
            continue;
        }
        results.push(serde_json::json!({
            "name": repo,
            "description": description(store, &repo).await?,
            "star_count": 0,
            "is_official": false,
            "is_automated": false,
        }));
    }
    Ok(serde_json::json!({
        "num_results": results.len(),
        "query": query,
        "results": results,
    }))
}
