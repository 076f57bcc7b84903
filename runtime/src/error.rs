//! Error types: [`LoadError`] (the file was rejected) and [`EvalError`] (a call was rejected).
//!
//! Both enums are `#[non_exhaustive]`: later versions may add variants, so match with a
//! wildcard arm. Every variant carries enough context (tensor name, expected vs. found
//! values) for its [`Display`](core::fmt::Display) message to say what is wrong.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why a model file was rejected by [`Model::from_bytes`](crate::Model::from_bytes) or
/// [`Model::from_file`](crate::Model::from_file).
///
/// The loader checks the whole file before accepting it; each kind of defect has its own
/// variant. Loading never panics and never reads outside the buffer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read (only from [`Model::from_file`](crate::Model::from_file)).
    /// Carries the operating system's message and the path.
    Io(String),
    /// The buffer is shorter than the 8-byte header-length prefix.
    TruncatedHeader {
        /// Bytes available.
        len: usize,
    },
    /// The header length (first 8 bytes, u64 little endian) points beyond the end of the
    /// buffer.
    HeaderTooLong {
        /// The header length the file declares.
        header_len: u64,
        /// Bytes available after the 8-byte prefix.
        available: usize,
    },
    /// The header is not valid UTF-8.
    HeaderNotUtf8,
    /// The header is not a JSON object of the safetensors form
    /// (`{"name": {"dtype", "shape", "data_offsets"}, ..., "__metadata__": {str: str}}`).
    HeaderJson(String),
    /// A key occurs twice in the header (a tensor name, `__metadata__`, or a metadata key).
    DuplicateKey(String),
    /// A tensor has a dtype other than `F32`, `F16` or `BF16`.
    UnsupportedDtype {
        /// The tensor.
        tensor: String,
        /// The dtype the header declares.
        dtype: String,
    },
    /// The byte size implied by a tensor's shape and dtype does not fit in 64 bits (or in the
    /// address space of this machine).
    ShapeOverflow {
        /// The tensor.
        tensor: String,
        /// The declared shape.
        shape: Vec<u64>,
    },
    /// A tensor's data range (`data_offsets`) has a different length than its shape and dtype
    /// require.
    TensorSizeMismatch {
        /// The tensor.
        tensor: String,
        /// Bytes its shape and dtype require.
        expected_bytes: u64,
        /// Bytes its `data_offsets` span (`end − start`, or 0 if `end < start`).
        got_bytes: u64,
    },
    /// A tensor's `data_offsets` are reversed or reach beyond the data section.
    OffsetsOutOfRange {
        /// The tensor.
        tensor: String,
        /// Declared start offset (relative to the data section).
        start: u64,
        /// Declared end offset (relative to the data section).
        end: u64,
        /// Length of the data section in bytes.
        data_len: u64,
    },
    /// Two tensors' data ranges overlap.
    OverlappingTensors {
        /// The tensor whose range starts inside `previous`'s range.
        tensor: String,
        /// The tensor it overlaps.
        previous: String,
    },
    /// Bytes of the data section that belong to no tensor (safetensors requires the tensors
    /// to tile the data section exactly, in offset order).
    DataGap {
        /// Start of the uncovered range (relative to the data section).
        start: u64,
        /// End of the uncovered range.
        end: u64,
    },
    /// The header has no `__metadata__` entry, or it has no `flowmap` key.
    MissingMetadata,
    /// The `flowmap` metadata value is not valid JSON of the [`ModelMeta`](crate::schema::ModelMeta)
    /// schema.
    MetadataJson(String),
    /// The file's `format_version` is not one this runtime reads.
    UnsupportedFormatVersion {
        /// The version in the file.
        found: u64,
        /// The version this runtime supports ([`FORMAT_VERSION`](crate::schema::FORMAT_VERSION)).
        supported: u32,
    },
    /// `architecture.data_shape` is empty.
    EmptyDataShape,
    /// An entry of `architecture.data_shape` is 0.
    ZeroDim {
        /// The data shape.
        data_shape: Vec<usize>,
    },
    /// The product of `architecture.data_shape` overflows or exceeds
    /// [`MAX_DIM`](crate::MAX_DIM).
    DimTooLarge {
        /// The data shape.
        data_shape: Vec<usize>,
    },
    /// `architecture.hidden` is empty (the MLP needs at least one hidden layer).
    EmptyHidden,
    /// Too many hidden layers (more than [`MAX_HIDDEN_LAYERS`](crate::MAX_HIDDEN_LAYERS)).
    TooManyLayers {
        /// Number of hidden layers declared.
        count: usize,
    },
    /// A hidden width is 0 or larger than [`MAX_WIDTH`](crate::MAX_WIDTH).
    InvalidWidth {
        /// Index of the hidden layer.
        layer: usize,
        /// Its declared width.
        width: usize,
    },
    /// A Fourier time- or state-embedding frequency is not finite, or there are more than
    /// [`MAX_FREQUENCIES`](crate::MAX_FREQUENCIES), or the state embedding's (1 + 2K)·d
    /// inputs exceed [`MAX_DIM`](crate::MAX_DIM).
    InvalidFrequency {
        /// Index of the offending frequency (or the count, if there are too many).
        index: usize,
        /// Its value (NaN when the problem is the count).
        value: f32,
    },
    /// The base standard deviation `sigma` is not finite or not > 0.
    InvalidSigma(f32),
    /// `normalization.mean` or `normalization.std` has the wrong length.
    NormalizationLength {
        /// `"mean"` or `"std"`.
        field: &'static str,
        /// The model dimension.
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// An entry of `normalization.mean` is not finite.
    InvalidMean {
        /// Index of the entry.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// An entry of `normalization.std` is not finite or not > 0.
    InvalidStd {
        /// Index of the entry.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// A tensor the architecture requires is absent.
    MissingTensor(String),
    /// The file holds a tensor the architecture does not use.
    UnexpectedTensor(String),
    /// A tensor's shape differs from what the architecture requires.
    ShapeMismatch {
        /// The tensor.
        tensor: String,
        /// The shape the architecture requires.
        expected: Vec<usize>,
        /// The shape the file declares.
        got: Vec<u64>,
    },
    /// A weight is NaN or infinite (after conversion to f32).
    NonFiniteWeight {
        /// The tensor.
        tensor: String,
        /// Flat (row-major) index of the first bad element.
        index: usize,
    },
    /// `architecture.kind` names a family this runtime does not know (it knows `mlp` and
    /// `unet`).
    UnknownArchitecture(String),
    /// The file's `format_version` predates its architecture family (e.g. `unet` in a
    /// format-1 file).
    ArchitectureNeedsVersion {
        /// The family.
        kind: String,
        /// The first format version that has it.
        needs: u32,
        /// The file's version.
        found: u32,
    },
    /// The `unet` architecture is inconsistent or beyond the limits.
    InvalidUnet(UnetError),
}

/// What is wrong with a `unet` architecture ([`LoadError::InvalidUnet`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum UnetError {
    /// `data_shape` is not `[C, H, W]` with C in 1..=4, H and W in
    /// 1..=[`MAX_UNET_RESOLUTION`](crate::schema::MAX_UNET_RESOLUTION) and C·H·W within
    /// [`MAX_DIM`](crate::schema::MAX_DIM).
    DataShape {
        /// The declared shape.
        data_shape: Vec<usize>,
    },
    /// `channel_mult` is empty or has more than
    /// [`MAX_UNET_LEVELS`](crate::schema::MAX_UNET_LEVELS) levels.
    Levels {
        /// Its length.
        count: usize,
    },
    /// A level has 0 channels or more than
    /// [`MAX_UNET_CHANNELS`](crate::schema::MAX_UNET_CHANNELS).
    Channels {
        /// The level.
        level: usize,
        /// `c·channel_mult[level]` (saturated on overflow).
        channels: usize,
    },
    /// `blocks` is 0 or more than [`MAX_UNET_BLOCKS`](crate::schema::MAX_UNET_BLOCKS).
    Blocks {
        /// The declared count.
        blocks: usize,
    },
    /// An attention resolution is not the height of any level.
    AttentionResolution {
        /// The resolution.
        resolution: usize,
    },
    /// `heads` is 0 or does not divide the channels where attention is used.
    Heads {
        /// The declared heads.
        heads: usize,
        /// The channel count it must divide (0 when heads is 0).
        channels: usize,
    },
    /// `groups` is 0 or does not divide a normalised channel count.
    Groups {
        /// The declared groups.
        groups: usize,
        /// The channel count it must divide (0 when groups is 0).
        channels: usize,
    },
    /// `norm_eps` is not finite and > 0.
    NormEps(f32),
    /// The time-embedding width is 0 or more than
    /// [`MAX_UNET_EMBED`](crate::schema::MAX_UNET_EMBED).
    EmbedDim {
        /// The declared width.
        dim: usize,
    },
    /// `pixel_range` is not two finite values with lo < hi.
    PixelRange {
        /// Data value of pixel 0.
        lo: f32,
        /// Data value of pixel 255.
        hi: f32,
    },
}

/// Why an evaluation call ([`Model::map`](crate::Model::map), [`Model::velocity`](crate::Model::velocity),
/// [`Model::sample`](crate::Model::sample), [`Model::sample_seeded`](crate::Model::sample_seeded))
/// was rejected. On any error the output buffer is left untouched.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EvalError {
    /// The input length is not a multiple of the model dimension.
    InputLength {
        /// Length of the input slice.
        len: usize,
        /// The model dimension.
        dim: usize,
    },
    /// The output length differs from what the call requires (the input length for
    /// `map`/`velocity`/`sample`; a multiple of dim for `sample_seeded`).
    OutputLength {
        /// Required length (for `sample_seeded`: a multiple of this).
        expected: usize,
        /// Length of the output slice.
        got: usize,
    },
    /// A time argument (`s` or `t`) is NaN or infinite.
    NonFiniteTime {
        /// `"s"` or `"t"`.
        which: &'static str,
        /// The value.
        value: f32,
    },
    /// An input element (state or noise) is NaN or infinite.
    NonFiniteInput {
        /// Flat index of the first bad element.
        index: usize,
    },
    /// The time grid is invalid: `Uniform(0)`, fewer than 2 points, a point that is not
    /// finite or outside [0, 1], or a decreasing step.
    InvalidGrid {
        /// What is wrong.
        reason: &'static str,
    },
    /// The result overflowed to NaN or infinity (the inputs were finite).
    NonFiniteOutput {
        /// Flat index of the first bad element.
        index: usize,
    },
    /// The batch is so large that the workspace size overflows `usize`, or the workspace
    /// could not be grown (allocation failed).
    OutOfMemory {
        /// The batch size requested.
        batch: usize,
    },
    /// [`Model::to_pixels`](crate::Model::to_pixels): the data shape is not `[C, H, W]`
    /// with C in 1..=4.
    NotAnImage,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LoadError::*;
        match self {
            Io(msg) => write!(f, "cannot read model file: {msg}"),
            TruncatedHeader { len } => write!(
                f,
                "file too short: {len} bytes, a safetensors file starts with an 8-byte header length"
            ),
            HeaderTooLong { header_len, available } => write!(
                f,
                "header length {header_len} exceeds the {available} bytes after the length prefix"
            ),
            HeaderNotUtf8 => write!(f, "header is not valid UTF-8"),
            HeaderJson(msg) => write!(f, "header is not valid safetensors JSON: {msg}"),
            DuplicateKey(k) => write!(f, "header key `{k}` occurs more than once"),
            UnsupportedDtype { tensor, dtype } => write!(
                f,
                "tensor `{tensor}` has dtype {dtype}; supported dtypes are F32, F16, BF16"
            ),
            ShapeOverflow { tensor, shape } => {
                write!(f, "tensor `{tensor}`: byte size of shape {shape:?} overflows")
            }
            TensorSizeMismatch { tensor, expected_bytes, got_bytes } => write!(
                f,
                "tensor `{tensor}`: shape and dtype need {expected_bytes} bytes but data_offsets span {got_bytes}"
            ),
            OffsetsOutOfRange { tensor, start, end, data_len } => write!(
                f,
                "tensor `{tensor}`: data_offsets [{start}, {end}] outside the {data_len}-byte data section"
            ),
            OverlappingTensors { tensor, previous } => {
                write!(f, "tensor `{tensor}` overlaps tensor `{previous}` in the data section")
            }
            DataGap { start, end } => write!(
                f,
                "data bytes [{start}, {end}) belong to no tensor (tensors must tile the data section)"
            ),
            MissingMetadata => write!(f, "no `__metadata__` entry with key `flowmap` in the header"),
            MetadataJson(msg) => write!(f, "invalid `flowmap` metadata: {msg}"),
            UnsupportedFormatVersion { found, supported } => write!(
                f,
                "format_version {found} is not supported (this runtime reads version {supported})"
            ),
            EmptyDataShape => write!(f, "architecture.data_shape is empty"),
            ZeroDim { data_shape } => {
                write!(f, "architecture.data_shape {data_shape:?} has a zero entry")
            }
            DimTooLarge { data_shape } => write!(
                f,
                "architecture.data_shape {data_shape:?}: dimension exceeds {}",
                crate::schema::MAX_DIM
            ),
            EmptyHidden => write!(f, "architecture.hidden is empty"),
            TooManyLayers { count } => write!(
                f,
                "{count} hidden layers; at most {} are supported",
                crate::schema::MAX_HIDDEN_LAYERS
            ),
            InvalidWidth { layer, width } => write!(
                f,
                "hidden layer {layer} has width {width}; widths must be in 1..={}",
                crate::schema::MAX_WIDTH
            ),
            InvalidFrequency { index, value } => {
                write!(f, "Fourier frequency {index} is invalid ({value})")
            }
            InvalidSigma(s) => write!(f, "sigma must be finite and > 0, got {s}"),
            NormalizationLength { field, expected, got } => write!(
                f,
                "normalization.{field} has length {got}, expected dim = {expected}"
            ),
            InvalidMean { index, value } => {
                write!(f, "normalization.mean[{index}] = {value} is not finite")
            }
            InvalidStd { index, value } => write!(
                f,
                "normalization.std[{index}] = {value}; must be finite and > 0"
            ),
            MissingTensor(name) => write!(f, "tensor `{name}` is missing"),
            UnexpectedTensor(name) => {
                write!(f, "tensor `{name}` is not part of the declared architecture")
            }
            ShapeMismatch { tensor, expected, got } => write!(
                f,
                "tensor `{tensor}` has shape {got:?}, expected {expected:?}"
            ),
            NonFiniteWeight { tensor, index } => {
                write!(f, "tensor `{tensor}` element {index} is NaN or infinite")
            }
            UnknownArchitecture(kind) => write!(
                f,
                "architecture.kind `{kind}` is unknown (this runtime runs `mlp` and `unet`)"
            ),
            ArchitectureNeedsVersion { kind, needs, found } => write!(
                f,
                "architecture `{kind}` needs format_version {needs} or later, the file says {found}"
            ),
            InvalidUnet(e) => write!(f, "invalid unet architecture: {e}"),
        }
    }
}

impl fmt::Display for UnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use UnetError::*;
        match self {
            DataShape { data_shape } => write!(
                f,
                "data_shape {data_shape:?} is not [C, H, W] with C in 1..=4, H and W in 1..={} and C·H·W <= {}",
                crate::schema::MAX_UNET_RESOLUTION,
                crate::schema::MAX_DIM
            ),
            Levels { count } => write!(
                f,
                "channel_mult has {count} levels; 1..={} are supported",
                crate::schema::MAX_UNET_LEVELS
            ),
            Channels { level, channels } => write!(
                f,
                "level {level} has {channels} channels; 1..={} are supported",
                crate::schema::MAX_UNET_CHANNELS
            ),
            Blocks { blocks } => write!(
                f,
                "blocks = {blocks}; 1..={} are supported",
                crate::schema::MAX_UNET_BLOCKS
            ),
            AttentionResolution { resolution } => write!(
                f,
                "attention at resolution {resolution}, which no level has"
            ),
            Heads { heads, channels } => {
                write!(f, "heads = {heads} must be >= 1 and divide {channels} channels")
            }
            Groups { groups, channels } => {
                write!(f, "groups = {groups} must be >= 1 and divide {channels} channels")
            }
            NormEps(e) => write!(f, "norm_eps = {e} must be finite and > 0"),
            EmbedDim { dim } => write!(
                f,
                "time_embedding.dim = {dim}; 1..={} are supported",
                crate::schema::MAX_UNET_EMBED
            ),
            PixelRange { lo, hi } => {
                write!(f, "pixel_range [{lo}, {hi}] must be finite with lo < hi")
            }
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use EvalError::*;
        match self {
            InputLength { len, dim } => {
                write!(
                    f,
                    "input length {len} is not a multiple of the model dimension {dim}"
                )
            }
            OutputLength { expected, got } => {
                write!(
                    f,
                    "output length {got} does not match the required {expected}"
                )
            }
            NonFiniteTime { which, value } => write!(f, "time {which} = {value} is not finite"),
            NonFiniteInput { index } => write!(f, "input element {index} is NaN or infinite"),
            InvalidGrid { reason } => write!(f, "invalid time grid: {reason}"),
            NonFiniteOutput { index } => {
                write!(f, "output element {index} overflowed to NaN or infinity")
            }
            OutOfMemory { batch } => write!(f, "cannot allocate a workspace for batch {batch}"),
            NotAnImage => write!(
                f,
                "the model's data shape is not an image [C, H, W] with C in 1..=4"
            ),
        }
    }
}

impl core::error::Error for LoadError {}
impl core::error::Error for EvalError {}
impl core::error::Error for UnetError {}
