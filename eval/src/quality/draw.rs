//! Drawing flow-map samples through the runtime.

use super::error::QualityError;
use super::score::steps_label;
use flowmap::{Grid, Model};

/// Rows per runtime call (bounds the workspace; results do not depend on it).
pub const CHUNK: usize = 4096;

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
