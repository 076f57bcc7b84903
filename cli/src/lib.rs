//! The subcommands that need only the runtime and the evaluation — `sample`, `eval`,
//! `inspect`, `datasets` — as clap argument types and handlers, shared by the libtorch-free
//! `flowmap` binary (src/main.rs) and `flowmap-train`. Printing lives here ([`render`]); the
//! measurements are `flowmap_eval::quality`'s.

pub mod args;
pub mod commands;
pub mod render;

pub use args::{EvalArgs, InspectArgs, SampleArgs};
pub use commands::{cmd_datasets, cmd_eval, cmd_inspect, cmd_sample, load_model};
