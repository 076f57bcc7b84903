//! Training data: a seeded RNG, built-in 2-D toy distributions, and loaders/writers for
//! `.npy`, `.csv` and `.safetensors` files.
//!
//! Everything becomes a [`Dataset`]: `n` rows of f32, each row a flattened array of
//! `data_shape` (so images keep their shape while metrics and models see flat vectors).

mod csv;
mod dataset;
mod error;
mod npy;
mod rng;
mod st;
mod toy;

pub use csv::{parse_csv, to_csv_string, write_csv};
pub use dataset::{denormalize_rows, normalize_rows, Dataset};
pub use error::DataError;
pub use npy::{parse_npy, to_npy_bytes, write_npy};
pub use rng::Rng;
pub use st::{parse_safetensors, tensor_to_f32};
pub use toy::{
    checker_is_white, Toy, CHECKER_SQUARES, CURVE_NOISE_STD, EIGHT_GAUSSIANS_RADIUS,
    EIGHT_GAUSSIANS_STD, GAUSSIAN_CORR, GAUSSIAN_COV, GAUSSIAN_MEAN, GAUSSIAN_STD, RING_RADII,
};

use std::path::{Path, PathBuf};

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
