//! 2-D histograms on a fixed grid and the KL / JS divergences between them.
//!
//! Probabilities are `counts / n` with `n` the total number of points, *including* points that
//! fall outside the grid: those are dropped from the bins but still counted in `n` (and
//! reported in [`Hist2::outside`]), so mass a model puts off the grid is missing from its
//! histogram instead of being silently renormalised onto the grid. Logarithms are natural.

/// A `bins × bins` grid over the box `[lo₀, hi₀] × [lo₁, hi₁]`.
///
/// Cells are half-open `[edge, next edge)` except the last in each axis, which also holds `hi`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid2 {
    /// Lower corner (x, y).
    pub lo: [f64; 2],
    /// Upper corner (x, y).
    pub hi: [f64; 2],
    /// Cells per axis.
    pub bins: usize,
}

impl Grid2 {
    /// A grid, checking that the box is non-empty and `bins > 0`.
    ///
    /// # Panics
    /// If `hi ≤ lo` in an axis, a bound is not finite, or `bins == 0`.
    pub fn new(lo: [f64; 2], hi: [f64; 2], bins: usize) -> Grid2 {
        for k in 0..2 {
            assert!(
                lo[k].is_finite() && hi[k].is_finite() && hi[k] > lo[k],
                "Grid2: empty box {lo:?}..{hi:?}"
            );
        }
        assert!(bins > 0, "Grid2: bins must be positive");
        Grid2 { lo, hi, bins }
    }

    /// The stated checker reference setup: 64×64 cells over [−1.1, 1.1]² (the checkerboard's
    /// [−1, 1]² plus a margin that catches samples spilling just outside it).
    pub fn checker_reference() -> Grid2 {
        Grid2::new([-1.1, -1.1], [1.1, 1.1], 64)
    }

    /// Flat cell index `row · bins + column` (row from y, column from x), or `None` outside the
    /// box (NaN is outside).
    pub fn cell(&self, x: f32, y: f32) -> Option<usize> {
        let ix = self.axis_index(0, f64::from(x))?;
        let iy = self.axis_index(1, f64::from(y))?;
        Some(iy * self.bins + ix)
    }

    fn axis_index(&self, k: usize, v: f64) -> Option<usize> {
        if !(v >= self.lo[k] && v <= self.hi[k]) {
            return None;
        }
        let t = (v - self.lo[k]) / (self.hi[k] - self.lo[k]) * self.bins as f64;
        Some((t.floor() as usize).min(self.bins - 1))
    }

    /// Counts of row-major 2-D points (`x0, y0, x1, y1, …`) per cell.
    ///
    /// # Panics
    /// If `points` has odd length.
    pub fn histogram(&self, points: &[f32]) -> Hist2 {
        assert!(points.len() % 2 == 0, "histogram: points must be 2-D rows");
        let mut counts = vec![0u64; self.bins * self.bins];
        let mut outside = 0;
        for p in points.chunks_exact(2) {
            match self.cell(p[0], p[1]) {
                Some(c) => counts[c] += 1,
                None => outside += 1,
            }
        }
        Hist2 {
            counts,
            n: points.len() / 2,
            outside,
        }
    }
}

/// Cell counts of a point set on a [`Grid2`].
#[derive(Clone, Debug, PartialEq)]
pub struct Hist2 {
    /// Counts per cell, `bins²` of them, row-major (row from y).
    pub counts: Vec<u64>,
    /// Total number of points, inside and outside the grid.
    pub n: usize,
    /// Points outside the grid (dropped from `counts`).
    pub outside: usize,
}

impl Hist2 {
    /// `counts / n` per cell (sums to `1 − outside/n`); all zeros when `n == 0`.
    pub fn probabilities(&self) -> Vec<f64> {
        let n = self.n.max(1) as f64;
        self.counts.iter().map(|&c| c as f64 / n).collect()
    }

    /// Fraction of points outside the grid.
    pub fn outside_fraction(&self) -> f64 {
        self.outside as f64 / self.n.max(1) as f64
    }
}

/// `KL(p ‖ q) = Σ_{pᵢ>0} pᵢ ln((pᵢ + eps) / (qᵢ + eps))`.
///
/// `eps` keeps the value finite where q has an empty cell that p uses; with `eps = 0` such a
/// cell gives `+∞`, and cells with `pᵢ = 0` contribute 0 either way. With sub-normalised inputs
/// (mass outside the grid) the value is no longer guaranteed non-negative.
///
/// # Panics
/// If the lengths differ.
pub fn kl_divergence(p: &[f64], q: &[f64], eps: f64) -> f64 {
    assert_eq!(p.len(), q.len(), "kl_divergence: length mismatch");
    p.iter()
        .zip(q)
        .filter(|(&pi, _)| pi > 0.0)
        .map(|(&pi, &qi)| pi * ((pi + eps) / (qi + eps)).ln())
        .sum()
}

/// Jensen–Shannon divergence `½ KL(p‖m) + ½ KL(q‖m)` with `m = (p + q)/2`, no smoothing
/// (m is positive wherever p or q is). Symmetric, and `0 ≤ JS ≤ ln 2` for inputs that sum to at
/// most 1.
///
/// # Panics
/// If the lengths differ.
pub fn js_divergence(p: &[f64], q: &[f64]) -> f64 {
    assert_eq!(p.len(), q.len(), "js_divergence: length mismatch");
    let half_kl = |a: f64, b: f64| {
        if a > 0.0 {
            0.5 * a * (2.0 * a / (a + b)).ln()
        } else {
            0.0
        }
    };
    p.iter()
        .zip(q)
        .map(|(&pi, &qi)| half_kl(pi, qi) + half_kl(qi, pi))
        .sum()
}

/// Histogram KL(p ‖ q) of two 2-D point sets on `grid` (see [`kl_divergence`] for `eps`).
pub fn hist_kl(p_samples: &[f32], q_samples: &[f32], grid: &Grid2, eps: f64) -> f64 {
    let p = grid.histogram(p_samples).probabilities();
    let q = grid.histogram(q_samples).probabilities();
    kl_divergence(&p, &q, eps)
}

/// Histogram JS divergence of two 2-D point sets on `grid` (see [`js_divergence`]).
pub fn hist_js(p_samples: &[f32], q_samples: &[f32], grid: &Grid2) -> f64 {
    let p = grid.histogram(p_samples).probabilities();
    let q = grid.histogram(q_samples).probabilities();
    js_divergence(&p, &q)
}
