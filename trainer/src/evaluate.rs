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

/// Writes a PNG with the reference next to N-step samples (2-D data only; others are skipped
/// and `false` is returned).
pub fn plot_samples(
    path: &std::path::Path,
    model: &Model,
    reference: &[f32],
    steps: &[usize],
    n: usize,
    seed: u64,
) -> anyhow::Result<bool> {
    if model.dim() != 2 {
        return Ok(false);
    }
    let samples: Vec<(String, Vec<f32>)> = steps
        .iter()
        .map(|&k| {
            Ok((
                format!("{k} STEP{}", if k == 1 { "" } else { "S" }),
                sample(model, n, k, seed)?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut panels: Vec<(&str, &[f32])> = vec![("DATA", reference)];
    panels.extend(samples.iter().map(|(t, s)| (t.as_str(), s.as_slice())));
    flowmap_eval::plot::scatter_panels(path, &panels, None)?;
    Ok(true)
}

/// Writes the loss curves of a run's JSONL log (weighted loss, raw diagonal and off-diagonal
/// errors) as a PNG with a log y axis.
pub fn plot_log(log: &std::path::Path, png: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(log)?;
    let mut series: [(&str, Vec<(f64, f64)>); 3] =
        [("loss", vec![]), ("diag_err", vec![]), ("off_err", vec![])];
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
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
