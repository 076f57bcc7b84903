//! The tensors of an architecture: the one place that spells their names and shapes.
//!
//! The loader checks a file against [`Architecture::tensors`], the writer's
//! [`ModelBuilder`](crate::write::ModelBuilder) lays a file out from it, and the tests build
//! their fixtures with it; a new architecture adds its names here and nowhere else.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::meta::Architecture;
use super::spec::TensorSpec;
use super::unet::UnetPlan;

/// Name of dense layer `i`'s weight in an `mlp` file.
pub fn mlp_weight_name(i: usize) -> String {
    format!("layers.{i}.weight")
}

/// Name of dense layer `i`'s bias in an `mlp` file.
pub fn mlp_bias_name(i: usize) -> String {
    format!("layers.{i}.bias")
}

impl Architecture {
    /// `(inputs, outputs)` of each dense layer of an `mlp`, in order: the first takes
    /// `[embed(s, t), embed(x/σ)]`, the last gives `dim` outputs. Empty for other families.
    ///
    /// Meaningful for metadata that passed [`ModelMeta::validate`](super::ModelMeta::validate)
    /// (which bounds every width, so nothing here overflows).
    pub fn mlp_layers(&self) -> Vec<(usize, usize)> {
        match self {
            Architecture::Mlp {
                hidden,
                time_embedding,
                state_embedding,
                ..
            } => {
                let mut shape = Vec::with_capacity(hidden.len() + 1);
                let mut n_in = time_embedding.features() + state_embedding.features(self.dim());
                for &w in hidden {
                    shape.push((n_in, w));
                    n_in = w;
                }
                shape.push((n_in, self.dim()));
                shape
            }
            Architecture::Unet { .. } => Vec::new(),
        }
    }

    /// Every tensor a file of this architecture holds, in the writer's order, with its
    /// shape: exactly these, no others (see `docs/format.md` §2).
    ///
    /// Meaningful for metadata that passed [`ModelMeta::validate`](super::ModelMeta::validate)
    /// (empty for an invalid `unet`). For `unet` it is [`UnetPlan::tensors`].
    pub fn tensors(&self) -> Vec<TensorSpec> {
        match self {
            Architecture::Mlp { .. } => self
                .mlp_layers()
                .into_iter()
                .enumerate()
                .flat_map(|(i, (n_in, n_out))| {
                    [
                        TensorSpec::new(mlp_weight_name(i), vec![n_out, n_in]),
                        TensorSpec::new(mlp_bias_name(i), vec![n_out]),
                    ]
                })
                .collect(),
            Architecture::Unet { .. } => match UnetPlan::new(self) {
                Some(Ok(plan)) => plan.tensors(),
                _ => Vec::new(),
            },
        }
    }
}
