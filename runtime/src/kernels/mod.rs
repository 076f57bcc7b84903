//! Numeric kernels: activations, the dense-layer kernel, and the U-Net's convolutions
//! (implicit 3×3 and Winograd, both on the dense kernel's tile), GroupNorm and attention.
//!
//! A layer computes `dst[b, j] = act(bias[j] + Σ_p W[j, p] · src[b, p])` over weights
//! repacked at load time into column panels of [`NR`](packed::NR) = 16 outputs ([`Packed`]). The code is
//! layered as in a BLAS:
//!
//! - [`microkernel`]: the trait an instruction set implements — one panel row of
//!   accumulators in registers, and its load / multiply-accumulate / store;
//! - [`portable`], [`avx2`], [`avx512`]: one implementation per instruction set;
//! - [`driver`]: the one register tile and tiling loop, generic over the micro-kernel; each
//!   instruction set's `#[target_feature]` entry point only instantiates it with its tile
//!   shape;
//! - [`linear`] (here): picks the instruction set at run time.
//!
//! Weights from f16 / bf16 files stay 16-bit in the panels ([`Dense`]) and are widened to
//! f32 as each panel row is loaded (F16C / AVX-512F conversions for f16, software in the
//! portable build; bf16 rows are stored in pairs and widened by one AND or shift per row,
//! see [`packed::Bf16`]). Widening is exact, so the results are bit for bit those of the same weights
//! decoded to f32 at load; only half the bytes stream from memory, which is what bounds
//! batch 1. The U-Net's convolutions keep f32 panels (their weights are decoded at load).
//!
//! The same tile serves batch 1 (one row against several panels) and large batches (several
//! rows per tile); the activation runs right after each layer in a branch-free, vectorised
//! pass ([`activation`]). Nothing allocates.
//!
//! Instruction sets (chosen at run time with `std` on x86-64, else the portable build):
//! AVX-512F (8 × 32 tiles), AVX2 + FMA + F16C (6 × 16 tiles on f32 panels, 4 × 16 on 16-bit
//! ones), portable (SSE2 on x86-64: 2 × 16 tiles).
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

pub(crate) mod activation;
mod attention;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2;
#[cfg(all(feature = "std", target_arch = "x86_64", flowmap_avx512))]
mod avx512;
mod driver;
mod microkernel;
mod norm;
mod packed;
mod padding;
pub(crate) use padding::write_padded;
mod portable;
mod winograd;

pub(crate) use driver::Conv3x3;
pub(crate) use norm::GroupNorm;
use packed::Weight;
#[cfg(test)]
use packed::NR;
#[cfg(test)]
pub(crate) use packed::{Bf16, F16};
pub(crate) use packed::{Dense, Packed, PanelDtype};
pub(crate) use winograd::{WinogradWeights, TILE_BLOCK as WINOGRAD_TILE_BLOCK};

use crate::schema::Activation;

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

/// `dst[batch × n] = act(src[batch × k] · Wᵀ + bias)`; `bias` has [`Packed::padded_n`]
/// entries (zero past `n`); `act = None` for the output layer.
///
/// # Panics
/// If the slices are shorter than the shapes require (the caller sizes them; a panic here
/// would be a bug in this crate).
pub(crate) fn linear<E: Weight>(
    w: &Packed<E>,
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
            unsafe { avx512::forward(w, bias, batch, src, act, dst) }
        }
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        Kernel::Avx2Fma => {
            // SAFETY: `detect` returns `Avx2Fma` only where AVX2, FMA and F16C were detected
            // at run time.
            unsafe { avx2::forward(w, bias, batch, src, act, dst) }
        }
        Kernel::Portable => portable::forward(w, bias, batch, src, act, dst),
    }
}

/// [`linear`] on a layer's weights in whichever dtype they are packed.
pub(crate) fn linear_dense(
    w: &Dense,
    bias: &[f32],
    batch: usize,
    src: &[f32],
    act: Option<Activation>,
    dst: &mut [f32],
) {
    match w {
        Dense::F32(w) => linear(w, bias, batch, src, act, dst),
        Dense::F16(w) => linear(w, bias, batch, src, act, dst),
        Dense::Bf16(w) => linear(w, bias, batch, src, act, dst),
    }
}

/// `dst[positions × n]` = the 3×3 convolution described by `g` of the zero-padded HWC map
/// `src`, with the weights `w` packed in im2col column order (`k = 9·cin`, column
/// `(ky·3 + kx)·cin + ci`). Gives the bits of [`linear`] on the im2col rows (same order of
/// accumulation), without building them.
///
/// # Panics
/// If the shapes are inconsistent or the slices too short (a bug in this crate).
pub(crate) fn conv3x3(w: &Packed, bias: &[f32], g: &Conv3x3, src: &[f32], dst: &mut [f32]) {
    assert!(
        w.k == 9 * g.cin && dst.len() >= g.positions * w.n && bias.len() >= w.padded_n(),
        "conv3x3: inconsistent shapes"
    );
    match Kernel::detect() {
        #[cfg(all(feature = "std", target_arch = "x86_64", flowmap_avx512))]
        Kernel::Avx512 => {
            // SAFETY: `detect` returns `Avx512` only where AVX-512F was detected at run time.
            unsafe { avx512::conv3x3(w, bias, g, src, dst) }
        }
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        Kernel::Avx2Fma => {
            // SAFETY: `detect` returns `Avx2Fma` only where AVX2 and FMA were detected.
            unsafe { avx2::conv3x3(w, bias, g, src, dst) }
        }
        Kernel::Portable => portable::conv3x3(w, bias, g, src, dst),
    }
}

/// GroupNorm (+ scale/shift, SiLU, padding) of `job` into `dst`, vectorised with the widest
/// instruction set available (the same bits on every one: see [`norm`]). `coef` holds
/// 3·ch floats and `stats` 2·ch.
pub(crate) fn group_norm(job: &GroupNorm, coef: &mut [f32], stats: &mut [f64], dst: &mut [f32]) {
    match Kernel::detect() {
        #[cfg(all(feature = "std", target_arch = "x86_64", flowmap_avx512))]
        Kernel::Avx512 => {
            // SAFETY: `detect` returns `Avx512` only where AVX-512F was detected at run time.
            unsafe { avx512::group_norm(job, coef, stats, dst) }
        }
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        Kernel::Avx2Fma => {
            // SAFETY: `detect` returns `Avx2Fma` only where AVX2 and FMA were detected.
            unsafe { avx2::group_norm(job, coef, stats, dst) }
        }
        Kernel::Portable => norm::run(job, coef, stats, dst),
    }
}

/// Multi-head softmax attention of one map ([`attention::run`]): `qkv` is `[p, 3·ch]`,
/// `out` `[p, ch]`, `scratch` `p·ch + p` floats. The same bits on every instruction set.
pub(crate) fn attention(
    p: usize,
    ch: usize,
    heads: usize,
    qkv: &[f32],
    scratch: &mut [f32],
    out: &mut [f32],
) {
    match Kernel::detect() {
        #[cfg(all(feature = "std", target_arch = "x86_64", flowmap_avx512))]
        Kernel::Avx512 => {
            // SAFETY: `detect` returns `Avx512` only where AVX-512F was detected at run time.
            unsafe { avx512::attention(p, ch, heads, qkv, scratch, out) }
        }
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        Kernel::Avx2Fma => {
            // SAFETY: `detect` returns `Avx2Fma` only where AVX2 and FMA were detected.
            unsafe { avx2::attention(p, ch, heads, qkv, scratch, out) }
        }
        Kernel::Portable => attention::run(p, ch, heads, qkv, scratch, out),
    }
}

/// A stride-1 3×3 convolution by Winograd F(2×2, 3×3) ([`mod@winograd`]) of the zero-padded map
/// `src` (`(h + 2) × (w + 2) × cin`, `h` and `w` even) into `dst` (`[h·w, cout]`), in blocks of
/// [`winograd::TILE_BLOCK`] output tiles; `v` and `m` are scratch of `16·b·cin` and `16·b·cout`
/// floats, `b` = min(tiles, block).
pub(crate) fn winograd(
    wts: &WinogradWeights,
    bias: &[f32],
    size: (usize, usize),
    src: &[f32],
    v: &mut [f32],
    m: &mut [f32],
    dst: &mut [f32],
) {
    let (cin, cout) = (wts.cin, wts.cout);
    assert!(size.0 % 2 == 0 && size.1 % 2 == 0, "winograd: odd size");
    let tiles = (size.0 / 2) * (size.1 / 2);
    // Block by block (each row of a product is independent of the others, so the blocking
    // changes no bit).
    let mut ta = 0;
    while ta < tiles {
        let tb = (ta + winograd::TILE_BLOCK).min(tiles);
        let (nt, tr) = (tb - ta, (ta, tb));
        match Kernel::detect() {
            #[cfg(all(feature = "std", target_arch = "x86_64", flowmap_avx512))]
            // SAFETY: `detect` returns `Avx512` only where AVX-512F was detected at run time.
            Kernel::Avx512 => unsafe { avx512::winograd_input(src, cin, size, tr, v) },
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            // SAFETY: `detect` returns `Avx2Fma` only where AVX2 and FMA were detected.
            Kernel::Avx2Fma => unsafe { avx2::winograd_input(src, cin, size, tr, v) },
            Kernel::Portable => winograd::input(src, cin, size, tr, v),
        }
        for (xi, u) in wts.u.iter().enumerate() {
            linear(
                u,
                &wts.zeros,
                nt,
                &v[xi * nt * cin..(xi + 1) * nt * cin],
                None,
                &mut m[xi * nt * cout..(xi + 1) * nt * cout],
            );
        }
        match Kernel::detect() {
            #[cfg(all(feature = "std", target_arch = "x86_64", flowmap_avx512))]
            // SAFETY: as above.
            Kernel::Avx512 => unsafe { avx512::winograd_output(m, cout, size, tr, bias, dst) },
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            // SAFETY: as above.
            Kernel::Avx2Fma => unsafe { avx2::winograd_output(m, cout, size, tr, bias, dst) },
            Kernel::Portable => winograd::output(m, cout, size, tr, bias, dst),
        }
        ta = tb;
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
    /// AVX2 + FMA (+ F16C), fused multiply-add.
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
            // F16C widens 16-bit weight panels; every AVX2 CPU has it (Intel since Ivy
            // Bridge, AMD since Piledriver), so requiring it costs no real CPU the kernel.
            if std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
                && std::is_x86_feature_detected!("f16c")
            {
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
    use super::activation::activate;
    use super::*;
    use alloc::format;
    use alloc::vec;
    use alloc::vec::Vec;

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
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
            for batch in [1usize, 2, 3, 4, 5, 6, 9, 17] {
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
                    portable::forward(&pk, &bias, batch, &x, act, &mut port);
                    assert_eq!(port, unfused, "portable");
                    #[cfg(all(feature = "std", target_arch = "x86_64"))]
                    {
                        if std::is_x86_feature_detected!("avx2")
                            && std::is_x86_feature_detected!("fma")
                            && std::is_x86_feature_detected!("f16c")
                        {
                            let mut v = vec![0.0f32; batch * n];
                            // SAFETY: AVX2, FMA and F16C support were just detected.
                            unsafe { avx2::forward(&pk, &bias, batch, &x, act, &mut v) };
                            assert_eq!(v, fused, "avx2+fma");
                        }
                        #[cfg(flowmap_avx512)]
                        if std::is_x86_feature_detected!("avx512f") {
                            let mut v = vec![0.0f32; batch * n];
                            // SAFETY: AVX-512F support was just detected.
                            unsafe { avx512::forward(&pk, &bias, batch, &x, act, &mut v) };
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

    /// The layer on every instruction set this CPU has (portable always), by name.
    fn on_every_isa<E: Weight>(
        pk: &Packed<E>,
        bias: &[f32],
        batch: usize,
        x: &[f32],
        act: Option<Activation>,
    ) -> Vec<(&'static str, Vec<f32>)> {
        let n = pk.n;
        let mut out = Vec::new();
        let mut v = vec![0.0f32; batch * n];
        portable::forward(pk, bias, batch, x, act, &mut v);
        out.push(("portable", v));
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            if std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
                && std::is_x86_feature_detected!("f16c")
            {
                let mut v = vec![0.0f32; batch * n];
                // SAFETY: AVX2, FMA and F16C support were just detected.
                unsafe { avx2::forward(pk, bias, batch, x, act, &mut v) };
                out.push(("avx2+fma", v));
            }
            #[cfg(flowmap_avx512)]
            if std::is_x86_feature_detected!("avx512f") {
                let mut v = vec![0.0f32; batch * n];
                // SAFETY: AVX-512F support was just detected.
                unsafe { avx512::forward(pk, bias, batch, x, act, &mut v) };
                out.push(("avx512", v));
            }
        }
        let mut v = vec![0.0f32; batch * n];
        linear(pk, bias, batch, x, act, &mut v);
        out.push(("dispatched", v));
        out
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// 16-bit panels (widened in the kernel) give exactly the bits of f32 panels of the same
    /// weights decoded at load: on every instruction set, batch 1 and batched tiles (widened
    /// per tile or per block of rows), every tile shape and leftover, with f16 subnormals
    /// among the weights. Also the scalar
    /// reference of the kernel's family, so the shared path is itself right.
    #[test]
    fn sixteen_bit_panels_equal_decoded_f32_panels() {
        fn check<E: Weight>(name: &str) {
            // (40, 600) and (20, 1100): panel groups too large for the widened block copy
            // of the batched path on some instruction sets (widened in the tile instead).
            let shapes = [
                (1usize, 1usize),
                (13, 11),
                (33, 17),
                (70, 9),
                (150, 7),
                (40, 64),
                (40, 600),
                (20, 1100),
            ];
            for &(n, k) in &shapes {
                // 70 rows: a whole block of the batched 16-bit path and a partial one.
                for batch in [1usize, 2, 3, 4, 5, 9, 17, 70] {
                    let (w, b, _, bias, x) = layer(n, k, batch, 0.7);
                    // Every 5th weight tiny (f16 subnormal range: below 2⁻¹⁴), then each
                    // rounded to the 16-bit format, as a 16-bit file would hold them.
                    let w: Vec<f32> = w
                        .iter()
                        .enumerate()
                        .map(|(i, v)| if i % 5 == 0 { v * 3e-6 } else { *v })
                        .map(|v| E::narrow(v).widen())
                        .collect();
                    let wide: Packed<f32> = Packed::new(&w, n, k, 0, k);
                    let narrow: Packed<E> = Packed::new(&w, n, k, 0, k);
                    for act in [None, Some(Activation::GeluTanh)] {
                        let old = on_every_isa(&wide, &bias, batch, &x, act);
                        let new = on_every_isa(&narrow, &bias, batch, &x, act);
                        assert_eq!(old.len(), new.len());
                        let fused = reference(&w, &b, n, k, &x, act, true);
                        let unfused = reference(&w, &b, n, k, &x, act, false);
                        for ((isa, o), (_, g)) in old.iter().zip(&new) {
                            let at = format!("{name} {isa} n={n} k={k} batch={batch} {act:?}");
                            assert_eq!(bits(g), bits(o), "{at}");
                            let want = match *isa {
                                "portable" => &unfused,
                                "dispatched" if !Kernel::detect().fused() => &unfused,
                                _ => &fused,
                            };
                            assert_eq!(bits(g), bits(want), "{at} vs reference");
                        }
                    }
                }
            }
        }
        // The subnormals are real: some weight is below f16's smallest normal.
        assert!(F16::narrow(0.9 * 3e-6).0 & 0x7c00 == 0 && F16::narrow(0.9 * 3e-6).0 != 0);
        check::<F16>("f16");
        check::<Bf16>("bf16");
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
        let pk: Packed = Packed::new(&w, n, k, 0, k);
        let mut bias = vec![0.0f32; pk.padded_n()];
        bias[..n].copy_from_slice(&b);
        let mut got = vec![0.0f32; batch * n];
        linear(&pk, &bias, batch, &x, None, &mut got);
        for (g, want) in got.iter().zip(&c) {
            assert!(close(*g, *want, 1e-5), "{g} vs {want}");
        }
    }

    /// im2col rows of the padded map `src` (`hi × wi`, `cin` channels): the product of
    /// [`linear`] on them is the convolution [`conv3x3`] computes.
    fn im2col(
        src: &[f32],
        cin: usize,
        hi: usize,
        wi: usize,
        stride: usize,
    ) -> (Vec<f32>, usize, usize) {
        let (ho, wo) = ((hi - 1) / stride + 1, (wi - 1) / stride + 1);
        let wp = wi + 2;
        let mut col = Vec::new();
        for oy in 0..ho {
            for ox in 0..wo {
                for t in 0..9 {
                    let (y, x) = (oy * stride + t / 3, ox * stride + t % 3);
                    col.extend_from_slice(&src[(y * wp + x) * cin..(y * wp + x + 1) * cin]);
                }
            }
        }
        (col, ho, wo)
    }

    /// The implicit 3×3 convolution gives the bits of the dense kernel on explicit im2col
    /// rows (every instruction set, full and partial tiles, strides 1 and 2, odd sizes),
    /// and the portable build gives the unfused family's bits.
    #[test]
    fn conv3x3_equals_linear_on_im2col_rows() {
        for &(cin, cout, hi, wi, stride) in &[
            (1usize, 8usize, 5usize, 5usize, 1usize),
            (3, 33, 7, 6, 1),
            (5, 16, 14, 14, 1),
            (4, 40, 9, 7, 2),
            (17, 3, 6, 9, 2),
            (8, 64, 3, 11, 1),
        ] {
            let (hp, wp) = (hi + 2, wi + 2);
            // Padded input: zeros on the ring, mixed-sign values inside.
            let mut src = vec![0.0f32; hp * wp * cin];
            for y in 1..=hi {
                for x in 1..=wi {
                    for c in 0..cin {
                        src[(y * wp + x) * cin + c] =
                            libm::sinf((y * 31 + x * 7 + c) as f32 * 0.37);
                    }
                }
            }
            let k = 9 * cin;
            let w: Vec<f32> = (0..cout * k)
                .map(|i| libm::cosf(i as f32 * 0.173))
                .collect();
            let pk = Packed::new(&w, cout, k, 0, k);
            let bias: Vec<f32> = (0..pk.padded_n()).map(|j| j as f32 * 0.01).collect();
            let (col, ho, wo) = im2col(&src, cin, hi, wi, stride);
            let p = ho * wo;
            let g = Conv3x3 {
                cin,
                padded_width: wp,
                out_width: wo,
                positions: p,
                stride,
            };
            let mut want = vec![0.0f32; p * cout];
            linear(&pk, &bias, p, &col, None, &mut want);
            let mut got = vec![0.0f32; p * cout];
            conv3x3(&pk, &bias, &g, &src, &mut got);
            assert_eq!(got, want, "cin={cin} cout={cout} {hi}x{wi} stride {stride}");
            let mut port = vec![0.0f32; p * cout];
            portable::conv3x3(&pk, &bias, &g, &src, &mut port);
            let mut port_want = vec![0.0f32; p * cout];
            portable::forward(&pk, &bias, p, &col, None, &mut port_want);
            assert_eq!(port, port_want, "portable");
            #[cfg(all(feature = "std", target_arch = "x86_64"))]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                let mut v = vec![0.0f32; p * cout];
                // SAFETY: AVX2 and FMA support were just detected.
                unsafe { avx2::conv3x3(&pk, &bias, &g, &src, &mut v) };
                if Kernel::detect().fused() {
                    assert_eq!(v, want, "avx2+fma");
                }
            }
        }
    }

    /// Winograd F(2×2, 3×3) equals the direct convolution up to rounding (within
    /// `4e-6` of the terms' magnitude), and its transforms give the portable build's bits on
    /// every instruction set.
    #[test]
    fn winograd_equals_the_direct_convolution() {
        for &(cin, cout, h, w) in &[
            (8usize, 16usize, 4usize, 4usize),
            (13, 33, 6, 10),
            (32, 64, 14, 14),
            (9, 5, 2, 8),
            // 72 tiles: two blocks.
            (8, 16, 18, 16),
        ] {
            let wp = w + 2;
            let mut src = vec![0.0f32; (h + 2) * wp * cin];
            for y in 1..=h {
                for x in 1..=w {
                    for c in 0..cin {
                        src[(y * wp + x) * cin + c] =
                            libm::sinf((y * 31 + x * 7 + c * 3) as f32 * 0.37);
                    }
                }
            }
            // PyTorch layout [cout, cin, 3, 3] and its im2col packing.
            let wt: Vec<f32> = (0..cout * cin * 9)
                .map(|i| libm::cosf(i as f32 * 0.173) * 0.5)
                .collect();
            let k = 9 * cin;
            let mut col_w = vec![0.0f32; cout * k];
            for o in 0..cout {
                for c in 0..cin {
                    for t in 0..9 {
                        col_w[o * k + t * cin + c] = wt[(o * cin + c) * 9 + t];
                    }
                }
            }
            let pk = Packed::new(&col_w, cout, k, 0, k);
            let bias: Vec<f32> = (0..pk.padded_n()).map(|j| j as f32 * 0.01 - 0.1).collect();
            let p = h * w;
            let g = Conv3x3 {
                cin,
                padded_width: wp,
                out_width: w,
                positions: p,
                stride: 1,
            };
            let mut want = vec![0.0f32; p * cout];
            conv3x3(&pk, &bias, &g, &src, &mut want);
            let wg = WinogradWeights::new(&wt, cout, cin);
            let tiles = (h / 2) * (w / 2);
            let b = tiles.min(winograd::TILE_BLOCK);
            let (mut v, mut m) = (vec![0.0f32; 16 * b * cin], vec![0.0f32; 16 * b * cout]);
            let mut got = vec![f32::NAN; p * cout];
            winograd(&wg, &bias, (h, w), &src, &mut v, &mut m, &mut got);
            for q in 0..p {
                for o in 0..cout {
                    // Magnitude of the terms of this output.
                    let (y, x) = (q / w, q % w);
                    let mut mag = bias[o].abs() as f64;
                    for t in 0..9 {
                        let r = ((y + t / 3) * wp + x + t % 3) * cin;
                        for c in 0..cin {
                            mag += (src[r + c] as f64 * wt[(o * cin + c) * 9 + t] as f64).abs();
                        }
                    }
                    let (a, b) = (got[q * cout + o] as f64, want[q * cout + o] as f64);
                    assert!(
                        (a - b).abs() <= 4e-6 * mag,
                        "cin={cin} cout={cout} {h}x{w} ({q}, {o}): {a} vs {b} (terms {mag})"
                    );
                }
            }
            // The last block's transforms (left in v and m), portable against this machine's.
            let tr = ((tiles - 1) / b * b, tiles);
            let nv = 16 * (tr.1 - tr.0) * cin;
            let mut pv = vec![0.0f32; v.len()];
            winograd::input(&src, cin, (h, w), tr, &mut pv);
            assert_eq!(v[..nv], pv[..nv], "input transform");
            let mut pd = got.clone();
            winograd::output(&m, cout, (h, w), tr, &bias, &mut pd);
            let mut wd = got.clone();
            match Kernel::detect() {
                #[cfg(all(feature = "std", target_arch = "x86_64", flowmap_avx512))]
                // SAFETY: detected.
                Kernel::Avx512 => unsafe {
                    avx512::winograd_output(&m, cout, (h, w), tr, &bias, &mut wd)
                },
                #[cfg(all(feature = "std", target_arch = "x86_64"))]
                // SAFETY: detected.
                Kernel::Avx2Fma => unsafe {
                    avx2::winograd_output(&m, cout, (h, w), tr, &bias, &mut wd)
                },
                Kernel::Portable => winograd::output(&m, cout, (h, w), tr, &bias, &mut wd),
            }
            assert_eq!(wd, pd, "output transform");
            assert_eq!(got, wd, "winograd output");
        }
    }

    /// GroupNorm and attention give the portable build's bits on every instruction set
    /// (they are plain IEEE operations in a fixed order), and GroupNorm's padded output is
    /// its plain output with a ring of zeros.
    #[test]
    fn group_norm_and_attention_are_the_same_on_every_instruction_set() {
        let (h, w, ch, groups) = (5usize, 7usize, 24usize, 4usize);
        let src: Vec<f32> = (0..h * w * ch)
            .map(|i| libm::sinf(i as f32 * 0.71) * 3.0 + 0.5)
            .collect();
        let gamma: Vec<f32> = (0..ch).map(|c| 1.0 + c as f32 * 0.01).collect();
        let beta: Vec<f32> = (0..ch).map(|c| c as f32 * -0.02).collect();
        let ss: Vec<f32> = (0..2 * ch).map(|c| libm::cosf(c as f32)).collect();
        for (scale_shift, silu, padded) in [
            (None, false, false),
            (Some(&ss[..]), true, true),
            (None, true, false),
        ] {
            let job = GroupNorm {
                src: &src,
                ch,
                groups,
                eps: 1e-5,
                gamma: &gamma,
                beta: &beta,
                scale_shift,
                silu,
                size: (h, w),
                padded,
            };
            let len = (h + 2) * (w + 2) * ch;
            let (mut coef, mut stats) = (vec![0.0f32; 3 * ch], vec![0.0f64; 2 * ch]);
            let mut want = vec![f32::NAN; len];
            norm::run(&job, &mut coef, &mut stats, &mut want);
            let mut got = vec![f32::NAN; len];
            group_norm(&job, &mut coef, &mut stats, &mut got);
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "group norm {silu} {padded}"
            );
            if padded {
                let plain = GroupNorm {
                    padded: false,
                    ..job
                };
                let mut flat = vec![0.0f32; h * w * ch];
                group_norm(&plain, &mut coef, &mut stats, &mut flat);
                for y in 0..h + 2 {
                    for x in 0..w + 2 {
                        let v = &got[(y * (w + 2) + x) * ch..(y * (w + 2) + x + 1) * ch];
                        if y == 0 || x == 0 || y == h + 1 || x == w + 1 {
                            assert!(v.iter().all(|&z| z == 0.0), "ring ({y}, {x})");
                        } else {
                            let q = (y - 1) * w + x - 1;
                            assert_eq!(v, &flat[q * ch..(q + 1) * ch]);
                        }
                    }
                }
            } else if !silu {
                // x̂ = (y − β)/γ has mean 0 and variance 1 over each group.
                let cg = ch / groups;
                for gi in 0..groups {
                    let xs: Vec<f64> = (0..h * w)
                        .flat_map(|q| (gi * cg..(gi + 1) * cg).map(move |c| (q, c)))
                        .map(|(q, c)| ((got[q * ch + c] - beta[c]) / gamma[c]) as f64)
                        .collect();
                    let n = xs.len() as f64;
                    let mean = xs.iter().sum::<f64>() / n;
                    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                    assert!(
                        mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
                        "group {gi}: {mean} {var}"
                    );
                }
            }
        }
        let (p, ach, heads) = (19usize, 48usize, 3usize);
        let qkv: Vec<f32> = (0..p * 3 * ach)
            .map(|i| libm::sinf(i as f32 * 0.29))
            .collect();
        let mut scratch = vec![0.0f32; p * ach + p];
        let mut want = vec![0.0f32; p * ach];
        attention::run(p, ach, heads, &qkv, &mut scratch, &mut want);
        let mut got = vec![0.0f32; p * ach];
        attention(p, ach, heads, &qkv, &mut scratch, &mut got);
        assert_eq!(got, want, "attention");
        // Against a direct f64 softmax attention.
        let d = ach / heads;
        for qi in 0..p {
            for j in 0..heads {
                let sc: Vec<f64> = (0..p)
                    .map(|ki| {
                        (0..d)
                            .map(|e| {
                                qkv[qi * 3 * ach + j * d + e] as f64
                                    * qkv[ki * 3 * ach + ach + j * d + e] as f64
                            })
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = sc.iter().map(|s| libm::exp(s - m)).collect();
                let z: f64 = e.iter().sum();
                for c in 0..d {
                    let o: f64 = (0..p)
                        .map(|ki| e[ki] / z * qkv[ki * 3 * ach + 2 * ach + j * d + c] as f64)
                        .sum();
                    let g = got[qi * ach + j * d + c] as f64;
                    assert!(
                        (g - o).abs() <= 1e-5 * (1.0 + o.abs()),
                        "attention ({qi}, {j}, {c}): {g} vs {o}"
                    );
                }
            }
        }
    }

    #[test]
    fn packing_uses_the_requested_columns() {
        // [2, 5] matrix, columns 2..5 packed.
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let pk: Packed = Packed::new(&w, 2, 5, 2, 3);
        let bias = [0.5f32; NR];
        let mut out = [0.0f32; 2];
        linear(&pk, &bias, 1, &[1.0, 10.0, 100.0], None, &mut out);
        assert_eq!(out, [0.5 + 3.0 + 40.0 + 500.0, 0.5 + 8.0 + 90.0 + 1000.0]);
    }
}
