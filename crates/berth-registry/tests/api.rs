//! API conformance tests against a registry bound on 127.0.0.1:0.

mod common;

use berth_core::Digest;
use common::*;

#[tokio::test]
async fn base_endpoint_and_version_header() {
    let s = start().await;
    let r = client()
        .get(format!("{}/v2/", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    let r = client()
        .get(format!("{}/v2/nope", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn monolithic_upload_head_get_and_range() {
    let s = start().await;
    let c = client();
    let data = b"hello registry world".to_vec();
    let d = push_blob(&c, &s.base, "lib/x", &data).await;
    let r = c
        .head(format!("{}/v2/lib/x/blobs/{d}", s.base))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        data.len().to_string().as_str()
    );
    assert_eq!(r.headers()["docker-content-digest"], d.to_string().as_str());
    let r = c
        .get(format!("{}/v2/lib/x/blobs/{d}", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("body").as_ref(), data.as_slice());
    let r = c
        .get(format!("{}/v2/lib/x/blobs/{d}", s.base))
        .header("range", "bytes=6-13")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 6-13/{}", data.len()).as_str()
    );
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"registry");
    let r = c
        .get(format!("{}/v2/lib/x/blobs/{d}", s.base))
        .header("range", "bytes=500-")
        .send()
        .await
        .expect("range");
    assert_eq!(r.status(), 416);
    // Not linked into another repository.
    let r = c
        .get(format!("{}/v2/other/blobs/{d}", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn chunked_upload_with_content_range() {
    let s = start().await;
    let c = client();
    let r = c
        .post(format!("{}/v2/a/blobs/uploads/", s.base))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 202);
    assert!(r.headers().contains_key("docker-upload-uuid"));
    let loc = r.headers()["location"].to_str().expect("loc").to_string();
    let url = format!("{}{loc}", s.base);
    let r = c
        .patch(&url)
        .header("content-range", "0-4")
        .header("content-type", "application/octet-stream")
        .body("hello")
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 202);
    assert_eq!(r.headers()["range"], "0-4");
    // A chunk that does not start at the current offset is rejected.
    let r = c
        .patch(&url)
        .header("content-range", "3-5")
        .body("xyz")
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 416);
    let r = c
        .patch(&url)
        .header("content-range", "5-10")
        .body(" world")
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 202);
    let r = c.get(&url).send().await.expect("status");
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-10");
    let d = Digest::of(b"hello world");
    let r = c
        .put(format!("{url}?digest={d}"))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], format!("/v2/a/blobs/{d}").as_str());
    let r = c
        .get(format!("{}/v2/a/blobs/{d}", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("b").as_ref(), b"hello world");
    // The session is gone after completion.
    let r = c.get(&url).send().await.expect("status");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn put_with_final_chunk_and_cancel() {
    let s = start().await;
    let c = client();
    let r = c
        .post(format!("{}/v2/a/blobs/uploads/", s.base))
        .send()
        .await
        .expect("post");
    let url = format!(
        "{}{}",
        s.base,
        r.headers()["location"].to_str().expect("loc")
    );
    let d = Digest::of(b"final");
    let r = c
        .put(format!("{url}?digest={d}"))
        .body("final")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);

    let r = c
        .post(format!("{}/v2/a/blobs/uploads/", s.base))
        .send()
        .await
        .expect("post");
    let url = format!(
        "{}{}",
        s.base,
        r.headers()["location"].to_str().expect("loc")
    );
    c.patch(&url).body("partial").send().await.expect("patch");
    let r = c.delete(&url).send().await.expect("delete");
    assert_eq!(r.status(), 204);
    let r = c.delete(&url).send().await.expect("delete");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    // Nothing of the cancelled upload is left behind.
    let uploads = std::fs::read_dir(s.dir.path().join("data/uploads"))
        .expect("uploads")
        .count();
    assert_eq!(uploads, 0);
}

#[tokio::test]
async fn wrong_digest_is_digest_invalid_and_nothing_stored() {
    let s = start().await;
    let c = client();
    let claimed = Digest::of(b"the real content");
    let r = c
        .post(format!("{}/v2/t/blobs/uploads/?digest={claimed}", s.base))
        .body("tampered content")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = c
        .head(format!("{}/v2/t/blobs/{claimed}", s.base))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 404);
    let blobs = std::fs::read_dir(s.dir.path().join("data/blobs/sha256"))
        .expect("blobs")
        .count();
    assert_eq!(blobs, 0);
    let uploads = std::fs::read_dir(s.dir.path().join("data/uploads"))
        .expect("uploads")
        .count();
    assert_eq!(uploads, 0);
    // Malformed digest.
    let r = c
        .post(format!("{}/v2/t/blobs/uploads/?digest=sha256:xyz", s.base))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
}

#[tokio::test]
async fn concurrent_pushes_of_same_blob() {
    let s = start().await;
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let base = s.base.clone();
        let data = data.clone();
        tasks.push(tokio::spawn(async move {
            push_blob(&client(), &base, &format!("r{i}"), &data).await
        }));
    }
    let mut digests = Vec::new();
    for t in tasks {
        digests.push(t.await.expect("join"));
    }
    let d = &digests[0];
    let stored = std::fs::read(s.dir.path().join("data/blobs/sha256").join(d.hex())).expect("blob");
    assert_eq!(Digest::of(&stored), *d);
    for i in 0..8 {
        let r = client()
            .head(format!("{}/v2/r{i}/blobs/{d}", s.base))
            .send()
            .await
            .expect("head");
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn cross_repo_mount() {
    let s = start().await;
    let c = client();
    let d = push_blob(&c, &s.base, "src", b"shared layer").await;
    let r = c
        .post(format!(
            "{}/v2/dst/blobs/uploads/?mount={d}&from=src",
            s.base
        ))
        .send()
        .await
        .expect("mount");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["docker-content-digest"], d.to_string().as_str());
    let r = c
        .head(format!("{}/v2/dst/blobs/{d}", s.base))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    // Unknown source blob: falls back to a regular upload session.
    let other = Digest::of(b"nope");
    let r = c
        .post(format!(
            "{}/v2/dst/blobs/uploads/?mount={other}&from=src",
            s.base
        ))
        .send()
        .await
        .expect("mount");
    assert_eq!(r.status(), 202);
}

#[tokio::test]
async fn manifests_put_get_head_delete() {
    let s = start().await;
    let c = client();
    // Missing blobs are refused.
    let bogus = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": Digest::of(b"c").to_string(), "size": 1},
        "layers": []
    });
    let r = c
        .put(format!("{}/v2/m/manifests/v1", s.base))
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .body(bogus.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let r = c
        .put(format!("{}/v2/m/manifests/v1", s.base))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body("{not json")
        .send()
        .await
        .expect("put");
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");

    let (md, bytes) = push_image(&c, &s.base, "m", "v1", b"layer-1", serde_json::json!({})).await;
    for reference in ["v1".to_string(), md.to_string()] {
        let r = c
            .get(format!("{}/v2/m/manifests/{reference}", s.base))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(
            r.headers()["docker-content-digest"],
            md.to_string().as_str()
        );
        assert_eq!(r.bytes().await.expect("b").as_ref(), bytes.as_slice());
    }
    let r = c
        .head(format!("{}/v2/m/manifests/v1", s.base))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        bytes.len().to_string().as_str()
    );

    // Docker manifest list referencing the image manifest.
    let list = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": bytes.len(), "platform": {"os": "linux", "architecture": "amd64"}}]
    })
    .to_string();
    let r = c
        .put(format!("{}/v2/m/manifests/multi", s.base))
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .body(list.clone())
        .send()
        .await
        .expect("put list");
    assert_eq!(r.status(), 201);
    let r = c
        .get(format!("{}/v2/m/manifests/multi", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    // Push by digest with a mismatching body.
    let r = c
        .put(format!(
            "{}/v2/m/manifests/{}",
            s.base,
            Digest::of(b"other")
        ))
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        )
        .body(list)
        .send()
        .await
        .expect("put");
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    let r = c
        .get(format!("{}/v2/m/manifests/nope", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");

    // Delete by tag, then by digest.
    let r = c
        .delete(format!("{}/v2/m/manifests/multi", s.base))
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 202);
    let r = c
        .delete(format!("{}/v2/m/manifests/{md}", s.base))
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 202);
    let r = c
        .get(format!("{}/v2/m/manifests/v1", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    let r = c
        .delete(format!("{}/v2/m/manifests/{md}", s.base))
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn delete_disabled_is_unsupported() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.storage.delete.enabled = false;
    let s = start_with(dir, cfg).await;
    let c = client();
    let (md, _) = push_image(&c, &s.base, "m", "v1", b"l", serde_json::json!({})).await;
    let r = c
        .delete(format!("{}/v2/m/manifests/{md}", s.base))
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 405);
    assert_eq!(error_code(r).await, "UNSUPPORTED");
}

#[tokio::test]
async fn blob_delete() {
    let s = start().await;
    let c = client();
    let d = push_blob(&c, &s.base, "b", b"to delete").await;
    let r = c
        .delete(format!("{}/v2/b/blobs/{d}", s.base))
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 202);
    let r = c
        .head(format!("{}/v2/b/blobs/{d}", s.base))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 404);
    let r = c
        .delete(format!("{}/v2/b/blobs/{d}", s.base))
        .send()
        .await
        .expect("del");
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn tags_and_catalog_pagination() {
    let s = start().await;
    let c = client();
    for tag in ["c", "a", "b", "d"] {
        push_image(&c, &s.base, "p/q", tag, b"x", serde_json::json!({})).await;
    }
    push_image(&c, &s.base, "zz", "latest", b"x", serde_json::json!({})).await;
    let r = c
        .get(format!("{}/v2/p/q/tags/list", s.base))
        .send()
        .await
        .expect("tags");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        v,
        serde_json::json!({"name": "p/q", "tags": ["a", "b", "c", "d"]})
    );
    let r = c
        .get(format!("{}/v2/p/q/tags/list?n=2", s.base))
        .send()
        .await
        .expect("tags");
    assert_eq!(
        r.headers()["link"],
        "</v2/p/q/tags/list?n=2&last=b>; rel=\"next\""
    );
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["tags"], serde_json::json!(["a", "b"]));
    let r = c
        .get(format!("{}/v2/p/q/tags/list?n=2&last=b", s.base))
        .send()
        .await
        .expect("tags");
    assert!(!r.headers().contains_key("link"));
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["tags"], serde_json::json!(["c", "d"]));
    let r = c
        .get(format!("{}/v2/nope/tags/list", s.base))
        .send()
        .await
        .expect("tags");
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");

    let r = c
        .get(format!("{}/v2/_catalog", s.base))
        .send()
        .await
        .expect("catalog");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v, serde_json::json!({"repositories": ["p/q", "zz"]}));
    let r = c
        .get(format!("{}/v2/_catalog?n=1", s.base))
        .send()
        .await
        .expect("catalog");
    assert_eq!(
        r.headers()["link"],
        "</v2/_catalog?n=1&last=p%2Fq>; rel=\"next\""
    );
    let r = c
        .get(format!("{}/v2/_catalog?n=1&last=p/q", s.base))
        .send()
        .await
        .expect("catalog");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["repositories"], serde_json::json!(["zz"]));
}

#[tokio::test]
async fn invalid_name() {
    let s = start().await;
    let r = client()
        .get(format!("{}/v2/UPPER/tags/list", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);
    assert_eq!(error_code(r).await, "NAME_INVALID");
}

#[tokio::test]
async fn referrers_api() {
    let s = start().await;
    let c = client();
    let (md, bytes) = push_image(&c, &s.base, "r", "v1", b"l", serde_json::json!({})).await;
    let empty = push_blob(&c, &s.base, "r", b"{}").await;
    for (i, at) in [
        "application/vnd.example.sbom",
        "application/vnd.example.sig",
    ]
    .iter()
    .enumerate()
    {
        let m = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": at,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.to_string(), "size": 2},
            "layers": [],
            "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md.to_string(), "size": bytes.len()},
            "annotations": {"n": i.to_string()}
        });
        let r = c
            .put(format!(
                "{}/v2/r/manifests/{}",
                s.base,
                Digest::of(m.to_string().as_bytes())
            ))
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(m.to_string())
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["oci-subject"], md.to_string().as_str());
    }
    let r = c
        .get(format!("{}/v2/r/referrers/{md}", s.base))
        .send()
        .await
        .expect("ref");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.oci.image.index.v1+json"
    );
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["manifests"].as_array().expect("arr").len(), 2);
    let r = c
        .get(format!(
            "{}/v2/r/referrers/{md}?artifactType=application/vnd.example.sig",
            s.base
        ))
        .send()
        .await
        .expect("ref");
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["manifests"].as_array().expect("arr").len(), 1);
    assert_eq!(
        v["manifests"][0]["artifactType"],
        "application/vnd.example.sig"
    );
    assert_eq!(v["manifests"][0]["annotations"]["n"], "1");
    let none = Digest::of(b"none");
    let r = c
        .get(format!("{}/v2/r/referrers/{none}", s.base))
        .send()
        .await
        .expect("ref");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["manifests"], serde_json::json!([]));
}

#[tokio::test]
async fn search_endpoint() {
    let s = start().await;
    let c = client();
    push_image(
        &c,
        &s.base,
        "team/webapp",
        "latest",
        b"l",
        serde_json::json!({"org.opencontainers.image.description": "A web app"}),
    )
    .await;
    push_image(&c, &s.base, "other", "v1", b"l", serde_json::json!({})).await;
    let r = c
        .get(format!("{}/v1/search?q=web&n=10", s.base))
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(
        v,
        serde_json::json!({"num_results": 1, "query": "web", "results": [
            {"name": "team/webapp", "description": "A web app", "star_count": 0, "is_official": false, "is_automated": false}
        ]})
    );
    let r = c
        .get(format!("{}/v1/search?q=", s.base))
        .send()
        .await
        .expect("search");
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["num_results"], 2);
    assert_eq!(v["results"][0]["description"], "");
}

#[tokio::test]
async fn garbage_collect_keeps_referenced_blobs() {
    let s = start().await;
    let c = client();
    let (keep, _) = push_image(
        &c,
        &s.base,
        "g",
        "keep",
        b"keep-layer",
        serde_json::json!({}),
    )
    .await;
    let (drop_md, _) = push_image(
        &c,
        &s.base,
        "g",
        "drop",
        b"drop-layer",
        serde_json::json!({"x": "y"}),
    )
    .await;
    let orphan = push_blob(&c, &s.base, "g", b"orphan").await;
    let r = c
        .delete(format!("{}/v2/g/manifests/{drop_md}", s.base))
        .send()
        .await
        .expect("del");
    assert_eq!(r.status(), 202);
    let cfg = config(s.dir.path());
    let mut out = Vec::new();
    let dry = berth_registry::garbage_collect(&cfg, true, &mut out).expect("gc");
    // Orphan, drop's layer, drop's config and drop's manifest.
    assert_eq!(dry.swept.len(), 4, "{}", String::from_utf8_lossy(&out));
    assert!(dry.swept.contains(&orphan));
    let blobs = s.dir.path().join("data/blobs/sha256");
    assert_eq!(std::fs::read_dir(&blobs).expect("d").count(), 7);
    let real = berth_registry::garbage_collect(&cfg, false, &mut Vec::new()).expect("gc");
    assert_eq!(real.swept, dry.swept);
    assert_eq!(std::fs::read_dir(&blobs).expect("d").count(), 3);
    let r = c
        .get(format!("{}/v2/g/manifests/keep", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.headers()["docker-content-digest"],
        keep.to_string().as_str()
    );
    let r = c
        .get(format!(
            "{}/v2/g/blobs/{}",
            s.base,
            Digest::of(b"keep-layer")
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let r = c
        .head(format!("{}/v2/g/blobs/{orphan}", s.base))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 404);
}

async fn send_truncated(addr: std::net::SocketAddr, head: &str, body: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let mut sock = tokio::net::TcpStream::connect(addr).await.expect("connect");
    sock.write_all(head.as_bytes()).await.expect("write head");
    sock.write_all(body).await.expect("write body");
    sock.flush().await.expect("flush");
    // Dropping the socket mid-body simulates a client that dies during the upload.
}

#[tokio::test]
async fn interrupted_uploads_store_nothing() {
    let s = start().await;
    let c = client();
    // Chunked session: a PATCH cut short is rolled back, the session stays usable.
    let r = c
        .post(format!("{}/v2/i/blobs/uploads/", s.base))
        .send()
        .await
        .expect("post");
    let loc = r.headers()["location"].to_str().expect("loc").to_string();
    let head = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n",
        s.addr
    );
    send_truncated(s.addr, &head, &[7u8; 1000]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = c
            .get(format!("{}{loc}", s.base))
            .send()
            .await
            .expect("status");
        assert_eq!(r.status(), 204);
        let meta = std::fs::metadata(
            s.dir
                .path()
                .join("data")
                .join("uploads")
                .join(loc.rsplit('/').next().expect("id")),
        )
        .expect("upload file");
        if r.headers()["range"] == "0-0" && meta.len() == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "upload not rolled back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let d = Digest::of(b"complete");
    let r = c
        .put(format!("{}{loc}?digest={d}", s.base))
        .body("complete")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);

    // Monolithic POST cut short: no blob, no leftover upload file.
    let claimed = Digest::of(&[9u8; 50_000]);
    let head = format!(
        "POST /v2/i/blobs/uploads/?digest={claimed} HTTP/1.1\r\nHost: {}\r\nContent-Length: 50000\r\n\r\n",
        s.addr
    );
    send_truncated(s.addr, &head, &[9u8; 500]).await;
    let uploads = s.dir.path().join("data/uploads");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_dir(&uploads).expect("uploads").count() != 0 {
        assert!(std::time::Instant::now() < deadline, "leftover upload");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = c
        .head(format!("{}/v2/i/blobs/{claimed}", s.base))
        .send()
        .await
        .expect("head");
    assert_eq!(r.status(), 404);
}
