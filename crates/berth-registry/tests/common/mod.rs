//! Shared helpers: a registry bound on 127.0.0.1:0 over a temp dir, and small push helpers.
#![allow(dead_code)]

use berth_core::Digest;
use berth_registry::RegistryConfig;

pub struct Server {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn config(dir: &std::path::Path) -> RegistryConfig {
    let mut cfg = RegistryConfig::filesystem(dir.join("data"), "127.0.0.1:0");
    cfg.storage.delete.enabled = true;
    cfg
}

pub async fn start_with(dir: tempfile::TempDir, cfg: RegistryConfig) -> Server {
    let scheme = if cfg.http.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let (addr, fut) = berth_registry::bind(cfg).await.expect("bind");
    let task = tokio::spawn(async move {
        let _ = fut.await;
    });
    Server {
        base: format!("{scheme}://{addr}"),
        addr,
        dir,
        task,
    }
}

pub async fn start() -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    start_with(dir, cfg).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub async fn error_code(resp: reqwest::Response) -> String {
    let v: serde_json::Value = resp.json().await.expect("error json");
    v["errors"][0]["code"].as_str().expect("code").to_string()
}

/// Monolithic upload; returns the digest.
pub async fn push_blob(c: &reqwest::Client, base: &str, repo: &str, data: &[u8]) -> Digest {
    let d = Digest::of(data);
    let r = c
        .post(format!("{base}/v2/{repo}/blobs/uploads/?digest={d}"))
        .body(data.to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201, "push blob");
    d
}

/// Pushes a config + one layer + an OCI manifest under `tag`; returns (manifest digest, bytes).
pub async fn push_image(
    c: &reqwest::Client,
    base: &str,
    repo: &str,
    tag: &str,
    layer: &[u8],
    labels: serde_json::Value,
) -> (Digest, Vec<u8>) {
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(layer).to_string()]},
    })
    .to_string();
    let cd = push_blob(c, base, repo, config.as_bytes()).await;
    let ld = push_blob(c, base, repo, layer).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld.to_string(), "size": layer.len()}],
    })
    .to_string()
    .into_bytes();
    let r = c
        .put(format!("{base}/v2/{repo}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.clone())
        .send()
        .await
        .expect("put manifest");
    assert_eq!(r.status(), 201, "push manifest");
    (Digest::of(&manifest), manifest)
}
