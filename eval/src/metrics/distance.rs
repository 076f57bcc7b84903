//! The distances between two point clouds: energy distance (V and U statistics), sliced
//! Wasserstein-2 and RBF-MMD, with the deterministic subsampling that bounds their cost.

use crate::datasets::Rng;
use std::borrow::Cow;

/// Energy distance uses at most this many points of each set (a fixed-seed subsample above).
pub const ENERGY_MAX_POINTS: usize = 4000;
/// RBF-MMD uses at most this many points of each set (kernels cost more than distances).
pub const MMD_MAX_POINTS: usize = 2000;
/// The median heuristic uses at most this many points from each set.
pub const BANDWIDTH_MAX_POINTS: usize = 500;
/// Seed of the subsampling, fixed so a metric is a function of its inputs alone.
const SUBSAMPLE_SEED: u64 = 0x5EED_0FE7_A100;

/// Number of rows in `x`, checking it is a non-empty whole number of rows.
fn rows(x: &[f32], dim: usize, what: &str) -> usize {
    assert!(dim > 0, "{what}: dim must be positive");
    assert!(
        x.len() % dim == 0,
        "{what}: {} values are not whole rows of {dim}",
        x.len()
    );
    assert!(!x.is_empty(), "{what}: empty sample set");
    x.len() / dim
}

/// At most `cap` rows of `x`, chosen uniformly without replacement by a fixed-seed RNG
/// (all of `x`, borrowed, when it is small enough). Rows keep their original order.
pub fn subsample(x: &[f32], dim: usize, cap: usize, seed: u64) -> Cow<'_, [f32]> {
    let n = x.len() / dim;
    if n <= cap {
        return Cow::Borrowed(x);
    }
    let idx = Rng::new(seed).choose_indices(n, cap);
    Cow::Owned(
        idx.iter()
            .flat_map(|&i| &x[i * dim..(i + 1) * dim])
            .copied()
            .collect(),
    )
}

fn sq_dist(x: &[f32], y: &[f32]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(&a, &b)| {
            let d = f64::from(a) - f64::from(b);
            d * d
        })
        .sum()
}

/// Mean of `k(‖x − y‖²)` over all pairs (x from `a`, y from `b`).
pub(super) fn mean_cross(a: &[f32], b: &[f32], dim: usize, k: &impl Fn(f64) -> f64) -> f64 {
    let mut total = 0.0;
    for x in a.chunks_exact(dim) {
        total += b.chunks_exact(dim).map(|y| k(sq_dist(x, y))).sum::<f64>();
    }
    total / ((a.len() / dim) as f64 * (b.len() / dim) as f64)
}

/// Mean of `k(‖x − x'‖²)` over all n² ordered pairs of `a`, diagonal included (V-statistic);
/// uses symmetry to evaluate each unordered pair once.
fn mean_within(a: &[f32], dim: usize, k: &impl Fn(f64) -> f64) -> f64 {
    let n = a.len() / dim;
    let mut off = 0.0;
    for i in 0..n {
        let x = &a[i * dim..(i + 1) * dim];
        off += a[(i + 1) * dim..]
            .chunks_exact(dim)
            .map(|y| k(sq_dist(x, y)))
            .sum::<f64>();
    }
    (2.0 * off + n as f64 * k(0.0)) / (n as f64 * n as f64)
}

/// Energy distance `2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖` (Székely–Rizzo), V-statistic form.
///
/// The within-set means run over all n² pairs including i = j, which makes the estimate a
/// squared distance between empirical distributions: never negative, and 0 exactly when the
/// two sets are the same multiset (rounding can leave ~1e-16, which is clamped to 0). Above
/// [`energy_cap`]`(`[`ENERGY_MAX_POINTS`]`, dim)` rows a set is replaced by a fixed-seed random
/// subsample of that size.
///
/// # Panics
/// On malformed input (see the module docs).
pub fn energy_distance(a: &[f32], b: &[f32], dim: usize) -> f64 {
    rows(a, dim, "energy_distance a");
    rows(b, dim, "energy_distance b");
    let cap = energy_cap(ENERGY_MAX_POINTS, dim);
    let a = subsample(a, dim, cap, SUBSAMPLE_SEED);
    let b = subsample(b, dim, cap, SUBSAMPLE_SEED + 1);
    let k = |d2: f64| d2.sqrt();
    let e = 2.0 * mean_cross(&a, &b, dim, &k) - mean_within(&a, dim, &k) - mean_within(&b, dim, &k);
    e.max(0.0)
}

/// Unbiased energy distance uses at most this many points of each set (fixed-seed subsample).
pub const ENERGY_U_MAX_POINTS: usize = 8000;

/// The subsample cap of the energy distances for `dim` columns: `base` up to 64 dimensions
/// (every 2-D and 8×8-digit figure in docs/results.md), above that shrunk by √(64/dim) so the
/// pairwise cost (points² × dim) stays that of 64 dimensions — a 28×28 image set would
/// otherwise spend minutes per row on pairs (measured: 689 s of CPU for one 6-row image table
/// at 8 000 points) while FD and sliced W2 see every sample.
pub fn energy_cap(base: usize, dim: usize) -> usize {
    if dim <= 64 {
        base
    } else {
        ((base as f64) * (64.0 / dim as f64).sqrt()) as usize
    }
}

/// Sum of `k(‖x − x'‖²)` over the n(n−1)/2 unordered pairs i < j of `a`.
pub(super) fn sum_pairs(a: &[f32], dim: usize, k: &impl Fn(f64) -> f64) -> f64 {
    let n = a.len() / dim;
    let mut total = 0.0;
    for i in 0..n {
        let x = &a[i * dim..(i + 1) * dim];
        total += a[(i + 1) * dim..]
            .chunks_exact(dim)
            .map(|y| k(sq_dist(x, y)))
            .sum::<f64>();
    }
    total
}

/// Energy distance `2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖`, unbiased (U-statistic) form.
///
/// The within-set means run over distinct pairs only (i ≠ j, divided by n(n−1)), so the
/// estimate's expectation is exactly the population energy distance: ≈ 0 for two samples of
/// the same distribution (it can be slightly negative; it is *not* clamped). This makes the
/// noise floor ≈ 0 instead of the V-statistic's positive bias of order
/// `E‖X−X'‖/n + E‖Y−Y'‖/m`, so small differences between good models stay visible.
/// Above [`energy_cap`]`(`[`ENERGY_U_MAX_POINTS`]`, dim)` rows a set is replaced by a fixed-seed
/// random subsample.
///
/// # Panics
/// On malformed input (see the module docs), or a set with fewer than 2 rows.
pub fn energy_distance_unbiased(a: &[f32], b: &[f32], dim: usize) -> f64 {
    let (n, m) = (
        rows(a, dim, "energy_distance_unbiased a"),
        rows(b, dim, "energy_distance_unbiased b"),
    );
    assert!(
        n >= 2 && m >= 2,
        "energy_distance_unbiased: needs at least 2 rows per set ({n}, {m})"
    );
    let cap = energy_cap(ENERGY_U_MAX_POINTS, dim);
    let a = subsample(a, dim, cap, SUBSAMPLE_SEED);
    let b = subsample(b, dim, cap, SUBSAMPLE_SEED + 1);
    let (n, m) = ((a.len() / dim) as f64, (b.len() / dim) as f64);
    let k = |d2: f64| d2.sqrt();
    let within_a = 2.0 * sum_pairs(&a, dim, &k) / (n * (n - 1.0));
    let within_b = 2.0 * sum_pairs(&b, dim, &k) / (m * (m - 1.0));
    2.0 * mean_cross(&a, &b, dim, &k) - within_a - within_b
}

/// Squared 1-D Wasserstein-2 distance between two sorted empirical distributions of any sizes:
/// the exact integral of `(F⁻¹(q) − G⁻¹(q))²` over q ∈ [0, 1], walking the merged quantile
/// breakpoints `i/n` and `j/m` (equal sizes reduce to the mean squared gap of sorted pairs).
pub fn w2_sq_sorted(xs: &[f64], ys: &[f64]) -> f64 {
    let (n, m) = (xs.len(), ys.len());
    assert!(n > 0 && m > 0, "w2_sq_sorted: empty input");
    // Breakpoints in units of 1/(n·m) are integers: i/n = i·m, j/m = j·n.
    let (mut i, mut j, mut q) = (0usize, 0usize, 0u128);
    let mut total = 0.0;
    while i < n && j < m {
        let next_x = (i as u128 + 1) * m as u128;
        let next_y = (j as u128 + 1) * n as u128;
        let next = next_x.min(next_y);
        let d = xs[i] - ys[j];
        total += (next - q) as f64 * d * d;
        q = next;
        if next_x == next {
            i += 1;
        }
        if next_y == next {
            j += 1;
        }
    }
    total / (n as f64 * m as f64)
}

/// A uniformly random unit vector in `dim` dimensions (a normalised standard normal draw).
fn random_direction(rng: &mut Rng, dim: usize) -> Vec<f64> {
    loop {
        let v: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-12 {
            return v.into_iter().map(|x| x / norm).collect();
        }
    }
}

fn sorted_projection(x: &[f32], dim: usize, dir: &[f64]) -> Vec<f64> {
    let mut p: Vec<f64> = x
        .chunks_exact(dim)
        .map(|r| r.iter().zip(dir).map(|(&v, &d)| f64::from(v) * d).sum())
        .collect();
    p.sort_unstable_by(f64::total_cmp);
    p
}

/// Sliced Wasserstein-2: `sqrt(mean over θ of W2²(θ·X, θ·Y))` over `n_dirs` directions drawn
/// uniformly on the unit sphere from `seed`.
///
/// Each 1-D W2² is exact for the two empirical distributions ([`w2_sq_sorted`]; unequal sizes
/// are compared at matched quantiles). Averaging the squares and taking one root keeps the
/// result in data units and makes it the Monte-Carlo estimate of the standard SW2. Same inputs
/// and seed give the same value. For two isotropic Gaussians in d dimensions it tends to
/// `sqrt(‖μ₁−μ₂‖²/d + (σ₁−σ₂)²)`.
///
/// # Panics
/// On malformed input, or `n_dirs == 0`.
pub fn sliced_w2(a: &[f32], b: &[f32], dim: usize, n_dirs: usize, seed: u64) -> f64 {
    rows(a, dim, "sliced_w2 a");
    rows(b, dim, "sliced_w2 b");
    assert!(n_dirs > 0, "sliced_w2: n_dirs must be positive");
    let mut rng = Rng::new(seed);
    let total: f64 = (0..n_dirs)
        .map(|_| {
            let dir = random_direction(&mut rng, dim);
            w2_sq_sorted(
                &sorted_projection(a, dim, &dir),
                &sorted_projection(b, dim, &dir),
            )
        })
        .sum();
    (total / n_dirs as f64).sqrt()
}

/// Biased (V-statistic) squared MMD with the kernel `Σ_h exp(−‖x−y‖² / (2h²))` summed over
/// `bandwidths`: `E k(X,X') + E k(Y,Y') − 2 E k(X,Y)`, all pairs including i = j.
///
/// The sum of RBF kernels is positive definite, so the value is ≥ 0 (rounding negatives are
/// clamped to 0). Above [`MMD_MAX_POINTS`] rows a set is replaced by a fixed-seed subsample.
///
/// # Panics
/// On malformed input, an empty `bandwidths`, or a bandwidth that is not positive and finite.
pub fn mmd_rbf(a: &[f32], b: &[f32], dim: usize, bandwidths: &[f64]) -> f64 {
    rows(a, dim, "mmd_rbf a");
    rows(b, dim, "mmd_rbf b");
    assert!(!bandwidths.is_empty(), "mmd_rbf: no bandwidths");
    assert!(
        bandwidths.iter().all(|h| h.is_finite() && *h > 0.0),
        "mmd_rbf: bandwidths must be positive and finite: {bandwidths:?}"
    );
    let a = subsample(a, dim, MMD_MAX_POINTS, SUBSAMPLE_SEED);
    let b = subsample(b, dim, MMD_MAX_POINTS, SUBSAMPLE_SEED + 1);
    let gammas: Vec<f64> = bandwidths.iter().map(|h| -0.5 / (h * h)).collect();
    let k = |d2: f64| gammas.iter().map(|g| (g * d2).exp()).sum::<f64>();
    let v = mean_within(&a, dim, &k) + mean_within(&b, dim, &k) - 2.0 * mean_cross(&a, &b, dim, &k);
    v.max(0.0)
}

/// Median heuristic for an RBF bandwidth: the median Euclidean distance over all distinct pairs
/// of the pooled points (at most [`BANDWIDTH_MAX_POINTS`] from each set, fixed-seed subsample).
///
/// The median is the element at index `len/2` of the sorted distances (the upper median for an
/// even count). Returns 1.0 when that median is 0 (e.g. all points equal) or there is no pair,
/// so the result is always a usable bandwidth.
///
/// # Panics
/// On malformed input.
pub fn median_bandwidth(a: &[f32], b: &[f32], dim: usize) -> f64 {
    rows(a, dim, "median_bandwidth a");
    rows(b, dim, "median_bandwidth b");
    let a = subsample(a, dim, BANDWIDTH_MAX_POINTS, SUBSAMPLE_SEED + 2);
    let b = subsample(b, dim, BANDWIDTH_MAX_POINTS, SUBSAMPLE_SEED + 3);
    let pooled: Vec<f32> = a.iter().chain(b.iter()).copied().collect();
    let n = pooled.len() / dim;
    let mut d: Vec<f64> = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        let x = &pooled[i * dim..(i + 1) * dim];
        d.extend(
            pooled[(i + 1) * dim..]
                .chunks_exact(dim)
                .map(|y| sq_dist(x, y).sqrt()),
        );
    }
    if d.is_empty() {
        return 1.0;
    }
    let mid = d.len() / 2;
    let (_, &mut med, _) = d.select_nth_unstable_by(mid, f64::total_cmp);
    if med > 0.0 && med.is_finite() {
        med
    } else {
        1.0
    }
}
