//! Errors of the networking layer, worded as dockerd words them.

use berth_core::{Classify, ErrorKind};

/// Every failure the network manager reports.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No such network.
    #[error("network {0} not found")]
    NotFound(String),
    /// Name already taken.
    #[error("network with name {0} already exists")]
    NameExists(String),
    /// bridge/host/none cannot be removed.
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    /// The network still has containers.
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    ActiveEndpoints {
        /// Network name.
        name: String,
        /// Network id.
        id: String,
    },
    /// Requested subnet collides with one of ours.
    #[error("Pool overlaps with other one on this address space")]
    PoolOverlap,
    /// No free pool left.
    #[error(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )]
    NoPool,
    /// All addresses of the subnet are taken.
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    NoAddress(String),
    /// Requested IP taken.
    #[error("Address already in use")]
    AddressInUse,
    /// Requested IP outside the subnet.
    #[error("Invalid address {0}: It does not belong to any of this network's subnets")]
    InvalidAddress(String),
    /// --ip on the default bridge.
    #[error("user specified IP address is supported on user defined networks only")]
    UserIpOnDefault,
    /// --network-alias on the default bridge.
    #[error("network-scoped aliases are only supported for user-defined networks")]
    AliasOnDefault,
    /// disconnect of something not connected.
    #[error("container {container} is not connected to network {network}")]
    NotConnected {
        /// Container id.
        container: String,
        /// Network name.
        network: String,
    },
    /// connect twice.
    #[error("endpoint with name {name} already exists in network {network}")]
    AlreadyConnected {
        /// Endpoint (container) name.
        name: String,
        /// Network name.
        network: String,
    },
    /// Port publishing failed (`Bind for ... port is already allocated` and friends).
    #[error(
        "driver failed programming external connectivity on endpoint {endpoint} ({endpoint_id}): {msg}"
    )]
    Ports {
        /// Endpoint (container) name.
        endpoint: String,
        /// Endpoint id.
        endpoint_id: String,
        /// Docker's inner message.
        msg: String,
    },
    /// Malformed request.
    #[error("{0}")]
    InvalidArgument(String),
    /// Unsupported driver.
    #[error("plugin \"{0}\" not found")]
    UnknownDriver(String),
    /// A kernel or tool operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The metadata database failed.
    #[error("network store: {0}")]
    Db(String),
}

impl NetError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
        let context = context.into();
        move |source| NetError::Io { context, source }
    }
}

pub(crate) fn db_err(e: impl std::fmt::Display) -> NetError {
    NetError::Db(e.to_string())
}

impl Classify for NetError {
    fn kind(&self) -> ErrorKind {
        match self {
            NetError::NotFound(_) => ErrorKind::NotFound,
            NetError::NameExists(_) => ErrorKind::Conflict,
            // dockerd answers 403 for these.
            NetError::Predefined(_)
            | NetError::ActiveEndpoints { .. }
            | NetError::AlreadyConnected { .. } => ErrorKind::Forbidden,
            NetError::PoolOverlap
            | NetError::InvalidAddress(_)
            | NetError::UserIpOnDefault
            | NetError::AliasOnDefault
            | NetError::InvalidArgument(_)
            | NetError::UnknownDriver(_)
            | NetError::AddressInUse => ErrorKind::InvalidArgument,
            // dockerd 20.10 answers 500 for a running container's disconnect.
            NetError::NotConnected { .. } => ErrorKind::Internal,
            NetError::NoPool
            | NetError::NoAddress(_)
            | NetError::Ports { .. }
            | NetError::Io { .. }
            | NetError::Db(_) => ErrorKind::Internal,
        }
    }
}
