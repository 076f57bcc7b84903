//! Sample quality of a model file, measured on samples drawn through the runtime (what users
//! run), against a fresh reference sample, with the reference-vs-reference noise floor.

use flowmap::{Grid, Model};
use flowmap_eval::metrics;

/// Quality of N-step samples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// Label, e.g. `1 step` or `euler 16`.
    pub label: String,
    /// Network evaluations per sample.
    pub nfe: usize,
    /// Energy distance to the reference.
    pub energy: f64,
    /// Sliced Wasserstein-2 to the reference.
    pub sliced_w2: f64,
    /// Histogram Jensen–Shannon divergence (2-D data only).
    pub js: Option<f64>,
}

/// Metrics of `samples` against `reference` (row-major, `dim` columns).
pub fn score(label: String, nfe: usize, samples: &[f32], reference: &[f32], dim: usize) -> Row {
    let js = (dim == 2)
        .then(|| metrics::hist_js(samples, reference, &metrics::Grid2::checker_reference()));
    Row {
        label,
        nfe,
        energy: metrics::energy_distance(samples, reference, dim),
        sliced_w2: metrics::sliced_w2(samples, reference, dim, 256, 0),
        js,
    }
}

/// Draws `n` samples with `steps` uniform steps from `seed`.
pub fn sample(model: &Model, n: usize, steps: usize, seed: u64) -> anyhow::Result<Vec<f32>> {
    let mut ws = model.workspace(n.min(4096));
    let mut out = vec![0.0f32; n * model.dim()];
    model.sample_seeded(&mut ws, seed, Grid::Uniform(steps), &mut out)?;
    Ok(out)
}

/// Rows for each step count, plus the noise floor (reference vs a second reference) and the
/// base-noise row (what an untrained map would give).
pub fn step_table(
    model: &Model,
    steps: &[usize],
    reference: &[f32],
    second_reference: &[f32],
    n: usize,
    seed: u64,
) -> anyhow::Result<Vec<Row>> {
    let dim = model.dim();
    let mut rows = Vec::new();
    for &k in steps {
        let s = sample(model, n, k, seed)?;
        rows.push(score(
            format!("{k} step{}", if k == 1 { "" } else { "s" }),
            k,
            &s,
            reference,
            dim,
        ));
    }
    rows.push(score(
        "floor (ref vs ref)".into(),
        0,
        second_reference,
        reference,
        dim,
    ));
    Ok(rows)
}

/// A plain-text table of rows.
pub fn render(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<22} {:>5} {:>12} {:>12} {:>10}\n",
        "samples", "NFE", "energy", "sliced W2", "JS"
    );
    for r in rows {
        let js =
            r.js.map(|v| format!("{v:.4}"))
                .unwrap_or_else(|| "-".into());
        s += &format!(
            "{:<22} {:>5} {:>12.5} {:>12.5} {:>10}\n",
            r.label, r.nfe, r.energy, r.sliced_w2, js
        );
    }
    s
}
