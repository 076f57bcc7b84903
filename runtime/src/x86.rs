//! x86-64 builds of the dense kernel with explicit AVX2 + FMA / AVX-512 intrinsics
//! (compiled in with `std`, chosen at run time by [`crate::kernels::linear`]).
//!
//! Both are the *fused* kernel family: each output starts at its bias and accumulates
//! `acc = fma(a_p, w_p, acc)` (one IEEE fused multiply-add, a single rounding) for
//! p = 0, 1, … in order, whatever the tile shape, so the two builds, every tile and every
//! batch size give the same bits as the scalar fused reference (`libm::fmaf` in order). They
//! differ from the portable kernel (separate multiply and add) by rounding only; see
//! [`crate::kernels`]. Explicit intrinsics (rather than auto-vectorisation) pin the register
//! tiling: the vectoriser otherwise tends to vectorise across rows with gathers.
//!
//! All loads and stores go through [`Row`] references to whole 16-float panel rows, so the
//! only `unsafe` left is the unaligned load/store of a `[f32; 16]` and the calls into
//! `#[target_feature]` functions.

use core::arch::x86_64::*;

use crate::kernels::{Packed, NR};
use crate::schema::Activation;

/// One panel row: 16 consecutive outputs.
type Row = [f32; NR];

/// `MR × (NP·16)` output tile on AVX-512: `acc[r][j]` is one zmm register.
// The AVX-512 intrinsics are stable since rustc 1.89; build.rs sets `flowmap_avx512` only
// there, so the MSRV lint does not apply.
#[cfg(flowmap_avx512)]
#[allow(clippy::incompatible_msrv)]
///
/// # Safety
/// The CPU must support AVX-512F. (Bounds are checked by slicing.)
#[inline]
#[target_feature(enable = "avx512f")]
#[allow(clippy::needless_range_loop)] // constant bounds: unrolled, `acc` stays in registers
unsafe fn tile512<const MR: usize, const NP: usize>(
    w: &Packed,
    bias: &[f32],
    q0: usize,
    src: &[f32],
    dst: &mut [f32],
) {
    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load(v: &Row) -> __m512 {
        // SAFETY: `v` is 16 readable floats; loadu has no alignment requirement.
        unsafe { _mm512_loadu_ps(v.as_ptr()) }
    }
    let (n, k) = (w.n, w.k);
    // SAFETY (the `load` calls and intrinsics below): the caller guarantees AVX-512F.
    let b: [__m512; NP] = core::array::from_fn(|j| unsafe { load(w.bias_row(bias, q0 + j)) });
    let mut acc = [b; MR];
    let panels: [&[Row]; NP] = core::array::from_fn(|j| w.panel(q0 + j));
    let rows: [&[f32]; MR] = core::array::from_fn(|r| &src[r * k..r * k + k]);
    for p in 0..k {
        let wp: [__m512; NP] = core::array::from_fn(|j| unsafe { load(&panels[j][p]) });
        for r in 0..MR {
            let a = _mm512_set1_ps(rows[r][p]);
            for j in 0..NP {
                acc[r][j] = _mm512_fmadd_ps(a, wp[j], acc[r][j]);
            }
        }
    }
    for r in 0..MR {
        for j in 0..NP {
            let mut v: Row = [0.0; NR];
            // SAFETY: `v` is 16 writable floats; storeu has no alignment requirement.
            unsafe { _mm512_storeu_ps(v.as_mut_ptr(), acc[r][j]) };
            let c0 = (q0 + j) * NR;
            let c1 = (c0 + NR).min(n);
            dst[r * n + c0..r * n + c1].copy_from_slice(&v[..c1 - c0]);
        }
    }
}

/// `MR × (NP·16)` output tile on AVX2 + FMA: `acc[r][j]` is two ymm registers.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::needless_range_loop)] // constant bounds: unrolled, `acc` stays in registers
unsafe fn tile256<const MR: usize, const NP: usize>(
    w: &Packed,
    bias: &[f32],
    q0: usize,
    src: &[f32],
    dst: &mut [f32],
) {
    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load(v: &Row) -> [__m256; 2] {
        // SAFETY: `v` is 16 readable floats; loadu has no alignment requirement.
        unsafe {
            [
                _mm256_loadu_ps(v.as_ptr()),
                _mm256_loadu_ps(v[8..].as_ptr()),
            ]
        }
    }
    let (n, k) = (w.n, w.k);
    // SAFETY (the `load` calls and intrinsics below): the caller guarantees AVX2 and FMA.
    let b: [[__m256; 2]; NP] = core::array::from_fn(|j| unsafe { load(w.bias_row(bias, q0 + j)) });
    let mut acc = [b; MR];
    let panels: [&[Row]; NP] = core::array::from_fn(|j| w.panel(q0 + j));
    let rows: [&[f32]; MR] = core::array::from_fn(|r| &src[r * k..r * k + k]);
    for p in 0..k {
        let wp: [[__m256; 2]; NP] = core::array::from_fn(|j| unsafe { load(&panels[j][p]) });
        for r in 0..MR {
            let a = _mm256_set1_ps(rows[r][p]);
            for j in 0..NP {
                for h in 0..2 {
                    acc[r][j][h] = _mm256_fmadd_ps(a, wp[j][h], acc[r][j][h]);
                }
            }
        }
    }
    for r in 0..MR {
        for j in 0..NP {
            let mut v: Row = [0.0; NR];
            // SAFETY: `v` is 16 writable floats; storeu has no alignment requirement.
            unsafe {
                _mm256_storeu_ps(v.as_mut_ptr(), acc[r][j][0]);
                _mm256_storeu_ps(v[8..].as_mut_ptr(), acc[r][j][1]);
            }
            let c0 = (q0 + j) * NR;
            let c1 = (c0 + NR).min(n);
            dst[r * n + c0..r * n + c1].copy_from_slice(&v[..c1 - c0]);
        }
    }
}

/// Drives a tile function over the batch: `MR`-row tiles of `NP` panels, then leftover rows
/// (and batch 1) with `NP1` panels per tile.
macro_rules! drive {
    ($tile:ident, $mr:literal, $np:literal, $np1:literal, $w:ident, $bias:ident, $batch:ident, $src:ident, $dst:ident) => {{
        let (n, k) = ($w.n, $w.k);
        let np = $w.num_panels();
        let src = &$src[..$batch * k];
        let dst = &mut $dst[..$batch * n];
        let full = $batch / $mr;
        let (s_full, s_rest) = src.split_at(full * $mr * k);
        let (d_full, d_rest) = dst.split_at_mut(full * $mr * n);
        for (s, d) in s_full
            .chunks_exact($mr * k)
            .zip(d_full.chunks_exact_mut($mr * n))
        {
            let mut q = 0;
            while q + $np <= np {
                $tile::<$mr, $np>($w, $bias, q, s, d);
                q += $np;
            }
            while q < np {
                $tile::<$mr, 1>($w, $bias, q, s, d);
                q += 1;
            }
        }
        for (s, d) in s_rest.chunks_exact(k).zip(d_rest.chunks_exact_mut(n)) {
            let mut q = 0;
            while q + $np1 <= np {
                $tile::<1, $np1>($w, $bias, q, s, d);
                q += $np1;
            }
            while q < np {
                $tile::<1, 1>($w, $bias, q, s, d);
                q += 1;
            }
        }
    }};
}

/// The layer on AVX-512 (32 registers): 8 × 32 tiles (16 accumulators), 1 × 128 at batch
/// 1 (8 independent accumulators per input), then the activation.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(flowmap_avx512)]
#[allow(clippy::int_plus_one)] // `q + NP <= np` with NP = 1 in the generic driver
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn forward_avx512(
    w: &Packed,
    bias: &[f32],
    batch: usize,
    src: &[f32],
    act: Option<Activation>,
    dst: &mut [f32],
) {
    drive!(tile512, 8, 2, 8, w, bias, batch, src, dst);
    if let Some(act) = act {
        crate::kernels::activate_slice(act, &mut dst[..batch * w.n]);
    }
}

/// The layer on AVX2 + FMA (16 registers): 4 × 16 tiles (8 accumulators), 1 × 64 at
/// batch 1, then the activation.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[allow(clippy::int_plus_one)] // `q + NP <= np` with NP = 1 in the generic driver
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn forward_avx2_fma(
    w: &Packed,
    bias: &[f32],
    batch: usize,
    src: &[f32],
    act: Option<Activation>,
    dst: &mut [f32],
) {
    drive!(tile256, 4, 1, 4, w, bias, batch, src, dst);
    if let Some(act) = act {
        crate::kernels::activate_slice(act, &mut dst[..batch * w.n]);
    }
}
