//! Dense weights in the kernel layout: column panels of [`NR`] outputs, stored as f32 or,
//! for weights that came from a 16-bit file, as their 16-bit bits (widened in the kernel).

use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Debug;

use super::microkernel::MicroKernel;
pub(crate) use super::microkernel::NR;

/// How a packed weight is stored, and how a micro-kernel widens one panel row of it to f32.
///
/// Widening f16 and bf16 to f32 is exact, so a 16-bit panel gives the kernel the very f32
/// values an f32 panel of the decoded weights would: same values, same accumulation order,
/// same bits (tested in [`super`]); only the bytes streamed from memory halve.
pub(crate) trait Weight: Copy + Default + Debug + 'static {
    /// Whether loading widens (16-bit storage), i.e. costs a conversion per panel row (the
    /// batched driver then widens once per block of rows, with `std` only).
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    const WIDENS: bool;

    /// The stored form of `v`. Exact for the values this format can hold (a weight decoded
    /// from a tensor of this dtype); anything else is rounded to nearest.
    fn narrow(v: f32) -> Self;

    /// The f32 value (exact).
    #[cfg(test)]
    fn widen(self) -> f32;

    /// Whether panel rows are stored in pairs (rows `2i`, `2i + 1` interleaved; a last odd
    /// row alone), to be read with [`Weight::load_pair`]; [`Weight::load`] then only reads
    /// an unpaired last row.
    const PAIRED: bool = false;

    /// Loads one panel row, widened to f32, into `K`'s registers.
    ///
    /// # Safety
    /// The CPU must support `K`'s instruction set.
    unsafe fn load<K: MicroKernel>(v: &[Self; NR]) -> K::Row;

    /// Loads two consecutive panel rows (a stored pair if [`Weight::PAIRED`]).
    ///
    /// # Safety
    /// The CPU must support `K`'s instruction set.
    #[inline(always)]
    unsafe fn load_pair<K: MicroKernel>(v: &[[Self; NR]; 2]) -> (K::Row, K::Row) {
        // SAFETY: the caller guarantees `K`'s instruction set.
        unsafe { (Self::load::<K>(&v[0]), Self::load::<K>(&v[1])) }
    }

    /// Stores rows `p` and `p + 1` (values `r0`, `r1`) into the two row slots of a pair.
    /// Only called where [`Weight::PAIRED`].
    fn pair(r0: &[Self; NR], r1: &[Self; NR]) -> [[Self; NR]; 2] {
        [*r0, *r1]
    }

    /// Element `c` of row `1` (`second`) or `0` of a stored pair (for tests).
    #[cfg(test)]
    fn unpair(v: &[[Self; NR]; 2], second: bool, c: usize) -> Self {
        v[usize::from(second)][c]
    }
}

impl Weight for f32 {
    const WIDENS: bool = false;

    #[inline(always)]
    fn narrow(v: f32) -> f32 {
        v
    }

    #[cfg(test)]
    fn widen(self) -> f32 {
        self
    }

    #[inline(always)]
    unsafe fn load<K: MicroKernel>(v: &[f32; NR]) -> K::Row {
        // SAFETY: the caller guarantees `K`'s instruction set.
        unsafe { K::load(v) }
    }
}

/// An IEEE binary16 weight, by its bits.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct F16(pub(crate) u16);

impl Weight for F16 {
    const WIDENS: bool = true;

    #[inline(always)]
    fn narrow(v: f32) -> F16 {
        F16(half::f16::from_f32(v).to_bits())
    }

    #[cfg(test)]
    fn widen(self) -> f32 {
        half::f16::from_bits(self.0).to_f32()
    }

    #[inline(always)]
    unsafe fn load<K: MicroKernel>(v: &[F16; NR]) -> K::Row {
        // SAFETY: `F16` is `repr(transparent)` over u16, so the arrays have the same
        // layout; the caller guarantees `K`'s instruction set.
        unsafe { K::load_f16(&*(v as *const [F16; NR] as *const [u16; NR])) }
    }
}

/// A bfloat16 weight, by its bits (the upper half of an f32). In panels, rows are stored in
/// pairs ([`Weight::PAIRED`]): 32-bit lane `c` of rows `2i, 2i + 1` holds row `2i`'s value
/// of output `c` in its upper and row `2i + 1`'s in its lower half.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub(crate) struct Bf16(pub(crate) u16);

impl Weight for Bf16 {
    const WIDENS: bool = true;

    #[inline(always)]
    fn narrow(v: f32) -> Bf16 {
        Bf16(half::bf16::from_f32(v).to_bits())
    }

    #[cfg(test)]
    fn widen(self) -> f32 {
        half::bf16::from_bits(self.0).to_f32()
    }

    #[inline(always)]
    unsafe fn load<K: MicroKernel>(v: &[Bf16; NR]) -> K::Row {
        // SAFETY: `Bf16` is `repr(transparent)` over u16, so the arrays have the same
        // layout; the caller guarantees `K`'s instruction set.
        unsafe { K::load_bf16(&*(v as *const [Bf16; NR] as *const [u16; NR])) }
    }

    // Pairs: bf16 is the upper half of an f32, so with row p's value in the upper half and
    // row p + 1's in the lower half of one 32-bit lane, widening is one AND (row p) and one
    // shift (row p + 1) per 16 weights, where a per-row widening needs a zero-extending
    // shuffle and a shift (the shuffle port bounds batch 1 on Zen 4: ~2 cycles per row).
    const PAIRED: bool = true;

    #[inline(always)]
    unsafe fn load_pair<K: MicroKernel>(v: &[[Bf16; NR]; 2]) -> (K::Row, K::Row) {
        // SAFETY: `[[Bf16; NR]; 2]` is 2·NR contiguous u16 (`repr(transparent)`); the caller
        // guarantees `K`'s instruction set.
        unsafe { K::load_bf16_pair(&*(v as *const [[Bf16; NR]; 2] as *const [u16; 2 * NR])) }
    }

    fn pair(r0: &[Bf16; NR], r1: &[Bf16; NR]) -> [[Bf16; NR]; 2] {
        // u16 element 2c + 1 (upper half of little-endian lane c) = row p, 2c = row p + 1.
        let mut out = [[Bf16(0); NR]; 2];
        for c in 0..NR {
            out[(2 * c) / NR][(2 * c) % NR] = r1[c];
            out[(2 * c + 1) / NR][(2 * c + 1) % NR] = r0[c];
        }
        out
    }

    #[cfg(test)]
    fn unpair(v: &[[Bf16; NR]; 2], second: bool, c: usize) -> Bf16 {
        let i = 2 * c + usize::from(!second);
        v[i / NR][i % NR]
    }
}

/// A weight matrix (PyTorch `[out, in]` layout) repacked into column panels of [`NR`]
/// outputs: `panels[q][p][c] = W[q·NR + c, p]`, zero-padded past `out`. One panel row is one
/// AVX-512 register (two AVX ones), so a tile reads every weight once, with unit stride.
#[derive(Clone, Debug)]
pub(crate) struct Packed<E: Weight = f32> {
    /// Outputs.
    pub(crate) n: usize,
    /// Inputs.
    pub(crate) k: usize,
    /// `ceil(n / NR)` panels of `k` rows of `NR` values: row `q·k + p` holds
    /// `W[q·NR .. q·NR + NR, p]` — except for [`Weight::PAIRED`] formats (bf16), where rows
    /// `2i` and `2i + 1` of a panel are stored interleaved as one pair ([`Bf16`]).
    panels: Vec<[E; NR]>,
}

impl<E: Weight> Packed<E> {
    /// Packs columns `off..off + k` of the row-major `[n, ld]` matrix `w`, each value stored
    /// as [`Weight::narrow`] makes it (exact when `w` was decoded from this format).
    pub(crate) fn new(w: &[f32], n: usize, ld: usize, off: usize, k: usize) -> Packed<E> {
        let np = n.div_ceil(NR);
        let mut panels = vec![[E::default(); NR]; np * k];
        for (q, panel) in panels.chunks_exact_mut(k.max(1)).enumerate() {
            for (p, row) in panel.iter_mut().enumerate() {
                for (c, v) in row.iter_mut().enumerate() {
                    let j = q * NR + c;
                    if j < n {
                        *v = E::narrow(w[j * ld + off + p]);
                    }
                }
            }
            if E::PAIRED {
                for two in panel.chunks_exact_mut(2) {
                    let pair = E::pair(&two[0], &two[1]);
                    two.copy_from_slice(&pair);
                }
            }
        }
        Packed { n, k, panels }
    }

    /// Element (j, p) of the packed matrix, widened (for tests).
    #[cfg(test)]
    pub(crate) fn get(&self, j: usize, p: usize) -> f32 {
        let base = (j / NR) * self.k;
        if E::PAIRED && p < self.k / 2 * 2 {
            let two: &[[E; NR]; 2] = self.panels[base + p / 2 * 2..base + p / 2 * 2 + 2]
                .try_into()
                .expect("a pair of rows");
            return E::unpair(two, p % 2 == 1, j % NR).widen();
        }
        self.panels[base + p][j % NR].widen()
    }

    /// Panel `q`: `k` rows of [`NR`] outputs.
    #[inline(always)]
    pub(crate) fn panel(&self, q: usize) -> &[[E; NR]] {
        &self.panels[q * self.k..(q + 1) * self.k]
    }

    /// The [`NR`] bias entries of panel `q` (`bias` has [`Packed::padded_n`] entries).
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

/// A dense layer's packed weights in the dtype of the file they came from: 16-bit files keep
/// 16-bit panels (half the bytes to stream per call; batch 1 is bound by that stream), f32
/// files keep f32 panels.
///
/// Batched calls use the same 16-bit panels; there is no widened f32 copy. Widening in every
/// tile cost ≈ 8–10 % at batch ≥ 64 against f32 panels (AVX-512, `benches/dense_dtypes.rs`),
/// so the batched driver widens each panel group once per block of 64 rows into a stack
/// buffer ([`super::driver::forward`]): 4–7 % left. A kept f32 copy would win those few per
/// cent back at 3× the memory of the 16-bit panels (1.5× that of an f32 model), not worth
/// it; whoever wants the last per cent at large batches can store the weights as F32 — the
/// results are the same bits either way.
#[derive(Clone, Debug)]
pub(crate) enum Dense {
    /// f32 panels.
    F32(Packed<f32>),
    /// binary16 panels.
    F16(Packed<F16>),
    /// bfloat16 panels.
    Bf16(Packed<Bf16>),
}

/// The dtype a layer's weights were stored as in the file: the panels keep it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PanelDtype {
    F32,
    F16,
    Bf16,
}

impl Dense {
    /// Packs columns `off..off + k` of the row-major `[n, ld]` matrix `w` (decoded from a
    /// tensor of `dtype`, so narrowing back to it is exact) into panels of that dtype.
    pub(crate) fn new(
        dtype: PanelDtype,
        w: &[f32],
        n: usize,
        ld: usize,
        off: usize,
        k: usize,
    ) -> Dense {
        match dtype {
            PanelDtype::F32 => Dense::F32(Packed::new(w, n, ld, off, k)),
            PanelDtype::F16 => Dense::F16(Packed::new(w, n, ld, off, k)),
            PanelDtype::Bf16 => Dense::Bf16(Packed::new(w, n, ld, off, k)),
        }
    }

    /// Outputs.
    pub(crate) fn n(&self) -> usize {
        match self {
            Dense::F32(p) => p.n,
            Dense::F16(p) => p.n,
            Dense::Bf16(p) => p.n,
        }
    }

    /// Length a bias slice must have: the outputs rounded up to whole panels.
    pub(crate) fn padded_n(&self) -> usize {
        self.n().div_ceil(NR) * NR
    }

    /// Element (j, p), widened (for tests).
    #[cfg(test)]
    pub(crate) fn get(&self, j: usize, p: usize) -> f32 {
        match self {
            Dense::F32(w) => w.get(j, p),
            Dense::F16(w) => w.get(j, p),
            Dense::Bf16(w) => w.get(j, p),
        }
    }
}
