//! Round trips with the real `skopeo` client (skipped with a message when it is not installed).

mod common;

use std::path::Path;

use berth_core::Digest;
use berth_registry::config::HtpasswdConfig;
use common::*;

fn skopeo_available() -> bool {
    std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Writes an OCI image layout with one real tar layer; returns the layer digest.
fn make_oci_layout(dir: &Path, tag: &str, payload: &[u8]) -> Digest {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let work = tempfile::tempdir().expect("tmp");
    std::fs::write(work.path().join("hello.txt"), payload).expect("write");
    let tar_path = work.path().join("layer.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(work.path())
        .arg("-cf")
        .arg(&tar_path)
        .arg("hello.txt")
        .status()
        .expect("tar");
    assert!(st.success());
    let layer = std::fs::read(&tar_path).expect("read tar");
    let ld = Digest::of(&layer);
    std::fs::write(blobs.join(ld.hex()), &layer).expect("w");
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/hello.txt"]},
        "rootfs": {"type": "layers", "diff_ids": [ld.to_string()]},
    })
    .to_string();
    let cd = Digest::of(config.as_bytes());
    std::fs::write(blobs.join(cd.hex()), &config).expect("w");
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd.to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld.to_string(), "size": layer.len()}],
    })
    .to_string();
    let md = Digest::of(manifest.as_bytes());
    std::fs::write(blobs.join(md.hex()), &manifest).expect("w");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag}}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("w");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("w");
    ld
}

async fn skopeo(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .await
        .expect("run skopeo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_round_trip() {
    if !skopeo_available() {
        eprintln!("SKIPPED: skopeo is not installed");
        return;
    }
    let s = start().await;
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    let ld = make_oci_layout(&src, "v1", b"hello from skopeo\n");
    let dest = format!("docker://{}/skopeo/test:v1", s.addr);
    let out = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:v1", src.display()),
        &dest,
    ])
    .await;
    assert!(
        out.status.success(),
        "push: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = skopeo(&["inspect", "--tls-verify=false", &dest]).await;
    assert!(
        out.status.success(),
        "inspect: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = work.path().join("back");
    let out = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &dest,
        &format!("oci:{}:v1", back.display()),
    ])
    .await;
    assert!(
        out.status.success(),
        "pull: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // skopeo gzips uncompressed layers for registry destinations: compare the uncompressed bytes.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).expect("index"))
            .expect("json");
    let md: Digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("d")
        .parse()
        .expect("digest");
    let blob = |d: &Digest| std::fs::read(back.join("blobs/sha256").join(d.hex())).expect("blob");
    let manifest: serde_json::Value = serde_json::from_slice(&blob(&md)).expect("manifest");
    let layer_digest: Digest = manifest["layers"][0]["digest"]
        .as_str()
        .expect("d")
        .parse()
        .expect("digest");
    let stored = blob(&layer_digest);
    let layer = if stored.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(stored.as_slice()),
            &mut out,
        )
        .expect("gunzip");
        out
    } else {
        stored
    };
    assert_eq!(Digest::of(&layer), ld);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_with_htpasswd() {
    if !skopeo_available() {
        eprintln!("SKIPPED: skopeo is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let hp = dir.path().join("htpasswd");
    std::fs::write(
        &hp,
        format!("alice:{}\n", bcrypt::hash("s3cret", 4).expect("hash")),
    )
    .expect("w");
    let mut cfg = config(dir.path());
    cfg.auth.htpasswd = Some(HtpasswdConfig {
        realm: "r".into(),
        path: hp,
    });
    let s = start_with(dir, cfg).await;
    let work = tempfile::tempdir().expect("tmp");
    let src = work.path().join("src");
    make_oci_layout(&src, "v1", b"auth\n");
    let dest = format!("docker://{}/auth/test:v1", s.addr);
    let srcref = format!("oci:{}:v1", src.display());
    let out = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:wrong",
        &srcref,
        &dest,
    ])
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("unauthorized") || err.contains("authentication"),
        "{err}"
    );
    let out = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:s3cret",
        &srcref,
        &dest,
    ])
    .await;
    assert!(
        out.status.success(),
        "push: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let back = work.path().join("back");
    let out = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "alice:s3cret",
        &dest,
        &format!("oci:{}:v1", back.display()),
    ])
    .await;
    assert!(
        out.status.success(),
        "pull: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
