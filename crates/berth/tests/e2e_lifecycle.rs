//! Restart policies, `--rm`, and live restore (berthd killed with SIGKILL while containers run).

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{BOTH, Cli, Daemon, poll};

fn setup() -> Daemon {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    d
}

#[test]
fn rm_flag_removes_the_container_after_exit() {
    let d = setup();
    for cli in BOTH {
        let o = d.cli(
            cli,
            &[
                "run",
                "--rm",
                "--name",
                "gone",
                "busybox",
                "sh",
                "-c",
                "echo bye; exit 2",
            ],
        );
        assert_eq!((o.code, o.out()), (2, "bye"), "{cli:?}");
        let o = d.cli(cli, &["ps", "-aq"]).ok();
        assert_eq!(o.out(), "", "{cli:?}");
        // Detached --rm: removed once it ends by itself.
        d.cli(
            cli,
            &[
                "run", "-d", "--rm", "--name", "gone-bg", "busybox", "sleep", "0.2",
            ],
        )
        .ok();
        assert!(
            poll(Duration::from_secs(10), || d
                .docker(&["ps", "-aq"])
                .ok()
                .out()
                .is_empty()),
            "{cli:?}: --rm container stayed"
        );
    }
}

#[test]
fn restart_policies() {
    let d = setup();
    for cli in BOTH {
        let (flaky, always, unless) = match cli {
            Cli::Docker => ("flaky-d", "always-d", "unless-d"),
            Cli::Berth => ("flaky-b", "always-b", "unless-b"),
        };
        // on-failure:2 restarts twice, then stays exited with the code.
        d.cli(
            cli,
            &[
                "run",
                "-d",
                "--name",
                flaky,
                "--restart",
                "on-failure:2",
                "busybox",
                "sh",
                "-c",
                "exit 1",
            ],
        )
        .ok();
        d.wait_inspect(
            "{{.RestartCount}} {{.State.Running}} {{.State.Restarting}} {{.State.ExitCode}}",
            flaky,
            "2 false false 1",
        );
        // always restarts a clean exit; `stop` ends it for good.
        d.cli(
            cli,
            &[
                "run",
                "-d",
                "--name",
                always,
                "--restart",
                "always",
                "busybox",
                "sh",
                "-c",
                "sleep 0.2",
            ],
        )
        .ok();
        let mut count = String::new();
        assert!(
            poll(Duration::from_secs(20), || {
                count = d.inspect("{{.RestartCount}}", always);
                count.parse::<u32>().unwrap_or(0) >= 2
            }),
            "{cli:?}: always did not restart ({count})"
        );
        d.cli(cli, &["stop", "-t", "1", always]).ok();
        d.wait_inspect("{{.State.Status}}", always, "exited");
        let c1 = d.inspect("{{.RestartCount}}", always);
        // Stays stopped: give the monitor a fair chance to (wrongly) restart it.
        let restarted = poll(Duration::from_secs(2), || {
            d.inspect("{{.State.Status}}", always) != "exited"
        });
        assert!(!restarted, "{cli:?}: always restarted after docker stop");
        assert_eq!(d.inspect("{{.RestartCount}}", always), c1);
        // unless-stopped: restarted on failure, not after stop.
        d.cli(
            cli,
            &[
                "run",
                "-d",
                "--name",
                unless,
                "--restart",
                "unless-stopped",
                "busybox",
                "sh",
                "-c",
                "sleep 0.2; exit 5",
            ],
        )
        .ok();
        assert!(
            poll(Duration::from_secs(20), || d
                .inspect("{{.RestartCount}}", unless)
                .parse::<u32>()
                .unwrap_or(0)
                >= 1),
            "{cli:?}: unless-stopped did not restart"
        );
        d.cli(cli, &["stop", "-t", "1", unless]).ok();
        d.wait_inspect("{{.State.Running}}", unless, "false");
        let restarted = poll(Duration::from_secs(2), || {
            d.inspect("{{.State.Running}}", unless) == "true"
        });
        assert!(!restarted, "{cli:?}: unless-stopped restarted after stop");
    }
}

#[test]
fn live_restore_readopts_running_containers() {
    let mut d = setup();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "long",
        "busybox",
        "sh",
        "-c",
        "echo up; while true; do sleep 0.1; done",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "short",
        "-i",
        "busybox",
        "sh",
        "-c",
        "read x; exit 7",
    ])
    .ok();
    d.wait_inspect("{{.State.Running}}", "short", "true");
    let pid_before = d.inspect("{{.State.Pid}}", "long");
    let short_pid = d.inspect("{{.State.Pid}}", "short");
    let shims = d.shim_pids();
    assert!(shims.len() >= 2, "shims: {shims:?}");
    d.kill9();
    // While berthd is down, "short" ends: kill its process directly.
    let spid: i32 = short_pid.parse().expect("pid");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(spid),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(
        poll(Duration::from_secs(10), || !std::path::Path::new(&format!(
            "/proc/{spid}"
        ))
        .exists()
            || std::fs::read_to_string(format!("/proc/{spid}/stat"))
                .unwrap_or_default()
                .contains(") Z")),
        "short did not die"
    );
    // Shims survived berthd.
    for p in &shims {
        assert!(
            std::path::Path::new(&format!("/proc/{p}")).exists(),
            "shim {p} died with berthd"
        );
    }
    d.restart();
    assert_eq!(
        d.inspect("{{.State.Running}} {{.State.Pid}}", "long"),
        format!("true {pid_before}")
    );
    d.wait_inspect(
        "{{.State.Status}} {{.State.ExitCode}}",
        "short",
        "exited 137",
    );
    for cli in BOTH {
        let o = d.cli(cli, &["ps", "--format", "{{.Names}}"]).ok();
        assert_eq!(o.out(), "long", "{cli:?}");
        let o = d.cli(cli, &["exec", "long", "echo", "still here"]).ok();
        assert_eq!(o.out(), "still here", "{cli:?}");
        let o = d.cli(cli, &["logs", "long"]).ok();
        assert_eq!(o.out(), "up", "{cli:?}");
    }
    // logs -f on the re-adopted container ends when it stops.
    let mut f = d.spawn_cli(Cli::Berth, &["logs", "-f", "long"]);
    let buf = common::collect_stdout(&mut f);
    assert!(
        poll(Duration::from_secs(10), || common::text(&buf)
            .contains("up")),
        "{:?}",
        common::text(&buf)
    );
    d.docker(&["stop", "-t", "1", "long"]).ok();
    assert_eq!(d.inspect("{{.State.Running}}", "long"), "false");
    assert!(
        poll(Duration::from_secs(10), || matches!(
            f.try_wait(),
            Ok(Some(_))
        )),
        "logs -f did not end"
    );
    common::stop_child(f);
}
