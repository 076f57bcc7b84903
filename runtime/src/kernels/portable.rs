//! The portable micro-kernel: plain Rust on `[f32; 16]` rows, a separate multiply and add
//! (the *unfused* family). Used on no_std builds, non-x86 targets (thumbv7em, aarch64, …)
//! and x86-64 CPUs without FMA; on x86-64 the compiler vectorises it with SSE2.

use super::driver::Conv3x3;
use super::microkernel::MicroKernel;
use super::packed::{Packed, Weight, NR};
use crate::schema::Activation;

/// Plain Rust, separate multiply and add.
pub(crate) struct Portable;

impl MicroKernel for Portable {
    type Row = [f32; NR];
    const NAME: &'static str = "portable";

    #[inline(always)]
    unsafe fn load(v: &[f32; NR]) -> [f32; NR] {
        *v
    }

    #[inline(always)]
    unsafe fn load_f16(v: &[u16; NR]) -> [f32; NR] {
        // Software widening (no_std has no F16C detection); exact.
        core::array::from_fn(|c| half::f16::from_bits(v[c]).to_f32())
    }

    #[inline(always)]
    unsafe fn load_bf16(v: &[u16; NR]) -> [f32; NR] {
        core::array::from_fn(|c| f32::from_bits(u32::from(v[c]) << 16))
    }

    #[inline(always)]
    unsafe fn load_bf16_pair(v: &[u16; 2 * NR]) -> ([f32; NR], [f32; NR]) {
        let lane = |c: usize| u32::from(v[2 * c]) | (u32::from(v[2 * c + 1]) << 16);
        (
            core::array::from_fn(|c| f32::from_bits(lane(c) & 0xFFFF_0000)),
            core::array::from_fn(|c| f32::from_bits(lane(c) << 16)),
        )
    }

    #[inline(always)]
    unsafe fn mul_add(a: f32, w: [f32; NR], mut acc: [f32; NR]) -> [f32; NR] {
        for c in 0..NR {
            // Rust never contracts this into a fused multiply-add.
            acc[c] += a * w[c];
        }
        acc
    }

    #[inline(always)]
    unsafe fn store(v: [f32; NR], out: &mut [f32; NR]) {
        *out = v;
    }
}

/// The layer, portable build (SSE2 on x86-64: 16 registers): 2 × 16 tiles, 1 × 32 at
/// batch 1.
pub(crate) fn forward<E: Weight>(
    w: &Packed<E>,
    bias: &[f32],
    batch: usize,
    src: &[f32],
    act: Option<Activation>,
    dst: &mut [f32],
) {
    // SAFETY: the portable kernel uses no instruction beyond the target's baseline.
    unsafe { super::driver::forward::<Portable, E, 2, 1, 2>(w, bias, batch, src, act, dst) }
}

/// A 3×3 convolution from a padded map, portable build (the tile of [`forward`]).
pub(crate) fn conv3x3(w: &Packed, bias: &[f32], g: &Conv3x3, src: &[f32], dst: &mut [f32]) {
    // SAFETY: the portable kernel uses no instruction beyond the target's baseline.
    unsafe { super::driver::conv3x3::<Portable, 2, 1, 2>(w, bias, g, src, dst) }
}
