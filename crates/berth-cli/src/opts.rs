//! Flags shared by `run` and `create`, and their translation into Docker's create request body.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{Map, Value, json};

use crate::error::{CliError, Result};
use crate::format::{parse_go_duration, parse_ram};

/// Container configuration flags of `docker create` / `docker run`.
#[derive(Debug, Args, Default, Clone)]
pub struct ContainerOpts {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long = "health-start-interval")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Connect a container to a network
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// Runtime to use for this container
    #[arg(long)]
    pub runtime: Option<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long)]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Bind mount a volume
    #[arg(short = 'v', long)]
    pub volume: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Add a host device to the container
    #[arg(long)]
    pub device: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// IPC mode to use
    #[arg(long)]
    pub ipc: Option<String>,
    /// PID namespace to use
    #[arg(long)]
    pub pid: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    pub uts: Option<String>,
    /// User namespace to use
    #[arg(long)]
    pub userns: Option<String>,
    /// Cgroup namespace to use (host|private)
    #[arg(long)]
    pub cgroupns: Option<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent")]
    pub cgroup_parent: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Write the container ID to the file
    #[arg(long)]
    pub cidfile: Option<String>,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long)]
    pub attach: Vec<String>,
    /// Image and command: IMAGE [COMMAND] [ARG...]
    #[arg(
        value_name = "IMAGE",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    pub image_and_args: Vec<String>,
}

/// `KEY=VALUE` or `KEY` (taken from our environment when set), as Docker's `ValidateEnv`.
pub fn normalize_env(e: &str) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_string(),
    }
}

/// Parses a Docker env file (`KEY=VAL` lines, `#` comments, bare `KEY` from the environment).
pub fn parse_env_file_content(content: &str, path: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for line in content.lines() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (k, v) = match l.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (l, None),
        };
        if k.is_empty() {
            return Err(CliError::invalid(format!(
                "no variable name on line '{line}'"
            )));
        }
        if k.contains(char::is_whitespace) {
            return Err(CliError::invalid(format!(
                "variable '{k}' contains whitespaces"
            )));
        }
        let _ = path;
        match v {
            Some(v) => out.push(format!("{k}={v}")),
            None => {
                if let Ok(val) = std::env::var(k) {
                    out.push(format!("{k}={val}"));
                }
            }
        }
    }
    Ok(out)
}

fn read_file(path: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::invalid(format!("open {path}: {}", io_msg(&e))))
}

/// Go-style text of an I/O error (`no such file or directory`).
pub fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    }
}

/// Parses `--restart`: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn parse_restart(s: &str) -> Result<Value> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => {
            let c: i64 = c.parse().map_err(|_| {
                CliError::invalid(
                    "invalid restart policy format: maximum retry count must be an integer",
                )
            })?;
            (n, c)
        }
        None => (s, 0),
    };
    match name {
        "" | "no" | "always" | "unless-stopped" if count != 0 => Err(CliError::invalid(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure'",
        )),
        "" | "no" => Ok(json!({"Name": "no", "MaximumRetryCount": 0})),
        "always" | "unless-stopped" | "on-failure" => {
            Ok(json!({"Name": name, "MaximumRetryCount": count}))
        }
        _ => Err(CliError::invalid(format!(
            "invalid restart policy format: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        ))),
    }
}

fn parse_port_range(s: &str) -> Result<(u16, u16)> {
    let bad = || CliError::invalid(format!("invalid containerPort: {s}"));
    match s.split_once('-') {
        Some((a, b)) => {
            let a: u16 = a.parse().map_err(|_| bad())?;
            let b: u16 = b.parse().map_err(|_| bad())?;
            if b < a {
                return Err(bad());
            }
            Ok((a, b))
        }
        None => {
            let p: u16 = s.parse().map_err(|_| bad())?;
            Ok((p, p))
        }
    }
}

/// One `-p` spec expanded: (container `port/proto`, host ip, host port).
pub fn parse_publish(spec: &str) -> Result<Vec<(String, String, String)>> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_string()),
        None => (spec, "tcp".to_string()),
    };
    // IPv6 host addresses are written in brackets: [::1]:8080:80
    let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, r) = r
            .split_once("]:")
            .ok_or_else(|| CliError::invalid(format!("invalid port format: {spec}")))?;
        (ip.to_string(), r.to_string())
    } else {
        (String::new(), rest.to_string())
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts.as_slice() {
        [c] => (ip, "", *c),
        [h, c] => (ip, *h, *c),
        [i, h, c] if ip.is_empty() => (i.to_string(), *h, *c),
        _ => return Err(CliError::invalid(format!("invalid port format: {spec}"))),
    };
    let (cs, ce) = parse_port_range(container)?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(
            parse_port_range(host)
                .map_err(|_| CliError::invalid(format!("invalid hostPort: {host}")))?,
        )
    };
    if let Some((hs, he)) = host_range
        && ce != cs
        && he - hs != ce - cs
    {
        return Err(CliError::invalid(format!(
            "invalid ranges specified for container and host Ports: {container} and {host}"
        )));
    }
    let mut out = Vec::new();
    for (i, p) in (cs..=ce).enumerate() {
        let hp = match host_range {
            None => String::new(),
            Some((hs, he)) if he - hs == ce - cs => (hs + i as u16).to_string(),
            Some((hs, he)) if hs == he => hs.to_string(),
            Some((hs, he)) => format!("{hs}-{he}"),
        };
        out.push((format!("{p}/{proto}"), ip.clone(), hp));
    }
    Ok(out)
}

fn kv_map(items: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    for it in items {
        match it.split_once('=') {
            Some((k, v)) => m.insert(k.to_string(), Value::String(v.to_string())),
            None => m.insert(it.to_string(), Value::String(String::new())),
        };
    }
    m
}

fn parse_mount(spec: &str) -> Result<Value> {
    let mut m = Map::new();
    let mut typ = "volume".to_string();
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_lowercase(), v.trim().to_string()),
            None => (field.trim().to_lowercase(), "true".to_string()),
        };
        match k.as_str() {
            "type" => typ = v,
            "source" | "src" => {
                m.insert("Source".into(), Value::String(v));
            }
            "target" | "destination" | "dst" => {
                m.insert("Target".into(), Value::String(v));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), Value::Bool(v != "false" && v != "0"));
            }
            "consistency" => {
                m.insert("Consistency".into(), Value::String(v));
            }
            "bind-propagation" => {
                m.insert("BindOptions".into(), json!({"Propagation": v}));
            }
            "tmpfs-size" => {
                m.insert("TmpfsOptions".into(), json!({"SizeBytes": parse_ram(&v)?}));
            }
            _ => {
                return Err(CliError::invalid(format!(
                    "invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{k}' in '{field}'"
                )));
            }
        }
    }
    m.insert("Type".into(), Value::String(typ));
    Ok(Value::Object(m))
}

fn parse_ulimit(s: &str) -> Result<Value> {
    let bad = || CliError::invalid(format!("invalid ulimit argument: {s}"));
    let (name, vals) = s.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (
            a.parse::<i64>().map_err(|_| bad())?,
            b.parse::<i64>().map_err(|_| bad())?,
        ),
        None => {
            let v = vals.parse::<i64>().map_err(|_| bad())?;
            (v, v)
        }
    };
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

fn parse_device(s: &str) -> Value {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, cont, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p, ..] => (*h, *c, *p),
        [] => (s, s, "rwm"),
    };
    json!({"PathOnHost": host, "PathInContainer": cont, "CgroupPermissions": perms})
}

/// The parsed create request plus what the CLI needs to drive it.
#[derive(Debug)]
pub struct CreatePlan {
    /// The image as given.
    pub image: String,
    /// The JSON body of `POST /containers/create`.
    pub body: Value,
    /// `name` query parameter.
    pub name: Option<String>,
    /// `platform` query parameter.
    pub platform: Option<String>,
    /// `--pull` policy.
    pub pull: String,
}

/// Builds Docker's create body from flags. `detach` selects the default attach set.
pub fn build_create(o: &ContainerOpts, detach: bool) -> Result<CreatePlan> {
    let image = o
        .image_and_args
        .first()
        .cloned()
        .ok_or_else(|| CliError::invalid("\"docker run\" requires at least 1 argument."))?;
    let cmd: Vec<String> = o.image_and_args[1..].to_vec();

    let mut env = Vec::new();
    for f in &o.env_file {
        env.extend(parse_env_file_content(&read_file(f)?, f)?);
    }
    env.extend(o.env.iter().map(|e| normalize_env(e)));

    let mut labels = Map::new();
    for f in &o.label_file {
        for l in read_file(f)?.lines() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            labels.extend(kv_map(&[l.to_string()]));
        }
    }
    labels.extend(kv_map(&o.label));

    // Attach set: -a wins; otherwise stdout+stderr (and stdin with -i) unless detached.
    let (mut a_in, mut a_out, mut a_err) = (false, false, false);
    if !o.attach.is_empty() {
        if detach {
            return Err(CliError::invalid("Conflicting options: -a and -d"));
        }
        for a in &o.attach {
            match a.to_lowercase().as_str() {
                "stdin" => a_in = true,
                "stdout" => a_out = true,
                "stderr" => a_err = true,
                _ => {
                    return Err(CliError::invalid(format!(
                        "invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
                    )));
                }
            }
        }
    } else if !detach {
        a_out = true;
        a_err = true;
        a_in = o.interactive;
    }

    if o.rm
        && let Some(r) = &o.restart
        && r != "no"
        && !r.is_empty()
    {
        return Err(CliError::invalid(
            "Conflicting options: cannot specify both --restart and --rm",
        ));
    }

    let health_set = o.health_cmd.is_some()
        || o.health_interval.is_some()
        || o.health_retries.is_some()
        || o.health_timeout.is_some()
        || o.health_start_period.is_some()
        || o.health_start_interval.is_some();
    let healthcheck = if o.no_healthcheck {
        if health_set {
            return Err(CliError::invalid(
                "--no-healthcheck conflicts with --health-* options",
            ));
        }
        Some(json!({"Test": ["NONE"]}))
    } else if health_set {
        let mut h = Map::new();
        if let Some(c) = &o.health_cmd {
            h.insert("Test".into(), json!(["CMD-SHELL", c]));
        }
        let dur = |name: &str, v: &Option<String>| -> Result<Option<i64>> {
            match v {
                None => Ok(None),
                Some(s) => {
                    let d = parse_go_duration(s).map_err(|_| {
                        CliError::invalid(format!(
                            "invalid argument \"{s}\" for \"--{name}\" flag: time: invalid duration \"{s}\""
                        ))
                    })?;
                    if d < 0 {
                        return Err(CliError::invalid(format!("--{name} cannot be negative")));
                    }
                    Ok(Some(d))
                }
            }
        };
        if let Some(d) = dur("health-interval", &o.health_interval)? {
            h.insert("Interval".into(), json!(d));
        }
        if let Some(d) = dur("health-timeout", &o.health_timeout)? {
            h.insert("Timeout".into(), json!(d));
        }
        if let Some(d) = dur("health-start-period", &o.health_start_period)? {
            h.insert("StartPeriod".into(), json!(d));
        }
        if let Some(d) = dur("health-start-interval", &o.health_start_interval)? {
            h.insert("StartInterval".into(), json!(d));
        }
        if let Some(r) = o.health_retries {
            if r < 0 {
                return Err(CliError::invalid("--health-retries cannot be negative"));
            }
            h.insert("Retries".into(), json!(r));
        }
        Some(Value::Object(h))
    } else {
        None
    };

    let mut exposed = Map::new();
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in &o.publish {
        for (port, ip, hp) in parse_publish(p)? {
            exposed.insert(port.clone(), json!({}));
            bindings
                .entry(port)
                .or_default()
                .push(json!({"HostIp": ip, "HostPort": hp}));
        }
    }
    for e in &o.expose {
        let (rest, proto) = e.rsplit_once('/').unwrap_or((e.as_str(), "tcp"));
        let (s, end) = parse_port_range(rest)?;
        for p in s..=end {
            exposed.insert(format!("{p}/{proto}"), json!({}));
        }
    }

    let mut volumes = Map::new();
    let mut binds = Vec::new();
    for v in &o.volume {
        // `/data` alone is an anonymous volume; `src:dst[:mode]` is a bind or named volume.
        if v.contains(':') {
            binds.push(Value::String(v.clone()));
        } else {
            volumes.insert(v.clone(), json!({}));
        }
    }
    let mut tmpfs = Map::new();
    for t in &o.tmpfs {
        let (path, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
        tmpfs.insert(path.to_string(), Value::String(opts.to_string()));
    }
    let mounts = o
        .mount
        .iter()
        .map(|m| parse_mount(m))
        .collect::<Result<Vec<_>>>()?;

    let mut log_config = json!({"Type": o.log_driver.clone().unwrap_or_default(), "Config": {}});
    if !o.log_opt.is_empty() {
        log_config["Config"] = Value::Object(kv_map(&o.log_opt));
    }

    let nano_cpus = match &o.cpus {
        Some(c) => {
            let f: f64 = c.parse().map_err(|_| {
                CliError::invalid(format!(
                    "invalid argument \"{c}\" for \"--cpus\" flag: failed to parse {c} as a rational number"
                ))
            })?;
            (f * 1e9) as i64
        }
        None => 0,
    };
    let ram = |v: &Option<String>, flag: &str| -> Result<i64> {
        match v {
            None => Ok(0),
            Some(s) if s == "-1" => Ok(-1),
            Some(s) => parse_ram(s).map_err(|_| {
                CliError::invalid(format!(
                    "invalid argument \"{s}\" for \"{flag}\" flag: invalid size: '{s}'"
                ))
            }),
        }
    };

    let entrypoint = o.entrypoint.as_ref().map(|e| json!([e]));
    let restart = match &o.restart {
        Some(r) => parse_restart(r)?,
        None => json!({"Name": "no", "MaximumRetryCount": 0}),
    };

    let mut config = Map::new();
    config.insert(
        "Hostname".into(),
        json!(o.hostname.clone().unwrap_or_default()),
    );
    config.insert(
        "Domainname".into(),
        json!(o.domainname.clone().unwrap_or_default()),
    );
    config.insert("User".into(), json!(o.user.clone().unwrap_or_default()));
    config.insert("AttachStdin".into(), json!(a_in));
    config.insert("AttachStdout".into(), json!(a_out));
    config.insert("AttachStderr".into(), json!(a_err));
    if !exposed.is_empty() {
        config.insert("ExposedPorts".into(), Value::Object(exposed));
    }
    config.insert("Tty".into(), json!(o.tty));
    config.insert("OpenStdin".into(), json!(o.interactive));
    config.insert("StdinOnce".into(), json!(o.interactive && a_in));
    config.insert("Env".into(), json!(env));
    config.insert(
        "Cmd".into(),
        if cmd.is_empty() {
            Value::Null
        } else {
            json!(cmd)
        },
    );
    if let Some(h) = healthcheck {
        config.insert("Healthcheck".into(), h);
    }
    config.insert("Image".into(), json!(image));
    config.insert(
        "Volumes".into(),
        if volumes.is_empty() {
            Value::Null
        } else {
            Value::Object(volumes)
        },
    );
    config.insert(
        "WorkingDir".into(),
        json!(o.workdir.clone().unwrap_or_default()),
    );
    config.insert("Entrypoint".into(), entrypoint.unwrap_or(Value::Null));
    if let Some(m) = &o.mac_address {
        config.insert("MacAddress".into(), json!(m));
    }
    config.insert("OnBuild".into(), Value::Null);
    config.insert("Labels".into(), Value::Object(labels));
    if let Some(s) = &o.stop_signal {
        config.insert("StopSignal".into(), json!(s));
    }
    if let Some(t) = o.stop_timeout {
        config.insert("StopTimeout".into(), json!(t));
    }

    let mut host = Map::new();
    host.insert(
        "Binds".into(),
        if binds.is_empty() {
            Value::Null
        } else {
            json!(binds)
        },
    );
    host.insert(
        "ContainerIDFile".into(),
        json!(o.cidfile.clone().unwrap_or_default()),
    );
    host.insert("LogConfig".into(), log_config);
    host.insert(
        "NetworkMode".into(),
        json!(o.network.clone().unwrap_or_else(|| "default".into())),
    );
    host.insert(
        "PortBindings".into(),
        Value::Object(
            bindings
                .into_iter()
                .map(|(k, v)| (k, Value::Array(v)))
                .collect(),
        ),
    );
    host.insert("RestartPolicy".into(), restart);
    host.insert("AutoRemove".into(), json!(o.rm));
    host.insert("VolumeDriver".into(), json!(""));
    host.insert(
        "VolumesFrom".into(),
        if o.volumes_from.is_empty() {
            Value::Null
        } else {
            json!(o.volumes_from)
        },
    );
    host.insert(
        "CapAdd".into(),
        if o.cap_add.is_empty() {
            Value::Null
        } else {
            json!(o.cap_add)
        },
    );
    host.insert(
        "CapDrop".into(),
        if o.cap_drop.is_empty() {
            Value::Null
        } else {
            json!(o.cap_drop)
        },
    );
    host.insert(
        "CgroupnsMode".into(),
        json!(o.cgroupns.clone().unwrap_or_default()),
    );
    host.insert("Dns".into(), json!(o.dns));
    host.insert("DnsOptions".into(), json!(o.dns_option));
    host.insert("DnsSearch".into(), json!(o.dns_search));
    host.insert(
        "ExtraHosts".into(),
        if o.add_host.is_empty() {
            Value::Null
        } else {
            json!(o.add_host)
        },
    );
    host.insert(
        "GroupAdd".into(),
        if o.group_add.is_empty() {
            Value::Null
        } else {
            json!(o.group_add)
        },
    );
    host.insert("IpcMode".into(), json!(o.ipc.clone().unwrap_or_default()));
    host.insert("Cgroup".into(), json!(""));
    host.insert("OomScoreAdj".into(), json!(o.oom_score_adj.unwrap_or(0)));
    host.insert("PidMode".into(), json!(o.pid.clone().unwrap_or_default()));
    host.insert("Privileged".into(), json!(o.privileged));
    host.insert("PublishAllPorts".into(), json!(o.publish_all));
    host.insert("ReadonlyRootfs".into(), json!(o.read_only));
    host.insert(
        "SecurityOpt".into(),
        if o.security_opt.is_empty() {
            Value::Null
        } else {
            json!(o.security_opt)
        },
    );
    if !tmpfs.is_empty() {
        host.insert("Tmpfs".into(), Value::Object(tmpfs));
    }
    host.insert("UTSMode".into(), json!(o.uts.clone().unwrap_or_default()));
    host.insert(
        "UsernsMode".into(),
        json!(o.userns.clone().unwrap_or_default()),
    );
    host.insert("ShmSize".into(), json!(ram(&o.shm_size, "--shm-size")?));
    if !o.sysctl.is_empty() {
        host.insert("Sysctls".into(), Value::Object(kv_map(&o.sysctl)));
    }
    if let Some(r) = &o.runtime {
        host.insert("Runtime".into(), json!(r));
    }
    if let Some((h, w)) = crate::stream::terminal_size().filter(|_| o.tty) {
        host.insert("ConsoleSize".into(), json!([h, w]));
    } else {
        host.insert("ConsoleSize".into(), json!([0, 0]));
    }
    host.insert("Isolation".into(), json!(""));
    host.insert("CpuShares".into(), json!(o.cpu_shares.unwrap_or(0)));
    host.insert("Memory".into(), json!(ram(&o.memory, "-m, --memory")?));
    host.insert("NanoCpus".into(), json!(nano_cpus));
    host.insert(
        "CgroupParent".into(),
        json!(o.cgroup_parent.clone().unwrap_or_default()),
    );
    host.insert("CpuPeriod".into(), json!(o.cpu_period.unwrap_or(0)));
    host.insert("CpuQuota".into(), json!(o.cpu_quota.unwrap_or(0)));
    host.insert(
        "CpusetCpus".into(),
        json!(o.cpuset_cpus.clone().unwrap_or_default()),
    );
    host.insert(
        "CpusetMems".into(),
        json!(o.cpuset_mems.clone().unwrap_or_default()),
    );
    host.insert(
        "Devices".into(),
        Value::Array(o.device.iter().map(|d| parse_device(d)).collect()),
    );
    host.insert(
        "MemoryReservation".into(),
        json!(ram(&o.memory_reservation, "--memory-reservation")?),
    );
    host.insert(
        "MemorySwap".into(),
        json!(ram(&o.memory_swap, "--memory-swap")?),
    );
    host.insert("OomKillDisable".into(), json!(o.oom_kill_disable));
    host.insert(
        "PidsLimit".into(),
        o.pids_limit.map_or(Value::Null, |p| json!(p)),
    );
    host.insert(
        "Ulimits".into(),
        Value::Array(
            o.ulimit
                .iter()
                .map(|u| parse_ulimit(u))
                .collect::<Result<Vec<_>>>()?,
        ),
    );
    if !mounts.is_empty() {
        host.insert("Mounts".into(), Value::Array(mounts));
    }
    if o.init {
        host.insert("Init".into(), json!(true));
    }

    let mut endpoint = Map::new();
    if !o.network_alias.is_empty() {
        endpoint.insert("Aliases".into(), json!(o.network_alias));
    }
    if let Some(ip) = &o.ip {
        endpoint.insert("IPAMConfig".into(), json!({"IPv4Address": ip}));
    }
    let mut networking = json!({"EndpointsConfig": {}});
    if !endpoint.is_empty() {
        let net = o.network.clone().unwrap_or_else(|| "default".into());
        networking["EndpointsConfig"][net] = Value::Object(endpoint);
    }

    let mut body = config;
    body.insert("HostConfig".into(), Value::Object(host));
    body.insert("NetworkingConfig".into(), networking);
    Ok(CreatePlan {
        image,
        body: Value::Object(body),
        name: o.name.clone(),
        platform: o.platform.clone(),
        pull: o.pull.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> ContainerOpts {
        ContainerOpts {
            image_and_args: args.iter().map(|s| s.to_string()).collect(),
            pull: "missing".into(),
            ..Default::default()
        }
    }

    #[test]
    fn basic_body() {
        let mut o = opts(&["busybox", "sh", "-c", "exit 3"]);
        o.env = vec!["A=1".into()];
        o.label = vec!["x=y".into(), "flag".into()];
        o.memory = Some("512m".into());
        o.cpus = Some("1.5".into());
        o.pids_limit = Some(100);
        o.restart = Some("on-failure:3".into());
        let p = build_create(&o, false).ok();
        let b = p.map(|p| p.body).unwrap_or_default();
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], json!(["sh", "-c", "exit 3"]));
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["Labels"], json!({"x": "y", "flag": ""}));
        assert_eq!(b["AttachStdout"], true);
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["HostConfig"]["Memory"], 512 * 1024 * 1024);
        assert_eq!(b["HostConfig"]["NanoCpus"], 1_500_000_000i64);
        assert_eq!(b["HostConfig"]["PidsLimit"], 100);
        assert_eq!(
            b["HostConfig"]["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
    }

    #[test]
    fn conflicts() {
        let mut o = opts(&["busybox"]);
        o.rm = true;
        o.restart = Some("always".into());
        assert!(build_create(&o, false).is_err());
        let mut o = opts(&["busybox"]);
        o.no_healthcheck = true;
        o.health_cmd = Some("true".into());
        assert!(build_create(&o, false).is_err());
        assert!(parse_restart("sometimes").is_err());
        assert!(parse_restart("always:3").is_err());
    }

    #[test]
    fn health_and_interactive() {
        let mut o = opts(&["busybox"]);
        o.health_cmd = Some("curl x".into());
        o.health_interval = Some("30s".into());
        o.health_retries = Some(3);
        o.interactive = true;
        let b = build_create(&o, false).map(|p| p.body).unwrap_or_default();
        assert_eq!(
            b["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "curl x"], "Interval": 30_000_000_000i64, "Retries": 3})
        );
        assert_eq!(b["OpenStdin"], true);
        assert_eq!(b["StdinOnce"], true);
        assert_eq!(b["AttachStdin"], true);
        let b = build_create(&o, true).map(|p| p.body).unwrap_or_default();
        assert_eq!(b["AttachStdin"], false);
        assert_eq!(b["StdinOnce"], false);
    }

    #[test]
    fn publish_specs() {
        assert_eq!(
            parse_publish("127.0.0.1:8080:80").ok(),
            Some(vec![("80/tcp".into(), "127.0.0.1".into(), "8080".into())])
        );
        assert_eq!(
            parse_publish("53/udp").ok(),
            Some(vec![("53/udp".into(), "".into(), "".into())])
        );
        assert_eq!(
            parse_publish("8000-8001:80-81").ok(),
            Some(vec![
                ("80/tcp".into(), "".into(), "8000".into()),
                ("81/tcp".into(), "".into(), "8001".into())
            ])
        );
        assert!(parse_publish("x:y:z:w").is_err());
        // A container range needs a host range of the same length; one container port may
        // take the first free port of a host range.
        let e = parse_publish("18100-18101:8100-8102")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains(
                "invalid ranges specified for container and host Ports: 8100-8102 and 18100-18101"
            ),
            "{e}"
        );
        assert!(parse_publish("18100:8100-8102").is_err());
        assert_eq!(
            parse_publish("18100-18103:80").ok(),
            Some(vec![("80/tcp".into(), "".into(), "18100-18103".into())])
        );
    }

    #[test]
    fn env_file() {
        let v = parse_env_file_content("# c\nA=1\n\n  B=two words\n", "f").ok();
        assert_eq!(v, Some(vec!["A=1".to_string(), "B=two words".to_string()]));
        assert!(parse_env_file_content("A B=1", "f").is_err());
    }
}
