//! The core `docker run` flow through the real docker CLI against berthd.

mod common;

use common::Daemon;

#[test]
fn run_exec_stop_rm_through_the_docker_cli() {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    let o = d
        .docker(&["run", "--rm", "busybox", "echo", "hello from berth"])
        .ok();
    assert_eq!(o.out(), "hello from berth");
    assert_eq!(
        d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])
            .code,
        3
    );
    let o = d.docker(&["run", "--rm", "busybox", "nosuchcmd"]);
    assert_eq!(o.code, 127, "{}", o.stderr);
    assert!(
        o.stderr.contains("executable file not found in $PATH"),
        "{}",
        o.stderr
    );
    let o = d
        .docker_stdin(&["run", "--rm", "-i", "busybox", "cat"], Some(b"piped\n"))
        .ok();
    assert_eq!(o.out(), "piped");
    d.docker(&["run", "-d", "--name", "web", "busybox", "sleep", "100"])
        .ok();
    let o = d.docker(&["exec", "web", "sh", "-c", "echo in; exit 4"]);
    assert_eq!((o.code, o.out()), (4, "in"));
    let o = d.docker(&["rm", "web"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("You cannot remove a running container"),
        "{}",
        o.stderr
    );
    d.docker(&["stop", "-t", "1", "web"]).ok();
    let o = d
        .docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "web",
        ])
        .ok();
    assert_eq!(o.out(), "exited 137");
    d.docker(&["rm", "web"]).ok();
    let o = d.docker(&["ps", "-aq"]).ok();
    assert_eq!(o.out(), "");
    // Our own CLI, same daemon, same result.
    let o = d
        .berth(&["run", "--rm", "busybox", "echo", "via berth"])
        .ok();
    assert_eq!(o.out(), "via berth");
    let o = d
        .berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert_eq!(o.out(), "busybox:latest");
}
