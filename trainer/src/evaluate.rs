//! Sample quality of a model file, measured on samples drawn through the runtime (what users
//! run), against a fresh reference sample, with the reference-vs-reference noise floor.
//!
//! Besides the flow map at N steps, the same file is evaluated as a plain flow-matching model:
//! its diagonal b_t(x) = v_{t,t}(x) ([`Model::velocity`]) integrated by Euler or Heun from the
//! same base noise. That ODE baseline answers "how many network evaluations does the ODE need
//! to match the flow map's 1-step (2-step) quality" ([`equivalences`]).

use crate::cli::EvalArgs;
use anyhow::{bail, Context};
use flowmap::{Grid, Model, NormalRng};
use flowmap_eval::metrics::{self, Grid2};
use std::path::Path;

/// Rows per runtime call (bounds the workspace; results do not depend on it).
const CHUNK: usize = 4096;
/// Random directions of the sliced W2 (the reference numbers in docs/results.md use 512).
pub const SLICED_DIRS: usize = 512;

/// Quality of N-step samples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// Label, e.g. `1 step` or `euler 16`.
    pub label: String,
    /// Network evaluations per sample.
    pub nfe: usize,
    /// Energy distance to the reference, V-statistic ([`metrics::energy_distance`]).
    pub energy: f64,
    /// Energy distance to the reference, unbiased U-statistic
    /// ([`metrics::energy_distance_unbiased`]); its floor is ≈ 0.
    pub energy_u: f64,
    /// Sliced Wasserstein-2 to the reference ([`SLICED_DIRS`] directions).
    pub sliced_w2: f64,
    /// Histogram Jensen–Shannon divergence (2-D data only; grid from [`hist_grid`]).
    pub js: Option<f64>,
}

/// The histogram grid for 2-D data: the paper's checker grid (64×64 over [−1.1, 1.1]²) when
/// the reference lies inside [−1, 1]², else 64×64 cells over the reference's bounding box
/// grown by 5 % on each side. `None` for other dimensions.
pub fn hist_grid(reference: &[f32], dim: usize) -> Option<Grid2> {
    if dim != 2 || reference.is_empty() {
        return None;
    }
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for p in reference.chunks_exact(2) {
        for k in 0..2 {
            lo[k] = lo[k].min(f64::from(p[k]));
            hi[k] = hi[k].max(f64::from(p[k]));
        }
    }
    if lo.iter().all(|&v| v >= -1.0) && hi.iter().all(|&v| v <= 1.0) {
        return Some(Grid2::checker_reference());
    }
    for k in 0..2 {
        let pad = 0.05 * (hi[k] - lo[k]).max(1e-6);
        lo[k] -= pad;
        hi[k] += pad;
    }
    Some(Grid2::new(lo, hi, 64))
}

/// Metrics of `samples` against `reference` (row-major, `dim` columns).
pub fn score(label: String, nfe: usize, samples: &[f32], reference: &[f32], dim: usize) -> Row {
    let js = hist_grid(reference, dim).map(|g| metrics::hist_js(samples, reference, &g));
    Row {
        label,
        nfe,
        energy: metrics::energy_distance(samples, reference, dim),
        energy_u: metrics::energy_distance_unbiased(samples, reference, dim),
        sliced_w2: metrics::sliced_w2(samples, reference, dim, SLICED_DIRS, 0),
        js,
    }
}

/// Draws `n` samples with `steps` uniform steps from `seed`.
pub fn sample(model: &Model, n: usize, steps: usize, seed: u64) -> anyhow::Result<Vec<f32>> {
    let mut ws = model.workspace(n.min(CHUNK));
    let mut out = vec![0.0f32; n * model.dim()];
    model.sample_seeded(&mut ws, seed, Grid::Uniform(steps), &mut out)?;
    Ok(out)
}

/// The base samples `mean + std ⊙ σ·ε` in data space, with ε from [`NormalRng::new(seed)`]
/// — exactly the starting points of [`Model::sample_seeded`] with the same seed.
pub fn base_sample(model: &Model, n: usize, seed: u64) -> Vec<f32> {
    let dim = model.dim();
    let norm = &model.meta().normalization;
    let sigma = model.meta().sigma;
    let mut x = vec![0.0f32; n * dim];
    NormalRng::new(seed).fill(&mut x);
    for row in x.chunks_exact_mut(dim) {
        for ((v, m), s) in row.iter_mut().zip(&norm.mean).zip(&norm.std) {
            *v = m + s * (sigma * *v);
        }
    }
    x
}

/// ODE integrator for the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solver {
    /// Explicit Euler: one velocity evaluation per step.
    Euler,
    /// Heun (explicit trapezoidal, 2nd order): two velocity evaluations per step.
    Heun,
}

impl Solver {
    /// Velocity evaluations per step.
    pub fn evals_per_step(self) -> usize {
        match self {
            Solver::Euler => 1,
            Solver::Heun => 2,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Solver::Euler => "euler",
            Solver::Heun => "heun",
        }
    }
}

/// Integrates dx/dt = b_t(x) (the model's diagonal velocity, data space) from t = 0 to 1 on a
/// uniform grid, for every row of `x` in place, spending exactly `nfe` velocity evaluations
/// (Heun: `nfe` must be even).
pub fn integrate(model: &Model, solver: Solver, nfe: usize, x: &mut [f32]) -> anyhow::Result<()> {
    let per = solver.evals_per_step();
    if nfe == 0 || nfe % per != 0 {
        bail!(
            "{} needs a positive multiple of {per} evaluations, got {nfe}",
            solver.name()
        );
    }
    let steps = nfe / per;
    let dim = model.dim();
    let rows = (x.len() / dim).clamp(1, CHUNK);
    let mut ws = model.workspace(rows);
    let mut v1 = vec![0.0f32; rows * dim];
    let mut v2 = vec![0.0f32; rows * dim];
    let mut y = vec![0.0f32; rows * dim];
    let h = 1.0 / steps as f32;
    for chunk in x.chunks_mut(rows * dim) {
        let len = chunk.len();
        for k in 0..steps {
            let t = k as f32 / steps as f32;
            model.velocity(&mut ws, t, chunk, &mut v1[..len])?;
            match solver {
                Solver::Euler => {
                    for (z, v) in chunk.iter_mut().zip(&v1[..len]) {
                        *z += h * v;
                    }
                }
                Solver::Heun => {
                    let t1 = (k + 1) as f32 / steps as f32;
                    for ((y, z), v) in y[..len].iter_mut().zip(chunk.iter()).zip(&v1[..len]) {
                        *y = z + h * v;
                    }
                    model.velocity(&mut ws, t1, &y[..len], &mut v2[..len])?;
                    for ((z, a), b) in chunk.iter_mut().zip(&v1[..len]).zip(&v2[..len]) {
                        *z += 0.5 * h * (a + b);
                    }
                }
            }
        }
    }
    Ok(())
}

/// `n` ODE samples (from the same base noise as [`sample`] with `seed`).
pub fn ode_sample(
    model: &Model,
    solver: Solver,
    nfe: usize,
    n: usize,
    seed: u64,
) -> anyhow::Result<Vec<f32>> {
    let mut x = base_sample(model, n, seed);
    integrate(model, solver, nfe, &mut x)?;
    Ok(x)
}

/// Rows for each step count, plus the base-noise row (what the identity map would give, NFE 0)
/// and the noise floor (reference vs a second reference).
pub fn step_table(
    model: &Model,
    drawn: &[StepSamples],
    reference: &[f32],
    second_reference: &[f32],
    seed: u64,
) -> Vec<Row> {
    let dim = model.dim();
    let mut rows: Vec<Row> = drawn
        .iter()
        .map(|d| {
            let k = d.steps;
            score(
                format!("{k} step{}", if k == 1 { "" } else { "s" }),
                k,
                &d.samples,
                reference,
                dim,
            )
        })
        .collect();
    let n = reference.len() / dim;
    rows.push(score(
        "base noise".into(),
        0,
        &base_sample(model, n, seed),
        reference,
        dim,
    ));
    rows.push(floor_row(second_reference, reference, dim));
    rows
}

/// `n` samples of a model at one step count: what [`step_table`] scores and the plots show
/// (drawn once, so the pictures are the scored samples).
pub struct StepSamples {
    /// Uniform flow-map steps.
    pub steps: usize,
    /// `n · dim` floats, row-major.
    pub samples: Vec<f32>,
}

/// Draws `n` samples from `seed` at each step count.
pub fn draw_steps(
    model: &Model,
    steps: &[usize],
    n: usize,
    seed: u64,
) -> anyhow::Result<Vec<StepSamples>> {
    steps
        .iter()
        .map(|&k| {
            let samples = sample(model, n, k, seed).with_context(|| {
                format!(
                    "sampling {n} points with {k} step{}",
                    if k == 1 { "" } else { "s" }
                )
            })?;
            Ok(StepSamples { steps: k, samples })
        })
        .collect()
}

fn floor_row(second_reference: &[f32], reference: &[f32], dim: usize) -> Row {
    score(
        "floor (ref vs ref)".into(),
        0,
        second_reference,
        reference,
        dim,
    )
}

/// ODE rows for each usable NFE count (Heun skips odd counts), then the floor row.
pub fn ode_table(
    model: &Model,
    solver: Solver,
    nfes: &[usize],
    reference: &[f32],
    second_reference: &[f32],
    n: usize,
    seed: u64,
) -> anyhow::Result<Vec<Row>> {
    let dim = model.dim();
    let mut rows = Vec::new();
    for &nfe in nfes {
        if nfe == 0 || nfe % solver.evals_per_step() != 0 {
            continue;
        }
        let s = ode_sample(model, solver, nfe, n, seed)?;
        rows.push(score(
            format!("{} {nfe}", solver.name()),
            nfe,
            &s,
            reference,
            dim,
        ));
    }
    rows.push(floor_row(second_reference, reference, dim));
    Ok(rows)
}

/// The smallest NFE in `curve` (pairs NFE → metric, any order) whose metric is ≤ `target`.
pub fn smallest_matching_nfe(target: f64, curve: &[(usize, f64)]) -> Option<usize> {
    curve
        .iter()
        .filter(|(_, m)| *m <= target)
        .map(|(nfe, _)| *nfe)
        .min()
}

/// How many ODE evaluations match the flow map's quality at one step count, for one metric.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Equivalence {
    /// Flow-map steps (= its NFE).
    pub steps: usize,
    /// `energy_u`, `sliced_w2` or `js`.
    pub metric: String,
    /// The flow map's value.
    pub flow_map: f64,
    /// Smallest Euler NFE at least as good (`None`: none of those tried).
    pub euler_nfe: Option<usize>,
    /// Smallest Heun NFE at least as good.
    pub heun_nfe: Option<usize>,
}

/// Reads one metric of a row (`None`: not computed).
type MetricFn = fn(&Row) -> Option<f64>;

/// Metric accessors by name, in table order.
fn metric_fns() -> [(&'static str, MetricFn); 3] {
    [
        ("energy_u", |r| Some(r.energy_u)),
        ("sliced_w2", |r| Some(r.sliced_w2)),
        ("js", |r| r.js),
    ]
}

/// For the flow map's 1- and 2-step rows (those present in `flow`), each metric: the smallest
/// Euler and Heun NFE whose value is ≤ the flow map's. Rows with NFE 0 (floor, base) are
/// ignored everywhere.
pub fn equivalences(flow: &[Row], euler: &[Row], heun: &[Row]) -> Vec<Equivalence> {
    let curve = |rows: &[Row], f: MetricFn| -> Vec<(usize, f64)> {
        rows.iter()
            .filter(|r| r.nfe > 0)
            .filter_map(|r| f(r).map(|v| (r.nfe, v)))
            .collect()
    };
    let mut out = Vec::new();
    for steps in [1, 2] {
        let Some(row) = flow.iter().find(|r| r.nfe == steps) else {
            continue;
        };
        for (name, f) in metric_fns() {
            let Some(target) = f(row) else { continue };
            out.push(Equivalence {
                steps,
                metric: name.into(),
                flow_map: target,
                euler_nfe: smallest_matching_nfe(target, &curve(euler, f)),
                heun_nfe: smallest_matching_nfe(target, &curve(heun, f)),
            });
        }
    }
    out
}

/// A plain-text table of rows.
pub fn render(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<20} {:>5} {:>12} {:>12} {:>10} {:>8}\n",
        "samples", "NFE", "energy(U)", "energy(V)", "sliced W2", "JS"
    );
    for r in rows {
        let js =
            r.js.map(|v| format!("{v:.4}"))
                .unwrap_or_else(|| "-".into());
        s += &format!(
            "{:<20} {:>5} {:>12.6} {:>12.6} {:>10.5} {:>8}\n",
            r.label, r.nfe, r.energy_u, r.energy, r.sliced_w2, js
        );
    }
    s
}

/// A plain-text table of [`Equivalence`]s.
pub fn render_equivalence(eq: &[Equivalence]) -> String {
    let nfe = |v: Option<usize>| v.map_or_else(|| "> max".to_string(), |n| n.to_string());
    let mut s = format!(
        "{:<10} {:<10} {:>12} {:>10} {:>10}\n",
        "flow map", "metric", "value", "Euler NFE", "Heun NFE"
    );
    for e in eq {
        s += &format!(
            "{:<10} {:<10} {:>12.6} {:>10} {:>10}\n",
            format!("{} step{}", e.steps, if e.steps == 1 { "" } else { "s" }),
            e.metric,
            e.flow_map,
            nfe(e.euler_nfe),
            nfe(e.heun_nfe)
        );
    }
    s
}

/// Everything `flowmap-train eval` measures (its `--json` output).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    /// Model file.
    pub model: String,
    /// Reference data.
    pub data: String,
    /// Samples per row (and reference size).
    pub n: usize,
    /// Data dimension.
    pub dim: usize,
    /// Flow map at each step count, base noise and floor.
    pub flow_map: Vec<Row>,
    /// Euler on the diagonal velocity, then the floor (empty with `--no-ode`).
    pub euler: Vec<Row>,
    /// Heun on the diagonal velocity, then the floor (empty with `--no-ode`).
    pub heun: Vec<Row>,
    /// ODE evaluations needed to match the flow map's 1- and 2-step quality.
    pub equivalence: Vec<Equivalence>,
}

/// The `eval` subcommand.
pub fn run_eval(a: &EvalArgs) -> anyhow::Result<()> {
    let model =
        Model::from_file(&a.model).map_err(|e| anyhow::anyhow!("{}: {e}", a.model.display()))?;
    if a.steps.contains(&0) {
        bail!("--steps must be positive");
    }
    if a.ode_nfe.contains(&0) {
        bail!("--ode-nfe must be positive");
    }
    let (reference, second) = crate::cli::reference_sets(&a.data, a.data_key.as_deref(), a.n)?;
    let dim = model.dim();
    if reference.len() % dim != 0 || reference.len() / dim < 2 || second.len() / dim < 2 {
        bail!("--data does not match the model's dimension ({dim}) or has fewer than 4 rows",);
    }
    let n = reference.len() / dim;
    let drawn = draw_steps(&model, &a.steps, n, a.seed)?;
    let flow_map = step_table(&model, &drawn, &reference, &second, a.seed);
    let (euler, heun) = if a.no_ode {
        (vec![], vec![])
    } else {
        (
            ode_table(
                &model,
                Solver::Euler,
                &a.ode_nfe,
                &reference,
                &second,
                n,
                a.seed,
            )?,
            ode_table(
                &model,
                Solver::Heun,
                &a.ode_nfe,
                &reference,
                &second,
                n,
                a.seed,
            )?,
        )
    };
    let equivalence = if a.no_ode {
        vec![]
    } else {
        equivalences(&flow_map, &euler, &heun)
    };
    let report = EvalReport {
        model: a.model.display().to_string(),
        data: a.data.clone(),
        n,
        dim,
        flow_map,
        euler,
        heun,
        equivalence,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "Flow map {} on {} ({n} samples vs {n} reference; floor = a second reference):",
            report.model, report.data
        );
        print!("{}", render(&report.flow_map));
        if !a.no_ode {
            println!(
                "\nODE baseline on the same model's diagonal velocity b_t = v_(t,t), same noise:"
            );
            print!("{}", render(&report.euler));
            print!("{}", render(&report.heun));
            println!("\nSmallest ODE NFE whose metric is <= the flow map's:");
            print!("{}", render_equivalence(&report.equivalence));
        }
    }
    if let Some(path) = &a.plot {
        let wrote = plot_samples(path, &model, &reference, &drawn)?
            || plot_images(path, &model, &reference, &drawn)?;
        if wrote {
            eprintln!("wrote {}", path.display());
        } else {
            eprintln!(
                "--plot: data shape {:?} is neither 2-D points nor images; no plot",
                model.data_shape()
            );
        }
    }
    Ok(())
}

/// Writes a PNG with the reference next to N-step samples (2-D data only; others are skipped
/// and `false` is returned).
pub fn plot_samples(
    path: &Path,
    model: &Model,
    reference: &[f32],
    drawn: &[StepSamples],
) -> anyhow::Result<bool> {
    if model.dim() != 2 {
        return Ok(false);
    }
    let titles: Vec<String> = drawn
        .iter()
        .map(|d| format!("{} STEP{}", d.steps, if d.steps == 1 { "" } else { "S" }))
        .collect();
    let mut panels: Vec<(&str, &[f32])> = vec![("DATA", reference)];
    panels.extend(
        titles
            .iter()
            .zip(drawn)
            .map(|(t, d)| (t.as_str(), d.samples.as_slice())),
    );
    flowmap_eval::plot::scatter_panels(path, &panels, None)?;
    Ok(true)
}

/// Images per row of [`plot_images`].
pub const IMAGES_PER_ROW: usize = 16;

/// For image-shaped data (`[h, w]` or `[c, h, w]` with c = 1 or 3): a PNG grid whose first row
/// is reference images and each further row samples at one step count (in `steps` order),
/// [`IMAGES_PER_ROW`] per row, grey levels spanning the reference's value range. Returns
/// `false` (and writes nothing) for other shapes.
pub fn plot_images(
    path: &Path,
    model: &Model,
    reference: &[f32],
    drawn: &[StepSamples],
) -> anyhow::Result<bool> {
    let shape = match *model.data_shape() {
        [h, w] => (1, h, w),
        [c, h, w] if c == 1 || c == 3 => (c, h, w),
        _ => return Ok(false),
    };
    let per = shape.0 * shape.1 * shape.2;
    let n = drawn
        .iter()
        .map(|d| d.samples.len() / per)
        .min()
        .unwrap_or(0);
    let k = IMAGES_PER_ROW.min(reference.len() / per).min(n);
    if k == 0 {
        return Ok(false);
    }
    let mut images: Vec<f32> = reference[..k * per].to_vec();
    for d in drawn {
        // The first k of the scored samples (row i's noise does not depend on n).
        images.extend_from_slice(&d.samples[..k * per]);
    }
    let lo = reference.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = reference.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    flowmap_eval::plot::image_grid_chw(path, &images, shape, k, (lo, hi))?;
    Ok(true)
}

/// Writes the loss curves of a run's JSONL log (weighted loss, raw diagonal and off-diagonal
/// errors) as a PNG with a log y axis.
pub fn plot_log(log: &Path, png: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(log)?;
    let mut series: [(&str, Vec<(f64, f64)>); 3] =
        [("loss", vec![]), ("diag_err", vec![]), ("off_err", vec![])];
    // A line that does not parse (a log edited by hand, or torn by a crash) is skipped: the
    // plot is a view of the log, not a validator of it.
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let step = v["step"].as_f64().unwrap_or(0.0);
        for (key, points) in series.iter_mut() {
            if let Some(y) = v[*key].as_f64().filter(|y| *y > 0.0) {
                points.push((step, y));
            }
        }
    }
    let refs: Vec<(&str, &[(f64, f64)])> = series
        .iter()
        .filter(|(_, p)| !p.is_empty())
        .map(|(k, p)| (*k, p.as_slice()))
        .collect();
    flowmap_eval::plot::line_chart(png, "TRAINING LOSS", &refs, true)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowmap::schema::*;

    /// A 2-D model (σ = 1, mean 0, std 1, ReLU) whose network is given by its layers
    /// `(n_out, n_in, weight, bias)`; layer 0's inputs are `[s, t, x0, x1]`.
    fn model(hidden: Vec<usize>, layers: &[(usize, usize, Vec<f32>, Vec<f32>)]) -> Model {
        let meta = ModelMeta {
            format_version: FORMAT_VERSION,
            architecture: Architecture::Mlp {
                data_shape: vec![2],
                hidden,
                activation: Activation::Relu,
                time_embedding: TimeEmbedding::Raw,
            },
            interpolant: Interpolant::Linear,
            sigma: 1.0,
            normalization: Normalization {
                mean: vec![0.0, 0.0],
                std: vec![1.0, 1.0],
            },
            provenance: Provenance {
                method: "test".into(),
                steps: 0,
                seed: 0,
                weights: "raw".into(),
                trainer: "test".into(),
                dataset: String::new(),
            },
        };
        let names: Vec<(String, String)> = (0..layers.len())
            .map(|i| (format!("layers.{i}.weight"), format!("layers.{i}.bias")))
            .collect();
        let mut tensors: Vec<(&str, Vec<usize>, &[f32])> = Vec::new();
        for ((w, b), (n_out, n_in, wv, bv)) in names.iter().zip(layers) {
            tensors.push((w.as_str(), vec![*n_out, *n_in], wv.as_slice()));
            tensors.push((b.as_str(), vec![*n_out], bv.as_slice()));
        }
        Model::from_bytes(&flowmap::write::to_safetensors_bytes(&meta, &tensors)).unwrap()
    }

    /// v_{s,t}(x) = a·relu(t): the diagonal velocity is b_t = a·t, independent of x.
    fn time_model(a: [f32; 2]) -> Model {
        model(
            vec![1],
            &[
                (1, 4, vec![0.0, 1.0, 0.0, 0.0], vec![0.0]),
                (2, 1, a.to_vec(), vec![0.0, 0.0]),
            ],
        )
    }

    /// v(x) = λ·x (via relu(x) − relu(−x)), independent of time.
    fn linear_model(lambda: f32) -> Model {
        #[rustfmt::skip]
        let w0 = vec![
            0.0, 0.0, 1.0, 0.0,
            0.0, 0.0, -1.0, 0.0,
            0.0, 0.0, 0.0, 1.0,
            0.0, 0.0, 0.0, -1.0,
        ];
        #[rustfmt::skip]
        let w1 = vec![
            lambda, -lambda, 0.0, 0.0,
            0.0, 0.0, lambda, -lambda,
        ];
        model(
            vec![4],
            &[(4, 4, w0, vec![0.0; 4]), (2, 4, w1, vec![0.0; 2])],
        )
    }

    #[test]
    fn euler_and_heun_on_a_time_dependent_velocity() {
        // b_t = a·t: exact x1 = x0 + a/2; Euler with N steps gives x0 + a·(N−1)/(2N);
        // Heun (trapezoid) is exact for a velocity linear in t.
        let a = [1.0f32, -2.0];
        let m = time_model(a);
        let x0 = base_sample(&m, 10, 3);
        for nfe in [1usize, 2, 4, 8] {
            let e = ode_sample(&m, Solver::Euler, nfe, 10, 3).unwrap();
            let f = (nfe as f32 - 1.0) / (2.0 * nfe as f32);
            for (i, (x, y)) in x0.iter().zip(&e).enumerate() {
                assert!((y - (x + a[i % 2] * f)).abs() < 1e-5, "euler {nfe}");
            }
        }
        for nfe in [2usize, 4, 16] {
            let h = ode_sample(&m, Solver::Heun, nfe, 10, 3).unwrap();
            for (i, (x, y)) in x0.iter().zip(&h).enumerate() {
                assert!((y - (x + a[i % 2] * 0.5)).abs() < 1e-5, "heun {nfe}");
            }
        }
    }

    #[test]
    fn euler_and_heun_growth_factors_on_a_linear_velocity() {
        // b(x) = λx: Euler gives (1 + λ/N)^N x0, Heun (1 + λh + (λh)²/2)^M x0 with h = 1/M.
        let lambda = 0.8f32;
        let m = linear_model(lambda);
        let x0 = base_sample(&m, 50, 11);
        for nfe in [1usize, 2, 4, 32] {
            let g = (1.0 + f64::from(lambda) / nfe as f64).powi(nfe as i32);
            let e = ode_sample(&m, Solver::Euler, nfe, 50, 11).unwrap();
            for (x, y) in x0.iter().zip(&e) {
                assert!(
                    (f64::from(*y) - g * f64::from(*x)).abs() < 1e-4,
                    "euler {nfe}"
                );
            }
        }
        for nfe in [2usize, 8, 64] {
            let steps = nfe / 2;
            let lh = f64::from(lambda) / steps as f64;
            let g = (1.0 + lh + lh * lh / 2.0).powi(steps as i32);
            let e = ode_sample(&m, Solver::Heun, nfe, 50, 11).unwrap();
            for (x, y) in x0.iter().zip(&e) {
                assert!(
                    (f64::from(*y) - g * f64::from(*x)).abs() < 1e-4,
                    "heun {nfe}"
                );
            }
        }
        // More evaluations: closer to e^λ.
        let exact = f64::from(lambda).exp();
        let err = |s, n| {
            let y = ode_sample(&m, s, n, 1, 11).unwrap();
            let x = base_sample(&m, 1, 11);
            (f64::from(y[0]) - exact * f64::from(x[0])).abs()
        };
        assert!(err(Solver::Euler, 64) < err(Solver::Euler, 8));
        assert!(err(Solver::Heun, 16) < err(Solver::Euler, 16));
    }

    #[test]
    fn ode_and_flow_map_share_the_base_noise() {
        // One map step from t = 0: X_{0,1}(x0) = x0 + v_{0,1}(x0) = x0 + a·relu(1);
        // one Euler step: x0 + b_0(x0) = x0. Same noise → they differ by exactly a.
        let a = [0.5f32, 2.0];
        let m = time_model(a);
        let map = sample(&m, 7, 1, 9).unwrap();
        let ode = ode_sample(&m, Solver::Euler, 1, 7, 9).unwrap();
        for (i, (p, q)) in map.iter().zip(&ode).enumerate() {
            assert!((p - q - a[i % 2]).abs() < 1e-6);
        }
        // Chunking does not change results: more rows than one runtime call.
        let big = ode_sample(&m, Solver::Heun, 4, CHUNK + 3, 9).unwrap();
        let small = ode_sample(&m, Solver::Heun, 4, 7, 9).unwrap();
        assert_eq!(&big[..14], &small[..]);
    }

    #[test]
    fn the_first_rows_of_a_draw_do_not_depend_on_its_size() {
        // plot_images shows the first rows of the scored samples; that is what a smaller
        // draw with the same seed gives, so the picture is the scored samples.
        let m = linear_model(0.8);
        let drawn = draw_steps(&m, &[1, 2], 50, 3).unwrap();
        for d in &drawn {
            let small = sample(&m, 16, d.steps, 3).unwrap();
            assert_eq!(&d.samples[..32], &small[..]);
            assert_eq!(d.samples.len(), 100);
        }
        let reference = sample(&m, 40, 1, 4).unwrap();
        let second = sample(&m, 40, 1, 5).unwrap();
        let rows = step_table(&m, &drawn, &reference, &second, 3);
        let labels: Vec<&str> = rows.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            ["1 step", "2 steps", "base noise", "floor (ref vs ref)"]
        );
    }

    #[test]
    fn heun_rejects_odd_evaluation_counts() {
        let m = time_model([1.0, 1.0]);
        let mut x = base_sample(&m, 2, 0);
        assert!(integrate(&m, Solver::Heun, 3, &mut x).is_err());
        assert!(integrate(&m, Solver::Euler, 0, &mut x).is_err());
    }

    #[test]
    fn smallest_matching_nfe_picks_the_cheapest_good_enough() {
        let curve = [(1, 0.5), (2, 0.3), (4, 0.1), (8, 0.05)];
        assert_eq!(smallest_matching_nfe(0.3, &curve), Some(2));
        assert_eq!(smallest_matching_nfe(0.29, &curve), Some(4));
        assert_eq!(smallest_matching_nfe(1.0, &curve), Some(1));
        assert_eq!(smallest_matching_nfe(0.01, &curve), None);
        // Not monotone, any order: still the smallest NFE that qualifies.
        let noisy = [(8, 0.04), (2, 0.06), (1, 0.5), (4, 0.09)];
        assert_eq!(smallest_matching_nfe(0.07, &noisy), Some(2));
        assert_eq!(smallest_matching_nfe(0.07, &[]), None);
    }

    fn row(label: &str, nfe: usize, v: f64) -> Row {
        Row {
            label: label.into(),
            nfe,
            energy: v,
            energy_u: v,
            sliced_w2: v,
            js: Some(v),
        }
    }

    #[test]
    fn equivalences_use_one_and_two_step_rows_and_ignore_the_floor() {
        let flow = vec![
            row("1 step", 1, 0.2),
            row("2 steps", 2, 0.1),
            row("4 steps", 4, 0.05),
            row("floor", 0, 0.0),
        ];
        let euler = vec![
            row("e1", 1, 0.9),
            row("e4", 4, 0.15),
            row("e16", 16, 0.08),
            row("floor", 0, 0.0),
        ];
        let heun = vec![row("h2", 2, 0.3), row("h8", 8, 0.09), row("floor", 0, 0.0)];
        let eq = equivalences(&flow, &euler, &heun);
        assert_eq!(eq.len(), 6);
        let one = eq
            .iter()
            .find(|e| e.steps == 1 && e.metric == "js")
            .unwrap();
        assert_eq!((one.euler_nfe, one.heun_nfe), (Some(4), Some(8)));
        let two = eq
            .iter()
            .find(|e| e.steps == 2 && e.metric == "energy_u")
            .unwrap();
        assert_eq!((two.euler_nfe, two.heun_nfe), (Some(16), Some(8)));
        let mut noisy = flow.clone();
        noisy[0].js = None;
        noisy[1].energy_u = 0.01;
        let eq = equivalences(&noisy, &euler, &heun);
        assert_eq!(eq.len(), 5, "no JS row when the flow map has none");
        let two = eq
            .iter()
            .find(|e| e.steps == 2 && e.metric == "energy_u")
            .unwrap();
        assert_eq!((two.euler_nfe, two.heun_nfe), (None, None));
        assert!(render_equivalence(&eq).contains("> max"));
    }

    #[test]
    fn histogram_grid_follows_the_reference() {
        let checker = flowmap_eval::Toy::Checkerboard.sample(500, 1);
        assert_eq!(hist_grid(&checker, 2), Some(Grid2::checker_reference()));
        let rings = flowmap_eval::Toy::Rings.sample(500, 1);
        let g = hist_grid(&rings, 2).unwrap();
        assert!(g.lo[0] < -3.0 && g.hi[1] > 3.0 && g.bins == 64);
        assert_eq!(hist_grid(&rings, 1), None);
    }
}
