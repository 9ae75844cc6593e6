//! `POST /containers/create`: merge the image's defaults into the request the way Docker does,
//! prepare the writable layer, and store the record.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::{ContainerConfig, ContainerCreateRequest};
use berth_core::Reference;

use super::{ContainerRecord, ContainerService, StateRecord, lifecycle, lock, names};
use crate::error::{ApiError, ApiResult};

/// Result of a create.
pub struct Created {
    /// New container id.
    pub id: String,
    /// Warnings for the client.
    pub warnings: Vec<String>,
}

/// Merges image defaults into the user's config, as dockerd's `merge` does.
pub fn merge_image_config(cfg: &mut ContainerConfig, img: &berth_image::RunConfig) {
    let user_entrypoint = cfg.entrypoint.clone();
    match user_entrypoint {
        // `--entrypoint ""` clears the image's entrypoint (and its default command).
        Some(ep) if ep.len() == 1 && ep[0].is_empty() => {
            cfg.entrypoint = None;
        }
        Some(ep) if !ep.is_empty() => {}
        _ => {
            cfg.entrypoint = img.entrypoint.clone().filter(|e| !e.is_empty());
            if cfg.cmd.as_ref().is_none_or(|c| c.is_empty()) {
                cfg.cmd = img.cmd.clone();
            }
        }
    }
    let mut env: Vec<String> = img.env.clone().unwrap_or_default();
    for kv in cfg.env.clone().unwrap_or_default() {
        let key = kv.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    cfg.env = if env.is_empty() { None } else { Some(env) };
    if cfg.working_dir.as_deref().unwrap_or("").is_empty() {
        cfg.working_dir = img.working_dir.clone().filter(|w| !w.is_empty());
    }
    if cfg.user.as_deref().unwrap_or("").is_empty() {
        cfg.user = img.user.clone().filter(|u| !u.is_empty());
    }
    if let Some(img_labels) = &img.labels {
        let mut labels: BTreeMap<String, String> = img_labels.clone().into_iter().collect();
        for (k, v) in cfg.labels.clone().unwrap_or_default() {
            labels.insert(k, v);
        }
        cfg.labels = Some(labels.into_iter().collect());
    }
    if let Some(ports) = &img.exposed_ports {
        let mut all = cfg.exposed_ports.clone().unwrap_or_default();
        for (k, v) in ports {
            all.entry(k.clone()).or_insert_with(|| v.clone());
        }
        cfg.exposed_ports = Some(all);
    }
    if let Some(vols) = &img.volumes {
        let mut all = cfg.volumes.clone().unwrap_or_default();
        for (k, v) in vols {
            all.entry(k.clone()).or_insert_with(|| v.clone());
        }
        cfg.volumes = Some(all);
    }
    if cfg.stop_signal.as_deref().unwrap_or("").is_empty() {
        cfg.stop_signal = img.stop_signal.clone().filter(|s| !s.is_empty());
    }
    if cfg.healthcheck.is_none()
        && let Some(hc) = &img.healthcheck
    {
        cfg.healthcheck = serde_json::from_value(serde_json::to_value(hc).unwrap_or_default()).ok();
    }
    if cfg.on_build.is_none() {
        cfg.on_build = img.on_build.clone();
    }
}

impl ContainerService {
    /// Creates a container; nothing is left behind on failure.
    pub async fn create(
        self: &Arc<Self>,
        name: Option<&str>,
        req: ContainerCreateRequest,
    ) -> ApiResult<Created> {
        let mut cfg = req.config;
        let mut host = req.host_config.unwrap_or_default();
        let networking = req.networking_config;
        let image_name = cfg.image.clone().unwrap_or_default();
        if image_name.is_empty() {
            return Err(ApiError::invalid(
                "Config cannot be empty in order to create a container",
            ));
        }
        let images = self.images.clone();
        let lookup = image_name.clone();
        let image = tokio::task::spawn_blocking(move || images.get(&lookup))
            .await?
            .map_err(|e| {
                use berth_core::Classify;
                if e.kind() == berth_core::ErrorKind::NotFound {
                    let shown = Reference::parse(&image_name)
                        .map(|r| r.with_default_tag().familiar_string())
                        .unwrap_or_else(|_| image_name.clone());
                    ApiError::not_found(format!("No such image: {shown}"))
                } else {
                    ApiError::from_classified(e)
                }
            })?;
        let img_cfg = image.config.config.clone().unwrap_or_default();
        merge_image_config(&mut cfg, &img_cfg);
        // dockerd always stores a label map on containers (`{}` when there are none).
        cfg.labels.get_or_insert_with(Default::default);
        let mut argv: Vec<String> = cfg.entrypoint.clone().unwrap_or_default();
        argv.extend(cfg.cmd.clone().unwrap_or_default());
        if argv.is_empty() {
            return Err(ApiError::invalid("No command specified"));
        }
        // Validate the host config before touching anything.
        let runtime = host
            .runtime
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| self.cfg.default_runtime.clone());
        if self.cfg.runtime_path(&runtime).is_none() {
            return Err(ApiError::invalid(format!(
                "Unknown runtime specified {runtime}"
            )));
        }
        host.runtime = Some(runtime.clone());
        let policy = host.restart_policy.clone().unwrap_or_default();
        let policy_name = policy.name.clone().unwrap_or_default();
        match policy_name.as_str() {
            "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
            other => {
                return Err(ApiError::invalid(format!(
                    "invalid restart policy '{other}'"
                )));
            }
        }
        if policy_name != "on-failure" && policy.maximum_retry_count.unwrap_or(0) != 0 {
            return Err(ApiError::invalid(
                "maximum retry count cannot be used with restart policy 'always'",
            ));
        }
        if host.auto_remove.unwrap_or(false) && !matches!(policy_name.as_str(), "" | "no") {
            return Err(ApiError::invalid(
                "can't create 'AutoRemove' container with restart policy",
            ));
        }
        if let Some(other) = host
            .network_mode
            .as_deref()
            .and_then(|m| m.strip_prefix("container:"))
        {
            self.get(other)?;
        }
        let log_driver = host
            .log_config
            .as_ref()
            .and_then(|l| l.r#type.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| self.cfg.log_driver.clone());
        if !matches!(log_driver.as_str(), "json-file" | "local" | "none") {
            return Err(ApiError::invalid(format!(
                "error looking up logging plugin {log_driver}: plugin \"{log_driver}\" not found"
            )));
        }
        crate::containers::lifecycle::parse_signal(
            cfg.stop_signal.as_deref().unwrap_or("SIGTERM"),
        )?;
        let mut log_cfg = host.log_config.clone().unwrap_or_default();
        log_cfg.r#type = Some(log_driver.clone());
        if log_cfg.config.is_none() {
            log_cfg.config = Some(self.cfg.log_opts.clone().into_iter().collect());
        }
        host.log_config = Some(log_cfg);
        host.fill_defaults(crate::routes::system::cgroup_version() == "2");

        let id = berth_core::generate_id();
        let name = {
            let idx = lock(&self.names);
            let n = match name.filter(|n| !n.is_empty()) {
                Some(n) => names::validate(n)?,
                None => names::generate(&idx),
            };
            if let Some(other) = idx.get(&n) {
                return Err(ApiError::conflict(format!(
                    "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            n
        };
        if cfg.hostname.as_deref().unwrap_or("").is_empty() {
            cfg.hostname = Some(id[..12].to_string());
        }
        cfg.image = Some(image_name.clone());
        let dir = self.container_dir(&id);
        let log_path = match log_driver.as_str() {
            "none" => String::new(),
            // Docker's local driver keeps its file here and never shows it in LogPath.
            "local" => dir
                .join("local-logs")
                .join(berth_shim::logfile::LOCAL_LOG_NAME)
                .display()
                .to_string(),
            _ => dir.join(format!("{id}-json.log")).display().to_string(),
        };
        let host_mode = host
            .network_mode
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "default".into());
        let mut endpoints = crate::containers::network::requested_endpoints(
            host_mode.as_str(),
            networking.as_ref(),
        );
        self.validate_endpoints(&mut endpoints)?;
        let rec = ContainerRecord {
            id: id.clone(),
            name: format!("/{name}"),
            created: berth_core::time::rfc3339_nanos(chrono::Utc::now()),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            config: cfg,
            host_config: host,
            image: image.id.to_string(),
            state: StateRecord {
                status: "created".into(),
                started_at: berth_core::time::ZERO_TIME.into(),
                finished_at: berth_core::time::ZERO_TIME.into(),
                ..Default::default()
            },
            restart_count: 0,
            manually_stopped: false,
            has_been_started: false,
            driver: self.snap.name().to_string(),
            runtime,
            log_path,
            networks: endpoints,
            sandbox_key: String::new(),
            ports: Default::default(),
            mounts: Vec::new(),
        };
        // Reserve the name first so a concurrent create with the same name fails.
        {
            let mut idx = lock(&self.names);
            if let Some(other) = idx.get(&name) {
                return Err(ApiError::conflict(format!(
                    "Conflict. The container name \"/{name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            idx.insert(&name, &id);
        }
        let snap = self.snap.clone();
        let chain = {
            let images = self.images.clone();
            let img_id = image.id.clone();
            tokio::task::spawn_blocking(move || images.layer_chain(&img_id)).await?
        };
        let prepared = match chain {
            Ok(chain) => {
                let id2 = id.clone();
                let dir2 = dir.clone();
                tokio::task::spawn_blocking(move || -> ApiResult<()> {
                    std::fs::create_dir_all(dir2.join("rootfs"))?;
                    snap.prepare(&id2, chain.as_ref())?;
                    snap.mount(&id2, &dir2.join("rootfs"))?;
                    Ok(())
                })
                .await?
            }
            Err(e) => Err(ApiError::from_classified(e)),
        };
        let prepared = match prepared {
            Ok(()) => {
                let svc = self.clone();
                let rec2 = rec.clone();
                let rootfs = dir.join("rootfs");
                tokio::task::spawn_blocking(move || svc.plan_mounts(&rec2, &rootfs)).await?
            }
            Err(e) => Err(e),
        };
        let mut rec = rec;
        match prepared {
            Ok(mounts) => rec.mounts = mounts,
            Err(e) => {
                lock(&self.names).remove(&name);
                self.cleanup_files(&id).await;
                return Err(e);
            }
        }
        let c = self.insert(rec);
        if let Err(e) = self.persist(&c) {
            self.forget(&c);
            self.cleanup_files(&id).await;
            return Err(e);
        }
        self.events
            .publish("container", "create", &id, lifecycle::attrs(&c.snapshot()));
        Ok(Created {
            id,
            warnings: Vec::new(),
        })
    }

    /// Removes a container's writable layer, bundle directory and shim state (best effort).
    pub async fn cleanup_files(&self, id: &str) {
        let snap = self.snap.clone();
        let dir = self.container_dir(id);
        let shim_dir = self.shim_dir(id);
        let id = id.to_string();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = snap.unmount(&dir.join("rootfs")) {
                tracing::warn!("unmounting rootfs of {id}: {e}");
            }
            if let Err(e) = snap.remove(&id) {
                tracing::warn!("removing layer of {id}: {e}");
            }
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_dir_all(&shim_dir);
        })
        .await;
    }
}
