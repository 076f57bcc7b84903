//! The one tiling driver, generic over the [`MicroKernel`]: the register tile and the loop
//! that covers a batch with tiles, then the activation.
//!
//! Every instruction set runs this code; its `#[target_feature]` entry point only picks the
//! tile shape and instantiates [`forward`] (inlined there, the generic code is compiled with
//! that entry point's features).

use super::activation::activate_slice;
use super::microkernel::MicroKernel;
use super::packed::{Packed, Weight, NR};
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
#[inline(always)]
unsafe fn tile<K: MicroKernel, E: Weight, const MR: usize, const NP: usize>(
    w: &Packed<E>,
    bias: &[f32],
    q0: usize,
    src: &[f32],
    dst: &mut [f32],
) {
    let panels: [&[[E; NR]]; NP] = core::array::from_fn(|j| w.panel(q0 + j));
    // SAFETY: the caller guarantees `K`'s instruction set.
    unsafe { tile_of::<K, E, MR, NP>(panels, w, bias, q0, src, dst) }
}

/// [`tile`] on the given panels (`k` rows each) standing for panels `q0..q0 + NP` of `w`:
/// `w`'s own, or a widened copy of them (the same values, so the same bits).
///
/// # Safety
/// The CPU must support `K`'s instruction set. (Bounds are checked by slicing.)
// Constant-bound index loops on purpose: fully unrolled, they keep `acc` in registers.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn tile_of<K: MicroKernel, P: Weight, const MR: usize, const NP: usize>(
    panels: [&[[P; NR]]; NP],
    w: &Packed<impl Weight>,
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
    let panels: [&[[P; NR]]; NP] = core::array::from_fn(|j| &panels[j][..k]);
    let rows: [&[f32]; MR] = core::array::from_fn(|r| &src[r * k..r * k + k]);
    // One input p: every row's accumulators take a_p · w_p (a macro, not a closure, so that
    // `acc` stays in registers).
    macro_rules! step {
        ($p:expr, $wp:expr) => {{
            let (p, wp): (usize, [K::Row; NP]) = ($p, $wp);
            debug_assert!(p < k);
            for r in 0..MR {
                // SAFETY: each row has `k` elements (sliced above) and `p < k` wherever this
                // macro runs. (Checked indexing kept a compare and branch per row in the
                // innermost loop of the 6-row AVX2 tile, which LLVM could not hoist.)
                let a = unsafe { *rows[r].get_unchecked(p) };
                for j in 0..NP {
                    // SAFETY: as above.
                    acc[r][j] = unsafe { K::mul_add(a, wp[j], acc[r][j]) };
                }
            }
        }};
    }
    let mut p = 0;
    if P::PAIRED {
        // Rows stored in pairs (bf16): widened two at a time, accumulated in order.
        while p + 2 <= k {
            // Plain loops (no `from_fn` closure): the pair loads must inline into this
            // function to get its instruction set.
            let (mut w0, mut w1) = (b, b);
            for j in 0..NP {
                let v: &[[P; NR]; 2] = panels[j][p..p + 2].try_into().expect("two rows");
                // SAFETY: as above.
                (w0[j], w1[j]) = unsafe { P::load_pair::<K>(v) };
            }
            step!(p, w0);
            step!(p + 1, w1);
            p += 2;
        }
    }
    while p < k {
        // (16-bit panels are widened here, exactly: the f32 values the kernel sees are those
        // of the decoded weights.)
        let wp: [K::Row; NP] = core::array::from_fn(|j| {
            // SAFETY: as above.
            unsafe { P::load::<K>(&panels[j][p]) }
        });
        step!(p, wp);
        p += 1;
    }
    // Passing each accumulator by value keeps `acc` itself free of variable-length
    // accesses, which would force it onto the stack.
    for r in 0..MR {
        for j in 0..NP {
            // SAFETY: as above (every `K::store` here).
            unsafe { store::<K>(acc[r][j], &mut dst[r * n..(r + 1) * n], (q0 + j) * NR) };
        }
    }
}

/// Stores one accumulator row into outputs `c0..c0 + NR` of the output row `row` (fewer
/// where the row ends: the padding lanes of the last panel are dropped). A whole panel is
/// stored directly; a partial one goes through a local row (a variable-length copy).
///
/// # Safety
/// The CPU must support `K`'s instruction set.
#[inline(always)]
unsafe fn store<K: MicroKernel>(v: K::Row, row: &mut [f32], c0: usize) {
    if let Some(out) = row.get_mut(c0..c0 + NR) {
        let out: &mut [f32; NR] = out.try_into().expect("NR floats");
        // SAFETY: the caller guarantees `K`'s instruction set.
        unsafe { K::store(v, out) };
    } else {
        let mut t = [0.0f32; NR];
        // SAFETY: as above.
        unsafe { K::store(v, &mut t) };
        let len = row.len() - c0;
        row[c0..].copy_from_slice(&t[..len]);
    }
}

/// Rows per block of the batched 16-bit path: each group of panels is widened once per block.
#[cfg(feature = "std")]
const WIDE_BLOCK: usize = 64;

/// Panel rows (`NP · k`) the widened copy of one panel group holds: 64 KiB of stack, so only
/// with `std` (threads with megabytes of stack; no_std targets such as microcontrollers
/// widen in the tile). Larger groups are widened in the tile.
#[cfg(feature = "std")]
const WIDE_ROWS: usize = 1024;

/// `dst[batch × n] = act(src[batch × k] · Wᵀ + bias)`: `MR`-row tiles of `NP` panels, then
/// one 4-row tile if 4 or more rows are left (and `MR > 4`), then leftover rows (and batch
/// 1) one at a time with `NP1` panels per tile; then the activation. Shapes are checked by the caller ([`super::linear`]).
///
/// # Safety
/// The CPU must support `K`'s instruction set.
#[allow(clippy::int_plus_one)] // `q + NP <= np` reads as "NP more panels fit"
#[inline(always)]
pub(crate) unsafe fn forward<
    K: MicroKernel,
    E: Weight,
    const MR: usize,
    const NP: usize,
    const NP1: usize,
>(
    w: &Packed<E>,
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
    // f16 panels, at least two full tiles, panel group small enough: widen each group of
    // NP panels once per block of WIDE_BLOCK rows into f32 on the stack and run the tiles on
    // that copy, instead of widening in every tile (measured ≈ 10 % of the batched time on
    // AVX-512). The copy holds the same values, so the bits do not change. Paired bf16 rows
    // widen in the tile (one bitwise operation per row): within 3 % of f32 panels at batch
    // 64 and 1024 on Zen 4, where the block copy was 4–10 % slower.
    #[cfg(feature = "std")]
    let widen_blocks = E::WIDENS && !E::PAIRED && full >= 2 && NP * k <= WIDE_ROWS;
    #[cfg(not(feature = "std"))]
    let widen_blocks = false;
    #[cfg(feature = "std")]
    if widen_blocks {
        // Uninitialised: zeroing 64 KiB per call would cost more than it protects; only
        // the `NP · k` rows written below are ever read.
        let mut wide = [const { core::mem::MaybeUninit::<[f32; NR]>::uninit() }; WIDE_ROWS];
        // Whole tiles per block, whatever MR (a block that is not a multiple of MR would
        // leave its last rows to `chunks_exact` below, which drops them).
        let block_rows = WIDE_BLOCK / MR * MR;
        for (sb, db) in s_full
            .chunks(block_rows * k)
            .zip(d_full.chunks_mut(block_rows * n))
        {
            let mut q = 0;
            while q + NP <= np {
                for j in 0..NP {
                    let (panel, out) = (w.panel(q + j), &mut wide[j * k..(j + 1) * k]);
                    // Never paired rows here (`widen_blocks` excludes them).
                    for (v, o) in panel.iter().zip(out) {
                        let mut row = [0.0f32; NR];
                        // SAFETY: the caller guarantees `K`'s instruction set (every `K::`
                        // call and tile here).
                        unsafe { K::store(E::load::<K>(v), &mut row) };
                        o.write(row);
                    }
                }
                // SAFETY: rows `0..NP·k` of `wide` were all written just above (`panel` has
                // `k` rows for each j), and `MaybeUninit<T>` has the layout of `T`.
                let done: &[[f32; NR]] =
                    unsafe { core::slice::from_raw_parts(wide.as_ptr().cast(), NP * k) };
                let panels: [&[[f32; NR]]; NP] =
                    core::array::from_fn(|j| &done[j * k..(j + 1) * k]);
                for (s, d) in sb.chunks_exact(MR * k).zip(db.chunks_exact_mut(MR * n)) {
                    // SAFETY: as above.
                    unsafe { tile_of::<K, f32, MR, NP>(panels, w, bias, q, s, d) };
                }
                q += NP;
            }
            // Leftover panels (fewer than NP): widened in the tile.
            for (s, d) in sb.chunks_exact(MR * k).zip(db.chunks_exact_mut(MR * n)) {
                for q in q..np {
                    // SAFETY: as above.
                    unsafe { tile::<K, E, MR, 1>(w, bias, q, s, d) };
                }
            }
        }
    }
    for (s, d) in s_full
        .chunks_exact(MR * k)
        .zip(d_full.chunks_exact_mut(MR * n))
        .filter(|_| !widen_blocks)
    {
        let mut q = 0;
        while q + NP <= np {
            // SAFETY: the caller guarantees `K`'s instruction set (every `tile` call here).
            unsafe {
                tile::<K, E, MR, NP>(w, bias, q, s, d);
            }
            q += NP;
        }
        while q < np {
            // SAFETY: as above.
            unsafe { tile::<K, E, MR, 1>(w, bias, q, s, d) };
            q += 1;
        }
    }
    // Half-height tiles for a leftover of 4 or more rows, as in `conv3x3`.
    let (s_rest, d_rest) = if MR > 4 && batch - full * MR >= 4 {
        let (s4, s_rest) = s_rest.split_at(4 * k);
        let (d4, d_rest) = d_rest.split_at_mut(4 * n);
        let mut q = 0;
        while q + NP <= np {
            // SAFETY: as above.
            unsafe { tile::<K, E, 4, NP>(w, bias, q, s4, d4) };
            q += NP;
        }
        while q < np {
            // SAFETY: as above.
            unsafe { tile::<K, E, 4, 1>(w, bias, q, s4, d4) };
            q += 1;
        }
        (s_rest, d_rest)
    } else {
        (s_rest, d_rest)
    };
    for (s, d) in s_rest.chunks_exact(k).zip(d_rest.chunks_exact_mut(n)) {
        let mut q = 0;
        while q + NP1 <= np {
            // SAFETY: as above.
            unsafe { tile::<K, E, 1, NP1>(w, bias, q, s, d) };
            q += NP1;
        }
        while q + NP <= np {
            // SAFETY: as above.
            unsafe { tile::<K, E, 1, NP>(w, bias, q, s, d) };
            q += NP;
        }
        while q < np {
            // SAFETY: as above.
            unsafe { tile::<K, E, 1, 1>(w, bias, q, s, d) };
            q += 1;
        }
    }
    if let Some(act) = act {
        activate_slice(act, dst);
    }
}

/// Where an implicit 3×3 convolution reads its input: a zero-padded HWC map of
/// `(h + 2) × (w + 2)` positions and `cin` channels (one ring of zeros around the image).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conv3x3 {
    /// Input channels.
    pub(crate) cin: usize,
    /// Width of the padded input (`w + 2`).
    pub(crate) padded_width: usize,
    /// Output width.
    pub(crate) out_width: usize,
    /// Output positions (`out_height · out_width`).
    pub(crate) positions: usize,
    /// 1, or 2 for down-sampling.
    pub(crate) stride: usize,
}

impl Conv3x3 {
    /// Offset in the padded input of output position `i`'s top-left tap.
    #[inline(always)]
    fn base(&self, i: usize) -> usize {
        let (oy, ox) = (i / self.out_width, i % self.out_width);
        (oy * self.stride * self.padded_width + ox * self.stride) * self.cin
    }

    /// Offsets of the nine taps (ky·3 + kx) from a position's top-left tap.
    #[inline(always)]
    fn taps(&self) -> [usize; 9] {
        core::array::from_fn(|t| ((t / 3) * self.padded_width + t % 3) * self.cin)
    }
}

/// An `MR × (NP·NR)` tile of a 3×3 convolution read straight from the padded input (no
/// im2col copy): output positions `i0..i0 + MR`, panels `q0..q0 + NP`, stored into the `MR`
/// rows of `dst` (row stride `n`).
///
/// The weights are packed in im2col column order `p = tap·cin + ci`, and the loops run tap by
/// tap, channel by channel: every output accumulates p = 0, 1, … in order from its bias,
/// exactly like [`tile`] on the im2col rows (the padding zeros included), so the bits are
/// those of the im2col product for every tile shape.
///
/// # Safety
/// The CPU must support `K`'s instruction set. (Bounds are checked by slicing.)
#[allow(clippy::needless_range_loop)]
#[inline(always)]
unsafe fn conv_tile<K: MicroKernel, const MR: usize, const NP: usize>(
    w: &Packed,
    bias: &[f32],
    q0: usize,
    g: &Conv3x3,
    i0: usize,
    src: &[f32],
    dst: &mut [f32],
) {
    let (n, cin) = (w.n, g.cin);
    let b: [K::Row; NP] = core::array::from_fn(|j| {
        // SAFETY: the caller guarantees `K`'s instruction set (here and at every `K::`
        // call below).
        unsafe { K::load(w.bias_row(bias, q0 + j)) }
    });
    let mut acc = [b; MR];
    let panels: [&[[f32; NR]]; NP] = core::array::from_fn(|j| w.panel(q0 + j));
    let bases: [usize; MR] = core::array::from_fn(|r| g.base(i0 + r));
    let taps = g.taps();
    for t in 0..9 {
        let rows: [&[f32]; MR] = core::array::from_fn(|r| {
            let o = bases[r] + taps[t];
            &src[o..o + cin]
        });
        let wt: [&[[f32; NR]]; NP] = core::array::from_fn(|j| &panels[j][t * cin..(t + 1) * cin]);
        for ci in 0..cin {
            // SAFETY: as above.
            let wp: [K::Row; NP] = core::array::from_fn(|j| unsafe { K::load(&wt[j][ci]) });
            for r in 0..MR {
                let a = rows[r][ci];
                for j in 0..NP {
                    // SAFETY: as above.
                    acc[r][j] = unsafe { K::mul_add(a, wp[j], acc[r][j]) };
                }
            }
        }
    }
    for r in 0..MR {
        for j in 0..NP {
            // SAFETY: as above (every `K::store` here).
            unsafe { store::<K>(acc[r][j], &mut dst[r * n..(r + 1) * n], (q0 + j) * NR) };
        }
    }
}

/// `dst[positions × n]` = the 3×3 convolution (weights `w`, `k = 9·cin`, im2col order) of
/// the padded map `src` described by `g`: `MR`-position tiles of `NP` panels, then one
/// 4-position tile if 4 or more are left, then leftover positions one at a time with `NP1`
/// panels per tile. No activation.
///
/// # Safety
/// The CPU must support `K`'s instruction set.
#[allow(clippy::int_plus_one)]
#[inline(always)]
pub(crate) unsafe fn conv3x3<K: MicroKernel, const MR: usize, const NP: usize, const NP1: usize>(
    w: &Packed,
    bias: &[f32],
    g: &Conv3x3,
    src: &[f32],
    dst: &mut [f32],
) {
    let n = w.n;
    let np = w.num_panels();
    let mut i = 0;
    let full = g.positions / MR * MR;
    while i < full {
        let d = &mut dst[i * n..(i + MR) * n];
        let mut q = 0;
        while q + NP <= np {
            // SAFETY: the caller guarantees `K`'s instruction set (every tile call here).
            unsafe { conv_tile::<K, MR, NP>(w, bias, q, g, i, src, d) };
            q += NP;
        }
        while q < np {
            // SAFETY: as above.
            unsafe { conv_tile::<K, MR, 1>(w, bias, q, g, i, src, d) };
            q += 1;
        }
        i += MR;
    }
    // Half-height tiles for a leftover of 4 or more positions (a 14×14 map leaves 4 after
    // 8-row tiles): single-position tiles have too few independent accumulators to hide
    // the FMA latency.
    if MR > 4 && g.positions - i >= 4 {
        let d = &mut dst[i * n..(i + 4) * n];
        let mut q = 0;
        while q + NP <= np {
            // SAFETY: as above.
            unsafe { conv_tile::<K, 4, NP>(w, bias, q, g, i, src, d) };
            q += NP;
        }
        while q < np {
            // SAFETY: as above.
            unsafe { conv_tile::<K, 4, 1>(w, bias, q, g, i, src, d) };
            q += 1;
        }
        i += 4;
    }
    while i < g.positions {
        let d = &mut dst[i * n..(i + 1) * n];
        let mut q = 0;
        while q + NP1 <= np {
            // SAFETY: as above.
            unsafe { conv_tile::<K, 1, NP1>(w, bias, q, g, i, src, d) };
            q += NP1;
        }
        while q + NP <= np {
            // SAFETY: as above.
            unsafe { conv_tile::<K, 1, NP>(w, bias, q, g, i, src, d) };
            q += NP;
        }
        while q < np {
            // SAFETY: as above.
            unsafe { conv_tile::<K, 1, 1>(w, bias, q, g, i, src, d) };
            q += 1;
        }
        i += 1;
    }
}
