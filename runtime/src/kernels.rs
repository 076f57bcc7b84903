//! Numeric kernels: activations and the dense-layer kernel.
//!
//! A layer computes `dst[b, j] = act(bias[j] + Σ_p W[j, p] · src[b, p])`. At load time each
//! weight matrix (PyTorch `[out, in]` layout) is repacked into column panels of [`NR`] = 16
//! outputs: `panels[q][p][c] = W[q·NR + c, p]` (zero-padded past `out`; one panel row is
//! one AVX-512 register, two AVX ones), so the kernel reads every weight exactly once per
//! tile with unit stride and keeps an `MR × (NP·NR)` block of outputs in registers. The
//! same kernel serves batch 1 (one row against several panels) and large batches (several
//! rows per tile); the activation runs right after each layer in a branch-free,
//! vectorised pass ([`exp_approx`]). Nothing allocates.
//!
//! Instruction sets (chosen at run time with `std` on x86-64, else the portable build):
//! AVX-512F (8 × 32 tiles), AVX2 + FMA (4 × 16 tiles), portable (SSE2 on x86-64: 2 × 16
//! tiles).
//!
//! Why not `matrixmultiply::sgemm`: it allocates its packing buffers on every call (so the
//! hot path would allocate), and at batch 1 its per-call packing makes it several times
//! slower than a plain pass over the weights.
//!
//! **Determinism.** Each output starts at its bias and accumulates the inputs in order
//! p = 0, 1, …, whatever the tile shape or batch size. There are two kernel families:
//!
//! - *fused* (AVX2 + FMA, AVX-512F): `acc = fma(a_p, w_p, acc)`, one rounding per step;
//! - *unfused* (portable: no_std, non-x86 targets such as thumbv7em, and x86-64 CPUs
//!   without FMA): `acc = acc + a_p · w_p`, multiply and add rounded separately.
//!
//! Within a family every path (batch 1 and batched tiles, AVX2 and AVX-512) gives the same
//! bits, so the same machine always gives the same bits. Across families results differ by
//! rounding only (tested: within `FUSED_VS_UNFUSED_TOL` of `Σ|terms|`). The activations
//! are plain IEEE operations, never contracted, in both families.

use alloc::vec;
use alloc::vec::Vec;

use crate::schema::Activation;

/// Output columns per packed panel (one AVX-512 register, two AVX registers).
pub(crate) const NR: usize = 16;

/// √(2/π), the GELU-tanh constant.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
/// 1/√2.
const FRAC_1_SQRT_2: f32 = core::f32::consts::FRAC_1_SQRT_2;

/// Applies one activation to a scalar.
///
/// GELU-tanh and SiLU go through [`exp_approx`] and the identity
/// `½·(1 + tanh u) = 1 / (1 + e^(−2u))`, so `gelu(x) = x / (1 + e^(−2u))`: branch-free,
/// vectorisable, no cancellation for negative inputs, and within a few ulps of the f64
/// formula (see the tests). Everything is plain IEEE multiply/add/divide (never fused, as
/// Rust never contracts `a * b + c`), so every build and instruction set gives the same
/// bits.
#[inline(always)]
pub(crate) fn activate(act: Activation, x: f32) -> f32 {
    match act {
        // −2u = x·(−2√(2/π) − 2√(2/π)·0.044715·x²).
        Activation::GeluTanh => x / (1.0 + exp_approx(x * (GELU_C1 + GELU_C3 * (x * x)))),
        Activation::GeluErf => 0.5 * x * (1.0 + libm::erff(x * FRAC_1_SQRT_2)),
        Activation::Silu => x / (1.0 + exp_approx(-x)),
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

/// −2·√(2/π).
const GELU_C1: f32 = -2.0 * SQRT_2_OVER_PI;
/// −2·√(2/π)·0.044715.
const GELU_C3: f32 = -2.0 * SQRT_2_OVER_PI * 0.044_715;

/// `e^y` for activations: branch-free and vectorisable (no table, no libm call), relative
/// error below 2·10⁻⁷ (≈ 2 ulp) on the whole clamped range (tested against f64).
///
/// `y` is clamped to [−87, 88] so that the result stays a normal float (callers only form
/// `1 + e^y`, where the clamp changes nothing of note: `x / (1 + e^88)` is below 10⁻³⁸·|x|);
/// NaN propagates. Reduction `y = k·ln 2 + r`, |r| ≤ ½ ln 2, with ln 2 split in two
/// (Cody–Waite: `k·LN2_HI` is exact), then the degree-7 Taylor polynomial of `e^r`
/// (truncation error < 6·10⁻⁹), then the exponent `k` added to the bits.
#[inline(always)]
pub(crate) fn exp_approx(y: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    // ln 2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits, so k·LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding it rounds to an integer (ulp 1) and leaves k in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    // Comparisons are false for NaN, which passes through.
    let y = if y > 88.0 { 88.0 } else { y };
    let y = if y < -87.0 { -87.0 } else { y };
    let t = y * LOG2E + ROUND;
    let k = t - ROUND;
    let r = (y - k * LN2_HI) - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    // t's bits are ROUND's bits + k (|k| ≤ 127); 2^k has bits (k + 127) << 23.
    let scale = f32::from_bits(t.to_bits().wrapping_sub(ROUND.to_bits() - 127) << 23);
    p * scale
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

    /// Panel `q`: `k` rows of [`NR`] outputs.
    #[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn panel(&self, q: usize) -> &[[f32; NR]] {
        &self.panels[q * self.k..(q + 1) * self.k]
    }

    /// The [`NR`] bias entries of panel `q` (`bias` has [`Packed::padded_n`] entries).
    #[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), allow(dead_code))]
    #[inline(always)]
    pub(crate) fn bias_row<'a>(&self, bias: &'a [f32], q: usize) -> &'a [f32; NR] {
        bias[q * NR..(q + 1) * NR]
            .try_into()
            .expect("bias padded to whole panels")
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

/// Applies `act` in place (inlined into each instruction-set build, where it vectorises:
/// every step of [`activate`] is a lane-wise operation).
#[inline(always)]
pub(crate) fn activate_slice(act: Activation, xs: &mut [f32]) {
    match act {
        Activation::GeluTanh => {
            for x in xs.iter_mut() {
                *x = activate(Activation::GeluTanh, *x);
            }
        }
        Activation::GeluErf => {
            for x in xs.iter_mut() {
                *x = activate(Activation::GeluErf, *x);
            }
        }
        Activation::Silu => {
            for x in xs.iter_mut() {
                *x = activate(Activation::Silu, *x);
            }
        }
        Activation::Relu => {
            for x in xs.iter_mut() {
                *x = activate(Activation::Relu, *x);
            }
        }
    }
}

/// The layer over a batch: `MR`-row tiles of `NP` panels, then leftover rows (and batch 1)
/// one at a time with `NP1` panels per tile; then the activation.
#[inline(always)]
fn forward_generic<const MR: usize, const NP: usize, const NP1: usize>(
    w: &Packed,
    bias: &[f32],
    batch: usize,
    src: &[f32],
    act: Option<Activation>,
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
        while q + NP1 <= np {
            tile::<1, NP1>(w, bias, q, s, d);
            q += NP1;
        }
        while q < np {
            tile::<1, 1>(w, bias, q, s, d);
            q += 1;
        }
    }
    if let Some(act) = act {
        activate_slice(act, dst);
    }
}

/// Portable build (SSE2 on x86-64: 16 registers): 2 × 16 tiles, 1 × 32 at batch 1.
fn forward_portable(
    w: &Packed,
    bias: &[f32],
    batch: usize,
    src: &[f32],
    act: Option<Activation>,
    dst: &mut [f32],
) {
    forward_generic::<2, 1, 2>(w, bias, batch, src, act, dst)
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
    match Kernel::detect() {
        #[cfg(all(feature = "std", target_arch = "x86_64", flowmap_avx512))]
        Kernel::Avx512 => {
            // SAFETY: `detect` returns `Avx512` only where AVX-512F was detected at run time.
            unsafe { crate::x86::forward_avx512(w, bias, batch, src, act, dst) }
        }
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        Kernel::Avx2Fma => {
            // SAFETY: `detect` returns `Avx2Fma` only where AVX2 and FMA were detected at run
            // time.
            unsafe { crate::x86::forward_avx2_fma(w, bias, batch, src, act, dst) }
        }
        Kernel::Portable => forward_portable(w, bias, batch, src, act, dst),
    }
}

/// Largest difference between the fused and unfused kernel families for one output, as a
/// fraction of `|bias| + Σ_p |a_p·w_p|` (the sum of the magnitudes of the terms, which bounds
/// the rounding of either order). Measured on the kernel tests (widths k ≤ 2048, four data
/// sets): the worst case seen is 1.28·10⁻⁷ (≈ 2 roundings, 2⁻²⁴ each, of the magnitude
/// sum); the bound leaves 3× margin.
#[cfg(test)]
pub(crate) const FUSED_VS_UNFUSED_TOL: f64 = 4e-7;

/// The kernel [`linear`] runs on this machine (detected once per call; the feature tests
/// are cached by `std`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// AVX-512F, fused multiply-add.
    #[cfg(all(feature = "std", target_arch = "x86_64", flowmap_avx512))]
    Avx512,
    /// AVX2 + FMA, fused multiply-add.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    Avx2Fma,
    /// Portable Rust (SSE2 on x86-64), separate multiply and add.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    #[inline]
    pub(crate) fn detect() -> Kernel {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            #[cfg(flowmap_avx512)]
            if std::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Kernel::Avx2Fma;
            }
        }
        Kernel::Portable
    }

    /// Whether this kernel accumulates with fused multiply-add.
    #[cfg(test)]
    pub(crate) fn fused(self) -> bool {
        self != Kernel::Portable
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

    /// Sequential-order reference in f32: bias, then the inputs in order p = 0, 1, …, with a
    /// fused multiply-add (`libm::fmaf`, one rounding) or a separate multiply and add.
    fn reference(
        w: &[f32],
        b: &[f32],
        n: usize,
        k: usize,
        x: &[f32],
        act: Option<Activation>,
        fused: bool,
    ) -> Vec<f32> {
        let batch = x.len() / k;
        let mut out = Vec::new();
        for r in 0..batch {
            for j in 0..n {
                let mut acc = b[j];
                for p in 0..k {
                    let (a, wp) = (x[r * k + p], w[j * k + p]);
                    acc = if fused {
                        libm::fmaf(a, wp, acc)
                    } else {
                        acc + a * wp
                    };
                }
                out.push(act.map_or(acc, |a| activate(a, acc)));
            }
        }
        out
    }

    /// `|bias_j| + Σ_p |x_rp · w_jp|` for every output, in f64.
    fn magnitude(w: &[f32], b: &[f32], n: usize, k: usize, x: &[f32]) -> Vec<f64> {
        let batch = x.len() / k;
        let mut out = Vec::new();
        for r in 0..batch {
            for j in 0..n {
                let terms = (0..k).map(|p| (x[r * k + p] as f64 * w[j * k + p] as f64).abs());
                out.push(b[j].abs() as f64 + terms.sum::<f64>());
            }
        }
        out
    }

    /// A layer with deterministic, mixed-sign weights, bias and inputs (`phase` varies them).
    fn layer(
        n: usize,
        k: usize,
        batch: usize,
        phase: f32,
    ) -> (Vec<f32>, Vec<f32>, Packed, Vec<f32>, Vec<f32>) {
        let w: Vec<f32> = (0..n * k)
            .map(|i| libm::sinf(i as f32 * 0.731 + phase))
            .collect();
        let b: Vec<f32> = (0..n).map(|j| j as f32 * 0.1 - 0.3).collect();
        let pk = Packed::new(&w, n, k, 0, k);
        let mut bias = vec![0.0f32; pk.padded_n()];
        bias[..n].copy_from_slice(&b);
        let x: Vec<f32> = (0..batch * k)
            .map(|i| libm::cosf(i as f32 * 0.29 + 2.0 * phase))
            .collect();
        (w, b, pk, bias, x)
    }

    /// Every path of one kernel family gives the scalar reference of that family bit for
    /// bit: batch 1 and batched tiles, every tile shape and leftover, and (fused) AVX2 + FMA
    /// and AVX-512 alike; the portable (unfused) kernel is checked everywhere.
    #[test]
    fn batch_one_and_batched_paths_are_bit_identical() {
        // Shapes that exercise full and partial panels, 1/2/4/8-panel groups and row tails
        // of every tile height.
        for &(n, k) in &[
            (1usize, 1usize),
            (2, 5),
            (8, 3),
            (13, 11),
            (33, 17),
            (70, 9),
            (150, 7),
        ] {
            for batch in [1usize, 2, 3, 4, 5, 9, 17] {
                let (w, b, pk, bias, x) = layer(n, k, batch, 0.0);
                for act in [None, Some(Activation::GeluTanh), Some(Activation::Relu)] {
                    let unfused = reference(&w, &b, n, k, &x, act, false);
                    let fused = reference(&w, &b, n, k, &x, act, true);
                    let kernel = Kernel::detect();
                    let want = if kernel.fused() { &fused } else { &unfused };
                    let mut got = vec![0.0f32; batch * n];
                    linear(&pk, &bias, batch, &x, act, &mut got);
                    assert_eq!(&got, want, "{kernel:?} n={n} k={k} batch={batch} {act:?}");
                    let mut port = vec![0.0f32; batch * n];
                    forward_portable(&pk, &bias, batch, &x, act, &mut port);
                    assert_eq!(port, unfused, "portable");
                    #[cfg(all(feature = "std", target_arch = "x86_64"))]
                    {
                        if std::is_x86_feature_detected!("avx2")
                            && std::is_x86_feature_detected!("fma")
                        {
                            let mut v = vec![0.0f32; batch * n];
                            // SAFETY: AVX2 and FMA support were just detected.
                            unsafe {
                                crate::x86::forward_avx2_fma(&pk, &bias, batch, &x, act, &mut v)
                            };
                            assert_eq!(v, fused, "avx2+fma");
                        }
                        #[cfg(flowmap_avx512)]
                        if std::is_x86_feature_detected!("avx512f") {
                            let mut v = vec![0.0f32; batch * n];
                            // SAFETY: AVX-512F support was just detected.
                            unsafe {
                                crate::x86::forward_avx512(&pk, &bias, batch, &x, act, &mut v)
                            };
                            assert_eq!(v, fused, "avx512");
                        }
                    }
                    for r in 0..batch {
                        let mut one = vec![0.0f32; n];
                        linear(&pk, &bias, 1, &x[r * k..(r + 1) * k], act, &mut one);
                        assert_eq!(one[..], got[r * n..(r + 1) * n], "batch 1 vs {batch}");
                    }
                }
            }
        }
    }

    /// Fused and unfused accumulation differ by rounding only: within
    /// [`FUSED_VS_UNFUSED_TOL`] of the terms' magnitude sum, for widths up to 2048 (the
    /// scalar references everywhere; the dispatched kernel against the other family's
    /// reference).
    #[test]
    fn fused_and_unfused_differ_by_rounding_only() {
        let mut worst = 0.0f64;
        for &(n, k, batch) in &[
            (1usize, 1usize, 3usize),
            (33, 17, 5),
            (64, 64, 9),
            (40, 256, 8),
            (40, 512, 8),
            (20, 2048, 4),
        ] {
            for phase in [0.0f32, 0.4, 1.3, 2.9] {
                let (w, b, pk, bias, x) = layer(n, k, batch, phase);
                let unfused = reference(&w, &b, n, k, &x, None, false);
                let fused = reference(&w, &b, n, k, &x, None, true);
                let mut got = vec![0.0f32; batch * n];
                linear(&pk, &bias, batch, &x, None, &mut got);
                let other = if Kernel::detect().fused() {
                    &unfused
                } else {
                    &fused
                };
                let mag = magnitude(&w, &b, n, k, &x);
                for i in 0..batch * n {
                    for (u, v) in [(fused[i], unfused[i]), (got[i], other[i])] {
                        let d = (u as f64 - v as f64).abs() / mag[i];
                        worst = worst.max(d);
                        assert!(
                            d <= FUSED_VS_UNFUSED_TOL,
                            "n={n} k={k} batch={batch} output {i}: {u} vs {v} ({d:e} of {})",
                            mag[i]
                        );
                    }
                }
            }
        }
        #[cfg(feature = "std")]
        std::eprintln!("fused vs unfused: worst {worst:e} of the magnitude sum");
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

#[cfg(test)]
mod accuracy {
    use super::*;

    /// Largest relative error of `exp_approx` over a dense grid of the clamped range,
    /// against f64.
    #[test]
    fn exp_approx_is_within_2e_7_relative() {
        let mut worst = 0.0f64;
        let n = 2_000_000;
        for i in 0..=n {
            let y = -87.0 + 175.0 * (i as f64 / n as f64);
            let y = y as f32;
            let want = (y as f64).exp();
            let got = exp_approx(y) as f64;
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 2e-7, "max relative error {worst:e}");
        assert!(exp_approx(f32::NAN).is_nan());
        assert_eq!(exp_approx(0.0), 1.0);
        assert!(exp_approx(1000.0) > 1e38 && exp_approx(-1000.0) < 1e-37);
    }

    /// GELU-tanh against the f64 formula on a dense grid. Forming `2u` in f32 costs a few
    /// ulps of `2u`, which the factor `e^(−2u)` turns into a relative error ∝ |2u| (the
    /// problem's own conditioning), so the bound is `3·10⁻⁷·(1 + |2u|)` relative for
    /// |x| ≤ 8 (≈ 2·10⁻⁷ near 0, 2·10⁻⁶ at x = −5), and 10⁻¹² absolute further out (there
    /// the result is x or ≈ 0). (The former `½x(1 + tanhf u)` loses ~4 digits to
    /// cancellation at x = −5.)
    #[test]
    fn gelu_tanh_matches_f64() {
        let (mut worst_rel, mut worst_abs) = (0.0f64, 0.0f64);
        let n = 2_000_000;
        for i in 0..=n {
            let x = (-40.0 + 80.0 * (i as f64 / n as f64)) as f32;
            let xd = x as f64;
            let u = (2.0 / core::f64::consts::PI).sqrt() * (xd + 0.044_715 * xd * xd * xd);
            // ½x(1 + tanh u) = x / (1 + e^(−2u)); the latter has no cancellation in f64
            // either (tanh u rounds to −1 for u < −19).
            let want = xd / (1.0 + (-2.0 * u).exp());
            let got = activate(Activation::GeluTanh, x) as f64;
            let err = (got - want).abs();
            if xd.abs() <= 8.0 {
                let rel = err / want.abs().max(1e-30);
                worst_rel = worst_rel.max(rel / (1.0 + 2.0 * u.abs()));
            } else {
                worst_abs = worst_abs.max(err);
            }
        }
        assert!(
            worst_rel < 3e-7,
            "max relative error / (1 + |2u|) {worst_rel:e}"
        );
        assert!(worst_abs < 1e-12, "max absolute error {worst_abs:e}");
        assert!(activate(Activation::GeluTanh, f32::NAN).is_nan());
        assert_eq!(activate(Activation::GeluTanh, f32::INFINITY), f32::INFINITY);
        assert_eq!(activate(Activation::GeluTanh, 0.0), 0.0);
    }

    #[test]
    fn silu_matches_f64() {
        let mut worst = 0.0f64;
        for i in 0..=200_000 {
            let x = (-80.0 + 160.0 * (i as f64 / 200_000.0)) as f32;
            let xd = x as f64;
            let want = xd / (1.0 + (-xd).exp());
            let got = activate(Activation::Silu, x) as f64;
            worst = worst.max((got - want).abs() / want.abs().max(1e-30));
        }
        assert!(worst < 1e-6, "max relative error {worst:e}");
    }
}
