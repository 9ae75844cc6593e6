//! The per-container shim: one small single-threaded process per container that drives the OCI runtime, owns the container's stdio, TTY, log and exit status, and outlives berthd; plus the async client berthd uses to talk to it.
//!
//! Lifecycle: berthd runs `berth-shim ...` at container start. The shim forks; the parent exits
//! once the child has created the container through the runtime (`create`), reporting errors
//! verbatim. The child (in its own session, a child subreaper) serves `shim.sock` until the
//! container's init exits, then writes `exit.json`, deletes the container from the runtime, and
//! exits. See `protocol` for the socket protocol.

pub mod client;
pub mod logfile;
pub mod protocol;
mod server;

/// Entry point of the `berth-shim` binary.
pub fn main() -> std::process::ExitCode {
    server::main()
}
