//! Embedded DNS: packet encode/decode (pure) and the per-container UDP/TCP server.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// Record type A.
pub const TYPE_A: u16 = 1;
/// Record type AAAA.
pub const TYPE_AAAA: u16 = 28;
/// Response code: server failure.
pub const RCODE_SERVFAIL: u8 = 2;

/// A parsed single-question query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Transaction id.
    pub id: u16,
    /// Header flags of the query.
    pub flags: u16,
    /// Question name, lowercase, without trailing dot.
    pub name: String,
    /// Question type.
    pub qtype: u16,
    /// Question class.
    pub qclass: u16,
    /// Byte offset where the question section ends.
    pub question_end: usize,
}

/// Parses a query with exactly one question; None for anything else.
pub fn parse_query(buf: &[u8]) -> Option<Query> {
    if buf.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([buf[0], buf[1]]);
    let flags = u16::from_be_bytes([buf[2], buf[3]]);
    let qd = u16::from_be_bytes([buf[4], buf[5]]);
    if qd != 1 || flags & 0x8000 != 0 {
        return None;
    }
    let mut pos = 12;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = usize::from(*buf.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 || labels.len() > 127 {
            return None;
        }
        let l = buf.get(pos..pos + len)?;
        labels.push(String::from_utf8_lossy(l).to_ascii_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*buf.get(pos)?, *buf.get(pos + 1)?]);
    let qclass = u16::from_be_bytes([*buf.get(pos + 2)?, *buf.get(pos + 3)?]);
    Some(Query {
        id,
        flags,
        name: labels.join("."),
        qtype,
        qclass,
        question_end: pos + 4,
    })
}

/// Builds a response echoing the question and carrying one A record per address.
pub fn build_response(query_buf: &[u8], q: &Query, ips: &[Ipv4Addr], rcode: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(q.question_end + ips.len() * 16);
    out.extend_from_slice(&q.id.to_be_bytes());
    // QR, keep opcode and RD, set RA.
    let flags = 0x8000 | (q.flags & 0x7900) | 0x0080 | u16::from(rcode & 0x0F);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(ips.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query_buf[12..q.question_end]);
    for ip in ips {
        out.extend_from_slice(&[0xC0, 0x0C]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&600u32.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// Builds a recursive query for `name` (used by tests and health checks).
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    for l in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(l.len().min(63) as u8);
        out.extend_from_slice(&l.as_bytes()[..l.len().min(63)]);
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out
}

fn skip_name(buf: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *buf.get(pos)?;
        if len & 0xC0 == 0xC0 {
            return Some(pos + 2);
        }
        pos += 1 + usize::from(len);
        if len == 0 {
            return Some(pos);
        }
    }
}

/// Extracts (rcode, A addresses) from a response.
pub fn parse_response(buf: &[u8]) -> Option<(u8, Vec<Ipv4Addr>)> {
    if buf.len() < 12 {
        return None;
    }
    let rcode = buf[3] & 0x0F;
    let qd = u16::from_be_bytes([buf[4], buf[5]]);
    let an = u16::from_be_bytes([buf[6], buf[7]]);
    let mut pos = 12;
    for _ in 0..qd {
        pos = skip_name(buf, pos)? + 4;
    }
    let mut ips = Vec::new();
    for _ in 0..an {
        pos = skip_name(buf, pos)?;
        let t = u16::from_be_bytes([*buf.get(pos)?, *buf.get(pos + 1)?]);
        let rdlen = usize::from(u16::from_be_bytes([*buf.get(pos + 8)?, *buf.get(pos + 9)?]));
        pos += 10;
        let rd = buf.get(pos..pos + rdlen)?;
        if t == TYPE_A && rdlen == 4 {
            ips.push(Ipv4Addr::new(rd[0], rd[1], rd[2], rd[3]));
        }
        pos += rdlen;
    }
    Some((rcode, ips))
}

/// Looks a name up among containers; None means "not ours, forward it".
pub type Resolver = Arc<dyn Fn(&str) -> Option<Vec<Ipv4Addr>> + Send + Sync>;

/// Answers one query: locally when the resolver knows the name, else via the upstreams.
pub async fn answer(
    packet: &[u8],
    resolver: &Resolver,
    upstreams: &[SocketAddr],
) -> Option<Vec<u8>> {
    let q = parse_query(packet)?;
    if let Some(ips) = resolver(&q.name) {
        // Known names get an empty NOERROR for AAAA and other types (no IPv6 here).
        let ips = if q.qtype == TYPE_A { ips } else { Vec::new() };
        return Some(build_response(packet, &q, &ips, 0));
    }
    for up in upstreams {
        if let Some(r) = forward(packet, *up).await {
            return Some(r);
        }
    }
    Some(build_response(packet, &q, &[], RCODE_SERVFAIL))
}

async fn forward(packet: &[u8], upstream: SocketAddr) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind(("0.0.0.0", 0)).await.ok()?;
    sock.connect(upstream).await.ok()?;
    sock.send(packet).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Serves DNS on the given (already bound, in-netns) sockets until the task is aborted.
pub async fn serve(
    udp: UdpSocket,
    tcp: TcpListener,
    resolver: Resolver,
    upstreams: Arc<Vec<SocketAddr>>,
) {
    let udp = Arc::new(udp);
    let (r2, u2) = (resolver.clone(), upstreams.clone());
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            let (r, u) = (r2.clone(), u2.clone());
            tokio::spawn(async move {
                loop {
                    let mut lenb = [0u8; 2];
                    if stream.read_exact(&mut lenb).await.is_err() {
                        return;
                    }
                    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(lenb))];
                    if stream.read_exact(&mut msg).await.is_err() {
                        return;
                    }
                    let Some(resp) = answer(&msg, &r, &u).await else {
                        return;
                    };
                    let mut out = (resp.len() as u16).to_be_bytes().to_vec();
                    out.extend_from_slice(&resp);
                    if stream.write_all(&out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let _guard = AbortOnDrop(tcp_task);
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
            return;
        };
        let pkt = buf[..n].to_vec();
        let (r, u, s) = (resolver.clone(), upstreams.clone(), udp.clone());
        tokio::spawn(async move {
            if let Some(resp) = answer(&pkt, &r, &u).await {
                let _ = s.send_to(&resp, peer).await;
            }
        });
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Host nameservers from resolv.conf text, skipping loopback ones.
pub fn host_nameservers(resolv: &str) -> Vec<String> {
    resolv
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some("nameserver"))
                .then(|| it.next())
                .flatten()
        })
        .filter(|ns| {
            !ns.starts_with("127.") && ns.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_ipv4())
        })
        .map(str::to_string)
        .collect()
}

/// Search domains and options from resolv.conf text.
pub fn host_search_options(resolv: &str) -> (Vec<String>, Vec<String>) {
    let mut search = Vec::new();
    let mut opts = Vec::new();
    for l in resolv.lines() {
        let mut it = l.split_whitespace();
        match it.next() {
            Some("search") | Some("domain") => search = it.map(str::to_string).collect(),
            Some("options") => opts = it.map(str::to_string).collect(),
            _ => {}
        }
    }
    (search, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_roundtrip() {
        let q = build_query(0x1234, "Web.Example.", TYPE_A);
        let p = parse_query(&q).unwrap_or_else(|| panic!("parse"));
        assert_eq!(p.id, 0x1234);
        assert_eq!(p.name, "web.example");
        assert_eq!(p.qtype, TYPE_A);
        assert_eq!(p.question_end, q.len());
        let ips = [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)];
        let r = build_response(&q, &p, &ips, 0);
        assert_eq!(r[0..2], [0x12, 0x34]);
        assert_eq!(r[2] & 0x80, 0x80);
        assert_eq!(r[2] & 0x01, 0x01, "RD echoed");
        assert_eq!(parse_response(&r), Some((0, ips.to_vec())));
        let empty = build_response(&q, &p, &[], RCODE_SERVFAIL);
        assert_eq!(parse_response(&empty), Some((2, vec![])));
        assert!(parse_query(&r).is_none(), "responses are not queries");
        assert!(parse_query(&q[..10]).is_none());
        assert!(parse_query(&q[..q.len() - 2]).is_none());
    }

    #[tokio::test]
    async fn answer_local_and_aaaa() {
        let resolver: Resolver =
            Arc::new(|n: &str| (n == "db").then(|| vec![Ipv4Addr::new(10, 1, 0, 5)]));
        let a = answer(&build_query(1, "db", TYPE_A), &resolver, &[])
            .await
            .unwrap_or_default();
        assert_eq!(
            parse_response(&a),
            Some((0, vec![Ipv4Addr::new(10, 1, 0, 5)]))
        );
        let aaaa = answer(&build_query(2, "db", TYPE_AAAA), &resolver, &[])
            .await
            .unwrap_or_default();
        assert_eq!(parse_response(&aaaa), Some((0, vec![])));
        let other = answer(&build_query(3, "nope", TYPE_A), &resolver, &[])
            .await
            .unwrap_or_default();
        assert_eq!(parse_response(&other), Some((RCODE_SERVFAIL, vec![])));
    }

    #[tokio::test]
    async fn forwards_unknown_names_and_serves_tcp() {
        // Fake upstream answering every query with 1.2.3.4.
        let up = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let up_addr = up.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let mut b = vec![0u8; 512];
            while let Ok((n, peer)) = up.recv_from(&mut b).await {
                if let Some(q) = parse_query(&b[..n]) {
                    let r = build_response(&b[..n], &q, &[Ipv4Addr::new(1, 2, 3, 4)], 0);
                    let _ = up.send_to(&r, peer).await;
                }
            }
        });
        let resolver: Resolver =
            Arc::new(|n: &str| (n == "db").then(|| vec![Ipv4Addr::new(10, 1, 0, 5)]));
        let upstreams = Arc::new(vec![up_addr]);
        let fwd = answer(
            &build_query(7, "example.com", TYPE_A),
            &resolver,
            &upstreams,
        )
        .await
        .unwrap_or_default();
        assert_eq!(
            parse_response(&fwd),
            Some((0, vec![Ipv4Addr::new(1, 2, 3, 4)]))
        );

        let udp = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let tcp = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (uaddr, taddr) = (
            udp.local_addr().unwrap_or_else(|e| panic!("{e}")),
            tcp.local_addr().unwrap_or_else(|e| panic!("{e}")),
        );
        let server = tokio::spawn(serve(udp, tcp, resolver, upstreams));
        let c = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        c.send_to(&build_query(8, "db", TYPE_A), uaddr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut b = vec![0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut b))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            parse_response(&b[..n]),
            Some((0, vec![Ipv4Addr::new(10, 1, 0, 5)]))
        );
        let mut t = tokio::net::TcpStream::connect(taddr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let q = build_query(9, "db", TYPE_A);
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        t.write_all(&framed).await.unwrap_or_else(|e| panic!("{e}"));
        let mut lenb = [0u8; 2];
        t.read_exact(&mut lenb)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut resp = vec![0u8; usize::from(u16::from_be_bytes(lenb))];
        t.read_exact(&mut resp)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            parse_response(&resp),
            Some((0, vec![Ipv4Addr::new(10, 1, 0, 5)]))
        );
        server.abort();
    }

    #[test]
    fn resolv_parsing() {
        let t = "# c\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nnameserver ::1\nsearch a.com b.com\noptions ndots:2\n";
        assert_eq!(host_nameservers(t), vec!["10.0.0.1".to_string()]);
        let (s, o) = host_search_options(t);
        assert_eq!(s, vec!["a.com", "b.com"]);
        assert_eq!(o, vec!["ndots:2"]);
    }
}
