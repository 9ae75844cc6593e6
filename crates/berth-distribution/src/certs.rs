//! Per-registry TLS material read from `<certs-dir>/<host[:port]>/`, as dockerd reads
//! `/etc/docker/certs.d`: `*.crt` are extra CA roots, `<name>.cert` + `<name>.key` a client
//! certificate. Clients are rebuilt only when the directory's contents change.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::DistError;

/// TLS material of one registry host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostTls {
    /// PEM text of each `*.crt` file (sorted by file name).
    pub roots: Vec<Vec<u8>>,
    /// PEM certificate followed by PEM key of the first `<name>.cert`/`<name>.key` pair.
    pub identity: Option<Vec<u8>>,
}

impl HostTls {
    /// Whether there is nothing beyond the default configuration.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty() && self.identity.is_none()
    }
}

/// The directory of `host` (`host[:port]`) under `certs_dir`. Docker names IPv6 hosts
/// without brackets only when there is no port; the reference form is kept as is.
fn host_dir(certs_dir: &Path, host: &str) -> std::path::PathBuf {
    certs_dir.join(host)
}

/// Reads `dir` the way dockerd's `ReadCertsDirectory` does. A missing directory is no extra
/// configuration; a client certificate without its key (or the reverse) is an error.
pub fn read_certs_dir(dir: &Path) -> Result<HostTls, DistError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HostTls::default()),
        Err(e) => return Err(DistError::Io(format!("{}: {e}", dir.display()))),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let read = |name: &str| {
        std::fs::read(dir.join(name))
            .map_err(|e| DistError::Io(format!("{}: {e}", dir.join(name).display())))
    };
    let mut out = HostTls::default();
    for name in &names {
        if name.ends_with(".crt") {
            out.roots.push(read(name)?);
        } else if let Some(stem) = name.strip_suffix(".cert") {
            let key = format!("{stem}.key");
            if !names.contains(&key) {
                return Err(DistError::Invalid(format!(
                    "missing key {key} for client certificate {name}. CA certificates must use the extension .crt"
                )));
            }
            if out.identity.is_none() {
                let mut pem = read(name)?;
                if !pem.ends_with(b"\n") {
                    pem.push(b'\n');
                }
                pem.extend(read(&key)?);
                out.identity = Some(pem);
            }
        } else if let Some(stem) = name.strip_suffix(".key") {
            let cert = format!("{stem}.cert");
            if !names.contains(&cert) {
                return Err(DistError::Invalid(format!(
                    "missing client certificate {cert} for key {name}"
                )));
            }
        }
    }
    Ok(out)
}

/// Builds a certificate-verifying client trusting `tls` on top of the default roots.
pub(crate) fn build_client(tls: &HostTls) -> Result<reqwest::Client, DistError> {
    let mut b = crate::base_builder();
    for pem in &tls.roots {
        // One .crt file may hold a bundle of several certificates.
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| DistError::Invalid(format!("invalid CA certificate: {e}")))?;
        if certs.is_empty() {
            return Err(DistError::Invalid(
                "invalid CA certificate: no PEM certificate found".into(),
            ));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let Some(pem) = &tls.identity {
        let id = reqwest::Identity::from_pem(pem)
            .map_err(|e| DistError::Invalid(format!("invalid client certificate: {e}")))?;
        b = b.identity(id);
    }
    b.build()
        .map_err(|e| DistError::Invalid(format!("registry TLS configuration: {e}")))
}

/// Verifying clients built from certs.d material, by host, with the material they were
/// built from.
pub(crate) type ClientCache = Arc<Mutex<HashMap<String, (HostTls, reqwest::Client)>>>;

/// The verifying client for `host`: the default one when `certs_dir` has nothing for it.
pub(crate) fn secure_client_for(
    default: &reqwest::Client,
    certs_dir: Option<&Path>,
    cache: &ClientCache,
    host: &str,
) -> Result<reqwest::Client, DistError> {
    let Some(certs_dir) = certs_dir else {
        return Ok(default.clone());
    };
    // Read on every session, as dockerd does, so edits apply without a restart.
    let tls = read_certs_dir(&host_dir(certs_dir, host))?;
    if tls.is_empty() {
        return Ok(default.clone());
    }
    if let Ok(cache) = cache.lock()
        && let Some((seen, client)) = cache.get(host)
        && *seen == tls
    {
        return Ok(client.clone());
    }
    let client = build_client(&tls)?;
    if let Ok(mut cache) = cache.lock() {
        cache.insert(host.to_string(), (tls, client.clone()));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn pem(name: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        format!("{}{}", cert.pem(), key.serialize_pem())
    }

    #[test]
    fn missing_dir_is_no_extra_config() {
        let d = tempfile::tempdir().unwrap();
        let tls = read_certs_dir(&d.path().join("nope")).unwrap();
        assert!(tls.is_empty());
        let cache = ClientCache::default();
        let def = reqwest::Client::new();
        secure_client_for(&def, Some(d.path()), &cache, "reg:5000").unwrap();
        assert!(cache.lock().unwrap().is_empty());
    }

    #[test]
    fn several_crt_files_and_a_client_pair() {
        let d = tempfile::tempdir().unwrap();
        let a = pem("a");
        let b = pem("b");
        let c = pem("client");
        let (c_cert, c_key) = c.split_at(c.find("-----BEGIN PRIVATE KEY").unwrap());
        std::fs::write(d.path().join("b.crt"), &b).unwrap();
        std::fs::write(d.path().join("a.crt"), &a).unwrap();
        std::fs::write(d.path().join("client.cert"), c_cert).unwrap();
        std::fs::write(d.path().join("client.key"), c_key).unwrap();
        std::fs::write(d.path().join("README"), "ignored").unwrap();
        let tls = read_certs_dir(d.path()).unwrap();
        assert_eq!(tls.roots, vec![a.into_bytes(), b.into_bytes()]);
        let id = String::from_utf8(tls.identity.clone().unwrap()).unwrap();
        assert!(id.starts_with("-----BEGIN CERTIFICATE"));
        assert!(id.contains("-----BEGIN PRIVATE KEY"));
        build_client(&tls).unwrap();
    }

    #[test]
    fn client_cert_without_key_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("client.cert"), pem("x")).unwrap();
        let e = read_certs_dir(d.path()).unwrap_err().to_string();
        assert_eq!(
            e,
            "missing key client.key for client certificate client.cert. CA certificates must use the extension .crt"
        );
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("client.key"), pem("x")).unwrap();
        let e = read_certs_dir(d.path()).unwrap_err().to_string();
        assert_eq!(
            e,
            "missing client certificate client.cert for key client.key"
        );
    }

    #[test]
    fn bad_pem_is_an_error_and_clients_are_cached_by_content() {
        let d = tempfile::tempdir().unwrap();
        let host = d.path().join("reg:5000");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("ca.crt"), "not a certificate").unwrap();
        let cache = ClientCache::default();
        let def = reqwest::Client::new();
        assert!(secure_client_for(&def, Some(d.path()), &cache, "reg:5000").is_err());
        std::fs::write(host.join("ca.crt"), pem("ca")).unwrap();
        secure_client_for(&def, Some(d.path()), &cache, "reg:5000").unwrap();
        assert_eq!(cache.lock().unwrap().len(), 1);
        let first = cache.lock().unwrap()["reg:5000"].0.clone();
        std::fs::write(host.join("ca.crt"), pem("ca2")).unwrap();
        secure_client_for(&def, Some(d.path()), &cache, "reg:5000").unwrap();
        assert_ne!(cache.lock().unwrap()["reg:5000"].0, first);
    }
}
