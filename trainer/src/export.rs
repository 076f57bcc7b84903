//! Export: a trained network and its run information → a model file the runtime executes,
//! written with the runtime's own schema type (one source of truth for the format).

use crate::checkpoint::{RunInfo, TrainState};
use crate::net::Mlp;
use flowmap::schema::{
    Architecture, ModelMeta, Normalization, Provenance, TimeEmbedding, FORMAT_VERSION,
};
use tch::{Device, Kind, Tensor};

/// Which weights to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsChoice {
    /// The optimiser's current parameters.
    Raw,
    /// The EMA with decay 0.999 (warm-started).
    Ema999,
    /// The EMA with decay 0.9999 (warm-started).
    Ema9999,
}

impl WeightsChoice {
    /// Parses `raw`, `ema0.999` or `ema0.9999`.
    pub fn parse(s: &str) -> anyhow::Result<WeightsChoice> {
        match s {
            "raw" => Ok(WeightsChoice::Raw),
            "ema0.999" => Ok(WeightsChoice::Ema999),
            "ema0.9999" => Ok(WeightsChoice::Ema9999),
            _ => anyhow::bail!("unknown weights '{s}': use raw, ema0.999 or ema0.9999"),
        }
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            WeightsChoice::Raw => "raw",
            WeightsChoice::Ema999 => "ema0.999",
            WeightsChoice::Ema9999 => "ema0.9999",
        }
    }

    /// All choices, for comparisons.
    pub const ALL: [WeightsChoice; 3] = [
        WeightsChoice::Raw,
        WeightsChoice::Ema999,
        WeightsChoice::Ema9999,
    ];
}

/// A detached network with the chosen weights.
pub fn select_weights(state: &TrainState, choice: WeightsChoice) -> Mlp {
    let flat: Vec<Tensor> = match choice {
        WeightsChoice::Raw => state
            .net
            .parameters()
            .iter()
            .map(|p| p.detach().copy())
            .collect(),
        WeightsChoice::Ema999 => state.ema[0]
            .params
            .iter()
            .map(|p| p.detach().copy())
            .collect(),
        WeightsChoice::Ema9999 => state.ema[1]
            .params
            .iter()
            .map(|p| p.detach().copy())
            .collect(),
    };
    let (w, b) = crate::checkpoint::split_layers(flat);
    Mlp::from_tensors(w, b, state.net.sigma, state.net.activation)
}

/// The model-file metadata for a run.
pub fn model_meta(info: &RunInfo, hidden: Vec<usize>, choice: WeightsChoice) -> ModelMeta {
    ModelMeta {
        format_version: FORMAT_VERSION,
        architecture: Architecture::Mlp {
            data_shape: info.data_shape.clone(),
            hidden,
            activation: info.config.activation,
            time_embedding: TimeEmbedding::Raw,
        },
        interpolant: info.config.interpolant,
        sigma: info.sigma as f32,
        normalization: Normalization {
            mean: info.mean.clone(),
            std: info.std.clone(),
        },
        provenance: Provenance {
            method: match &info.config.teacher {
                Some(_) => format!("{}+teacher", info.config.method.name()),
                None => info.config.method.name().to_string(),
            },
            steps: info.step,
            seed: info.config.seed,
            weights: choice.name().to_string(),
            trainer: info.trainer.clone(),
            dataset: info.config.data.clone(),
        },
    }
}

/// Serialises `net` with `meta` into model-file bytes.
pub fn to_model_bytes(
    net: &Mlp,
    meta: &ModelMeta,
    dtype: flowmap::write::WeightDtype,
) -> anyhow::Result<Vec<u8>> {
    let names = net.parameter_names();
    let data: Vec<(Vec<usize>, Vec<f32>)> = net
        .parameters()
        .iter()
        .map(|p| {
            let shape = p.size().iter().map(|&d| d as usize).collect();
            let flat = p
                .detach()
                .to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .contiguous()
                .view([-1]);
            (shape, Vec::<f32>::try_from(&flat).expect("f32 tensor"))
        })
        .collect();
    let tensors: Vec<(&str, Vec<usize>, &[f32])> = names
        .iter()
        .zip(&data)
        .map(|(n, (s, d))| (n.as_str(), s.clone(), d.as_slice()))
        .collect();
    Ok(flowmap::write::to_safetensors_bytes_as(
        meta, &tensors, dtype,
    ))
}

/// Loads a model file's network into tch (for teachers and parity checks), checking it with the
/// runtime's validator first.
pub fn load_model_net(path: &std::path::Path, device: Device) -> anyhow::Result<(Mlp, ModelMeta)> {
    let model =
        flowmap::Model::from_file(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let meta = model.meta().clone();
    let Architecture::Mlp {
        activation,
        time_embedding,
        ..
    } = &meta.architecture
    else {
        anyhow::bail!(
            "{}: the trainer loads only MLP models (this file holds a U-Net)",
            path.display()
        );
    };
    if *time_embedding != TimeEmbedding::Raw {
        anyhow::bail!(
            "{}: the trainer supports only the raw time embedding",
            path.display()
        );
    }
    let bytes = std::fs::read(path)?;
    let st = safetensors::SafeTensors::deserialize(&bytes)?;
    let mut flat = Vec::new();
    let layers = meta.architecture.mlp_layers().len();
    for i in 0..layers {
        for kind in ["weight", "bias"] {
            let view = st.tensor(&format!("layers.{i}.{kind}"))?;
            let floats = decode_f32(view.dtype(), view.data())
                .ok_or_else(|| anyhow::anyhow!("unsupported dtype {:?}", view.dtype()))?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            flat.push(
                Tensor::from_slice(&floats)
                    .view(shape.as_slice())
                    .to_device(device),
            );
        }
    }
    let (w, b) = crate::checkpoint::split_layers(flat);
    Ok((
        Mlp::from_tensors(w, b, meta.sigma as f64, *activation),
        meta,
    ))
}

/// Widens F32/F16/BF16 little-endian tensor bytes to f32.
fn decode_f32(dtype: safetensors::Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    use safetensors::Dtype;
    match dtype {
        Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Dtype::F16 => Some(
            bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        ),
        Dtype::BF16 => Some(
            bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
        ),
        _ => None,
    }
}
