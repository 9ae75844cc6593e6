//! Errors of the CLI and how they turn into stderr lines and exit codes.

use berth_core::{Classify, ErrorKind};

/// Every failure a command can end with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The daemon socket could not be reached.
    #[error("Cannot connect to the Docker daemon at {host}. Is the docker daemon running?")]
    Connect {
        /// The host URL we tried.
        host: String,
    },
    /// The daemon answered with an error status; `message` is its `{"message": ...}`.
    #[error("Error response from daemon: {message}")]
    Daemon {
        /// HTTP status code.
        status: u16,
        /// The daemon's message, verbatim.
        message: String,
    },
    /// A bad flag or argument, detected before talking to the daemon.
    #[error("{0}")]
    Invalid(String),
    /// A message printed as is with a specific exit code (Docker's `cli.StatusError`).
    #[error("{message}")]
    Status {
        /// Text for stderr (may be empty: nothing is printed).
        message: String,
        /// Process exit code.
        code: u8,
    },
    /// Local I/O failure (files, terminal, stdin/stdout).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The HTTP exchange itself failed (not an error status).
    #[error("{0}")]
    Protocol(String),
}

impl CliError {
    /// The exit code Docker uses for this error when nothing more specific applies.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Status { code, .. } => *code,
            _ => 1,
        }
    }

    /// The daemon's HTTP status, when this is a daemon error.
    pub fn status(&self) -> Option<u16> {
        match self {
            CliError::Daemon { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Shorthand for an invalid-argument error.
    pub fn invalid(msg: impl Into<String>) -> Self {
        CliError::Invalid(msg.into())
    }
}

impl Classify for CliError {
    fn kind(&self) -> ErrorKind {
        match self {
            CliError::Connect { .. } => ErrorKind::Unavailable,
            CliError::Daemon { status, .. } => match status {
                404 => ErrorKind::NotFound,
                400 => ErrorKind::InvalidArgument,
                409 => ErrorKind::Conflict,
                401 => ErrorKind::Unauthorized,
                403 => ErrorKind::Forbidden,
                503 => ErrorKind::Unavailable,
                _ => ErrorKind::Internal,
            },
            CliError::Invalid(_) => ErrorKind::InvalidArgument,
            CliError::Status { .. } | CliError::Io(_) | CliError::Protocol(_) => {
                ErrorKind::Internal
            }
        }
    }
}

/// Result alias of the CLI.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
