//! A container's view of its networks: which networks a create request asks for, and the
//! `NetworkSettings` JSON of `inspect` and `ps` built from the record.

use std::collections::BTreeMap;

use berth_api::{EndpointSettings, NetworkingConfig};
use serde_json::{Value, json};

use super::ContainerRecord;
use crate::error::{ApiError, ApiResult};

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

/// Before API 1.44 dockerd takes at most one network at create and refuses more with 400 (the
/// CLI connects the others after create).
pub fn check_single_endpoint(networking: Option<&NetworkingConfig>) -> ApiResult<()> {
    let Some(eps) = networking.and_then(|n| n.endpoints_config.as_ref()) else {
        return Ok(());
    };
    if eps.len() > 1 {
        let names: Vec<&str> = eps.keys().map(String::as_str).collect();
        return Err(ApiError::invalid(format!(
            "Container cannot be connected to network endpoints: {}",
            names.join(", ")
        )));
    }
    Ok(())
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

impl super::ContainerService {
    /// Checks a create request's networking against the networks that exist, in dockerd's
    /// words, and fills in the network ids.
    pub(crate) fn validate_endpoints(
        &self,
        eps: &mut BTreeMap<String, EndpointSettings>,
    ) -> crate::error::ApiResult<()> {
        use crate::error::ApiError;
        for (name, ep) in eps.iter_mut() {
            // dockerd checks that the network exists only at start (create succeeds).
            let Ok(info) = self.net.get(name) else {
                continue;
            };
            let user = info.is_user;
            if !user && ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
                return Err(ApiError::invalid(
                    "network-scoped aliases are only supported for user-defined networks",
                ));
            }
            if !user
                && ep
                    .ipam_config
                    .as_ref()
                    .and_then(|i| i.ipv4_address.as_deref())
                    .is_some_and(|a| !a.is_empty())
            {
                return Err(ApiError::invalid(
                    "user specified IP address is supported on user defined networks only",
                ));
            }
            ep.network_id = info.id.clone();
        }
        Ok(())
    }

    /// Gives a starting container its network namespace and endpoints. Returns the namespace
    /// path for the OCI spec (None for host/none/container: modes). Nothing is left behind on
    /// failure.
    pub(crate) async fn attach_networks(
        &self,
        c: &super::Container,
    ) -> crate::error::ApiResult<Option<std::path::PathBuf>> {
        use crate::error::ApiError;
        let rec = c.snapshot();
        let mode = mode(&rec);
        if !has_own_endpoints(&mode) {
            return Ok(None);
        }
        let net_err = |e: berth_network::NetError| ApiError::from_classified(e);
        let sandbox = self.net.create_sandbox(&rec.id).await.map_err(net_err)?;
        let mut networks = rec.networks.clone();
        let mut ports = berth_api::PortMap::new();
        let bindings = port_bindings(&rec);
        let publish_all = if rec.host_config.publish_all_ports.unwrap_or(false) {
            rec.config
                .exposed_ports
                .clone()
                .unwrap_or_default()
                .keys()
                .filter_map(|p| {
                    let (port, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
                    Some((port.parse::<u16>().ok()?, proto.to_string()))
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut first = true;
        for (name, ep) in networks.iter_mut() {
            let links = self.resolve_links(&rec, ep);
            let req = berth_network::EndpointRequest {
                mac: rec.config.mac_address.clone().filter(|m| !m.is_empty()),
                // Ports are published once, through the first network.
                port_bindings: if first { bindings.clone() } else { Vec::new() },
                publish_all_ports: if first {
                    publish_all.clone()
                } else {
                    Vec::new()
                },
                ..endpoint_request(&rec, ep, links)
            };
            let info = match self.net.connect(&rec.id, &sandbox, name, req).await {
                Ok(i) => i,
                Err(e) => {
                    self.net.release_container(&rec.id).await;
                    return Err(net_err(e));
                }
            };
            first = false;
            record_live(ep, &info);
            for (cport, proto, host_ip, host_port) in &info.ports {
                ports
                    .entry(format!("{cport}/{proto}"))
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(berth_api::PortBinding {
                        host_ip: Some(host_ip.clone()),
                        host_port: Some(host_port.to_string()),
                    });
            }
        }
        c.with(|r| {
            r.networks = networks;
            r.ports = ports;
            r.sandbox_key = sandbox.display().to_string();
        });
        Ok(Some(sandbox))
    }

    /// Undoes `attach_networks` (stop, exit, failed start, removal). Idempotent.
    pub(crate) async fn detach_networks(&self, c: &super::Container) {
        self.net.release_container(&c.id).await;
        c.with(clear_live);
    }

    /// `--link name[:alias]` as (container name, alias) pairs of existing containers.
    /// The legacy links of one endpoint as (target name, alias): the container's `--link`s
    /// plus the endpoint's own `Links`. A target that does not exist yet keeps the name it was
    /// given: the embedded DNS resolves links when asked, so it answers once the target runs.
    fn resolve_links(&self, rec: &ContainerRecord, ep: &EndpointSettings) -> Vec<(String, String)> {
        let mut all = rec.host_config.links.clone().unwrap_or_default();
        all.extend(ep.links.clone().unwrap_or_default());
        all.iter()
            .map(|l| {
                let (target, alias) = parse_link(l);
                let name = match self.get(&target) {
                    Ok(other) => other.snapshot().short_name().to_string(),
                    Err(_) => target,
                };
                (name, alias)
            })
            .collect()
    }

    /// Extra /etc/hosts lines: the container's own address and, on the default bridge, its
    /// links (dockerd writes both).
    pub(crate) fn hosts_entries(&self, rec: &ContainerRecord) -> String {
        let mut out = String::new();
        let hostname = rec.config.hostname.clone().unwrap_or_default();
        if let Some(ep) = rec.networks.values().find(|e| !e.ip_address.is_empty()) {
            out.push_str(&format!("{}\t{hostname}\n", ep.ip_address));
        }
        if rec.networks.contains_key("bridge") {
            for l in rec.host_config.links.clone().unwrap_or_default() {
                let (target, alias) = parse_link(&l);
                let Ok(other) = self.get(&target) else {
                    continue;
                };
                let o = other.snapshot();
                if let Some(ip) = o
                    .networks
                    .get("bridge")
                    .map(|e| e.ip_address.clone())
                    .filter(|i| !i.is_empty())
                {
                    let id12 = &o.id[..12];
                    out.push_str(&format!("{ip}\t{alias} {id12} {}\n", o.short_name()));
                }
            }
        }
        out
    }
}

impl super::ContainerService {
    /// The legacy link environment (`ALIAS_NAME`, `ALIAS_ENV_*`, `ALIAS_PORT*`) of a container
    /// on the default bridge, one group per running linked container, as dockerd sets it.
    pub(crate) fn link_env(&self, rec: &ContainerRecord) -> Vec<String> {
        let mut out = Vec::new();
        if !rec.networks.contains_key("bridge") {
            return out;
        }
        for l in rec.host_config.links.clone().unwrap_or_default() {
            let (target, alias) = parse_link(&l);
            let Ok(other) = self.get(&target) else {
                continue;
            };
            let o = other.snapshot();
            let Some(ip) = o
                .networks
                .get("bridge")
                .map(|e| e.ip_address.clone())
                .filter(|i| !i.is_empty())
            else {
                continue;
            };
            let ports: Vec<String> = o
                .config
                .exposed_ports
                .clone()
                .unwrap_or_default()
                .keys()
                .cloned()
                .collect();
            let name = format!("/{}/{alias}", rec.short_name());
            out.extend(link_env_of(
                &name,
                &ip,
                &o.config.env.clone().unwrap_or_default(),
                &ports,
            ));
        }
        out
    }
}

/// dockerd's environment for one link named `/parent/alias` to a container at `ip` with
/// `env` and exposed `ports` (`80/tcp`).
pub fn link_env_of(name: &str, ip: &str, env: &[String], ports: &[String]) -> Vec<String> {
    let alias = name
        .rsplit('/')
        .next()
        .unwrap_or(name)
        .to_uppercase()
        .replace('-', "_");
    let mut parsed: Vec<(u16, String)> = ports
        .iter()
        .filter_map(|p| {
            let (port, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
            Some((port.parse().ok()?, proto.to_string()))
        })
        .collect();
    // dockerd's order: by port number, tcp first on a tie; the first is the default port.
    parsed.sort_by_key(|(port, proto)| (*port, proto != "tcp"));
    let mut out = Vec::new();
    if let Some((port, proto)) = parsed.first() {
        out.push(format!("{alias}_PORT={proto}://{ip}:{port}"));
    }
    for (port, proto) in &parsed {
        let p = format!("{alias}_PORT_{port}_{}", proto.to_uppercase());
        out.push(format!("{p}={proto}://{ip}:{port}"));
        out.push(format!("{p}_ADDR={ip}"));
        out.push(format!("{p}_PORT={port}"));
        out.push(format!("{p}_PROTO={proto}"));
    }
    out.push(format!("{alias}_NAME={name}"));
    for kv in env {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        if k == "HOME" || k == "PATH" {
            continue;
        }
        out.push(format!("{alias}_ENV_{k}={v}"));
    }
    out
}

/// What a container asks of one network: its names, aliases, links and static address (no
/// ports; callers add those for the network that publishes them).
fn endpoint_request(
    rec: &ContainerRecord,
    ep: &EndpointSettings,
    links: Vec<(String, String)>,
) -> berth_network::EndpointRequest {
    berth_network::EndpointRequest {
        name: rec.short_name().to_string(),
        hostname: rec.config.hostname.clone().unwrap_or_default(),
        aliases: ep.aliases.clone().unwrap_or_default(),
        links,
        ipv4: ep
            .ipam_config
            .as_ref()
            .and_then(|i| i.ipv4_address.as_deref())
            .and_then(|a| a.parse().ok()),
        ..Default::default()
    }
}

/// Copies a joined endpoint's live state into the container's record of it.
fn record_live(ep: &mut EndpointSettings, info: &berth_network::EndpointInfo) {
    ep.network_id = info.network_id.clone();
    ep.endpoint_id = info.endpoint_id.clone();
    ep.ip_address = info.ip.to_string();
    ep.ip_prefix_len = i64::from(info.prefix_len);
    ep.gateway = info.gateway.map(|g| g.to_string()).unwrap_or_default();
    ep.mac_address = info.mac.clone();
}

/// `links` without the ones named `alias`; None when none is.
pub fn without_link(links: &[String], alias: &str) -> Option<Vec<String>> {
    let kept: Vec<String> = links
        .iter()
        .filter(|l| parse_link(l).1 != alias)
        .cloned()
        .collect();
    (kept.len() != links.len()).then_some(kept)
}

impl super::ContainerService {
    /// Removes the legacy link `alias` from container `parent` (`docker rm --link`).
    pub async fn remove_link(&self, parent: &str, alias: &str) -> ApiResult<()> {
        let c = self
            .get(parent)
            .map_err(|_| ApiError::not_found(format!("No such container: {parent}/{alias}")))?;
        let _op = c.op.lock().await;
        let links = c.snapshot().host_config.links.unwrap_or_default();
        let Some(kept) = without_link(&links, alias) else {
            return Err(ApiError::not_found(format!(
                "No such container: {parent}/{alias}"
            )));
        };
        c.with(|r| r.host_config.links = Some(kept));
        self.persist(&c)
    }
}

/// `name:alias`, `/name:/me/alias` or `name` → (name, alias).
pub fn parse_link(l: &str) -> (String, String) {
    let (a, b) = l.split_once(':').unwrap_or((l, l));
    let target = a.trim_start_matches('/').to_string();
    let alias = b.rsplit('/').next().unwrap_or(b).to_string();
    (target, alias)
}

/// `HostConfig.PortBindings` as the network layer's bindings.
pub fn port_bindings(rec: &ContainerRecord) -> Vec<berth_network::PortBinding> {
    let mut out = Vec::new();
    for (key, binds) in rec.host_config.port_bindings.clone().unwrap_or_default() {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(cport) = port.parse::<u16>() else {
            continue;
        };
        for b in binds.unwrap_or_default() {
            let host_port = b.host_port.clone().unwrap_or_default();
            let (start, end) = match host_port.split_once('-') {
                Some((s, e)) => (s.parse().unwrap_or(0), e.parse().unwrap_or(0)),
                None => {
                    let p = host_port.parse().unwrap_or(0);
                    (p, p)
                }
            };
            out.push(berth_network::PortBinding {
                container_port: cport,
                proto: proto.to_string(),
                host_ip: b.host_ip.clone().unwrap_or_default(),
                host_port_start: start,
                host_port_end: end,
            });
        }
    }
    out
}

impl super::ContainerService {
    /// `network connect`: a running container joins now; a stopped one at its next start.
    pub async fn connect_network(
        &self,
        name_or_id: &str,
        net: &berth_network::NetworkInfo,
        settings: EndpointSettings,
    ) -> crate::error::ApiResult<()> {
        use crate::error::ApiError;
        let c = self.get(name_or_id)?;
        let _op = c.op.lock().await;
        let rec = c.snapshot();
        let mode = mode(&rec);
        if !has_own_endpoints(&mode) || !net.is_user && net.name != "bridge" {
            return Err(ApiError::invalid(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        if rec.networks.contains_key(&net.name) {
            return Err(ApiError::forbidden(format!(
                "endpoint with name {} already exists in network {}",
                rec.short_name(),
                net.name
            )));
        }
        let mut want: BTreeMap<String, EndpointSettings> = BTreeMap::new();
        want.insert(
            net.name.clone(),
            EndpointSettings {
                ipam_config: settings.ipam_config,
                links: settings.links.filter(|l| !l.is_empty()),
                aliases: settings.aliases.filter(|a| !a.is_empty()),
                // Kept as asked (dockerd shows a requested MacAddress in inspect).
                mac_address: settings.mac_address,
                driver_opts: settings.driver_opts,
                ..Default::default()
            },
        );
        self.validate_endpoints(&mut want)?;
        let mut ep = want.remove(&net.name).unwrap_or_default();
        if rec.state.running && !rec.sandbox_key.is_empty() {
            let req = endpoint_request(&rec, &ep, self.resolve_links(&rec, &ep));
            let info = self
                .net
                .connect(
                    &rec.id,
                    std::path::Path::new(&rec.sandbox_key),
                    &net.name,
                    req,
                )
                .await
                .map_err(ApiError::from_classified)?;
            record_live(&mut ep, &info);
        }
        c.with(|r| {
            r.networks.insert(net.name.clone(), ep);
        });
        self.persist(&c)
    }

    /// `network disconnect`.
    pub async fn disconnect_network(
        &self,
        name_or_id: &str,
        net: &berth_network::NetworkInfo,
        force: bool,
    ) -> crate::error::ApiResult<()> {
        use crate::error::ApiError;
        let c = match self.get(name_or_id) {
            Ok(c) => c,
            Err(_) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let _op = c.op.lock().await;
        let rec = c.snapshot();
        if !rec.networks.contains_key(&net.name) {
            // dockerd's two wordings: a running container's endpoint lookup (500), a stopped
            // container's config check (403).
            return Err(if rec.state.running {
                ApiError::internal(format!(
                    "container {} is not connected to network {}",
                    rec.id, net.name
                ))
            } else {
                ApiError::forbidden(format!(
                    "container {} is not connected to the network {}",
                    rec.id, net.name
                ))
            });
        }
        if rec.state.running && !rec.sandbox_key.is_empty() {
            self.net
                .disconnect(&rec.id, &net.name, force)
                .await
                .map_err(ApiError::from_classified)?;
        }
        c.with(|r| {
            r.networks.remove(&net.name);
        });
        self.persist(&c)
    }
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

    #[test]
    fn link_environment_matches_dockerd() {
        let env = link_env_of(
            "/web/my-db",
            "172.17.0.2",
            &[
                "PATH=/bin".into(),
                "FOO=1".into(),
                "HOME=/root".into(),
                "A=b=c".into(),
            ],
            &["6379/tcp".into(), "53/udp".into()],
        );
        assert_eq!(
            env,
            vec![
                "MY_DB_PORT=udp://172.17.0.2:53",
                "MY_DB_PORT_53_UDP=udp://172.17.0.2:53",
                "MY_DB_PORT_53_UDP_ADDR=172.17.0.2",
                "MY_DB_PORT_53_UDP_PORT=53",
                "MY_DB_PORT_53_UDP_PROTO=udp",
                "MY_DB_PORT_6379_TCP=tcp://172.17.0.2:6379",
                "MY_DB_PORT_6379_TCP_ADDR=172.17.0.2",
                "MY_DB_PORT_6379_TCP_PORT=6379",
                "MY_DB_PORT_6379_TCP_PROTO=tcp",
                "MY_DB_NAME=/web/my-db",
                "MY_DB_ENV_FOO=1",
                "MY_DB_ENV_A=b=c",
            ]
        );
    }

    #[test]
    fn links_are_removed_by_alias() {
        let links = vec!["/db:/web/mylink".to_string(), "cache:c".to_string()];
        assert_eq!(
            without_link(&links, "mylink"),
            Some(vec!["cache:c".to_string()])
        );
        assert_eq!(
            without_link(&links, "c"),
            Some(vec!["/db:/web/mylink".to_string()])
        );
        assert_eq!(without_link(&links, "db"), None);
    }

    #[test]
    fn more_than_one_endpoint_at_create_is_refused() {
        let nc: NetworkingConfig =
            serde_json::from_value(json!({"EndpointsConfig": {"net1": {}, "bar": {}}}))
                .expect("valid json");
        let e = check_single_endpoint(Some(&nc)).expect_err("two endpoints");
        assert_eq!(e.status.as_u16(), 400);
        assert_eq!(
            e.message,
            "Container cannot be connected to network endpoints: bar, net1"
        );
        let one: NetworkingConfig =
            serde_json::from_value(json!({"EndpointsConfig": {"net1": {}}})).expect("valid json");
        assert!(check_single_endpoint(Some(&one)).is_ok());
        assert!(check_single_endpoint(None).is_ok());
    }
}
