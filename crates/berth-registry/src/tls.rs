//! rustls server setup for `http.tls` (certificate chain, key, optional client CAs).

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

use crate::config::TlsConfig;
use crate::error::RegistryError;

fn read_certs(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, RegistryError> {
    let data =
        std::fs::read(path).map_err(|e| RegistryError::Tls(format!("{}: {e}", path.display())))?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut data.as_slice()).collect();
    let certs = certs.map_err(|e| RegistryError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(RegistryError::Tls(format!(
            "{}: no certificates",
            path.display()
        )));
    }
    Ok(certs)
}

/// Builds the TLS acceptor (HTTP/2 and HTTP/1.1 via ALPN).
pub(crate) fn acceptor(t: &TlsConfig) -> Result<TlsAcceptor, RegistryError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = read_certs(&t.certificate)?;
    let key_data = std::fs::read(&t.key)
        .map_err(|e| RegistryError::Tls(format!("{}: {e}", t.key.display())))?;
    let key = rustls_pemfile::private_key(&mut key_data.as_slice())
        .map_err(|e| RegistryError::Tls(format!("{}: {e}", t.key.display())))?
        .ok_or_else(|| RegistryError::Tls(format!("{}: no private key", t.key.display())))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Tls(e.to_string()))?;
    let builder = if t.clientcas.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for p in &t.clientcas {
            for c in read_certs(p)? {
                roots
                    .add(c)
                    .map_err(|e| RegistryError::Tls(format!("{}: {e}", p.display())))?;
            }
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| RegistryError::Tls(e.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| RegistryError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}
