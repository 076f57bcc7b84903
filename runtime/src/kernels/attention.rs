//! Multi-head softmax attention over one map's positions, written so that its loops are
//! lane-wise (they vectorise with the instruction set of the entry point that inlines
//! [`run`]) and in a fixed order (every instruction set gives the same bits: plain IEEE
//! operations, never contracted).

use super::activation::exp_approx;

/// Lanes of the blocks kept in registers (one AVX-512 register, two AVX ones).
const W: usize = 16;

/// `out[p, ch]` = softmax(q kᵀ / √d) v per head, from `qkv` (`[p, 3·ch]`, rows `q | k | v`,
/// heads side by side in each). `scratch` holds `p·ch + p` floats: kᵀ, then one score row.
///
/// Scores are accumulated over the head dimension in order (kᵀ makes that a lane-wise loop
/// over the keys), the softmax subtracts the row maximum, and the output accumulates the
/// keys in order.
#[allow(clippy::needless_range_loop)] // constant-bound lane loops vectorise
#[inline(always)]
pub(crate) fn run(
    p: usize,
    ch: usize,
    heads: usize,
    qkv: &[f32],
    scratch: &mut [f32],
    out: &mut [f32],
) {
    let d = ch / heads;
    let scale = 1.0 / libm::sqrtf(d as f32);
    let (kt, row) = scratch[..p * ch + p].split_at_mut(p * ch);
    let qkv = &qkv[..p * 3 * ch];
    for (ki, r) in qkv.chunks_exact(3 * ch).enumerate() {
        for (c, &k) in r[ch..2 * ch].iter().enumerate() {
            kt[c * p + ki] = k;
        }
    }
    for j in 0..heads {
        for qi in 0..p {
            let q = &qkv[qi * 3 * ch + j * d..qi * 3 * ch + (j + 1) * d];
            // Keys in blocks of W lanes, each block's sums kept in registers over e.
            let kh = &kt[j * d * p..(j + 1) * d * p];
            let mut k0 = 0;
            while k0 + W <= p {
                let mut acc = [0.0f32; W];
                for (e, &qe) in q.iter().enumerate() {
                    let kr: &[f32; W] = kh[e * p + k0..e * p + k0 + W].try_into().unwrap();
                    for l in 0..W {
                        acc[l] += qe * kr[l];
                    }
                }
                row[k0..k0 + W].copy_from_slice(&acc);
                k0 += W;
            }
            for (ki, r) in row.iter_mut().enumerate().skip(k0) {
                let mut acc = 0.0f32;
                for (e, &qe) in q.iter().enumerate() {
                    acc += qe * kh[e * p + ki];
                }
                *r = acc;
            }
            let mut max = f32::NEG_INFINITY;
            for r in row.iter_mut() {
                *r *= scale;
                max = if *r > max { *r } else { max };
            }
            for r in row.iter_mut() {
                *r = exp_approx(*r - max);
            }
            let mut sum = 0.0f32;
            for &r in row.iter() {
                sum += r;
            }
            let inv = 1.0 / sum;
            // The head's outputs in blocks of W lanes, each kept in registers over the keys.
            let o = &mut out[qi * ch + j * d..qi * ch + (j + 1) * d];
            let v0 = 2 * ch + j * d;
            let mut c0 = 0;
            while c0 < d {
                let len = W.min(d - c0);
                let mut acc = [0.0f32; W];
                if len == W {
                    for (ki, &w) in row.iter().enumerate() {
                        let w = w * inv;
                        let o = ki * 3 * ch + v0 + c0;
                        let v: &[f32; W] = qkv[o..o + W].try_into().unwrap();
                        for l in 0..W {
                            acc[l] += w * v[l];
                        }
                    }
                } else {
                    for (ki, &w) in row.iter().enumerate() {
                        let w = w * inv;
                        let o = ki * 3 * ch + v0 + c0;
                        for (a, &vv) in acc[..len].iter_mut().zip(&qkv[o..o + len]) {
                            *a += w * vv;
                        }
                    }
                }
                o[c0..c0 + len].copy_from_slice(&acc[..len]);
                c0 += len;
            }
        }
    }
}
