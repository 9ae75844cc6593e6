//! Container networking types: `NetworkingConfig` of a create request and the
//! `NetworkSettings` of `inspect` / `ps`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::host::PortMap;
use crate::serde_util::{deserialize_null_default, none_or_empty_str, none_or_empty_vec};

/// Static addresses asked for on an endpoint (`--ip`, `--ip6`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointIpamConfig {
    /// IPv4 address.
    #[serde(rename = "IPv4Address", skip_serializing_if = "none_or_empty_str")]
    pub ipv4_address: Option<String>,
    /// IPv6 address.
    #[serde(rename = "IPv6Address", skip_serializing_if = "none_or_empty_str")]
    pub ipv6_address: Option<String>,
    /// Link-local addresses.
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "none_or_empty_vec")]
    pub link_local_ips: Option<Vec<String>>,
}

/// One network endpoint of a container (request `EndpointsConfig` values and inspect
/// `NetworkSettings.Networks` values), in dockerd's key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    /// Requested static addresses.
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    /// Legacy links.
    pub links: Option<Vec<String>>,
    /// DNS aliases on this network.
    pub aliases: Option<Vec<String>>,
    /// Network id.
    #[serde(rename = "NetworkID", deserialize_with = "deserialize_null_default")]
    pub network_id: String,
    /// Endpoint id.
    #[serde(rename = "EndpointID", deserialize_with = "deserialize_null_default")]
    pub endpoint_id: String,
    /// IPv4 gateway.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub gateway: String,
    /// IPv4 address.
    #[serde(rename = "IPAddress", deserialize_with = "deserialize_null_default")]
    pub ip_address: String,
    /// IPv4 prefix length.
    #[serde(rename = "IPPrefixLen", deserialize_with = "deserialize_null_default")]
    pub ip_prefix_len: i64,
    /// IPv6 gateway.
    #[serde(rename = "IPv6Gateway", deserialize_with = "deserialize_null_default")]
    pub ipv6_gateway: String,
    /// Global IPv6 address.
    #[serde(
        rename = "GlobalIPv6Address",
        deserialize_with = "deserialize_null_default"
    )]
    pub global_ipv6_address: String,
    /// Global IPv6 prefix length.
    #[serde(
        rename = "GlobalIPv6PrefixLen",
        deserialize_with = "deserialize_null_default"
    )]
    pub global_ipv6_prefix_len: i64,
    /// MAC address.
    #[serde(deserialize_with = "deserialize_null_default")]
    pub mac_address: String,
    /// Driver options.
    pub driver_opts: Option<BTreeMap<String, String>>,
}

/// `NetworkingConfig` of a create request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    /// Network name → endpoint settings.
    pub endpoints_config: Option<BTreeMap<String, Option<EndpointSettings>>>,
}

/// An address with its prefix (`SecondaryIPAddresses` items).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Address {
    /// Address.
    pub addr: String,
    /// Prefix length.
    pub prefix_len: i64,
}

/// `NetworkSettings` of `docker inspect`, in dockerd's key order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    /// Legacy bridge name (empty).
    pub bridge: String,
    /// Sandbox (network namespace holder) id.
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// Hairpin NAT.
    pub hairpin_mode: bool,
    /// Link-local IPv6 address.
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    /// Its prefix length.
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: i64,
    /// Exposed/published ports.
    pub ports: Option<PortMap>,
    /// Path of the network namespace.
    pub sandbox_key: String,
    /// Unused secondary addresses.
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<Address>>,
    /// Unused secondary IPv6 addresses.
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<Address>>,
    /// Endpoint id on the default bridge.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// Gateway on the default bridge.
    pub gateway: String,
    /// Global IPv6 address on the default bridge.
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    /// Its prefix length.
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    /// IPv4 address on the default bridge.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Its prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    /// IPv6 gateway on the default bridge.
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    /// MAC address on the default bridge.
    pub mac_address: String,
    /// Network name → endpoint.
    pub networks: BTreeMap<String, EndpointSettings>,
}

/// `NetworkSettings` of a `docker ps` item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworkSettings {
    /// Network name → endpoint.
    pub networks: BTreeMap<String, EndpointSettings>,
}
