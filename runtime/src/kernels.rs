//! Numeric kernels: activations, the batch-1 GEMV path and the batched sgemm path.
//!
//! A linear layer is `dst[b, j] = bias[j] + Σ_k W[j, off + k] · src[b, k]` with `W` stored
//! row-major `[out, ld]` (PyTorch's `Linear` layout); `off`/`ld` let layer 0 use only the
//! state columns of its weight (the time-embedding columns are folded into its bias).

use crate::schema::Activation;

/// √(2/π), the GELU-tanh constant.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// 1/√2.
const FRAC_1_SQRT_2: f32 = core::f32::consts::FRAC_1_SQRT_2;

/// Applies one activation to a scalar.
#[inline]
pub(crate) fn activate(act: Activation, x: f32) -> f32 {
    match act {
        Activation::GeluTanh => {
            0.5 * x * (1.0 + libm::tanhf(SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)))
        }
        Activation::GeluErf => 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2)),
        Activation::Silu => x / (1.0 + libm::expf(-x)),
        Activation::Relu => {
            if x > 0.0 {
                x
            } else {
                0.0
            }
        }
    }
}

/// Applies an activation in place (one tight loop per activation kind).
pub(crate) fn activate_slice(act: Activation, xs: &mut [f32]) {
    match act {
        Activation::GeluTanh => xs
            .iter_mut()
            .for_each(|x| *x = activate(Activation::GeluTanh, *x)),
        Activation::GeluErf => xs
            .iter_mut()
            .for_each(|x| *x = activate(Activation::GeluErf, *x)),
        Activation::Silu => xs
            .iter_mut()
            .for_each(|x| *x = activate(Activation::Silu, *x)),
        Activation::Relu => xs.iter_mut().for_each(|x| *x = x.max(0.0)),
    }
}

/// Dot product with 8 independent accumulators (vectorises without target features; the
/// summation order is fixed, so results are deterministic).
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// Shape of one linear layer application.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LinearShape {
    /// Batch rows.
    pub batch: usize,
    /// Input features used (columns of `src`, and of `W` starting at `off`).
    pub k: usize,
    /// Output features (rows of `W`).
    pub n: usize,
    /// Row stride of `W`.
    pub ld: usize,
    /// First column of `W` used.
    pub off: usize,
}

/// `dst[batch × n] = src[batch × k] · W[:, off..off+k]ᵀ + bias`, no activation.
///
/// Batch 1 uses row dots over `W` (matrixmultiply packs both operands on every call, which
/// dominates at batch 1); larger batches use `sgemm` with `C` initialised to the bias and
/// `beta = 1`.
///
/// # Panics
/// Never for consistent shapes; the caller guarantees `src.len() >= batch·k`,
/// `dst.len() >= batch·n`, `bias.len() == n`, `w.len() == n·ld`, `off + k <= ld`. These are
/// asserted (cheaply, once per call) because the sgemm call relies on them.
pub(crate) fn linear(w: &[f32], bias: &[f32], s: LinearShape, src: &[f32], dst: &mut [f32]) {
    let LinearShape {
        batch,
        k,
        n,
        ld,
        off,
    } = s;
    assert!(
        src.len() >= batch * k
            && dst.len() >= batch * n
            && bias.len() == n
            && w.len() == n * ld
            && off + k <= ld,
        "linear: inconsistent shapes"
    );
    if batch == 1 {
        let x = &src[..k];
        for (j, (d, b)) in dst[..n].iter_mut().zip(bias).enumerate() {
            let row = &w[j * ld + off..j * ld + off + k];
            *d = b + dot(row, x);
        }
        return;
    }
    let c = &mut dst[..batch * n];
    for row in c.chunks_exact_mut(n) {
        row.copy_from_slice(bias);
    }
    // SAFETY: sgemm reads A = src as a batch×k matrix (row stride k, col stride 1): the
    // largest index is (batch−1)·k + k−1 < batch·k <= src.len(). It reads B = Wᵀ restricted
    // to columns off..off+k of W as a k×n matrix with element (p, j) at w[off + p + j·ld]:
    // the largest index is off + k−1 + (n−1)·ld < n·ld = w.len() since off + k <= ld. It
    // writes C = c as a batch×n matrix (row stride n): largest index batch·n − 1 < c.len().
    // All three are distinct allocations (c is a unique borrow), and the dimensions are
    // bounded by the loader (widths <= MAX_WIDTH) and the workspace, so the isize strides
    // cannot overflow.
    unsafe {
        matrixmultiply::sgemm(
            batch,
            k,
            n,
            1.0,
            src.as_ptr(),
            k as isize,
            1,
            w.as_ptr().add(off),
            1,
            ld as isize,
            1.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn activations_match_hand_values() {
        // Reference values computed in f64 from the formulas.
        let cases: [(Activation, f32, f32); 12] = [
            (Activation::GeluTanh, 1.0, 0.841_191_99),
            (Activation::GeluTanh, -1.0, -0.158_808_01),
            (Activation::GeluTanh, 0.0, 0.0),
            (Activation::GeluErf, 1.0, 0.841_344_75),
            (Activation::GeluErf, -1.0, -0.158_655_25),
            (Activation::GeluErf, 2.0, 1.954_499_7),
            (Activation::Silu, 1.0, 0.731_058_6),
            (Activation::Silu, -2.0, -0.238_405_84),
            (Activation::Silu, 0.0, 0.0),
            (Activation::Relu, 1.5, 1.5),
            (Activation::Relu, -1.5, 0.0),
            (Activation::Relu, 0.0, 0.0),
        ];
        for (act, x, want) in cases {
            let got = activate(act, x);
            assert!(close(got, want, 1e-6), "{act:?}({x}) = {got}, want {want}");
            let mut v = [x];
            activate_slice(act, &mut v);
            assert_eq!(v[0].to_bits(), got.to_bits(), "{act:?} slice vs scalar");
        }
        // GELU-tanh at 3: 0.5·3·(1 + tanh(√(2/π)·(3 + 0.044715·27))).
        let g = activate(Activation::GeluTanh, 3.0);
        assert!(close(g, 2.996_362_7, 1e-6), "{g}");
    }

    #[test]
    fn dot_matches_naive() {
        for n in [0usize, 1, 7, 8, 9, 17, 64, 100] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!(close(dot(&a, &b), naive as f32, 1e-5), "n = {n}");
        }
    }

    #[test]
    fn gemv_path_equals_sgemm_path() {
        // Integer-valued weights and inputs: every partial sum is exact, so the two paths
        // (different summation orders) must agree bit for bit.
        let (n, ld, off, k, batch) = (5usize, 13usize, 2usize, 11usize, 4usize);
        let w: Vec<f32> = (0..n * ld).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
        let bias: Vec<f32> = (0..n).map(|j| j as f32 - 2.0).collect();
        let src: Vec<f32> = (0..batch * k).map(|i| ((i * 3) % 7) as f32 - 3.0).collect();
        let shape = LinearShape {
            batch,
            k,
            n,
            ld,
            off,
        };
        let mut batched = alloc::vec![0.0f32; batch * n];
        linear(&w, &bias, shape, &src, &mut batched);
        for b in 0..batch {
            let mut one = alloc::vec![0.0f32; n];
            let s1 = LinearShape { batch: 1, ..shape };
            linear(&w, &bias, s1, &src[b * k..(b + 1) * k], &mut one);
            // Also against a naive reference.
            for j in 0..n {
                let want: f32 = bias[j]
                    + (0..k)
                        .map(|p| w[j * ld + off + p] * src[b * k + p])
                        .sum::<f32>();
                assert_eq!(one[j], want);
                assert_eq!(batched[b * n + j], want);
            }
        }
        // Non-integer data: the paths agree to rounding.
        let w: Vec<f32> = (0..n * ld).map(|i| (i as f32 * 0.731).sin()).collect();
        let src: Vec<f32> = (0..batch * k).map(|i| (i as f32 * 0.29).cos()).collect();
        linear(&w, &bias, shape, &src, &mut batched);
        for b in 0..batch {
            let mut one = alloc::vec![0.0f32; n];
            let s1 = LinearShape { batch: 1, ..shape };
            linear(&w, &bias, s1, &src[b * k..(b + 1) * k], &mut one);
            for j in 0..n {
                assert!(close(one[j], batched[b * n + j], 1e-5));
            }
        }
    }
}
