//! Datasets, sample-quality metrics and plots for flowmap (pure Rust, no libtorch).
//!
//! - [`datasets`]: a seeded RNG, built-in 2-D toy distributions, `.npy`/`.csv`/`.safetensors`
//!   loaders and writers.
//! - [`metrics`]: energy distance, sliced Wasserstein-2, RBF-MMD and 2-D histogram KL/JS, with
//!   a [`metrics::Report`] that puts each next to its noise floor.
//! - [`plot`]: PNG scatter-density panels, line charts and image grids.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod datasets;
pub mod metrics;
pub mod plot;

pub use datasets::{load, DataError, Dataset, Rng, Toy};
