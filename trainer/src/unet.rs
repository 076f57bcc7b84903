//! The image flow-map network: a U-Net v_θ(s, t, x) with the topology and tensor names of the
//! `unet` architecture of format v2 (the contract in docs/format.md, written with the runtime):
//! per-level channels, residual blocks with GroupNorm and SiLU, attention at chosen
//! resolutions, an (s, t − s) Fourier embedding, and an output convolution initialised to zero
//! so that X_{s,t}(x) = x at the start.
//!
//! Parameters are kept by their model-file names, so export, EMA copies and checkpoints need no
//! positional bookkeeping. Exact tangents (∂_t, ∂_s, the spatial JVP that LSD and ESD need)
//! come from libtorch's forward-mode AD ([`crate::forward_ad`]), differentiable in θ.

use crate::loss_weight;
use crate::time_features::time_features;
use flowmap::schema::{Architecture, UnetTimeEmbedding};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// The architecture settings (the `architecture` object of a v2 `unet` model file).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UNetConfig {
    /// Data shape [C, H, W], C in 1..=4.
    pub data_shape: [usize; 3],
    /// Base channel count c.
    pub channels: usize,
    /// Level l has c·m_l channels.
    pub channel_mult: Vec<usize>,
    /// Residual blocks per level, encoder and decoder.
    pub blocks: usize,
    /// Resolutions H_l at which attention follows each residual block.
    pub attention: Vec<usize>,
    /// Attention heads.
    pub heads: usize,
    /// Attention in the middle block.
    pub mid_attention: bool,
    /// GroupNorm groups (divides every normalised channel count).
    pub groups: usize,
    /// GroupNorm ε.
    pub norm_eps: f64,
    /// Fourier frequencies f_k of the time features.
    pub frequencies: Vec<f64>,
    /// Time-embedding width E.
    pub emb_dim: usize,
}

/// Named settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Tests: 8×8 digits in seconds.
    Tiny,
    /// Fashion-MNIST experiments on a 2-core CPU budget (tens of minutes), cheap to evaluate.
    Small,
    /// Fashion-MNIST on a few CPU cores.
    #[default]
    Cpu,
    /// Fashion-MNIST / CIFAR-sized runs on a GPU.
    Gpu,
}

impl Preset {
    /// `tiny`, `cpu` or `gpu`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::Cpu => "cpu",
            Preset::Gpu => "gpu",
        }
    }

    /// The preset called `s`.
    pub fn from_name(s: &str) -> Option<Preset> {
        match s {
            "tiny" => Some(Preset::Tiny),
            "small" => Some(Preset::Small),
            "cpu" => Some(Preset::Cpu),
            "gpu" => Some(Preset::Gpu),
            _ => None,
        }
    }

    /// The settings for images of shape `data_shape`.
    pub fn config(self, data_shape: [usize; 3]) -> UNetConfig {
        // Geometric from 1/4 to 4 cycles per unit of time. LSD and ESD differentiate the net in
        // time, and a feature sin(2πf·t) has a time derivative 2πf times its size: the former
        // 2^k/2 ladder (up to 64 cycles for 8 frequencies, 16 384 for 16) made ∂_t v so rough
        // that LSD's raw errors spiked by 10³ on Fashion-MNIST while flow matching trained.
        let freqs = |n: usize| {
            (0..n)
                .map(|k| 0.25 * 16f64.powf(k as f64 / (n.max(2) - 1) as f64))
                .collect()
        };
        let (channels, channel_mult, blocks, attention, groups, emb_dim, f) = match self {
            Preset::Tiny => (
                8,
                vec![1, 2],
                1,
                vec![level_size(data_shape[1], 1)],
                4,
                32,
                4,
            ),
            Preset::Small => (
                16,
                vec![1, 2, 2],
                1,
                vec![level_size(data_shape[1], 2)],
                8,
                64,
                8,
            ),
            Preset::Cpu => (
                32,
                vec![1, 2, 2],
                1,
                vec![level_size(data_shape[1], 2)],
                8,
                128,
                8,
            ),
            Preset::Gpu => (
                96,
                vec![1, 2, 2],
                2,
                vec![level_size(data_shape[1], 1), level_size(data_shape[1], 2)],
                32,
                384,
                16,
            ),
        };
        UNetConfig {
            data_shape,
            channels,
            channel_mult,
            blocks,
            attention,
            heads: 1,
            mid_attention: true,
            groups,
            norm_eps: 1e-5,
            frequencies: freqs(f),
            emb_dim,
        }
    }
}

/// H_l: H_0 = H, H_{l+1} = ⌈H_l / 2⌉.
pub fn level_size(h: usize, level: usize) -> usize {
    (0..level).fold(h, |h, _| h.div_ceil(2))
}

impl UNetConfig {
    /// Levels L.
    pub fn levels(&self) -> usize {
        self.channel_mult.len()
    }

    /// Channels of level l.
    pub fn ch(&self, l: usize) -> usize {
        self.channels * self.channel_mult[l]
    }

    /// (H_l, W_l).
    pub fn size(&self, l: usize) -> (usize, usize) {
        (
            level_size(self.data_shape[1], l),
            level_size(self.data_shape[2], l),
        )
    }

    fn attends(&self, l: usize) -> bool {
        self.attention.contains(&self.size(l).0)
    }

    /// Every residual block as (name prefix, cin, cout, level), in forward order.
    fn blocks_list(&self) -> Vec<(String, usize, usize, usize)> {
        let mut out = Vec::new();
        let levels = self.levels();
        for l in 0..levels {
            for b in 0..self.blocks {
                let cin = if b > 0 {
                    self.ch(l)
                } else if l == 0 {
                    self.ch(0)
                } else {
                    self.ch(l - 1)
                };
                out.push((format!("down.{l}.block.{b}"), cin, self.ch(l), l));
            }
        }
        let top = self.ch(levels - 1);
        for k in 0..2 {
            out.push((format!("mid.block.{k}"), top, top, levels - 1));
        }
        for l in (0..levels).rev() {
            for b in 0..self.blocks {
                let incoming = match (b, l + 1 < levels) {
                    (0, true) => self.ch(l + 1),
                    (0, false) => top,
                    _ => self.ch(l),
                };
                out.push((
                    format!("up.{l}.block.{b}"),
                    incoming + self.ch(l),
                    self.ch(l),
                    l,
                ));
            }
        }
        out
    }

    /// Every attention layer as (name prefix, channels, level).
    fn attention_list(&self) -> Vec<(String, usize, usize)> {
        let mut out = Vec::new();
        let levels = self.levels();
        for l in 0..levels {
            if self.attends(l) {
                for b in 0..self.blocks {
                    out.push((format!("down.{l}.attn.{b}"), self.ch(l), l));
                }
            }
        }
        if self.mid_attention {
            out.push(("mid.attn".to_string(), self.ch(levels - 1), levels - 1));
        }
        for l in (0..levels).rev() {
            if self.attends(l) {
                for b in 0..self.blocks {
                    out.push((format!("up.{l}.attn.{b}"), self.ch(l), l));
                }
            }
        }
        out
    }

    /// Every tensor (name, shape) of the network, in name order.
    pub fn tensor_shapes(&self) -> BTreeMap<String, Vec<i64>> {
        let mut t = BTreeMap::new();
        let mut add = |name: String, shape: &[usize]| {
            t.insert(name, shape.iter().map(|&d| d as i64).collect::<Vec<_>>());
        };
        let (c, e, f4) = (self.data_shape[0], self.emb_dim, 4 * self.frequencies.len());
        let c0 = self.ch(0);
        add("time.0.weight".into(), &[e, f4]);
        add("time.0.bias".into(), &[e]);
        add("time.1.weight".into(), &[e, e]);
        add("time.1.bias".into(), &[e]);
        add("conv_in.weight".into(), &[c0, c, 3, 3]);
        add("conv_in.bias".into(), &[c0]);
        for (p, cin, cout, _) in self.blocks_list() {
            add(format!("{p}.norm1.weight"), &[cin]);
            add(format!("{p}.norm1.bias"), &[cin]);
            add(format!("{p}.conv1.weight"), &[cout, cin, 3, 3]);
            add(format!("{p}.conv1.bias"), &[cout]);
            add(format!("{p}.emb.weight"), &[2 * cout, e]);
            add(format!("{p}.emb.bias"), &[2 * cout]);
            add(format!("{p}.norm2.weight"), &[cout]);
            add(format!("{p}.norm2.bias"), &[cout]);
            add(format!("{p}.conv2.weight"), &[cout, cout, 3, 3]);
            add(format!("{p}.conv2.bias"), &[cout]);
            if cin != cout {
                add(format!("{p}.skip.weight"), &[cout, cin, 1, 1]);
                add(format!("{p}.skip.bias"), &[cout]);
            }
        }
        for (a, ch, _) in self.attention_list() {
            add(format!("{a}.norm.weight"), &[ch]);
            add(format!("{a}.norm.bias"), &[ch]);
            add(format!("{a}.qkv.weight"), &[3 * ch, ch, 1, 1]);
            add(format!("{a}.qkv.bias"), &[3 * ch]);
            add(format!("{a}.proj.weight"), &[ch, ch, 1, 1]);
            add(format!("{a}.proj.bias"), &[ch]);
        }
        for l in 0..self.levels() {
            let ch = self.ch(l);
            if l + 1 < self.levels() {
                add(format!("down.{l}.downsample.weight"), &[ch, ch, 3, 3]);
                add(format!("down.{l}.downsample.bias"), &[ch]);
            }
            if l > 0 {
                add(format!("up.{l}.upsample.weight"), &[ch, ch, 3, 3]);
                add(format!("up.{l}.upsample.bias"), &[ch]);
            }
        }
        add("out.norm.weight".into(), &[c0]);
        add("out.norm.bias".into(), &[c0]);
        add("out.conv.weight".into(), &[c, c0, 3, 3]);
        add("out.conv.bias".into(), &[c]);
        t
    }

    /// The tensors of the learned loss weight w(s, t) ([`crate::loss_weight`]), reading
    /// the time-embedding frequencies.
    pub fn loss_weight_shapes(&self) -> BTreeMap<String, Vec<i64>> {
        loss_weight::shapes(self.frequencies.len())
    }

    /// The model file's `architecture` for these settings (format 2, `unet`), with the data
    /// values of pixels 0 and 255 when the data are pixels.
    pub fn architecture(&self, pixel_range: Option<[f32; 2]>) -> Architecture {
        Architecture::Unet {
            data_shape: self.data_shape.to_vec(),
            channels: self.channels,
            channel_mult: self.channel_mult.clone(),
            blocks: self.blocks,
            attention: self.attention.clone(),
            heads: self.heads,
            mid_attention: self.mid_attention,
            groups: self.groups,
            norm_eps: self.norm_eps as f32,
            time_embedding: UnetTimeEmbedding::FourierMlp {
                frequencies: self.frequencies.iter().map(|&f| f as f32).collect(),
                dim: self.emb_dim,
            },
            pixel_range,
        }
    }

    /// Rejects settings the network cannot be built with, saying what to change.
    pub fn validate(&self) -> Result<(), String> {
        let [c, h, w] = self.data_shape;
        if !(1..=4).contains(&c) || h == 0 || w == 0 {
            return Err(format!(
                "images must be [C, H, W] with C in 1..=4, got {:?}",
                self.data_shape
            ));
        }
        if self.channels == 0 || self.channel_mult.is_empty() || self.channel_mult.contains(&0) {
            return Err("channels and every channel multiplier must be positive".into());
        }
        if self.blocks == 0 || self.heads == 0 || self.groups == 0 || self.emb_dim == 0 {
            return Err("blocks, heads, groups and the embedding width must be positive".into());
        }
        if self.frequencies.is_empty() {
            return Err("the time embedding needs at least one frequency".into());
        }
        let shapes = self.tensor_shapes();
        for (name, shape) in &shapes {
            if name.contains("norm")
                && name.ends_with(".weight")
                && shape[0] as usize % self.groups != 0
            {
                return Err(format!(
                    "{} groups do not divide the {} channels of {name}; choose groups dividing \
                     every level's channels",
                    self.groups, shape[0]
                ));
            }
        }
        for (a, ch, _) in self.attention_list() {
            if ch % self.heads != 0 {
                return Err(format!(
                    "{} heads do not divide the {ch} channels of {a}",
                    self.heads
                ));
            }
        }
        Ok(())
    }

    /// Parameters.
    pub fn num_parameters(&self) -> usize {
        self.tensor_shapes()
            .values()
            .map(|s| s.iter().product::<i64>() as usize)
            .sum()
    }

    /// Floating-point operations of one forward pass for one image (2 per multiply-add of the
    /// convolutions, linear layers and attention products; norms and activations left out).
    pub fn flops_per_image(&self) -> u64 {
        let mut macs = 0u64;
        let e = self.emb_dim as u64;
        macs += e * 4 * self.frequencies.len() as u64 + e * e;
        let conv = |cin: usize, cout: usize, k: u64, l: usize| -> u64 {
            let (h, w) = self.size(l);
            cin as u64 * cout as u64 * k * k * (h * w) as u64
        };
        macs += conv(self.data_shape[0], self.ch(0), 3, 0);
        for (_, cin, cout, l) in self.blocks_list() {
            macs += conv(cin, cout, 3, l) + conv(cout, cout, 3, l) + 2 * cout as u64 * e;
            if cin != cout {
                macs += conv(cin, cout, 1, l);
            }
        }
        for (_, ch, l) in self.attention_list() {
            let (h, w) = self.size(l);
            let p = (h * w) as u64;
            macs += conv(ch, 3 * ch, 1, l) + conv(ch, ch, 1, l) + 2 * p * p * ch as u64;
        }
        for l in 0..self.levels() {
            if l + 1 < self.levels() {
                macs += conv(self.ch(l), self.ch(l), 3, l + 1);
            }
            if l > 0 {
                macs += conv(self.ch(l), self.ch(l), 3, l - 1);
            }
        }
        macs += conv(self.ch(0), self.data_shape[0], 3, 0);
        2 * macs
    }
}

/// The U-Net with its parameters by model-file name.
pub struct UNet {
    /// Settings.
    pub config: UNetConfig,
    /// Base scale σ (normalised space).
    pub sigma: f64,
    /// Parameters by name ([`UNetConfig::tensor_shapes`]).
    pub params: BTreeMap<String, Tensor>,
    /// The learned loss weight w(s, t) (paper §2.1), a training-only head that is never
    /// exported: [`loss_weight::PREFIX`] + [`UNetConfig::loss_weight_shapes`].
    pub loss_weight: BTreeMap<String, Tensor>,
}

impl UNet {
    /// The model file's architecture (see [`UNetConfig::architecture`]).
    pub fn architecture(&self, pixel_range: Option<[f32; 2]>) -> Architecture {
        self.config.architecture(pixel_range)
    }

    /// A freshly initialised network: LeCun-normal weights, zero biases, GroupNorm scale 1 and
    /// shift 0, and a zero output convolution (X = x at the start). Uses torch's global
    /// generator, so seed it first.
    pub fn new(config: UNetConfig, sigma: f64, device: Device) -> UNet {
        let init = |shapes: BTreeMap<String, Vec<i64>>| -> BTreeMap<String, Tensor> {
            shapes
                .into_iter()
                .map(|(name, shape)| {
                    let opts = (Kind::Float, device);
                    let t = if name.starts_with("out.conv")
                        || name == "loss_weight.1.weight"
                        || name.ends_with(".bias")
                    {
                        Tensor::zeros(&shape[..], opts)
                    } else if name.contains("norm") {
                        Tensor::ones(&shape[..], opts)
                    } else {
                        let fan_in: i64 = shape[1..].iter().product();
                        Tensor::randn(&shape[..], opts) * (1.0 / fan_in as f64).sqrt()
                    };
                    (name, t.set_requires_grad(true))
                })
                .collect()
        };
        // Zero output layers: X = x and w(s, t) = 0 at the start.
        let params = init(config.tensor_shapes());
        let loss_weight = init(config.loss_weight_shapes());
        UNet {
            config,
            sigma,
            params,
            loss_weight,
        }
    }

    /// w(s, t) per row, [B] (the paper's learned weight: a row's loss is e^{−w}·err + w).
    pub fn loss_weight(&self, s: &Tensor, t: &Tensor) -> Tensor {
        loss_weight::forward(&self.loss_weight, &self.config.frequencies, s, t)
    }

    fn p(&self, name: &str) -> &Tensor {
        self.params
            .get(name)
            .unwrap_or_else(|| panic!("U-Net has no parameter {name}"))
    }

    fn conv(&self, x: &Tensor, name: &str, stride: i64) -> Tensor {
        let w = self.p(&format!("{name}.weight"));
        let pad = w.size()[2] / 2;
        x.conv2d(
            w,
            Some(self.p(&format!("{name}.bias"))),
            [stride],
            [pad],
            [1],
            1,
        )
    }

    fn norm(&self, x: &Tensor, name: &str) -> Tensor {
        x.group_norm(
            self.config.groups as i64,
            Some(self.p(&format!("{name}.weight"))),
            Some(self.p(&format!("{name}.bias"))),
            self.config.norm_eps,
            false,
        )
    }

    fn linear(&self, x: &Tensor, name: &str) -> Tensor {
        x.linear(
            self.p(&format!("{name}.weight")),
            Some(self.p(&format!("{name}.bias"))),
        )
    }

    fn block(&self, h: &Tensor, emb: &Tensor, p: &str) -> Tensor {
        let r = self.conv(
            &self.norm(h, &format!("{p}.norm1")).silu(),
            &format!("{p}.conv1"),
            1,
        );
        let ss = self.linear(&emb.silu(), &format!("{p}.emb"));
        let cout = r.size()[1];
        let scale = ss.narrow(1, 0, cout).unsqueeze(-1).unsqueeze(-1);
        let shift = ss.narrow(1, cout, cout).unsqueeze(-1).unsqueeze(-1);
        let r = self.norm(&r, &format!("{p}.norm2")) * (scale + 1.0) + shift;
        let r = self.conv(&r.silu(), &format!("{p}.conv2"), 1);
        let skip = if self.params.contains_key(&format!("{p}.skip.weight")) {
            self.conv(h, &format!("{p}.skip"), 1)
        } else {
            h.shallow_clone()
        };
        skip + r
    }

    fn attention(&self, h: &Tensor, a: &str) -> Tensor {
        let [b, ch, hh, ww] = h.size()[..] else {
            unreachable!("NCHW")
        };
        let n = self.config.heads as i64;
        let d = ch / n;
        let qkv = self
            .conv(&self.norm(h, &format!("{a}.norm")), &format!("{a}.qkv"), 1)
            .view([b, 3, n, d, hh * ww]);
        let (q, k, v) = (qkv.select(1, 0), qkv.select(1, 1), qkv.select(1, 2));
        // scores[b, head, query, key] = q·k / √d; softmax over keys, max-subtracted, written
        // out of place: libtorch's fused softmax, differentiated forward then backward
        // (LSD/ESD's tangents under the training gradient), updates a saved exp in place and
        // fails.
        let scores = q.transpose(2, 3).matmul(&k) / (d as f64).sqrt();
        let e = (&scores - scores.amax(-1, true).detach()).exp();
        let att = &e / e.sum_dim_intlist(-1, true, e.kind());
        let out = v.matmul(&att.transpose(2, 3)).reshape([b, ch, hh, ww]);
        h + self.conv(&out, &format!("{a}.proj"), 1)
    }

    /// v_{s,t}(x) for s, t: [B, 1] and x: [B, C, H, W] (normalised space).
    pub fn velocity(&self, s: &Tensor, t: &Tensor, x: &Tensor) -> Tensor {
        let cfg = &self.config;
        let feat = time_features(
            &self.config.frequencies,
            &s.to_kind(x.kind()),
            &t.to_kind(x.kind()),
        );
        let emb = self.linear(&self.linear(&feat, "time.0").silu(), "time.1");
        let mut h = self.conv(&(x / self.sigma), "conv_in", 1);
        let levels = cfg.levels();
        let mut skips = Vec::new();
        for l in 0..levels {
            for b in 0..cfg.blocks {
                h = self.block(&h, &emb, &format!("down.{l}.block.{b}"));
                if cfg.attends(l) {
                    h = self.attention(&h, &format!("down.{l}.attn.{b}"));
                }
                skips.push(h.shallow_clone());
            }
            if l + 1 < levels {
                h = self.conv(&h, &format!("down.{l}.downsample"), 2);
            }
        }
        h = self.block(&h, &emb, "mid.block.0");
        if cfg.mid_attention {
            h = self.attention(&h, "mid.attn");
        }
        h = self.block(&h, &emb, "mid.block.1");
        for l in (0..levels).rev() {
            for b in 0..cfg.blocks {
                let skip = skips.pop().expect("one skip per encoder block");
                h = self.block(
                    &Tensor::cat(&[&h, &skip], 1),
                    &emb,
                    &format!("up.{l}.block.{b}"),
                );
                if cfg.attends(l) {
                    h = self.attention(&h, &format!("up.{l}.attn.{b}"));
                }
            }
            if l > 0 {
                let (th, tw) = cfg.size(l - 1);
                let up = h
                    .repeat_interleave_self_int(2, Some(2), None)
                    .repeat_interleave_self_int(2, Some(3), None)
                    .narrow(2, 0, th as i64)
                    .narrow(3, 0, tw as i64);
                h = self.conv(&up, &format!("up.{l}.upsample"), 1);
            }
        }
        let out = self.conv(&self.norm(&h, "out.norm").silu(), "out.conv", 1);
        out * self.sigma
    }

    /// v_{s,t}(x) and its exact directional derivative along (ds, dt, dx) (`None`: zero),
    /// both differentiable in θ. ds, dt: [B, 1] or broadcastable; dx: like x.
    pub fn velocity_jvp(
        &self,
        s: &Tensor,
        t: &Tensor,
        x: &Tensor,
        tangent: (Option<&Tensor>, Option<&Tensor>, Option<&Tensor>),
    ) -> (Tensor, Tensor) {
        let (ds, dt, dx) = tangent;
        crate::forward_ad::jvp(
            |i| self.velocity(&i[0], &i[1], &i[2]),
            &[s, t, x],
            &[ds, dt, dx],
        )
    }

    /// The same network with every parameter converted to `kind` (float64 for checks against
    /// finite differences).
    pub fn to_kind(&self, kind: Kind) -> UNet {
        UNet {
            config: self.config.clone(),
            sigma: self.sigma,
            params: self
                .params
                .iter()
                .map(|(n, p)| (n.clone(), p.detach().to_kind(kind)))
                .collect(),
            loss_weight: self
                .loss_weight
                .iter()
                .map(|(n, p)| (n.clone(), p.detach().to_kind(kind)))
                .collect(),
        }
    }

    /// X_{s,t}(x) = x + (t − s)·v_{s,t}(x).
    pub fn map(&self, s: &Tensor, t: &Tensor, x: &Tensor) -> Tensor {
        let dt = (t - s).view([-1, 1, 1, 1]);
        x + dt * self.velocity(s, t, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tensor table of the format contract (UNET_SPEC / docs/format.md), written out by
    /// hand for the tiny preset on 1×8×8: c = 8, m = [1, 2], one block per level, attention at
    /// H = 4 (level 1), mid attention, E = 32, F = 4.
    fn spec_table() -> BTreeMap<String, Vec<i64>> {
        let mut t: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        let mut add = |n: &str, s: &[i64]| {
            t.insert(n.to_string(), s.to_vec());
        };
        add("time.0.weight", &[32, 16]);
        add("time.0.bias", &[32]);
        add("time.1.weight", &[32, 32]);
        add("time.1.bias", &[32]);
        add("conv_in.weight", &[8, 1, 3, 3]);
        add("conv_in.bias", &[8]);
        let block = |add: &mut dyn FnMut(&str, &[i64]), p: &str, cin: i64, cout: i64| {
            add(&format!("{p}.norm1.weight"), &[cin]);
            add(&format!("{p}.norm1.bias"), &[cin]);
            add(&format!("{p}.conv1.weight"), &[cout, cin, 3, 3]);
            add(&format!("{p}.conv1.bias"), &[cout]);
            add(&format!("{p}.emb.weight"), &[2 * cout, 32]);
            add(&format!("{p}.emb.bias"), &[2 * cout]);
            add(&format!("{p}.norm2.weight"), &[cout]);
            add(&format!("{p}.norm2.bias"), &[cout]);
            add(&format!("{p}.conv2.weight"), &[cout, cout, 3, 3]);
            add(&format!("{p}.conv2.bias"), &[cout]);
            if cin != cout {
                add(&format!("{p}.skip.weight"), &[cout, cin, 1, 1]);
                add(&format!("{p}.skip.bias"), &[cout]);
            }
        };
        let attn = |add: &mut dyn FnMut(&str, &[i64]), a: &str, ch: i64| {
            add(&format!("{a}.norm.weight"), &[ch]);
            add(&format!("{a}.norm.bias"), &[ch]);
            add(&format!("{a}.qkv.weight"), &[3 * ch, ch, 1, 1]);
            add(&format!("{a}.qkv.bias"), &[3 * ch]);
            add(&format!("{a}.proj.weight"), &[ch, ch, 1, 1]);
            add(&format!("{a}.proj.bias"), &[ch]);
        };
        block(&mut add, "down.0.block.0", 8, 8);
        add("down.0.downsample.weight", &[8, 8, 3, 3]);
        add("down.0.downsample.bias", &[8]);
        block(&mut add, "down.1.block.0", 8, 16);
        attn(&mut add, "down.1.attn.0", 16);
        block(&mut add, "mid.block.0", 16, 16);
        attn(&mut add, "mid.attn", 16);
        block(&mut add, "mid.block.1", 16, 16);
        block(&mut add, "up.1.block.0", 16 + 16, 16);
        attn(&mut add, "up.1.attn.0", 16);
        add("up.1.upsample.weight", &[16, 16, 3, 3]);
        add("up.1.upsample.bias", &[16]);
        block(&mut add, "up.0.block.0", 16 + 8, 8);
        add("out.norm.weight", &[8]);
        add("out.norm.bias", &[8]);
        add("out.conv.weight", &[1, 8, 3, 3]);
        add("out.conv.bias", &[1]);
        t
    }

    #[test]
    fn names_and_shapes_follow_the_format_contract() {
        let cfg = Preset::Tiny.config([1, 8, 8]);
        cfg.validate().unwrap();
        let net = UNet::new(cfg.clone(), 0.5, Device::Cpu);
        let got: BTreeMap<String, Vec<i64>> = net
            .params
            .iter()
            .map(|(n, t)| (n.clone(), t.size()))
            .collect();
        assert_eq!(got, spec_table());
        assert_eq!(
            cfg.num_parameters(),
            spec_table()
                .values()
                .map(|s| s.iter().product::<i64>() as usize)
                .sum::<usize>()
        );
    }

    #[test]
    fn starts_as_the_identity_and_keeps_the_image_shape() {
        tch::manual_seed(3);
        // 7×5 images: odd sizes exercise ⌈H/2⌉ and the crop after upsampling.
        let mut cfg = Preset::Tiny.config([3, 7, 5]);
        cfg.attention = vec![4];
        cfg.validate().unwrap();
        let net = UNet::new(cfg, 0.5, Device::Cpu);
        let x = Tensor::randn([2, 3, 7, 5], (Kind::Float, Device::Cpu));
        let s = Tensor::from_slice(&[0.1f32, 0.3]).view([2, 1]);
        let t = Tensor::from_slice(&[0.9f32, 0.4]).view([2, 1]);
        let v = net.velocity(&s, &t, &x);
        assert_eq!(v.size(), vec![2, 3, 7, 5]);
        assert_eq!(v.abs().max().double_value(&[]), 0.0, "zero output conv");
        assert!(net.map(&s, &t, &x).equal(&x));
        // Once the output conv is not zero, the map moves and depends on (s, t).
        tch::no_grad(|| {
            let _ = net.params["out.conv.weight"].shallow_clone().fill_(0.01);
        });
        let v = net.velocity(&s, &t, &x);
        assert!(v.abs().max().double_value(&[]) > 0.0);
        let v2 = net.velocity(&t, &t, &x);
        assert!(!v.allclose(&v2, 1e-6, 1e-6, false));
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        let mut cfg = Preset::Tiny.config([1, 8, 8]);
        cfg.groups = 3;
        assert!(cfg.validate().unwrap_err().contains("groups"));
        let cfg = Preset::Tiny.config([5, 8, 8]);
        assert!(cfg.validate().unwrap_err().contains("C in 1..=4"));
        let mut cfg = Preset::Tiny.config([1, 8, 8]);
        cfg.heads = 3;
        assert!(cfg.validate().unwrap_err().contains("heads"));
    }

    #[test]
    fn presets_report_size_and_cost() {
        for (p, shape) in [
            (Preset::Tiny, [1, 8, 8]),
            (Preset::Small, [1, 28, 28]),
            (Preset::Cpu, [1, 28, 28]),
            (Preset::Gpu, [3, 32, 32]),
        ] {
            let cfg = p.config(shape);
            cfg.validate().unwrap();
            assert!(cfg.num_parameters() > 0 && cfg.flops_per_image() > 0);
        }
        // Larger preset, more of both.
        let small = Preset::Small.config([1, 28, 28]);
        let cpu = Preset::Cpu.config([1, 28, 28]);
        assert!(cpu.num_parameters() > 3 * small.num_parameters());
        assert!(cpu.flops_per_image() > 3 * small.flops_per_image());
        let gpu = Preset::Gpu.config([1, 28, 28]);
        assert!(gpu.num_parameters() > 4 * cpu.num_parameters());
        assert!(gpu.flops_per_image() > 4 * cpu.flops_per_image());
        // One 3×3 conv counted by hand: conv_in of the cpu preset is 1→32 channels at 28×28.
        assert_eq!(level_size(28, 2), 7);
        assert_eq!(level_size(7, 1), 4);
    }

    /// The whole U-Net's tangents against float64 central differences: ∂_t (LSD), ∂_s and
    /// the spatial JVP (ESD), on odd-sized RGB images with attention at two levels.
    #[test]
    fn whole_net_jvps_match_float64_central_differences() {
        tch::manual_seed(11);
        let mut cfg = Preset::Tiny.config([3, 7, 5]);
        cfg.attention = vec![7, 4];
        let net = UNet::new(cfg, 0.5, Device::Cpu).to_kind(Kind::Double);
        tch::no_grad(|| {
            // A non-zero output layer, so the map is not the identity.
            let w = &net.params["out.conv.weight"];
            w.shallow_clone().copy_(&(w.randn_like() * 0.3));
        });
        let opts = (Kind::Double, Device::Cpu);
        let x = Tensor::randn([2, 3, 7, 5], opts);
        let s = Tensor::from_slice(&[0.2f64, 0.05]).view([2, 1]);
        let t = Tensor::from_slice(&[0.7f64, 0.9]).view([2, 1]);
        let one = Tensor::ones([2, 1], opts);
        let dx = x.randn_like();
        let h = 1e-5;
        let v = |s: &Tensor, t: &Tensor, x: &Tensor| net.velocity(s, t, x);
        let cases: [(&str, Tensor, Tensor); 3] = [
            (
                "d/dt",
                net.velocity_jvp(&s, &t, &x, (None, Some(&one), None)).1,
                (v(&s, &(&t + h), &x) - v(&s, &(&t - h), &x)) / (2.0 * h),
            ),
            (
                "d/ds",
                net.velocity_jvp(&s, &t, &x, (Some(&one), None, None)).1,
                (v(&(&s + h), &t, &x) - v(&(&s - h), &t, &x)) / (2.0 * h),
            ),
            (
                "spatial",
                net.velocity_jvp(&s, &t, &x, (None, None, Some(&dx))).1,
                (v(&s, &t, &(&x + &dx * h)) - v(&s, &t, &(&x - &dx * h))) / (2.0 * h),
            ),
        ];
        for (name, jvp, fd) in cases {
            let err = (&jvp - &fd).abs().max().double_value(&[]);
            let scale = fd.abs().max().double_value(&[]);
            assert!(scale > 1e-6, "{name}: a trivial derivative proves nothing");
            assert!(err / scale < 1e-6, "{name}: off by {err} (scale {scale})");
        }
        // The primal of the JVP is the plain forward pass.
        let (primal, _) = net.velocity_jvp(&s, &t, &x, (None, Some(&one), None));
        assert!(primal.allclose(&v(&s, &t, &x), 1e-12, 1e-12, false));
    }

    /// The runtime's schema derives the same tensor names and shapes from the exported
    /// architecture as the network has, for every preset (one contract, checked both ways).
    #[test]
    fn the_runtime_schema_derives_the_same_tensors() {
        for (p, shape) in [
            (Preset::Tiny, [1, 8, 8]),
            (Preset::Tiny, [3, 7, 5]),
            (Preset::Small, [1, 28, 28]),
            (Preset::Cpu, [1, 28, 28]),
            (Preset::Gpu, [3, 32, 32]),
        ] {
            let cfg = p.config(shape);
            let schema: BTreeMap<String, Vec<i64>> = cfg
                .architecture(None)
                .tensors()
                .into_iter()
                .map(|s| (s.name, s.shape.iter().map(|&d| d as i64).collect()))
                .collect();
            assert_eq!(schema, cfg.tensor_shapes(), "{p:?} on {shape:?}");
        }
    }
}
