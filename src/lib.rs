//! Shared helpers for the workspace's end-to-end tests, benchmarks and examples.

use std::path::PathBuf;

/// The workspace root (where this crate's Cargo.toml lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
