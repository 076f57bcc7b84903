//! Sample quality of a model file, measured on samples drawn through the runtime (what users
//! run), against a fresh reference sample, with the reference-vs-reference noise floor, or
//! against a held-out reference (a test split) with the train-vs-test floor ([`reference`]).
//! Rows of 1×28×28 images also carry the FD of the Fashion-MNIST classifier's features and
//! its class coverage ([`features`]).
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
pub mod features;
pub mod ode;
pub mod plots;
pub mod reference;
pub mod score;

use flowmap::Model;
use std::path::Path;

pub use draw::{draw_steps, sample, StepSamples, CHUNK};
pub use equivalence::{equivalences, smallest_matching_nfe, Equivalence};
pub use error::QualityError;
pub use features::{FeatureScorer, CLASSIFIER_SHAPE};
pub use ode::{base_sample, integrate, ode_sample, ode_table, Solver};
pub use reference::{reference_and_floor_sets, reference_sets};
pub use score::{
    floor_row, hist_grid, is_floor, score, Row, FLOOR_LABEL, HELD_OUT_FLOOR_LABEL, SLICED_DIRS,
};

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

/// [`step_table`] with the classifier metrics (FD, coverage) on every row where `features`
/// is given.
pub fn step_table_with_features(
    model: &Model,
    drawn: &[StepSamples],
    reference: &[f32],
    second_reference: &[f32],
    seed: u64,
    features: Option<&FeatureScorer>,
) -> Result<Vec<Row>, QualityError> {
    let mut rows = step_table(model, drawn, reference, second_reference, seed);
    if features.is_some() {
        // The rows' samples in step_table's order: each step count, base noise, floor.
        let base = base_sample(model, reference.len() / model.dim(), seed);
        let samples = drawn
            .iter()
            .map(|d| d.samples.as_slice())
            .chain([base.as_slice(), second_reference]);
        for (row, s) in rows.iter_mut().zip(samples) {
            row.add_features(features, s)?;
        }
    }
    Ok(rows)
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct EvalSpec {
    /// The model's data: a built-in data set or a data file (the reference, and the floor's
    /// second set, unless `reference` is given).
    pub data: String,
    /// Tensor name inside a .safetensors data file (`data` and `reference`).
    pub data_key: Option<String>,
    /// A held-out reference (e.g. Fashion-MNIST's test split) to score against instead of
    /// `data`; the floor is then a same-size subset of `data` scored against it
    /// ([`reference_and_floor_sets`]).
    pub reference: Option<String>,
    /// Flow-map step counts (each ≥ 1).
    pub steps: Vec<usize>,
    /// Samples per row (and reference size; a data file gives at most half its rows, a
    /// `reference` file at most all of its rows).
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
    /// The model's data.
    pub data: String,
    /// The held-out reference scored against, if not `data` (the floor is then `data` vs it).
    pub reference: Option<String>,
    /// Test-split accuracy of the classifier behind `fd` and `coverage` (`None` when the rows
    /// carry no FD: data other than 1×28×28 images in [−1, 1]).
    pub classifier_accuracy: Option<f64>,
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
    let (reference, second) = reference_and_floor_sets(
        &spec.data,
        spec.data_key.as_deref(),
        spec.reference.as_deref(),
        spec.n,
    )?;
    let dim = model.dim();
    if reference.len() % dim != 0 || reference.len() / dim < 2 || second.len() / dim < 2 {
        return Err(QualityError::Spec(format!(
            "the reference data does not match the model's dimension ({dim}) or has fewer \
             than 4 rows"
        )));
    }
    let n = reference.len() / dim;
    let features = FeatureScorer::for_reference(model.data_shape(), &reference)?;
    let feats = features.as_ref();
    let drawn = draw_steps(model, &spec.steps, n, spec.seed)?;
    let mut flow_map =
        step_table_with_features(model, &drawn, &reference, &second, spec.seed, feats)?;
    let (mut euler, mut heun, equivalence) = match &spec.ode_nfe {
        None => (vec![], vec![], vec![]),
        Some(nfes) => {
            let table = |s| ode_table(model, s, nfes, &reference, &second, n, spec.seed, feats);
            let (euler, heun) = (table(Solver::Euler)?, table(Solver::Heun)?);
            let eq = equivalences(&flow_map, &euler, &heun);
            (euler, heun, eq)
        }
    };
    // With a held-out reference the floor is the data vs it, not a second reference.
    if spec.reference.is_some() {
        for row in flow_map.iter_mut().chain(&mut euler).chain(&mut heun) {
            if row.label == FLOOR_LABEL {
                row.label = HELD_OUT_FLOOR_LABEL.into();
            }
        }
    }
    Ok(Evaluation {
        report: EvalReport {
            model: model_name.to_string(),
            data: spec.data.clone(),
            reference: spec.reference.clone(),
            classifier_accuracy: features
                .as_ref()
                .and_then(FeatureScorer::classifier_accuracy),
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
