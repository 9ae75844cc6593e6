//! Minimal synchronous rtnetlink client for the few link/address/route operations we need.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoVeth, InfoVlan, IpVlanFlags, IpVlanMode,
    LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::drivers::{IpvlanFlag, IpvlanMode, LinkKind, MacvlanMode};

/// A netlink route socket bound in the network namespace of the thread that opened it.
pub(crate) struct Netlink {
    sock: Socket,
    seq: u32,
}

fn nl_decode(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("netlink decode: {e}"))
}

impl Netlink {
    /// Opens a socket in the calling thread's current netns.
    pub(crate) fn open() -> std::io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Self { sock, seq: 1 })
    }

    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> std::io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.header.length as usize];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            let mut off = 0;
            while off < data.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                    .map_err(nl_decode)?;
                let len = m.header.length as usize;
                if len == 0 {
                    return Ok(out);
                }
                off += len;
                if m.header.sequence_number != self.seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            Some(code) => Err(std::io::Error::from_raw_os_error(-code.get())),
                            None => Ok(out),
                        };
                    }
                    NetlinkPayload::InnerMessage(x) => out.push(x),
                    _ => {}
                }
            }
        }
    }

    /// Interface index of `name`, or None.
    pub(crate) fn link_index(&mut self, name: &str) -> std::io::Result<Option<u32>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(v) => Ok(v.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Index and MTU of `name`, or None.
    pub(crate) fn link_mtu(&mut self, name: &str) -> std::io::Result<Option<(u32, u32)>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(v) => Ok(v.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => {
                    let mtu = l.attributes.iter().find_map(|a| match a {
                        LinkAttribute::Mtu(m) => Some(*m),
                        _ => None,
                    });
                    Some((l.header.index, mtu.unwrap_or(1500)))
                }
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a dummy link (parent of a parent-less macvlan/ipvlan network).
    pub(crate) fn create_dummy(&mut self, name: &str) -> std::io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Dummy,
            )]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)?;
        Ok(())
    }

    /// Creates an 802.1q sub-interface `name` with id `vid` on link `parent`.
    pub(crate) fn create_vlan(&mut self, name: &str, parent: u32, vid: u16) -> std::io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Link(parent));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vlan),
            LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(vid)])),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)?;
        Ok(())
    }

    /// Creates a macvlan or ipvlan link `name` on link `parent` with the parent's MTU.
    pub(crate) fn create_sublink(
        &mut self,
        name: &str,
        parent: u32,
        mtu: u32,
        kind: LinkKind,
    ) -> std::io::Result<()> {
        let info = match kind {
            LinkKind::Macvlan(m) => vec![
                LinkInfo::Kind(InfoKind::MacVlan),
                LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(match m {
                    MacvlanMode::Bridge => MacVlanMode::Bridge,
                    MacvlanMode::Private => MacVlanMode::Private,
                    MacvlanMode::Vepa => MacVlanMode::Vepa,
                    MacvlanMode::Passthru => MacVlanMode::Passthrough,
                })])),
            ],
            LinkKind::Ipvlan(m, f) => vec![
                LinkInfo::Kind(InfoKind::IpVlan),
                LinkInfo::Data(InfoData::IpVlan(vec![
                    InfoIpVlan::Mode(match m {
                        IpvlanMode::L2 => IpVlanMode::L2,
                        IpvlanMode::L3 => IpVlanMode::L3,
                        IpvlanMode::L3s => IpVlanMode::L3S,
                    }),
                    InfoIpVlan::Flags(match f {
                        IpvlanFlag::Bridge => IpVlanFlags::empty(),
                        IpvlanFlag::Private => IpVlanFlags::Private,
                        IpvlanFlag::Vepa => IpVlanFlags::Vepa,
                    }),
                ])),
            ],
        };
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Link(parent));
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        msg.attributes.push(LinkAttribute::LinkInfo(info));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)?;
        Ok(())
    }

    /// Adds `default dev <index>` (ipvlan L3: no gateway).
    pub(crate) fn add_default_dev_route(&mut self, index: u32) -> std::io::Result<()> {
        self.add_default(RouteScope::Link, RouteAttribute::Oif(index))
    }

    fn add_default(&mut self, scope: RouteScope, target: RouteAttribute) -> std::io::Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = scope;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(target);
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// Creates a bridge.
    pub(crate) fn create_bridge(&mut self, name: &str, mtu: Option<u32>) -> std::io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(m) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(m));
        }
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)?;
        Ok(())
    }

    /// Creates a veth pair `host` <-> `peer`.
    pub(crate) fn create_veth(
        &mut self,
        host: &str,
        peer: &str,
        mtu: Option<u32>,
    ) -> std::io::Result<()> {
        self.new_veth(
            LinkMessage::default(),
            vec![LinkAttribute::IfName(host.to_string())],
            vec![LinkAttribute::IfName(peer.to_string())],
            mtu,
        )
    }

    /// Creates a veth pair in one request: the host end `host` attached to bridge `master` and
    /// up, the peer created directly inside the netns `ns` as `peer` with `mac`. Creating it
    /// there, rather than moving it in afterwards, avoids the RCU wait a move costs (~20 ms).
    pub(crate) fn create_veth_into(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        ns: &impl AsRawFd,
        mac: [u8; 6],
        mtu: Option<u32>,
    ) -> std::io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.new_veth(
            msg,
            vec![
                LinkAttribute::IfName(host.to_string()),
                LinkAttribute::Controller(master),
            ],
            vec![
                LinkAttribute::IfName(peer.to_string()),
                LinkAttribute::NetNsFd(ns.as_raw_fd()),
                LinkAttribute::Address(mac.to_vec()),
            ],
            mtu,
        )
    }

    /// Sends one RTM_NEWLINK for a veth pair: `msg` (header) with `host` attributes, the peer
    /// with `peer` attributes, both with `mtu` if given.
    fn new_veth(
        &mut self,
        mut msg: LinkMessage,
        host: Vec<LinkAttribute>,
        peer: Vec<LinkAttribute>,
        mtu: Option<u32>,
    ) -> std::io::Result<()> {
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes = peer;
        msg.attributes = host;
        if let Some(m) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(m));
            peer_msg.attributes.push(LinkAttribute::Mtu(m));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)?;
        Ok(())
    }

    fn set_link(&mut self, index: u32, attrs: Vec<LinkAttribute>, up: bool) -> std::io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        if up {
            msg.header.flags = LinkFlags::Up;
            msg.header.change_mask = LinkFlags::Up;
        }
        msg.attributes = attrs;
        self.request(RouteNetlinkMessage::SetLink(msg), 0)?;
        Ok(())
    }

    /// Brings a link up.
    pub(crate) fn set_up(&mut self, index: u32) -> std::io::Result<()> {
        self.set_link(index, Vec::new(), true)
    }

    /// Moves a link into the netns referred to by `fd`.
    pub(crate) fn set_netns(&mut self, index: u32, fd: &impl AsRawFd) -> std::io::Result<()> {
        self.set_link(index, vec![LinkAttribute::NetNsFd(fd.as_raw_fd())], false)
    }

    /// Renames a (down) link and sets its MAC address.
    pub(crate) fn rename_and_mac(
        &mut self,
        index: u32,
        name: &str,
        mac: Option<[u8; 6]>,
    ) -> std::io::Result<()> {
        let mut attrs = vec![LinkAttribute::IfName(name.to_string())];
        if let Some(m) = mac {
            attrs.push(LinkAttribute::Address(m.to_vec()));
        }
        self.set_link(index, attrs, false)
    }

    /// Deletes a link by name; missing is not an error.
    pub(crate) fn delete_link(&mut self, name: &str) -> std::io::Result<()> {
        let Some(index) = self.link_index(name)? else {
            return Ok(());
        };
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self.request(RouteNetlinkMessage::DelLink(msg), 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// IPv4 addresses (with prefix) assigned to `index`.
    pub(crate) fn addresses(&mut self, index: u32) -> std::io::Result<Vec<(Ipv4Addr, u8)>> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        let v = self.request(RouteNetlinkMessage::GetAddress(msg), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for m in v {
            if let RouteNetlinkMessage::NewAddress(a) = m
                && a.header.index == index
            {
                for attr in &a.attributes {
                    if let AddressAttribute::Local(std::net::IpAddr::V4(ip)) = attr {
                        out.push((*ip, a.header.prefix_len));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Adds an IPv4 address; an existing identical address is fine.
    pub(crate) fn add_address(
        &mut self,
        index: u32,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> std::io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(ip.into()));
        msg.attributes.push(AddressAttribute::Address(ip.into()));
        let bcast = crate::ipam::Subnet::new(ip, prefix).broadcast();
        msg.attributes.push(AddressAttribute::Broadcast(bcast));
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r.map(|_| ()),
        }
    }

    /// Adds a default route via `gw`.
    pub(crate) fn add_default_route(&mut self, gw: Ipv4Addr) -> std::io::Result<()> {
        self.add_default(
            RouteScope::Universe,
            RouteAttribute::Gateway(RouteAddress::Inet(gw)),
        )
    }

    /// All IPv4 routes in the main table as (destination, prefix, via-link).
    pub(crate) fn routes(&mut self) -> std::io::Result<Vec<(Ipv4Addr, u8)>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        let v = self.request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for m in v {
            if let RouteNetlinkMessage::NewRoute(r) = m {
                if r.header.table != RouteHeader::RT_TABLE_MAIN {
                    continue;
                }
                let dst = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                    _ => None,
                });
                if let Some(d) = dst {
                    out.push((d, r.header.destination_prefix_length));
                }
            }
        }
        Ok(out)
    }
}
