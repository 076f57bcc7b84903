//! C ABI for flowmap: `libflowmap.so` / `libflowmap.a` with the header `include/flowmap.h`
//! (generated from this crate by cbindgen; see `cbindgen.toml`).
//!
//! A thin layer over the `flowmap` runtime crate: opaque handles for a model and a workspace,
//! status codes with a thread-local error message, and no panic across the boundary. All
//! pointer-to-reference conversions are in [`ptr`]; every entry point that can fail runs
//! inside [`status::guard`] (or its own `catch_unwind`). The four that cannot panic by
//! construction (a constant, a table lookup, the thread-local pointer read through
//! `try_with`/`try_borrow`) need no guard.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod ptr;
mod status;

use std::ffi::c_char;

use flowmap::schema::LATEST_FORMAT_VERSION;
use flowmap::{Grid, Model, Pool, Workspace};

pub use status::flowmap_status;
use status::{flowmap_status::*, guard, guard_value, Error};

/// A loaded model (opaque). Immutable once loaded: a `const flowmap_model *` may be used by
/// any number of threads at the same time. Create with flowmap_model_load() or
/// flowmap_model_load_bytes(), release with flowmap_model_free().
#[allow(non_camel_case_types)]
pub struct flowmap_model {
    magic: u64,
    model: Model,
    /// The metadata as JSON, serialised once at load time.
    meta_json: Box<str>,
}

/// Scratch memory for evaluating a model (opaque). Not thread-safe: one workspace per
/// thread. Create with flowmap_workspace_new(), release with flowmap_workspace_free().
#[allow(non_camel_case_types)]
pub struct flowmap_workspace {
    magic: u64,
    ws: Workspace,
    /// Output buffer for in-place calls (input and output overlap); empty until needed.
    scratch: Vec<f32>,
}

/// A pool of threads that splits one batch over several cores (opaque). Create with
/// flowmap_pool_new(), release with flowmap_pool_free(). Like a workspace, a pool is used by
/// one thread at a time (it may be moved between threads); it holds each of its threads'
/// scratch memory and is not tied to one model.
#[allow(non_camel_case_types)]
pub struct flowmap_pool {
    magic: u64,
    pool: Pool,
}

// The header promises that one model may be shared between threads, and a workspace and a
// pool moved.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    const fn sendable<T: Send>() {}
    shareable::<flowmap_model>();
    sendable::<flowmap_workspace>();
    sendable::<flowmap_pool>();
};

const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version as a static NUL-terminated string, "MAJOR.MINOR.PATCH". Compare it
/// with FLOWMAP_VERSION_STRING to detect a header/library mismatch at run time.
#[no_mangle]
pub extern "C" fn flowmap_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// The newest model-format version this library reads (it reads every version from 1 up to
/// this one: 1 = MLP files, 2 = also U-Nets; files of any other version are rejected with
/// FLOWMAP_ERR_UNSUPPORTED_VERSION).
#[no_mangle]
pub extern "C" fn flowmap_supported_format_version() -> u32 {
    LATEST_FORMAT_VERSION
}

/// The name of a status value as a static NUL-terminated string ("FLOWMAP_OK",
/// "FLOWMAP_ERR_NULL_POINTER", ...); "FLOWMAP_STATUS_UNRECOGNIZED" for a value this library
/// does not define. Never returns NULL.
#[no_mangle]
pub extern "C" fn flowmap_status_name(status: i32) -> *const c_char {
    status::status_name(status).as_ptr().cast()
}

/// The detail message of the last failed call on this thread, as a NUL-terminated UTF-8
/// string; "" when the last call succeeded. Never returns NULL.
///
/// Every function that returns a flowmap_status (and flowmap_model_dim(),
/// flowmap_model_format_version()) sets this message when it fails and clears it when it
/// succeeds. The pointer stays valid until the next such call on the same thread, or until
/// the thread exits; copy the text (or use flowmap_last_error_copy()) to keep it longer.
#[no_mangle]
pub extern "C" fn flowmap_last_error() -> *const c_char {
    status::last_error_ptr().cast()
}

/// Copies this thread's last error message into `buf` (capacity `capacity` bytes, including
/// the terminating NUL), truncating if needed; the copy is always NUL-terminated when
/// `capacity` > 0. Returns the full length of the message (excluding the NUL), like
/// snprintf: the copy was complete when the result is < `capacity`. `buf` may be NULL when
/// `capacity` is 0 (a size query); a NULL `buf` is never written. Does not change the last
/// error.
///
/// # Safety
/// `buf` is NULL or valid for writes of `capacity` bytes.
#[no_mangle]
pub unsafe extern "C" fn flowmap_last_error_copy(buf: *mut c_char, capacity: usize) -> usize {
    let copy = |msg: &[u8]| -> usize {
        let len = msg.len() - 1; // without the NUL
        if capacity == 0 {
            return len;
        }
        // SAFETY: valid for `capacity` byte writes by the contract; checked for NULL and
        // size inside `slice_mut` (an error then leaves `buf` alone).
        if let Ok(out) = unsafe { ptr::slice_mut(buf.cast::<u8>(), capacity, "buf") } {
            let n = len.min(capacity - 1);
            out[..n].copy_from_slice(&msg[..n]);
            out[n] = 0;
        }
        len
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        status::with_last_error(copy)
    }))
    .unwrap_or(0)
}

fn new_model(model: Model) -> Result<*mut flowmap_model, Error> {
    let meta_json = serde_json::to_string(model.meta())
        .map_err(|e| Error::new(FLOWMAP_ERR_UNKNOWN, format_args!("metadata to JSON: {e}")))?;
    Ok(ptr::into_raw(flowmap_model {
        magic: <flowmap_model as ptr::Handle>::MAGIC,
        model,
        meta_json: meta_json.into_boxed_str(),
    }))
}

/// Loads a model from a file (a safetensors file written by flowmap-train). The whole file is
/// validated before it is accepted. On success stores a new model in `*out_model`; on
/// failure `*out_model` is left unchanged.
///
/// Errors: FLOWMAP_ERR_NULL_POINTER, FLOWMAP_ERR_IO, FLOWMAP_ERR_MALFORMED_FILE,
/// FLOWMAP_ERR_UNSUPPORTED_VERSION, FLOWMAP_ERR_INVALID_MODEL, FLOWMAP_ERR_SHAPE_MISMATCH,
/// FLOWMAP_ERR_NON_FINITE (a weight is NaN or infinite).
///
/// # Safety
/// `path` is NULL or a NUL-terminated path; `out_model` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn flowmap_model_load(
    path: *const c_char,
    out_model: *mut *mut flowmap_model,
) -> flowmap_status {
    guard(|| {
        // SAFETY: both pointers satisfy the helpers' contracts by this function's contract.
        let (path, out) = unsafe {
            (
                ptr::c_str(path, "path")?,
                ptr::out_ref(out_model, "out_model")?,
            )
        };
        let model = Model::from_file(path_from_c(path)?)?;
        *out = new_model(model)?;
        Ok(())
    })
}

#[cfg(unix)]
fn path_from_c(path: &std::ffi::CStr) -> Result<&std::path::Path, Error> {
    use std::os::unix::ffi::OsStrExt;
    Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(
        path.to_bytes(),
    )))
}

#[cfg(not(unix))]
fn path_from_c(path: &std::ffi::CStr) -> Result<&std::path::Path, Error> {
    path.to_str()
        .map(std::path::Path::new)
        .map_err(|_| Error::invalid("`path` is not valid UTF-8"))
}

/// Loads a model from `len` bytes in memory (the contents of a model file). The bytes are
/// copied as needed: the buffer may be freed as soon as this returns. On success stores a
/// new model in `*out_model`; on failure `*out_model` is left unchanged.
///
/// Errors: as flowmap_model_load(), without FLOWMAP_ERR_IO.
///
/// # Safety
/// `data` is NULL or valid for reads of `len` bytes; `out_model` is NULL or valid for one
/// write.
#[no_mangle]
pub unsafe extern "C" fn flowmap_model_load_bytes(
    data: *const u8,
    len: usize,
    out_model: *mut *mut flowmap_model,
) -> flowmap_status {
    guard(|| {
        // SAFETY: both pointers satisfy the helpers' contracts by this function's contract.
        let (bytes, out) = unsafe {
            (
                ptr::slice(data, len, "data")?,
                ptr::out_ref(out_model, "out_model")?,
            )
        };
        let model = Model::from_bytes(bytes)?;
        *out = new_model(model)?;
        Ok(())
    })
}

/// Releases a model. NULL is ignored. Workspaces are independent objects: free them with
/// flowmap_workspace_free(), before or after their model.
///
/// # Safety
/// `model` is NULL or a model from flowmap_model_load*() not freed yet, which no other thread
/// uses any more.
#[no_mangle]
pub unsafe extern "C" fn flowmap_model_free(model: *mut flowmap_model) {
    // SAFETY: the contract of `ptr::free` is this function's contract.
    let _ = std::panic::catch_unwind(|| unsafe { ptr::free(model) });
}

/// Borrows the model behind `model`.
///
/// # Safety
/// `model` is NULL or a live model.
unsafe fn model_ref<'a>(model: *const flowmap_model) -> Result<&'a flowmap_model, Error> {
    // SAFETY: forwarded contract; models are never mutated after loading.
    unsafe { ptr::handle_ref(model, "model") }
}

/// The number of floats in one data point (the product of the data shape); 0 if `model` is
/// NULL (then flowmap_last_error() says so).
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn flowmap_model_dim(model: *const flowmap_model) -> usize {
    // SAFETY: forwarded contract.
    guard_value(0, || Ok(unsafe { model_ref(model)? }.model.dim()), |_| 0)
}

/// The model-format version of the file the model was loaded from; 0 if `model` is NULL.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn flowmap_model_format_version(model: *const flowmap_model) -> u32 {
    // SAFETY: forwarded contract.
    guard_value(
        0,
        || Ok(unsafe { model_ref(model)? }.model.format_version()),
        |_| 0,
    )
}

/// The shape of one data point, e.g. {2} or {1, 8, 8}. Stores the rank in `*rank` and, when
/// it fits (`capacity` >= rank), the dimensions in `dims[0..rank]`.
///
/// A size query passes `dims` = NULL and `capacity` = 0: returns FLOWMAP_OK with `*rank` set.
/// Otherwise, if `capacity` < rank, returns FLOWMAP_ERR_BUFFER_TOO_SMALL with `*rank` set and
/// `dims` untouched.
///
/// # Safety
/// `model` is NULL or a live model; `dims` is NULL or valid for `capacity` writes; `rank` is
/// NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn flowmap_model_data_shape(
    model: *const flowmap_model,
    dims: *mut usize,
    capacity: usize,
    rank: *mut usize,
) -> flowmap_status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (m, rank) = unsafe { (model_ref(model)?, ptr::out_ref(rank, "rank")?) };
        let shape = m.model.data_shape();
        if dims.is_null() && capacity == 0 {
            *rank = shape.len();
            return Ok(());
        }
        // SAFETY: forwarded contract.
        let dims = unsafe { ptr::slice_mut(dims, capacity, "dims")? };
        *rank = shape.len();
        if capacity < shape.len() {
            return Err(Error::new(
                FLOWMAP_ERR_BUFFER_TOO_SMALL,
                format_args!(
                    "data shape has rank {}, `dims` holds {capacity}",
                    shape.len()
                ),
            ));
        }
        dims[..shape.len()].copy_from_slice(shape);
        Ok(())
    })
}

/// The model's metadata (architecture, interpolant, sigma, normalisation, provenance) as a
/// JSON object, NUL-terminated UTF-8. Stores the JSON length (without the NUL) in `*len` and,
/// when it fits (`capacity` >= length + 1), the text in `buf`.
///
/// A size query passes `buf` = NULL and `capacity` = 0: returns FLOWMAP_OK with `*len` set.
/// Otherwise, if the text does not fit, returns FLOWMAP_ERR_BUFFER_TOO_SMALL with `*len` set
/// and `buf` untouched.
///
/// # Safety
/// `model` is NULL or a live model; `buf` is NULL or valid for `capacity` writes; `len` is
/// NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn flowmap_model_metadata_json(
    model: *const flowmap_model,
    buf: *mut c_char,
    capacity: usize,
    len: *mut usize,
) -> flowmap_status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (m, len) = unsafe { (model_ref(model)?, ptr::out_ref(len, "len")?) };
        let json = m.meta_json.as_bytes();
        if buf.is_null() && capacity == 0 {
            *len = json.len();
            return Ok(());
        }
        // SAFETY: forwarded contract.
        let buf = unsafe { ptr::slice_mut(buf.cast::<u8>(), capacity, "buf")? };
        *len = json.len();
        if capacity <= json.len() {
            return Err(Error::new(
                FLOWMAP_ERR_BUFFER_TOO_SMALL,
                format_args!(
                    "metadata JSON needs {} bytes, `buf` holds {capacity}",
                    json.len() + 1
                ),
            ));
        }
        buf[..json.len()].copy_from_slice(json);
        buf[json.len()] = 0;
        Ok(())
    })
}

/// Converts `batch` samples in data space (`[C, H, W]` each, row-major, as the sampling
/// functions write them) to 8-bit pixels, interleaved per pixel (row-major `[H, W, C]`: grey,
/// grey + alpha, RGB or RGBA — ready for an image writer or a texture upload), into `pixels`
/// (`pixels_len` = batch * dim bytes).
///
/// A value v becomes floor(255 * clamp((v - lo) / (hi - lo), 0, 1) + 0.5), where [lo, hi] is
/// the model's pixel range: the file's `pixel_range` (format-2 U-Nets may declare one), else
/// [0, 1]. Does not allocate; `pixels` is untouched on error.
///
/// Errors: FLOWMAP_ERR_NULL_POINTER, FLOWMAP_ERR_INVALID_ARGUMENT (batch 0, or the data shape
/// is not [C, H, W] with C in 1..=4), FLOWMAP_ERR_SIZE_OVERFLOW,
/// FLOWMAP_ERR_BUFFER_TOO_SMALL (pixels_len != batch * dim), FLOWMAP_ERR_NON_FINITE.
///
/// # Safety
/// `model` is NULL or a live model; `data` is NULL or valid for batch * dim reads; `pixels`
/// is NULL or valid for `pixels_len` writes.
#[no_mangle]
pub unsafe extern "C" fn flowmap_model_to_pixels(
    model: *const flowmap_model,
    data: *const f32,
    batch: usize,
    pixels: *mut u8,
    pixels_len: usize,
) -> flowmap_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let m = unsafe { model_ref(model)? };
        let n = elements(m, batch, "batch")?;
        if pixels_len != n {
            return Err(Error::new(
                FLOWMAP_ERR_BUFFER_TOO_SMALL,
                format_args!("`pixels` must hold batch × dim = {n} bytes, got {pixels_len}"),
            ));
        }
        // SAFETY: forwarded contracts (lengths as documented).
        let (data, pixels) = unsafe {
            (
                ptr::slice(data, n, "data")?,
                ptr::slice_mut(pixels, n, "pixels")?,
            )
        };
        Ok(m.model.to_pixels(data, pixels)?)
    })
}

/// batch * dim, checked: batch must be > 0 and the product must fit.
fn elements(model: &flowmap_model, batch: usize, what: &str) -> Result<usize, Error> {
    if batch == 0 {
        return Err(Error::invalid(format_args!("`{what}` must be > 0")));
    }
    let dim = model.model.dim();
    batch
        .checked_mul(dim)
        .filter(|&n| n <= isize::MAX as usize / std::mem::size_of::<f32>())
        .ok_or_else(|| Error::overflow(format_args!("{what} {batch} × dim {dim} overflows")))
}

/// Creates a workspace sized for evaluating `model` on batches of up to `max_batch` points
/// without allocating. Larger batches still work (the workspace grows on first use, and
/// never shrinks). On success stores it in `*out_workspace`; on failure leaves it unchanged.
///
/// A workspace is used by one thread at a time (one per thread). It is not tied to `model`
/// (it grows to fit whichever model uses it) and does not keep it alive: free it before or
/// after the model.
///
/// Errors: FLOWMAP_ERR_NULL_POINTER, FLOWMAP_ERR_INVALID_ARGUMENT (max_batch 0),
/// FLOWMAP_ERR_SIZE_OVERFLOW.
///
/// # Safety
/// `model` is NULL or a live model; `out_workspace` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn flowmap_workspace_new(
    model: *const flowmap_model,
    max_batch: usize,
    out_workspace: *mut *mut flowmap_workspace,
) -> flowmap_status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (m, out) = unsafe {
            (
                model_ref(model)?,
                ptr::out_ref(out_workspace, "out_workspace")?,
            )
        };
        elements(m, max_batch, "max_batch")?;
        *out = ptr::into_raw(flowmap_workspace {
            magic: <flowmap_workspace as ptr::Handle>::MAGIC,
            ws: m.model.workspace(max_batch),
            scratch: Vec::new(),
        });
        Ok(())
    })
}

/// Releases a workspace. NULL is ignored.
///
/// # Safety
/// `workspace` is NULL or a workspace from flowmap_workspace_new() not freed yet, which no
/// other thread uses any more.
#[no_mangle]
pub unsafe extern "C" fn flowmap_workspace_free(workspace: *mut flowmap_workspace) {
    // SAFETY: the contract of `ptr::free` is this function's contract.
    let _ = std::panic::catch_unwind(|| unsafe { ptr::free(workspace) });
}

/// Borrows the model and the workspace of an evaluation call.
///
/// # Safety
/// `model` is NULL or a live model; `workspace` is NULL or a live workspace that no other
/// thread uses during the call.
unsafe fn eval_handles<'a>(
    model: *const flowmap_model,
    workspace: *mut flowmap_workspace,
) -> Result<(&'a flowmap_model, &'a mut flowmap_workspace), Error> {
    // SAFETY: forwarded contracts.
    unsafe { Ok((model_ref(model)?, ptr::handle_mut(workspace, "workspace")?)) }
}

/// Applies the flow map: out = X_{s,t}(x) for each of the `batch` points in `x`. With s < t
/// this transports points from time s to time t (t = 1 is data, t = 0 is noise).
///
/// `x` and `out` hold batch * dim floats (data space, row-major). They may be the same
/// buffer (in-place), or overlap.
///
/// Errors: FLOWMAP_ERR_NULL_POINTER, FLOWMAP_ERR_INVALID_ARGUMENT (batch 0),
/// FLOWMAP_ERR_SIZE_OVERFLOW, FLOWMAP_ERR_NON_FINITE (s, t or an input is NaN/inf),
/// FLOWMAP_ERR_NON_FINITE_OUTPUT, FLOWMAP_ERR_OUT_OF_MEMORY.
///
/// # Safety
/// `model` is NULL or a live model; `workspace` is NULL or a live workspace, used by no
/// other thread during the call; `x` is NULL or valid for reads of
/// batch * dim floats; `out` is NULL or valid for writes of batch * dim floats.
#[no_mangle]
pub unsafe extern "C" fn flowmap_map(
    model: *const flowmap_model,
    workspace: *mut flowmap_workspace,
    s: f32,
    t: f32,
    x: *const f32,
    batch: usize,
    out: *mut f32,
) -> flowmap_status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (m, ws) = unsafe { eval_handles(model, workspace)? };
        let n = elements(m, batch, "batch")?;
        // SAFETY: forwarded contracts; lengths are batch * dim as the contract states.
        unsafe {
            ptr::eval_in_out(ws, x, n, "x", out, n, |ws, x, y| {
                m.model.map(ws, s, t, x, y)
            })
        }
    })
}

/// Evaluates the velocity of the flow: out = b_t(x) = v_{t,t}(x) for each of the `batch`
/// points in `x` (the tangent of the flow map at s = t).
///
/// Buffers, errors and safety as for flowmap_map().
///
/// # Safety
/// As flowmap_map().
#[no_mangle]
pub unsafe extern "C" fn flowmap_velocity(
    model: *const flowmap_model,
    workspace: *mut flowmap_workspace,
    t: f32,
    x: *const f32,
    batch: usize,
    out: *mut f32,
) -> flowmap_status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (m, ws) = unsafe { eval_handles(model, workspace)? };
        let n = elements(m, batch, "batch")?;
        // SAFETY: forwarded contracts; lengths are batch * dim as the contract states.
        unsafe {
            ptr::eval_in_out(ws, x, n, "x", out, n, |ws, x, y| {
                m.model.velocity(ws, t, x, y)
            })
        }
    })
}

/// Shared body of the sampling functions that take the caller's noise.
///
/// # Safety
/// As flowmap_sample().
unsafe fn sample_noise(
    model: *const flowmap_model,
    workspace: *mut flowmap_workspace,
    grid: Grid<'_>,
    noise: *const f32,
    batch: usize,
    out: *mut f32,
) -> Result<(), Error> {
    // SAFETY: forwarded contracts.
    let (m, ws) = unsafe { eval_handles(model, workspace)? };
    let n = elements(m, batch, "batch")?;
    // SAFETY: forwarded contracts; lengths are batch * dim as the contract states.
    unsafe {
        ptr::eval_in_out(ws, noise, n, "noise", out, n, |ws, z, y| {
            m.model.sample(ws, z, grid, y)
        })
    }
}

/// Shared body of the seeded sampling functions.
///
/// # Safety
/// As flowmap_sample_seeded().
unsafe fn sample_seed(
    model: *const flowmap_model,
    workspace: *mut flowmap_workspace,
    grid: Grid<'_>,
    seed: u64,
    batch: usize,
    out: *mut f32,
) -> Result<(), Error> {
    // SAFETY: forwarded contracts.
    let (m, ws) = unsafe { eval_handles(model, workspace)? };
    let n = elements(m, batch, "batch")?;
    // SAFETY: forwarded contract; the length is batch * dim as the contract states.
    let y = unsafe { ptr::slice_mut(out, n, "out")? };
    Ok(m.model.sample_seeded(&mut ws.ws, seed, grid, y)?)
}

/// Borrows a custom time grid.
///
/// # Safety
/// `grid` is NULL or valid for reads of `grid_len` floats.
unsafe fn grid_ref<'a>(grid: *const f32, grid_len: usize) -> Result<Grid<'a>, Error> {
    // SAFETY: forwarded contract.
    Ok(Grid::Custom(unsafe { ptr::slice(grid, grid_len, "grid")? }))
}

/// Generates `batch` samples from the caller's standard-normal `noise` in `steps` steps of
/// the flow map on the uniform grid t_k = k / steps (1 or 2 steps are typical for a flow-map
/// model). The base scale sigma and the normalisation are applied inside: pass N(0, I) noise.
///
/// `noise` and `out` hold batch * dim floats; they may be the same buffer.
///
/// Errors: as flowmap_map(), plus FLOWMAP_ERR_INVALID_GRID (steps 0).
///
/// # Safety
/// `model` is NULL or a live model; `workspace` is NULL or a live workspace, used by no
/// other thread during the call; `noise` is NULL or valid for reads
/// of batch * dim floats; `out` is NULL or valid for writes of batch * dim floats.
#[no_mangle]
pub unsafe extern "C" fn flowmap_sample(
    model: *const flowmap_model,
    workspace: *mut flowmap_workspace,
    steps: usize,
    noise: *const f32,
    batch: usize,
    out: *mut f32,
) -> flowmap_status {
    // SAFETY: forwarded contracts.
    guard(|| unsafe { sample_noise(model, workspace, Grid::Uniform(steps), noise, batch, out) })
}

/// Like flowmap_sample() on a custom time grid: `grid` holds `grid_len` >= 2 times in [0, 1],
/// non-decreasing, normally from 0 to 1; the sampler applies X_{grid[k], grid[k+1]} in turn.
///
/// Errors: as flowmap_sample(); FLOWMAP_ERR_NULL_POINTER for a NULL `grid`,
/// FLOWMAP_ERR_INVALID_GRID for a bad one.
///
/// # Safety
/// As flowmap_sample(); `grid` is NULL or valid for reads of `grid_len` floats.
#[no_mangle]
pub unsafe extern "C" fn flowmap_sample_grid(
    model: *const flowmap_model,
    workspace: *mut flowmap_workspace,
    grid: *const f32,
    grid_len: usize,
    noise: *const f32,
    batch: usize,
    out: *mut f32,
) -> flowmap_status {
    guard(|| {
        // SAFETY: forwarded contracts.
        unsafe {
            sample_noise(
                model,
                workspace,
                grid_ref(grid, grid_len)?,
                noise,
                batch,
                out,
            )
        }
    })
}

/// Generates `batch` samples in `steps` uniform steps from noise drawn by flowmap's own
/// deterministic generator seeded with `seed`: the same model, seed, batch and steps give
/// bit-identical output on the same machine, whatever the thread.
///
/// Errors: as flowmap_sample().
///
/// # Safety
/// `model` is NULL or a live model; `workspace` is NULL or a live workspace, used by no
/// other thread during the call; `out` is NULL or valid for writes
/// of batch * dim floats.
#[no_mangle]
pub unsafe extern "C" fn flowmap_sample_seeded(
    model: *const flowmap_model,
    workspace: *mut flowmap_workspace,
    steps: usize,
    seed: u64,
    batch: usize,
    out: *mut f32,
) -> flowmap_status {
    // SAFETY: forwarded contracts.
    guard(|| unsafe { sample_seed(model, workspace, Grid::Uniform(steps), seed, batch, out) })
}

/// Like flowmap_sample_seeded() on a custom time grid (see flowmap_sample_grid()).
///
/// # Safety
/// As flowmap_sample_seeded(); `grid` is NULL or valid for reads of `grid_len` floats.
#[no_mangle]
pub unsafe extern "C" fn flowmap_sample_seeded_grid(
    model: *const flowmap_model,
    workspace: *mut flowmap_workspace,
    grid: *const f32,
    grid_len: usize,
    seed: u64,
    batch: usize,
    out: *mut f32,
) -> flowmap_status {
    guard(|| {
        // SAFETY: forwarded contracts.
        unsafe {
            sample_seed(
                model,
                workspace,
                grid_ref(grid, grid_len)?,
                seed,
                batch,
                out,
            )
        }
    })
}

/// Creates a pool of `threads` threads in all: the calling thread and `threads` - 1 worker
/// threads, started now and kept until flowmap_pool_free(). flowmap_pool_sample_seeded()
/// splits a batch into `threads` contiguous parts (fewer when the batch is smaller) and
/// evaluates them at the same time; its results are bit-identical to
/// flowmap_sample_seeded()'s. Choose `threads` up to the number of cores the program may
/// use. On success stores the pool in `*out_pool`; on failure leaves it unchanged.
///
/// Errors: FLOWMAP_ERR_NULL_POINTER, FLOWMAP_ERR_INVALID_ARGUMENT (threads 0 or more than
/// 1024), FLOWMAP_ERR_OUT_OF_MEMORY (the system refused to start a thread).
///
/// # Safety
/// `out_pool` is NULL or valid for one write.
#[no_mangle]
pub unsafe extern "C" fn flowmap_pool_new(
    threads: usize,
    out_pool: *mut *mut flowmap_pool,
) -> flowmap_status {
    guard(|| {
        // SAFETY: forwarded contract.
        let out = unsafe { ptr::out_ref(out_pool, "out_pool")? };
        let pool = Pool::new(threads)?;
        *out = ptr::into_raw(flowmap_pool {
            magic: <flowmap_pool as ptr::Handle>::MAGIC,
            pool,
        });
        Ok(())
    })
}

/// Releases a pool: stops and joins its threads. NULL is ignored.
///
/// # Safety
/// `pool` is NULL or a pool from flowmap_pool_new() not freed yet, which no other thread
/// uses any more.
#[no_mangle]
pub unsafe extern "C" fn flowmap_pool_free(pool: *mut flowmap_pool) {
    // AssertUnwindSafe: the pool's thread handles are not RefUnwindSafe, but the pool is
    // gone after this call whether or not freeing it unwinds; nothing observes it again.
    // SAFETY: the contract of `ptr::free` is this function's contract.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { ptr::free(pool) }));
}

/// flowmap_sample_seeded() split over the threads of `pool`: the calling thread draws the
/// noise, then every thread of the pool samples its part of the batch. The output is
/// bit-identical to flowmap_sample_seeded()'s for the same model, steps, seed and batch,
/// whatever the number of threads. Allocates nothing once the pool has run a batch this
/// large.
///
/// Errors: as flowmap_sample_seeded().
///
/// # Safety
/// `model` is NULL or a live model; `pool` is NULL or a live pool, used by no other thread
/// during the call; `out` is NULL or valid for writes of batch * dim floats.
#[no_mangle]
pub unsafe extern "C" fn flowmap_pool_sample_seeded(
    model: *const flowmap_model,
    pool: *mut flowmap_pool,
    steps: usize,
    seed: u64,
    batch: usize,
    out: *mut f32,
) -> flowmap_status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (m, p) = unsafe { (model_ref(model)?, ptr::handle_mut(pool, "pool")?) };
        let n = elements(m, batch, "batch")?;
        // SAFETY: forwarded contract; the length is batch * dim as the contract states.
        let y = unsafe { ptr::slice_mut(out, n, "out")? };
        Ok(p.pool
            .sample_seeded(&m.model, seed, Grid::Uniform(steps), y)?)
    })
}
