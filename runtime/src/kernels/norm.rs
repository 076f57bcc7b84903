//! GroupNorm over a position-major (HWC) map, with the U-Net's affine, scale/shift and
//! SiLU folded into one output pass, optionally written into a zero-padded map (the input
//! layout of [`super::conv3x3`]).
//!
//! Written once, generically; each instruction set's `#[target_feature]` entry point
//! instantiates [`run`] so that its loops vectorise with that instruction set. Every step is
//! a plain IEEE operation in a fixed order (Rust never contracts `a * b + c`), so every
//! instruction set gives the same bits.
//!
//! **Order.** The statistics are summed in f64, per channel over the positions in order
//! (lane-wise across channels, which vectorises), then over the group's channels in order;
//! the variance is a second pass of squared deviations from the group mean. Neither depends
//! on the map's place in a batch.

use super::activation::exp_approx;
use super::padding::write_padded;

/// One GroupNorm call.
pub(crate) struct GroupNorm<'a> {
    /// The map, `[positions, ch]`.
    pub(crate) src: &'a [f32],
    /// Channels.
    pub(crate) ch: usize,
    /// Groups (they divide `ch`).
    pub(crate) groups: usize,
    pub(crate) eps: f32,
    pub(crate) gamma: &'a [f32],
    pub(crate) beta: &'a [f32],
    /// `[scale; shift]` (2·ch): the output is `norm(x)·(1 + scale) + shift`.
    pub(crate) scale_shift: Option<&'a [f32]>,
    /// Apply SiLU to the result.
    pub(crate) silu: bool,
    /// Resolution (height, width) of the map.
    pub(crate) size: (usize, usize),
    /// Write `dst` as a zero-padded `(h + 2) × (w + 2)` map.
    pub(crate) padded: bool,
}

/// Runs `job` into `dst`; `coef` holds 3·ch floats (per-channel mean, scale, offset) and
/// `stats` 2·ch f64 (scratch).
#[inline(always)]
pub(crate) fn run(job: &GroupNorm, coef: &mut [f32], stats: &mut [f64], dst: &mut [f32]) {
    let ch = job.ch;
    let (h, w) = job.size;
    let p = h * w;
    let src = &job.src[..p * ch];
    let cg = ch / job.groups;
    let count = (p * cg) as f64;
    let (sums, devs) = stats[..2 * ch].split_at_mut(ch);
    sums.fill(0.0);
    for row in src.chunks_exact(ch) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v as f64;
        }
    }
    // Per-channel group mean (in `sums`), then the squared deviations from it.
    for g in sums.chunks_exact_mut(cg) {
        let mut total = 0.0f64;
        for &s in g.iter() {
            total += s;
        }
        g.fill(total / count);
    }
    devs.fill(0.0);
    for row in src.chunks_exact(ch) {
        for ((d, &v), &m) in devs.iter_mut().zip(row).zip(&*sums) {
            let x = v as f64 - m;
            *d += x * x;
        }
    }
    let (mu, rest) = coef[..3 * ch].split_at_mut(ch);
    let (a, b) = rest.split_at_mut(ch);
    for gi in 0..job.groups {
        let (c0, c1) = (gi * cg, (gi + 1) * cg);
        let mut var = 0.0f64;
        for &d in &devs[c0..c1] {
            var += d;
        }
        let rstd = 1.0 / libm::sqrt(var / count + job.eps as f64);
        for c in c0..c1 {
            let (k, m) = match job.scale_shift {
                Some(ss) => (1.0 + ss[c] as f64, ss[ch + c] as f64),
                None => (1.0, 0.0),
            };
            mu[c] = sums[c] as f32;
            a[c] = (job.gamma[c] as f64 * rstd * k) as f32;
            b[c] = (job.beta[c] as f64 * k + m) as f32;
        }
    }
    let (mu, a, b) = (&*mu, &*a, &*b);
    if job.padded {
        write_padded(dst, ch, (h, w), |y, row| {
            apply(&src[y * w * ch..(y + 1) * w * ch], mu, a, b, job.silu, row);
        });
    } else {
        apply(src, mu, a, b, job.silu, &mut dst[..p * ch]);
    }
}

/// `(x − μ_c)·a_c + b_c`, then SiLU if asked, for each position of `src` (lane-wise over the
/// channels of a position, which vectorises).
#[inline(always)]
fn apply(src: &[f32], mu: &[f32], a: &[f32], b: &[f32], silu: bool, dst: &mut [f32]) {
    let ch = mu.len();
    if silu {
        for (s, d) in src.chunks_exact(ch).zip(dst.chunks_exact_mut(ch)) {
            for ((((d, &s), &m), &a), &b) in d.iter_mut().zip(s).zip(mu).zip(a).zip(b) {
                let y = (s - m) * a + b;
                // SiLU exactly as `activation::activate` computes it.
                *d = y / (1.0 + exp_approx(-y));
            }
        }
    } else {
        for (s, d) in src.chunks_exact(ch).zip(dst.chunks_exact_mut(ch)) {
            for ((((d, &s), &m), &a), &b) in d.iter_mut().zip(s).zip(mu).zip(a).zip(b) {
                *d = (s - m) * a + b;
            }
        }
    }
}
