//! Datasets, metrics and plots for flowmap.
