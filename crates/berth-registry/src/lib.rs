//! OCI Distribution v1.1 registry server: filesystem storage, htpasswd/token auth, TLS, GC, search.
//!
//! Process model: one tokio runtime; an accept loop spawns one task per connection (HTTP/1.1 and
//! HTTP/2, optionally behind rustls); every request runs through [`api::router`]. Blob data is
//! streamed to disk and hashed on the fly, never buffered whole. Configuration: [`RegistryConfig`].
//! The built-in token server is enabled with `auth.token.builtin` and answers `GET /token`.

pub mod api;
pub mod auth;
pub mod config;
pub mod error;
pub mod gc;
pub mod search;
pub mod storage;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub use config::RegistryConfig;
pub use error::{ApiError, Code, RegistryError};
pub use gc::{GcReport, garbage_collect};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;

/// Builds the HTTP application (router with storage and auth) for a configuration.
pub fn app(cfg: &RegistryConfig) -> Result<axum::Router, RegistryError> {
    let store = open_store(cfg)?;
    app_with_store(cfg, store)
}

/// Opens the configured storage: S3 when `storage.s3` is set, else the filesystem.
pub fn open_store(cfg: &RegistryConfig) -> Result<storage::Store, RegistryError> {
    if let Some(s3cfg) = &cfg.storage.s3 {
        let backend = storage::s3::S3Backend::new(s3cfg).map_err(RegistryError::Config)?;
        let dir = s3cfg
            .localuploaddirectory
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("berth-registry-uploads"));
        return storage::Store::with_backend(storage::Backend::S3(backend), dir.clone())
            .map_err(|e| RegistryError::io(format!("upload directory {}", dir.display()), e));
    }
    let root = cfg.root_directory();
    storage::Store::open(&root)
        .map_err(|e| RegistryError::io(format!("open storage {}", root.display()), e))
}

fn app_with_store(
    cfg: &RegistryConfig,
    store: storage::Store,
) -> Result<axum::Router, RegistryError> {
    let state = api::AppState {
        store,
        auth: auth::Authenticator::from_config(&cfg.auth)?,
        delete_enabled: cfg.storage.delete.enabled,
        tls: cfg.http.tls.is_some(),
    };
    Ok(api::router(Arc::new(state)))
}

/// Binds the listener (port 0 allowed) and returns its address and the future that serves until
/// `shutdown` resolves. Nothing is served until the future is polled.
pub async fn bind_with_shutdown(
    cfg: RegistryConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<
    (
        SocketAddr,
        impl Future<Output = Result<(), RegistryError>> + Send,
    ),
    RegistryError,
> {
    let store = open_store(&cfg)?;
    if let storage::Backend::S3(s3) = store.backend() {
        s3.ensure_bucket()
            .await
            .map_err(|e| RegistryError::io("s3 bucket", e))?;
    }
    let app = app_with_store(&cfg, store)?;
    let acceptor = match &cfg.http.tls {
        Some(t) => Some(tls::acceptor(t)?),
        None => None,
    };
    let addr = cfg.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| RegistryError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|e| RegistryError::io("listener address", e))?;
    let fut = async move {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (sock, peer) = tokio::select! {
                () = &mut shutdown => return Ok(()),
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Transient (e.g. EMFILE): log and keep accepting.
                        tracing::warn!("accept: {e}");
                        continue;
                    }
                },
            };
            let _ = sock.set_nodelay(true);
            let svc = TowerToHyperService::new(app.clone());
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let res = match acceptor {
                    Some(acc) => match acc.accept(sock).await {
                        Ok(s) => builder.serve_connection(TokioIo::new(s), svc).await,
                        Err(e) => {
                            tracing::debug!("tls handshake with {peer}: {e}");
                            return;
                        }
                    },
                    None => builder.serve_connection(TokioIo::new(sock), svc).await,
                };
                if let Err(e) = res {
                    tracing::debug!("connection {peer}: {e}");
                }
            });
        }
    };
    Ok((local, fut))
}

/// Binds and returns the address plus a future serving forever (tests bind `127.0.0.1:0`).
pub async fn bind(
    cfg: RegistryConfig,
) -> Result<
    (
        SocketAddr,
        impl Future<Output = Result<(), RegistryError>> + Send,
    ),
    RegistryError,
> {
    bind_with_shutdown(cfg, std::future::pending()).await
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    cfg: RegistryConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RegistryError> {
    let (addr, fut) = bind_with_shutdown(cfg, shutdown).await?;
    tracing::info!("berth-registry listening on {addr}");
    fut.await
}

#[derive(clap::Parser)]
#[command(name = "berth-registry", about = "OCI Distribution registry server")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Serve the registry API (no config: filesystem storage in /var/lib/berth-registry on :5000).
    Serve {
        /// distribution-style YAML configuration.
        config: Option<std::path::PathBuf>,
    },
    /// Delete blobs no manifest references (run with the registry stopped).
    GarbageCollect {
        /// Only list what would be deleted.
        #[arg(long, short = 'd')]
        dry_run: bool,
        /// distribution-style YAML configuration.
        config: std::path::PathBuf,
    },
    /// Print an htpasswd line (bcrypt) for a user.
    Htpasswd {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
}

fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<RegistryConfig> {
    match path {
        None => Ok(RegistryConfig::from_env_defaults()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("read {}: {e}", p.display()))?;
            Ok(RegistryConfig::from_yaml(&text)?)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Serve { config } => {
            let cfg = load_config(config.as_deref())?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let shutdown = async {
                    let mut term = match tokio::signal::unix::signal(
                        tokio::signal::unix::SignalKind::terminate(),
                    ) {
                        Ok(s) => s,
                        Err(_) => {
                            let _ = tokio::signal::ctrl_c().await;
                            return;
                        }
                    };
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {},
                        _ = term.recv() => {},
                    }
                };
                serve(cfg, shutdown).await
            })?;
            Ok(())
        }
        Cmd::GarbageCollect { dry_run, config } => {
            let cfg = load_config(Some(&config))?;
            let mut out = std::io::stdout().lock();
            garbage_collect(&cfg, dry_run, &mut out)?;
            Ok(())
        }
        Cmd::Htpasswd { user, password } => {
            let hash = bcrypt::hash(&password, bcrypt::DEFAULT_COST)?;
            println!("{user}:{hash}");
            Ok(())
        }
    }
}

/// The `berth-registry` command line.
pub fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-registry: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
