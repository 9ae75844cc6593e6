//! Fuzzes the Dockerfile parser, word expansion and `.dockerignore` rules: they must never panic.
//! Run with `cargo fuzz run parse` (seeds in `corpus/parse/`); the same body runs in
//! `berth-build`'s unit tests over a mutated corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    berth_build::dockerfile::fuzz_parse(data);
});
