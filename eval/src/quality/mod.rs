//! Sample quality of a model file, measured on samples drawn through the runtime (what users
//! run), against a fresh reference sample, with the reference-vs-reference noise floor.
//!
//! A spec in ([`EvalSpec`]), a report out ([`Evaluation`]): no printing here (the command lines
//! render the report). Besides the flow map at N steps, the same file is evaluated as a plain
//! flow-matching model: its diagonal b_t(x) = v_{t,t}(x) ([`Model::velocity`]) integrated by
//! Euler or Heun from the same base noise ([`ode`]). That ODE baseline answers "how many network
//! evaluations does the ODE need to match the flow map's 1-step (2-step) quality"
//! ([`equivalence`]).

pub mod draw;
pub mod equivalence;
pub mod error;
pub mod ode;
pub mod plots;
pub mod score;

use crate::datasets::{self, DataError, Rng, Toy};
use flowmap::Model;
use std::path::Path;

pub use draw::{draw_steps, sample, StepSamples, CHUNK};
pub use equivalence::{equivalences, smallest_matching_nfe, Equivalence};
pub use error::QualityError;
pub use ode::{base_sample, integrate, ode_sample, ode_table, Solver};
pub use score::{floor_row, hist_grid, score, Row, SLICED_DIRS};

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
            score(
                score::steps_label(d.steps),
                d.steps,
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

impl Evaluation {
    /// Writes the evaluation's picture to `path`: density panels for 2-D data, an image grid
    /// for images. `false` (nothing written) for other data shapes.
    pub fn plot(&self, path: &Path, model: &Model) -> Result<bool, QualityError> {
        Ok(
            plots::plot_samples(path, model, &self.reference, &self.drawn)?
                || plots::plot_images(path, model, &self.reference, &self.drawn)?,
        )
    }
}

#[cfg(test)]
mod tests;
