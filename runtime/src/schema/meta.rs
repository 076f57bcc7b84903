//! The metadata types (serialised as the `flowmap` JSON document).

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// The `__metadata__` key whose value is the JSON-encoded [`ModelMeta`].
pub const METADATA_KEY: &str = "flowmap";

/// The model-format version this runtime writes and reads. A file with any other version is
/// rejected: versions are bumped on every change a reader must know about.
pub const FORMAT_VERSION: u32 = 1;

/// Everything a reader needs besides the weights to reproduce the trained map exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelMeta {
    /// Model-format version; must equal [`FORMAT_VERSION`].
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
    /// Per-dimension mean of the training data (length dim).
    pub mean: Vec<f32>,
    /// Per-dimension standard deviation of the training data (length dim, all > 0).
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
            Architecture::Mlp { data_shape, .. } => data_shape.iter().product(),
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
