//! certs.d against berth-registry over TLS requiring client certificates: the private CA from
//! `<dir>/<host:port>/ca.crt` is trusted, `client.cert`/`client.key` are presented.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use berth_distribution::{Client, RegistryOptions};
use berth_registry::config::TlsConfig;

mod common;
use common::*;

/// A global IPv4 address of this host: loopback registries are insecure by default (no
/// certificate checks, certs.d unused), so TLS is tested on another address.
fn host_ip() -> Option<String> {
    let o = Command::new("ip")
        .args(["-o", "-4", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let ifname = w.nth(1)?;
        let bridge = ["berth", "bb", "bt-", "br-", "docker", "veth"]
            .iter()
            .any(|p| ifname.starts_with(p));
        let addr = w.skip_while(|x| *x != "inet").nth(1)?;
        (!bridge).then(|| addr.split('/').next().unwrap_or(addr).to_string())
    })
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    (p.self_signed(&key).unwrap(), key)
}

#[tokio::test]
async fn private_ca_and_client_certificate_from_certs_d() {
    let Some(ip) = host_ip() else {
        eprintln!("SKIP: no non-loopback IPv4 address");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let (server_ca, server_ca_key) = ca("server CA");
    let (client_ca, client_ca_key) = ca("client CA");
    let srv_key = rcgen::KeyPair::generate().unwrap();
    let mut sp = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    sp.subject_alt_names = vec![rcgen::SanType::IpAddress(ip.parse().unwrap())];
    let srv = sp.signed_by(&srv_key, &server_ca, &server_ca_key).unwrap();
    let cl_key = rcgen::KeyPair::generate().unwrap();
    let cl = rcgen::CertificateParams::new(vec!["berth-client".into()])
        .unwrap()
        .signed_by(&cl_key, &client_ca, &client_ca_key)
        .unwrap();
    std::fs::write(p("srv.crt"), srv.pem()).unwrap();
    std::fs::write(p("srv.key"), srv_key.serialize_pem()).unwrap();
    std::fs::write(p("clientca.pem"), client_ca.pem()).unwrap();

    let mut cfg = berth_registry::RegistryConfig::filesystem(p("data"), &format!("{ip}:0"));
    cfg.http.tls = Some(TlsConfig {
        certificate: p("srv.crt"),
        key: p("srv.key"),
        clientcas: vec![p("clientca.pem")],
    });
    let (addr, fut) = berth_registry::bind(cfg).await.unwrap();
    tokio::spawn(fut);
    let host = addr.to_string();
    let certs_d = p("certs.d");
    let c = Client::new(RegistryOptions {
        certs_dir: Some(certs_d.clone()),
        ..Default::default()
    });
    let src = new_store();
    let name = format!("{host}/tls/app:v1");
    import(&src, &[("f.txt", b"over tls")], &name);

    // Nothing in certs.d: the server's CA is unknown.
    let e = c
        .push(&src.store, &name, None, &Log::default().sink())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "Get \"https://{host}/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority"
        )
    );
    // The CA alone: the server now demands a client certificate.
    let hd = certs_d.join(&host);
    std::fs::create_dir_all(&hd).unwrap();
    std::fs::write(hd.join("ca.crt"), server_ca.pem()).unwrap();
    let r = c
        .push(&src.store, &name, None, &Log::default().sink())
        .await;
    assert!(r.is_err(), "a client certificate is required");
    // CA and client certificate: push and pull work.
    std::fs::write(hd.join("client.cert"), cl.pem()).unwrap();
    std::fs::write(hd.join("client.key"), cl_key.serialize_pem()).unwrap();
    let digest = c
        .push(&src.store, &name, None, &Log::default().sink())
        .await
        .unwrap();
    let dst = new_store();
    c.pull(&dst.store, &name, None, None, &Log::default().sink())
        .await
        .unwrap();
    assert!(digest.starts_with("sha256:"));
}
