//! placeholder

/// Entry point of the `berth-runc` binary.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
