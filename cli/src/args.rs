//! Command-line arguments of the model subcommands.

use clap::Args;
use std::path::PathBuf;

/// `sample` flags.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Steps on the uniform grid t_k = k/N.
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
    /// Custom time grid instead, e.g. 0,0.5,1.
    #[arg(long, value_delimiter = ',')]
    pub grid: Option<Vec<f32>>,
    /// Seed of the base noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output: .csv or .npy.
    #[arg(long)]
    pub out: PathBuf,
}

/// `eval` flags.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Reference data: the built-in dataset the model was trained on, or a data file.
    #[arg(long)]
    pub data: String,
    /// Tensor name inside a .safetensors data file.
    #[arg(long)]
    pub data_key: Option<String>,
    /// Held-out reference to score against instead of --data (e.g. Fashion-MNIST's test
    /// split); the floor row is then a same-size subset of --data scored against it.
    #[arg(long)]
    pub reference: Option<String>,
    /// Step counts to evaluate.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    pub steps: Vec<usize>,
    /// Samples per evaluation.
    #[arg(long, default_value_t = 10_000)]
    pub n: usize,
    /// Seed of the base noise (the reference uses other seeds).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Velocity evaluations for the ODE baseline on the model's diagonal b_t = v_{t,t}
    /// (Euler at each count; Heun, 2 per step, at the even ones).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64,128")]
    pub ode_nfe: Vec<usize>,
    /// Skip the ODE baseline.
    #[arg(long)]
    pub no_ode: bool,
    /// Write a PNG of data vs samples at each step count (2-D: density panels; images: one
    /// grid row per step count, the first row data).
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// `inspect` arguments.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Model file.
    pub model: PathBuf,
}
