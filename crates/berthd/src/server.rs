//! HTTP serving: listeners (unix and tcp), the API version prefix, and the shared state handed
//! to every router.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::ServiceExt as _;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use berth_image::ImageStore;
use berth_snapshot::Snapshotter;

use crate::config::DaemonConfig;
use crate::containers::ContainerService;
use crate::events::EventBus;

/// Newest API version berthd serves fully.
pub const API_VERSION: &str = "1.41";
/// Oldest API version berthd accepts.
pub const MIN_API_VERSION: &str = "1.24";
/// Newest version accepted in a request path (clients may pin it explicitly).
const MAX_ACCEPTED_MINOR: u32 = 50;
/// berth's version.
pub const BERTH_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything the routers share.
#[derive(Clone)]
pub struct AppState {
    /// Effective configuration.
    pub cfg: Arc<DaemonConfig>,
    /// Image store.
    pub images: Arc<ImageStore>,
    /// Snapshotter (image layers and container layers).
    pub snap: Arc<dyn Snapshotter>,
    /// Containers.
    pub containers: Arc<ContainerService>,
    /// Event bus.
    pub events: Arc<EventBus>,
    /// Registry client (pull, push, login, search).
    pub registry: Arc<berth_distribution::Client>,
    /// Dockerfile builder.
    pub builder: Arc<berth_build::LocalBackend>,
    /// Daemon start time.
    pub started: Instant,
}

impl AppState {
    /// Opens the stores under the data root and re-adopts running containers (live restore).
    pub async fn open(cfg: Arc<DaemonConfig>) -> anyhow::Result<Self> {
        for dir in [&cfg.data_root, &cfg.exec_root] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let snap_root = cfg.data_root.join("snapshots");
        std::fs::create_dir_all(&snap_root)?;
        let snap: Arc<dyn Snapshotter> = match cfg.storage_driver.as_deref() {
            Some("vfs") => Arc::new(berth_snapshot::VfsSnapshotter::new(&snap_root.join("vfs"))?),
            Some("overlay2") | Some("overlay") => Arc::new(
                berth_snapshot::OverlaySnapshotter::new(&snap_root.join("overlay2"))?,
            ),
            Some(other) => {
                anyhow::bail!("error initializing graphdriver: driver not supported: {other}")
            }
            None => {
                if berth_snapshot::overlay_supported(&snap_root) {
                    Arc::new(berth_snapshot::OverlaySnapshotter::new(
                        &snap_root.join("overlay2"),
                    )?)
                } else {
                    tracing::warn!("overlayfs is not supported here; falling back to vfs");
                    Arc::new(berth_snapshot::VfsSnapshotter::new(&snap_root.join("vfs"))?)
                }
            }
        };
        let db_path = cfg.data_root.join("berth.redb");
        let db = Arc::new(
            redb::Database::create(&db_path)
                .with_context(|| format!("opening {}", db_path.display()))?,
        );
        let images = Arc::new(ImageStore::open(&cfg.data_root, db.clone(), snap.clone())?);
        let events = Arc::new(EventBus::new());
        let db_for_build = db.clone();
        let volumes = Arc::new(berth_volumes::VolumeStore::open(
            &cfg.data_root,
            db.clone(),
        )?);
        let net = berth_network::NetworkManager::start(
            berth_network::NetConfig {
                instance: cfg.instance.clone(),
                exec_root: cfg.exec_root.clone(),
                default_bridge: cfg.default_bridge(),
                bip: cfg.net.bip.clone(),
                fixed_cidr: cfg.net.fixed_cidr.clone(),
                default_address_pools: cfg.net.pools.clone(),
                iptables: cfg.net.iptables,
                ip_forward: true,
                userland_proxy: cfg.net.userland_proxy,
                mtu: None,
                dns: cfg.net.dns.clone(),
                dns_search: cfg.net.dns_search.clone(),
                dns_options: cfg.net.dns_options.clone(),
            },
            db.clone(),
        )
        .await
        .context("initializing networks")?;
        let build_networks = Arc::new(crate::build_net::BuildNetworks::new(
            net.clone(),
            tokio::runtime::Handle::current(),
        ));
        let containers = ContainerService::open(
            cfg.clone(),
            db,
            images.clone(),
            snap.clone(),
            volumes,
            net,
            events.clone(),
        )
        .await?;
        let registry = Arc::new(berth_distribution::Client::new(
            berth_distribution::RegistryOptions {
                insecure_registries: cfg.insecure_registries.clone(),
                mirrors: cfg.registry_mirrors.clone(),
                certs_dir: Some(cfg.registry_certs_dir.clone()),
            },
        ));
        let builder = {
            let runtime = cfg
                .runtime_path(&cfg.default_runtime)
                .context("the default runtime is not installed")?;
            let client = registry.clone();
            let store = images.clone();
            let handle = tokio::runtime::Handle::current();
            // FROM of a missing image pulls it (the builder runs on a blocking thread).
            let puller: berth_build::Puller = Box::new(move |name: &str| {
                handle
                    .block_on(client.pull(&store, name, None, None, &|_| {}))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
            Arc::new(
                berth_build::LocalBackend::new(
                    images.clone(),
                    snap.clone(),
                    db_for_build,
                    runtime,
                    cfg.exec_root.join("runtime").join("build"),
                    cfg.data_root.join("build"),
                )?
                .with_puller(puller)
                .with_networks(build_networks),
            )
        };
        Ok(AppState {
            cfg,
            images,
            snap,
            containers,
            events,
            registry,
            builder,
            started: Instant::now(),
        })
    }
}

/// Serves the API on every configured listener until SIGINT/SIGTERM. Containers keep running.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    write_pidfile(&state.cfg.pidfile)?;
    let app = crate::routes::router(state.clone());
    let mut tasks = tokio::task::JoinSet::new();
    let mut unix_paths = Vec::new();
    for host in &state.cfg.hosts {
        let app = app.clone();
        if let Some(path) = host.strip_prefix("unix://") {
            let path = PathBuf::from(path);
            let listener = bind_unix(&path)?;
            unix_paths.push(path.clone());
            tracing::info!("API listening on {}", path.display());
            let svc = tower::util::MapRequest::new(app, strip_version);
            tasks.spawn(async move { axum::serve(listener, svc.into_make_service()).await });
        } else if let Some(addr) = host.strip_prefix("tcp://") {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on tcp://{addr}"))?;
            tracing::info!("API listening on tcp://{addr}");
            let svc = tower::util::MapRequest::new(app, strip_version);
            tasks.spawn(async move { axum::serve(listener, svc.into_make_service()).await });
        } else {
            anyhow::bail!("invalid listener {host:?}: expected unix:///path or tcp://host:port");
        }
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        Some(res) = tasks.join_next() => {
            if let Ok(Err(e)) = res { tracing::error!("listener failed: {e}"); }
        }
    }
    tracing::info!("shutting down; containers keep running (live restore)");
    // Proxies and DNS stop with us; endpoints of running containers stay for the next start.
    state.containers.net.shutdown(true).await;
    for p in unix_paths {
        let _ = std::fs::remove_file(p);
    }
    let _ = std::fs::remove_file(&state.cfg.pidfile);
    Ok(())
}

fn bind_unix(path: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| format!("removing stale socket {}", path.display()));
        }
    }
    let l = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("listening on {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(l)
}

fn write_pidfile(path: &Path) -> anyhow::Result<()> {
    if let Ok(old) = std::fs::read_to_string(path)
        && let Ok(pid) = old.trim().parse::<i32>()
        && pid != std::process::id() as i32
        && Path::new(&format!("/proc/{pid}")).exists()
    {
        anyhow::bail!(
            "pid file found, ensure berthd is not running or delete {}",
            path.display()
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, format!("{}\n", std::process::id()))?;
    Ok(())
}

/// Parses `/v1.41/...` into (Some((1,41)), "/...").
pub fn split_version(path: &str) -> (Option<(u32, u32)>, &str) {
    if let Some(rest) = path.strip_prefix("/v") {
        let (ver, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if let Some((maj, min)) = ver.split_once('.')
            && let (Ok(maj), Ok(min)) = (maj.parse(), min.parse())
        {
            return (Some((maj, min)), tail);
        }
    }
    (None, path)
}

/// The API version a request asked for (or the newest we serve).
#[derive(Debug, Clone, Copy)]
pub struct RequestVersion(pub u32, pub u32);

fn strip_version(mut req: Request) -> Request {
    let path = req.uri().path().to_string();
    let (ver, tail) = split_version(&path);
    if let Some((maj, min)) = ver {
        req.extensions_mut().insert(RequestVersion(maj, min));
        let pq = match req.uri().query() {
            Some(q) => format!("{tail}?{q}"),
            None => tail.to_string(),
        };
        if let Ok(uri) = pq.parse::<Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// Rejects versions outside what we accept, in Docker's words.
pub fn check_version(v: Option<RequestVersion>) -> Option<Response> {
    let RequestVersion(maj, min) = v?;
    let (min_maj, min_min) = (1, 24);
    if maj > 1 || (maj == 1 && min > MAX_ACCEPTED_MINOR) {
        let msg = format!(
            "client version {maj}.{min} is too new. Maximum supported API version is {API_VERSION}"
        );
        return Some(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"message": msg})),
            )
                .into_response(),
        );
    }
    if maj < min_maj || (maj == min_maj && min < min_min) {
        let msg = format!(
            "client version {maj}.{min} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        );
        return Some(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({"message": msg})),
            )
                .into_response(),
        );
    }
    None
}

/// Adds Docker's common response headers.
pub async fn common_headers(req: Request, next: axum::middleware::Next) -> Response {
    if let Some(resp) = check_version(req.extensions().get::<RequestVersion>().copied()) {
        return resp;
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("Docker/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    resp
}

/// Helper so routers can be built with state in one place.
pub type AppRouter = Router<AppState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_split_from_paths() {
        assert_eq!(
            split_version("/v1.41/containers/json"),
            (Some((1, 41)), "/containers/json")
        );
        assert_eq!(split_version("/_ping"), (None, "/_ping"));
        assert_eq!(split_version("/v1.50"), (Some((1, 50)), "/"));
        assert_eq!(split_version("/volumes"), (None, "/volumes"));
    }

    #[test]
    fn out_of_range_versions_are_rejected() {
        assert!(check_version(Some(RequestVersion(1, 41))).is_none());
        assert!(check_version(Some(RequestVersion(1, 50))).is_none());
        assert!(check_version(Some(RequestVersion(1, 99))).is_some());
        assert!(check_version(Some(RequestVersion(1, 12))).is_some());
        assert!(check_version(None).is_none());
    }
}
