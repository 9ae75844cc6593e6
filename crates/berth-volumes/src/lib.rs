//! Volumes: the `local` driver's store (named and anonymous volumes with their options), Docker's
//! mount specifications (`-v`, `--mount`, `--volumes-from`) turned into mount records, and copy-up
//! of image content into a fresh volume.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod copy;
mod spec;
mod store;

pub use copy::copy_up;
pub use spec::{MountRecord, check_duplicates, parse_bind, parse_mount_spec, parse_volumes_from};
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
    /// The volume exists with other options (kept for callers; dockerd returns the existing
    /// volume instead, and so does the store).
    #[error("{0}")]
    Conflict(String),
    /// A driver other than `local` (`create x: error looking up volume plugin d: plugin "d" not found`).
    #[error(
        "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
    )]
    DriverNotFound {
        /// Volume name.
        name: String,
        /// Driver asked for.
        driver: String,
    },
    /// The local driver's mount(2) of an option volume failed (dockerd's wording).
    #[error("{0}")]
    Mount(String),
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
            VolumeError::NotFound(_) | VolumeError::DriverNotFound { .. } => ErrorKind::NotFound,
            VolumeError::InUse { .. } | VolumeError::Conflict(_) => ErrorKind::Conflict,
            VolumeError::Invalid(_) => ErrorKind::InvalidArgument,
            VolumeError::Io { .. } | VolumeError::Db(_) | VolumeError::Mount(_) => {
                ErrorKind::Internal
            }
        }
    }
}

/// Result alias.
pub type Result<T, E = VolumeError> = std::result::Result<T, E>;

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> VolumeError {
    let context = context.into();
    move |source| VolumeError::Io { context, source }
}
