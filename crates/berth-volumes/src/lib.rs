//! Volumes: the `local` driver's store (named and anonymous volumes with their options), Docker's
//! mount specifications (`-v`, `--mount`, `--volumes-from`) turned into mount records, and copy-up
//! of image content into a fresh volume.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod copy;
mod spec;
mod store;

pub use copy::copy_up;
pub use spec::{MountRecord, parse_bind, parse_volumes_from};
pub use store::{Volume, VolumeStore};

/// Errors of the volume subsystem; messages are Docker's.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// No volume by that name (`get x: no such volume`).
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// Containers still use it.
    #[error("remove {name}: volume is in use - [{}]", users.join(", "))]
    InUse {
        /// Volume name.
        name: String,
        /// Ids of the containers using it.
        users: Vec<String>,
    },
    /// A malformed mount spec, name or option.
    #[error("{0}")]
    Invalid(String),
    /// The volume exists with other options.
    #[error("{0}")]
    Conflict(String),
    /// Filesystem or metadata failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Metadata database failure.
    #[error("volume metadata: {0}")]
    Db(String),
}

impl berth_core::Classify for VolumeError {
    fn kind(&self) -> berth_core::ErrorKind {
        use berth_core::ErrorKind;
        match self {
            VolumeError::NotFound(_) => ErrorKind::NotFound,
            VolumeError::InUse { .. } | VolumeError::Conflict(_) => ErrorKind::Conflict,
            VolumeError::Invalid(_) => ErrorKind::InvalidArgument,
            VolumeError::Io { .. } | VolumeError::Db(_) => ErrorKind::Internal,
        }
    }
}

/// Result alias.
pub type Result<T, E = VolumeError> = std::result::Result<T, E>;

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> VolumeError {
    let context = context.into();
    move |source| VolumeError::Io { context, source }
}
