//! End-to-end tests of the `berth-runc` binary with a busybox bundle. They need root and
//! `/bin/busybox` (static); otherwise they return early.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_berth-runc");
const CGROUP_PARENT: &str = "berth-runc-test";

fn usable() -> bool {
    nix::unistd::geteuid().is_root() && Path::new("/bin/busybox").exists()
}

/// A temp bundle + state root; deletes the container, its cgroup parent and files on drop.
struct Fixture {
    dir: tempfile::TempDir,
    id: String,
}

impl Fixture {
    fn new(name: &str, args: &[&str], tweak: impl FnOnce(&mut serde_json::Value)) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = format!("{name}-{}", std::process::id());
        let bin = dir.path().join("bundle/rootfs/bin");
        std::fs::create_dir_all(&bin).expect("mkdir rootfs");
        std::fs::copy("/bin/busybox", bin.join("busybox")).expect("copy busybox");
        for tool in ["sh", "echo", "sleep", "cat", "mkdir", "id", "grep", "true"] {
            std::os::unix::fs::symlink("busybox", bin.join(tool)).expect("symlink");
        }
        std::fs::write(bin.join("notexec"), "data").expect("write");
        let mut spec = serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": args,
                "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                "cwd": "/",
                "capabilities": {
                    "bounding": ["CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"],
                    "effective": ["CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"],
                    "permitted": ["CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"]
                },
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": false
            },
            "root": {"path": "rootfs", "readonly": false},
            "hostname": "bb",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}
            ],
            "linux": {
                "cgroupsPath": format!("/{CGROUP_PARENT}/{id}"),
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                               {"type": "uts"}, {"type": "mount"}],
                "maskedPaths": ["/proc/kcore"],
                "readonlyPaths": ["/proc/sys"]
            }
        });
        tweak(&mut spec);
        std::fs::write(
            dir.path().join("bundle/config.json"),
            serde_json::to_vec_pretty(&spec).expect("json"),
        )
        .expect("write config");
        Fixture { dir, id }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    /// Runs the binary with stdout/stderr in files: a container started by the command keeps
    /// the inherited descriptors open, so pipes would never reach EOF.
    fn runc(&self, args: &[&str]) -> Output {
        let root = self.dir.path().join("state");
        let log = self.dir.path().join("log.json");
        let out_path = self.dir.path().join("cmd.out");
        let err_path = self.dir.path().join("cmd.err");
        let out_file = std::fs::File::create(&out_path).expect("stdout file");
        let err_file = std::fs::File::create(&err_path).expect("stderr file");
        let status = Command::new(BIN)
            .arg("--root")
            .arg(&root)
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out_file)
            .stderr(err_file)
            .status()
            .expect("run berth-runc");
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }

    fn state(&self) -> serde_json::Value {
        let out = self.runc(&["state", &self.id]);
        assert!(
            out.status.success(),
            "state: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("state json")
    }

    fn wait_status(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = self.state();
            if st["status"] == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "status never became {want}: {st}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = self.runc(&["delete", "--force", &self.id]);
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path().join(CGROUP_PARENT));
            }
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn run_echo_and_exit_code() {
    if !usable() {
        return;
    }
    let f = Fixture::new("echo", &["sh", "-c", "echo hi; exit 3"], |_| {});
    let bundle = f.bundle();
    let out = f.runc(&[
        "run",
        "--bundle",
        bundle.to_str().unwrap_or_default(),
        &f.id,
    ]);
    assert_eq!(text(&out.stdout), "hi\n");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    // `run` deletes the container afterwards.
    assert!(!f.runc(&["state", &f.id]).status.success());
}

#[test]
fn lifecycle_exec_pause_ps_kill_delete() {
    if !usable() {
        return;
    }
    let f = Fixture::new("life", &["sleep", "1000"], |_| {});
    let bundle = f.bundle();
    let pid_file = f.dir.path().join("pid");
    let out = f.runc(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap_or_default(),
        "--pid-file",
        pid_file.to_str().unwrap_or_default(),
        &f.id,
    ]);
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    let st = f.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["ociVersion"], "1.0.2-dev");
    assert_eq!(st["bundle"], bundle.to_str().unwrap_or_default());
    let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
    assert_eq!(st["pid"].to_string(), pid.trim());

    assert!(f.runc(&["start", &f.id]).status.success());
    assert_eq!(f.state()["status"], "running");

    let out = f.runc(&["exec", &f.id, "sh", "-c", "echo in-exec; exit 4"]);
    assert_eq!(text(&out.stdout), "in-exec\n");
    assert_eq!(out.status.code(), Some(4));

    let epid = f.dir.path().join("epid");
    let out = f.runc(&[
        "exec",
        "--detach",
        "--pid-file",
        epid.to_str().unwrap_or_default(),
        &f.id,
        "sleep",
        "500",
    ]);
    assert!(out.status.success(), "exec -d: {}", text(&out.stderr));
    let epid: i32 = std::fs::read_to_string(&epid)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or(0);
    assert!(epid > 0);

    let out = f.runc(&["ps", "--format", "json", &f.id]);
    let pids: Vec<i32> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(pids.contains(&epid), "{pids:?}");
    assert!(pids.iter().any(|p| p.to_string() == pid.trim()), "{pids:?}");

    assert!(f.runc(&["pause", &f.id]).status.success());
    assert_eq!(f.state()["status"], "paused");
    assert!(f.runc(&["resume", &f.id]).status.success());
    assert_eq!(f.state()["status"], "running");

    let out = f.runc(&["delete", &f.id]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("is not stopped: running"));

    assert!(f.runc(&["kill", &f.id, "KILL"]).status.success());
    f.wait_status("stopped");
    assert_eq!(f.state()["pid"], 0);
    assert!(f.runc(&["delete", &f.id]).status.success());
    let out = f.runc(&["state", &f.id]);
    assert_eq!(text(&out.stderr).trim(), "container does not exist");
}

#[test]
fn missing_and_non_executable_binaries() {
    if !usable() {
        return;
    }
    for (arg, want) in [
        ("nope", "exec: \"nope\": executable file not found in $PATH"),
        ("/bin/notexec", "exec: \"/bin/notexec\": permission denied"),
    ] {
        let f = Fixture::new("missing", &[arg], |_| {});
        let bundle = f.bundle();
        let out = f.runc(&[
            "create",
            "--bundle",
            bundle.to_str().unwrap_or_default(),
            &f.id,
        ]);
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        assert!(stderr.contains(want), "{stderr}");
        assert!(stderr.starts_with("runc create failed: unable to start container process: "));
        let log = std::fs::read_to_string(f.dir.path().join("log.json")).unwrap_or_default();
        let line: serde_json::Value =
            serde_json::from_str(log.lines().last().unwrap_or_default()).unwrap_or_default();
        assert_eq!(line["level"], "error");
        assert!(
            line["msg"].as_str().unwrap_or_default().contains(want),
            "{log}"
        );
        // Failed creation leaves no state behind.
        assert!(!f.runc(&["state", &f.id]).status.success());
    }
}

#[test]
fn seccomp_blocks_syscall_in_init_and_exec() {
    if !usable() {
        return;
    }
    let f = Fixture::new("seccomp", &["sleep", "1000"], |spec| {
        spec["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let bundle = f.bundle();
    let out = f.runc(&[
        "run",
        "--detach",
        "--bundle",
        bundle.to_str().unwrap_or_default(),
        &f.id,
    ]);
    assert!(out.status.success(), "run -d: {}", text(&out.stderr));
    let out = f.runc(&[
        "exec",
        &f.id,
        "sh",
        "-c",
        "mkdir /tmp/x; grep -E '^(Seccomp|CapEff):' /proc/self/status",
    ]);
    let stdout = text(&out.stdout);
    assert!(
        text(&out.stderr).contains("Operation not permitted"),
        "{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("Seccomp:\t2"), "{stdout}");
    // The temporary CAP_SYS_ADMIN/CAP_SETPCAP used to load the filter are gone again.
    assert!(stdout.contains("CapEff:\t0000000020000420"), "{stdout}");
}

#[test]
fn features_and_spec() {
    let out = Command::new(BIN)
        .arg("features")
        .output()
        .expect("features");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(doc["ociVersionMin"], "1.0.0");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()
        .expect("spec");
    assert!(out.status.success());
    assert!(dir.path().join("config.json").exists());
}
