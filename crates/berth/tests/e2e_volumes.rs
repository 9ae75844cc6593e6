//! Volumes end to end through the real docker CLI and `berth`: named volumes persist across
//! containers, image content is copied up, binds honour `:ro`, tmpfs, `--volumes-from`,
//! `rm -v`, in-use refusal, prune, and Docker's error texts.

#![allow(clippy::unwrap_used)]

mod common;

use common::Daemon;

#[test]
fn named_anonymous_bind_and_tmpfs_volumes() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");

    // Named volume: created on demand, data survives the container.
    d.docker(&["volume", "create", "--label", "k=v", "data"])
        .ok();
    let o = d
        .docker(&[
            "volume",
            "inspect",
            "-f",
            "{{.Driver}} {{.Labels}} {{.Scope}}",
            "data",
        ])
        .ok();
    assert_eq!(o.out(), "local map[k:v] local");
    d.docker(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        "busybox",
        "sh",
        "-c",
        "echo kept > /d/f",
    ])
    .ok();
    let o = d
        .docker(&["run", "--rm", "-v", "data:/d", "busybox", "cat", "/d/f"])
        .ok();
    assert_eq!(o.out(), "kept");
    // `:ro` is enforced.
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "data:/d:ro",
        "busybox",
        "touch",
        "/d/x",
    ]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("Read-only file system"), "{}", o.stderr);

    // Copy-up: a new volume over /bin starts with the image's /bin.
    let o = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            "binvol:/bin",
            "busybox",
            "/bin/busybox",
            "ls",
            "/bin/sh",
        ])
        .ok();
    assert_eq!(o.out(), "/bin/sh");
    // nocopy leaves it empty: the command is gone.
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        "emptyvol:/bin:nocopy",
        "busybox",
        "/bin/busybox",
        "true",
    ]);
    assert_eq!(o.code, 127, "{}", o.stderr);

    // Bind mounts, read-only enforced; a missing host dir is created for -v.
    let host = d.dir.path().join("hostdir");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("h"), "from host").unwrap();
    let spec = format!("{}:/b:ro", host.display());
    let o = d
        .docker(&["run", "--rm", "-v", &spec, "busybox", "cat", "/b/h"])
        .ok();
    assert_eq!(o.out(), "from host");
    let o = d.docker(&["run", "--rm", "-v", &spec, "busybox", "touch", "/b/new"]);
    assert_ne!(o.code, 0);
    assert!(!host.join("new").exists());
    let missing = d.dir.path().join("made-by-v");
    d.docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/m", missing.display()),
        "busybox",
        "true",
    ])
    .ok();
    assert!(missing.is_dir());
    let o = d.docker(&[
        "run",
        "--rm",
        "--mount",
        &format!("type=bind,src={}/nope,dst=/x", d.dir.path().display()),
        "busybox",
        "true",
    ]);
    assert_eq!(o.code, 125);
    assert!(
        o.stderr.contains("bind source path does not exist"),
        "{}",
        o.stderr
    );

    // tmpfs, both spellings.
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--tmpfs",
            "/t:size=1m",
            "busybox",
            "grep",
            " /t ",
            "/proc/mounts",
        ])
        .ok();
    assert!(o.out().starts_with("tmpfs /t tmpfs"), "{}", o.out());
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--mount",
            "type=tmpfs,dst=/t2,tmpfs-size=2m",
            "busybox",
            "grep",
            " /t2 ",
            "/proc/mounts",
        ])
        .ok();
    assert!(o.out().contains("size=2048k"), "{}", o.out());

    // Data containers and --volumes-from (with :ro).
    d.docker(&[
        "create", "--name", "store", "-v", "/shared", "busybox", "true",
    ])
    .ok();
    d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "store",
        "busybox",
        "sh",
        "-c",
        "echo s > /shared/x",
    ])
    .ok();
    let o = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "store:ro",
        "busybox",
        "sh",
        "-c",
        "cat /shared/x; touch /shared/y",
    ]);
    assert_eq!(o.out(), "s");
    assert_ne!(o.code, 0);
    let mounts = d
        .docker(&["inspect", "-f", "{{json .Mounts}}", "store"])
        .ok();
    let v: serde_json::Value = serde_json::from_str(mounts.out()).unwrap();
    let m = &v[0];
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Destination"], "/shared");
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["RW"], true);
    let anon = m["Name"].as_str().unwrap().to_string();
    assert_eq!(anon.len(), 64);

    // In use: refused with Docker's message; rm -v takes the anonymous volume along.
    let o = d.docker(&["volume", "rm", &anon]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr
            .contains(&format!("remove {anon}: volume is in use")),
        "{}",
        o.stderr
    );
    d.docker(&["rm", "-v", "store"]).ok();
    let o = d.docker(&["volume", "inspect", &anon]);
    assert!(
        o.stderr.contains(&format!("get {anon}: no such volume")),
        "{}",
        o.stderr
    );

    // Bad specs.
    let o = d.docker(&["run", "--rm", "-v", "/a:/b:zz", "busybox", "true"]);
    assert_eq!(o.code, 125);
    assert!(o.stderr.contains("invalid mode: zz"), "{}", o.stderr);

    // Dangling listing and prune, also through berth.
    let o = d.berth(&["volume", "ls", "-q", "-f", "dangling=true"]).ok();
    assert!(o.out().lines().any(|l| l == "data"), "{}", o.out());
    let o = d
        .berth(&["volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "data"])
        .ok();
    assert_eq!(o.out(), "data local");
    let o = d.berth(&["volume", "inspect", "nosuchvol"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("get nosuchvol: no such volume"),
        "{}",
        o.stderr
    );
    let dangling = d
        .docker(&["volume", "ls", "-q", "-f", "dangling=true"])
        .ok();
    assert!(
        dangling.out().lines().any(|l| l == "data"),
        "{}",
        dangling.out()
    );
    d.docker(&[
        "run", "-d", "--name", "holder", "-v", "data:/d", "busybox", "sleep", "100",
    ])
    .ok();
    let dangling = d
        .docker(&["volume", "ls", "-q", "-f", "dangling=true"])
        .ok();
    assert!(
        !dangling.out().lines().any(|l| l == "data"),
        "{}",
        dangling.out()
    );
    d.docker(&["volume", "prune", "-f"]).ok();
    let left = d.docker(&["volume", "ls", "-q"]).ok();
    assert_eq!(left.out(), "data", "prune keeps the volume in use");
    d.docker(&["rm", "-f", "holder"]).ok();
    d.docker(&["volume", "rm", "data"]).ok();
    assert_eq!(d.docker(&["volume", "ls", "-q"]).ok().out(), "");
}

/// Unmounts `path` when dropped (the test's own tmpfs).
struct TmpfsMount(std::path::PathBuf);

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn mount_cmd(args: &[&str], path: &std::path::Path) {
    let st = std::process::Command::new("mount")
        .args(args)
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success(), "mount {args:?} {}", path.display());
}

#[test]
fn shared_bind_propagation_needs_a_shared_source_mount() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    let m = d.dir.path().join("propmnt");
    std::fs::create_dir_all(&m).unwrap();
    mount_cmd(&["-t", "tmpfs", "tmpfs"], &m);
    let _guard = TmpfsMount(m.clone());
    mount_cmd(&["--make-private"], &m);
    std::fs::create_dir_all(m.join("src")).unwrap();
    let bind = format!("{}:/x:rshared", m.join("src").display());
    let o = d.docker(&["run", "--rm", "-v", &bind, "busybox", "true"]);
    assert_eq!(o.code, 125, "{}", o.stderr);
    assert!(
        o.stderr.contains(&format!(
            "path {} is mounted on {} but it is not a shared mount",
            m.join("src").display(),
            m.display()
        )),
        "{}",
        o.stderr
    );
    // Once the source's mount is shared, the same bind runs, and with rshared propagation.
    mount_cmd(&["--make-shared"], &m);
    let o = d
        .docker(&[
            "run",
            "--rm",
            "-v",
            &bind,
            "busybox",
            "grep",
            " /x ",
            "/proc/self/mountinfo",
        ])
        .ok();
    assert!(o.stdout.contains("shared:"), "{}", o.stdout);
}
