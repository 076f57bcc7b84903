//! The small Fashion-MNIST CNN whose penultimate features the image FD uses (the network
//! `flowmap_eval::classifier` runs in pure Rust): trained here on libtorch by the
//! `fashion_classifier` example, written as a plain safetensors file.
//!
//! Layers (names as in the file): `conv1` 3×3 1→16 (padding 1) + ReLU + 2×2 max-pool,
//! `conv2` 3×3 16→32 (padding 1) + ReLU + 2×2 max-pool, `fc1` 32·7·7→128 + ReLU (the
//! features), `fc2` 128→10 (the logits). Input: `[B, 1, 28, 28]` (or `[B, 784]`) in the data
//! space [−1, 1] of `flowmap_eval::datasets::pixel_to_value`.

use std::collections::HashMap;
use tch::{nn, nn::Module, Device, Kind, Tensor};

/// Side of the classifier's square grey input.
pub const SIDE: i64 = 28;
/// Number of classes.
pub const CLASSES: i64 = 10;
/// Width of the penultimate features.
pub const FEATURES: i64 = 128;

/// The CNN and the variables that hold its weights.
pub struct FashionCnn {
    /// Every parameter, named `conv1.weight`, `conv1.bias`, ... `fc2.bias`.
    pub vs: nn::VarStore,
    conv1: nn::Conv2D,
    conv2: nn::Conv2D,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl FashionCnn {
    /// A freshly initialised network (libtorch's default initialisation; seed it with
    /// `tch::manual_seed` first for a reproducible one).
    pub fn new(device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let cc = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        let conv1 = nn::conv2d(&root / "conv1", 1, 16, 3, cc);
        let conv2 = nn::conv2d(&root / "conv2", 16, 32, 3, cc);
        let fc1 = nn::linear(&root / "fc1", 32 * 7 * 7, FEATURES, Default::default());
        let fc2 = nn::linear(&root / "fc2", FEATURES, CLASSES, Default::default());
        FashionCnn {
            vs,
            conv1,
            conv2,
            fc1,
            fc2,
        }
    }

    /// Penultimate features `[B, 128]` and logits `[B, 10]` of images `[B, 784]` or
    /// `[B, 1, 28, 28]`.
    pub fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let x = x.view([-1, 1, SIDE, SIDE]);
        let h = self.conv1.forward(&x).relu().max_pool2d_default(2);
        let h = self.conv2.forward(&h).relu().max_pool2d_default(2);
        let features = self.fc1.forward(&h.flatten(1, -1)).relu();
        let logits = self.fc2.forward(&features);
        (features, logits)
    }

    /// The weights as a safetensors file (f32, names as above), with `metadata` (e.g. the
    /// test accuracy and the command that made it) in the header.
    pub fn to_safetensors(&self, metadata: HashMap<String, String>) -> anyhow::Result<Vec<u8>> {
        let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (name, t) in self.vs.variables() {
            let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
            let flat = t
                .detach()
                .to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .contiguous()
                .view([-1]);
            let values = Vec::<f32>::try_from(&flat)?;
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            named.push((name, shape, bytes));
        }
        // A fixed tensor order: the same weights always give the same bytes.
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let views = named
            .iter()
            .map(|(name, shape, bytes)| {
                let view = safetensors::tensor::TensorView::new(
                    safetensors::Dtype::F32,
                    shape.clone(),
                    bytes,
                )?;
                Ok((name.clone(), view))
            })
            .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
        Ok(safetensors::serialize(views, Some(metadata))?)
    }
}
