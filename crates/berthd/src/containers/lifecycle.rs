//! Start, monitor, stop, kill, pause, remove and live restore of containers.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use berth_shim::client::{LogConfig, ShimClient, SpawnOptions};

use super::{Container, ContainerRecord, ContainerService, WaitState, lock};
use crate::error::{ApiError, ApiResult};

/// Actor attributes of container events: name, image and labels.
pub fn attrs(r: &ContainerRecord) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    for (k, v) in r.config.labels.clone().unwrap_or_default() {
        a.insert(k, v);
    }
    a.insert("image".into(), r.config.image.clone().unwrap_or_default());
    a.insert("name".into(), r.short_name().to_string());
    a
}

/// Parses `SIGTERM`, `TERM`, `15` (Docker accepts all three).
pub fn parse_signal(s: &str) -> ApiResult<i32> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(ApiError::invalid(format!("Invalid signal: {s}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| ApiError::invalid(format!("Invalid signal: {s}")))
}

fn now() -> String {
    berth_core::time::rfc3339_nanos(chrono::Utc::now())
}

/// Docker's mapping of runtime start errors: (exit code, HTTP kind).
pub fn classify_start_error(msg: &str) -> (i64, berth_core::ErrorKind) {
    use berth_core::ErrorKind;
    if msg.contains("executable file not found") || msg.contains("no such file or directory") {
        (127, ErrorKind::InvalidArgument)
    } else if msg.contains("permission denied") {
        (126, ErrorKind::InvalidArgument)
    } else {
        (128, ErrorKind::Internal)
    }
}

impl ContainerService {
    /// Starts a created or stopped container. `Ok(false)` means it was already running (304).
    pub async fn start(self: &Arc<Self>, name_or_id: &str) -> ApiResult<bool> {
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        let r = c.snapshot();
        if r.state.paused {
            return Err(ApiError::conflict(
                "cannot start a paused container, try unpause instead",
            ));
        }
        if r.state.running {
            return Ok(false);
        }
        c.with(|r| {
            r.manually_stopped = false;
            r.restart_count = 0;
        });
        if let Err(e) = self.start_locked(&c).await {
            // dockerd removes an auto-remove container whose start failed; `run --rm` waits for that.
            if c.snapshot().host_config.auto_remove.unwrap_or(false) {
                let svc = self.clone();
                let id = c.id.clone();
                tokio::spawn(async move {
                    let _ = svc.remove_with_volumes(&id, true, true).await;
                });
            }
            return Err(e);
        }
        Ok(true)
    }

    /// Starts the container; the caller holds `c.op`.
    pub(crate) async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> ApiResult<()> {
        let dir = self.container_dir(&c.id);
        let shim_dir = self.shim_dir(&c.id);
        // A previous run's shim state is stale now.
        let _ = std::fs::remove_dir_all(&shim_dir);
        if let Err(e) = self.attach_networks(c).await {
            self.record_start_failure(c, &e.message, 128);
            return Err(e);
        }
        let rec = c.snapshot();
        let spec_res = {
            let svc = self.clone();
            let rec = rec.clone();
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || {
                crate::containers::inspect::write_bundle(&svc, &rec, &dir)
            })
            .await?
        };
        if let Err(e) = spec_res {
            self.detach_networks(c).await;
            self.record_start_failure(c, &e.message, 128);
            return Err(e);
        }
        let runtime = self.cfg.runtime_path(&rec.runtime).ok_or_else(|| {
            ApiError::invalid(format!("Unknown runtime specified {}", rec.runtime))
        })?;
        let log_cfg = rec.host_config.log_config.clone().unwrap_or_default();
        let opts_map: BTreeMap<String, String> = log_cfg
            .config
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let local = log_cfg.r#type.as_deref() == Some("local");
        let mut max_size = opts_map
            .get("max-size")
            .map(|s| parse_size(s))
            .transpose()?;
        if local && max_size.is_none() {
            // The local driver's defaults: 20 MB per file, 5 files.
            max_size = Some(20 * 1024 * 1024);
        }
        let max_file = opts_map
            .get("max-file")
            .map(|s| s.parse::<u32>())
            .transpose()
            .map_err(|_| ApiError::invalid("failed to create container: invalid max-file value"))?;
        let opts = SpawnOptions {
            shim_binary: self.cfg.bin_dir.join("berth-shim"),
            id: c.id.clone(),
            bundle: dir.clone(),
            state_dir: shim_dir.clone(),
            runtime,
            runtime_root: self.cfg.exec_root.join("runtime").join(&rec.runtime),
            tty: rec.config.tty.unwrap_or(false),
            stdin: rec.config.open_stdin.unwrap_or(false),
            stdin_once: rec.config.stdin_once.unwrap_or(false),
            log: LogConfig {
                driver: log_cfg.r#type.clone().unwrap_or_else(|| "json-file".into()),
                path: Path::new(&rec.log_path).to_path_buf(),
                max_size,
                max_file: max_file.unwrap_or(if local { 5 } else { 1 }),
            },
            sealed_runtime: if self.cfg.runtime_path(&rec.runtime)
                == self.cfg.runtime_path(super::SEALED_RUNTIME)
            {
                self.sealed_runtime.clone()
            } else {
                None
            },
        };
        let shim = match ShimClient::spawn(&opts).await {
            Ok(s) => s,
            Err(e) => {
                let msg = format!(
                    "failed to create task for container: failed to create shim task: OCI runtime create failed: {}: unknown",
                    e
                );
                let (code, kind) = classify_start_error(&msg);
                self.detach_networks(c).await;
                self.record_start_failure(c, &msg, code);
                self.flush_pending(c, &msg);
                return Err(ApiError::new(kind, msg));
            }
        };
        // Attaches that arrived before start get their streams before the process runs, so
        // they see all of its output.
        let pending: Vec<_> = std::mem::take(&mut *lock(&c.pending));
        for p in pending {
            let res = shim
                .attach(p.stdin, p.stdout, p.stderr)
                .await
                .map_err(|e| ApiError::internal(e.to_string()));
            let _ = p.tx.send(res);
        }
        let pid = match shim.start().await {
            Ok(pid) => pid,
            Err(e) => {
                let msg =
                    format!("failed to start container: OCI runtime start failed: {e}: unknown");
                let (code, kind) = classify_start_error(&msg);
                let _ = shim.shutdown().await;
                self.detach_networks(c).await;
                self.record_start_failure(c, &msg, code);
                return Err(ApiError::new(kind, msg));
            }
        };
        *lock(&c.shim) = Some(shim.clone());
        c.with(|r| {
            r.state.status = "running".into();
            r.state.running = true;
            r.state.paused = false;
            r.state.restarting = false;
            r.state.oom_killed = false;
            r.state.dead = false;
            r.state.pid = pid as i64;
            r.state.exit_code = 0;
            r.state.error = String::new();
            r.state.started_at = now();
            r.state.finished_at = berth_core::time::ZERO_TIME.into();
            r.has_been_started = true;
            if r.config
                .healthcheck
                .as_ref()
                .is_some_and(crate::containers::exec::healthcheck_enabled)
            {
                r.state.health = Some(super::record::HealthRecord {
                    status: "starting".into(),
                    ..Default::default()
                });
            }
        });
        c.wait_tx.send_modify(|w| w.running = true);
        self.persist(c)?;
        self.events
            .publish("container", "start", &c.id, attrs(&c.snapshot()));
        self.spawn_monitor(c.clone(), shim);
        crate::containers::exec::spawn_healthcheck(self.clone(), c.clone());
        Ok(())
    }

    fn record_start_failure(&self, c: &Container, msg: &str, code: i64) {
        c.with(|r| {
            r.state.error = msg.to_string();
            r.state.exit_code = code;
            r.state.running = false;
            r.state.restarting = false;
            if r.has_been_started {
                r.state.status = "exited".into();
                r.state.finished_at = now();
            } else {
                r.state.status = "created".into();
            }
        });
        let _ = self.persist(c);
    }

    fn flush_pending(&self, c: &Container, msg: &str) {
        for p in std::mem::take(&mut *lock(&c.pending)) {
            let _ = p.tx.send(Err(ApiError::internal(msg.to_string())));
        }
    }

    /// Watches a run until its init process exits, then records the exit and applies
    /// `--rm` and restart policies.
    pub(crate) fn spawn_monitor(self: &Arc<Self>, c: Arc<Container>, shim: ShimClient) {
        let svc = self.clone();
        tokio::spawn(async move {
            let exit = match shim.wait().await {
                Ok(e) => (e.exit_code as i64, e.finished_at.clone(), e.oom_killed),
                Err(e) => {
                    // The shim vanished: its exit file still tells how the container ended.
                    match berth_shim::client::read_exit_file(&svc.shim_dir(&c.id)) {
                        Some(x) => (x.exit_code as i64, x.finished_at, x.oom_killed),
                        None => {
                            tracing::warn!("lost the shim of {}: {e}", c.id);
                            (255, now(), false)
                        }
                    }
                }
            };
            svc.on_exit(&c, exit).await;
        });
    }

    async fn on_exit(
        self: &Arc<Self>,
        c: &Arc<Container>,
        (code, finished, oom): (i64, String, bool),
    ) {
        *lock(&c.shim) = None;
        // dockerd forgets a container's exec instances when it stops (ExecIDs becomes null).
        lock(&c.exec_ids).clear();
        self.release_mounts(&c.snapshot());
        self.detach_networks(c).await;
        c.with(|r| {
            r.state.status = "exited".into();
            r.state.running = false;
            r.state.paused = false;
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.oom_killed = oom;
            r.state.finished_at = finished;
            if let Some(h) = r.state.health.as_mut() {
                h.status = "unhealthy".into();
            }
        });
        // Mark a container that will be restarted before waiters wake, so a remove right after
        // `wait` sees it restarting (dockerd refuses that without force).
        let rec = c.snapshot();
        if !rec.host_config.auto_remove.unwrap_or(false) && self.should_restart(&rec) {
            c.with(|r| {
                r.state.restarting = true;
                r.state.status = "restarting".into();
            });
        }
        let _ = self.persist(c);
        let mut a = attrs(&c.snapshot());
        a.insert("exitCode".into(), code.to_string());
        self.events.publish("container", "die", &c.id, a);
        c.wait_tx.send_modify(|w| {
            w.exits += 1;
            w.exit_code = code;
            w.running = false;
        });
        let rec = c.snapshot();
        if rec.host_config.auto_remove.unwrap_or(false) {
            let svc = self.clone();
            let id = c.id.clone();
            tokio::spawn(async move {
                if let Err(e) = svc.remove_with_volumes(&id, true, true).await {
                    tracing::warn!("auto-remove of {id}: {e}");
                }
            });
            return;
        }
        if self.should_restart(&rec) {
            let svc = self.clone();
            let c = c.clone();
            tokio::spawn(async move { svc.restart_after_backoff(c).await });
        }
    }

    fn should_restart(&self, rec: &ContainerRecord) -> bool {
        if rec.manually_stopped || rec.state.dead {
            return false;
        }
        let policy = rec.host_config.restart_policy.clone().unwrap_or_default();
        match policy.name.as_deref().unwrap_or("") {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                let max = policy.maximum_retry_count.unwrap_or(0);
                rec.state.exit_code != 0 && (max == 0 || rec.restart_count < max)
            }
            _ => false,
        }
    }

    async fn restart_after_backoff(self: Arc<Self>, c: Arc<Container>) {
        let n = c.snapshot().restart_count.clamp(0, 10) as u32;
        let delay =
            Duration::from_millis(100u64.saturating_mul(1 << n)).min(Duration::from_secs(60));
        c.with(|r| {
            r.state.restarting = true;
            r.state.status = "restarting".into();
        });
        let _ = self.persist(&c);
        // A backoff, not a wait for a condition: Docker delays restarts the same way.
        tokio::time::sleep(delay).await;
        let _op = c.op.lock().await;
        let rec = c.snapshot();
        if rec.state.running || rec.manually_stopped || self.find(&c.id).is_none() {
            c.with(|r| r.state.restarting = false);
            return;
        }
        c.with(|r| r.restart_count += 1);
        if let Err(e) = self.start_locked(&c).await {
            tracing::warn!("restart of {} failed: {e}", c.id);
            c.with(|r| r.state.restarting = false);
            let _ = self.persist(&c);
        } else {
            self.events
                .publish("container", "restart", &c.id, attrs(&c.snapshot()));
        }
    }

    /// Sends a signal. Fails if the container is not running.
    pub async fn kill(&self, name_or_id: &str, signal: Option<&str>) -> ApiResult<()> {
        let c = self.get(name_or_id)?;
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        let r = c.snapshot();
        let shim = c.shim().filter(|_| r.state.running).ok_or_else(|| {
            ApiError::conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                name_or_id, r.id
            ))
        })?;
        // As dockerd does, any user kill counts as a manual stop for the restart policy.
        c.with(|r| r.manually_stopped = true);
        let _ = self.persist(&c);
        if r.state.paused && sig == libc::SIGKILL {
            // SIGKILL reaches a frozen process only after thawing; do both.
            shim.kill(sig)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            let _ = shim.resume().await;
        } else {
            shim.kill(sig)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
        }
        let mut a = attrs(&r);
        a.insert("signal".into(), sig.to_string());
        self.events.publish("container", "kill", &c.id, a);
        // dockerd's SIGKILL kill returns only once the container is down, so an inspect right
        // after it already sees the exit code.
        if sig == libc::SIGKILL {
            self.wait_stopped(&c, Duration::from_secs(10)).await;
        }
        Ok(())
    }

    /// Waits until the container's init process is not running, up to `timeout`.
    async fn wait_stopped(&self, c: &Container, timeout: Duration) -> bool {
        let mut rx = c.wait_tx.subscribe();
        let res = tokio::time::timeout(timeout, rx.wait_for(|w| !w.running)).await;
        matches!(res, Ok(Ok(_)))
    }

    /// Stops a container: its stop signal, then SIGKILL after the timeout. `Ok(false)` = was not running.
    pub async fn stop(
        &self,
        name_or_id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> ApiResult<bool> {
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        self.stop_locked(&c, timeout, signal).await
    }

    pub(crate) async fn stop_locked(
        &self,
        c: &Container,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> ApiResult<bool> {
        let r = c.snapshot();
        c.with(|r| r.manually_stopped = true);
        let _ = self.persist(c);
        if !r.state.running {
            if r.state.restarting {
                c.with(|r| {
                    r.state.restarting = false;
                    r.state.status = "exited".into();
                });
                let _ = self.persist(c);
            }
            return Ok(false);
        }
        let Some(shim) = c.shim() else {
            return Ok(false);
        };
        let sig = parse_signal(
            signal
                .filter(|s| !s.is_empty())
                .or(r.config.stop_signal.as_deref())
                .unwrap_or("SIGTERM"),
        )?;
        let secs = timeout.or(r.config.stop_timeout).unwrap_or(10);
        if r.state.paused {
            let _ = shim.resume().await;
        }
        let _ = shim.kill(sig).await;
        let mut a = attrs(&r);
        a.insert("signal".into(), sig.to_string());
        self.events.publish("container", "kill", &c.id, a.clone());
        let graceful = secs >= 0 && self.wait_stopped(c, Duration::from_secs(secs as u64)).await;
        if !graceful {
            let _ = shim.kill(libc::SIGKILL).await;
            a.insert("signal".into(), "9".into());
            self.events.publish("container", "kill", &c.id, a);
            if !self.wait_stopped(c, Duration::from_secs(30)).await {
                return Err(ApiError::internal(format!(
                    "container {} did not stop after SIGKILL",
                    c.id
                )));
            }
        }
        self.events
            .publish("container", "stop", &c.id, attrs(&c.snapshot()));
        Ok(true)
    }

    /// Stop then start.
    pub async fn restart(
        self: &Arc<Self>,
        name_or_id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> ApiResult<()> {
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        self.stop_locked(&c, timeout, signal).await?;
        c.with(|r| {
            r.manually_stopped = false;
            r.restart_count = 0;
        });
        self.start_locked(&c).await?;
        self.events
            .publish("container", "restart", &c.id, attrs(&c.snapshot()));
        Ok(())
    }

    /// Freezes a running container.
    pub async fn pause(&self, name_or_id: &str) -> ApiResult<()> {
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        let r = c.snapshot();
        if !r.state.running {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        if r.state.paused {
            return Err(ApiError::conflict(format!(
                "Container {} is already paused",
                r.id
            )));
        }
        let shim = c
            .shim()
            .ok_or_else(|| ApiError::conflict(format!("Container {} is not running", r.id)))?;
        shim.pause()
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        c.with(|r| {
            r.state.paused = true;
            r.state.status = "paused".into();
        });
        self.persist(&c)?;
        self.events.publish("container", "pause", &c.id, attrs(&r));
        Ok(())
    }

    /// Thaws a paused container.
    pub async fn unpause(&self, name_or_id: &str) -> ApiResult<()> {
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        let r = c.snapshot();
        if !r.state.paused {
            return Err(ApiError::conflict(format!(
                "Container {} is not paused",
                r.id
            )));
        }
        let shim = c
            .shim()
            .ok_or_else(|| ApiError::conflict(format!("Container {} is not running", r.id)))?;
        shim.resume()
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        c.with(|r| {
            r.state.paused = false;
            r.state.status = "running".into();
        });
        self.persist(&c)?;
        self.events
            .publish("container", "unpause", &c.id, attrs(&r));
        Ok(())
    }

    /// Removes a container (killing it first with `force`).
    pub async fn remove(&self, name_or_id: &str, force: bool) -> ApiResult<()> {
        self.remove_with_volumes(name_or_id, force, false).await
    }

    /// `remove`, also removing the container's anonymous volumes when `volumes` (`rm -v`).
    pub async fn remove_with_volumes(
        &self,
        name_or_id: &str,
        force: bool,
        volumes: bool,
    ) -> ApiResult<()> {
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        if self.find(&c.id).is_none() {
            return Ok(());
        }
        let r = c.snapshot();
        if r.state.restarting && !r.state.running && !force {
            return Err(ApiError::conflict(format!(
                "You cannot remove a restarting container {}. Stop the container before attempting removal or force remove",
                r.id
            )));
        }
        if r.state.running {
            if !force {
                let msg = if r.state.paused {
                    format!(
                        "You cannot remove a paused container {}. Unpause and then stop the container before attempting removal or force remove",
                        r.id
                    )
                } else {
                    format!(
                        "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                        r.id
                    )
                };
                return Err(ApiError::conflict(msg));
            }
            c.with(|r| r.manually_stopped = true);
            if let Some(shim) = c.shim() {
                let _ = shim.kill(libc::SIGKILL).await;
                if r.state.paused {
                    let _ = shim.resume().await;
                }
            }
            if !self.wait_stopped(&c, Duration::from_secs(30)).await {
                return Err(ApiError::internal(format!(
                    "Could not kill running container {}, cannot remove",
                    r.id
                )));
            }
        } else if let Some(shim) = c.shim() {
            let _ = shim.shutdown().await;
        }
        c.with(|r| {
            r.manually_stopped = true;
            r.state.status = "removing".into();
        });
        self.unpersist(&c.id)?;
        self.forget(&c);
        for exec_id in std::mem::take(&mut *lock(&c.exec_ids)) {
            lock(&self.execs).remove(&exec_id);
        }
        // Unmounting the rootfs syncs the upper filesystem; the network teardown need not wait.
        tokio::join!(self.cleanup_files(&c.id), self.detach_networks(&c));
        self.release_mounts(&r);
        if volumes {
            self.remove_anonymous_volumes(&r);
        }
        // The image may have been force-removed while this container held its layers.
        let image_gone = r
            .image
            .parse::<berth_core::Digest>()
            .is_ok_and(|d| self.images.layer_chain(&d).is_err());
        if image_gone {
            tokio::task::block_in_place(|| self.gc_orphan_layers());
        }
        self.events
            .publish("container", "destroy", &c.id, attrs(&r));
        c.wait_tx.send_modify(|w| w.removed = true);
        Ok(())
    }

    /// `POST /containers/{id}/wait`: resolves when the condition holds; returns the exit code.
    pub async fn wait(
        &self,
        name_or_id: &str,
        condition: &str,
    ) -> ApiResult<impl Future<Output = i64> + Send + 'static> {
        let c = self.get(name_or_id)?;
        let mut rx = c.wait_tx.subscribe();
        let start: WaitState = rx.borrow().clone();
        let cond = match condition {
            "" | "not-running" => 0,
            "next-exit" => 1,
            "removed" => 2,
            other => return Err(ApiError::invalid(format!("invalid condition: \"{other}\""))),
        };
        let c2 = c.clone();
        Ok(async move {
            let res = rx
                .wait_for(|w| match cond {
                    0 => !w.running,
                    1 => w.exits > start.exits,
                    _ => w.removed,
                })
                .await
                .map(|w| w.exit_code);
            res.unwrap_or_else(|_| c2.snapshot().state.exit_code)
        })
    }
}

/// Parses Docker's sizes: `10m`, `1g`, `512k`, `100` (bytes).
pub fn parse_size(s: &str) -> ApiResult<u64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1024u64),
        Some('m') => (&t[..t.len() - 1], 1024 * 1024),
        Some('g') => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| ApiError::invalid(format!("invalid size: '{s}'")))?;
    Ok((n * mult as f64) as u64)
}

/// Live restore of one container at daemon start: re-adopt its shim, or record how it ended
/// while we were away and apply its restart policy.
pub async fn restore(svc: &Arc<ContainerService>, c: &Arc<Container>) {
    let r = c.snapshot();
    if !r.state.running && !r.state.restarting {
        return;
    }
    let shim = ShimClient::open(&svc.shim_dir(&c.id));
    if shim.is_alive() {
        match shim.state().await {
            Ok(st) if st.status == "running" || st.status == "paused" => {
                *lock(&c.shim) = Some(shim.clone());
                c.with(|r| {
                    r.state.paused = st.status == "paused";
                    r.state.status = st.status.clone();
                });
                c.wait_tx.send_modify(|w| w.running = true);
                svc.spawn_monitor(c.clone(), shim);
                crate::containers::exec::spawn_healthcheck(svc.clone(), c.clone());
                return;
            }
            _ => {}
        }
    }
    let (code, finished, oom) = match berth_shim::client::read_exit_file(&svc.shim_dir(&c.id)) {
        Some(x) => (x.exit_code as i64, x.finished_at, x.oom_killed),
        None => (255, now(), false),
    };
    svc.on_exit(c, (code, finished, oom)).await;
}
