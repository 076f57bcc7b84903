//! The in-memory data set every loader produces, its statistics and normalisation.

use super::error::DataError;

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

/// The first non-finite value, as (row, column within the row).
fn first_non_finite(data: &[f32], dim: usize) -> Option<(usize, usize)> {
    data.iter()
        .position(|v| !v.is_finite())
        .map(|i| (i / dim, i % dim))
}

/// Turns a flat buffer with a file's shape `(n, rest…)` into a [`Dataset`], checking that there
/// is at least one row and that every value is finite.
pub(super) fn from_shaped(data: Vec<f32>, shape: &[usize]) -> Result<Dataset, DataError> {
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
