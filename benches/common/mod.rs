//! Shared by the benchmarks: the reference networks (the same weights for the runtime and
//! for libtorch) and the single-core FMA peak.
#![allow(dead_code)]

pub mod peak;

use flowmap::schema::*;
use flowmap::write::{ModelBuilder, WeightDtype};
use flowmap::{Model, NormalRng};
use std::time::{Duration, Instant};

/// A reference MLP: data dimension 2, input `[s, t, x/σ]`, tanh-GELU hidden layers.
pub struct Net {
    /// Scenario name, e.g. `3x256`.
    pub name: &'static str,
    pub hidden: Vec<usize>,
    /// `(weight [out, in] row-major, bias)` per layer, f32.
    pub layers: Vec<(Vec<f32>, Vec<f32>)>,
    pub sigma: f32,
}

pub const DIM: usize = 2;

impl Net {
    /// LeCun-normal weights (variance 1/fan_in) and small biases from a fixed seed (the
    /// runtime's fixture builder, [`ModelBuilder::random`]).
    pub fn new(name: &'static str, hidden: &[usize]) -> Net {
        let sigma = 1.0;
        let file = ModelBuilder::random(meta(hidden, sigma), 7);
        let layers = file
            .tensors()
            .chunks_exact(2)
            .map(|wb| (wb[0].1.clone(), wb[1].1.clone()))
            .collect();
        Net {
            name,
            hidden: hidden.to_vec(),
            layers,
            sigma,
        }
    }

    /// The weights rounded to `dtype` (what a model file of that dtype holds), as f32.
    pub fn rounded(&self, dtype: WeightDtype) -> Vec<(Vec<f32>, Vec<f32>)> {
        let r = |v: &Vec<f32>| -> Vec<f32> {
            v.iter()
                .map(|&x| match dtype {
                    WeightDtype::F32 => x,
                    WeightDtype::F16 => half::f16::from_f32(x).to_f32(),
                    WeightDtype::BF16 => half::bf16::from_f32(x).to_f32(),
                })
                .collect()
        };
        self.layers.iter().map(|(w, b)| (r(w), r(b))).collect()
    }

    /// Floating-point operations of one network evaluation per row: 2 per weight
    /// (multiply and add; biases and activations not counted).
    pub fn flops_per_row(&self) -> u64 {
        self.layers.iter().map(|(w, _)| 2 * w.len() as u64).sum()
    }

    /// A runtime model holding these weights stored as `dtype`.
    pub fn runtime(&self, dtype: WeightDtype) -> Model {
        Model::from_bytes(&self.runtime_bytes(dtype)).expect("valid model")
    }

    /// The model file (safetensors bytes) holding these weights stored as `dtype`.
    pub fn runtime_bytes(&self, dtype: WeightDtype) -> Vec<u8> {
        let mut layers = self.layers.iter().flat_map(|(w, b)| [w, b]);
        ModelBuilder::new(meta(&self.hidden, self.sigma), |_| {
            layers
                .next()
                .expect("one tensor per layer weight and bias")
                .clone()
        })
        .dtype(dtype)
        .to_bytes()
    }
}

/// The metadata of a reference network.
fn meta(hidden: &[usize], sigma: f32) -> ModelMeta {
    ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: vec![DIM],
            hidden: hidden.to_vec(),
            activation: Activation::GeluTanh,
            time_embedding: TimeEmbedding::Raw,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Trig,
        sigma,
        normalization: Normalization {
            mean: vec![0.0; DIM],
            std: vec![1.0; DIM],
        },
        provenance: Provenance {
            method: "lsd".into(),
            steps: 0,
            seed: 7,
            weights: "raw".into(),
            trainer: "benches".into(),
            dataset: String::new(),
        },
    }
}

/// The two reference networks: 2→3×256→2 and the paper's 2-D net 2→5×512→2.
pub fn nets() -> Vec<Net> {
    vec![
        Net::new("3x256", &[256, 256, 256]),
        Net::new("5x512", &[512, 512, 512, 512, 512]),
    ]
}

/// Deterministic inputs in roughly N(0, 1).
pub fn inputs(batch: usize) -> Vec<f32> {
    let mut rng = NormalRng::new(11);
    (0..batch * DIM).map(|_| rng.next_f32()).collect()
}

/// The benchmark U-Nets: name, data shape `[C, H, W]` and the resolution with attention
/// (shared by `unet_vs_libtorch` and the ONNX Runtime comparison's model writer).
pub const UNET_NETS: [(&str, [usize; 3], usize); 2] =
    [("1x28x28", [1, 28, 28], 7), ("3x32x32", [3, 32, 32], 8)];

/// The metadata of a benchmark U-Net: c = 32, channel_mult [1, 2, 2], 2 blocks per level,
/// attention at `attention_at` and in the middle, 4 heads, 8 groups, 8 Fourier frequencies,
/// E = 128, mean 0 and std 1 (so data space is the network's space). Its weights are
/// `flowmap::write::random_unet_builder(meta, 1)`.
pub fn unet_bench_meta(shape: [usize; 3], attention_at: usize) -> ModelMeta {
    let mut meta = flowmap::write::example_unet_meta(shape, &[1, 2, 2], &[attention_at]);
    if let Architecture::Unet {
        channels,
        blocks,
        heads,
        groups,
        time_embedding,
        ..
    } = &mut meta.architecture
    {
        *channels = 32;
        *blocks = 2;
        *heads = 4;
        *groups = 8;
        *time_embedding = UnetTimeEmbedding::FourierMlp {
            frequencies: (0..8).map(|k| (1u32 << k) as f32 * 0.25).collect(),
            dim: 128,
        };
    }
    meta.normalization.mean = vec![0.0; shape[0]];
    meta.normalization.std = vec![1.0; shape[0]];
    meta
}

/// Best (minimum over rounds) seconds per call of each closure, measured in short interleaved
/// rounds (~2 ms per candidate, so that a neighbour's load hits every candidate alike) for
/// about `budget` in total, and at least 5 rounds. On a shared machine the minimum of many
/// short rounds estimates the uncontended time; medians there measure the neighbours.
pub fn interleaved(fs: &mut [&mut dyn FnMut()], budget: Duration) -> Vec<f64> {
    // Calibrate: calls per round so that one round of one candidate takes ~2 ms.
    let reps: Vec<u32> = fs
        .iter_mut()
        .map(|f| {
            f();
            let t0 = Instant::now();
            f();
            let dt = t0.elapsed().as_secs_f64().max(1e-8);
            ((2e-3 / dt) as u32).clamp(1, 1_000_000)
        })
        .collect();
    let mut best = vec![f64::INFINITY; fs.len()];
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < budget || rounds < 5 {
        for (i, f) in fs.iter_mut().enumerate() {
            let t0 = Instant::now();
            for _ in 0..reps[i] {
                f();
            }
            best[i] = best[i].min(t0.elapsed().as_secs_f64() / reps[i] as f64);
        }
        rounds += 1;
    }
    best
}
