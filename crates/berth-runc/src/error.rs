//! The crate's error type. Messages follow runc's wording because callers (the shim, berthd)
//! surface them verbatim to Docker clients.

use berth_core::{Classify, ErrorKind};
use libcontainer::error::LibcontainerError;

/// Every failure a `berth-runc` command can report.
#[derive(Debug, thiserror::Error)]
pub enum RuncError {
    /// No state directory exists for the container id.
    #[error("container does not exist")]
    NotFound,
    /// A container with this id already exists under the state root.
    #[error("container with id exists: {0}")]
    Exists(String),
    /// A command-line value is malformed (signal name, format, ...).
    #[error("{0}")]
    InvalidArgument(String),
    /// The container is in a state that forbids the operation.
    #[error("{0}")]
    IncorrectState(String),
    /// Creating the container (or an exec process) failed; the message is runc-shaped.
    #[error("{0}")]
    Start(String),
    /// A libcontainer operation failed.
    #[error("{context}: {}", chain(.source))]
    Runtime {
        /// What was being attempted.
        context: String,
        /// The library error.
        source: LibcontainerError,
    },
    /// A cgroup operation failed.
    #[error("{context}: {message}")]
    Cgroup {
        /// What was being attempted.
        context: String,
        /// The library error, rendered (libcgroups' error types are not `'static`-friendly).
        message: String,
    },
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being attempted, usually naming the path.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON document could not be read or written.
    #[error("{context}: {source}")]
    Json {
        /// Which document.
        context: String,
        /// The serde error.
        source: serde_json::Error,
    },
}

impl RuncError {
    /// Wraps an I/O error with the path or action it concerns.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuncError::Io {
            context: context.into(),
            source,
        }
    }

    /// Wraps a libcontainer error with the action it concerns.
    pub fn runtime(context: impl Into<String>, source: LibcontainerError) -> Self {
        RuncError::Runtime {
            context: context.into(),
            source,
        }
    }
}

impl Classify for RuncError {
    fn kind(&self) -> ErrorKind {
        match self {
            RuncError::NotFound => ErrorKind::NotFound,
            RuncError::Exists(_) | RuncError::IncorrectState(_) => ErrorKind::Conflict,
            RuncError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            RuncError::Start(_)
            | RuncError::Runtime { .. }
            | RuncError::Cgroup { .. }
            | RuncError::Io { .. }
            | RuncError::Json { .. } => ErrorKind::Internal,
        }
    }
}

/// Renders an error and all its sources as `a: b: c`, skipping sources whose text is already
/// contained in the previous level (thiserror's `{0}` wrappers repeat their inner message).
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// Turns a failed container creation into runc's message. When the workload validation
/// produced a runc-style `exec: "x": ...` message anywhere in the chain, that part is kept
/// verbatim so callers can match on `executable file not found in $PATH`.
pub fn creation_message(command: &str, err: &(dyn std::error::Error + 'static)) -> String {
    let full = chain(err);
    let detail = match full.find("exec: \"") {
        Some(i) => full[i..].to_string(),
        None => full,
    };
    format!("runc {command} failed: unable to start container process: {detail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("channel error: exec: \"nope\": executable file not found in $PATH")]
    struct Inner;

    #[test]
    fn chain_joins_sources() {
        assert_eq!(
            chain(&Outer(Inner)),
            "outer: channel error: exec: \"nope\": executable file not found in $PATH"
        );
    }

    #[test]
    fn creation_message_keeps_exec_part() {
        assert_eq!(
            creation_message("create", &Outer(Inner)),
            "runc create failed: unable to start container process: exec: \"nope\": executable file not found in $PATH"
        );
    }

    #[test]
    fn classify() {
        assert_eq!(RuncError::NotFound.kind(), ErrorKind::NotFound);
        assert_eq!(RuncError::Exists("x".into()).kind(), ErrorKind::Conflict);
    }
}
