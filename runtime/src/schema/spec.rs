//! One tensor of a model file as the schema requires it: name and shape.

use alloc::string::String;
use alloc::vec::Vec;

/// One tensor an architecture requires: its name in the file and its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Name in the safetensors header, e.g. `layers.0.weight`.
    pub name: String,
    /// Shape (PyTorch layout: `[out, in]` for dense weights).
    pub shape: Vec<usize>,
}

impl TensorSpec {
    pub(crate) fn new(name: String, shape: Vec<usize>) -> TensorSpec {
        TensorSpec { name, shape }
    }

    /// Number of elements (product of the shape).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}
