//! The one tiling driver, generic over the [`MicroKernel`]: the register tile and the loop
//! that covers a batch with tiles, then the activation.
//!
//! Every instruction set runs this code; its `#[target_feature]` entry point only picks the
//! tile shape and instantiates [`forward`] (inlined there, the generic code is compiled with
//! that entry point's features).

use super::activation::activate_slice;
use super::microkernel::MicroKernel;
use super::packed::{Packed, NR};
use crate::schema::Activation;

/// Computes an `MR × (NP·NR)` output tile from the `MR` rows in `src` (row stride `k`) and
/// panels `q0..q0 + NP`, and stores the valid columns into the `MR` rows of `dst` (row
/// stride `n`).
///
/// Every output starts at its bias and accumulates p = 0, 1, … in order, whatever `MR` and
/// `NP`: this is what makes every tile shape and batch size give the same bits.
///
/// # Safety
/// The CPU must support `K`'s instruction set. (Bounds are checked by slicing.)
// Constant-bound index loops on purpose: fully unrolled, they keep `acc` in registers.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn tile<K: MicroKernel, const MR: usize, const NP: usize>(
    w: &Packed,
    bias: &[f32],
    q0: usize,
    src: &[f32],
    dst: &mut [f32],
) {
    let (n, k) = (w.n, w.k);
    let b: [K::Row; NP] = core::array::from_fn(|j| {
        // SAFETY: the caller guarantees `K`'s instruction set (here and at every `K::`
        // call below).
        unsafe { K::load(w.bias_row(bias, q0 + j)) }
    });
    let mut acc = [b; MR];
    let panels: [&[[f32; NR]]; NP] = core::array::from_fn(|j| w.panel(q0 + j));
    let rows: [&[f32]; MR] = core::array::from_fn(|r| &src[r * k..r * k + k]);
    for p in 0..k {
        // SAFETY: as above.
        let wp: [K::Row; NP] = core::array::from_fn(|j| unsafe { K::load(&panels[j][p]) });
        for r in 0..MR {
            let a = rows[r][p];
            for j in 0..NP {
                // SAFETY: as above.
                acc[r][j] = unsafe { K::mul_add(a, wp[j], acc[r][j]) };
            }
        }
    }
    // Storing each accumulator to a local row keeps `acc` itself free of variable-length
    // accesses, which would force it onto the stack.
    for r in 0..MR {
        for j in 0..NP {
            let mut v = [0.0f32; NR];
            // SAFETY: as above.
            unsafe { K::store(acc[r][j], &mut v) };
            let c0 = (q0 + j) * NR;
            let c1 = (c0 + NR).min(n);
            dst[r * n + c0..r * n + c1].copy_from_slice(&v[..c1 - c0]);
        }
    }
}

/// `dst[batch × n] = act(src[batch × k] · Wᵀ + bias)`: `MR`-row tiles of `NP` panels, then
/// leftover rows (and batch 1) one at a time with `NP1` panels per tile; then the
/// activation. Shapes are checked by the caller ([`super::linear`]).
///
/// # Safety
/// The CPU must support `K`'s instruction set.
#[allow(clippy::int_plus_one)] // `q + NP <= np` reads as "NP more panels fit"
#[inline(always)]
pub(crate) unsafe fn forward<K: MicroKernel, const MR: usize, const NP: usize, const NP1: usize>(
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
            // SAFETY: the caller guarantees `K`'s instruction set (every `tile` call here).
            unsafe {
                tile::<K, MR, NP>(w, bias, q, s, d);
            }
            q += NP;
        }
        while q < np {
            // SAFETY: as above.
            unsafe { tile::<K, MR, 1>(w, bias, q, s, d) };
            q += 1;
        }
    }
    for (s, d) in s_rest.chunks_exact(k).zip(d_rest.chunks_exact_mut(n)) {
        let mut q = 0;
        while q + NP1 <= np {
            // SAFETY: as above.
            unsafe { tile::<K, 1, NP1>(w, bias, q, s, d) };
            q += NP1;
        }
        while q < np {
            // SAFETY: as above.
            unsafe { tile::<K, 1, 1>(w, bias, q, s, d) };
            q += 1;
        }
    }
    if let Some(act) = act {
        activate_slice(act, dst);
    }
}
