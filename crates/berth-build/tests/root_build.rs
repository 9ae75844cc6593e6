//! Root tests: real builds on a busybox image with runc (skipped when not root or no runc).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use berth_build::{BuildOptions, CollectOutput, LocalBackend, build};
use berth_core::{Digest, Reference};
use berth_image::{ImageStore, ImportOptions};
use berth_snapshot::Snapshotter;

const RUNC: &str = "/usr/sbin/runc";

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    store: Arc<ImageStore>,
    snap: Arc<dyn Snapshotter>,
    backend: LocalBackend,
}

fn usable() -> bool {
    nix_is_root() && Path::new(RUNC).exists() && Path::new("/bin/busybox").exists()
}

fn nix_is_root() -> bool {
    // SAFETY-free check through /proc: uid 0 owns our /proc/self.
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn busybox_tar() -> Vec<u8> {
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32| {
        let mut h = hdr();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, std::io::empty()).unwrap();
    };
    for d in [
        "bin", "etc", "tmp", "root", "proc", "sys", "dev", "var", "home",
    ] {
        dir(&mut b, d, if d == "tmp" { 0o1777 } else { 0o755 });
    }
    let data = std::fs::read("/bin/busybox").unwrap();
    let mut h = hdr();
    h.set_mode(0o755);
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, "bin/busybox", data.as_slice())
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet == "busybox" || applet.is_empty() {
            continue;
        }
        let mut h = hdr();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    for (name, body) in [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    ] {
        let mut h = hdr();
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn hdr() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn setup() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let db = Arc::new(redb::Database::create(root.join("berth.redb")).unwrap());
    let snap_root = root.join("snap");
    let snap: Arc<dyn Snapshotter> = if berth_snapshot::overlay_supported(&snap_root) {
        Arc::new(berth_snapshot::OverlaySnapshotter::new(&snap_root.join("overlay2")).unwrap())
    } else {
        Arc::new(berth_snapshot::VfsSnapshotter::new(&snap_root.join("vfs")).unwrap())
    };
    let store = Arc::new(ImageStore::open(&root, db.clone(), snap.clone()).unwrap());
    let tar = busybox_tar();
    store
        .import(
            &mut tar.as_slice(),
            ImportOptions {
                reference: Some(Reference::parse("busybox").unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
    let backend = LocalBackend::new(
        store.clone(),
        snap.clone(),
        db,
        PathBuf::from(RUNC),
        root.join("runc"),
        root.join("build"),
    )
    .unwrap();
    Env {
        _dir: dir,
        root,
        store,
        snap,
        backend,
    }
}

fn context(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = hdr();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

impl Env {
    fn build(
        &self,
        files: &[(&str, &[u8])],
        opts: &BuildOptions,
    ) -> (Result<Digest, String>, String) {
        let ctx = context(files);
        let mut out = CollectOutput::default();
        let r =
            build(&self.backend, &mut ctx.as_slice(), opts, &mut out).map_err(|e| e.to_string());
        (r, out.text)
    }

    /// Reads a file from an image's filesystem.
    fn read(&self, id: &Digest, path: &str) -> Option<Vec<u8>> {
        let key = format!("test-read-{}", &id.hex()[..12]);
        let chain = self.store.layer_chain(id).unwrap();
        self.snap.prepare(&key, chain.as_ref()).unwrap();
        let mnt = self.root.join(&key);
        std::fs::create_dir_all(&mnt).unwrap();
        self.snap.mount(&key, &mnt).unwrap();
        let r = std::fs::read(mnt.join(path.trim_start_matches('/'))).ok();
        self.snap.unmount(&mnt).unwrap();
        self.snap.remove(&key).unwrap();
        r
    }
}

impl Env {
    /// Mode bits, uid and mtime of a file in an image's filesystem.
    fn stat(&self, id: &Digest, path: &str) -> Option<(u32, u32, i64)> {
        use std::os::unix::fs::MetadataExt;
        let key = format!("test-stat-{}", &id.hex()[..12]);
        let chain = self.store.layer_chain(id).unwrap();
        self.snap.prepare(&key, chain.as_ref()).unwrap();
        let mnt = self.root.join(&key);
        std::fs::create_dir_all(&mnt).unwrap();
        self.snap.mount(&key, &mnt).unwrap();
        let r = std::fs::symlink_metadata(mnt.join(path.trim_start_matches('/')))
            .ok()
            .map(|m| (m.mode() & 0o7777, m.uid(), m.mtime()));
        self.snap.unmount(&mnt).unwrap();
        self.snap.remove(&key).unwrap();
        r
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 serving `/data.tar` (the shared body, with a
/// Last-Modified) and 404 for anything else; counts the requests it answered.
struct Http {
    base: String,
    body: Arc<std::sync::Mutex<Vec<u8>>>,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

fn http_server(body: Vec<u8>) -> Http {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let body = Arc::new(std::sync::Mutex::new(body));
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (b, h) = (body.clone(), hits.clone());
    // The thread ends with the test process.
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut hl = String::new();
                if r.read_line(&mut hl).unwrap_or(0) == 0 || hl == "\r\n" {
                    break;
                }
            }
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, extra, data) = if path == "/data.tar" {
                (
                    "200 OK",
                    "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
                    b.lock().unwrap().clone(),
                )
            } else {
                ("404 Not Found", "", b"nope".to_vec())
            };
            let mut w = s;
            let _ = write!(
                w,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
                data.len()
            );
            let _ = w.write_all(&data);
        }
    });
    Http { base, body, hits }
}

fn small_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = hdr();
    h.set_mode(0o644);
    h.set_size(6);
    b.append_data(&mut h, "dir/hello.txt", &b"hello\n"[..])
        .unwrap();
    b.into_inner().unwrap()
}

fn tagged(tag: &str) -> BuildOptions {
    BuildOptions {
        tags: vec![tag.to_string()],
        ..Default::default()
    }
}

#[test]
fn three_step_build_then_cached_rebuild() {
    if !usable() {
        eprintln!("skipped: needs root, runc and busybox");
        return;
    }
    let env = setup();
    let blob = vec![7u8; 1 << 20];
    let df = b"FROM busybox\nCOPY blob.bin /blob.bin\nRUN md5sum /blob.bin > /blob.md5 && echo built > /built.txt\n";
    let files: [(&str, &[u8]); 2] = [("Dockerfile", df), ("blob.bin", &blob)];
    let (r, out) = env.build(&files, &tagged("anchor-build"));
    let id = r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Step 1/3 : FROM busybox", "{out}");
    assert!(
        lines[1].starts_with(" ---> ") && lines[1].len() == 18,
        "{out}"
    );
    assert_eq!(lines[2], "Step 2/3 : COPY blob.bin /blob.bin");
    assert_eq!(
        lines[4],
        "Step 3/3 : RUN md5sum /blob.bin > /blob.md5 && echo built > /built.txt"
    );
    assert!(lines[5].starts_with(" ---> Running in "), "{out}");
    assert!(out.contains("Removing intermediate container "), "{out}");
    assert!(
        out.ends_with(&format!(
            "Successfully built {}\nSuccessfully tagged anchor-build:latest\n",
            &id.hex()[..12]
        )),
        "{out}"
    );
    assert_eq!(env.read(&id, "/built.txt").unwrap(), b"built\n");
    assert_eq!(env.read(&id, "/blob.bin").unwrap().len(), 1 << 20);
    assert!(
        String::from_utf8(env.read(&id, "/blob.md5").unwrap())
            .unwrap()
            .contains("/blob.bin")
    );
    assert_eq!(env.store.get("anchor-build").unwrap().id, id);
    let cfg = env.store.config(&id).unwrap();
    assert_eq!(cfg.rootfs.diff_ids.len(), 3);
    assert_eq!(
        cfg.history.last().unwrap().created_by.as_deref(),
        Some("/bin/sh -c md5sum /blob.bin > /blob.md5 && echo built > /built.txt")
    );

    // No change: every step comes from the cache and the id is the same.
    let t = std::time::Instant::now();
    let (r2, out2) = env.build(&files, &tagged("anchor-build"));
    let elapsed = t.elapsed();
    assert_eq!(r2.unwrap(), id, "{out2}");
    assert_eq!(out2.matches(" ---> Using cache\n").count(), 2, "{out2}");
    assert!(!out2.contains("Running in"), "{out2}");
    eprintln!("cached rebuild took {elapsed:?}");

    // Changed content: COPY misses, so RUN misses too.
    let blob2 = vec![8u8; 1 << 20];
    let files2: [(&str, &[u8]); 2] = [("Dockerfile", df), ("blob.bin", &blob2)];
    let (r3, out3) = env.build(&files2, &BuildOptions::default());
    assert_ne!(r3.unwrap(), id);
    assert_eq!(out3.matches("Using cache").count(), 0, "{out3}");

    // --no-cache
    let (_, out4) = env.build(
        &files,
        &BuildOptions {
            no_cache: true,
            ..Default::default()
        },
    );
    assert_eq!(out4.matches("Using cache").count(), 0, "{out4}");
}

#[test]
fn node_style_config_and_files() {
    if !usable() {
        return;
    }
    let env = setup();
    let df = br#"FROM busybox
ARG GREETING=hello
ENV APP_HOME=/home/app NAME="my app"
LABEL version="1.0" maintainer=me
RUN mkdir -p $APP_HOME/logs && echo "$GREETING" > /greeting
WORKDIR $APP_HOME
COPY . $APP_HOME
COPY --chown=nobody:nogroup sub/ ./copied/
USER nobody
EXPOSE 8080
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s CMD true
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $NAME"]
"#;
    let files: [(&str, &[u8]); 4] = [
        ("Dockerfile", df),
        ("index.js", b"console.log(1)\n"),
        ("sub/a.txt", b"A\n"),
        ("sub/deep/b.txt", b"B\n"),
    ];
    let mut opts = tagged("node-app");
    opts.build_args
        .insert("GREETING".into(), Some("hi there".into()));
    let (r, out) = env.build(&files, &opts);
    let id = r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(out.contains("Step 15/15 : CMD [\"echo $NAME\"]"), "{out}");
    let cfg = env.store.config(&id).unwrap();
    let c = cfg.config.clone().unwrap();
    let envs = c.env.clone().unwrap();
    assert!(envs.contains(&"APP_HOME=/home/app".to_string()), "{envs:?}");
    assert!(envs.contains(&"NAME=my app".to_string()), "{envs:?}");
    assert!(envs.iter().any(|e| e.starts_with("PATH=")));
    assert!(
        !envs.iter().any(|e| e.starts_with("GREETING")),
        "ARG must not persist"
    );
    assert_eq!(c.working_dir.as_deref(), Some("/home/app"));
    assert_eq!(c.user.as_deref(), Some("nobody"));
    assert_eq!(c.cmd, Some(vec!["echo $NAME".to_string()]));
    assert_eq!(
        c.entrypoint,
        Some(vec!["/bin/sh".to_string(), "-c".to_string()])
    );
    assert_eq!(
        c.labels
            .as_ref()
            .unwrap()
            .get("version")
            .map(String::as_str),
        Some("1.0")
    );
    assert!(c.exposed_ports.as_ref().unwrap().contains_key("8080/tcp"));
    assert!(c.volumes.as_ref().unwrap().contains_key("/data"));
    assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    let hc = c.healthcheck.clone().unwrap();
    assert_eq!(
        hc.test,
        Some(vec!["CMD-SHELL".to_string(), "true".to_string()])
    );
    assert_eq!(hc.interval, Some(5_000_000_000));
    assert_eq!(env.read(&id, "/greeting").unwrap(), b"hi there\n");
    assert_eq!(
        env.read(&id, "/home/app/index.js").unwrap(),
        b"console.log(1)\n"
    );
    assert_eq!(env.read(&id, "/home/app/sub/deep/b.txt").unwrap(), b"B\n");
    assert_eq!(
        env.read(&id, "/home/app/copied/deep/b.txt").unwrap(),
        b"B\n"
    );
    assert!(env.read(&id, "/home/app/logs").is_none()); // a directory, read fails
    // Metadata-only steps are empty layers.
    let empties = cfg.history.iter().filter(|h| h.empty_layer).count();
    assert!(empties >= 9, "{:?}", cfg.history);
    assert!(cfg.history.iter().any(|h| h.created_by.as_deref()
        == Some("/bin/sh -c #(nop)  ENV APP_HOME=/home/app NAME=my app")));
    // ARG value shows in the RUN history line, as Docker does.
    assert!(
        cfg.history.iter().any(|h| h
            .created_by
            .as_deref()
            .is_some_and(|c| c.starts_with("|1 GREETING=hi there /bin/sh -c mkdir"))),
        "{:?}",
        cfg.history
    );

    let (r2, out2) = env.build(&files, &opts);
    assert_eq!(r2.unwrap(), id);
    assert_eq!(out2.matches(" ---> Using cache\n").count(), 14, "{out2}");
}

#[test]
fn failing_run_reports_docker_message() {
    if !usable() {
        return;
    }
    let env = setup();
    let (r, out) = env.build(
        &[("Dockerfile", b"FROM busybox\nRUN echo before && false\n")],
        &BuildOptions::default(),
    );
    assert_eq!(
        r.unwrap_err(),
        "The command '/bin/sh -c echo before && false' returned a non-zero code: 1"
    );
    assert!(out.contains("before\n"), "{out}");
    let (r, _) = env.build(
        &[(
            "Dockerfile",
            b"FROM busybox\nRUN [\"sh\", \"-c\", \"exit 3\"]\n",
        )],
        &BuildOptions::default(),
    );
    assert_eq!(
        r.unwrap_err(),
        "The command 'sh -c exit 3' returned a non-zero code: 3"
    );
    let (r, _) = env.build(
        &[("Dockerfile", b"FROM busybox\n\nRUNN x\n")],
        &BuildOptions::default(),
    );
    assert_eq!(r.unwrap_err(), "Dockerfile:3: unknown instruction: RUNN");
    let (r, _) = env.build(
        &[("Dockerfile", b"FROM nosuchimage\n")],
        &BuildOptions::default(),
    );
    assert!(
        r.unwrap_err()
            .starts_with("pull access denied for nosuchimage")
    );
    let (r, _) = env.build(
        &[("Dockerfile", b"FROM busybox\nCOPY missing /x\n")],
        &BuildOptions::default(),
    );
    assert!(r.unwrap_err().contains("file not found in build context"));
    // Host networking: RUN sees the host's hosts file; no empty mount point stays in the image.
    let (r, out) = env.build(
        &[(
            "Dockerfile",
            b"FROM busybox\nRUN cat /etc/hosts > /hosts.copy\n",
        )],
        &BuildOptions::default(),
    );
    let id = r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(
        env.read(&id, "/hosts.copy").unwrap(),
        std::fs::read("/etc/hosts").unwrap()
    );
    assert!(env.read(&id, "/etc/hosts").is_none());
    assert!(env.read(&id, "/etc/resolv.conf").is_none());
    // A context symlink never reaches the host's files.
    let mut tb = tar::Builder::new(Vec::new());
    let df = b"FROM busybox\nCOPY evil/passwd /stolen\n";
    let mut h = hdr();
    h.set_mode(0o644);
    h.set_size(df.len() as u64);
    tb.append_data(&mut h, "Dockerfile", &df[..]).unwrap();
    let mut h = hdr();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    tb.append_link(&mut h, "evil", "/etc").unwrap();
    let ctx = tb.into_inner().unwrap();
    let mut o = CollectOutput::default();
    let r = build(
        &env.backend,
        &mut ctx.as_slice(),
        &BuildOptions::default(),
        &mut o,
    );
    assert!(
        r.unwrap_err()
            .to_string()
            .contains("file not found in build context")
    );
    // No build leftovers: mounts and scratch dirs are gone.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(env.root.to_str().unwrap()),
        "leftover mounts"
    );
    let left: Vec<_> = std::fs::read_dir(env.root.join("build")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn multi_stage_target_dockerignore_heredoc_add_onbuild() {
    if !usable() {
        return;
    }
    let env = setup();
    let df = br#"# escape=`
FROM busybox AS builder
RUN <<EOF
mkdir -p /out
echo compiled > /out/app
EOF
COPY <<-EOT /out/note.txt
	note $HOME
	EOT

FROM busybox AS unused
RUN false

FROM scratch AS final
COPY --from=builder /out/ /app/
COPY --from=0 /bin/busybox /bin/
ADD files.tar /unpacked/
COPY *.txt /txt/
CMD ["/bin/busybox", "echo", `
     "hi"]
"#;
    let mut tb = tar::Builder::new(Vec::new());
    let mut h = hdr();
    h.set_mode(0o600);
    h.set_size(3);
    tb.append_data(&mut h, "inner/x", &b"xyz"[..]).unwrap();
    let tarball = tb.into_inner().unwrap();
    let files: [(&str, &[u8]); 5] = [
        ("Dockerfile", df),
        (".dockerignore", b"secret*.txt\n"),
        ("files.tar", &tarball),
        ("a.txt", b"a\n"),
        ("secret1.txt", b"s\n"),
    ];
    let (r, out) = env.build(&files, &tagged("ms"));
    let id = r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(!out.contains("RUN false"), "unused stage built: {out}");
    assert_eq!(env.read(&id, "/app/app").unwrap(), b"compiled\n");
    assert_eq!(env.read(&id, "/app/note.txt").unwrap(), b"note \n");
    assert!(env.read(&id, "/bin/busybox").is_some());
    assert_eq!(env.read(&id, "/unpacked/inner/x").unwrap(), b"xyz");
    assert_eq!(env.read(&id, "/txt/a.txt").unwrap(), b"a\n");
    assert!(
        env.read(&id, "/txt/secret1.txt").is_none(),
        ".dockerignore ignored"
    );
    let cfg = env.store.config(&id).unwrap();
    assert_eq!(
        cfg.config.unwrap().cmd,
        Some(vec![
            "/bin/busybox".to_string(),
            "echo".to_string(),
            "hi".to_string()
        ])
    );

    // --target stops at the named stage.
    let (r, out) = env.build(
        &files,
        &BuildOptions {
            target: Some("builder".into()),
            ..Default::default()
        },
    );
    let tid = r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(env.read(&tid, "/out/app").is_some());
    assert!(out.contains("Step 3/3"), "{out}");

    // ONBUILD triggers run in the child build.
    let (r, out) = env.build(
        &[(
            "Dockerfile",
            b"FROM busybox\nONBUILD RUN echo trig > /trig\n",
        )],
        &tagged("onbase"),
    );
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let (r, out) = env.build(
        &[("Dockerfile", b"FROM onbase\nCMD [\"x\"]\n")],
        &BuildOptions::default(),
    );
    let cid = r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(out.contains("# Executing 1 build trigger\n"), "{out}");
    assert_eq!(env.read(&cid, "/trig").unwrap(), b"trig\n");
    assert!(
        env.store
            .config(&cid)
            .unwrap()
            .config
            .unwrap()
            .on_build
            .is_none()
    );
}

#[test]
fn scratch_metadata_global_args_and_copy_from_image() {
    if !usable() {
        return;
    }
    let env = setup();
    let df = b"ARG BASE=scratch\nARG V=1\nFROM $BASE\nARG V\nENV V=$V\nLABEL l=${V:+set}\nCOPY --from=busybox /bin/busybox /bb\n";
    let mut opts = tagged("s1");
    opts.build_args.insert("V".into(), Some("7".into()));
    opts.build_args.insert("UNUSED".into(), Some("x".into()));
    opts.labels.insert("extra".into(), "yes".into());
    let (r, out) = env.build(&[("Dockerfile", df)], &opts);
    let id = r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert!(out.contains("Step 1/6 : FROM $BASE\n ---> \n"), "{out}");
    assert!(
        out.contains("Step 6/6 : LABEL \"extra\"=\"yes\"\n"),
        "{out}"
    );
    assert!(
        out.contains("[Warning] One or more build-args [UNUSED] were not consumed\n"),
        "{out}"
    );
    let cfg = env.store.config(&id).unwrap();
    let c = cfg.config.unwrap();
    assert!(c.env.unwrap().contains(&"V=7".to_string()));
    let labels = c.labels.unwrap();
    assert_eq!(labels.get("l").map(String::as_str), Some("set"));
    assert_eq!(labels.get("extra").map(String::as_str), Some("yes"));
    assert_eq!(cfg.rootfs.diff_ids.len(), 1);
    assert!(env.read(&id, "/bb").is_some());

    // A quiet build streams nothing but still reports the id.
    let ctx = context(&[("Dockerfile", df)]);
    let mut out = CollectOutput::default();
    let q = BuildOptions {
        quiet: true,
        ..opts.clone()
    };
    let qid = build(&env.backend, &mut ctx.as_slice(), &q, &mut out).unwrap();
    assert_eq!(out.text, "");
    assert_eq!(out.id, Some(qid));
}

#[test]
fn independent_stages_build_in_parallel_with_ordered_output() {
    if !usable() {
        return;
    }
    let env = setup();
    let df = b"FROM busybox AS a\nRUN echo a > /a\nFROM busybox AS b\nRUN echo b > /b\nFROM busybox\nCOPY --from=a /a /from-a\nCOPY --from=b /b /from-b\n";
    let (r, out) = env.build(&[("Dockerfile", df)], &BuildOptions::default());
    let id = r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let steps: Vec<&str> = out.lines().filter(|l| l.starts_with("Step ")).collect();
    assert_eq!(
        steps,
        [
            "Step 1/7 : FROM busybox AS a",
            "Step 2/7 : RUN echo a > /a",
            "Step 3/7 : FROM busybox AS b",
            "Step 4/7 : RUN echo b > /b",
            "Step 5/7 : FROM busybox",
            "Step 6/7 : COPY --from=a /a /from-a",
            "Step 7/7 : COPY --from=b /b /from-b",
        ],
        "{out}"
    );
    assert_eq!(env.read(&id, "/from-a").unwrap(), b"a\n");
    assert_eq!(env.read(&id, "/from-b").unwrap(), b"b\n");
    let (r2, out2) = env.build(&[("Dockerfile", df)], &BuildOptions::default());
    assert_eq!(r2.unwrap(), id, "{out2}");
    assert_eq!(out2.matches("Using cache").count(), 4, "{out2}");
}

#[test]
fn add_urls_compressed_archives_and_run_network() {
    use std::io::Write;
    if !usable() {
        return;
    }
    let env = setup();
    let tar = small_tar();
    let srv = http_server(tar.clone());
    let u = &srv.base;
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    bz.write_all(&tar).unwrap();
    let bz = bz.finish().unwrap();
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut tar.as_slice(), &mut xz).unwrap();
    let mut xz_text = Vec::new();
    lzma_rs::xz_compress(&mut &b"not a tar"[..], &mut xz_text).unwrap();
    let df = format!(
        "FROM busybox\n\
         ADD {u}/data.tar /dl/\n\
         ADD --chown=65534:65534 --chmod=640 {u}/data.tar /dl/renamed.tar\n\
         ADD a.bin /bz/\n\
         ADD b.bin /xz/\n\
         ADD c.tar.xz /raw/\n\
         RUN --network=none sh -c 'tail -n +3 /proc/net/dev | grep -vc \"lo:\" > /net-none; true'\n\
         RUN --network=host sh -c 'tail -n +3 /proc/net/dev | grep -vc \"lo:\" > /net-host; true'\n"
    );
    let files: [(&str, &[u8]); 4] = [
        ("Dockerfile", df.as_bytes()),
        ("a.bin", &bz),
        ("b.bin", &xz),
        ("c.tar.xz", &xz_text),
    ];
    let (r, out) = env.build(&files, &BuildOptions::default());
    let id = r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    // A URL is never unpacked; it keeps 0600 and the server's Last-Modified.
    assert_eq!(env.read(&id, "/dl/data.tar").unwrap(), tar);
    assert_eq!(
        env.stat(&id, "/dl/data.tar").unwrap(),
        (0o600, 0, 1_445_412_480)
    );
    assert_eq!(
        env.stat(&id, "/dl/renamed.tar").unwrap(),
        (0o640, 65534, 1_445_412_480)
    );
    // bzip2 and xz tars are unpacked (found by content, not name); a compressed non-tar is not.
    assert_eq!(env.read(&id, "/bz/dir/hello.txt").unwrap(), b"hello\n");
    assert_eq!(env.read(&id, "/xz/dir/hello.txt").unwrap(), b"hello\n");
    assert_eq!(env.read(&id, "/raw/c.tar.xz").unwrap(), xz_text);
    // --network=none: only loopback.
    assert_eq!(env.read(&id, "/net-none").unwrap(), b"0\n", "{out}");
    let host: u32 = String::from_utf8(env.read(&id, "/net-host").unwrap())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(host >= 1, "host network has no interface but lo");

    // Rebuild: downloaded again (the content is the key), everything cached.
    let before = srv.hits.load(std::sync::atomic::Ordering::SeqCst);
    let (r2, out2) = env.build(&files, &BuildOptions::default());
    assert_eq!(r2.unwrap(), id, "{out2}");
    assert_eq!(out2.matches("Using cache").count(), 7, "{out2}");
    assert_eq!(
        srv.hits.load(std::sync::atomic::Ordering::SeqCst),
        before + 2
    );
    // Changed remote content: both ADD <url> steps miss.
    srv.body.lock().unwrap().extend_from_slice(&[0u8; 512]);
    let (r3, out3) = env.build(&files, &BuildOptions::default());
    assert_ne!(r3.unwrap(), id);
    assert_eq!(out3.matches("Using cache").count(), 0, "{out3}");

    // The build's network mode reaches RUN; `--network=default` follows it.
    let df = "FROM busybox\nRUN --network=default sh -c 'tail -n +3 /proc/net/dev | grep -vc \"lo:\" > /n; true'\n";
    let (r, out) = env.build(
        &[("Dockerfile", df.as_bytes())],
        &BuildOptions {
            network_mode: Some("none".into()),
            ..Default::default()
        },
    );
    assert_eq!(env.read(&r.unwrap(), "/n").unwrap(), b"0\n", "{out}");

    // Errors: a non-2xx download, a URL for COPY, and BuildKit-only RUN flags.
    let df = format!("FROM busybox\nADD {u}/missing /x\n");
    let (r, _) = env.build(&[("Dockerfile", df.as_bytes())], &BuildOptions::default());
    assert_eq!(
        r.unwrap_err(),
        format!("failed to GET {u}/missing with status 404 Not Found: nope")
    );
    let df = format!("FROM busybox\nCOPY {u}/data.tar /x\n");
    let (r, _) = env.build(&[("Dockerfile", df.as_bytes())], &BuildOptions::default());
    assert_eq!(r.unwrap_err(), "source can't be a URL for COPY");
    let df = format!("FROM busybox\nADD {u}/ /dir/\n");
    let (r, _) = env.build(&[("Dockerfile", df.as_bytes())], &BuildOptions::default());
    assert!(r.unwrap_err().contains("404"));
    let df = "FROM busybox\nRUN --mount=type=cache,target=/c true\n";
    let (r, _) = env.build(&[("Dockerfile", df.as_bytes())], &BuildOptions::default());
    assert_eq!(
        r.unwrap_err(),
        "the --mount option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
    );
}

/// Docker 20.10's legacy output: metadata steps (and RUN) report a `Running in` container that
/// is removed unless `--rm=false`; COPY/ADD create none.
#[test]
fn metadata_steps_report_intermediate_containers() {
    if !usable() {
        return;
    }
    let env = setup();
    let df: &[u8] = b"FROM busybox\nENV A=1\nCOPY f /f\nLABEL x=y\nCMD [\"true\"]\n";
    let files: [(&str, &[u8]); 2] = [("Dockerfile", df), ("f", b"f")];
    let (r, out) = env.build(&files, &BuildOptions::default());
    r.unwrap_or_else(|e| panic!("{e}\n{out}"));
    let lines: Vec<&str> = out.lines().collect();
    let is_id = |l: &str, prefix: &str| {
        l.strip_prefix(prefix)
            .is_some_and(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    // Step 2 (ENV): Running in X, Removing intermediate container X, ---> id.
    assert_eq!(lines[2], "Step 2/5 : ENV A=1", "{out}");
    assert!(is_id(lines[3], " ---> Running in "), "{out}");
    assert_eq!(
        lines[4],
        format!(
            "Removing intermediate container {}",
            &lines[3][" ---> Running in ".len()..]
        ),
        "{out}"
    );
    assert!(is_id(lines[5], " ---> "), "{out}");
    // Step 3 (COPY): no container.
    assert_eq!(lines[6], "Step 3/5 : COPY f /f", "{out}");
    assert!(is_id(lines[7], " ---> "), "{out}");
    assert_eq!(lines[8], "Step 4/5 : LABEL x=y", "{out}");
    assert!(is_id(lines[9], " ---> Running in "), "{out}");
    assert_eq!(out.matches(" ---> Running in ").count(), 3, "{out}");
    assert_eq!(
        out.matches("Removing intermediate container ").count(),
        3,
        "{out}"
    );
    // --rm=false keeps (and so does not announce removing) the containers.
    let (r, out) = env.build(
        &files,
        &BuildOptions {
            no_cache: true,
            rm: false,
            ..Default::default()
        },
    );
    r.unwrap();
    assert_eq!(out.matches(" ---> Running in ").count(), 3, "{out}");
    assert!(!out.contains("Removing intermediate container"), "{out}");
}
