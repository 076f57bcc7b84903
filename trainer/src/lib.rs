//! flowmap-train: learn flow maps X_{s,t} by self-distillation (LSD, ESD, PSD), flow matching
//! or teacher distillation on libtorch, and export them for the `flowmap` runtime.
//!
//! The modules follow the paper's algorithm: [`interpolant`] and [`net`] define the objects,
//! [`objective`] the losses, [`optim`] the update, [`train`] the loop; [`checkpoint`] and
//! [`export`] move state to disk. Measuring samples is `flowmap_eval::quality`'s job and the
//! model subcommands (`sample`, `eval`, `inspect`) are `flowmap_cli`'s; [`cli`] adds training.

pub mod allocator;
pub mod checkpoint;
pub mod classifier;
pub mod cli;
pub mod config;
pub mod coupling;
pub mod data;
pub mod device;
pub mod export;
pub mod flownet;
pub mod forward_ad;
pub mod gelu_tangent;
pub mod interpolant;
pub mod loss_weight;
pub mod net;
pub mod network;
pub mod objective;
pub mod omp;
pub mod optim;
pub mod probe;
pub mod time_features;
pub mod train;
pub mod unet;

/// `flowmap-train <version>`, recorded in every file the trainer writes.
pub fn trainer_id() -> String {
    format!("flowmap-train {}", env!("CARGO_PKG_VERSION"))
}
