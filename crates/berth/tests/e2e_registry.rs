//! Images over the wire through the real docker CLI and berthd: login, push and pull against
//! berth-registry with htpasswd auth (plain and over TLS with a private CA in berthd's certs.d),
//! and against Debian's reference registry (distribution 2.8); `berth registry serve`.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Daemon;

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A registry process killed (by PID) when dropped.
struct Registry {
    child: Child,
    port: u16,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "registry on {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start(bin: &str, args: &[&str], config: &std::path::Path, port: u16) -> Registry {
    let child = Command::new(bin)
        .args(args)
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
    let r = Registry { child, port };
    wait_listening(port);
    r
}

#[test]
fn push_pull_login_against_berth_registry_with_htpasswd() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    let dir = d.dir.path().join("registry");
    std::fs::create_dir_all(&dir).unwrap();
    let reg_bin = common::bin_dir().join("berth-registry");
    let line = Command::new(&reg_bin)
        .args(["htpasswd", "alice", "s3cret"])
        .output()
        .unwrap();
    assert!(line.status.success());
    std::fs::write(dir.join("htpasswd"), &line.stdout).unwrap();
    let port = free_port();
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: berth\n    path: {}\n",
            dir.join("data").display(),
            dir.join("htpasswd").display()
        ),
    )
    .unwrap();
    let reg = start(reg_bin.to_str().unwrap(), &["serve"], &cfg, port);
    let host = format!("127.0.0.1:{}", reg.port);
    let image = format!("{host}/team/bb:v1");

    d.docker(&["tag", "busybox", &image]).ok();
    // Without credentials the registry refuses, and nothing is pushed.
    let o = d.docker(&["push", &image]);
    assert_ne!(o.code, 0, "{}", o.stdout);
    // Wrong password: Docker's unauthorized error; right one: Login Succeeded.
    let o = d.docker(&["login", "-u", "alice", "-p", "wrong", &host]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("unauthorized"), "{}", o.stderr);
    let o = d
        .docker(&["login", "-u", "alice", "-p", "s3cret", &host])
        .ok();
    assert!(o.stdout.contains("Login Succeeded"), "{}", o.stdout);

    let o = d.docker(&["push", &image]).ok();
    assert!(
        o.stdout.contains("The push refers to repository"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("v1: digest: sha256:"), "{}", o.stdout);
    // A second push finds the layer there.
    let o = d.docker(&["push", &image]).ok();
    assert!(o.stdout.contains("Layer already exists"), "{}", o.stdout);

    d.docker(&["rmi", &image]).ok();
    let o = d.docker(&["pull", &image]).ok();
    assert!(
        o.stdout.contains("Status: Downloaded newer image for"),
        "{}",
        o.stdout
    );
    let digests = d
        .docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &image])
        .ok();
    assert!(
        digests.out().contains(&format!("{host}/team/bb@sha256:")),
        "{}",
        digests.out()
    );
    let o = d
        .docker(&["run", "--rm", &image, "echo", "pulled and ran"])
        .ok();
    assert_eq!(o.out(), "pulled and ran");
    let o = d.docker(&["pull", &image]).ok();
    assert!(o.stdout.contains("Image is up to date"), "{}", o.stdout);

    // Unknown manifest: Docker's words, exit 1.
    let o = d.docker(&["pull", &format!("{host}/team/bb:nope")]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains(&format!(
            "manifest for {host}/team/bb:nope not found: manifest unknown"
        )),
        "{}",
        o.stderr
    );
    d.docker(&["logout", &host]).ok();
}

#[test]
fn push_pull_against_the_reference_registry() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let Ok(path) = which("docker-registry") else {
        eprintln!("SKIP: docker-registry (Debian) is not installed");
        return;
    };
    let d = Daemon::start();
    d.make_busybox("busybox");
    let dir = d.dir.path().join("distribution");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let reg = start(&path, &["serve"], &cfg, port);
    let image = format!("127.0.0.1:{}/lib/busybox:ref", reg.port);
    d.docker(&["tag", "busybox", &image]).ok();
    let o = d.docker(&["push", &image]).ok();
    assert!(o.stdout.contains("ref: digest: sha256:"), "{}", o.stdout);
    d.docker(&["rmi", &image]).ok();
    d.docker(&["pull", &image]).ok();
    let o = d
        .docker(&["run", "--rm", &image, "echo", "from distribution"])
        .ok();
    assert_eq!(o.out(), "from distribution");
}

fn which(name: &str) -> Result<String, ()> {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = std::path::Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p.display().to_string());
        }
    }
    Err(())
}

/// berth-registry without auth on a free port, storing under the daemon's temp dir.
fn plain_registry(d: &Daemon, name: &str, port: u16) -> Registry {
    let dir = d.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let bin = common::bin_dir().join("berth-registry");
    start(bin.to_str().unwrap(), &["serve"], &cfg, port)
}

/// The JSON lines of `POST /images/{name}/push[?tag=]` straight from the daemon's socket.
fn raw_push(d: &Daemon, name: &str, tag: Option<&str>) -> Vec<serde_json::Value> {
    let q = tag.map(|t| format!("?tag={t}")).unwrap_or_default();
    let o = Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(&d.sock)
        .args(["-X", "POST", "-H", "X-Registry-Auth: e30="])
        .arg(format!("http://x/v1.41/images/{name}/push{q}"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn push_aux_result_and_all_tags_with_docker_and_berth() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    let reg = plain_registry(&d, "reg-all", free_port());
    let host = format!("127.0.0.1:{}", reg.port);

    // 1. dockerd's aux message follows the digest line, with the manifest's digest and size.
    let one = format!("{host}/multi:one");
    d.docker(&["tag", "busybox", &one]).ok();
    let lines = raw_push(&d, &format!("{host}/multi"), Some("one"));
    let n = lines.len();
    let status = lines[n - 2]["status"].as_str().unwrap_or("").to_string();
    assert!(status.starts_with("one: digest: sha256:"), "{lines:?}");
    let aux = &lines[n - 1];
    assert_eq!(aux["progressDetail"], serde_json::json!({}), "{aux}");
    assert_eq!(aux["aux"]["Tag"], "one");
    let digest = aux["aux"]["Digest"].as_str().unwrap();
    let size = aux["aux"]["Size"].as_u64().unwrap();
    assert_eq!(status, format!("one: digest: {digest} size: {size}"));
    // GET /distribution/{name}/json: the same descriptor, and the config's platform.
    let o = Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(&d.sock)
        .arg(format!("http://x/v1.41/distribution/{one}/json"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["Descriptor"]["digest"], digest, "{v}");
    assert_eq!(v["Descriptor"]["size"], size, "{v}");
    assert_eq!(v["Platforms"][0]["os"], "linux", "{v}");
    let o = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--unix-socket",
        ])
        .arg(&d.sock)
        .arg(format!("http://x/v1.41/distribution/{host}/nosuch:1/json"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "404");

    // 2. `docker push -a`: every local tag of the repository, then both pull back.
    let two = format!("{host}/multi:two");
    d.make_busybox(&two);
    let o = d.docker(&["push", "-a", &format!("{host}/multi")]).ok();
    assert_eq!(
        o.stdout.matches("The push refers to repository").count(),
        1,
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("one: digest: sha256:"), "{}", o.stdout);
    assert!(o.stdout.contains("two: digest: sha256:"), "{}", o.stdout);
    let ids: Vec<String> = [&one, &two]
        .iter()
        .map(|r| {
            d.docker(&["image", "inspect", "-f", "{{.Id}}", r])
                .ok()
                .out()
                .to_string()
        })
        .collect();
    d.docker(&["rmi", &one, &two]).ok();
    for (r, id) in [&one, &two].iter().zip(&ids) {
        let o = d.docker(&["pull", r]).ok();
        assert!(o.stdout.contains("Downloaded newer image"), "{}", o.stdout);
        let got = d.docker(&["image", "inspect", "-f", "{{.Id}}", r]).ok();
        assert_eq!(got.out(), id);
    }

    // 3. `berth push -a` to another repository.
    let b1 = format!("{host}/bmulti:x1");
    let b2 = format!("{host}/bmulti:x2");
    d.docker(&["tag", &one, &b1]).ok();
    d.docker(&["tag", &two, &b2]).ok();
    let o = d.berth(&["push", "-a", &format!("{host}/bmulti")]).ok();
    assert!(o.stdout.contains("x1: digest: sha256:"), "{}", o.stdout);
    assert!(o.stdout.contains("x2: digest: sha256:"), "{}", o.stdout);
    d.docker(&["rmi", &b1, &b2]).ok();
    d.berth(&["pull", &b2]).ok();
    let got = d.docker(&["image", "inspect", "-f", "{{.Id}}", &b2]).ok();
    assert_eq!(got.out(), ids[1]);
}

#[test]
fn docker_hub_pull_through_registry_mirror_with_fallback() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    // A dead mirror first: dockerd falls back to the next one.
    let dead = free_port();
    let d = Daemon::start_with(&[
        "--registry-mirror",
        &format!("http://127.0.0.1:{dead}"),
        "--registry-mirror",
        &format!("http://127.0.0.1:{port}"),
    ]);
    let reg = plain_registry(&d, "mirror", port);
    d.make_busybox("seed");
    let on_mirror = format!("127.0.0.1:{}/library/busybox:latest", reg.port);
    d.docker(&["tag", "seed", &on_mirror]).ok();
    d.docker(&["push", &on_mirror]).ok();
    let id = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "seed"])
        .ok();
    d.docker(&["rmi", "seed", &on_mirror]).ok();

    let o = d.docker(&["pull", "busybox"]);
    assert_eq!(o.code, 0, "{} {}\n{}", o.stdout, o.stderr, d.log());
    assert!(
        o.stdout.contains("Pulling from library/busybox"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout
            .contains("Status: Downloaded newer image for busybox:latest"),
        "{}",
        o.stdout
    );
    let got = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
        .ok();
    assert_eq!(got.out(), id.out());
    let o = d
        .docker(&["run", "--rm", "busybox", "echo", "via mirror"])
        .ok();
    assert_eq!(o.out(), "via mirror");
    // Only docker.io uses mirrors: the dead mirror's address as a registry is not rerouted.
    let o = d.docker(&["pull", &format!("127.0.0.1:{dead}/library/busybox")]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("connection refused"), "{}", o.stderr);
}

/// A global IPv4 address of this host that is not on a container bridge. TLS registries are
/// tested there: loopback registries are insecure by default (dockerd's 127.0.0.0/8), so
/// certificates are only verified, and certs.d only read, for other addresses.
fn host_ip() -> Option<String> {
    let o = Command::new("ip")
        .args(["-o", "-4", "addr", "show", "scope", "global"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&o.stdout).lines().find_map(|l| {
        let mut w = l.split_whitespace();
        let ifname = w.nth(1)?;
        let bridge = ["berth", "bb", "bt-", "br-", "docker", "veth"]
            .iter()
            .any(|p| ifname.starts_with(p));
        let addr = w.skip_while(|x| *x != "inet").nth(1)?;
        (!bridge).then(|| addr.split('/').next().unwrap_or(addr).to_string())
    })
}

fn wait_listening_on(ip: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect((ip, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "registry on {ip}:{port} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn push_pull_over_tls_with_a_private_ca_in_certs_d() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let Some(ip) = host_ip() else {
        eprintln!("SKIP: no non-loopback IPv4 address to serve TLS on");
        return;
    };
    // A private CA and a server certificate for the host's address signed by it.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "berth e2e CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let srv_key = rcgen::KeyPair::generate().unwrap();
    let mut srv_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    srv_params.subject_alt_names = vec![
        rcgen::SanType::IpAddress(ip.parse().unwrap()),
        rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()),
    ];
    let srv = srv_params.signed_by(&srv_key, &ca, &ca_key).unwrap();

    let certs = tempfile::Builder::new()
        .prefix("berth-e2e-certs")
        .tempdir_in("/tmp")
        .unwrap();
    let certs_d = certs.path().join("certs.d");
    let d = Daemon::start_with(&["--registry-certs-dir", certs_d.to_str().unwrap()]);
    d.make_busybox("busybox");

    let dir = d.dir.path().join("registry-tls");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("server.crt"), srv.pem()).unwrap();
    std::fs::write(dir.join("server.key"), srv_key.serialize_pem()).unwrap();
    let reg_bin = common::bin_dir().join("berth-registry");
    let line = Command::new(&reg_bin)
        .args(["htpasswd", "carol", "tls-pw"])
        .output()
        .unwrap();
    assert!(line.status.success());
    std::fs::write(dir.join("htpasswd"), &line.stdout).unwrap();
    let port = free_port();
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {data}\nhttp:\n  addr: {ip}:{port}\n  tls:\n    certificate: {crt}\n    key: {key}\nauth:\n  htpasswd:\n    realm: berth\n    path: {pw}\n",
            data = dir.join("data").display(),
            crt = dir.join("server.crt").display(),
            key = dir.join("server.key").display(),
            pw = dir.join("htpasswd").display(),
        ),
    )
    .unwrap();
    let child = Command::new(&reg_bin)
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _reg = Registry { child, port };
    wait_listening_on(&ip, port);
    let host = format!("{ip}:{port}");
    let image = format!("{host}/team/bb:tls");
    d.docker(&["tag", "busybox", &image]).ok();

    // Without the CA in certs.d: Docker's x509 error, for login and push alike.
    let unknown = format!(
        "Get \"https://{host}/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority"
    );
    let o = d.docker(&["login", "-u", "carol", "-p", "tls-pw", &host]);
    assert_ne!(o.code, 0, "{}", o.stdout);
    assert!(o.stderr.contains(&unknown), "{}", o.stderr);
    let o = d.docker(&["push", &image]);
    assert_ne!(o.code, 0, "{}", o.stdout);
    assert!(o.stderr.contains(&unknown), "{}", o.stderr);

    // With it (read per request, as dockerd does: no restart needed).
    let host_dir = certs_d.join(&host);
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::write(host_dir.join("ca.crt"), ca.pem()).unwrap();
    let o = d.docker(&["push", &image]);
    assert_ne!(o.code, 0, "no credentials yet: {}", o.stdout);
    assert!(!o.stderr.contains("x509"), "{}", o.stderr);
    let o = d
        .docker(&["login", "-u", "carol", "-p", "tls-pw", &host])
        .ok();
    assert!(o.stdout.contains("Login Succeeded"), "{}", o.stdout);
    let o = d.docker(&["push", &image]).ok();
    assert!(o.stdout.contains("tls: digest: sha256:"), "{}", o.stdout);
    d.docker(&["rmi", &image]).ok();
    let o = d.docker(&["pull", &image]).ok();
    assert!(
        o.stdout.contains("Status: Downloaded newer image for"),
        "{}",
        o.stdout
    );
    let o = d
        .docker(&["run", "--rm", &image, "echo", "pulled over tls"])
        .ok();
    assert_eq!(o.out(), "pulled over tls");

    // A client certificate without its key is refused with Docker's words.
    std::fs::write(host_dir.join("client.cert"), srv.pem()).unwrap();
    let o = d.docker(&["pull", &image]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr
            .contains("missing key client.key for client certificate client.cert"),
        "{}",
        o.stderr
    );
    d.docker(&["logout", &host]).ok();
}

#[test]
fn berth_registry_serve_execs_berth_registry() {
    let berth = common::bin_dir().join("berth");
    if !berth.exists() || !common::bin_dir().join("berth-registry").exists() {
        panic!("build berth and berth-registry first (cargo build -p berth-cli -p berth-registry)");
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let child = Command::new(&berth)
        .args(["registry", "serve"])
        .arg(&cfg)
        .env("PATH", "/nonexistent")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _reg = Registry { child, port };
    // `/v2/` answers 200 from the very process we started (exec keeps the PID).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .arg(format!("http://127.0.0.1:{port}/v2/"))
            .output()
            .unwrap();
        if String::from_utf8_lossy(&o.stdout) == "200" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "berth registry serve did not answer"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "berth-registry");

    // garbage-collect passes --dry-run through.
    let o = Command::new(&berth)
        .args(["registry", "garbage-collect", "--dry-run"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
