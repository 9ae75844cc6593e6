#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use super::*;
use serde_json::{Value, json};

fn target(arch: &str, kernel: (u32, u32), caps: &[&str]) -> Target {
    Target {
        arch: arch.into(),
        kernel,
        caps: caps.iter().map(|c| c.to_string()).collect(),
    }
}

fn resolved(t: &Target) -> Value {
    serde_json::to_value(resolve(&default_profile(), t).unwrap()).unwrap()
}

fn allowed(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for r in v["syscalls"].as_array().unwrap() {
        if r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none() {
            out.extend(
                r["names"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_str().unwrap().to_string()),
            );
        }
    }
    out
}

fn default_caps() -> Vec<&'static str> {
    vec![
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]
}

#[test]
fn header_matches_dockers() {
    let v = resolved(&target("amd64", (6, 1), &default_caps()));
    assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(v["defaultErrnoRet"], 1);
    assert_eq!(
        v["architectures"],
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    );
    let arm = resolved(&target("arm64", (6, 1), &[]));
    assert_eq!(
        arm["architectures"],
        json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    );
    let rv = resolved(&target("riscv64", (6, 1), &[]));
    assert_eq!(rv["architectures"], json!(["SCMP_ARCH_RISCV64"]));
}

#[test]
fn default_caps_get_dockers_rules() {
    let v = resolved(&target("amd64", (6, 1), &default_caps()));
    let a = allowed(&v);
    for s in [
        "read",
        "write",
        "execve",
        "arch_prctl",
        "modify_ldt",
        "chroot",
        "ptrace",
        "process_vm_readv",
    ] {
        assert!(a.contains(&s.to_string()), "{s} should be allowed");
    }
    for s in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "reboot",
        "kexec_load",
        "open_by_handle_at",
        "bpf",
        "clone",
        "clone3",
        "io_uring_setup",
        "keyctl",
        "add_key",
        "swapon",
        "init_module",
        "kcmp",
        "s390_runtime_instr",
    ] {
        assert!(
            !a.contains(&s.to_string()),
            "{s} should not be allowed unconditionally"
        );
    }
    let rules = v["syscalls"].as_array().unwrap();
    let clone = rules
        .iter()
        .find(|r| r["names"] == json!(["clone"]))
        .unwrap();
    assert_eq!(
        clone["args"],
        json!([{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}])
    );
    let clone3 = rules
        .iter()
        .find(|r| r["names"] == json!(["clone3"]))
        .unwrap();
    assert_eq!(clone3["action"], "SCMP_ACT_ERRNO");
    assert_eq!(clone3["errnoRet"], 38);
    let socket = rules
        .iter()
        .find(|r| r["names"] == json!(["socket"]))
        .unwrap();
    assert_eq!(
        socket["args"],
        json!([{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}])
    );
    let personas: Vec<u64> = rules
        .iter()
        .filter(|r| r["names"] == json!(["personality"]))
        .map(|r| r["args"][0]["value"].as_u64().unwrap())
        .collect();
    assert_eq!(personas, [0, 8, 131072, 131080, 4294967295]);
}

#[test]
fn capabilities_open_their_groups() {
    let admin = resolved(&target("amd64", (6, 1), &["CAP_SYS_ADMIN"]));
    let a = allowed(&admin);
    for s in [
        "mount",
        "umount2",
        "unshare",
        "setns",
        "clone",
        "clone3",
        "sethostname",
        "bpf",
    ] {
        assert!(a.contains(&s.to_string()), "{s}");
    }
    assert!(
        !admin["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "SCMP_ACT_ERRNO")
    );
    let more = resolved(&target(
        "amd64",
        (6, 1),
        &[
            "CAP_SYS_PTRACE",
            "CAP_SYS_MODULE",
            "CAP_SYS_TIME",
            "CAP_SYS_BOOT",
            "CAP_DAC_READ_SEARCH",
            "CAP_SYS_NICE",
        ],
    ));
    let a = allowed(&more);
    for s in [
        "kcmp",
        "pidfd_getfd",
        "init_module",
        "clock_settime",
        "reboot",
        "open_by_handle_at",
        "mbind",
    ] {
        assert!(a.contains(&s.to_string()), "{s}");
    }
    assert!(!a.contains(&"mount".to_string()));
}

#[test]
fn old_kernels_lose_ptrace_and_s390_gets_its_clone_rule() {
    let old = resolved(&target("amd64", (4, 4), &[]));
    assert!(!allowed(&old).contains(&"ptrace".to_string()));
    let s390 = resolved(&target("s390x", (6, 1), &[]));
    let clones: Vec<&Value> = s390["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["names"] == json!(["clone"]))
        .collect();
    assert_eq!(clones.len(), 1);
    assert_eq!(clones[0]["args"][0]["index"], 1);
    assert!(!allowed(&s390).contains(&"arch_prctl".to_string()));
}

#[test]
fn every_architecture_resolves() {
    for a in [
        "amd64", "386", "arm", "arm64", "ppc64le", "s390x", "riscv64", "mips64le", "loong64",
    ] {
        resolve(&default_profile(), &target(a, (6, 1), &["CAP_SYS_ADMIN"])).unwrap();
    }
}

#[test]
fn custom_profiles_follow_docker_rules() {
    let json = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
        "syscalls":[{"name":"chmod","action":"SCMP_ACT_ERRNO","args":null},
                    {"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":13,"includes":{"caps":["CAP_SYS_ADMIN"]}},
                    {"names":["rmdir"],"action":"SCMP_ACT_LOG","excludes":{"caps":["CAP_CHOWN"]}}]}"#;
    let p = resolve(
        &parse_profile(json).unwrap(),
        &target("amd64", (6, 1), &["CAP_CHOWN"]),
    )
    .unwrap();
    let v = serde_json::to_value(p).unwrap();
    assert_eq!(v["defaultAction"], "SCMP_ACT_ALLOW");
    assert_eq!(v["architectures"], json!(["SCMP_ARCH_X86_64"]));
    assert_eq!(
        v["syscalls"],
        json!([{"names": ["chmod"], "action": "SCMP_ACT_ERRNO"}])
    );

    let both = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#;
    assert!(resolve(&parse_profile(both).unwrap(), &target("amd64", (6, 1), &[])).is_err());
    assert!(
        parse_profile("{not json")
            .unwrap_err()
            .to_string()
            .starts_with("Decoding seccomp profile failed: ")
    );
    let bad_action = r#"{"defaultAction":"SCMP_ACT_NOPE"}"#;
    assert!(
        resolve(
            &parse_profile(bad_action).unwrap(),
            &target("amd64", (6, 1), &[])
        )
        .is_err()
    );
}

#[test]
fn default_profile_survives_a_json_round_trip() {
    let text = serde_json::to_string(&default_profile()).unwrap();
    assert_eq!(parse_profile(&text).unwrap(), default_profile());
}
