//! Push of all tags, Docker Hub mirrors with fallback, resumed layer downloads and retried
//! blob uploads, against berth-registry and tiny std TcpListener servers that misbehave.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_core::Digest;
use berth_distribution::{Client, RegistryOptions};
mod common;
use common::*;

/// Incompressible bytes (so gzip keeps the layer big enough to cut mid-stream).
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server on std: one request per connection (`Connection: close`).

/// One parsed request.
struct Req {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

/// What a handler does with a request: write a response (or cut the connection) itself.
type Handler = Arc<dyn Fn(&Req, &mut TcpStream) + Send + Sync>;

/// Serves `h` on 127.0.0.1 in background threads; the threads end with the test process.
fn serve(h: Handler) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let h = h.clone();
            std::thread::spawn(move || {
                let mut first = [0u8; 1];
                // https is tried first on loopback: a TLS ClientHello starts with 0x16.
                if conn.peek(&mut first).is_err() || first[0] == 0x16 {
                    return;
                }
                let mut rd = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if rd.read_line(&mut line).is_err() {
                    return;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                let mut headers = HashMap::new();
                loop {
                    let mut l = String::new();
                    if rd.read_line(&mut l).is_err() || l.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                let len: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                if rd.read_exact(&mut body).is_err() {
                    return;
                }
                let req = Req {
                    method,
                    path,
                    headers,
                };
                h(&req, &mut conn);
                let _ = conn.flush();
            });
        }
    });
    port
}

fn respond(c: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = c.write_all(head.as_bytes());
    let _ = c.write_all(body);
}

/// A one-layer image as registry content: (manifest, config, layer blob, diff id).
fn image_content(layer_tar: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(layer_tar).unwrap();
    let layer = gz.finish().unwrap();
    let cfg = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [Digest::of(layer_tar).to_string()]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": Digest::of(&cfg).to_string(), "size": cfg.len()},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": Digest::of(&layer).to_string(), "size": layer.len()}],
    }))
    .unwrap();
    (manifest, cfg, layer)
}

/// How the fake registry's layer GET misbehaves.
#[derive(Clone, Copy)]
enum Cut {
    /// Cut after N bytes on the first GET only; Range honoured.
    FirstWithRange(usize),
    /// Cut after N bytes on the first GET only; Range ignored (always 200 + whole blob).
    FirstNoRange(usize),
    /// Cut after N bytes on every GET.
    Always(usize),
}

/// A read-only registry serving one image as `repo:tag`; records each layer GET's Range.
fn flaky_registry(
    manifest: Vec<u8>,
    cfg: Vec<u8>,
    layer: Vec<u8>,
    cut: Cut,
) -> (u16, Arc<Mutex<Vec<Option<String>>>>) {
    let ranges: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen = ranges.clone();
    let md = Digest::of(&manifest).to_string();
    let cd = Digest::of(&cfg).to_string();
    let ld = Digest::of(&layer).to_string();
    let port = serve(Arc::new(move |r: &Req, c: &mut TcpStream| {
        let p = r.path.as_str();
        if p == "/v2/" {
            respond(c, "200 OK", &[], b"{}");
        } else if p.contains("/manifests/") {
            let hdr = [
                (
                    "Content-Type",
                    "application/vnd.docker.distribution.manifest.v2+json".to_string(),
                ),
                ("Docker-Content-Digest", md.clone()),
            ];
            respond(c, "200 OK", &hdr, &manifest);
        } else if p.ends_with(&cd) {
            respond(c, "200 OK", &[], &cfg);
        } else if p.ends_with(&ld) && r.method == "GET" {
            let range = r.headers.get("range").cloned();
            let n = {
                let mut g = seen.lock().unwrap();
                g.push(range.clone());
                g.len()
            };
            let honour = matches!(cut, Cut::FirstWithRange(_) | Cut::Always(_));
            let start: usize = range
                .filter(|_| honour)
                .and_then(|v| v.strip_prefix("bytes=")?.trim_end_matches('-').parse().ok())
                .unwrap_or(0);
            let body = &layer[start.min(layer.len())..];
            let (status, extra) = if start > 0 {
                (
                    "206 Partial Content",
                    vec![(
                        "Content-Range",
                        format!("bytes {start}-{}/{}", layer.len() - 1, layer.len()),
                    )],
                )
            } else {
                ("200 OK", vec![])
            };
            let limit = match cut {
                Cut::FirstWithRange(k) | Cut::FirstNoRange(k) if n == 1 => Some(k),
                Cut::Always(k) => Some(k),
                _ => None,
            };
            let mut head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in extra {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = c.write_all(head.as_bytes());
            let sent = limit.map_or(body.len(), |k| k.min(body.len()));
            let _ = c.write_all(&body[..sent]);
            if limit.is_some() {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        } else {
            respond(
                c,
                "404 Not Found",
                &[],
                br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}"#,
            );
        }
    }));
    (port, ranges)
}

async fn pull_through(cut: Cut) -> (Result<String, String>, Vec<Option<String>>, Store) {
    let tar = tar_of(&[("big.bin", &noise(300_000))]);
    let (manifest, cfg, layer) = image_content(&tar);
    assert!(layer.len() > 250_000);
    let (port, ranges) = flaky_registry(manifest, cfg, layer, cut);
    let dst = new_store();
    let c = Client::new(RegistryOptions::default());
    let res = c
        .pull(
            &dst.store,
            &format!("127.0.0.1:{port}/flaky/img:1"),
            None,
            None,
            &Log::default().sink(),
        )
        .await
        .map(|r| r.id.to_string())
        .map_err(|e| e.to_string());
    let seen = ranges.lock().unwrap().clone();
    (res, seen, dst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_download_resumes_with_range() {
    let (res, ranges, dst) = pull_through(Cut::FirstWithRange(100_000)).await;
    let id = res.unwrap();
    assert_eq!(
        ranges,
        vec![None, Some("bytes=100000-".to_string())],
        "second GET resumes where the first stopped"
    );
    let rec = dst.store.get(&id).unwrap();
    assert_eq!(rec.config.rootfs.diff_ids.len(), 1);
    assert!(dst.tmp_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_download_restarts_when_range_is_ignored() {
    let (res, ranges, dst) = pull_through(Cut::FirstNoRange(100_000)).await;
    let id = res.unwrap();
    // The client asked to resume, the server sent everything again: digest still verified.
    assert_eq!(ranges.len(), 2);
    assert_eq!(ranges[1].as_deref(), Some("bytes=100000-"));
    assert!(dst.store.get(&id).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_cut_every_time_gives_up_and_stores_nothing() {
    let (res, ranges, dst) = pull_through(Cut::Always(1_000)).await;
    let err = res.unwrap_err();
    // First try and 5 resumes, each one advancing 1000 bytes.
    assert_eq!(ranges.len(), 6, "{ranges:?}");
    assert_eq!(ranges[5].as_deref(), Some("bytes=5000-"));
    assert!(err.contains("error pulling blob"), "{err}");
    assert!(dst.store.list().is_empty());
    assert!(dst.tmp_empty());
}

// ---------------------------------------------------------------------------------------------

/// A write-only registry whose first upload PUT fails with 500 (`fail_with_500`) or a cut
/// connection; counts upload sessions (POSTs) and PUTs.
fn flaky_push_target(fail_with_500: bool) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let posts = Arc::new(AtomicUsize::new(0));
    let puts = Arc::new(AtomicUsize::new(0));
    let (p2, u2) = (posts.clone(), puts.clone());
    let port = serve(Arc::new(move |r: &Req, c: &mut TcpStream| {
        let p = r.path.as_str();
        match r.method.as_str() {
            "GET" if p == "/v2/" => respond(c, "200 OK", &[], b"{}"),
            "HEAD" => respond(c, "404 Not Found", &[], b""),
            "POST" if p.contains("/blobs/uploads/") => {
                let n = p2.fetch_add(1, Ordering::SeqCst);
                let loc = format!("/v2/up/blobs/uploads/session{n}");
                respond(c, "202 Accepted", &[("Location", loc)], b"");
            }
            "PUT" if p.contains("/blobs/uploads/") => {
                if u2.fetch_add(1, Ordering::SeqCst) == 0 {
                    if fail_with_500 {
                        respond(c, "500 Internal Server Error", &[], b"");
                    } else {
                        let _ = c.shutdown(std::net::Shutdown::Both);
                    }
                } else {
                    respond(c, "201 Created", &[], b"");
                }
            }
            "PUT" if p.contains("/manifests/") => respond(c, "201 Created", &[], b""),
            _ => respond(c, "404 Not Found", &[], b""),
        }
    }));
    (port, posts, puts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_blob_upload_restarts_the_session() {
    for fail_with_500 in [true, false] {
        let (port, posts, puts) = flaky_push_target(fail_with_500);
        let src = new_store();
        let name = format!("127.0.0.1:{port}/up:1");
        import(&src, &[("f", b"upload me")], &name);
        let c = Client::new(RegistryOptions::default()).with_retry_delay(Duration::from_millis(10));
        let log = Log::default();
        c.push(&src.store, &name, None, &log.sink()).await.unwrap();
        // Layer: 2 sessions (the first failed), config: 1.
        assert_eq!(posts.load(Ordering::SeqCst), 3, "500={fail_with_500}");
        assert_eq!(puts.load(Ordering::SeqCst), 3, "500={fail_with_500}");
        assert_eq!(log.count("Retrying in"), 1, "{:?}", log.lines());
        assert_eq!(log.count("\"Pushed\""), 1, "{:?}", log.lines());
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_all_tags_pushes_each_local_tag() {
    let data = tempfile::tempdir().unwrap();
    let host = berth_registry(data.path()).await.to_string();
    let src = new_store();
    let a = import(&src, &[("a", b"first")], &format!("{host}/multi:b-tag"));
    let b = import(&src, &[("b", b"second")], &format!("{host}/multi:a-tag"));
    // Another repository's tag is not pushed.
    import(&src, &[("c", b"other")], &format!("{host}/other:x"));
    let c = Client::new(RegistryOptions::default());
    let log = Log::default();
    let pushed = c
        .push_all_tags(&src.store, &format!("{host}/multi"), None, &log.sink())
        .await
        .unwrap();
    let refs: Vec<&str> = pushed.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        refs,
        vec![
            format!("{host}/multi:a-tag").as_str(),
            format!("{host}/multi:b-tag").as_str()
        ]
    );
    assert_eq!(log.count("The push refers to repository"), 1);
    assert_eq!(log.count("a-tag: digest: sha256:"), 1, "{:?}", log.lines());
    assert_eq!(log.count("b-tag: digest: sha256:"), 1);
    assert_eq!(log.count("\"aux\":{\"Tag\""), 2);
    // Both come back.
    let dst = new_store();
    for (tag, want) in [("a-tag", &b.id), ("b-tag", &a.id)] {
        let rec = c
            .pull(
                &dst.store,
                &format!("{host}/multi:{tag}"),
                None,
                None,
                &Log::default().sink(),
            )
            .await
            .unwrap();
        assert_eq!(&rec.id, want);
    }
    // Nothing tagged: Docker's error.
    let err = c
        .push_all_tags(&src.store, &format!("{host}/absent"), None, &log.sink())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("An image does not exist locally with the tag: {host}/absent")
    );
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_hub_pull_falls_back_across_mirrors() {
    // Mirror 1: connection refused. Mirror 2: 500 on everything but /v2/. Mirror 3: an empty
    // registry (404 on the manifest). Mirror 4: has library/busybox.
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let broken = serve(Arc::new(|r: &Req, c: &mut TcpStream| {
        if r.path == "/v2/" {
            respond(c, "200 OK", &[], b"{}");
        } else {
            respond(c, "503 Service Unavailable", &[], b"");
        }
    }));
    let empty_dir = tempfile::tempdir().unwrap();
    let empty = berth_registry(empty_dir.path()).await;
    let good_dir = tempfile::tempdir().unwrap();
    let good = berth_registry(good_dir.path()).await;

    let src = new_store();
    let name = format!("{good}/library/busybox:latest");
    let rec = import(&src, &[("bin/busybox", b"not really")], &name);
    let c = Client::new(RegistryOptions::default());
    c.push(&src.store, &name, None, &Log::default().sink())
        .await
        .unwrap();

    let mirrors = vec![
        format!("http://127.0.0.1:{refused}"),
        format!("http://127.0.0.1:{broken}/"),
        format!("http://{empty}"),
        format!("http://{good}"),
    ];
    let c = Client::new(RegistryOptions {
        mirrors: mirrors.clone(),
        ..Default::default()
    });
    let dst = new_store();
    let log = Log::default();
    let got = c
        .pull(&dst.store, "busybox", None, None, &log.sink())
        .await
        .unwrap();
    assert_eq!(got.id, rec.id);
    assert_eq!(got.repo_tags, vec!["busybox:latest".to_string()]);
    assert_eq!(log.count("Pulling from library/busybox"), 1);
    assert!(
        log.lines()
            .last()
            .unwrap()
            .contains("Status: Downloaded newer image for busybox:latest")
    );
    // Tags list (pull -a) falls back the same way.
    let r = berth_core::Reference::parse("busybox").unwrap();
    assert_eq!(c.tags(&r, None).await.unwrap(), vec!["latest".to_string()]);

    // Mirrors are for docker.io only: another registry is asked directly.
    let err = c
        .pull(
            &new_store().store,
            &format!("{empty}/library/busybox"),
            None,
            None,
            &Log::default().sink(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("manifest unknown"), "{err}");
}

// ---------------------------------------------------------------------------------------------

/// Whether the store is unpacking a layer: the vfs snapshotter's temp dir for it already
/// holds the file `name`.
fn unpacking(root: &std::path::Path, name: &str) -> bool {
    let Ok(rd) = std::fs::read_dir(root.join("vfs/tmp")) else {
        return false;
    };
    rd.flatten()
        .any(|e| e.path().join("fs").join(name).exists())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_apply_while_still_downloading() {
    // The server sends half of the layer, then holds the rest until the store is already
    // unpacking it (the apply started early), with a deadline.
    let tar = tar_of(&[("early-file", &noise(400_000))]);
    let (manifest, cfg, layer) = image_content(&tar);
    let dst = new_store();
    let root = dst.root.clone();
    let overlapped = Arc::new(Mutex::new(None::<bool>));
    let seen = overlapped.clone();
    let md = Digest::of(&manifest).to_string();
    let cd = Digest::of(&cfg).to_string();
    let ld = Digest::of(&layer).to_string();
    let port = serve(Arc::new(move |r: &Req, c: &mut TcpStream| {
        let p = r.path.as_str();
        if p == "/v2/" {
            respond(c, "200 OK", &[], b"{}");
        } else if p.contains("/manifests/") {
            let hdr = [
                (
                    "Content-Type",
                    "application/vnd.docker.distribution.manifest.v2+json".to_string(),
                ),
                ("Docker-Content-Digest", md.clone()),
            ];
            respond(c, "200 OK", &hdr, &manifest);
        } else if p.ends_with(&cd) {
            respond(c, "200 OK", &[], &cfg);
        } else if p.ends_with(&ld) {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                layer.len()
            );
            let _ = c.write_all(head.as_bytes());
            let half = layer.len() / 2;
            let _ = c.write_all(&layer[..half]);
            let _ = c.flush();
            let ok = common_poll(Duration::from_secs(10), || unpacking(&root, "early-file"));
            *seen.lock().unwrap() = Some(ok);
            let _ = c.write_all(&layer[half..]);
        } else {
            respond(c, "404 Not Found", &[], b"");
        }
    }));
    let c = Client::new(RegistryOptions::default());
    let log = Log::default();
    let rec = c
        .pull(
            &dst.store,
            &format!("127.0.0.1:{port}/stream/img:1"),
            None,
            None,
            &log.sink(),
        )
        .await
        .unwrap();
    assert_eq!(
        *overlapped.lock().unwrap(),
        Some(true),
        "apply waited for the download"
    );
    assert_eq!(rec.config.rootfs.diff_ids[0], Digest::of(&tar));
    // dockerd's order per layer: Download complete, Extracting..., Pull complete.
    let lines = log.lines();
    let at = |s: &str| lines.iter().position(|l| l.contains(s)).unwrap();
    assert!(at("Download complete") < at("\"Extracting\""), "{lines:?}");
    assert!(at("\"Extracting\"") < at("Pull complete"), "{lines:?}");
    assert!(dst.tmp_empty());
}

/// Polls `cond` until true or `limit` passes.
fn common_poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
