//! Registry client for the engine: pull/push/login/search and Docker progress messages.
//!
//! Use from berthd: keep one [`Client`] (built from the daemon's insecure-registries and
//! registry-mirrors) for the daemon's life; clones share the token cache. Call
//! `client.pull(&store, "busybox:1.36", platform, auth.as_ref(), &sink)` with
//! `auth = AuthConfig::from_x_registry_auth(header)` and a sink that writes
//! `progress_json(&p)` + `"\r\n"` to the response stream. The operation emits every line
//! including Docker's final `Digest:`/`Status:` (pull) and `<tag>: digest: ... size: N` (push);
//! on `Err(e)` write `progress_json(&Progress::Error(e.to_string()))` as the last line. The store
//! is blocking: its calls run in `spawn_blocking` internally. Modules: `session` (endpoints,
//! challenges, tokens), `pull`, `push`, `login` (login + search), `creds` (CLI credentials files),
//! `certs` (per-registry CA roots and client certificates from a certs.d directory).

mod auth;
mod certs;
mod creds;
mod login;
mod progress;
mod pull;
mod push;
mod session;

pub use auth::AuthConfig;
pub use certs::{HostTls, read_certs_dir};
pub use creds::{erase_credentials, load_credentials, store_credentials};
pub use progress::{Progress, progress_json};

use berth_core::{Classify, ErrorKind};

/// Daemon-level registry settings.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Registries reached over plain http (host[:port] or CIDR).
    pub insecure_registries: Vec<String>,
    /// Mirrors tried first for docker.io.
    pub mirrors: Vec<String>,
    /// Directory of per-registry TLS material (`<dir>/<host[:port]>/{*.crt,*.cert,*.key}`,
    /// dockerd's `certs.d` layout); `None` reads nothing.
    pub certs_dir: Option<std::path::PathBuf>,
}

/// The default `certs_dir` of berthd.
pub const DEFAULT_CERTS_DIR: &str = "/etc/berth/certs.d";

/// Result of a successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginStatus {
    /// Human status, "Login Succeeded".
    pub status: String,
    /// Identity token returned by the registry, if any.
    pub identity_token: Option<String>,
}

/// One hit of `GET /v1/search`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchResult {
    /// Repository name.
    pub name: String,
    /// Short description.
    #[serde(default)]
    pub description: String,
    /// Star count.
    #[serde(default)]
    pub star_count: u64,
    /// Whether it is an official image.
    #[serde(default)]
    pub is_official: bool,
    /// Whether it is an automated build.
    #[serde(default)]
    pub is_automated: bool,
}

/// Errors of registry operations (Display texts are Docker's).
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// Bad reference or argument (`invalid reference format`).
    #[error("{0}")]
    Invalid(String),
    /// Manifest, tag or local image not found.
    #[error("{0}")]
    NotFound(String),
    /// Credentials missing or rejected (`unauthorized: ...`, `pull access denied ...`).
    #[error("{0}")]
    Unauthorized(String),
    /// The registry refused the operation (`denied: ...`).
    #[error("{0}")]
    Denied(String),
    /// Network failure (`Get "https://host/v2/": dial tcp ...: connect: connection refused`).
    #[error("{0}")]
    Transport(String),
    /// The registry answered something unexpected or content failed verification.
    #[error("{0}")]
    Protocol(String),
    /// Local image store failure.
    #[error(transparent)]
    Store(#[from] berth_image::ImageError),
    /// Local I/O failure.
    #[error("{0}")]
    Io(String),
}

impl Classify for DistError {
    fn kind(&self) -> ErrorKind {
        match self {
            DistError::Invalid(_) => ErrorKind::InvalidArgument,
            DistError::NotFound(_) => ErrorKind::NotFound,
            DistError::Unauthorized(_) => ErrorKind::Unauthorized,
            DistError::Denied(_) => ErrorKind::Forbidden,
            DistError::Transport(_) | DistError::Protocol(_) | DistError::Io(_) => {
                ErrorKind::Internal
            }
            DistError::Store(e) => e.kind(),
        }
    }
}

/// A registry client shared by the daemon (cheap to clone; clones share the token cache).
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) opts: RegistryOptions,
    /// Verifies certificates.
    pub(crate) secure: reqwest::Client,
    /// For insecure registries: accepts any certificate.
    pub(crate) insecure: reqwest::Client,
    /// Verifying clients with extra roots / client certificates from `certs_dir`, by host.
    pub(crate) per_host: certs::ClientCache,
    pub(crate) tokens: session::TokenCache,
    /// Base pause before retrying a failed blob upload (dockerd: 5 s, then 10 s, ...).
    pub(crate) retry_delay: std::time::Duration,
}

impl Default for Client {
    fn default() -> Self {
        Client::new(RegistryOptions::default())
    }
}

impl Client {
    /// Builds a client with the daemon's registry options.
    pub fn new(opts: RegistryOptions) -> Self {
        let secure = base_builder().build().unwrap_or_default();
        let insecure = base_builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap_or_default();
        Client {
            opts,
            secure,
            insecure,
            per_host: Default::default(),
            tokens: Default::default(),
            retry_delay: std::time::Duration::from_secs(5),
        }
    }

    /// The certificate-verifying HTTP client for `host` (`host[:port]`): the default one, or
    /// one trusting the extra roots / presenting the client certificate of `certs_dir/host`.
    pub(crate) fn secure_client(&self, host: &str) -> Result<reqwest::Client, DistError> {
        certs::secure_client_for(
            &self.secure,
            self.opts.certs_dir.as_deref(),
            &self.per_host,
            host,
        )
    }

    /// Sets the base pause between blob upload attempts (tests use a short one).
    pub fn with_retry_delay(mut self, delay: std::time::Duration) -> Self {
        self.retry_delay = delay;
        self
    }
}

/// The settings every registry HTTP client shares.
pub(crate) fn base_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(30))
}
