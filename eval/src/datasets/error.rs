//! The loaders' typed error.

use std::fmt;
use std::path::{Path, PathBuf};

/// Why a data file could not be loaded. Every variant names the file (`<memory>` when parsing
/// bytes directly); line and column numbers are 1-based, row indices 0-based data rows.
#[derive(Debug)]
pub enum DataError {
    /// Neither a built-in data set nor an existing file.
    UnknownSource {
        /// The name given.
        path: PathBuf,
        /// The built-in data sets.
        builtins: Vec<String>,
    },
    /// The file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The extension is not `.npy`, `.csv` or `.safetensors`.
    UnknownExtension {
        /// The file.
        path: PathBuf,
    },
    /// A tensor key was given for a format that has no named tensors.
    KeyNotSupported {
        /// The file.
        path: PathBuf,
        /// The key given.
        key: String,
    },
    /// The file is empty or holds zero data rows.
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A CSV row has a different number of cells than the first row.
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the offending row.
        line: usize,
        /// Number of cells in the first row.
        expected: usize,
        /// Number of cells in this row.
        found: usize,
    },
    /// A CSV cell is not a number.
    NonNumeric {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The cell's text.
        cell: String,
    },
    /// A value is NaN or infinite (also: an f64 value too large for f32). The first one found.
    NonFinite {
        /// The file.
        path: PathBuf,
        /// 0-based data row.
        row: usize,
        /// 0-based index within the row.
        column: usize,
        /// 1-based line number, for text formats.
        line: Option<usize>,
        /// The offending value.
        value: f64,
    },
    /// The element type is not one we read.
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The dtype as the file spells it, with what is supported.
        dtype: String,
    },
    /// A `.npy` array stored in Fortran (column-major) order.
    FortranOrder {
        /// The file.
        path: PathBuf,
    },
    /// The file's structure is broken (bad magic, truncated header, invalid UTF-8, …).
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was wrong and what was expected.
        reason: String,
    },
    /// The array's shape cannot be read as rows (scalar, zero-size rows, size mismatch).
    Shape {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The requested tensor is not in the safetensors file.
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key asked for.
        key: String,
        /// The tensors that are there.
        available: Vec<String>,
    },
    /// A safetensors file holds several tensors and no key said which one to load.
    MultipleTensors {
        /// The file.
        path: PathBuf,
        /// The tensors that are there.
        names: Vec<String>,
    },
}

impl DataError {
    /// The file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            DataError::Io { path, .. }
            | DataError::UnknownSource { path, .. }
            | DataError::UnknownExtension { path }
            | DataError::KeyNotSupported { path, .. }
            | DataError::Empty { path }
            | DataError::Ragged { path, .. }
            | DataError::NonNumeric { path, .. }
            | DataError::NonFinite { path, .. }
            | DataError::UnsupportedDtype { path, .. }
            | DataError::FortranOrder { path }
            | DataError::Malformed { path, .. }
            | DataError::Shape { path, .. }
            | DataError::MissingKey { path, .. }
            | DataError::MultipleTensors { path, .. } => path,
        }
    }

    /// The same error about `new_path` (parsers work on bytes and say `<memory>`; the file
    /// loader then names the real file).
    pub fn with_path(mut self, new_path: &Path) -> DataError {
        let slot = match &mut self {
            DataError::Io { path, .. }
            | DataError::UnknownSource { path, .. }
            | DataError::UnknownExtension { path }
            | DataError::KeyNotSupported { path, .. }
            | DataError::Empty { path }
            | DataError::Ragged { path, .. }
            | DataError::NonNumeric { path, .. }
            | DataError::NonFinite { path, .. }
            | DataError::UnsupportedDtype { path, .. }
            | DataError::FortranOrder { path }
            | DataError::Malformed { path, .. }
            | DataError::Shape { path, .. }
            | DataError::MissingKey { path, .. }
            | DataError::MultipleTensors { path, .. } => path,
        };
        *slot = new_path.to_path_buf();
        self
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path().display();
        match self {
            DataError::Io { source, .. } => write!(f, "{p}: {source}"),
            DataError::UnknownSource { builtins, .. } => write!(
                f,
                "'{p}' is neither a built-in dataset ({}) nor an existing file",
                builtins.join(", ")
            ),
            DataError::UnknownExtension { .. } => write!(
                f,
                "{p}: unknown data file extension (expected .npy, .csv or .safetensors)"
            ),
            DataError::KeyNotSupported { key, .. } => write!(
                f,
                "{p}: a tensor key ({key:?}) only applies to .safetensors files"
            ),
            DataError::Empty { .. } => write!(f, "{p}: no data rows"),
            DataError::Ragged {
                line,
                expected,
                found,
                ..
            } => write!(
                f,
                "{p}: line {line}: expected {expected} cells like the first row, found {found}"
            ),
            DataError::NonNumeric {
                line, column, cell, ..
            } => write!(
                f,
                "{p}: line {line}, column {column}: expected a number, found {cell:?}"
            ),
            DataError::NonFinite {
                row,
                column,
                line,
                value,
                ..
            } => {
                write!(f, "{p}: ")?;
                if let Some(l) = line {
                    write!(f, "line {l}, ")?;
                }
                write!(
                    f,
                    "row {row}, value {column}: {value} is not finite (as f32); \
                     data must be finite"
                )
            }
            DataError::UnsupportedDtype { dtype, .. } => write!(
                f,
                "{p}: unsupported dtype {dtype} (supported: .npy <f4 <f8 <i4 <i8; \
                 safetensors F32 F64 F16 BF16)"
            ),
            DataError::FortranOrder { .. } => write!(
                f,
                "{p}: array is in Fortran order; save it in C order \
                 (numpy.ascontiguousarray) and retry"
            ),
            DataError::Malformed { reason, .. } => write!(f, "{p}: malformed file: {reason}"),
            DataError::Shape { reason, .. } => write!(f, "{p}: bad shape: {reason}"),
            DataError::MissingKey { key, available, .. } => write!(
                f,
                "{p}: no tensor named {key:?} (available: {})",
                available.join(", ")
            ),
            DataError::MultipleTensors { names, .. } => write!(
                f,
                "{p}: {} tensors ({}); pass a key to choose one",
                names.len(),
                names.join(", ")
            ),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DataError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
