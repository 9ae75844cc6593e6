//! Containers: the store of container records and their lifecycle (create, start through a shim,
//! monitor, restart policies, stop, kill, remove), live-restored from redb and shim state when
//! the daemon starts.
//!
//! Concurrency: each container has a short-lived data lock (`std::sync::Mutex<ContainerRecord>`)
//! never held across an await, an async operation lock serializing lifecycle changes
//! (start/stop/kill/remove), and a `watch` channel that wakes `wait` callers on exits/removal.

pub mod create;
pub mod exec;
pub mod inspect;
pub mod lifecycle;
pub mod mounts;
pub mod names;
pub mod network;
pub mod record;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_image::ImageStore;
use berth_shim::client::ShimClient;
use berth_snapshot::Snapshotter;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::watch;

use crate::config::DaemonConfig;
use crate::error::{ApiError, ApiResult};
use crate::events::EventBus;
pub use record::{ContainerRecord, StateRecord};

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
/// Our own runtime, which accepts a sealed copy of itself instead of making one per call.
const SEALED_RUNTIME: &str = "berth-runc";

/// What `wait` observers see.
#[derive(Debug, Clone, Default)]
pub struct WaitState {
    /// Number of exits so far (bumped on every exit).
    pub exits: u64,
    /// Exit code of the last exit.
    pub exit_code: i64,
    /// Whether the init process currently runs.
    pub running: bool,
    /// Whether the container has been removed.
    pub removed: bool,
}

/// A pending attach waiting for the container to start.
pub struct PendingAttach {
    /// Streams requested.
    pub stdin: bool,
    /// Streams requested.
    pub stdout: bool,
    /// Streams requested.
    pub stderr: bool,
    /// Where the shim stream goes once the container is created.
    pub tx: tokio::sync::oneshot::Sender<ApiResult<tokio::net::UnixStream>>,
}

/// One container.
pub struct Container {
    /// Full id.
    pub id: String,
    /// Persisted data.
    pub rec: Mutex<ContainerRecord>,
    /// Serializes lifecycle operations.
    pub op: tokio::sync::Mutex<()>,
    /// Exit/removal notifications.
    pub wait_tx: watch::Sender<WaitState>,
    /// The shim of the current run, if any.
    pub shim: Mutex<Option<ShimClient>>,
    /// Attaches waiting for the next start.
    pub pending: Mutex<Vec<PendingAttach>>,
    /// Exec ids started in this container (for inspect's ExecIDs).
    pub exec_ids: Mutex<Vec<String>>,
}

impl Container {
    /// A copy of the record.
    pub fn snapshot(&self) -> ContainerRecord {
        lock(&self.rec).clone()
    }
    /// Runs `f` on the record under its lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut ContainerRecord) -> R) -> R {
        f(&mut lock(&self.rec))
    }
    /// The shim client, if a run is in progress.
    pub fn shim(&self) -> Option<ShimClient> {
        lock(&self.shim).clone()
    }
}

/// Locks a std mutex, recovering from poisoning (a panicked holder leaves consistent data here:
/// every critical section is a plain field update).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts for `/info`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// All containers.
    pub total: usize,
    /// Running (not paused).
    pub running: usize,
    /// Paused.
    pub paused: usize,
    /// Not running.
    pub stopped: usize,
}

/// The container subsystem.
pub struct ContainerService {
    /// Daemon configuration.
    pub cfg: Arc<DaemonConfig>,
    db: Arc<redb::Database>,
    /// Image store.
    pub images: Arc<ImageStore>,
    /// Snapshotter.
    pub snap: Arc<dyn Snapshotter>,
    /// Volumes.
    pub volumes: Arc<berth_volumes::VolumeStore>,
    /// Networks.
    pub net: Arc<berth_network::NetworkManager>,
    /// Event bus.
    pub events: Arc<EventBus>,
    map: Mutex<HashMap<String, Arc<Container>>>,
    names: Mutex<names::NameIndex>,
    /// Exec instances.
    pub execs: Mutex<HashMap<String, Arc<exec::ExecInstance>>>,
    /// berth-runc sealed once, handed to every shim that runs it.
    sealed_runtime: Option<Arc<berth_shim::client::SealedRuntime>>,
}

impl ContainerService {
    /// Loads all containers and re-adopts running ones.
    pub async fn open(
        cfg: Arc<DaemonConfig>,
        db: Arc<redb::Database>,
        images: Arc<ImageStore>,
        snap: Arc<dyn Snapshotter>,
        volumes: Arc<berth_volumes::VolumeStore>,
        net: Arc<berth_network::NetworkManager>,
        events: Arc<EventBus>,
    ) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(cfg.data_root.join("containers"))?;
        std::fs::create_dir_all(cfg.exec_root.join("shims"))?;
        {
            let tx = db.begin_write()?;
            tx.open_table(TABLE)?;
            tx.commit()?;
        }
        let mut records = Vec::new();
        {
            let rtx = db.begin_read()?;
            let table = rtx.open_table(TABLE)?;
            for row in table.iter()? {
                let (_, v) = row?;
                match serde_json::from_slice::<ContainerRecord>(v.value()) {
                    Ok(r) => records.push(r),
                    Err(e) => tracing::error!("skipping unreadable container record: {e}"),
                }
            }
        }
        let sealed_runtime = cfg.runtime_path(SEALED_RUNTIME).and_then(|p| {
            berth_shim::client::SealedRuntime::new(&p)
                .map_err(|e| tracing::warn!("sealing {}: {e}", p.display()))
                .ok()
                .map(Arc::new)
        });
        let svc = Arc::new(ContainerService {
            sealed_runtime,
            cfg,
            db,
            images,
            snap,
            volumes,
            net,
            events,
            map: Mutex::new(HashMap::new()),
            names: Mutex::new(names::NameIndex::default()),
            execs: Mutex::new(HashMap::new()),
        });
        let mut live = Vec::new();
        for rec in records {
            let c = svc.insert(rec);
            lifecycle::restore(&svc, &c).await;
            let r = c.snapshot();
            if r.state.running && !r.sandbox_key.is_empty() {
                live.push((r.id.clone(), std::path::PathBuf::from(&r.sandbox_key)));
            }
        }
        // Re-adopt the endpoints of containers that kept running; release everything else.
        svc.net.restore(&live).await;
        Ok(svc)
    }

    fn insert(&self, rec: ContainerRecord) -> Arc<Container> {
        let running = rec.state.running;
        let exit_code = rec.state.exit_code;
        let c = Arc::new(Container {
            id: rec.id.clone(),
            wait_tx: watch::Sender::new(WaitState {
                exits: 0,
                exit_code,
                running,
                removed: false,
            }),
            rec: Mutex::new(rec.clone()),
            op: tokio::sync::Mutex::new(()),
            shim: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            exec_ids: Mutex::new(Vec::new()),
        });
        lock(&self.names).insert(rec.short_name(), &rec.id);
        lock(&self.map).insert(rec.id.clone(), c.clone());
        c
    }

    /// Persists a container's record (one redb transaction).
    pub fn persist(&self, c: &Container) -> ApiResult<()> {
        let rec = c.snapshot();
        let bytes = serde_json::to_vec(&rec).map_err(|e| ApiError::internal(e.to_string()))?;
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(TABLE).map_err(db_err)?;
            t.insert(rec.id.as_str(), bytes.as_slice())
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    fn unpersist(&self, id: &str) -> ApiResult<()> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(TABLE).map_err(db_err)?;
            t.remove(id).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Finds a container by full id, name, or unique id prefix (Docker's order).
    pub fn get(&self, name_or_id: &str) -> ApiResult<Arc<Container>> {
        self.find(name_or_id)
            .ok_or_else(|| ApiError::not_found(format!("No such container: {name_or_id}")))
    }

    /// Like [`Self::get`] but without an error.
    pub fn find(&self, name_or_id: &str) -> Option<Arc<Container>> {
        let map = lock(&self.map);
        if let Some(c) = map.get(name_or_id) {
            return Some(c.clone());
        }
        let name = name_or_id.trim_start_matches('/');
        if let Some(id) = lock(&self.names).get(name)
            && let Some(c) = map.get(&id)
        {
            return Some(c.clone());
        }
        if name_or_id.is_empty() || !berth_core::id::is_hex_prefix(name_or_id) {
            return None;
        }
        let mut found = map.values().filter(|c| c.id.starts_with(name_or_id));
        let first = found.next()?.clone();
        if found.next().is_some() {
            return None;
        }
        Some(first)
    }

    /// All containers.
    pub fn all(&self) -> Vec<Arc<Container>> {
        lock(&self.map).values().cloned().collect()
    }

    /// Counts for `/info`.
    pub async fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for ctr in self.all() {
            let st = ctr.snapshot().state;
            c.total += 1;
            if st.paused {
                c.paused += 1;
            } else if st.running {
                c.running += 1;
            } else {
                c.stopped += 1;
            }
        }
        c
    }

    /// Ids of containers using an image (for rmi conflicts).
    pub fn users_of_image(&self, image_id: &str) -> Vec<(String, bool)> {
        self.all()
            .iter()
            .filter_map(|c| {
                let r = c.snapshot();
                (r.image == image_id).then_some((r.id, r.state.running))
            })
            .collect()
    }

    /// The container that keeps an image from being removed, for rmi's messages: a running
    /// one if there is any (Docker names it in the "cannot delete ... running" conflict).
    pub fn image_user(&self, image_id: &str) -> Option<(String, bool)> {
        let users = self.users_of_image(image_id);
        users
            .iter()
            .find(|(_, running)| *running)
            .or(users.first())
            .cloned()
    }

    /// Frees layers left without an image or container (after a forced rmi of an image whose
    /// last container is now gone).
    pub fn gc_orphan_layers(&self) {
        let mut tops: Vec<berth_core::Digest> = Vec::new();
        for c in self.all() {
            let Ok(img) = c.snapshot().image.parse::<berth_core::Digest>() else {
                return;
            };
            match self.images.layer_chain(&img) {
                Ok(Some(top)) => tops.push(top),
                Ok(None) => {}
                // Another container's image is gone too: its layers can't be told apart
                // from orphans, so keep everything until that container goes.
                Err(_) => return,
            }
        }
        if let Err(e) = self.images.gc_layers(&tops) {
            tracing::warn!("layer gc: {e}");
        }
    }

    /// (bytes written by the container, that plus its image) for `ps -s` and `inspect -s`.
    pub async fn sizes(&self, r: &ContainerRecord) -> (u64, u64) {
        let snap = self.snap.clone();
        let id = r.id.clone();
        let rw = tokio::task::spawn_blocking(move || snap.usage(&id).unwrap_or(0))
            .await
            .unwrap_or(0);
        let image = self.images.get(&r.image).map(|i| i.size).unwrap_or(0);
        (rw, rw + image)
    }

    /// Summaries of every container (for `system df`).
    pub async fn list_summaries(&self, _all: bool, size: bool) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for c in self.all() {
            let r = c.snapshot();
            let sz = if size {
                Some(self.sizes(&r).await)
            } else {
                None
            };
            out.push(self.summary_json(&r, sz));
        }
        out
    }

    /// Directory holding a container's bundle, hosts files and log.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.cfg.data_root.join("containers").join(id)
    }

    /// Shim state directory.
    ///
    /// The directory holds the shim's unix socket, whose path must fit in `sun_path` (108
    /// bytes), so it is named by the id's first 20 hex digits (80 bits: collisions are not a
    /// concern) rather than all 64. A directory named by the full id (older layout) still wins.
    pub fn shim_dir(&self, id: &str) -> PathBuf {
        let shims = self.cfg.exec_root.join("shims");
        let full = shims.join(id);
        if full.exists() {
            return full;
        }
        shims.join(&id[..id.len().min(20)])
    }

    /// Renames a container.
    pub fn rename(&self, name_or_id: &str, new_name: &str) -> ApiResult<()> {
        let c = self.get(name_or_id)?;
        let new_name = names::validate(new_name).map_err(|e| {
            ApiError::invalid(format!(
                "Error when allocating new name: {}",
                e.message.replacen("name (", "name (/", 1)
            ))
        })?;
        let old = c.snapshot().name;
        if old.trim_start_matches('/') == new_name {
            return Err(ApiError::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        {
            let mut idx = lock(&self.names);
            if let Some(other) = idx.get(&new_name) {
                return Err(ApiError::conflict(format!(
                    "Conflict. The container name \"/{new_name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            idx.remove(old.trim_start_matches('/'));
            idx.insert(&new_name, &c.id);
        }
        c.with(|r| r.name = format!("/{new_name}"));
        self.persist(&c)?;
        let mut attrs = lifecycle::attrs(&c.snapshot());
        attrs.insert("oldName".into(), old);
        self.events.publish("container", "rename", &c.id, attrs);
        Ok(())
    }

    fn forget(&self, c: &Container) {
        let name = c.snapshot().name;
        lock(&self.names).remove(name.trim_start_matches('/'));
        lock(&self.map).remove(&c.id);
    }
}

fn db_err(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("metadata store: {e}"))
}
