//! Networking end to end through the real docker CLI: the default bridge, published ports from
//! 127.0.0.1 and from the gateway, port conflicts, user networks with DNS names and round-robin
//! aliases, isolation between networks, `--network container:`, and no leftovers.

#![allow(clippy::unwrap_used)]

mod common;

use common::Daemon;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// GET over plain TCP with a bounded retry loop (the server may still be starting).
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(3)));
            let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.contains("200 OK") {
                return buf;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no answer from {addr}{path}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn bridge_ports_user_networks_and_cleanup() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");

    // Built-in networks are listed like Docker's.
    let o = d
        .docker(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"])
        .ok();
    let names: Vec<&str> = o.out().lines().collect();
    for want in ["bridge bridge", "host host", "none null"] {
        assert!(names.contains(&want), "{names:?}");
    }

    // Default bridge: an address, a default route and the host's name in /etc/hosts.
    let o = d
        .docker(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "ip -4 route | head -1; ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1",
        ])
        .ok();
    let mut lines = o.out().lines();
    assert!(
        lines.next().unwrap_or("").starts_with("default via "),
        "{}",
        o.out()
    );
    let ip = lines.next().unwrap_or("").trim().to_string();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{}", o.out());

    // Publishing: reachable on 127.0.0.1 and on the bridge gateway.
    let port = free_port();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        "echo served > /www; httpd -f -p 80 -h /",
    ])
    .ok();
    let body = http_get(&format!("127.0.0.1:{port}"), "/www");
    assert!(body.ends_with("served\n"), "{body}");
    let gw = d
        .docker(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", "web"])
        .ok()
        .out()
        .to_string();
    let body = http_get(&format!("{gw}:{port}"), "/www");
    assert!(body.ends_with("served\n"), "{body}");
    let o = d.docker(&["port", "web"]).ok();
    assert_eq!(o.out(), format!("80/tcp -> 0.0.0.0:{port}"));
    let ports = d
        .docker(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(ports.out()).unwrap();
    assert_eq!(v["80/tcp"][0]["HostPort"], port.to_string());
    // Taken port: Docker's message, exit 125, nothing left running.
    let o = d.docker(&[
        "run",
        "--rm",
        "-p",
        &format!("{port}:80"),
        "busybox",
        "true",
    ]);
    assert_eq!(o.code, 125);
    assert!(
        o.stderr.contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{}",
        o.stderr
    );
    d.docker(&["rm", "-f", "web"]).ok();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the proxy must be gone with the container"
    );

    // User networks: names and aliases resolve; aliases return every member.
    d.docker(&["network", "create", "appnet"]).ok();
    d.docker(&["network", "create", "othernet"]).ok();
    for n in ["db1", "db2"] {
        d.docker(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "appnet",
            "--network-alias",
            "db",
            "busybox",
            "sh",
            "-c",
            "echo from-$(hostname) > /i; httpd -f -p 80 -h /",
        ])
        .ok();
    }
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "appnet",
            "busybox",
            "nslookup",
            "db",
        ])
        .ok();
    let addrs = o
        .out()
        .lines()
        .filter(|l| l.starts_with("Address") && !l.contains("127.0.0.11"))
        .count();
    assert_eq!(addrs, 2, "{}", o.out());
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "appnet",
            "busybox",
            "sh",
            "-c",
            "printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc -w 3 db1 80 | tail -1",
        ])
        .ok();
    assert!(o.out().starts_with("from-"), "{}", o.out());
    // Different user networks cannot reach each other.
    let db1 = d
        .docker(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.appnet.IPAddress}}",
            "db1",
        ])
        .ok()
        .out()
        .to_string();
    let o = d.docker(&[
        "run",
        "--rm",
        "--network",
        "othernet",
        "busybox",
        "sh",
        "-c",
        &format!("printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {db1} 80"),
    ]);
    assert!(!o.stdout.contains("from-"), "{}", o.stdout);
    // Sharing another container's namespace.
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "container:db1",
            "busybox",
            "sh",
            "-c",
            "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1",
        ])
        .ok();
    assert_eq!(o.out(), db1);
    let o = d.docker(&["run", "--rm", "--network", "nosuchnet", "busybox", "true"]);
    assert_eq!(o.code, 125);
    assert!(
        o.stderr.contains("network nosuchnet not found"),
        "{}",
        o.stderr
    );
    let o = d.docker(&["network", "rm", "appnet"]);
    assert!(o.stderr.contains("has active endpoints"), "{}", o.stderr);

    // The berth CLI sees and manages the same networks.
    let o = d.berth(&["network", "ls", "--format", "{{.Name}}"]).ok();
    assert!(o.out().lines().any(|l| l == "appnet"), "{}", o.out());
    let o = d
        .berth(&[
            "network",
            "inspect",
            "-f",
            "{{.Driver}} {{.Scope}}",
            "appnet",
        ])
        .ok();
    assert_eq!(o.out(), "bridge local");
    d.berth(&["network", "create", "berthnet"]).ok();
    d.berth(&["network", "connect", "berthnet", "db1"]).ok();
    let o = d
        .docker(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.berthnet.IPAddress}}",
            "db1",
        ])
        .ok();
    assert!(o.out().parse::<std::net::Ipv4Addr>().is_ok(), "{}", o.out());
    d.berth(&["network", "disconnect", "berthnet", "db1"]).ok();
    d.berth(&["network", "rm", "berthnet"]).ok();

    d.docker(&["rm", "-f", "db1", "db2"]).ok();
    d.docker(&["network", "rm", "appnet", "othernet"]).ok();
    // Nothing of ours is left: no veth on the host, no namespace files.
    let netns_dir = d.dir.path().join("exec").join("netns");
    let left: Vec<_> = std::fs::read_dir(&netns_dir)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "netns files left: {left:?}");
}
