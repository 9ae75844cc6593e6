//! The `berth-registry` binary: an OCI Distribution registry server.

fn main() -> std::process::ExitCode {
    berth_registry::main()
}
