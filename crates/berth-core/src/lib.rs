//! Core types shared by every berth subsystem: error kinds, object ids, digests and image references.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod chunk_worker;
pub mod digest;
pub mod error;
pub mod id;
pub mod reference;
pub mod sync_ahead;
pub mod time;

pub use digest::Digest;
pub use error::{Classify, ErrorKind};
pub use id::{generate_id, short_id};
pub use reference::Reference;
