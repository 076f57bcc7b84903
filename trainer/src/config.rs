//! Training configuration: defaults, a TOML file, and command-line flags (flags win).

use crate::coupling::Coupling;
use crate::network::Arch;
use crate::objective::{LossWeight, Method, StopGrad};
use crate::optim::LrSchedule;
use crate::unet::Preset;
use flowmap::schema::{Activation, Interpolant};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The default teacher cap when LSD distils a frozen flow-matching teacher (`--teacher`, or
/// the teacher phase of the defaults): without it the student streaked the broad modes of the
/// unequal set at both seeds; with it that set's one-step JS halved (docs/results.md §5).
pub const DISTILLATION_TEACHER_CAP: f64 = 5.0;

/// Every setting of a training run. Serialised into checkpoints so `--resume` continues the
/// same run, and written to `config.toml` in the run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// A built-in dataset name (`flowmap-train datasets`) or a .npy/.csv/.safetensors path.
    pub data: String,
    /// Tensor name inside a .safetensors data file with several tensors.
    pub data_key: Option<String>,
    /// Points drawn from a built-in dataset for training.
    pub data_points: usize,
    /// Objective.
    pub method: Method,
    /// Stop-gradient placement; the method's released default when absent.
    pub stopgrad: Option<StopGrad>,
    /// Interpolant.
    pub interpolant: Interpolant,
    /// Optimiser steps.
    pub steps: u64,
    /// Batch size B.
    pub batch: i64,
    /// Fraction of diagonal (flow-matching) rows.
    pub diag_fraction: f64,
    /// Fraction of off-diagonal rows that start at a sampler's grid time (s = k/N, N = 1, 2,
    /// 4) instead of anywhere on the triangle; 0 = the paper's sampling.
    pub grid_start_fraction: f64,
    /// How each batch's noise is paired with its data: independent (the paper's) or ot
    /// (minibatch optimal transport).
    pub coupling: Coupling,
    /// Peak learning rate lr0.
    pub lr: f64,
    /// Learning-rate schedule.
    pub lr_schedule: LrSchedule,
    /// Steps at constant lr before the 1/√step decay (inv-sqrt schedule).
    pub lr_decay_steps: u64,
    /// Linear warm-up steps (cosine schedule).
    pub lr_warmup: u64,
    /// The cosine schedule ends at this fraction of lr0.
    pub lr_final: f64,
    /// Per-sample loss weight: constant (default) or learned (the paper's image setting).
    pub loss_weight: LossWeight,
    /// Global-norm gradient clip.
    pub clip: f64,
    /// LSD's teacher velocity, per row, capped at this many times the batch median of its
    /// norm (direction kept); 0 = off, the paper's loss. See [`crate::objective::cap_rows`].
    /// `None`: [`TrainConfig::effective_teacher_cap`] decides.
    pub teacher_cap: Option<f64>,
    /// Stop when the loss exceeds this many times the loss of the run's first step (in this
    /// process): a run that diverges while staying finite. 0 turns the guard off.
    pub max_loss_growth: f64,
    /// What a diverged LSD run without a teacher cap does: continue once from its last
    /// checkpoint with the teacher capped, or stop (every other run stops).
    pub on_divergence: OnDivergence,
    /// Network family: `mlp` (default) or `unet` (images).
    pub arch: Arch,
    /// U-Net settings by name (`--arch unet`): tiny, cpu (default) or gpu.
    pub unet_preset: Preset,
    /// Hidden layer widths (MLP).
    pub hidden: Vec<usize>,
    /// Hidden activation.
    pub activation: Activation,
    /// MLP only: Fourier frequencies f_k of the state embedding (layer 0 also reads
    /// sin/cos(2π f_k·x/σ) of each coordinate); empty = the raw state (the paper's MLP).
    pub state_frequencies: Vec<f32>,
    /// Base scale σ in normalised space; `None` = 0.5 for images, else the std of all
    /// normalised training coordinates.
    pub sigma: Option<f64>,
    /// Random seed (data, init, every batch).
    pub seed: u64,
    /// auto, cpu, cuda or cuda:N.
    pub device: String,
    /// libtorch intra-op threads (0 = libtorch's default).
    pub threads: i32,
    /// Save a checkpoint every this many steps (and at the end).
    pub checkpoint_every: u64,
    /// Write a log line every this many steps.
    pub log_every: u64,
    /// Score 1- and 2-step samples of the current weights (sliced W2 against a fixed sample of
    /// the data) every this many steps, into the log and the loss plot. 0 = never.
    pub quality_every: u64,
    /// Which weights the final export uses: raw, ema0.999 or ema0.9999.
    pub export_weights: WeightsChoice,
    /// A flow-matching model whose velocity is the frozen teacher (distillation).
    pub teacher: Option<PathBuf>,
    /// Steps of a flow-matching teacher trained first (into `<out>/teacher`) and then
    /// distilled as `teacher`; 0: self-distillation, the paper's. `None`:
    /// [`TrainConfig::effective_teacher_steps`] decides.
    pub teacher_steps: Option<u64>,
    /// A model file whose weights the network starts from instead of a random draw (a warm
    /// start; MLP runs). A `teacher_steps` run sets it to the teacher it trained.
    pub init: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: "checkerboard".into(),
            data_key: None,
            data_points: 200_000,
            method: Method::Lsd,
            stopgrad: None,
            interpolant: Interpolant::Linear,
            steps: 4000,
            batch: 1024,
            // Half the batch off the diagonal, not the paper's quarter: 1-step JS lower on all
            // 12 suite sets at the default budget (docs/results.md §5, ablations).
            diag_fraction: 0.5,
            // Off-diagonal rows starting where the 1-, 2-, 4-step samplers step: 1-step JS
            // lower on 11 of 12 suite sets (docs/results.md §5, ablations).
            grid_start_fraction: 0.5,
            // Minibatch OT: 1- and 2-step JS lower on the 2-D suite at the default budget
            // (docs/results.md §5, ablations).
            coupling: Coupling::Ot,
            // With the OT pairing and grid starts, 1.5e-2 lowers 1-step JS on 9 of 12 suite
            // sets and brings the checkerboard under 0.06 in 4000 steps (docs/results.md §5).
            lr: 1.5e-2,
            lr_schedule: LrSchedule::Cosine,
            lr_decay_steps: 35_000,
            lr_warmup: 200,
            lr_final: 0.01,
            loss_weight: LossWeight::Constant,
            clip: 10.0,
            teacher_cap: None,
            max_loss_growth: 1000.0,
            // Continue a diverged LSD run with the teacher capped: the one divergence studied
            // then finished with the best map of its set (docs/training.md, "When a run
            // diverges"); runs that do not diverge are unchanged.
            on_divergence: OnDivergence::Cap,
            arch: Arch::Mlp,
            unet_preset: Preset::Cpu,
            hidden: vec![256, 256, 256],
            activation: Activation::GeluTanh,
            // Fourier features of the state: 2-step JS 1.2-2.3x lower on the 2-D suite at the
            // default budget (docs/results.md §5, ablations).
            state_frequencies: vec![0.25, 0.5, 1.0, 2.0],
            sigma: None,
            seed: 42,
            device: "auto".into(),
            threads: 0,
            checkpoint_every: 500,
            log_every: 50,
            quality_every: 250,
            export_weights: WeightsChoice::Ema999,
            teacher: None,
            teacher_steps: None,
            init: None,
        }
    }
}

impl TrainConfig {
    /// The defaults for a network family. U-Nets take the paper's image settings where they
    /// matter (gradient clip 1, export at EMA 0.9999, 75 % diagonal rows, independent
    /// pairing; paper.md §4.4) at a
    /// batch a CPU can afford (the paper's 512 is a GPU batch); everything else is shared with
    /// the MLP.
    pub fn defaults_for(arch: Arch) -> TrainConfig {
        match arch {
            Arch::Mlp => TrainConfig::default(),
            Arch::Unet => TrainConfig {
                arch,
                batch: 64,
                clip: 1.0,
                diag_fraction: 0.75,
                // The paper's (s, t) sampling: grid-started rows were measured on MLPs only.
                grid_start_fraction: 0.0,
                // The paper's image lr0; the MLP's larger rate was measured on MLPs only.
                lr: 1e-2,
                // A batch of 64 images is too small a sample of 784-dimensional space for its
                // OT plan to straighten anything; the paper's independent pairing.
                coupling: Coupling::Independent,
                export_weights: WeightsChoice::Ema9999,
                state_frequencies: Vec::new(),
                ..TrainConfig::default()
            },
        }
    }

    /// The settings whose default depends on the network family, for `--help`.
    pub const ARCH_DEPENDENT: [&'static str; 8] = [
        "batch",
        "clip",
        "coupling",
        "diag_fraction",
        "export_weights",
        "grid_start_fraction",
        "lr",
        "state_frequencies",
    ];

    /// Reads a TOML file over the defaults of its network family (`arch_flag`, else the
    /// file's `arch`, else mlp); unknown keys are errors (a typo must not silently do nothing).
    pub fn from_toml_file(
        path: &std::path::Path,
        arch_flag: Option<Arch>,
    ) -> anyhow::Result<TrainConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        Self::from_toml_str(&text, arch_flag)
            .map_err(|e| anyhow::anyhow!("invalid config {}: {e}", path.display()))
    }

    /// [`TrainConfig::from_toml_file`] on text.
    pub fn from_toml_str(text: &str, arch_flag: Option<Arch>) -> anyhow::Result<TrainConfig> {
        let file: toml::Table = toml::from_str(text)?;
        let arch = match (arch_flag, file.get("arch")) {
            (Some(a), _) => a,
            (None, Some(v)) => v.clone().try_into()?,
            (None, None) => Arch::Mlp,
        };
        let mut merged = toml::Table::try_from(Self::defaults_for(arch))?;
        merged.extend(file);
        Ok(merged.try_into()?)
    }

    /// lr(step) under this run's schedule.
    pub fn learning_rate(&self, step: u64) -> f64 {
        crate::optim::scheduled_lr(
            self.lr_schedule,
            self.lr,
            step,
            self.steps,
            self.lr_decay_steps,
            self.lr_warmup,
            self.lr_final,
        )
    }

    /// Steps of the flow-matching teacher trained before the student: the given number, or
    /// by default `steps` for an LSD MLP run given neither a teacher nor a start (`--init`),
    /// else 0 (self-distillation). Why teacher-first: on the 2-D suite it lowered the one-step
    /// JS on 10 of 12 sets at seed 1 (docs/results.md §5, "The defaults since session 15").
    pub fn effective_teacher_steps(&self) -> u64 {
        match self.teacher_steps {
            Some(n) => n,
            None if self.method == Method::Lsd
                && self.arch == Arch::Mlp
                && self.teacher.is_none()
                && self.init.is_none() =>
            {
                self.steps
            }
            None => 0,
        }
    }

    /// The teacher cap in effect: the given one, or by default [`DISTILLATION_TEACHER_CAP`]
    /// when LSD distils a frozen teacher, else 0 (self-distillation keeps the paper's loss).
    pub fn effective_teacher_cap(&self) -> f64 {
        match self.teacher_cap {
            Some(k) => k,
            None if self.method == Method::Lsd && self.teacher.is_some() => {
                DISTILLATION_TEACHER_CAP
            }
            None => 0.0,
        }
    }

    /// The stop-gradient in effect.
    pub fn effective_stopgrad(&self) -> StopGrad {
        self.stopgrad.unwrap_or(self.method.default_stopgrad())
    }

    /// Rejects settings that cannot work, with a message that says what to change.
    pub fn validate(&self) -> anyhow::Result<()> {
        use anyhow::bail;
        if self.steps == 0 {
            bail!("--steps must be at least 1");
        }
        if self.batch < 2 {
            bail!("--batch must be at least 2 (one diagonal and one off-diagonal row)");
        }
        if !(self.diag_fraction > 0.0 && self.diag_fraction < 1.0) {
            bail!(
                "--diag-fraction must be in (0, 1), got {}",
                self.diag_fraction
            );
        }
        if !(0.0..=1.0).contains(&self.grid_start_fraction) {
            bail!(
                "--grid-start-fraction must be in [0, 1], got {}",
                self.grid_start_fraction
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be positive, got {}", self.lr);
        }
        if !(self.lr_final.is_finite() && (0.0..=1.0).contains(&self.lr_final)) {
            bail!("--lr-final must be in [0, 1], got {}", self.lr_final);
        }
        if let Some(k) = self.teacher_cap {
            if !(k.is_finite() && k >= 0.0) {
                bail!("--teacher-cap must be 0 (off) or positive, got {k}");
            }
            if k > 0.0 && self.method != Method::Lsd {
                bail!(
                    "--teacher-cap applies to LSD's teacher velocity only, not --method {}",
                    self.method.name()
                );
            }
        }
        // (A run with teacher_steps > 0 records the teacher it trained in `teacher`.)
        if self.teacher_steps.is_some_and(|n| n > 0)
            && (self.method == Method::Fm || self.arch == Arch::Unet)
        {
            bail!(
                "--teacher-steps applies to distilling MLP flow maps (lsd, esd, psd-*), not \
                 --method {} with --arch {}",
                self.method.name(),
                self.arch.name()
            );
        }
        if self.init.is_some() && self.arch == Arch::Unet {
            bail!("--init applies to MLP runs (it reads an MLP model file), not --arch unet");
        }
        if !(self.clip.is_finite() && self.clip > 0.0) {
            bail!("--clip must be positive, got {}", self.clip);
        }
        if !(self.max_loss_growth.is_finite() && self.max_loss_growth >= 0.0) {
            bail!(
                "--max-loss-growth must be a finite number >= 0 (0 = off), got {}",
                self.max_loss_growth
            );
        }
        if self.hidden.is_empty() || self.hidden.iter().any(|&w| w == 0 || w > 65_536) {
            bail!("--hidden needs one or more widths in 1..=65536, e.g. 256x3 or 512,512");
        }
        if self
            .state_frequencies
            .iter()
            .any(|f| !(f.is_finite() && *f > 0.0))
            || self.state_frequencies.len() > 64
        {
            bail!(
                "--state-frequencies needs at most 64 positive frequencies, e.g. 0.5,1,2,4 (got {:?})",
                self.state_frequencies
            );
        }
        if self.arch == Arch::Unet && !self.state_frequencies.is_empty() {
            bail!(
                "--state-frequencies applies to MLPs only (U-Nets see pixels through convolutions)"
            );
        }
        if let Some(s) = self.sigma {
            if !(s.is_finite() && s > 0.0) {
                bail!("--sigma must be positive, got {s}");
            }
        }
        if self.checkpoint_every == 0 || self.log_every == 0 {
            bail!("--checkpoint-every and --log-every must be at least 1");
        }
        let sg = self.effective_stopgrad();
        if sg == StopGrad::Full && self.method != Method::Esd {
            bail!(
                "--stopgrad full applies to ESD only; {} supports none or convex",
                self.method.name()
            );
        }
        Ok(())
    }
}

/// What a run does when its loss diverges or turns non-finite ([`crate::train::run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDivergence {
    /// Stop with an error that says how to continue.
    Stop,
    /// LSD without a teacher cap: reload the last checkpoint, cap the teacher at
    /// [`RECOVERY_TEACHER_CAP`] and go on, once; otherwise stop.
    #[default]
    Cap,
}

impl OnDivergence {
    /// `stop` or `cap`.
    pub fn name(self) -> &'static str {
        match self {
            OnDivergence::Stop => "stop",
            OnDivergence::Cap => "cap",
        }
    }
}

/// The teacher cap a diverged LSD run continues with (`on_divergence = "cap"`): the cap that
/// cured the divergence studied, where 10 let the spike through (docs/training.md).
pub const RECOVERY_TEACHER_CAP: f64 = 5.0;

/// Which weights to export. Serialised as its name (`raw`, `ema0.999`, `ema0.9999`), so
/// configs and checkpoints written while this was a string read unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WeightsChoice {
    /// The optimiser's current parameters.
    #[serde(rename = "raw")]
    Raw,
    /// The EMA with decay 0.999 (warm-started).
    #[serde(rename = "ema0.999")]
    Ema999,
    /// The EMA with decay 0.9999 (warm-started).
    #[serde(rename = "ema0.9999")]
    Ema9999,
}

impl WeightsChoice {
    /// Parses `raw`, `ema0.999` or `ema0.9999`.
    pub fn parse(s: &str) -> anyhow::Result<WeightsChoice> {
        WeightsChoice::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| anyhow::anyhow!("unknown weights '{s}': use raw, ema0.999 or ema0.9999"))
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            WeightsChoice::Raw => "raw",
            WeightsChoice::Ema999 => "ema0.999",
            WeightsChoice::Ema9999 => "ema0.9999",
        }
    }

    /// All choices, for comparisons.
    pub const ALL: [WeightsChoice; 3] = [
        WeightsChoice::Raw,
        WeightsChoice::Ema999,
        WeightsChoice::Ema9999,
    ];
}

/// Parses hidden widths written as `256x3` (three layers of 256) or `512,512,256`.
pub fn parse_hidden(s: &str) -> Result<Vec<usize>, String> {
    let bad = || format!("invalid --hidden '{s}': use WIDTHxDEPTH (256x3) or a list (512,512)");
    if let Some((w, d)) = s.split_once('x') {
        let w: usize = w.trim().parse().map_err(|_| bad())?;
        let d: usize = d.trim().parse().map_err(|_| bad())?;
        return Ok(vec![w; d]);
    }
    s.split(',')
        .map(|p| p.trim().parse::<usize>().map_err(|_| bad()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_forms() {
        assert_eq!(parse_hidden("256x3").unwrap(), vec![256, 256, 256]);
        assert_eq!(parse_hidden("512,128").unwrap(), vec![512, 128]);
        assert!(parse_hidden("abc").is_err());
    }

    #[test]
    fn toml_round_trip_and_unknown_keys() {
        let c = TrainConfig {
            method: Method::PsdMidpoint,
            steps: 7,
            ..Default::default()
        };
        let text = toml::to_string(&c).unwrap();
        assert_eq!(toml::from_str::<TrainConfig>(&text).unwrap(), c);
        assert!(toml::from_str::<TrainConfig>("stepz = 3").is_err());
        let partial: TrainConfig = toml::from_str("method = \"esd\"\nsteps = 10").unwrap();
        assert_eq!(partial.method, Method::Esd);
        assert_eq!(partial.batch, TrainConfig::default().batch);
    }

    #[test]
    fn image_runs_take_the_image_defaults_unless_told_otherwise() {
        let unet = TrainConfig::defaults_for(Arch::Unet);
        assert_eq!((unet.clip, unet.batch), (1.0, 64));
        assert_eq!(unet.export_weights, WeightsChoice::Ema9999);
        assert_eq!(TrainConfig::defaults_for(Arch::Mlp), TrainConfig::default());
        // Each arch-dependent setting really differs, and nothing else does.
        let mut mlp = toml::Table::try_from(TrainConfig::default()).unwrap();
        let unet_table = toml::Table::try_from(&unet).unwrap();
        mlp.retain(|k, v| unet_table.get(k) != Some(v));
        let mut differing: Vec<&str> = mlp.keys().map(String::as_str).collect();
        differing.sort();
        let mut expected = TrainConfig::ARCH_DEPENDENT.to_vec();
        expected.push("arch");
        expected.sort();
        assert_eq!(differing, expected);
        // A file naming the U-Net gets its defaults; what the file sets wins.
        let c = TrainConfig::from_toml_str("arch = \"unet\"\nbatch = 8", None).unwrap();
        assert_eq!((c.arch, c.clip, c.batch), (Arch::Unet, 1.0, 8));
        // The flag decides the family even when the file does not name it.
        let c = TrainConfig::from_toml_str("steps = 5", Some(Arch::Unet)).unwrap();
        assert_eq!((c.arch, c.clip, c.steps), (Arch::Unet, 1.0, 5));
        let c = TrainConfig::from_toml_str("steps = 5", None).unwrap();
        assert_eq!((c.arch, c.clip), (Arch::Mlp, 10.0));
        assert!(TrainConfig::from_toml_str("stepz = 3", None).is_err());
        assert!(TrainConfig::from_toml_str("arch = \"cnn\"", None).is_err());
    }

    #[test]
    fn lsd_on_an_mlp_trains_its_teacher_first_and_distils_it_capped() {
        let d = TrainConfig::default();
        assert_eq!(
            (d.effective_teacher_steps(), d.effective_teacher_cap()),
            (4000, 0.0)
        );
        // The teacher phase is as long as --steps unless told otherwise.
        let longer = TrainConfig {
            steps: 8000,
            ..Default::default()
        };
        assert_eq!(longer.effective_teacher_steps(), 8000);
        // No teacher phase for other methods, U-Nets, or runs given a teacher or a start.
        let teacher = Some(PathBuf::from("t.safetensors"));
        for c in [
            TrainConfig {
                method: Method::Esd,
                ..Default::default()
            },
            TrainConfig {
                method: Method::Fm,
                ..Default::default()
            },
            TrainConfig::defaults_for(Arch::Unet),
            TrainConfig {
                teacher: teacher.clone(),
                ..Default::default()
            },
            TrainConfig {
                init: teacher.clone(),
                ..Default::default()
            },
            TrainConfig {
                teacher_steps: Some(0),
                ..Default::default()
            },
        ] {
            assert_eq!(c.effective_teacher_steps(), 0, "{c:?}");
        }
        // Distilling a frozen teacher with LSD is capped at 5 medians; a given cap wins,
        // and other methods are never capped.
        let distil = TrainConfig {
            teacher: teacher.clone(),
            ..Default::default()
        };
        assert_eq!(distil.effective_teacher_cap(), DISTILLATION_TEACHER_CAP);
        let uncapped = TrainConfig {
            teacher_cap: Some(0.0),
            ..distil.clone()
        };
        assert_eq!(uncapped.effective_teacher_cap(), 0.0);
        let psd = TrainConfig {
            method: Method::PsdMidpoint,
            ..distil
        };
        assert_eq!(psd.effective_teacher_cap(), 0.0);
        // "Decide for me" survives a round trip through the run's config file.
        let text = toml::to_string(&TrainConfig::default()).unwrap();
        assert!(!text.contains("teacher_cap") && !text.contains("teacher_steps"));
        let back = TrainConfig::from_toml_str(&text, None).unwrap();
        assert_eq!((back.teacher_steps, back.teacher_cap), (None, None));
        // An explicit teacher phase where none can run is refused.
        let fm = TrainConfig {
            method: Method::Fm,
            teacher_steps: Some(10),
            ..Default::default()
        };
        assert!(fm.validate().is_err());
    }

    #[test]
    fn validation_catches_bad_settings() {
        assert!(TrainConfig::default().validate().is_ok());
        assert!(TrainConfig {
            steps: 0,
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(TrainConfig {
            stopgrad: Some(StopGrad::Full),
            ..Default::default()
        }
        .validate()
        .is_err());
        // An unknown export choice cannot even be represented: it fails when read.
        let err = toml::from_str::<TrainConfig>("export_weights = \"ema0.5\"").unwrap_err();
        assert!(err.to_string().contains("ema0.9999"), "{err}");
        assert!(WeightsChoice::parse("ema0.5").is_err());
    }
}
