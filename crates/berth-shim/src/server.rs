//! The shim process: fork, create the container through the runtime, then serve the socket
//! from a single-threaded poll loop until the container's init exits.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::MsgFlags;
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::logfile::{LogFormat, LogWriter};
use crate::protocol::{ExitInfo, Request, Response};

#[derive(Debug, Clone, Default)]
struct Opts {
    id: String,
    bundle: PathBuf,
    state_dir: PathBuf,
    runtime: PathBuf,
    runtime_root: PathBuf,
    tty: bool,
    stdin: bool,
    stdin_once: bool,
    log_driver: String,
    log_path: PathBuf,
    log_max_size: Option<u64>,
    log_max_file: u32,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        log_driver: "json-file".into(),
        log_max_file: 1,
        ..Default::default()
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--id" => o.id = val("--id")?,
            "--bundle" => o.bundle = val("--bundle")?.into(),
            "--state-dir" => o.state_dir = val("--state-dir")?.into(),
            "--runtime" => o.runtime = val("--runtime")?.into(),
            "--runtime-root" => o.runtime_root = val("--runtime-root")?.into(),
            "--tty" => o.tty = true,
            "--stdin" => o.stdin = true,
            "--stdin-once" => o.stdin_once = true,
            "--log-driver" => o.log_driver = val("--log-driver")?,
            "--log-path" => o.log_path = val("--log-path")?.into(),
            "--log-max-size" => {
                o.log_max_size = Some(
                    val("--log-max-size")?
                        .parse()
                        .map_err(|_| "bad --log-max-size")?,
                )
            }
            "--log-max-file" => {
                o.log_max_file = val("--log-max-file")?
                    .parse()
                    .map_err(|_| "bad --log-max-file")?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if o.id.is_empty() || o.state_dir.as_os_str().is_empty() || o.runtime.as_os_str().is_empty() {
        return Err(
            "usage: berth-shim --id ID --bundle DIR --state-dir DIR --runtime PATH [...]".into(),
        );
    }
    // The shim chdirs to / (so it pins no mount); relative paths must not change meaning.
    for p in [
        &mut o.bundle,
        &mut o.state_dir,
        &mut o.runtime_root,
        &mut o.log_path,
    ] {
        if !p.as_os_str().is_empty() {
            *p = std::path::absolute(&*p).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    if o.runtime.components().count() > 1 {
        o.runtime =
            std::path::absolute(&o.runtime).map_err(|e| format!("{}: {e}", o.runtime.display()))?;
    }
    Ok(o)
}

fn now() -> String {
    berth_core::time::rfc3339_nanos(chrono::Utc::now())
}

/// The signals the poll loop takes through a signalfd; blocked everywhere else.
fn loop_signals() -> SigSet {
    let mut s = SigSet::empty();
    s.add(Signal::SIGCHLD);
    s.add(Signal::SIGPIPE);
    // Never die with berthd's terminal or session; nobody reads it, so it just stays pending.
    s.add(Signal::SIGHUP);
    s
}

pub fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("berth-shim: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&opts.state_dir) {
        eprintln!("berth-shim: creating {}: {e}", opts.state_dir.display());
        return ExitCode::FAILURE;
    }
    let (ready_r, ready_w) = match pipe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("berth-shim: pipe: {e}");
            return ExitCode::FAILURE;
        }
    };
    match fork() {
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(ready_w);
            // One line: the child's runtime and container never inherit the pipe, but reading
            // only the first line keeps the parent independent of that.
            let mut msg = String::new();
            let _ = std::io::BufRead::read_line(
                &mut std::io::BufReader::new(File::from(ready_r)),
                &mut msg,
            );
            if msg.starts_with("ok") {
                ExitCode::SUCCESS
            } else {
                eprint!(
                    "{}",
                    msg.strip_prefix("err:").unwrap_or(if msg.is_empty() {
                        "shim exited before the container was created\n"
                    } else {
                        &msg
                    })
                );
                ExitCode::FAILURE
            }
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(ready_r);
            let mut ready = File::from(ready_w);
            match Shim::create(opts) {
                Ok(mut shim) => {
                    detach_stdio();
                    let _ = nix::unistd::chdir("/");
                    let _ = ready.write_all(b"ok\n");
                    drop(ready);
                    shim.run();
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    let _ = ready.write_all(format!("err:{e}\n").as_bytes());
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("berth-shim: fork: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A close-on-exec pipe: only the fds deliberately handed to a child (via `Stdio`) may leak into
/// the runtime or the container, or readers would never see EOF.
fn pipe() -> nix::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
}

/// Points stdin/stdout/stderr at /dev/null so the shim does not hold berthd's pipes open.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
}

#[allow(unsafe_code)]
fn fork() -> nix::Result<nix::unistd::ForkResult> {
    // SAFETY: the shim is single-threaded here (no runtime, no threads spawned yet), so the
    // child may keep running arbitrary code after fork.
    unsafe { nix::unistd::fork() }
}

#[allow(unsafe_code)]
fn owned_fd(raw: i32) -> OwnedFd {
    // SAFETY: `raw` was just received through SCM_RIGHTS and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

#[allow(unsafe_code)]
fn set_winsize(fd: &File, rows: u16, cols: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a valid winsize from the pointer; the fd is a pty master we own.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Where the memory cgroup of `pid` counts OOM kills: cgroup v1 `memory.oom_control` or v2
/// `memory.events` (both have an `oom_kill N` line). Read while the process is alive.
fn oom_counter_file(pid: i32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mut v2 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if ctrls.split(',').any(|c| c == "memory") {
            return Some(
                PathBuf::from("/sys/fs/cgroup/memory")
                    .join(rel)
                    .join("memory.oom_control"),
            );
        }
        if ctrls.is_empty() {
            v2 = Some(rel.to_string());
        }
    }
    let rel = v2?;
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(|root| PathBuf::from(root).join(&rel).join("memory.events"))
        .find(|p| p.exists())
}

/// The `oom_kill` counter in a cgroup file.
fn oom_kills(file: &std::path::Path) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|n| n.trim().parse().ok())
}

/// Receives one fd sent with SCM_RIGHTS (runc's --console-socket protocol).
fn recv_fd(stream: &UnixStream) -> Result<OwnedFd, String> {
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .map_err(|e| format!("receiving console fd: {e}"))?;
    for c in msg.cmsgs().map_err(|e| e.to_string())? {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c
            && let Some(fd) = fds.first()
        {
            return Ok(owned_fd(*fd));
        }
    }
    Err("runtime sent no console fd".into())
}

struct Client {
    stream: UnixStream,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    exec: Option<String>,
    reading: bool,
}

#[derive(Default)]
struct Io {
    stdin: Option<File>,
    out: Option<File>,
    err: Option<File>,
    pty: Option<File>,
}

impl Io {
    fn open_outputs(&self) -> bool {
        self.out.is_some() || self.err.is_some() || self.pty.is_some()
    }
}

struct Exec {
    pid: i32,
    exit_code: Option<i32>,
    io: Io,
    tty: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

struct Shim {
    o: Opts,
    listener: UnixListener,
    sigfd: SignalFd,
    init_pid: i32,
    status: Status,
    started_at: Option<String>,
    exit: Option<ExitInfo>,
    io: Io,
    log: Option<LogWriter>,
    clients: Vec<Client>,
    waiters: Vec<UnixStream>,
    execs: HashMap<String, Exec>,
    /// The file whose `oom_kill` counter tells whether the kernel OOM-killed in the container.
    oom_file: Option<PathBuf>,
    /// The runtime already deleted the container (at its exit): Shutdown need not run it again.
    runtime_deleted: bool,
}

enum Src {
    Listener,
    Signal,
    Out(Option<String>, u8),
    Client(usize),
}

impl Shim {
    fn runtime_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.o.runtime);
        if !self.o.runtime_root.as_os_str().is_empty() {
            c.arg("--root").arg(&self.o.runtime_root);
        }
        c.arg("--log")
            .arg(self.o.state_dir.join("runtime.log"))
            .arg("--log-format")
            .arg("json");
        c.args(args);
        c
    }

    /// Runs a runtime command to completion. SIGCHLD stays blocked here, so exits of other
    /// children remain queued for the signalfd; std resets the mask in the child it spawns.
    fn run_runtime(&mut self, mut cmd: Command) -> Result<std::process::Output, String> {
        let _ = std::fs::write(self.o.state_dir.join("runtime.log"), b"");
        let out = cmd
            .output()
            .map_err(|e| format!("running {}: {e}", self.o.runtime.display()))?;
        if out.status.success() {
            return Ok(out);
        }
        Err(self.runtime_error(&out.stderr))
    }

    fn runtime_error(&self, stderr: &[u8]) -> String {
        let log = std::fs::read_to_string(self.o.state_dir.join("runtime.log")).unwrap_or_default();
        let from_log = log
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["level"] == "error" || v["level"] == "fatal")
            .and_then(|v| v["msg"].as_str().map(String::from));
        from_log.unwrap_or_else(|| {
            let s = String::from_utf8_lossy(stderr).trim().to_string();
            if s.is_empty() {
                "runtime failed without a message".into()
            } else {
                s
            }
        })
    }

    fn create(o: Opts) -> Result<Shim, String> {
        nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("subreaper: {e}"))?;
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&loop_signals()), None)
            .map_err(|e| e.to_string())?;
        let sigfd = SignalFd::with_flags(
            &{
                let mut s = SigSet::empty();
                s.add(Signal::SIGCHLD);
                s
            },
            SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
        )
        .map_err(|e| format!("signalfd: {e}"))?;
        let _ = std::fs::write(
            o.state_dir.join("shim.pid"),
            format!("{}", std::process::id()),
        );
        let _ = std::fs::remove_file(o.state_dir.join("exit.json"));
        let sock = o.state_dir.join("shim.sock");
        let _ = std::fs::remove_file(&sock);
        let listener =
            UnixListener::bind(&sock).map_err(|e| format!("binding {}: {e}", sock.display()))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let log = if o.log_driver == "none" || o.log_path.as_os_str().is_empty() {
            None
        } else {
            Some(
                LogWriter::open(
                    if o.log_driver == "local" {
                        LogFormat::Local
                    } else {
                        LogFormat::JsonFile
                    },
                    &o.log_path,
                    o.log_max_size,
                    o.log_max_file,
                )
                .map_err(|e| format!("opening log: {e}"))?,
            )
        };
        let mut shim = Shim {
            o,
            listener,
            sigfd,
            init_pid: 0,
            status: Status::Created,
            started_at: None,
            exit: None,
            io: Io::default(),
            log,
            clients: Vec::new(),
            waiters: Vec::new(),
            execs: HashMap::new(),
            oom_file: None,
            runtime_deleted: false,
        };
        let pid_file = shim.o.state_dir.join("init.pid");
        let bundle = shim.o.bundle.display().to_string();
        let pidf = pid_file.display().to_string();
        let mut args = vec!["create", "--bundle", &bundle, "--pid-file", &pidf];
        let console = shim.o.state_dir.join("console.sock");
        let console_s = console.display().to_string();
        let console_listener = if shim.o.tty {
            let _ = std::fs::remove_file(&console);
            let l = UnixListener::bind(&console).map_err(|e| format!("console socket: {e}"))?;
            args.push("--console-socket");
            args.push(&console_s);
            Some(l)
        } else {
            None
        };
        let id = shim.o.id.clone();
        args.push(&id);
        let mut cmd = shim.runtime_cmd(&args);
        let mut child_ends: Vec<OwnedFd> = Vec::new();
        if shim.o.tty {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        } else {
            if shim.o.stdin {
                let (r, w) = pipe().map_err(|e| e.to_string())?;
                cmd.stdin(Stdio::from(r.try_clone().map_err(|e| e.to_string())?));
                child_ends.push(r);
                shim.io.stdin = Some(File::from(w));
            } else {
                cmd.stdin(Stdio::null());
            }
            let (r, w) = pipe().map_err(|e| e.to_string())?;
            cmd.stdout(Stdio::from(w));
            shim.io.out = Some(File::from(r));
            let (r, w) = pipe().map_err(|e| e.to_string())?;
            cmd.stderr(Stdio::from(w));
            shim.io.err = Some(File::from(r));
        }
        let res = shim.run_runtime(cmd);
        drop(child_ends);
        res?;
        if let Some(l) = console_listener {
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            let (conn, _) = l
                .accept()
                .map_err(|e| format!("runtime did not send the console: {e}"))?;
            conn.set_nonblocking(false).map_err(|e| e.to_string())?;
            let fd = recv_fd(&conn)?;
            let master = File::from(fd);
            shim.io.stdin = Some(master.try_clone().map_err(|e| e.to_string())?);
            shim.io.pty = Some(master);
            let _ = std::fs::remove_file(&console);
        }
        let pid =
            std::fs::read_to_string(&pid_file).map_err(|e| format!("reading init pid: {e}"))?;
        shim.init_pid = pid.trim().parse().map_err(|_| "bad init pid".to_string())?;
        shim.oom_file = oom_counter_file(shim.init_pid);
        Ok(shim)
    }

    fn state_response(&self) -> Response {
        Response {
            ok: true,
            status: Some(
                match self.status {
                    Status::Created => "created",
                    Status::Running => "running",
                    Status::Paused => "paused",
                    Status::Stopped => "stopped",
                }
                .into(),
            ),
            pid: Some(self.init_pid as u32),
            exit_code: self.exit.as_ref().map(|e| e.exit_code),
            started_at: self.started_at.clone(),
            finished_at: self.exit.as_ref().map(|e| e.finished_at.clone()),
            oom_killed: Some(self.exit.as_ref().is_some_and(|e| e.oom_killed)),
            ..Default::default()
        }
    }

    fn run(&mut self) {
        loop {
            let finished = self.exit.is_some() && !self.io.open_outputs();
            if finished {
                self.finish();
                return;
            }
            let mut srcs: Vec<Src> = Vec::new();
            let mut fds: Vec<std::os::fd::BorrowedFd<'_>> = Vec::new();
            fds.push(self.listener.as_fd());
            srcs.push(Src::Listener);
            fds.push(self.sigfd.as_fd());
            srcs.push(Src::Signal);
            for (name, f) in [
                (1u8, &self.io.out),
                (2u8, &self.io.err),
                (0u8, &self.io.pty),
            ] {
                if let Some(f) = f {
                    fds.push(f.as_fd());
                    srcs.push(Src::Out(None, name));
                }
            }
            for (id, e) in &self.execs {
                for (name, f) in [(1u8, &e.io.out), (2u8, &e.io.err), (0u8, &e.io.pty)] {
                    if let Some(f) = f {
                        fds.push(f.as_fd());
                        srcs.push(Src::Out(Some(id.clone()), name));
                    }
                }
            }
            for (i, c) in self.clients.iter().enumerate() {
                if c.reading {
                    fds.push(c.stream.as_fd());
                    srcs.push(Src::Client(i));
                }
            }
            let mut pfds: Vec<PollFd<'_>> = fds
                .iter()
                .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
                .collect();
            // Once init is gone, do not wait forever for stray writers holding the pipes.
            let timeout = if self.exit.is_some() {
                PollTimeout::from(2000u16)
            } else {
                PollTimeout::NONE
            };
            let n = match nix::poll::poll(&mut pfds, timeout) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => 0,
            };
            if n == 0 && self.exit.is_some() {
                self.io = Io::default();
                continue;
            }
            let ready: Vec<usize> = pfds
                .iter()
                .enumerate()
                .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
                .map(|(i, _)| i)
                .collect();
            drop(pfds);
            drop(fds);
            let mut drop_clients = Vec::new();
            for i in ready {
                match &srcs[i] {
                    Src::Listener => self.accept_all(),
                    Src::Signal => self.reap(),
                    Src::Out(exec, stream) => self.pump_output(exec.clone(), *stream),
                    Src::Client(ci) => {
                        if !self.client_input(*ci) {
                            drop_clients.push(*ci);
                        }
                    }
                }
            }
            for ci in drop_clients {
                if let Some(c) = self.clients.get_mut(ci) {
                    c.reading = false;
                }
            }
            self.close_finished_execs();
        }
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nonblocking(false);
                    self.handle_conn(s);
                }
                Err(_) => return,
            }
        }
    }

    fn reap(&mut self) {
        while let Ok(Some(_)) = self.sigfd.read_signal() {}
        loop {
            match nix::sys::wait::waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.on_exit(pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.on_exit(pid.as_raw(), 128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    }

    fn on_exit(&mut self, pid: i32, code: i32) {
        if pid == self.init_pid && self.exit.is_none() {
            self.status = Status::Stopped;
            self.exit = Some(ExitInfo {
                exit_code: code,
                finished_at: now(),
                oom_killed: self
                    .oom_file
                    .as_deref()
                    .and_then(oom_kills)
                    .is_some_and(|n| n > 0),
            });
            return;
        }
        for e in self.execs.values_mut() {
            if e.pid == pid {
                e.exit_code = Some(code);
            }
        }
    }

    /// Reads one chunk of output and sends it to the log and the attached clients.
    fn pump_output(&mut self, exec: Option<String>, stream: u8) {
        let mut buf = [0u8; 32 * 1024];
        let (io, tty) = match &exec {
            None => (&mut self.io, self.o.tty),
            Some(id) => match self.execs.get_mut(id) {
                Some(e) => (&mut e.io, e.tty),
                None => return,
            },
        };
        let slot = match stream {
            1 => &mut io.out,
            2 => &mut io.err,
            _ => &mut io.pty,
        };
        let Some(f) = slot.as_mut() else { return };
        let n = match f.read(&mut buf) {
            Ok(0) | Err(_) => {
                *slot = None;
                if stream == 0 {
                    io.stdin = None;
                }
                return;
            }
            Ok(n) => n,
        };
        let data = &buf[..n];
        let stream = if stream == 0 { 1 } else { stream };
        if exec.is_none()
            && let Some(log) = self.log.as_mut()
        {
            let _ = log.write(stream as usize, data);
        }
        let mut frame = Vec::with_capacity(n + 8);
        if !tty {
            frame.push(stream);
            frame.extend_from_slice(&[0, 0, 0]);
            frame.extend_from_slice(&(n as u32).to_be_bytes());
        }
        frame.extend_from_slice(data);
        self.clients.retain(|c| {
            if c.exec != exec || (stream == 1 && !c.stdout) || (stream == 2 && !c.stderr) {
                return true;
            }
            nix::sys::socket::send(c.stream.as_raw_fd(), &frame, MsgFlags::MSG_NOSIGNAL).is_ok()
        });
    }

    /// Forwards client input to stdin. Returns false when the client stopped sending.
    fn client_input(&mut self, ci: usize) -> bool {
        let mut buf = [0u8; 32 * 1024];
        let Some(c) = self.clients.get_mut(ci) else {
            return false;
        };
        let n: usize = (&c.stream).read(&mut buf).unwrap_or_default();
        let exec = c.exec.clone();
        let wants_stdin = c.stdin;
        let (io, tty, once) = match &exec {
            None => (&mut self.io, self.o.tty, self.o.stdin_once),
            Some(id) => match self.execs.get_mut(id) {
                Some(e) => (&mut e.io, e.tty, true),
                None => return false,
            },
        };
        if n == 0 {
            // Input ended. Without a TTY and with stdin-once, the process sees EOF (dockerd's rule).
            if wants_stdin && once && !tty {
                io.stdin = None;
            }
            return false;
        }
        if wants_stdin
            && let Some(s) = io.stdin.as_mut()
            && s.write_all(&buf[..n]).is_err()
        {
            io.stdin = None;
        }
        true
    }

    fn close_finished_execs(&mut self) {
        let done: Vec<String> = self
            .execs
            .iter()
            .filter(|(_, e)| e.exit_code.is_some() && !e.io.open_outputs())
            .map(|(id, _)| id.clone())
            .collect();
        for id in done {
            self.clients.retain(|c| {
                if c.exec.as_deref() == Some(id.as_str()) {
                    let _ = c.stream.shutdown(std::net::Shutdown::Both);
                    false
                } else {
                    true
                }
            });
            if let Some(e) = self.execs.get_mut(&id) {
                e.io.stdin = None;
            }
        }
    }

    fn reply(stream: &UnixStream, r: &Response) -> bool {
        let mut line = serde_json::to_vec(r).unwrap_or_default();
        line.push(b'\n');
        nix::sys::socket::send(stream.as_raw_fd(), &line, MsgFlags::MSG_NOSIGNAL).is_ok()
    }

    fn handle_conn(&mut self, s: UnixStream) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while line.len() < 1 << 20 {
            match (&s).read(&mut b) {
                Ok(1) if b[0] == b'\n' => break,
                Ok(1) => line.push(b[0]),
                _ => return,
            }
        }
        let _ = s.set_read_timeout(None);
        let req: Request = match serde_json::from_slice(&line) {
            Ok(r) => r,
            Err(e) => {
                Self::reply(&s, &Response::err(format!("bad request: {e}")));
                return;
            }
        };
        match req {
            Request::Start => {
                if self.status != Status::Created {
                    Self::reply(&s, &Response::err("container already started"));
                    return;
                }
                let id = self.o.id.clone();
                let cmd = self.runtime_cmd(&["start", &id]);
                match self.run_runtime(cmd) {
                    Ok(_) => {
                        self.status = Status::Running;
                        self.started_at = Some(now());
                        Self::reply(
                            &s,
                            &Response {
                                pid: Some(self.init_pid as u32),
                                ..Response::ok()
                            },
                        );
                    }
                    Err(e) => {
                        Self::reply(&s, &Response::err(e));
                    }
                }
                // A process that failed at start exits right away; make sure we notice.
                self.reap();
            }
            Request::State => {
                Self::reply(&s, &self.state_response());
            }
            Request::Wait => {
                if let Some(e) = &self.exit {
                    let r = Response {
                        exit_code: Some(e.exit_code),
                        finished_at: Some(e.finished_at.clone()),
                        oom_killed: Some(e.oom_killed),
                        ..Response::ok()
                    };
                    Self::reply(&s, &r);
                } else {
                    self.waiters.push(s);
                }
            }
            Request::Kill { signal } => {
                let sig = Signal::try_from(signal);
                let r = match sig {
                    Ok(sig) if self.exit.is_none() => {
                        match nix::sys::signal::kill(Pid::from_raw(self.init_pid), sig) {
                            Ok(()) | Err(nix::errno::Errno::ESRCH) => Response::ok(),
                            Err(e) => Response::err(e.to_string()),
                        }
                    }
                    Ok(_) => Response::ok(),
                    Err(_) => Response::err(format!("invalid signal {signal}")),
                };
                Self::reply(&s, &r);
            }
            Request::Pause | Request::Resume => {
                let pause = matches!(req, Request::Pause);
                let id = self.o.id.clone();
                let cmd = self.runtime_cmd(&[if pause { "pause" } else { "resume" }, &id]);
                match self.run_runtime(cmd) {
                    Ok(_) => {
                        self.status = if pause {
                            Status::Paused
                        } else {
                            Status::Running
                        };
                        Self::reply(&s, &Response::ok());
                    }
                    Err(e) => {
                        Self::reply(&s, &Response::err(e));
                    }
                }
            }
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                if !Self::reply(&s, &Response::ok()) {
                    return;
                }
                if self.exit.is_some() && !self.io.open_outputs() {
                    let _ = s.shutdown(std::net::Shutdown::Both);
                    return;
                }
                Self::bound_writes(&s);
                self.clients.push(Client {
                    stream: s,
                    stdin,
                    stdout,
                    stderr,
                    exec: None,
                    reading: true,
                });
            }
            Request::Exec {
                exec_id,
                process,
                detach,
            } => self.exec(s, exec_id, process, detach),
            Request::ExecState { exec_id } => {
                let r = match self.execs.get(&exec_id) {
                    Some(e) => Response {
                        running: Some(e.exit_code.is_none()),
                        pid: Some(e.pid as u32),
                        exit_code: e.exit_code,
                        ..Response::ok()
                    },
                    None => Response::err(format!("no such exec {exec_id}")),
                };
                Self::reply(&s, &r);
            }
            Request::Resize {
                exec_id,
                height,
                width,
            } => {
                let pty = match &exec_id {
                    None => self.io.pty.as_ref(),
                    Some(id) => self.execs.get(id).and_then(|e| e.io.pty.as_ref()),
                };
                let r = match pty {
                    Some(p) => match set_winsize(p, height, width) {
                        Ok(()) => Response::ok(),
                        Err(e) => Response::err(e.to_string()),
                    },
                    None => Response::ok(),
                };
                Self::reply(&s, &r);
            }
            Request::Pids => {
                let id = self.o.id.clone();
                let cmd = self.runtime_cmd(&["ps", "--format", "json", &id]);
                let r = match self.run_runtime(cmd) {
                    Ok(out) => match serde_json::from_slice::<Vec<u32>>(&out.stdout) {
                        Ok(p) => Response {
                            pids: Some(p),
                            ..Response::ok()
                        },
                        Err(e) => Response::err(format!("parsing runtime ps: {e}")),
                    },
                    Err(e) => Response::err(e),
                };
                Self::reply(&s, &r);
            }
            Request::Shutdown => {
                if self.exit.is_none() && self.status == Status::Created {
                    let _ = nix::sys::signal::kill(Pid::from_raw(self.init_pid), Signal::SIGKILL);
                }
                if !self.runtime_deleted {
                    let id = self.o.id.clone();
                    let cmd = self.runtime_cmd(&["delete", "--force", &id]);
                    let _ = self.run_runtime(cmd);
                }
                Self::reply(&s, &Response::ok());
                let _ = std::fs::remove_file(self.o.state_dir.join("shim.sock"));
                std::process::exit(0);
            }
        }
    }

    /// A client that stops reading would stall the whole loop (and, through the pipes, the
    /// container); after this long without progress it is dropped instead.
    fn bound_writes(s: &UnixStream) {
        let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
    }

    fn exec(&mut self, s: UnixStream, exec_id: String, process: serde_json::Value, detach: bool) {
        if self.exit.is_some() || self.status == Status::Created {
            Self::reply(&s, &Response::err("container is not running"));
            return;
        }
        // The id names files in the state dir.
        if exec_id.is_empty()
            || exec_id.len() > 128
            || !exec_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Self::reply(&s, &Response::err(format!("invalid exec id {exec_id:?}")));
            return;
        }
        if self.execs.contains_key(&exec_id) {
            Self::reply(
                &s,
                &Response::err(format!("exec {exec_id} already started")),
            );
            return;
        }
        let tty = process["terminal"].as_bool().unwrap_or(false);
        let pfile = self.o.state_dir.join(format!("exec-{exec_id}.json"));
        if let Err(e) = std::fs::write(&pfile, serde_json::to_vec(&process).unwrap_or_default()) {
            Self::reply(&s, &Response::err(e.to_string()));
            return;
        }
        let pidfile = self.o.state_dir.join(format!("exec-{exec_id}.pid"));
        let console = self
            .o
            .state_dir
            .join(format!("exec-{}.sock", &exec_id[..exec_id.len().min(12)]));
        let (pf, pidf, cons) = (
            pfile.display().to_string(),
            pidfile.display().to_string(),
            console.display().to_string(),
        );
        let id = self.o.id.clone();
        let mut args = vec!["exec", "--process", &pf, "--detach", "--pid-file", &pidf];
        let console_listener = if tty {
            let _ = std::fs::remove_file(&console);
            match UnixListener::bind(&console) {
                Ok(l) => {
                    args.push("--console-socket");
                    args.push(&cons);
                    Some(l)
                }
                Err(e) => {
                    Self::reply(&s, &Response::err(format!("console socket: {e}")));
                    return;
                }
            }
        } else {
            None
        };
        args.push(&id);
        let mut cmd = self.runtime_cmd(&args);
        let mut io = Io::default();
        let res: Result<(), String> = (|| {
            if !tty {
                let (r, w) = pipe().map_err(|e| e.to_string())?;
                cmd.stdin(Stdio::from(r));
                io.stdin = Some(File::from(w));
                let (r, w) = pipe().map_err(|e| e.to_string())?;
                cmd.stdout(Stdio::from(w));
                io.out = Some(File::from(r));
                let (r, w) = pipe().map_err(|e| e.to_string())?;
                cmd.stderr(Stdio::from(w));
                io.err = Some(File::from(r));
            } else {
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
            Ok(())
        })();
        if let Err(e) = res {
            Self::reply(&s, &Response::err(e));
            return;
        }
        let out = self.run_runtime(cmd);
        let _ = std::fs::remove_file(&pfile);
        if let Err(e) = out {
            let _ = std::fs::remove_file(&console);
            Self::reply(&s, &Response::err(e));
            return;
        }
        if let Some(l) = console_listener {
            let got = l
                .set_nonblocking(true)
                .map_err(|e| e.to_string())
                .and_then(|_| l.accept().map_err(|e| e.to_string()))
                .and_then(|(c, _)| {
                    let _ = c.set_nonblocking(false);
                    recv_fd(&c)
                });
            let _ = std::fs::remove_file(&console);
            match got {
                Ok(fd) => {
                    let master = File::from(fd);
                    io.stdin = master.try_clone().ok();
                    io.pty = Some(master);
                }
                Err(e) => {
                    Self::reply(&s, &Response::err(e));
                    return;
                }
            }
        }
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        let _ = std::fs::remove_file(&pidfile);
        if detach {
            // Nobody reads a detached exec's output (as with Docker); let it write to nothing.
            io = Io::default();
        }
        self.execs.insert(
            exec_id.clone(),
            Exec {
                pid,
                exit_code: None,
                io,
                tty,
            },
        );
        if !Self::reply(
            &s,
            &Response {
                pid: Some(pid as u32),
                ..Response::ok()
            },
        ) {
            return;
        }
        if !detach {
            Self::bound_writes(&s);
            self.clients.push(Client {
                stream: s,
                stdin: true,
                stdout: true,
                stderr: true,
                exec: Some(exec_id),
                reading: true,
            });
        }
        // It may have exited already.
        self.reap();
    }

    fn finish(&mut self) {
        if let Some(log) = self.log.as_mut() {
            let _ = log.flush();
        }
        let exit = self.exit.clone().unwrap_or(ExitInfo {
            exit_code: 255,
            finished_at: now(),
            oom_killed: false,
        });
        let tmp = self.o.state_dir.join("exit.json.tmp");
        if std::fs::write(&tmp, serde_json::to_vec(&exit).unwrap_or_default()).is_ok() {
            let _ = std::fs::rename(&tmp, self.o.state_dir.join("exit.json"));
        }
        let id = self.o.id.clone();
        let cmd = self.runtime_cmd(&["delete", "--force", &id]);
        self.runtime_deleted = self.run_runtime(cmd).is_ok();
        let r = Response {
            exit_code: Some(exit.exit_code),
            finished_at: Some(exit.finished_at.clone()),
            oom_killed: Some(exit.oom_killed),
            ..Response::ok()
        };
        for w in self.waiters.drain(..) {
            Self::reply(&w, &r);
        }
        for c in self.clients.drain(..) {
            let _ = c.stream.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(self.o.state_dir.join("shim.sock"));
    }
}
