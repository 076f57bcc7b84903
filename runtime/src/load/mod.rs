//! Loading: file bytes → a validated [`Model`].
//!
//! The container reader ([`container`]) checks the safetensors layout; the schema
//! ([`crate::schema`]) checks the metadata and the tensor set; this module puts them
//! together, decodes the weights to f32 (checking each is finite) and hands them, with the
//! dtype each was stored as, to the model, which packs them into its compute layout.

pub(crate) mod container;

use alloc::vec::Vec;

use crate::error::LoadError;
use crate::kernels::PanelDtype;
use crate::model::Model;
use crate::schema::{self, ModelMeta};

impl Model {
    /// Loads and validates a model from the bytes of a model file (see `docs/format.md`).
    ///
    /// Everything is checked before the model is accepted: container layout, dtypes, shapes
    /// against the declared architecture, finiteness of every weight, the metadata and its
    /// `format_version`. Weights are copied (an MLP's layer weights in the file's dtype,
    /// everything else as f32), so `bytes` may be dropped
    /// afterwards. Memory allocated is bounded by a small multiple of `bytes.len()`.
    ///
    /// ```
    /// # let bytes = flowmap::write::example_model_bytes();
    /// let model = flowmap::Model::from_bytes(&bytes)?;
    /// assert_eq!(model.format_version(), flowmap::schema::FORMAT_VERSION);
    /// // Anything that is not a valid model file is a typed error, never a panic:
    /// assert!(flowmap::Model::from_bytes(b"not a model").is_err());
    /// # Ok::<(), flowmap::LoadError>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, LoadError> {
        Model::load(bytes, true)
    }

    /// [`Model::from_bytes`] with every weight in f32 panels (the path before 16-bit
    /// panels): the reference the 16-bit panels must equal bit for bit.
    #[cfg(test)]
    pub(crate) fn from_bytes_f32_panels(bytes: &[u8]) -> Result<Model, LoadError> {
        Model::load(bytes, false)
    }

    /// Loads a model; `keep_16bit`: whether 16-bit weights keep 16-bit panels.
    fn load(bytes: &[u8], keep_16bit: bool) -> Result<Model, LoadError> {
        let file = container::parse(bytes)?;
        let meta_json = file
            .metadata
            .as_ref()
            .and_then(|m| m.iter().find(|(k, _)| k == schema::METADATA_KEY))
            .map(|(_, v)| v.as_str())
            .ok_or(LoadError::MissingMetadata)?;
        let meta = ModelMeta::from_json(meta_json)?;
        meta.validate()?;
        let expected = meta.architecture.tensors();
        schema::check_tensor_set(
            &expected,
            |name| file.tensors.get(name).map(|t| t.shape.as_slice()),
            file.tensors.keys().map(|k| k.as_str()),
        )?;
        let mut weights = Vec::with_capacity(expected.len());
        let mut dtypes = Vec::with_capacity(expected.len());
        for spec in &expected {
            // Present: checked above.
            let t = file
                .tensors
                .get(&spec.name)
                .ok_or_else(|| LoadError::MissingTensor(spec.name.clone()))?;
            weights.push(container::to_f32(&spec.name, t)?);
            dtypes.push(match t.dtype {
                container::Dtype::F16 if keep_16bit => PanelDtype::F16,
                container::Dtype::BF16 if keep_16bit => PanelDtype::Bf16,
                _ => PanelDtype::F32,
            });
        }
        Ok(Model::from_weights(meta, weights, &dtypes))
    }

    /// Reads a model file and loads it with [`Model::from_bytes`]. I/O failures are
    /// [`LoadError::Io`] with the system's message.
    #[cfg(feature = "std")]
    pub fn from_file<P: AsRef<std::path::Path>>(path: P) -> Result<Model, LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| LoadError::Io(alloc::format!("{}: {e}", path.display())))?;
        Model::from_bytes(&bytes)
    }
}
