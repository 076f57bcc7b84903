//! Why an evaluation could not run.

use crate::datasets::DataError;
use std::fmt;

/// Why an evaluation could not run.
#[derive(Debug)]
pub enum QualityError {
    /// The spec asks for something that cannot be measured (what, and what to change).
    Spec(String),
    /// The runtime refused to sample (what was being drawn, and its error).
    Sample {
        /// What was being drawn, e.g. `sampling 1000 points with 2 steps`.
        what: String,
        /// The runtime's error.
        source: flowmap::EvalError,
    },
    /// The reference data could not be loaded.
    Data(DataError),
    /// A plot could not be written.
    Plot(std::io::Error),
    /// The feature classifier could not run (its file, or images it cannot read).
    Classifier(crate::classifier::ClassifierError),
}

impl fmt::Display for QualityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QualityError::Spec(s) => f.write_str(s),
            QualityError::Sample { what, source } => write!(f, "{what}: {source}"),
            QualityError::Data(e) => write!(f, "{e}"),
            QualityError::Plot(e) => write!(f, "cannot write the plot: {e}"),
            QualityError::Classifier(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for QualityError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QualityError::Sample { source, .. } => Some(source),
            QualityError::Data(e) => Some(e),
            QualityError::Plot(e) => Some(e),
            QualityError::Classifier(e) => Some(e),
            QualityError::Spec(_) => None,
        }
    }
}

impl From<DataError> for QualityError {
    fn from(e: DataError) -> Self {
        QualityError::Data(e)
    }
}

impl From<std::io::Error> for QualityError {
    fn from(e: std::io::Error) -> Self {
        QualityError::Plot(e)
    }
}

impl From<crate::classifier::ClassifierError> for QualityError {
    fn from(e: crate::classifier::ClassifierError) -> Self {
        QualityError::Classifier(e)
    }
}
