//! Root integration: runc runs a busybox container from our spec, with the default seccomp
//! profile, masked paths and capability set in force. Skipped unless root with runc and
//! busybox-static installed.
#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::path::Path;
use std::process::Command;

use berth_oci::{SpecInput, build_spec};

fn runnable() -> bool {
    nix::unistd::geteuid().is_root()
        && Path::new("/usr/sbin/runc").exists()
        && Path::new("/bin/busybox").exists()
}

/// Runs `script` in a fresh container and returns (exit code, stdout, stderr).
fn run(script: &str, tweak: impl FnOnce(&mut SpecInput)) -> (i32, String, String) {
    let bundle = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let rootfs = bundle.path().join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let id = format!("berth-oci-test-{}-{n}", std::process::id());
    let parent = format!("berth-oci-test-{}-{n}", std::process::id());
    let mut input = SpecInput {
        id: id.clone(),
        rootfs: rootfs.clone(),
        args: vec!["/bin/sh".into(), "-c".into(), script.into()],
        hostname: "specbox".into(),
        cgroups_path: format!("/{parent}/{id}"),
        ..Default::default()
    };
    tweak(&mut input);
    let spec = build_spec(&input).unwrap();
    std::fs::write(
        bundle.path().join("config.json"),
        serde_json::to_vec_pretty(&spec).unwrap(),
    )
    .unwrap();
    let out = Command::new("/usr/sbin/runc")
        .arg("--root")
        .arg(state.path())
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .output()
        .unwrap();
    // `run` deletes the container (and its cgroup) when it exits; force in case it did not,
    // then remove the per-test parent cgroup in every v1 hierarchy.
    let _ = Command::new("/usr/sbin/runc")
        .arg("--root")
        .arg(state.path())
        .args(["delete", "-f", &id])
        .output();
    if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in hierarchies.flatten() {
            let _ = std::fs::remove_dir(h.path().join(&parent).join(&id));
            let _ = std::fs::remove_dir(h.path().join(&parent));
        }
    }
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn default_container_is_confined_like_docker() {
    if !runnable() {
        eprintln!("skipped: needs root, runc and busybox");
        return;
    }
    let script = "hostname; id -u; ulimit -n; \
                  busybox mount -t tmpfs none /tmp 2>/dev/null && echo mounted || echo mount-denied; \
                  busybox unshare -n true 2>/dev/null && echo unshared || echo unshare-denied; \
                  busybox wc -c < /proc/timer_list; \
                  touch /proc/sys/x 2>/dev/null && echo procsys-rw || echo procsys-ro; \
                  busybox grep CapEff /proc/self/status; \
                  echo hi > /dev/shm/x && echo shm-ok";
    let (code, out, err) = run(script, |_| {});
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "specbox");
    assert_eq!(lines[1], "0");
    let nofile: u64 = lines[2].parse().unwrap();
    assert!(nofile > 1024, "{nofile}");
    assert_eq!(lines[3], "mount-denied");
    assert_eq!(lines[4], "unshare-denied");
    assert_eq!(lines[5], "0", "/proc/timer_list is masked");
    assert_eq!(lines[6], "procsys-ro");
    // Docker's 14 default capabilities.
    assert_eq!(lines[7].split_whitespace().nth(1), Some("00000000a80425fb"));
    assert_eq!(lines[8], "shm-ok");
}

#[test]
fn privileged_and_cap_add_open_up() {
    if !runnable() {
        eprintln!("skipped: needs root, runc and busybox");
        return;
    }
    let (code, out, err) = run("busybox mount -t tmpfs none /tmp && echo mounted", |i| {
        i.cap_add = vec!["SYS_ADMIN".into()]
    });
    assert_eq!((code, out.trim()), (0, "mounted"), "{err}");
    let (code, out, err) = run(
        "busybox mount -t tmpfs none /tmp && echo mounted; busybox ls /dev | busybox wc -l",
        |i| {
            i.privileged = true;
        },
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("mounted"), "{out}");
}
