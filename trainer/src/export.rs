//! Export: a trained network and its run information → a model file the runtime executes,
//! written with the runtime's own schema type (one source of truth for the format).

use crate::checkpoint::{RunInfo, TrainState};
use crate::loss_weight::PREFIX;
use crate::net::Mlp;
use crate::network::Network;
use flowmap::schema::{Architecture, ModelMeta, Normalization, Provenance, TimeEmbedding};
use tch::{Device, Kind, Tensor};

pub use crate::config::WeightsChoice;

/// The chosen weights of the exported network, detached, by model-file name (the
/// training-only loss-weight head is not part of the file).
pub fn select_weights(state: &TrainState, choice: WeightsChoice) -> Vec<(String, Tensor)> {
    state
        .net
        .named_parameters()
        .into_iter()
        .filter(|(name, _)| !name.starts_with(PREFIX))
        .map(|(name, raw)| {
            let chosen = match choice {
                WeightsChoice::Raw => Some(raw),
                WeightsChoice::Ema999 => state.ema_copy(0.999, &name),
                WeightsChoice::Ema9999 => state.ema_copy(0.9999, &name),
            };
            let t = chosen
                .unwrap_or_else(|| panic!("no {} copy of {name}", choice.name()))
                .detach()
                .copy();
            (name, t)
        })
        .collect()
}

/// The architecture a run's network is exported as.
pub fn architecture(state: &TrainState, info: &RunInfo) -> Architecture {
    match &state.net {
        Network::Mlp(m) => Architecture::Mlp {
            data_shape: info.data_shape.clone(),
            hidden: m.hidden(),
            activation: info.config.activation,
            time_embedding: TimeEmbedding::Raw,
            state_embedding: m.state_embedding(),
        },
        Network::UNet(u) => {
            // Data values of pixels 0 and 255: the normalisation maps [−1, 1] onto them.
            let (m, s) = (info.mean[0], info.std[0]);
            u.architecture(Some([m - s, m + s]))
        }
    }
}

/// The model-file metadata for a run.
pub fn model_meta(info: &RunInfo, architecture: Architecture, choice: WeightsChoice) -> ModelMeta {
    ModelMeta {
        format_version: architecture.format_version(),
        architecture,
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

/// Serialises named tensors with `meta` into model-file bytes, in the order and with the names
/// and shapes the runtime's schema derives from `meta` (a mismatch is an error, not a file the
/// runtime would refuse).
pub fn to_model_bytes(
    named: &[(String, Tensor)],
    meta: &ModelMeta,
    dtype: flowmap::write::WeightDtype,
) -> anyhow::Result<Vec<u8>> {
    let by_name: std::collections::BTreeMap<&str, &Tensor> =
        named.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let specs = meta.architecture.tensors();
    if specs.len() != named.len() {
        anyhow::bail!(
            "the network has {} tensors but its architecture {}",
            named.len(),
            specs.len()
        );
    }
    let mut data = Vec::with_capacity(specs.len());
    for spec in &specs {
        let t = by_name
            .get(spec.name.as_str())
            .ok_or_else(|| anyhow::anyhow!("the network has no tensor {}", spec.name))?;
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        if shape != spec.shape {
            anyhow::bail!(
                "{} has shape {shape:?}, the format says {:?}",
                spec.name,
                spec.shape
            );
        }
        let flat = t
            .detach()
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .view([-1]);
        data.push(Vec::<f32>::try_from(&flat)?);
    }
    let tensors: Vec<(&str, Vec<usize>, &[f32])> = specs
        .iter()
        .zip(&data)
        .map(|(spec, d)| (spec.name.as_str(), spec.shape.clone(), d.as_slice()))
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
        state_embedding,
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
        Mlp::from_tensors(
            w,
            b,
            meta.sigma as f64,
            *activation,
            state_embedding.frequencies(),
        ),
        meta,
    ))
}
