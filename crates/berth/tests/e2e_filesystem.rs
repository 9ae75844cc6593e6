//! Container filesystems through both CLIs: cp both ways, diff, export, commit (then run the
//! committed image).

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{BOTH, Cli, Daemon};

fn setup() -> Daemon {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    d
}

#[test]
fn cp_diff_export_commit() {
    let d = setup();
    for cli in BOTH {
        let (fs, img) = match cli {
            Cli::Docker => ("fs-d", "committed-d:v1"),
            Cli::Berth => ("fs-b", "committed-b:v1"),
        };
        d.cli(
            cli,
            &[
                "run",
                "--name",
                fs,
                "busybox",
                "sh",
                "-c",
                "mkdir /tmp/dir; echo data > /tmp/f; echo nested > /tmp/dir/n; rm /etc/group",
            ],
        )
        .ok();
        let o = d.cli(cli, &["diff", fs]).ok();
        let lines: Vec<&str> = o.stdout.lines().collect();
        for want in [
            "C /tmp",
            "A /tmp/f",
            "A /tmp/dir",
            "A /tmp/dir/n",
            "C /etc",
            "D /etc/group",
        ] {
            assert!(
                lines.contains(&want),
                "{cli:?}: diff lacks {want}: {}",
                o.stdout
            );
        }
        // Container → host: a file and a directory.
        let host = d.dir.path().join(format!("copied-{fs}"));
        d.cli(
            cli,
            &["cp", &format!("{fs}:/tmp/f"), host.to_str().unwrap()],
        )
        .ok();
        assert_eq!(std::fs::read_to_string(&host).unwrap(), "data\n", "{cli:?}");
        let hostdir = d.dir.path().join(format!("dir-{fs}"));
        d.cli(
            cli,
            &["cp", &format!("{fs}:/tmp/dir"), hostdir.to_str().unwrap()],
        )
        .ok();
        assert_eq!(
            std::fs::read_to_string(hostdir.join("n")).unwrap(),
            "nested\n",
            "{cli:?}"
        );
        // Host → container.
        let up = d.dir.path().join(format!("up-{fs}"));
        std::fs::write(&up, "uploaded\n").unwrap();
        d.cli(cli, &["cp", up.to_str().unwrap(), &format!("{fs}:/tmp/up")])
            .ok();
        let o = d.cli(
            cli,
            &["cp", &format!("{fs}:/nosuch"), host.to_str().unwrap()],
        );
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr
                .contains("Could not find the file /nosuch in container"),
            "{cli:?} {}",
            o.stderr
        );
        // Commit with a message, author and a CMD change; run the image.
        let o = d
            .cli(
                cli,
                &[
                    "commit",
                    "-a",
                    "tester",
                    "-m",
                    "msg",
                    "-c",
                    "CMD [\"cat\", \"/tmp/up\"]",
                    fs,
                    img,
                ],
            )
            .ok();
        assert!(o.out().starts_with("sha256:"), "{cli:?} {}", o.out());
        let o = d.cli(cli, &["run", "--rm", img]).ok();
        assert_eq!(o.out(), "uploaded", "{cli:?}");
        let o = d
            .cli(
                cli,
                &[
                    "run",
                    "--rm",
                    img,
                    "sh",
                    "-c",
                    "cat /tmp/f; ls /etc/group 2>&1 || true",
                ],
            )
            .ok();
        assert!(o.stdout.starts_with("data\n"), "{cli:?} {}", o.stdout);
        assert!(o.stdout.contains("No such file"), "{cli:?} {}", o.stdout);
        assert_eq!(d.inspect("{{.Author}} {{.Comment}}", img), "tester msg");
        // Export: the container's whole filesystem as a tar.
        let exp = d.dir.path().join(format!("export-{fs}.tar"));
        d.cli(cli, &["export", "-o", exp.to_str().unwrap(), fs])
            .ok();
        let mut names = Vec::new();
        let mut ar = tar::Archive::new(std::fs::File::open(&exp).unwrap());
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            names.push(
                e.path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_start_matches("./")
                    .trim_end_matches('/')
                    .to_string(),
            );
        }
        for want in ["bin/busybox", "tmp/f", "tmp/up", "tmp/dir/n"] {
            assert!(
                names.iter().any(|n| n == want),
                "{cli:?}: export lacks {want}"
            );
        }
        assert!(
            !names.iter().any(|n| n == "etc/group"),
            "{cli:?}: export has a deleted file"
        );
        d.cli(cli, &["rm", fs]).ok();
    }
}
