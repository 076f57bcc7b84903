//! The model-file metadata: one Rust type, shared by the trainer (which writes it) and the
//! runtime (which validates and executes it). Serialised as JSON under the safetensors
//! `__metadata__` key [`METADATA_KEY`]. See `docs/format.md` for the full format description.
//!
//! This module owns every rule of the format: the types (`meta`), the limits (`limits`), the tensors of each
//! architecture ([`Architecture::tensors`], in `tensors`) and the validation
//! ([`ModelMeta::from_json`], [`ModelMeta::validate`], in `validate`).

mod limits;
mod meta;
mod spec;
mod tensors;
mod unet;
mod validate;

pub use limits::{
    MAX_DIM, MAX_FREQUENCIES, MAX_HIDDEN_LAYERS, MAX_UNET_BLOCKS, MAX_UNET_CHANNELS,
    MAX_UNET_EMBED, MAX_UNET_LEVELS, MAX_UNET_RESOLUTION, MAX_WIDTH,
};
pub use meta::{
    Activation, Architecture, Interpolant, ModelMeta, Normalization, Provenance, StateEmbedding,
    TimeEmbedding, UnetTimeEmbedding, FORMAT_VERSION, LATEST_FORMAT_VERSION, METADATA_KEY,
};
pub use spec::TensorSpec;
pub use tensors::{mlp_bias_name, mlp_weight_name};
pub use unet::{Attention, Conv, Level, ResBlock, Step, UnetPlan};
pub(crate) use validate::check_tensor_set;
