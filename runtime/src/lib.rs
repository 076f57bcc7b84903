//! flowmap: run learned flow maps in one or two steps.
//!
//! A flow map X_{s,t} transports a sample of a generative flow from time s to time t in one
//! jump (Boffi, Albergo & Vanden-Eijnden 2025). This crate loads flow-map models exported by
//! `flowmap-train` (a safetensors file with versioned metadata, see `docs/format.md`) and
//! evaluates them:
//!
//! - [`Model::map`]: X_{s,t}(x) in data space,
//! - [`Model::velocity`]: the flow's velocity b_t(x) = v_{t,t}(x),
//! - [`Model::sample`] / [`Model::sample_seeded`]: N-step sampling from Gaussian noise,
//! - `Pool` (`std` feature): the same calls with one batch split over several threads,
//!   bit-identical to one thread (see below).
//!
//! The crate is `#![no_std]` + `alloc` (the default `std` feature adds file loading); math is
//! f32 with weights converted from F32/F16/BF16 at load. A loaded [`Model`] is immutable and
//! `Send + Sync`; each thread evaluates with its own [`Workspace`], and evaluation whose batch
//! fits the workspace allocates nothing.
//!
//! Dense layers run through one register-tiled kernel over weights repacked at load time
//! (panels of 16 outputs): one row against several panels for batch 1, several rows per
//! tile for larger batches, with AVX-512 or AVX2 + FMA builds chosen at run time on x86-64
//! when `std` is enabled, and a portable build otherwise. Every output is summed in the same
//! order on every path; the x86 builds use fused multiply-add and the portable one a
//! separate multiply and add. So on one machine results are bit-identical across batch
//! sizes, threads and calls; across machines (fused vs unfused) they differ by rounding only.
//!
//! ```
//! use flowmap::{Grid, Model};
//! # let bytes = flowmap::write::example_model_bytes();
//! let model = Model::from_bytes(&bytes)?; // or Model::from_file("model.safetensors")
//! let mut ws = model.workspace(8);
//! let mut x = vec![0.0f32; 8 * model.dim()];
//! model.sample_seeded(&mut ws, 1, Grid::Uniform(2), &mut x)?; // 8 samples, 2 steps
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! To use every core for a large batch (a sprite sheet), a `Pool` of persistent threads
//! splits it into contiguous row chunks, one per thread (the calling thread included), with
//! the same bits and the same errors as the one-thread call and no allocation per call once
//! warmed up (docs/performance.md, "Threads"):
//!
//! ```
//! # #[cfg(feature = "std")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use flowmap::{Grid, Model, Pool};
//! # let bytes = flowmap::write::example_model_bytes();
//! let model = Model::from_bytes(&bytes)?;
//! let mut pool = Pool::new(3)?; // this thread and 2 workers
//! let mut sheet = vec![0.0f32; 100 * model.dim()];
//! pool.sample_seeded(&model, 1, Grid::Uniform(2), &mut sheet)?;
//! let mut one = vec![0.0f32; sheet.len()];
//! model.sample_seeded(&mut model.workspace(100), 1, Grid::Uniform(2), &mut one)?;
//! assert_eq!(sheet, one);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "std"))]
//! # fn main() {}
//! ```
#![no_std]
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "ndarray")]
pub mod array;
pub mod error;
mod kernels;
mod load;
mod model;
mod pixels;
#[cfg(feature = "std")]
mod pool;
pub mod rng;
pub mod schema;
mod unet;
pub mod write;

#[cfg(test)]
mod tests;

#[cfg(feature = "ndarray")]
pub use array::ArrayError;
pub use error::{EvalError, LoadError, UnetError};
pub use model::{Grid, Model, Workspace};
/// The ndarray version the `ndarray` feature's methods take ([`Model::sample_array`], ...).
#[cfg(feature = "ndarray")]
pub use ndarray;
#[cfg(feature = "std")]
pub use pool::{Pool, PoolError, MAX_POOL_THREADS};
pub use rng::NormalRng;
pub use schema::{FORMAT_VERSION, MAX_DIM, MAX_FREQUENCIES, MAX_HIDDEN_LAYERS, MAX_WIDTH};
