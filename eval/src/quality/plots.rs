//! Pictures of an evaluation: data next to N-step samples (2-D density panels or image grids)
//! and a run's loss curves.

use super::draw::StepSamples;
use super::error::QualityError;
use crate::plot;
use flowmap::Model;
use std::path::Path;

/// Images per row of [`plot_images`].
pub const IMAGES_PER_ROW: usize = 16;

/// Writes a PNG with the reference next to N-step samples (2-D data only; others are skipped
/// and `false` is returned).
pub fn plot_samples(
    path: &Path,
    model: &Model,
    reference: &[f32],
    drawn: &[StepSamples],
) -> Result<bool, QualityError> {
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
    plot::scatter_panels(path, &panels, None)?;
    Ok(true)
}

/// For image-shaped data (`[h, w]` or `[c, h, w]` with c = 1 or 3): a PNG grid whose first row
/// is reference images and each further row samples at one step count (in `steps` order),
/// [`IMAGES_PER_ROW`] per row, grey levels spanning the reference's value range. Returns
/// `false` (and writes nothing) for other shapes.
pub fn plot_images(
    path: &Path,
    model: &Model,
    reference: &[f32],
    drawn: &[StepSamples],
) -> Result<bool, QualityError> {
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
    plot::image_grid_chw(path, &images, shape, k, (lo, hi))?;
    Ok(true)
}

/// A curve of the training log: its JSON key, its legend label and its (step, value) points.
type LogSeries = (&'static str, &'static str, Vec<(f64, f64)>);

/// Writes the curves of a run's JSONL log (weighted loss, raw diagonal and off-diagonal
/// errors, and the quality probe's sliced W2 of 1- and 2-step samples where logged) as a PNG
/// with a log y axis.
pub fn plot_log(log: &Path, png: &Path) -> Result<(), QualityError> {
    let text = std::fs::read_to_string(log)?;
    // The weighted loss barely moves over a run; the raw errors and the trainer's quality
    // probe (sliced W2 of 1- and 2-step samples, `--quality-every`) are what show progress.
    let mut series: [LogSeries; 5] = [
        ("loss", "weighted loss", vec![]),
        ("diag_err", "diagonal error", vec![]),
        ("off_err", "off-diagonal error", vec![]),
        ("sw2_1", "sliced W2, 1 step", vec![]),
        ("sw2_2", "sliced W2, 2 steps", vec![]),
    ];
    // A line that does not parse (a log edited by hand, or torn by a crash) is skipped: the
    // plot is a view of the log, not a validator of it.
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let step = v["step"].as_f64().unwrap_or(0.0);
        for (key, _, points) in series.iter_mut() {
            if let Some(y) = v[*key].as_f64().filter(|y| *y > 0.0) {
                points.push((step, y));
            }
        }
    }
    let refs: Vec<(&str, &[(f64, f64)])> = series
        .iter()
        .filter(|(_, _, p)| !p.is_empty())
        .map(|(_, label, p)| (*label, p.as_slice()))
        .collect();
    plot::line_chart(
        png,
        "TRAINING LOSS, ERRORS, SLICED W2 OF 1/2-STEP SAMPLES",
        &refs,
        true,
    )?;
    Ok(())
}
