//! Dockerfile builds through the real docker CLI (legacy builder API) and `berth build`, run
//! afterwards: files, env, workdir, user and command of the result, the cache on rebuild,
//! multi-stage `COPY --from`, `.dockerignore`, and Docker's error for a failing RUN.

#![allow(clippy::unwrap_used)]

mod common;

use common::Daemon;

fn write(dir: &std::path::Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(p, text).unwrap();
}

#[test]
fn builds_run_and_cache() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    let ctx = d.dir.path().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nENV APP_ENV=production\nWORKDIR /home/app\nCOPY . /home/app\nRUN mkdir -p /data && echo built > /data/marker\nUSER nobody\nCMD [\"sh\", \"-c\", \"cat /home/app/index.html /data/marker; echo $APP_ENV; pwd; id -u\"]\n",
    );
    write(&ctx, "index.html", "<h1>berth</h1>\n");
    write(&ctx, "secret.txt", "do not ship\n");
    write(&ctx, ".dockerignore", "secret.txt\n");
    let ctx_s = ctx.to_str().unwrap();

    // The docker CLI's classic builder.
    let o = d.docker(&["build", "-t", "site:v1", ctx_s]).ok();
    assert!(o.stdout.contains("Step 1/7 : FROM busybox"), "{}", o.stdout);
    assert!(
        o.stdout.contains("Successfully tagged site:v1"),
        "{}",
        o.stdout
    );
    let o = d.docker(&["run", "--rm", "site:v1"]).ok();
    assert_eq!(
        o.out(),
        "<h1>berth</h1>\nbuilt\nproduction\n/home/app\n65534"
    );
    let o = d
        .docker(&["run", "--rm", "site:v1", "ls", "/home/app"])
        .ok();
    assert!(
        !o.out().contains("secret.txt"),
        ".dockerignore: {}",
        o.out()
    );

    // No change: every step comes from the cache and the id is the same.
    let id1 = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "site:v1"])
        .ok();
    let o = d.docker(&["build", "-t", "site:v1", ctx_s]).ok();
    assert_eq!(o.stdout.matches("Using cache").count(), 6, "{}", o.stdout);
    let id2 = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "site:v1"])
        .ok();
    assert_eq!(id1.out(), id2.out());
    // --cache-from: the cache counts only for steps that are the named image or its ancestors.
    let o = d
        .docker(&["build", "--cache-from", "site:v1", "-t", "site:v1", ctx_s])
        .ok();
    assert_eq!(o.stdout.matches("Using cache").count(), 6, "{}", o.stdout);
    let o = d
        .docker(&[
            "build",
            "--cache-from",
            "nosuchtag",
            "-t",
            "site:other",
            ctx_s,
        ])
        .ok();
    assert_eq!(o.stdout.matches("Using cache").count(), 0, "{}", o.stdout);
    // A changed file invalidates COPY and what follows.
    write(&ctx, "index.html", "<h1>changed</h1>\n");
    let o = d.berth(&["build", "-t", "site:v2", ctx_s]).ok();
    assert_eq!(o.stdout.matches("Using cache").count(), 2, "{}", o.stdout);
    let o = d
        .docker(&["run", "--rm", "site:v2", "cat", "/home/app/index.html"])
        .ok();
    assert_eq!(o.out(), "<h1>changed</h1>");

    // Multi-stage with COPY --from and --target.
    let ms = d.dir.path().join("ms");
    write(
        &ms,
        "Dockerfile",
        "FROM busybox AS builder\nRUN echo artifact > /out.txt\nFROM busybox AS unused\nRUN false\nFROM busybox\nCOPY --from=builder /out.txt /app/out.txt\nENTRYPOINT [\"cat\"]\nCMD [\"/app/out.txt\"]\n",
    );
    d.docker(&["build", "-t", "ms", ms.to_str().unwrap()]).ok();
    assert_eq!(d.docker(&["run", "--rm", "ms"]).ok().out(), "artifact");
    d.docker(&[
        "build",
        "--target",
        "builder",
        "-t",
        "ms-builder",
        ms.to_str().unwrap(),
    ])
    .ok();
    let o = d
        .docker(&["run", "--rm", "ms-builder", "cat", "/out.txt"])
        .ok();
    assert_eq!(o.out(), "artifact");

    // A failing RUN: Docker's message and a non-zero exit.
    let bad = d.dir.path().join("bad");
    write(&bad, "Dockerfile", "FROM busybox\nRUN false\n");
    let o = d.docker(&["build", bad.to_str().unwrap()]);
    assert_ne!(o.code, 0);
    assert!(
        format!("{}{}", o.stdout, o.stderr)
            .contains("The command '/bin/sh -c false' returned a non-zero code: 1"),
        "{} {}",
        o.stdout,
        o.stderr
    );
}

/// A corpus of Dockerfile shapes built with the docker CLI and run.
#[test]
fn dockerfile_corpus_through_the_docker_cli() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    let build = |name: &str, files: &[(&str, &str)]| {
        let ctx = d.dir.path().join(name);
        for (f, text) in files {
            write(&ctx, f, text);
        }
        d.docker(&["build", "-t", name, ctx.to_str().unwrap()]).ok();
    };
    // nginx-style: a base and an ADDed page.
    build(
        "web",
        &[
            (
                "Dockerfile",
                "FROM busybox\nADD index.html /www/index.html\nEXPOSE 80\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
            ),
            ("index.html", "<p>nginx-ish</p>\n"),
        ],
    );
    let o = d
        .docker(&["run", "--rm", "web", "cat", "/www/index.html"])
        .ok();
    assert_eq!(o.out(), "<p>nginx-ish</p>");
    let o = d
        .docker(&[
            "image",
            "inspect",
            "-f",
            "{{json .Config.ExposedPorts}}",
            "web",
        ])
        .ok();
    assert_eq!(o.out(), r#"{"80/tcp":{}}"#);
    // ENTRYPOINT + CMD: CMD supplies default arguments, run arguments replace them.
    build(
        "ep",
        &[(
            "Dockerfile",
            "FROM busybox\nENTRYPOINT [\"echo\", \"ep:\"]\nCMD [\"default\"]\n",
        )],
    );
    assert_eq!(d.docker(&["run", "--rm", "ep"]).ok().out(), "ep: default");
    assert_eq!(
        d.docker(&["run", "--rm", "ep", "given"]).ok().out(),
        "ep: given"
    );
    // ONBUILD triggers run in the child build.
    build(
        "parent",
        &[(
            "Dockerfile",
            "FROM busybox\nONBUILD RUN echo triggered > /onbuild.txt\n",
        )],
    );
    build("child", &[("Dockerfile", "FROM parent\n")]);
    let o = d
        .docker(&["run", "--rm", "child", "cat", "/onbuild.txt"])
        .ok();
    assert_eq!(o.out(), "triggered");
    // Heredoc and the escape directive.
    build(
        "heredoc",
        &[(
            "Dockerfile",
            "# escape=`\nFROM busybox\nRUN <<EOF\necho one > /h.txt\necho two >> /h.txt\nEOF\nENV MSG=a`\nb\n",
        )],
    );
    let o = d
        .docker(&[
            "run",
            "--rm",
            "heredoc",
            "sh",
            "-c",
            "cat /h.txt; echo $MSG",
        ])
        .ok();
    assert_eq!(o.out(), "one\ntwo\nab");
    // A parse error names the file and line.
    let bad = d.dir.path().join("badsyntax");
    write(&bad, "Dockerfile", "FROM busybox\nRUNN echo\n");
    let o = d.docker(&["build", bad.to_str().unwrap()]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr.contains("unknown instruction: RUNN"),
        "{}",
        o.stderr
    );
}

/// Sends SIGTERM to berthd (pid from its pidfile) and waits, bounded, until it has exited.
fn sigterm_daemon(d: &Daemon) {
    let pid: i32 = std::fs::read_to_string(d.dir.path().join("berthd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    // berthd is our child: once it exits it stays a zombie until `restart` reaps it.
    let gone = common::poll(std::time::Duration::from_secs(20), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(true)
    });
    assert!(gone, "berthd did not exit on SIGTERM; log:\n{}", d.log());
}

/// The build cache lives in the data root: after SIGTERM and after SIGKILL, a restarted berthd
/// serves every step from the cache and yields the same image id.
#[test]
fn cache_survives_daemon_restart() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let mut d = Daemon::start();
    d.make_busybox("busybox");
    let ctx = d.dir.path().join("restart-ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nENV GREETING=hello\nCOPY page.txt /srv/page.txt\nRUN echo ran > /srv/ran.txt\nLABEL stage=restart\nCMD [\"cat\", \"/srv/page.txt\", \"/srv/ran.txt\"]\n",
    );
    write(&ctx, "page.txt", "page\n");
    let ctx_s = ctx.to_str().unwrap();
    let o = d.docker(&["build", "-t", "restart:v1", ctx_s]).ok();
    assert_eq!(o.stdout.matches("Using cache").count(), 0, "{}", o.stdout);
    let id = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "restart:v1"])
        .ok()
        .out()
        .to_string();
    let all_cached = |o: &common::Out| {
        assert_eq!(
            o.stdout.matches(" ---> Using cache\n").count(),
            5,
            "{}",
            o.stdout
        );
        assert!(!o.stdout.contains("Running in"), "{}", o.stdout);
    };

    // SIGTERM: a clean shutdown.
    sigterm_daemon(&d);
    d.restart();
    let o = d.docker(&["build", "-t", "restart:v1", ctx_s]).ok();
    all_cached(&o);
    let again = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "restart:v1"])
        .ok();
    assert_eq!(again.out(), id);

    // SIGKILL right after a build: nothing written by the build may be lost.
    write(&ctx, "page.txt", "page two\n");
    let o = d.berth(&["build", "-t", "restart:v2", ctx_s]).ok();
    assert_eq!(o.stdout.matches("Using cache").count(), 1, "{}", o.stdout);
    let id2 = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "restart:v2"])
        .ok()
        .out()
        .to_string();
    d.restart();
    let o = d.berth(&["build", "-t", "restart:v2", ctx_s]).ok();
    all_cached(&o);
    let again = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "restart:v2"])
        .ok();
    assert_eq!(again.out(), id2);
    assert_eq!(
        d.docker(&["run", "--rm", "restart:v2"]).ok().out(),
        "page two\nran"
    );
}

/// A one-thread HTTP server on 127.0.0.1 for `ADD <url>`: `/page.html` with a Last-Modified,
/// 404 for anything else. Lives until the test process ends.
fn http_server() -> String {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let (status, extra, body) = if line.split_whitespace().nth(1) == Some("/page.html") {
                (
                    "200 OK",
                    "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
                    "<p>remote</p>\n",
                )
            } else {
                ("404 Not Found", "", "gone")
            };
            let mut w = s;
            let _ = write!(
                w,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
                body.len()
            );
        }
    });
    base
}

/// `ADD <url>` and RUN's network (`RUN --network`, `build --network`) through both CLIs.
#[test]
fn add_url_and_run_network() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    let base = http_server();
    let count = "tail -n +3 /proc/net/dev | grep -vc lo: > /ifaces; true";
    let ctx = d.dir.path().join("url-ctx");
    write(
        &ctx,
        "Dockerfile",
        &format!(
            "FROM busybox\nADD {base}/page.html /www/\nADD --chmod=644 {base}/page.html /www/open.html\nRUN --network=none sh -c '{count}'\n"
        ),
    );
    d.docker(&["build", "-t", "urlimg", ctx.to_str().unwrap()])
        .ok();
    let o = d
        .docker(&[
            "run",
            "--rm",
            "urlimg",
            "sh",
            "-c",
            "cat /www/page.html; stat -c '%a %Y' /www/page.html /www/open.html; cat /ifaces",
        ])
        .ok();
    assert_eq!(o.out(), "<p>remote</p>\n600 1445412480\n644 1445412480\n0");
    // `berth build --network none` reaches RUN.
    let net = d.dir.path().join("net-ctx");
    write(
        &net,
        "Dockerfile",
        &format!("FROM busybox\nRUN sh -c '{count}'\n"),
    );
    d.berth(&[
        "build",
        "--network",
        "none",
        "-t",
        "netnone",
        net.to_str().unwrap(),
    ])
    .ok();
    let o = d.docker(&["run", "--rm", "netnone", "cat", "/ifaces"]).ok();
    assert_eq!(o.out(), "0");
    // `build --network <user network>`: RUN steps resolve the network's names.
    d.docker(&["network", "create", "bnet"]).ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "btarget",
        "--network",
        "bnet",
        "--network-alias",
        "pingtarget.test",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    write(
        &net,
        "Dockerfile",
        "FROM busybox\nRUN nslookup pingtarget.test\n",
    );
    let o = d
        .docker(&["build", "--network", "bnet", net.to_str().unwrap()])
        .ok();
    let ip = d.inspect(
        "{{(index .NetworkSettings.Networks \"bnet\").IPAddress}}",
        "btarget",
    );
    assert!(o.stdout.contains(&ip), "{ip}: {}", o.stdout);
    let o = d.docker(&[
        "build",
        "--no-cache",
        "--network",
        "nosuchnet",
        net.to_str().unwrap(),
    ]);
    assert_ne!(o.code, 0);
    o.assert_says("nosuchnet");
    // A failed RUN's error line carries the exit code, as dockerd's does.
    write(&net, "Dockerfile", "FROM busybox\nRUN exit 3\n");
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "tar -C {} -cf - . | curl -sS --unix-socket {} -X POST -H 'Content-Type: application/x-tar' --data-binary @- http://x/v1.41/build",
            net.display(),
            d.sock.display()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let last: serde_json::Value =
        serde_json::from_str(text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("")).unwrap();
    assert_eq!(last["errorDetail"]["code"], 3, "{text}");
    assert_eq!(
        last["error"], "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
        "{text}"
    );
    d.docker(&["rm", "-f", "btarget"]).ok();
    d.docker(&["network", "rm", "bnet"]).ok();
    // --add-host reaches RUN's /etc/hosts, on the host network and without one.
    write(
        &net,
        "Dockerfile",
        "FROM busybox\nRUN grep -q '10.1.2.3.*extra.test' /etc/hosts\nRUN --network=none grep -q '10.1.2.3.*extra.test' /etc/hosts\n",
    );
    d.docker(&[
        "build",
        "--add-host",
        "extra.test:10.1.2.3",
        net.to_str().unwrap(),
    ])
    .ok();
    // A step's stderr comes back wrapped in dockerd's red escape codes.
    write(&net, "Dockerfile", "FROM busybox\nRUN echo oops >&2\n");
    let o = d.docker(&["build", net.to_str().unwrap()]).ok();
    assert!(o.stdout.contains("\x1b[91moops\n\x1b[0m"), "{:?}", o.stdout);
    // A failed download fails the build with the status.
    write(
        &ctx,
        "Dockerfile",
        &format!("FROM busybox\nADD {base}/missing /x\n"),
    );
    let o = d.docker(&["build", ctx.to_str().unwrap()]);
    assert_ne!(o.code, 0);
    o.assert_says("with status 404 Not Found");
    // BuildKit-only RUN mounts: Docker's classic-builder error.
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nRUN --mount=type=tmpfs,target=/t true\n",
    );
    let o = d.docker(&["build", ctx.to_str().unwrap()]);
    assert_ne!(o.code, 0);
    o.assert_says("the --mount option requires BuildKit");
}
