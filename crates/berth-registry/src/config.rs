//! The registry configuration: a YAML document close to distribution's `config.yml`, plus the
//! `REGISTRY_*` environment overrides distribution honours.
//!
//! Supported keys: `version`, `storage.filesystem.rootdirectory`, `storage.delete.enabled`,
//! `storage.s3.{bucket,region,regionendpoint,accesskey,secretkey,forcepathstyle,rootdirectory,
//! localuploaddirectory}`, `http.addr`, `http.tls.{certificate,key,clientcas}`,
//! `auth.htpasswd.{realm,path}`, `auth.token.{realm,service,issuer,rootcertbundle}` and berth's
//! built-in token server `auth.token.builtin.{signingkey,htpasswd,expiration}`. Unknown keys are
//! ignored, as distribution ignores sections it does not use.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::RegistryError;

/// Default storage root when no configuration is given.
pub const DEFAULT_ROOT: &str = "/var/lib/berth-registry";
/// Default listen address when no configuration is given.
pub const DEFAULT_ADDR: &str = "0.0.0.0:5000";

/// A parsed registry configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RegistryConfig {
    /// The storage section.
    pub storage: StorageConfig,
    /// The http section.
    pub http: HttpConfig,
    /// The auth section.
    pub auth: AuthConfig,
}

/// `storage:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// `storage.filesystem`.
    pub filesystem: Option<FilesystemConfig>,
    /// `storage.s3`.
    pub s3: Option<S3Config>,
    /// `storage.delete`.
    pub delete: DeleteConfig,
}

/// `storage.filesystem`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FilesystemConfig {
    /// Where blobs and repositories live.
    pub rootdirectory: Option<PathBuf>,
}

/// `storage.s3` (an S3-compatible object store).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Endpoint URL for S3-compatible servers.
    pub regionendpoint: Option<String>,
    /// Access key id.
    pub accesskey: Option<String>,
    /// Secret access key.
    pub secretkey: Option<String>,
    /// Use path-style bucket addressing.
    pub forcepathstyle: Option<bool>,
    /// Key prefix inside the bucket.
    pub rootdirectory: Option<String>,
    /// berth extension: local directory for in-progress uploads (default: `$TMPDIR/berth-registry-uploads`).
    pub localuploaddirectory: Option<PathBuf>,
}

/// `storage.delete`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DeleteConfig {
    /// Whether manifest and blob DELETE are allowed (405 UNSUPPORTED otherwise).
    pub enabled: bool,
}

/// `http:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Listen address; `:5000` means all interfaces.
    pub addr: Option<String>,
    /// TLS settings; plain HTTP when absent.
    pub tls: Option<TlsConfig>,
}

/// `http.tls`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub certificate: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA bundles; when non-empty, clients must present a certificate signed by one.
    pub clientcas: Vec<PathBuf>,
}

/// `auth:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Basic auth against an htpasswd file with bcrypt hashes.
    pub htpasswd: Option<HtpasswdConfig>,
    /// Bearer token auth.
    pub token: Option<TokenConfig>,
}

/// `auth.htpasswd`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HtpasswdConfig {
    /// Realm sent in the Basic challenge.
    pub realm: String,
    /// htpasswd file (`user:$2y$...` lines).
    pub path: PathBuf,
}

/// `auth.token`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TokenConfig {
    /// URL of the token server, sent in the Bearer challenge.
    pub realm: String,
    /// Service name; tokens must carry it as audience.
    pub service: String,
    /// Expected `iss` claim.
    pub issuer: String,
    /// PEM certificates (or public keys) whose keys may sign tokens.
    pub rootcertbundle: PathBuf,
    /// berth extension: serve a token endpoint at `/token` on this registry.
    pub builtin: Option<BuiltinTokenConfig>,
}

/// `auth.token.builtin`: berth's small token server, mounted at `GET /token`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BuiltinTokenConfig {
    /// PEM private key (RSA or EC P-256, PKCS#8) used to sign tokens.
    pub signingkey: PathBuf,
    /// htpasswd file checked for the Basic credentials of token requests; anonymous if absent.
    pub htpasswd: Option<PathBuf>,
    /// Token lifetime in seconds (default 300).
    pub expiration: Option<u64>,
}

impl RegistryConfig {
    /// Parses a YAML configuration, then applies `REGISTRY_*` environment overrides.
    pub fn from_yaml(text: &str) -> Result<Self, RegistryError> {
        let mut cfg: RegistryConfig =
            serde_norway::from_str(text).map_err(|e| RegistryError::Config(e.to_string()))?;
        cfg.apply_env(|k| std::env::var(k).ok());
        Ok(cfg)
    }

    /// Parses a YAML configuration without looking at the environment.
    pub fn from_yaml_no_env(text: &str) -> Result<Self, RegistryError> {
        serde_norway::from_str(text).map_err(|e| RegistryError::Config(e.to_string()))
    }

    /// The no-config defaults (`/var/lib/berth-registry`, `0.0.0.0:5000`) with env overrides.
    pub fn from_env_defaults() -> Self {
        let mut cfg = RegistryConfig::default();
        cfg.apply_env(|k| std::env::var(k).ok());
        cfg
    }

    /// A filesystem-backed configuration rooted at `root`, listening on `addr` (tests, CLI).
    pub fn filesystem(root: impl Into<PathBuf>, addr: &str) -> Self {
        let mut cfg = RegistryConfig::default();
        cfg.storage.filesystem = Some(FilesystemConfig {
            rootdirectory: Some(root.into()),
        });
        cfg.http.addr = Some(addr.to_string());
        cfg
    }

    /// Applies distribution-style environment overrides read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        if let Some(v) = get("REGISTRY_HTTP_ADDR") {
            self.http.addr = Some(v);
        }
        if let Some(v) = get("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY") {
            self.storage.filesystem = Some(FilesystemConfig {
                rootdirectory: Some(v.into()),
            });
        }
        if let Some(v) = get("REGISTRY_STORAGE_DELETE_ENABLED") {
            self.storage.delete.enabled = v == "true" || v == "1";
        }
        let realm = get("REGISTRY_AUTH_HTPASSWD_REALM");
        if let Some(path) = get("REGISTRY_AUTH_HTPASSWD_PATH") {
            let h = self.auth.htpasswd.get_or_insert_with(Default::default);
            h.path = path.into();
        }
        if let (Some(r), Some(h)) = (realm, self.auth.htpasswd.as_mut()) {
            h.realm = r;
        }
        let cert = get("REGISTRY_HTTP_TLS_CERTIFICATE");
        let key = get("REGISTRY_HTTP_TLS_KEY");
        if cert.is_some() || key.is_some() {
            let t = self.http.tls.get_or_insert_with(Default::default);
            if let Some(c) = cert {
                t.certificate = c.into();
            }
            if let Some(k) = key {
                t.key = k.into();
            }
        }
    }

    /// The storage root for the filesystem driver.
    pub fn root_directory(&self) -> PathBuf {
        self.storage
            .filesystem
            .as_ref()
            .and_then(|f| f.rootdirectory.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
    }

    /// The listen address; distribution's `:5000` form means all interfaces.
    pub fn listen_addr(&self) -> Result<SocketAddr, RegistryError> {
        let raw = self.http.addr.as_deref().unwrap_or(DEFAULT_ADDR);
        let full = if raw.starts_with(':') {
            format!("0.0.0.0{raw}")
        } else {
            raw.to_string()
        };
        full.parse()
            .map_err(|_| RegistryError::Config(format!("invalid http.addr {raw:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_distribution_config() {
        let cfg = RegistryConfig::from_yaml_no_env(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: /srv/r\n  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\nhttp:\n  addr: :5001\n  tls:\n    certificate: /c.pem\n    key: /k.pem\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: /auth/htpasswd\n",
        )
        .expect("parse");
        assert_eq!(cfg.root_directory(), PathBuf::from("/srv/r"));
        assert!(cfg.storage.delete.enabled);
        assert_eq!(cfg.listen_addr().expect("addr").port(), 5001);
        assert_eq!(
            cfg.http.tls.expect("tls").certificate,
            PathBuf::from("/c.pem")
        );
        assert_eq!(cfg.auth.htpasswd.expect("htpasswd").realm, "basic-realm");
    }

    #[test]
    fn env_overrides() {
        let mut cfg = RegistryConfig::default();
        cfg.apply_env(|k| match k {
            "REGISTRY_HTTP_ADDR" => Some("127.0.0.1:6000".into()),
            "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY" => Some("/x".into()),
            "REGISTRY_AUTH_HTPASSWD_PATH" => Some("/h".into()),
            "REGISTRY_AUTH_HTPASSWD_REALM" => Some("R".into()),
            _ => None,
        });
        assert_eq!(cfg.root_directory(), PathBuf::from("/x"));
        assert_eq!(cfg.listen_addr().expect("addr").port(), 6000);
        let h = cfg.auth.htpasswd.expect("htpasswd");
        assert_eq!((h.realm.as_str(), h.path), ("R", PathBuf::from("/h")));
    }
}
