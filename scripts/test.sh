#!/usr/bin/env bash
# Runs every berth test: unit tests of all crates, then the end-to-end tests that start berthd
# and drive it with the real docker CLI and the berth CLI. Needs root for the end-to-end part.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --workspace --bins
cargo test --workspace -- --test-threads=2
