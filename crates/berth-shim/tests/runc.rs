//! Root integration tests: the real `berth-shim` binary driving Debian's `runc` with a busybox
//! bundle built in a temp dir. Skipped (with a message) when not root or runc is missing.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_shim::client::{LogConfig, ShimClient, ShimError, SpawnOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RUNC: &str = "/usr/sbin/runc";

fn usable() -> bool {
    let ok = nix::unistd::geteuid().is_root()
        && Path::new(RUNC).exists()
        && Path::new("/bin/busybox").exists();
    if !ok {
        eprintln!("skipping: needs root, {RUNC} and /bin/busybox");
    }
    ok
}

struct Fixture {
    dir: tempfile::TempDir,
    id: String,
}

impl Fixture {
    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    fn log(&self) -> PathBuf {
        self.dir.path().join("c-json.log")
    }
    fn opts(&self, tty: bool, stdin: bool) -> SpawnOptions {
        SpawnOptions {
            shim_binary: PathBuf::from(env!("CARGO_BIN_EXE_berth-shim")),
            id: self.id.clone(),
            bundle: self.bundle(),
            state_dir: self.state(),
            runtime: PathBuf::from(RUNC),
            runtime_root: self.dir.path().join("runc-root"),
            tty,
            stdin,
            stdin_once: stdin,
            log: LogConfig {
                driver: "json-file".into(),
                path: self.log(),
                max_size: None,
                max_file: 1,
            },
            sealed_runtime: None,
        }
    }
}

/// A failed test must not leave its container behind: kill init, then give the shim time to
/// run `runtime delete` (which also removes the cgroup) before the temp dir goes.
impl Drop for Fixture {
    fn drop(&mut self) {
        let read_pid = |name: &str| {
            std::fs::read_to_string(self.state().join(name))
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
        };
        let (Some(shim), Some(init)) = (read_pid("shim.pid"), read_pid("init.pid")) else {
            return;
        };
        let alive = || {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(shim), None).is_ok()
                && self.state().join("shim.sock").exists()
        };
        if alive() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(init),
                nix::sys::signal::Signal::SIGKILL,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// A bundle whose rootfs is a static busybox, running `args`.
fn fixture(name: &str, args: &[&str], tty: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("berth-shim-test-{name}-{}", std::process::id());
    let bundle = dir.path().join("bundle");
    let bin = bundle.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    for l in ["sh", "echo", "cat", "sleep", "true", "false"] {
        std::os::unix::fs::symlink("busybox", bin.join(l)).unwrap();
    }
    let st = std::process::Command::new(RUNC)
        .arg("spec")
        .arg("--bundle")
        .arg(&bundle)
        .status()
        .unwrap();
    assert!(st.success());
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = tty.into();
    cfg["process"]["args"] = serde_json::json!(args);
    cfg["root"]["path"] = bundle.join("rootfs").display().to_string().into();
    cfg["linux"]["cgroupsPath"] = format!("/{id}").into();
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    Fixture { dir, id }
}

/// Polls until `f` holds or the deadline passes.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Splits Docker's multiplexed frames into (stdout, stderr).
fn demux(mut b: &[u8]) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while b.len() >= 8 {
        let len = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        let data = &b[8..8 + len];
        if b[0] == 2 {
            err.extend_from_slice(data)
        } else {
            out.extend_from_slice(data)
        }
        b = &b[8 + len..];
    }
    assert!(b.is_empty(), "trailing partial frame");
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn start_wait_exit_code_logs_and_cleanup() {
    if !usable() {
        return;
    }
    let f = fixture(
        "exit",
        &["sh", "-c", "echo hi; echo err >&2; exit 3"],
        false,
    );
    let c = ShimClient::spawn(&f.opts(false, false)).await.unwrap();
    assert!(c.is_alive());
    let st = c.state().await.unwrap();
    assert_eq!(st.status, "created");
    assert!(st.pid > 0);
    let pid = c.start().await.unwrap();
    assert_eq!(pid, st.pid);
    let exit = c.wait().await.unwrap();
    assert_eq!(exit.exit_code, 3);
    assert!(exit.finished_at.ends_with('Z'));
    eventually("shim exit", || !f.state().join("shim.sock").exists());
    let on_disk = berth_shim::client::read_exit_file(&f.state()).unwrap();
    assert_eq!(on_disk.exit_code, 3);
    let log = std::fs::read_to_string(f.log()).unwrap();
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        entries
            .iter()
            .any(|e| e["log"] == "hi\n" && e["stream"] == "stdout"),
        "{log}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["log"] == "err\n" && e["stream"] == "stderr"),
        "{log}"
    );
    // The runtime forgot the container.
    let out = std::process::Command::new(RUNC)
        .arg("--root")
        .arg(f.dir.path().join("runc-root"))
        .args(["state", &f.id])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[tokio::test]
async fn attach_is_framed_and_stdin_once_closes_stdin() {
    if !usable() {
        return;
    }
    let f = fixture(
        "attach",
        &["sh", "-c", "read x; echo got $x; cat; echo e >&2"],
        false,
    );
    let c = ShimClient::spawn(&f.opts(false, true)).await.unwrap();
    let mut s = c.attach(true, true, true).await.unwrap();
    c.start().await.unwrap();
    s.write_all(b"abc\nmore\n").await.unwrap();
    s.shutdown().await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    let (out, err) = demux(&all);
    assert_eq!(out, "got abc\nmore\n");
    assert_eq!(err, "e\n");
    assert_eq!(c.wait().await.unwrap().exit_code, 0);
}

#[tokio::test]
async fn tty_attach_is_raw_and_resizable() {
    if !usable() {
        return;
    }
    let f = fixture(
        "tty",
        &["sh", "-c", "sleep 0.3; stty size; echo tty-ok"],
        true,
    );
    let c = ShimClient::spawn(&f.opts(true, false)).await.unwrap();
    c.resize(None, 33, 101).await.unwrap();
    let mut s = c.attach(false, true, true).await.unwrap();
    c.start().await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("tty-ok\r\n"), "{text:?}");
    assert_eq!(c.wait().await.unwrap().exit_code, 0);
}

#[tokio::test]
async fn kill_pids_pause_and_exec() {
    if !usable() {
        return;
    }
    let f = fixture("kill", &["sleep", "100"], false);
    let c = ShimClient::spawn(&f.opts(false, false)).await.unwrap();
    let pid = c.start().await.unwrap();
    assert_eq!(c.state().await.unwrap().status, "running");
    // The shim is detached (its spawning parent already exited) and small.
    let shim_pid = std::fs::read_to_string(f.state().join("shim.pid")).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", shim_pid.trim())).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    eprintln!("shim RSS: {rss_kib} KiB");
    assert!(rss_kib < 8 * 1024, "shim RSS {rss_kib} KiB");
    let sid = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(
        shim_pid.trim().parse().unwrap(),
    )))
    .unwrap();
    assert_eq!(
        sid.as_raw().to_string(),
        shim_pid.trim(),
        "shim leads its own session"
    );
    let pids = c.pids().await.unwrap();
    assert!(pids.contains(&pid), "{pids:?}");

    c.pause().await.unwrap();
    assert_eq!(c.state().await.unwrap().status, "paused");
    c.resume().await.unwrap();
    assert_eq!(c.state().await.unwrap().status, "running");

    let process = serde_json::json!({
        "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
        "env": ["PATH=/bin"], "args": ["sh", "-c", "echo out; echo err >&2; exit 5"],
    });
    let (epid, stream) = c.exec("e1", &process, false).await.unwrap();
    assert!(epid > 0);
    let mut all = Vec::new();
    let mut stream = stream.unwrap();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(demux(&all), ("out\n".to_string(), "err\n".to_string()));
    let es = c.exec_state("e1").await.unwrap();
    assert_eq!((es.running, es.exit_code), (false, Some(5)));

    let missing = serde_json::json!({"terminal": false, "cwd": "/", "user": {"uid": 0, "gid": 0}, "args": ["nope"], "env": ["PATH=/bin"]});
    match c.exec("e2", &missing, true).await {
        Err(ShimError::Runtime(m)) => assert!(m.contains("executable file not found"), "{m}"),
        Ok(_) => {
            // Runtimes that report the lookup failure late exit 127 instead.
            eventually("exec exit", || false);
        }
        Err(e) => panic!("{e}"),
    }

    c.kill(9).await.unwrap();
    assert_eq!(c.wait().await.unwrap().exit_code, 137);
    // Killing a dead container is fine.
    let _ = c.kill(9).await;
}

#[tokio::test]
async fn runtime_errors_are_verbatim_and_shutdown_deletes() {
    if !usable() {
        return;
    }
    let f = fixture("missing", &["/bin/does-not-exist"], false);
    match ShimClient::spawn(&f.opts(false, false)).await {
        Err(ShimError::Runtime(m)) => assert!(m.contains("no such file or directory"), "{m}"),
        Ok(c) => {
            // runc reports a missing absolute path at start.
            let e = c.start().await.unwrap_err();
            assert!(e.to_string().contains("no such file or directory"), "{e}");
            c.shutdown().await.unwrap();
        }
        Err(e) => panic!("{e}"),
    }

    let f = fixture("shutdown", &["sleep", "100"], false);
    let c = ShimClient::spawn(&f.opts(false, false)).await.unwrap();
    c.shutdown().await.unwrap();
    eventually("shim gone", || !c.is_alive());
}

#[tokio::test]
async fn oom_kill_is_reported() {
    if !usable() {
        return;
    }
    let f = fixture(
        "oom",
        &["sh", "-c", "a=x; while true; do a=$a$a; done"],
        false,
    );
    let cfg_path = f.bundle().join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["linux"]["resources"]["memory"] = serde_json::json!({"limit": 16 * 1024 * 1024});
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let c = ShimClient::spawn(&f.opts(false, false)).await.unwrap();
    c.start().await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), c.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.exit_code, 137);
    assert!(exit.oom_killed);
    eventually("exit.json", || {
        berth_shim::client::read_exit_file(&f.state()).is_some_and(|e| e.oom_killed)
    });
}
