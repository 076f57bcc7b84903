//! One row of a quality table: a sample scored against the reference.

use super::error::QualityError;
use super::features::FeatureScorer;
use crate::classifier::Coverage;
use crate::metrics::{self, Grid2};

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
    /// Fréchet distance of the Fashion-MNIST classifier's features to the reference's
    /// (1×28×28 images in [−1, 1] only; see [`FeatureScorer`]).
    pub fd: Option<f64>,
    /// The classifier's predicted-class histogram against uniform (as `fd`).
    pub coverage: Option<Coverage>,
}

impl Row {
    /// Fills `fd` and `coverage` from `samples` (the row's samples) when there is a scorer.
    pub fn add_features(
        &mut self,
        features: Option<&FeatureScorer>,
        samples: &[f32],
    ) -> Result<(), QualityError> {
        if let Some(f) = features {
            let (fd, coverage) = f.measure(samples)?;
            self.fd = Some(fd);
            self.coverage = Some(coverage);
        }
        Ok(())
    }
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

/// Metrics of `samples` against `reference` (row-major, `dim` columns); the classifier
/// metrics are added by [`Row::add_features`].
pub fn score(label: String, nfe: usize, samples: &[f32], reference: &[f32], dim: usize) -> Row {
    let js = hist_grid(reference, dim).map(|g| metrics::hist_js(samples, reference, &g));
    Row {
        label,
        nfe,
        energy: metrics::energy_distance(samples, reference, dim),
        energy_u: metrics::energy_distance_unbiased(samples, reference, dim),
        sliced_w2: metrics::sliced_w2(samples, reference, dim, SLICED_DIRS, 0),
        js,
        fd: None,
        coverage: None,
    }
}

/// `1 step`, `2 steps`, ...
pub fn steps_label(k: usize) -> String {
    format!("{k} step{}", if k == 1 { "" } else { "s" })
}

/// Label of the floor row (reference vs a second reference).
pub const FLOOR_LABEL: &str = "floor (ref vs ref)";
/// Label of the floor row with a held-out reference: the data (train split) vs it.
pub const HELD_OUT_FLOOR_LABEL: &str = "floor (data vs ref)";

/// Whether `row` is a floor row (either kind).
pub fn is_floor(row: &Row) -> bool {
    row.label == FLOOR_LABEL || row.label == HELD_OUT_FLOOR_LABEL
}

/// The noise floor: a second reference scored against the first.
pub fn floor_row(second_reference: &[f32], reference: &[f32], dim: usize) -> Row {
    score(FLOOR_LABEL.into(), 0, second_reference, reference, dim)
}
