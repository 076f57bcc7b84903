//! Numeric kernels: activations and the dense-layer kernel.
//!
//! A layer computes `dst[b, j] = act(bias[j] + Σ_p W[j, p] · src[b, p])`. At load time each
//! weight matrix (PyTorch `[out, in]` layout) is repacked into column panels of [`NR`]
//! outputs: `panels[q][p][c] = W[q·NR + c, p]` (zero-padded past `out`), so the kernel reads
//! every weight exactly once per tile with unit stride and keeps an `MR × (NP·NR)` block of
//! outputs in registers. The same kernel serves batch 1 (one row, four panels at a time) and
//! large batches (four rows at a time), and it allocates nothing.
//!
//! Why not `matrixmultiply::sgemm`: it allocates its packing buffers on every call (so the
//! hot path would allocate), and at batch 1 its per-call packing makes it several times
//! slower than a plain pass over the weights.
//!
//! **Determinism.** Each output is `((bias + a₀w₀) + a₁w₁) + …` in input order with IEEE
//! multiply and add (never fused), whatever the tile shape or instruction set: the batch-1
//! and batched paths, and the SSE2 and AVX2 builds, give bit-identical results.

use alloc::vec;
use alloc::vec::Vec;

use crate::schema::Activation;

/// Output columns per packed panel (one AVX register, two SSE registers).
pub(crate) const NR: usize = 8;

/// √(2/π), the GELU-tanh constant.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// 1/√2.
const FRAC_1_SQRT_2: f32 = core::f32::consts::FRAC_1_SQRT_2;

/// Applies one activation to a scalar.
#[inline(always)]
pub(crate) fn activate(act: Activation, x: f32) -> f32 {
    match act {
        Activation::GeluTanh => {
            0.5 * x * (1.0 + libm::tanhf(SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x)))
        }
        Activation::GeluErf => 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2)),
        Activation::Silu => x / (1.0 + libm::expf(-x)),
        // NaN propagates (as in PyTorch), so overflow is reported, not hidden.
        Activation::Relu => {
            if x < 0.0 {
                0.0
            } else {
                x
            }
        }
    }
}

/// Dot product with 8 independent accumulators (fixed summation order: deterministic).
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

/// A dense layer's weight in the kernel layout.
#[derive(Clone, Debug)]
pub(crate) struct Packed {
    /// Outputs.
    pub(crate) n: usize,
    /// Inputs.
    pub(crate) k: usize,
    /// `ceil(n / NR)` panels of `k` rows of `NR` values: row `q·k + p` holds
    /// `W[q·NR .. q·NR + NR, p]`.
    panels: Vec<[f32; NR]>,
}

impl Packed {
    /// Packs columns `off..off + k` of the row-major `[n, ld]` matrix `w`.
    pub(crate) fn new(w: &[f32], n: usize, ld: usize, off: usize, k: usize) -> Packed {
        let np = n.div_ceil(NR);
        let mut panels = vec![[0.0f32; NR]; np * k];
        for (q, panel) in panels.chunks_exact_mut(k).enumerate() {
            for (p, row) in panel.iter_mut().enumerate() {
                for (c, v) in row.iter_mut().enumerate() {
                    let j = q * NR + c;
                    if j < n {
                        *v = w[j * ld + off + p];
                    }
                }
            }
        }
        Packed { n, k, panels }
    }

    /// Element (j, p) of the packed matrix (for tests).
    #[cfg(test)]
    pub(crate) fn get(&self, j: usize, p: usize) -> f32 {
        self.panels[(j / NR) * self.k + p][j % NR]
    }

    /// Number of panels.
    pub(crate) fn num_panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// Length a bias slice must have: the outputs rounded up to whole panels.
    pub(crate) fn padded_n(&self) -> usize {
        self.num_panels() * NR
    }
}

/// Computes an `MR × (NP·NR)` output tile from the `MR` rows in `src` (row stride `k`) and
/// panels `q0..q0 + NP`, and stores the valid columns into the `MR` rows of `dst` (row
/// stride `n`).
// Constant-bound index loops on purpose: fully unrolled, they keep `acc` in registers.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn tile<const MR: usize, const NP: usize>(
    w: &Packed,
    bias: &[f32],
    q0: usize,
    src: &[f32],
    dst: &mut [f32],
) {
    let (n, k) = (w.n, w.k);
    let mut acc = [[[0.0f32; NR]; NP]; MR];
    for acc_r in acc.iter_mut() {
        for (j, a) in acc_r.iter_mut().enumerate() {
            a.copy_from_slice(&bias[(q0 + j) * NR..(q0 + j + 1) * NR]);
        }
    }
    let panels: [&[[f32; NR]]; NP] =
        core::array::from_fn(|j| &w.panels[(q0 + j) * k..(q0 + j) * k + k]);
    let rows: [&[f32]; MR] = core::array::from_fn(|r| &src[r * k..r * k + k]);
    for p in 0..k {
        let wp: [&[f32; NR]; NP] = core::array::from_fn(|j| &panels[j][p]);
        for r in 0..MR {
            let a = rows[r][p];
            for j in 0..NP {
                for c in 0..NR {
                    acc[r][j][c] += a * wp[j][c];
                }
            }
        }
    }
    // Copying each accumulator out by value keeps `acc` itself free of variable-length
    // accesses, which would force it onto the stack.
    for r in 0..MR {
        for j in 0..NP {
            let v: [f32; NR] = acc[r][j];
            let c0 = (q0 + j) * NR;
            let c1 = (c0 + NR).min(n);
            dst[r * n + c0..r * n + c1].copy_from_slice(&v[..c1 - c0]);
        }
    }
}

/// Applies `act` in place.
fn activate_slice(act: Activation, xs: &mut [f32]) {
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
        Activation::Relu => xs
            .iter_mut()
            .for_each(|x| *x = activate(Activation::Relu, *x)),
    }
}

/// The layer over a batch: `MR`-row tiles of `NP` panels, then leftover rows one at a time
/// with four panels per tile.
#[inline(always)]
fn forward_generic<const MR: usize, const NP: usize>(
    w: &Packed,
    bias: &[f32],
    batch: usize,
    src: &[f32],
    dst: &mut [f32],
) {
    let (n, k) = (w.n, w.k);
    let np = w.num_panels();
    let src = &src[..batch * k];
    let dst = &mut dst[..batch * n];
    let full = batch / MR;
    let (s_full, s_rest) = src.split_at(full * MR * k);
    let (d_full, d_rest) = dst.split_at_mut(full * MR * n);
    for (s, d) in s_full
        .chunks_exact(MR * k)
        .zip(d_full.chunks_exact_mut(MR * n))
    {
        let mut q = 0;
        while q + NP <= np {
            tile::<MR, NP>(w, bias, q, s, d);
            q += NP;
        }
        while q < np {
            tile::<MR, 1>(w, bias, q, s, d);
            q += 1;
        }
    }
    for (s, d) in s_rest.chunks_exact(k).zip(d_rest.chunks_exact_mut(n)) {
        let mut q = 0;
        while q + 4 <= np {
            tile::<1, 4>(w, bias, q, s, d);
            q += 4;
        }
        while q < np {
            tile::<1, 1>(w, bias, q, s, d);
            q += 1;
        }
    }
}

/// Portable build (SSE2 on x86-64): 4 × 8 tiles.
fn forward_portable(w: &Packed, bias: &[f32], batch: usize, src: &[f32], dst: &mut [f32]) {
    forward_generic::<4, 1>(w, bias, batch, src, dst)
}

/// AVX2 build of the same kernel: 4 × 16 tiles. Multiply and add stay separate (no FMA), so
/// results are bit-identical to [`forward_portable`].
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
unsafe fn forward_avx2(w: &Packed, bias: &[f32], batch: usize, src: &[f32], dst: &mut [f32]) {
    forward_generic::<4, 2>(w, bias, batch, src, dst)
}

/// `dst[batch × n] = act(src[batch × k] · Wᵀ + bias)`; `bias` has [`Packed::padded_n`]
/// entries (zero past `n`); `act = None` for the output layer.
///
/// # Panics
/// If the slices are shorter than the shapes require (the caller sizes them; a panic here
/// would be a bug in this crate).
pub(crate) fn linear(
    w: &Packed,
    bias: &[f32],
    batch: usize,
    src: &[f32],
    act: Option<Activation>,
    dst: &mut [f32],
) {
    assert!(
        src.len() >= batch * w.k && dst.len() >= batch * w.n && bias.len() >= w.padded_n(),
        "linear: inconsistent shapes"
    );
    run(w, bias, batch, src, dst);
    // Activation in its own tight pass: inside the tile it would keep the accumulators out
    // of registers (measured: 10× slower at batch 1).
    if let Some(act) = act {
        activate_slice(act, &mut dst[..batch * w.n]);
    }
}

/// The kernel without activation, on the best instruction set available.
fn run(w: &Packed, bias: &[f32], batch: usize, src: &[f32], dst: &mut [f32]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 support was just detected at run time.
            unsafe { forward_avx2(w, bias, batch, src, dst) };
            return;
        }
    }
    forward_portable(w, bias, batch, src, dst)
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
        let cases: [(Activation, f32, f64); 13] = [
            (Activation::GeluTanh, 1.0, 0.841_191_990_608_276_8),
            (Activation::GeluTanh, -1.0, -0.158_808_009_391_723_24),
            (Activation::GeluTanh, 3.0, 2.996_362_607_918_227),
            (Activation::GeluTanh, 0.0, 0.0),
            (Activation::GeluErf, 1.0, 0.841_344_746_068_542_9),
            (Activation::GeluErf, -1.0, -0.158_655_253_931_457_07),
            (Activation::GeluErf, 2.0, 1.954_499_736_103_641_6),
            (Activation::Silu, 1.0, 0.731_058_578_630_004_9),
            (Activation::Silu, -2.0, -0.238_405_844_044_234),
            (Activation::Silu, 0.0, 0.0),
            (Activation::Relu, 1.5, 1.5),
            (Activation::Relu, -1.5, 0.0),
            (Activation::Relu, 0.0, 0.0),
        ];
        assert!(activate(Activation::Relu, f32::NAN).is_nan());
        for (act, x, want) in cases {
            let got = activate(act, x) as f64;
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "{act:?}({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn dot_matches_naive() {
        for n in [0usize, 1, 7, 8, 9, 17, 64, 100] {
            let a: Vec<f32> = (0..n).map(|i| libm::sinf(i as f32 * 0.37)).collect();
            let b: Vec<f32> = (0..n).map(|i| libm::cosf(i as f32 * 0.11)).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!(close(dot(&a, &b), naive as f32, 1e-5), "n = {n}");
        }
    }

    /// Sequential-order reference: bias + Σ_p in order, in f32.
    fn reference(
        w: &[f32],
        b: &[f32],
        n: usize,
        k: usize,
        x: &[f32],
        act: Option<Activation>,
    ) -> Vec<f32> {
        let batch = x.len() / k;
        let mut out = Vec::new();
        for r in 0..batch {
            for j in 0..n {
                let mut acc = b[j];
                for p in 0..k {
                    acc += x[r * k + p] * w[j * k + p];
                }
                out.push(act.map_or(acc, |a| activate(a, acc)));
            }
        }
        out
    }

    #[test]
    fn batch_one_and_batched_paths_are_bit_identical() {
        // Shapes that exercise full and partial panels, 1/2/4-panel groups and row tails.
        for &(n, k) in &[
            (1usize, 1usize),
            (2, 5),
            (8, 3),
            (13, 11),
            (33, 17),
            (70, 9),
        ] {
            let w: Vec<f32> = (0..n * k).map(|i| libm::sinf(i as f32 * 0.731)).collect();
            let b: Vec<f32> = (0..n).map(|j| j as f32 * 0.1 - 0.3).collect();
            let pk = Packed::new(&w, n, k, 0, k);
            let mut bias = vec![0.0f32; pk.padded_n()];
            bias[..n].copy_from_slice(&b);
            for batch in [1usize, 2, 3, 4, 5, 9] {
                let x: Vec<f32> = (0..batch * k)
                    .map(|i| libm::cosf(i as f32 * 0.29))
                    .collect();
                for act in [None, Some(Activation::GeluTanh), Some(Activation::Relu)] {
                    let want = reference(&w, &b, n, k, &x, act);
                    let mut got = vec![0.0f32; batch * n];
                    linear(&pk, &bias, batch, &x, act, &mut got);
                    assert_eq!(got, want, "n={n} k={k} batch={batch} {act:?}");
                    let mut port = vec![0.0f32; batch * n];
                    forward_portable(&pk, &bias, batch, &x, &mut port);
                    if let Some(a) = act {
                        activate_slice(a, &mut port);
                    }
                    assert_eq!(port, want);
                    for r in 0..batch {
                        let mut one = vec![0.0f32; n];
                        linear(&pk, &bias, 1, &x[r * k..(r + 1) * k], act, &mut one);
                        assert_eq!(one[..], want[r * n..(r + 1) * n]);
                    }
                }
            }
        }
    }

    #[test]
    fn agrees_with_matrixmultiply_sgemm() {
        let (n, k, batch) = (37usize, 29usize, 23usize);
        let w: Vec<f32> = (0..n * k).map(|i| libm::sinf(i as f32 * 0.173)).collect();
        let b: Vec<f32> = (0..n).map(|j| libm::cosf(j as f32)).collect();
        let x: Vec<f32> = (0..batch * k)
            .map(|i| libm::sinf(i as f32 * 0.61))
            .collect();
        let mut c = vec![0.0f32; batch * n];
        for row in c.chunks_exact_mut(n) {
            row.copy_from_slice(&b);
        }
        // SAFETY: A is batch×k (row stride k), B = Wᵀ is k×n with element (p, j) at
        // w[p + j·k] (max index < n·k), C is batch×n (row stride n); all in bounds.
        unsafe {
            matrixmultiply::sgemm(
                batch,
                k,
                n,
                1.0,
                x.as_ptr(),
                k as isize,
                1,
                w.as_ptr(),
                1,
                k as isize,
                1.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            );
        }
        let pk = Packed::new(&w, n, k, 0, k);
        let mut bias = vec![0.0f32; pk.padded_n()];
        bias[..n].copy_from_slice(&b);
        let mut got = vec![0.0f32; batch * n];
        linear(&pk, &bias, batch, &x, None, &mut got);
        for (g, want) in got.iter().zip(&c) {
            assert!(close(*g, *want, 1e-5), "{g} vs {want}");
        }
    }

    #[test]
    fn packing_uses_the_requested_columns() {
        // [2, 5] matrix, columns 2..5 packed.
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let pk = Packed::new(&w, 2, 5, 2, 3);
        let bias = [0.5f32; NR];
        let mut out = [0.0f32; 2];
        linear(&pk, &bias, 1, &[1.0, 10.0, 100.0], None, &mut out);
        assert_eq!(out, [0.5 + 3.0 + 40.0 + 500.0, 0.5 + 8.0 + 90.0 + 1000.0]);
    }
}
