//! Daemon configuration: command-line flags merged over `/etc/berth/daemon.json` (Docker's keys
//! where they apply), plus the per-daemon names of everything host-global.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// Default data root.
pub const DEFAULT_DATA_ROOT: &str = "/var/lib/berth";
/// Default exec root (sockets, shim state).
pub const DEFAULT_EXEC_ROOT: &str = "/run/berth";
/// Default API listener.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// Default config file.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// berthd's command-line flags (dockerd's names).
#[derive(Debug, clap::Parser)]
#[command(
    name = "berthd",
    version,
    about = "berth daemon: serves the Docker Engine API"
)]
pub struct Flags {
    /// Root directory of persistent state.
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root directory of execution state (sockets, shims).
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Daemon socket(s) to listen on: unix:///path or tcp://host:port.
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Path of the PID file.
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// Storage driver: overlay2 (alias overlay) or vfs.
    #[arg(short = 's', long)]
    pub storage_driver: Option<String>,
    /// Log level: debug, info, warn, error.
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// Daemon configuration file.
    #[arg(long)]
    pub config_file: Option<PathBuf>,
    /// Default OCI runtime for containers.
    #[arg(long)]
    pub default_runtime: Option<String>,
    /// Register an additional OCI runtime: name=path.
    #[arg(long = "add-runtime")]
    pub add_runtime: Vec<String>,
    /// Default log driver for containers.
    #[arg(long)]
    pub log_driver: Option<String>,
    /// Enable debug logging (same as --log-level debug).
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Address and prefix of the default bridge (e.g. 172.17.0.1/16).
    #[arg(long)]
    pub bip: Option<String>,
    /// Allocate container addresses of the default bridge from this range.
    #[arg(long)]
    pub fixed_cidr: Option<String>,
    /// Pools for new networks: base=CIDR,size=N.
    #[arg(long = "default-address-pool")]
    pub default_address_pool: Vec<String>,
    /// Program iptables rules (NAT, published ports, isolation).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub iptables: bool,
    /// Use a userland proxy for published ports (needed for 127.0.0.1).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub userland_proxy: bool,
    /// DNS servers for containers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// DNS search domains for containers.
    #[arg(long)]
    pub dns_search: Vec<String>,
    /// DNS options for containers.
    #[arg(long = "dns-opt")]
    pub dns_opt: Vec<String>,
    /// Registry reached over HTTP or with unverified TLS (host:port or CIDR).
    #[arg(long = "insecure-registry")]
    pub insecure_registry: Vec<String>,
    /// Preferred Docker registry mirror.
    #[arg(long = "registry-mirror")]
    pub registry_mirror: Vec<String>,
    /// Directory of per-registry TLS files (<dir>/<host[:port]>/*.crt, client.cert, client.key).
    #[arg(long = "registry-certs-dir")]
    pub registry_certs_dir: Option<PathBuf>,
}

/// One `default-address-pools` entry of daemon.json.
#[derive(Debug, Clone, Deserialize)]
pub struct AddressPool {
    /// Base CIDR.
    pub base: String,
    /// Prefix length of each network carved from it.
    pub size: u8,
}

/// A runtime entry of daemon.json `runtimes`.
#[derive(Debug, Clone, Deserialize)]
pub struct RuntimeEntry {
    /// Path (or name on $PATH) of the runtime binary.
    pub path: String,
    /// Extra arguments (accepted for compatibility; passed before the command).
    #[serde(default, rename = "runtimeArgs")]
    pub runtime_args: Vec<String>,
}

/// The subset of dockerd's daemon.json berthd understands.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileConfig {
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    #[serde(default)]
    hosts: Vec<String>,
    pidfile: Option<PathBuf>,
    storage_driver: Option<String>,
    log_level: Option<String>,
    debug: Option<bool>,
    default_runtime: Option<String>,
    #[serde(default)]
    runtimes: BTreeMap<String, RuntimeEntry>,
    log_driver: Option<String>,
    #[serde(default)]
    log_opts: BTreeMap<String, String>,
    #[serde(default)]
    labels: Vec<String>,
    bip: Option<String>,
    fixed_cidr: Option<String>,
    #[serde(default)]
    default_address_pools: Vec<AddressPool>,
    iptables: Option<bool>,
    userland_proxy: Option<bool>,
    #[serde(default)]
    dns: Vec<String>,
    #[serde(default)]
    dns_search: Vec<String>,
    #[serde(default)]
    dns_opts: Vec<String>,
    #[serde(default)]
    insecure_registries: Vec<String>,
    #[serde(default)]
    registry_mirrors: Vec<String>,
    registry_certs_dir: Option<PathBuf>,
}

/// The effective daemon configuration.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Persistent state root.
    pub data_root: PathBuf,
    /// Execution state root.
    pub exec_root: PathBuf,
    /// Listener addresses.
    pub hosts: Vec<String>,
    /// PID file path.
    pub pidfile: PathBuf,
    /// Requested storage driver (None = overlay2 when supported, else vfs).
    pub storage_driver: Option<String>,
    /// tracing filter.
    pub log_level: String,
    /// Name of the default runtime.
    pub default_runtime: String,
    /// Known runtimes: name → binary path.
    pub runtimes: BTreeMap<String, PathBuf>,
    /// Default log driver.
    pub log_driver: String,
    /// Default log options.
    pub log_opts: BTreeMap<String, String>,
    /// Daemon labels.
    pub labels: Vec<String>,
    /// Name of this daemon instance: prefix of everything host-global it creates.
    pub instance: String,
    /// Directory holding berthd and its helper binaries.
    pub bin_dir: PathBuf,
    /// Container networking settings.
    pub net: NetSettings,
    /// Registries reached over plain HTTP or with unverified TLS (`host:port` or CIDR).
    pub insecure_registries: Vec<String>,
    /// Mirrors tried first for Docker Hub.
    pub registry_mirrors: Vec<String>,
    /// Per-registry TLS material, dockerd's `certs.d` layout (default `/etc/berth/certs.d`).
    pub registry_certs_dir: PathBuf,
}

/// The networking part of the configuration.
#[derive(Debug, Clone, Default)]
pub struct NetSettings {
    /// `--bip`.
    pub bip: Option<String>,
    /// `--fixed-cidr`.
    pub fixed_cidr: Option<String>,
    /// `--default-address-pool` (base, size).
    pub pools: Vec<(String, u8)>,
    /// `--iptables`.
    pub iptables: bool,
    /// `--userland-proxy`.
    pub userland_proxy: bool,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--dns-opt`.
    pub dns_options: Vec<String>,
}

impl DaemonConfig {
    /// Merges flags over the config file (flags win) and fills defaults.
    pub fn load(flags: Flags) -> anyhow::Result<Self> {
        let file_path = flags
            .config_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        let file: FileConfig = match std::fs::read(&file_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "unable to configure the daemon with file {}",
                    file_path.display()
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && flags.config_file.is_none() => {
                FileConfig::default()
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", file_path.display())),
        };
        let data_root = flags
            .data_root
            .or(file.data_root)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_ROOT));
        let exec_root = flags
            .exec_root
            .or(file.exec_root)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_EXEC_ROOT));
        let mut hosts = if flags.hosts.is_empty() {
            file.hosts
        } else {
            flags.hosts
        };
        if hosts.is_empty() {
            hosts.push(DEFAULT_HOST.to_string());
        }
        let pidfile = flags
            .pidfile
            .or(file.pidfile)
            .unwrap_or_else(|| exec_root.join("berthd.pid"));
        let log_level = if flags.debug || file.debug == Some(true) {
            "debug".to_string()
        } else {
            flags
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| "info".into())
        };
        let bin_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("/usr/local/bin"));
        // Our berth-runc answers to "runc", the name dockerd gives its default runtime (clients
        // and test suites expect `HostConfig.Runtime` "runc"); "berth-runc" stays an alias.
        // The host's runc is one `--add-runtime host-runc=/usr/sbin/runc` away.
        let mut runtimes = BTreeMap::new();
        runtimes.insert("runc".to_string(), bin_dir.join("berth-runc"));
        runtimes.insert("berth-runc".to_string(), bin_dir.join("berth-runc"));
        runtimes.insert("crun".to_string(), PathBuf::from("crun"));
        for (name, entry) in file.runtimes {
            runtimes.insert(name, PathBuf::from(entry.path));
        }
        for spec in flags.add_runtime {
            let (name, path) = spec
                .split_once('=')
                .with_context(|| format!("invalid --add-runtime {spec:?}: expected name=path"))?;
            runtimes.insert(name.to_string(), PathBuf::from(path));
        }
        let default_runtime = flags
            .default_runtime
            .or(file.default_runtime)
            .or_else(|| std::env::var("BERTH_DEFAULT_RUNTIME").ok())
            .unwrap_or_else(|| "runc".into());
        if !runtimes.contains_key(&default_runtime) {
            anyhow::bail!("default runtime {default_runtime:?} is not a configured runtime");
        }
        let storage_driver = flags.storage_driver.or(file.storage_driver);
        let log_driver = flags
            .log_driver
            .or(file.log_driver)
            .unwrap_or_else(|| "json-file".into());
        let instance = instance_name(&data_root);
        let mut pools: Vec<(String, u8)> = file
            .default_address_pools
            .iter()
            .map(|p| (p.base.clone(), p.size))
            .collect();
        for spec in &flags.default_address_pool {
            let mut base = None;
            let mut size = None;
            for kv in spec.split(',') {
                match kv.split_once('=') {
                    Some(("base", b)) => base = Some(b.to_string()),
                    Some(("size", s)) => size = s.parse::<u8>().ok(),
                    _ => anyhow::bail!(
                        "invalid --default-address-pool {spec:?}: expected base=CIDR,size=N"
                    ),
                }
            }
            match (base, size) {
                (Some(b), Some(s)) => pools.push((b, s)),
                _ => anyhow::bail!(
                    "invalid --default-address-pool {spec:?}: expected base=CIDR,size=N"
                ),
            }
        }
        let net = NetSettings {
            bip: flags.bip.or(file.bip),
            fixed_cidr: flags.fixed_cidr.or(file.fixed_cidr),
            pools,
            iptables: flags.iptables && file.iptables.unwrap_or(true),
            userland_proxy: flags.userland_proxy && file.userland_proxy.unwrap_or(true),
            dns: if flags.dns.is_empty() {
                file.dns
            } else {
                flags.dns
            },
            dns_search: if flags.dns_search.is_empty() {
                file.dns_search
            } else {
                flags.dns_search
            },
            dns_options: if flags.dns_opt.is_empty() {
                file.dns_opts
            } else {
                flags.dns_opt
            },
        };
        Ok(DaemonConfig {
            data_root,
            exec_root,
            hosts,
            pidfile,
            storage_driver,
            log_level,
            default_runtime,
            runtimes,
            log_driver,
            log_opts: file.log_opts,
            labels: file.labels,
            instance,
            bin_dir,
            net,
            insecure_registries: [file.insecure_registries, flags.insecure_registry].concat(),
            registry_mirrors: [file.registry_mirrors, flags.registry_mirror].concat(),
            registry_certs_dir: flags
                .registry_certs_dir
                .or(file.registry_certs_dir)
                .unwrap_or_else(|| PathBuf::from(berth_distribution::DEFAULT_CERTS_DIR)),
        })
    }

    /// Resolves a runtime name to its binary path (a path given directly is accepted too).
    pub fn runtime_path(&self, name: &str) -> Option<PathBuf> {
        if let Some(p) = self.runtimes.get(name) {
            return Some(resolve_in_path(p));
        }
        if name.starts_with('/') && Path::new(name).exists() {
            return Some(PathBuf::from(name));
        }
        None
    }

    /// Name of the default bridge: `berth0` for the default instance, else `bb<8 hex>` (the
    /// instance's hash; interface names are at most 15 bytes).
    pub fn default_bridge(&self) -> String {
        match self.instance.strip_prefix("berth-") {
            Some(h) => format!("bb{h}"),
            None => "berth0".into(),
        }
    }

    /// The cgroup parent of this daemon's containers (cgroupfs driver).
    pub fn cgroup_parent(&self) -> String {
        format!("/{}", self.instance)
    }
}

/// `berth` for the default data root, `berth-<8 hex>` otherwise, so several daemons coexist.
pub fn instance_name(data_root: &Path) -> String {
    if data_root == Path::new(DEFAULT_DATA_ROOT) {
        return "berth".into();
    }
    let h = Sha256::digest(data_root.as_os_str().as_encoded_bytes());
    format!("berth-{}", &hex::encode(h)[..8])
}

/// Finds a bare program name on $PATH; paths are returned unchanged.
pub fn resolve_in_path(p: &Path) -> PathBuf {
    if p.components().count() > 1 || p.is_absolute() {
        return p.to_path_buf();
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let cand = dir.join(p);
            if cand.is_file() {
                return cand;
            }
        }
    }
    p.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn instance_names_differ_per_data_root() {
        assert_eq!(instance_name(Path::new("/var/lib/berth")), "berth");
        let a = instance_name(Path::new("/tmp/a"));
        let b = instance_name(Path::new("/tmp/b"));
        assert!(a.starts_with("berth-") && a.len() == 14);
        assert_ne!(a, b);
    }

    #[test]
    fn flags_override_file_and_runtimes_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        std::fs::write(
            &file,
            r#"{"data-root":"/tmp/x","log-level":"warn","runtimes":{"myrt":{"path":"/bin/true"}}}"#,
        )
        .unwrap();
        let flags = Flags::parse_from([
            "berthd",
            "--config-file",
            file.to_str().unwrap(),
            "--log-level",
            "debug",
        ]);
        let cfg = DaemonConfig::load(flags).unwrap();
        assert_eq!(cfg.data_root, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.log_level, "debug");
        assert_eq!(cfg.runtime_path("myrt"), Some(PathBuf::from("/bin/true")));
        assert_eq!(cfg.hosts, vec![DEFAULT_HOST.to_string()]);
        assert!(cfg.runtime_path("nosuch").is_none());
        // berth-runc is the default, under dockerd's name for its default runtime.
        assert_eq!(cfg.default_runtime, "runc");
        assert!(
            cfg.runtime_path("runc")
                .is_some_and(|p| p.ends_with("berth-runc")),
            "{:?}",
            cfg.runtime_path("runc")
        );
        assert_eq!(cfg.runtime_path("runc"), cfg.runtime_path("berth-runc"));
        assert_eq!(cfg.registry_certs_dir, PathBuf::from("/etc/berth/certs.d"));
    }

    #[test]
    fn registry_certs_dir_from_file_and_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        std::fs::write(&file, r#"{"registry-certs-dir":"/srv/certs.d"}"#).unwrap();
        let path = file.to_str().unwrap();
        let cfg = DaemonConfig::load(Flags::parse_from(["berthd", "--config-file", path])).unwrap();
        assert_eq!(cfg.registry_certs_dir, PathBuf::from("/srv/certs.d"));
        let flags = Flags::parse_from([
            "berthd",
            "--config-file",
            path,
            "--registry-certs-dir",
            "/x/certs.d",
        ]);
        let cfg = DaemonConfig::load(flags).unwrap();
        assert_eq!(cfg.registry_certs_dir, PathBuf::from("/x/certs.d"));
    }

    #[test]
    fn bad_config_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        std::fs::write(&file, "{not json").unwrap();
        let flags = Flags::parse_from(["berthd", "--config-file", file.to_str().unwrap()]);
        assert!(DaemonConfig::load(flags).is_err());
    }
}
