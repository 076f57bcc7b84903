//! Training state and its checkpoints: one safetensors file holding the parameters, both EMA
//! copies and the optimiser moments, plus JSON metadata with the step, the configuration, the
//! data normalisation and a CRC-32 of every tensor byte. Written atomically (temporary file,
//! fsync, rename), so a crash at any moment leaves the previous checkpoint intact.

use crate::config::TrainConfig;
use crate::net::Mlp;
use crate::network::{Arch, Network};
use crate::optim::{Ema, RAdam};
use crate::unet::UNet;
use anyhow::{anyhow, bail, Context};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The EMA decays kept during training (paper §2.7).
pub const EMA_DECAYS: [f64; 2] = [0.999, 0.9999];

/// Everything that changes during training.
pub struct TrainState {
    /// The network being trained.
    pub net: Network,
    /// Optimiser state.
    pub opt: RAdam,
    /// EMA copies for [`EMA_DECAYS`].
    pub ema: Vec<Ema>,
    /// Optimiser steps completed.
    pub step: u64,
}

/// What a checkpoint says about the run besides tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// Steps completed.
    pub step: u64,
    /// The configuration of the run.
    pub config: TrainConfig,
    /// Per-dimension data mean and std (normalisation).
    pub mean: Vec<f32>,
    /// See `mean`.
    pub std: Vec<f32>,
    /// Shape of one data point.
    pub data_shape: Vec<usize>,
    /// Base scale σ.
    pub sigma: f64,
    /// Writer, e.g. `flowmap-train 0.1.0`.
    pub trainer: String,
}

const META_KEY: &str = "flowmap_checkpoint";
const CRC_KEY: &str = "crc32";

impl TrainState {
    /// A fresh state around `net`.
    pub fn new(net: impl Into<Network>) -> TrainState {
        let net = net.into();
        let opt = RAdam::new(&net.parameters());
        let named = net.named_parameters();
        let ema = EMA_DECAYS.iter().map(|&b| Ema::new(b, &named)).collect();
        TrainState {
            net,
            opt,
            ema,
            step: 0,
        }
    }

    /// The EMA copy with decay `beta` of parameter `name`.
    pub fn ema_copy(&self, beta: f64, name: &str) -> Option<&Tensor> {
        self.ema.iter().find(|e| e.beta == beta)?.get(name)
    }

    /// The named tensors that make up the state.
    fn named_tensors(&self) -> Vec<(String, &Tensor)> {
        let names = self.net.parameter_names();
        let mut out = Vec::new();
        for (n, p) in names.iter().zip(self.net.parameters()) {
            out.push((format!("params.{n}"), p));
        }
        for (e, decay) in self.ema.iter().zip(EMA_DECAYS) {
            for (n, p) in &e.params {
                out.push((format!("ema{decay}.{n}"), p));
            }
        }
        for (n, p) in names.iter().zip(&self.opt.m) {
            out.push((format!("radam_m.{n}"), p));
        }
        for (n, p) in names.iter().zip(&self.opt.v) {
            out.push((format!("radam_v.{n}"), p));
        }
        out
    }
}

fn to_f32_bytes(t: &Tensor) -> (Vec<usize>, Vec<u8>) {
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let flat = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .view([-1]);
    let v: Vec<f32> = Vec::try_from(&flat).expect("f32 tensor");
    (shape, v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn crc_of(tensors: &BTreeMap<String, (Vec<usize>, Vec<u8>)>) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for (name, (_, bytes)) in tensors {
        h.update(name.as_bytes());
        h.update(bytes);
    }
    h.finalize()
}

/// Writes `state` to `path` atomically.
pub fn save(path: &Path, state: &TrainState, info: &RunInfo) -> anyhow::Result<()> {
    let tensors: BTreeMap<String, (Vec<usize>, Vec<u8>)> = state
        .named_tensors()
        .into_iter()
        .map(|(n, t)| (n, to_f32_bytes(t)))
        .collect();
    let mut meta = HashMap::new();
    meta.insert(META_KEY.to_string(), serde_json::to_string(info)?);
    meta.insert(CRC_KEY.to_string(), format!("{:08x}", crc_of(&tensors)));
    meta.insert("radam_count".to_string(), state.opt.count.to_string());
    let views = tensors
        .iter()
        .map(|(n, (shape, bytes))| {
            Ok((
                n.clone(),
                TensorView::new(Dtype::F32, shape.clone(), bytes)?,
            ))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    let bytes = safetensors::serialize(views, Some(meta))?;
    write_atomically(path, &bytes)
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let result = (|| -> anyhow::Result<()> {
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename to {}", path.display()))?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The run description stored in a checkpoint. Settings added after a checkpoint was written
/// take the value that reproduces what that run did, not today's default: a run from before
/// learning-rate schedules existed resumes on the paper's inv-sqrt schedule, and one from before
/// the loss-weight choice on the learned weight (what U-Nets used then; MLPs have no head); one
/// from before state embeddings on the raw state, one from before couplings on the
/// independent one, one from before divergence recovery stops when it diverges, and one from
/// before teacher phases and capped distillation self-distils or distils without a cap.
fn run_info_from_json(text: &str) -> anyhow::Result<RunInfo> {
    let mut value: serde_json::Value = serde_json::from_str(text)?;
    if let Some(config) = value.get_mut("config").and_then(|c| c.as_object_mut()) {
        config
            .entry("lr_schedule")
            .or_insert_with(|| serde_json::json!("inv-sqrt"));
        config
            .entry("loss_weight")
            .or_insert_with(|| serde_json::json!("learned"));
        config
            .entry("state_frequencies")
            .or_insert_with(|| serde_json::json!([]));
        config
            .entry("coupling")
            .or_insert_with(|| serde_json::json!("independent"));
        config
            .entry("on_divergence")
            .or_insert_with(|| serde_json::json!("stop"));
        config
            .entry("teacher_steps")
            .or_insert_with(|| serde_json::json!(0));
        config
            .entry("teacher_cap")
            .or_insert_with(|| serde_json::json!(0.0));
    }
    Ok(serde_json::from_value(value)?)
}

/// Reads a checkpoint, verifying its checksum, onto `device`.
pub fn load(path: &Path, device: Device) -> anyhow::Result<(TrainState, RunInfo)> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| anyhow!("{} is not a valid checkpoint: {e}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow!("{} is not a valid checkpoint: {e}", path.display()))?;
    let meta = header
        .metadata()
        .clone()
        .ok_or_else(|| anyhow!("{}: no checkpoint metadata", path.display()))?;
    let info = run_info_from_json(
        meta.get(META_KEY)
            .ok_or_else(|| anyhow!("{}: not a flowmap-train checkpoint", path.display()))?,
    )?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            bail!("{}: tensor {name} is not F32", path.display());
        }
        tensors.insert(name, (view.shape().to_vec(), view.data().to_vec()));
    }
    let want = meta.get(CRC_KEY).cloned().unwrap_or_default();
    let got = format!("{:08x}", crc_of(&tensors));
    if want != got {
        bail!(
            "{}: checksum mismatch (stored {want}, computed {got}); the file is corrupt",
            path.display()
        );
    }
    let count: u64 = meta
        .get("radam_count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(info.step);
    // An MLP run with the learned loss weight also checkpoints its head (runs from before MLPs
    // had one weighed every row alike and resume that way).
    let mlp_head = info.config.loss_weight == crate::objective::LossWeight::Learned
        && tensors.contains_key(&format!("params.{}0.weight", crate::loss_weight::PREFIX));
    let mut take = |name: &str| -> anyhow::Result<Tensor> {
        let (shape, data) = tensors
            .remove(name)
            .ok_or_else(|| anyhow!("{}: missing tensor {name}", path.display()))?;
        let floats: Vec<f32> = data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let shape: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        Ok(Tensor::from_slice(&floats)
            .view(shape.as_slice())
            .to_device(device))
    };
    let unet_config = match info.config.arch {
        Arch::Mlp => None,
        Arch::Unet => {
            let [c, h, w] = info.data_shape[..] else {
                bail!(
                    "{}: a U-Net checkpoint needs [C, H, W] data",
                    path.display()
                );
            };
            Some(info.config.unet_preset.config([c, h, w]))
        }
    };
    let names: Vec<String> = match &unet_config {
        None => {
            let mut names = crate::net::mlp_tensor_names(
                info.data_shape.iter().product(),
                info.config.hidden.clone(),
                info.config.activation,
            );
            if mlp_head {
                names.extend(
                    crate::loss_weight::shapes(crate::loss_weight::MLP_FREQUENCIES.len())
                        .into_keys(),
                );
            }
            names
        }
        Some(cfg) => cfg
            .tensor_shapes()
            .into_keys()
            .chain(cfg.loss_weight_shapes().into_keys())
            .collect(),
    };
    let mut group = |prefix: &str| -> anyhow::Result<Vec<(String, Tensor)>> {
        names
            .iter()
            .map(|n| Ok((n.clone(), take(&format!("{prefix}.{n}"))?)))
            .collect()
    };
    let unnamed =
        |g: Vec<(String, Tensor)>| -> Vec<Tensor> { g.into_iter().map(|(_, t)| t).collect() };
    let params = unnamed(group("params")?);
    let emas: Vec<BTreeMap<String, Tensor>> = EMA_DECAYS
        .iter()
        .map(|d| group(&format!("ema{d}")).map(|g| g.into_iter().collect()))
        .collect::<Result<_, _>>()?;
    let m = unnamed(group("radam_m")?);
    let v = unnamed(group("radam_v")?);
    let params: Vec<Tensor> = params
        .into_iter()
        .map(|p| p.set_requires_grad(true))
        .collect();
    let net: Network = match unet_config {
        None => {
            let (loss_weight, params): (BTreeMap<_, _>, BTreeMap<_, _>) = names
                .iter()
                .cloned()
                .zip(params)
                .partition(|(n, _)| n.starts_with(crate::loss_weight::PREFIX));
            // Back to file order (layers.0.weight, layers.0.bias, …) for split_layers.
            let params = crate::net::mlp_tensor_names(
                info.data_shape.iter().product(),
                info.config.hidden.clone(),
                info.config.activation,
            )
            .into_iter()
            .map(|n| params[&n].shallow_clone())
            .collect();
            let (weights, biases) = split_layers(params);
            let mut mlp = Mlp::from_tensors(
                weights,
                biases,
                info.sigma,
                info.config.activation,
                &info.config.state_frequencies,
            );
            mlp.loss_weight = loss_weight;
            mlp.into()
        }
        Some(config) => {
            let (loss_weight, params): (BTreeMap<_, _>, BTreeMap<_, _>) = names
                .iter()
                .cloned()
                .zip(params)
                .partition(|(n, _)| n.starts_with(crate::loss_weight::PREFIX));
            UNet {
                config,
                sigma: info.sigma,
                params,
                loss_weight,
            }
            .into()
        }
    };
    let mut opt = RAdam::new(&net.parameters());
    opt.m = m;
    opt.v = v;
    opt.count = count;
    let ema = EMA_DECAYS
        .iter()
        .zip(emas)
        .map(|(&beta, params)| Ema { beta, params })
        .collect();
    Ok((
        TrainState {
            net,
            opt,
            ema,
            step: info.step,
        },
        info,
    ))
}

/// Splits [w0, b0, w1, b1, ...] into weights and biases.
pub fn split_layers(flat: Vec<Tensor>) -> (Vec<Tensor>, Vec<Tensor>) {
    let mut weights = Vec::new();
    let mut biases = Vec::new();
    for (i, t) in flat.into_iter().enumerate() {
        if i % 2 == 0 {
            weights.push(t)
        } else {
            biases.push(t)
        }
    }
    (weights, biases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OnDivergence;
    use crate::objective::LossWeight;
    use crate::optim::LrSchedule;

    fn info_json(config: TrainConfig) -> serde_json::Value {
        serde_json::to_value(RunInfo {
            step: 10,
            config,
            mean: vec![0.0; 2],
            std: vec![1.0; 2],
            data_shape: vec![2],
            sigma: 1.0,
            trainer: "flowmap-train test".into(),
        })
        .unwrap()
    }

    #[test]
    fn a_checkpoint_from_before_schedules_resumes_on_the_papers_schedule() {
        let mut old = info_json(TrainConfig::default());
        for key in ["lr_schedule", "lr_warmup", "lr_final"] {
            old["config"].as_object_mut().unwrap().remove(key);
        }
        old["config"].as_object_mut().unwrap().remove("loss_weight");
        old["config"]
            .as_object_mut()
            .unwrap()
            .remove("on_divergence");
        old["config"]
            .as_object_mut()
            .unwrap()
            .remove("teacher_steps");
        old["config"].as_object_mut().unwrap().remove("init");
        old["config"].as_object_mut().unwrap().remove("teacher_cap");
        let info = run_info_from_json(&old.to_string()).unwrap();
        assert_eq!(info.config.lr_schedule, LrSchedule::InvSqrt);
        assert_eq!(info.config.loss_weight, LossWeight::Learned);
        // ... and stops when it diverges, as runs did before recovery existed.
        assert_eq!(info.config.on_divergence, OnDivergence::Stop);
        // ... and self-distilled, whatever the default is now.
        assert_eq!(info.config.teacher_steps, Some(0));
        // ... and distilled a teacher, if it had one, without a cap.
        assert_eq!(info.config.teacher_cap, Some(0.0));
        assert_eq!(info.config.init, None);
        // A checkpoint that names its schedule keeps it.
        let cosine = info_json(TrainConfig {
            lr_schedule: LrSchedule::Cosine,
            ..TrainConfig::default()
        });
        let info = run_info_from_json(&cosine.to_string()).unwrap();
        assert_eq!(info.config.lr_schedule, LrSchedule::Cosine);
        assert_eq!(info.config.loss_weight, LossWeight::Constant);
        assert_eq!(info.config.on_divergence, OnDivergence::Cap);
    }
}
