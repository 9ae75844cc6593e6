//! placeholder

/// Entry point of the `berth` binary.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
