//! Container networking for berth: bridges, veths, IPAM, NAT/port rules, port proxies, embedded DNS.

pub mod dns;
mod drivers;
mod error;
pub mod ipam;
mod manager;
mod netns;
mod nl;
pub mod ports;
pub mod rules;
mod store;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::Deserialize;

pub use error::NetError;
pub use manager::NetworkManager;
pub use ports::{PortBinding, PublishError, parse_publish};

/// Daemon-level networking configuration.
#[derive(Debug, Clone, Default)]
pub struct NetConfig {
    /// "berth" or "berth-<8hex>": prefix for chain names.
    pub instance: String,
    /// Exec root; sandboxes live in `<exec_root>/netns/<id12>`.
    pub exec_root: PathBuf,
    /// Default bridge interface name ("berth0" or "bb<8hex>").
    pub default_bridge: String,
    /// `--bip`, e.g. "172.17.0.1/16".
    pub bip: Option<String>,
    /// `--fixed-cidr`: allocation range inside the default bridge subnet.
    pub fixed_cidr: Option<String>,
    /// `--default-address-pool` entries (base CIDR, size).
    pub default_address_pools: Vec<(String, u8)>,
    /// Program iptables.
    pub iptables: bool,
    /// Set net.ipv4.ip_forward=1.
    pub ip_forward: bool,
    /// Run userland proxies for published ports.
    pub userland_proxy: bool,
    /// MTU for bridges and veths.
    pub mtu: Option<u32>,
    /// `--dns` servers.
    pub dns: Vec<String>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--dns-opt`.
    pub dns_options: Vec<String>,
}

/// Summary of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// 64-hex id.
    pub id: String,
    /// Name.
    pub name: String,
    /// "bridge", "macvlan", "ipvlan", "host" or "null".
    pub driver: String,
    /// Always "local".
    pub scope: String,
    /// `--internal`.
    pub internal: bool,
    /// `--attachable`.
    pub attachable: bool,
    /// IPv6 (never actually enabled).
    pub enable_ipv6: bool,
    /// Subnet CIDR (bridge networks).
    pub subnet: Option<String>,
    /// Gateway address (bridge networks).
    pub gateway: Option<String>,
    /// Bridge interface (bridge networks).
    pub bridge: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
    /// RFC3339Nano creation time.
    pub created: String,
    /// The default bridge ("bridge").
    pub is_default: bool,
    /// User-defined (not bridge/host/none).
    pub is_user: bool,
}

/// `POST /networks/create` body (Docker's NetworkCreateRequest).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreate {
    /// Name.
    pub name: String,
    /// Driver; empty means bridge.
    pub driver: String,
    /// No outside connectivity.
    pub internal: bool,
    /// Attachable flag (stored only).
    pub attachable: bool,
    /// IPAM settings.
    #[serde(rename = "IPAM")]
    pub ipam: Option<IpamSpec>,
    /// Driver options.
    pub options: Option<BTreeMap<String, String>>,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// IPv6 flag (stored only).
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Ignored (names are always unique).
    pub check_duplicate: bool,
}

/// IPAM section of a create request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamSpec {
    /// IPAM driver ("default").
    pub driver: String,
    /// Pools.
    pub config: Option<Vec<IpamPool>>,
    /// IPAM options.
    pub options: Option<BTreeMap<String, String>>,
}

/// One IPAM pool of a create request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamPool {
    /// Subnet CIDR.
    pub subnet: String,
    /// Allocation range CIDR.
    #[serde(rename = "IPRange")]
    pub ip_range: String,
    /// Gateway address.
    pub gateway: String,
    /// Named addresses the IPAM must never hand out (`--aux-address name=ip`).
    pub auxiliary_addresses: BTreeMap<String, String>,
}

/// What a container asks for when joining a network.
#[derive(Debug, Clone, Default)]
pub struct EndpointRequest {
    /// Container name (without '/').
    pub name: String,
    /// Container hostname.
    pub hostname: String,
    /// Network-scoped aliases (user networks only).
    pub aliases: Vec<String>,
    /// Legacy links as (target container name, alias).
    pub links: Vec<(String, String)>,
    /// Requested address (user networks only).
    pub ipv4: Option<Ipv4Addr>,
    /// Requested MAC address.
    pub mac: Option<String>,
    /// Published ports (-p).
    pub port_bindings: Vec<PortBinding>,
    /// Exposed ports to publish on random host ports (-P).
    pub publish_all_ports: Vec<(u16, String)>,
}

/// Result of joining a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointInfo {
    /// Network id.
    pub network_id: String,
    /// Endpoint id (64 hex).
    pub endpoint_id: String,
    /// Container address.
    pub ip: Ipv4Addr,
    /// Prefix length of the subnet.
    pub prefix_len: u8,
    /// Gateway the endpoint reports; `None` where dockerd reports "" (`--internal` networks,
    /// ipvlan L3/L3S whose default route is the device itself).
    pub gateway: Option<Ipv4Addr>,
    /// MAC address "02:42:..".
    pub mac: String,
    /// Published ports as (container port, proto, host ip, host port).
    pub ports: Vec<(u16, String, String, u16)>,
}
