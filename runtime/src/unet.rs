//! The `unet` network (format 2): weights in the kernel layout, and its forward pass.
//!
//! Feature maps are kept position-major (HWC: `[H·W, channels]`), so that a 1×1
//! convolution *is* a dense layer over the positions and a 3×3 convolution is a dense layer
//! over the im2col rows (`[P_out, 9·cin]`, column `(ky·3 + kx)·cin + ci`, the weights
//! repacked to that order once at load). Every product runs on the one packed,
//! register-tiled kernel ([`kernels::linear`]); GroupNorm, SiLU, attention, the sampling
//! steps and the concatenation are plain loops in a fixed order. Each sample of a batch is
//! computed alone, in the same order, so a row's result does not depend on its batch
//! (same machine ⇒ same bits). Nothing allocates: every buffer is in [`UnetScratch`], sized
//! from the plan when the workspace grows.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use crate::kernels::activation::exp_approx;
use crate::kernels::{self, Packed};
use crate::schema::{
    Activation, Attention, Conv, ResBlock, Step, UnetPlan, MAX_UNET_BLOCKS, MAX_UNET_LEVELS,
};

/// A dense map in the kernel layout (also a 1×1 or, on im2col rows, 3×3 convolution).
#[derive(Clone)]
struct Dense {
    packed: Packed,
    /// Zero-padded to whole panels.
    bias: Vec<f32>,
}

impl Dense {
    /// From a row-major `[n, k]` weight and its bias.
    fn new(weight: &[f32], bias: Vec<f32>, n: usize, k: usize) -> Dense {
        let packed = Packed::new(weight, n, k, 0, k);
        let mut bias = bias;
        bias.resize(packed.padded_n(), 0.0);
        Dense { packed, bias }
    }

    /// A convolution's weight `[cout, cin, k, k]` in im2col column order.
    fn conv(c: &Conv, weight: &[f32], bias: Vec<f32>) -> Dense {
        let kk = c.kernel * c.kernel;
        let mut w = vec![0.0f32; c.cout * kk * c.cin];
        for o in 0..c.cout {
            for ci in 0..c.cin {
                for t in 0..kk {
                    w[o * kk * c.cin + t * c.cin + ci] = weight[(o * c.cin + ci) * kk + t];
                }
            }
        }
        Dense::new(&w, bias, c.cout, kk * c.cin)
    }

    fn apply(&self, rows: usize, src: &[f32], act: Option<Activation>, dst: &mut [f32]) {
        kernels::linear(&self.packed, &self.bias, rows, src, act, dst);
    }
}

/// GroupNorm's affine parameters.
#[derive(Clone)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

#[derive(Clone)]
struct Res {
    shape: ResBlock,
    /// The shapes of conv1 and conv2 (kept: deriving them names them, which allocates).
    shape1: Conv,
    shape2: Conv,
    norm1: Norm,
    conv1: Dense,
    /// silu(emb) → [scale; shift], 2·cout.
    emb: Dense,
    norm2: Norm,
    conv2: Dense,
    skip: Option<Dense>,
    /// Offset of this block's scale/shift in the per-call projection buffer.
    emb_offset: usize,
}

#[derive(Clone)]
struct Attn {
    shape: Attention,
    norm: Norm,
    qkv: Dense,
    proj: Dense,
}

#[derive(Clone)]
enum Op {
    Conv(Conv, Dense),
    Res(Box<Res>),
    Attn(Attn),
    PushSkip,
    ConcatSkip,
    Upsample(Conv, Dense),
}

/// A loaded U-Net.
#[derive(Clone)]
pub(crate) struct Unet {
    plan: UnetPlan,
    time0: Dense,
    time1: Dense,
    ops: Vec<Op>,
    out_norm: Norm,
    out_conv: (Conv, Dense),
    /// Total scale/shift entries of all residual blocks.
    emb_total: usize,
    sizes: Sizes,
}

/// Buffer sizes of one sample's forward pass.
#[derive(Clone, Copy, Debug, Default)]
struct Sizes {
    /// Largest feature map (positions × channels, concatenations included).
    map: usize,
    /// Largest im2col matrix.
    col: usize,
    /// Largest qkv map.
    qkv: usize,
    /// Largest score matrix (positions²).
    scores: usize,
    /// All skips at once.
    skips: usize,
    /// Most channels of any normalised map.
    channels: usize,
}

/// Scratch of the U-Net forward pass (one sample at a time).
#[derive(Clone, Default)]
pub(crate) struct UnetScratch {
    h: Vec<f32>,
    t: Vec<f32>,
    r: Vec<f32>,
    col: Vec<f32>,
    qkv: Vec<f32>,
    scores: Vec<f32>,
    skips: Vec<f32>,
    feat: Vec<f32>,
    emb: Vec<f32>,
    emb_proj: Vec<f32>,
    /// GroupNorm's per-channel mean, scale and offset.
    coef: Vec<f32>,
}

impl UnetScratch {
    pub(crate) fn floats(&self) -> usize {
        [
            &self.h,
            &self.t,
            &self.r,
            &self.col,
            &self.qkv,
            &self.scores,
            &self.skips,
        ]
        .iter()
        .map(|v| v.len())
        .sum()
    }
}

/// Grows `v` to at least `len` elements (zero-filled), reporting allocation failure.
fn grow(v: &mut Vec<f32>, len: usize) -> Result<(), ()> {
    if v.len() < len {
        v.try_reserve_exact(len - v.len()).map_err(|_| ())?;
        v.resize(len, 0.0);
    }
    Ok(())
}

impl Unet {
    /// The network of a validated plan and its tensors, decoded to f32 in the order of
    /// [`UnetPlan::tensors`].
    pub(crate) fn new(plan: UnetPlan, weights: Vec<Vec<f32>>) -> Unet {
        let mut it = weights.into_iter();
        let mut next = || {
            it.next()
                .expect("the loader passes every tensor of the plan")
        };
        let (e, f4) = (plan.embed_dim, 4 * plan.frequencies.len());
        let time0 = {
            let (w, b) = (next(), next());
            Dense::new(&w, b, e, f4)
        };
        let time1 = {
            let (w, b) = (next(), next());
            Dense::new(&w, b, e, e)
        };
        let norm = |next: &mut dyn FnMut() -> Vec<f32>| Norm {
            gamma: next(),
            beta: next(),
        };
        let conv = |c: &Conv, next: &mut dyn FnMut() -> Vec<f32>| {
            let (w, b) = (next(), next());
            Dense::conv(c, &w, b)
        };
        let mut ops = Vec::with_capacity(plan.steps.len());
        let mut emb_total = 0;
        for step in &plan.steps {
            ops.push(match step {
                Step::Conv(c) => Op::Conv(c.clone(), conv(c, &mut next)),
                Step::Upsample(c) => Op::Upsample(c.clone(), conv(c, &mut next)),
                Step::Res(r) => {
                    let norm1 = norm(&mut next);
                    let conv1 = conv(&r.conv1(), &mut next);
                    let emb = {
                        let (w, b) = (next(), next());
                        Dense::new(&w, b, 2 * r.cout, e)
                    };
                    let norm2 = norm(&mut next);
                    let conv2 = conv(&r.conv2(), &mut next);
                    let skip = r.skip().map(|s| conv(&s, &mut next));
                    let emb_offset = emb_total;
                    emb_total += 2 * r.cout;
                    Op::Res(Box::new(Res {
                        shape: r.clone(),
                        shape1: r.conv1(),
                        shape2: r.conv2(),
                        norm1,
                        conv1,
                        emb,
                        norm2,
                        conv2,
                        skip,
                        emb_offset,
                    }))
                }
                Step::Attention(a) => {
                    let n = norm(&mut next);
                    let qkv = conv(&a.qkv(), &mut next);
                    let proj = conv(&a.proj(), &mut next);
                    Op::Attn(Attn {
                        shape: a.clone(),
                        norm: n,
                        qkv,
                        proj,
                    })
                }
                Step::PushSkip => Op::PushSkip,
                Step::ConcatSkip => Op::ConcatSkip,
            });
        }
        let out_norm = norm(&mut next);
        let oc = plan.out_conv();
        let out_dense = conv(&oc, &mut next);
        let sizes = sizes(&plan);
        Unet {
            plan,
            time0,
            time1,
            ops,
            out_norm,
            out_conv: (oc, out_dense),
            emb_total,
            sizes,
        }
    }

    /// Sizes the scratch for one sample (the batch loops over samples).
    pub(crate) fn ensure(&self, s: &mut UnetScratch) -> Result<(), ()> {
        let z = &self.sizes;
        grow(&mut s.h, z.map)?;
        grow(&mut s.t, z.map)?;
        grow(&mut s.r, z.map)?;
        grow(&mut s.col, z.col)?;
        grow(&mut s.qkv, z.qkv)?;
        grow(&mut s.scores, z.scores)?;
        grow(&mut s.skips, z.skips)?;
        grow(&mut s.feat, 4 * self.plan.frequencies.len())?;
        grow(&mut s.emb, 2 * self.plan.embed_dim)?;
        grow(&mut s.emb_proj, self.emb_total)?;
        grow(&mut s.coef, 3 * z.channels)
    }

    /// The network output (before the σ scaling) for the `batch` samples of `z`
    /// (normalised, `[C, H, W]` each), written to `out` (same layout).
    pub(crate) fn forward(
        &self,
        s: &mut UnetScratch,
        batch: usize,
        sigma: f32,
        time: (f32, f32),
        z: &[f32],
        out: &mut [f32],
    ) {
        self.embed(s, time.0, time.1);
        let (c, (hh, ww)) = (self.plan.in_channels, self.plan.size);
        let dim = c * hh * ww;
        for (zr, or) in z[..batch * dim]
            .chunks_exact(dim)
            .zip(out.chunks_exact_mut(dim))
        {
            // CHW → HWC, divided by σ.
            let p = hh * ww;
            for ch in 0..c {
                for q in 0..p {
                    s.h[q * c + ch] = zr[ch * p + q] / sigma;
                }
            }
            self.sample(s);
            for ch in 0..c {
                for q in 0..p {
                    or[ch * p + q] = s.r[q * c + ch];
                }
            }
        }
    }

    /// emb = time.1(silu(time.0(feat))), then every block's [scale; shift] from silu(emb).
    fn embed(&self, s: &mut UnetScratch, s_time: f32, t_time: f32) {
        let fs = &self.plan.frequencies;
        let nf = fs.len();
        let d = t_time - s_time;
        for (k, &f) in fs.iter().enumerate() {
            let w = core::f32::consts::TAU * f;
            let (a, b) = (w * s_time, w * d);
            s.feat[2 * k] = libm::sinf(a);
            s.feat[2 * k + 1] = libm::cosf(a);
            s.feat[2 * nf + 2 * k] = libm::sinf(b);
            s.feat[2 * nf + 2 * k + 1] = libm::cosf(b);
        }
        let e = self.plan.embed_dim;
        let (e0, e1) = s.emb.split_at_mut(e);
        self.time0.apply(1, &s.feat, Some(Activation::Silu), e0);
        self.time1.apply(1, e0, Some(Activation::Silu), e1);
        for op in &self.ops {
            if let Op::Res(r) = op {
                let n = 2 * r.shape.cout;
                r.emb
                    .apply(1, e1, None, &mut s.emb_proj[r.emb_offset..r.emb_offset + n]);
            }
        }
    }

    /// One sample: `s.h` holds the input (HWC, /σ); leaves the output (HWC) in `s.r`.
    fn sample(&self, s: &mut UnetScratch) {
        let eps = self.plan.norm_eps;
        let g = self.plan.groups;
        let mut ch = self.plan.in_channels;
        let mut size = self.plan.size;
        // The skip stack: maps stored back to back in `s.skips`; `skip_channels` holds the
        // channels of each (at most MAX_UNET_LEVELS · MAX_UNET_BLOCKS of them).
        let mut skip_top = 0usize;
        let mut skip_channels = [0usize; MAX_UNET_LEVELS * MAX_UNET_BLOCKS];
        let mut n_skips = 0usize;
        for op in &self.ops {
            match op {
                Op::Conv(c, d) => {
                    conv(c, d, &s.h, &mut s.col, &mut s.r);
                    core::mem::swap(&mut s.h, &mut s.r);
                    (ch, size) = (c.cout, c.output);
                }
                Op::Upsample(c, d) => {
                    upsample(&s.h, ch, size, c.input, &mut s.t);
                    conv(c, d, &s.t, &mut s.col, &mut s.r);
                    core::mem::swap(&mut s.h, &mut s.r);
                    (ch, size) = (c.cout, c.output);
                }
                Op::PushSkip => {
                    let n = size.0 * size.1 * ch;
                    s.skips[skip_top..skip_top + n].copy_from_slice(&s.h[..n]);
                    skip_top += n;
                    skip_channels[n_skips] = ch;
                    n_skips += 1;
                }
                Op::ConcatSkip => {
                    n_skips -= 1;
                    let (p, cs) = (size.0 * size.1, skip_channels[n_skips]);
                    skip_top -= p * cs;
                    let skip = &s.skips[skip_top..skip_top + p * cs];
                    // [h | skip] per position, into s.t, then back to s.h.
                    for q in 0..p {
                        s.t[q * (ch + cs)..q * (ch + cs) + ch]
                            .copy_from_slice(&s.h[q * ch..(q + 1) * ch]);
                        s.t[q * (ch + cs) + ch..(q + 1) * (ch + cs)]
                            .copy_from_slice(&skip[q * cs..(q + 1) * cs]);
                    }
                    ch += cs;
                    core::mem::swap(&mut s.h, &mut s.t);
                }
                Op::Res(r) => {
                    self.res(r, s, g, eps);
                    (ch, size) = (r.shape.cout, r.shape.size);
                }
                Op::Attn(a) => self.attention(a, s, g, eps),
            }
        }
        // Output head: conv(silu(norm(h))) into s.r.
        let (hh, ww) = self.plan.size;
        let p = hh * ww;
        group_norm(
            &s.h[..p * ch],
            ch,
            g,
            eps,
            &self.out_norm,
            None,
            &mut s.coef,
            &mut s.t,
        );
        silu(&mut s.t[..p * ch]);
        conv(
            &self.out_conv.0,
            &self.out_conv.1,
            &s.t,
            &mut s.col,
            &mut s.r,
        );
    }

    fn res(&self, r: &Res, s: &mut UnetScratch, g: usize, eps: f32) {
        let (hh, ww) = r.shape.size;
        let p = hh * ww;
        let (cin, cout) = (r.shape.cin, r.shape.cout);
        // t = silu(norm1(h)); r = conv1(t)
        group_norm(
            &s.h[..p * cin],
            cin,
            g,
            eps,
            &r.norm1,
            None,
            &mut s.coef,
            &mut s.t,
        );
        silu(&mut s.t[..p * cin]);
        conv(&r.shape1, &r.conv1, &s.t, &mut s.col, &mut s.r);
        // t = silu(norm2(r)·(1 + scale) + shift); r = conv2(t)
        let ss = &s.emb_proj[r.emb_offset..r.emb_offset + 2 * cout];
        group_norm(
            &s.r[..p * cout],
            cout,
            g,
            eps,
            &r.norm2,
            Some(ss),
            &mut s.coef,
            &mut s.t,
        );
        silu(&mut s.t[..p * cout]);
        conv(&r.shape2, &r.conv2, &s.t, &mut s.col, &mut s.r);
        // r += skip(h)
        match &r.skip {
            Some(d) => {
                d.apply(p, &s.h[..p * cin], None, &mut s.t[..p * cout]);
                for (a, b) in s.r[..p * cout].iter_mut().zip(&s.t[..p * cout]) {
                    *a += *b;
                }
            }
            None => {
                for (a, b) in s.r[..p * cout].iter_mut().zip(&s.h[..p * cout]) {
                    *a += *b;
                }
            }
        }
        core::mem::swap(&mut s.h, &mut s.r);
    }

    fn attention(&self, a: &Attn, s: &mut UnetScratch, g: usize, eps: f32) {
        let (hh, ww) = a.shape.size;
        let p = hh * ww;
        let ch = a.shape.channels;
        let heads = a.shape.heads;
        let d = ch / heads;
        let scale = 1.0 / libm::sqrtf(d as f32);
        group_norm(
            &s.h[..p * ch],
            ch,
            g,
            eps,
            &a.norm,
            None,
            &mut s.coef,
            &mut s.t,
        );
        a.qkv
            .apply(p, &s.t[..p * ch], None, &mut s.qkv[..p * 3 * ch]);
        // o (into s.t) = softmax(q kᵀ / √d) v per head.
        for j in 0..heads {
            for qi in 0..p {
                let q = &s.qkv[qi * 3 * ch + j * d..qi * 3 * ch + (j + 1) * d];
                let row = &mut s.scores[..p];
                let mut max = f32::NEG_INFINITY;
                for (ki, sc) in row.iter_mut().enumerate() {
                    let k = &s.qkv[ki * 3 * ch + ch + j * d..ki * 3 * ch + ch + (j + 1) * d];
                    *sc = kernels::dot(q, k) * scale;
                    max = if *sc > max { *sc } else { max };
                }
                let mut sum = 0.0f32;
                for sc in row.iter_mut() {
                    *sc = exp_approx(*sc - max);
                    sum += *sc;
                }
                let inv = 1.0 / sum;
                let o = &mut s.t[qi * ch + j * d..qi * ch + (j + 1) * d];
                o.fill(0.0);
                for (ki, &w) in row.iter().enumerate() {
                    let v =
                        &s.qkv[ki * 3 * ch + 2 * ch + j * d..ki * 3 * ch + 2 * ch + (j + 1) * d];
                    let w = w * inv;
                    for (oo, vv) in o.iter_mut().zip(v) {
                        *oo += w * vv;
                    }
                }
            }
        }
        a.proj.apply(p, &s.t[..p * ch], None, &mut s.r[..p * ch]);
        for (h, r) in s.h[..p * ch].iter_mut().zip(&s.r[..p * ch]) {
            *h += *r;
        }
    }
}

fn sizes(plan: &UnetPlan) -> Sizes {
    let mut z = Sizes::default();
    let mut ch = plan.in_channels;
    let (h, w) = plan.size;
    let fit = |z: &mut Sizes, p: usize, c: usize| {
        z.map = z.map.max(p.saturating_mul(c));
    };
    fit(&mut z, h * w, ch);
    let conv_col = |z: &mut Sizes, c: &Conv| {
        let p = c.output.0 * c.output.1;
        z.col = z
            .col
            .max(p.saturating_mul(c.kernel * c.kernel).saturating_mul(c.cin));
        z.map = z
            .map
            .max((c.input.0 * c.input.1).saturating_mul(c.cin.max(c.cout)));
        z.map = z.map.max(p.saturating_mul(c.cout.max(c.cin)));
    };
    let mut size = (h, w);
    for step in &plan.steps {
        match step {
            Step::Conv(c) | Step::Upsample(c) => {
                conv_col(&mut z, c);
                ch = c.cout;
                size = c.output;
            }
            Step::Res(r) => {
                z.channels = z.channels.max(r.cin).max(r.cout);
                conv_col(&mut z, &r.conv1());
                conv_col(&mut z, &r.conv2());
                ch = r.cout;
                size = r.size;
            }
            Step::Attention(a) => {
                z.channels = z.channels.max(a.channels);
                let p = a.size.0 * a.size.1;
                z.qkv = z.qkv.max(p.saturating_mul(3 * a.channels));
                z.scores = z.scores.max(p);
                fit(&mut z, p, a.channels);
            }
            Step::PushSkip => {
                z.skips = z.skips.saturating_add((size.0 * size.1).saturating_mul(ch));
            }
            Step::ConcatSkip => {}
        }
    }
    conv_col(&mut z, &plan.out_conv());
    z.channels = z.channels.max(plan.levels[0].channels);
    let _ = ch;
    z
}

/// 3×3 (padding 1, stride 1 or 2) or 1×1 convolution of the HWC map `src`.
fn conv(c: &Conv, d: &Dense, src: &[f32], col: &mut [f32], dst: &mut [f32]) {
    let (ho, wo) = c.output;
    let p = ho * wo;
    if c.kernel == 1 {
        d.apply(p, &src[..p * c.cin], None, &mut dst[..p * c.cout]);
        return;
    }
    let (hi, wi) = c.input;
    let cin = c.cin;
    let k = 9 * cin;
    for oy in 0..ho {
        for ox in 0..wo {
            let row = &mut col[(oy * wo + ox) * k..(oy * wo + ox + 1) * k];
            for ky in 0..3 {
                for kx in 0..3 {
                    let t = &mut row[(ky * 3 + kx) * cin..(ky * 3 + kx + 1) * cin];
                    let iy = (oy * c.stride + ky) as isize - 1;
                    let ix = (ox * c.stride + kx) as isize - 1;
                    if iy < 0 || ix < 0 || iy as usize >= hi || ix as usize >= wi {
                        t.fill(0.0);
                    } else {
                        let q = iy as usize * wi + ix as usize;
                        t.copy_from_slice(&src[q * cin..(q + 1) * cin]);
                    }
                }
            }
        }
    }
    d.apply(p, &col[..p * k], None, &mut dst[..p * c.cout]);
}

/// Nearest 2× up-sampling of `src` (`from`) cropped to `to`.
fn upsample(src: &[f32], ch: usize, from: (usize, usize), to: (usize, usize), dst: &mut [f32]) {
    let (_, wf) = from;
    let (ht, wt) = to;
    for y in 0..ht {
        for x in 0..wt {
            let q = (y / 2) * wf + x / 2;
            dst[(y * wt + x) * ch..(y * wt + x + 1) * ch]
                .copy_from_slice(&src[q * ch..(q + 1) * ch]);
        }
    }
}

/// GroupNorm over the HWC map `src` (`ch` channels, `g` groups), then `γ·x̂ + β`, then (with
/// `scale_shift` = [scale; shift]) `·(1 + scale) + shift`.
///
/// The group statistics are summed in f64 (two passes: mean, then squared deviations), so
/// they do not depend on the map's offset or size; the per-element pass is f32,
/// `(x − μ_c)·a_c + b_c` with the affine maps folded per channel into `coef` (3·ch floats:
/// μ, a, b), a lane-wise loop over the channels of each position that vectorises.
#[allow(clippy::too_many_arguments)]
fn group_norm(
    src: &[f32],
    ch: usize,
    g: usize,
    eps: f32,
    n: &Norm,
    scale_shift: Option<&[f32]>,
    coef: &mut [f32],
    dst: &mut [f32],
) {
    let p = src.len() / ch;
    let cg = ch / g;
    let count = (p * cg) as f64;
    let (mu, rest) = coef[..3 * ch].split_at_mut(ch);
    let (a, b) = rest.split_at_mut(ch);
    for gi in 0..g {
        let (c0, c1) = (gi * cg, (gi + 1) * cg);
        let mut sum = 0.0f64;
        for q in 0..p {
            for &v in &src[q * ch + c0..q * ch + c1] {
                sum += v as f64;
            }
        }
        let mean = sum / count;
        let mut var = 0.0f64;
        for q in 0..p {
            for &v in &src[q * ch + c0..q * ch + c1] {
                let d = v as f64 - mean;
                var += d * d;
            }
        }
        let rstd = 1.0 / libm::sqrt(var / count + eps as f64);
        for c in c0..c1 {
            let (k, m) = match scale_shift {
                Some(ss) => (1.0 + ss[c] as f64, ss[ch + c] as f64),
                None => (1.0, 0.0),
            };
            mu[c] = mean as f32;
            a[c] = (n.gamma[c] as f64 * rstd * k) as f32;
            b[c] = (n.beta[c] as f64 * k + m) as f32;
        }
    }
    for (s, d) in src.chunks_exact(ch).zip(dst.chunks_exact_mut(ch)) {
        for ((((d, &s), &m), &a), &b) in d.iter_mut().zip(s).zip(&*mu).zip(&*a).zip(&*b) {
            *d = (s - m) * a + b;
        }
    }
}

fn silu(xs: &mut [f32]) {
    kernels::activation::activate_slice(Activation::Silu, xs);
}
