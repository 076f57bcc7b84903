//! Every metadata rule of the format (safetensors' `Metadata::validate` shape): the version
//! check, the limits, the consistency of the declared architecture, and the tensor set a
//! file must hold. The container rules (offsets, dtypes) live in the loader's container
//! reader; everything about *what* a flowmap file contains lives here.

use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};

use super::limits::{MAX_DIM, MAX_FREQUENCIES, MAX_HIDDEN_LAYERS, MAX_WIDTH};
use super::meta::{Architecture, ModelMeta, TimeEmbedding, FORMAT_VERSION, LATEST_FORMAT_VERSION};
use super::spec::TensorSpec;
use super::unet::UnetPlan;
use crate::error::{LoadError, UnetError};

impl ModelMeta {
    /// Parses the `flowmap` metadata JSON, checking the version before the schema (so a file
    /// of a newer format is reported as such even when its fields differ). Does not
    /// [`validate`](ModelMeta::validate).
    pub fn from_json(json: &str) -> Result<ModelMeta, LoadError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| LoadError::MetadataJson(e.to_string()))?;
        let version = value
            .get("format_version")
            .ok_or_else(|| LoadError::MetadataJson("missing field `format_version`".to_string()))?;
        let version = version.as_u64().ok_or_else(|| {
            LoadError::MetadataJson("`format_version` is not a non-negative integer".to_string())
        })?;
        if !(u64::from(FORMAT_VERSION)..=u64::from(LATEST_FORMAT_VERSION)).contains(&version) {
            return Err(LoadError::UnsupportedFormatVersion {
                found: version,
                supported: LATEST_FORMAT_VERSION,
            });
        }
        // The family next, also before the schema: an unknown one is its own error, not a
        // schema error, and a family newer than the file's version is refused.
        let kind = value
            .get("architecture")
            .and_then(|a| a.get("kind"))
            .and_then(|k| k.as_str());
        let needs = match kind {
            // An MLP that embeds its state is format 2 (raw: format 1).
            Some("mlp") if value["architecture"].get("state_embedding").is_some() => {
                LATEST_FORMAT_VERSION
            }
            Some("mlp") => FORMAT_VERSION,
            Some("unet") => LATEST_FORMAT_VERSION,
            Some(other) => return Err(LoadError::UnknownArchitecture(other.to_string())),
            None => {
                return Err(LoadError::MetadataJson(
                    "missing string field `architecture.kind`".to_string(),
                ))
            }
        };
        if version < u64::from(needs) {
            return Err(LoadError::ArchitectureNeedsVersion {
                kind: kind.unwrap_or_default().to_string(),
                needs,
                found: version as u32,
            });
        }
        serde_json::from_value(value).map_err(|e| LoadError::MetadataJson(e.to_string()))
    }

    /// Checks every metadata rule of `docs/format.md` §5: shape and limits of the
    /// architecture, σ, the normalisation. After this, [`Architecture::tensors`] and every
    /// size derived from the metadata are bounded (no overflow, nothing absurd).
    pub fn validate(&self) -> Result<(), LoadError> {
        let (data_shape, hidden, time_embedding, state_embedding) = match &self.architecture {
            Architecture::Mlp {
                data_shape,
                hidden,
                time_embedding,
                state_embedding,
                ..
            } => (data_shape, hidden, time_embedding, state_embedding),
            Architecture::Unet { pixel_range, .. } => return self.validate_unet(*pixel_range),
        };
        let dim = check_data_shape(data_shape)?;
        if hidden.is_empty() {
            return Err(LoadError::EmptyHidden);
        }
        if hidden.len() > MAX_HIDDEN_LAYERS {
            return Err(LoadError::TooManyLayers {
                count: hidden.len(),
            });
        }
        if let Some((layer, &width)) = hidden
            .iter()
            .enumerate()
            .find(|(_, &w)| w == 0 || w > MAX_WIDTH)
        {
            return Err(LoadError::InvalidWidth { layer, width });
        }
        if let TimeEmbedding::Fourier { frequencies } = time_embedding {
            check_frequencies(frequencies)?;
        }
        let state_frequencies = state_embedding.frequencies();
        check_frequencies(state_frequencies)?;
        // (1 + 2K)·d inputs: bounded like a data dimension, so no size derived from it
        // overflows.
        if (1 + 2 * state_frequencies.len()).saturating_mul(dim) > MAX_DIM {
            return Err(LoadError::InvalidFrequency {
                index: state_frequencies.len(),
                value: f32::NAN,
            });
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(LoadError::InvalidSigma(self.sigma));
        }
        self.check_normalization(dim, dim)
    }

    /// The `unet` rules: the plan's (every topology rule), the pixel range, σ and the
    /// normalisation.
    fn validate_unet(&self, pixel_range: Option<[f32; 2]>) -> Result<(), LoadError> {
        let plan = match UnetPlan::new(&self.architecture) {
            Some(plan) => plan?,
            None => unreachable!("a unet architecture has a plan"),
        };
        if let Some([lo, hi]) = pixel_range {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return Err(LoadError::InvalidUnet(UnetError::PixelRange { lo, hi }));
            }
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(LoadError::InvalidSigma(self.sigma));
        }
        let (h, w) = plan.size;
        self.check_normalization(plan.in_channels * h * w, plan.in_channels)
    }

    /// `mean` and `std` have length `dim` (format 2 also: 1, or `channels` per channel);
    /// `mean` finite, `std` finite and > 0.
    fn check_normalization(&self, dim: usize, channels: usize) -> Result<(), LoadError> {
        let norm = &self.normalization;
        let compact = self.format_version >= LATEST_FORMAT_VERSION;
        for (field, v) in [("mean", &norm.mean), ("std", &norm.std)] {
            let ok = v.len() == dim || (compact && (v.len() == 1 || v.len() == channels));
            if !ok {
                return Err(LoadError::NormalizationLength {
                    field,
                    expected: dim,
                    got: v.len(),
                });
            }
        }
        if let Some((index, &value)) = norm.mean.iter().enumerate().find(|(_, m)| !m.is_finite()) {
            return Err(LoadError::InvalidMean { index, value });
        }
        if let Some((index, &value)) = norm
            .std
            .iter()
            .enumerate()
            .find(|(_, s)| !(s.is_finite() && **s > 0.0))
        {
            return Err(LoadError::InvalidStd { index, value });
        }
        Ok(())
    }
}

/// Non-empty, no zero, product within [`MAX_DIM`]; returns the product.
fn check_data_shape(data_shape: &[usize]) -> Result<usize, LoadError> {
    if data_shape.is_empty() {
        return Err(LoadError::EmptyDataShape);
    }
    if data_shape.contains(&0) {
        return Err(LoadError::ZeroDim {
            data_shape: data_shape.to_vec(),
        });
    }
    data_shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&d| d <= MAX_DIM)
        .ok_or_else(|| LoadError::DimTooLarge {
            data_shape: data_shape.to_vec(),
        })
}

/// At most [`MAX_FREQUENCIES`], all finite.
fn check_frequencies(frequencies: &[f32]) -> Result<(), LoadError> {
    if frequencies.len() > MAX_FREQUENCIES {
        return Err(LoadError::InvalidFrequency {
            index: frequencies.len(),
            value: f32::NAN,
        });
    }
    if let Some((index, &value)) = frequencies.iter().enumerate().find(|(_, f)| !f.is_finite()) {
        return Err(LoadError::InvalidFrequency { index, value });
    }
    Ok(())
}

/// Checks that a file's tensors are exactly `expected`: each present (`shape_of` gives a
/// present tensor's shape by name) with its shape, in the order of `expected`; then none of
/// `present` (the names in the file) is outside `expected`.
pub(crate) fn check_tensor_set<'a>(
    expected: &[TensorSpec],
    shape_of: impl Fn(&str) -> Option<&'a [u64]>,
    mut present: impl Iterator<Item = &'a str>,
) -> Result<(), LoadError> {
    for spec in expected {
        let got =
            shape_of(&spec.name).ok_or_else(|| LoadError::MissingTensor(spec.name.clone()))?;
        let same = got.len() == spec.shape.len()
            && got.iter().zip(&spec.shape).all(|(&g, &w)| g == w as u64);
        if !same {
            return Err(LoadError::ShapeMismatch {
                tensor: spec.name.clone(),
                expected: spec.shape.clone(),
                got: got.to_vec(),
            });
        }
    }
    let names: BTreeSet<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    if let Some(name) = present.find(|name| !names.contains(name)) {
        return Err(LoadError::UnexpectedTensor(String::from(name)));
    }
    Ok(())
}
