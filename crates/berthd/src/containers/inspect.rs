//! What a container looks like from outside: the OCI bundle written at start, `docker inspect`'s
//! JSON and `docker ps`'s summary.

use std::path::{Path, PathBuf};

use berth_oci::{NamespaceMode, Resources, SeccompMode, SpecInput};
use serde_json::{Value, json};

use super::{ContainerRecord, ContainerService};
use crate::error::{ApiError, ApiResult};

const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

/// Host path of the init binary used for `--init` (Debian's static tini), if installed.
pub fn init_binary() -> Option<PathBuf> {
    [
        "/usr/bin/tini-static",
        "/usr/local/bin/docker-init",
        "/usr/bin/docker-init",
        "/usr/libexec/docker/docker-init",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// Copies the host's resolv.conf without loopback resolvers (unreachable from a private netns),
/// falling back to public ones as Docker does.
fn resolv_conf(host_network: bool) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if host_network {
        return host;
    }
    let mut out = String::new();
    let mut has_ns = false;
    for line in host.lines() {
        let t = line.trim();
        if let Some(ns) = t.strip_prefix("nameserver") {
            let ns = ns.trim();
            if ns.starts_with("127.") || ns == "::1" {
                continue;
            }
            has_ns = true;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !has_ns {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// Applies `--dns`, `--dns-search` and `--dns-option` over a resolv.conf, as dockerd does:
/// each given list replaces the corresponding lines.
fn with_dns_overrides(base: &str, dns: &[String], search: &[String], opts: &[String]) -> String {
    if dns.is_empty() && search.is_empty() && opts.is_empty() {
        return base.to_string();
    }
    let mut out = String::new();
    for line in base.lines() {
        let t = line.trim_start();
        let drop = (!dns.is_empty() && t.starts_with("nameserver"))
            || (!search.is_empty() && (t.starts_with("search") || t.starts_with("domain")))
            || (!opts.is_empty() && t.starts_with("options"));
        if !drop {
            out.push_str(line);
            out.push('\n');
        }
    }
    for ns in dns {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

fn bind(dest: &str, src: &Path, ro: bool) -> oci_spec::runtime::Mount {
    let mut opts = vec!["rbind".to_string(), "rprivate".to_string()];
    if ro {
        opts.push("ro".into());
    }
    oci_spec::runtime::MountBuilder::default()
        .destination(dest)
        .typ("bind")
        .source(src)
        .options(opts)
        .build()
        .unwrap_or_default()
}

fn ns_mode(svc: &ContainerService, rec: &ContainerRecord, mode: &str) -> ApiResult<NamespaceMode> {
    Ok(match mode {
        "host" => NamespaceMode::Host,
        _ if !rec.sandbox_key.is_empty() => NamespaceMode::Path(PathBuf::from(&rec.sandbox_key)),
        m if m.starts_with("container:") => {
            let other = svc.get(&m["container:".len()..])?;
            let r = other.snapshot();
            if !r.state.running {
                return Err(ApiError::conflict(format!(
                    "cannot join network of a non running container: {}",
                    r.id
                )));
            }
            NamespaceMode::Path(PathBuf::from(format!("/proc/{}/ns/net", r.state.pid)))
        }
        _ => NamespaceMode::Private,
    })
}

/// The process user: `user` resolved in `rootfs`, plus HostConfig.GroupAdd as extra groups (as
/// dockerd appends them to the supplementary groups).
pub fn user_with_groups(
    rootfs: &Path,
    user: &str,
    group_add: &[String],
) -> ApiResult<berth_oci::ResolvedUser> {
    let mut u =
        berth_oci::resolve_user(rootfs, user).map_err(|e| ApiError::invalid(e.to_string()))?;
    let extra = berth_oci::resolve_group_add(rootfs, group_add)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    for g in extra {
        if !u.additional_gids.contains(&g) {
            u.additional_gids.push(g);
        }
    }
    Ok(u)
}

/// Writes config.json, hostname, hosts and resolv.conf into the container directory.
pub fn write_bundle(svc: &ContainerService, rec: &ContainerRecord, dir: &Path) -> ApiResult<()> {
    let rootfs = dir.join("rootfs");
    let hc = &rec.host_config;
    let cfg = &rec.config;
    let net_mode = hc.network_mode.clone().unwrap_or_default();
    let host_net = net_mode == "host";
    let hostname = if host_net {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        cfg.hostname.clone().unwrap_or_default()
    };
    std::fs::write(dir.join("hostname"), format!("{hostname}\n"))?;
    let hosts = if host_net {
        std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| DEFAULT_HOSTS.to_string())
    } else {
        let mut h = DEFAULT_HOSTS.to_string();
        h.push_str(&svc.hosts_entries(rec));
        for extra in hc.extra_hosts.clone().unwrap_or_default() {
            if let Some((name, ip)) = extra.split_once(':') {
                h.push_str(&format!("{ip}\t{name}\n"));
            }
        }
        h
    };
    std::fs::write(dir.join("hosts"), hosts)?;
    let dns = hc.dns.clone().unwrap_or_default();
    let dns_search = hc.dns_search.clone().unwrap_or_default();
    let dns_options = hc.dns_options.clone().unwrap_or_default();
    let user_net = rec
        .networks
        .keys()
        .find(|n| !matches!(n.as_str(), "bridge" | "host" | "none"));
    let resolv = match user_net {
        // User networks resolve through the embedded DNS server.
        Some(n) if !rec.sandbox_key.is_empty() => {
            svc.net.resolv_conf(n, &dns, &dns_search, &dns_options)
        }
        _ => with_dns_overrides(&resolv_conf(host_net), &dns, &dns_search, &dns_options),
    };
    std::fs::write(dir.join("resolv.conf"), resolv)?;

    let user = user_with_groups(
        &rootfs,
        cfg.user.as_deref().unwrap_or(""),
        hc.group_add.as_deref().unwrap_or_default(),
    )?;
    let mut args = vec![rec.path.clone()];
    args.extend(rec.args.iter().cloned());
    let mut env = cfg.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.insert(1.min(env.len()), format!("HOSTNAME={hostname}"));
    }
    if cfg.tty.unwrap_or(false) && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    // Legacy links add their variables; the container's own settings win (as in dockerd).
    for kv in svc.link_env(rec) {
        let key = kv.split('=').next().unwrap_or("");
        if !env.iter().any(|e| e.split('=').next() == Some(key)) {
            env.push(kv);
        }
    }
    let mut mounts = vec![
        bind("/etc/resolv.conf", &dir.join("resolv.conf"), false),
        bind("/etc/hostname", &dir.join("hostname"), false),
        bind("/etc/hosts", &dir.join("hosts"), false),
    ];
    for (dest, opts) in hc.tmpfs.clone().unwrap_or_default() {
        let mut o = vec![
            "nosuid".to_string(),
            "nodev".to_string(),
            "noexec".to_string(),
        ];
        o.extend(opts.split(',').filter(|s| !s.is_empty()).map(String::from));
        mounts.push(
            oci_spec::runtime::MountBuilder::default()
                .destination(dest)
                .typ("tmpfs")
                .source("tmpfs")
                .options(o)
                .build()
                .unwrap_or_default(),
        );
    }
    mounts.extend(svc.oci_mounts(rec)?);
    let security_opt = hc.security_opt.clone().unwrap_or_default();
    let mut seccomp = SeccompMode::Default;
    let mut no_new_privileges = false;
    for opt in &security_opt {
        let (k, v) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match k {
            "no-new-privileges" => no_new_privileges = v.is_empty() || v == "true",
            "seccomp" if v == "unconfined" => seccomp = SeccompMode::Unconfined,
            "seccomp" => {
                let json = std::fs::read_to_string(v).unwrap_or_else(|_| v.to_string());
                seccomp = SeccompMode::Profile(json);
            }
            "apparmor" | "label" | "systempaths" => {}
            _ => {
                return Err(ApiError::invalid(format!(
                    "invalid --security-opt: {opt:?}"
                )));
            }
        }
    }
    let init = if hc.init.unwrap_or(false) {
        Some(init_binary().ok_or_else(|| {
            ApiError::internal(
                "--init requested but no init binary (docker-init or tini-static) is installed",
            )
        })?)
    } else {
        None
    };
    let resources = Resources {
        memory: hc.memory.filter(|m| *m > 0),
        memory_swap: hc.memory_swap.filter(|m| *m != 0),
        memory_reservation: hc.memory_reservation.filter(|m| *m > 0),
        nano_cpus: hc.nano_cpus.filter(|n| *n > 0),
        cpu_shares: hc.cpu_shares.filter(|n| *n > 0),
        cpu_quota: hc.cpu_quota.filter(|n| *n > 0),
        cpu_period: hc.cpu_period.filter(|n| *n > 0),
        cpuset_cpus: hc.cpuset_cpus.clone().filter(|s| !s.is_empty()),
        cpuset_mems: hc.cpuset_mems.clone().filter(|s| !s.is_empty()),
        pids_limit: hc.pids_limit.filter(|n| *n != 0),
        blkio_weight: hc.blkio_weight.filter(|n| *n > 0),
        oom_kill_disable: hc.oom_kill_disable.unwrap_or(false),
    };
    let input = SpecInput {
        id: rec.id.clone(),
        rootfs: rootfs.clone(),
        readonly_rootfs: hc.readonly_rootfs.unwrap_or(false),
        args,
        env,
        cwd: cfg
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into()),
        user,
        tty: cfg.tty.unwrap_or(false),
        hostname,
        domainname: cfg.domainname.clone().unwrap_or_default(),
        privileged: hc.privileged.unwrap_or(false),
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        no_new_privileges,
        seccomp,
        network: ns_mode(svc, rec, &net_mode)?,
        ipc: if hc.ipc_mode.as_deref() == Some("host") {
            NamespaceMode::Host
        } else {
            NamespaceMode::Private
        },
        pid: if hc.pid_mode.as_deref() == Some("host") {
            NamespaceMode::Host
        } else {
            NamespaceMode::Private
        },
        uts_host: hc.uts_mode.as_deref() == Some("host") || host_net,
        cgroups_path: format!("{}/{}", svc.cfg.cgroup_parent(), rec.id),
        resources,
        mounts,
        init,
        sysctls: hc.sysctls.clone().unwrap_or_default().into_iter().collect(),
        ulimits: hc
            .ulimits
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                (
                    u.name.unwrap_or_default(),
                    u.soft.unwrap_or(0) as u64,
                    u.hard.unwrap_or(0) as u64,
                )
            })
            .collect(),
        oom_score_adj: hc.oom_score_adj.map(|n| n as i32),
        shm_size: hc.shm_size.filter(|s| *s > 0).map(|s| s as u64),
        ..Default::default()
    };
    let spec = berth_oci::build_spec(&input).map_err(|e| ApiError::invalid(e.to_string()))?;
    let bytes = serde_json::to_vec_pretty(&spec).map_err(|e| ApiError::internal(e.to_string()))?;
    let tmp = dir.join("config.json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, dir.join("config.json"))?;
    Ok(())
}

impl ContainerService {
    /// `docker inspect` JSON of a container.
    pub fn inspect_json(
        &self,
        rec: &ContainerRecord,
        exec_ids: &[String],
        size: Option<(u64, u64)>,
    ) -> Value {
        let dir = self.container_dir(&rec.id);
        let p = |f: &str| dir.join(f).display().to_string();
        let diff_ids = rec
            .image
            .parse::<berth_core::Digest>()
            .ok()
            .and_then(|d| self.images.config(&d).ok())
            .map(|c| c.rootfs.diff_ids)
            .unwrap_or_default();
        let st = &rec.state;
        let mut state = json!({
            "Status": st.status, "Running": st.running, "Paused": st.paused, "Restarting": st.restarting,
            "OOMKilled": st.oom_killed, "Dead": st.dead, "Pid": st.pid, "ExitCode": st.exit_code,
            "Error": st.error, "StartedAt": st.started_at, "FinishedAt": st.finished_at
        });
        if let Some(h) = &st.health {
            state["Health"] = json!({
                "Status": h.status, "FailingStreak": h.failing_streak,
                "Log": h.log.iter().map(|l| json!({"Start": l.start, "End": l.end, "ExitCode": l.exit_code, "Output": l.output})).collect::<Vec<_>>()
            });
        }
        let mut v = json!({
            "Id": rec.id,
            "Created": rec.created,
            "Path": rec.path,
            "Args": rec.args,
            "State": state,
            "Image": rec.image,
            "ResolvConfPath": p("resolv.conf"),
            "HostnamePath": p("hostname"),
            "HostsPath": p("hosts"),
            "LogPath": if berth_shim::logfile::LogFormat::of_path(Path::new(&rec.log_path))
                == berth_shim::logfile::LogFormat::Local
            {
                ""
            } else {
                rec.log_path.as_str()
            },
            "Name": rec.name,
            "RestartCount": rec.restart_count,
            "Driver": rec.driver,
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": if exec_ids.is_empty() { Value::Null } else { json!(exec_ids) },
            "HostConfig": serde_json::to_value(&rec.host_config).unwrap_or(Value::Null),
            "GraphDriver": {"Data": graph_driver_data(&self.cfg, &rec.driver, &diff_ids, Some((&rec.id, &dir.join("rootfs")))), "Name": rec.driver},
        });
        if let (Some((rw, root)), Value::Object(m)) = (size, &mut v) {
            m.insert("SizeRw".into(), json!(rw));
            m.insert("SizeRootFs".into(), json!(root));
        }
        if let Value::Object(m) = &mut v {
            m.insert(
                "Mounts".into(),
                Value::Array(rec.mounts.iter().map(|m| m.to_api_json()).collect()),
            );
            m.insert(
                "Config".into(),
                serde_json::to_value(&rec.config).unwrap_or(Value::Null),
            );
            m.insert("NetworkSettings".into(), super::network::settings_json(rec));
        }
        v
    }

    /// `docker ps` item.
    pub fn summary_json(&self, rec: &ContainerRecord, size: Option<(u64, u64)>) -> Value {
        let mut v = json!({
            "Id": rec.id,
            "Names": [rec.name],
            "Image": rec.config.image.clone().unwrap_or_default(),
            "ImageID": rec.image,
            "Command": rec.command_line(),
            "Created": chrono::DateTime::parse_from_rfc3339(&rec.created).map(|t| t.timestamp()).unwrap_or(0),
            "Ports": super::network::summary_ports(rec),
        });
        if let (Some((rw, root)), Value::Object(m)) = (size, &mut v) {
            if rw > 0 {
                m.insert("SizeRw".into(), json!(rw));
            }
            m.insert("SizeRootFs".into(), json!(root));
        }
        if let Value::Object(m) = &mut v {
            m.insert(
                "Labels".into(),
                json!(rec.config.labels.clone().unwrap_or_default()),
            );
            m.insert("State".into(), json!(rec.state.status));
            m.insert("Status".into(), json!(status_text(rec)));
            let mode = rec
                .host_config
                .network_mode
                .clone()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "default".into());
            m.insert("HostConfig".into(), json!({"NetworkMode": mode}));
            m.insert("NetworkSettings".into(), super::network::summary_json(rec));
            m.insert(
                "Mounts".into(),
                Value::Array(rec.mounts.iter().map(|m| m.to_api_json()).collect()),
            );
        }
        v
    }
}

/// `docker ps`'s STATUS column: "Up 5 seconds", "Exited (0) 2 minutes ago", "Created", ...
pub fn status_text(rec: &ContainerRecord) -> String {
    let now = chrono::Utc::now();
    let since = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds())
            .unwrap_or(0)
    };
    let st = &rec.state;
    if st.restarting {
        return format!(
            "Restarting ({}) {} ago",
            st.exit_code,
            berth_core::time::human_duration(since(&st.finished_at))
        );
    }
    if st.running {
        let mut s = format!(
            "Up {}",
            berth_core::time::human_duration(since(&st.started_at))
        );
        if st.paused {
            s.push_str(" (Paused)");
        } else if let Some(h) = &st.health {
            let hs = if h.status == "starting" {
                "health: starting".to_string()
            } else {
                h.status.clone()
            };
            s.push_str(&format!(" ({hs})"));
        }
        return s;
    }
    if st.status == "removing" {
        return "Removal In Progress".into();
    }
    if st.dead {
        return "Dead".into();
    }
    if !rec.has_been_started || st.finished_at == berth_core::time::ZERO_TIME {
        return "Created".into();
    }
    format!(
        "Exited ({}) {} ago",
        st.exit_code,
        berth_core::time::human_duration(since(&st.finished_at))
    )
}

/// `GraphDriver.Data` as dockerd's overlay2 driver shows it: the layer directories of an image
/// (`diff_ids`, base first) and, for a container, its own upper/work/merged directories.
pub fn graph_driver_data(
    cfg: &crate::config::DaemonConfig,
    driver: &str,
    diff_ids: &[berth_core::Digest],
    container: Option<(&str, &Path)>,
) -> Value {
    if driver != "overlay2" {
        return match container {
            Some((_, merged)) => json!({"MergedDir": merged}),
            None => Value::Null,
        };
    }
    let root = cfg.data_root.join("snapshots").join("overlay2");
    let mut chain: Option<berth_core::Digest> = None;
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in diff_ids {
        let c = berth_snapshot::chain_id(chain.as_ref(), d);
        dirs.push(root.join("layers").join(c.hex()));
        chain = Some(c);
    }
    dirs.reverse(); // topmost first, as overlay's lowerdir lists them
    let lower = |ds: &[PathBuf]| {
        ds.iter()
            .map(|d| d.join("diff").display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    };
    match container {
        Some((key, merged)) => {
            let c = root.join("containers").join(key);
            let mut m = serde_json::Map::new();
            if !dirs.is_empty() {
                m.insert("LowerDir".into(), json!(lower(&dirs)));
            }
            m.insert("MergedDir".into(), json!(merged));
            m.insert("UpperDir".into(), json!(c.join("upper")));
            m.insert("WorkDir".into(), json!(c.join("work")));
            Value::Object(m)
        }
        None => {
            let Some((top, rest)) = dirs.split_first() else {
                return Value::Null;
            };
            let mut m = serde_json::Map::new();
            if !rest.is_empty() {
                m.insert("LowerDir".into(), json!(lower(rest)));
            }
            m.insert("MergedDir".into(), json!(top.join("merged")));
            m.insert("UpperDir".into(), json!(top.join("diff")));
            m.insert("WorkDir".into(), json!(top.join("work")));
            Value::Object(m)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn group_add_extends_supplementary_groups() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nwheel:x:10:\n").unwrap();
        let u = user_with_groups(d.path(), "", &["1000".into(), "wheel".into()]).unwrap();
        assert_eq!((u.uid, u.gid), (0, 0));
        assert!(u.additional_gids.contains(&1000), "{u:?}");
        assert!(u.additional_gids.contains(&10), "{u:?}");
        assert!(user_with_groups(d.path(), "", &["nosuchgroup".into()]).is_err());
    }
}
