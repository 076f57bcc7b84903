//! The training loop — the self-distillation algorithm box of the paper (Boffi, Albergo &
//! Vanden-Eijnden, *How to build a consistency model*, NeurIPS 2025, §2.7) plus what a
//! long run needs: progress, a JSONL log, atomic checkpoints, exact resume, a clean stop on
//! NaN/Inf and on Ctrl-C.

use crate::checkpoint::{self, RunInfo, TrainState};
use crate::config::{OnDivergence, TrainConfig, RECOVERY_TEACHER_CAP};
use crate::coupling;
use crate::data::TrainingData;
use crate::net::Mlp;
use crate::objective::{self, LossConfig, Method, Teacher};
use crate::probe::{probe_size, QualityProbe};
use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tch::{Kind, Tensor};

/// Where a run keeps its files.
pub struct RunPaths {
    /// The run directory.
    pub dir: PathBuf,
}

impl RunPaths {
    /// The latest checkpoint.
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.safetensors")
    }
    /// The JSONL metrics log.
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.jsonl")
    }
    /// The exported model.
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }
    /// The resolved configuration.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    /// Creates the directory and proves it is writable before any training happens.
    pub fn prepare(dir: &Path) -> anyhow::Result<RunPaths> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output directory {}", dir.display()))?;
        let probe = dir.join(".write-test");
        std::fs::write(&probe, b"ok")
            .with_context(|| format!("output directory {} is not writable", dir.display()))?;
        let _ = std::fs::remove_file(probe);
        Ok(RunPaths {
            dir: dir.to_path_buf(),
        })
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All steps done.
    Finished,
    /// Ctrl-C: the state was saved.
    Interrupted,
}

/// Options that are not part of the run's identity.
#[derive(Default)]
pub struct RunOptions {
    /// Show a progress bar.
    pub progress: bool,
    /// Set by a signal handler to stop after the current step.
    pub stop: Option<Arc<AtomicBool>>,
    /// Train for about this long: [`budget_steps`] fixes the step count from the speed of the
    /// first steps (a new run only).
    pub budget: Option<Duration>,
    /// Faults to inject (the fault-tolerance tests; built only with `fault-injection`).
    #[cfg(feature = "fault-injection")]
    pub faults: Faults,
}

/// Faults the tests inject to prove that a run survives them.
#[cfg(feature = "fault-injection")]
#[derive(Default, Clone, Copy)]
pub struct Faults {
    /// Make the loss NaN at this step.
    pub nan_at: Option<u64>,
    /// Stop (as if killed: no final checkpoint) after this step.
    pub abort_after: Option<u64>,
    /// Make the loss NaN at this step while the run has no teacher cap (a divergence the
    /// cap cures, as in the one studied).
    pub nan_until_capped: Option<u64>,
}

/// A seed for step `step` of a run seeded with `seed` (SplitMix64 finaliser): every batch's
/// randomness is a pure function of (seed, step), so a resumed run draws exactly what the
/// uninterrupted run would have.
pub fn step_seed(seed: u64, step: u64) -> i64 {
    let mut z = seed ^ step.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// Statistics of one step.
pub struct StepStats {
    /// Total weighted loss.
    pub loss: f64,
    /// Raw diagonal error.
    pub diag_err: f64,
    /// Raw off-diagonal error.
    pub off_err: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// One optimisation step: sample a batch, compute the loss, clip, RAdam, EMA. Returns an error
/// (and leaves the state untouched) if the loss or the gradient is not finite.
pub fn train_step(
    state: &mut TrainState,
    cfg: &TrainConfig,
    data: &TrainingData,
    teacher: Option<&Mlp>,
) -> anyhow::Result<StepStats> {
    let device = data.normalized.device();
    tch::manual_seed(step_seed(cfg.seed, state.step));
    let b = cfg.batch;
    // x1 ← next data batch; x0 ← σ·N(0, I).
    let idx = Tensor::randint(data.n as i64, [b], (Kind::Int64, device));
    let x1 = data.normalized.index_select(0, &idx);
    let x0 = Tensor::randn(x1.size(), (Kind::Float, device)) * state.net.sigma();
    // x0 ← the partner of each x1 under the coupling (the batch's OT plan, or as drawn).
    let x0 = coupling::pair(cfg.coupling, &x0, &x1);
    // (s, t): a fraction cfg.diag_fraction on the diagonal, the rest uniform on the triangle
    // (a fraction cfg.grid_start_fraction of them starting on a sampler's grid).
    let times = objective::sample_times(
        b,
        cfg.diag_fraction,
        cfg.grid_start_fraction,
        cfg.method,
        device,
    );
    let loss_cfg = LossConfig {
        method: cfg.method,
        stopgrad: cfg.effective_stopgrad(),
        interpolant: cfg.interpolant,
        diag_fraction: cfg.diag_fraction,
        loss_weight: cfg.loss_weight,
        teacher_cap: cfg.effective_teacher_cap(),
    };
    let teacher = match teacher {
        Some(t) => Teacher::Frozen(t),
        None => Teacher::SelfDistill,
    };
    // L ← diagonal + off-diagonal loss.
    let out = objective::loss(state.net.flow(), &teacher, &loss_cfg, &x0, &x1, &times);
    let loss = out.loss.double_value(&[]);
    if !loss.is_finite() {
        bail!("non-finite loss ({loss}) at step {}", state.step + 1);
    }
    // θ ← RAdam(θ, clip(∇θ L), lr(step)).
    let lr = cfg.learning_rate(state.step);
    let grad_norm = state
        .opt
        .backward_step(&out.loss, cfg.clip, lr)
        .map_err(|g| {
            anyhow::anyhow!(
                "non-finite gradient norm ({}) at step {}",
                g.0,
                state.step + 1
            )
        })?;
    // θ_ema ← β θ_ema + (1 − β) θ (with warm-up).
    let current = state.net.named_parameters();
    for ema in &mut state.ema {
        ema.update(&current, state.step);
    }
    state.step += 1;
    Ok(StepStats {
        loss,
        diag_err: out.diag_err.double_value(&[]),
        off_err: out.off_err.double_value(&[]),
        grad_norm,
        lr,
    })
}

/// Step `step` (1-based) of `run`: [`train_step`], or the injected NaN of the fault tests.
fn run_step(
    state: &mut TrainState,
    cfg: &TrainConfig,
    data: &TrainingData,
    teacher: Option<&Mlp>,
    opts: &RunOptions,
) -> anyhow::Result<StepStats> {
    #[cfg(feature = "fault-injection")]
    if opts.faults.nan_at == Some(state.step + 1)
        || (opts.faults.nan_until_capped == Some(state.step + 1)
            && cfg.effective_teacher_cap() == 0.0)
    {
        bail!("non-finite loss (NaN) at step {}", state.step + 1);
    }
    let _ = opts;
    train_step(state, cfg, data, teacher)
}

/// Makes the JSONL log agree with a checkpoint at `step` before training (re)starts: a run
/// killed after its last checkpoint has logged steps that the resumed run will redo, and a kill
/// mid-write leaves a torn last line. Keeps every complete line whose step is at most `step`, so
/// a resumed run's log reads like an uninterrupted one. A missing log is fine.
pub fn trim_log(path: &Path, step: u64) -> anyhow::Result<()> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let kept: String = text
        .split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s <= step)
        })
        .collect();
    if kept.len() != text.len() {
        std::fs::write(path, kept).with_context(|| format!("cannot rewrite {}", path.display()))?;
    }
    Ok(())
}

/// What a stopped run leaves behind, for its error message: "the {which} checkpoint (path)
/// is kept", or that there is none yet.
fn kept_checkpoint(paths: &RunPaths, which: &str) -> String {
    if paths.checkpoint().exists() {
        format!(
            "the {which} checkpoint ({}) is kept",
            paths.checkpoint().display()
        )
    } else {
        "no checkpoint had been written yet".to_string()
    }
}

/// After a divergence (`why`): an LSD run without a teacher cap whose `on_divergence` is `cap`
/// reloads its last checkpoint into `state`, caps the teacher at [`RECOVERY_TEACHER_CAP`] from
/// then on, drops the log lines after the checkpoint and says so; returns whether the run goes
/// on. At most once per run, since the run then has a cap. The run stays a pure function of
/// its settings: the same divergence at the same step, the same continuation.
fn recover(
    state: &mut TrainState,
    cfg: &mut TrainConfig,
    info: &mut RunInfo,
    paths: &RunPaths,
    device: tch::Device,
    why: &str,
    say: impl Fn(String),
) -> anyhow::Result<bool> {
    if cfg.on_divergence != OnDivergence::Cap
        || cfg.method != Method::Lsd
        || cfg.effective_teacher_cap() > 0.0
        || !paths.checkpoint().exists()
    {
        return Ok(false);
    }
    let (restored, _) = checkpoint::load(&paths.checkpoint(), device)?;
    say(format!(
        "{why}: continuing from the step-{} checkpoint with --teacher-cap {RECOVERY_TEACHER_CAP} \
         (--on-divergence cap; docs/training.md, \"When a run diverges\")",
        restored.step
    ));
    *state = restored;
    cfg.teacher_cap = Some(RECOVERY_TEACHER_CAP);
    info.config.teacher_cap = Some(RECOVERY_TEACHER_CAP);
    trim_log(&paths.log(), state.step)?;
    Ok(true)
}

/// " It had already continued once from the step-N checkpoint with the teacher capped." when
/// it had, else nothing.
fn already_continued(from: Option<u64>) -> String {
    from.map(|step| {
        format!(
            " It had already continued once from the step-{step} checkpoint with \
             --teacher-cap {RECOVERY_TEACHER_CAP}."
        )
    })
    .unwrap_or_default()
}

/// What to do after a run stopped on a non-finite gradient or a diverging loss: continue from
/// the kept checkpoint with the teacher capped (LSD runs without a cap), or at half the peak
/// learning rate. (A lower --clip did not stop the one divergence studied, LSD on `arcs` at
/// step 5 424 of 8 000; both of these did, the cap to a better model: docs/training.md, "When
/// a run diverges".)
fn continue_advice(cfg: &TrainConfig, paths: &RunPaths) -> String {
    if paths.checkpoint().exists() {
        let out = paths.dir.display();
        // --teacher-cap is refused for other methods, so it is only offered to LSD.
        let cap = if cfg.method == Method::Lsd && cfg.effective_teacher_cap() == 0.0 {
            format!(
                "--out {out} --resume --teacher-cap {RECOVERY_TEACHER_CAP} (it stopped the \
                 divergence studied in docs/training.md), or "
            )
        } else {
            String::new()
        };
        format!(
            "To continue from there: {cap}--out {out} --resume --lr {} (half the peak rate)",
            cfg.lr / 2.0
        )
    } else {
        format!("Try a lower --lr (e.g. {})", cfg.lr / 2.0)
    }
}

/// True when `loss` has grown past `factor` times `reference` (the first step's loss): a run
/// diverging while staying finite. `factor` 0 turns the check off.
pub fn diverged(loss: f64, reference: f64, factor: f64) -> bool {
    factor > 0.0 && reference > 0.0 && loss > factor * reference
}

/// The step at which a time budget fixes the step count: after a few steps to time, and no
/// later than the end of the learning-rate warm-up, so every learning rate used before the
/// decision is the same whatever the count (warm-up rates do not depend on it; nor, at step 0
/// without warm-up, does the cosine's first rate), and the run equals one given `--steps`.
pub fn budget_decision_step(warmup: u64) -> u64 {
    warmup.clamp(1, 30)
}

/// Steps that fit `budget`: `done` steps took `elapsed`; the rest of the budget is filled at
/// `rate` steps per second.
pub fn budget_steps(budget: Duration, elapsed: Duration, done: u64, rate: f64) -> u64 {
    let left = budget.saturating_sub(elapsed).as_secs_f64();
    done + (left * rate).floor() as u64
}

/// Runs (or resumes) training until `cfg.steps`, checkpointing along the way.
pub fn run(
    state: &mut TrainState,
    info: &mut RunInfo,
    data: &TrainingData,
    teacher: Option<&Mlp>,
    paths: &RunPaths,
    opts: &RunOptions,
) -> anyhow::Result<Outcome> {
    let mut cfg = info.config.clone();
    let budget = opts.budget.filter(|_| state.step == 0);
    let decide_at = budget_decision_step(cfg.lr_warmup);
    trim_log(&paths.log(), state.step)?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.log())
        .with_context(|| format!("cannot open {}", paths.log().display()))?;
    let bar = if opts.progress {
        let bar = indicatif::ProgressBar::new(cfg.steps);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {per_sec}  eta {eta}  {msg}",
            )
            .expect("valid template"),
        );
        bar.set_position(state.step);
        bar.reset_eta();
        Some(bar)
    } else {
        None
    };
    let probe = (cfg.quality_every > 0).then(|| {
        let n = probe_size(data.data_shape.iter().product());
        QualityProbe::new(
            data,
            n,
            state.net.sigma(),
            cfg.seed,
            data.normalized.device(),
        )
    });
    let device = data.normalized.device();
    // A line for the user above the progress bar (or on stderr without one).
    let say = |line: String| match &bar {
        Some(b) => b.println(line),
        None => eprintln!("{line}"),
    };
    let started = Instant::now();
    let first_step = state.step;
    let mut first_loss: Option<f64> = None;
    // The checkpoint step an automatic recovery continued from (`recover`), for the error
    // of a run that diverges again.
    let mut continued_from: Option<u64> = None;
    let mut last_probe = None;
    let mut after_first: Option<Instant> = None;
    let save = |state: &TrainState, info: &mut RunInfo| -> anyhow::Result<()> {
        info.step = state.step;
        checkpoint::save(&paths.checkpoint(), state, info)
    };
    while state.step < cfg.steps {
        if opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            save(state, info)?;
            if let Some(b) = &bar {
                b.abandon_with_message("interrupted: checkpoint saved");
            }
            return Ok(Outcome::Interrupted);
        }
        let stats = match run_step(state, &cfg, data, teacher, opts) {
            Ok(s) => s,
            Err(e) => {
                // The error names the step.
                let why = e.to_string();
                if recover(state, &mut cfg, info, paths, device, &why, say)? {
                    continued_from = Some(state.step);
                    continue;
                }
                if let Some(b) = &bar {
                    b.abandon();
                }
                let kept = kept_checkpoint(paths, "last good");
                bail!(
                    "training stopped: {e}; {kept}.{} {}",
                    already_continued(continued_from),
                    continue_advice(&cfg, paths)
                );
            }
        };
        let step = state.step;
        if step == 1 {
            after_first = Some(Instant::now());
        }
        if let Some(budget) = budget.filter(|_| step == decide_at) {
            // Timed from the end of the first step (which pays one-time costs) when there is
            // more than one step to time.
            let (timed, since) = match after_first.filter(|_| step > 1) {
                Some(t1) => (step - 1, t1),
                None => (step, started),
            };
            let rate = timed as f64 / since.elapsed().as_secs_f64().max(1e-9);
            let steps = budget_steps(budget, started.elapsed(), step, rate).max(step);
            cfg.steps = steps;
            info.config.steps = steps;
            if let Some(b) = &bar {
                b.set_length(steps);
            }
            let line = format!(
                "time budget {:.1} min: {steps} steps at {rate:.1} steps/s (--steps {steps} repeats \
                 this run exactly)",
                budget.as_secs_f64() / 60.0
            );
            say(line);
        }
        let reference = *first_loss.get_or_insert(stats.loss);
        if diverged(stats.loss, reference, cfg.max_loss_growth) {
            let why = format!(
                "step {step}: the loss {:.4e} is more than {}x the first step's",
                stats.loss, cfg.max_loss_growth
            );
            if recover(state, &mut cfg, info, paths, device, &why, say)? {
                continued_from = Some(state.step);
                continue;
            }
            if let Some(b) = &bar {
                b.abandon();
            }
            // The last checkpoint may already be on the way up: not called "good".
            let kept = kept_checkpoint(paths, "last");
            bail!(
                "training diverged: loss {:.4e} at step {step} is more than {}x the first \
                 step's {:.4e} (--max-loss-growth); {kept}.{} {}",
                stats.loss,
                cfg.max_loss_growth,
                reference,
                already_continued(continued_from),
                continue_advice(&cfg, paths)
            );
        }
        let probed = probe
            .as_ref()
            .filter(|_| step % cfg.quality_every == 0 || step == cfg.steps)
            .map(|p| p.measure(&state.net));
        if step % cfg.log_every == 0 || step == cfg.steps || probed.is_some() {
            let elapsed = started.elapsed().as_secs_f64();
            let rate = (step - first_step) as f64 / elapsed.max(1e-9);
            let mut line = serde_json::json!({
                "step": step, "loss": stats.loss, "diag_err": stats.diag_err, "off_err": stats.off_err,
                "grad_norm": stats.grad_norm, "lr": stats.lr, "steps_per_s": rate, "elapsed_s": elapsed,
            });
            if let Some(q) = probed {
                line["sw2_1"] = q.one_step.into();
                line["sw2_2"] = q.two_steps.into();
                last_probe = Some(q);
            }
            // One write call per line, so a kill leaves whole lines far more often than not
            // (trim_log repairs the rest on resume).
            log.write_all(format!("{line}\n").as_bytes())?;
            if let Some(b) = &bar {
                let quality = last_probe
                    .map(|q| format!("  sW2 1-step {:.3} 2-step {:.3}", q.one_step, q.two_steps))
                    .unwrap_or_default();
                b.set_message(format!(
                    "loss {:.4}  diag {:.4}  off {:.4}{quality}",
                    stats.loss, stats.diag_err, stats.off_err
                ));
            }
        }
        if let Some(b) = &bar {
            b.set_position(step);
        }
        if step % cfg.checkpoint_every == 0 || step == cfg.steps {
            save(state, info)?;
        }
        #[cfg(feature = "fault-injection")]
        if opts.faults.abort_after == Some(step) {
            return Ok(Outcome::Interrupted);
        }
    }
    if let Some(b) = &bar {
        b.finish();
    }
    info.step = state.step;
    Ok(Outcome::Finished)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_time_budget_decides_within_the_warm_up_and_fills_the_rest() {
        assert_eq!(budget_decision_step(200), 30);
        assert_eq!(budget_decision_step(10), 10);
        assert_eq!(budget_decision_step(0), 1);
        // 30 steps took 6 s of a 60 s budget at 10 steps/s: 54 s more fit 540 steps.
        let s = |b, e| budget_steps(Duration::from_secs(b), Duration::from_secs(e), 30, 10.0);
        assert_eq!(s(60, 6), 570);
        // A budget already spent keeps the steps done.
        assert_eq!(s(5, 6), 30);
    }
    use super::*;

    fn temp_log(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("flowmap-trim-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.jsonl");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn trim_log_drops_steps_after_the_checkpoint_and_a_torn_line() {
        let path = temp_log(
            "torn",
            "{\"step\":5,\"loss\":1}\n{\"step\":10,\"loss\":0.5}\n{\"step\":15,\"loss\":0.4}\n{\"step\":20,\"lo",
        );
        trim_log(&path, 10).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"step\":5,\"loss\":1}\n{\"step\":10,\"loss\":0.5}\n"
        );
        // A torn line that happens to parse (no newline yet) is still dropped.
        std::fs::write(&path, "{\"step\":5}\n{\"step\":10}").unwrap();
        trim_log(&path, 10).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"step\":5}\n");
    }

    #[test]
    fn divergence_is_growth_past_the_factor_of_the_first_loss() {
        assert!(!diverged(1.0, 1.0, 1000.0));
        assert!(!diverged(1000.0, 1.0, 1000.0)); // exactly the factor: not yet
        assert!(diverged(1000.1, 1.0, 1000.0));
        assert!(diverged(9e28, 32.9, 1000.0)); // ESD on the digits (docs/results.md)
        assert!(!diverged(455.0, 32.9, 1000.0)); // the same run at step 3200: not yet
        assert!(!diverged(1e30, 1.0, 0.0)); // 0 = off
        assert!(!diverged(1e-3, 0.0, 1000.0)); // a zero first loss gives no scale
        assert!(!diverged(1e-9, 1e-3, 1000.0)); // a loss that falls is never divergence
    }

    #[test]
    fn trim_log_keeps_a_consistent_log_and_accepts_a_missing_one() {
        let text = "{\"step\":1}\n{\"step\":2}\n";
        let path = temp_log("keep", text);
        trim_log(&path, 2).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        trim_log(&path.with_file_name("absent.jsonl"), 2).unwrap();
        trim_log(&path, 0).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }
}
