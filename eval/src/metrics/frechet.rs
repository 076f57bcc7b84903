//! Fréchet distance between Gaussian fits of two feature sets (the FID formula, here on the
//! Fashion-MNIST classifier's features), with the symmetric eigendecomposition it needs.
//!
//! `FD = ‖μ₁ − μ₂‖² + tr(S₁ + S₂ − 2 (S₁^{1/2} S₂ S₁^{1/2})^{1/2})`. Both square roots are of
//! symmetric positive semi-definite matrices, so a symmetric eigendecomposition (cyclic
//! Jacobi, f64) gives them exactly, with no general matrix square root (whose complex
//! round-off the usual scipy route has to discard).

/// Mean and covariance of a set of row vectors, in f64.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianFit {
    /// Dimension.
    pub dim: usize,
    /// Mean, `dim` values.
    pub mean: Vec<f64>,
    /// Covariance with the unbiased `1/(n − 1)` normalisation (as `numpy.cov`, which FID
    /// implementations use), row-major `dim × dim`.
    pub cov: Vec<f64>,
}

impl GaussianFit {
    /// The fit of `x` (row-major, `dim` values per row).
    ///
    /// # Panics
    /// If `dim` is 0, `x` is not a whole number of rows, or it has fewer than 2 rows
    /// (programming errors, as for the other metrics).
    pub fn of(x: &[f32], dim: usize) -> Self {
        assert!(dim > 0, "GaussianFit: dim must be positive");
        assert!(
            x.len() % dim == 0,
            "GaussianFit: {} values are not whole rows of {dim}",
            x.len()
        );
        let n = x.len() / dim;
        assert!(n >= 2, "GaussianFit: needs at least 2 rows, got {n}");
        let mut mean = vec![0.0f64; dim];
        for row in x.chunks_exact(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        // Upper triangle of Σ (x − μ)(x − μ)ᵀ, then mirrored.
        let mut cov = vec![0.0f64; dim * dim];
        let mut centred = vec![0.0f64; dim];
        for row in x.chunks_exact(dim) {
            for ((c, &v), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = f64::from(v) - m;
            }
            for i in 0..dim {
                let ci = centred[i];
                for (o, cj) in cov[i * dim + i..(i + 1) * dim]
                    .iter_mut()
                    .zip(&centred[i..])
                {
                    *o += ci * cj;
                }
            }
        }
        for i in 0..dim {
            for j in i..dim {
                let v = cov[i * dim + j] / (n - 1) as f64;
                cov[i * dim + j] = v;
                cov[j * dim + i] = v;
            }
        }
        GaussianFit { dim, mean, cov }
    }
}

/// Eigenvalues and eigenvectors of the symmetric `n × n` matrix `a` (row-major) by cyclic
/// Jacobi rotations: `a = V diag(λ) Vᵀ`, the eigenvectors being the columns of `V` (returned
/// row-major). Sweeps stop once the off-diagonal mass is below 1e-30 of the whole (or after 100).
///
/// # Panics
/// If `a.len() != n * n`.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(a.len(), n * n, "symmetric_eigen: not an {n}x{n} matrix");
    let mut a = a.to_vec();
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off <= 1e-30 * total || off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a_pq (tan θ = t, the smaller root, for stability).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                a[p * n + q] = 0.0;
                a[q * n + p] = 0.0;
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// `V diag(f(λ)) Vᵀ` for an eigendecomposition from [`symmetric_eigen`].
fn spectral_map(values: &[f64], vectors: &[f64], f: impl Fn(f64) -> f64) -> Vec<f64> {
    let n = values.len();
    let fl: Vec<f64> = values.iter().map(|&l| f(l)).collect();
    let mut out = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i..n {
            let s: f64 = (0..n)
                .map(|k| vectors[i * n + k] * fl[k] * vectors[j * n + k])
                .sum();
            out[i * n + j] = s;
            out[j * n + i] = s;
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            let aik = a[i * n + k];
            for (o, &bkj) in out[i * n..(i + 1) * n]
                .iter_mut()
                .zip(&b[k * n..(k + 1) * n])
            {
                *o += aik * bkj;
            }
        }
    }
    out
}

/// Fréchet distance between two Gaussians (see the module docs). Negative eigenvalues (round-off
/// of a semi-definite matrix) are taken as 0; a result below 0 by round-off is returned as 0.
///
/// # Panics
/// If the fits have different dimensions.
pub fn frechet_distance_fits(a: &GaussianFit, b: &GaussianFit) -> f64 {
    assert_eq!(a.dim, b.dim, "frechet_distance: dimensions differ");
    let n = a.dim;
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let (la, va) = symmetric_eigen(&a.cov, n);
    let root_a = spectral_map(&la, &va, |l| l.max(0.0).sqrt());
    let mut m = matmul(&matmul(&root_a, &b.cov, n), &root_a, n);
    // Symmetric in exact arithmetic; remove the round-off asymmetry before Jacobi.
    for i in 0..n {
        for j in i + 1..n {
            let s = 0.5 * (m[i * n + j] + m[j * n + i]);
            m[i * n + j] = s;
            m[j * n + i] = s;
        }
    }
    let (lm, _) = symmetric_eigen(&m, n);
    let cross: f64 = lm.iter().map(|l| l.max(0.0).sqrt()).sum();
    let trace = |c: &[f64]| (0..n).map(|i| c[i * n + i]).sum::<f64>();
    (mean_term + trace(&a.cov) + trace(&b.cov) - 2.0 * cross).max(0.0)
}

/// Fréchet distance between Gaussian fits of two sets of `dim`-dimensional rows.
///
/// # Panics
/// As [`GaussianFit::of`] on malformed input.
pub fn frechet_distance(a: &[f32], b: &[f32], dim: usize) -> f64 {
    frechet_distance_fits(&GaussianFit::of(a, dim), &GaussianFit::of(b, dim))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::Rng;

    fn fit(mean: Vec<f64>, cov: Vec<f64>) -> GaussianFit {
        GaussianFit {
            dim: mean.len(),
            mean,
            cov,
        }
    }

    fn diag(d: &[f64]) -> Vec<f64> {
        let n = d.len();
        let mut m = vec![0.0; n * n];
        for (i, &x) in d.iter().enumerate() {
            m[i * n + i] = x;
        }
        m
    }

    /// A random orthogonal matrix (Gram–Schmidt of normal draws).
    fn rotation(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        let mut q: Vec<Vec<f64>> = Vec::new();
        while q.len() < n {
            let mut v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
            for u in &q {
                let d: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= d * b);
            }
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            q.push(v.into_iter().map(|a| a / norm).collect());
        }
        q.concat()
    }

    fn transpose(a: &[f64], n: usize) -> Vec<f64> {
        (0..n * n).map(|k| a[(k % n) * n + k / n]).collect()
    }

    /// R diag(d) Rᵀ.
    fn rotated(r: &[f64], d: &[f64]) -> Vec<f64> {
        let n = d.len();
        matmul(&matmul(r, &diag(d), n), &transpose(r, n), n)
    }

    #[test]
    fn jacobi_reconstructs_a_symmetric_matrix() {
        let n = 6;
        let r = rotation(n, 3);
        let eig = [5.0, 3.0, 2.5, 1.0, 0.1, 0.0];
        let a = rotated(&r, &eig);
        let (l, v) = symmetric_eigen(&a, n);
        let mut sorted = l.clone();
        sorted.sort_by(|x, y| y.total_cmp(x));
        for (x, y) in sorted.iter().zip(eig) {
            assert!((x - y).abs() < 1e-12, "{sorted:?}");
        }
        let back = spectral_map(&l, &v, |x| x);
        for (x, y) in back.iter().zip(&a) {
            assert!((x - y).abs() < 1e-12);
        }
        let vtv = matmul(&transpose(&v, n), &v, n);
        for (k, x) in vtv.iter().enumerate() {
            let want = if k % (n + 1) == 0 { 1.0 } else { 0.0 };
            assert!((x - want).abs() < 1e-12, "VᵀV = I");
        }
    }

    #[test]
    fn diagonal_covariances_give_the_closed_form() {
        // FD = |Δμ|² + Σ (√a_i − √b_i)²: 1 + 4 + (3−1)² + (2−0.5)² + (0−1)² = 12.25.
        let a = fit(vec![1.0, 0.0, 2.0], diag(&[9.0, 4.0, 0.0]));
        let b = fit(vec![0.0, 2.0, 2.0], diag(&[1.0, 0.25, 1.0]));
        let fd = frechet_distance_fits(&a, &b);
        assert!((fd - 12.25).abs() < 1e-12, "{fd}");
    }

    #[test]
    fn commuting_covariances_give_the_closed_form_in_their_eigenbasis() {
        // S₁ = R diag(a) Rᵀ and S₂ = R diag(b) Rᵀ commute: FD = |Δμ|² + Σ (√a_i − √b_i)².
        let n = 5;
        let r = rotation(n, 11);
        let (da, db) = ([4.0, 1.0, 0.5, 2.0, 9.0], [1.0, 1.0, 2.0, 0.0, 16.0]);
        let a = fit(vec![0.5; n], rotated(&r, &da));
        let b = fit(vec![0.0, 0.0, 0.0, 0.0, 1.5], rotated(&r, &db));
        let want = 4.0 * 0.25
            + 1.0
            + da.iter()
                .zip(db)
                .map(|(x, y): (&f64, f64)| (x.sqrt() - y.sqrt()).powi(2))
                .sum::<f64>();
        let fd = frechet_distance_fits(&a, &b);
        assert!((fd - want).abs() < 1e-10, "{fd} vs {want}");
    }

    #[test]
    fn from_samples_by_hand_identical_and_symmetric() {
        // 1-D: {0, 2} has mean 1, variance 2; {1, 5} mean 3, variance 8 (1/(n−1)):
        // FD = 2² + (√2 − √8)² = 4 + 2 = 6.
        let fd = frechet_distance(&[0.0, 2.0], &[1.0, 5.0], 1);
        assert!((fd - 6.0).abs() < 1e-12, "{fd}");
        let mut rng = Rng::new(5);
        let x: Vec<f32> = (0..400 * 8).map(|_| rng.normal_f32()).collect();
        let y: Vec<f32> = (0..300 * 8).map(|_| 1.5 * rng.normal_f32() + 0.2).collect();
        assert!(frechet_distance(&x, &x, 8) < 1e-9, "identical sets");
        let (xy, yx) = (frechet_distance(&x, &y, 8), frechet_distance(&y, &x, 8));
        assert!(xy > 0.5, "different sets are apart: {xy}");
        assert!((xy - yx).abs() < 1e-9 * xy, "symmetric: {xy} vs {yx}");
    }

    #[test]
    fn covariance_is_the_unbiased_one() {
        let f = GaussianFit::of(&[0.0, 0.0, 2.0, 4.0, 4.0, 2.0], 2);
        assert_eq!(f.mean, vec![2.0, 2.0]);
        // Centred rows (−2,−2), (0,2), (2,0): Σ = [[8, 4], [4, 8]] / 2.
        assert_eq!(f.cov, vec![4.0, 2.0, 2.0, 4.0]);
    }
}
