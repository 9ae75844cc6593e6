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
    run_published_web(&d, port);
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

// ---------------------------------------------------------------------------------------------
// Host firewall state: FORWARD policy DROP, coexistence with Docker's and Podman's rules, UDP
// publishing, port ranges and gateways of internal networks.
// ---------------------------------------------------------------------------------------------

/// Runs a host program; (success, stdout).
fn run_host(prog: &str, args: &[&str]) -> (bool, String) {
    match std::process::Command::new(prog)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
    {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        ),
        Err(_) => (false, String::new()),
    }
}

fn ipt(args: &[&str]) -> bool {
    let mut a = vec!["-w"];
    a.extend_from_slice(args);
    run_host("iptables", &a).0
}

fn ipt_save(table: &str) -> String {
    run_host("iptables-save", &["-t", table]).1
}

/// The FORWARD policy ("ACCEPT"/"DROP").
fn forward_policy() -> String {
    let (_, out) = run_host("iptables", &["-w", "-S", "FORWARD"]);
    out.lines()
        .find_map(|l| l.strip_prefix("-P FORWARD "))
        .unwrap_or("ACCEPT")
        .trim()
        .to_string()
}

/// Sets the FORWARD policy to DROP; puts the saved policy back on drop, even when the test fails.
struct ForwardDrop(String);

impl ForwardDrop {
    fn set() -> ForwardDrop {
        let g = ForwardDrop(forward_policy());
        assert!(ipt(&["-P", "FORWARD", "DROP"]), "setting FORWARD policy");
        g
    }
}

impl Drop for ForwardDrop {
    fn drop(&mut self) {
        ipt(&["-P", "FORWARD", &self.0]);
    }
}

/// A network namespace standing for a machine outside the host, joined to the host by a veth
/// pair on 198.18.<n>.0/30 and serving HTTP on 198.18.<n>.2:8080. It has no route to container
/// subnets, so containers reach it only when their traffic is forwarded and masqueraded.
struct Outside {
    ns: String,
    link: String,
    server: Option<std::process::Child>,
    addr: String,
    _www: tempfile::TempDir,
}

impl Outside {
    fn new(h: &str, third: u32) -> Outside {
        let www = tempfile::tempdir().expect("tempdir");
        std::fs::write(www.path().join("o"), "outside-ok\n").expect("write");
        let mut me = Outside {
            ns: format!("bo{h}"),
            link: format!("bo{h}"),
            server: None,
            addr: format!("198.18.{third}.2"),
            _www: www,
        };
        let peer = format!("bi{h}");
        let host_addr = format!("198.18.{third}.1/30");
        let ns_addr = format!("{}/30", me.addr);
        let steps: [&[&str]; 8] = [
            &["netns", "add", &me.ns],
            &[
                "link", "add", &me.link, "type", "veth", "peer", "name", &peer,
            ],
            &["link", "set", &peer, "netns", &me.ns],
            &["addr", "add", &host_addr, "dev", &me.link],
            &["link", "set", &me.link, "up"],
            &["-n", &me.ns, "addr", "add", &ns_addr, "dev", &peer],
            &["-n", &me.ns, "link", "set", &peer, "up"],
            &["-n", &me.ns, "link", "set", "lo", "up"],
        ];
        for s in steps {
            assert!(ip_ok(s), "ip {s:?}");
        }
        let bind = format!("{}:8080", me.addr);
        let www = me._www.path().display().to_string();
        me.server = Some(
            std::process::Command::new("ip")
                .args(["netns", "exec", &me.ns, "busybox", "httpd", "-f", "-p"])
                .args([&bind, "-h", &www])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn httpd in the outside namespace"),
        );
        me
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        if let Some(mut c) = self.server.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        ip_ok(&["link", "del", &self.link]);
        ip_ok(&["netns", "del", &self.ns]);
    }
}

/// The host's first global IPv4 address that is not on a container bridge or veth.
fn host_primary_ip() -> Option<String> {
    let (_, out) = run_host("ip", &["-4", "-o", "addr", "show", "scope", "global"]);
    out.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        let ifname = it.nth(1)?;
        let skip = [
            "bb", "berth", "bt-", "br-", "docker", "veth", "bo", "cni", "podman",
        ];
        if skip.iter().any(|p| ifname.starts_with(p)) {
            return None;
        }
        let addr = it.skip_while(|t| *t != "inet").nth(1)?;
        Some(addr.split('/').next()?.to_string())
    })
}

/// Runs a client container that fetches `path` from `host:port` over HTTP with busybox `nc`
/// (its static `wget` crashes), retrying while the server starts; returns the output, which
/// ends in `got:<last line of the response>`.
fn fetch_from_container(
    d: &Daemon,
    network: Option<&str>,
    host: &str,
    port: u16,
    path: &str,
) -> String {
    let script = format!(
        "for i in $(seq 1 50); do r=$(printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {host} {port} | tail -1); \
         [ -n \"$r\" ] && break; sleep 0.2; done; echo \"got:$r\""
    );
    let mut args = vec!["run", "--rm"];
    if let Some(n) = network {
        args.extend_from_slice(&["--network", n]);
    }
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    d.docker(&args).ok().out().to_string()
}

#[test]
fn forward_policy_drop() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let h = unique_hex();
    let third = 1 + u32::from_str_radix(&h[..2], 16).unwrap_or(0) % 250;
    // Guards in drop order: the daemon goes first, then the policy comes back, then the
    // outside namespace goes.
    let outside = Outside::new(&h, third);
    let _policy = ForwardDrop::set();
    let d = Daemon::start();
    d.make_busybox("busybox");

    // (a) Container to container over TCP, on the default bridge and on a user network.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "srv",
        "busybox",
        "sh",
        "-c",
        "echo srv-ok > /i; httpd -f -p 80 -h /",
    ])
    .ok();
    let srv_ip = d.inspect("{{.NetworkSettings.IPAddress}}", "srv");
    let out = fetch_from_container(&d, None, &srv_ip, 80, "/i");
    assert!(out.ends_with("got:srv-ok"), "{out}\n{}", d.log());
    d.docker(&["network", "create", "dropnet"]).ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "usrv",
        "--network",
        "dropnet",
        "busybox",
        "sh",
        "-c",
        "echo usrv-ok > /i; httpd -f -p 80 -h /",
    ])
    .ok();
    let out = fetch_from_container(&d, Some("dropnet"), "usrv", 80, "/i");
    assert!(out.ends_with("got:usrv-ok"), "{out}");

    // (b) -p from 127.0.0.1, from the bridge gateway and from the host's own address.
    let port = free_port();
    run_published_web(&d, port);
    let gw = d.inspect("{{.NetworkSettings.Gateway}}", "web");
    let primary = host_primary_ip();
    let mut from = vec!["127.0.0.1".to_string(), gw];
    from.extend(primary.clone());
    for addr in &from {
        let body = http_get(&format!("{addr}:{port}"), "/www");
        assert!(body.ends_with("served\n"), "{addr}: {body}");
    }

    // (c) Out of the bridge: to a listener on the host's primary address, and through the
    // FORWARD chain and masquerading to a machine outside the host.
    if let Some(primary) = &primary {
        let l = std::net::TcpListener::bind((primary.as_str(), 0)).expect("bind host listener");
        let hport = l.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let _ = std::io::Write::write_all(&mut s, b"host-ok\n");
            }
        });
        let o = d
            .docker(&[
                "run",
                "--rm",
                "busybox",
                "sh",
                "-c",
                &format!("nc -w 3 {primary} {hport}"),
            ])
            .ok();
        assert_eq!(o.out(), "host-ok");
    } else {
        eprintln!("no global IPv4 address on this host: host-address check skipped");
    }
    let out = fetch_from_container(&d, None, &outside.addr, 8080, "/o");
    assert!(out.ends_with("got:outside-ok"), "{out}");
    let out = fetch_from_container(&d, Some("dropnet"), &outside.addr, 8080, "/o");
    assert!(out.ends_with("got:outside-ok"), "{out}");
    // From outside the host to a published port: DNAT, then FORWARD must accept it.
    let host_side = format!("{}1", outside.addr.trim_end_matches('2'));
    let request = format!(
        "printf 'GET /www HTTP/1.0\\r\\n\\r\\n' | ip netns exec {} busybox nc -w 2 {host_side} {port}",
        outside.ns
    );
    let mut last = String::new();
    let ok = common::poll(std::time::Duration::from_secs(10), || {
        last = run_host("sh", &["-c", &request]).1;
        last.ends_with("served\n")
    });
    assert!(ok, "published port from outside the host: {last:?}");
    assert_eq!(
        forward_policy(),
        "DROP",
        "the policy must not be changed under us"
    );

    d.docker(&["rm", "-f", "srv", "usrv", "web"]).ok();
    d.docker(&["network", "rm", "dropnet"]).ok();
}

/// Chains and rules made the way Docker and Podman make them; everything this test created is
/// removed on drop (chains that already existed are only observed, never changed).
#[derive(Default)]
struct Decoys {
    rules: Vec<(String, String, Vec<String>)>,
    chains: Vec<(String, String)>,
}

impl Decoys {
    /// Creates `chain` in `table` unless it exists; returns whether it was created.
    fn chain(&mut self, table: &str, chain: &str) -> bool {
        if ipt(&["-t", table, "-S", chain]) {
            return false;
        }
        let ok = ipt(&["-t", table, "-N", chain]);
        if ok {
            self.chains.push((table.to_string(), chain.to_string()));
        }
        assert!(ok, "creating {table}/{chain}");
        true
    }

    /// Appends (or with `insert`, inserts first) a rule.
    fn rule(&mut self, table: &str, chain: &str, insert: bool, spec: &str) {
        let spec: Vec<String> = shell_words(spec);
        let mut args = vec!["-t", table, if insert { "-I" } else { "-A" }, chain];
        args.extend(spec.iter().map(String::as_str));
        let ok = ipt(&args);
        if ok {
            self.rules
                .push((table.to_string(), chain.to_string(), spec.clone()));
        }
        assert!(ok, "adding {table}/{chain} {spec:?}");
    }
}

impl Drop for Decoys {
    fn drop(&mut self) {
        for (table, chain, spec) in self.rules.iter().rev() {
            let mut args = vec!["-t", table.as_str(), "-D", chain.as_str()];
            args.extend(spec.iter().map(String::as_str));
            ipt(&args);
        }
        for (table, chain) in self.chains.iter().rev() {
            ipt(&["-t", table, "-F", chain]);
            ipt(&["-t", table, "-X", chain]);
        }
    }
}

/// Splits on spaces, keeping "double quoted" words together.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every iptables-save line (filter and nat) of Docker's and Podman's chains and the jumps
/// into them, in order.
fn foreign_lines() -> Vec<String> {
    let mut out = Vec::new();
    for table in ["filter", "nat"] {
        for l in ipt_save(table).lines() {
            let foreign = l.split_whitespace().any(|t| {
                let t = t.trim_start_matches(':');
                t.starts_with("DOCKER") || t.starts_with("NETAVARK")
            });
            if foreign {
                out.push(format!("{table}: {l}"));
            }
        }
    }
    out
}

#[test]
fn coexists_with_docker_and_podman_rules() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let h = unique_hex();
    let mut decoys = Decoys::default();
    let tag = format!("berth-decoy-{h}");
    // Docker's filter chains, with its jumps from FORWARD (docker0 does not exist here, so they
    // match nothing).
    if decoys.chain("filter", "DOCKER-USER") {
        decoys.rule(
            "filter",
            "DOCKER-USER",
            false,
            &format!("-s 198.51.100.0/24 -m comment --comment \"{tag}\" -j RETURN"),
        );
        decoys.rule("filter", "DOCKER-USER", false, "-j RETURN");
        decoys.rule("filter", "FORWARD", true, "-j DOCKER-USER");
    }
    if decoys.chain("filter", "DOCKER-ISOLATION-STAGE-2") {
        decoys.rule(
            "filter",
            "DOCKER-ISOLATION-STAGE-2",
            false,
            "-o docker0 -j DROP",
        );
        decoys.rule("filter", "DOCKER-ISOLATION-STAGE-2", false, "-j RETURN");
    }
    if decoys.chain("filter", "DOCKER-ISOLATION-STAGE-1") {
        decoys.rule(
            "filter",
            "DOCKER-ISOLATION-STAGE-1",
            false,
            "-i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2",
        );
        decoys.rule("filter", "DOCKER-ISOLATION-STAGE-1", false, "-j RETURN");
        decoys.rule("filter", "FORWARD", false, "-j DOCKER-ISOLATION-STAGE-1");
    }
    if decoys.chain("filter", "DOCKER") {
        decoys.rule(
            "filter",
            "DOCKER",
            false,
            "-d 198.51.100.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT",
        );
        decoys.rule("filter", "FORWARD", false, "-o docker0 -j DOCKER");
        decoys.rule(
            "filter",
            "FORWARD",
            false,
            "-o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        );
    }
    if decoys.chain("nat", "DOCKER") {
        decoys.rule("nat", "DOCKER", false, "-i docker0 -j RETURN");
        // A DNAT for an address that is not this host's: it can never match.
        decoys.rule(
            "nat",
            "DOCKER",
            false,
            "-d 203.0.113.77/32 ! -i docker0 -p tcp -m tcp --dport 18080 -j DNAT --to-destination 198.51.100.2:80",
        );
        decoys.rule(
            "nat",
            "PREROUTING",
            false,
            "-m addrtype --dst-type LOCAL -j DOCKER",
        );
        decoys.rule(
            "nat",
            "OUTPUT",
            false,
            "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
        );
        decoys.rule(
            "nat",
            "POSTROUTING",
            false,
            "-s 198.51.100.0/24 ! -o docker0 -j MASQUERADE",
        );
    }
    // Podman (netavark); a real one may already be there: then it is only observed.
    if decoys.chain("filter", "NETAVARK_FORWARD") {
        decoys.rule(
            "filter",
            "NETAVARK_FORWARD",
            false,
            &format!(
                "-d 198.51.100.0/24 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment \"{tag}\" -j ACCEPT"
            ),
        );
        decoys.rule(
            "filter",
            "FORWARD",
            false,
            "-m comment --comment \"netavark firewall plugin rules\" -j NETAVARK_FORWARD",
        );
    }
    let before = foreign_lines();
    assert!(
        before.iter().any(|l| l.contains("DOCKER-USER")),
        "{before:#?}"
    );

    let d = Daemon::start();
    d.make_busybox("busybox");
    let bridge = d.inspect(
        "{{index .Options \"com.docker.network.bridge.name\"}}",
        "bridge",
    );
    let hex = bridge
        .strip_prefix("bb")
        .unwrap_or_else(|| panic!("the test daemon's bridge {bridge:?} is not an instance bridge"));
    let ours = format!("BERTH-{}", hex.to_ascii_uppercase());
    let port = free_port();
    let uport = free_port();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        &format!("{port}:80"),
        "-p",
        &format!("{uport}:53/udp"),
        "busybox",
        "sh",
        "-c",
        "echo served > /www; httpd -f -p 80 -h /",
    ])
    .ok();
    d.docker(&["network", "create", "conet"]).ok();
    let port2 = free_port();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "web2",
        "--network",
        "conet",
        "-p",
        &format!("{port2}:80"),
        "busybox",
        "sh",
        "-c",
        "echo served2 > /www; httpd -f -p 80 -h /",
    ])
    .ok();
    let gw = d.inspect("{{.NetworkSettings.Gateway}}", "web");
    for addr in ["127.0.0.1", gw.as_str()] {
        assert!(http_get(&format!("{addr}:{port}"), "/www").ends_with("served\n"));
    }
    assert!(http_get(&format!("127.0.0.1:{port2}"), "/www").ends_with("served2\n"));
    // Our rules live in our own chains, jumped to from the built-in ones.
    let nat = ipt_save("nat");
    let filter = ipt_save("filter");
    assert!(nat.contains(&format!(":{ours} ")), "{nat}");
    assert!(nat.contains(&format!("-j {ours}-POST")), "{nat}");
    assert!(
        filter.contains(&format!("-A FORWARD -j {ours}-FWD")),
        "{filter}"
    );
    assert_eq!(
        foreign_lines(),
        before,
        "Docker/Podman rules changed while running"
    );

    d.docker(&["rm", "-f", "web", "web2"]).ok();
    d.docker(&["network", "rm", "conet"]).ok();
    // A clean stop of an idle daemon removes its bridge, chains and jumps.
    drop(d);
    assert_eq!(foreign_lines(), before, "Docker/Podman rules changed");
    for table in ["filter", "nat"] {
        let left: Vec<String> = ipt_save(table)
            .lines()
            .filter(|l| l.contains(&ours))
            .map(str::to_string)
            .collect();
        assert!(left.is_empty(), "{table}: our rules left behind: {left:#?}");
    }
    assert!(
        !std::path::Path::new("/sys/class/net")
            .join(&bridge)
            .exists(),
        "bridge {bridge} left behind"
    );
    drop(decoys);
}

/// A UDP server in a busybox container: the host's python3 (its /usr, /lib and /lib64 bind-mounted
/// read-only), printing every datagram it gets.
const UDP_SERVER: &str = concat!(
    "import socket\n",
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n",
    "s.bind(('0.0.0.0', 9999))\n",
    "print('ready', flush=True)\n",
    "while True:\n",
    "    b, a = s.recvfrom(2048)\n",
    "    print('got', b.decode(), flush=True)\n",
);

fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
    s.local_addr().expect("addr").port()
}

/// A base port with `n` consecutive free TCP ports below the ephemeral range.
fn free_port_run(n: u16) -> u16 {
    let seed = u16::from_str_radix(&unique_hex()[..4], 16).unwrap_or(0);
    for i in 0..200u16 {
        let base = 20000 + (seed.wrapping_add(i * 37) % 10000);
        if (base..base + n).all(|p| std::net::TcpListener::bind(("0.0.0.0", p)).is_ok()) {
            return base;
        }
    }
    panic!("no run of {n} free ports");
}

/// One UDP container published with `cli`: datagrams through the proxy and the DNAT rule,
/// `port` through both clients, inspect, the rule text, and the port freed by `rm`.
fn udp_scenario(d: &Daemon, cli: common::Cli) {
    let name = format!("udp-{cli:?}").to_ascii_lowercase();
    let hp = free_udp_port();
    d.cli(
        cli,
        &[
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            &format!("{hp}:9999/udp"),
            "-v",
            "/usr:/usr:ro",
            "-v",
            "/usr/lib:/lib:ro",
            "-v",
            "/lib64:/lib64:ro",
            "busybox",
            "/usr/bin/python3",
            "-c",
            UDP_SERVER,
        ],
    )
    .ok();
    let gw = d.inspect("{{.NetworkSettings.Gateway}}", &name);
    let cip = d.inspect("{{.NetworkSettings.IPAddress}}", &name);
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp socket");
    for (dst, msg) in [("127.0.0.1", "via-lo"), (gw.as_str(), "via-gw")] {
        let want = format!("got {msg}");
        let mut logs = String::new();
        let ok = common::poll(std::time::Duration::from_secs(20), || {
            let _ = sock.send_to(msg.as_bytes(), (dst, hp));
            std::thread::sleep(std::time::Duration::from_millis(100));
            logs = d.docker(&["logs", &name]).stdout;
            logs.contains(&want)
        });
        assert!(
            ok,
            "{name}: {msg} never arrived: logs={logs:?}\n{}",
            d.log()
        );
    }
    for c in common::BOTH {
        let o = d.cli(c, &["port", &name]).ok();
        assert_eq!(o.out(), format!("9999/udp -> 0.0.0.0:{hp}"), "{c:?}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&d.inspect("{{json .NetworkSettings.Ports}}", &name)).unwrap();
    assert_eq!(v["9999/udp"][0]["HostPort"], hp.to_string(), "{v}");
    assert_eq!(v["9999/udp"][0]["HostIp"], "0.0.0.0", "{v}");
    let nat = ipt_save("nat");
    assert!(
        nat.contains(&format!(
            "-p udp -m udp --dport {hp} -j DNAT --to-destination {cip}:9999"
        )),
        "{nat}"
    );
    d.cli(cli, &["rm", "-f", &name]).ok();
    assert!(
        std::net::UdpSocket::bind(("0.0.0.0", hp)).is_ok(),
        "the UDP proxy must release its port"
    );
    assert!(
        !ipt_save("nat").contains(&format!("--dport {hp} ")),
        "the DNAT rule must go with the container"
    );
}

/// Port ranges published with `cli`: three ports one to one, and a host range for one port.
fn range_scenario(d: &Daemon, cli: common::Cli) {
    let rng = format!("rng-{cli:?}").to_ascii_lowercase();
    let rng2 = format!("rng2-{cli:?}").to_ascii_lowercase();
    let base = free_port_run(4);
    d.cli(
        cli,
        &[
            "run",
            "-d",
            "--name",
            &rng,
            "-p",
            &format!("{}-{}:8100-8102", base, base + 2),
            "busybox",
            "sh",
            "-c",
            "echo mid > /www; httpd -f -p 8101 -h /",
        ],
    )
    .ok();
    let v: serde_json::Value =
        serde_json::from_str(&d.inspect("{{json .NetworkSettings.Ports}}", &rng)).unwrap();
    for i in 0..3u16 {
        let key = format!("{}/tcp", 8100 + i);
        assert_eq!(v[&key][0]["HostPort"], (base + i).to_string(), "{v}");
        assert_eq!(v[&key][0]["HostIp"], "0.0.0.0", "{v}");
    }
    assert!(http_get(&format!("127.0.0.1:{}", base + 1), "/www").ends_with("mid\n"));
    let o = d.cli(cli, &["port", &rng]).ok();
    assert_eq!(o.out().lines().count(), 3, "{}", o.out());
    // A host range for one container port takes the first free port in it.
    d.cli(
        cli,
        &[
            "run",
            "-d",
            "--name",
            &rng2,
            "-p",
            &format!("{}-{}:80", base, base + 3),
            "busybox",
            "sleep",
            "60",
        ],
    )
    .ok();
    let o = d.cli(cli, &["port", &rng2, "80"]).ok();
    assert_eq!(o.out(), format!("0.0.0.0:{}", base + 3));
    d.cli(cli, &["rm", "-f", &rng, &rng2]).ok();
}

#[test]
fn udp_publishing_port_ranges_and_internal_gateway() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");

    // UDP, published through either client: a datagram to 127.0.0.1 (userland proxy) and to
    // the gateway (DNAT) reaches the container.
    for cli in common::BOTH {
        udp_scenario(&d, cli);
    }

    // Port ranges, through both clients.
    for cli in common::BOTH {
        range_scenario(&d, cli);
    }
    let base = free_port_run(4);
    // Ranges of different lengths: the CLI's error, before anything is created.
    let spec = format!("{}-{}:8100-8102", base + 10, base + 11);
    let o = d.docker(&["run", "--rm", "-p", &spec, "busybox", "true"]);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!(
            "invalid ranges specified for container and host Ports: 8100-8102 and {}-{}",
            base + 10,
            base + 11
        )),
        "{}",
        o.stderr
    );

    // --internal: no default route and no gateway reported, as dockerd does.
    d.docker(&["network", "create", "--internal", "inet"]).ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "in1",
        "--network",
        "inet",
        "busybox",
        "sleep",
        "60",
    ])
    .ok();
    let v: serde_json::Value =
        serde_json::from_str(&d.inspect("{{json .NetworkSettings.Networks.inet}}", "in1")).unwrap();
    assert_eq!(v["Gateway"], "", "{v}");
    assert!(
        v["IPAddress"]
            .as_str()
            .is_some_and(|a| a.parse::<std::net::Ipv4Addr>().is_ok()),
        "{v}"
    );
    let o = d.docker(&["exec", "in1", "ip", "-4", "route"]).ok();
    assert!(!o.out().contains("default"), "{}", o.out());
    d.docker(&["rm", "-f", "in1"]).ok();
    d.docker(&["network", "rm", "inet"]).ok();
}

/// Starts container `web`: a busybox httpd serving `/www` ("served") on host port `port`.
fn run_published_web(d: &Daemon, port: u16) {
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
}
