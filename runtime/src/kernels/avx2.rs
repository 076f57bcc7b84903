//! The AVX2 + FMA micro-kernel (x86-64 with `std`, chosen at run time by
//! [`super::linear`]): a panel row is two ymm registers, accumulated with fused multiply-add
//! (the *fused* family: `acc = fma(a, w, acc)`, one rounding).
//!
//! Explicit intrinsics (rather than auto-vectorisation) pin the register tiling: the
//! vectoriser otherwise tends to vectorise across rows with gathers.

use core::arch::x86_64::{
    __m128i, __m256, __m256i, _mm256_and_si256, _mm256_castsi256_ps, _mm256_cvtepu16_epi32,
    _mm256_cvtph_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_loadu_si256, _mm256_set1_epi32,
    _mm256_set1_ps, _mm256_slli_epi32, _mm256_storeu_ps, _mm_loadu_si128,
};

use super::driver::Conv3x3;
use super::microkernel::MicroKernel;
use super::norm::GroupNorm;
use super::packed::{Packed, Weight, NR};
use crate::schema::Activation;

/// AVX2 + FMA.
pub(crate) struct Avx2Fma;

impl MicroKernel for Avx2Fma {
    type Row = [__m256; 2];
    const NAME: &'static str = "avx2+fma";

    #[inline(always)]
    unsafe fn load(v: &[f32; NR]) -> [__m256; 2] {
        // SAFETY: `v` is 16 readable floats (loadu has no alignment requirement); the caller
        // guarantees AVX.
        unsafe {
            [
                _mm256_loadu_ps(v.as_ptr()),
                _mm256_loadu_ps(v[8..].as_ptr()),
            ]
        }
    }

    #[inline(always)]
    unsafe fn load_f16(v: &[u16; NR]) -> [__m256; 2] {
        // SAFETY: `v` is 32 readable bytes, two unaligned 16-byte loads; the caller
        // guarantees F16C (required with AVX2 by `Kernel::detect`).
        unsafe {
            let p = v.as_ptr() as *const __m128i;
            [
                _mm256_cvtph_ps(_mm_loadu_si128(p)),
                _mm256_cvtph_ps(_mm_loadu_si128(p.add(1))),
            ]
        }
    }

    #[inline(always)]
    unsafe fn load_bf16(v: &[u16; NR]) -> [__m256; 2] {
        // SAFETY: as in `load_f16`; the caller guarantees AVX2. Zero-extend each 16-bit
        // value to 32 bits and shift it into the upper half: the f32 with those upper bits.
        unsafe {
            let p = v.as_ptr() as *const __m128i;
            let widen = |h| _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)));
            [widen(_mm_loadu_si128(p)), widen(_mm_loadu_si128(p.add(1)))]
        }
    }

    #[inline(always)]
    unsafe fn load_bf16_pair(v: &[u16; 2 * NR]) -> ([__m256; 2], [__m256; 2]) {
        // SAFETY: `v` is 64 readable bytes, two unaligned 32-byte loads; the caller
        // guarantees AVX2.
        unsafe {
            let p = v.as_ptr() as *const __m256i;
            let (d0, d1) = (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)));
            let hi = _mm256_set1_epi32(0xFFFF_0000_u32 as i32);
            let upper = |d| _mm256_castsi256_ps(_mm256_and_si256(d, hi));
            let lower = |d| _mm256_castsi256_ps(_mm256_slli_epi32::<16>(d));
            ([upper(d0), upper(d1)], [lower(d0), lower(d1)])
        }
    }

    #[inline(always)]
    unsafe fn mul_add(a: f32, w: [__m256; 2], acc: [__m256; 2]) -> [__m256; 2] {
        // SAFETY: the caller guarantees AVX and FMA.
        unsafe {
            let a = _mm256_set1_ps(a);
            [
                _mm256_fmadd_ps(a, w[0], acc[0]),
                _mm256_fmadd_ps(a, w[1], acc[1]),
            ]
        }
    }

    #[inline(always)]
    unsafe fn store(v: [__m256; 2], out: &mut [f32; NR]) {
        // SAFETY: `out` is 16 writable floats (storeu has no alignment requirement); the
        // caller guarantees AVX.
        unsafe {
            _mm256_storeu_ps(out.as_mut_ptr(), v[0]);
            _mm256_storeu_ps(out[8..].as_mut_ptr(), v[1]);
        }
    }
}

/// The layer on AVX2 + FMA (16 registers): 6 × 16 tiles (12 accumulators) on f32 panels,
/// 4 × 16 (8 accumulators) on 16-bit ones and below 6 rows, 1 × 64 at batch 1, then the
/// activation. F16C widens 16-bit panels.
///
/// Why two shapes: on Zen 3 (AVX2 only) the 6-row tile ran f32 layers 1–3 % faster than the
/// 4-row one at batch 64 and 1024, the shape ONNX Runtime's FMA3 kernel uses; with 16-bit
/// panels it ran at about half speed (cause not found yet), so those keep 4 rows. Tile
/// shapes do not change the bits (see [`super::driver`]).
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn forward<E: Weight>(
    w: &Packed<E>,
    bias: &[f32],
    batch: usize,
    src: &[f32],
    act: Option<Activation>,
    dst: &mut [f32],
) {
    // SAFETY: the caller guarantees AVX2, FMA and F16C.
    unsafe {
        if E::WIDENS || batch < 6 {
            super::driver::forward::<Avx2Fma, E, 4, 1, 4>(w, bias, batch, src, act, dst)
        } else {
            super::driver::forward::<Avx2Fma, E, 6, 1, 4>(w, bias, batch, src, act, dst)
        }
    }
}

/// A 3×3 convolution from a padded map ([`super::driver::conv3x3`], the tile of
/// [`forward`]).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn conv3x3(w: &Packed, bias: &[f32], g: &Conv3x3, src: &[f32], dst: &mut [f32]) {
    // SAFETY: the caller guarantees AVX2 and FMA.
    unsafe { super::driver::conv3x3::<Avx2Fma, 4, 1, 4>(w, bias, g, src, dst) }
}

/// GroupNorm ([`super::norm::run`]) vectorised with this instruction set.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn group_norm(
    job: &GroupNorm,
    coef: &mut [f32],
    stats: &mut [f64],
    dst: &mut [f32],
) {
    super::norm::run(job, coef, stats, dst)
}

/// Attention ([`super::attention::run`]) vectorised with this instruction set.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn attention(
    p: usize,
    ch: usize,
    heads: usize,
    qkv: &[f32],
    scratch: &mut [f32],
    out: &mut [f32],
) {
    super::attention::run(p, ch, heads, qkv, scratch, out)
}

/// Winograd input transform ([`super::winograd::input`]) vectorised with this instruction set.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn winograd_input(
    src: &[f32],
    cin: usize,
    size: (usize, usize),
    tiles: (usize, usize),
    v: &mut [f32],
) {
    super::winograd::input(src, cin, size, tiles, v)
}

/// Winograd output transform ([`super::winograd::output`]) vectorised with this instruction
/// set.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn winograd_output(
    m: &[f32],
    cout: usize,
    size: (usize, usize),
    tiles: (usize, usize),
    bias: &[f32],
    dst: &mut [f32],
) {
    super::winograd::output(m, cout, size, tiles, bias, dst)
}
