//! Export: a trained network and its run information → a model file the runtime executes,
//! written with the runtime's own schema type (one source of truth for the format).

use crate::checkpoint::{RunInfo, TrainState};
use crate::net::Mlp;
use flowmap::schema::{
    Architecture, ModelMeta, Normalization, Provenance, TimeEmbedding, FORMAT_VERSION,
};
use tch::{Device, Kind, Tensor};

pub use crate::config::WeightsChoice;

/// A detached network with the chosen weights.
pub fn select_weights(state: &TrainState, choice: WeightsChoice) -> anyhow::Result<Mlp> {
    let Some(mlp) = state.net.as_mlp() else {
        anyhow::bail!(
            "U-Net runs cannot be exported yet: their model files are format v2, which the \
             runtime reads once its U-Net support (issue 11) lands; the checkpoint keeps the run"
        );
    };
    let named = state.net.named_parameters();
    let flat: Vec<Tensor> = named
        .iter()
        .map(|(name, raw)| {
            let chosen = match choice {
                WeightsChoice::Raw => Some(*raw),
                WeightsChoice::Ema999 => state.ema_copy(0.999, name),
                WeightsChoice::Ema9999 => state.ema_copy(0.9999, name),
            };
            chosen
                .unwrap_or_else(|| panic!("no {} copy of {name}", choice.name()))
                .detach()
                .copy()
        })
        .collect();
    let (w, b) = crate::checkpoint::split_layers(flat);
    Ok(Mlp::from_tensors(w, b, mlp.sigma, mlp.activation))
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
    // Names and shapes from the runtime's schema (the loader has checked the file has them).
    let mut flat = Vec::new();
    for spec in meta.architecture.tensors() {
        let view = st.tensor(&spec.name)?;
        let floats = flowmap_eval::datasets::tensor_to_f32(view.dtype(), view.data())?;
        let shape: Vec<i64> = spec.shape.iter().map(|&d| d as i64).collect();
        flat.push(
            Tensor::from_slice(&floats)
                .view(shape.as_slice())
                .to_device(device),
        );
    }
    let (w, b) = crate::checkpoint::split_layers(flat);
    Ok((
        Mlp::from_tensors(w, b, meta.sigma as f64, *activation),
        meta,
    ))
}
