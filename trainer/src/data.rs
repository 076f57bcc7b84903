//! Training data: a built-in 2-D set or a user file, validated, normalised per dimension and
//! placed on the training device.

use flowmap_eval::datasets::{self, Dataset, Toy};
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
    if let Some(toy) = Toy::from_name(name) {
        if points == 0 {
            anyhow::bail!("--data-points must be at least 1");
        }
        return Ok(toy.dataset(points, seed));
    }
    let path = std::path::Path::new(name);
    if !path.exists() {
        let names: Vec<&str> = Toy::all().iter().map(|t| t.name()).collect();
        anyhow::bail!(
            "--data '{name}' is neither a built-in dataset ({}) nor an existing file",
            names.join(", ")
        );
    }
    Ok(datasets::load(path, key)?)
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
