//! The Fashion-MNIST classifier behind the image FD and class coverage, run in plain Rust.
//!
//! The network (3×3 conv 1→16 + ReLU + 2×2 max-pool, 3×3 conv 16→32 + ReLU + 2×2 max-pool,
//! fc 1568→128 + ReLU = the features, fc 128→10 = the logits) is trained on libtorch by
//! `flowmap-train`'s `fashion_classifier` example on the TRAIN split; its weights are committed
//! as `eval/assets/fashion_classifier.safetensors` and embedded in this crate
//! ([`Classifier::fashion_mnist`]). Embedding rather than a path: an FD is only comparable
//! between runs that use the very same feature network, so the binary carries the one it
//! reports with, and `flowmap eval` works from any directory without a file to find.
//!
//! Input: 28×28 grey images in the data space [−1, 1] of
//! [`crate::datasets::pixel_to_value`], the mapping the classifier was trained under.

mod coverage;
mod forward;

pub use coverage::{class_coverage, Coverage};

use crate::datasets::tensor_to_f32;
use safetensors::SafeTensors;
use std::fmt;

/// Side of the classifier's square grey input.
pub const SIDE: usize = 28;
/// Values per input image.
pub const INPUT: usize = SIDE * SIDE;
/// Number of classes.
pub const CLASSES: usize = 10;
/// Fashion-MNIST's class names, by label (short forms for tables).
pub const CLASS_NAMES: [&str; CLASSES] = [
    "top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot",
];
/// Width of the penultimate features (what the FD compares).
pub const FEATURES: usize = 128;
const C1: usize = 16;
const C2: usize = 32;
const FLAT: usize = C2 * (SIDE / 4) * (SIDE / 4);

/// The committed weights (see the module docs for the command that makes them).
const FASHION_MNIST: &[u8] = include_bytes!("../../assets/fashion_classifier.safetensors");

/// Why a classifier file could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum ClassifierError {
    /// Not a safetensors file (the parser's message).
    Format(String),
    /// A weight is missing, of another shape or not a float type.
    Tensor {
        /// Tensor name, e.g. `conv1.weight`.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The images are not whole 28×28 grey images.
    Input(String),
}

impl fmt::Display for ClassifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassifierError::Format(e) => write!(f, "classifier file: {e}"),
            ClassifierError::Tensor { name, reason } => {
                write!(f, "classifier tensor {name}: {reason}")
            }
            ClassifierError::Input(e) => write!(f, "classifier input: {e}"),
        }
    }
}

impl std::error::Error for ClassifierError {}

/// The classifier's weights (row-major, libtorch's layouts: conv `[out, in, 3, 3]`, linear
/// `[out, in]`).
#[derive(Debug, Clone)]
pub struct Classifier {
    conv1_w: Vec<f32>,
    conv1_b: Vec<f32>,
    conv2_w: Vec<f32>,
    conv2_b: Vec<f32>,
    fc1_w: Vec<f32>,
    fc1_b: Vec<f32>,
    fc2_w: Vec<f32>,
    fc2_b: Vec<f32>,
    /// Test-split accuracy recorded in the file's header by the trainer, if any.
    pub test_accuracy: Option<f64>,
}

/// Features and logits of a batch of images.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Penultimate features, [`FEATURES`] per image.
    pub features: Vec<f32>,
    /// Logits, [`CLASSES`] per image.
    pub logits: Vec<f32>,
}

impl Output {
    /// Predicted class (arg-max of the logits, the first on a tie) of each image.
    pub fn classes(&self) -> Vec<usize> {
        self.logits
            .chunks_exact(CLASSES)
            .map(|l| (0..CLASSES).fold(0, |best, k| if l[k] > l[best] { k } else { best }))
            .collect()
    }
}

impl Classifier {
    /// The committed Fashion-MNIST classifier.
    pub fn fashion_mnist() -> Result<Self, ClassifierError> {
        Self::from_bytes(FASHION_MNIST)
    }

    /// A classifier from safetensors bytes with tensors `conv1.weight` `[16, 1, 3, 3]`,
    /// `conv1.bias` `[16]`, `conv2.weight` `[32, 16, 3, 3]`, `conv2.bias` `[32]`,
    /// `fc1.weight` `[128, 1568]`, `fc1.bias` `[128]`, `fc2.weight` `[10, 128]`, `fc2.bias`
    /// `[10]` (F32, F64, F16 or BF16).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ClassifierError> {
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| ClassifierError::Format(e.to_string()))?;
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, ClassifierError> {
            let bad = |reason: String| ClassifierError::Tensor {
                name: name.to_string(),
                reason,
            };
            let view = st.tensor(name).map_err(|e| bad(e.to_string()))?;
            if view.shape() != shape {
                return Err(bad(format!("shape {:?}, expected {shape:?}", view.shape())));
            }
            let values =
                tensor_to_f32(view.dtype(), view.data()).map_err(|e| bad(e.to_string()))?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(bad("holds a value that is not finite".into()));
            }
            Ok(values)
        };
        let test_accuracy = SafeTensors::read_metadata(bytes)
            .ok()
            .and_then(|(_, m)| m.metadata().clone())
            .and_then(|m| m.get("test_accuracy").and_then(|a| a.parse().ok()));
        Ok(Classifier {
            conv1_w: get("conv1.weight", &[C1, 1, 3, 3])?,
            conv1_b: get("conv1.bias", &[C1])?,
            conv2_w: get("conv2.weight", &[C2, C1, 3, 3])?,
            conv2_b: get("conv2.bias", &[C2])?,
            fc1_w: get("fc1.weight", &[FEATURES, FLAT])?,
            fc1_b: get("fc1.bias", &[FEATURES])?,
            fc2_w: get("fc2.weight", &[CLASSES, FEATURES])?,
            fc2_b: get("fc2.bias", &[CLASSES])?,
            test_accuracy,
        })
    }

    /// Features and logits of `images` (row-major, [`INPUT`] values per image in [−1, 1]),
    /// exactly as the trainer's libtorch network computes them (up to f32 rounding order).
    pub fn forward(&self, images: &[f32]) -> Result<Output, ClassifierError> {
        if images.is_empty() || images.len() % INPUT != 0 {
            return Err(ClassifierError::Input(format!(
                "{} values are not a positive number of 28x28 images",
                images.len()
            )));
        }
        let n = images.len() / INPUT;
        let mut out = Output {
            features: vec![0.0; n * FEATURES],
            logits: vec![0.0; n * CLASSES],
        };
        let mut scratch = forward::Scratch::default();
        for ((img, f), l) in images
            .chunks_exact(INPUT)
            .zip(out.features.chunks_exact_mut(FEATURES))
            .zip(out.logits.chunks_exact_mut(CLASSES))
        {
            forward::image(self, img, &mut scratch, f, l);
        }
        Ok(out)
    }
}

/// Images as the 8-bit pictures a user would save: each value clamped to [−1, 1] and rounded
/// to the nearest of the 256 pixel levels of [`crate::datasets::pixel_to_value`]. Data read
/// from IDX or PNG files is unchanged by it; model samples are scored as what they display.
pub fn quantize_to_pixels(x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            let p = ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round();
            p / 127.5 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod tests;
