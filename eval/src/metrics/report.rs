//! All metrics of a sample set against a reference, next to their noise floor.
//!
//! The noise floor is the same metric between two independent reference samples: a model
//! cannot be told apart from the data below it, so a value is only meaningful relative to it.

use super::distance::{energy_distance, median_bandwidth, mmd_rbf, sliced_w2};
use super::hist::{hist_js, hist_kl, Grid2};

/// Settings of a [`Report`].
#[derive(Clone, Debug, PartialEq)]
pub struct ReportConfig {
    /// Random directions for sliced W2 (the same directions for samples and floor).
    pub n_dirs: usize,
    /// Seed of those directions.
    pub seed: u64,
    /// Histogram grid for KL/JS; `None` skips them (they need 2-D data).
    pub grid: Option<Grid2>,
    /// Smoothing of the histogram KL.
    pub kl_eps: f64,
}

impl Default for ReportConfig {
    /// 128 directions, seed 0, no histograms, `kl_eps = 1e-10`.
    fn default() -> Self {
        ReportConfig {
            n_dirs: 128,
            seed: 0,
            grid: None,
            kl_eps: 1e-10,
        }
    }
}

impl ReportConfig {
    /// The defaults plus the checker histogram grid ([`Grid2::checker_reference`]).
    pub fn checker() -> Self {
        ReportConfig {
            grid: Some(Grid2::checker_reference()),
            ..ReportConfig::default()
        }
    }
}

/// One set of metric values (of samples, or of the floor).
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// [`energy_distance`].
    pub energy: f64,
    /// [`sliced_w2`].
    pub sliced_w2: f64,
    /// [`mmd_rbf`] with the report's bandwidths.
    pub mmd: f64,
    /// Histogram `KL(reference ‖ compared)`, when a grid was given and the data is 2-D.
    pub kl: Option<f64>,
    /// Histogram JS, when a grid was given and the data is 2-D.
    pub js: Option<f64>,
    /// Fraction of the compared points outside the grid, when a grid was given.
    pub outside: Option<f64>,
}

impl Metrics {
    /// Every metric of `compared` against `reference`.
    pub fn compute(
        compared: &[f32],
        reference: &[f32],
        dim: usize,
        bandwidths: &[f64],
        cfg: &ReportConfig,
    ) -> Metrics {
        let grid = cfg.grid.filter(|_| dim == 2);
        Metrics {
            energy: energy_distance(compared, reference, dim),
            sliced_w2: sliced_w2(compared, reference, dim, cfg.n_dirs, cfg.seed),
            mmd: mmd_rbf(compared, reference, dim, bandwidths),
            kl: grid.map(|g| hist_kl(reference, compared, &g, cfg.kl_eps)),
            js: grid.map(|g| hist_js(reference, compared, &g)),
            outside: grid.map(|g| g.histogram(compared).outside_fraction()),
        }
    }
}

/// Metrics of samples against a reference, and the floor (reference vs a second, independent
/// reference of the same distribution).
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Samples vs reference.
    pub samples: Metrics,
    /// Second reference vs reference.
    pub floor: Metrics,
    /// Median-heuristic bandwidth h of the two references; MMD uses h/2, h and 2h.
    pub bandwidth: f64,
    /// Rows in the samples.
    pub n_samples: usize,
    /// Rows in the reference.
    pub n_reference: usize,
}

impl Report {
    /// Computes samples-vs-reference and reference2-vs-reference with identical settings.
    ///
    /// The bandwidth comes from the references only, so reports of different models against
    /// the same reference use the same kernel and are comparable.
    ///
    /// # Panics
    /// On malformed input (see the metrics module).
    pub fn compute(
        samples: &[f32],
        reference: &[f32],
        reference2: &[f32],
        dim: usize,
        cfg: &ReportConfig,
    ) -> Report {
        let h = median_bandwidth(reference, reference2, dim);
        let bw = [0.5 * h, h, 2.0 * h];
        Report {
            samples: Metrics::compute(samples, reference, dim, &bw, cfg),
            floor: Metrics::compute(reference2, reference, dim, &bw, cfg),
            bandwidth: h,
            n_samples: samples.len() / dim,
            n_reference: reference.len() / dim,
        }
    }

    /// Column titles matching [`Report::table_row`].
    pub fn table_header() -> String {
        let cols = ["energy", "sliced_w2", "mmd", "kl", "js"];
        let mut s = format!("{:<16}", "run");
        for c in cols {
            s.push_str(&format!(" {:>21}", format!("{c} (floor)")));
        }
        s
    }

    /// One plain-text table row: each metric as `value (floor)`, `-` where not computed.
    pub fn table_row(&self, label: &str) -> String {
        let (a, f) = (&self.samples, &self.floor);
        let pairs = [
            (Some(a.energy), Some(f.energy)),
            (Some(a.sliced_w2), Some(f.sliced_w2)),
            (Some(a.mmd), Some(f.mmd)),
            (a.kl, f.kl),
            (a.js, f.js),
        ];
        let mut s = format!("{label:<16}");
        for (v, fl) in pairs {
            s.push_str(&format!(" {:>21}", format!("{} ({})", num(v), num(fl))));
        }
        s
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.3e}"))
}
