//! The micro-kernel trait: the only thing an instruction set has to provide.
//!
//! A micro-kernel holds one panel row — [`NR`] consecutive outputs — in registers
//! ([`MicroKernel::Row`]: one zmm register on AVX-512, two ymm on AVX2, a plain array in the
//! portable build) and knows three operations on it: load (of f32, f16 or bf16 panel rows,
//! widened to f32), multiply-accumulate with a broadcast input, store. The register tile, the tiling loop and the activation are written
//! once, generically, in [`super::driver`]; each implementation only chooses how one row
//! accumulates, which is also what decides its rounding family (fused or unfused, see
//! [`super`]).

/// Outputs per register row, and so per packed panel (one AVX-512 register, two AVX
/// registers). Defined here, with the micro-kernel, so that the panel layout
/// ([`super::packed`]) depends on the micro-kernel and not the other way round.
pub(crate) const NR: usize = 16;

/// One instruction set's register row and its three operations.
///
/// # Safety (for callers of the methods)
/// The methods may use instructions of the implementation's instruction set: the caller
/// must have checked that the CPU supports it ([`MicroKernel::NAME`] names it).
pub(crate) trait MicroKernel {
    /// [`NR`] accumulators, as the instruction set keeps them in registers.
    type Row: Copy;
    /// The instruction set, for messages and tests.
    #[allow(dead_code)]
    const NAME: &'static str;

    /// Loads one panel row.
    ///
    /// # Safety
    /// The CPU must support this kernel's instruction set.
    unsafe fn load(v: &[f32; NR]) -> Self::Row;

    /// Loads one panel row of IEEE binary16 values (by their bits), widened to f32 (exact).
    ///
    /// # Safety
    /// The CPU must support this kernel's instruction set.
    unsafe fn load_f16(v: &[u16; NR]) -> Self::Row;

    /// Loads one panel row of bfloat16 values (by their bits), widened to f32 (exact: the
    /// bits become the upper half of the f32).
    ///
    /// # Safety
    /// The CPU must support this kernel's instruction set.
    unsafe fn load_bf16(v: &[u16; NR]) -> Self::Row;

    /// Loads two panel rows of bfloat16 stored as a pair ([`super::packed::Bf16`]): 32-bit
    /// lane `c` of `v` holds row 0's value of output `c` in its upper half and row 1's in its
    /// lower half, so row 0 is the lane with its lower half cleared and row 1 the lane
    /// shifted up by 16 — exact, one bitwise operation per row, no shuffle.
    ///
    /// # Safety
    /// The CPU must support this kernel's instruction set.
    unsafe fn load_bf16_pair(v: &[u16; 2 * NR]) -> (Self::Row, Self::Row);

    /// `acc + a · w` lane by lane, rounded the way this kernel family rounds (once for
    /// fused multiply-add, twice for a separate multiply and add).
    ///
    /// # Safety
    /// The CPU must support this kernel's instruction set.
    unsafe fn mul_add(a: f32, w: Self::Row, acc: Self::Row) -> Self::Row;

    /// Stores one panel row.
    ///
    /// # Safety
    /// The CPU must support this kernel's instruction set.
    unsafe fn store(v: Self::Row, out: &mut [f32; NR]);
}
