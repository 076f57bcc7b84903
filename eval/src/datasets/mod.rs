//! Training data: a seeded RNG, built-in 2-D toy distributions, and loaders/writers for
//! `.npy`, `.csv` and `.safetensors` files.
//!
//! Everything becomes a [`Dataset`]: `n` rows of f32, each row a flattened array of
//! `data_shape` (so images keep their shape while metrics and models see flat vectors).

mod csv;
mod error;
mod npy;
mod rng;
mod st;
mod toy;

pub use csv::{parse_csv, to_csv_string, write_csv};
pub use error::DataError;
pub use npy::{parse_npy, to_npy_bytes, write_npy};
pub use rng::Rng;
pub use st::{parse_safetensors, tensor_to_f32};
pub use toy::{
    checker_is_white, Toy, CHECKER_SQUARES, CURVE_NOISE_STD, EIGHT_GAUSSIANS_RADIUS,
    EIGHT_GAUSSIANS_STD, GAUSSIAN_CORR, GAUSSIAN_COV, GAUSSIAN_MEAN, GAUSSIAN_STD, RING_RADII,
};

use std::path::{Path, PathBuf};

/// `n` rows of f32 data, row-major; each row is a flattened array of shape `data_shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Row-major values, `n * dim()` of them.
    pub data: Vec<f32>,
    /// Number of rows (samples).
    pub n: usize,
    /// Shape of one row, e.g. `[2]` for 2-D points or `[1, 8, 8]` for 8×8 images.
    pub data_shape: Vec<usize>,
}

impl Dataset {
    /// Builds a dataset, checking that the sizes agree and that it holds at least one row.
    pub fn new(data: Vec<f32>, data_shape: Vec<usize>) -> Result<Dataset, DataError> {
        let dim: usize = data_shape.iter().product();
        if dim == 0 || data.len() % dim != 0 {
            return Err(DataError::Shape {
                path: "<memory>".into(),
                reason: format!(
                    "{} values cannot be split into rows of shape {:?}",
                    data.len(),
                    data_shape
                ),
            });
        }
        let n = data.len() / dim;
        if n == 0 {
            return Err(DataError::Empty {
                path: "<memory>".into(),
            });
        }
        Ok(Dataset {
            data,
            n,
            data_shape,
        })
    }

    /// Number of values per row (the product of `data_shape`).
    pub fn dim(&self) -> usize {
        self.data_shape.iter().product()
    }

    /// Row `i` as a slice of `dim()` values.
    ///
    /// # Panics
    /// If `i >= n`.
    pub fn row(&self, i: usize) -> &[f32] {
        assert!(i < self.n, "row {i} out of range for {} rows", self.n);
        let d = self.dim();
        &self.data[i * d..(i + 1) * d]
    }

    /// Per-dimension mean and population standard deviation (divisor `n`), accumulated in f64.
    ///
    /// A dimension whose standard deviation is zero in f32 (for example a constant pixel) gets
    /// std 1.0, so that normalising by it is the identity instead of a division by zero;
    /// [`Dataset::constant_dims`] reports which dimensions those are.
    pub fn stats(&self) -> (Vec<f32>, Vec<f32>) {
        let (mean, std) = raw_stats(&self.data, self.dim());
        let std = std
            .into_iter()
            .map(|s| if s > 0.0 { s } else { 1.0 })
            .collect();
        (mean, std)
    }

    /// Dimensions whose spread is zero in f32; [`Dataset::stats`] gives them std 1.0.
    pub fn constant_dims(&self) -> Vec<usize> {
        let (_, std) = raw_stats(&self.data, self.dim());
        (0..std.len()).filter(|&k| std[k] <= 0.0).collect()
    }

    /// Maps every row to `(x − mean) / std` in place.
    pub fn normalize(&mut self, mean: &[f32], std: &[f32]) {
        normalize_rows(&mut self.data, mean, std);
    }

    /// Inverse of [`Dataset::normalize`]: `x · std + mean` in place.
    pub fn denormalize(&mut self, mean: &[f32], std: &[f32]) {
        denormalize_rows(&mut self.data, mean, std);
    }
}

/// Mean and population std per dimension, std exactly 0.0 where the column has no spread in f32.
fn raw_stats(data: &[f32], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = data.len() / dim.max(1);
    let mut mean = vec![0.0f64; dim];
    for row in data.chunks_exact(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut var = vec![0.0f64; dim];
    for row in data.chunks_exact(dim) {
        for ((s, &m), &v) in var.iter_mut().zip(&mean).zip(row) {
            let d = f64::from(v) - m;
            *s += d * d;
        }
    }
    let constant = |k: usize| data.chunks_exact(dim).all(|r| r[k] == data[k]);
    let std = (0..dim)
        .map(|k| {
            if constant(k) {
                0.0
            } else {
                (var[k] / n as f64).sqrt() as f32
            }
        })
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

/// `(x − mean) / std` for every row of a row-major slice (`mean.len()` values per row).
///
/// # Panics
/// If `mean` and `std` differ in length or `data` is not a whole number of rows.
pub fn normalize_rows(data: &mut [f32], mean: &[f32], std: &[f32]) {
    check_row_params(data, mean, std);
    for row in data.chunks_exact_mut(mean.len()) {
        for ((v, &m), &s) in row.iter_mut().zip(mean).zip(std) {
            *v = (*v - m) / s;
        }
    }
}

/// `x · std + mean` for every row of a row-major slice; the inverse of [`normalize_rows`].
///
/// # Panics
/// As [`normalize_rows`].
pub fn denormalize_rows(data: &mut [f32], mean: &[f32], std: &[f32]) {
    check_row_params(data, mean, std);
    for row in data.chunks_exact_mut(mean.len()) {
        for ((v, &m), &s) in row.iter_mut().zip(mean).zip(std) {
            *v = *v * s + m;
        }
    }
}

fn check_row_params(data: &[f32], mean: &[f32], std: &[f32]) {
    assert_eq!(mean.len(), std.len(), "mean and std lengths differ");
    assert!(
        !mean.is_empty() && data.len() % mean.len() == 0,
        "{} values are not whole rows of {}",
        data.len(),
        mean.len()
    );
}

/// Loads a data file, choosing the format by extension: `.npy`, `.csv` or `.safetensors`.
///
/// `key` names the tensor inside a `.safetensors` file holding several; passing a key for any
/// other format is an error (it would otherwise be silently ignored). Every loaded value must be
/// finite.
pub fn load(path: impl AsRef<Path>, key: Option<&str>) -> Result<Dataset, DataError> {
    let path = path.as_ref();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let ext = match ext.as_deref() {
        Some(e @ ("npy" | "csv" | "safetensors")) => e.to_string(),
        _ => {
            return Err(DataError::UnknownExtension {
                path: path.to_path_buf(),
            })
        }
    };
    if let (Some(k), false) = (key, ext == "safetensors") {
        return Err(DataError::KeyNotSupported {
            path: path.to_path_buf(),
            key: k.to_string(),
        });
    }
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let result = match ext.as_str() {
        "npy" => parse_npy(&bytes),
        "csv" => parse_csv(&bytes),
        _ => parse_safetensors(&bytes, key),
    };
    result.map_err(|e| e.with_path(path))
}

/// A data set by name: a built-in toy set (`points` rows drawn with `seed`) or a data file
/// (`key` as in [`load`]). Errors name what was asked for and what exists.
pub fn load_named(
    name: &str,
    key: Option<&str>,
    points: usize,
    seed: u64,
) -> Result<Dataset, DataError> {
    if let Some(toy) = Toy::from_name(name) {
        if points == 0 {
            return Err(DataError::Empty {
                path: PathBuf::from(name),
            });
        }
        return Ok(toy.dataset(points, seed));
    }
    let path = Path::new(name);
    if !path.exists() {
        return Err(DataError::UnknownSource {
            path: path.to_path_buf(),
            builtins: Toy::all().iter().map(|t| t.name().to_string()).collect(),
        });
    }
    load(path, key)
}

/// The first non-finite value, as (row, column within the row).
fn first_non_finite(data: &[f32], dim: usize) -> Option<(usize, usize)> {
    data.iter()
        .position(|v| !v.is_finite())
        .map(|i| (i / dim, i % dim))
}

/// Turns a flat buffer with a file's shape `(n, rest…)` into a [`Dataset`], checking that there
/// is at least one row and that every value is finite.
fn from_shaped(data: Vec<f32>, shape: &[usize]) -> Result<Dataset, DataError> {
    let mem = || std::path::PathBuf::from("<memory>");
    let (n, rest) = match shape {
        [] => {
            return Err(DataError::Shape {
                path: mem(),
                reason: "a 0-d (scalar) array has no rows".into(),
            })
        }
        [n] => (*n, vec![1]),
        [n, rest @ ..] => (*n, rest.to_vec()),
    };
    if n == 0 {
        return Err(DataError::Empty { path: mem() });
    }
    if rest.contains(&0) {
        return Err(DataError::Shape {
            path: mem(),
            reason: format!("rows of shape {rest:?} hold no values"),
        });
    }
    let dim: usize = rest.iter().product();
    debug_assert_eq!(data.len(), n * dim);
    if let Some((row, column)) = first_non_finite(&data, dim) {
        return Err(DataError::NonFinite {
            path: mem(),
            row,
            column,
            line: None,
            value: f64::from(data[row * dim + column]),
        });
    }
    Ok(Dataset {
        data,
        n,
        data_shape: rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_population_std_and_constant_dim() {
        let d = Dataset::new(vec![1.0, 5.0, 3.0, 5.0], vec![2]).unwrap();
        let (m, s) = d.stats();
        assert_eq!(m, vec![2.0, 5.0]);
        assert_eq!(s, vec![1.0, 1.0]); // first: population std of {1,3} = 1; second constant → 1
        assert_eq!(d.constant_dims(), vec![1]);
        let d = Dataset::new(vec![0.0, 4.0, 2.0, 8.0], vec![2]).unwrap();
        assert_eq!(d.stats().1, vec![1.0, 2.0]);
        assert!(d.constant_dims().is_empty());
    }

    #[test]
    fn normalize_round_trip() {
        let mut d = Toy::Gaussian.dataset(1000, 1);
        let orig = d.clone();
        let (m, s) = d.stats();
        d.normalize(&m, &s);
        let (m2, s2) = d.stats();
        assert!(m2.iter().all(|v| v.abs() < 1e-5));
        assert!(s2.iter().all(|v| (v - 1.0).abs() < 1e-5));
        d.denormalize(&m, &s);
        for (a, b) in d.data.iter().zip(&orig.data) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn new_and_row() {
        let d = Dataset::new((0..12).map(|v| v as f32).collect(), vec![3, 2]).unwrap();
        assert_eq!((d.n, d.dim()), (2, 6));
        assert_eq!(d.row(1), &[6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
        assert!(Dataset::new(vec![1.0; 5], vec![2]).is_err());
        assert!(matches!(
            Dataset::new(vec![], vec![2]),
            Err(DataError::Empty { .. })
        ));
    }

    #[test]
    fn load_rejects_unknown_extension_and_misplaced_key() {
        let e = load("/nonexistent/data.txt", None).unwrap_err();
        assert!(matches!(e, DataError::UnknownExtension { .. }), "{e}");
        let e = load("/nonexistent/data.csv", Some("x")).unwrap_err();
        assert!(matches!(e, DataError::KeyNotSupported { .. }), "{e}");
        let e = load("/nonexistent/data.npy", None).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e}");
        assert!(e.to_string().contains("/nonexistent/data.npy"));
    }
}
