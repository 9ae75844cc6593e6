//! Network commands: network ls, create, inspect, rm, prune, connect, disconnect.

use std::collections::BTreeMap;
use std::net::IpAddr;

use clap::Args;
use serde_json::{Value, json};

use crate::client::{Client, esc, query};
use crate::container::filters_json;
use crate::error::{CliError, Result};
use crate::format::ListFormat;
use crate::volume::{
    Arity, check_args, check_filters, join_labels, kv_map, multi_result, print_deleted,
    print_inspect_items, sort_by_name,
};

/// `docker network ls`.
#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Unexpected positional arguments (rejected with Docker's text).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `docker network create`.
#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address")]
    pub aux_address: Vec<String>,
    /// The network from which to copy the configuration
    #[arg(long = "config-from")]
    pub config_from: Option<String>,
    /// Create a configuration only network
    #[arg(long = "config-only")]
    pub config_only: bool,
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_delimiter = ',')]
    pub gateway: Vec<String>,
    /// Create swarm routing-mesh network
    #[arg(long)]
    pub ingress: bool,
    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_delimiter = ',')]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    pub ipam_opt: Vec<String>,
    /// Enable or disable IPv4 address assignment
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub ipv4: Option<bool>,
    /// Enable or disable IPv6 address assignment
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long)]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long)]
    pub opt: Vec<String>,
    /// Control the network's scope
    #[arg(long)]
    pub scope: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_delimiter = ',')]
    pub subnet: Vec<String>,
    /// Network name (exactly one; counted by the command for Docker's error text).
    #[arg(value_name = "NETWORK")]
    pub name: Vec<String>,
}

/// `docker network inspect`.
#[derive(Debug, Args)]
pub struct NetworkInspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Networks.
    #[arg(value_name = "NETWORK")]
    pub networks: Vec<String>,
}

/// `docker network rm`.
#[derive(Debug, Args)]
pub struct NetworkRmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Networks.
    #[arg(value_name = "NETWORK")]
    pub networks: Vec<String>,
}

/// `docker network prune`.
#[derive(Debug, Args)]
pub struct NetworkPruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Unexpected positional arguments (rejected with Docker's text).
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `docker network connect`.
#[derive(Debug, Args)]
pub struct NetworkConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_delimiter = ',')]
    pub alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_delimiter = ',')]
    pub driver_opt: Vec<String>,
    /// Highest gw-priority provides the default gateway. Accepts positive and negative values.
    #[arg(long = "gw-priority", allow_negative_numbers = true)]
    pub gw_priority: Option<i64>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long)]
    pub link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_delimiter = ',')]
    pub link_local_ip: Vec<String>,
    /// NETWORK CONTAINER (exactly two; counted by the command for Docker's error text).
    #[arg(value_name = "NETWORK CONTAINER")]
    pub args: Vec<String>,
}

/// `docker network disconnect`.
#[derive(Debug, Args)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,
    /// NETWORK CONTAINER (exactly two; counted by the command for Docker's error text).
    #[arg(value_name = "NETWORK CONTAINER")]
    pub args: Vec<String>,
}

/// An IP network in CIDR form (`addr/len`), as Go's `net.ParseCIDR` accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address as written (not masked).
    pub addr: IpAddr,
    /// Prefix length.
    pub len: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::y/n`; the error text is Go's.
    pub fn parse(s: &str) -> Result<Cidr> {
        let bad = || CliError::invalid(format!("invalid CIDR address: {s}"));
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        // Go rejects signs and leading zeros-free junk; plain decimal digits only.
        if l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) || l.len() > 3 {
            return Err(bad());
        }
        let len: u8 = l.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(bad());
        }
        Ok(Cidr { addr, len })
    }

    fn bits(ip: &IpAddr) -> (u128, u32) {
        match ip {
            IpAddr::V4(v) => (u128::from(u32::from(*v)), 32),
            IpAddr::V6(v) => (u128::from(*v), 128),
        }
    }

    /// Whether `ip` lies inside this network (same family only).
    pub fn contains(&self, ip: &IpAddr) -> bool {
        if self.addr.is_ipv4() != ip.is_ipv4() {
            return false;
        }
        let (n, width) = Self::bits(&self.addr);
        let (x, _) = Self::bits(ip);
        let host = width - u32::from(self.len);
        if host >= 128 {
            return true;
        }
        (n >> host) == (x >> host)
    }
}

/// Go's `net.ParseIP` for a gateway/aux address, or the IP part of a CIDR (`subnetMatches`).
fn parse_ip_or_cidr(data: &str) -> Result<Option<IpAddr>> {
    if data.contains('/') {
        return Ok(Some(Cidr::parse(data)?.addr));
    }
    Ok(data.parse().ok())
}

/// Docker's `subnetMatches`: is `data` (IP or CIDR) inside `subnet`?
fn subnet_matches(subnet: &str, data: &str) -> Result<bool> {
    let s = Cidr::parse(subnet).map_err(|e| CliError::invalid(format!("invalid subnet: {e}")))?;
    Ok(parse_ip_or_cidr(data)?.is_some_and(|ip| s.contains(&ip)))
}

/// Docker's `consolidateIpam`: pairs each ip-range, gateway and aux address with its subnet.
pub fn consolidate_ipam(
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
    aux: &BTreeMap<String, String>,
) -> Result<Vec<Value>> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err(CliError::invalid(
            "every ip-range or gateway must have a corresponding subnet",
        ));
    }
    for (i, a) in subnets.iter().enumerate() {
        for b in &subnets[i + 1..] {
            if subnet_matches(a, b)? || subnet_matches(b, a)? {
                return Err(CliError::invalid(
                    "multiple overlapping subnet configuration is not supported",
                ));
            }
        }
    }
    struct Cfg {
        range: String,
        gateway: String,
        aux: BTreeMap<String, String>,
    }
    let mut cfg: Vec<Cfg> = subnets
        .iter()
        .map(|_| Cfg {
            range: String::new(),
            gateway: String::new(),
            aux: BTreeMap::new(),
        })
        .collect();
    for r in ranges {
        let mut matched = false;
        for (i, s) in subnets.iter().enumerate() {
            if !subnet_matches(s, r)? {
                continue;
            }
            if !cfg[i].range.is_empty() {
                return Err(CliError::invalid(format!(
                    "cannot configure multiple ranges ({r}, {}) on the same subnet ({s})",
                    cfg[i].range
                )));
            }
            cfg[i].range = r.clone();
            matched = true;
        }
        if !matched {
            return Err(CliError::invalid(format!(
                "no matching subnet for range {r}"
            )));
        }
    }
    for g in gateways {
        let mut matched = false;
        for (i, s) in subnets.iter().enumerate() {
            if !subnet_matches(s, g)? {
                continue;
            }
            if !cfg[i].gateway.is_empty() {
                return Err(CliError::invalid(format!(
                    "cannot configure multiple gateways ({g}, {}) for the same subnet ({s})",
                    cfg[i].gateway
                )));
            }
            cfg[i].gateway = g.clone();
            matched = true;
        }
        if !matched {
            return Err(CliError::invalid(format!(
                "no matching subnet for gateway {g}"
            )));
        }
    }
    for (key, addr) in aux {
        let mut matched = false;
        for (i, s) in subnets.iter().enumerate() {
            if subnet_matches(s, addr)? {
                cfg[i].aux.insert(key.clone(), addr.clone());
                matched = true;
            }
        }
        if !matched {
            return Err(CliError::invalid(format!(
                "no matching subnet for aux-address {addr}"
            )));
        }
    }
    Ok(subnets
        .iter()
        .zip(cfg)
        .map(|(s, c)| {
            let mut m = serde_json::Map::new();
            m.insert("Subnet".into(), json!(s));
            if !c.range.is_empty() {
                m.insert("IPRange".into(), json!(c.range));
            }
            if !c.gateway.is_empty() {
                m.insert("Gateway".into(), json!(c.gateway));
            }
            if !c.aux.is_empty() {
                m.insert("AuxiliaryAddresses".into(), json!(c.aux));
            }
            Value::Object(m)
        })
        .collect())
}

/// The request body of `network create`.
pub fn network_create_body(a: &NetworkCreateArgs) -> Result<Value> {
    check_args(
        "network create",
        "[OPTIONS] NETWORK",
        a.name.len(),
        Arity::Exact(1),
    )?;
    let ipam = consolidate_ipam(&a.subnet, &a.ip_range, &a.gateway, &kv_map(&a.aux_address))?;
    let mut b = json!({
        "Name": a.name[0],
        // Pre-1.44 daemons only refuse duplicate names when asked to.
        "CheckDuplicate": true,
        "Driver": a.driver,
        "Scope": a.scope.clone().unwrap_or_default(),
        "IPAM": {
            "Driver": a.ipam_driver,
            "Config": ipam,
            "Options": kv_map(&a.ipam_opt),
        },
        "Internal": a.internal,
        "Attachable": a.attachable,
        "Ingress": a.ingress,
        "ConfigOnly": a.config_only,
        "Options": kv_map(&a.opt),
        "Labels": kv_map(&a.label),
    });
    if let Some(m) = b.as_object_mut() {
        if let Some(v4) = a.ipv4 {
            m.insert("EnableIPv4".into(), json!(v4));
        }
        if let Some(v6) = a.ipv6 {
            m.insert("EnableIPv6".into(), json!(v6));
        }
        if let Some(cf) = a.config_from.as_deref().filter(|s| !s.is_empty()) {
            m.insert("ConfigFrom".into(), json!({"Network": cf}));
        }
    }
    Ok(b)
}

const NETWORK_HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

/// Go's `time.Time.String()` of an RFC 3339 timestamp (`2026-11-25 07:59:19.342561577 +0000 UTC`).
pub fn go_time_utc(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => {
            let t = t.with_timezone(&chrono::Utc);
            let nanos = t.timestamp_subsec_nanos();
            let frac = if nanos == 0 {
                String::new()
            } else {
                let s = format!(".{nanos:09}");
                s.trim_end_matches('0').to_string()
            };
            format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
        }
        Err(_) => "0001-01-01 00:00:00 +0000 UTC".to_string(),
    }
}

/// The `docker network ls` row (template fields) of one network.
pub fn network_row(n: &Value, trunc: bool) -> BTreeMap<String, String> {
    let s = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let b = |k: &str| {
        n.get(k)
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    let id = s("Id");
    let mut r = BTreeMap::new();
    r.insert(
        "ID".to_string(),
        if trunc {
            id.chars().take(12).collect()
        } else {
            id
        },
    );
    r.insert("Name".into(), s("Name"));
    r.insert("Driver".into(), s("Driver"));
    r.insert("Scope".into(), s("Scope"));
    r.insert("IPv4".into(), b("EnableIPv4"));
    r.insert("IPv6".into(), b("EnableIPv6"));
    r.insert("Internal".into(), b("Internal"));
    r.insert("Labels".into(), join_labels(n.get("Labels")));
    r.insert("CreatedAt".into(), go_time_utc(&s("Created")));
    r
}

/// The effective `network ls` template.
pub fn network_ls_format(quiet: bool, format: Option<&str>) -> String {
    // A custom --format wins over -q; -q only replaces the default table.
    match format {
        Some(f) if !f.is_empty() && f != "table" => f.to_string(),
        _ if quiet => "{{.ID}}".to_string(),
        _ => "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}".to_string(),
    }
}

/// `docker network ls`.
pub async fn network_ls(client: &Client, a: NetworkLsArgs) -> Result<u8> {
    check_filters("network ls", "[OPTIONS]", "-f, --filter", &a.filter)?;
    check_args("network ls", "[OPTIONS]", a.args.len(), Arity::None)?;
    let lf = ListFormat::new(&network_ls_format(a.quiet, a.format.as_deref()))?;
    let mut q = Vec::new();
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    let v = client.get(&format!("/networks{}", query(&q))).await?;
    let mut nets: Vec<Value> = v.as_array().cloned().unwrap_or_default();
    sort_by_name(&mut nets);
    let rows: Vec<_> = nets.iter().map(|n| network_row(n, !a.no_trunc)).collect();
    lf.write(&mut std::io::stdout().lock(), NETWORK_HEADERS, &rows)?;
    Ok(0)
}

/// `docker network create`.
pub async fn network_create(client: &Client, a: NetworkCreateArgs) -> Result<u8> {
    let body = network_create_body(&a)?;
    let v = client.post("/networks/create", Some(&body)).await?;
    println!("{}", v.get("Id").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

/// `docker network inspect`.
pub async fn network_inspect(client: &Client, a: NetworkInspectArgs) -> Result<u8> {
    check_args(
        "network inspect",
        "[OPTIONS] NETWORK [NETWORK...]",
        a.networks.len(),
        Arity::AtLeast(1),
    )?;
    let q = if a.verbose {
        vec![("verbose", "true".to_string())]
    } else {
        Vec::new()
    };
    let mut items = Vec::new();
    let mut errs = Vec::new();
    for n in &a.networks {
        match client
            .get(&format!("/networks/{}{}", esc(n), query(&q)))
            .await
        {
            Ok(v) => items.push(v),
            Err(e) => errs.push(e.to_string()),
        }
    }
    print_inspect_items(
        &mut std::io::stdout().lock(),
        &items,
        a.format.as_deref(),
        &["Labels", "Options", "Containers", "IPAM/Options"],
    )?;
    multi_result(errs)
}

/// `docker network rm`: errors go to stderr as they happen, then `exit status 1`.
pub async fn network_rm(client: &Client, a: NetworkRmArgs) -> Result<u8> {
    check_args(
        "network rm",
        "NETWORK [NETWORK...]",
        a.networks.len(),
        Arity::AtLeast(1),
    )?;
    let mut failed = false;
    for n in &a.networks {
        match client.delete(&format!("/networks/{}", esc(n))).await {
            Ok(_) => println!("{n}"),
            Err(e) if a.force && e.status() == Some(404) => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(CliError::Status {
            message: "exit status 1".into(),
            code: 1,
        });
    }
    Ok(0)
}

/// `docker network prune`.
pub async fn network_prune(client: &Client, a: NetworkPruneArgs) -> Result<u8> {
    check_filters("network prune", "[OPTIONS]", "--filter", &a.filter)?;
    check_args("network prune", "[OPTIONS]", a.args.len(), Arity::None)?;
    let mut q = Vec::new();
    if let Some(f) = filters_json(&a.filter)? {
        q.push(("filters", f));
    }
    if !a.force
        && !crate::image::confirm(
            "WARNING! This will remove all custom networks not used by at least one container.\n",
        )?
    {
        // Docker v28 cancels silently with exit 0.
        return Ok(0);
    }
    let v = client
        .post(&format!("/networks/prune{}", query(&q)), None)
        .await?;
    print_deleted(
        &mut std::io::stdout().lock(),
        "Networks",
        v.get("NetworksDeleted"),
    )?;
    Ok(0)
}

/// Docker's `ValidateLink` (`name[:alias]`): only an empty value or more than one `:` is
/// rejected, as a flag error (exit 125 with the usage line).
pub fn validate_link(l: &str) -> Result<String> {
    let why = if l.is_empty() {
        "empty string specified for links".to_string()
    } else if l.split(':').count() > 2 {
        format!("bad format for links: {l}")
    } else {
        return Ok(l.to_string());
    };
    Err(CliError::Status {
        message: format!(
            "invalid argument \"{l}\" for \"--link\" flag: {why}\n\nUsage:  docker network connect [OPTIONS] NETWORK CONTAINER\n\nRun 'docker network connect --help' for more information"
        ),
        code: 125,
    })
}

/// The request body of `network connect`.
pub fn network_connect_body(a: &NetworkConnectArgs) -> Result<Value> {
    // Flag values are checked first: Docker rejects them while parsing flags.
    let links = a
        .link
        .iter()
        .map(|l| validate_link(l))
        .collect::<Result<Vec<_>>>()?;
    check_args(
        "network connect",
        "[OPTIONS] NETWORK CONTAINER",
        a.args.len(),
        Arity::Exact(2),
    )?;
    let null_if_empty = |v: &[String]| {
        if v.is_empty() { Value::Null } else { json!(v) }
    };
    let mut ipam = serde_json::Map::new();
    if let Some(ip) = a.ip.as_deref().filter(|s| !s.is_empty()) {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip) = a.ip6.as_deref().filter(|s| !s.is_empty()) {
        ipam.insert("IPv6Address".into(), json!(ip));
    }
    if !a.link_local_ip.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(a.link_local_ip));
    }
    let driver_opts = if a.driver_opt.is_empty() {
        Value::Null
    } else {
        let mut m = BTreeMap::new();
        for o in &a.driver_opt {
            match o.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    m.insert(k.trim().to_string(), v.trim().to_string());
                }
                _ => {
                    return Err(CliError::invalid(
                        "invalid key/value pair format in driver options",
                    ));
                }
            }
        }
        json!(m)
    };
    let mut ep = json!({
        "IPAMConfig": Value::Object(ipam),
        "Links": null_if_empty(&links),
        "Aliases": null_if_empty(&a.alias),
        "DriverOpts": driver_opts,
    });
    if let (Some(p), Some(m)) = (a.gw_priority, ep.as_object_mut()) {
        m.insert("GwPriority".into(), json!(p));
    }
    Ok(json!({"Container": a.args[1], "EndpointConfig": ep}))
}

/// `docker network connect`.
pub async fn network_connect(client: &Client, a: NetworkConnectArgs) -> Result<u8> {
    let body = network_connect_body(&a)?;
    client
        .post(
            &format!("/networks/{}/connect", esc(&a.args[0])),
            Some(&body),
        )
        .await?;
    Ok(0)
}

/// `docker network disconnect`.
pub async fn network_disconnect(client: &Client, a: NetworkDisconnectArgs) -> Result<u8> {
    check_args(
        "network disconnect",
        "[OPTIONS] NETWORK CONTAINER",
        a.args.len(),
        Arity::Exact(2),
    )?;
    let body = json!({"Container": a.args[1], "Force": a.force});
    client
        .post(
            &format!("/networks/{}/disconnect", esc(&a.args[0])),
            Some(&body),
        )
        .await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.77.0.0/24").ok();
        assert!(c.is_some());
        if let Some(c) = c {
            assert!(c.contains(&"10.77.0.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
            assert!(!c.contains(&"10.78.0.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        }
        assert!(Cidr::parse("0.0.0.0/0").is_ok_and(|c| c.contains(&IpAddr::from([1, 2, 3, 4]))));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0.0").is_err());
        assert!(Cidr::parse("fd00::/64").is_ok());
        assert_eq!(
            Cidr::parse("x/8").err().map(|e| e.to_string()).as_deref(),
            Some("invalid CIDR address: x/8")
        );
    }

    #[test]
    fn ipam() {
        let cfg = consolidate_ipam(
            &strs(&["10.77.0.0/24", "10.78.0.0/16"]),
            &strs(&["10.78.1.0/24"]),
            &strs(&["10.77.0.1"]),
            &BTreeMap::new(),
        )
        .unwrap_or_default();
        assert_eq!(
            cfg,
            vec![
                json!({"Subnet": "10.77.0.0/24", "Gateway": "10.77.0.1"}),
                json!({"Subnet": "10.78.0.0/16", "IPRange": "10.78.1.0/24"}),
            ]
        );
        let e = |s: &[&str], r: &[&str], g: &[&str]| {
            consolidate_ipam(&strs(s), &strs(r), &strs(g), &BTreeMap::new())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            e(&[], &[], &["10.0.0.1"]),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            e(&["10.0.0.0/8", "10.1.0.0/16"], &[], &[]),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(
            e(&["10.0.0.0/8"], &[], &["11.0.0.1"]),
            "no matching subnet for gateway 11.0.0.1"
        );
        assert_eq!(
            e(&["10.0.0.0/8"], &["12.0.0.0/24"], &[]),
            "no matching subnet for range 12.0.0.0/24"
        );
        assert_eq!(
            e(&["bad"], &[], &["1.2.3.4"]),
            "invalid subnet: invalid CIDR address: bad"
        );
    }

    #[test]
    fn ls_rows() {
        let n = json!({"Name": "bridge", "Id": "a60cbc6260a5e658b0fd5e817d8d117717dd23c12206cb50e7314f0a7162781d",
            "Created": "2026-11-25T07:59:19.342561577Z", "Scope": "local", "Driver": "bridge",
            "EnableIPv6": false, "Internal": false, "Labels": {}});
        let r = network_row(&n, true);
        assert_eq!(r["ID"], "a60cbc6260a5");
        assert_eq!(r["CreatedAt"], "2026-11-25 07:59:19.342561577 +0000 UTC");
        assert_eq!(r["IPv6"], "false");
        assert_eq!(r["Labels"], "");
        assert_eq!(network_row(&n, false)["ID"].len(), 64);
        let mut out = Vec::new();
        if let Ok(lf) = ListFormat::new(&network_ls_format(false, None)) {
            assert!(lf.write(&mut out, NETWORK_HEADERS, &[r]).is_ok());
        }
        assert_eq!(
            String::from_utf8_lossy(&out),
            "NETWORK ID     NAME      DRIVER    SCOPE\na60cbc6260a5   bridge    bridge    local\n"
        );
        assert_eq!(
            go_time_utc("2026-11-25T07:59:40Z"),
            "2026-11-25 07:59:40 +0000 UTC"
        );
        assert_eq!(
            go_time_utc("2026-11-25T07:59:40.5Z"),
            "2026-11-25 07:59:40.5 +0000 UTC"
        );
    }

    #[test]
    fn bodies() {
        use clap::Parser;
        #[derive(Parser)]
        struct C {
            #[command(flatten)]
            a: NetworkCreateArgs,
        }
        let c = C::try_parse_from([
            "x",
            "--subnet",
            "10.77.0.0/24",
            "--gateway",
            "10.77.0.1",
            "--label",
            "a=b",
            "-o",
            "com.docker.network.bridge.name=br0",
            "--internal",
            "mynet",
        ]);
        assert!(c.is_ok());
        let Ok(c) = c else { return };
        let b = network_create_body(&c.a).unwrap_or_default();
        assert_eq!(b["Name"], "mynet");
        assert_eq!(b["Driver"], "bridge");
        assert_eq!(b["Internal"], true);
        assert_eq!(b["IPAM"]["Config"][0]["Gateway"], "10.77.0.1");
        assert_eq!(b["Labels"], json!({"a": "b"}));
        assert_eq!(b["Options"]["com.docker.network.bridge.name"], "br0");
        assert!(b.get("EnableIPv6").is_none());

        #[derive(Parser)]
        struct K {
            #[command(flatten)]
            a: NetworkConnectArgs,
        }
        let k = K::try_parse_from([
            "x",
            "--alias",
            "a1,a2",
            "--ip",
            "10.77.0.9",
            "--link",
            "web:w",
            "mynet",
            "c1",
        ]);
        assert!(k.is_ok());
        let Ok(k) = k else { return };
        let b = network_connect_body(&k.a).unwrap_or_default();
        assert_eq!(b["Container"], "c1");
        assert_eq!(b["EndpointConfig"]["Aliases"], json!(["a1", "a2"]));
        assert_eq!(b["EndpointConfig"]["Links"], json!(["web:w"]));
        assert_eq!(
            b["EndpointConfig"]["IPAMConfig"]["IPv4Address"],
            "10.77.0.9"
        );
        assert!(validate_link("a:b:c").is_err_and(|e| e.exit_code() == 125));
        assert!(validate_link("").is_err());
        assert!(validate_link("a:").is_ok());
        assert!(validate_link("a").is_ok());
    }
}
