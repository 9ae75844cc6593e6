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
