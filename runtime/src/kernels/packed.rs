//! Dense weights in the kernel layout: column panels of [`NR`] outputs.

use alloc::vec;
use alloc::vec::Vec;

/// Output columns per packed panel (one AVX-512 register, two AVX registers).
pub(crate) const NR: usize = 16;

/// A weight matrix (PyTorch `[out, in]` layout) repacked into column panels of [`NR`]
/// outputs: `panels[q][p][c] = W[q·NR + c, p]`, zero-padded past `out`. One panel row is one
/// AVX-512 register (two AVX ones), so a tile reads every weight once, with unit stride.
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
        for (q, panel) in panels.chunks_exact_mut(k.max(1)).enumerate() {
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
    #[inline(always)]
    pub(crate) fn panel(&self, q: usize) -> &[[f32; NR]] {
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
