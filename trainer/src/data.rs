//! Training data: a built-in 2-D set or a user file, validated, normalised per dimension and
//! placed on the training device.

use flowmap_eval::datasets::{self, DataError, Dataset, Toy};
use tch::{Device, Tensor};

/// The training set as the trainer sees it.
pub struct TrainingData {
    /// Normalised data, [n, dim], on the training device.
    pub normalized: Tensor,
    /// Per-dimension mean used for normalisation.
    pub mean: Vec<f32>,
    /// Per-dimension std used for normalisation.
    pub std: Vec<f32>,
    /// Shape of one data point.
    pub data_shape: Vec<usize>,
    /// Number of rows.
    pub n: usize,
    /// Std of all normalised coordinates (the paper's default base scale σ).
    pub coordinate_std: f64,
}

/// Loads a dataset by built-in name or file path (errors name the problem and the location).
pub fn load_raw(
    name: &str,
    key: Option<&str>,
    points: usize,
    seed: u64,
) -> anyhow::Result<Dataset> {
    if Toy::from_name(name).is_some() && points == 0 {
        anyhow::bail!("--data-points must be at least 1");
    }
    datasets::load_named(name, key, points, seed).map_err(|e| match e {
        DataError::UnknownSource { .. } => anyhow::anyhow!("--data {e}"),
        other => other.into(),
    })
}

/// Rows a data file needs for the final quality table: it is split into two disjoint reference
/// halves (reference and noise floor), and each metric needs at least two rows.
pub const MIN_ROWS_FOR_TABLE: usize = 4;

/// Rejects, before any training, a data set too small to train on (fewer than 2 rows: there is
/// no distribution to learn) or, when the final quality table will be computed from this file
/// (`table`: a data file, not a built-in set whose references are drawn fresh), too small to
/// give it two reference halves.
pub fn check_size(ds: &Dataset, name: &str, table: bool) -> anyhow::Result<()> {
    if ds.n < 2 {
        anyhow::bail!(
            "--data {name}: {} row{}; training needs at least 2",
            ds.n,
            if ds.n == 1 { "" } else { "s" }
        );
    }
    if table && Toy::from_name(name).is_none() && ds.n < MIN_ROWS_FOR_TABLE {
        anyhow::bail!(
            "--data {name}: {} rows; the final quality table splits the file into two \
             reference halves and needs at least {MIN_ROWS_FOR_TABLE} (pass --eval-samples 0 \
             to skip it)",
            ds.n
        );
    }
    Ok(())
}

/// Normalises `ds` (with its own statistics unless `stats` is given) and moves it to `device`.
pub fn prepare(
    mut ds: Dataset,
    stats: Option<(Vec<f32>, Vec<f32>)>,
    device: Device,
) -> anyhow::Result<TrainingData> {
    let (mean, std) = stats.unwrap_or_else(|| ds.stats());
    if mean.len() != ds.dim() {
        anyhow::bail!(
            "data has {} dimensions but the model expects {}",
            ds.dim(),
            mean.len()
        );
    }
    ds.normalize(&mean, &std);
    let n = ds.n;
    let dim = ds.dim();
    let mut sum = 0.0f64;
    let mut sum_sq = 0.0f64;
    for &x in &ds.data {
        sum += x as f64;
        sum_sq += (x as f64) * (x as f64);
    }
    let count = ds.data.len().max(1) as f64;
    let var = (sum_sq / count - (sum / count).powi(2)).max(0.0);
    let normalized = Tensor::from_slice(&ds.data)
        .view([n as i64, dim as i64])
        .to_device(device);
    Ok(TrainingData {
        normalized,
        mean,
        std,
        data_shape: ds.data_shape.clone(),
        n,
        coordinate_std: if var > 0.0 { var.sqrt() } else { 1.0 },
    })
}
