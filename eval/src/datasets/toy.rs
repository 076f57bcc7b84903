//! Built-in 2-D toy distributions, sampled deterministically from a seed.

use super::dataset::Dataset;
use super::rng::Rng;
use std::f64::consts::PI;

/// Mean of the [`Toy::Gaussian`] distribution.
pub const GAUSSIAN_MEAN: [f64; 2] = [0.5, -1.0];
/// Per-coordinate standard deviations of [`Toy::Gaussian`].
pub const GAUSSIAN_STD: [f64; 2] = [1.0, 2.0];
/// Correlation between the two coordinates of [`Toy::Gaussian`].
pub const GAUSSIAN_CORR: f64 = 0.8;
/// Covariance matrix of [`Toy::Gaussian`]: `[[σx², ρσxσy], [ρσxσy, σy²]]` = `[[1, 1.6], [1.6, 4]]`.
pub const GAUSSIAN_COV: [[f64; 2]; 2] = [
    [
        GAUSSIAN_STD[0] * GAUSSIAN_STD[0],
        GAUSSIAN_CORR * GAUSSIAN_STD[0] * GAUSSIAN_STD[1],
    ],
    [
        GAUSSIAN_CORR * GAUSSIAN_STD[0] * GAUSSIAN_STD[1],
        GAUSSIAN_STD[1] * GAUSSIAN_STD[1],
    ],
];

/// Number of cells per side of [`Toy::Checkerboard`] (the paper's `n_squares = 4`).
pub const CHECKER_SQUARES: usize = 4;
/// Radius of the circle carrying the [`Toy::EightGaussians`] modes.
pub const EIGHT_GAUSSIANS_RADIUS: f64 = 2.0;
/// Standard deviation of each [`Toy::EightGaussians`] mode (well separated: 5 % of the radius).
pub const EIGHT_GAUSSIANS_STD: f64 = 0.1;
/// Isotropic Gaussian noise added to two-moons, spirals, swiss roll and rings.
pub const CURVE_NOISE_STD: f64 = 0.05;
/// Radii of the [`Toy::Rings`] circles.
pub const RING_RADII: [f64; 3] = [1.0, 2.0, 3.0];

/// A built-in 2-D distribution. Samples are row-major `n × 2` f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Toy {
    /// The paper's checker: uniform on the 8 "white" cells of a 4×4 board on [−1, 1]².
    Checkerboard,
    /// Eight Gaussians on a circle of radius 2, std 0.1 each, equal weights.
    EightGaussians,
    /// Two interleaving half circles (scikit-learn's construction), centred.
    TwoMoons,
    /// Two interleaved spiral arms (1.5 turns each, radius up to 3).
    Spirals,
    /// The 2-D swiss roll (scikit-learn's curve t·(cos t, sin t), scaled by 1/5).
    SwissRoll,
    /// Three concentric circles of radii 1, 2, 3 with uniform density along the total length.
    Rings,
    /// A correlated Gaussian with mean [`GAUSSIAN_MEAN`] and covariance [`GAUSSIAN_COV`];
    /// its exact flow map is known in closed form, which makes it the test distribution.
    Gaussian,
    /// Thin curves: three arcs of the unit circle (a third of a turn each, centred
    /// [`ARC_OFFSET`] from the origin, 120° apart), noise std [`THIN_NOISE_STD`].
    Arcs,
    /// Small isolated modes: a 5×5 grid of Gaussians with spacing 1 and std
    /// [`SPECK_STD`] — each mode is 4 % of the gap between modes.
    Specks,
    /// Very unequal mode weights: four Gaussians (std 0.15) at the corners of a square of side
    /// 3 with weights [`UNEQUAL_WEIGHTS`].
    Unequal,
    /// A set with a hole: uniform on the square [−2, 2]² minus the disc of radius 1.2.
    HoledSquare,
    /// Mixed structure: two thin arcs, three small blobs and a bar, with unequal mass.
    Mixed,
}

/// Noise of the thin curves in [`Toy::Arcs`] and [`Toy::Mixed`] (5× thinner than the other
/// curves).
pub const THIN_NOISE_STD: f64 = 0.01;
/// Distance of each [`Toy::Arcs`] circle's centre from the origin.
pub const ARC_OFFSET: f64 = 1.2;
/// Standard deviation of each [`Toy::Specks`] mode.
pub const SPECK_STD: f64 = 0.04;
/// Mode weights of [`Toy::Unequal`]: the lightest mode holds 2 % of the mass.
pub const UNEQUAL_WEIGHTS: [f64; 4] = [0.70, 0.20, 0.08, 0.02];
/// Radius of the hole of [`Toy::HoledSquare`].
pub const HOLE_RADIUS: f64 = 1.2;

impl Toy {
    /// Every built-in distribution, in a fixed order.
    pub fn all() -> &'static [Toy] {
        &[
            Toy::Checkerboard,
            Toy::EightGaussians,
            Toy::TwoMoons,
            Toy::Spirals,
            Toy::SwissRoll,
            Toy::Rings,
            Toy::Gaussian,
            Toy::Arcs,
            Toy::Specks,
            Toy::Unequal,
            Toy::HoledSquare,
            Toy::Mixed,
        ]
    }

    /// The command-line name (kebab case).
    pub fn name(&self) -> &'static str {
        match self {
            Toy::Checkerboard => "checkerboard",
            Toy::EightGaussians => "eight-gaussians",
            Toy::TwoMoons => "two-moons",
            Toy::Spirals => "spirals",
            Toy::SwissRoll => "swiss-roll",
            Toy::Rings => "rings",
            Toy::Gaussian => "gaussian",
            Toy::Arcs => "arcs",
            Toy::Specks => "specks",
            Toy::Unequal => "unequal",
            Toy::HoledSquare => "holed-square",
            Toy::Mixed => "mixed",
        }
    }

    /// A one-line human description.
    pub fn description(&self) -> &'static str {
        match self {
            Toy::Checkerboard => {
                "uniform on the 8 white cells of a 4x4 checkerboard on [-1,1]^2 (the paper's)"
            }
            Toy::EightGaussians => "8 Gaussians (std 0.1) evenly spaced on a circle of radius 2",
            Toy::TwoMoons => "two interleaving half circles, noise std 0.05",
            Toy::Spirals => "two interleaved spiral arms, 1.5 turns, radius <= 3, noise std 0.05",
            Toy::SwissRoll => {
                "2-D swiss roll t(cos t, sin t)/5, t in [1.5pi, 4.5pi], noise std 0.05"
            }
            Toy::Rings => "3 concentric circles of radii 1, 2, 3, noise std 0.05",
            Toy::Gaussian => "correlated Gaussian, mean (0.5,-1), std (1,2), correlation 0.8",
            Toy::Arcs => {
                "3 thin arcs (a third of the unit circle each, 120 deg apart), noise std 0.01"
            }
            Toy::Specks => "5x5 grid of tiny Gaussians, spacing 1, std 0.04",
            Toy::Unequal => "4 Gaussians (std 0.15) with weights 70/20/8/2 %",
            Toy::HoledSquare => "uniform on [-2,2]^2 minus the disc of radius 1.2",
            Toy::Mixed => "2 thin arcs, 3 small blobs and a bar, unequal mass",
        }
    }

    /// Looks a distribution up by [`Toy::name`] (also accepts `_` for `-` and any case,
    /// plus the alias `checker`).
    pub fn from_name(name: &str) -> Option<Toy> {
        let norm = name.trim().to_ascii_lowercase().replace('_', "-");
        if norm == "checker" {
            return Some(Toy::Checkerboard);
        }
        Toy::all().iter().copied().find(|t| t.name() == norm)
    }

    /// `n` points, row-major `n × 2`; the same `(n, seed)` always gives the same points, and the
    /// first `k` rows of a larger sample equal the sample of size `k`.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        let mut out = Vec::with_capacity(2 * n);
        for _ in 0..n {
            let [x, y] = self.point(&mut rng);
            out.push(x);
            out.push(y);
        }
        out
    }

    /// [`Toy::sample`] wrapped as an `n × 2` [`Dataset`].
    pub fn dataset(&self, n: usize, seed: u64) -> Dataset {
        Dataset {
            data: self.sample(n, seed),
            n,
            data_shape: vec![2],
        }
    }

    fn point(&self, rng: &mut Rng) -> [f32; 2] {
        match self {
            Toy::Checkerboard => checker_point(rng),
            Toy::EightGaussians => {
                let k = rng.below(8) as f64;
                let a = k * PI / 4.0;
                let (cx, cy) = (
                    EIGHT_GAUSSIANS_RADIUS * a.cos(),
                    EIGHT_GAUSSIANS_RADIUS * a.sin(),
                );
                let (zx, zy) = (rng.normal(), rng.normal());
                f32x2(cx + EIGHT_GAUSSIANS_STD * zx, cy + EIGHT_GAUSSIANS_STD * zy)
            }
            Toy::TwoMoons => {
                let upper = rng.below(2) == 0;
                let th = PI * rng.uniform();
                let (x, y) = if upper {
                    (th.cos(), th.sin())
                } else {
                    (1.0 - th.cos(), 0.5 - th.sin())
                };
                // Centre the pair (the raw construction spans x ∈ [−1, 2], y ∈ [−0.5, 1]).
                noisy(rng, x - 0.5, y - 0.25)
            }
            Toy::Spirals => {
                // sqrt makes the density roughly uniform along the arc instead of piling at 0.
                let th = 3.0 * PI * rng.uniform().sqrt();
                let r = th / PI;
                let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
                noisy(rng, sign * r * th.cos(), sign * r * th.sin())
            }
            Toy::SwissRoll => {
                let t = 1.5 * PI * (1.0 + 2.0 * rng.uniform());
                noisy(rng, t * t.cos() / 5.0, t * t.sin() / 5.0)
            }
            Toy::Rings => {
                // Ring k is picked with probability ∝ its circumference ∝ its radius.
                let total: f64 = RING_RADII.iter().sum();
                let mut u = rng.uniform() * total;
                let mut r = RING_RADII[RING_RADII.len() - 1];
                for &rad in &RING_RADII {
                    if u < rad {
                        r = rad;
                        break;
                    }
                    u -= rad;
                }
                let a = 2.0 * PI * rng.uniform();
                noisy(rng, r * a.cos(), r * a.sin())
            }
            Toy::Gaussian => {
                let (z1, z2) = (rng.normal(), rng.normal());
                let [mx, my] = GAUSSIAN_MEAN;
                let [sx, sy] = GAUSSIAN_STD;
                let rho = GAUSSIAN_CORR;
                f32x2(
                    mx + sx * z1,
                    my + sy * (rho * z1 + (1.0 - rho * rho).sqrt() * z2),
                )
            }
            Toy::Arcs => {
                // Arc k: the third of the unit circle around 1.2·(cos φ, sin φ), φ = 120°·k,
                // that faces away from the origin; the three arcs never touch.
                let dir = 2.0 * PI / 3.0 * rng.below(3) as f64;
                let a = dir + (rng.uniform() - 0.5) * 2.0 * PI / 3.0;
                thin(
                    rng,
                    ARC_OFFSET * dir.cos() + a.cos(),
                    ARC_OFFSET * dir.sin() + a.sin(),
                )
            }
            Toy::Specks => {
                let (i, j) = (rng.below(5) as f64 - 2.0, rng.below(5) as f64 - 2.0);
                let (zx, zy) = (rng.normal(), rng.normal());
                f32x2(i + SPECK_STD * zx, j + SPECK_STD * zy)
            }
            Toy::Unequal => {
                const CORNERS: [(f64, f64); 4] =
                    [(-1.5, -1.5), (1.5, -1.5), (1.5, 1.5), (-1.5, 1.5)];
                let k = pick(rng, &UNEQUAL_WEIGHTS);
                let (zx, zy) = (rng.normal(), rng.normal());
                f32x2(CORNERS[k].0 + 0.15 * zx, CORNERS[k].1 + 0.15 * zy)
            }
            Toy::HoledSquare => loop {
                // Rejection: the accepted fraction is 1 − π·1.2²/16 ≈ 72 %.
                let (x, y) = (4.0 * rng.uniform() - 2.0, 4.0 * rng.uniform() - 2.0);
                if x * x + y * y >= HOLE_RADIUS * HOLE_RADIUS {
                    break f32x2(x, y);
                }
            },
            Toy::Mixed => match pick(rng, &[0.3, 0.25, 0.1, 0.08, 0.04, 0.23]) {
                // Two thin arcs: the upper half of a circle of radius 1 around (−1.2, 0.5),
                // and a quarter circle of radius 1.5 around (2.5, −1.5).
                0 => {
                    let a = PI * rng.uniform();
                    thin(rng, -1.2 + a.cos(), 0.5 + a.sin())
                }
                1 => {
                    let a = PI / 2.0 * (1.0 + rng.uniform());
                    thin(rng, 2.5 + 1.5 * a.cos(), -1.5 + 1.5 * a.sin())
                }
                // Three small blobs of unequal mass.
                k @ 2..=4 => {
                    const BLOBS: [(f64, f64); 3] = [(1.5, 1.5), (0.5, 2.0), (2.2, 0.6)];
                    let (cx, cy) = BLOBS[k - 2];
                    let (zx, zy) = (rng.normal(), rng.normal());
                    f32x2(cx + 0.06 * zx, cy + 0.06 * zy)
                }
                // A bar: uniform on a thin axis-aligned rectangle.
                _ => f32x2(-2.0 + 1.6 * rng.uniform(), -1.6 + 0.15 * rng.uniform()),
            },
        }
    }
}

/// An index drawn with probabilities proportional to `weights`.
fn pick(rng: &mut Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.uniform() * total;
    for (k, &w) in weights.iter().enumerate() {
        if u < w {
            return k;
        }
        u -= w;
    }
    weights.len() - 1
}

/// Whether (x, y) ∈ [−1, 1]² lies on a white checker cell ((i + j) even), cells half-open.
pub fn checker_is_white(x: f32, y: f32) -> bool {
    let cell = |v: f32| ((f64::from(v) + 1.0) / 2.0 * CHECKER_SQUARES as f64).floor();
    let (i, j) = (cell(x), cell(y));
    let in_range = |c: f64| (0.0..CHECKER_SQUARES as f64).contains(&c);
    in_range(i) && in_range(j) && (i as i64 + j as i64) % 2 == 0
}

/// Exactly uniform on the white cells: choose one of the 8 white cells uniformly (all have equal
/// area, so this equals rejection sampling of `U[0,1]²`), then a uniform point inside it.
///
/// Offsets are drawn on a lattice of 2²² points per cell side, so every coordinate `2u − 1` is a
/// multiple of 2⁻²³ in [−1, 1) and exactly representable in f32: no point can round onto the
/// boundary of a neighbouring black cell.
fn checker_point(rng: &mut Rng) -> [f32; 2] {
    let n = CHECKER_SQUARES as u64;
    let k = rng.below(n * n / 2);
    let j = k / (n / 2);
    let i = (k % (n / 2)) * 2 + j % 2;
    let coord = |cell: u64, rng: &mut Rng| {
        let off = (rng.next_u64() >> 42) as f64 / (1u64 << 22) as f64;
        let u = (cell as f64 + off) / n as f64;
        (2.0 * u - 1.0) as f32
    };
    let x = coord(i, rng);
    let y = coord(j, rng);
    [x, y]
}

fn noisy(rng: &mut Rng, x: f64, y: f64) -> [f32; 2] {
    let (zx, zy) = (rng.normal(), rng.normal());
    f32x2(x + CURVE_NOISE_STD * zx, y + CURVE_NOISE_STD * zy)
}

fn thin(rng: &mut Rng, x: f64, y: f64) -> [f32; 2] {
    let (zx, zy) = (rng.normal(), rng.normal());
    f32x2(x + THIN_NOISE_STD * zx, y + THIN_NOISE_STD * zy)
}

fn f32x2(x: f64, y: f64) -> [f32; 2] {
    [x as f32, y as f32]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Toy::all() {
            assert_eq!(Toy::from_name(t.name()), Some(*t));
            assert!(!t.description().is_empty());
        }
        assert_eq!(Toy::from_name("Two_Moons"), Some(Toy::TwoMoons));
        assert_eq!(Toy::from_name("checker"), Some(Toy::Checkerboard));
        assert_eq!(Toy::from_name("nope"), None);
    }

    #[test]
    fn deterministic_and_prefix_stable() {
        for t in Toy::all() {
            let a = t.sample(100, 9);
            assert_eq!(a.len(), 200);
            assert_eq!(a, t.sample(100, 9));
            assert_eq!(&a[..40], &t.sample(20, 9)[..]);
            assert_ne!(a, t.sample(100, 10));
            assert!(a.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn checkerboard_only_white_cells_and_uniform_over_them() {
        let n = 80_000;
        let pts = Toy::Checkerboard.sample(n, 1);
        let mut counts = [0usize; 16];
        for p in pts.chunks_exact(2) {
            assert!((-1.0..1.0).contains(&p[0]) && (-1.0..1.0).contains(&p[1]));
            assert!(checker_is_white(p[0], p[1]), "{p:?}");
            let i = ((p[0] + 1.0) * 2.0).floor() as usize;
            let j = ((p[1] + 1.0) * 2.0).floor() as usize;
            counts[j * 4 + i] += 1;
        }
        let expect = n as f64 / 8.0;
        for j in 0..4 {
            for i in 0..4 {
                let c = counts[j * 4 + i] as f64;
                if (i + j) % 2 == 0 {
                    // ±5σ of a binomial count (σ ≈ 93 here).
                    assert!(
                        (c - expect).abs() < 5.0 * (expect * 7.0 / 8.0).sqrt(),
                        "{counts:?}"
                    );
                } else {
                    assert_eq!(c, 0.0);
                }
            }
        }
        // Uniform within the cells too: mean of the in-cell offset ≈ 0.25.
        let mean_off: f64 = pts
            .chunks_exact(2)
            .map(|p| f64::from((p[0] + 1.0) % 0.5))
            .sum::<f64>()
            / n as f64;
        assert!((mean_off - 0.25).abs() < 0.003, "{mean_off}");
    }

    #[test]
    fn gaussian_moments_match_constants() {
        let n = 100_000;
        let d = Toy::Gaussian.dataset(n, 2);
        let (m, s) = d.stats();
        assert!((f64::from(m[0]) - GAUSSIAN_MEAN[0]).abs() < 0.02);
        assert!((f64::from(m[1]) - GAUSSIAN_MEAN[1]).abs() < 0.04);
        assert!((f64::from(s[0]) - GAUSSIAN_STD[0]).abs() < 0.02);
        assert!((f64::from(s[1]) - GAUSSIAN_STD[1]).abs() < 0.04);
        let cov: f64 = d
            .data
            .chunks_exact(2)
            .map(|p| (f64::from(p[0]) - f64::from(m[0])) * (f64::from(p[1]) - f64::from(m[1])))
            .sum::<f64>()
            / n as f64;
        assert!((cov - GAUSSIAN_COV[0][1]).abs() < 0.05, "{cov}");
        assert_eq!(GAUSSIAN_COV, [[1.0, 1.6], [1.6, 4.0]]);
    }

    #[test]
    fn eight_gaussians_and_rings_sit_on_their_radii() {
        for p in Toy::EightGaussians.sample(2000, 3).chunks_exact(2) {
            let r = f64::from(p[0]).hypot(f64::from(p[1]));
            assert!((r - EIGHT_GAUSSIANS_RADIUS).abs() < 6.0 * EIGHT_GAUSSIANS_STD);
        }
        for p in Toy::Rings.sample(2000, 3).chunks_exact(2) {
            let r = f64::from(p[0]).hypot(f64::from(p[1]));
            let near = RING_RADII
                .iter()
                .map(|&q| (r - q).abs())
                .fold(f64::MAX, f64::min);
            assert!(near < 6.0 * CURVE_NOISE_STD);
        }
    }

    #[test]
    fn the_sharp_sets_have_their_stated_structure() {
        // Arcs: every point within 6σ of one of the three unit circles, on its outer third.
        for p in Toy::Arcs.sample(3000, 4).chunks_exact(2) {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            let on_one = (0..3).any(|k| {
                let dir = 2.0 * PI / 3.0 * k as f64;
                let (cx, cy) = (ARC_OFFSET * dir.cos(), ARC_OFFSET * dir.sin());
                let r = (x - cx).hypot(y - cy);
                let outward = (x - cx) * dir.cos() + (y - cy) * dir.sin();
                (r - 1.0).abs() < 6.0 * THIN_NOISE_STD && outward > 0.5 - 0.1
            });
            assert!(on_one, "{p:?}");
        }
        // Specks: within 6σ of a grid point.
        for p in Toy::Specks.sample(3000, 4).chunks_exact(2) {
            for v in p {
                let v = f64::from(*v);
                assert!((v - v.round()).abs() < 6.0 * SPECK_STD && v.round().abs() <= 2.0);
            }
        }
        // Unequal: the corner frequencies match the weights (±5σ of a binomial count).
        let n = 40_000;
        let mut counts = [0usize; 4];
        for p in Toy::Unequal.sample(n, 4).chunks_exact(2) {
            let k = match (p[0] > 0.0, p[1] > 0.0) {
                (false, false) => 0,
                (true, false) => 1,
                (true, true) => 2,
                (false, true) => 3,
            };
            counts[k] += 1;
        }
        for (c, w) in counts.iter().zip(UNEQUAL_WEIGHTS) {
            let expect = w * n as f64;
            assert!(
                (*c as f64 - expect).abs() < 5.0 * (expect * (1.0 - w)).sqrt(),
                "{counts:?}"
            );
        }
        // Holed square: inside the square, never in the hole, and reaching near it.
        let mut closest = f64::MAX;
        for p in Toy::HoledSquare.sample(5000, 4).chunks_exact(2) {
            let (x, y) = (f64::from(p[0]), f64::from(p[1]));
            assert!(x.abs() <= 2.0 && y.abs() <= 2.0);
            let r = x.hypot(y);
            assert!(r >= HOLE_RADIUS - 1e-6, "{p:?}");
            closest = closest.min(r);
        }
        assert!(closest < HOLE_RADIUS + 0.05);
        // Mixed: every point inside the drawing's bounding box.
        for p in Toy::Mixed.sample(3000, 4).chunks_exact(2) {
            assert!(p[0].abs() < 3.0 && p[1].abs() < 3.0, "{p:?}");
        }
    }
}
