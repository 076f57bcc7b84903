//! flowmap-train: learn flow maps X_{s,t} by self-distillation (LSD, ESD, PSD), flow matching
//! or teacher distillation on libtorch, and export them for the `flowmap` runtime.
//!
//! The modules follow the paper's algorithm: [`interpolant`] and [`net`] define the objects,
//! [`objective`] the losses, [`optim`] the update, [`train`] the loop; [`checkpoint`] and
//! [`export`] move state to disk; [`evaluate`] measures samples drawn through the runtime.

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
pub mod evaluate;
pub mod export;
pub mod interpolant;
pub mod net;
pub mod objective;
pub mod optim;
pub mod train;

/// `flowmap-train <version>`, recorded in every file the trainer writes.
pub fn trainer_id() -> String {
    format!("flowmap-train {}", env!("CARGO_PKG_VERSION"))
}
