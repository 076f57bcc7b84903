//! The AVX-512F micro-kernel (x86-64 with `std`, chosen at run time by [`super::linear`]):
//! a panel row is one zmm register, accumulated with fused multiply-add (the *fused*
//! family, bit-identical to [`super::avx2`]).
//!
//! The AVX-512 intrinsics are stable since rustc 1.89; build.rs sets `flowmap_avx512` only
//! there, so this module exists only there (and the MSRV lint does not apply).
#![allow(clippy::incompatible_msrv)]

use core::arch::x86_64::{
    __m256i, __m512, _mm256_loadu_si256, _mm512_and_si512, _mm512_castsi512_ps,
    _mm512_cvtepu16_epi32, _mm512_cvtph_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_loadu_si512,
    _mm512_set1_epi32, _mm512_set1_ps, _mm512_slli_epi32, _mm512_storeu_ps,
};

use super::driver::Conv3x3;
use super::microkernel::MicroKernel;
use super::norm::GroupNorm;
use super::packed::{Packed, Weight, NR};
use crate::schema::Activation;

/// AVX-512F.
pub(crate) struct Avx512;

impl MicroKernel for Avx512 {
    type Row = __m512;
    const NAME: &'static str = "avx512f";

    #[inline(always)]
    unsafe fn load(v: &[f32; NR]) -> __m512 {
        // SAFETY: `v` is 16 readable floats (loadu has no alignment requirement); the caller
        // guarantees AVX-512F.
        unsafe { _mm512_loadu_ps(v.as_ptr()) }
    }

    #[inline(always)]
    unsafe fn load_f16(v: &[u16; NR]) -> __m512 {
        // SAFETY: `v` is 32 readable bytes (unaligned load); the caller guarantees
        // AVX-512F (which includes the 512-bit half-to-single conversion).
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(v.as_ptr() as *const __m256i)) }
    }

    #[inline(always)]
    unsafe fn load_bf16(v: &[u16; NR]) -> __m512 {
        // SAFETY: as in `load_f16`. Zero-extend each 16-bit value to 32 bits and shift it
        // into the upper half: the f32 with those upper bits.
        unsafe {
            let h = _mm256_loadu_si256(v.as_ptr() as *const __m256i);
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
        }
    }

    #[inline(always)]
    unsafe fn load_bf16_pair(v: &[u16; 2 * NR]) -> (__m512, __m512) {
        // SAFETY: `v` is 64 readable bytes (unaligned load); the caller guarantees AVX-512F.
        unsafe {
            let d = _mm512_loadu_si512(v.as_ptr().cast());
            let hi = _mm512_set1_epi32(0xFFFF_0000_u32 as i32);
            (
                _mm512_castsi512_ps(_mm512_and_si512(d, hi)),
                _mm512_castsi512_ps(_mm512_slli_epi32::<16>(d)),
            )
        }
    }

    #[inline(always)]
    unsafe fn mul_add(a: f32, w: __m512, acc: __m512) -> __m512 {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe { _mm512_fmadd_ps(_mm512_set1_ps(a), w, acc) }
    }

    #[inline(always)]
    unsafe fn store(v: __m512, out: &mut [f32; NR]) {
        // SAFETY: `out` is 16 writable floats (storeu has no alignment requirement); the
        // caller guarantees AVX-512F.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) }
    }
}

/// The layer on AVX-512 (32 registers): 8 × 32 tiles (16 accumulators), 1 × 128 at batch
/// 1 (8 independent accumulators per input), then the activation.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn forward<E: Weight>(
    w: &Packed<E>,
    bias: &[f32],
    batch: usize,
    src: &[f32],
    act: Option<Activation>,
    dst: &mut [f32],
) {
    // SAFETY: the caller guarantees AVX-512F.
    unsafe { super::driver::forward::<Avx512, E, 8, 2, 8>(w, bias, batch, src, act, dst) }
}

/// A 3×3 convolution from a padded map ([`super::driver::conv3x3`], the tile of
/// [`forward`]).
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn conv3x3(w: &Packed, bias: &[f32], g: &Conv3x3, src: &[f32], dst: &mut [f32]) {
    // SAFETY: the caller guarantees AVX-512F.
    unsafe { super::driver::conv3x3::<Avx512, 8, 2, 8>(w, bias, g, src, dst) }
}

/// GroupNorm ([`super::norm::run`]) vectorised with this instruction set.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
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
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
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
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
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
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
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
