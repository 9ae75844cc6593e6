//! Published ports: `-p` parsing, host port choice, and the userland TCP/UDP proxies.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// One requested port binding (HostConfig.PortBindings entry).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortBinding {
    /// Port inside the container.
    pub container_port: u16,
    /// "tcp", "udp" or "sctp".
    pub proto: String,
    /// Host address; empty means 0.0.0.0.
    pub host_ip: String,
    /// First acceptable host port; 0 means "any from the ephemeral range".
    pub host_port_start: u16,
    /// Last acceptable host port (== start for a single port, 0 when start is 0).
    pub host_port_end: u16,
}

/// Error parsing a `-p` spec, with Docker's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PublishError(pub String);

fn parse_range(s: &str, what: &str) -> Result<(u16, u16), PublishError> {
    let bad = || PublishError(format!("invalid {what}: {s}"));
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (a, b),
        None => (s, s),
    };
    let a: u32 = a.parse().map_err(|_| bad())?;
    let b: u32 = b.parse().map_err(|_| bad())?;
    if a > 65535 || b > 65535 || b < a {
        return Err(bad());
    }
    Ok((a as u16, b as u16))
}

/// Parses `[ip:][hostPort[-end]:]containerPort[-end][/proto]` into bindings (one per container port).
pub fn parse_publish(spec: &str) -> Result<Vec<PortBinding>, PublishError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(PublishError(format!("invalid proto: {proto}")));
    }
    let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
    let (ip, host, ctr) = match parts.as_slice() {
        [c] => ("", "", *c),
        [c, h] => ("", *h, *c),
        [c, h, i] => (*i, *h, *c),
        _ => return Err(PublishError(format!("invalid port format: {spec}"))),
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(PublishError(format!("invalid IP address: {ip}")));
    }
    let (cs, ce) = parse_range(ctr, "containerPort")?;
    if cs == 0 {
        return Err(PublishError(format!("invalid containerPort: {ctr}")));
    }
    let (hs, he) = if host.is_empty() {
        (0, 0)
    } else {
        parse_range(host, "hostPort")?
    };
    let count = ce - cs;
    if hs != 0 && count > 0 && he - hs != count {
        return Err(PublishError(format!(
            "invalid ranges specified for container and host Ports: {ctr} and {host}"
        )));
    }
    Ok((0..=count)
        .map(|i| {
            let (s, e) = if hs == 0 {
                (0, 0)
            } else if he - hs == count && count > 0 {
                (hs + i, hs + i)
            } else {
                (hs, he)
            };
            PortBinding {
                container_port: cs + i,
                proto: proto.clone(),
                host_ip: ip.to_string(),
                host_port_start: s,
                host_port_end: e,
            }
        })
        .collect())
}

/// The ephemeral range from `/proc/sys/net/ipv4/ip_local_port_range` (32768-60999 fallback).
pub fn local_port_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .unwrap_or((32768, 60999))
}

/// A bound (not yet serving) proxy socket.
pub enum Bound {
    /// TCP listener.
    Tcp(std::net::TcpListener),
    /// UDP socket.
    Udp(std::net::UdpSocket),
}

/// Binds host_ip:port for `proto`; returns the raw io error on failure.
pub fn bind(proto: &str, host_ip: Ipv4Addr, port: u16) -> std::io::Result<Bound> {
    let addr = SocketAddr::from((host_ip, port));
    if proto == "udp" {
        let s = std::net::UdpSocket::bind(addr)?;
        s.set_nonblocking(true)?;
        Ok(Bound::Udp(s))
    } else {
        let l = std::net::TcpListener::bind(addr)?;
        l.set_nonblocking(true)?;
        Ok(Bound::Tcp(l))
    }
}

/// Starts forwarding from a bound socket to `target`; the returned handle stops it on abort.
pub fn spawn_proxy(
    bound: Bound,
    target: SocketAddr,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    match bound {
        Bound::Tcp(l) => {
            let l = TcpListener::from_std(l)?;
            Ok(tokio::spawn(tcp_proxy(l, target)))
        }
        Bound::Udp(s) => {
            let s = UdpSocket::from_std(s)?;
            Ok(tokio::spawn(udp_proxy(s, target)))
        }
    }
}

async fn tcp_proxy(l: TcpListener, target: SocketAddr) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            acc = l.accept() => {
                let Ok((mut inbound, _)) = acc else { continue };
                conns.spawn(async move {
                    let Ok(mut out) = TcpStream::connect(target).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn udp_proxy(s: UdpSocket, target: SocketAddr) {
    let s = Arc::new(s);
    let mut clients: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, peer)) = s.recv_from(&mut buf).await else {
            return;
        };
        // Reap finished reply tasks so a long-lived proxy does not accumulate them.
        while tasks.try_join_next().is_some() {}
        clients.retain(|_, c| Arc::strong_count(c) > 1);
        let upstream = match clients.get(&peer) {
            Some(u) => u.clone(),
            None => {
                let Ok(u) = UdpSocket::bind(("0.0.0.0", 0)).await else {
                    continue;
                };
                if u.connect(target).await.is_err() {
                    continue;
                }
                let u = Arc::new(u);
                clients.insert(peer, u.clone());
                let (back, up) = (s.clone(), u.clone());
                // Replies flow back until the flow is idle for 90s, like Docker's proxy.
                tasks.spawn(async move {
                    let mut b = vec![0u8; 65536];
                    while let Ok(Ok(m)) =
                        tokio::time::timeout(Duration::from_secs(90), up.recv(&mut b)).await
                    {
                        if back.send_to(&b[..m], peer).await.is_err() {
                            break;
                        }
                    }
                });
                u
            }
        };
        let _ = upstream.send(&buf[..n]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(c: u16, p: &str, ip: &str, s: u16, e: u16) -> PortBinding {
        PortBinding {
            container_port: c,
            proto: p.into(),
            host_ip: ip.into(),
            host_port_start: s,
            host_port_end: e,
        }
    }

    #[test]
    fn publish_forms() {
        assert_eq!(parse_publish("80"), Ok(vec![pb(80, "tcp", "", 0, 0)]));
        assert_eq!(
            parse_publish("8080:80"),
            Ok(vec![pb(80, "tcp", "", 8080, 8080)])
        );
        assert_eq!(
            parse_publish("127.0.0.1:8080:80/udp"),
            Ok(vec![pb(80, "udp", "127.0.0.1", 8080, 8080)])
        );
        assert_eq!(
            parse_publish("127.0.0.1::53/udp"),
            Ok(vec![pb(53, "udp", "127.0.0.1", 0, 0)])
        );
        assert_eq!(
            parse_publish("8000-8001:80-81"),
            Ok(vec![
                pb(80, "tcp", "", 8000, 8000),
                pb(81, "tcp", "", 8001, 8001)
            ])
        );
        assert_eq!(
            parse_publish("8000-8010:80"),
            Ok(vec![pb(80, "tcp", "", 8000, 8010)])
        );
        assert_eq!(
            parse_publish("99999:80").map_err(|e| e.0),
            Err("invalid hostPort: 99999".into())
        );
        assert!(parse_publish("80/foo").is_err());
        assert!(parse_publish("x:80:80").is_err());
    }

    #[tokio::test]
    async fn udp_and_tcp_proxies_forward() {
        let echo = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let echo_addr = echo.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let mut b = vec![0u8; 512];
            while let Ok((n, peer)) = echo.recv_from(&mut b).await {
                let _ = echo.send_to(&b[..n], peer).await;
            }
        });
        let b = bind("udp", Ipv4Addr::LOCALHOST, 0).unwrap_or_else(|e| panic!("{e}"));
        let Bound::Udp(ref s) = b else { panic!("udp") };
        let paddr = s.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let h = spawn_proxy(b, echo_addr).unwrap_or_else(|e| panic!("{e}"));
        let c = UdpSocket::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        c.send_to(b"ping", paddr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut buf))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&buf[..n], b"ping");
        h.abort();

        let srv = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let srv_addr = srv.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            if let Ok((mut s, _)) = srv.accept().await {
                let _ = tokio::io::AsyncWriteExt::write_all(&mut s, b"hi").await;
            }
        });
        let b = bind("tcp", Ipv4Addr::LOCALHOST, 0).unwrap_or_else(|e| panic!("{e}"));
        let Bound::Tcp(ref l) = b else { panic!("tcp") };
        let paddr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let h = spawn_proxy(b, srv_addr).unwrap_or_else(|e| panic!("{e}"));
        let mut c = TcpStream::connect(paddr)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut c, &mut out),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, b"hi");
        h.abort();
        // Aborting releases the port.
        tokio::time::timeout(Duration::from_secs(5), async {
            while std::net::TcpListener::bind(paddr).is_err() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap_or_else(|e| panic!("port not released: {e}"));
    }

    #[test]
    fn port_range_sane() {
        let (a, b) = local_port_range();
        assert!(a > 0 && a <= b);
    }
}
