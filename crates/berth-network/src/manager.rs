//! The network manager: default bridge, user networks, endpoints, rules, proxies and DNS.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use nix::fcntl::{Flock, FlockArg};
use redb::Database;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::drivers;
use crate::error::NetError;
use crate::ipam::{self, Subnet};
use crate::nl::Netlink;
use crate::rules::{self, BridgeRules, Chains, PortRule};
use crate::store::{self, EpRecord, NetKind, NetRecord};
use crate::{
    EndpointInfo, EndpointRequest, NetConfig, NetworkCreate, NetworkInfo, dns, netns, ports,
};

const LOCK_PATH: &str = "/run/berth-net.lock";
/// One file per running instance (named after its default bridge): pid, instance, bridges.
/// Lets a starting daemon reclaim bridges, chains and subnets of crashed/killed test daemons.
const OWNER_DIR: &str = "/run/berth-net";

fn write_owner(cfg: &NetConfig, nets: &[NetRecord]) {
    let bridges: Vec<&str> = nets
        .iter()
        .filter(|n| matches!(n.kind, NetKind::Default | NetKind::User))
        .map(|n| n.bridge.as_str())
        .collect();
    let text = format!(
        "{}\n{}\n{}\n",
        std::process::id(),
        cfg.instance,
        bridges.join(" ")
    );
    let _ = std::fs::create_dir_all(OWNER_DIR);
    let _ = std::fs::write(Path::new(OWNER_DIR).join(&cfg.default_bridge), text);
}

fn remove_owner(cfg: &NetConfig) {
    let _ = std::fs::remove_file(Path::new(OWNER_DIR).join(&cfg.default_bridge));
}

fn teardown_chains(chains: &Chains) {
    let nat = rules::save("nat").unwrap_or_default();
    let filter = rules::save("filter").unwrap_or_default();
    let all = chains.jumps();
    let present: Vec<_> = rules::present_jumps(&nat, &filter, &all)
        .into_iter()
        .cloned()
        .collect();
    if !nat.contains(&format!(":{} ", chains.nat)) && !filter.contains(&format!(":{} ", chains.fwd))
    {
        return;
    }
    if let Err(e) = rules::restore(&rules::render_teardown(chains, &present)) {
        tracing::warn!("removing iptables chains {}: {e}", chains.nat);
    }
}

/// Test daemons ("bb<8hex>" default bridges) that predate owner files leak a /16 each; reclaim
/// the idle ones so the address pools do not run dry. A live daemon recreates its bridge on
/// the next connect.
fn gc_ownerless_test_bridges(own_bridge: &str, iptables: bool) {
    // A berthd running without an owner file may own one of these bridges: leave them all then.
    let owners: HashSet<String> = std::fs::read_dir(OWNER_DIR)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    std::fs::read_to_string(e.path())
                        .ok()?
                        .lines()
                        .next()
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    let me = std::process::id().to_string();
    let unknown_daemon = std::fs::read_dir("/proc").map_or(true, |d| {
        d.flatten().any(|e| {
            let pid = e.file_name().to_string_lossy().into_owned();
            pid != me
                && !owners.contains(&pid)
                && std::fs::read_to_string(e.path().join("comm"))
                    .is_ok_and(|c| c.trim() == "berthd")
        })
    });
    if unknown_daemon {
        return;
    }
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return;
    };
    for ent in dir.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        let Some(hex) = name.strip_prefix("bb") else {
            continue;
        };
        if name == own_bridge
            || hex.len() != 8
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            || Path::new(OWNER_DIR).join(&name).exists()
            || !ent.path().join("bridge").exists()
        {
            continue;
        }
        let idle = std::fs::read_dir(ent.path().join("brif"))
            .map(|d| d.count() == 0)
            .unwrap_or(false);
        if !idle {
            continue;
        }
        delete_link(&name);
        if iptables {
            teardown_chains(&Chains::for_instance(&format!("berth-{hex}")));
        }
    }
}

/// Removes what dead test instances (never the production "berth" one) left behind, when none
/// of their bridges still has containers attached. Caller holds the host lock.
fn gc_stale_instances(own_bridge: &str, iptables: bool) {
    gc_ownerless_test_bridges(own_bridge, iptables);
    let Ok(dir) = std::fs::read_dir(OWNER_DIR) else {
        return;
    };
    for ent in dir.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        if name == own_bridge {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(ent.path()) else {
            continue;
        };
        let mut lines = text.lines();
        let (Some(pid), Some(instance)) = (lines.next(), lines.next()) else {
            continue;
        };
        let bridges: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
        if instance == "berth" || pid.is_empty() || Path::new("/proc").join(pid).exists() {
            continue;
        }
        let busy = bridges.iter().any(|b| {
            std::fs::read_dir(format!("/sys/class/net/{b}/brif"))
                .map(|d| d.count() > 0)
                .unwrap_or(false)
        });
        if busy {
            continue;
        }
        for b in &bridges {
            delete_link(b);
        }
        if iptables {
            teardown_chains(&Chains::for_instance(instance));
        }
        let _ = std::fs::remove_file(ent.path());
    }
}

#[derive(Default)]
struct State {
    nets: Vec<NetRecord>,
    eps: Vec<EpRecord>,
    /// IPs reserved in `net_ipam` (network id → ip → container).
    reserved: HashMap<String, BTreeMap<Ipv4Addr, String>>,
    proxies: HashMap<String, Vec<JoinHandle<()>>>,
    dns: HashMap<String, JoinHandle<()>>,
    last_ip: HashMap<String, Ipv4Addr>,
    last_port: HashMap<String, u16>,
    missing_jumps: Vec<(&'static str, &'static str, String)>,
    /// The rules text last given to iptables-restore: a container without published ports
    /// changes nothing, and skipping the identical restore saves ~40 ms per start and exit.
    applied_rules: Option<String>,
    rr: usize,
}

struct Inner {
    cfg: NetConfig,
    db: Arc<Database>,
    chains: Chains,
    state: Mutex<State>,
    /// Serializes mutating operations (kernel + rules + db) across awaits.
    op: tokio::sync::Mutex<()>,
    upstreams: Arc<Vec<SocketAddr>>,
}

/// Owns all container networking of one daemon instance. Send + Sync; hold it in an Arc.
pub struct NetworkManager {
    inner: Arc<Inner>,
}

fn now() -> String {
    berth_core::time::rfc3339_nanos(chrono::Utc::now())
}

fn random_hex(n: usize) -> String {
    let bytes: Vec<u8> = (0..n.div_ceil(2)).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)[..n].to_string()
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

fn lock_host() -> Result<Flock<File>, NetError> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_PATH)
        .map_err(NetError::io(format!("open {LOCK_PATH}")))?;
    Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| NetError::Io {
        context: format!("flock {LOCK_PATH}"),
        source: e.into(),
    })
}

fn host_routes() -> Result<Vec<Subnet>, NetError> {
    let mut nl = Netlink::open().map_err(NetError::io("netlink"))?;
    let r = nl.routes().map_err(NetError::io("list routes"))?;
    Ok(r.into_iter()
        .filter(|(_, p)| *p > 0)
        .map(|(a, p)| Subnet::new(a, p))
        .collect())
}

/// Creates (or adopts) a bridge with `gw/prefix` and brings it up.
fn ensure_bridge(name: &str, gw: Ipv4Addr, prefix: u8, mtu: Option<u32>) -> Result<(), NetError> {
    let mut nl = Netlink::open().map_err(NetError::io("netlink"))?;
    let idx = match nl.link_index(name).map_err(NetError::io("get link"))? {
        Some(i) => i,
        None => {
            nl.create_bridge(name, mtu)
                .map_err(NetError::io(format!("create bridge {name}")))?;
            nl.link_index(name)
                .map_err(NetError::io("get link"))?
                .ok_or_else(|| NetError::Io {
                    context: format!("bridge {name}"),
                    source: std::io::Error::other("vanished"),
                })?
        }
    };
    nl.add_address(idx, gw, prefix)
        .map_err(NetError::io(format!("address on {name}")))?;
    nl.set_up(idx).map_err(NetError::io(format!("up {name}")))
}

fn delete_link(name: &str) {
    if name.is_empty() {
        return;
    }
    if let Ok(mut nl) = Netlink::open() {
        let _ = nl.delete_link(name);
    }
}

fn parent_missing(name: &str) -> NetError {
    NetError::InvalidArgument(format!(
        "-o parent interface was not found on the host: {name}"
    ))
}

/// Makes sure the parent link of a macvlan/ipvlan network exists. A missing `dm-<id12>` is
/// created as a dummy, a missing `base.vid` as an 802.1q link on `base` (as dockerd does); both
/// are brought up. Returns whether we created it.
fn ensure_parent(network_id: &str, parent: &str) -> Result<bool, NetError> {
    let mut nl = Netlink::open().map_err(NetError::io("netlink"))?;
    if nl
        .link_index(parent)
        .map_err(NetError::io("get link"))?
        .is_some()
    {
        return Ok(false);
    }
    if parent == drivers::dummy_name(network_id) {
        match nl.create_dummy(parent) {
            Ok(()) => {}
            // Kernels without CONFIG_DUMMY: a veth pair whose peer stays unused on the host
            // is an equally isolated parent (deleting one end deletes both).
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                let peer = format!("dp-{}", &parent[3..]);
                nl.create_veth(parent, &peer, None)
                    .map_err(NetError::io(format!("create dummy link {parent}")))?;
                let up = nl
                    .link_index(&peer)
                    .map_err(NetError::io("get link"))?
                    .map(|i| nl.set_up(i));
                if let Some(Err(e)) = up {
                    let _ = nl.delete_link(parent);
                    return Err(NetError::io(format!("up {peer}"))(e));
                }
            }
            Err(e) => return Err(NetError::io(format!("create dummy link {parent}"))(e)),
        }
    } else {
        let (base, vid) = drivers::parse_vlan(parent)?;
        let bidx = nl
            .link_index(&base)
            .map_err(NetError::io("get link"))?
            .ok_or_else(|| parent_missing(&base))?;
        nl.create_vlan(parent, bidx, vid)
            .map_err(NetError::io(format!("create vlan link {parent}")))?;
    }
    let up = nl
        .link_index(parent)
        .map_err(NetError::io("get link"))?
        .ok_or_else(|| parent_missing(parent))
        .and_then(|i| nl.set_up(i).map_err(NetError::io(format!("up {parent}"))));
    if let Err(e) = up {
        let _ = nl.delete_link(parent);
        return Err(e);
    }
    Ok(true)
}

/// Deletes an endpoint's link: a veth from the host side, a macvlan/ipvlan inside the sandbox
/// (it never has a host-side end; the netns going away would destroy it too, but be explicit).
fn delete_ep_link(sublink: bool, host_name: &str, sandbox: &Path, ifname: &str) {
    if sublink {
        if sandbox.exists() {
            let ifname = ifname.to_string();
            let _ = netns::run_in(sandbox, move || {
                let mut nl = Netlink::open()?;
                nl.delete_link(&ifname)
            });
        }
        // Still on the host if moving it into the sandbox failed.
        delete_link(host_name);
    } else {
        delete_link(host_name);
    }
}

/// Where a container's default route goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DefaultRoute {
    None,
    Via(Ipv4Addr),
    Device,
}

/// macvlan/ipvlan endpoint: a sub-link of the network's parent (with the parent's MTU),
/// moved into the sandbox, renamed, addressed and routed there.
#[allow(clippy::too_many_arguments)]
fn plumb_sublink(
    net: &NetRecord,
    tmp: &str,
    sandbox: &Path,
    ifname: &str,
    ip: Ipv4Addr,
    prefix: u8,
    mac: Option<[u8; 6]>,
    route: DefaultRoute,
) -> Result<(), NetError> {
    let driver = if net.kind == NetKind::Ipvlan {
        "ipvlan"
    } else {
        "macvlan"
    };
    let kind = drivers::parse_kind(driver, &net.options)?;
    if net.created_parent {
        ensure_parent(&net.id, &net.parent)?;
    }
    let mut nl = Netlink::open().map_err(NetError::io("netlink"))?;
    let (pidx, mtu) = nl
        .link_mtu(&net.parent)
        .map_err(NetError::io("get parent link"))?
        .ok_or_else(|| parent_missing(&net.parent))?;
    nl.create_sublink(tmp, pidx, mtu, kind)
        .map_err(NetError::io(format!(
            "create {driver} link on {}",
            net.parent
        )))?;
    let idx = nl
        .link_index(tmp)
        .map_err(NetError::io(format!("get {driver} link")))?
        .ok_or_else(|| NetError::Io {
            context: tmp.to_string(),
            source: std::io::Error::other("link not found"),
        })?;
    let ns = File::open(sandbox).map_err(NetError::io(format!("open {}", sandbox.display())))?;
    nl.set_netns(idx, &ns)
        .map_err(NetError::io(format!("move {driver} link into sandbox")))?;
    let tmp = tmp.to_string();
    let ifname = ifname.to_string();
    let mac = mac.filter(|_| kind.own_mac());
    netns::run_in(sandbox, move || {
        let mut nl = Netlink::open()?;
        let idx = nl
            .link_index(&tmp)?
            .ok_or_else(|| std::io::Error::other("link missing in sandbox"))?;
        nl.rename_and_mac(idx, &ifname, mac)?;
        nl.add_address(idx, ip, prefix)?;
        nl.set_up(idx)?;
        match route {
            DefaultRoute::None => {}
            DefaultRoute::Via(gw) => nl.add_default_route(gw)?,
            DefaultRoute::Device => nl.add_default_dev_route(idx)?,
        }
        Ok(())
    })
    .map_err(NetError::io("configure interface in sandbox"))
}

fn record_info(n: &NetRecord) -> NetworkInfo {
    let bridge_kind = matches!(n.kind, NetKind::Default | NetKind::User);
    NetworkInfo {
        id: n.id.clone(),
        name: n.name.clone(),
        driver: match n.kind {
            NetKind::Host => "host",
            NetKind::Null => "null",
            NetKind::Macvlan => "macvlan",
            NetKind::Ipvlan => "ipvlan",
            NetKind::Default | NetKind::User => "bridge",
        }
        .to_string(),
        scope: "local".into(),
        internal: n.internal,
        attachable: n.attachable,
        enable_ipv6: n.enable_ipv6,
        subnet: n.subnet.clone(),
        gateway: n.gateway.map(|g| g.to_string()),
        bridge: bridge_kind.then(|| n.bridge.clone()),
        labels: n.labels.clone(),
        options: n.options.clone(),
        created: n.created.clone(),
        is_default: n.kind == NetKind::Default,
        is_user: n.kind.user_defined(),
    }
}

impl State {
    fn net(&self, key: &str) -> Option<&NetRecord> {
        if key.is_empty() {
            return None;
        }
        let key = if key == "default" { "bridge" } else { key };
        self.nets
            .iter()
            .find(|n| n.id == key)
            .or_else(|| self.nets.iter().find(|n| n.name == key))
            .or_else(|| {
                let m: Vec<&NetRecord> =
                    self.nets.iter().filter(|n| n.id.starts_with(key)).collect();
                (m.len() == 1).then(|| m[0])
            })
    }

    fn ports_in_use(&self) -> Vec<(String, Ipv4Addr, u16)> {
        self.eps
            .iter()
            .flat_map(|e| e.ports.iter())
            .map(|(_, proto, ip, hp)| {
                (
                    proto.clone(),
                    ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
                    *hp,
                )
            })
            .collect()
    }

    fn used_ips(&self, net: &str) -> BTreeSet<Ipv4Addr> {
        let mut s: BTreeSet<Ipv4Addr> = self
            .eps
            .iter()
            .filter(|e| e.network_id == net)
            .map(|e| e.ip)
            .collect();
        if let Some(r) = self.reserved.get(net) {
            s.extend(r.keys().copied());
        }
        if let Some(n) = self.nets.iter().find(|n| n.id == net) {
            s.extend(n.aux_addresses.values().copied());
        }
        s
    }
}

fn port_clash(inuse: &[(String, Ipv4Addr, u16)], proto: &str, ip: Ipv4Addr, port: u16) -> bool {
    inuse.iter().any(|(p, i, hp)| {
        p == proto && *hp == port && (*i == ip || i.is_unspecified() || ip.is_unspecified())
    })
}

impl NetworkManager {
    fn st(&self) -> MutexGuard<'_, State> {
        lock_state(&self.inner)
    }

    /// Creates/adopts the default bridge and our iptables chains, enables ip_forward, loads user networks.
    pub async fn start(cfg: NetConfig, db: Arc<Database>) -> Result<Arc<Self>, NetError> {
        store::init(&db)?;
        let mut nets = store::load_networks(&db)?;
        let eps = store::load_endpoints(&db)?;
        let mut reserved: HashMap<String, BTreeMap<Ipv4Addr, String>> = HashMap::new();
        for (n, ip, c) in store::reserved_ips(&db)? {
            reserved.entry(n).or_default().insert(ip, c);
        }
        for (name, kind) in [("host", NetKind::Host), ("none", NetKind::Null)] {
            if !nets.iter().any(|n| n.kind == kind) {
                let r = NetRecord {
                    id: berth_core::generate_id(),
                    name: name.into(),
                    kind,
                    bridge: String::new(),
                    subnet: None,
                    gateway: None,
                    ip_range: None,
                    show_gateway: false,
                    aux_addresses: BTreeMap::new(),
                    internal: false,
                    attachable: false,
                    enable_ipv6: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    ipam_options: None,
                    created: now(),
                    parent: String::new(),
                    created_parent: false,
                };
                store::put_network(&db, &r)?;
                nets.push(r);
            }
        }

        {
            let _lock = lock_host()?;
            gc_stale_instances(&cfg.default_bridge, cfg.iptables);
            // Default bridge: --bip wins, then an existing bridge's address, then a free pool.
            let mut nl = Netlink::open().map_err(NetError::io("netlink"))?;
            let existing = match nl
                .link_index(&cfg.default_bridge)
                .map_err(NetError::io("get link"))?
            {
                Some(i) => nl
                    .addresses(i)
                    .map_err(NetError::io("list addresses"))?
                    .first()
                    .copied(),
                None => None,
            };
            let (gw, prefix) = if let Some(b) = &cfg.bip {
                ipam::parse_cidr(b).map_err(|e| NetError::InvalidArgument(e.to_string()))?
            } else if let Some(e) = existing {
                e
            } else {
                let ours: Vec<Subnet> = nets
                    .iter()
                    .filter(|n| n.kind.user_defined())
                    .filter_map(|n| n.subnet.as_deref()?.parse().ok())
                    .collect();
                let s = ipam::choose_pool(&pools(&cfg), &host_routes()?, &ours)
                    .ok_or(NetError::NoPool)?;
                (s.default_gateway(), s.prefix)
            };
            let subnet = Subnet::new(gw, prefix);
            ensure_bridge(&cfg.default_bridge, gw, prefix, cfg.mtu)?;
            let mut options = BTreeMap::new();
            for (k, v) in [
                ("com.docker.network.bridge.default_bridge", "true"),
                ("com.docker.network.bridge.enable_icc", "true"),
                ("com.docker.network.bridge.enable_ip_masquerade", "true"),
                ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
            ] {
                options.insert(k.to_string(), v.to_string());
            }
            options.insert(
                "com.docker.network.bridge.name".into(),
                cfg.default_bridge.clone(),
            );
            options.insert(
                "com.docker.network.driver.mtu".into(),
                cfg.mtu.unwrap_or(1500).to_string(),
            );
            let pos = nets.iter().position(|n| n.kind == NetKind::Default);
            let rec = NetRecord {
                id: pos
                    .map(|p| nets[p].id.clone())
                    .unwrap_or_else(berth_core::generate_id),
                name: "bridge".into(),
                kind: NetKind::Default,
                bridge: cfg.default_bridge.clone(),
                subnet: Some(subnet.to_string()),
                gateway: Some(gw),
                ip_range: cfg.fixed_cidr.clone(),
                show_gateway: false,
                aux_addresses: BTreeMap::new(),
                internal: false,
                attachable: false,
                enable_ipv6: false,
                labels: BTreeMap::new(),
                options,
                ipam_options: None,
                created: pos.map(|p| nets[p].created.clone()).unwrap_or_else(now),
                parent: String::new(),
                created_parent: false,
            };
            store::put_network(&db, &rec)?;
            match pos {
                Some(p) => nets[p] = rec,
                None => nets.push(rec),
            }
            for n in nets.iter().filter(|n| n.kind == NetKind::User) {
                if let (Some(s), Some(g)) = (
                    n.subnet.as_deref().and_then(|s| s.parse::<Subnet>().ok()),
                    n.gateway,
                ) {
                    ensure_bridge(&n.bridge, g, s.prefix, cfg.mtu)?;
                }
            }
            // Dummy/VLAN parents we created may be gone (test instances delete them when idle).
            for n in nets.iter().filter(|n| n.kind.sublink() && n.created_parent) {
                if let Err(e) = ensure_parent(&n.id, &n.parent) {
                    tracing::warn!("parent {} of network {}: {e}", n.parent, n.name);
                }
            }
            write_owner(&cfg, &nets);
        }

        if cfg.ip_forward {
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
                .map_err(NetError::io("enable ip_forward"))?;
        }
        let chains = Chains::for_instance(&cfg.instance);
        let missing_jumps = if cfg.iptables {
            let nat = rules::save("nat").map_err(NetError::io("iptables-save"))?;
            let filter = rules::save("filter").map_err(NetError::io("iptables-save"))?;
            let all = chains.jumps();
            let present: Vec<_> = rules::present_jumps(&nat, &filter, &all)
                .into_iter()
                .cloned()
                .collect();
            all.into_iter().filter(|j| !present.contains(j)).collect()
        } else {
            Vec::new()
        };
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut up: Vec<SocketAddr> = dns::host_nameservers(&resolv)
            .iter()
            .filter_map(|s| s.parse::<Ipv4Addr>().ok())
            .map(|ip| SocketAddr::from((ip, 53)))
            .collect();
        if up.is_empty() {
            up.push(SocketAddr::from(([8, 8, 8, 8], 53)));
        }
        let inner = Arc::new(Inner {
            cfg,
            db,
            chains,
            state: Mutex::new(State {
                nets,
                eps,
                reserved,
                missing_jumps,
                ..State::default()
            }),
            op: tokio::sync::Mutex::new(()),
            upstreams: Arc::new(up),
        });
        let mgr = Arc::new(NetworkManager { inner });
        {
            let mut st = mgr.st();
            apply_rules(&mgr.inner, &mut st)?;
        }
        Ok(mgr)
    }

    /// Daemon stop: stops DNS servers and proxies; with `keep_running_endpoints` false also
    /// releases every endpoint.
    pub async fn shutdown(&self, keep_running_endpoints: bool) {
        if !keep_running_endpoints {
            let ids: HashSet<String> = self
                .st()
                .eps
                .iter()
                .map(|e| e.container_id.clone())
                .collect();
            for id in ids {
                self.release_container(&id).await;
            }
        }
        let idle = {
            let mut st = self.st();
            for (_, hs) in st.proxies.drain() {
                hs.iter().for_each(|h| h.abort());
            }
            for (_, h) in st.dns.drain() {
                h.abort();
            }
            st.eps.is_empty()
        };
        // Test instances leave nothing behind once idle; start() recreates everything.
        if idle && self.inner.cfg.instance != "berth" {
            self.teardown_host().await;
        }
    }

    async fn teardown_host(&self) {
        let _g = self.inner.op.lock().await;
        let bridges: Vec<String> = self
            .st()
            .nets
            .iter()
            .filter(|n| matches!(n.kind, NetKind::Default | NetKind::User))
            .map(|n| n.bridge.clone())
            .collect();
        let parents: Vec<String> = self
            .st()
            .nets
            .iter()
            .filter(|n| n.kind.sublink() && n.created_parent)
            .map(|n| n.parent.clone())
            .collect();
        for b in bridges.iter().chain(&parents) {
            delete_link(b);
        }
        if self.inner.cfg.iptables {
            teardown_chains(&self.inner.chains);
            let mut st = self.st();
            st.missing_jumps = self.inner.chains.jumps();
            st.applied_rules = None;
        }
        remove_owner(&self.inner.cfg);
    }

    /// Removes everything this instance put on the host: endpoints, bridges, chains and jumps.
    /// For tests and uninstall; records in the database stay.
    pub async fn destroy(&self) {
        self.shutdown(false).await;
        self.teardown_host().await;
    }

    /// All networks, including the built-ins bridge, host and none.
    pub fn list(&self) -> Vec<NetworkInfo> {
        self.st().nets.iter().map(record_info).collect()
    }

    /// Looks a network up by id, name, or unique id prefix.
    pub fn get(&self, id_or_name_or_prefix: &str) -> Result<NetworkInfo, NetError> {
        self.st()
            .net(id_or_name_or_prefix)
            .map(record_info)
            .ok_or_else(|| NetError::NotFound(id_or_name_or_prefix.to_string()))
    }

    /// Creates a user-defined bridge network. Returns (id, warning).
    pub async fn create(&self, req: NetworkCreate) -> Result<(String, Option<String>), NetError> {
        let _g = self.inner.op.lock().await;
        if req.name.is_empty() {
            return Err(NetError::InvalidArgument("network name is required".into()));
        }
        let driver = if req.driver.is_empty() {
            "bridge"
        } else {
            req.driver.as_str()
        };
        let sublink = drivers::is_sublink_driver(driver);
        if driver != "bridge" && !sublink {
            return Err(NetError::UnknownDriver(driver.to_string()));
        }
        if self.st().nets.iter().any(|n| n.name == req.name) {
            return Err(NetError::NameExists(req.name));
        }
        let pool = req
            .ipam
            .as_ref()
            .and_then(|i| i.config.as_ref())
            .and_then(|c| c.first())
            .cloned();
        let bad = |e: ipam::CidrError| NetError::InvalidArgument(e.to_string());
        let id = berth_core::generate_id();
        let dopts = if sublink {
            let opts = req.options.clone().unwrap_or_default();
            Some(drivers::parse(driver, &id, &opts, req.internal)?)
        } else {
            None
        };
        let bridge = if sublink {
            String::new()
        } else {
            req.options
                .as_ref()
                .and_then(|o| o.get("com.docker.network.bridge.name").cloned())
                .unwrap_or_else(|| format!("bt-{}", short(&id)))
        };
        let _lock = lock_host()?;
        let ours: Vec<Subnet> = self
            .st()
            .nets
            .iter()
            .filter_map(|n| n.subnet.as_deref()?.parse().ok())
            .collect();
        let mut aux_addresses = BTreeMap::new();
        let (subnet, gateway, ip_range, show_gateway) = match pool.filter(|p| !p.subnet.is_empty())
        {
            Some(p) => {
                let s: Subnet = p.subnet.parse().map_err(bad)?;
                if ours.iter().any(|o| o.overlaps(&s)) {
                    return Err(NetError::PoolOverlap);
                }
                let gw = if p.gateway.is_empty() {
                    s.default_gateway()
                } else {
                    let g: Ipv4Addr = p.gateway.parse().map_err(|_| {
                        NetError::InvalidArgument(format!("invalid gateway address: {}", p.gateway))
                    })?;
                    if !s.contains(g) {
                        return Err(NetError::InvalidAddress(g.to_string()));
                    }
                    g
                };
                let range = if p.ip_range.is_empty() {
                    None
                } else {
                    let r: Subnet = p.ip_range.parse().map_err(bad)?;
                    if !s.contains(r.addr) || r.prefix < s.prefix {
                        return Err(NetError::InvalidArgument(format!(
                            "invalid ip-range {}: it must be contained in the subnet {}",
                            p.ip_range, s
                        )));
                    }
                    Some(r.to_string())
                };
                for (name, addr) in &p.auxiliary_addresses {
                    let a: Ipv4Addr = addr.parse().map_err(|_| {
                        NetError::InvalidArgument(format!(
                            "invalid auxiliary address: {name}={addr}"
                        ))
                    })?;
                    if !s.contains(a) {
                        return Err(NetError::InvalidArgument(format!(
                            "auxiliary address: ({name}:{addr}) must belong to the master pool: {s}"
                        )));
                    }
                    aux_addresses.insert(name.clone(), a);
                }
                (s, gw, range, !p.gateway.is_empty())
            }
            None => {
                let s = ipam::choose_pool(&pools(&self.inner.cfg), &host_routes()?, &ours)
                    .ok_or(NetError::NoPool)?;
                (s, s.default_gateway(), None, true)
            }
        };
        let (kind, parent, created_parent) = match &dopts {
            None => {
                if let Err(e) = ensure_bridge(&bridge, gateway, subnet.prefix, self.inner.cfg.mtu) {
                    delete_link(&bridge);
                    return Err(e);
                }
                (NetKind::User, String::new(), false)
            }
            Some(d) => {
                let parent = match &d.parent {
                    drivers::Parent::Dummy(p) | drivers::Parent::Named(p) => p.clone(),
                };
                // One network per parent link, as dockerd enforces.
                if let Some(other) = self
                    .st()
                    .nets
                    .iter()
                    .find(|n| n.kind.sublink() && n.parent == parent)
                {
                    return Err(NetError::InvalidArgument(format!(
                        "network {} is already using parent interface {parent}",
                        drivers::dummy_name(&other.id)
                    )));
                }
                let created = ensure_parent(&id, &parent)?;
                let kind = match d.kind {
                    drivers::LinkKind::Macvlan(_) => NetKind::Macvlan,
                    drivers::LinkKind::Ipvlan(..) => NetKind::Ipvlan,
                };
                (kind, parent, created)
            }
        };
        let rec = NetRecord {
            id: id.clone(),
            name: req.name.clone(),
            kind,
            bridge: bridge.clone(),
            subnet: Some(subnet.to_string()),
            gateway: Some(gateway),
            ip_range,
            show_gateway,
            aux_addresses,
            internal: req.internal,
            attachable: req.attachable,
            enable_ipv6: req.enable_ipv6,
            labels: req.labels.unwrap_or_default(),
            options: req.options.unwrap_or_default(),
            // null unless the client sent options (the docker CLI sends `{}`).
            ipam_options: req.ipam.and_then(|i| i.options),
            created: now(),
            parent: parent.clone(),
            created_parent,
        };
        let mut st = self.st();
        st.nets.push(rec.clone());
        let res = store::put_network(&self.inner.db, &rec)
            .and_then(|_| apply_rules(&self.inner, &mut st));
        if let Err(e) = res {
            st.nets.retain(|n| n.id != id);
            let _ = store::delete_network(&self.inner.db, &id);
            drop(st);
            delete_link(&bridge);
            if created_parent {
                delete_link(&parent);
            }
            return Err(e);
        }
        write_owner(&self.inner.cfg, &st.nets);
        Ok((id, None))
    }

    /// Removes a user network (its bridge and rules).
    pub async fn remove(&self, id_or_name: &str) -> Result<(), NetError> {
        let _g = self.inner.op.lock().await;
        let mut st = self.st();
        let n = st
            .net(id_or_name)
            .cloned()
            .ok_or_else(|| NetError::NotFound(id_or_name.to_string()))?;
        if !n.kind.user_defined() {
            return Err(NetError::Predefined(n.name));
        }
        if st.eps.iter().any(|e| e.network_id == n.id) {
            return Err(NetError::ActiveEndpoints {
                name: n.name,
                id: n.id,
            });
        }
        st.nets.retain(|x| x.id != n.id);
        st.reserved.remove(&n.id);
        store::delete_network(&self.inner.db, &n.id)?;
        if let Err(e) = apply_rules(&self.inner, &mut st) {
            tracing::warn!("rules after removing {}: {e}", n.name);
        }
        write_owner(&self.inner.cfg, &st.nets);
        drop(st);
        if n.kind.sublink() {
            if n.created_parent {
                delete_link(&n.parent);
            }
        } else {
            delete_link(&n.bridge);
        }
        Ok(())
    }

    /// Removes user networks without endpoints for which `filter` returns true.
    /// Returns the removed networks' names.
    pub async fn prune(
        &self,
        filter: &(dyn Fn(&NetworkInfo) -> bool + Sync),
    ) -> Result<Vec<String>, NetError> {
        let cands: Vec<NetworkInfo> = {
            let st = self.st();
            st.nets
                .iter()
                .filter(|n| n.kind.user_defined() && !st.eps.iter().any(|e| e.network_id == n.id))
                .map(record_info)
                .filter(|i| filter(i))
                .collect()
        };
        let mut out = Vec::new();
        for c in cands {
            if self.remove(&c.id).await.is_ok() {
                out.push(c.name);
            }
        }
        Ok(out)
    }

    /// Docker's NetworkResource JSON for one network; `containers` maps container id → name.
    pub fn inspect_json(&self, id: &str, containers: &dyn Fn(&str) -> Option<String>) -> Value {
        let st = self.st();
        let Some(n) = st.net(id) else {
            return Value::Null;
        };
        network_json(n, &st.eps, containers)
    }

    /// Creates a new network namespace for a container; returns its path for the OCI spec.
    pub async fn create_sandbox(&self, container_id: &str) -> Result<PathBuf, NetError> {
        let path = self.sandbox_path(container_id);
        if path.exists() && netns::run_in(&path, || Ok(())).is_ok() {
            return Ok(path);
        }
        netns::create(&path).map_err(NetError::io(format!("create netns {}", path.display())))?;
        Ok(path)
    }

    fn sandbox_path(&self, container_id: &str) -> PathBuf {
        self.inner
            .cfg
            .exec_root
            .join("netns")
            .join(short(container_id))
    }

    /// Attaches a container's sandbox to a network: veth, address, routes, published ports, DNS.
    pub async fn connect(
        &self,
        container_id: &str,
        sandbox: &Path,
        network: &str,
        req: EndpointRequest,
    ) -> Result<EndpointInfo, NetError> {
        let _g = self.inner.op.lock().await;
        let inner = &self.inner;
        // Phase 1 (state only): pick the address and bind the proxy sockets.
        let (net, ip, subnet, gw, ifname, first, ep_id, bound, ports_out) = {
            let mut st = self.st();
            let net = st
                .net(network)
                .cloned()
                .ok_or_else(|| NetError::NotFound(network.to_string()))?;
            if !matches!(net.kind, NetKind::Default | NetKind::User) && !net.kind.sublink() {
                return Err(NetError::InvalidArgument(
                    "container cannot be disconnected from host network or connected to host network".to_string(),
                ));
            }
            if st
                .eps
                .iter()
                .any(|e| e.container_id == container_id && e.network_id == net.id)
            {
                return Err(NetError::AlreadyConnected {
                    name: req.name.clone(),
                    network: net.name.clone(),
                });
            }
            if net.kind == NetKind::Default && req.ipv4.is_some() {
                return Err(NetError::UserIpOnDefault);
            }
            if net.kind == NetKind::Default && !req.aliases.is_empty() {
                return Err(NetError::AliasOnDefault);
            }
            let subnet: Subnet = net
                .subnet
                .as_deref()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| NetError::InvalidArgument("network has no subnet".into()))?;
            let gw = net.gateway.unwrap_or_else(|| subnet.default_gateway());
            let used = st.used_ips(&net.id);
            let ip = match req.ipv4 {
                Some(ip) => {
                    if !subnet.contains(ip) {
                        return Err(NetError::InvalidAddress(ip.to_string()));
                    }
                    if used.contains(&ip) || ip == gw {
                        return Err(NetError::AddressInUse);
                    }
                    ip
                }
                None => {
                    let range: Option<Subnet> =
                        net.ip_range.as_deref().and_then(|r| r.parse().ok());
                    ipam::next_free(
                        &subnet,
                        range.as_ref(),
                        gw,
                        &used,
                        st.last_ip.get(&net.id).copied(),
                    )
                    .ok_or_else(|| NetError::NoAddress(net.name.clone()))?
                }
            };
            let ep_id = berth_core::generate_id();
            // macvlan/ipvlan have no host side to publish on: dockerd ignores -p there.
            let (bound, ports_out) = if net.kind.sublink() {
                (Vec::new(), Vec::new())
            } else {
                bind_ports(inner, &mut st, &req, &ep_id)?
            };
            let taken: HashSet<&str> = st
                .eps
                .iter()
                .filter(|e| e.container_id == container_id)
                .map(|e| e.ifname.as_str())
                .collect();
            let n_eps = taken.len();
            let ifname = (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !taken.contains(n.as_str()))
                .unwrap_or_default();
            st.last_ip.insert(net.id.clone(), ip);
            st.reserved
                .entry(net.id.clone())
                .or_default()
                .insert(ip, container_id.to_string());
            (
                net,
                ip,
                subnet,
                gw,
                ifname,
                n_eps == 0,
                ep_id,
                bound,
                ports_out,
            )
        };
        let unreserve = |this: &Self| {
            if let Some(r) = this.st().reserved.get_mut(&net.id) {
                r.remove(&ip);
            }
            let _ = store::release_ip(&inner.db, &net.id, ip);
        };
        if let Err(e) = store::reserve_ip(&inner.db, &net.id, ip, container_id) {
            unreserve(self);
            return Err(e);
        }
        let mac = req
            .mac
            .as_deref()
            .and_then(ipam::parse_mac)
            .unwrap_or_else(|| ipam::mac_for(ip));
        let sublink = net.kind.sublink();
        let veth = match net.kind {
            NetKind::Macvlan => format!("mv{}", random_hex(10)),
            NetKind::Ipvlan => format!("iv{}", random_hex(10)),
            _ => format!("veth{}", random_hex(7)),
        };
        if !sublink && !Path::new("/sys/class/net").join(&net.bridge).exists() {
            // Someone removed our bridge (e.g. a GC by another test daemon): recreate it and its rules.
            if let Err(e) = ensure_bridge(&net.bridge, gw, subnet.prefix, inner.cfg.mtu) {
                unreserve(self);
                return Err(e);
            }
            if inner.cfg.iptables {
                let nat = rules::save("nat").unwrap_or_default();
                let filter = rules::save("filter").unwrap_or_default();
                let all = inner.chains.jumps();
                let present: Vec<_> = rules::present_jumps(&nat, &filter, &all)
                    .into_iter()
                    .cloned()
                    .collect();
                self.st().missing_jumps =
                    all.into_iter().filter(|j| !present.contains(j)).collect();
            }
        }
        // Phase 2: kernel plumbing.
        let plumbed = if sublink {
            let route = if !first || net.internal {
                DefaultRoute::None
            } else if net.kind == NetKind::Ipvlan
                && drivers::parse_kind("ipvlan", &net.options)
                    .is_ok_and(|k| k.device_default_route())
            {
                DefaultRoute::Device
            } else {
                DefaultRoute::Via(gw)
            };
            plumb_sublink(
                &net,
                &veth,
                sandbox,
                &ifname,
                ip,
                subnet.prefix,
                Some(mac),
                route,
            )
        } else {
            plumb(
                &net.bridge,
                &veth,
                sandbox,
                &ifname,
                ip,
                subnet.prefix,
                gw,
                mac,
                // dockerd gives endpoints of internal networks no default route.
                first && !net.internal,
                inner.cfg.mtu,
            )
        };
        if let Err(e) = plumbed {
            delete_ep_link(sublink, &veth, sandbox, &ifname);
            unreserve(self);
            return Err(e);
        }
        // ipvlan links carry the parent's MAC; dockerd reports none.
        let mac_text = if net.kind == NetKind::Ipvlan {
            String::new()
        } else {
            ipam::format_mac(&mac)
        };
        let rec = EpRecord {
            container_id: container_id.to_string(),
            network_id: net.id.clone(),
            endpoint_id: ep_id.clone(),
            name: req.name.clone(),
            hostname: req.hostname.clone(),
            aliases: req.aliases.clone(),
            links: req.links.clone(),
            ip,
            mac: mac_text.clone(),
            veth: veth.clone(),
            ifname: ifname.clone(),
            netns: sandbox.to_path_buf(),
            ports: ports_out.clone(),
        };
        // Phase 3: rules, persistence, proxies, DNS.
        {
            let mut st = self.st();
            st.eps.push(rec.clone());
            if let Some(r) = st.reserved.get_mut(&net.id) {
                r.remove(&ip);
            }
            let res =
                store::put_endpoint(&inner.db, &rec).and_then(|_| apply_rules(inner, &mut st));
            if let Err(e) = res {
                st.eps.retain(|x| x.endpoint_id != ep_id);
                let _ = store::delete_endpoint(&inner.db, &rec);
                drop(st);
                delete_ep_link(sublink, &veth, sandbox, &ifname);
                return Err(e);
            }
            let mut handles = Vec::new();
            for (b, cport) in bound {
                match ports::spawn_proxy(b, SocketAddr::from((ip, cport))) {
                    Ok(h) => handles.push(h),
                    Err(e) => tracing::warn!("starting proxy: {e}"),
                }
            }
            st.proxies
                .entry(container_id.to_string())
                .or_default()
                .extend(handles);
        }
        if net.kind.user_defined() {
            self.ensure_dns(container_id, sandbox);
        }
        let gateway = reported_gateway(&net, gw);
        Ok(EndpointInfo {
            network_id: net.id,
            endpoint_id: ep_id,
            ip,
            prefix_len: subnet.prefix,
            gateway,
            mac: mac_text,
            ports: ports_out,
        })
    }

    fn ensure_dns(&self, container_id: &str, sandbox: &Path) {
        if self.st().dns.contains_key(container_id) {
            return;
        }
        let bound = netns::run_in(sandbox, || {
            let addr = SocketAddr::from(([127, 0, 0, 11], 53));
            let u = std::net::UdpSocket::bind(addr)?;
            u.set_nonblocking(true)?;
            let t = std::net::TcpListener::bind(addr)?;
            t.set_nonblocking(true)?;
            Ok((u, t))
        });
        let (u, t) = match bound {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("embedded DNS for {container_id}: {e}");
                return;
            }
        };
        let (Ok(u), Ok(t)) = (
            tokio::net::UdpSocket::from_std(u),
            tokio::net::TcpListener::from_std(t),
        ) else {
            return;
        };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let cid = container_id.to_string();
        let resolver: dns::Resolver = Arc::new(move |name: &str| {
            let inner = weak.upgrade()?;
            lookup(&inner, &cid, name)
        });
        let h = tokio::spawn(dns::serve(u, t, resolver, self.inner.upstreams.clone()));
        self.st().dns.insert(container_id.to_string(), h);
    }

    /// Detaches a container from one network.
    pub async fn disconnect(
        &self,
        container_id: &str,
        network: &str,
        force: bool,
    ) -> Result<(), NetError> {
        let _g = self.inner.op.lock().await;
        let net = self.st().net(network).cloned();
        let Some(net) = net else {
            return if force {
                Ok(())
            } else {
                Err(NetError::NotFound(network.to_string()))
            };
        };
        let ep = self
            .st()
            .eps
            .iter()
            .find(|e| e.container_id == container_id && e.network_id == net.id)
            .cloned();
        let Some(ep) = ep else {
            return Err(NetError::NotConnected {
                container: container_id.to_string(),
                network: net.name,
            });
        };
        self.drop_endpoint(&ep);
        let mut st = self.st();
        if !st.eps.iter().any(|e| e.container_id == container_id)
            && let Some(h) = st.dns.remove(container_id)
        {
            h.abort();
        }
        apply_rules(&self.inner, &mut st)
    }

    /// Removes one endpoint: proxies of its ports, veth, IP, record (rules applied by caller).
    fn drop_endpoint(&self, ep: &EpRecord) {
        let sublink = self.is_sublink(ep);
        delete_ep_link(sublink, &ep.veth, &ep.netns, &ep.ifname);
        self.forget_endpoint(ep);
    }

    fn is_sublink(&self, ep: &EpRecord) -> bool {
        self.st()
            .nets
            .iter()
            .any(|n| n.id == ep.network_id && n.kind.sublink())
    }

    /// Drops an endpoint's proxies, state and record, leaving its link to the caller.
    fn forget_endpoint(&self, ep: &EpRecord) {
        let mut st = self.st();
        st.eps.retain(|e| e.endpoint_id != ep.endpoint_id);
        let _ = store::delete_endpoint(&self.inner.db, ep);
        // Proxies are per container; restart the ones still needed is overkill: a container
        // with ports on several networks is rare, so stop all when its last endpoint goes.
        if !st.eps.iter().any(|e| e.container_id == ep.container_id)
            && let Some(hs) = st.proxies.remove(&ep.container_id)
        {
            hs.iter().for_each(|h| h.abort());
        }
    }

    /// On stop/rm: detach from all networks, delete veths, rules, proxies, DNS, netns, free IPs.
    /// Idempotent.
    pub async fn release_container(&self, container_id: &str) {
        let _g = self.inner.op.lock().await;
        let eps: Vec<EpRecord> = self
            .st()
            .eps
            .iter()
            .filter(|e| e.container_id == container_id)
            .cloned()
            .collect();
        // Deleting a veth waits out the kernel's RCU grace periods (~20 ms per link) and the
        // container is off every network once its state and rules are gone: bridge links are
        // deleted on a thread after that, off the stop/rm path (a veth whose netns is gone by
        // then went with it; delete_link ignores that). Sub-links live in the sandbox and go now.
        let mut later = Vec::new();
        for ep in &eps {
            if self.is_sublink(ep) {
                delete_ep_link(true, &ep.veth, &ep.netns, &ep.ifname);
            } else {
                later.push(ep.veth.clone());
            }
            self.forget_endpoint(ep);
        }
        let mut st = self.st();
        if let Some(hs) = st.proxies.remove(container_id) {
            hs.iter().for_each(|h| h.abort());
        }
        if let Some(h) = st.dns.remove(container_id) {
            h.abort();
        }
        for r in st.reserved.values_mut() {
            r.retain(|_, c| c != container_id);
        }
        if let Ok(all) = store::reserved_ips(&self.inner.db) {
            for (n, ip, c) in all {
                if c == container_id {
                    let _ = store::release_ip(&self.inner.db, &n, ip);
                }
            }
        }
        if !eps.is_empty()
            && let Err(e) = apply_rules(&self.inner, &mut st)
        {
            tracing::warn!("rules after releasing {container_id}: {e}");
        }
        drop(st);
        let mut paths: BTreeSet<PathBuf> = eps.iter().map(|e| e.netns.clone()).collect();
        paths.insert(self.sandbox_path(container_id));
        for p in paths {
            // Only sandboxes we created live under our exec root; `container:` netns are not ours.
            if p.starts_with(self.inner.cfg.exec_root.join("netns")) {
                netns::delete(&p);
            }
        }
        if !later.is_empty() {
            std::thread::spawn(move || later.iter().for_each(|l| delete_link(l)));
        }
    }

    /// resolv.conf content for a container on `network`.
    pub fn resolv_conf(
        &self,
        network: &str,
        dns: &[String],
        search: &[String],
        opts: &[String],
    ) -> String {
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let user = self
            .st()
            .net(network)
            .is_some_and(|n| n.kind.user_defined());
        let cfg = &self.inner.cfg;
        render_resolv(
            &host,
            user,
            network == "host",
            dns,
            search,
            opts,
            &cfg.dns,
            &cfg.dns_search,
            &cfg.dns_options,
        )
    }

    /// After a daemon restart: re-adopt endpoints of running containers (proxies, DNS); release the rest.
    pub async fn restore(&self, live: &[(String, PathBuf)]) {
        let eps: Vec<EpRecord> = self.st().eps.clone();
        {
            // Continue allocating after the highest address handed out before the restart.
            let mut st = self.st();
            for ep in &eps {
                let cur = st.last_ip.entry(ep.network_id.clone()).or_insert(ep.ip);
                if ep.ip > *cur {
                    *cur = ep.ip;
                }
            }
        }
        let live_ids: HashMap<&str, &PathBuf> = live.iter().map(|(i, p)| (i.as_str(), p)).collect();
        let mut dead: BTreeSet<String> = BTreeSet::new();
        for ep in &eps {
            match live_ids.get(ep.container_id.as_str()) {
                Some(p) if p.exists() => {}
                _ => {
                    dead.insert(ep.container_id.clone());
                }
            }
        }
        for id in &dead {
            self.release_container(id).await;
        }
        let _g = self.inner.op.lock().await;
        let mut dns_for: Vec<(String, PathBuf)> = Vec::new();
        {
            let mut st = self.st();
            for ep in st.eps.clone() {
                if st.proxies.contains_key(&ep.container_id) {
                    continue;
                }
                let mut hs = Vec::new();
                for (cport, proto, hip, hport) in &ep.ports {
                    if proto == "sctp" || !self.inner.cfg.userland_proxy {
                        continue;
                    }
                    let hip: Ipv4Addr = hip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
                    match ports::bind(proto, hip, *hport)
                        .and_then(|b| ports::spawn_proxy(b, SocketAddr::from((ep.ip, *cport))))
                    {
                        Ok(h) => hs.push(h),
                        Err(e) => tracing::warn!("re-binding {hip}:{hport}/{proto}: {e}"),
                    }
                }
                st.proxies
                    .entry(ep.container_id.clone())
                    .or_default()
                    .extend(hs);
                if st
                    .net(&ep.network_id)
                    .is_some_and(|n| n.kind.user_defined())
                {
                    dns_for.push((ep.container_id.clone(), ep.netns.clone()));
                }
            }
            if let Err(e) = apply_rules(&self.inner, &mut st) {
                tracing::warn!("rules on restore: {e}");
            }
        }
        for (cid, ns) in dns_for {
            self.ensure_dns(&cid, &ns);
        }
    }
}

/// The gateway an endpoint reports: none on `--internal` networks and on ipvlan L3/L3S (whose
/// default route is the device), as dockerd does.
fn reported_gateway(net: &NetRecord, gw: Ipv4Addr) -> Option<Ipv4Addr> {
    let device_route = net.kind == NetKind::Ipvlan
        && drivers::parse_kind("ipvlan", &net.options).is_ok_and(|k| k.device_default_route());
    (!net.internal && !device_route).then_some(gw)
}

fn lock_state(inner: &Inner) -> MutexGuard<'_, State> {
    inner.state.lock().unwrap_or_else(|p| p.into_inner())
}

fn pools(cfg: &NetConfig) -> Vec<Subnet> {
    if cfg.default_address_pools.is_empty() {
        return ipam::default_pools();
    }
    let parsed: Vec<(Subnet, u8)> = cfg
        .default_address_pools
        .iter()
        .filter_map(|(b, s)| Some((b.parse().ok()?, *s)))
        .collect();
    ipam::expand_pools(&parsed)
}

/// Regenerates and applies all of our chains in one iptables-restore call.
fn apply_rules(inner: &Inner, st: &mut State) -> Result<(), NetError> {
    if !inner.cfg.iptables {
        return Ok(());
    }
    let bridges: Vec<BridgeRules> = st
        .nets
        .iter()
        .filter(|n| matches!(n.kind, NetKind::Default | NetKind::User))
        .filter_map(|n| {
            Some(BridgeRules {
                bridge: n.bridge.clone(),
                subnet: n.subnet.as_deref()?.parse().ok()?,
                internal: n.internal,
                masquerade: n
                    .options
                    .get("com.docker.network.bridge.enable_ip_masquerade")
                    .map(String::as_str)
                    != Some("false"),
            })
        })
        .collect();
    let mut prules = Vec::new();
    for e in &st.eps {
        let Some(n) = st.nets.iter().find(|n| n.id == e.network_id) else {
            continue;
        };
        for (cport, proto, hip, hport) in &e.ports {
            prules.push(PortRule {
                bridge: n.bridge.clone(),
                proto: proto.clone(),
                host_ip: hip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED),
                host_port: *hport,
                container_ip: e.ip,
                container_port: *cport,
            });
        }
    }
    let text = rules::render(&inner.chains, &bridges, &prules, &st.missing_jumps);
    if st.applied_rules.as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    st.applied_rules = None;
    rules::restore(&text).map_err(NetError::io("programming iptables"))?;
    st.applied_rules = Some(text);
    st.missing_jumps.clear();
    Ok(())
}

type Bound = Vec<(ports::Bound, u16)>;
type PortsOut = Vec<(u16, String, String, u16)>;

/// Chooses host ports and binds the proxy sockets; on error nothing stays bound.
fn bind_ports(
    inner: &Inner,
    st: &mut State,
    req: &EndpointRequest,
    ep_id: &str,
) -> Result<(Bound, PortsOut), NetError> {
    let mut wanted = req.port_bindings.clone();
    for (p, proto) in &req.publish_all_ports {
        if !wanted
            .iter()
            .any(|w| w.container_port == *p && w.proto == *proto)
        {
            wanted.push(ports::PortBinding {
                container_port: *p,
                proto: proto.clone(),
                host_ip: String::new(),
                host_port_start: 0,
                host_port_end: 0,
            });
        }
    }
    let mut inuse = st.ports_in_use();
    let mut bound = Vec::new();
    let mut out = Vec::new();
    let fail = |msg: String| NetError::Ports {
        endpoint: req.name.clone(),
        endpoint_id: ep_id.to_string(),
        msg,
    };
    let (lo, hi) = ports::local_port_range();
    for w in &wanted {
        let hip: Ipv4Addr = if w.host_ip.is_empty() {
            Ipv4Addr::UNSPECIFIED
        } else {
            match w.host_ip.parse() {
                Ok(ip) => ip,
                // IPv6 host addresses are not supported; skip rather than fail the container.
                Err(_) => continue,
            }
        };
        let proto = w.proto.to_ascii_lowercase();
        let proxy = inner.cfg.userland_proxy && proto != "sctp";
        let candidates: Vec<u16> = if w.host_port_start == 0 {
            let last = st.last_port.get(&proto).copied().unwrap_or(hi);
            let start = if last >= lo && last < hi {
                last + 1
            } else {
                lo
            };
            (start..=hi).chain(lo..start).collect()
        } else {
            (w.host_port_start..=w.host_port_end.max(w.host_port_start)).collect()
        };
        let mut last_err: Option<String> = None;
        let mut got = None;
        for port in candidates {
            if port_clash(&inuse, &proto, hip, port) {
                last_err.get_or_insert(format!(
                    "Bind for {hip}:{port} failed: port is already allocated"
                ));
                continue;
            }
            if !proxy {
                got = Some((None, port));
                break;
            }
            match ports::bind(&proto, hip, port) {
                Ok(b) => {
                    got = Some((Some(b), port));
                    break;
                }
                Err(e) => {
                    let why = if e.raw_os_error() == Some(libc::EADDRINUSE) {
                        "address already in use".to_string()
                    } else {
                        e.to_string()
                    };
                    let kind = if proto == "udp" { "udp4" } else { "tcp4" };
                    last_err = Some(format!(
                        "failed to bind port {hip}:{port}/{proto}: Error starting userland proxy: listen {kind} {hip}:{port}: bind: {why}"
                    ));
                }
            }
        }
        let Some((b, port)) = got else {
            // Dropping `bound` closes every socket taken so far.
            return Err(fail(last_err.unwrap_or_else(|| "no free host port".into())));
        };
        if w.host_port_start == 0 {
            st.last_port.insert(proto.clone(), port);
        }
        inuse.push((proto.clone(), hip, port));
        if let Some(b) = b {
            bound.push((b, w.container_port));
        }
        out.push((w.container_port, proto, hip.to_string(), port));
    }
    Ok((bound, out))
}

/// veth pair, bridge attach, move into the sandbox, configure inside.
#[allow(clippy::too_many_arguments)]
fn plumb(
    bridge: &str,
    veth: &str,
    sandbox: &Path,
    ifname: &str,
    ip: Ipv4Addr,
    prefix: u8,
    gw: Ipv4Addr,
    mac: [u8; 6],
    default_route: bool,
    mtu: Option<u32>,
) -> Result<(), NetError> {
    let mut nl = Netlink::open().map_err(NetError::io("netlink"))?;
    let br = nl
        .link_index(bridge)
        .map_err(NetError::io("get bridge"))?
        .ok_or_else(|| NetError::Io {
            context: bridge.to_string(),
            source: std::io::Error::other("link not found"),
        })?;
    let ns = File::open(sandbox).map_err(NetError::io(format!("open {}", sandbox.display())))?;
    nl.create_veth_into(veth, br, ifname, &ns, mac, mtu)
        .map_err(NetError::io("create veth pair"))?;
    let ifname = ifname.to_string();
    netns::run_in(sandbox, move || {
        let mut nl = Netlink::open()?;
        let idx = nl
            .link_index(&ifname)?
            .ok_or_else(|| std::io::Error::other("veth peer missing in sandbox"))?;
        nl.add_address(idx, ip, prefix)?;
        nl.set_up(idx)?;
        if default_route {
            nl.add_default_route(gw)?;
        }
        Ok(())
    })
    .map_err(NetError::io("configure interface in sandbox"))
}

/// Name lookup for the embedded DNS of container `cid`.
fn lookup(inner: &Inner, cid: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
    let mut st = lock_state(inner);
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mine: Vec<&EpRecord> = st.eps.iter().filter(|e| e.container_id == cid).collect();
    let nets: HashSet<&str> = mine
        .iter()
        .filter(|e| {
            st.nets
                .iter()
                .any(|n| n.id == e.network_id && n.kind.user_defined())
        })
        .map(|e| e.network_id.as_str())
        .collect();
    let mut targets = vec![name.clone()];
    for e in &mine {
        for (target, alias) in &e.links {
            if alias.eq_ignore_ascii_case(&name) {
                targets.push(target.to_ascii_lowercase());
            }
        }
    }
    // "name.network" form.
    for n in st.nets.iter().filter(|n| nets.contains(n.id.as_str())) {
        if let Some(base) = name.strip_suffix(&format!(".{}", n.name.to_ascii_lowercase())) {
            targets.push(base.to_string());
        }
    }
    let mut ips: Vec<Ipv4Addr> = Vec::new();
    for e in st
        .eps
        .iter()
        .filter(|e| nets.contains(e.network_id.as_str()))
    {
        let hit = targets.iter().any(|t| {
            e.name.eq_ignore_ascii_case(t)
                || (!e.hostname.is_empty() && e.hostname.eq_ignore_ascii_case(t))
                || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(t))
                || (t.len() >= 12 && e.container_id.starts_with(t.as_str()))
        });
        if hit && !ips.contains(&e.ip) {
            ips.push(e.ip);
        }
    }
    if ips.is_empty() {
        return None;
    }
    st.rr = st.rr.wrapping_add(1);
    let k = st.rr % ips.len();
    ips.rotate_left(k);
    Some(ips)
}

/// Docker's NetworkResource JSON.
fn network_json(
    n: &NetRecord,
    eps: &[EpRecord],
    containers: &dyn Fn(&str) -> Option<String>,
) -> Value {
    let driver = record_info(n).driver;
    let mut config = Vec::new();
    if let Some(s) = &n.subnet {
        let mut c = serde_json::Map::new();
        c.insert("Subnet".into(), json!(s));
        if let Some(r) = &n.ip_range
            && n.kind.user_defined()
        {
            c.insert("IPRange".into(), json!(r));
        }
        if n.show_gateway
            && let Some(g) = n.gateway
        {
            c.insert("Gateway".into(), json!(g.to_string()));
        }
        if !n.aux_addresses.is_empty() {
            c.insert("AuxiliaryAddresses".into(), json!(n.aux_addresses));
        }
        config.push(Value::Object(c));
    }
    let prefix = n
        .subnet
        .as_deref()
        .and_then(|s| s.parse::<Subnet>().ok())
        .map(|s| s.prefix)
        .unwrap_or(32);
    let mut cts = serde_json::Map::new();
    for e in eps.iter().filter(|e| e.network_id == n.id) {
        cts.insert(
            e.container_id.clone(),
            json!({
                "Name": containers(&e.container_id).unwrap_or_else(|| e.name.clone()),
                "EndpointID": e.endpoint_id,
                "MacAddress": e.mac,
                "IPv4Address": format!("{}/{}", e.ip, prefix),
                "IPv6Address": "",
            }),
        );
    }
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": n.enable_ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": n.ipam_options,
            "Config": config,
        },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": cts,
        "Options": n.options,
        "Labels": n.labels,
    })
}

/// Builds resolv.conf text (pure).
#[allow(clippy::too_many_arguments)]
pub(crate) fn render_resolv(
    host: &str,
    user_network: bool,
    host_network: bool,
    dns: &[String],
    search: &[String],
    opts: &[String],
    daemon_dns: &[String],
    daemon_search: &[String],
    daemon_opts: &[String],
) -> String {
    let (host_search, host_opts) = dns::host_search_options(host);
    let pick = |a: &[String], b: &[String], c: Vec<String>| -> Vec<String> {
        if !a.is_empty() {
            a.to_vec()
        } else if !b.is_empty() {
            b.to_vec()
        } else {
            c
        }
    };
    let search = pick(search, daemon_search, host_search);
    let mut opts = pick(opts, daemon_opts, host_opts);
    let servers: Vec<String> = if user_network {
        vec!["127.0.0.11".to_string()]
    } else if host_network && dns.is_empty() && daemon_dns.is_empty() {
        host.lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                (it.next() == Some("nameserver"))
                    .then(|| it.next().map(str::to_string))
                    .flatten()
            })
            .collect()
    } else {
        let mut s = pick(dns, daemon_dns, dns::host_nameservers(host));
        if s.is_empty() {
            s = vec!["8.8.8.8".into(), "8.8.4.4".into()];
        }
        s
    };
    if user_network && !opts.iter().any(|o| o.starts_with("ndots:")) {
        opts.insert(0, "ndots:0".into());
    }
    let mut out = String::new();
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_rendering() {
        let host = "nameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch corp\n";
        assert_eq!(
            render_resolv(host, false, false, &[], &[], &[], &[], &[], &[]),
            "nameserver 10.0.0.1\nsearch corp\n"
        );
        assert_eq!(
            render_resolv(host, true, false, &[], &[], &[], &[], &[], &[]),
            "nameserver 127.0.0.11\nsearch corp\noptions ndots:0\n"
        );
        let only_local = "nameserver 127.0.0.53\n";
        assert_eq!(
            render_resolv(only_local, false, false, &[], &[], &[], &[], &[], &[]),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        assert_eq!(
            render_resolv(
                host,
                false,
                false,
                &["1.1.1.1".into()],
                &["x.y".into()],
                &["rotate".into()],
                &[],
                &[],
                &[]
            ),
            "nameserver 1.1.1.1\nsearch x.y\noptions rotate\n"
        );
    }

    #[test]
    fn port_clashes() {
        let inuse = vec![("tcp".to_string(), Ipv4Addr::UNSPECIFIED, 8080)];
        assert!(port_clash(&inuse, "tcp", Ipv4Addr::LOCALHOST, 8080));
        assert!(!port_clash(&inuse, "udp", Ipv4Addr::LOCALHOST, 8080));
        assert!(!port_clash(&inuse, "tcp", Ipv4Addr::LOCALHOST, 8081));
        let lo = vec![("tcp".to_string(), Ipv4Addr::LOCALHOST, 80)];
        assert!(!port_clash(&lo, "tcp", Ipv4Addr::new(127, 0, 0, 2), 80));
        assert!(port_clash(&lo, "tcp", Ipv4Addr::UNSPECIFIED, 80));
    }

    #[test]
    fn network_json_shape() {
        let n = NetRecord {
            id: "5fb0".into(),
            name: "mynet".into(),
            kind: NetKind::User,
            bridge: "bt-5fb0".into(),
            subnet: Some("10.77.0.0/24".into()),
            gateway: Some(Ipv4Addr::new(10, 77, 0, 1)),
            ip_range: None,
            show_gateway: false,
            aux_addresses: BTreeMap::new(),
            internal: false,
            attachable: false,
            enable_ipv6: false,
            labels: [("a".to_string(), "b".to_string())].into_iter().collect(),
            options: BTreeMap::new(),
            ipam_options: Some(BTreeMap::new()),
            created: "2026-11-25T07:59:19.6983331Z".into(),
            parent: String::new(),
            created_parent: false,
        };
        let ep = EpRecord {
            container_id: "6a0d".into(),
            network_id: "5fb0".into(),
            endpoint_id: "70ee".into(),
            name: "n1".into(),
            hostname: "6a0d".into(),
            aliases: vec![],
            links: vec![],
            ip: Ipv4Addr::new(10, 77, 0, 2),
            mac: "02:42:0a:4d:00:02".into(),
            veth: "vethx".into(),
            ifname: "eth0".into(),
            netns: PathBuf::from("/x"),
            ports: vec![],
        };
        let v = network_json(&n, &[ep], &|_| None);
        let want = json!({
          "Name": "mynet", "Id": "5fb0", "Created": "2026-11-25T07:59:19.6983331Z", "Scope": "local",
          "Driver": "bridge", "EnableIPv6": false,
          "IPAM": {"Driver": "default", "Options": {}, "Config": [{"Subnet": "10.77.0.0/24"}]},
          "Internal": false, "Attachable": false, "Ingress": false, "ConfigFrom": {"Network": ""},
          "ConfigOnly": false,
          "Containers": {"6a0d": {"Name": "n1", "EndpointID": "70ee", "MacAddress": "02:42:0a:4d:00:02",
             "IPv4Address": "10.77.0.2/24", "IPv6Address": ""}},
          "Options": {}, "Labels": {"a": "b"}
        });
        assert_eq!(v, want);
        let keys: Vec<&String> = v
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys[0], "Name");
        assert_eq!(keys[keys.len() - 1], "Labels");
        let mut aux = n.clone();
        aux.aux_addresses
            .insert("router".into(), Ipv4Addr::new(10, 77, 0, 5));
        assert_eq!(
            network_json(&aux, &[], &|_| None)["IPAM"]["Config"][0]["AuxiliaryAddresses"],
            json!({"router": "10.77.0.5"})
        );

        // Endpoint gateways: reported on ordinary networks, "" on internal and ipvlan L3 ones.
        let gw = Ipv4Addr::new(10, 77, 0, 1);
        assert_eq!(reported_gateway(&n, gw), Some(gw));
        let internal = NetRecord {
            internal: true,
            ..n.clone()
        };
        assert_eq!(reported_gateway(&internal, gw), None);
        let mut ipvlan = NetRecord {
            kind: NetKind::Ipvlan,
            parent: "eth0".into(),
            ..n.clone()
        };
        ipvlan.options.insert("parent".into(), "eth0".into());
        assert_eq!(reported_gateway(&ipvlan, gw), Some(gw));
        ipvlan.options.insert("ipvlan_mode".into(), "l3".into());
        assert_eq!(reported_gateway(&ipvlan, gw), None);
    }
}
