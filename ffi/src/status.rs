//! Status codes, the thread-local last-error message, and the panic guard that wraps every
//! entry point.

use std::cell::RefCell;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

use flowmap::{EvalError, LoadError, PoolError};

/// Result of a flowmap call. `FLOWMAP_OK` (0) is success; every other value is an error
/// whose detail is in flowmap_last_error(). The numeric values are part of the ABI: they
/// never change and are never reused for another meaning. New codes may be added.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum flowmap_status {
    /// Success.
    FLOWMAP_OK = 0,
    /// A required pointer argument was NULL.
    FLOWMAP_ERR_NULL_POINTER = 1,
    /// An argument is out of its domain: batch or max_batch 0, a misaligned pointer, a
    /// handle that is not a live flowmap object, a path that is not valid on this platform.
    FLOWMAP_ERR_INVALID_ARGUMENT = 2,
    /// A size computation overflowed (batch * dim does not fit in size_t, or the buffer would
    /// exceed PTRDIFF_MAX bytes).
    FLOWMAP_ERR_SIZE_OVERFLOW = 3,
    /// A caller buffer is too small; the required size was reported through the size
    /// out-parameter.
    FLOWMAP_ERR_BUFFER_TOO_SMALL = 4,
    /// Memory for a workspace could not be allocated.
    FLOWMAP_ERR_OUT_OF_MEMORY = 5,
    /// The model file could not be read.
    FLOWMAP_ERR_IO = 6,
    /// The bytes are not a well-formed flowmap model file (bad safetensors container, missing
    /// or unparsable "flowmap" metadata, unsupported dtype, bad offsets, ...).
    FLOWMAP_ERR_MALFORMED_FILE = 7,
    /// The file's model-format version (or its architecture family) is newer than this
    /// library reads (see flowmap_supported_format_version()).
    FLOWMAP_ERR_UNSUPPORTED_VERSION = 8,
    /// The metadata parsed but describes an invalid model (empty or zero data shape, bad
    /// widths, sigma, normalisation, time embedding, ...).
    FLOWMAP_ERR_INVALID_MODEL = 9,
    /// The weight tensors do not match the declared architecture (missing, unexpected, or
    /// wrongly shaped tensors).
    FLOWMAP_ERR_SHAPE_MISMATCH = 10,
    /// A value is NaN or infinite: a weight in the file, a time argument, or an element of the
    /// caller's input (state or noise).
    FLOWMAP_ERR_NON_FINITE = 11,
    /// The result overflowed to NaN or infinity although every input was finite.
    FLOWMAP_ERR_NON_FINITE_OUTPUT = 12,
    /// The time grid is invalid: 0 steps, fewer than 2 points, a point that is not finite or
    /// outside [0, 1], or a decreasing step.
    FLOWMAP_ERR_INVALID_GRID = 13,
    /// An internal error (a Rust panic) was caught at the boundary. Please report it.
    FLOWMAP_ERR_PANIC = 14,
    /// The runtime reported an error this version of the C layer does not classify.
    FLOWMAP_ERR_UNKNOWN = 15,
}

use flowmap_status::*;

/// Every status with its name, in numeric order (index == value).
pub(crate) const ALL_STATUSES: [(flowmap_status, &str); 16] = [
    (FLOWMAP_OK, "FLOWMAP_OK\0"),
    (FLOWMAP_ERR_NULL_POINTER, "FLOWMAP_ERR_NULL_POINTER\0"),
    (
        FLOWMAP_ERR_INVALID_ARGUMENT,
        "FLOWMAP_ERR_INVALID_ARGUMENT\0",
    ),
    (FLOWMAP_ERR_SIZE_OVERFLOW, "FLOWMAP_ERR_SIZE_OVERFLOW\0"),
    (
        FLOWMAP_ERR_BUFFER_TOO_SMALL,
        "FLOWMAP_ERR_BUFFER_TOO_SMALL\0",
    ),
    (FLOWMAP_ERR_OUT_OF_MEMORY, "FLOWMAP_ERR_OUT_OF_MEMORY\0"),
    (FLOWMAP_ERR_IO, "FLOWMAP_ERR_IO\0"),
    (FLOWMAP_ERR_MALFORMED_FILE, "FLOWMAP_ERR_MALFORMED_FILE\0"),
    (
        FLOWMAP_ERR_UNSUPPORTED_VERSION,
        "FLOWMAP_ERR_UNSUPPORTED_VERSION\0",
    ),
    (FLOWMAP_ERR_INVALID_MODEL, "FLOWMAP_ERR_INVALID_MODEL\0"),
    (FLOWMAP_ERR_SHAPE_MISMATCH, "FLOWMAP_ERR_SHAPE_MISMATCH\0"),
    (FLOWMAP_ERR_NON_FINITE, "FLOWMAP_ERR_NON_FINITE\0"),
    (
        FLOWMAP_ERR_NON_FINITE_OUTPUT,
        "FLOWMAP_ERR_NON_FINITE_OUTPUT\0",
    ),
    (FLOWMAP_ERR_INVALID_GRID, "FLOWMAP_ERR_INVALID_GRID\0"),
    (FLOWMAP_ERR_PANIC, "FLOWMAP_ERR_PANIC\0"),
    (FLOWMAP_ERR_UNKNOWN, "FLOWMAP_ERR_UNKNOWN\0"),
];

/// Name of a status value as a NUL-terminated static string ("FLOWMAP_OK", ...), or
/// "FLOWMAP_STATUS_UNRECOGNIZED" for a value this library does not define.
pub(crate) fn status_name(status: i32) -> &'static str {
    usize::try_from(status)
        .ok()
        .and_then(|i| ALL_STATUSES.get(i))
        .map_or("FLOWMAP_STATUS_UNRECOGNIZED\0", |(_, name)| name)
}

/// A failed call: the status to return and the message for flowmap_last_error().
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) status: flowmap_status,
    pub(crate) message: String,
}

impl Error {
    pub(crate) fn new(status: flowmap_status, message: impl Display) -> Error {
        Error {
            status,
            message: message.to_string(),
        }
    }

    pub(crate) fn null(what: &str) -> Error {
        Error::new(FLOWMAP_ERR_NULL_POINTER, format_args!("`{what}` is NULL"))
    }

    pub(crate) fn invalid(message: impl Display) -> Error {
        Error::new(FLOWMAP_ERR_INVALID_ARGUMENT, message)
    }

    pub(crate) fn overflow(message: impl Display) -> Error {
        Error::new(FLOWMAP_ERR_SIZE_OVERFLOW, message)
    }
}

/// The status a load error maps to.
pub(crate) fn load_status(e: &LoadError) -> flowmap_status {
    use LoadError::*;
    match e {
        Io(_) => FLOWMAP_ERR_IO,
        TruncatedHeader { .. }
        | HeaderTooLong { .. }
        | HeaderNotUtf8
        | HeaderJson(_)
        | DuplicateKey(_)
        | UnsupportedDtype { .. }
        | ShapeOverflow { .. }
        | TensorSizeMismatch { .. }
        | OffsetsOutOfRange { .. }
        | OverlappingTensors { .. }
        | DataGap { .. }
        | MissingMetadata
        | MetadataJson(_) => FLOWMAP_ERR_MALFORMED_FILE,
        // An unknown family is what a newer writer's file looks like.
        UnsupportedFormatVersion { .. } | UnknownArchitecture(_) => FLOWMAP_ERR_UNSUPPORTED_VERSION,
        ArchitectureNeedsVersion { .. }
        | InvalidUnet(_)
        | EmptyDataShape
        | ZeroDim { .. }
        | DimTooLarge { .. }
        | EmptyHidden
        | TooManyLayers { .. }
        | InvalidWidth { .. }
        | InvalidFrequency { .. }
        | InvalidSigma(_)
        | NormalizationLength { .. }
        | InvalidMean { .. }
        | InvalidStd { .. } => FLOWMAP_ERR_INVALID_MODEL,
        MissingTensor(_) | UnexpectedTensor(_) | ShapeMismatch { .. } => FLOWMAP_ERR_SHAPE_MISMATCH,
        NonFiniteWeight { .. } => FLOWMAP_ERR_NON_FINITE,
        _ => FLOWMAP_ERR_UNKNOWN,
    }
}

/// The status an evaluation error maps to.
pub(crate) fn eval_status(e: &EvalError) -> flowmap_status {
    use EvalError::*;
    match e {
        // The C layer computes every length from batch and dim, so these mean a bug here.
        InputLength { .. } | OutputLength { .. } => FLOWMAP_ERR_INVALID_ARGUMENT,
        NonFiniteTime { .. } | NonFiniteInput { .. } => FLOWMAP_ERR_NON_FINITE,
        InvalidGrid { .. } => FLOWMAP_ERR_INVALID_GRID,
        NonFiniteOutput { .. } => FLOWMAP_ERR_NON_FINITE_OUTPUT,
        OutOfMemory { .. } => FLOWMAP_ERR_OUT_OF_MEMORY,
        NotAnImage => FLOWMAP_ERR_INVALID_ARGUMENT,
        _ => FLOWMAP_ERR_UNKNOWN,
    }
}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Error {
        Error::new(load_status(&e), e)
    }
}

impl From<EvalError> for Error {
    fn from(e: EvalError) -> Error {
        Error::new(eval_status(&e), e)
    }
}

impl From<PoolError> for Error {
    fn from(e: PoolError) -> Error {
        let status = match e {
            PoolError::ZeroThreads | PoolError::TooManyThreads { .. } => {
                FLOWMAP_ERR_INVALID_ARGUMENT
            }
            // The system is out of threads or memory for their stacks.
            PoolError::Spawn(_) => FLOWMAP_ERR_OUT_OF_MEMORY,
            _ => FLOWMAP_ERR_UNKNOWN,
        };
        Error::new(status, e)
    }
}

thread_local! {
    /// The last error message of this thread, NUL-terminated (a lone NUL when there is none).
    /// Cleared in place so that its allocation is reused.
    static LAST_ERROR: RefCell<Vec<u8>> = RefCell::new(vec![0]);
}

fn set_last_error(message: &str) {
    // try_with: during thread teardown the slot may be gone; the message is then dropped.
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            buf.clear();
            // A C string cannot hold interior NULs.
            buf.extend(message.bytes().map(|b| if b == 0 { b'?' } else { b }));
            buf.push(0);
        }
    });
}

fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut buf) = cell.try_borrow_mut() {
            if buf.len() != 1 {
                buf.clear();
                buf.push(0);
            }
        }
    });
}

/// Runs `f` with the last error message (NUL-terminated bytes) of this thread.
pub(crate) fn with_last_error<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    let mut f = Some(f);
    let r = LAST_ERROR.try_with(|cell| {
        let buf = cell.try_borrow().ok()?;
        f.take().map(|f| f(&buf))
    });
    match (r, f) {
        (Ok(Some(r)), _) => r,
        (_, Some(f)) => f(b"\0"),
        // Unreachable: `f` is only taken together with producing a result.
        (_, None) => unreachable!("last-error callback consumed without a result"),
    }
}

/// Pointer to this thread's last error message. It stays valid until the thread's next call
/// that sets or clears the message (the buffer is only modified there) or the thread exits.
pub(crate) fn last_error_ptr() -> *const u8 {
    static EMPTY: [u8; 1] = [0];
    LAST_ERROR
        .try_with(|cell| match cell.try_borrow() {
            Ok(buf) => buf.as_ptr(),
            Err(_) => EMPTY.as_ptr(),
        })
        .unwrap_or(EMPTY.as_ptr())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "unknown panic payload"
    };
    format!("internal error (panic) in libflowmap: {what}")
}

/// Runs an entry point's body: converts its result into a status, records the last error
/// (cleared on success), and stops any panic at the boundary.
pub(crate) fn guard(f: impl FnOnce() -> Result<(), Error>) -> flowmap_status {
    guard_value(FLOWMAP_ERR_PANIC, || f().map(|()| FLOWMAP_OK), |e| e.status)
}

/// Like [`guard`] for entry points that return a value: `panic_value` is returned when a
/// panic is caught, `on_error` gives the value returned on an error.
pub(crate) fn guard_value<T>(
    panic_value: T,
    f: impl FnOnce() -> Result<T, Error>,
    on_error: impl FnOnce(&Error) -> T,
) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => {
            clear_last_error();
            value
        }
        Ok(Err(e)) => {
            set_last_error(&e.message);
            on_error(&e)
        }
        Err(payload) => {
            // Formatting the message may itself panic (a payload's Drop); stop that too.
            let message = catch_unwind(AssertUnwindSafe(|| panic_message(&*payload)))
                .unwrap_or_else(|_| "internal error (panic) in libflowmap".to_string());
            set_last_error(&message);
            // Dropping the payload can panic as well; never let that unwind into C.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            panic_value
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last() -> String {
        with_last_error(|b| String::from_utf8_lossy(&b[..b.len() - 1]).into_owned())
    }

    #[test]
    fn status_values_are_their_index() {
        for (i, (status, name)) in ALL_STATUSES.iter().enumerate() {
            assert_eq!(*status as i32, i as i32, "{name}");
            assert!(name.ends_with('\0') && name.starts_with("FLOWMAP_"));
            assert_eq!(status_name(i as i32), *name);
        }
        assert_eq!(status_name(-1), "FLOWMAP_STATUS_UNRECOGNIZED\0");
        assert_eq!(
            status_name(ALL_STATUSES.len() as i32),
            "FLOWMAP_STATUS_UNRECOGNIZED\0"
        );
    }

    #[test]
    fn guard_catches_panics_and_records_messages() {
        let s = guard(|| panic!("boom {}", 42));
        assert_eq!(s, FLOWMAP_ERR_PANIC);
        assert!(last().contains("boom 42"), "{}", last());

        let s = guard(|| std::panic::panic_any(7u8));
        assert_eq!(s, FLOWMAP_ERR_PANIC);
        assert!(last().contains("unknown panic payload"));

        let s = guard(|| Err(Error::invalid("bad\0thing")));
        assert_eq!(s, FLOWMAP_ERR_INVALID_ARGUMENT);
        assert_eq!(last(), "bad?thing");

        assert_eq!(guard(|| Ok(())), FLOWMAP_OK);
        assert_eq!(last(), "");

        let v = guard_value(usize::MAX, || panic!("x"), |_| 0);
        assert_eq!(v, usize::MAX);
        let v = guard_value(usize::MAX, || Err(Error::null("p")), |_| 0);
        assert_eq!(v, 0);
        assert_eq!(last(), "`p` is NULL");
    }

    #[test]
    fn last_error_is_per_thread() {
        let _ = guard(|| Err(Error::invalid("main thread")));
        std::thread::spawn(|| assert_eq!(last(), ""))
            .join()
            .unwrap();
        assert_eq!(last(), "main thread");
    }
}
