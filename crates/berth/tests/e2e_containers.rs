//! Containers through both the real docker CLI and `berth`: run options, error messages and
//! exit codes, ps filters and formats, logs, exec, attach, top, stats, update, pause, inspect
//! templates, rename, wait, kill.

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::time::Duration;

use common::{BOTH, Cli, Daemon, poll};

fn setup() -> Daemon {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    d
}

/// A name unique per client, so both scenarios share one daemon.
fn n(cli: Cli, base: &str) -> String {
    match cli {
        Cli::Docker => format!("{base}-d"),
        Cli::Berth => format!("{base}-b"),
    }
}

#[test]
fn run_output_options_and_exit_codes() {
    let d = setup();
    for cli in BOTH {
        let o = d
            .cli(cli, &["run", "--rm", "busybox", "echo", "hello from berth"])
            .ok();
        assert_eq!(o.stdout, "hello from berth\n", "{cli:?}");
        let o = d.cli(cli, &["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
        assert_eq!(o.code, 3, "{cli:?} {}", o.stderr);
        // stdout and stderr stay separate.
        let o = d
            .cli(
                cli,
                &[
                    "run",
                    "--rm",
                    "busybox",
                    "sh",
                    "-c",
                    "echo out; echo err >&2",
                ],
            )
            .ok();
        assert_eq!((o.out(), o.stderr.trim()), ("out", "err"), "{cli:?}");
        let o = d
            .cli(
                cli,
                &[
                    "run",
                    "--rm",
                    "-e",
                    "FOO=bar",
                    "-w",
                    "/tmp",
                    "-u",
                    "65534",
                    "--hostname",
                    "h1",
                    "busybox",
                    "sh",
                    "-c",
                    "echo $FOO $(pwd) $(id -u) $(hostname)",
                ],
            )
            .ok();
        assert_eq!(o.out(), "bar /tmp 65534 h1", "{cli:?}");
        let envfile = d.dir.path().join("env.list");
        std::fs::write(&envfile, "# comment\nA=1\nB=two words\n").unwrap();
        let o = d
            .cli(
                cli,
                &[
                    "run",
                    "--rm",
                    "--env-file",
                    envfile.to_str().unwrap(),
                    "busybox",
                    "sh",
                    "-c",
                    "echo $A/$B",
                ],
            )
            .ok();
        assert_eq!(o.out(), "1/two words", "{cli:?}");
        let o = d
            .cli(
                cli,
                &["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"],
            )
            .ok();
        assert_eq!(o.out(), "a b", "{cli:?}");
        let o = d
            .cli_stdin(
                cli,
                &["run", "--rm", "-i", "busybox", "cat"],
                Some(b"piped input\n"),
            )
            .ok();
        assert_eq!(o.out(), "piped input", "{cli:?}");
        // --init puts an init at pid 1, without it the command is pid 1.
        let o = d
            .cli(cli, &["run", "--rm", "busybox", "sh", "-c", "echo $$"])
            .ok();
        assert_eq!(o.out(), "1", "{cli:?}");
        let o = d
            .cli(
                cli,
                &["run", "--rm", "--init", "busybox", "sh", "-c", "echo $$"],
            )
            .ok();
        assert_ne!(o.out(), "1", "{cli:?}: --init did not insert an init");
        // --read-only root.
        let o = d.cli(
            cli,
            &["run", "--rm", "--read-only", "busybox", "touch", "/x"],
        );
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr.contains("Read-only file system"),
            "{cli:?} {}",
            o.stderr
        );
        // --network none: only loopback.
        let o = d
            .cli(
                cli,
                &[
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "busybox",
                    "ls",
                    "/sys/class/net",
                ],
            )
            .ok();
        assert_eq!(o.out(), "lo", "{cli:?}");
    }
}

#[test]
fn run_errors_use_dockers_words_and_exit_codes() {
    let d = setup();
    for cli in BOTH {
        // Command not found → 127, not executable → 126.
        let o = d.cli(cli, &["run", "--rm", "busybox", "nosuchcmd"]);
        assert_eq!(o.code, 127, "{cli:?} {}", o.stderr);
        assert!(
            o.stderr
                .contains("exec: \"nosuchcmd\": executable file not found in $PATH"),
            "{cli:?} {}",
            o.stderr
        );
        let o = d.cli(cli, &["run", "--rm", "busybox", "/etc/passwd"]);
        assert_eq!(o.code, 126, "{cli:?} {}", o.stderr);
        assert!(
            o.stderr.contains("permission denied"),
            "{cli:?} {}",
            o.stderr
        );
        // Missing image → 125.
        let o = d.cli(cli, &["run", "--rm", "nosuchimage", "true"]);
        assert_eq!(o.code, 125, "{cli:?}");
        assert!(
            o.stderr
                .contains("Unable to find image 'nosuchimage:latest' locally"),
            "{cli:?} {}",
            o.stderr
        );
        let o = d.cli(
            cli,
            &["run", "--rm", "--pull", "never", "nosuchimage", "true"],
        );
        assert_eq!(o.code, 125, "{cli:?}");
        assert!(
            o.stderr
                .contains("Error response from daemon: No such image: nosuchimage:latest"),
            "{cli:?} {}",
            o.stderr
        );
        let o = d.cli(cli, &["run", "--rm", "Bad:Ref", "true"]);
        assert_eq!(o.code, 125, "{cli:?}");
        assert!(
            o.stderr
                .contains("invalid reference format: repository name")
                && o.stderr.contains("must be lowercase"),
            "{cli:?} {}",
            o.stderr
        );
        // Name conflict.
        let name = n(cli, "dup");
        let id = d
            .cli(cli, &["create", "--name", &name, "busybox", "true"])
            .ok()
            .out()
            .to_string();
        assert_eq!(id.len(), 64, "{cli:?} {id}");
        let o = d.cli(cli, &["run", "--name", &name, "busybox", "true"]);
        assert_eq!(o.code, 125, "{cli:?}");
        let want = format!(
            "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
        );
        assert!(o.stderr.contains(&want), "{cli:?} {}", o.stderr);
        d.cli(cli, &["rm", &name]).ok();
        // Missing containers.
        let o = d.cli(cli, &["stop", "nosuch-ctr"]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr
                .contains("Error response from daemon: No such container: nosuch-ctr"),
            "{cli:?} {}",
            o.stderr
        );
        let o = d.cli(cli, &["rm", "nosuch-ctr"]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr.contains("No such container: nosuch-ctr"),
            "{cli:?} {}",
            o.stderr
        );
        let o = d.cli(cli, &["inspect", "nosuch-ctr"]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr.contains("No such object: nosuch-ctr"),
            "{cli:?} {}",
            o.stderr
        );
    }
}

#[test]
fn ps_filters_formats_and_flags() {
    let d = setup();
    let run_id = d
        .docker(&[
            "run", "-d", "--name", "psrun", "--label", "tier=web", "busybox", "sleep", "100",
        ])
        .ok()
        .out()
        .to_string();
    d.docker(&["create", "--name", "pscreated", "busybox", "true"])
        .ok();
    d.docker(&["run", "--name", "psexited", "busybox", "sh", "-c", "exit 3"]);
    for cli in BOTH {
        let o = d.cli(cli, &["ps", "-q"]).ok();
        assert_eq!(o.out(), &run_id[..12], "{cli:?}");
        let o = d.cli(cli, &["ps", "-q", "--no-trunc"]).ok();
        assert_eq!(o.out(), run_id, "{cli:?}");
        let o = d.cli(cli, &["ps", "-a", "--format", "{{.Names}}"]).ok();
        let mut names: Vec<&str> = o.stdout.lines().collect();
        names.sort();
        assert_eq!(names, ["pscreated", "psexited", "psrun"], "{cli:?}");
        // Newest first: -l and -n.
        let o = d.cli(cli, &["ps", "-l", "--format", "{{.Names}}"]).ok();
        assert_eq!(o.out(), "psexited", "{cli:?}");
        let o = d
            .cli(cli, &["ps", "-n", "2", "--format", "{{.Names}}"])
            .ok();
        assert_eq!(o.out(), "psexited\npscreated", "{cli:?}");
        let o = d
            .cli(
                cli,
                &[
                    "ps",
                    "-a",
                    "--filter",
                    "status=exited",
                    "--format",
                    "{{.Names}} {{.Status}}",
                ],
            )
            .ok();
        assert!(
            o.out().starts_with("psexited Exited (3) "),
            "{cli:?} {}",
            o.out()
        );
        let o = d
            .cli(
                cli,
                &[
                    "ps",
                    "-a",
                    "--filter",
                    "status=created",
                    "--format",
                    "{{.Names}} {{.State}}",
                ],
            )
            .ok();
        assert_eq!(o.out(), "pscreated created", "{cli:?}");
        let o = d
            .cli(cli, &["ps", "-a", "--filter", "label=tier=web", "-q"])
            .ok();
        assert_eq!(o.out(), &run_id[..12], "{cli:?}");
        let o = d
            .cli(
                cli,
                &[
                    "ps",
                    "-a",
                    "--filter",
                    "name=psex",
                    "--format",
                    "{{.Names}}",
                ],
            )
            .ok();
        assert_eq!(o.out(), "psexited", "{cli:?}");
        let o = d
            .cli(
                cli,
                &["ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}"],
            )
            .ok();
        assert_eq!(o.out(), "psexited", "{cli:?}");
        let o = d
            .cli(
                cli,
                &[
                    "ps",
                    "-a",
                    "--filter",
                    &format!("id={}", &run_id[..8]),
                    "--format",
                    "{{.Names}}",
                ],
            )
            .ok();
        assert_eq!(o.out(), "psrun", "{cli:?}");
        let o = d
            .cli(
                cli,
                &[
                    "ps",
                    "--filter",
                    "name=psrun",
                    "--format",
                    "{{.Command}}|{{.Image}}|{{.Status}}|{{.Labels}}",
                ],
            )
            .ok();
        assert!(
            o.out().starts_with("\"sleep 100\"|busybox|Up "),
            "{cli:?} {}",
            o.out()
        );
        assert!(o.out().ends_with("|tier=web"), "{cli:?} {}", o.out());
        // JSON format carries Docker's keys.
        let o = d.cli(cli, &["ps", "--format", "{{json .}}"]).ok();
        let v: serde_json::Value = serde_json::from_str(o.out()).expect("ps json");
        assert_eq!(v["Names"], "psrun", "{cli:?}");
        assert_eq!(v["State"], "running", "{cli:?}");
        assert_eq!(v["ID"], &run_id[..12], "{cli:?}");
        // Default table header.
        let o = d.cli(cli, &["ps"]).ok();
        let header = o.stdout.lines().next().unwrap_or("");
        for col in [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ] {
            assert!(header.contains(col), "{cli:?} {header}");
        }
        // -s adds a SIZE column.
        let o = d.cli(cli, &["ps", "-s"]).ok();
        assert!(
            o.stdout.lines().next().unwrap_or("").contains("SIZE"),
            "{cli:?} {}",
            o.stdout
        );
    }
}

#[test]
fn logs_follow_tail_since_timestamps() {
    let d = setup();
    d.docker(&[
        "run",
        "--name",
        "lg",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2",
    ])
    .ok();
    for cli in BOTH {
        let o = d.cli(cli, &["logs", "lg"]).ok();
        assert_eq!(o.stdout, "line1\nline2\nline3\nline4\nline5\n", "{cli:?}");
        assert_eq!(o.stderr, "oops\n", "{cli:?}");
        let o = d.cli(cli, &["logs", "--tail", "2", "lg"]).ok();
        assert_eq!(o.stdout, "line5\n", "{cli:?}");
        assert_eq!(o.stderr, "oops\n", "{cli:?}");
        let o = d.cli(cli, &["logs", "-n", "0", "lg"]).ok();
        assert_eq!(o.stdout, "", "{cli:?}");
        let o = d.cli(cli, &["logs", "-t", "--tail", "1", "lg"]).ok();
        // RFC3339Nano timestamp, then the line.
        let (ts, rest) = o.stderr.trim().split_once(' ').unwrap_or(("", ""));
        assert_eq!(rest, "oops", "{cli:?} {}", o.stderr);
        assert!(
            ts.len() > 20 && ts.ends_with('Z') && ts.contains('T'),
            "{cli:?} {ts}"
        );
        // --since in the future shows nothing; in the past shows all.
        let o = d
            .cli(cli, &["logs", "--since", "2099-01-01T00:00:00Z", "lg"])
            .ok();
        assert_eq!((o.stdout.as_str(), o.stderr.as_str()), ("", ""), "{cli:?}");
        let o = d.cli(cli, &["logs", "--since", "1h", "lg"]).ok();
        assert_eq!(o.stdout.lines().count(), 5, "{cli:?}");
        let o = d
            .cli(cli, &["logs", "--until", "2000-01-01T00:00:00Z", "lg"])
            .ok();
        assert_eq!(o.stdout, "", "{cli:?}");
    }
    // -f follows a running container until it exits.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "lf",
        "-i",
        "busybox",
        "sh",
        "-c",
        "echo first; read x; echo second $x",
    ])
    .ok();
    for cli in BOTH {
        let mut child = d.spawn_cli(cli, &["logs", "-f", "lf"]);
        let buf = common::collect_stdout(&mut child);
        assert!(
            poll(Duration::from_secs(10), || common::text(&buf)
                .contains("first\n")),
            "{cli:?}: logs -f showed {:?}",
            common::text(&buf)
        );
        if cli == Cli::Berth {
            // Feed the container now; the docker follower above saw only "first" so far.
            let mut a = d.spawn_cli(Cli::Docker, &["attach", "lf"]);
            a.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
            assert!(
                poll(Duration::from_secs(10), || common::text(&buf)
                    .contains("second go\n")),
                "{cli:?}: {:?}",
                common::text(&buf)
            );
            // The follower ends by itself once the container exits.
            assert!(
                poll(Duration::from_secs(10), || matches!(
                    child.try_wait(),
                    Ok(Some(_))
                )),
                "logs -f did not end after the container exited"
            );
            common::stop_child(a);
        }
        common::stop_child(child);
    }
}

#[test]
fn exec_options_and_errors() {
    let d = setup();
    let id = d
        .docker(&[
            "run", "-d", "--name", "ex", "-e", "BASE=1", "busybox", "sleep", "1000",
        ])
        .ok()
        .out()
        .to_string();
    for cli in BOTH {
        let o = d.cli(cli, &["exec", "ex", "sh", "-c", "echo in; exit 4"]);
        assert_eq!((o.code, o.out()), (4, "in"), "{cli:?}");
        let o = d
            .cli(
                cli,
                &[
                    "exec",
                    "-e",
                    "X=1",
                    "-w",
                    "/tmp",
                    "-u",
                    "65534",
                    "ex",
                    "sh",
                    "-c",
                    "echo $BASE $X $(pwd) $(id -u)",
                ],
            )
            .ok();
        assert_eq!(o.out(), "1 1 /tmp 65534", "{cli:?}");
        let o = d
            .cli_stdin(
                cli,
                &["exec", "-i", "ex", "sh", "-c", "tr a-z A-Z"],
                Some(b"shout\n"),
            )
            .ok();
        assert_eq!(o.out(), "SHOUT", "{cli:?}");
        let o = d
            .cli(cli, &["exec", "-d", "ex", "sh", "-c", "echo bg > /tmp/bg"])
            .ok();
        assert_eq!(o.out(), "", "{cli:?}");
        assert!(
            poll(Duration::from_secs(10), || d
                .docker(&["exec", "ex", "cat", "/tmp/bg"])
                .out()
                == "bg"),
            "{cli:?}: detached exec did not run"
        );
        // dockerd ends every exec that cannot start with 126 (unlike `run`, which says 127).
        let o = d.cli(cli, &["exec", "ex", "nosuch"]);
        assert_eq!(o.code, 126, "{cli:?} {} {}", o.stdout, o.stderr);
        o.assert_says("executable file not found in $PATH");
        let o = d.cli(cli, &["exec", "-u", "nouser", "ex", "true"]);
        assert_eq!(o.code, 126, "{cli:?} {} {}", o.stdout, o.stderr);
        o.assert_says("nouser");
        let o = d.cli(cli, &["exec", "nosuch-ctr", "true"]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr.contains("No such container: nosuch-ctr"),
            "{cli:?} {}",
            o.stderr
        );
    }
    // Exec into a stopped container: Docker's words.
    d.docker(&["kill", "ex"]).ok();
    // kill returns once the signal is sent; wait for the exit to be recorded.
    d.docker(&["wait", "ex"]).ok();
    for cli in BOTH {
        let o = d.cli(cli, &["exec", "ex", "true"]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr.contains(&format!("Container {id} is not running")),
            "{cli:?} {}",
            o.stderr
        );
    }
}

#[test]
fn lifecycle_stop_start_restart_kill_wait_rename_rm() {
    let d = setup();
    for cli in BOTH {
        let name = n(cli, "web");
        let id = d
            .cli(
                cli,
                &[
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "busybox",
                    "sh",
                    "-c",
                    // The trap comes first: PID 1 ignores a TERM that arrives before it.
                    "trap 'echo bye; exit 0' TERM; echo started; while true; do sleep 0.1; done",
                ],
            )
            .ok()
            .out()
            .to_string();
        assert_eq!(id.len(), 64, "{cli:?}");
        assert_eq!(
            d.inspect("{{.State.Running}} {{.Name}} {{.Config.Image}}", &name),
            format!("true /{name} busybox")
        );
        assert!(
            poll(Duration::from_secs(10), || d
                .cli(cli, &["logs", &name])
                .out()
                == "started"),
            "{cli:?} no first log line"
        );
        let o = d.cli(cli, &["rm", &name]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr.contains(&format!(
                "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
            )),
            "{cli:?} {}",
            o.stderr
        );
        // stop: SIGTERM, the trap runs and sets the exit code.
        let o = d.cli(cli, &["stop", &name]).ok();
        assert_eq!(o.out(), name, "{cli:?}");
        assert_eq!(
            d.inspect("{{.State.Status}} {{.State.ExitCode}}", &name),
            "exited 0"
        );
        assert_eq!(
            d.cli(cli, &["logs", &name]).ok().out(),
            "started\nbye",
            "{cli:?}"
        );
        let o = d
            .cli(
                cli,
                &[
                    "ps",
                    "-a",
                    "--filter",
                    &format!("name={name}"),
                    "--format",
                    "{{.Status}}",
                ],
            )
            .ok();
        assert!(o.out().starts_with("Exited (0) "), "{cli:?} {}", o.out());
        // start again; restart gives a new pid; kill -s delivers the signal.
        d.cli(cli, &["start", &name]).ok();
        assert_eq!(d.inspect("{{.State.Running}}", &name), "true");
        let pid1 = d.inspect("{{.State.Pid}}", &name);
        d.cli(cli, &["restart", "-t", "5", &name]).ok();
        assert_eq!(d.inspect("{{.State.Running}}", &name), "true");
        let pid2 = d.inspect("{{.State.Pid}}", &name);
        assert_ne!(pid1, pid2, "{cli:?}: restart kept the pid");
        let o = d.cli(cli, &["kill", "-s", "KILL", &name]).ok();
        assert_eq!(o.out(), name, "{cli:?}");
        let o = d.cli(cli, &["wait", &name]).ok();
        assert_eq!(o.out(), "137", "{cli:?}");
        assert_eq!(
            d.inspect("{{.State.ExitCode}} {{.State.OOMKilled}}", &name),
            "137 false"
        );
        // wait blocks until the exit, and reports the code.
        let starts =
            |d: &common::Daemon| d.docker(&["logs", &name]).out().matches("started").count();
        let before = starts(&d);
        d.cli(cli, &["start", &name]).ok();
        assert!(
            poll(Duration::from_secs(10), || starts(&d) > before),
            "{cli:?}: no log line after start"
        );
        let mut waiter = d.spawn_cli(cli, &["wait", &name]);
        let buf = common::collect_stdout(&mut waiter);
        d.docker(&["kill", "-s", "TERM", &name]).ok();
        assert!(
            poll(Duration::from_secs(10), || common::text(&buf).trim() == "0"),
            "{cli:?}: wait printed {:?}",
            common::text(&buf)
        );
        common::stop_child(waiter);
        // rename.
        let renamed = format!("{name}-renamed");
        d.cli(cli, &["rename", &name, &renamed]).ok();
        assert_eq!(d.inspect("{{.Name}}", &id), format!("/{renamed}"));
        let o = d.cli(cli, &["inspect", &name]);
        assert_eq!(o.code, 1, "{cli:?}");
        // rm -f of a running container.
        d.cli(cli, &["start", &renamed]).ok();
        let o = d.cli(cli, &["rm", "-f", &renamed]).ok();
        assert_eq!(o.out(), renamed, "{cli:?}");
        let o = d.cli(cli, &["ps", "-aq"]).ok();
        assert_eq!(o.out(), "", "{cli:?}");
    }
}

#[test]
fn create_then_start_attached() {
    let d = setup();
    for cli in BOTH {
        let name = n(cli, "cr");
        d.cli(
            cli,
            &[
                "create",
                "--name",
                &name,
                "busybox",
                "echo",
                "created then started",
            ],
        )
        .ok();
        assert_eq!(d.inspect("{{.State.Status}}", &name), "created");
        let o = d.cli(cli, &["start", "-a", &name]).ok();
        assert_eq!(o.out(), "created then started", "{cli:?}");
        let name2 = n(cli, "cri");
        d.cli(cli, &["create", "-i", "--name", &name2, "busybox", "cat"])
            .ok();
        let o = d
            .cli_stdin(
                cli,
                &["start", "-a", "-i", &name2],
                Some(b"via start -ai\n"),
            )
            .ok();
        assert_eq!(o.out(), "via start -ai", "{cli:?}");
        let o = d.cli(cli, &["start", "-a", &n(cli, "nosuch")]);
        assert_ne!(o.code, 0, "{cli:?}");
    }
}

#[test]
fn attach_streams_output_and_input() {
    let d = setup();
    for cli in BOTH {
        let name = n(cli, "at");
        d.docker(&[
            "run",
            "-d",
            "-i",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "while read l; do [ \"$l\" = quit ] && break; echo got:$l; done; echo eof",
        ])
        .ok();
        let mut a = d.spawn_cli(cli, &["attach", &name]);
        let buf = common::collect_stdout(&mut a);
        // Attach registers asynchronously: resend until the echo shows up.
        let ok = poll(Duration::from_secs(10), || {
            let _ = a.stdin.as_mut().unwrap().write_all(b"ping\n");
            common::text(&buf).contains("got:ping")
        });
        assert!(ok, "{cli:?}: attach saw {:?}", common::text(&buf));
        // The container ends its loop; attach returns with its exit.
        a.stdin.as_mut().unwrap().write_all(b"quit\n").unwrap();
        assert!(
            poll(Duration::from_secs(10), || common::text(&buf)
                .contains("eof")),
            "{cli:?}: {:?}",
            common::text(&buf)
        );
        assert!(
            poll(Duration::from_secs(10), || matches!(
                a.try_wait(),
                Ok(Some(_))
            )),
            "{cli:?}: attach did not return"
        );
        common::stop_child(a);
        d.wait_inspect("{{.State.Status}}", &name, "exited");
    }
}

#[test]
fn top_stats_update_pause_unpause() {
    let d = setup();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "res",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "busybox",
        "sleep",
        "1000",
    ])
    .ok();
    assert_eq!(
        d.inspect(
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}",
            "res"
        ),
        "67108864 500000000 50"
    );
    for cli in BOTH {
        let o = d.cli(cli, &["top", "res"]).ok();
        let mut lines = o.stdout.lines();
        let header = lines.next().unwrap_or("");
        assert!(
            header.contains("PID") && header.contains("CMD"),
            "{cli:?} {header}"
        );
        assert!(
            lines.any(|l| l.ends_with("sleep 1000")),
            "{cli:?} {}",
            o.stdout
        );
        let o = d.cli(cli, &["top", "res", "-o", "pid,comm"]).ok();
        assert!(
            o.stdout.lines().any(|l| l.trim_end().ends_with("sleep")),
            "{cli:?} {}",
            o.stdout
        );
        let o = d
            .cli(
                cli,
                &[
                    "stats",
                    "--no-stream",
                    "--format",
                    "{{.Name}} {{.MemUsage}} {{.PIDs}}",
                    "res",
                ],
            )
            .ok();
        let line = o.out();
        assert!(line.starts_with("res "), "{cli:?} {line}");
        assert!(line.contains("/ 64MiB"), "{cli:?} {line}");
        assert!(line.ends_with(" 1"), "{cli:?} {line}");
        let o = d.cli(cli, &["stats", "--no-stream"]).ok();
        assert!(o.stdout.starts_with("CONTAINER ID"), "{cli:?} {}", o.stdout);
        assert!(o.stdout.contains("res"), "{cli:?} {}", o.stdout);
    }
    // update: memory, cpus and restart policy.
    // `update --cpus` fails on this cgroup v1 host (reported), so only memory here.
    d.docker(&["update", "--memory", "128m", "--memory-swap", "256m", "res"])
        .ok();
    assert_eq!(d.inspect("{{.HostConfig.Memory}}", "res"), "134217728");
    d.berth(&[
        "update",
        "--restart",
        "on-failure:3",
        "--memory",
        "96m",
        "--memory-swap",
        "256m",
        "res",
    ])
    .ok();
    assert_eq!(
        d.inspect("{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.HostConfig.Memory}}", "res"),
        "on-failure:3 100663296"
    );
    let o = d
        .docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "res"])
        .ok();
    assert!(o.out().ends_with("/ 96MiB"), "{}", o.out());
    for cli in BOTH {
        let o = d.cli(cli, &["pause", "res"]).ok();
        assert_eq!(o.out(), "res", "{cli:?}");
        assert_eq!(
            d.inspect("{{.State.Status}} {{.State.Paused}}", "res"),
            "paused true"
        );
        let o = d.cli(cli, &["ps", "--format", "{{.Status}}"]).ok();
        assert!(o.out().ends_with("(Paused)"), "{cli:?} {}", o.out());
        let o = d.cli(cli, &["exec", "res", "true"]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr
                .contains("is paused, unpause the container before exec"),
            "{cli:?} {}",
            o.stderr
        );
        let o = d.cli(cli, &["pause", "res"]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr.contains("is already paused"),
            "{cli:?} {}",
            o.stderr
        );
        d.cli(cli, &["unpause", "res"]).ok();
        assert_eq!(
            d.inspect("{{.State.Status}} {{.State.Paused}}", "res"),
            "running false"
        );
        let o = d.cli(cli, &["unpause", "res"]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(o.stderr.contains("is not paused"), "{cli:?} {}", o.stderr);
        d.cli(cli, &["exec", "res", "true"]).ok();
    }
}

#[test]
fn inspect_go_templates() {
    let d = setup();
    let id = d
        .docker(&[
            "run",
            "-d",
            "--name",
            "insp",
            "-e",
            "K=V",
            "--label",
            "a=b",
            "-w",
            "/tmp",
            "--restart",
            "unless-stopped",
            "--stop-signal",
            "SIGUSR1",
            "--stop-timeout",
            "3",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok()
        .out()
        .to_string();
    for cli in BOTH {
        let f = |fmt: &str| {
            d.cli(cli, &["inspect", "-f", fmt, "insp"])
                .ok()
                .out()
                .to_string()
        };
        assert_eq!(f("{{.Id}}"), id, "{cli:?}");
        assert_eq!(
            f("{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}"),
            "running true 0"
        );
        assert_eq!(f("{{json .Config.Cmd}}"), "[\"sleep\",\"1000\"]", "{cli:?}");
        assert_eq!(f("{{json .Mounts}}"), "[]", "{cli:?}");
        assert_eq!(f("{{index .Config.Labels \"a\"}}"), "b", "{cli:?}");
        assert_eq!(
            f("{{.Config.WorkingDir}} {{.Config.StopSignal}} {{.Config.StopTimeout}}"),
            "/tmp SIGUSR1 3"
        );
        assert_eq!(
            f("{{.HostConfig.RestartPolicy.Name}}"),
            "unless-stopped",
            "{cli:?}"
        );
        assert_eq!(
            f("{{range .Config.Env}}{{if eq . \"K=V\"}}found{{end}}{{end}}"),
            "found",
            "{cli:?}"
        );
        assert_eq!(f("{{.Path}} {{join .Args \",\"}}"), "sleep 1000", "{cli:?}");
        let o = d.cli(cli, &["inspect", "insp"]).ok();
        let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("inspect JSON");
        let c = &v[0];
        for key in [
            "Id",
            "Created",
            "Path",
            "Args",
            "State",
            "Image",
            "Name",
            "RestartCount",
            "HostConfig",
            "GraphDriver",
            "Mounts",
            "Config",
            "NetworkSettings",
        ] {
            assert!(c.get(key).is_some(), "{cli:?}: inspect lacks {key}");
        }
        assert!(
            c["Image"].as_str().unwrap_or("").starts_with("sha256:"),
            "{cli:?}"
        );
        assert!(
            c["State"]["StartedAt"]
                .as_str()
                .unwrap_or("")
                .ends_with('Z'),
            "{cli:?}"
        );
        let o = d.cli(
            cli,
            &[
                "container",
                "inspect",
                "--format",
                "{{.Name}}",
                "insp",
                "nosuch-x",
            ],
        );
        assert_eq!(o.code, 1, "{cli:?}");
        assert_eq!(o.out(), "/insp", "{cli:?}");
    }
}

#[test]
fn local_and_none_log_drivers() {
    let d = setup();
    for cli in BOTH {
        let name = n(cli, "loc");
        d.cli(
            cli,
            &[
                "run",
                "--name",
                &name,
                "--log-driver",
                "local",
                "busybox",
                "sh",
                "-c",
                "echo a; echo b >&2; printf tail",
            ],
        )
        .ok();
        let o = d.cli(cli, &["logs", &name]).ok();
        assert_eq!(o.stdout, "a\ntail", "{cli:?}");
        assert_eq!(o.stderr, "b\n", "{cli:?}");
        let o = d.cli(cli, &["logs", "--tail", "1", "-t", &name]).ok();
        assert!(o.stdout.ends_with("Z tail"), "{cli:?} {:?}", o.stdout);
        assert_eq!(
            d.inspect("{{.HostConfig.LogConfig.Type}}|{{.LogPath}}", &name),
            "local|"
        );
        // Docker's local format on disk: length-framed protobuf entries, not JSON lines.
        let id = d.inspect("{{.Id}}", &name);
        let file = d
            .dir
            .path()
            .join("data/containers")
            .join(&id)
            .join("local-logs/container.log");
        let raw = std::fs::read(&file).unwrap_or_default();
        assert!(raw.len() > 8 && raw[0] == 0, "{cli:?} {}", file.display());
        assert!(!raw.starts_with(b"{"), "{cli:?}");

        let quiet = n(cli, "none");
        d.cli(
            cli,
            &[
                "run",
                "--name",
                &quiet,
                "--log-driver",
                "none",
                "busybox",
                "echo",
                "x",
            ],
        )
        .ok();
        let o = d.cli(cli, &["logs", &quiet]);
        assert_ne!(o.code, 0, "{cli:?}");
        assert!(
            o.stderr
                .contains("configured logging driver does not support reading"),
            "{cli:?} {}",
            o.stderr
        );
        d.cli(cli, &["rm", &name, &quiet]).ok();
    }
}

/// `curl` against the daemon's socket: (HTTP status, body). `-N` so streamed bodies come
/// through as they are.
fn curl_api(d: &Daemon, method: &str, path: &str, body: Option<&str>) -> (u16, Vec<u8>) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-N", "--max-time", "20", "--unix-socket"])
        .arg(&d.sock)
        .args(["-X", method, "-o", "-", "-w", "\n%{http_code}"]);
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "-d", b]);
    }
    let o = cmd.arg(format!("http://x/v1.41{path}")).output().unwrap();
    let out = o.stdout;
    let nl = out.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let code = String::from_utf8_lossy(&out[nl + 1..])
        .trim()
        .parse()
        .unwrap_or(0);
    (code, out[..nl].to_vec())
}

/// Details docker-py's integration suite checks, each matching dockerd 20.10.
#[test]
fn docker_py_api_details() {
    let d = setup();
    // Unknown log driver: dockerd's words.
    let o = d.docker(&["run", "--log-driver", "asdf", "busybox", "true"]);
    assert_ne!(o.code, 0);
    assert!(
        o.stderr
            .contains("error looking up logging plugin asdf: plugin \"asdf\" not found"),
        "{}",
        o.stderr
    );
    // The default runtime (berth-runc) goes by dockerd's name for its own.
    assert_eq!(
        d.docker(&["info", "-f", "{{.DefaultRuntime}}"]).ok().out(),
        "runc"
    );
    // A SIGKILL kill returns once the container is down.
    d.docker(&["run", "-d", "--name", "pk", "busybox", "sleep", "100"])
        .ok();
    d.docker(&["kill", "pk"]).ok();
    assert_eq!(
        d.inspect("{{.State.Running}} {{.State.ExitCode}}", "pk"),
        "false 137"
    );
    assert_eq!(d.inspect("{{.HostConfig.Runtime}}", "pk"), "runc");
    // A container about to be restarted by its policy is not removed without force.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "prs",
        "--restart",
        "always",
        "busybox",
        "true",
    ])
    .ok();
    d.docker(&["wait", "prs"]).ok();
    let o = d.docker(&["rm", "prs"]);
    assert_ne!(o.code, 0, "{}", o.stdout);
    assert!(
        o.stderr
            .to_lowercase()
            .contains("stop the container before"),
        "{}",
        o.stderr
    );
    d.docker(&["rm", "-f", "prs"]).ok();
    // --group-add reaches the process.
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--group-add",
            "1000",
            "--group-add",
            "1001",
            "busybox",
            "id",
            "-G",
        ])
        .ok();
    let groups: Vec<&str> = o.out().split_whitespace().collect();
    assert!(
        groups.contains(&"1000") && groups.contains(&"1001"),
        "{groups:?}"
    );
    // Not in a swarm: 503 with dockerd's message (docker-py's leave_swarm(force) relies on it).
    let o = d.docker(&["swarm", "leave", "--force"]);
    assert!(
        o.stderr.contains("This node is not part of a swarm"),
        "{}",
        o.stderr
    );
    let (code, _) = curl_api(&d, "GET", "/services", None);
    assert_eq!(code, 503);
    // docker cp reaches into a stopped container's volume.
    d.docker(&[
        "run",
        "--name",
        "pcv",
        "-v",
        "/vol1",
        "busybox",
        "sh",
        "-c",
        "echo hi > /vol1/f",
    ])
    .ok();
    let dest = d.dir.path().join("cpout");
    d.docker(&["cp", "pcv:/vol1/f", dest.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read_to_string(&dest).unwrap_or_default(), "hi\n");
    // attach with stream=0: the logs, then the connection closes.
    let id = d.inspect("{{.Id}}", "pcv");
    let (code, body) = curl_api(
        &d,
        "POST",
        &format!("/containers/{id}/attach?logs=1&stdout=1&stderr=1&stream=0"),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(body, b"");
    d.docker(&["run", "--name", "pat", "busybox", "echo", "hello"])
        .ok();
    let (code, body) = curl_api(
        &d,
        "POST",
        "/containers/pat/attach?logs=1&stdout=1&stderr=1&stream=0",
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(body, b"\x01\0\0\0\0\0\0\x06hello\n");
    // A requested MAC address shows in inspect of a created container.
    d.docker(&["network", "create", "pmac"]).ok();
    d.docker(&["create", "--name", "pmc", "busybox", "true"])
        .ok();
    let (code, body) = curl_api(
        &d,
        "POST",
        "/networks/pmac/connect",
        Some(r#"{"Container": "pmc", "EndpointConfig": {"MacAddress": "02:42:ac:11:00:02"}}"#),
    );
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        d.inspect(
            "{{(index .NetworkSettings.Networks \"pmac\").MacAddress}}",
            "pmc"
        ),
        "02:42:ac:11:00:02"
    );
    // Network create with null IPAM members (docker-py's IPAMPool) is accepted.
    let (code, body) = curl_api(
        &d,
        "POST",
        "/networks/create",
        Some(
            r#"{"Name": "pnull", "IPAM": {"Driver": "default", "Options": null,
            "Config": [{"Subnet": "10.231.0.0/16", "IPRange": null, "Gateway": null, "AuxiliaryAddresses": null}]}}"#,
        ),
    );
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    // Two networks at create is refused before API 1.44.
    let (code, body) = curl_api(
        &d,
        "POST",
        "/containers/create",
        Some(
            r#"{"Image": "busybox", "HostConfig": {"NetworkMode": "pmac"},
            "NetworkingConfig": {"EndpointsConfig": {"pmac": {}, "nosuchnet": {}}}}"#,
        ),
    );
    assert_eq!(code, 400);
    assert!(
        String::from_utf8_lossy(&body)
            .contains("Container cannot be connected to network endpoints: nosuchnet, pmac"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // A TTY exec started with Tty false (docker-py's default) is framed on stdout; the exec's
    // camel-case detachKeys is honoured.
    d.docker(&["run", "-d", "--name", "pex", "busybox", "sleep", "100"])
        .ok();
    let (code, body) = curl_api(
        &d,
        "POST",
        "/containers/pex/exec",
        Some(
            r#"{"Cmd": ["printf", "abc"], "Tty": true, "AttachStdout": true, "detachKeys": "ctrl-x"}"#,
        ),
    );
    assert_eq!(code, 201);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let exec_id = v["Id"].as_str().unwrap().to_string();
    let (_, body) = curl_api(&d, "GET", &format!("/exec/{exec_id}/json"), None);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["DetachKeys"], "ctrl-x");
    let (code, body) = curl_api(
        &d,
        "POST",
        &format!("/exec/{exec_id}/start"),
        Some(r#"{"Detach": false, "Tty": false}"#),
    );
    assert_eq!(code, 200);
    assert_eq!(body, b"\x01\0\0\0\0\0\0\x03abc");
    // A failed image load is a 200 with the error in the JSON stream.
    let (code, body) = curl_api(&d, "POST", "/images/load", Some("abc"));
    assert_eq!(code, 200);
    let line: serde_json::Value = serde_json::from_slice(body.trim_ascii()).unwrap();
    assert!(line["error"].is_string(), "{line}");
    // Legacy links: the link environment, and `rm --link` removing the link only.
    d.docker(&[
        "run", "-d", "--name", "pdb", "-e", "FOO=1", "busybox", "sleep", "100",
    ])
    .ok();
    let o = d
        .docker(&[
            "run",
            "--name",
            "pweb",
            "--link",
            "pdb:my-db",
            "busybox",
            "env",
        ])
        .ok();
    assert!(
        o.stdout.contains("MY_DB_NAME=/pweb/my-db\n"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("MY_DB_ENV_FOO=1\n"), "{}", o.stdout);
    d.docker(&["rm", "--link", "pweb/my-db"]).ok();
    assert_ne!(d.docker(&["rm", "--link", "pweb/my-db"]).code, 0);
    assert_eq!(d.inspect("{{.State.Status}}", "pdb"), "running");
    // --aux-address reserves an address and shows in inspect; one outside the subnet is refused.
    d.docker(&[
        "network",
        "create",
        "--subnet",
        "10.232.0.0/24",
        "--aux-address",
        "r=10.232.0.2",
        "paux",
    ])
    .ok();
    assert_eq!(
        d.docker(&[
            "network",
            "inspect",
            "-f",
            "{{json (index .IPAM.Config 0).AuxiliaryAddresses}}",
            "paux"
        ])
        .ok()
        .out(),
        r#"{"r":"10.232.0.2"}"#
    );
    let o = d
        .docker(&[
            "run",
            "--rm",
            "--network",
            "paux",
            "busybox",
            "ip",
            "-4",
            "-o",
            "addr",
            "show",
            "eth0",
        ])
        .ok();
    assert!(o.stdout.contains("10.232.0.3/24"), "{}", o.stdout);
    let (code, body) = curl_api(
        &d,
        "POST",
        "/networks/create",
        Some(
            r#"{"Name": "paux2", "IPAM": {"Config": [{"Subnet": "10.233.0.0/24",
            "AuxiliaryAddresses": {"r": "10.9.0.2"}}]}}"#,
        ),
    );
    assert_eq!(code, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("must belong to the master pool"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    // A commit records the container's own config as ContainerConfig.
    d.docker(&["commit", "pat", "pat-img"]).ok();
    assert_eq!(
        d.inspect("{{.ContainerConfig.Image}}", "pat-img"),
        "busybox"
    );
    // An endpoint link to a container that does not exist yet resolves once it runs.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "plc",
        "--network",
        "pmac",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    d.docker(&["network", "create", "plinks"]).ok();
    d.docker(&[
        "network",
        "connect",
        "--link",
        "plater:bar",
        "plinks",
        "plc",
    ])
    .ok();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "plater",
        "--network",
        "plinks",
        "busybox",
        "sleep",
        "100",
    ])
    .ok();
    let o = d.docker(&["exec", "plc", "nslookup", "bar"]);
    assert_eq!(o.code, 0, "{} {}", o.stdout, o.stderr);
    let ip = d.inspect(
        "{{(index .NetworkSettings.Networks \"plinks\").IPAddress}}",
        "plater",
    );
    assert!(o.stdout.contains(&ip), "{ip}: {}", o.stdout);
    d.docker(&[
        "rm", "-f", "pk", "pcv", "pat", "pmc", "pex", "pdb", "pweb", "plc", "plater",
    ])
    .ok();
    d.docker(&["rmi", "pat-img"]).ok();
    d.docker(&["network", "rm", "pmac", "pnull", "plinks", "paux"])
        .ok();
}
