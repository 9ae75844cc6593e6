//! Dockerfile parser and classic (legacy) image builder for berth.

pub mod archive;
mod build;
pub mod dockerfile;
pub mod fetch;
pub mod fsutil;

pub use build::{
    BuildError, BuildOptions, BuildOutput, CACHE_TABLE, CollectOutput, JoinedNetwork, LocalBackend,
    NetworkJoiner, Puller, build, prune_cache,
};
