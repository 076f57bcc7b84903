//! The limits the loader enforces: no declared size beyond them is accepted, so nothing
//! derived from a header can overflow or ask for absurd memory.

/// Largest data dimension (product of the data shape) the loader accepts.
pub const MAX_DIM: usize = 1 << 24;
/// Largest hidden-layer width the loader accepts.
pub const MAX_WIDTH: usize = 1 << 20;
/// Most hidden layers the loader accepts.
pub const MAX_HIDDEN_LAYERS: usize = 1024;
/// Most Fourier frequencies the loader accepts.
pub const MAX_FREQUENCIES: usize = 1 << 16;
