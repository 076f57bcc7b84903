//! Classifier-feature metrics of image rows: the Fréchet distance between Gaussian fits of the
//! Fashion-MNIST classifier's penultimate features (FD, FID's formula with our classifier in
//! place of Inception) and class coverage.
//!
//! Samples and reference alike are first rounded to 8-bit pixels
//! ([`quantize_to_pixels`]): what is scored is what a user would save.

use super::error::QualityError;
use crate::classifier::{self, class_coverage, quantize_to_pixels, Classifier, Coverage};
use crate::datasets::PIXEL_RANGE;
use crate::metrics::{frechet_distance_fits, GaussianFit};

/// The classifier and the reference's feature fit, computed once per evaluation.
pub struct FeatureScorer {
    classifier: Classifier,
    reference: GaussianFit,
}

/// Image shape the classifier reads.
pub const CLASSIFIER_SHAPE: [usize; 3] = [1, classifier::SIDE, classifier::SIDE];

impl FeatureScorer {
    /// A scorer against `reference` when the data are 1×28×28 images whose values lie in
    /// [`PIXEL_RANGE`] (the classifier's input space); `None` for any other data, whose rows
    /// then carry no FD or coverage.
    pub fn for_reference(
        data_shape: &[usize],
        reference: &[f32],
    ) -> Result<Option<Self>, QualityError> {
        let in_range = reference
            .iter()
            .all(|v| (PIXEL_RANGE[0]..=PIXEL_RANGE[1]).contains(v));
        if data_shape != CLASSIFIER_SHAPE || !in_range {
            return Ok(None);
        }
        let classifier = Classifier::fashion_mnist()?;
        let feats = classifier.forward(&quantize_to_pixels(reference))?.features;
        if feats.len() < 2 * classifier::FEATURES {
            return Err(QualityError::Spec(
                "the FD needs at least 2 reference images".into(),
            ));
        }
        Ok(Some(FeatureScorer {
            reference: GaussianFit::of(&feats, classifier::FEATURES),
            classifier,
        }))
    }

    /// Test-split accuracy of the classifier (from its file's header).
    pub fn classifier_accuracy(&self) -> Option<f64> {
        self.classifier.test_accuracy
    }

    /// FD of `samples` (1×28×28 images, data space) to the reference, and their class coverage.
    pub fn measure(&self, samples: &[f32]) -> Result<(f64, Coverage), QualityError> {
        let out = self.classifier.forward(&quantize_to_pixels(samples))?;
        if out.features.len() < 2 * classifier::FEATURES {
            return Err(QualityError::Spec("the FD needs at least 2 samples".into()));
        }
        let fit = GaussianFit::of(&out.features, classifier::FEATURES);
        Ok((
            frechet_distance_fits(&fit, &self.reference),
            class_coverage(&out.classes(), classifier::CLASSES),
        ))
    }
}
