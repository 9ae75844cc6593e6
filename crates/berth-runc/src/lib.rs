//! runc-compatible OCI runtime CLI (`berth-runc`) built on youki's libcontainer.
//!
//! Flow used by berth-shim: `create` (init blocked) → `start` → `state`/`kill`/`ps`/`exec` →
//! `delete`. Container state lives under `--root/<id>/` in libcontainer's layout; errors are
//! printed with runc's wording and logged to `--log` as logrus-style lines.

pub mod cli;
pub mod commands;
pub mod compat;
pub mod error;
pub mod executor;
pub mod features;
pub mod logging;
pub mod ps;
pub mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::Context;
use crate::error::RuncError;
use crate::logging::{LogFormat, Logger};

/// Runs one parsed command and returns its exit status.
pub fn dispatch(ctx: &Context, command: &Command) -> Result<i32, RuncError> {
    match command {
        Command::Create(a) => commands::create(ctx, a),
        Command::Start(a) => commands::start(ctx, &a.container_id),
        Command::State(a) => commands::state(ctx, &a.container_id),
        Command::Kill(a) => commands::kill(ctx, a),
        Command::Delete(a) => commands::delete(ctx, a),
        Command::Exec(a) => commands::exec(ctx, a),
        Command::Pause(a) => commands::pause(ctx, &a.container_id),
        Command::Resume(a) => commands::resume(ctx, &a.container_id),
        Command::Ps(a) => commands::ps(ctx, a),
        Command::Features(_) => commands::features(),
        Command::Run(a) => commands::run(ctx, a),
        Command::List(a) => commands::list(ctx, a),
        Command::Spec(a) => commands::spec(a),
    }
}

fn install_debug_tracing(logger: &Logger) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false);
    let _ = match logger.debug_writer() {
        Some(file) => builder.with_writer(std::sync::Mutex::new(file)).try_init(),
        None => builder.with_writer(std::io::stderr).try_init(),
    };
}

/// Entry point of the `berth-runc` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Re-exec from a sealed memfd so a container cannot overwrite the runtime binary
    // through /proc/<pid>/exe (CVE-2019-5736). Only commands that put a process into a
    // container need it; the copy costs milliseconds, so start/kill/state/delete skip it.
    if matches!(
        cli.command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_)
    ) && let Err(e) = pentacle::ensure_sealed()
    {
        eprintln!("failed to seal runtime binary: {e}");
        return ExitCode::FAILURE;
    }
    let format = match LogFormat::parse(cli.global.log_format.as_deref()) {
        Ok(f) => f,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::FAILURE;
        }
    };
    let logger = Logger::new(cli.global.log.clone(), format);
    if cli.global.debug {
        install_debug_tracing(&logger);
    }
    let ctx = Context {
        root: cli
            .global
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from(commands::DEFAULT_ROOT)),
        systemd_cgroup: cli.global.systemd_cgroup,
    };
    match dispatch(&ctx, &cli.command) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(e) => {
            logger.error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}
