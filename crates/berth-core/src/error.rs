//! The one closed set of error kinds. Every library error classifies into one of these, and the
//! daemon's HTTP edge maps each kind to a status code exactly once.

/// What kind of failure an error is, independent of which subsystem raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The named object does not exist (HTTP 404).
    NotFound,
    /// The request is malformed or names something impossible (HTTP 400).
    InvalidArgument,
    /// The request conflicts with the current state, e.g. a name in use (HTTP 409).
    Conflict,
    /// Credentials are missing or wrong (HTTP 401).
    Unauthorized,
    /// The caller may not do this (HTTP 403).
    Forbidden,
    /// A dependency is temporarily unavailable (HTTP 503).
    Unavailable,
    /// Anything else: a bug or an unexpected system failure (HTTP 500).
    Internal,
}

/// Implemented by every library error so the API edge can pick a status without guessing.
pub trait Classify {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}

impl ErrorKind {
    /// The HTTP status code Docker uses for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::InvalidArgument => 400,
            ErrorKind::Conflict => 409,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}
