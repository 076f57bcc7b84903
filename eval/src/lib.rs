//! Datasets, sample-quality metrics, model evaluation and plots for flowmap (pure Rust, no libtorch).
//!
//! - [`datasets`]: a seeded RNG, built-in 2-D toy distributions, `.npy`/`.csv`/`.safetensors`
//!   loaders and writers.
//! - [`metrics`]: energy distance, sliced Wasserstein-2, RBF-MMD and 2-D histogram KL/JS, with
//!   a [`metrics::Report`] that puts each next to its noise floor.
//! - [`classifier`]: the Fashion-MNIST classifier (pure-Rust forward of committed weights)
//!   whose features give the image FD ([`metrics::frechet_distance`]) and class coverage.
//! - [`plot`]: PNG scatter-density panels, line charts and image grids.
//! - [`quality`]: a model file's sample quality (flow map at N steps, the ODE baseline on its
//!   diagonal, NFE equivalence, plots): an [`quality::EvalSpec`] in, an
//!   [`quality::EvalReport`] out; samples are drawn through the `flowmap` runtime.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod classifier;
pub mod datasets;
pub mod metrics;
pub mod plot;
pub mod quality;

pub use datasets::{load, DataError, Dataset, Rng, Toy};
