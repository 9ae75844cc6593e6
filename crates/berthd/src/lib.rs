//! berthd: the daemon serving the Docker Engine API, thin glue over berth's library crates.
//!
//! Process model: one tokio runtime serving HTTP on the configured listeners. Containers run under
//! their own `berth-shim` processes, so this daemon can die and come back (live restore) without
//! touching them. Blocking work (image store, snapshots, tar streams) runs on tokio's blocking
//! pool; nothing here forks to enter namespaces.

#![recursion_limit = "256"]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod archive;
pub mod build_net;
pub mod config;
pub mod containers;
pub mod error;
pub mod events;
pub mod logs;
pub mod progress;
pub mod routes;
pub mod server;
pub mod stats;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

/// Entry point of the `berthd` binary.
pub fn main() -> ExitCode {
    let flags = config::Flags::parse();
    let cfg = match config::DaemonConfig::load(flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(cfg.log_level.as_str())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berthd: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(Arc::new(cfg))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cfg: Arc<config::DaemonConfig>) -> anyhow::Result<()> {
    let state = server::AppState::open(cfg.clone()).await?;
    server::serve(state).await
}
