//! placeholder

/// Entry point of the `berth-shim` binary.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
