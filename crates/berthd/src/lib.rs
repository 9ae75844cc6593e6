//! placeholder

/// Entry point of the `berthd` binary.
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::FAILURE
}
