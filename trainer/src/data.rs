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
    /// Std of all normalised coordinates (the paper's default base scale σ for 2-D data).
    pub coordinate_std: f64,
}

impl TrainingData {
    /// Rows are images (`[C, H, W]`).
    pub fn is_image(&self) -> bool {
        self.data_shape.len() == 3
    }

    /// The default base scale σ: 0.5 for images in [−1, 1] (the paper's image setting), else
    /// the std of the normalised coordinates.
    pub fn default_sigma(&self) -> f64 {
        if self.is_image() {
            IMAGE_SIGMA
        } else {
            self.coordinate_std
        }
    }
}

/// The paper's base scale for images mapped to [−1, 1].
pub const IMAGE_SIGMA: f64 = 0.5;

/// Normalisation of image rows (`[C, H, W]`): one affine map for every pixel, never per-pixel
/// statistics (a constant border pixel would otherwise be blown up). Data already in [−1, 1]
/// (IDX and PNG files are mapped so on loading) is kept as it is; other image data (an .npy of
/// 0..16 digits, say) is mapped from its value range [lo, hi] onto [−1, 1]. The model file's
/// normalisation (mean = (lo + hi)/2, std = (hi − lo)/2 per value) declares the mapping, so the
/// runtime's output is back in the data's own range.
pub fn image_stats(ds: &Dataset) -> (Vec<f32>, Vec<f32>) {
    let lo = ds.data.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = ds.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mean, std) = if lo >= -1.0 && hi <= 1.0 {
        (0.0, 1.0)
    } else if hi > lo {
        ((lo + hi) / 2.0, (hi - lo) / 2.0)
    } else {
        (lo, 1.0)
    };
    (vec![mean; ds.dim()], vec![std; ds.dim()])
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
    let (mean, std) = stats.unwrap_or_else(|| {
        if ds.data_shape.len() == 3 {
            image_stats(&ds)
        } else {
            ds.stats()
        }
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_get_one_affine_map_not_per_pixel_statistics() {
        // Pixels already in [−1, 1] (IDX, PNG): kept as they are, σ 0.5.
        let ds = Dataset::new(
            vec![-1.0, 0.5, 1.0, -1.0, 0.0, 1.0, 1.0, -0.5],
            vec![1, 2, 2],
        )
        .unwrap();
        assert_eq!(image_stats(&ds), (vec![0.0; 4], vec![1.0; 4]));
        let data = prepare(ds, None, Device::Cpu).unwrap();
        assert!(data.is_image() && data.default_sigma() == IMAGE_SIGMA);
        // 0..16 digits: [0, 16] → [−1, 1] through mean 8, std 8 for every pixel, even a
        // constant one (per-pixel statistics would give it std 1 and others another scale).
        let ds = Dataset::new(
            vec![0.0, 16.0, 4.0, 0.0, 8.0, 12.0, 0.0, 2.0],
            vec![1, 2, 2],
        )
        .unwrap();
        assert_eq!(image_stats(&ds), (vec![8.0; 4], vec![8.0; 4]));
        let data = prepare(ds, None, Device::Cpu).unwrap();
        let v: Vec<f32> = Vec::try_from(data.normalized.view([-1])).unwrap();
        assert_eq!(v, vec![-1.0, 1.0, -0.5, -1.0, 0.0, 0.5, -1.0, -0.75]);
        // 2-D points keep per-dimension statistics and the coordinate std.
        let ds = Dataset::new(vec![0.0, 10.0, 2.0, 30.0], vec![2]).unwrap();
        let data = prepare(ds, None, Device::Cpu).unwrap();
        assert!(!data.is_image());
        assert_eq!(
            (data.mean.clone(), data.std.clone()),
            (vec![1.0, 20.0], vec![1.0, 10.0])
        );
    }
}
