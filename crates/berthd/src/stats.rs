//! `docker stats` from the container's cgroup (v1 or v2) and `docker update` of its limits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::containers::{Container, ContainerService};
use crate::error::{ApiError, ApiResult};

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn read_kv(p: &Path) -> Vec<(String, u64)> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// Where a container's cgroup lives.
#[derive(Debug, Clone)]
pub enum CgroupPaths {
    /// Unified hierarchy directory.
    V2(PathBuf),
    /// v1: one directory per controller.
    V1 {
        /// memory controller dir.
        memory: PathBuf,
        /// cpu controller dir (cpu.* files).
        cpu: PathBuf,
        /// cpuacct controller dir (cpuacct.* files); the same as `cpu` when co-mounted.
        cpuacct: PathBuf,
        /// pids dir.
        pids: PathBuf,
        /// blkio dir.
        blkio: PathBuf,
    },
}

/// Cgroup directories of a container under this daemon's parent.
pub fn cgroup_paths(svc: &ContainerService, id: &str) -> CgroupPaths {
    let rel = format!("{}/{}", svc.cfg.cgroup_parent().trim_start_matches('/'), id);
    if crate::routes::system::cgroup_version() == "2" {
        return CgroupPaths::V2(Path::new("/sys/fs/cgroup").join(rel));
    }
    let base = Path::new("/sys/fs/cgroup");
    // cpu and cpuacct are co-mounted on most hosts, separate on some (as here).
    let first = |names: &[&str]| {
        names
            .iter()
            .map(|c| base.join(c))
            .find(|p| p.exists())
            .unwrap_or_else(|| base.join(names[names.len() - 1]))
    };
    let cpu = first(&["cpu,cpuacct", "cpuacct,cpu", "cpu"]);
    let cpuacct = first(&["cpu,cpuacct", "cpuacct,cpu", "cpuacct"]);
    CgroupPaths::V1 {
        memory: base.join("memory").join(&rel),
        cpu: cpu.join(&rel),
        cpuacct: cpuacct.join(&rel),
        pids: base.join("pids").join(&rel),
        blkio: base.join("blkio").join(&rel),
    }
}

fn system_cpu_usage() -> u64 {
    // Sum of /proc/stat cpu jiffies in nanoseconds (Docker's definition, USER_HZ = 100).
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = s.lines().next().unwrap_or("");
    let jiffies: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    jiffies * 10_000_000
}

fn sample(paths: &CgroupPaths) -> Value {
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    match paths {
        CgroupPaths::V1 {
            memory,
            cpu,
            cpuacct,
            pids,
            ..
        } => {
            let usage = read_u64(&memory.join("memory.usage_in_bytes")).unwrap_or(0);
            // An unlimited cgroup v1 reads as ~8 EiB; dockerd shows the host's memory instead.
            let limit = read_u64(&memory.join("memory.limit_in_bytes"))
                .unwrap_or(u64::MAX)
                .min(host_memory());
            let stats: serde_json::Map<String, Value> = read_kv(&memory.join("memory.stat"))
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
            let total = read_u64(&cpuacct.join("cpuacct.usage")).unwrap_or(0);
            let percpu: Vec<u64> = std::fs::read_to_string(cpuacct.join("cpuacct.usage_percpu"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            let st = read_kv(&cpuacct.join("cpuacct.stat"));
            let get = |k: &str| {
                st.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| *v * 10_000_000)
                    .unwrap_or(0)
            };
            let thr = read_kv(&cpu.join("cpu.stat"));
            let tget = |k: &str| {
                thr.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| *v)
                    .unwrap_or(0)
            };
            json!({
                "pids_stats": {"current": read_u64(&pids.join("pids.current")).unwrap_or(0)},
                "cpu_stats": {"cpu_usage": {"total_usage": total, "percpu_usage": percpu, "usage_in_kernelmode": get("system"), "usage_in_usermode": get("user")},
                              "system_cpu_usage": system_cpu_usage(), "online_cpus": ncpu,
                              "throttling_data": {"periods": tget("nr_periods"), "throttled_periods": tget("nr_throttled"), "throttled_time": tget("throttled_time")}},
                "memory_stats": {"usage": usage, "max_usage": read_u64(&memory.join("memory.max_usage_in_bytes")).unwrap_or(0), "stats": stats, "limit": limit},
            })
        }
        CgroupPaths::V2(dir) => {
            let usage = read_u64(&dir.join("memory.current")).unwrap_or(0);
            let limit = std::fs::read_to_string(dir.join("memory.max"))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or_else(|| {
                    std::fs::read_to_string("/proc/meminfo")
                        .ok()
                        .and_then(|s| {
                            s.lines()
                                .next()
                                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                        })
                        .unwrap_or(0)
                        * 1024
                });
            let stats: serde_json::Map<String, Value> = read_kv(&dir.join("memory.stat"))
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
            let cpu = read_kv(&dir.join("cpu.stat"));
            let get = |k: &str| {
                cpu.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| *v)
                    .unwrap_or(0)
            };
            json!({
                "pids_stats": {"current": read_u64(&dir.join("pids.current")).unwrap_or(0)},
                "cpu_stats": {"cpu_usage": {"total_usage": get("usage_usec") * 1000, "usage_in_kernelmode": get("system_usec") * 1000, "usage_in_usermode": get("user_usec") * 1000},
                              "system_cpu_usage": system_cpu_usage(), "online_cpus": ncpu,
                              "throttling_data": {"periods": get("nr_periods"), "throttled_periods": get("nr_throttled"), "throttled_time": get("throttled_usec") * 1000}},
                "memory_stats": {"usage": usage, "stats": stats, "limit": limit},
            })
        }
    }
}

fn stats_json(c: &Container, paths: &CgroupPaths, pre: &Value, running: bool) -> Value {
    let r = c.snapshot();
    let now = berth_core::time::rfc3339_nanos(chrono::Utc::now());
    let cur = if running {
        sample(paths)
    } else {
        json!({"pids_stats": {}, "cpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}, "memory_stats": {}})
    };
    let mut v = json!({
        "name": r.name,
        "id": r.id,
        "read": now,
        "preread": if pre.is_null() { berth_core::time::ZERO_TIME.to_string() } else { pre["read"].as_str().unwrap_or(berth_core::time::ZERO_TIME).to_string() },
        "pids_stats": cur["pids_stats"],
        "blkio_stats": {"io_service_bytes_recursive": [], "io_serviced_recursive": [], "io_queue_recursive": [],
                        "io_service_time_recursive": [], "io_wait_time_recursive": [], "io_merged_recursive": [],
                        "io_time_recursive": [], "sectors_recursive": []},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cur["cpu_stats"],
        "precpu_stats": if pre.is_null() { json!({"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}) } else { pre["cpu_stats"].clone() },
        "memory_stats": cur["memory_stats"],
    });
    // Interface counters of the container's own namespace; dockerd omits the key for
    // host/none/container: modes.
    let mode = crate::containers::network::mode(&r);
    if crate::containers::network::has_own_endpoints(&mode) && running && r.state.pid > 0 {
        v["networks"] = net_dev(r.state.pid);
    }
    v
}

/// The stats stream: one sample per second (or one, with `stream=false`: Docker then takes two
/// samples a second apart so CPU percentages can be computed, unless `one-shot`).
pub fn stream(
    svc: Arc<ContainerService>,
    c: Arc<Container>,
    stream: bool,
    one_shot: bool,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let paths = cgroup_paths(&svc, &c.id);
        let mut pre = Value::Null;
        if !stream && !one_shot && c.snapshot().state.running {
            pre = stats_json(&c, &paths, &Value::Null, true);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        loop {
            let running = c.snapshot().state.running;
            let cur = stats_json(&c, &paths, &pre, running);
            let mut line = serde_json::to_vec(&cur).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Ok(Bytes::from(line))).await.is_err() || !stream {
                return;
            }
            pre = cur;
            // Docker samples once per second.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}

fn write_cg(p: &Path, v: &str) -> ApiResult<()> {
    std::fs::write(p, v).map_err(|e| {
        ApiError::internal(format!(
            "Cannot update container: writing {}: {e}",
            p.display()
        ))
    })
}

/// `docker update`: new limits go to the live cgroup and the record; restart policy to the record.
pub async fn update(
    svc: &Arc<ContainerService>,
    name_or_id: &str,
    req: berth_api::ContainerUpdateRequest,
) -> ApiResult<Vec<String>> {
    let c = svc.get(name_or_id)?;
    let r = c.snapshot();
    if let Some(p) = &req.restart_policy
        && r.host_config.auto_remove.unwrap_or(false)
        && !matches!(p.name.as_deref(), None | Some("") | Some("no"))
    {
        return Err(ApiError::invalid(
            "Cannot update container: Restart policy cannot be updated because AutoRemove is enabled for the container",
        ));
    }
    let paths = cgroup_paths(svc, &c.id);
    let running = r.state.running;
    let period = req.cpu_period.filter(|p| *p > 0).unwrap_or(100_000);
    let quota = match (req.nano_cpus, req.cpu_quota) {
        (Some(n), _) if n > 0 => Some(n * period / 1_000_000_000),
        (_, Some(q)) if q != 0 => Some(q),
        _ => None,
    };
    if running {
        match &paths {
            CgroupPaths::V1 {
                memory, cpu, pids, ..
            } => {
                if let Some(m) = req.memory.filter(|m| *m > 0) {
                    // The swap limit must never be below the memory limit; raise it first.
                    if memory.join("memory.memsw.limit_in_bytes").exists() {
                        let swap = req.memory_swap.filter(|s| *s != 0).unwrap_or(m * 2);
                        let _ = std::fs::write(
                            memory.join("memory.memsw.limit_in_bytes"),
                            if swap < 0 {
                                "-1".to_string()
                            } else {
                                swap.max(m).to_string()
                            },
                        );
                    }
                    write_cg(&memory.join("memory.limit_in_bytes"), &m.to_string())?;
                }
                if let Some(q) = quota {
                    write_cg(&cpu.join("cpu.cfs_period_us"), &period.to_string())?;
                    write_cg(&cpu.join("cpu.cfs_quota_us"), &q.to_string())?;
                }
                if let Some(s) = req.cpu_shares.filter(|s| *s > 0) {
                    write_cg(&cpu.join("cpu.shares"), &s.to_string())?;
                }
                if let Some(p) = req.pids_limit.filter(|p| *p != 0) {
                    write_cg(
                        &pids.join("pids.max"),
                        &if p < 0 {
                            "max".to_string()
                        } else {
                            p.to_string()
                        },
                    )?;
                }
            }
            CgroupPaths::V2(dir) => {
                if let Some(m) = req.memory.filter(|m| *m > 0) {
                    write_cg(&dir.join("memory.max"), &m.to_string())?;
                }
                if let Some(q) = quota {
                    write_cg(&dir.join("cpu.max"), &format!("{q} {period}"))?;
                }
                if let Some(p) = req.pids_limit.filter(|p| *p != 0) {
                    write_cg(
                        &dir.join("pids.max"),
                        &if p < 0 {
                            "max".to_string()
                        } else {
                            p.to_string()
                        },
                    )?;
                }
            }
        }
    }
    c.with(|r| {
        let h = &mut r.host_config;
        if req.memory.is_some_and(|m| m > 0) {
            h.memory = req.memory;
        }
        if req.memory_swap.is_some_and(|m| m != 0) {
            h.memory_swap = req.memory_swap;
        }
        if req.nano_cpus.is_some_and(|n| n > 0) {
            h.nano_cpus = req.nano_cpus;
        }
        if req.cpu_shares.is_some_and(|n| n > 0) {
            h.cpu_shares = req.cpu_shares;
        }
        if req.cpu_quota.is_some_and(|n| n != 0) {
            h.cpu_quota = req.cpu_quota;
        }
        if req.cpu_period.is_some_and(|n| n > 0) {
            h.cpu_period = req.cpu_period;
        }
        if req.pids_limit.is_some_and(|n| n != 0) {
            h.pids_limit = req.pids_limit;
        }
        if let Some(p) = &req.restart_policy
            && p.name.is_some()
        {
            h.restart_policy = Some(p.clone());
        }
    });
    svc.persist(&c)?;
    svc.events.publish(
        "container",
        "update",
        &c.id,
        crate::containers::lifecycle::attrs(&c.snapshot()),
    );
    Ok(Vec::new())
}

/// `/proc/<pid>/net/dev` as dockerd's `networks` stats (interfaces other than lo).
fn net_dev(pid: i64) -> Value {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let n: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if n.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({"rx_bytes": n[0], "rx_packets": n[1], "rx_errors": n[2], "rx_dropped": n[3],
                   "tx_bytes": n[8], "tx_packets": n[9], "tx_errors": n[10], "tx_dropped": n[11]}),
        );
    }
    Value::Object(out)
}

/// MemTotal of the host in bytes (u64::MAX when unreadable).
fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb * 1024)
}
