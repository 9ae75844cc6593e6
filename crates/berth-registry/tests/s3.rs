//! The S3 driver against a local `moto_server` (pip install 'moto[server]'); skipped with a
//! message when moto is not installed.

mod common;

use berth_core::Digest;
use berth_registry::config::S3Config;
use common::*;

struct Moto(std::process::Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_command() -> Option<std::process::Command> {
    let ok = std::process::Command::new("moto_server")
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| std::process::Command::new("moto_server"))
}

async fn start_moto() -> Option<(Moto, String)> {
    let mut cmd = moto_command()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let child = cmd
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn moto_server");
    let moto = Moto(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if reqwest::get(&url).await.is_ok() {
            return Some((moto, url));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "moto_server did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backend_round_trip() {
    let Some((_moto, endpoint)) = start_moto().await else {
        eprintln!("SKIPPED: moto_server not installed (pip install 'moto[server]')");
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.storage.filesystem = None;
    cfg.storage.s3 = Some(S3Config {
        bucket: "berth-test".into(),
        region: "us-east-1".into(),
        regionendpoint: Some(endpoint),
        accesskey: Some("testing".into()),
        secretkey: Some("testing".into()),
        forcepathstyle: Some(true),
        rootdirectory: Some("/registry".into()),
        localuploaddirectory: Some(dir.path().join("uploads")),
    });
    let gc_cfg = cfg.clone();
    let s = start_with(dir, cfg).await;
    let c = client();
    let layer: Vec<u8> = (0..1_500_000u32).map(|i| (i % 253) as u8).collect();
    let (md, bytes) = push_image(&c, &s.base, "s3/img", "v1", &layer, serde_json::json!({})).await;
    let r = c
        .get(format!("{}/v2/s3/img/manifests/v1", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["docker-content-digest"],
        md.to_string().as_str()
    );
    assert_eq!(r.bytes().await.expect("b").as_ref(), bytes.as_slice());
    let ld = Digest::of(&layer);
    let r = c
        .get(format!("{}/v2/s3/img/blobs/{ld}", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(Digest::of(&r.bytes().await.expect("b")), ld);
    let r = c
        .get(format!("{}/v2/s3/img/blobs/{ld}", s.base))
        .header("range", "bytes=10-19")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.expect("b").as_ref(), &layer[10..20]);
    let r = c
        .get(format!("{}/v2/s3/img/tags/list", s.base))
        .send()
        .await
        .expect("tags");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["tags"], serde_json::json!(["v1"]));
    let r = c
        .get(format!("{}/v2/_catalog", s.base))
        .send()
        .await
        .expect("catalog");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["repositories"], serde_json::json!(["s3/img"]));
    // Tampered upload stores nothing.
    let r = c
        .post(format!(
            "{}/v2/s3/img/blobs/uploads/?digest={}",
            s.base,
            Digest::of(b"real")
        ))
        .body("fake")
        .send()
        .await
        .expect("post");
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    // GC sweeps an orphan and keeps the image.
    let orphan = push_blob(&c, &s.base, "s3/img", b"orphan").await;
    let report = tokio::task::spawn_blocking(move || {
        berth_registry::garbage_collect(&gc_cfg, false, &mut Vec::new())
    })
    .await
    .expect("join")
    .expect("gc");
    assert_eq!(report.swept, vec![orphan.clone()]);
    let r = c
        .head(format!("{}/v2/s3/img/blobs/{orphan}", s.base))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 404);
    let r = c
        .head(format!("{}/v2/s3/img/blobs/{ld}", s.base))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
}
