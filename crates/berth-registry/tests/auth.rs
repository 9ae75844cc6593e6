//! htpasswd Basic auth, built-in token auth and TLS.

mod common;

use berth_registry::config::{BuiltinTokenConfig, HtpasswdConfig, TlsConfig, TokenConfig};
use common::*;

fn write_htpasswd(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    std::fs::write(&p, format!("alice:{hash}\n")).expect("write");
    p
}

#[tokio::test]
async fn htpasswd_basic_auth() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.auth.htpasswd = Some(HtpasswdConfig {
        realm: "Registry Realm".into(),
        path: write_htpasswd(dir.path()),
    });
    let s = start_with(dir, cfg).await;
    let c = client();
    let r = c.get(format!("{}/v2/", s.base)).send().await.expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"Registry Realm\""
    );
    assert_eq!(error_code(r).await, "UNAUTHORIZED");
    let r = c
        .get(format!("{}/v2/", s.base))
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(r).await, "UNAUTHORIZED");
    let r = c
        .get(format!("{}/v2/", s.base))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    // An unauthenticated push stores nothing.
    let r = c
        .post(format!(
            "{}/v2/x/blobs/uploads/?digest={}",
            s.base,
            berth_core::Digest::of(b"a")
        ))
        .body("a")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    assert_eq!(
        std::fs::read_dir(s.dir.path().join("data/blobs/sha256"))
            .expect("d")
            .count(),
        0
    );
}

#[tokio::test]
async fn builtin_token_auth() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = rcgen::KeyPair::generate().expect("key");
    let key_path = dir.path().join("token.key");
    std::fs::write(&key_path, key.serialize_pem()).expect("write");
    let mut cfg = config(dir.path());
    cfg.auth.token = Some(TokenConfig {
        service: "test-registry".into(),
        issuer: "test-issuer".into(),
        builtin: Some(BuiltinTokenConfig {
            signingkey: key_path,
            htpasswd: Some(write_htpasswd(dir.path())),
            expiration: None,
        }),
        ..Default::default()
    });
    let s = start_with(dir, cfg).await;
    let c = client();
    let r = c
        .get(format!("{}/v2/repo/tags/list", s.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    let chal = r.headers()["www-authenticate"]
        .to_str()
        .expect("str")
        .to_string();
    assert_eq!(
        chal,
        format!(
            "Bearer realm=\"{}/token\",service=\"test-registry\",scope=\"repository:repo:pull\"",
            s.base
        )
    );
    // The token endpoint demands the htpasswd credentials.
    let r = c
        .get(format!(
            "{}/token?service=test-registry&scope=repository:repo:pull",
            s.base
        ))
        .basic_auth("alice", Some("bad"))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!(
            "{}/token?service=test-registry&scope=repository:repo:pull,push",
            s.base
        ))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    let tok = v["token"].as_str().expect("token").to_string();
    // The OAuth2 password grant (docker login's POST flavour) issues equivalent tokens.
    let r = c
        .post(format!("{}/token", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=alice&password=s3cret&service=test-registry&scope=repository%3Arepo%3Apull&client_id=docker")
        .send()
        .await
        .expect("oauth");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    let oauth_tok = v["access_token"].as_str().expect("token").to_string();
    let r = c
        .post(format!("{}/token", s.base))
        .body("grant_type=password&username=alice&password=nope&service=test-registry")
        .send()
        .await
        .expect("oauth");
    assert_eq!(r.status(), 401);
    push_image_auth(&c, &s.base, &tok).await;
    let r = c
        .get(format!("{}/v2/repo/tags/list", s.base))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{}/v2/repo/manifests/v1", s.base))
        .bearer_auth(&oauth_tok)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    // A token for another repository is insufficient.
    let r = c
        .get(format!("{}/v2/elsewhere/tags/list", s.base))
        .bearer_auth(&tok)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("s")
            .contains("insufficient_scope")
    );
    // A forged token is rejected.
    let r = c
        .get(format!("{}/v2/repo/tags/list", s.base))
        .bearer_auth(format!("{tok}x"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
}

async fn push_image_auth(c: &reqwest::Client, base: &str, tok: &str) {
    let d = berth_core::Digest::of(b"{}");
    let r = c
        .post(format!("{base}/v2/repo/blobs/uploads/?digest={d}"))
        .bearer_auth(tok)
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d.to_string(), "size": 2}, "layers": []});
    let r = c
        .put(format!("{base}/v2/repo/manifests/v1"))
        .bearer_auth(tok)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(m.to_string())
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn tls_serving() {
    let dir = tempfile::tempdir().expect("tmp");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("cert");
    let cert_pem = ck.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).expect("w");
    std::fs::write(dir.path().join("key.pem"), ck.key_pair.serialize_pem()).expect("w");
    let mut cfg = config(dir.path());
    cfg.http.tls = Some(TlsConfig {
        certificate: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
        clientcas: vec![],
    });
    let s = start_with(dir, cfg).await;
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("pem"))
        .build()
        .expect("client");
    let url = format!("https://localhost:{}/v2/", s.addr.port());
    let r = c.get(&url).send().await.expect("get over tls");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    // Plain HTTP against the TLS port fails.
    assert!(
        client()
            .get(format!("http://{}/v2/", s.addr))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn external_token_verified_against_rootcertbundle() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["token-signer".into()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(&bundle, cert.pem()).expect("w");
    let mut cfg = config(dir.path());
    cfg.auth.token = Some(TokenConfig {
        realm: "https://auth.example.com/token".into(),
        service: "ext-service".into(),
        issuer: "ext-issuer".into(),
        rootcertbundle: bundle,
        builtin: None,
    });
    let s = start_with(dir, cfg).await;
    let c = client();
    let r = c.get(format!("{}/v2/", s.base)).send().await.expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"https://auth.example.com/token\",service=\"ext-service\""
    );
    let sign = |iss: &str| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs();
        let claims = serde_json::json!({
            "iss": iss, "sub": "bob", "aud": "ext-service", "exp": now + 60, "nbf": now - 5, "iat": now,
            "jti": "x", "access": [{"type": "repository", "name": "foo", "actions": ["pull"]}]
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
            &claims,
            &jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("key"),
        )
        .expect("sign")
    };
    let good = sign("ext-issuer");
    let r = c
        .get(format!("{}/v2/foo/tags/list", s.base))
        .bearer_auth(&good)
        .send()
        .await
        .expect("get");
    // Authorized: the repository simply does not exist yet.
    assert_eq!(r.status(), 404);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    // Pull-only token cannot push.
    let r = c
        .post(format!("{}/v2/foo/blobs/uploads/", s.base))
        .bearer_auth(&good)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .expect("s")
            .contains("scope=\"repository:foo:pull,push\"")
    );
    let bad = sign("someone-else");
    let r = c
        .get(format!("{}/v2/foo/tags/list", s.base))
        .bearer_auth(&bad)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn tls_client_certificates() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(vec!["test-ca".into()]).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let client_key = rcgen::KeyPair::generate().expect("key");
    let client_cert = rcgen::CertificateParams::new(vec!["client".into()])
        .expect("params")
        .signed_by(&client_key, &ca, &ca_key)
        .expect("client cert");
    let server = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("ca.pem"), ca.pem()).expect("w");
    std::fs::write(p("cert.pem"), server.cert.pem()).expect("w");
    std::fs::write(p("key.pem"), server.key_pair.serialize_pem()).expect("w");
    let mut cfg = config(dir.path());
    cfg.http.tls = Some(TlsConfig {
        certificate: p("cert.pem"),
        key: p("key.pem"),
        clientcas: vec![p("ca.pem")],
    });
    let server_pem = server.cert.pem();
    let s = start_with(dir, cfg).await;
    let url = format!("https://localhost:{}/v2/", s.addr.port());
    let root = reqwest::Certificate::from_pem(server_pem.as_bytes()).expect("pem");
    let anonymous = reqwest::Client::builder()
        .add_root_certificate(root.clone())
        .build()
        .expect("client");
    assert!(
        anonymous.get(&url).send().await.is_err(),
        "no client cert must fail"
    );
    let identity = reqwest::Identity::from_pem(
        format!("{}{}", client_cert.pem(), client_key.serialize_pem()).as_bytes(),
    )
    .expect("identity");
    let c = reqwest::Client::builder()
        .add_root_certificate(root)
        .identity(identity)
        .build()
        .expect("client");
    let r = c.get(&url).send().await.expect("get with client cert");
    assert_eq!(r.status(), 200);
}
