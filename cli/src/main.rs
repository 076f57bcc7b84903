//! `flowmap`: sample, evaluate and inspect model files without libtorch.

use clap::{Parser, Subcommand};
use flowmap_cli::{EvalArgs, InspectArgs, SampleArgs};

const EXAMPLES: &str = "\
Examples:
  flowmap sample --model runs/checker/model.safetensors --n 1000 --steps 2 --out samples.csv
  flowmap eval --model runs/checker/model.safetensors --data checkerboard --steps 1,2,4,8
  flowmap inspect runs/checker/model.safetensors

Training needs libtorch: see flowmap-train.";

/// Run flowmap model files: sample, measure quality, inspect. No libtorch needed.
#[derive(Parser, Debug)]
#[command(name = "flowmap", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate samples from a model file through the runtime.
    Sample(SampleArgs),
    /// Measure sample quality at several step counts against a reference sample.
    Eval(EvalArgs),
    /// Show a model file's metadata and tensors.
    Inspect(InspectArgs),
    /// List the built-in datasets.
    Datasets,
}

fn main() {
    let result = match Cli::parse().command {
        Command::Sample(a) => flowmap_cli::cmd_sample(a),
        Command::Eval(a) => flowmap_cli::cmd_eval(a),
        Command::Inspect(a) => flowmap_cli::cmd_inspect(a),
        Command::Datasets => flowmap_cli::cmd_datasets(),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
