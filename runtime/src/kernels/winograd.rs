//! Winograd F(2×2, 3×3) for stride-1 3×3 convolutions over maps of even height and width:
//! each 2×2 block of outputs comes from a 4×4 block of the padded input with 16 products of
//! `cin` terms instead of 36, i.e. 2.25× fewer multiply-adds than [`super::conv3x3`].
//!
//! `Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A`: the weight transform `U = G g Gᵀ` is done once at load
//! (in f64, rounded once); per call the input transform `V = Bᵀ d B` (exact-coefficient
//! additions and subtractions, lane-wise over the channels) fills 16 matrices
//! `[tiles, cin]`, the 16 products `M_ξ = V_ξ U_ξᵀ` run on the register-tiled dense kernel
//! ([`super::linear`]), and the output transform `Aᵀ M A` plus the bias writes the map. The
//! transforms are plain IEEE additions in a fixed order, compiled per instruction set from
//! this one source (the same bits on each); the products are [`super::linear`]'s. The result
//! differs from the direct convolution by rounding only (tested against it).

use alloc::vec::Vec;

use super::packed::Packed;

/// The weights of one convolution in the Winograd domain.
#[derive(Clone, Debug)]
pub(crate) struct WinogradWeights {
    /// `U_ξ` for ξ = 4·i + j, each `[cout, cin]` packed.
    pub(crate) u: Vec<Packed>,
    /// Zeros (the products carry no bias; the output transform adds it).
    pub(crate) zeros: Vec<f32>,
    pub(crate) cin: usize,
    pub(crate) cout: usize,
}

impl WinogradWeights {
    /// From a PyTorch `[cout, cin, 3, 3]` weight.
    pub(crate) fn new(weight: &[f32], cout: usize, cin: usize) -> WinogradWeights {
        const G: [[f64; 3]; 4] = [
            [1.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
            [0.5, -0.5, 0.5],
            [0.0, 0.0, 1.0],
        ];
        let mut mats = alloc::vec![alloc::vec![0.0f32; cout * cin]; 16];
        for o in 0..cout {
            for c in 0..cin {
                let g = &weight[(o * cin + c) * 9..(o * cin + c + 1) * 9];
                // t = G g (4×3), then U = t Gᵀ (4×4).
                let mut t = [[0.0f64; 3]; 4];
                for (i, row) in t.iter_mut().enumerate() {
                    for (kx, v) in row.iter_mut().enumerate() {
                        *v = (0..3).map(|ky| G[i][ky] * g[ky * 3 + kx] as f64).sum();
                    }
                }
                for i in 0..4 {
                    for j in 0..4 {
                        let u: f64 = (0..3).map(|kx| t[i][kx] * G[j][kx]).sum();
                        mats[4 * i + j][o * cin + c] = u as f32;
                    }
                }
            }
        }
        let u: Vec<Packed> = mats
            .iter()
            .map(|m| Packed::new(m, cout, cin, 0, cin))
            .collect();
        let zeros = alloc::vec![0.0f32; u[0].padded_n()];
        WinogradWeights {
            u,
            zeros,
            cin,
            cout,
        }
    }
}

/// Output tiles per block: the transformed input and the products of one block
/// (16 · 64 · channels floats each, 128 KiB at 32 channels) stay in L2 between the three
/// passes, where whole maps (≈ 0.5 MiB each at 32×32×32) did not.
pub(crate) const TILE_BLOCK: usize = 64;

/// Input transform: `v[ξ][(t − ta)·cin + c]` = (Bᵀ d B)_ξ for the 2×2 output tiles
/// `t` in `ta..tb` (row-major over the `(h/2) × (w/2)` tiles) of the padded map `src`
/// (`(h + 2) × (w + 2) × cin`).
#[allow(clippy::needless_range_loop)] // indexed lane loops over equal-length slices vectorise
#[inline(always)]
pub(crate) fn input(
    src: &[f32],
    cin: usize,
    size: (usize, usize),
    tiles: (usize, usize),
    v: &mut [f32],
) {
    let w = size.1;
    let (tw, wp) = (w / 2, w + 2);
    let (ta, tb) = tiles;
    let nt = tb - ta;
    let v = &mut v[..16 * nt * cin];
    for tt in ta..tb {
        let (ty, tx, t) = (tt / tw, tt % tw, tt - ta);
        let d: [&[f32]; 16] = core::array::from_fn(|k| {
            let q = ((2 * ty + k / 4) * wp + 2 * tx + k % 4) * cin;
            &src[q..q + cin]
        });
        let mut chunks = v.chunks_exact_mut(nt * cin);
        let out: [&mut [f32]; 16] = core::array::from_fn(|_| {
            let chunk = chunks.next().expect("16 matrices");
            &mut chunk[t * cin..(t + 1) * cin]
        });
        let [o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15] = out;
        for c in 0..cin {
            let e = |k: usize| d[k][c];
            // Bᵀ d, row i of the result as r_i[j].
            let r0: [f32; 4] = core::array::from_fn(|j| e(j) - e(8 + j));
            let r1: [f32; 4] = core::array::from_fn(|j| e(4 + j) + e(8 + j));
            let r2: [f32; 4] = core::array::from_fn(|j| e(8 + j) - e(4 + j));
            let r3: [f32; 4] = core::array::from_fn(|j| e(4 + j) - e(12 + j));
            // (Bᵀ d) B, row by row.
            for (r, o) in [
                (r0, [&mut *o0, &mut *o1, &mut *o2, &mut *o3]),
                (r1, [&mut *o4, &mut *o5, &mut *o6, &mut *o7]),
                (r2, [&mut *o8, &mut *o9, &mut *o10, &mut *o11]),
                (r3, [&mut *o12, &mut *o13, &mut *o14, &mut *o15]),
            ] {
                let [a, b, cc, dd] = o;
                a[c] = r[0] - r[2];
                b[c] = r[1] + r[2];
                cc[c] = r[2] - r[1];
                dd[c] = r[1] - r[3];
            }
        }
    }
}

/// Output transform: `dst[(y·w + x)·cout + o]` = (Aᵀ M A) + bias for the tiles `ta..tb`
/// from the 16 products `m[ξ][(t − ta)·cout + o]`.
#[allow(clippy::needless_range_loop)] // indexed lane loops over equal-length slices vectorise
#[inline(always)]
pub(crate) fn output(
    m: &[f32],
    cout: usize,
    size: (usize, usize),
    tiles: (usize, usize),
    bias: &[f32],
    dst: &mut [f32],
) {
    let w = size.1;
    let tw = w / 2;
    let (ta, tb) = tiles;
    let nt = tb - ta;
    let m = &m[..16 * nt * cout];
    let bias = &bias[..cout];
    for tt in ta..tb {
        let (ty, tx, t) = (tt / tw, tt % tw, tt - ta);
        let rows = &mut dst[2 * ty * w * cout..(2 * ty + 2) * w * cout];
        let (top, bottom) = rows.split_at_mut(w * cout);
        let x: [&[f32]; 16] =
            core::array::from_fn(|k| &m[(k * nt + t) * cout..(k * nt + t + 1) * cout]);
        let (y00, y01) = top[2 * tx * cout..(2 * tx + 2) * cout].split_at_mut(cout);
        let (y10, y11) = bottom[2 * tx * cout..(2 * tx + 2) * cout].split_at_mut(cout);
        for o in 0..cout {
            let e = |k: usize| x[k][o];
            // Aᵀ M: 2×4.
            let r0: [f32; 4] = core::array::from_fn(|j| e(j) + e(4 + j) + e(8 + j));
            let r1: [f32; 4] = core::array::from_fn(|j| e(4 + j) - e(8 + j) - e(12 + j));
            y00[o] = (r0[0] + r0[1] + r0[2]) + bias[o];
            y01[o] = (r0[1] - r0[2] - r0[3]) + bias[o];
            y10[o] = (r1[0] + r1[1] + r1[2]) + bias[o];
            y11[o] = (r1[1] - r1[2] - r1[3]) + bias[o];
        }
    }
}
