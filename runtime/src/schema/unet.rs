//! The `unet` family (format 2): the one function, [`UnetPlan::new`], that derives the whole
//! network — levels, every step of the forward pass, every tensor name and shape — from the
//! metadata, and refuses metadata that is inconsistent or absurd.
//!
//! The loader validates with it, [`Architecture::tensors`](super::Architecture::tensors)
//! lists its tensors, the runtime executes its steps, and the tests and the libtorch
//! reference build their networks from it.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::limits::{
    MAX_DIM, MAX_FREQUENCIES, MAX_UNET_BLOCKS, MAX_UNET_CHANNELS, MAX_UNET_EMBED, MAX_UNET_LEVELS,
    MAX_UNET_RESOLUTION,
};
use super::meta::{Architecture, UnetTimeEmbedding};
use super::spec::TensorSpec;
use crate::error::{LoadError, UnetError};

/// One level of the U-Net: its channel count and resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// Channels `c·channel_mult[l]`.
    pub channels: usize,
    /// Height H_l.
    pub height: usize,
    /// Width W_l.
    pub width: usize,
}

/// A convolution (PyTorch layout `[out, in, k, k]`, zero padding k/2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conv {
    /// Tensor prefix: `{prefix}.weight`, `{prefix}.bias`.
    pub prefix: String,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel size: 1 or 3.
    pub kernel: usize,
    /// Stride: 1, or 2 for down-sampling.
    pub stride: usize,
    /// Input resolution (height, width).
    pub input: (usize, usize),
    /// Output resolution (height, width).
    pub output: (usize, usize),
}

/// A residual block (see `docs/format.md` §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResBlock {
    /// Tensor prefix, e.g. `down.0.block.1`.
    pub prefix: String,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Resolution (height, width).
    pub size: (usize, usize),
}

/// Self-attention over the positions of one resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    /// Tensor prefix, e.g. `mid.attn`.
    pub prefix: String,
    /// Channels.
    pub channels: usize,
    /// Heads (divides `channels`).
    pub heads: usize,
    /// Resolution (height, width).
    pub size: (usize, usize),
}

/// One step of the forward pass, in order. The state is one feature map `h` plus a stack
/// of skips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `h = conv(h)` (the input convolution, or a stride-2 down-sampling).
    Conv(Conv),
    /// `h = block(h, emb)`.
    Res(ResBlock),
    /// `h = h + attention(h)`.
    Attention(Attention),
    /// Push a copy of `h` on the skip stack.
    PushSkip,
    /// `h = concat_channels(h, pop())` (h's channels first).
    ConcatSkip,
    /// `h = conv(nearest_upsample_2x(h) cropped to conv.output)`.
    Upsample(Conv),
}

/// The whole network, derived from the metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct UnetPlan {
    /// Data channels C.
    pub in_channels: usize,
    /// Data resolution (H, W).
    pub size: (usize, usize),
    /// The levels, finest first.
    pub levels: Vec<Level>,
    /// Fourier frequencies of the time embedding.
    pub frequencies: Vec<f32>,
    /// Time-embedding width E.
    pub embed_dim: usize,
    /// GroupNorm groups.
    pub groups: usize,
    /// GroupNorm ε.
    pub norm_eps: f32,
    /// The forward pass between the input convolution (`steps[0]`) and the output head.
    pub steps: Vec<Step>,
}

fn err(e: UnetError) -> LoadError {
    LoadError::InvalidUnet(e)
}

impl UnetPlan {
    /// Derives the network from a `unet` architecture, checking every rule of
    /// `docs/format.md` §5 that concerns it. `None` for another family.
    ///
    /// Every size is bounded before it is used (so nothing here overflows or allocates
    /// more than a few kilobytes per level and block).
    pub fn new(arch: &Architecture) -> Option<Result<UnetPlan, LoadError>> {
        match arch {
            Architecture::Unet {
                data_shape,
                channels,
                channel_mult,
                blocks,
                attention,
                heads,
                mid_attention,
                groups,
                norm_eps,
                time_embedding,
                ..
            } => Some(plan(
                data_shape,
                *channels,
                channel_mult,
                *blocks,
                attention,
                *heads,
                *mid_attention,
                *groups,
                *norm_eps,
                time_embedding,
            )),
            _ => None,
        }
    }

    /// Every tensor of the network, in forward order, with its shape.
    pub fn tensors(&self) -> Vec<TensorSpec> {
        let mut out = Vec::new();
        let mut push = |name: String, shape: Vec<usize>| out.push(TensorSpec { name, shape });
        let (e, f4) = (self.embed_dim, 4 * self.frequencies.len());
        push("time.0.weight".into(), vec![e, f4]);
        push("time.0.bias".into(), vec![e]);
        push("time.1.weight".into(), vec![e, e]);
        push("time.1.bias".into(), vec![e]);
        let conv = |push: &mut dyn FnMut(String, Vec<usize>), c: &Conv| {
            push(
                format!("{}.weight", c.prefix),
                vec![c.cout, c.cin, c.kernel, c.kernel],
            );
            push(format!("{}.bias", c.prefix), vec![c.cout]);
        };
        let norm = |push: &mut dyn FnMut(String, Vec<usize>), p: &str, ch: usize| {
            push(format!("{p}.weight"), vec![ch]);
            push(format!("{p}.bias"), vec![ch]);
        };
        for step in &self.steps {
            match step {
                Step::Conv(c) | Step::Upsample(c) => conv(&mut push, c),
                Step::Res(r) => {
                    let p = &r.prefix;
                    norm(&mut push, &format!("{p}.norm1"), r.cin);
                    conv(&mut push, &r.conv1());
                    push(format!("{p}.emb.weight"), vec![2 * r.cout, e]);
                    push(format!("{p}.emb.bias"), vec![2 * r.cout]);
                    norm(&mut push, &format!("{p}.norm2"), r.cout);
                    conv(&mut push, &r.conv2());
                    if let Some(s) = r.skip() {
                        conv(&mut push, &s);
                    }
                }
                Step::Attention(a) => {
                    let p = &a.prefix;
                    norm(&mut push, &format!("{p}.norm"), a.channels);
                    conv(&mut push, &a.qkv());
                    conv(&mut push, &a.proj());
                }
                Step::PushSkip | Step::ConcatSkip => {}
            }
        }
        let c0 = self.levels[0].channels;
        norm(&mut push, "out.norm", c0);
        conv(&mut push, &self.out_conv());
        out
    }

    /// The output convolution `out.conv`: c0 → C at full resolution.
    pub fn out_conv(&self) -> Conv {
        conv3(
            "out.conv".into(),
            self.levels[0].channels,
            self.in_channels,
            self.size,
        )
    }
}

fn conv3(prefix: String, cin: usize, cout: usize, size: (usize, usize)) -> Conv {
    Conv {
        prefix,
        cin,
        cout,
        kernel: 3,
        stride: 1,
        input: size,
        output: size,
    }
}

fn conv1x1(prefix: String, cin: usize, cout: usize, size: (usize, usize)) -> Conv {
    Conv {
        kernel: 1,
        ..conv3(prefix, cin, cout, size)
    }
}

impl ResBlock {
    /// `conv1`: 3×3, cin → cout.
    pub fn conv1(&self) -> Conv {
        conv3(
            format!("{}.conv1", self.prefix),
            self.cin,
            self.cout,
            self.size,
        )
    }

    /// `conv2`: 3×3, cout → cout.
    pub fn conv2(&self) -> Conv {
        conv3(
            format!("{}.conv2", self.prefix),
            self.cout,
            self.cout,
            self.size,
        )
    }

    /// `skip`: 1×1, cin → cout, present iff the channels change.
    pub fn skip(&self) -> Option<Conv> {
        (self.cin != self.cout).then(|| {
            conv1x1(
                format!("{}.skip", self.prefix),
                self.cin,
                self.cout,
                self.size,
            )
        })
    }
}

impl Attention {
    /// `qkv`: 1×1, ch → 3·ch.
    pub fn qkv(&self) -> Conv {
        conv1x1(
            format!("{}.qkv", self.prefix),
            self.channels,
            3 * self.channels,
            self.size,
        )
    }

    /// `proj`: 1×1, ch → ch.
    pub fn proj(&self) -> Conv {
        conv1x1(
            format!("{}.proj", self.prefix),
            self.channels,
            self.channels,
            self.size,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn plan(
    data_shape: &[usize],
    channels: usize,
    channel_mult: &[usize],
    blocks: usize,
    attention: &[usize],
    heads: usize,
    mid_attention: bool,
    groups: usize,
    norm_eps: f32,
    time_embedding: &UnetTimeEmbedding,
) -> Result<UnetPlan, LoadError> {
    let (c_in, h, w) = match *data_shape {
        [c, h, w]
            if (1..=4).contains(&c)
                && (1..=MAX_UNET_RESOLUTION).contains(&h)
                && (1..=MAX_UNET_RESOLUTION).contains(&w)
                && c * h * w <= MAX_DIM =>
        {
            (c, h, w)
        }
        _ => {
            return Err(err(UnetError::DataShape {
                data_shape: data_shape.to_vec(),
            }))
        }
    };
    if channel_mult.is_empty() || channel_mult.len() > MAX_UNET_LEVELS {
        return Err(err(UnetError::Levels {
            count: channel_mult.len(),
        }));
    }
    let mut levels = Vec::with_capacity(channel_mult.len());
    let (mut hl, mut wl) = (h, w);
    for (level, &m) in channel_mult.iter().enumerate() {
        let ch = channels.saturating_mul(m);
        if channels == 0 || m == 0 || ch > MAX_UNET_CHANNELS {
            return Err(err(UnetError::Channels {
                level,
                channels: ch,
            }));
        }
        levels.push(Level {
            channels: ch,
            height: hl,
            width: wl,
        });
        (hl, wl) = (hl.div_ceil(2), wl.div_ceil(2));
    }
    if !(1..=MAX_UNET_BLOCKS).contains(&blocks) {
        return Err(err(UnetError::Blocks { blocks }));
    }
    if let Some(&resolution) = attention
        .iter()
        .find(|&&r| !levels.iter().any(|l| l.height == r))
    {
        return Err(err(UnetError::AttentionResolution { resolution }));
    }
    if heads == 0 {
        return Err(err(UnetError::Heads { heads, channels: 0 }));
    }
    if groups == 0 {
        return Err(err(UnetError::Groups {
            groups,
            channels: 0,
        }));
    }
    if !(norm_eps.is_finite() && norm_eps > 0.0) {
        return Err(err(UnetError::NormEps(norm_eps)));
    }
    let UnetTimeEmbedding::FourierMlp { frequencies, dim } = time_embedding;
    if frequencies.is_empty() || frequencies.len() > MAX_FREQUENCIES {
        return Err(LoadError::InvalidFrequency {
            index: frequencies.len(),
            value: f32::NAN,
        });
    }
    if let Some((index, &value)) = frequencies.iter().enumerate().find(|(_, f)| !f.is_finite()) {
        return Err(LoadError::InvalidFrequency { index, value });
    }
    if !(1..=MAX_UNET_EMBED).contains(dim) {
        return Err(err(UnetError::EmbedDim { dim: *dim }));
    }

    // The steps (docs/format.md §2).
    let size = |l: &Level| (l.height, l.width);
    let attends = |l: &Level| attention.contains(&l.height);
    let mut steps = Vec::new();
    let c0 = levels[0].channels;
    steps.push(Step::Conv(conv3("conv_in".into(), c_in, c0, (h, w))));
    let mut cur = c0;
    let last = levels.len() - 1;
    for (l, lv) in levels.iter().enumerate() {
        for b in 0..blocks {
            steps.push(Step::Res(ResBlock {
                prefix: format!("down.{l}.block.{b}"),
                cin: cur,
                cout: lv.channels,
                size: size(lv),
            }));
            cur = lv.channels;
            if attends(lv) {
                steps.push(attn(format!("down.{l}.attn.{b}"), lv, heads)?);
            }
            steps.push(Step::PushSkip);
        }
        if l < last {
            let next = &levels[l + 1];
            steps.push(Step::Conv(Conv {
                stride: 2,
                output: size(next),
                ..conv3(format!("down.{l}.downsample"), cur, cur, size(lv))
            }));
        }
    }
    let bottom = &levels[last];
    let mid = |i: usize| {
        Step::Res(ResBlock {
            prefix: format!("mid.block.{i}"),
            cin: cur,
            cout: cur,
            size: size(bottom),
        })
    };
    steps.push(mid(0));
    if mid_attention {
        steps.push(attn("mid.attn".into(), bottom, heads)?);
    }
    steps.push(mid(1));
    for (l, lv) in levels.iter().enumerate().rev() {
        for b in 0..blocks {
            steps.push(Step::ConcatSkip);
            steps.push(Step::Res(ResBlock {
                prefix: format!("up.{l}.block.{b}"),
                cin: cur + lv.channels,
                cout: lv.channels,
                size: size(lv),
            }));
            cur = lv.channels;
            if attends(lv) {
                steps.push(attn(format!("up.{l}.attn.{b}"), lv, heads)?);
            }
        }
        if l > 0 {
            let prev = &levels[l - 1];
            steps.push(Step::Upsample(Conv {
                output: size(prev),
                ..conv3(format!("up.{l}.upsample"), cur, cur, size(prev))
            }));
        }
    }
    let plan = UnetPlan {
        in_channels: c_in,
        size: (h, w),
        levels,
        frequencies: frequencies.clone(),
        embed_dim: *dim,
        groups,
        norm_eps,
        steps,
    };
    // GroupNorm groups divide every normalised channel count.
    let mut normalised = vec![c0];
    for s in &plan.steps {
        match s {
            Step::Res(r) => normalised.extend([r.cin, r.cout]),
            Step::Attention(a) => normalised.push(a.channels),
            _ => {}
        }
    }
    if let Some(&channels) = normalised.iter().find(|&&c| c % groups != 0) {
        return Err(err(UnetError::Groups { groups, channels }));
    }
    Ok(plan)
}

/// An attention step at level `lv`, checking that the heads divide its channels.
fn attn(prefix: String, lv: &Level, heads: usize) -> Result<Step, LoadError> {
    if lv.channels % heads != 0 {
        return Err(err(UnetError::Heads {
            heads,
            channels: lv.channels,
        }));
    }
    Ok(Step::Attention(Attention {
        prefix,
        channels: lv.channels,
        heads,
        size: (lv.height, lv.width),
    }))
}
