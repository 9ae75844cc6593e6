//! IPv4 subnets and address allocation (pure logic; persistence lives in `store`).

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network in CIDR form (address is always masked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subnet {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix: u8,
}

impl Subnet {
    /// Builds a subnet, masking host bits.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Self {
        let prefix = prefix.min(32);
        Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        }
    }

    /// Number of addresses in the subnet.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// First address as an integer.
    pub fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    /// Last (broadcast) address as an integer.
    pub fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.last())
    }

    /// Whether `ip` lies inside.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.first()
    }

    /// Whether the two networks share any address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// The conventional gateway: first usable address.
    pub fn default_gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first().saturating_add(1))
    }
}

/// Netmask for a prefix.
pub fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Error parsing a CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR address: {0}")]
pub struct CidrError(pub String);

/// Parses "a.b.c.d/n" into (address-as-written, prefix).
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), CidrError> {
    let (a, p) = s.split_once('/').ok_or_else(|| CidrError(s.to_string()))?;
    let ip = Ipv4Addr::from_str(a).map_err(|_| CidrError(s.to_string()))?;
    let prefix: u8 = p.parse().map_err(|_| CidrError(s.to_string()))?;
    if prefix > 32 {
        return Err(CidrError(s.to_string()));
    }
    Ok((ip, prefix))
}

impl FromStr for Subnet {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ip, p) = parse_cidr(s)?;
        Ok(Subnet::new(ip, p))
    }
}

/// Picks the first candidate pool that overlaps neither host routes nor `in_use`.
pub fn choose_pool(
    candidates: &[Subnet],
    host_routes: &[Subnet],
    in_use: &[Subnet],
) -> Option<Subnet> {
    candidates
        .iter()
        .find(|c| {
            !host_routes.iter().any(|r| r.prefix > 0 && r.overlaps(c))
                && !in_use.iter().any(|u| u.overlaps(c))
        })
        .copied()
}

/// Docker's default local pools: 172.17-31.0.0/16 then 192.168.0.0/16 in /20 steps.
pub fn default_pools() -> Vec<Subnet> {
    let mut v: Vec<Subnet> = (17u8..=31)
        .map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16))
        .collect();
    for i in 0u8..16 {
        v.push(Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    }
    v
}

/// Splits configured pools (base, size) into candidate subnets.
pub fn expand_pools(pools: &[(Subnet, u8)]) -> Vec<Subnet> {
    let mut v = Vec::new();
    for (base, size) in pools {
        if *size < base.prefix || *size > 32 {
            continue;
        }
        let step = 1u64 << (32 - u32::from(*size));
        let mut cur = u64::from(base.first());
        while cur <= u64::from(base.last()) && v.len() < 4096 {
            v.push(Subnet::new(Ipv4Addr::from(cur as u32), *size));
            cur += step;
        }
    }
    v
}

/// Chooses the next free address in `range` (defaults to the whole subnet), skipping the network
/// address, broadcast, gateway and `used`; starts scanning after `last` so freed addresses are
/// not reused immediately (as libnetwork does).
pub fn next_free(
    subnet: &Subnet,
    range: Option<&Subnet>,
    gateway: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
    last: Option<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let r = range.unwrap_or(subnet);
    let lo = r.first().max(subnet.first() + 1);
    let hi = r.last().min(subnet.last().saturating_sub(1));
    if lo > hi {
        return None;
    }
    let usable = |ip: u32| {
        let a = Ipv4Addr::from(ip);
        a != gateway && !used.contains(&a)
    };
    let start = match last {
        Some(l) if u32::from(l) >= lo && u32::from(l) < hi => u32::from(l) + 1,
        _ => lo,
    };
    (start..=hi)
        .chain(lo..start)
        .find(|ip| usable(*ip))
        .map(Ipv4Addr::from)
}

/// Docker's MAC for an IPv4 address: 02:42 followed by the address bytes.
pub fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// Formats a MAC as lowercase colon-separated hex.
pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses "aa:bb:cc:dd:ee:ff".
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        out[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        x.parse().unwrap_or_else(|_| panic!("bad {x}"))
    }

    #[test]
    fn subnet_basics() {
        let n = s("172.17.5.9/16");
        assert_eq!(n.to_string(), "172.17.0.0/16");
        assert_eq!(n.broadcast(), Ipv4Addr::new(172, 17, 255, 255));
        assert_eq!(n.default_gateway(), Ipv4Addr::new(172, 17, 0, 1));
        assert!(n.contains(Ipv4Addr::new(172, 17, 200, 1)));
        assert!(!n.contains(Ipv4Addr::new(172, 18, 0, 1)));
        assert!(n.overlaps(&s("172.16.0.0/12")));
        assert!(!n.overlaps(&s("172.18.0.0/16")));
        assert!(s("10.0.0.0/8").overlaps(&s("10.77.0.0/24")));
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("10.0.0/8".parse::<Subnet>().is_err());
    }

    #[test]
    fn pool_choice_skips_routes_and_used() {
        let pools = default_pools();
        assert_eq!(choose_pool(&pools, &[], &[]), Some(s("172.17.0.0/16")));
        let routes = [s("172.17.0.0/16"), s("0.0.0.0/0")];
        assert_eq!(choose_pool(&pools, &routes, &[]), Some(s("172.18.0.0/16")));
        assert_eq!(
            choose_pool(&pools, &routes, &[s("172.18.0.0/16")]),
            Some(s("172.19.0.0/16"))
        );
        let all: Vec<Subnet> = pools.clone();
        assert_eq!(choose_pool(&pools, &all, &[]), None);
        assert_eq!(expand_pools(&[(s("10.10.0.0/16"), 24)]).len(), 256);
    }

    #[test]
    fn allocation_order() {
        let n = s("10.77.0.0/24");
        let gw = n.default_gateway();
        let mut used = BTreeSet::new();
        let a = next_free(&n, None, gw, &used, None);
        assert_eq!(a, Some(Ipv4Addr::new(10, 77, 0, 2)));
        used.insert(Ipv4Addr::new(10, 77, 0, 2));
        let b = next_free(&n, None, gw, &used, a);
        assert_eq!(b, Some(Ipv4Addr::new(10, 77, 0, 3)));
        // freed .2 is not reused before wrap-around
        used.remove(&Ipv4Addr::new(10, 77, 0, 2));
        used.insert(Ipv4Addr::new(10, 77, 0, 3));
        assert_eq!(
            next_free(&n, None, gw, &used, b),
            Some(Ipv4Addr::new(10, 77, 0, 4))
        );
        let range = s("10.77.0.128/25");
        assert_eq!(
            next_free(&n, Some(&range), gw, &used, None),
            Some(Ipv4Addr::new(10, 77, 0, 128))
        );
        let tiny = s("10.1.1.0/30");
        let mut u = BTreeSet::new();
        u.insert(Ipv4Addr::new(10, 1, 1, 2));
        assert_eq!(
            next_free(&tiny, None, tiny.default_gateway(), &u, None),
            None
        );
    }

    #[test]
    fn macs() {
        let m = mac_for(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(&m), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:ac:11:00:02"), Some(m));
        assert_eq!(parse_mac("zz"), None);
    }
}
