//! Push/pull round trips against berth-registry (in process) and Debian's `docker-registry`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_distribution::{AuthConfig, Client, Progress, RegistryOptions};
use berth_image::{CommitOptions, ImageStore};

mod common;
use common::*;

/// Debian's reference registry on a free port; killed (by PID) on drop.
struct Distribution {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Distribution {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn distribution(htpasswd: Option<(&str, &str)>) -> Option<Distribution> {
    if !Path::new("/usr/bin/docker-registry").exists() {
        eprintln!("docker-registry not installed; skipping");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut auth = String::new();
    if let Some((u, p)) = htpasswd {
        let file = dir.path().join("htpasswd");
        let st = Command::new("htpasswd")
            .args(["-Bbc", file.to_str().unwrap(), u, p])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        auth = format!(
            "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
            file.display()
        );
    }
    let cfg = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
        dir.path().join("data").display()
    );
    let cfg_path = dir.path().join("cfg.yml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let child = Command::new("docker-registry")
        .args(["serve", cfg_path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "docker-registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Distribution {
        child,
        addr,
        _dir: dir,
    })
}

fn client() -> Client {
    Client::new(RegistryOptions::default())
}

/// Push an imported image, pull it into a fresh store, compare.
async fn round_trip(host: &str, auth: Option<&AuthConfig>) {
    let src = new_store();
    let name = format!("{host}/test/app:v1");
    let rec = import(&src, &[("hello.txt", b"hello world")], &name);
    let c = client();
    let log = Log::default();
    let digest = c.push(&src.store, &name, auth, &log.sink()).await.unwrap();
    let lines = log.lines();
    assert!(lines[0].contains(&format!("The push refers to repository [{host}/test/app]")));
    assert_eq!(log.count("\"Pushed\""), 1, "{lines:?}");
    let n = lines.len();
    assert!(lines[n - 2].contains(&format!("v1: digest: {digest} size: ")));
    // dockerd's aux push result follows the digest line, with the manifest's size.
    let size: u64 = lines[n - 2]
        .rsplit("size: ")
        .next()
        .unwrap()
        .trim_end_matches("\"}")
        .parse()
        .unwrap();
    assert_eq!(
        lines[n - 1],
        format!(
            r#"{{"progressDetail":{{}},"aux":{{"Tag":"v1","Digest":"{digest}","Size":{size}}}}}"#
        )
    );
    // Second push: everything exists.
    let log2 = Log::default();
    let digest2 = c.push(&src.store, &name, auth, &log2.sink()).await.unwrap();
    assert_eq!(digest, digest2);
    assert_eq!(log2.count("Layer already exists"), 1, "{:?}", log2.lines());

    let dst = new_store();
    let log = Log::default();
    let pulled = c
        .pull(&dst.store, &name, None, auth, &log.sink())
        .await
        .unwrap();
    assert_eq!(pulled.id, rec.id);
    assert_eq!(pulled.config.rootfs.diff_ids, rec.config.rootfs.diff_ids);
    assert_eq!(pulled.repo_tags, vec![name.clone()]);
    assert_eq!(
        pulled.repo_digests,
        vec![format!("{host}/test/app@{digest}")]
    );
    let lines = log.lines();
    assert_eq!(lines[0], r#"{"status":"Pulling from test/app","id":"v1"}"#);
    assert!(log.count("Pull complete") == 1, "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("Digest: {digest}")))
    );
    assert!(
        lines
            .last()
            .unwrap()
            .contains(&format!("Status: Downloaded newer image for {name}"))
    );
    assert_eq!(
        dst.store.raw_config(&rec.id).unwrap(),
        src.store.raw_config(&rec.id).unwrap()
    );
    // Again: up to date.
    let log = Log::default();
    c.pull(&dst.store, &name, None, auth, &log.sink())
        .await
        .unwrap();
    assert!(
        log.lines()
            .last()
            .unwrap()
            .contains(&format!("Status: Image is up to date for {name}"))
    );
    // A pulled layer pushed to another repository of the same registry is mounted, not
    // recompressed (same digest as the original push).
    let copy = format!("{host}/test/copy:v1");
    dst.store
        .tag(&rec.id, &berth_core::Reference::parse(&copy).unwrap())
        .unwrap();
    let log = Log::default();
    let copy_digest = c.push(&dst.store, &copy, auth, &log.sink()).await.unwrap();
    assert_eq!(copy_digest, digest);
    assert_eq!(log.count("Mounted from test/app"), 1, "{:?}", log.lines());
    // By digest.
    let dst2 = new_store();
    let by_digest = format!("{host}/test/app@{digest}");
    let rec2 = c
        .pull(&dst2.store, &by_digest, None, auth, &Log::default().sink())
        .await
        .unwrap();
    assert_eq!(rec2.id, rec.id);
    assert!(dst2.store.get(&by_digest).is_ok());
    assert!(dst.tmp_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_berth_registry() {
    let data = tempfile::tempdir().unwrap();
    let addr = berth_registry(data.path()).await;
    round_trip(&addr.to_string(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_pull_distribution() {
    let Some(reg) = distribution(None) else {
        return;
    };
    round_trip(&reg.addr, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_base_downloaded_once_and_mounted() {
    let data = tempfile::tempdir().unwrap();
    let host = berth_registry(data.path()).await.to_string();
    let src = new_store();
    let base = import(
        &src,
        &[("base.txt", b"base layer")],
        &format!("{host}/base:1"),
    );
    let mk = |tag: &str, content: &[u8]| {
        let tar = tar_of(&[("top.txt", content)]);
        src.store
            .commit(
                &mut tar.as_slice(),
                CommitOptions {
                    parent: Some(base.id.clone()),
                    reference: Some(berth_core::Reference::parse(tag).unwrap()),
                    ..Default::default()
                },
            )
            .unwrap()
    };
    let a = mk(&format!("{host}/one:1"), b"one");
    let b = mk(&format!("{host}/two:1"), b"two");
    let c = client();
    c.push(
        &src.store,
        &format!("{host}/base:1"),
        None,
        &Log::default().sink(),
    )
    .await
    .unwrap();
    // The base layer lives in `base` now: pushing `one` mounts it from there.
    let log = Log::default();
    c.push(&src.store, &format!("{host}/one:1"), None, &log.sink())
        .await
        .unwrap();
    assert_eq!(log.count("Mounted from base"), 1, "{:?}", log.lines());
    assert_eq!(log.count("\"Pushed\""), 1, "{:?}", log.lines());
    c.push(
        &src.store,
        &format!("{host}/two:1"),
        None,
        &Log::default().sink(),
    )
    .await
    .unwrap();

    let dst = new_store();
    let log1 = Log::default();
    let p1 = c
        .pull(
            &dst.store,
            &format!("{host}/one:1"),
            None,
            None,
            &log1.sink(),
        )
        .await
        .unwrap();
    assert_eq!(p1.id, a.id);
    assert_eq!(log1.count("Download complete"), 2, "{:?}", log1.lines());
    let log2 = Log::default();
    let p2 = c
        .pull(
            &dst.store,
            &format!("{host}/two:1"),
            None,
            None,
            &log2.sink(),
        )
        .await
        .unwrap();
    assert_eq!(p2.id, b.id);
    assert_eq!(log2.count("Already exists"), 1, "{:?}", log2.lines());
    assert_eq!(log2.count("Download complete"), 1, "{:?}", log2.lines());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_in_dockers_words() {
    let data = tempfile::tempdir().unwrap();
    let host = berth_registry(data.path()).await.to_string();
    let c = client();
    let dst = new_store();
    let err = c
        .pull(
            &dst.store,
            &format!("{host}/nope:x"),
            None,
            None,
            &Log::default().sink(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("manifest for {host}/nope:x not found: manifest unknown: manifest unknown")
    );
    // Connection refused.
    let port = free_port();
    let err = c
        .pull(
            &dst.store,
            &format!("127.0.0.1:{port}/x"),
            None,
            None,
            &Log::default().sink(),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("connect: connection refused"),
        "{err}"
    );
    assert!(err.to_string().starts_with("Get \""), "{err}");
    let err = c
        .push(
            &dst.store,
            &format!("{host}/absent:1"),
            None,
            &Log::default().sink(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("An image does not exist locally with the tag: {host}/absent")
    );
    assert_eq!(dst.store.list().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_blob_stores_nothing() {
    let data = tempfile::tempdir().unwrap();
    let host = berth_registry(data.path()).await.to_string();
    let src = new_store();
    let name = format!("{host}/tamper:1");
    let rec = import(&src, &[("f", b"original content")], &name);
    let c = client();
    c.push(&src.store, &name, None, &Log::default().sink())
        .await
        .unwrap();
    // Rewrite the layer blob's data file in the registry's storage.
    let layer = src
        .store
        .blob_mapping(&rec.config.rootfs.diff_ids[0])
        .unwrap()
        .digest;
    let mut hit = false;
    for e in walk(data.path()) {
        let named = e.file_name().is_some_and(|n| n == layer.hex())
            || (e.ends_with("data") && e.to_string_lossy().contains(layer.hex()));
        if named {
            // Same length, different bytes: only the digest check can notice.
            let mut bytes = std::fs::read(&e).unwrap();
            for b in bytes.iter_mut() {
                *b ^= 0x55;
            }
            std::fs::write(&e, bytes).unwrap();
            hit = true;
        }
    }
    assert!(hit, "layer blob not found in registry storage");
    let dst = new_store();
    let before = dst.blob_count();
    let err = c
        .pull(&dst.store, &name, None, None, &Log::default().sink())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("verification failed") || err.to_string().contains("digest"),
        "{err}"
    );
    assert_eq!(dst.store.list().len(), 0);
    assert_eq!(dst.blob_count(), before);
    assert!(dst.tmp_empty());
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn htpasswd_auth_distribution() {
    let Some(reg) = distribution(Some(("alice", "s3cret"))) else {
        return;
    };
    let good = AuthConfig {
        username: Some("alice".into()),
        password: Some("s3cret".into()),
        ..Default::default()
    };
    let bad = AuthConfig {
        password: Some("wrong".into()),
        ..good.clone()
    };
    let c = client();
    assert_eq!(
        c.login(&reg.addr, &good).await.unwrap().status,
        "Login Succeeded"
    );
    let err = c.login(&reg.addr, &bad).await.unwrap_err();
    assert!(err.to_string().contains("unauthorized"), "{err}");

    round_trip(&reg.addr, Some(&good)).await;

    let name = format!("{}/test/app:v1", reg.addr);
    let dst = new_store();
    let err = c
        .pull(&dst.store, &name, None, Some(&bad), &Log::default().sink())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unauthorized"), "{err}");
    let err = c
        .pull(&dst.store, &name, None, None, &Log::default().sink())
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "pull access denied for {}/test/app, repository does not exist or may require 'docker login'",
            reg.addr
        )),
        "{err}"
    );
    assert_eq!(dst.store.list().len(), 0);
    assert_eq!(dst.blob_count(), 0);
}

/// The daemon runs these futures inside spawned tasks: they must be Send.
#[allow(dead_code)]
fn futures_are_send(c: &Client, s: &Arc<ImageStore>, p: &(dyn Fn(Progress) + Send + Sync)) {
    fn send<T: Send>(_: T) {}
    send(c.pull(s, "x", None, None, p));
    send(c.pull_all_tags(s, "x", None, None, p));
    send(c.push(s, "x", None, p));
    send(c.login("x", &AuthConfig::default()));
    send(c.search("x", None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_auth_berth_registry() {
    use berth_registry::config::{BuiltinTokenConfig, TokenConfig};
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let key_path = dir.path().join("token.key");
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let st = Command::new("htpasswd")
        .args(["-Bbc", htpasswd.to_str().unwrap(), "bob", "pw"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let mut cfg =
        berth_registry::RegistryConfig::filesystem(dir.path().join("data"), "127.0.0.1:0");
    cfg.auth.token = Some(TokenConfig {
        service: "test-registry".into(),
        issuer: "test-issuer".into(),
        builtin: Some(BuiltinTokenConfig {
            signingkey: key_path,
            htpasswd: Some(htpasswd),
            expiration: None,
        }),
        ..Default::default()
    });
    let (addr, fut) = berth_registry::bind(cfg).await.unwrap();
    tokio::spawn(fut);
    let host = addr.to_string();
    let good = AuthConfig {
        username: Some("bob".into()),
        password: Some("pw".into()),
        ..Default::default()
    };
    let bad = AuthConfig {
        password: Some("nope".into()),
        ..good.clone()
    };
    let c = client();
    assert_eq!(
        c.login(&host, &good).await.unwrap().status,
        "Login Succeeded"
    );
    assert!(c.login(&host, &bad).await.is_err());
    round_trip(&host, Some(&good)).await;
    let dst = new_store();
    let name = format!("{host}/test/app:v1");
    let err = c
        .pull(&dst.store, &name, None, Some(&bad), &Log::default().sink())
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("unauthorized"), "{err}");
    let err = c
        .pull(&dst.store, &name, None, None, &Log::default().sink())
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("pull access denied for"),
        "{err}"
    );
    assert_eq!(dst.store.list().len(), 0);
    assert_eq!(dst.blob_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_and_tags() {
    let data = tempfile::tempdir().unwrap();
    let host = berth_registry(data.path()).await.to_string();
    let src = new_store();
    import(&src, &[("a", b"a")], &format!("{host}/team/searchme:1"));
    import(&src, &[("b", b"b")], &format!("{host}/team/searchme:2"));
    let c = client();
    for t in ["1", "2"] {
        c.push(
            &src.store,
            &format!("{host}/team/searchme:{t}"),
            None,
            &Log::default().sink(),
        )
        .await
        .unwrap();
    }
    let hits = c
        .search(&format!("{host}/searchme"), Some(10), None)
        .await
        .unwrap();
    assert!(
        hits.iter().any(|h| h.name.contains("team/searchme")),
        "{hits:?}"
    );
    let dst = new_store();
    let all = c
        .pull_all_tags(
            &dst.store,
            &format!("{host}/team/searchme"),
            None,
            None,
            &Log::default().sink(),
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(dst.store.list().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_picks_platform() {
    let data = tempfile::tempdir().unwrap();
    let host = berth_registry(data.path()).await.to_string();
    let src = new_store();
    let rec = import(&src, &[("p", b"platform")], &format!("{host}/multi:single"));
    let c = client();
    let digest = c
        .push(
            &src.store,
            &format!("{host}/multi:single"),
            None,
            &Log::default().sink(),
        )
        .await
        .unwrap();
    let manifest = reqwest::get(format!("http://{host}/v2/multi/manifests/{digest}"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": digest, "size": manifest.len(),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": digest, "size": manifest.len(),
             "platform": {"os": "linux", "architecture": "amd64"}}
        ]
    });
    let body = serde_json::to_vec(&index).unwrap();
    let index_digest = berth_core::Digest::of(&body);
    let resp = reqwest::Client::new()
        .put(format!("http://{host}/v2/multi/manifests/multi"))
        .header("content-type", "application/vnd.oci.image.index.v1+json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let dst = new_store();
    let log = Log::default();
    let got = c
        .pull(
            &dst.store,
            &format!("{host}/multi:multi"),
            Some("linux/amd64"),
            None,
            &log.sink(),
        )
        .await
        .unwrap();
    assert_eq!(got.id, rec.id);
    // RepoDigests name the index, as Docker records it.
    assert_eq!(
        got.repo_digests,
        vec![format!("{host}/multi@{index_digest}")]
    );
    assert!(log.count(&format!("Digest: {index_digest}")) == 1);
    let err = c
        .pull(
            &new_store().store,
            &format!("{host}/multi:multi"),
            Some("linux/s390x"),
            None,
            &Log::default().sink(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no matching manifest for linux/s390x in the manifest list entries"
    );
}

/// Uploads a blob with the registry API directly (no auth).
async fn put_blob(host: &str, repo: &str, data: &[u8]) -> berth_core::Digest {
    let d = berth_core::Digest::of(data);
    let resp = reqwest::Client::new()
        .post(format!("http://{host}/v2/{repo}/blobs/uploads/?digest={d}"))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_and_plain_oci_layers() {
    let data = tempfile::tempdir().unwrap();
    let host = berth_registry(data.path()).await.to_string();
    let plain = tar_of(&[("plain.txt", b"plain layer")]);
    let top = tar_of(&[("z.txt", b"zstd layer")]);
    let zst = zstd::encode_all(top.as_slice(), 3).unwrap();
    let diffs = [berth_core::Digest::of(&plain), berth_core::Digest::of(&top)];
    let cfg = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diffs[0].to_string(), diffs[1].to_string()]},
    });
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
    let cfg_d = put_blob(&host, "oci", &cfg_bytes).await;
    let l1 = put_blob(&host, "oci", &plain).await;
    let l2 = put_blob(&host, "oci", &zst).await;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d.to_string(), "size": cfg_bytes.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l1.to_string(), "size": plain.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": l2.to_string(), "size": zst.len()},
        ]
    });
    let resp = reqwest::Client::new()
        .put(format!("http://{host}/v2/oci/manifests/1"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(serde_json::to_vec(&manifest).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let dst = new_store();
    let got = client()
        .pull(
            &dst.store,
            &format!("{host}/oci:1"),
            None,
            None,
            &Log::default().sink(),
        )
        .await
        .unwrap();
    assert_eq!(got.id, cfg_d);
    assert_eq!(got.config.rootfs.diff_ids, diffs.to_vec());
    // The pulled image pushes back with the layers' known (plain / zstd) blobs: nothing to upload.
    let log = Log::default();
    dst.store
        .tag(
            &got.id,
            &berth_core::Reference::parse(&format!("{host}/oci:again")).unwrap(),
        )
        .unwrap();
    client()
        .push(&dst.store, &format!("{host}/oci:again"), None, &log.sink())
        .await
        .unwrap();
    assert_eq!(log.count("Layer already exists"), 2, "{:?}", log.lines());
}
