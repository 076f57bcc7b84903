//! Sample quality of a model file, measured on samples drawn through the runtime (what users
//! run), against a fresh reference sample, with the reference-vs-reference noise floor.
//!
//! A spec in ([`EvalSpec`]), a report out ([`Evaluation`]): no printing here (the command lines
//! render the report). Besides the flow map at N steps, the same file is evaluated as a plain
//! flow-matching model: its diagonal b_t(x) = v_{t,t}(x) ([`Model::velocity`]) integrated by
//! Euler or Heun from the same base noise ([`ode`]). That ODE baseline answers "how many network
//! evaluations does the ODE need to match the flow map's 1-step (2-step) quality"
//! ([`equivalence`]).

pub mod equivalence;
pub mod ode;
pub mod plots;

use crate::datasets::{self, DataError, Rng, Toy};
use crate::metrics::{self, Grid2};
use flowmap::{Grid, Model};
use std::fmt;

pub use equivalence::{equivalences, smallest_matching_nfe, Equivalence};
pub use ode::{base_sample, integrate, ode_sample, ode_table, Solver};

/// Rows per runtime call (bounds the workspace; results do not depend on it).
pub const CHUNK: usize = 4096;
/// Random directions of the sliced W2 (the reference numbers in docs/results.md use 512).
pub const SLICED_DIRS: usize = 512;

/// Why an evaluation could not run.
#[derive(Debug)]
pub enum QualityError {
    /// The spec asks for something that cannot be measured (what, and what to change).
    Spec(String),
    /// The runtime refused to sample (what was being drawn, and its error).
    Sample {
        /// What was being drawn, e.g. `sampling 1000 points with 2 steps`.
        what: String,
        /// The runtime's error.
        source: flowmap::EvalError,
    },
    /// The reference data could not be loaded.
    Data(DataError),
    /// A plot could not be written.
    Plot(std::io::Error),
}

impl fmt::Display for QualityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QualityError::Spec(s) => f.write_str(s),
            QualityError::Sample { what, source } => write!(f, "{what}: {source}"),
            QualityError::Data(e) => write!(f, "{e}"),
            QualityError::Plot(e) => write!(f, "cannot write the plot: {e}"),
        }
    }
}

impl std::error::Error for QualityError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QualityError::Sample { source, .. } => Some(source),
            QualityError::Data(e) => Some(e),
            QualityError::Plot(e) => Some(e),
            QualityError::Spec(_) => None,
        }
    }
}

impl From<DataError> for QualityError {
    fn from(e: DataError) -> Self {
        QualityError::Data(e)
    }
}

impl From<std::io::Error> for QualityError {
    fn from(e: std::io::Error) -> Self {
        QualityError::Plot(e)
    }
}

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

/// `1 step`, `2 steps`, ...
fn steps_label(k: usize) -> String {
    format!("{k} step{}", if k == 1 { "" } else { "s" })
}

/// Draws `n` samples with `steps` uniform steps from `seed`.
pub fn sample(model: &Model, n: usize, steps: usize, seed: u64) -> Result<Vec<f32>, QualityError> {
    let mut ws = model.workspace(n.min(CHUNK));
    let mut out = vec![0.0f32; n * model.dim()];
    model
        .sample_seeded(&mut ws, seed, Grid::Uniform(steps), &mut out)
        .map_err(|source| QualityError::Sample {
            what: format!("sampling {n} points with {}", steps_label(steps)),
            source,
        })?;
    Ok(out)
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
) -> Result<Vec<StepSamples>, QualityError> {
    steps
        .iter()
        .map(|&k| {
            Ok(StepSamples {
                steps: k,
                samples: sample(model, n, k, seed)?,
            })
        })
        .collect()
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
        .map(|d| score(steps_label(d.steps), d.steps, &d.samples, reference, dim))
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

/// The noise floor: a second reference scored against the first.
pub(crate) fn floor_row(second_reference: &[f32], reference: &[f32], dim: usize) -> Row {
    score(
        "floor (ref vs ref)".into(),
        0,
        second_reference,
        reference,
        dim,
    )
}

/// Reference samples for evaluation: fresh draws for a built-in set, otherwise two disjoint
/// random halves of the file (the model's data, so the floor is the sampling noise).
pub fn reference_sets(
    name: &str,
    key: Option<&str>,
    n: usize,
) -> Result<(Vec<f32>, Vec<f32>), DataError> {
    if let Some(toy) = Toy::from_name(name) {
        return Ok((toy.sample(n, 1_000_003), toy.sample(n, 2_000_003)));
    }
    let ds = datasets::load_named(name, key, 0, 0)?;
    let mut idx: Vec<usize> = (0..ds.n).collect();
    Rng::new(12_345).shuffle(&mut idx);
    let half = (ds.n / 2).min(n);
    let take = |ids: &[usize]| {
        ids.iter()
            .flat_map(|&i| ds.row(i).to_vec())
            .collect::<Vec<f32>>()
    };
    Ok((take(&idx[..half]), take(&idx[half..2 * half])))
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct EvalSpec {
    /// Reference data: a built-in data set or a data file.
    pub data: String,
    /// Tensor name inside a .safetensors data file.
    pub data_key: Option<String>,
    /// Flow-map step counts (each ≥ 1).
    pub steps: Vec<usize>,
    /// Samples per row (and reference size; a data file gives at most half its rows).
    pub n: usize,
    /// Seed of the base noise (the reference uses other seeds).
    pub seed: u64,
    /// Velocity evaluations of the ODE baseline (Euler at each, Heun at the even ones);
    /// `None` skips the baseline.
    pub ode_nfe: Option<Vec<usize>>,
}

/// Everything an evaluation measures (`eval --json` prints it).
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
    /// Euler on the diagonal velocity, then the floor (empty without the baseline).
    pub euler: Vec<Row>,
    /// Heun on the diagonal velocity, then the floor (empty without the baseline).
    pub heun: Vec<Row>,
    /// ODE evaluations needed to match the flow map's 1- and 2-step quality.
    pub equivalence: Vec<Equivalence>,
}

/// A report with the samples behind it (for plots).
pub struct Evaluation {
    /// The measurements.
    pub report: EvalReport,
    /// The reference the rows were scored against.
    pub reference: Vec<f32>,
    /// The scored flow-map samples, one entry per step count.
    pub drawn: Vec<StepSamples>,
}

/// Measures `model` (called `model_name` in the report) as `spec` says.
pub fn evaluate(
    model: &Model,
    model_name: &str,
    spec: &EvalSpec,
) -> Result<Evaluation, QualityError> {
    if spec.steps.is_empty() || spec.steps.contains(&0) {
        return Err(QualityError::Spec(
            "step counts must be positive (e.g. 1,2,4)".into(),
        ));
    }
    if spec.ode_nfe.as_ref().is_some_and(|v| v.contains(&0)) {
        return Err(QualityError::Spec(
            "ODE evaluation counts must be positive".into(),
        ));
    }
    let (reference, second) = reference_sets(&spec.data, spec.data_key.as_deref(), spec.n)?;
    let dim = model.dim();
    if reference.len() % dim != 0 || reference.len() / dim < 2 || second.len() / dim < 2 {
        return Err(QualityError::Spec(format!(
            "the reference data does not match the model's dimension ({dim}) or has fewer \
             than 4 rows"
        )));
    }
    let n = reference.len() / dim;
    let drawn = draw_steps(model, &spec.steps, n, spec.seed)?;
    let flow_map = step_table(model, &drawn, &reference, &second, spec.seed);
    let (euler, heun, equivalence) = match &spec.ode_nfe {
        None => (vec![], vec![], vec![]),
        Some(nfes) => {
            let table = |s| ode_table(model, s, nfes, &reference, &second, n, spec.seed);
            let (euler, heun) = (table(Solver::Euler)?, table(Solver::Heun)?);
            let eq = equivalences(&flow_map, &euler, &heun);
            (euler, heun, eq)
        }
    };
    Ok(Evaluation {
        report: EvalReport {
            model: model_name.to_string(),
            data: spec.data.clone(),
            n,
            dim,
            flow_map,
            euler,
            heun,
            equivalence,
        },
        reference,
        drawn,
    })
}

#[cfg(test)]
mod tests;
