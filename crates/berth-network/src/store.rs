//! Persistence in redb: network records, endpoints and IPAM reservations.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::{NetError, db_err};

const NETWORKS: TableDefinition<&str, &[u8]> = TableDefinition::new("net_networks");
const ENDPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("net_endpoints");
const IPAM: TableDefinition<&str, &str> = TableDefinition::new("net_ipam");

/// What kind of network a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum NetKind {
    Default,
    User,
    Host,
    Null,
    /// User-defined macvlan network (endpoints are macvlan links on `NetRecord::parent`).
    Macvlan,
    /// User-defined ipvlan network (endpoints are ipvlan links on `NetRecord::parent`).
    Ipvlan,
}

impl NetKind {
    /// Created by a user (bridge, macvlan or ipvlan): aliases, `--ip` and embedded DNS apply.
    pub(crate) fn user_defined(self) -> bool {
        matches!(self, NetKind::User | NetKind::Macvlan | NetKind::Ipvlan)
    }

    /// Endpoints are macvlan/ipvlan sub-interfaces of a parent link (no bridge, NAT or ports).
    pub(crate) fn sublink(self) -> bool {
        matches!(self, NetKind::Macvlan | NetKind::Ipvlan)
    }
}

/// A persisted network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NetRecord {
    pub id: String,
    pub name: String,
    pub kind: NetKind,
    pub bridge: String,
    pub subnet: Option<String>,
    pub gateway: Option<Ipv4Addr>,
    pub ip_range: Option<String>,
    /// Show Gateway in IPAM.Config (user-given or auto-allocated).
    pub show_gateway: bool,
    /// `--aux-address`es: reserved, never given to an endpoint.
    #[serde(default)]
    pub aux_addresses: BTreeMap<String, Ipv4Addr>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    pub ipam_options: Option<BTreeMap<String, String>>,
    pub created: String,
    /// macvlan/ipvlan: the parent link endpoints are created on.
    #[serde(default)]
    pub parent: String,
    /// macvlan/ipvlan: we created `parent` (dummy or VLAN link) and delete it on `network rm`.
    #[serde(default)]
    pub created_parent: bool,
}

/// A persisted endpoint (one container on one network).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EpRecord {
    pub container_id: String,
    pub network_id: String,
    pub endpoint_id: String,
    pub name: String,
    pub hostname: String,
    pub aliases: Vec<String>,
    pub links: Vec<(String, String)>,
    pub ip: Ipv4Addr,
    pub mac: String,
    pub veth: String,
    pub ifname: String,
    pub netns: PathBuf,
    pub ports: Vec<(u16, String, String, u16)>,
}

pub(crate) fn init(db: &Database) -> Result<(), NetError> {
    let tx = db.begin_write().map_err(db_err)?;
    tx.open_table(NETWORKS).map_err(db_err)?;
    tx.open_table(ENDPOINTS).map_err(db_err)?;
    tx.open_table(IPAM).map_err(db_err)?;
    tx.commit().map_err(db_err)
}

fn load<T: for<'de> Deserialize<'de>>(
    db: &Database,
    t: TableDefinition<&str, &[u8]>,
) -> Result<Vec<T>, NetError> {
    let rtx = db.begin_read().map_err(db_err)?;
    let table = rtx.open_table(t).map_err(db_err)?;
    let mut out = Vec::new();
    for item in table.iter().map_err(db_err)? {
        let (_, v) = item.map_err(db_err)?;
        if let Ok(r) = serde_json::from_slice(v.value()) {
            out.push(r);
        }
    }
    Ok(out)
}

pub(crate) fn load_networks(db: &Database) -> Result<Vec<NetRecord>, NetError> {
    load(db, NETWORKS)
}

pub(crate) fn load_endpoints(db: &Database) -> Result<Vec<EpRecord>, NetError> {
    load(db, ENDPOINTS)
}

pub(crate) fn put_network(db: &Database, n: &NetRecord) -> Result<(), NetError> {
    let v = serde_json::to_vec(n).map_err(db_err)?;
    let tx = db.begin_write().map_err(db_err)?;
    tx.open_table(NETWORKS)
        .map_err(db_err)?
        .insert(n.id.as_str(), v.as_slice())
        .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

pub(crate) fn delete_network(db: &Database, id: &str) -> Result<(), NetError> {
    let tx = db.begin_write().map_err(db_err)?;
    tx.open_table(NETWORKS)
        .map_err(db_err)?
        .remove(id)
        .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

fn ep_key(e: &EpRecord) -> String {
    format!("{}/{}", e.container_id, e.network_id)
}

fn ip_key(net: &str, ip: Ipv4Addr) -> String {
    format!("{net}/{ip}")
}

/// Reserves an IP for a container (IPAM) without an endpoint yet.
pub(crate) fn reserve_ip(
    db: &Database,
    net: &str,
    ip: Ipv4Addr,
    cid: &str,
) -> Result<(), NetError> {
    let tx = db.begin_write().map_err(db_err)?;
    tx.open_table(IPAM)
        .map_err(db_err)?
        .insert(ip_key(net, ip).as_str(), cid)
        .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

/// IPs reserved in a network.
pub(crate) fn reserved_ips(db: &Database) -> Result<Vec<(String, Ipv4Addr, String)>, NetError> {
    let rtx = db.begin_read().map_err(db_err)?;
    let table = rtx.open_table(IPAM).map_err(db_err)?;
    let mut out = Vec::new();
    for item in table.iter().map_err(db_err)? {
        let (k, v) = item.map_err(db_err)?;
        if let Some((n, ip)) = k.value().split_once('/')
            && let Ok(ip) = ip.parse()
        {
            out.push((n.to_string(), ip, v.value().to_string()));
        }
    }
    Ok(out)
}

pub(crate) fn release_ip(db: &Database, net: &str, ip: Ipv4Addr) -> Result<(), NetError> {
    let tx = db.begin_write().map_err(db_err)?;
    tx.open_table(IPAM)
        .map_err(db_err)?
        .remove(ip_key(net, ip).as_str())
        .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

pub(crate) fn put_endpoint(db: &Database, e: &EpRecord) -> Result<(), NetError> {
    let v = serde_json::to_vec(e).map_err(db_err)?;
    let tx = db.begin_write().map_err(db_err)?;
    tx.open_table(ENDPOINTS)
        .map_err(db_err)?
        .insert(ep_key(e).as_str(), v.as_slice())
        .map_err(db_err)?;
    tx.commit().map_err(db_err)
}

pub(crate) fn delete_endpoint(db: &Database, e: &EpRecord) -> Result<(), NetError> {
    let tx = db.begin_write().map_err(db_err)?;
    tx.open_table(ENDPOINTS)
        .map_err(db_err)?
        .remove(ep_key(e).as_str())
        .map_err(db_err)?;
    tx.open_table(IPAM)
        .map_err(db_err)?
        .remove(ip_key(&e.network_id, e.ip).as_str())
        .map_err(db_err)?;
    tx.commit().map_err(db_err)
}
