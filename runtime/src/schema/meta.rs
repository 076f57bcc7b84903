//! The metadata types (serialised as the `flowmap` JSON document).

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// The `__metadata__` key whose value is the JSON-encoded [`ModelMeta`].
pub const METADATA_KEY: &str = "flowmap";

/// Format 1: the version written for `mlp` files (which every runtime since the first
/// reads). Versions are bumped on every change a reader must know about.
pub const FORMAT_VERSION: u32 = 1;

/// Format 2: adds the `unet` architecture, compact normalisation (length 1, C or dim),
/// `pixel_range` and the MLP's `state_embedding`. The newest version this runtime reads; it reads 1 and 2 and rejects any
/// other with a typed error. A writer writes [`Architecture::format_version`].
pub const LATEST_FORMAT_VERSION: u32 = 2;

/// Everything a reader needs besides the weights to reproduce the trained map exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    /// Model-format version: [`FORMAT_VERSION`] (1) or [`LATEST_FORMAT_VERSION`] (2), at
    /// least [`Architecture::format_version`].
    pub format_version: u32,
    /// Network architecture (determines the expected tensors).
    pub architecture: Architecture,
    /// The interpolant the map was trained with (informational for sampling; the map itself
    /// does not depend on it, but it names the time convention).
    pub interpolant: Interpolant,
    /// Standard deviation σ of the Gaussian base x0 ~ σ·N(0, I), in normalised space.
    pub sigma: f32,
    /// Per-dimension data normalisation: the model works on (x − mean) / std.
    pub normalization: Normalization,
    /// Where the weights came from.
    pub provenance: Provenance,
}

/// The network that computes v_{s,t}(x); X_{s,t}(x) = x + (t − s)·v_{s,t}(x).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Architecture {
    /// A fully connected network: input [embed(s, t), x/σ] → hidden layers → output of size
    /// dim, scaled by σ. Tensors: see [`Architecture::tensors`].
    Mlp {
        /// Shape of one data point (e.g. `[2]`, or `[1, 8, 8]` for images); dim = product.
        data_shape: Vec<usize>,
        /// Widths of the hidden layers, in order.
        hidden: Vec<usize>,
        /// Activation after every hidden layer.
        activation: Activation,
        /// How the two times enter the network.
        time_embedding: TimeEmbedding,
        /// Format 2: how the state x/σ enters the network (absent: raw, as in format 1).
        #[serde(default, skip_serializing_if = "StateEmbedding::is_raw")]
        state_embedding: StateEmbedding,
    },
    /// Format 2: a convolutional U-Net over data of shape `[C, H, W]` (see `docs/format.md`
    /// §2 for the topology). Tensors: see [`Architecture::tensors`].
    Unet {
        /// `[C, H, W]`: C in 1..=4 (grey, grey + alpha, RGB, RGBA).
        data_shape: Vec<usize>,
        /// Base channel count c.
        channels: usize,
        /// Level l has `c·channel_mult[l]` channels at resolution (H_l, W_l), H_0 = H,
        /// H_{l+1} = ceil(H_l / 2).
        channel_mult: Vec<usize>,
        /// Residual blocks per level, in the encoder and in the decoder.
        blocks: usize,
        /// Resolutions H_l at which self-attention follows each residual block.
        attention: Vec<usize>,
        /// Attention heads (divides the channels wherever attention is used).
        heads: usize,
        /// Attention in the middle block.
        mid_attention: bool,
        /// GroupNorm groups; divides every normalised channel count.
        groups: usize,
        /// GroupNorm ε.
        norm_eps: f32,
        /// How (s, t) enter the network.
        time_embedding: UnetTimeEmbedding,
        /// Optional: the data values that map to pixel 0 and pixel 255 (e.g. `[-1, 1]` or
        /// `[0, 1]`), for converting samples to 8-bit images.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pixel_range: Option<[f32; 2]>,
    },
}

/// How a U-Net embeds the times (s, t).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum UnetTimeEmbedding {
    /// Fourier features `[sin(2π f_k s), cos(2π f_k s)]_k ++ [sin(2π f_k d), cos(2π f_k d)]_k`
    /// (d = t − s; 4·F features), then `time.1(silu(time.0(·)))`: two dense layers to `dim`.
    FourierMlp {
        /// The frequencies f_k.
        frequencies: Vec<f32>,
        /// Width E of the embedding (both dense layers output E).
        dim: usize,
    },
}

/// Hidden-layer activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). The paper's choice.
    GeluTanh,
    /// GELU, exact erf form: 0.5·x·(1 + erf(x/√2)).
    GeluErf,
    /// SiLU: x·sigmoid(x).
    Silu,
    /// ReLU: max(x, 0).
    Relu,
}

/// How the times (s, t) are presented to the network (prepended to x/σ).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TimeEmbedding {
    /// The raw pair [s, t] (the paper's MLP): 2 input features.
    Raw,
    /// [s, t − s, sin(2π f_k s), cos(2π f_k s), sin(2π f_k (t−s)), cos(2π f_k (t−s))] for
    /// each frequency f_k: 2 + 4·len(frequencies) input features.
    Fourier {
        /// The frequencies f_k.
        frequencies: Vec<f32>,
    },
}

/// How an MLP presents the state u = x/σ (d values) to its first layer, after the time
/// embedding.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StateEmbedding {
    /// u itself: d input features (format 1's only form).
    #[default]
    Raw,
    /// Format 2: `[u, sin(2π f_1 u), …, sin(2π f_K u), cos(2π f_1 u), …, cos(2π f_K u)]`, each
    /// block d wide (element-wise on u): (1 + 2K)·d input features. Lets a small MLP draw the
    /// sharp edges of a one-step map (a smooth network of the raw state blurs them).
    Fourier {
        /// The frequencies f_k, in cycles per unit of u.
        frequencies: Vec<f32>,
    },
}

impl StateEmbedding {
    /// `true` for [`StateEmbedding::Raw`] (which a writer leaves out of the file).
    pub fn is_raw(&self) -> bool {
        matches!(self, StateEmbedding::Raw)
    }

    /// Number of input features for a state of `dim` values.
    pub fn features(&self, dim: usize) -> usize {
        match self {
            StateEmbedding::Raw => dim,
            StateEmbedding::Fourier { frequencies } => (1 + 2 * frequencies.len()) * dim,
        }
    }

    /// The frequencies (empty for raw).
    pub fn frequencies(&self) -> &[f32] {
        match self {
            StateEmbedding::Raw => &[],
            StateEmbedding::Fourier { frequencies } => frequencies,
        }
    }
}

/// The stochastic interpolant I_t = α_t x0 + β_t x1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolant {
    /// α = 1 − t, β = t.
    Linear,
    /// α = cos(πt/2), β = sin(πt/2).
    Trig,
}

/// Per-dimension affine normalisation of the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// Mean of the training data: length dim (per dimension); in format 2 also length 1
    /// (one value) or C (per channel of a `[C, H, W]` shape).
    pub mean: Vec<f32>,
    /// Standard deviation of the training data, all > 0; lengths as for `mean`.
    pub std: Vec<f32>,
}

/// How the model was made. Informational; never changes how it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Training objective, e.g. `lsd`, `esd`, `psd-uniform`, `psd-midpoint`, `fm`.
    pub method: String,
    /// Optimiser steps taken.
    pub steps: u64,
    /// Training seed.
    pub seed: u64,
    /// Which weights were exported: `raw`, `ema0.999`, `ema0.9999`.
    pub weights: String,
    /// Name and version of the program that wrote the file, e.g. `flowmap-train 0.1.0`.
    pub trainer: String,
    /// The dataset trained on (built-in name or file name).
    #[serde(default)]
    pub dataset: String,
}

impl Architecture {
    /// Number of data dimensions (product of the data shape).
    pub fn dim(&self) -> usize {
        match self {
            Architecture::Mlp { data_shape, .. } | Architecture::Unet { data_shape, .. } => {
                data_shape.iter().product()
            }
        }
    }

    /// Shape of one data point.
    pub fn data_shape(&self) -> &[usize] {
        match self {
            Architecture::Mlp { data_shape, .. } | Architecture::Unet { data_shape, .. } => {
                data_shape
            }
        }
    }

    /// The format version a writer writes for this architecture (the first that has it).
    pub fn format_version(&self) -> u32 {
        match self {
            Architecture::Mlp {
                state_embedding: StateEmbedding::Raw,
                ..
            } => FORMAT_VERSION,
            Architecture::Mlp { .. } | Architecture::Unet { .. } => LATEST_FORMAT_VERSION,
        }
    }
}

impl TimeEmbedding {
    /// Number of input features the embedding contributes.
    pub fn features(&self) -> usize {
        match self {
            TimeEmbedding::Raw => 2,
            TimeEmbedding::Fourier { frequencies } => 2 + 4 * frequencies.len(),
        }
    }
}
