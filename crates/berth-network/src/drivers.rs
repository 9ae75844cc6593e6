//! macvlan/ipvlan networks: driver option parsing and validation, worded as dockerd words it.

use std::collections::BTreeMap;

use crate::error::NetError;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

/// `-o macvlan_mode=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MacvlanMode {
    Bridge,
    Private,
    Vepa,
    Passthru,
}

/// `-o ipvlan_mode=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpvlanMode {
    L2,
    L3,
    L3s,
}

/// `-o ipvlan_flag=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpvlanFlag {
    Bridge,
    Private,
    Vepa,
}

/// Which sub-interface each endpoint gets on the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkKind {
    Macvlan(MacvlanMode),
    Ipvlan(IpvlanMode, IpvlanFlag),
}

impl LinkKind {
    /// ipvlan links share the parent's MAC: a custom one cannot be set.
    pub(crate) fn own_mac(&self) -> bool {
        matches!(self, LinkKind::Macvlan(_))
    }

    /// ipvlan L3 routes everything through the device itself (no gateway).
    pub(crate) fn device_default_route(&self) -> bool {
        matches!(self, LinkKind::Ipvlan(IpvlanMode::L3 | IpvlanMode::L3s, _))
    }
}

/// What `-o parent=` resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parent {
    /// No parent (or `--internal`): a dummy link `dm-<id12>` created by us.
    Dummy(String),
    /// An interface that must exist, or a `base.vid` VLAN sub-interface we create if missing.
    Named(String),
}

/// Parsed and validated driver options of a macvlan/ipvlan network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DriverOpts {
    pub kind: LinkKind,
    pub parent: Parent,
}

/// True for the drivers handled here.
pub(crate) fn is_sublink_driver(driver: &str) -> bool {
    matches!(driver, "macvlan" | "ipvlan")
}

/// Name of the dummy parent dockerd creates for parent-less networks.
pub(crate) fn dummy_name(network_id: &str) -> String {
    format!("dm-{}", &network_id[..network_id.len().min(12)])
}

/// Parses the mode/flag options of `driver` (macvlan or ipvlan).
pub(crate) fn parse_kind(
    driver: &str,
    opts: &BTreeMap<String, String>,
) -> Result<LinkKind, NetError> {
    let bad = |m: String| NetError::InvalidArgument(m);
    match driver {
        "macvlan" => {
            let mode = match opts.get("macvlan_mode").map(String::as_str) {
                None | Some("") | Some("bridge") => MacvlanMode::Bridge,
                Some("private") => MacvlanMode::Private,
                Some("vepa") => MacvlanMode::Vepa,
                Some("passthru") => MacvlanMode::Passthru,
                Some(o) => {
                    return Err(bad(format!(
                        "requested macvlan mode '{o}' is not valid, 'bridge' mode is the macvlan driver default"
                    )));
                }
            };
            Ok(LinkKind::Macvlan(mode))
        }
        "ipvlan" => {
            let mode = match opts.get("ipvlan_mode").map(String::as_str) {
                None | Some("") | Some("l2") => IpvlanMode::L2,
                Some("l3") => IpvlanMode::L3,
                Some("l3s") => IpvlanMode::L3s,
                Some(o) => {
                    return Err(bad(format!(
                        "requested ipvlan mode '{o}' is not valid, 'l2' mode is the ipvlan driver default"
                    )));
                }
            };
            let flag = match opts.get("ipvlan_flag").map(String::as_str) {
                None | Some("") | Some("bridge") => IpvlanFlag::Bridge,
                Some("private") => IpvlanFlag::Private,
                Some("vepa") => IpvlanFlag::Vepa,
                Some(o) => {
                    return Err(bad(format!(
                        "requested ipvlan flag '{o}' is not valid, 'bridge' is the ipvlan driver default"
                    )));
                }
            };
            Ok(LinkKind::Ipvlan(mode, flag))
        }
        other => Err(NetError::UnknownDriver(other.to_string())),
    }
}

/// Parses and validates a create request's driver options. `internal` networks get a dummy
/// parent whatever `-o parent` says, as dockerd does ("empty parent and --internal are handled
/// the same").
pub(crate) fn parse(
    driver: &str,
    network_id: &str,
    opts: &BTreeMap<String, String>,
    internal: bool,
) -> Result<DriverOpts, NetError> {
    let kind = parse_kind(driver, opts)?;
    let given = opts
        .get("parent")
        .or_else(|| opts.get("host_iface"))
        .map(|s| s.trim())
        .unwrap_or("");
    if given == "lo" {
        return Err(NetError::InvalidArgument(format!(
            "loopback interface is not a valid {driver} parent link"
        )));
    }
    if given.len() > IFNAME_MAX {
        return Err(NetError::InvalidArgument(format!(
            "-o parent interface name {given} is longer than {IFNAME_MAX} characters"
        )));
    }
    let parent = if internal || given.is_empty() {
        Parent::Dummy(dummy_name(network_id))
    } else {
        Parent::Named(given.to_string())
    };
    Ok(DriverOpts { kind, parent })
}

/// `eth0.10` → ("eth0", 10), with dockerd's messages for malformed names.
pub(crate) fn parse_vlan(name: &str) -> Result<(String, u16), NetError> {
    let bad = |m: String| NetError::InvalidArgument(m);
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() != 2 || parts[0].is_empty() {
        return Err(bad(format!(
            "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received: {name}"
        )));
    }
    let vid: u32 = parts[1].parse().map_err(|_| {
        bad(format!(
            "unable to parse a valid vlan id from: {} (ex. eth0.10 for vlan 10)",
            parts[1]
        ))
    })?;
    if !(1..=4094).contains(&vid) {
        return Err(bad(format!(
            "vlan id must be between 1-4094, received: {vid}"
        )));
    }
    Ok((parts[0].to_string(), vid as u16))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn macvlan_modes() {
        let id = "0123456789abcdef";
        let d = parse("macvlan", id, &opts(&[("parent", "eth0")]), false).unwrap();
        assert_eq!(d.kind, LinkKind::Macvlan(MacvlanMode::Bridge));
        assert_eq!(d.parent, Parent::Named("eth0".into()));
        for (m, want) in [
            ("private", MacvlanMode::Private),
            ("vepa", MacvlanMode::Vepa),
            ("passthru", MacvlanMode::Passthru),
            ("bridge", MacvlanMode::Bridge),
        ] {
            let d = parse(
                "macvlan",
                id,
                &opts(&[("parent", "eth0"), ("macvlan_mode", m)]),
                false,
            )
            .unwrap();
            assert_eq!(d.kind, LinkKind::Macvlan(want));
        }
        let e = parse("macvlan", id, &opts(&[("macvlan_mode", "x")]), false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "requested macvlan mode 'x' is not valid, 'bridge' mode is the macvlan driver default"
        );
    }

    #[test]
    fn ipvlan_modes_and_flags() {
        let id = "0123456789abcdef";
        let d = parse("ipvlan", id, &opts(&[("parent", "eth0")]), false).unwrap();
        assert_eq!(d.kind, LinkKind::Ipvlan(IpvlanMode::L2, IpvlanFlag::Bridge));
        assert!(!d.kind.device_default_route());
        assert!(!d.kind.own_mac());
        let d = parse(
            "ipvlan",
            id,
            &opts(&[
                ("parent", "eth0"),
                ("ipvlan_mode", "l3"),
                ("ipvlan_flag", "private"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(
            d.kind,
            LinkKind::Ipvlan(IpvlanMode::L3, IpvlanFlag::Private)
        );
        assert!(d.kind.device_default_route());
        let e = parse("ipvlan", id, &opts(&[("ipvlan_mode", "l4")]), false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver default"
        );
        let e = parse("ipvlan", id, &opts(&[("ipvlan_flag", "nope")]), false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "requested ipvlan flag 'nope' is not valid, 'bridge' is the ipvlan driver default"
        );
    }

    #[test]
    fn parents() {
        let id = "0123456789abcdef";
        let d = parse("macvlan", id, &opts(&[]), false).unwrap();
        assert_eq!(d.parent, Parent::Dummy("dm-0123456789ab".into()));
        // --internal ignores -o parent, as dockerd does.
        let d = parse("ipvlan", id, &opts(&[("parent", "eth0")]), true).unwrap();
        assert_eq!(d.parent, Parent::Dummy("dm-0123456789ab".into()));
        let e = parse("macvlan", id, &opts(&[("parent", "lo")]), false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "loopback interface is not a valid macvlan parent link"
        );
        assert!(
            parse(
                "macvlan",
                id,
                &opts(&[("parent", "averyveryverylongname")]),
                false
            )
            .is_err()
        );
        assert!(matches!(
            parse("overlay", id, &opts(&[]), false),
            Err(NetError::UnknownDriver(_))
        ));
        assert!(is_sublink_driver("ipvlan") && !is_sublink_driver("bridge"));
    }

    #[test]
    fn vlan_names() {
        assert_eq!(parse_vlan("eth0.10").unwrap(), ("eth0".to_string(), 10));
        assert_eq!(
            parse_vlan("eth0").unwrap_err().to_string(),
            "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received: eth0"
        );
        assert_eq!(
            parse_vlan("eth0.x").unwrap_err().to_string(),
            "unable to parse a valid vlan id from: x (ex. eth0.10 for vlan 10)"
        );
        assert_eq!(
            parse_vlan("eth0.4095").unwrap_err().to_string(),
            "vlan id must be between 1-4094, received: 4095"
        );
        assert!(parse_vlan("eth0.1.2").is_err());
        assert!(parse_vlan(".5").is_err());
    }
}
