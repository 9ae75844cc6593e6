//! `docker exec` instances and healthchecks (which are execs run on a schedule).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;

use super::{Container, ContainerService, lifecycle::attrs, lock, record::HealthLogEntry};
use crate::error::{ApiError, ApiResult};

/// What `POST /containers/{id}/exec` asked for.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    /// Command.
    pub cmd: Vec<String>,
    /// Extra environment.
    pub env: Vec<String>,
    /// User override.
    pub user: String,
    /// Working directory override.
    pub working_dir: String,
    /// Allocate a TTY.
    pub tty: bool,
    /// All capabilities.
    pub privileged: bool,
    /// Streams to attach.
    pub attach_stdin: bool,
    /// Streams to attach.
    pub attach_stdout: bool,
    /// Streams to attach.
    pub attach_stderr: bool,
    /// Detach key sequence.
    pub detach_keys: String,
}

/// Mutable state of an exec.
#[derive(Debug, Clone, Default)]
pub struct ExecRun {
    /// Started at least once.
    pub started: bool,
    /// Still running.
    pub running: bool,
    /// Host pid.
    pub pid: i64,
    /// Exit code once known.
    pub exit_code: Option<i64>,
}

/// One exec instance.
pub struct ExecInstance {
    /// Exec id.
    pub id: String,
    /// Container id.
    pub container_id: String,
    /// Request.
    pub spec: ExecSpec,
    /// State.
    pub run: Mutex<ExecRun>,
}

impl ExecInstance {
    /// `GET /exec/{id}/json`.
    pub fn inspect_json(&self) -> Value {
        let r = lock(&self.run).clone();
        let (entry, args) = match self.spec.cmd.split_first() {
            Some((e, a)) => (e.clone(), a.to_vec()),
            None => (String::new(), Vec::new()),
        };
        let mut v = json!({
            "CanRemove": false,
            "ContainerID": self.container_id,
            "DetachKeys": self.spec.detach_keys,
            "ExitCode": r.exit_code,
            "ID": self.id,
            "OpenStderr": self.spec.attach_stderr,
            "OpenStdin": self.spec.attach_stdin,
            "OpenStdout": self.spec.attach_stdout,
            "ProcessConfig": {"arguments": args, "entrypoint": entry, "privileged": self.spec.privileged,
                              "tty": self.spec.tty, "user": self.spec.user},
            "Running": r.running,
            "Pid": r.pid
        });
        // dockerd omits an empty user (`omitempty`).
        if self.spec.user.is_empty()
            && let Some(pc) = v.get_mut("ProcessConfig").and_then(|p| p.as_object_mut())
        {
            pc.remove("user");
        }
        v
    }
}

/// Whether a healthcheck config actually checks something.
pub fn healthcheck_enabled(hc: &berth_api::HealthConfig) -> bool {
    match hc.test.as_deref() {
        Some([first, ..]) => first != "NONE",
        _ => false,
    }
}

impl ContainerService {
    /// Registers an exec; the container must be running.
    pub fn exec_create(&self, name_or_id: &str, spec: ExecSpec) -> ApiResult<String> {
        let c = self.get(name_or_id)?;
        let r = c.snapshot();
        if !r.state.running || r.state.restarting {
            return Err(ApiError::conflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        if r.state.paused {
            return Err(ApiError::conflict(format!(
                "Container {} is paused, unpause the container before exec",
                r.id
            )));
        }
        if spec.cmd.is_empty() {
            return Err(ApiError::invalid("No exec command specified"));
        }
        let id = berth_core::generate_id();
        let inst = Arc::new(ExecInstance {
            id: id.clone(),
            container_id: r.id.clone(),
            spec,
            run: Mutex::new(ExecRun::default()),
        });
        lock(&self.execs).insert(id.clone(), inst);
        lock(&c.exec_ids).push(id.clone());
        let mut a = attrs(&r);
        a.insert("execID".into(), id.clone());
        self.events
            .publish("container", &format!("exec_create: {}", "exec"), &r.id, a);
        Ok(id)
    }

    /// Looks an exec up.
    pub fn exec_get(&self, id: &str) -> ApiResult<Arc<ExecInstance>> {
        lock(&self.execs)
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }

    /// The OCI process of an exec: the container's process with the exec's overrides.
    fn exec_process(&self, c: &Container, spec: &ExecSpec, tty: bool) -> ApiResult<Value> {
        let dir = self.container_dir(&c.id);
        let bytes = std::fs::read(dir.join("config.json"))?;
        let full: Value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(e.to_string()))?;
        let mut p = full.get("process").cloned().unwrap_or_else(|| json!({}));
        p["args"] = json!(spec.cmd);
        p["terminal"] = json!(tty);
        if !spec.env.is_empty() {
            let mut env: Vec<String> = p["env"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            for kv in &spec.env {
                let key = kv.split('=').next().unwrap_or("");
                env.retain(|e| e.split('=').next() != Some(key));
                env.push(kv.clone());
            }
            p["env"] = json!(env);
        }
        if !spec.working_dir.is_empty() {
            p["cwd"] = json!(spec.working_dir);
        }
        if !spec.user.is_empty() {
            let group_add = c.snapshot().host_config.group_add.unwrap_or_default();
            let u = super::inspect::user_with_groups(&dir.join("rootfs"), &spec.user, &group_add)?;
            p["user"] = json!({"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids});
        }
        if spec.privileged {
            let all = berth_oci::capabilities(&["ALL".to_string()], &[], true)
                .map_err(|e| ApiError::invalid(e.to_string()))?;
            p["capabilities"] = json!({"bounding": all, "effective": all, "permitted": all});
        }
        if let Some(obj) = p.as_object_mut() {
            obj.remove("consoleSize");
        }
        Ok(p)
    }

    /// Starts an exec. Returns its stream unless `detach`.
    pub async fn exec_start(
        &self,
        id: &str,
        detach: bool,
        tty: Option<bool>,
    ) -> ApiResult<Option<tokio::net::UnixStream>> {
        let inst = self.exec_get(id)?;
        {
            let mut run = lock(&inst.run);
            if run.started {
                return Err(ApiError::conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
            run.started = true;
        }
        let c = self.get(&inst.container_id)?;
        let r = c.snapshot();
        let shim = c
            .shim()
            .filter(|_| r.state.running)
            .ok_or_else(|| ApiError::conflict(format!("Container {} is not running", r.id)))?;
        let tty = tty.unwrap_or(inst.spec.tty) || inst.spec.tty;
        // As in dockerd, an exec that cannot be set up or started (unknown user, missing or
        // non-executable command) ends with exit code 126.
        let failed = |e: ApiError| {
            let mut run = lock(&inst.run);
            run.running = false;
            run.exit_code = Some(126);
            e
        };
        let process = self.exec_process(&c, &inst.spec, tty).map_err(failed)?;
        match shim.exec(id, &process, detach).await {
            Ok((pid, stream)) => {
                let mut run = lock(&inst.run);
                run.running = true;
                run.pid = pid as i64;
                let mut a = attrs(&r);
                a.insert("execID".into(), id.to_string());
                self.events
                    .publish("container", "exec_start: exec", &r.id, a);
                Ok(stream)
            }
            Err(e) => Err(failed(ApiError::new(
                berth_core::ErrorKind::Internal,
                format!(
                    "OCI runtime exec failed: exec failed: unable to start container process: {e}: unknown"
                ),
            ))),
        }
    }

    /// Refreshes an exec's running/exit state from the shim.
    pub async fn exec_refresh(&self, inst: &ExecInstance) {
        let running = lock(&inst.run).running;
        if !running {
            return;
        }
        let shim = self.find(&inst.container_id).and_then(|c| c.shim());
        let Some(shim) = shim else {
            let mut run = lock(&inst.run);
            run.running = false;
            run.exit_code.get_or_insert(137);
            return;
        };
        if let Ok(st) = shim.exec_state(&inst.id).await {
            let mut run = lock(&inst.run);
            run.running = st.running;
            if let Some(code) = st.exit_code {
                run.exit_code = Some(code as i64);
            }
            if st.pid > 0 {
                run.pid = st.pid as i64;
            }
        }
    }

    /// Waits (bounded) for an exec's exit code after its stream closed.
    pub async fn exec_finish(&self, inst: &ExecInstance) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            self.exec_refresh(inst).await;
            if !lock(&inst.run).running || tokio::time::Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn dur(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

/// Runs the container's healthcheck on its schedule while the container runs.
pub fn spawn_healthcheck(svc: Arc<ContainerService>, c: Arc<Container>) {
    let Some(hc) = c
        .snapshot()
        .config
        .healthcheck
        .clone()
        .filter(healthcheck_enabled)
    else {
        return;
    };
    let cmd: Vec<String> = match hc.test.clone().unwrap_or_default().split_first() {
        Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
        Some((kind, rest)) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]
        }
        _ => return,
    };
    let interval = dur(hc.interval, Duration::from_secs(30));
    let timeout = dur(hc.timeout, Duration::from_secs(30));
    let start_period = dur(hc.start_period, Duration::ZERO);
    let retries = hc.retries.filter(|r| *r > 0).unwrap_or(3);
    let started = tokio::time::Instant::now();
    let mut rx = c.wait_tx.subscribe();
    tokio::spawn(async move {
        loop {
            // The schedule itself is the condition here: probes run every `interval`.
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = rx.wait_for(|w| !w.running) => return,
            }
            let Some(shim) = c.shim() else { return };
            let exec_id = berth_core::generate_id();
            let start = berth_core::time::rfc3339_nanos(chrono::Utc::now());
            let spec = ExecSpec {
                cmd: cmd.clone(),
                attach_stdout: true,
                attach_stderr: true,
                ..Default::default()
            };
            let process = match svc.exec_process(&c, &spec, false) {
                Ok(p) => p,
                Err(_) => return,
            };
            let (code, output) = match tokio::time::timeout(timeout, async {
                let (_, stream) = shim
                    .exec(&exec_id, &process, false)
                    .await
                    .map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                if let Some(mut s) = stream {
                    let _ = s.read_to_end(&mut out).await;
                }
                let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                loop {
                    if let Ok(st) = shim.exec_state(&exec_id).await
                        && let Some(code) = st.exit_code
                    {
                        return Ok::<_, String>((code as i64, demux(&out)));
                    }
                    if tokio::time::Instant::now() > deadline {
                        return Ok((-1, demux(&out)));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => (-1, e),
                Err(_) => (-1, format!("Health check exceeded timeout ({timeout:?})")),
            };
            let end = berth_core::time::rfc3339_nanos(chrono::Utc::now());
            let in_start_period = started.elapsed() < start_period;
            let mut changed = None;
            c.with(|r| {
                let h = r.state.health.get_or_insert_with(Default::default);
                let before = h.status.clone();
                if code == 0 {
                    h.failing_streak = 0;
                    h.status = "healthy".into();
                } else if !in_start_period {
                    h.failing_streak += 1;
                    if h.failing_streak >= retries {
                        h.status = "unhealthy".into();
                    }
                }
                h.log.push(HealthLogEntry {
                    start,
                    end,
                    exit_code: code,
                    output: output.chars().take(4096).collect(),
                });
                if h.log.len() > 5 {
                    h.log.remove(0);
                }
                if before != h.status {
                    changed = Some(h.status.clone());
                }
            });
            let _ = svc.persist(&c);
            if let Some(status) = changed {
                svc.events.publish(
                    "container",
                    &format!("health_status: {status}"),
                    &c.id,
                    attrs(&c.snapshot()),
                );
            }
        }
    });
}

/// Joins the payloads of Docker multiplexed frames.
pub fn demux(buf: &[u8]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 8 <= buf.len() {
        let len = u32::from_be_bytes([buf[i + 4], buf[i + 5], buf[i + 6], buf[i + 7]]) as usize;
        let end = (i + 8 + len).min(buf.len());
        out.extend_from_slice(&buf[i + 8..end]);
        i = end;
    }
    String::from_utf8_lossy(&out).into_owned()
}
