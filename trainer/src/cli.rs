//! The command line: argument definitions and one handler per subcommand.

use crate::checkpoint::{self, RunInfo, TrainState};
use crate::config::{parse_hidden, OnDivergence, TrainConfig, WeightsChoice};
use crate::coupling::Coupling;
use crate::export;
use crate::network::{Arch, Network};
use crate::objective::{LossWeight, Method, StopGrad};
use crate::optim::LrSchedule;
use crate::train::{self, Outcome, RunOptions, RunPaths};
use crate::unet::{Preset, UNet};
use crate::{data, device, net::Mlp};
use anyhow::{bail, Context};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use flowmap::schema::{Activation, Interpolant};
use flowmap_cli::render::render;
use flowmap_cli::{EvalArgs, InspectArgs, SampleArgs};
use flowmap_eval::quality::{self, plots};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const ABOUT: &str =
    "Learn flow maps X_{s,t} (consistency models) by self-distillation and export them \
for the flowmap runtime, which generates in one or two steps.";

const EXAMPLES: &str = "\
Examples:
  # Train LSD on the built-in checkerboard, export, and print a quality table
  flowmap-train train --data checkerboard --method lsd --steps 2000 --out runs/checker

  # Same from a config file, overriding one setting
  flowmap-train train --config run.toml --steps 5000

  # Continue an interrupted run (Ctrl-C saves a checkpoint)
  flowmap-train train --out runs/checker --resume

  # Distil a trained flow-matching model into a one-step map
  flowmap-train train --data checkerboard --method fm --out runs/fm
  flowmap-train train --data checkerboard --method lsd --teacher runs/fm/model.safetensors --out runs/lmd

  # Sample, evaluate, inspect
  flowmap-train sample --model runs/checker/model.safetensors --n 1000 --steps 2 --out samples.csv
  flowmap-train eval --model runs/checker/model.safetensors --data checkerboard --steps 1,2,4,8
  flowmap-train inspect runs/checker/model.safetensors";

/// Top-level command line.
#[derive(Parser, Debug)]
#[command(name = "flowmap-train", version, about = ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a flow map (or resume a run) and export it.
    Train(Box<TrainArgs>),
    /// Export a checkpoint's weights (raw or EMA) as a model file.
    Export(ExportArgs),
    /// Generate samples from a model file through the runtime.
    Sample(SampleArgs),
    /// Measure sample quality at several step counts against a reference sample.
    Eval(EvalArgs),
    /// Show a model file's metadata and tensors.
    Inspect(InspectArgs),
    /// List the built-in datasets.
    Datasets,
}

/// `train` flags. Every flag overrides the config file; unset flags keep its values.
#[derive(Args, Debug, Default)]
pub struct TrainArgs {
    /// Run directory: checkpoint.safetensors, log.jsonl, config.toml, model.safetensors.
    #[arg(long, default_value = "runs/latest")]
    pub out: PathBuf,
    /// A TOML file with any of the settings below (flags win over it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue from <out>/checkpoint.safetensors with its settings. --steps may be raised;
    /// --lr, --clip and --teacher-cap may be changed, e.g. to continue a run that diverged
    /// from its last checkpoint (a new --lr scales the schedule, which keeps its shape). Other
    /// settings are the checkpoint's.
    #[arg(long)]
    pub resume: bool,
    /// Built-in dataset name (see `datasets`) or a .npy/.csv/.safetensors file.
    #[arg(long)]
    pub data: Option<String>,
    /// Tensor name inside a .safetensors data file.
    #[arg(long)]
    pub data_key: Option<String>,
    /// Number of points drawn from a built-in dataset.
    #[arg(long)]
    pub data_points: Option<usize>,
    /// Objective: fm, lsd, esd, psd-uniform, psd-midpoint.
    #[arg(long, value_parser = parse_method)]
    pub method: Option<Method>,
    /// Stop-gradient placement: none, convex or full (default: convex; full for esd).
    #[arg(long, value_parser = parse_stopgrad)]
    pub stopgrad: Option<StopGrad>,
    /// Interpolant: linear or trig.
    #[arg(long, value_parser = parse_interpolant)]
    pub interpolant: Option<Interpolant>,
    /// Optimiser steps (of each phase when a run trains its teacher first: --teacher-steps).
    #[arg(long)]
    pub steps: Option<u64>,
    /// Train for about this many minutes instead of a step count: the speed of the first
    /// steps (before the learning-rate warm-up ends) fixes the step count, which is printed
    /// and saved, so `--steps N` repeats the run exactly.
    #[arg(long, conflicts_with_all = ["steps", "resume"], value_parser = parse_minutes)]
    pub minutes: Option<f64>,
    /// Batch size.
    #[arg(long)]
    pub batch: Option<i64>,
    /// Fraction of the batch on the diagonal (flow-matching rows); the paper uses 0.75, which
    /// learns the velocity a little better and the one-step map worse at small budgets.
    #[arg(long)]
    pub diag_fraction: Option<f64>,
    /// Fraction of the off-diagonal rows that start where a 1-, 2- or 4-step sampler starts a
    /// step (s = k/N), t anywhere after it; the rest, like the paper's, anywhere on
    /// 0 <= s <= t <= 1.
    #[arg(long)]
    pub grid_start_fraction: Option<f64>,
    /// How each batch's noise is paired with its data: independent (the paper's) or ot
    /// (minibatch optimal transport: each data point gets a nearby noise point along an
    /// entropic OT plan of the batch, so the paths the map must learn are straighter; costs a
    /// B×B Sinkhorn per step).
    #[arg(long, value_parser = parse_coupling)]
    pub coupling: Option<Coupling>,
    /// Peak learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning-rate schedule: cosine (warm-up, then down to --lr-final x lr) or inv-sqrt
    /// (the paper's: constant, then 1/sqrt(step) after --lr-decay-steps).
    #[arg(long)]
    pub lr_schedule: Option<LrSchedule>,
    /// Steps before the 1/sqrt(step) learning-rate decay starts (inv-sqrt schedule).
    #[arg(long)]
    pub lr_decay_steps: Option<u64>,
    /// Linear warm-up steps (cosine schedule).
    #[arg(long)]
    pub lr_warmup: Option<u64>,
    /// Final learning rate as a fraction of --lr (cosine schedule).
    #[arg(long)]
    pub lr_final: Option<f64>,
    /// Per-sample loss weight: constant (e^-1·err + 1) or learned (exp(-w)·err + w with a
    /// small learned w(s,t) head, the paper's image setting; any network, never exported).
    /// Learned made LSD and PSD-M diverge on our U-Net (docs/training.md), hence the constant
    /// default.
    #[arg(long, value_parser = parse_loss_weight)]
    pub loss_weight: Option<LossWeight>,
    /// Global gradient-norm clip.
    #[arg(long)]
    pub clip: Option<f64>,
    /// LSD only: cap each row's teacher velocity b_t(X) at this many times the batch's median
    /// norm, keeping its direction; 0 = off, the paper's loss. Distilling a frozen
    /// flow-matching teacher, students without it streaked broad modes (docs/results.md §5);
    /// in self-distillation it costs rings and specks 6-12 % of 1-step quality, so there it is
    /// off unless a run diverges (--on-divergence). [default: 5 when distilling a teacher (the
    /// default run's second phase, or --teacher); else 0]
    #[arg(long)]
    pub teacher_cap: Option<f64>,
    /// Stop (keeping the last checkpoint) when the loss grows past this many times the first
    /// step's loss: catches a run that diverges without NaN. 0 = off.
    #[arg(long)]
    pub max_loss_growth: Option<f64>,
    /// What an LSD run without a teacher cap does when it diverges (or its loss turns NaN):
    /// cap = continue once from its last checkpoint with --teacher-cap 5, which cured the
    /// divergence studied (docs/training.md); stop = stop with an error. Other runs stop.
    #[arg(long, value_parser = parse_on_divergence)]
    pub on_divergence: Option<OnDivergence>,
    /// Network: mlp (default; vectors and 2-D points) or unet (images [C, H, W]).
    #[arg(long, value_parser = parse_arch)]
    pub arch: Option<Arch>,
    /// U-Net size for --arch unet: tiny (tests), small (CPU experiments), cpu (default) or gpu.
    #[arg(long, value_parser = parse_preset)]
    pub unet_preset: Option<Preset>,
    /// Hidden layers: WIDTHxDEPTH (256x3) or a list (512,512,512). The paper's 2-D net is 512x5.
    #[arg(long, value_parser = parse_widths)]
    pub hidden: Option<Widths>,
    /// Activation: gelu-tanh, gelu-erf, silu, relu.
    #[arg(long, value_parser = parse_activation)]
    pub activation: Option<Activation>,
    /// MLP state embedding: Fourier frequencies f_k (cycles per unit of x/σ), e.g.
    /// 0.5,1,2,4 — layer 0 also reads sin/cos(2π f_k x/σ) of every coordinate, which lets a
    /// small net draw sharp one-step maps; `none` = the raw state (the paper's MLP).
    #[arg(long, value_parser = parse_frequencies)]
    pub state_frequencies: Option<Frequencies>,
    /// Base scale σ in normalised space (default: 0.5 for images, else the std of the normalised data).
    #[arg(long)]
    pub sigma: Option<f64>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long)]
    pub device: Option<String>,
    /// CPU threads for libtorch (0 = all cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Checkpoint interval in steps.
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Log interval in steps.
    #[arg(long)]
    pub log_every: Option<u64>,
    /// Every this many steps, score 1- and 2-step samples of the current weights (sliced W2
    /// against a fixed sample of the data; logged as sw2_1/sw2_2 and drawn in loss.png), so
    /// you can see whether longer training pays. 0 = never.
    #[arg(long)]
    pub quality_every: Option<u64>,
    /// Weights to export at the end: raw, ema0.999, ema0.9999.
    #[arg(long, value_parser = parse_weights)]
    pub export_weights: Option<WeightsChoice>,
    /// Frozen flow-matching teacher model (teacher distillation instead of self-distillation).
    #[arg(long)]
    pub teacher: Option<PathBuf>,
    /// Train a flow-matching teacher for this many steps first (same data, network and
    /// settings, into <out>/teacher), then distill it as --teacher would, the student starting
    /// from the teacher's weights (--init), all in one command; 0 = self-distillation (the
    /// paper's). Teacher-first lowered 1-step JS on 10 of 12 2-D sets against
    /// self-distillation for twice the time (docs/results.md §5). With --minutes, the default
    /// teacher phase takes half the time. `--resume` picks up whichever phase was running.
    /// [default: --steps for LSD on an MLP given neither --teacher nor --init; else 0]
    #[arg(long)]
    pub teacher_steps: Option<u64>,
    /// Start the network from this model file's weights instead of a random draw (a warm
    /// start). It must match the run's network (dimension, --hidden, --activation,
    /// --state-frequencies); its normalisation and σ are used. With --teacher-steps the
    /// student starts from the teacher it trained.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Samples for the final quality table (0 skips it). [default: 10000; 0 with --arch unet,
    /// whose table is `flowmap eval` on the exported model]
    #[arg(long)]
    pub eval_samples: Option<usize>,
    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// The directory an interrupted run tells the user to resume: the whole run's, when this
    /// run is its teacher phase (not a flag).
    #[arg(skip)]
    pub resume_dir: Option<PathBuf>,
    /// Testing aid (feature `fault-injection`): make the loss NaN at this step.
    #[cfg(feature = "fault-injection")]
    #[arg(long, hide = true)]
    pub inject_nan_at: Option<u64>,
    /// Testing aid (feature `fault-injection`): stop without a final checkpoint after this step.
    #[cfg(feature = "fault-injection")]
    #[arg(long, hide = true)]
    pub abort_after: Option<u64>,
    /// Testing aid (feature `fault-injection`): make the loss NaN at this step while the run
    /// has no teacher cap.
    #[cfg(feature = "fault-injection")]
    #[arg(long, hide = true)]
    pub inject_nan_until_capped: Option<u64>,
}

/// Hidden-layer widths as one command-line value (clap would otherwise read a Vec as a list
/// of separate values).
#[derive(Debug, Clone)]
pub struct Widths(pub Vec<usize>);

fn parse_widths(s: &str) -> Result<Widths, String> {
    parse_hidden(s).map(Widths)
}

/// State-embedding frequencies as one command-line value.
#[derive(Debug, Clone)]
pub struct Frequencies(pub Vec<f32>);

fn parse_frequencies(s: &str) -> Result<Frequencies, String> {
    if s == "none" {
        return Ok(Frequencies(Vec::new()));
    }
    s.split(',')
        .map(|f| match f.trim().parse::<f32>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
            _ => Err(format!(
                "'{f}' is not a positive frequency: give a list such as 0.5,1,2,4, or none"
            )),
        })
        .collect::<Result<_, _>>()
        .map(Frequencies)
}

fn parse_arch(s: &str) -> Result<Arch, String> {
    Arch::from_name(s).ok_or_else(|| format!("unknown architecture '{s}': use mlp or unet"))
}

fn parse_preset(s: &str) -> Result<Preset, String> {
    Preset::from_name(s)
        .ok_or_else(|| format!("unknown U-Net preset '{s}': use tiny, small, cpu or gpu"))
}

fn parse_minutes(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(m) if m.is_finite() && m > 0.0 && m <= 1e6 => Ok(m),
        _ => Err(format!("'{s}' is not a positive number of minutes")),
    }
}

fn parse_coupling(s: &str) -> Result<Coupling, String> {
    match s {
        "independent" => Ok(Coupling::Independent),
        "ot" => Ok(Coupling::Ot),
        _ => Err(format!("unknown coupling '{s}': use independent or ot")),
    }
}

fn parse_on_divergence(s: &str) -> Result<OnDivergence, String> {
    match s {
        "cap" => Ok(OnDivergence::Cap),
        "stop" => Ok(OnDivergence::Stop),
        _ => Err(format!("unknown --on-divergence '{s}': use cap or stop")),
    }
}

fn parse_loss_weight(s: &str) -> Result<LossWeight, String> {
    match s {
        "learned" => Ok(LossWeight::Learned),
        "constant" => Ok(LossWeight::Constant),
        _ => Err(format!(
            "unknown loss weight '{s}': use learned or constant"
        )),
    }
}

fn parse_weights(s: &str) -> Result<WeightsChoice, String> {
    WeightsChoice::parse(s).map_err(|e| e.to_string())
}

fn parse_method(s: &str) -> Result<Method, String> {
    Method::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        format!("unknown method '{s}': use {}", names.join(", "))
    })
}

fn parse_stopgrad(s: &str) -> Result<StopGrad, String> {
    StopGrad::from_name(s)
        .ok_or_else(|| format!("unknown stop-gradient '{s}': use none, convex or full"))
}

fn parse_interpolant(s: &str) -> Result<Interpolant, String> {
    match s {
        "linear" => Ok(Interpolant::Linear),
        "trig" => Ok(Interpolant::Trig),
        _ => Err(format!("unknown interpolant '{s}': use linear or trig")),
    }
}

fn parse_activation(s: &str) -> Result<Activation, String> {
    match s {
        "gelu-tanh" | "gelu_tanh" => Ok(Activation::GeluTanh),
        "gelu-erf" | "gelu_erf" | "gelu" => Ok(Activation::GeluErf),
        "silu" => Ok(Activation::Silu),
        "relu" => Ok(Activation::Relu),
        _ => Err(format!(
            "unknown activation '{s}': use gelu-tanh, gelu-erf, silu or relu"
        )),
    }
}

impl TrainArgs {
    /// Applies the flags that were given on top of `cfg`.
    pub fn apply(&self, cfg: &mut TrainConfig) {
        macro_rules! set {
            ($($field:ident),*) => { $( if let Some(v) = &self.$field { cfg.$field = v.clone(); } )* };
        }
        set!(
            data,
            data_points,
            method,
            interpolant,
            steps,
            batch,
            diag_fraction,
            grid_start_fraction,
            coupling,
            lr,
            lr_schedule,
            lr_decay_steps,
            lr_warmup,
            lr_final,
            loss_weight,
            clip,
            max_loss_growth,
            on_divergence,
            arch,
            unet_preset
        );
        if let Some(w) = &self.hidden {
            cfg.hidden = w.0.clone();
        }
        if let Some(f) = &self.state_frequencies {
            cfg.state_frequencies = f.0.clone();
        }
        set!(
            activation,
            seed,
            device,
            threads,
            checkpoint_every,
            log_every,
            quality_every,
            export_weights
        );
        if self.data_key.is_some() {
            cfg.data_key = self.data_key.clone();
        }
        if self.stopgrad.is_some() {
            cfg.stopgrad = self.stopgrad;
        }
        if self.sigma.is_some() {
            cfg.sigma = self.sigma;
        }
        if self.teacher.is_some() {
            cfg.teacher = self.teacher.clone();
        }
        if self.teacher_cap.is_some() {
            cfg.teacher_cap = self.teacher_cap;
        }
        if self.teacher_steps.is_some() {
            cfg.teacher_steps = self.teacher_steps;
        }
        if self.init.is_some() {
            cfg.init = self.init.clone();
        }
    }
}

/// `export` flags.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A training checkpoint (runs/<name>/checkpoint.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// raw, ema0.999 or ema0.9999.
    #[arg(long, default_value = "ema0.999", value_parser = parse_weights)]
    pub weights: WeightsChoice,
    /// Weight dtype in the file: f32, f16 or bf16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Output model file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Parses the process's arguments, runs them, prints an error if any, and returns the exit
/// status.
pub fn main() -> i32 {
    crate::allocator::keep_freed_memory();
    let matches = command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// The command line, with every `train` setting's default appended to its help as
/// `[default: …]`. The values come from [`TrainConfig::default`], the one place defaults are set,
/// so `--help` cannot drift from what a run does. (The flags themselves stay without clap
/// defaults: an unset flag must not override a value from `--config`.)
pub fn command() -> clap::Command {
    let defaults = toml::Value::try_from(TrainConfig::default()).expect("the config serialises");
    let image_defaults = toml::Value::try_from(TrainConfig::defaults_for(Arch::Unet))
        .expect("the config serialises");
    Cli::command().mut_subcommand("train", |train| {
        let ids: Vec<String> = train
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        ids.into_iter().fold(train, |train, id| {
            let Some(value) = defaults.get(&id) else {
                return train;
            };
            let mut shown = show_default(value);
            if TrainConfig::ARCH_DEPENDENT.contains(&id.as_str()) {
                let unet = image_defaults
                    .get(&id)
                    .map(show_default)
                    .unwrap_or_default();
                shown = format!("{shown}; {unet} with --arch unet");
            }
            train.mut_arg(&id, |arg| {
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                arg.help(format!("{help} [default: {shown}]"))
            })
        })
    })
}

/// A config value as a user would type it on the command line.
fn show_default(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        // An empty list is typed `none` (the only list setting that may be empty).
        toml::Value::Array(items) if items.is_empty() => "none".into(),
        toml::Value::Array(items) => items.iter().map(show_default).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Train(a) => cmd_train(*a),
        Command::Export(a) => cmd_export(a).map(|_| 0),
        Command::Sample(a) => flowmap_cli::cmd_sample(a).map(|_| 0),
        Command::Eval(a) => flowmap_cli::cmd_eval(a).map(|_| 0),
        Command::Inspect(a) => flowmap_cli::cmd_inspect(a).map(|_| 0),
        Command::Datasets => flowmap_cli::cmd_datasets().map(|_| 0),
    }
}

fn cmd_train(mut args: TrainArgs) -> anyhow::Result<i32> {
    let paths = RunPaths::prepare(&args.out)?;
    let resuming = args.resume && paths.checkpoint().exists();
    let mut cfg = match &args.config {
        Some(p) => TrainConfig::from_toml_file(p, args.arch)?,
        None => TrainConfig::defaults_for(args.arch.unwrap_or_default()),
    };
    args.apply(&mut cfg);
    cfg.validate()?;
    // (A run whose teacher phase was stopped resumes that phase: nothing to note.)
    let teacher_checkpoint = RunPaths {
        dir: args.out.join("teacher"),
    }
    .checkpoint();
    if args.resume
        && !resuming
        && !(cfg.effective_teacher_steps() > 0 && teacher_checkpoint.exists())
    {
        eprintln!(
            "note: --resume given but {} does not exist; starting a new run",
            paths.checkpoint().display()
        );
    }
    if cfg.threads > 0 {
        tch::set_num_threads(cfg.threads);
    }
    let teacher_steps = cfg.effective_teacher_steps();
    if teacher_steps > 0 && !resuming {
        if cfg.teacher.is_some() {
            bail!("--teacher-steps trains its own teacher: give it or --teacher, not both");
        }
        // A time budget: the default teacher phase takes half of it; a given --teacher-steps
        // its steps. The student gets what the teacher left.
        let teacher_minutes = match (args.minutes, cfg.teacher_steps) {
            (Some(m), None) => Some(m / 2.0),
            _ => None,
        };
        let started = std::time::Instant::now();
        match train_teacher_first(&args, &cfg, teacher_steps, teacher_minutes)? {
            // The student starts from its teacher: distillation from the teacher's weights
            // beat a random start on 9 of 12 sets at 2000 + 2000 steps and 8 at 4000 + 4000
            // (docs/results.md §5, "Starting the student from its teacher").
            Ok((teacher, steps)) => {
                cfg.teacher_steps = Some(steps);
                cfg.init = Some(teacher.clone());
                cfg.teacher = Some(teacher);
            }
            Err(code) => return Ok(code),
        }
        if let Some(m) = args.minutes {
            let left = m - started.elapsed().as_secs_f64() / 60.0;
            if left <= 0.0 {
                bail!(
                    "--minutes {m}: the {teacher_steps}-step teacher alone took longer; lower \
                     --teacher-steps or raise --minutes"
                );
            }
            args.minutes = Some(left);
        }
    }
    // The run's files say what it did: the defaults that depend on other settings, resolved.
    if !resuming {
        cfg.teacher_steps = Some(cfg.effective_teacher_steps());
        cfg.teacher_cap = Some(cfg.effective_teacher_cap());
    }
    let dev = device::parse_device(&cfg.device)?;

    let (mut state, mut info, data) = if resuming {
        let (state, mut info) = checkpoint::load(&paths.checkpoint(), dev)?;
        if args.steps.is_some_and(|s| s < info.step) {
            bail!(
                "--steps {} is below the checkpoint's step {}",
                cfg.steps,
                info.step
            );
        }
        // The run keeps its identity: only its length and what keeps its steps stable may
        // change (how a run that diverged continues from its last checkpoint).
        let mut resumed = info.config.clone();
        if let Some(s) = args.steps {
            resumed.steps = s;
        }
        for (flag, given, kept) in [
            ("--lr", args.lr, &mut resumed.lr),
            ("--clip", args.clip, &mut resumed.clip),
        ] {
            if let Some(v) = given.filter(|v| *v != *kept) {
                eprintln!("resuming with {flag} {v} (the run had {kept})");
                *kept = v;
            }
        }
        let had = resumed.effective_teacher_cap();
        if let Some(v) = args.teacher_cap.filter(|v| *v != had) {
            eprintln!("resuming with --teacher-cap {v} (the run had {had})");
            resumed.teacher_cap = Some(v);
        }
        if let Some(v) = args.on_divergence.filter(|v| *v != resumed.on_divergence) {
            eprintln!(
                "resuming with --on-divergence {} (the run had {})",
                v.name(),
                resumed.on_divergence.name()
            );
            resumed.on_divergence = v;
        }
        resumed.validate()?;
        info.config = resumed;
        let ds = data::load_raw(
            &info.config.data,
            info.config.data_key.as_deref(),
            info.config.data_points,
            info.config.seed,
        )?;
        let eval_samples = *args
            .eval_samples
            .get_or_insert(default_eval_samples(&info.config));
        data::check_size(&ds, &info.config.data, eval_samples > 0)?;
        if ds.dim() != info.mean.len() {
            bail!(
                "--resume: the data has {} dimensions but the checkpoint was trained on {}",
                ds.dim(),
                info.mean.len()
            );
        }
        let data = data::prepare(ds, Some((info.mean.clone(), info.std.clone())), dev)?;
        eprintln!(
            "resuming {} at step {}/{}",
            paths.checkpoint().display(),
            info.step,
            info.config.steps
        );
        (state, info, data)
    } else {
        let ds = data::load_raw(
            &cfg.data,
            cfg.data_key.as_deref(),
            cfg.data_points,
            cfg.seed,
        )?;
        let eval_samples = *args.eval_samples.get_or_insert(default_eval_samples(&cfg));
        data::check_size(&ds, &cfg.data, eval_samples > 0)?;
        // A teacher's or a warm start's network works in its own file's coordinates: the run
        // takes that file's normalisation and σ (the two files must agree when both are given).
        let file_stats = |flag: &str,
                          path: &PathBuf,
                          dim: usize,
                          meta: &flowmap::schema::ModelMeta|
         -> anyhow::Result<(Vec<f32>, Vec<f32>, f64)> {
            if dim != ds.dim() {
                bail!(
                    "{flag} {} has dimension {dim} but the data has {}",
                    path.display(),
                    ds.dim()
                );
            }
            let n = &meta.normalization;
            Ok((n.mean.clone(), n.std.clone(), meta.sigma as f64))
        };
        let teacher_stats = match &cfg.teacher {
            Some(t) => {
                let m = flowmap::Model::from_file(t)
                    .map_err(|e| anyhow::anyhow!("--teacher {}: {e}", t.display()))?;
                Some(file_stats("--teacher", t, m.dim(), m.meta())?)
            }
            None => None,
        };
        // The warm start's network, read once: its statistics now, its weights below.
        let (init_net, init_stats) = match &cfg.init {
            Some(path) => {
                let (start, meta) = export::load_model_net(path, dev)
                    .map_err(|e| anyhow::anyhow!("--init: {e}"))?;
                let stats = file_stats("--init", path, start.dim, &meta)?;
                (Some(start), Some(stats))
            }
            None => (None, None),
        };
        if let (Some(t), Some(i)) = (&teacher_stats, &init_stats) {
            if t != i {
                bail!(
                    "--init and --teacher normalise the data differently (mean, std or σ): \
                     they must come from runs on the same data"
                );
            }
        }
        let model_stats = teacher_stats.or(init_stats);
        let stats = model_stats.as_ref().map(|(m, s, _)| (m.clone(), s.clone()));
        let data = data::prepare(ds, stats, dev)?;
        let sigma = cfg
            .sigma
            .or(model_stats.map(|t| t.2))
            .unwrap_or(data.default_sigma());
        tch::manual_seed(cfg.seed as i64);
        let net: Network = match cfg.arch {
            Arch::Mlp => {
                let mlp = Mlp::with_state_embedding(
                    data.mean.len(),
                    &cfg.hidden,
                    sigma,
                    cfg.activation,
                    &cfg.state_frequencies,
                    dev,
                );
                if let (Some(start), Some(path)) = (&init_net, &cfg.init) {
                    mlp.copy_weights_from(start)
                        .map_err(|e| anyhow::anyhow!("--init {}: {e}", path.display()))?;
                }
                match cfg.loss_weight {
                    LossWeight::Learned => mlp.with_loss_weight_head(dev),
                    LossWeight::Constant => mlp,
                }
                .into()
            }
            Arch::Unet => {
                let [c, h, w] = data.data_shape[..] else {
                    bail!(
                        "--arch unet needs images ([C, H, W] rows: an IDX file, a PNG folder or a \
                         4-D .npy); {} has rows of shape {:?}",
                        cfg.data,
                        data.data_shape
                    );
                };
                if cfg.teacher.is_some() {
                    bail!("--teacher applies to MLP runs (the teacher is an MLP model file)");
                }
                let ucfg = cfg.unet_preset.config([c, h, w]);
                ucfg.validate().map_err(|e| {
                    anyhow::anyhow!("--unet-preset {}: {e}", cfg.unet_preset.name())
                })?;
                eprintln!(
                    "U-Net preset {} on {c}x{h}x{w}: {} parameters, {:.1} MFLOP per image (forward)",
                    cfg.unet_preset.name(),
                    ucfg.num_parameters(),
                    ucfg.flops_per_image() as f64 / 1e6
                );
                UNet::new(ucfg, sigma, dev).into()
            }
        };
        let info = RunInfo {
            step: 0,
            config: cfg.clone(),
            mean: data.mean.clone(),
            std: data.std.clone(),
            data_shape: data.data_shape.clone(),
            sigma,
            trainer: crate::trainer_id(),
        };
        let _ = std::fs::remove_file(paths.log());
        (TrainState::new(net), info, data)
    };
    std::fs::write(paths.config(), toml::to_string(&info.config)?)?;
    let teacher = match &info.config.teacher {
        Some(t) => Some(export::load_model_net(t, dev)?.0),
        None => None,
    };

    let stop = interrupt_flag();
    eprintln!(
        "training {} on {} ({} points, dim {}) with {}, batch {}, {} steps on {}",
        info.config.method.name(),
        info.config.data,
        data.n,
        data.mean.len(),
        match info.config.arch {
            Arch::Mlp => format!("MLP hidden {:?}", info.config.hidden),
            Arch::Unet => format!("U-Net preset {}", info.config.unet_preset.name()),
        },
        info.config.batch,
        info.config.steps,
        device::describe(dev)
    );
    let opts = RunOptions {
        progress: !args.quiet,
        stop: Some(stop.clone()),
        budget: args
            .minutes
            .map(|m| std::time::Duration::from_secs_f64(m * 60.0)),
        #[cfg(feature = "fault-injection")]
        faults: train::Faults {
            nan_at: args.inject_nan_at,
            abort_after: args.abort_after,
            nan_until_capped: args.inject_nan_until_capped,
        },
    };
    let started = std::time::Instant::now();
    let first = state.step;
    let cap_before = info.config.effective_teacher_cap();
    let outcome = train::run(
        &mut state,
        &mut info,
        &data,
        teacher.as_ref(),
        &paths,
        &opts,
    )?;
    if args.minutes.is_some() {
        // The budget fixed the step count mid-run: the run directory says which.
        std::fs::write(paths.config(), toml::to_string(&info.config)?)?;
        if let (Some(t), true) = (info.config.teacher_steps, info.config.teacher.is_some()) {
            if t > 0 {
                eprintln!(
                    "--teacher-steps {t} --steps {} repeats both phases exactly",
                    info.config.steps
                );
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} steps in {:.1} s ({:.1} steps/s)",
        state.step - first,
        secs,
        (state.step - first) as f64 / secs.max(1e-9)
    );
    if info.config.effective_teacher_cap() != cap_before {
        // Said again at the end: the line at the divergence may have scrolled away.
        eprintln!(
            "note: the run diverged and went on from its last checkpoint with --teacher-cap {} \
             (--on-divergence cap); its checkpoints keep the cap",
            info.config.effective_teacher_cap()
        );
    }
    // A simulated crash (fault tests) exits like one: no export, status 3.
    #[cfg(feature = "fault-injection")]
    if opts.faults.abort_after.is_some()
        && outcome == Outcome::Interrupted
        && !stop.load(Ordering::SeqCst)
    {
        return Ok(3);
    }
    let choice = info.config.export_weights;
    let bytes = export_state(&state, &info, choice, flowmap::write::WeightDtype::F32)?;
    checkpoint::write_atomically(&paths.model(), &bytes)?;
    eprintln!(
        "exported {} weights to {}",
        choice.name(),
        paths.model().display()
    );
    if outcome == Outcome::Interrupted {
        eprintln!(
            "interrupted: resume with --out {} --resume",
            args.resume_dir.as_ref().unwrap_or(&paths.dir).display()
        );
        return Ok(130);
    }
    let eval_samples = args.eval_samples.unwrap_or(0);
    if eval_samples > 0 {
        let (reference, second) = quality::reference_sets(
            &info.config.data,
            info.config.data_key.as_deref(),
            eval_samples,
        )?;
        let model = flowmap::Model::from_bytes(&bytes)?;
        let drawn = quality::draw_steps(&model, &[1, 2, 4], eval_samples, 7)?;
        let rows = quality::step_table(&model, &drawn, &reference, &second, 7);
        println!(
            "\nQuality of {} ({} weights, {} samples vs a fresh reference):",
            paths.model().display(),
            choice.name(),
            eval_samples
        );
        print!("{}", render(&rows));
        let samples_png = paths.dir.join("samples.png");
        if plots::plot_samples(&samples_png, &model, &reference, &drawn)? {
            eprintln!("wrote {}", samples_png.display());
        }
    }
    let loss_png = paths.dir.join("loss.png");
    plots::plot_log(&paths.log(), &loss_png)?;
    eprintln!("wrote {}", loss_png.display());
    Ok(0)
}

/// Set by the first Ctrl-C (the run saves a checkpoint and stops); a second one exits at once.
/// One flag per process: a handler can be installed only once, and both phases of a
/// `--teacher-steps` run must see it.
fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = stop.clone();
        let _ = ctrlc::set_handler(move || {
            if seen.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        stop
    })
    .clone()
}

/// The first phase of a run with a teacher phase: a flow-matching run of `cfg` for `steps`
/// steps, or for `minutes` when given, in `<out>/teacher` (resumed there with `--resume`).
/// Returns its model file and the steps it took, or the exit status of a teacher run that did
/// not finish (interrupted).
fn train_teacher_first(
    args: &TrainArgs,
    cfg: &TrainConfig,
    steps: u64,
    minutes: Option<f64>,
) -> anyhow::Result<Result<(PathBuf, u64), i32>> {
    let dir = args.out.join("teacher");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let teacher_cfg = TrainConfig {
        method: Method::Fm,
        steps,
        teacher_steps: Some(0),
        teacher_cap: None,
        teacher: None,
        ..cfg.clone()
    };
    // The teacher run reads its whole configuration from its run directory's config file
    // (which it rewrites the same), so nothing of the student's flags leaks into it.
    let config = dir.join("config.toml");
    std::fs::write(&config, toml::to_string(&teacher_cfg)?)
        .with_context(|| format!("cannot write {}", config.display()))?;
    let length = match minutes {
        Some(m) => format!("{m:.2} minutes (half of --minutes)"),
        None => format!("{steps} steps"),
    };
    eprintln!(
        "phase 1 of 2: a flow-matching teacher, {length}, in {}",
        dir.display()
    );
    let code = cmd_train(TrainArgs {
        out: dir.clone(),
        config: Some(config.clone()),
        resume: args.resume,
        minutes,
        eval_samples: Some(0),
        quiet: args.quiet,
        resume_dir: Some(args.out.clone()),
        ..TrainArgs::default()
    })?;
    if code != 0 {
        return Ok(Err(code));
    }
    // Under --minutes the teacher's budget fixed its step count, saved in its config.
    let taken = TrainConfig::from_toml_file(&config, Some(Arch::Mlp))?.steps;
    eprintln!("phase 2 of 2: distilling it into {}", args.out.display());
    Ok(Ok((dir.join("model.safetensors"), taken)))
}

/// Samples of the final quality table when `--eval-samples` is not given: 10 000, or none for
/// a U-Net (its table through the runtime takes long; `flowmap eval` runs it on demand).
fn default_eval_samples(cfg: &TrainConfig) -> usize {
    match cfg.arch {
        Arch::Mlp => 10_000,
        Arch::Unet => 0,
    }
}

/// Model-file bytes for the chosen weights of a training state.
pub fn export_state(
    state: &TrainState,
    info: &RunInfo,
    choice: WeightsChoice,
    dtype: flowmap::write::WeightDtype,
) -> anyhow::Result<Vec<u8>> {
    let named = export::select_weights(state, choice);
    let meta = export::model_meta(info, export::architecture(state, info), choice);
    export::to_model_bytes(&named, &meta, dtype)
}

fn parse_dtype(s: &str) -> anyhow::Result<flowmap::write::WeightDtype> {
    use flowmap::write::WeightDtype;
    match s {
        "f32" => Ok(WeightDtype::F32),
        "f16" => Ok(WeightDtype::F16),
        "bf16" => Ok(WeightDtype::BF16),
        _ => bail!("unknown --dtype '{s}': use f32, f16 or bf16"),
    }
}

fn cmd_export(a: ExportArgs) -> anyhow::Result<()> {
    let choice = a.weights;
    let dtype = parse_dtype(&a.dtype)?;
    let (state, info) = checkpoint::load(&a.checkpoint, tch::Device::Cpu)?;
    let bytes = export_state(&state, &info, choice, dtype)?;
    flowmap::Model::from_bytes(&bytes)
        .context("the exported file failed the runtime's validation")?;
    checkpoint::write_atomically(&a.out, &bytes)?;
    eprintln!(
        "exported {} weights (step {}, {}) to {}",
        choice.name(),
        info.step,
        a.dtype,
        a.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn train_help_shows_every_default() {
        let mut cmd = command();
        let help = cmd
            .find_subcommand_mut("train")
            .unwrap()
            .render_long_help()
            .to_string();
        // Every setting with a default value and a flag of the same name shows it.
        let defaults = toml::Value::try_from(TrainConfig::default()).unwrap();
        let defaults = defaults.as_table().unwrap();
        let mut shown = 0;
        for arg in command().find_subcommand("train").unwrap().get_arguments() {
            let id = arg.get_id().as_str();
            if let Some(v) = defaults.get(id) {
                let want = if TrainConfig::ARCH_DEPENDENT.contains(&id) {
                    let unet = toml::Value::try_from(TrainConfig::defaults_for(Arch::Unet))
                        .unwrap()[id]
                        .clone();
                    format!(
                        "[default: {}; {} with --arch unet]",
                        show_default(v),
                        show_default(&unet)
                    )
                } else {
                    format!("[default: {}]", show_default(v))
                };
                let flag = format!("--{}", id.replace('_', "-"));
                // The flag's own entry ("--steps <STEPS>"), not a mention in another's help.
                let section = help.split(&format!("{flag} <")).nth(1).unwrap_or("");
                let section = section.split("\n      --").next().unwrap();
                assert!(section.contains(&want), "{flag} lacks {want}:\n{section}");
                shown += 1;
            }
        }
        assert!(shown >= 20, "only {shown} settings matched a flag");
        let d = TrainConfig::default();
        assert!(help.contains(&format!("[default: {}]", d.steps)));
        assert!(help.contains(&format!("[default: {}; 64 with --arch unet]", d.batch)));
        assert!(help.contains("[default: 10.0; 1.0 with --arch unet]"));
    }

    #[test]
    fn flags_override_the_config() {
        let cli = Cli::try_parse_from([
            "flowmap-train",
            "train",
            "--hidden",
            "512x5",
            "--method",
            "psd-midpoint",
            "--steps",
            "9",
            "--lr",
            "0.01",
        ])
        .unwrap();
        let Command::Train(args) = cli.command else {
            panic!("not train")
        };
        let mut cfg = TrainConfig {
            batch: 77,
            ..Default::default()
        };
        args.apply(&mut cfg);
        assert_eq!(cfg.hidden, vec![512; 5]);
        assert_eq!(cfg.method, Method::PsdMidpoint);
        assert_eq!(cfg.steps, 9);
        assert_eq!(cfg.lr, 0.01);
        assert_eq!(cfg.batch, 77, "unset flags keep the config's value");
    }

    #[test]
    fn bad_values_are_rejected_with_a_message() {
        let err = Cli::try_parse_from(["flowmap-train", "train", "--hidden", "wide"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("WIDTHxDEPTH"), "{err}");
        let err = Cli::try_parse_from(["flowmap-train", "train", "--method", "lsdx"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("lsd"), "{err}");
    }
}
