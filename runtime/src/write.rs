//! Writing model files (used by the trainer's exporter and by tests).
//!
//! The output is a standard safetensors file (see `docs/format.md`): an 8-byte little-endian
//! header length, a JSON header padded with spaces to a multiple of 8 bytes (so the data
//! section is 8-byte aligned), then the tensor data in the order given, tightly packed.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::schema::{self, ModelMeta, TensorSpec};

/// The element type weights are stored as. The runtime computes in f32: an MLP's F16/BF16
/// layer weights stay 16-bit in memory and are widened exactly in the kernel, everything else
/// is converted to f32 at load (docs/format.md, "Dtypes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightDtype {
    /// 32-bit IEEE float (exact).
    #[default]
    F32,
    /// IEEE half precision; values are rounded to nearest-even (large values overflow to ±∞,
    /// which the loader then rejects).
    F16,
    /// bfloat16; values are rounded to nearest-even.
    BF16,
}

impl WeightDtype {
    /// The safetensors dtype name (`"F32"`, `"F16"`, `"BF16"`).
    pub fn name(self) -> &'static str {
        match self {
            WeightDtype::F32 => "F32",
            WeightDtype::F16 => "F16",
            WeightDtype::BF16 => "BF16",
        }
    }
}

/// Serialises `meta` and f32 `tensors` (name, shape, row-major data) into model-file bytes,
/// storing the weights as F32. See [`to_safetensors_bytes_as`].
pub fn to_safetensors_bytes(meta: &ModelMeta, tensors: &[(&str, Vec<usize>, &[f32])]) -> Vec<u8> {
    to_safetensors_bytes_as(meta, tensors, WeightDtype::F32)
}

/// Serialises `meta` (as JSON under `__metadata__["flowmap"]`) and `tensors` (name, shape,
/// row-major f32 data), storing the weights as `dtype`. Tensors are laid out in the order
/// given.
///
/// This writes whatever it is given: the loader, not the writer, decides whether the result
/// is a valid model (so tests can write deliberately broken files).
///
/// # Panics
/// If a tensor's data length differs from the product of its shape, or two tensors share a
/// name (programming errors).
///
/// ```
/// use flowmap::schema::*;
/// use flowmap::write::{to_safetensors_bytes_as, WeightDtype};
/// let meta = ModelMeta {
///     format_version: FORMAT_VERSION,
///     architecture: Architecture::Mlp {
///         data_shape: vec![1],
///         hidden: vec![2],
///         activation: Activation::Relu,
///         time_embedding: TimeEmbedding::Raw,
///         state_embedding: StateEmbedding::Raw,
///     },
///     interpolant: Interpolant::Linear,
///     sigma: 1.0,
///     normalization: Normalization { mean: vec![0.0], std: vec![1.0] },
///     provenance: Provenance {
///         method: "fm".into(), steps: 0, seed: 0, weights: "raw".into(),
///         trainer: "doc".into(), dataset: String::new(),
///     },
/// };
/// // Layer 0: [2, 3] (inputs s, t, x/σ); layer 1: [1, 2].
/// let w0 = [0.0f32; 6];
/// let b0 = [0.0f32; 2];
/// let w1 = [0.0f32; 2];
/// let b1 = [0.0f32; 1];
/// let bytes = to_safetensors_bytes_as(
///     &meta,
///     &[
///         ("layers.0.weight", vec![2, 3], &w0),
///         ("layers.0.bias", vec![2], &b0),
///         ("layers.1.weight", vec![1, 2], &w1),
///         ("layers.1.bias", vec![1], &b1),
///     ],
///     WeightDtype::BF16,
/// );
/// let model = flowmap::Model::from_bytes(&bytes).unwrap();
/// assert_eq!(model.dim(), 1);
/// ```
pub fn to_safetensors_bytes_as(
    meta: &ModelMeta,
    tensors: &[(&str, Vec<usize>, &[f32])],
    dtype: WeightDtype,
) -> Vec<u8> {
    let meta_json = serde_json::to_string(meta).expect("ModelMeta serialises to JSON");
    let elem = match dtype {
        WeightDtype::F32 => 4,
        WeightDtype::F16 | WeightDtype::BF16 => 2,
    };
    let mut header = serde_json::Map::new();
    let mut md = serde_json::Map::new();
    md.insert(
        schema::METADATA_KEY.to_string(),
        serde_json::Value::String(meta_json),
    );
    header.insert("__metadata__".to_string(), serde_json::Value::Object(md));
    let mut offset = 0usize;
    for (name, shape, data) in tensors {
        let numel: usize = shape.iter().product();
        assert_eq!(
            numel,
            data.len(),
            "tensor `{name}`: shape {shape:?} needs {numel} values, got {}",
            data.len()
        );
        let end = offset + elem * numel;
        let info = serde_json::json!({
            "dtype": dtype.name(),
            "shape": shape,
            "data_offsets": [offset, end],
        });
        assert!(
            header.insert(String::from(*name), info).is_none(),
            "duplicate tensor name `{name}`"
        );
        offset = end;
    }
    let mut header = serde_json::to_string(&header).expect("header serialises to JSON");
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for (_, _, data) in tensors {
        for &v in data.iter() {
            match dtype {
                WeightDtype::F32 => out.extend_from_slice(&v.to_le_bytes()),
                WeightDtype::F16 => out.extend_from_slice(&half::f16::from_f32(v).to_le_bytes()),
                WeightDtype::BF16 => out.extend_from_slice(&half::bf16::from_f32(v).to_le_bytes()),
            }
        }
    }
    out
}

/// The one fixture builder: metadata + weights → model-file bytes, with the tensor names and
/// shapes taken from the schema ([`Architecture::tensors`](crate::schema::Architecture::tensors)),
/// so no caller spells them.
///
/// The tests, benchmarks, fuzz seeds and the C suite build their model files with it; the
/// weights can be edited (or broken) before [`ModelBuilder::to_bytes`].
///
/// ```
/// use flowmap::schema::*;
/// use flowmap::write::{ModelBuilder, WeightDtype};
/// let meta = ModelMeta {
///     format_version: FORMAT_VERSION,
///     architecture: Architecture::Mlp {
///         data_shape: vec![2],
///         hidden: vec![8],
///         activation: Activation::Silu,
///         time_embedding: TimeEmbedding::Raw,
///         state_embedding: StateEmbedding::Raw,
///     },
///     interpolant: Interpolant::Linear,
///     sigma: 1.0,
///     normalization: Normalization { mean: vec![0.0; 2], std: vec![1.0; 2] },
///     provenance: Provenance {
///         method: "fm".into(), steps: 0, seed: 0, weights: "raw".into(),
///         trainer: "doc".into(), dataset: String::new(),
///     },
/// };
/// let bytes = ModelBuilder::random(meta, 7).dtype(WeightDtype::F16).to_bytes();
/// let model = flowmap::Model::from_bytes(&bytes)?;
/// assert_eq!(model.num_parameters(), (4 * 8 + 8) + (8 * 2 + 2));
/// # Ok::<(), flowmap::LoadError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ModelBuilder {
    meta: ModelMeta,
    tensors: Vec<(TensorSpec, Vec<f32>)>,
    dtype: WeightDtype,
}

impl ModelBuilder {
    /// The tensors of `meta`'s architecture, in file order, each filled by `fill` (called
    /// once per tensor, in order; it must return `spec.numel()` values).
    ///
    /// # Panics
    /// If `meta` declares an absurd architecture (the schema would derive absurdly many or
    /// large tensors; validate untrusted metadata first) — a builder is for well-formed
    /// models.
    pub fn new(meta: ModelMeta, mut fill: impl FnMut(&TensorSpec) -> Vec<f32>) -> ModelBuilder {
        let tensors = meta
            .architecture
            .tensors()
            .into_iter()
            .map(|spec| {
                let data = fill(&spec);
                (spec, data)
            })
            .collect();
        ModelBuilder {
            meta,
            tensors,
            dtype: WeightDtype::F32,
        }
    }

    /// Random weights from [`NormalRng::new(seed)`](crate::NormalRng), drawn tensor by
    /// tensor in file order: N(0, 1)·`scale(spec)` for each tensor.
    pub fn random_scaled(
        meta: ModelMeta,
        seed: u64,
        mut scale: impl FnMut(&TensorSpec) -> f32,
    ) -> ModelBuilder {
        let mut rng = crate::NormalRng::new(seed);
        ModelBuilder::new(meta, |spec| {
            let sc = scale(spec);
            (0..spec.numel()).map(|_| rng.next_f32() * sc).collect()
        })
    }

    /// Random weights (see [`ModelBuilder::random_scaled`]): N(0, 1)/√fan_in for weights
    /// (tensors of rank ≥ 2, fan_in = elements per output), N(0, 1)·0.1 for biases.
    pub fn random(meta: ModelMeta, seed: u64) -> ModelBuilder {
        ModelBuilder::random_scaled(meta, seed, |spec| match spec.shape.as_slice() {
            [out, ..] if spec.shape.len() >= 2 => {
                1.0 / libm::sqrtf((spec.numel() / (*out).max(1)) as f32)
            }
            _ => 0.1,
        })
    }

    /// Stores the weights as `dtype` (default F32).
    pub fn dtype(mut self, dtype: WeightDtype) -> ModelBuilder {
        self.dtype = dtype;
        self
    }

    /// The metadata, to edit (the tensors stay as they are: this is how tests write files
    /// whose metadata and tensors disagree).
    pub fn meta_mut(&mut self) -> &mut ModelMeta {
        &mut self.meta
    }

    /// The shape and values of tensor `name`, to edit (`None` if there is no such tensor).
    pub fn tensor_mut(&mut self, name: &str) -> Option<(&mut Vec<usize>, &mut Vec<f32>)> {
        self.tensors
            .iter_mut()
            .find(|(spec, _)| spec.name == name)
            .map(|(spec, data)| (&mut spec.shape, data))
    }

    /// Removes tensor `name` (returns whether it was there).
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.tensors.len();
        self.tensors.retain(|(spec, _)| spec.name != name);
        self.tensors.len() != before
    }

    /// Adds a tensor after the others.
    pub fn push(&mut self, name: &str, shape: Vec<usize>, data: Vec<f32>) {
        self.tensors.push((
            TensorSpec {
                name: String::from(name),
                shape,
            },
            data,
        ));
    }

    /// The tensors: (spec, row-major values), in file order.
    pub fn tensors(&self) -> &[(TensorSpec, Vec<f32>)] {
        &self.tensors
    }

    /// The metadata.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    /// The model-file bytes (see [`to_safetensors_bytes_as`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let t: Vec<(&str, Vec<usize>, &[f32])> = self
            .tensors
            .iter()
            .map(|(spec, d)| (spec.name.as_str(), spec.shape.clone(), d.as_slice()))
            .collect();
        to_safetensors_bytes_as(&self.meta, &t, self.dtype)
    }
}

/// Bytes of a small deterministic 2-D model (hidden [16, 16], GELU-tanh, raw time
/// embedding, weights from [`ModelBuilder::random`] with seed 2025), for examples and tests.
#[doc(hidden)]
pub fn example_model_bytes() -> Vec<u8> {
    use crate::schema::*;
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: alloc::vec![2],
            hidden: alloc::vec![16, 16],
            activation: Activation::GeluTanh,
            time_embedding: TimeEmbedding::Raw,
            state_embedding: StateEmbedding::Raw,
        },
        interpolant: Interpolant::Linear,
        sigma: 1.0,
        normalization: Normalization {
            mean: alloc::vec![0.5, -1.0],
            std: alloc::vec![2.0, 0.5],
        },
        provenance: Provenance {
            method: "example".to_string(),
            steps: 0,
            seed: 0,
            weights: "raw".to_string(),
            trainer: "flowmap example_model_bytes".to_string(),
            dataset: String::new(),
        },
    };
    ModelBuilder::random(meta, 2025).to_bytes()
}

/// The metadata of a small `unet` over `[C, H, W]` data (base channels 8, one block per
/// level, 2 heads, 4 groups, 3 frequencies, embedding width 16, per-channel normalisation),
/// for examples and tests.
#[doc(hidden)]
pub fn example_unet_meta(
    data_shape: [usize; 3],
    channel_mult: &[usize],
    attention: &[usize],
) -> ModelMeta {
    use crate::schema::*;
    let c = data_shape[0];
    ModelMeta {
        format_version: LATEST_FORMAT_VERSION,
        architecture: Architecture::Unet {
            data_shape: data_shape.to_vec(),
            channels: 8,
            channel_mult: channel_mult.to_vec(),
            blocks: 1,
            attention: attention.to_vec(),
            heads: 2,
            mid_attention: true,
            groups: 4,
            norm_eps: 1e-5,
            time_embedding: UnetTimeEmbedding::FourierMlp {
                frequencies: alloc::vec![0.5, 1.0, 2.0],
                dim: 16,
            },
            pixel_range: Some([-1.0, 1.0]),
        },
        interpolant: Interpolant::Linear,
        sigma: 1.0,
        normalization: Normalization {
            mean: alloc::vec![0.0; c],
            std: alloc::vec![0.5; c],
        },
        provenance: Provenance {
            method: "example".to_string(),
            steps: 0,
            seed: 0,
            weights: "raw".to_string(),
            trainer: "flowmap example_unet_meta".to_string(),
            dataset: String::new(),
        },
    }
}

/// Random weights for any architecture, suited to a `unet`: GroupNorm scales 1 + 0.1·N(0, 1),
/// other weights N(0, 1)/√fan_in, biases 0.1·N(0, 1), from [`NormalRng::new(seed)`]
/// (crate::NormalRng). For examples and tests.
#[doc(hidden)]
pub fn random_unet_builder(meta: ModelMeta, seed: u64) -> ModelBuilder {
    let mut rng = crate::NormalRng::new(seed);
    ModelBuilder::new(meta, |spec| {
        let n = spec.numel();
        let norm_scale = spec.name.contains("norm") && spec.name.ends_with(".weight");
        let fan_in = match spec.shape.as_slice() {
            [out, ..] if spec.shape.len() >= 2 => n / (*out).max(1),
            _ => 0,
        };
        (0..n)
            .map(|_| {
                let r = rng.next_f32();
                if norm_scale {
                    1.0 + 0.1 * r
                } else if fan_in == 0 {
                    0.1 * r
                } else {
                    r / libm::sqrtf(fan_in as f32)
                }
            })
            .collect()
    })
}
