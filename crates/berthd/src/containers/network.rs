//! A container's view of its networks: which networks a create request asks for, and the
//! `NetworkSettings` JSON of `inspect` and `ps` built from the record.

use std::collections::BTreeMap;

use berth_api::{EndpointSettings, NetworkingConfig};
use serde_json::{Value, json};

use super::ContainerRecord;

/// The network mode a record runs with, as dockerd names it (`default` when unset).
pub fn mode(rec: &ContainerRecord) -> String {
    rec.host_config
        .network_mode
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// Whether a mode gives the container its own namespace on a network of ours (bridge or a
/// user network), as opposed to host, none or another container's namespace.
pub fn has_own_endpoints(mode: &str) -> bool {
    !matches!(mode, "host" | "none") && !mode.starts_with("container:")
}

/// The network a mode names: `default` is the default bridge.
pub fn network_of_mode(mode: &str) -> Option<String> {
    match mode {
        "default" | "bridge" | "" => Some("bridge".into()),
        "host" | "none" => Some(mode.to_string()),
        m if m.starts_with("container:") => None,
        other => Some(other.to_string()),
    }
}

/// The endpoints a create request asks for: the network of its mode, with the settings the
/// request gives for it (aliases, links, `--ip`). dockerd takes only that one network at create;
/// others are joined with `network connect`.
pub fn requested_endpoints(
    mode: &str,
    networking: Option<&NetworkingConfig>,
) -> BTreeMap<String, EndpointSettings> {
    let mut out = BTreeMap::new();
    let Some(net) = network_of_mode(mode) else {
        return out;
    };
    let given = networking
        .and_then(|n| n.endpoints_config.as_ref())
        .and_then(|m| {
            m.get(&net)
                .or_else(|| (net == "bridge").then(|| m.get("default")).flatten())
                .or_else(|| (m.len() == 1).then(|| m.values().next()).flatten())
        })
        .cloned()
        .flatten()
        .unwrap_or_default();
    let keep = EndpointSettings {
        ipam_config: given.ipam_config,
        links: given.links.filter(|l| !l.is_empty()),
        aliases: given.aliases.filter(|a| !a.is_empty()),
        mac_address: given.mac_address,
        driver_opts: given.driver_opts,
        ..Default::default()
    };
    out.insert(net, keep);
    out
}

/// Clears the live part of every endpoint (the container stopped).
pub fn clear_live(rec: &mut ContainerRecord) {
    for ep in rec.networks.values_mut() {
        ep.endpoint_id.clear();
        ep.gateway.clear();
        ep.ip_address.clear();
        ep.ip_prefix_len = 0;
        ep.mac_address.clear();
    }
    rec.sandbox_key.clear();
    rec.ports.clear();
}

/// `NetworkSettings.Ports`: published bindings while running, exposed ports as `null`.
fn ports_json(rec: &ContainerRecord) -> Value {
    let mut m = serde_json::Map::new();
    if rec.state.running {
        for p in rec.config.exposed_ports.clone().unwrap_or_default().keys() {
            m.insert(p.clone(), Value::Null);
        }
        for (p, b) in &rec.ports {
            m.insert(p.clone(), json!(b));
        }
    }
    Value::Object(m)
}

fn endpoint_json(ep: &EndpointSettings) -> Value {
    serde_json::to_value(ep).unwrap_or(Value::Null)
}

/// `NetworkSettings` of `docker inspect`.
pub fn settings_json(rec: &ContainerRecord) -> Value {
    let mode = mode(rec);
    // The legacy top-level fields mirror the default bridge endpoint only.
    let bridge = rec.networks.get("bridge").cloned().unwrap_or_default();
    let networks: serde_json::Map<String, Value> = rec
        .networks
        .iter()
        .map(|(k, v)| (k.clone(), endpoint_json(v)))
        .collect();
    let sandbox_id = if rec.sandbox_key.is_empty() || !has_own_endpoints(&mode) {
        String::new()
    } else {
        berth_core::Digest::of(rec.sandbox_key.as_bytes())
            .hex()
            .to_string()
    };
    json!({
        "Bridge": "", "SandboxID": sandbox_id, "HairpinMode": false, "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0, "Ports": ports_json(rec), "SandboxKey": rec.sandbox_key,
        "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
        "EndpointID": bridge.endpoint_id, "Gateway": bridge.gateway, "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "IPAddress": bridge.ip_address, "IPPrefixLen": bridge.ip_prefix_len,
        "IPv6Gateway": "", "MacAddress": bridge.mac_address,
        "Networks": networks
    })
}

/// `NetworkSettings` of `docker ps` (only `Networks`).
pub fn summary_json(rec: &ContainerRecord) -> Value {
    let networks: serde_json::Map<String, Value> = rec
        .networks
        .iter()
        .map(|(k, v)| (k.clone(), endpoint_json(v)))
        .collect();
    json!({ "Networks": networks })
}

/// `Ports` of `docker ps`: one entry per binding (and per exposed, unpublished port).
pub fn summary_ports(rec: &ContainerRecord) -> Value {
    let mut out = Vec::new();
    if !rec.state.running {
        return Value::Array(out);
    }
    for p in rec.config.exposed_ports.clone().unwrap_or_default().keys() {
        if rec.ports.contains_key(p) {
            continue;
        }
        let (port, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
        out.push(json!({"PrivatePort": port.parse::<u16>().unwrap_or(0), "Type": proto}));
    }
    for (p, bindings) in &rec.ports {
        let (port, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
        let private = port.parse::<u16>().unwrap_or(0);
        match bindings {
            Some(bs) if !bs.is_empty() => {
                for b in bs {
                    out.push(json!({
                        "IP": b.host_ip.clone().unwrap_or_default(),
                        "PrivatePort": private,
                        "PublicPort": b.host_port.as_deref().unwrap_or("0").parse::<u16>().unwrap_or(0),
                        "Type": proto,
                    }));
                }
            }
            _ => out.push(json!({"PrivatePort": private, "Type": proto})),
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_name_their_network() {
        assert_eq!(network_of_mode("default").as_deref(), Some("bridge"));
        assert_eq!(network_of_mode("mynet").as_deref(), Some("mynet"));
        assert_eq!(network_of_mode("container:x"), None);
        assert!(has_own_endpoints("default"));
        assert!(has_own_endpoints("mynet"));
        assert!(!has_own_endpoints("host"));
        assert!(!has_own_endpoints("container:abc"));
    }

    #[test]
    fn requested_endpoint_keeps_aliases_and_ip() {
        let nc: NetworkingConfig = serde_json::from_value(json!({
            "EndpointsConfig": {"mynet": {"Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.5.0.9"}}}
        }))
        .expect("valid json");
        let eps = requested_endpoints("mynet", Some(&nc));
        let ep = &eps["mynet"];
        assert_eq!(ep.aliases.as_deref(), Some(&["db".to_string()][..]));
        assert_eq!(
            ep.ipam_config
                .as_ref()
                .and_then(|i| i.ipv4_address.as_deref()),
            Some("10.5.0.9")
        );
        assert!(requested_endpoints("container:x", Some(&nc)).is_empty());
        assert!(requested_endpoints("default", None).contains_key("bridge"));
    }
}
