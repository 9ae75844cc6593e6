//! Test harness: a berthd on private directories and socket, driven through the real `docker`
//! CLI and our `berth` CLI. Everything it creates (mounts, shims, containers) is cleaned up
//! when the `Daemon` is dropped.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Directory holding the workspace's built binaries (target/debug or target/release).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    // target/<profile>/deps/<test> → target/<profile>
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// The real docker CLI.
pub const DOCKER: &str = "/usr/local/bin/docker";

/// Whether the end-to-end prerequisites exist (root, docker CLI, built binaries).
pub fn prerequisites() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("end-to-end tests need root".into());
    }
    for b in ["berthd", "berth", "berth-shim"] {
        if !bin_dir().join(b).exists() {
            return Err(format!(
                "{} is not built (run `cargo build --workspace --bins`)",
                b
            ));
        }
    }
    if !Path::new(DOCKER).exists() {
        return Err("the docker CLI is not installed at /usr/local/bin/docker".into());
    }
    Ok(())
}

/// A running berthd.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    child: Option<Child>,
    pub extra_args: Vec<String>,
}

/// Output of a CLI call, with helpers.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    /// Panics with the full output unless the exit code is 0.
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "command failed: stdout={:?} stderr={:?}",
            self.stdout, self.stderr
        );
        self
    }
    /// Panics with the full output unless stdout or stderr contains `text`.
    pub fn assert_says(&self, text: &str) {
        assert!(
            format!("{}{}", self.stdout, self.stderr).contains(text),
            "wanted {text:?} in stdout={:?} stderr={:?}",
            self.stdout,
            self.stderr
        );
    }
    /// Trimmed stdout.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }
}

impl Daemon {
    /// Starts berthd with private roots; waits (bounded) until it answers `/_ping`.
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// Starts berthd with extra flags.
    pub fn start_with(extra: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-e2e")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let sock = dir.path().join("berth.sock");
        let mut d = Daemon {
            dir,
            sock,
            child: None,
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let root = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("berthd.log"))
            .expect("log");
        std::fs::write(root.join("daemon.json"), "{}").expect("daemon.json");
        let child = Command::new(bin_dir().join("berthd"))
            .arg("--data-root")
            .arg(root.join("data"))
            .arg("--exec-root")
            .arg(root.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--pidfile")
            .arg(root.join("berthd.pid"))
            .arg("--config-file")
            .arg(root.join("daemon.json"))
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = UnixStream::connect(&self.sock) {
                let _ = s.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                if buf.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not start; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// berthd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// The daemon's host string.
    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    /// Runs the real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Out {
        self.docker_stdin(args, None)
    }

    /// Runs the docker CLI with bytes on stdin.
    pub fn docker_stdin(&self, args: &[&str], input: Option<&[u8]>) -> Out {
        run_cli(
            DOCKER,
            "DOCKER_HOST",
            &self.host(),
            &self.client_config(),
            args,
            input,
        )
    }

    /// Runs the berth CLI against this daemon.
    pub fn berth(&self, args: &[&str]) -> Out {
        self.berth_stdin(args, None)
    }

    /// Runs the berth CLI with bytes on stdin.
    pub fn berth_stdin(&self, args: &[&str], input: Option<&[u8]>) -> Out {
        let bin = bin_dir().join("berth");
        run_cli(
            bin.to_str().unwrap_or("berth"),
            "BERTH_HOST",
            &self.host(),
            &self.client_config(),
            args,
            input,
        )
    }

    /// The docker CLI's config directory for this daemon's clients: one per daemon, so tests
    /// running side by side never rewrite each other's `docker login` credentials.
    pub fn client_config(&self) -> PathBuf {
        self.dir.path().join("docker-config")
    }

    /// Kills berthd with SIGKILL (containers and shims stay).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts berthd again on the same roots.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Builds a busybox image from the host's static busybox and imports it as `name`.
    pub fn make_busybox(&self, name: &str) {
        let tar = busybox_rootfs_tar(self.dir.path());
        let out = self.docker(&[
            "import",
            "-c",
            "CMD [\"sh\"]",
            tar.to_str().unwrap_or(""),
            name,
        ]);
        assert_eq!(
            out.code,
            0,
            "import failed: {} {}\n{}",
            out.stdout,
            out.stderr,
            self.log()
        );
    }

    /// Shim processes still alive for this daemon.
    pub fn shim_pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        let shims = self.dir.path().join("exec/shims");
        if let Ok(rd) = std::fs::read_dir(shims) {
            for e in rd.flatten() {
                if let Ok(s) = std::fs::read_to_string(e.path().join("shim.pid"))
                    && let Ok(pid) = s.trim().parse::<i32>()
                    && Path::new(&format!("/proc/{pid}")).exists()
                {
                    pids.push(pid);
                }
            }
        }
        pids
    }
}

fn run_cli(
    bin: &str,
    env: &str,
    host: &str,
    config: &Path,
    args: &[&str],
    input: Option<&[u8]>,
) -> Out {
    let mut cmd = Command::new(bin);
    cmd.args(args).env(env, host).env("DOCKER_CONFIG", config);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {bin}: {e}"));
    if let Some(data) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    // Drain both pipes while waiting, so large outputs (save to stdout) cannot block the child.
    let drain = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    };
    let out_t = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err_t = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("{bin} {args:?} did not finish within 120s");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for {bin}: {e}"),
        }
    };
    Out::from(Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    })
}

/// A tar of a minimal rootfs: /bin/busybox and a symlink per applet, plus /etc and /tmp.
pub fn busybox_rootfs_tar(dir: &Path) -> PathBuf {
    let tar_path = dir.join("busybox-rootfs.tar");
    if tar_path.exists() {
        return tar_path;
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static installed");
    let list = Command::new(bb)
        .arg("--list")
        .output()
        .expect("busybox --list");
    let f = std::fs::File::create(&tar_path).expect("tar file");
    let mut b = tar::Builder::new(f);
    let mut dir_hdr = |name: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, std::io::empty()).expect("dir");
    };
    for d in [
        "bin", "etc", "tmp", "root", "proc", "sys", "dev", "var", "home",
    ] {
        dir_hdr(d, if d == "tmp" { 0o1777 } else { 0o755 });
    }
    let data = std::fs::read(bb).expect("read busybox");
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mode(0o755);
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "bin/busybox", data.as_slice())
        .expect("busybox");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet == "busybox" || applet.is_empty() {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .expect("link");
    }
    for (name, body) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, body.as_bytes()).expect("file");
    }
    b.finish().expect("finish tar");
    tar_path
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.docker(&["ps", "-aq"]);
            for id in ids.stdout.split_whitespace() {
                let _ = self.docker(&["rm", "-f", id]);
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in self.shim_pids() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Unmount anything left under our directory, deepest first.
        let prefix = self.dir.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// Which client drives a scenario: every scenario runs through both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    /// The real docker CLI.
    Docker,
    /// Our `berth` CLI.
    Berth,
}

/// Both clients, for `for cli in BOTH`.
pub const BOTH: [Cli; 2] = [Cli::Docker, Cli::Berth];

impl Daemon {
    /// Runs `args` through the chosen client.
    pub fn cli(&self, cli: Cli, args: &[&str]) -> Out {
        self.cli_stdin(cli, args, None)
    }

    /// Runs `args` through the chosen client with bytes on stdin.
    pub fn cli_stdin(&self, cli: Cli, args: &[&str], input: Option<&[u8]>) -> Out {
        match cli {
            Cli::Docker => self.docker_stdin(args, input),
            Cli::Berth => self.berth_stdin(args, input),
        }
    }

    /// Starts a long-running client process (e.g. `logs -f`, `events`, `attach`) with piped
    /// stdio; the caller reads and kills it.
    pub fn spawn_cli(&self, cli: Cli, args: &[&str]) -> Child {
        let (bin, env) = match cli {
            Cli::Docker => (PathBuf::from(DOCKER), "DOCKER_HOST"),
            Cli::Berth => (bin_dir().join("berth"), "BERTH_HOST"),
        };
        Command::new(bin)
            .args(args)
            .env(env, self.host())
            .env("DOCKER_CONFIG", self.client_config())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn client")
    }

    /// `inspect -f <fmt> <target>` through docker, trimmed.
    pub fn inspect(&self, fmt: &str, target: &str) -> String {
        self.docker(&["inspect", "-f", fmt, target])
            .ok()
            .out()
            .to_string()
    }

    /// Polls `inspect -f fmt target` until it equals `want` (deadline 20s).
    pub fn wait_inspect(&self, fmt: &str, target: &str, want: &str) {
        let mut last = String::new();
        let ok = poll(Duration::from_secs(20), || {
            let o = self.docker(&["inspect", "-f", fmt, target]);
            last = o.out().to_string();
            last == want
        });
        assert!(
            ok,
            "{target}: {fmt} stayed {last:?}, wanted {want:?}\n{}",
            self.log()
        );
    }
}

/// Polls `cond` every 20 ms until it holds or `limit` passes; returns whether it held.
pub fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads a child's stdout on a thread into a shared buffer, so tests can poll it.
pub fn collect_stdout(child: &mut Child) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    if let Some(mut out) = child.stdout.take() {
        let b = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match out.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => b
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend_from_slice(&chunk[..n]),
                }
            }
        });
    }
    buf
}

/// The buffer as text.
pub fn text(buf: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// Kills a spawned client by its pid and reaps it.
pub fn stop_child(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}
