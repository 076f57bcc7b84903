//! The `unet` network (format 2): weights in the kernel layout, and its forward pass.
//!
//! Feature maps are kept position-major (HWC: `[H·W, channels]`), so that a 1×1
//! convolution *is* a dense layer over the positions ([`kernels::linear`]). A 3×3
//! convolution is the same register-tiled product over the im2col rows (`[P_out, 9·cin]`,
//! column `(ky·3 + kx)·cin + ci`, the weights repacked to that order once at load), but read
//! straight from a zero-padded copy of its input ([`kernels::conv3x3`]) instead of a 9×
//! larger im2col matrix: profiling showed the im2col copies and their cache traffic cost
//! more than a fifth of the forward pass. Stride-1 3×3 convolutions on even-sized maps with
//! at least 8 input channels run as Winograd F(2×2, 3×3) from the same padded input
//! ([`kernels::winograd`], 16/36 of the multiply-adds). The GroupNorm before a convolution
//! writes that padded input directly, with SiLU and the time scale/shift folded in
//! ([`kernels::group_norm`]); attention is [`kernels::attention`]. These kernels are
//! compiled per instruction set and give the same bits on each. Each sample of a batch is
//! computed alone, in the same order, so a row's result does not depend on its batch (same
//! machine ⇒ same bits). Nothing allocates: every buffer is in [`UnetScratch`], sized from
//! the plan when the workspace grows.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use crate::kernels::{self, write_padded, Conv3x3, GroupNorm, Packed, WinogradWeights};
use crate::schema::{
    Activation, Attention, Conv, ResBlock, Step, UnetPlan, MAX_UNET_BLOCKS, MAX_UNET_LEVELS,
};

/// A dense map in the kernel layout (also a 1×1 or, on im2col rows, 3×3 convolution).
#[derive(Clone)]
struct Dense {
    packed: Packed,
    /// Zero-padded to whole panels.
    bias: Vec<f32>,
    /// The Winograd-domain weights of a stride-1 3×3 convolution over an even-sized map.
    winograd: Option<WinogradWeights>,
}

impl Dense {
    /// From a row-major `[n, k]` weight and its bias.
    fn new(weight: &[f32], bias: Vec<f32>, n: usize, k: usize) -> Dense {
        let packed = Packed::new(weight, n, k, 0, k);
        let mut bias = bias;
        bias.resize(packed.padded_n(), 0.0);
        Dense {
            packed,
            bias,
            winograd: None,
        }
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
        let mut d = Dense::new(&w, bias, c.cout, kk * c.cin);
        if uses_winograd(c) {
            d.winograd = Some(WinogradWeights::new(weight, c.cout, c.cin));
        }
        d
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
    /// Largest zero-padded input of a 3×3 convolution.
    pad: usize,
    /// Largest Winograd input and product matrices (16 · tiles · channels).
    wino_in: usize,
    wino_out: usize,
    /// Largest qkv map.
    qkv: usize,
    /// Attention scratch: kᵀ and one score row (positions · (channels + 1)).
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
    /// The input of a 3×3 convolution, zero-padded (`(h + 2) × (w + 2)` positions).
    pad: Vec<f32>,
    /// Winograd scratch: the transformed input and the 16 products.
    wv: Vec<f32>,
    wm: Vec<f32>,
    qkv: Vec<f32>,
    scores: Vec<f32>,
    skips: Vec<f32>,
    feat: Vec<f32>,
    emb: Vec<f32>,
    emb_proj: Vec<f32>,
    /// GroupNorm's per-channel mean, scale and offset.
    coef: Vec<f32>,
    /// GroupNorm's per-channel sums (f64).
    stats: Vec<f64>,
}

impl UnetScratch {
    pub(crate) fn floats(&self) -> usize {
        [
            &self.h,
            &self.t,
            &self.r,
            &self.pad,
            &self.wv,
            &self.wm,
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
fn grow<T: Copy + Default>(v: &mut Vec<T>, len: usize) -> Result<(), ()> {
    if v.len() < len {
        v.try_reserve_exact(len - v.len()).map_err(|_| ())?;
        v.resize(len, T::default());
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
        grow(&mut s.pad, z.pad)?;
        grow(&mut s.wv, z.wino_in)?;
        grow(&mut s.wm, z.wino_out)?;
        grow(&mut s.qkv, z.qkv)?;
        grow(&mut s.scores, z.scores)?;
        grow(&mut s.skips, z.skips)?;
        grow(&mut s.feat, 4 * self.plan.frequencies.len())?;
        grow(&mut s.emb, 2 * self.plan.embed_dim)?;
        grow(&mut s.emb_proj, self.emb_total)?;
        grow(&mut s.coef, 3 * z.channels)?;
        grow(&mut s.stats, 2 * z.channels)
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
                    pad(&s.h, c.cin, c.input, &mut s.pad);
                    conv(c, d, &s.h, &s.pad, &mut s.wv, &mut s.wm, &mut s.r);
                    core::mem::swap(&mut s.h, &mut s.r);
                    (ch, size) = (c.cout, c.output);
                }
                Op::Upsample(c, d) => {
                    upsample(&s.h, ch, size, c.input, &mut s.pad);
                    conv(c, d, &s.h, &s.pad, &mut s.wv, &mut s.wm, &mut s.r);
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
        let job = GroupNorm {
            src: &s.h[..p * ch],
            ch,
            groups: g,
            eps,
            gamma: &self.out_norm.gamma,
            beta: &self.out_norm.beta,
            scale_shift: None,
            silu: true,
            size: (hh, ww),
            padded: true,
        };
        kernels::group_norm(&job, &mut s.coef, &mut s.stats, &mut s.pad);
        conv(
            &self.out_conv.0,
            &self.out_conv.1,
            &s.h,
            &s.pad,
            &mut s.wv,
            &mut s.wm,
            &mut s.r,
        );
    }

    fn res(&self, r: &Res, s: &mut UnetScratch, g: usize, eps: f32) {
        let (hh, ww) = r.shape.size;
        let p = hh * ww;
        let (cin, cout) = (r.shape.cin, r.shape.cout);
        // pad = silu(norm1(h)), zero-padded; r = conv1(pad)
        let job = GroupNorm {
            src: &s.h[..p * cin],
            ch: cin,
            groups: g,
            eps,
            gamma: &r.norm1.gamma,
            beta: &r.norm1.beta,
            scale_shift: None,
            silu: true,
            size: (hh, ww),
            padded: true,
        };
        kernels::group_norm(&job, &mut s.coef, &mut s.stats, &mut s.pad);
        conv(
            &r.shape1, &r.conv1, &s.h, &s.pad, &mut s.wv, &mut s.wm, &mut s.r,
        );
        // pad = silu(norm2(r)·(1 + scale) + shift); r = conv2(pad)
        let job = GroupNorm {
            src: &s.r[..p * cout],
            ch: cout,
            groups: g,
            eps,
            gamma: &r.norm2.gamma,
            beta: &r.norm2.beta,
            scale_shift: Some(&s.emb_proj[r.emb_offset..r.emb_offset + 2 * cout]),
            silu: true,
            size: (hh, ww),
            padded: true,
        };
        kernels::group_norm(&job, &mut s.coef, &mut s.stats, &mut s.pad);
        conv(
            &r.shape2, &r.conv2, &s.h, &s.pad, &mut s.wv, &mut s.wm, &mut s.r,
        );
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
        let job = GroupNorm {
            src: &s.h[..p * ch],
            ch,
            groups: g,
            eps,
            gamma: &a.norm.gamma,
            beta: &a.norm.beta,
            scale_shift: None,
            silu: false,
            size: (hh, ww),
            padded: false,
        };
        kernels::group_norm(&job, &mut s.coef, &mut s.stats, &mut s.t);
        a.qkv
            .apply(p, &s.t[..p * ch], None, &mut s.qkv[..p * 3 * ch]);
        // o (into s.t) = softmax(q kᵀ / √d) v per head.
        kernels::attention(p, ch, a.shape.heads, &s.qkv, &mut s.scores, &mut s.t);
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
        let padded = (c.input.0 + 2).saturating_mul(c.input.1 + 2);
        z.pad = z.pad.max(padded.saturating_mul(c.cin));
        if uses_winograd(c) {
            let tiles = (c.input.0 / 2) * (c.input.1 / 2);
            let t16 = 16 * tiles.min(kernels::WINOGRAD_TILE_BLOCK);
            z.wino_in = z.wino_in.max(t16.saturating_mul(c.cin));
            z.wino_out = z.wino_out.max(t16.saturating_mul(c.cout));
        }
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
                // kᵀ and one score row.
                z.scores = z.scores.max(p.saturating_mul(a.channels).saturating_add(p));
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

/// 3×3 (padding 1, stride 1 or 2) convolution of the zero-padded map `padded`, or 1×1
/// convolution of the HWC map `src`.
fn conv(
    c: &Conv,
    d: &Dense,
    src: &[f32],
    padded: &[f32],
    wv: &mut [f32],
    wm: &mut [f32],
    dst: &mut [f32],
) {
    let (ho, wo) = c.output;
    let p = ho * wo;
    if c.kernel == 1 {
        d.apply(p, &src[..p * c.cin], None, &mut dst[..p * c.cout]);
        return;
    }
    if let Some(wt) = &d.winograd {
        kernels::winograd(wt, &d.bias, c.input, padded, wv, wm, &mut dst[..p * c.cout]);
        return;
    }
    let g = Conv3x3 {
        cin: c.cin,
        padded_width: c.input.1 + 2,
        out_width: wo,
        positions: p,
        stride: c.stride,
    };
    kernels::conv3x3(&d.packed, &d.bias, &g, padded, &mut dst[..p * c.cout]);
}

/// Whether a convolution runs as Winograd F(2×2, 3×3): 3×3, stride 1, even height and width
/// (2×2 output tiles cover the map exactly), and wide enough for the 16 products to run on
/// full register tiles (at 1–4 input channels the direct kernel is as fast).
fn uses_winograd(c: &Conv) -> bool {
    c.kernel == 3 && c.stride == 1 && c.input.0 % 2 == 0 && c.input.1 % 2 == 0 && c.cin >= 8
}

/// Writes the HWC map `src` (`ch` channels, `size`) into `dst` with a ring of zeros: the
/// `(h + 2) × (w + 2)` input of a 3×3 convolution.
fn pad(src: &[f32], ch: usize, size: (usize, usize), dst: &mut [f32]) {
    let w = size.1;
    write_padded(dst, ch, size, |y, row| {
        row.copy_from_slice(&src[y * w * ch..(y + 1) * w * ch]);
    });
}

/// Nearest 2× up-sampling of `src` (`from`) cropped to `to`, written zero-padded (the input
/// of the convolution that follows).
fn upsample(src: &[f32], ch: usize, from: (usize, usize), to: (usize, usize), dst: &mut [f32]) {
    let wf = from.1;
    write_padded(dst, ch, to, |y, row| {
        for (x, px) in row.chunks_exact_mut(ch).enumerate() {
            let q = (y / 2) * wf + x / 2;
            px.copy_from_slice(&src[q * ch..(q + 1) * ch]);
        }
    });
}
