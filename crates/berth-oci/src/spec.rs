//! Assembly of config.json, following dockerd's `createSpec` (daemon/oci_linux.go): default
//! spec, then common options, cgroups, resources, sysctls, devices, rlimits, namespaces,
//! capabilities, seccomp and mounts, in that order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, Spec};
use serde_json::{Map, Value, json};

use crate::devices::{
    default_device_rules, devices_from_mapping, host_devices, parse_device_cgroup_rule,
};
use crate::seccomp::{self, Target};
use crate::{NamespaceMode, SeccompMode, SpecError, SpecInput, caps};

/// Docker's default PATH for Linux containers.
pub const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Docker's default RLIMIT_NOFILE (what dockerd's systemd unit gives containers).
const DOCKER_NOFILE: u64 = 1_048_576;

/// Facts about the machine the spec is generated on.
pub trait Host {
    /// The daemon's own hard limit for `--ulimit` name `name` (`nofile`, ...); None if unknown.
    fn rlimit_hard(&self, name: &str) -> Option<u64>;
    /// `/proc/sys/kernel/cap_last_cap`.
    fn last_cap(&self) -> Option<usize>;
    /// The daemon's own capability bounding set (bit mask); capabilities outside it are dropped.
    fn bounding_set(&self) -> Option<u64>;
    /// Kernel (major, minor).
    fn kernel(&self) -> (u32, u32);
    /// Go architecture name (`amd64`, ...).
    fn arch(&self) -> String;
    /// `linux.devices` entries for every host device (for `--privileged`).
    fn host_devices(&self) -> Vec<Value>;
    /// Whether `/proc/sys/<key with dots as slashes>` exists.
    fn sysctl_exists(&self, key: &str) -> bool;
}

/// The real machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemHost;

fn rlimit_resource(name: &str) -> Option<nix::sys::resource::Resource> {
    use nix::sys::resource::Resource as R;
    Some(match name {
        "as" => R::RLIMIT_AS,
        "core" => R::RLIMIT_CORE,
        "cpu" => R::RLIMIT_CPU,
        "data" => R::RLIMIT_DATA,
        "fsize" => R::RLIMIT_FSIZE,
        "locks" => R::RLIMIT_LOCKS,
        "memlock" => R::RLIMIT_MEMLOCK,
        "msgqueue" => R::RLIMIT_MSGQUEUE,
        "nice" => R::RLIMIT_NICE,
        "nofile" => R::RLIMIT_NOFILE,
        "nproc" => R::RLIMIT_NPROC,
        "rss" => R::RLIMIT_RSS,
        "rtprio" => R::RLIMIT_RTPRIO,
        "rttime" => R::RLIMIT_RTTIME,
        "sigpending" => R::RLIMIT_SIGPENDING,
        "stack" => R::RLIMIT_STACK,
        _ => return None,
    })
}

impl Host for SystemHost {
    fn rlimit_hard(&self, name: &str) -> Option<u64> {
        let (_, hard) = nix::sys::resource::getrlimit(rlimit_resource(name)?).ok()?;
        Some(hard)
    }
    fn last_cap(&self) -> Option<usize> {
        caps::host_last_cap()
    }
    fn bounding_set(&self) -> Option<u64> {
        caps::host_bounding_set()
    }
    fn kernel(&self) -> (u32, u32) {
        Target::host(&[]).kernel
    }
    fn arch(&self) -> String {
        seccomp::go_arch().to_string()
    }
    fn host_devices(&self) -> Vec<Value> {
        host_devices()
    }
    fn sysctl_exists(&self, key: &str) -> bool {
        Path::new("/proc/sys").join(key.replace('.', "/")).exists()
    }
}

/// Docker's container environment: PATH, HOSTNAME and (with a TTY) TERM, then `env`
/// replacing same-named entries in place; a bare `NAME` (no `=`) removes `NAME`.
pub fn container_env(hostname: &str, tty: bool, env: &[String]) -> Vec<String> {
    let mut out = vec![DEFAULT_PATH_ENV.to_string(), format!("HOSTNAME={hostname}")];
    if tty {
        out.push("TERM=xterm".into());
    }
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    for e in env {
        let k = key(e);
        match out.iter().position(|o| key(o) == k) {
            Some(i) => out[i] = e.clone(),
            None => out.push(e.clone()),
        }
    }
    out.retain(|e| e.contains('='));
    out
}

/// A bind mount as dockerd writes it: `rbind`, `ro` when read-only, then the propagation
/// (`rprivate` unless given).
pub fn bind_mount(
    source: &Path,
    destination: &str,
    readonly: bool,
    propagation: Option<&str>,
) -> Mount {
    let mut opts = vec!["rbind".to_string()];
    if readonly {
        opts.push("ro".into());
    }
    opts.push(
        propagation
            .filter(|p| !p.is_empty())
            .unwrap_or("rprivate")
            .to_string(),
    );
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination))
        .set_typ(Some("bind".into()))
        .set_source(Some(source.to_path_buf()))
        .set_options(Some(opts));
    m
}

/// A `--tmpfs dest:opts` mount as dockerd writes it: `noexec,nosuid,nodev` unless the options
/// say otherwise (`exec`, `suid`, `dev`), then the user's options.
pub fn tmpfs_mount(destination: &str, options: &str) -> Mount {
    let user: Vec<&str> = options
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    let mut opts: Vec<String> = Vec::new();
    for (default, opposite) in [("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev")] {
        if !user.iter().any(|o| *o == default || *o == opposite) {
            opts.push(default.into());
        }
    }
    opts.extend(user.iter().map(|o| o.to_string()));
    let mut m = Mount::default();
    m.set_destination(PathBuf::from(destination))
        .set_typ(Some("tmpfs".into()))
        .set_source(Some("tmpfs".into()))
        .set_options(Some(opts));
    m
}

fn mount(dest: &str, typ: &str, source: &str, opts: &[&str]) -> Value {
    json!({"destination": dest, "type": typ, "source": source, "options": opts})
}

/// Builds config.json for `input` on this machine.
pub fn build_spec(input: &SpecInput) -> Result<Spec, SpecError> {
    build_spec_on(input, &SystemHost)
}

/// [`build_spec`] against explicit host facts.
pub fn build_spec_on(input: &SpecInput, host: &dyn Host) -> Result<Spec, SpecError> {
    let v = build_spec_json(input, host)?;
    serde_json::from_value(v).map_err(|e| SpecError::Encode(e.to_string()))
}

fn namespace(kind: &str, mode: &NamespaceMode) -> Option<Value> {
    match mode {
        NamespaceMode::Private => Some(json!({"type": kind})),
        NamespaceMode::Host => None,
        NamespaceMode::Path(p) => Some(json!({"type": kind, "path": p})),
    }
}

fn rlimits(i: &SpecInput, host: &dyn Host) -> Result<Vec<Value>, SpecError> {
    // (name, soft, hard) in Docker's order: the daemon default first, `--ulimit` replacing it.
    let mut limits: Vec<(String, u64, u64)> = vec![("nofile".into(), DOCKER_NOFILE, DOCKER_NOFILE)];
    for (name, soft, hard) in &i.ulimits {
        let name = name.to_ascii_lowercase();
        if rlimit_resource(&name).is_none() {
            return Err(SpecError::InvalidUlimit(name));
        }
        limits.retain(|l| l.0 != name);
        limits.push((name, *soft, *hard));
    }
    Ok(limits
        .into_iter()
        .map(|(name, soft, hard)| {
            // The runtime cannot raise a limit above the daemon's own hard limit on this host.
            let cap = host.rlimit_hard(&name).unwrap_or(u64::MAX);
            let (soft, hard) = (soft.min(cap), hard.min(cap));
            json!({"type": format!("RLIMIT_{}", name.to_ascii_uppercase()), "hard": hard, "soft": soft.min(hard)})
        })
        .collect())
}

fn resources(i: &SpecInput, privileged: bool) -> Result<(Value, Vec<Value>), SpecError> {
    let r = &i.resources;
    let mut devices_out = Vec::new();
    let mut rules = if privileged {
        vec![json!({"allow": true, "access": "rwm"})]
    } else {
        default_device_rules()
    };
    if !privileged {
        for m in &i.devices {
            let (devs, perms) = devices_from_mapping(m)?;
            devices_out.extend(devs);
            rules.extend(perms);
        }
        for rule in &i.device_cgroup_rules {
            rules.push(parse_device_cgroup_rule(rule)?);
        }
    } else {
        // Privileged containers see every device already; a mapping only adds a new name.
        for m in i
            .devices
            .iter()
            .filter(|m| !m.path_in_container.is_empty() && m.path_in_container != m.path_on_host)
        {
            devices_out.extend(devices_from_mapping(m)?.0);
        }
    }
    let mut res = Map::new();
    res.insert("devices".into(), Value::Array(rules));

    let mut memory = Map::new();
    if let Some(m) = r.memory.filter(|m| *m > 0) {
        memory.insert("limit".into(), json!(m));
        // dockerd defaults MemorySwap to twice Memory when only Memory is given.
        let swap = match r.memory_swap {
            None | Some(0) => Some(m * 2),
            Some(s) if s > 0 => Some(s),
            Some(_) => None,
        };
        if let Some(s) = swap {
            memory.insert("swap".into(), json!(s));
        }
    } else if let Some(s) = r.memory_swap.filter(|s| *s > 0) {
        memory.insert("swap".into(), json!(s));
    }
    if let Some(m) = r.memory_reservation.filter(|m| *m > 0) {
        memory.insert("reservation".into(), json!(m));
    }
    if r.oom_kill_disable {
        memory.insert("disableOOMKiller".into(), json!(true));
    }
    res.insert("memory".into(), Value::Object(memory));

    let mut cpu = Map::new();
    if let Some(s) = r.cpu_shares.filter(|s| *s > 0) {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(c) = r.cpuset_cpus.as_ref().filter(|c| !c.is_empty()) {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = r.cpuset_mems.as_ref().filter(|m| !m.is_empty()) {
        cpu.insert("mems".into(), json!(m));
    }
    if let Some(n) = r.nano_cpus.filter(|n| *n > 0) {
        let period: i64 = 100_000;
        cpu.insert("period".into(), json!(period));
        cpu.insert("quota".into(), json!(n * period / 1_000_000_000));
    }
    if let Some(p) = r.cpu_period.filter(|p| *p != 0) {
        cpu.insert("period".into(), json!(p));
    }
    if let Some(q) = r.cpu_quota.filter(|q| *q != 0) {
        cpu.insert("quota".into(), json!(q));
    }
    res.insert("cpu".into(), Value::Object(cpu));

    if let Some(p) = r.pids_limit {
        res.insert("pids".into(), json!({"limit": if p <= 0 { -1 } else { p }}));
    }
    let mut blkio = Map::new();
    if let Some(w) = r.blkio_weight.filter(|w| *w > 0) {
        blkio.insert("weight".into(), json!(w));
    }
    res.insert("blockIO".into(), Value::Object(blkio));
    Ok((Value::Object(res), devices_out))
}

fn mount_depth(m: &Mount) -> usize {
    m.destination().components().count()
}

fn mounts(i: &SpecInput) -> Result<(Vec<Value>, Option<&'static str>), SpecError> {
    let mut user: Vec<Mount> = i.mounts.clone();
    // Parents before children, keeping the given order otherwise (dockerd sorts the same way).
    user.sort_by_key(mount_depth);
    let user_dests: Vec<PathBuf> = user.iter().map(|m| m.destination().clone()).collect();
    let has_user = |d: &str| user_dests.iter().any(|u| u == Path::new(d));
    let user_dev = has_user("/dev");

    let sys_mode = if i.privileged { "rw" } else { "ro" };
    let shm_size = format!(
        "size={}",
        i.shm_size.filter(|s| *s > 0).unwrap_or(64 * 1024 * 1024)
    );
    let shm = if i.ipc_none {
        None
    } else if let Some(p) = &i.shm_path {
        Some(
            json!({"destination": "/dev/shm", "type": "bind", "source": p, "options": ["rbind", "nosuid", "noexec", "nodev", "rprivate"]}),
        )
    } else if i.ipc == NamespaceMode::Host {
        Some(mount(
            "/dev/shm",
            "bind",
            "/dev/shm",
            &["rbind", "nosuid", "noexec", "nodev", "rprivate"],
        ))
    } else {
        Some(mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        ))
    };
    let defaults: Vec<Value> = [
        Some(mount(
            "/proc",
            "proc",
            "proc",
            &["nosuid", "noexec", "nodev"],
        )),
        Some(mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )),
        Some(mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )),
        Some(mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_mode],
        )),
        Some(mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &[sys_mode, "nosuid", "noexec", "nodev"],
        )),
        Some(mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )),
        shm,
    ]
    .into_iter()
    .flatten()
    .collect();

    let mut out: Vec<Value> = Vec::new();
    for m in defaults {
        let dest = m["destination"].as_str().unwrap_or_default().to_string();
        if has_user(&dest) || (user_dev && dest.starts_with("/dev/")) {
            continue;
        }
        out.push(m);
    }
    if let Some(init) = &i.init {
        out.push(json!({"destination": "/sbin/docker-init", "type": "bind", "source": init, "options": ["bind", "ro"]}));
    }
    if i.readonly_rootfs {
        // dockerd makes its own mounts read-only too, except the ones that must stay writable.
        for m in out.iter_mut() {
            let dest = m["destination"].as_str().unwrap_or_default();
            if matches!(
                dest,
                "/proc" | "/dev" | "/dev/pts" | "/dev/shm" | "/dev/mqueue"
            ) {
                continue;
            }
            if let Some(opts) = m["options"].as_array_mut()
                && !opts.iter().any(|o| o == "ro")
            {
                opts.push(json!("ro"));
            }
        }
    }
    // The root's propagation follows the user's binds, with the values dockerd writes
    // (`shared`/`slave`): runc takes the recursive spellings too, libcontainer does not.
    let mut propagation = None;
    for m in &user {
        let opts = m.options().clone().unwrap_or_default();
        if opts.iter().any(|o| o == "rshared" || o == "shared") {
            propagation = Some("shared");
        } else if propagation.is_none() && opts.iter().any(|o| o == "rslave" || o == "slave") {
            propagation = Some("slave");
        }
        out.push(serde_json::to_value(m).map_err(|e| SpecError::InvalidMount(e.to_string()))?);
    }
    Ok((out, propagation))
}

/// The config.json document as JSON (what [`build_spec_on`] converts into a typed `Spec`).
pub fn build_spec_json(i: &SpecInput, host: &dyn Host) -> Result<Value, SpecError> {
    let caps = caps::tweak(
        &i.cap_add,
        &i.cap_drop,
        i.privileged,
        host.last_cap(),
        host.bounding_set(),
    )?;

    let mut args = i.args.clone();
    if i.init.is_some() {
        args.splice(0..0, ["/sbin/docker-init".to_string(), "--".to_string()]);
    }
    let mut process = Map::new();
    process.insert("terminal".into(), json!(i.tty));
    if let Some((h, w)) = i.console_size.filter(|(h, w)| i.tty && *h > 0 && *w > 0) {
        process.insert("consoleSize".into(), json!({"height": h, "width": w}));
    }
    let mut user = json!({"uid": i.user.uid, "gid": i.user.gid});
    if !i.user.additional_gids.is_empty() {
        user["additionalGids"] = json!(i.user.additional_gids);
    }
    process.insert("user".into(), user);
    process.insert("args".into(), json!(args));
    process.insert(
        "env".into(),
        json!(container_env(&i.hostname, i.tty, &i.env)),
    );
    process.insert(
        "cwd".into(),
        json!(if i.cwd.is_empty() {
            "/"
        } else {
            i.cwd.as_str()
        }),
    );
    // Like execve, a non-root user starts with empty effective and permitted sets.
    process.insert(
        "capabilities".into(),
        if i.user.uid == 0 {
            json!({"bounding": caps, "effective": caps, "permitted": caps})
        } else {
            json!({"bounding": caps})
        },
    );
    process.insert("rlimits".into(), json!(rlimits(i, host)?));
    if i.no_new_privileges {
        process.insert("noNewPrivileges".into(), json!(true));
    }
    process.insert("oomScoreAdj".into(), json!(i.oom_score_adj.unwrap_or(0)));

    let mut doc = Map::new();
    doc.insert("ociVersion".into(), json!("1.0.2-dev"));
    doc.insert("process".into(), Value::Object(process));
    doc.insert(
        "root".into(),
        json!({"path": i.rootfs, "readonly": i.readonly_rootfs}),
    );
    if !i.uts_host {
        if !i.hostname.is_empty() {
            doc.insert("hostname".into(), json!(i.hostname));
        }
        if !i.domainname.is_empty() {
            doc.insert("domainname".into(), json!(i.domainname));
        }
    }
    let (mounts, propagation) = mounts(i)?;
    doc.insert("mounts".into(), json!(mounts));

    let mut linux = Map::new();
    let mut sysctl: BTreeMap<String, String> = BTreeMap::new();
    if i.network == NamespaceMode::Private {
        // dockerd's defaults for a container with its own network namespace.
        if host.sysctl_exists("net.ipv4.ping_group_range") {
            sysctl.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
        }
        if host.sysctl_exists("net.ipv4.ip_unprivileged_port_start") {
            sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        }
    }
    sysctl.extend(i.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())));
    if !sysctl.is_empty() {
        linux.insert("sysctl".into(), json!(sysctl));
    }
    let (res, mut devices) = resources(i, i.privileged)?;
    if i.privileged {
        let mut all = host.host_devices();
        all.append(&mut devices);
        devices = all;
    }
    linux.insert("resources".into(), res);
    if !i.cgroups_path.is_empty() {
        linux.insert("cgroupsPath".into(), json!(i.cgroups_path));
    }
    let uts = if i.uts_host {
        NamespaceMode::Host
    } else {
        NamespaceMode::Private
    };
    let mut namespaces: Vec<Value> = [
        namespace("mount", &NamespaceMode::Private),
        namespace("network", &i.network),
        namespace("uts", &uts),
        namespace("pid", &i.pid),
        namespace("ipc", &i.ipc),
    ]
    .into_iter()
    .flatten()
    .collect();
    if i.cgroupns_private {
        namespaces.push(json!({"type": "cgroup"}));
    }
    linux.insert("namespaces".into(), json!(namespaces));
    if !devices.is_empty() {
        linux.insert("devices".into(), json!(devices));
    }
    if !i.privileged {
        let seccomp = match &i.seccomp {
            SeccompMode::Unconfined => None,
            SeccompMode::Default => Some(seccomp::resolve(
                &seccomp::default_profile(),
                &target(host, &caps),
            )?),
            SeccompMode::Profile(text) => Some(seccomp::resolve(
                &seccomp::parse_profile(text)?,
                &target(host, &caps),
            )?),
        };
        if let Some(s) = seccomp {
            linux.insert(
                "seccomp".into(),
                serde_json::to_value(s).map_err(|e| SpecError::Encode(e.to_string()))?,
            );
        }
        let masked = i
            .masked_paths
            .clone()
            .unwrap_or_else(|| strings(berth_api::DEFAULT_MASKED_PATHS));
        let readonly = i
            .readonly_paths
            .clone()
            .unwrap_or_else(|| strings(berth_api::DEFAULT_READONLY_PATHS));
        if !masked.is_empty() {
            linux.insert("maskedPaths".into(), json!(masked));
        }
        if !readonly.is_empty() {
            linux.insert("readonlyPaths".into(), json!(readonly));
        }
    }
    if let Some(p) = propagation {
        linux.insert("rootfsPropagation".into(), json!(p));
    }
    doc.insert("linux".into(), Value::Object(linux));
    Ok(Value::Object(doc))
}

fn target(host: &dyn Host, caps: &[String]) -> Target {
    Target {
        arch: host.arch(),
        kernel: host.kernel(),
        caps: caps.to_vec(),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
