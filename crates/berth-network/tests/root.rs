//! Root-only end-to-end tests: real bridges, veths, netns, iptables, proxies and DNS.

use std::io::Read;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use berth_network::{EndpointRequest, NetConfig, NetworkCreate, NetworkManager, PortBinding};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn hex8() -> String {
    format!("{:08x}", rand::random::<u32>())
}

struct Env {
    _tmp: tempfile::TempDir,
    exec_root: PathBuf,
    instance: String,
    bridge: String,
    mgr: Arc<NetworkManager>,
    cfg: NetConfig,
    db: Arc<redb::Database>,
}

async fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let h = hex8();
    let exec_root = tmp.path().join("exec");
    let db =
        redb::Database::create(tmp.path().join("net.redb")).unwrap_or_else(|e| panic!("db: {e}"));
    let cfg = NetConfig {
        instance: format!("berth-{h}"),
        exec_root: exec_root.clone(),
        default_bridge: format!("bb{h}"),
        iptables: true,
        ip_forward: true,
        userland_proxy: true,
        ..NetConfig::default()
    };
    let db = Arc::new(db);
    let mgr = NetworkManager::start(cfg.clone(), db.clone())
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    Env {
        _tmp: tmp,
        exec_root,
        instance: format!("BERTH-{}", h.to_uppercase()),
        bridge: format!("bb{h}"),
        mgr,
        cfg,
        db,
    }
}

struct Killer(Vec<Child>);
impl Drop for Killer {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn serve_hello(ns: &Path, port: u16) -> Child {
    Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args([
            "busybox",
            "nc",
            "-ll",
            "-p",
            &port.to_string(),
            "-e",
            "busybox",
            "echo",
            "hello",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn nc: {e}"))
}

fn in_ns(ns: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .arg("busybox")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("nsenter: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Polls until `f` returns Some or the deadline passes.
fn poll<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn read_host(port: u16) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(2))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.contains("hello").then_some(buf)
}

fn req(name: &str) -> EndpointRequest {
    EndpointRequest {
        name: name.into(),
        hostname: name.into(),
        ..EndpointRequest::default()
    }
}

fn assert_clean(e: &Env, links: &[String]) {
    for l in links {
        assert!(
            !Path::new("/sys/class/net").join(l).exists(),
            "link {l} left behind"
        );
    }
    let left: Vec<_> = std::fs::read_dir(e.exec_root.join("netns"))
        .map(|d| d.filter_map(|x| x.ok()).map(|x| x.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "netns files left: {left:?}");
    for t in ["nat", "filter"] {
        let out = Command::new("iptables-save")
            .args(["-t", t])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&e.instance) || l.contains(&e.bridge))
            .collect();
        assert!(lines.is_empty(), "iptables leftovers: {lines:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_bridge_ping_nc_publish_and_cleanup() {
    if !is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    let e = env().await;
    let h = hex8();
    let (id1, id2, id3) = (
        format!("{h}aaaa0001"),
        format!("{h}bbbb0002"),
        format!("{h}cccc0003"),
    );
    let mgr = e.mgr.clone();
    let mut links = vec![e.bridge.clone()];
    let result = {
        let links = &mut links;
        let e = &e;
        std::panic::AssertUnwindSafe(async move {
            let sb1 = mgr.create_sandbox(&id1).await.map_err(|x| x.to_string())?;
            let sb2 = mgr.create_sandbox(&id2).await.map_err(|x| x.to_string())?;
            let mut r1 = req("one");
            r1.port_bindings.push(PortBinding {
                container_port: 8080,
                proto: "tcp".into(),
                host_ip: "127.0.0.1".into(),
                host_port_start: 0,
                host_port_end: 0,
            });
            let ep1 = mgr.connect(&id1, &sb1, "bridge", r1).await.map_err(|x| x.to_string())?;
            let ep2 = mgr.connect(&id2, &sb2, "bridge", req("two")).await.map_err(|x| x.to_string())?;
            assert_eq!(ep1.mac, {
                let o = ep1.ip.octets();
                format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
            });
            assert_ne!(ep1.ip, ep2.ip);
            let hport = ep1.ports[0].3;
            assert!(hport >= berth_network::ports::local_port_range().0);
            let info = mgr.get("bridge").map_err(|x| x.to_string())?;
            assert_eq!(info.bridge.as_deref(), Some(e.bridge.as_str()));
            let _killer = Killer(vec![serve_hello(&sb1, 8080)]);
            let (ok, _) = in_ns(&sb2, &["ping", "-c", "1", "-W", "2", &ep1.ip.to_string()]);
            assert!(ok, "ping two -> one");
            let (ok, _) = in_ns(&sb1, &["ping", "-c", "1", "-W", "2", &ep1.gateway.map(|g| g.to_string()).unwrap_or_default()]);
            assert!(ok, "ping one -> gateway");
            let got = poll(10, || {
                let (_, out) = in_ns(&sb2, &["nc", "-w", "2", &ep1.ip.to_string(), "8080"]);
                out.contains("hello").then_some(out)
            });
            assert!(got.is_some(), "nc two -> one:8080");
            assert!(poll(10, || read_host(hport)).is_some(), "published port via 127.0.0.1:{hport}");
            let nat = String::from_utf8_lossy(&Command::new("iptables-save").args(["-t", "nat"]).output().map_err(|x| x.to_string())?.stdout).into_owned();
            assert!(nat.contains(&format!("--dport {hport} -j DNAT --to-destination {}:8080", ep1.ip)), "{nat}");

            // Same port again: ours → "port is already allocated"; nothing left behind.
            let sb3 = mgr.create_sandbox(&id3).await.map_err(|x| x.to_string())?;
            let mut r3 = req("three");
            r3.port_bindings.push(PortBinding {
                container_port: 80,
                proto: "tcp".into(),
                host_ip: "127.0.0.1".into(),
                host_port_start: hport,
                host_port_end: hport,
            });
            let err = mgr.connect(&id3, &sb3, "bridge", r3).await.err().map(|x| x.to_string()).unwrap_or_default();
            assert!(err.contains(&format!("Bind for 127.0.0.1:{hport} failed: port is already allocated")), "{err}");
            // Someone else's port → userland proxy bind error.
            let foreign = std::net::TcpListener::bind("127.0.0.1:0").map_err(|x| x.to_string())?;
            let fport = foreign.local_addr().map_err(|x| x.to_string())?.port();
            let mut r3 = req("three");
            r3.port_bindings.push(PortBinding {
                container_port: 80,
                proto: "tcp".into(),
                host_ip: "127.0.0.1".into(),
                host_port_start: fport,
                host_port_end: fport,
            });
            let err = mgr.connect(&id3, &sb3, "bridge", r3).await.err().map(|x| x.to_string()).unwrap_or_default();
            assert!(
                err.contains(&format!(
                    "failed to bind port 127.0.0.1:{fport}/tcp: Error starting userland proxy: listen tcp4 127.0.0.1:{fport}: bind: address already in use"
                )),
                "{err}"
            );
            let ins = mgr.inspect_json("bridge", &|_| None);
            assert_eq!(ins["Containers"].as_object().map(|o| o.len()), Some(2), "{ins}");
            // A failed connect leaves no veth: only the two real endpoints' veths are on the bridge.
            let ports = std::fs::read_dir(format!("/sys/class/net/{}/brif", e.bridge)).map(|d| d.count()).unwrap_or(0);
            assert_eq!(ports, 2);
            for l in std::fs::read_dir(format!("/sys/class/net/{}/brif", e.bridge)).map_err(|x| x.to_string())? {
                links.push(l.map_err(|x| x.to_string())?.file_name().to_string_lossy().into_owned());
            }
            for id in [&id1, &id2, &id3] {
                mgr.release_container(id).await;
                mgr.release_container(id).await;
            }
            assert!(read_host(hport).is_none(), "proxy must be gone");
            assert_eq!(mgr.inspect_json("bridge", &|_| None)["Containers"], serde_json::json!({}));
            Ok::<(), String>(())
        })
        .catch_unwind()
        .await
    };
    e.mgr.destroy().await;
    match result {
        Err(p) => std::panic::resume_unwind(p),
        Ok(Err(m)) => panic!("{m}"),
        Ok(Ok(())) => {}
    }
    assert_clean(&e, &links);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_network_dns_isolation_and_remove() {
    if !is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    let e = env().await;
    let h = hex8();
    let (ida, idb) = (format!("{h}dddd0001"), format!("{h}eeee0002"));
    let mgr = e.mgr.clone();
    let mut links = vec![e.bridge.clone()];
    let subnet = format!(
        "10.{}.{}.0/24",
        200 + rand::random::<u8>() % 50,
        rand::random::<u8>()
    );
    let name = format!("tnet{h}");
    let result = {
        let links = &mut links;
        std::panic::AssertUnwindSafe(async move {
            let create: NetworkCreate = serde_json::from_value(serde_json::json!({
                "Name": name, "Labels": {"a": "b"}, "IPAM": {"Config": [{"Subnet": subnet}]}
            }))
            .map_err(|x| x.to_string())?;
            let (nid, _) = mgr
                .create(create.clone())
                .await
                .map_err(|x| x.to_string())?;
            links.push(format!("bt-{}", &nid[..12]));
            let dup = mgr
                .create(create)
                .await
                .err()
                .map(|x| x.to_string())
                .unwrap_or_default();
            assert_eq!(dup, format!("network with name {name} already exists"));
            let overlap: NetworkCreate = serde_json::from_value(serde_json::json!({
                "Name": format!("{name}x"), "IPAM": {"Config": [{"Subnet": subnet}]}
            }))
            .map_err(|x| x.to_string())?;
            let err = mgr
                .create(overlap)
                .await
                .err()
                .map(|x| x.to_string())
                .unwrap_or_default();
            assert_eq!(err, "Pool overlaps with other one on this address space");
            assert!(mgr.list().iter().any(|n| n.name == "host"));
            assert!(mgr.list().iter().any(|n| n.name == "none"));

            let sba = mgr.create_sandbox(&ida).await.map_err(|x| x.to_string())?;
            let sbb = mgr.create_sandbox(&idb).await.map_err(|x| x.to_string())?;
            let mut ra = req("alpha");
            ra.aliases = vec!["svc".into()];
            let epa = mgr
                .connect(&ida, &sba, &name, ra)
                .await
                .map_err(|x| x.to_string())?;
            let mut rb = req("beta");
            rb.aliases = vec!["svc".into()];
            let epb = mgr
                .connect(&idb, &sbb, &name, rb)
                .await
                .map_err(|x| x.to_string())?;
            let _killer = Killer(vec![serve_hello(&sba, 7070)]);
            let resolved = poll(10, || {
                let (ok, out) = in_ns(&sbb, &["nslookup", "alpha", "127.0.0.11"]);
                (ok && out.contains(&epa.ip.to_string())).then_some(out)
            });
            assert!(resolved.is_some(), "DNS alpha");
            let (_, out) = in_ns(&sba, &["nslookup", "svc", "127.0.0.11"]);
            assert!(
                out.contains(&epa.ip.to_string()) && out.contains(&epb.ip.to_string()),
                "alias: {out}"
            );
            let got = poll(10, || {
                let (_, out) = in_ns(&sbb, &["nc", "-w", "2", &epa.ip.to_string(), "7070"]);
                out.contains("hello").then_some(out)
            });
            assert!(got.is_some(), "nc beta -> alpha");
            // A second network shows up as eth1; disconnect removes it, twice is an error.
            let epx = mgr
                .connect(&ida, &sba, "bridge", req("alpha"))
                .await
                .map_err(|x| x.to_string())?;
            let (_, addrs) = in_ns(&sba, &["ip", "-o", "-4", "addr"]);
            assert!(
                addrs.contains("eth1") && addrs.contains(&epx.ip.to_string()),
                "{addrs}"
            );
            mgr.disconnect(&ida, "bridge", false)
                .await
                .map_err(|x| x.to_string())?;
            let (_, addrs) = in_ns(&sba, &["ip", "-o", "-4", "addr"]);
            assert!(!addrs.contains("eth1"), "{addrs}");
            let err = mgr
                .disconnect(&ida, "bridge", false)
                .await
                .err()
                .map(|x| x.to_string())
                .unwrap_or_default();
            assert_eq!(
                err,
                format!("container {ida} is not connected to network bridge")
            );
            let ins = mgr.inspect_json(&name, &|_| None);
            assert_eq!(ins["Containers"][&ida]["Name"], "alpha");
            assert_eq!(ins["Labels"]["a"], "b");
            assert_eq!(
                ins["IPAM"]["Config"][0]["Subnet"],
                serde_json::json!(subnet)
            );
            let err = mgr
                .remove(&name)
                .await
                .err()
                .map(|x| x.to_string())
                .unwrap_or_default();
            assert_eq!(
                err,
                format!(
                    "error while removing network: network {name} id {nid} has active endpoints"
                )
            );
            mgr.release_container(&ida).await;
            mgr.release_container(&idb).await;
            mgr.remove(&name).await.map_err(|x| x.to_string())?;
            assert!(mgr.get(&name).is_err());
            Ok::<(), String>(())
        })
        .catch_unwind()
        .await
    };
    e.mgr.destroy().await;
    match result {
        Err(p) => std::panic::resume_unwind(p),
        Ok(Err(m)) => panic!("{m}"),
        Ok(Ok(())) => {}
    }
    assert_clean(&e, &links);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restore_and_isolation() {
    if !is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    let e = env().await;
    let h = hex8();
    let (id1, id2, id3, id4) = (
        format!("{h}1111ffff"),
        format!("{h}2222ffff"),
        format!("{h}3333ffff"),
        format!("{h}4444ffff"),
    );
    let mut links = vec![e.bridge.clone()];
    let mut mgr2_slot: Option<Arc<NetworkManager>> = None;
    let result = {
        let links = &mut links;
        let slot = &mut mgr2_slot;
        let e = &e;
        std::panic::AssertUnwindSafe(async move {
            let mgr = e.mgr.clone();
            let sb1 = mgr.create_sandbox(&id1).await.map_err(|x| x.to_string())?;
            let sb2 = mgr.create_sandbox(&id2).await.map_err(|x| x.to_string())?;
            let mut r1 = req("keep");
            r1.port_bindings.push(PortBinding {
                container_port: 8080,
                proto: "tcp".into(),
                host_ip: "127.0.0.1".into(),
                host_port_start: 0,
                host_port_end: 0,
            });
            let ep1 = mgr.connect(&id1, &sb1, "bridge", r1).await.map_err(|x| x.to_string())?;
            let ep2 = mgr.connect(&id2, &sb2, "bridge", req("dead")).await.map_err(|x| x.to_string())?;
            let hport = ep1.ports[0].3;
            let _killer = Killer(vec![serve_hello(&sb1, 8080)]);
            assert!(poll(10, || read_host(hport)).is_some(), "published before restart");
            mgr.shutdown(true).await;
            assert!(read_host(hport).is_none(), "proxy stopped by shutdown");
            drop(mgr);

            let mgr2 = NetworkManager::start(e.cfg.clone(), e.db.clone()).await.map_err(|x| x.to_string())?;
            *slot = Some(mgr2.clone());
            mgr2.restore(&[(id1.clone(), sb1.clone())]).await;
            assert!(poll(10, || read_host(hport)).is_some(), "published after restore");
            assert!(!sb2.exists(), "dead container's sandbox released");
            // The live container's IP is not handed out again; the dead one's may be, later.
            let sb3 = mgr2.create_sandbox(&id3).await.map_err(|x| x.to_string())?;
            let ep3 = mgr2.connect(&id3, &sb3, "bridge", req("new")).await.map_err(|x| x.to_string())?;
            assert_ne!(ep3.ip, ep1.ip);
            assert_ne!(ep3.ip, ep2.ip, "freed addresses are not reused immediately");

            // Isolation: a container on an --internal user network cannot reach the default bridge.
            let subnet = format!("10.{}.{}.0/24", 200 + rand::random::<u8>() % 50, rand::random::<u8>());
            let create: NetworkCreate = serde_json::from_value(serde_json::json!({
                "Name": format!("inet{h}"), "Internal": true, "IPAM": {"Config": [{"Subnet": subnet}]}
            }))
            .map_err(|x| x.to_string())?;
            let (nid, _) = mgr2.create(create).await.map_err(|x| x.to_string())?;
            links.push(format!("bt-{}", &nid[..12]));
            let sb4 = mgr2.create_sandbox(&id4).await.map_err(|x| x.to_string())?;
            let ep4 = mgr2.connect(&id4, &sb4, &nid, req("iso")).await.map_err(|x| x.to_string())?;
            let (ok, _) = in_ns(&sb4, &["ping", "-c", "1", "-W", "1", &ep1.ip.to_string()]);
            assert!(!ok, "internal network must not reach the default bridge");
            let (ok, _) = in_ns(&sb1, &["ping", "-c", "1", "-W", "1", &ep4.ip.to_string()]);
            assert!(!ok, "default bridge must not reach another bridge");
            let (ok, _) = in_ns(&sb3, &["ping", "-c", "1", "-W", "2", &ep1.ip.to_string()]);
            assert!(ok, "same bridge still works");
            for l in std::fs::read_dir(format!("/sys/class/net/{}/brif", e.bridge)).map_err(|x| x.to_string())? {
                links.push(l.map_err(|x| x.to_string())?.file_name().to_string_lossy().into_owned());
            }
            for id in [&id1, &id3, &id4] {
                mgr2.release_container(id).await;
            }
            mgr2.remove(&nid).await.map_err(|x| x.to_string())?;
            Ok::<(), String>(())
        })
        .catch_unwind()
        .await
    };
    match &mgr2_slot {
        Some(m) => m.destroy().await,
        None => e.mgr.destroy().await,
    }
    match result {
        Err(p) => std::panic::resume_unwind(p),
        Ok(Err(m)) => panic!("{m}"),
        Ok(Ok(())) => {}
    }
    assert_clean(&e, &links);
}

fn ip_ok(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A parent link created for a test (a veth pair: this host's kernel may lack CONFIG_DUMMY),
/// deleted on drop (also on panic).
struct ParentLink(String);
impl ParentLink {
    fn new(name: &str, mtu: u32) -> Self {
        let peer = format!("{name}p");
        let m = mtu.to_string();
        let ok = ip_ok(&[
            "link", "add", name, "mtu", &m, "type", "veth", "peer", "name", &peer, "mtu", &m,
        ]) && ip_ok(&["link", "set", name, "up"])
            && ip_ok(&["link", "set", &peer, "up"]);
        let me = ParentLink(name.to_string());
        assert!(ok, "creating parent link {name}");
        me
    }

    /// Whether the kernel can create a `kind` link on this parent (ipvlan, vlan).
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
}
impl Drop for ParentLink {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

/// Host links whose names our macvlan/ipvlan endpoints use before moving into a sandbox.
fn host_sublinks() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    (n.starts_with("mv") || n.starts_with("iv"))
                        && n.len() == 12
                        && n[2..].bytes().all(|b| b.is_ascii_hexdigit())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn macvlan_ipvlan_endpoints_dns_vlan_and_cleanup() {
    if !is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    let e = env().await;
    let h = hex8();
    let parent = ParentLink::new(&format!("bd{h}"), 1400);
    let has_ipvlan = parent.supports(&["ipvlan", "mode", "l2"]);
    let has_vlan = parent.supports(&["vlan", "id", "5"]);
    let mgr = e.mgr.clone();
    let pname = parent.0.clone();
    let before = host_sublinks();
    let result = {
        std::panic::AssertUnwindSafe(async move {
            for (i, driver) in ["macvlan", "ipvlan"].into_iter().enumerate() {
                let third = rand::random::<u8>();
                let subnet = format!("10.{}.{third}.0/24", 200 + rand::random::<u8>() % 50);
                let name = format!("t{driver}{h}");
                let mode_key = if driver == "macvlan" { "macvlan_mode" } else { "ipvlan_mode" };
                let mode = if driver == "macvlan" { "bridge" } else { "l2" };
                let create: NetworkCreate = serde_json::from_value(serde_json::json!({
                    "Name": name, "Driver": driver,
                    "IPAM": {"Config": [{"Subnet": subnet}]},
                    "Options": {"parent": pname, mode_key: mode},
                }))
                .map_err(|x| x.to_string())?;
                let (nid, _) = mgr.create(create).await.map_err(|x| x.to_string())?;
                let info = mgr.get(&name).map_err(|x| x.to_string())?;
                assert_eq!(info.driver, driver);
                assert!(info.is_user);
                assert_eq!(info.bridge, None);
                // One network per parent.
                let again: NetworkCreate = serde_json::from_value(serde_json::json!({
                    "Name": format!("{name}x"), "Driver": driver, "Options": {"parent": pname},
                    "IPAM": {"Config": [{"Subnet": format!("10.{}.{third}.0/24", 199 - i)}]},
                }))
                .map_err(|x| x.to_string())?;
                let err = mgr.create(again).await.err().map(|x| x.to_string()).unwrap_or_default();
                assert!(err.contains(&format!("is already using parent interface {pname}")), "{err}");

                let (ida, idb) = (format!("{h}{i}aaa0001"), format!("{h}{i}bbb0002"));
                let sba = mgr.create_sandbox(&ida).await.map_err(|x| x.to_string())?;
                let sbb = mgr.create_sandbox(&idb).await.map_err(|x| x.to_string())?;
                let mut ra = req("alpha");
                // Ports are ignored on macvlan/ipvlan, as dockerd does.
                ra.port_bindings.push(PortBinding {
                    container_port: 80,
                    proto: "tcp".into(),
                    host_ip: String::new(),
                    host_port_start: 0,
                    host_port_end: 0,
                });
                if driver == "ipvlan" && !has_ipvlan {
                    // Kernel without CONFIG_IPVLAN: the join fails cleanly and leaves nothing.
                    eprintln!("kernel lacks ipvlan: checking the failure path only");
                    let err = mgr.connect(&ida, &sba, &name, ra).await.err().map(|x| x.to_string()).unwrap_or_default();
                    assert!(err.contains("create ipvlan link"), "{err}");
                    mgr.release_container(&ida).await;
                    mgr.release_container(&idb).await;
                    mgr.remove(&name).await.map_err(|x| x.to_string())?;
                    continue;
                }
                let epa = mgr.connect(&ida, &sba, &name, ra).await.map_err(|x| x.to_string())?;
                assert!(epa.ports.is_empty());
                let mut rb = req("beta");
                let fixed: Ipv4Addr = format!("10.{}.{third}.77", subnet.split('.').nth(1).unwrap_or("0"))
                    .parse()
                    .map_err(|_| "ip".to_string())?;
                rb.ipv4 = Some(fixed);
                let epb = mgr.connect(&idb, &sbb, &name, rb).await.map_err(|x| x.to_string())?;
                assert_eq!(epb.ip, fixed);
                if driver == "ipvlan" {
                    assert_eq!(epa.mac, "");
                } else {
                    assert!(epa.mac.starts_with("02:42:"), "{}", epa.mac);
                }
                let (_, link) = in_ns(&sba, &["ip", "-o", "link", "show", "eth0"]);
                assert!(link.contains("mtu 1400"), "{link}");
                let (_, route) = in_ns(&sba, &["ip", "-4", "route"]);
                assert!(route.contains(&format!("default via {}", epa.gateway.map(|g| g.to_string()).unwrap_or_default())), "{route}");
                let _killer = Killer(vec![serve_hello(&sba, 8080)]);
                let got = poll(10, || {
                    let (_, out) = in_ns(&sbb, &["nc", "-w", "2", &epa.ip.to_string(), "8080"]);
                    out.contains("hello").then_some(out)
                });
                assert!(got.is_some(), "{driver}: nc beta -> alpha:8080");
                // nsenter keeps the host's resolv.conf: ask the embedded DNS directly.
                let (_, out) = in_ns(&sba, &["nslookup", "beta", "127.0.0.11"]);
                assert!(out.contains(&fixed.to_string()), "{out}");
                let (_, out) = in_ns(&sbb, &["nslookup", "alpha", "127.0.0.11"]);
                assert!(out.contains(&epa.ip.to_string()), "{out}");
                let ins = mgr.inspect_json(&nid, &|_| None);
                assert_eq!(ins["Driver"], driver);
                assert_eq!(ins["Options"]["parent"], pname.as_str());
                assert_eq!(ins["Containers"].as_object().map(|o| o.len()), Some(2), "{ins}");
                let err = mgr.remove(&name).await.err().map(|x| x.to_string()).unwrap_or_default();
                assert!(err.contains("has active endpoints"), "{err}");
                mgr.disconnect(&idb, &name, false).await.map_err(|x| x.to_string())?;
                let (_, links) = in_ns(&sbb, &["ip", "-o", "link"]);
                assert!(!links.contains("eth0"), "{links}");
                for id in [&ida, &idb] {
                    mgr.release_container(id).await;
                }
                mgr.remove(&name).await.map_err(|x| x.to_string())?;
                assert!(Path::new("/sys/class/net").join(&pname).exists(), "user parent kept");
            }

            // No parent: a dummy dm-<id12> parent, created and deleted by us; --internal: no route.
            let third = rand::random::<u8>();
            let create: NetworkCreate = serde_json::from_value(serde_json::json!({
                "Name": format!("tint{h}"), "Driver": "macvlan", "Internal": true,
                "IPAM": {"Config": [{"Subnet": format!("10.{}.{third}.0/24", 200 + rand::random::<u8>() % 50)}]},
            }))
            .map_err(|x| x.to_string())?;
            let (nid, _) = mgr.create(create).await.map_err(|x| x.to_string())?;
            let dm = format!("dm-{}", &nid[..12]);
            assert!(Path::new("/sys/class/net").join(&dm).exists());
            let id = format!("{h}9ccc0003");
            let sb = mgr.create_sandbox(&id).await.map_err(|x| x.to_string())?;
            mgr.connect(&id, &sb, &nid, req("gamma")).await.map_err(|x| x.to_string())?;
            let (_, route) = in_ns(&sb, &["ip", "-4", "route"]);
            assert!(!route.contains("default"), "{route}");
            mgr.release_container(&id).await;
            mgr.remove(&nid).await.map_err(|x| x.to_string())?;
            assert!(!Path::new("/sys/class/net").join(&dm).exists(), "{dm} left behind");

            // VLAN sub-interface parent: created if missing, deleted on rm.
            let vlan = format!("{pname}.77");
            let create: NetworkCreate = serde_json::from_value(serde_json::json!({
                "Name": format!("tvlan{h}"), "Driver": "macvlan", "Options": {"parent": vlan},
                "IPAM": {"Config": [{"Subnet": format!("10.{}.{third}.0/24", 199)}]},
            }))
            .map_err(|x| x.to_string())?;
            if has_vlan {
                let (nid, _) = mgr.create(create).await.map_err(|x| x.to_string())?;
                assert!(Path::new("/sys/class/net").join(&vlan).exists());
                mgr.remove(&nid).await.map_err(|x| x.to_string())?;
                assert!(!Path::new("/sys/class/net").join(&vlan).exists(), "{vlan} left behind");
            } else {
                eprintln!("kernel lacks 8021q: checking the failure path only");
                let err = mgr.create(create).await.err().map(|x| x.to_string()).unwrap_or_default();
                assert!(err.contains("create vlan link"), "{err}");
                assert!(mgr.get(&format!("tvlan{h}")).is_err());
            }
            // A parent that does not exist and is no VLAN name: dockerd's message.
            let create: NetworkCreate = serde_json::from_value(serde_json::json!({
                "Name": format!("tbad{h}"), "Driver": "ipvlan", "Options": {"parent": format!("nx{h}")},
            }))
            .map_err(|x| x.to_string())?;
            let err = mgr.create(create).await.err().map(|x| x.to_string()).unwrap_or_default();
            assert!(err.contains("required interface name format is: name.vlan_id"), "{err}");
            Ok::<(), String>(())
        })
        .catch_unwind()
        .await
    };
    e.mgr.destroy().await;
    let after = host_sublinks();
    drop(parent);
    match result {
        Err(p) => std::panic::resume_unwind(p),
        Ok(Err(m)) => panic!("{m}"),
        Ok(Ok(())) => {}
    }
    let leaked: Vec<_> = after.iter().filter(|l| !before.contains(l)).collect();
    assert!(leaked.is_empty(), "sub-links left on the host: {leaked:?}");
    assert_clean(&e, &[]);
}
