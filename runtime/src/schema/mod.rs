//! The model-file metadata: one Rust type, shared by the trainer (which writes it) and the
//! runtime (which validates and executes it). Serialised as JSON under the safetensors
//! `__metadata__` key [`METADATA_KEY`]. See `docs/format.md` for the full format description.
//!
//! This module owns every rule of the format: the types (`meta`), the limits (`limits`), the tensors of each
//! architecture ([`Architecture::tensors`], in `tensors`) and the validation
//! ([`ModelMeta::from_json`], [`ModelMeta::validate`], in `validate`).

mod limits;
mod meta;
mod tensors;
mod validate;

pub use limits::{MAX_DIM, MAX_FREQUENCIES, MAX_HIDDEN_LAYERS, MAX_WIDTH};
pub use meta::{
    Activation, Architecture, Interpolant, ModelMeta, Normalization, Provenance, TimeEmbedding,
    FORMAT_VERSION, METADATA_KEY,
};
pub use tensors::{mlp_bias_name, mlp_weight_name, TensorSpec};
pub(crate) use validate::check_tensor_set;
