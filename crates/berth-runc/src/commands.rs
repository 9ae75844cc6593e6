//! One function per subcommand, each driving libcontainer and printing what runc prints.
//! Every function returns the process exit status on success.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use libcgroups::common::{CgroupConfig, CgroupManager, create_cgroup_manager};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::oci_spec::runtime::{Capabilities, Capability, Process, Spec};
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::cli;
use crate::error::{RuncError, creation_message};
use crate::executor::{RuncExecutor, TenantSeccomp};
use crate::{compat, features, ps, state};

/// State root used when `--root` is absent.
pub const DEFAULT_ROOT: &str = "/run/berth-runc";

type Result<T> = std::result::Result<T, RuncError>;

/// Settings shared by all commands.
#[derive(Debug, Clone)]
pub struct Context {
    /// State root directory.
    pub root: PathBuf,
    /// Use the systemd cgroup driver.
    pub systemd_cgroup: bool,
}

/// Checks an id the way runc does (it becomes a directory name under the root).
pub fn validate_id(id: &str) -> Result<()> {
    let valid = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(RuncError::InvalidArgument(format!(
            "invalid id format: {id}"
        )))
    }
}

fn load(ctx: &Context, id: &str) -> Result<Container> {
    validate_id(id)?;
    let dir = ctx.root.join(id);
    if !dir.join("state.json").exists() {
        return Err(RuncError::NotFound);
    }
    Container::load(dir).map_err(|e| RuncError::runtime("failed to load container state", e))
}

fn ensure_root(ctx: &Context) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&ctx.root)
        .map_err(|e| RuncError::io(format!("mkdir {}", ctx.root.display()), e))
}

fn base_builder(
    ctx: &Context,
    id: &str,
    pid_file: Option<&PathBuf>,
    console_socket: Option<&PathBuf>,
    preserve_fds: i32,
    executor: RuncExecutor,
) -> Result<ContainerBuilder> {
    validate_id(id)?;
    let builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(executor)
        .with_root_path(&ctx.root)
        .map_err(|e| RuncError::runtime("invalid root", e))?
        .with_pid_file(pid_file)
        .map_err(|e| RuncError::runtime("invalid pid file", e))?
        .with_console_socket(console_socket)
        .with_preserved_fds(preserve_fds);
    Ok(builder)
}

/// `create`: sets up the container and leaves its init blocked until `start`.
pub fn create(ctx: &Context, args: &liboci_cli::Create) -> Result<i32> {
    create_container(
        ctx,
        &args.container_id,
        &args.bundle,
        args.pid_file.as_ref(),
        args.console_socket.as_ref(),
        args.preserve_fds,
        args.no_pivot,
        "create",
    )?;
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
fn create_container(
    ctx: &Context,
    id: &str,
    bundle: &Path,
    pid_file: Option<&PathBuf>,
    console_socket: Option<&PathBuf>,
    preserve_fds: i32,
    no_pivot: bool,
    command: &str,
) -> Result<Container> {
    validate_id(id)?;
    ensure_root(ctx)?;
    if ctx.root.join(id).exists() {
        return Err(RuncError::Exists(id.to_string()));
    }
    let bundle = std::fs::canonicalize(bundle)
        .map_err(|e| RuncError::io(format!("bundle {}", bundle.display()), e))?;
    let shadow = write_shadow_bundle(ctx, id, &bundle)?;
    let result = base_builder(
        ctx,
        id,
        pid_file,
        console_socket,
        preserve_fds,
        RuncExecutor::init(),
    )
    .and_then(|b| {
        b.as_init(shadow.as_deref().unwrap_or(&bundle))
            .with_systemd(ctx.systemd_cgroup)
            .with_detach(true)
            .with_no_pivot(no_pivot)
            .build()
            .map_err(|e| RuncError::Start(creation_message(command, &e)))
    });
    if let Some(dir) = &shadow {
        let _ = std::fs::remove_dir_all(dir);
    }
    let mut container = result?;
    if shadow.is_some() {
        // Report (and let exec read) the caller's bundle, not the private copy.
        container.state.bundle = bundle;
        container
            .save()
            .map_err(|e| RuncError::runtime("failed to save state", e))?;
    }
    Ok(container)
}

/// Writes a normalized copy of the bundle's config when libcontainer needs one (see
/// [`compat`]); returns its directory. Unreadable specs are left for libcontainer to report.
fn write_shadow_bundle(ctx: &Context, id: &str, bundle: &Path) -> Result<Option<PathBuf>> {
    let Ok(mut spec) = Spec::load(bundle.join("config.json")) else {
        return Ok(None);
    };
    if !compat::normalize_spec(&mut spec, bundle) {
        return Ok(None);
    }
    let dir = ctx.root.join(format!(".bundle-{id}"));
    std::fs::create_dir_all(&dir)
        .map_err(|e| RuncError::io(format!("mkdir {}", dir.display()), e))?;
    spec.save(dir.join("config.json"))
        .map_err(|e| RuncError::InvalidArgument(format!("write normalized config: {e}")))?;
    Ok(Some(dir))
}

/// `start`: lets a created container's init exec the workload.
pub fn start(ctx: &Context, id: &str) -> Result<i32> {
    let mut container = load(ctx, id)?;
    match container.status() {
        ContainerStatus::Created => {}
        ContainerStatus::Stopped => {
            return Err(RuncError::IncorrectState(
                "cannot start a container that has stopped".into(),
            ));
        }
        ContainerStatus::Running | ContainerStatus::Paused => {
            return Err(RuncError::IncorrectState(
                "cannot start an already running container".into(),
            ));
        }
        ContainerStatus::Creating => {
            return Err(RuncError::IncorrectState(
                "cannot start a container that is still being created".into(),
            ));
        }
    }
    container
        .start()
        .map_err(|e| RuncError::runtime("failed to start container", e))?;
    Ok(0)
}

fn spec_rootfs(bundle: &Path) -> PathBuf {
    let root = Spec::load(bundle.join("config.json"))
        .ok()
        .and_then(|s| s.root().as_ref().map(|r| r.path().clone()))
        .unwrap_or_else(|| PathBuf::from("rootfs"));
    state::rootfs_path(bundle, &root)
}

fn state_of(container: &Container) -> state::RuncState {
    let bundle = container.bundle().clone();
    let rootfs = spec_rootfs(&bundle);
    state::build(&state::StateInput {
        id: container.id(),
        status: container.status(),
        pid: container.pid().map(Pid::as_raw),
        bundle: &bundle,
        rootfs: &rootfs,
        created: container.created(),
        annotations: container.state.annotations.as_ref(),
    })
}

fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| RuncError::io("write stdout", e))
}

fn to_json_pretty<T: serde::Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|source| RuncError::Json {
        context: what.to_string(),
        source,
    })
}

/// `state`: prints runc's state JSON (pretty, no trailing newline, as runc).
pub fn state(ctx: &Context, id: &str) -> Result<i32> {
    let container = load(ctx, id)?;
    print(&to_json_pretty(&state_of(&container), "state")?)?;
    Ok(0)
}

/// Parses a signal name (`TERM`, `SIGTERM`) or number.
pub fn parse_signal(text: &str) -> Result<Signal> {
    Signal::try_from(text)
        .map_err(|_| RuncError::InvalidArgument(format!("unknown signal \"{text}\"")))
}

/// `kill`: signals the init process (or every process with `--all`).
pub fn kill(ctx: &Context, args: &cli::Kill) -> Result<i32> {
    let signal = parse_signal(&args.signal)?;
    let mut container = load(ctx, &args.container_id)?;
    let before = container.status();
    let killable = before.can_kill() || (args.all && before == ContainerStatus::Stopped);
    if !killable {
        return Err(RuncError::IncorrectState("container not running".into()));
    }
    container
        .kill(signal, args.all)
        .map_err(|e| RuncError::runtime("failed to kill container", e))?;
    // libcontainer records "stopped" after any signal; keep the real state when the process
    // survived (e.g. SIGWINCH to a paused or created container).
    if matches!(before, ContainerStatus::Paused | ContainerStatus::Created) {
        let alive = container
            .pid()
            .is_some_and(|pid| nix::sys::signal::kill(pid, None).is_ok() && !is_zombie(pid));
        if alive {
            container
                .set_status(before)
                .save()
                .map_err(|e| RuncError::runtime("failed to save state", e))?;
        }
    }
    Ok(0)
}

fn is_zombie(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// `delete`: removes a stopped (or, with `--force`, any) container.
pub fn delete(ctx: &Context, args: &liboci_cli::Delete) -> Result<i32> {
    let mut container = match load(ctx, &args.container_id) {
        Ok(c) => c,
        Err(RuncError::NotFound) if args.force => return Ok(0),
        Err(e) => return Err(e),
    };
    let status = container.status();
    if !args.force
        && matches!(
            status,
            ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Creating
        )
    {
        return Err(RuncError::IncorrectState(format!(
            "cannot delete container {} that is not stopped: {}",
            args.container_id,
            state::status_word(status)
        )));
    }
    container
        .delete(args.force)
        .map_err(|e| RuncError::runtime("failed to delete container", e))?;
    Ok(0)
}

/// Waits (as a child subreaper) for `target` to exit and returns its shell-style status.
fn wait_for(target: Pid) -> Result<i32> {
    loop {
        match waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == target => return Ok(code),
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == target => return Ok(128 + sig as i32),
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(RuncError::io(
                    format!("wait for process {target}"),
                    std::io::Error::from(e),
                ));
            }
        }
    }
}

fn become_subreaper() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| RuncError::io("set child subreaper", std::io::Error::from(e)))
}

/// `exec`: starts an extra process in a running container; without `--detach`, waits for it
/// and exits with its status.
pub fn exec(ctx: &Context, args: &liboci_cli::Exec) -> Result<i32> {
    let container = load(ctx, &args.container_id)?;
    let execable = container.status() == ContainerStatus::Running
        || (args.ignore_paused && container.status() == ContainerStatus::Paused);
    if !execable {
        return Err(RuncError::IncorrectState(
            "cannot exec in a stopped container".into(),
        ));
    }
    if !args.detach {
        become_subreaper()?;
    }
    let spec = Spec::load(container.bundle().join("config.json"))
        .map_err(|e| RuncError::InvalidArgument(format!("load container spec: {e}")))?;
    let mut process = match &args.process {
        Some(path) => read_process_file(path)?,
        None => exec_process_from_args(&spec, args)?,
    };
    compat::normalize_process(&mut process);
    let tenant_seccomp = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone())
        .map(|profile| TenantSeccomp {
            profile,
            temporary_caps: grant_temporary_caps(&mut process),
        });
    let temp_process = Some(save_process(&container, &process)?);
    let process = temp_process.clone();
    let (user, group) = match args.user {
        Some((u, g)) => (Some(u), g),
        None => (None, None),
    };
    let env: HashMap<String, String> = args.env.iter().cloned().collect();
    let result = base_builder(
        ctx,
        &args.container_id,
        args.pid_file.as_ref(),
        args.console_socket.as_ref(),
        args.preserve_fds,
        RuncExecutor::tenant(tenant_seccomp),
    )?
    .as_tenant()
    .with_detach(args.detach)
    .with_cwd(args.cwd.as_ref())
    .with_env(env)
    .with_process(process.as_ref())
    .with_no_new_privs(args.no_new_privs)
    .with_container_args(args.command.clone())
    .with_capabilities(args.cap.clone())
    .with_user(user)
    .with_group(group)
    .with_additional_gids(args.additional_gids.clone())
    .with_ignore_paused(args.ignore_paused)
    .with_sub_cgroup(args.cgroup.clone())
    .build();
    if let Some(path) = temp_process {
        let _ = std::fs::remove_file(path);
    }
    let pid = result.map_err(|e| RuncError::Start(creation_message("exec", &e)))?;
    if args.detach {
        return Ok(0);
    }
    wait_for(pid)
}

fn exec_process_path(container: &Container) -> PathBuf {
    container
        .root
        .join(format!("exec-process-{}.json", std::process::id()))
}

fn save_process(container: &Container, process: &Process) -> Result<PathBuf> {
    let path = exec_process_path(container);
    let text = to_json_pretty(process, "process")?;
    std::fs::write(&path, text)
        .map_err(|e| RuncError::io(format!("write {}", path.display()), e))?;
    Ok(path)
}

fn read_process_file(path: &Path) -> Result<Process> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| RuncError::io(format!("read {}", path.display()), e))?;
    serde_json::from_str(&text).map_err(|source| RuncError::Json {
        context: format!("parse {}", path.display()),
        source,
    })
}

/// Adds CAP_SYS_ADMIN and CAP_SETPCAP where missing so the executor can load the seccomp
/// filter without no_new_privs; returns what was added (the executor removes it again).
fn grant_temporary_caps(process: &mut Process) -> Vec<caps::Capability> {
    let mut caps_cfg = process.capabilities().clone().unwrap_or_default();
    let mut added = Vec::new();
    for (oci, host) in [
        (Capability::SysAdmin, caps::Capability::CAP_SYS_ADMIN),
        (Capability::Setpcap, caps::Capability::CAP_SETPCAP),
    ] {
        let has = |set: &Option<Capabilities>| set.as_ref().is_some_and(|s| s.contains(&oci));
        if has(caps_cfg.bounding()) && has(caps_cfg.effective()) && has(caps_cfg.permitted()) {
            continue;
        }
        let add = |set: &Option<Capabilities>| {
            let mut set = set.clone().unwrap_or_default();
            set.insert(oci);
            Some(set)
        };
        let (b, e, p) = (
            add(caps_cfg.bounding()),
            add(caps_cfg.effective()),
            add(caps_cfg.permitted()),
        );
        caps_cfg.set_bounding(b).set_effective(e).set_permitted(p);
        added.push(host);
    }
    process.set_capabilities(Some(caps_cfg));
    added
}

/// `exec` without `--process`: like runc, start from the container's own process (user,
/// capabilities, rlimits, ...) and apply the command-line overrides (libcontainer's own
/// path has no terminal switch).
fn exec_process_from_args(spec: &Spec, args: &liboci_cli::Exec) -> Result<Process> {
    let mut process = spec.process().clone().unwrap_or_default();
    if args.command.is_empty() {
        return Err(RuncError::InvalidArgument("args must not be empty".into()));
    }
    process.set_terminal(Some(args.tty));
    process.set_args(Some(args.command.clone()));
    let mut env = process.env().clone().unwrap_or_default();
    for (k, v) in &args.env {
        env.retain(|e| e.split_once('=').map(|(key, _)| key) != Some(k.as_str()));
        env.push(format!("{k}={v}"));
    }
    process.set_env(Some(env));
    if let Some(cwd) = &args.cwd {
        process.set_cwd(cwd.clone());
    }
    let mut user = process.user().clone();
    if let Some((uid, gid)) = args.user {
        user.set_uid(uid);
        if let Some(gid) = gid {
            user.set_gid(gid);
        }
    }
    if !args.additional_gids.is_empty() {
        user.set_additional_gids(Some(args.additional_gids.clone()));
    }
    process.set_user(user);
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if !args.cap.is_empty() {
        add_capabilities(&mut process, &args.cap)?;
    }
    Ok(process)
}

fn add_capabilities(process: &mut Process, names: &[String]) -> Result<()> {
    let mut parsed = Vec::new();
    for name in names {
        let cap: Capability = name
            .to_ascii_uppercase()
            .trim_start_matches("CAP_")
            .parse()
            .map_err(|_| RuncError::InvalidArgument(format!("unknown capability {name:?}")))?;
        parsed.push(cap);
    }
    let mut caps = process.capabilities().clone().unwrap_or_default();
    let extend = |set: &Option<Capabilities>| {
        let mut set = set.clone().unwrap_or_default();
        set.extend(parsed.iter().copied());
        Some(set)
    };
    let (b, e, p, a) = (
        extend(caps.bounding()),
        extend(caps.effective()),
        extend(caps.permitted()),
        extend(caps.ambient()),
    );
    caps.set_bounding(b)
        .set_effective(e)
        .set_permitted(p)
        .set_ambient(a);
    process.set_capabilities(Some(caps));
    Ok(())
}

/// `pause`: freezes the container's cgroup.
pub fn pause(ctx: &Context, id: &str) -> Result<i32> {
    let mut container = load(ctx, id)?;
    if container.status() != ContainerStatus::Running {
        return Err(RuncError::IncorrectState("container not running".into()));
    }
    container
        .pause()
        .map_err(|e| RuncError::runtime("failed to pause container", e))?;
    Ok(0)
}

/// `resume`: thaws a paused container.
pub fn resume(ctx: &Context, id: &str) -> Result<i32> {
    let mut container = load(ctx, id)?;
    if container.status() != ContainerStatus::Paused {
        return Err(RuncError::IncorrectState("container not paused".into()));
    }
    container
        .resume()
        .map_err(|e| RuncError::runtime("failed to resume container", e))?;
    Ok(0)
}

fn container_pids(container: &Container) -> Result<Vec<i32>> {
    let config = container
        .spec()
        .map_err(|e| RuncError::runtime("failed to load container config", e))?;
    let cgroup_err = |e: &dyn std::fmt::Display| RuncError::Cgroup {
        context: "failed to get container processes".into(),
        message: e.to_string(),
    };
    let manager = create_cgroup_manager(CgroupConfig {
        cgroup_path: config.cgroup_path,
        systemd_cgroup: container.systemd(),
        container_name: container.id().to_string(),
    })
    .map_err(|e| cgroup_err(&e))?;
    let mut pids: Vec<i32> = manager
        .get_all_pids()
        .map_err(|e| cgroup_err(&e))?
        .into_iter()
        .map(Pid::as_raw)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// `ps`: the container's pids as JSON, or `ps(1)` output filtered to them.
pub fn ps(ctx: &Context, args: &liboci_cli::Ps) -> Result<i32> {
    let container = load(ctx, &args.container_id)?;
    let pids = container_pids(&container)?;
    match args.format.as_str() {
        "json" => print(&format!("{}\n", ps::json(&pids)))?,
        "table" => {
            let ps_args = if args.ps_options.is_empty() {
                vec!["-ef".to_string()]
            } else {
                args.ps_options.clone()
            };
            let output = std::process::Command::new("ps")
                .args(&ps_args)
                .output()
                .map_err(|e| RuncError::io("run ps", e))?;
            let text = String::from_utf8_lossy(&output.stdout);
            let table = ps::filter_table(&text, &pids)
                .map_err(|e| RuncError::InvalidArgument(e.to_string()))?;
            print(&table)?;
        }
        other => {
            return Err(RuncError::InvalidArgument(format!(
                "invalid format option: {other}"
            )));
        }
    }
    Ok(0)
}

/// `features`: prints the features document.
pub fn features() -> Result<i32> {
    print(&format!("{}\n", features::render(&features::document())))?;
    Ok(0)
}

/// `run`: create + start; without `--detach`, waits for the init and deletes the container
/// (unless `--keep`), exiting with the workload's status.
pub fn run(ctx: &Context, args: &liboci_cli::Run) -> Result<i32> {
    if !args.detach && !args.no_subreaper {
        become_subreaper()?;
    }
    let container = create_container(
        ctx,
        &args.container_id,
        &args.bundle,
        args.pid_file.as_ref(),
        args.console_socket.as_ref(),
        args.preserve_fds,
        args.no_pivot,
        "run",
    )?;
    start(ctx, container.id())?;
    if args.detach {
        return Ok(0);
    }
    let pid = container
        .pid()
        .ok_or_else(|| RuncError::IncorrectState("container has no init pid".into()))?;
    let code = wait_for(pid)?;
    if !args.keep {
        delete(
            ctx,
            &liboci_cli::Delete {
                container_id: args.container_id.clone(),
                force: true,
            },
        )?;
    }
    Ok(code)
}

/// `list`: every container under the root, as a table or a JSON array of states.
pub fn list(ctx: &Context, args: &liboci_cli::List) -> Result<i32> {
    let mut states = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&ctx.root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(container) = load(ctx, &name) {
                states.push(state_of(&container));
            }
        }
    }
    states.sort_by(|a, b| a.id.cmp(&b.id));
    if args.quiet {
        let ids: String = states.iter().map(|s| format!("{}\n", s.id)).collect();
        print(&ids)?;
        return Ok(0);
    }
    match args.format.as_str() {
        "json" => print(&format!(
            "{}\n",
            serde_json::to_string(&states).map_err(|source| RuncError::Json {
                context: "list".into(),
                source
            })?
        ))?,
        "table" => {
            let mut out = String::from("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n");
            for s in &states {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\n",
                    s.id,
                    s.pid,
                    s.status,
                    s.bundle,
                    s.created,
                    if s.owner.is_empty() { "root" } else { &s.owner }
                ));
            }
            print(&out)?;
        }
        other => {
            return Err(RuncError::InvalidArgument(format!(
                "invalid format option: {other}"
            )));
        }
    }
    Ok(0)
}

/// `spec`: writes a default `config.json` into the bundle (current directory by default).
pub fn spec(args: &liboci_cli::Spec) -> Result<i32> {
    let dir = args.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        return Err(RuncError::IncorrectState(
            "File config.json exists. Remove it first".into(),
        ));
    }
    let spec = Spec::default();
    let text = to_json_pretty(&spec, "spec")?;
    std::fs::write(&path, text)
        .map_err(|e| RuncError::io(format!("write {}", path.display()), e))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("abc-1_2+3.4").is_ok());
        assert!(validate_id("..").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_id("").is_err());
    }

    #[test]
    fn signals() {
        assert!(parse_signal("KILL").is_ok());
        assert!(parse_signal("SIGTERM").is_ok());
        assert!(parse_signal("9").is_ok());
        assert_eq!(
            parse_signal("NOPE").err().map(|e| e.to_string()),
            Some("unknown signal \"NOPE\"".to_string())
        );
    }
}
