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
/// Largest height or width of a `unet` data shape.
pub const MAX_UNET_RESOLUTION: usize = 4096;
/// Most channels of any `unet` level (`c·channel_mult[l]`).
pub const MAX_UNET_CHANNELS: usize = 4096;
/// Most `unet` levels (entries of channel_mult).
pub const MAX_UNET_LEVELS: usize = 8;
/// Most residual blocks per `unet` level.
pub const MAX_UNET_BLOCKS: usize = 16;
/// Largest `unet` time-embedding width.
pub const MAX_UNET_EMBED: usize = 1 << 16;
