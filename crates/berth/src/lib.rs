//! The berth binaries are thin entry points into the library crates; this crate holds only them and the end-to-end tests.
