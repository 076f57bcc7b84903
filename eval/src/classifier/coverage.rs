//! Class coverage: how evenly a sample spreads over the classifier's classes.

/// The predicted-class histogram of a sample against the uniform distribution (Fashion-MNIST's
/// splits are balanced, so a model that covers every class gives ≈ 1/10 each).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Coverage {
    /// Fraction of the sample predicted as each class.
    pub fractions: Vec<f64>,
    /// Total variation distance to uniform, `½ Σ |f_k − 1/K|`: 0 for a perfectly even spread,
    /// `1 − 1/K` when every image falls in one class.
    pub tv_to_uniform: f64,
    /// Smallest class fraction (0 when a class is never produced).
    pub min_fraction: f64,
    /// Largest class fraction.
    pub max_fraction: f64,
}

/// Coverage of predicted `classes` over `k` classes (a value ≥ `k` counts in the total but in
/// no class). An empty sample gives all-zero fractions and `tv_to_uniform` ½.
pub fn class_coverage(classes: &[usize], k: usize) -> Coverage {
    let mut counts = vec![0usize; k];
    for &c in classes {
        if let Some(n) = counts.get_mut(c) {
            *n += 1;
        }
    }
    let total = classes.len().max(1) as f64;
    let fractions: Vec<f64> = counts.iter().map(|&n| n as f64 / total).collect();
    let uniform = 1.0 / k.max(1) as f64;
    Coverage {
        tv_to_uniform: 0.5 * fractions.iter().map(|f| (f - uniform).abs()).sum::<f64>(),
        min_fraction: fractions.iter().copied().fold(f64::INFINITY, f64::min),
        max_fraction: fractions.iter().copied().fold(0.0, f64::max),
        fractions,
    }
}
