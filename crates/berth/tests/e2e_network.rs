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

fn ip_ok(args: &[&str]) -> bool {
    std::process::Command::new("ip")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn host_links() -> String {
    std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The parent link of a test's macvlan/ipvlan networks: a veth pair (this host's kernel may
/// lack CONFIG_DUMMY) with MTU 1400, deleted on drop even when the test fails.
struct ParentLink(String);

impl ParentLink {
    fn new(name: &str) -> ParentLink {
        let peer = format!("{name}p");
        let ok = ip_ok(&[
            "link", "add", name, "mtu", "1400", "type", "veth", "peer", "name", &peer, "mtu",
            "1400",
        ]);
        let me = ParentLink(name.to_string());
        assert!(
            ok && ip_ok(&["link", "set", name, "up"]) && ip_ok(&["link", "set", &peer, "up"]),
            "creating parent link {name}"
        );
        me
    }

    /// Whether the kernel can create a link of `kind` on this parent.
    fn supports(&self, kind: &[&str]) -> bool {
        let probe = format!("{}q", self.0);
        let mut args = vec!["link", "add", "link", &self.0, "name", &probe, "type"];
        args.extend_from_slice(kind);
        let ok = ip_ok(&args);
        if ok {
            ip_ok(&["link", "del", &probe]);
        }
        ok
    }

    /// Host links stacked on the parent (our macvlan/ipvlan children), except the veth peer.
    fn children(&self) -> Vec<String> {
        let peer = format!("{}p@", self.0);
        host_links()
            .lines()
            .filter(|l| l.contains(&format!("@{}:", self.0)) && !l.contains(&peer))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for ParentLink {
    fn drop(&mut self) {
        ip_ok(&["link", "del", &self.0]);
    }
}

fn unique_hex() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:06x}",
        (n ^ std::process::id().rotate_left(12)) & 0xff_ffff
    )
}

#[test]
fn macvlan_and_ipvlan_networks() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let h = unique_hex();
    // Declared before the daemon so it is dropped after the daemon removed its containers.
    let parent = ParentLink::new(&format!("mvp{h}"));
    let mut d = Daemon::start();
    d.make_busybox("busybox");
    let third = 100 + (u32::from_str_radix(&h[..2], 16).unwrap_or(0) % 100);
    sublink_scenario(&mut d, &parent, "macvlan", &h, third);
    if parent.supports(&["ipvlan", "mode", "l2"]) {
        sublink_scenario(&mut d, &parent, "ipvlan", &h, third + 1);
    } else {
        eprintln!("kernel lacks ipvlan: only its create/inspect/rm path is exercised");
        let net = format!("iv{h}");
        d.docker(&[
            "network",
            "create",
            "-d",
            "ipvlan",
            "-o",
            &format!("parent={}", parent.0),
            "-o",
            "ipvlan_mode=l2",
            &net,
        ])
        .ok();
        let o = d
            .docker(&[
                "network",
                "inspect",
                "-f",
                "{{.Driver}} {{.Options.parent}}",
                &net,
            ])
            .ok();
        assert_eq!(o.out(), format!("ipvlan {}", parent.0));
        d.docker(&["network", "rm", &net]).ok();
    }

    // --internal without a parent: a dummy parent of ours, no default route; rm deletes it.
    let net = format!("in{h}");
    let o = d
        .berth(&[
            "network",
            "create",
            "-d",
            "macvlan",
            "--internal",
            "--subnet",
            &format!("192.168.{}.0/24", third + 2),
            &net,
        ])
        .ok();
    let id = o.out().to_string();
    let dm = format!("dm-{}", &id[..12.min(id.len())]);
    assert!(host_links().contains(&format!(": {dm}")), "{dm} missing");
    let o = d
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{.Driver}} {{.Internal}}",
            &net,
        ])
        .ok();
    assert_eq!(o.out(), "macvlan true");
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "ip",
            "-4",
            "route",
        ])
        .ok();
    assert!(!o.out().contains("default"), "{}", o.out());
    d.docker(&["network", "rm", &net]).ok();
    assert!(
        !host_links().contains(&format!(": {dm}")),
        "{dm} left behind"
    );
    assert!(parent.children().is_empty(), "{:?}", parent.children());
    let netns_dir = d.dir.path().join("exec").join("netns");
    let left: Vec<_> = std::fs::read_dir(&netns_dir)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "netns files left: {left:?}");
}

/// One macvlan/ipvlan network on `parent`: create/inspect, two containers reaching each other
/// by name over TCP, `--ip`, MTU and route, `-p` ignored, a daemon restart keeping the
/// endpoint (macvlan), then rm of everything with no child link left on the parent.
fn sublink_scenario(d: &mut Daemon, parent: &ParentLink, driver: &str, h: &str, third: u32) {
    let net = format!("{}{h}", &driver[..2]);
    let srv = format!("srv{h}{}", &driver[..2]);
    let subnet = format!("192.168.{third}.0/24");
    let gw = format!("192.168.{third}.1");
    let mode = if driver == "macvlan" {
        "macvlan_mode=bridge"
    } else {
        "ipvlan_mode=l2"
    };
    d.docker(&[
        "network",
        "create",
        "-d",
        driver,
        "--subnet",
        &subnet,
        "--gateway",
        &gw,
        "-o",
        &format!("parent={}", parent.0),
        "-o",
        mode,
        &net,
    ])
    .ok();
    let o = d
        .docker(&["network", "inspect", "-f", "{{json .}}", &net])
        .ok();
    let v: serde_json::Value = serde_json::from_str(o.out()).unwrap();
    assert_eq!(v["Driver"], driver, "{v}");
    assert_eq!(v["Options"]["parent"], parent.0.as_str(), "{v}");
    assert_eq!(v["IPAM"]["Config"][0]["Subnet"], subnet.as_str(), "{v}");
    assert_eq!(v["IPAM"]["Config"][0]["Gateway"], gw.as_str(), "{v}");
    assert_eq!(v["Internal"], false);
    let o = d
        .docker(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"])
        .ok();
    assert!(
        o.out().lines().any(|l| l == format!("{net} {driver}")),
        "{}",
        o.out()
    );
    // A second network on the same parent is refused, as dockerd does.
    let o = d.docker(&[
        "network",
        "create",
        "-d",
        driver,
        "-o",
        &format!("parent={}", parent.0),
        &format!("{net}b"),
    ]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains("is already using parent interface"),
        "{}",
        o.stderr
    );

    // -p is ignored on macvlan/ipvlan (no host side to publish on).
    let port = free_port();
    d.docker(&[
        "run",
        "-d",
        "--name",
        &srv,
        "--network",
        &net,
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sh",
        "-c",
        "echo served-$(hostname) > /i; httpd -f -p 80 -h /",
    ])
    .ok();
    let o = d
        .docker(&["inspect", "-f", "{{json .NetworkSettings}}", &srv])
        .ok();
    let ns: serde_json::Value = serde_json::from_str(o.out()).unwrap();
    let ep = &ns["Networks"][net.as_str()];
    let srv_ip = ep["IPAddress"].as_str().unwrap_or("").to_string();
    assert!(srv_ip.starts_with(&format!("192.168.{third}.")), "{ns}");
    assert_eq!(ep["Gateway"], gw.as_str(), "{ns}");
    assert_eq!(ep["IPPrefixLen"], 24, "{ns}");
    let mac = ep["MacAddress"].as_str().unwrap_or("?");
    if driver == "macvlan" {
        assert!(mac.starts_with("02:42:"), "{ns}");
    } else {
        assert_eq!(mac, "", "{ns}");
    }
    assert!(!ns["Ports"].to_string().contains("HostPort"), "{ns}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing is published on a {driver} network"
    );
    let o = d
        .docker(&["network", "inspect", "-f", "{{json .Containers}}", &net])
        .ok();
    assert!(o.out().contains(&format!("{srv_ip}/24")), "{}", o.out());

    // A second container, with --ip: address, route via the gateway, the parent's MTU, and
    // the first one reached by name over TCP through the embedded DNS.
    let client_ip = format!("192.168.{third}.50");
    let script = format!(
        "ip -4 -o addr show eth0; ip -4 route; ip -o link show eth0; cat /etc/resolv.conf; \
         for i in $(seq 1 100); do r=$(printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {srv} 80 | tail -1); \
         [ -n \"$r\" ] && break; sleep 0.1; done; echo \"got:$r\""
    );
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            &net,
            "--ip",
            &client_ip,
            "busybox",
            "sh",
            "-c",
            &script,
        ])
        .ok();
    let out = o.out();
    assert!(out.contains(&format!("inet {client_ip}/24")), "{out}");
    assert!(out.contains(&format!("default via {gw}")), "{out}");
    assert!(out.contains("mtu 1400"), "{out}");
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");
    assert!(out.contains("got:served-"), "{out}");
    let o = d.docker(&["network", "rm", &net]);
    assert!(o.stderr.contains("has active endpoints"), "{}", o.stderr);

    // The endpoint and its DNS name survive a daemon restart (live restore).
    if driver == "macvlan" {
        d.restart();
    }
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "nslookup",
            &srv,
        ])
        .ok();
    assert!(o.out().contains(&srv_ip), "{}", o.out());

    d.docker(&["rm", "-f", &srv]).ok();
    d.docker(&["network", "rm", &net]).ok();
    assert!(parent.children().is_empty(), "{:?}", parent.children());
}
