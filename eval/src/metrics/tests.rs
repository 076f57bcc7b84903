use super::distance::{mean_cross, sum_pairs};
use super::*;
use crate::datasets::{Rng, Toy};
use std::f64::consts::{LN_2, PI};

fn normals(n: usize, dim: usize, mean: &[f64], std: f64, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n * dim)
        .map(|i| (mean[i % dim] + std * r.normal()) as f32)
        .collect()
}

/// erf by Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), enough for a closed-form check.
fn erf(x: f64) -> f64 {
    let s = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    s * (1.0 - poly * (-x * x).exp())
}

#[test]
fn energy_hand_values() {
    assert_eq!(energy_distance(&[0.0], &[1.0], 1), 2.0);
    // a = {0, 2}, b = {1}: E|X−Y| = 1, E|X−X'| = (0+2+2+0)/4 = 1, E|Y−Y'| = 0 → 2 − 1 = 1.
    assert!((energy_distance(&[0.0, 2.0], &[1.0], 1) - 1.0).abs() < 1e-12);
    // 2-D: single points at distance 5 → 10.
    assert!((energy_distance(&[0.0, 0.0], &[3.0, 4.0], 2) - 10.0).abs() < 1e-12);
}

#[test]
fn energy_identical_zero_and_symmetric() {
    let a = Toy::TwoMoons.sample(300, 1);
    let b = Toy::TwoMoons.sample(200, 2);
    assert!(energy_distance(&a, &a, 2) < 1e-12);
    let (ab, ba) = (energy_distance(&a, &b, 2), energy_distance(&b, &a, 2));
    assert!((ab - ba).abs() < 1e-12 && ab > 0.0);
}

#[test]
fn energy_matches_gaussian_closed_form() {
    // X ~ N(0,1), Y ~ N(μ,1): X−Y ~ N(−μ, 2), so E|X−Y| = (2/√π)e^{−μ²/4} + μ·erf(μ/2) and
    // E|X−X'| = E|Y−Y'| = 2/√π. Sampling sd at n = 2000 is ≈ 0.01; tolerance 0.04.
    for (mu, seed) in [(1.0, 10), (0.5, 20), (2.0, 30)] {
        let exy = 2.0 / PI.sqrt() * (-mu * mu / 4.0f64).exp() + mu * erf(mu / 2.0);
        let exact = 2.0 * exy - 4.0 / PI.sqrt();
        let a = normals(2000, 1, &[0.0], 1.0, seed);
        let b = normals(2000, 1, &[mu], 1.0, seed + 1);
        let e = energy_distance(&a, &b, 1);
        assert!((e - exact).abs() < 0.04, "mu={mu}: {e} vs {exact}");
    }
}

#[test]
fn energy_subsamples_large_inputs_deterministically() {
    let a = normals(ENERGY_MAX_POINTS + 500, 1, &[0.0], 1.0, 1);
    let b = normals(100, 1, &[0.0], 1.0, 2);
    let e1 = energy_distance(&a, &b, 1);
    assert_eq!(e1, energy_distance(&a, &b, 1));
    assert!(e1.is_finite() && e1 < 0.1);
}

#[test]
fn w2_hand_values() {
    // 1-D: the only directions are ±1, so the result is exact.
    assert!((sliced_w2(&[0.0, 1.0], &[2.0, 3.0], 1, 4, 0) - 2.0).abs() < 1e-12);
    // Unequal sizes: {0,1} vs {0.5}: both halves off by 0.5 → W2 = 0.5.
    assert!((sliced_w2(&[0.0, 1.0], &[0.5], 1, 3, 0) - 0.5).abs() < 1e-12);
    // {0,1,2,3} vs {0,2}: quantile gaps 0,1,0,1 → W2² = 0.5.
    assert!((w2_sq_sorted(&[0.0, 1.0, 2.0, 3.0], &[0.0, 2.0]) - 0.5).abs() < 1e-12);
    assert!((w2_sq_sorted(&[0.0, 2.0], &[0.0, 1.0, 2.0, 3.0]) - 0.5).abs() < 1e-12);
    // {0,3} vs {0,1,2}: q∈[0,1/3) 0−0, [1/3,1/2) 0−1, [1/2,2/3) 3−1, [2/3,1] 3−2 → 1/6+4/6+1/3.
    assert!(
        (w2_sq_sorted(&[0.0, 3.0], &[0.0, 1.0, 2.0]) - (1.0 / 6.0 + 4.0 / 6.0 + 1.0 / 3.0)).abs()
            < 1e-12
    );
}

#[test]
fn w2_identical_zero_symmetric_deterministic() {
    let a = Toy::Spirals.sample(500, 1);
    let b = Toy::Spirals.sample(400, 2);
    assert_eq!(sliced_w2(&a, &a, 2, 16, 3), 0.0);
    let ab = sliced_w2(&a, &b, 2, 16, 3);
    assert!((ab - sliced_w2(&b, &a, 2, 16, 3)).abs() < 1e-12);
    assert_eq!(ab, sliced_w2(&a, &b, 2, 16, 3));
}

#[test]
fn w2_pure_translation_averages_cos_squared() {
    // b = a + (1, 0): every projection is shifted by cos θ exactly, so SW2² = mean cos²θ ≈ ½.
    let a = Toy::Gaussian.sample(200, 1);
    let b: Vec<f32> = a.chunks_exact(2).flat_map(|p| [p[0] + 1.0, p[1]]).collect();
    let v = sliced_w2(&a, &b, 2, 2000, 5);
    assert!((v * v - 0.5).abs() < 0.03, "{v}");
}

#[test]
fn w2_matches_isotropic_gaussian_closed_form() {
    // N((0,0), I) vs N((2,0), 4I): SW2² = |Δμ|²/d + (σ₁−σ₂)² = 2 + 1 = 3.
    let a = normals(4000, 2, &[0.0, 0.0], 1.0, 11);
    let b = normals(4000, 2, &[2.0, 0.0], 2.0, 12);
    let v = sliced_w2(&a, &b, 2, 400, 13);
    assert!((v - 3f64.sqrt()).abs() < 0.06, "{v}");
    // Same in 5-D: |Δμ|²/5 = 0.8 for Δμ = (2,0,0,0,0), plus (1−1.5)² = 0.25.
    let a = normals(3000, 5, &[0.0; 5], 1.0, 14);
    let b = normals(3000, 5, &[2.0, 0.0, 0.0, 0.0, 0.0], 1.5, 15);
    let v = sliced_w2(&a, &b, 5, 400, 16);
    assert!((v - 1.05f64.sqrt()).abs() < 0.06, "{v}");
}

#[test]
fn mmd_hand_values_identical_and_symmetric() {
    // One point each at distance 1: k(x,x) = k(y,y) = 1, k(x,y) = e^{−1/2} per bandwidth 1.
    let v = mmd_rbf(&[0.0], &[1.0], 1, &[1.0]);
    assert!((v - (2.0 - 2.0 * (-0.5f64).exp())).abs() < 1e-12);
    let v2 = mmd_rbf(&[0.0], &[1.0], 1, &[1.0, 1.0]);
    assert!((v2 - 2.0 * v).abs() < 1e-12);
    let a = Toy::Rings.sample(300, 1);
    let b = Toy::Rings.sample(250, 2);
    assert!(mmd_rbf(&a, &a, 2, &[0.5, 1.0]) < 1e-12);
    let ab = mmd_rbf(&a, &b, 2, &[0.5, 1.0]);
    assert!((ab - mmd_rbf(&b, &a, 2, &[0.5, 1.0])).abs() < 1e-12);
    let far = mmd_rbf(&a, &Toy::EightGaussians.sample(250, 2), 2, &[0.5, 1.0]);
    assert!(far > 5.0 * ab, "{far} vs {ab}");
}

#[test]
fn median_bandwidth_hand_value_and_fallback() {
    // Pooled {0, 1, 3}: distances {1, 3, 2} → median 2.
    assert_eq!(median_bandwidth(&[0.0, 1.0], &[3.0], 1), 2.0);
    assert_eq!(median_bandwidth(&[1.0, 1.0], &[1.0], 1), 1.0);
}

#[test]
fn histogram_cells_and_outside() {
    let g = Grid2::new([0.0, 0.0], [2.0, 2.0], 2);
    assert_eq!(g.cell(0.0, 0.0), Some(0));
    assert_eq!(g.cell(1.0, 0.5), Some(1));
    assert_eq!(g.cell(0.5, 1.5), Some(2));
    assert_eq!(g.cell(2.0, 2.0), Some(3)); // hi is inside the last cell
    assert_eq!(g.cell(2.01, 1.0), None);
    assert_eq!(g.cell(f32::NAN, 1.0), None);
    let h = g.histogram(&[0.5, 0.5, 1.5, 0.5, 1.5, 0.5, 9.0, 9.0]);
    assert_eq!((h.counts.clone(), h.n, h.outside), (vec![1, 2, 0, 0], 4, 1));
    assert_eq!(h.probabilities(), vec![0.25, 0.5, 0.0, 0.0]);
    let c = Grid2::checker_reference();
    assert_eq!((c.lo, c.hi, c.bins), ([-1.1, -1.1], [1.1, 1.1], 64));
}

#[test]
fn kl_and_js_hand_values() {
    let g = Grid2::new([0.0, 0.0], [2.0, 2.0], 2);
    // p: half in cell 0, half in cell 1. q: a quarter in cell 0, three quarters in cell 1.
    let p = [0.5, 0.5, 1.5, 0.5];
    let q = [0.5, 0.5, 1.5, 0.5, 1.5, 0.5, 1.5, 0.5];
    let kl = 0.5 * (0.5f64 / 0.25).ln() + 0.5 * (0.5f64 / 0.75).ln();
    assert!((hist_kl(&p, &q, &g, 0.0) - kl).abs() < 1e-12);
    let m = [0.375f64, 0.625];
    let js = 0.5 * (0.5 * (0.5 / m[0]).ln() + 0.5 * (0.5 / m[1]).ln())
        + 0.5 * (0.25 * (0.25 / m[0]).ln() + 0.75 * (0.75 / m[1]).ln());
    assert!((hist_js(&p, &q, &g) - js).abs() < 1e-12);
    assert!((hist_js(&q, &p, &g) - js).abs() < 1e-12);
    // Disjoint supports: JS = ln 2 exactly; KL with eps is large but finite.
    let r = [0.5, 1.5];
    assert!((hist_js(&p[..2], &r, &g) - LN_2).abs() < 1e-12);
    assert!(hist_kl(&p[..2], &r, &g, 0.0).is_infinite());
    assert!(hist_kl(&p[..2], &r, &g, 1e-10).is_finite());
}

#[test]
fn js_bounded_and_zero_on_identical() {
    let g = Grid2::checker_reference();
    let a = Toy::Checkerboard.sample(5000, 1);
    assert_eq!(hist_js(&a, &a, &g), 0.0);
    assert_eq!(hist_kl(&a, &a, &g, 1e-10), 0.0);
    for (t, seed) in [
        (Toy::Gaussian, 2),
        (Toy::TwoMoons, 3),
        (Toy::Checkerboard, 4),
    ] {
        let b = t.sample(3000, seed);
        let js = hist_js(&a, &b, &g);
        assert!((0.0..=LN_2 + 1e-12).contains(&js), "{js}");
    }
}

#[test]
fn checker_js_floor_is_small_with_enough_points() {
    let g = Grid2::checker_reference();
    let a = Toy::Checkerboard.sample(100_000, 1);
    let b = Toy::Checkerboard.sample(100_000, 2);
    let js = hist_js(&a, &b, &g);
    // 2048 occupied cells of ~49 points each: JS ≈ cells/(8n)·… ≈ 0.005.
    assert!(js < 0.01, "{js}");
}

#[test]
fn report_floor_below_a_wrong_model() {
    let reference = Toy::Checkerboard.sample(1500, 1);
    let reference2 = Toy::Checkerboard.sample(1500, 2);
    let wrong = Toy::Gaussian.sample(1500, 3);
    let r = Report::compute(&wrong, &reference, &reference2, 2, &ReportConfig::checker());
    let (s, f) = (&r.samples, &r.floor);
    assert!(s.energy > 10.0 * f.energy);
    assert!(s.sliced_w2 > 3.0 * f.sliced_w2);
    assert!(s.mmd > 10.0 * f.mmd);
    // 1500 points over 4096 cells leave a high JS floor (≈ 0.3); the gap is still clear.
    assert!(s.js.unwrap() > f.js.unwrap() + 0.03);
    assert!(s.kl.unwrap() > f.kl.unwrap());
    assert!(s.outside.unwrap() > 0.3 && f.outside.unwrap() == 0.0);
    assert_eq!((r.n_samples, r.n_reference), (1500, 1500));
    let header = Report::table_header();
    let row = r.table_row("gaussian");
    assert!(row.starts_with("gaussian"));
    assert_eq!(header.split_whitespace().count(), 1 + 2 * 5);
    assert_eq!(row.split_whitespace().count(), 1 + 2 * 5);
    // Without a grid the histogram columns read "-".
    let r = Report::compute(&wrong, &reference, &reference2, 2, &ReportConfig::default());
    assert!(r.samples.kl.is_none() && r.table_row("x").contains("- (-)"));
}

#[test]
fn energy_unbiased_hand_values() {
    // a = {0, 2}, b = {1, 3}: cross (1+3+1+1)/4 = 1.5; within a 2, within b 2 → 3 − 4 = −1.
    assert!((energy_distance_unbiased(&[0.0, 2.0], &[1.0, 3.0], 1) + 1.0).abs() < 1e-12);
    // a = {0, 1}, b = {5, 7}: cross (5+7+4+6)/4 = 5.5; within 1 and 2 → 11 − 3 = 8.
    assert!((energy_distance_unbiased(&[0.0, 1.0], &[5.0, 7.0], 1) - 8.0).abs() < 1e-12);
    // 2-D: a = {(0,0),(3,4)}, b = {(0,0),(0,1)}: cross (0 + 1 + 5 + √18)/4; within 5 and 1.
    let want = 2.0 * (6.0 + 18f64.sqrt()) / 4.0 - 6.0;
    let got = energy_distance_unbiased(&[0.0, 0.0, 3.0, 4.0], &[0.0, 0.0, 0.0, 1.0], 2);
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
}

#[test]
fn energy_unbiased_relates_to_the_v_statistic() {
    // V = 2C − (n−1)/n·W_a − (m−1)/m·W_b where W are the U within-means and C the cross mean.
    let a = Toy::TwoMoons.sample(300, 5);
    let b = Toy::Rings.sample(200, 6);
    let k = |d2: f64| d2.sqrt();
    let c = mean_cross(&a, &b, 2, &k);
    let wa = 2.0 * sum_pairs(&a, 2, &k) / (300.0 * 299.0);
    let wb = 2.0 * sum_pairs(&b, 2, &k) / (200.0 * 199.0);
    let u = energy_distance_unbiased(&a, &b, 2);
    assert!((u - (2.0 * c - wa - wb)).abs() < 1e-9);
    let v = energy_distance(&a, &b, 2);
    let v_from_u = 2.0 * c - 299.0 / 300.0 * wa - 199.0 / 200.0 * wb;
    assert!((v - v_from_u).abs() < 1e-9, "{v} vs {v_from_u}");
    assert!(v > u, "the V-statistic carries a positive bias");
}

#[test]
fn energy_unbiased_floor_is_zero_on_average() {
    // Same distribution: the V-statistic's mean is clearly positive, the U-statistic's is 0
    // within a few standard errors.
    let reps = 200;
    let (mut us, mut vs) = (Vec::new(), Vec::new());
    for r in 0..reps {
        let a = normals(40, 2, &[0.0, 0.0], 1.0, 1000 + 2 * r);
        let b = normals(40, 2, &[0.0, 0.0], 1.0, 1001 + 2 * r);
        us.push(energy_distance_unbiased(&a, &b, 2));
        vs.push(energy_distance(&a, &b, 2));
    }
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let (mu, mv) = (mean(&us), mean(&vs));
    let sd = (us.iter().map(|u| (u - mu).powi(2)).sum::<f64>() / (reps as f64 - 1.0)).sqrt();
    let se = sd / (reps as f64).sqrt();
    assert!(mu.abs() < 4.0 * se, "U mean {mu} (se {se})");
    assert!(mv > mu + 10.0 * se, "V mean {mv} should carry the bias");
    assert!(us.iter().any(|&u| u < 0.0), "U is not clamped");
}

#[test]
#[should_panic(expected = "at least 2 rows")]
fn energy_unbiased_needs_two_rows() {
    energy_distance_unbiased(&[0.0], &[1.0, 2.0], 1);
}

#[test]
fn energy_caps_shrink_only_above_64_dimensions() {
    assert_eq!(energy_cap(ENERGY_U_MAX_POINTS, 2), 8000);
    assert_eq!(energy_cap(ENERGY_U_MAX_POINTS, 64), 8000);
    // 28×28 images: 8000·√(64/784) = 2285.7 → 2285 points, the pair cost of 64 dimensions.
    assert_eq!(energy_cap(ENERGY_U_MAX_POINTS, 784), 2285);
    assert_eq!(energy_cap(ENERGY_MAX_POINTS, 784), 1142);
}
