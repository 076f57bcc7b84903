//! Sample-quality metrics between two point clouds of any dimension.
//!
//! Samples are row-major f32 slices with `dim` values per row; all sums are accumulated in f64.
//! The pairwise metrics (energy distance, MMD, the median bandwidth) cost O(n²), so above a cap
//! they use a deterministic random subsample (fixed seed), which keeps them reproducible and
//! bounded in time. Every function panics on malformed input (`dim == 0`, a length that is not
//! a whole number of rows, an empty set): those are programming errors, not data conditions.

mod distance;
mod frechet;
mod hist;
mod report;

pub use distance::{
    energy_cap, energy_distance, energy_distance_unbiased, median_bandwidth, mmd_rbf, sliced_w2,
    subsample, w2_sq_sorted, BANDWIDTH_MAX_POINTS, ENERGY_MAX_POINTS, ENERGY_U_MAX_POINTS,
    MMD_MAX_POINTS,
};
pub use frechet::{frechet_distance, frechet_distance_fits, symmetric_eigen, GaussianFit};
pub use hist::{hist_js, hist_kl, js_divergence, kl_divergence, Grid2, Hist2};
pub use report::{Metrics, Report, ReportConfig};

#[cfg(test)]
mod tests;
