#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use super::*;
use crate::{DeviceMapping, ResolvedUser, Resources};

/// A machine like the CI host: amd64, kernel 6.1, hard RLIMIT_NOFILE 20000, 41 capabilities.
struct FakeHost;

impl Host for FakeHost {
    fn rlimit_hard(&self, name: &str) -> Option<u64> {
        (name == "nofile").then_some(20_000)
    }
    fn last_cap(&self) -> Option<usize> {
        Some(40)
    }
    fn bounding_set(&self) -> Option<u64> {
        None
    }
    fn kernel(&self) -> (u32, u32) {
        (6, 1)
    }
    fn arch(&self) -> String {
        "amd64".into()
    }
    fn host_devices(&self) -> Vec<Value> {
        vec![
            json!({"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "fileMode": 0o660, "uid": 0, "gid": 6}),
        ]
    }
    fn sysctl_exists(&self, _key: &str) -> bool {
        true
    }
}

fn spec(i: &SpecInput) -> Value {
    let typed = build_spec_on(i, &FakeHost).unwrap();
    serde_json::to_value(typed).unwrap()
}

fn base() -> SpecInput {
    SpecInput {
        id: "abc".into(),
        rootfs: "/var/lib/berth/containers/abc/rootfs".into(),
        args: vec!["sh".into()],
        hostname: "abc123".into(),
        cgroups_path: "/berth/abc".into(),
        ..Default::default()
    }
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn plain_run_matches_docker() {
    let s = spec(&base());
    assert_eq!(s["ociVersion"], "1.0.2-dev");
    assert_eq!(
        s["root"],
        json!({"path": "/var/lib/berth/containers/abc/rootfs", "readonly": false})
    );
    assert_eq!(s["hostname"], "abc123");
    let p = &s["process"];
    assert_eq!(p["user"], json!({"uid": 0, "gid": 0}));
    assert_eq!(p["args"], json!(["sh"]));
    assert_eq!(p["cwd"], "/");
    assert_eq!(p["env"], json!([DEFAULT_PATH_ENV, "HOSTNAME=abc123"]));
    assert_eq!(p["oomScoreAdj"], 0);
    assert!(p.get("noNewPrivileges").is_none() || p["noNewPrivileges"] == false);
    let mut want = default_capabilities_sorted();
    want.sort();
    for set in ["bounding", "effective", "permitted"] {
        assert_eq!(sorted(&p["capabilities"][set]), want, "{set}");
    }
    assert!(p["capabilities"].get("inheritable").is_none());
    // Docker's 1048576, clamped to what this host allows.
    assert_eq!(
        p["rlimits"],
        json!([{"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000}])
    );

    assert_eq!(
        s["mounts"],
        json!([
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}
        ])
    );

    let l = &s["linux"];
    assert_eq!(l["cgroupsPath"], "/berth/abc");
    assert_eq!(
        l["namespaces"],
        json!([{"type": "mount"}, {"type": "network"}, {"type": "uts"}, {"type": "pid"}, {"type": "ipc"}])
    );
    assert_eq!(l["maskedPaths"], json!(berth_api::DEFAULT_MASKED_PATHS));
    assert_eq!(
        l["readonlyPaths"],
        json!([
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger"
        ])
    );
    assert_eq!(
        l["sysctl"],
        json!({"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"})
    );
    assert_eq!(
        l["resources"]["devices"],
        json!(crate::default_device_rules())
    );
    assert!(l.get("devices").is_none());
    assert_eq!(l["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(l["seccomp"]["defaultErrnoRet"], 1);
    assert_eq!(
        l["seccomp"]["architectures"],
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    );
    let names: Vec<&str> = l["seccomp"]["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
        })
        .collect();
    assert!(
        names.contains(&"chroot"),
        "CAP_SYS_CHROOT is a default capability"
    );
    assert!(!names.contains(&"mount"));
}

fn default_capabilities_sorted() -> Vec<String> {
    crate::default_capabilities()
}

#[test]
fn non_root_user_only_gets_a_bounding_set() {
    let s = spec(&SpecInput {
        user: ResolvedUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![10, 20],
        },
        ..base()
    });
    let p = &s["process"];
    assert_eq!(
        p["user"],
        json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]})
    );
    assert_eq!(p["capabilities"]["bounding"].as_array().unwrap().len(), 14);
    assert!(p["capabilities"].get("effective").is_none());
    assert!(p["capabilities"].get("permitted").is_none());
}

#[test]
fn privileged_gets_everything() {
    let s = spec(&SpecInput {
        privileged: true,
        cap_drop: vec!["whatever".into()],
        ..base()
    });
    assert_eq!(
        s["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap()
            .len(),
        41
    );
    let l = &s["linux"];
    assert!(l.get("seccomp").is_none());
    assert!(l.get("maskedPaths").is_none());
    assert!(l.get("readonlyPaths").is_none());
    assert_eq!(
        l["resources"]["devices"],
        json!([{"allow": true, "access": "rwm"}])
    );
    assert_eq!(l["devices"][0]["path"], "/dev/sda");
    let m = s["mounts"].as_array().unwrap();
    assert!(m[3]["options"].as_array().unwrap().contains(&json!("rw")));
    assert!(m[4]["options"].as_array().unwrap().contains(&json!("rw")));
}

#[test]
fn namespace_modes() {
    let s = spec(&SpecInput {
        network: NamespaceMode::Host,
        pid: NamespaceMode::Path("/proc/42/ns/pid".into()),
        ipc: NamespaceMode::Host,
        uts_host: true,
        cgroupns_private: true,
        ..base()
    });
    assert_eq!(
        s["linux"]["namespaces"],
        json!([{"type": "mount"}, {"type": "pid", "path": "/proc/42/ns/pid"}, {"type": "cgroup"}])
    );
    assert!(s.get("hostname").is_none());
    assert!(
        s["linux"].get("sysctl").is_none(),
        "no network sysctls outside a private netns"
    );
    let shm = s["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/dev/shm")
        .unwrap()
        .clone();
    assert_eq!(shm["type"], "bind");
    assert_eq!(shm["source"], "/dev/shm");
    let none = spec(&SpecInput {
        ipc_none: true,
        ..base()
    });
    assert!(
        !none["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["destination"] == "/dev/shm")
    );
}

#[test]
fn init_readonly_and_user_mounts() {
    let mut tmp = tmpfs_mount("/dev/shm", "size=1m");
    tmp.set_destination("/dev/shm".into());
    let s = spec(&SpecInput {
        init: Some("/usr/libexec/docker-init".into()),
        readonly_rootfs: true,
        mounts: vec![
            bind_mount(Path::new("/data/sub"), "/data/sub", false, None),
            bind_mount(Path::new("/srv"), "/data", true, Some("rshared")),
            bind_mount(Path::new("/c/hosts"), "/etc/hosts", true, None),
            tmp,
        ],
        ..base()
    });
    assert_eq!(
        s["process"]["args"],
        json!(["/sbin/docker-init", "--", "sh"])
    );
    assert_eq!(s["root"]["readonly"], true);
    let m = s["mounts"].as_array().unwrap();
    let dests: Vec<&str> = m
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    assert_eq!(
        dests,
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/sys",
            "/sys/fs/cgroup",
            "/dev/mqueue",
            "/sbin/docker-init",
            "/data",
            "/data/sub",
            "/etc/hosts",
            "/dev/shm"
        ]
    );
    assert_eq!(
        m[6],
        json!({"destination": "/sbin/docker-init", "type": "bind", "source": "/usr/libexec/docker-init", "options": ["bind", "ro"]})
    );
    assert_eq!(
        m[5]["options"],
        json!(["nosuid", "noexec", "nodev"]),
        "mqueue stays writable"
    );
    assert_eq!(m[7]["options"], json!(["rbind", "ro", "rshared"]));
    assert_eq!(
        m[8]["options"],
        json!(["rbind", "rprivate"]),
        "user mounts are not made read-only"
    );
    assert_eq!(
        m[10]["options"],
        json!(["noexec", "nosuid", "nodev", "size=1m"])
    );
    assert_eq!(s["linux"]["rootfsPropagation"], "shared");

    let dev = spec(&SpecInput {
        mounts: vec![bind_mount(Path::new("/dev"), "/dev", false, None)],
        ..base()
    });
    let dests: Vec<&str> = dev["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    assert_eq!(dests, ["/proc", "/sys", "/sys/fs/cgroup", "/dev"]);
}

#[test]
fn resources_follow_docker() {
    let s = spec(&SpecInput {
        resources: Resources {
            memory: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            nano_cpus: Some(1_500_000_000),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0-1".into()),
            pids_limit: Some(0),
            blkio_weight: Some(300),
            oom_kill_disable: true,
            ..Default::default()
        },
        ..base()
    });
    let r = &s["linux"]["resources"];
    assert_eq!(
        r["memory"],
        json!({"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20, "disableOOMKiller": true})
    );
    assert_eq!(
        r["cpu"],
        json!({"shares": 512, "quota": 150000, "period": 100000, "cpus": "0-1"})
    );
    assert_eq!(r["pids"], json!({"limit": -1}));
    assert_eq!(r["blockIO"], json!({"weight": 300}));

    let unlimited_swap = spec(&SpecInput {
        resources: Resources {
            memory: Some(1 << 30),
            memory_swap: Some(-1),
            ..Default::default()
        },
        ..base()
    });
    assert_eq!(
        unlimited_swap["linux"]["resources"]["memory"],
        json!({"limit": 1 << 30})
    );
    let quota = spec(&SpecInput {
        resources: Resources {
            cpu_quota: Some(50000),
            cpu_period: Some(200000),
            pids_limit: Some(7),
            ..Default::default()
        },
        ..base()
    });
    assert_eq!(
        quota["linux"]["resources"]["cpu"],
        json!({"quota": 50000, "period": 200000})
    );
    assert_eq!(quota["linux"]["resources"]["pids"], json!({"limit": 7}));
}

#[test]
fn ulimits_replace_defaults_and_are_clamped() {
    let s = spec(&SpecInput {
        ulimits: vec![
            ("nofile".into(), 50_000, 60_000),
            ("nproc".into(), 10, 20),
            ("core".into(), 0, 0),
        ],
        ..base()
    });
    assert_eq!(
        s["process"]["rlimits"],
        json!([
            {"type": "RLIMIT_NOFILE", "hard": 20000, "soft": 20000},
            {"type": "RLIMIT_NPROC", "hard": 20, "soft": 10},
            {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}
        ])
    );
    let err = build_spec_on(
        &SpecInput {
            ulimits: vec![("bogus".into(), 1, 1)],
            ..base()
        },
        &FakeHost,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "invalid ulimit type: bogus");
}

#[test]
fn security_options() {
    let unconfined = spec(&SpecInput {
        seccomp: SeccompMode::Unconfined,
        no_new_privileges: true,
        ..base()
    });
    assert!(unconfined["linux"].get("seccomp").is_none());
    assert_eq!(unconfined["process"]["noNewPrivileges"], true);
    let custom = spec(&SpecInput {
        seccomp: SeccompMode::Profile(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}"#.into()),
        ..base()
    });
    assert_eq!(
        custom["linux"]["seccomp"],
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}]})
    );
    let bad = build_spec_on(
        &SpecInput {
            seccomp: SeccompMode::Profile("nope".into()),
            ..base()
        },
        &FakeHost,
    )
    .unwrap_err();
    assert!(
        bad.to_string()
            .starts_with("Decoding seccomp profile failed")
    );
    let admin = spec(&SpecInput {
        cap_add: vec!["SYS_ADMIN".into()],
        ..base()
    });
    let rules = admin["linux"]["seccomp"]["syscalls"].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["names"].as_array().unwrap().contains(&json!("mount")))
    );
    assert!(!rules.iter().any(|r| r["names"] == json!(["clone3"])));
    let unmasked = spec(&SpecInput {
        masked_paths: Some(vec![]),
        readonly_paths: Some(vec![]),
        ..base()
    });
    assert!(unmasked["linux"].get("maskedPaths").is_none());
    let bad_cap = build_spec_on(
        &SpecInput {
            cap_add: vec!["nope".into()],
            ..base()
        },
        &FakeHost,
    )
    .unwrap_err();
    assert_eq!(bad_cap.to_string(), r#"unknown capability: "CAP_NOPE""#);
}

#[test]
fn devices_and_sysctls() {
    let s = spec(&SpecInput {
        devices: vec![DeviceMapping {
            path_on_host: "/dev/null".into(),
            path_in_container: "/dev/xnull".into(),
            cgroup_permissions: "rwm".into(),
        }],
        device_cgroup_rules: vec!["c 42:* rmw".into()],
        sysctls: [(
            "net.ipv4.ip_unprivileged_port_start".to_string(),
            "1024".to_string(),
        )]
        .into(),
        tty: true,
        console_size: Some((24, 80)),
        ..base()
    });
    let l = &s["linux"];
    assert_eq!(l["devices"][0]["path"], "/dev/xnull");
    let rules = l["resources"]["devices"].as_array().unwrap();
    assert_eq!(rules.len(), 10);
    assert_eq!(
        rules[9],
        json!({"allow": true, "type": "c", "major": 42, "minor": -1, "access": "rmw"})
    );
    assert_eq!(l["sysctl"]["net.ipv4.ip_unprivileged_port_start"], "1024");
    assert_eq!(s["process"]["terminal"], true);
    assert_eq!(
        s["process"]["consoleSize"],
        json!({"height": 24, "width": 80})
    );
    assert_eq!(
        s["process"]["env"],
        json!([DEFAULT_PATH_ENV, "HOSTNAME=abc123", "TERM=xterm"])
    );
}

#[test]
fn env_merges_like_docker() {
    let env = container_env(
        "h",
        true,
        &[
            "PATH=/x".into(),
            "FOO=1".into(),
            "TERM".into(),
            "HOSTNAME=other".into(),
        ],
    );
    assert_eq!(env, ["PATH=/x", "HOSTNAME=other", "FOO=1"]);
    // Idempotent: a daemon that already merged gets the same list back.
    let once = container_env("h", false, &["A=1".into()]);
    assert_eq!(container_env("h", false, &once), once);
}

#[test]
fn real_host_spec_builds() {
    let s = build_spec(&base()).unwrap();
    let v = serde_json::to_value(&s).unwrap();
    let hard = v["process"]["rlimits"][0]["hard"].as_u64().unwrap();
    assert!(hard <= SystemHost.rlimit_hard("nofile").unwrap());
}

fn normalize_caps(v: &mut Value) {
    if let Some(caps) = v["process"]["capabilities"].as_object_mut() {
        for set in caps.values_mut() {
            if let Some(a) = set.as_array_mut() {
                a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
            }
        }
    }
}

#[test]
fn typed_spec_keeps_exactly_the_generated_document() {
    let inputs = [
        base(),
        SpecInput {
            privileged: true,
            tty: true,
            console_size: Some((10, 20)),
            ..base()
        },
        SpecInput {
            user: ResolvedUser {
                uid: 5,
                gid: 6,
                additional_gids: vec![7],
            },
            init: Some("/init".into()),
            readonly_rootfs: true,
            resources: Resources {
                memory: Some(1 << 30),
                cpu_shares: Some(100),
                pids_limit: Some(5),
                ..Default::default()
            },
            mounts: vec![tmpfs_mount("/run", "exec,size=1m")],
            ..base()
        },
    ];
    for i in inputs {
        let mut raw = build_spec_json(&i, &FakeHost).unwrap();
        let mut typed = spec(&i);
        normalize_caps(&mut raw);
        normalize_caps(&mut typed);
        assert_eq!(raw, typed);
    }
}
