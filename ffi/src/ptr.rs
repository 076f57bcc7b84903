//! Every conversion from a C pointer to a Rust reference or slice lives here, so that the
//! crate's `unsafe` is in one place. Each helper checks what can be checked (NULL, alignment,
//! the handle's type tag, byte sizes that fit in `isize`) and returns an [`Error`] otherwise;
//! what cannot be checked (that a non-NULL pointer really points to `len` live elements) is
//! the caller's contract, stated in the `# Safety` section of each public function.

use std::mem::size_of;

use flowmap::{EvalError, Workspace};

use crate::status::{flowmap_status, Error};
use crate::{flowmap_model, flowmap_pool, flowmap_workspace};

/// An object handed to C as an opaque pointer. `MAGIC` tags live objects so that stale or
/// foreign pointers are rejected (best effort: reading a freed object is still the caller's
/// bug, this only turns the common mistakes into an error instead of a crash).
pub(crate) trait Handle: Sized {
    const MAGIC: u64;
    const TYPE_NAME: &'static str;
    fn magic(&self) -> u64;
    fn magic_mut(&mut self) -> &mut u64;
}

impl Handle for flowmap_model {
    const MAGIC: u64 = 0x666c_6f77_6d61_7001; // "flowmap" + 1
    const TYPE_NAME: &'static str = "flowmap_model";
    fn magic(&self) -> u64 {
        self.magic
    }
    fn magic_mut(&mut self) -> &mut u64 {
        &mut self.magic
    }
}

impl Handle for flowmap_workspace {
    const MAGIC: u64 = 0x666c_6f77_6d61_7002;
    const TYPE_NAME: &'static str = "flowmap_workspace";
    fn magic(&self) -> u64 {
        self.magic
    }
    fn magic_mut(&mut self) -> &mut u64 {
        &mut self.magic
    }
}

impl Handle for flowmap_pool {
    const MAGIC: u64 = 0x666c_6f77_6d61_7003;
    const TYPE_NAME: &'static str = "flowmap_pool";
    fn magic(&self) -> u64 {
        self.magic
    }
    fn magic_mut(&mut self) -> &mut u64 {
        &mut self.magic
    }
}

/// Moves `value` to the heap and hands ownership to C.
pub(crate) fn into_raw<T: Handle>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

fn check_ptr<T>(p: *const T, what: &str) -> Result<(), Error> {
    if p.is_null() {
        return Err(Error::null(what));
    }
    if !p.is_aligned() {
        return Err(Error::invalid(format_args!(
            "`{what}` is not aligned to {} bytes",
            std::mem::align_of::<T>()
        )));
    }
    Ok(())
}

fn check_bytes<T>(len: usize, what: &str) -> Result<(), Error> {
    match len.checked_mul(size_of::<T>()) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(()),
        _ => Err(Error::overflow(format_args!(
            "`{what}`: {len} elements of {} bytes exceed the address space",
            size_of::<T>()
        ))),
    }
}

/// Borrows a handle shared.
///
/// # Safety
/// `p` is NULL or points to an object created by [`into_raw`] and not yet freed, that is not
/// mutated while the returned reference lives.
pub(crate) unsafe fn handle_ref<'a, T: Handle>(p: *const T, what: &str) -> Result<&'a T, Error> {
    check_ptr(p, what)?;
    // SAFETY: non-NULL and aligned (checked); live and not mutated meanwhile by the contract.
    let h = unsafe { &*p };
    if h.magic() != T::MAGIC {
        return Err(Error::invalid(format_args!(
            "`{what}` is not a live {} (already freed, or not created by flowmap)",
            T::TYPE_NAME
        )));
    }
    Ok(h)
}

/// Borrows a handle exclusively.
///
/// # Safety
/// `p` is NULL or points to an object created by [`into_raw`] and not yet freed, that no one
/// else accesses while the returned reference lives.
pub(crate) unsafe fn handle_mut<'a, T: Handle>(p: *mut T, what: &str) -> Result<&'a mut T, Error> {
    check_ptr(p, what)?;
    // SAFETY: non-NULL and aligned (checked); live and unaliased meanwhile by the contract.
    let h = unsafe { &mut *p };
    if h.magic() != T::MAGIC {
        return Err(Error::invalid(format_args!(
            "`{what}` is not a live {} (already freed, or not created by flowmap)",
            T::TYPE_NAME
        )));
    }
    Ok(h)
}

/// Frees a handle; NULL is ignored, and so is an object whose tag is not live (a double free
/// is then a no-op instead of heap corruption, as far as the memory is still mapped).
///
/// # Safety
/// `p` is NULL or was returned by [`into_raw`], and is not used by anyone after this call.
pub(crate) unsafe fn free<T: Handle>(p: *mut T) {
    if p.is_null() || !p.is_aligned() {
        return;
    }
    // SAFETY: non-NULL, aligned, and by the contract a pointer from `into_raw` that nobody
    // else uses now. We only read the tag before deciding to take ownership.
    if unsafe { (*p).magic() } != T::MAGIC {
        return;
    }
    // SAFETY: the object came from `Box::into_raw` (contract, tag checked) and ownership is
    // handed back here exactly once.
    let mut boxed = unsafe { Box::from_raw(p) };
    // SAFETY: the pointer comes from a live `&mut u64`; a volatile write so the dead store to
    // memory about to be freed is not optimised away (a later double free then sees it).
    unsafe { std::ptr::write_volatile(boxed.magic_mut(), 0) };
    drop(boxed);
}

/// Borrows `len` elements read-only.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` elements of `T`, not mutated while the slice lives.
pub(crate) unsafe fn slice<'a, T>(p: *const T, len: usize, what: &str) -> Result<&'a [T], Error> {
    check_ptr(p, what)?;
    check_bytes::<T>(len, what)?;
    // SAFETY: non-NULL, aligned, byte size ≤ isize::MAX (checked); valid for `len` reads and
    // not mutated meanwhile by the contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Borrows `len` elements for writing.
///
/// # Safety
/// `p` is NULL or valid for reads and writes of `len` elements of `T`, accessed by no one
/// else while the slice lives.
pub(crate) unsafe fn slice_mut<'a, T>(
    p: *mut T,
    len: usize,
    what: &str,
) -> Result<&'a mut [T], Error> {
    check_ptr(p, what)?;
    check_bytes::<T>(len, what)?;
    // SAFETY: non-NULL, aligned, byte size ≤ isize::MAX (checked); valid and unaliased for
    // `len` elements by the contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// Borrows one output value.
///
/// # Safety
/// `p` is NULL or valid for writes of one `T`, accessed by no one else while the reference
/// lives. `T` must be a plain C type (any bit pattern valid), as it may be uninitialised.
pub(crate) unsafe fn out_ref<'a, T: Copy>(p: *mut T, what: &str) -> Result<&'a mut T, Error> {
    check_ptr(p, what)?;
    // SAFETY: non-NULL and aligned (checked); valid and unaliased by the contract. T is a
    // plain C integer/pointer type for which every bit pattern is valid.
    Ok(unsafe { &mut *p })
}

/// Borrows a NUL-terminated C string.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that is not mutated while it is borrowed.
pub(crate) unsafe fn c_str<'a>(
    p: *const std::ffi::c_char,
    what: &str,
) -> Result<&'a std::ffi::CStr, Error> {
    if p.is_null() {
        return Err(Error::null(what));
    }
    // SAFETY: non-NULL; NUL-terminated and unchanged meanwhile by the contract.
    Ok(unsafe { std::ffi::CStr::from_ptr(p) })
}

fn overlaps(a: *const f32, a_len: usize, b: *const f32, b_len: usize) -> bool {
    // Lengths were checked to fit in isize bytes, so these additions cannot overflow for
    // objects that exist; saturate anyway.
    let (a0, b0) = (a as usize, b as usize);
    let a1 = a0.saturating_add(a_len * size_of::<f32>());
    let b1 = b0.saturating_add(b_len * size_of::<f32>());
    a0 < b1 && b0 < a1
}

/// Evaluates `f(workspace, input, output)` on the caller's buffers. When input and output
/// overlap (an in-place call), `f` writes to the workspace's scratch buffer, which is copied
/// to the output afterwards, so that `f` never sees aliasing slices. The output is written
/// only when `f` succeeds (`f` itself leaves its output untouched on error).
///
/// # Safety
/// `input` is NULL or valid for reads of `in_len` floats; `out` is NULL or valid for writes
/// of `out_len` floats; apart from each other, no one accesses them during the call.
pub(crate) unsafe fn eval_in_out(
    ws: &mut flowmap_workspace,
    input: *const f32,
    in_len: usize,
    in_what: &str,
    out: *mut f32,
    out_len: usize,
    f: impl FnOnce(&mut Workspace, &[f32], &mut [f32]) -> Result<(), EvalError>,
) -> Result<(), Error> {
    check_ptr(input, in_what)?;
    check_bytes::<f32>(in_len, in_what)?;
    check_ptr(out, "out")?;
    check_bytes::<f32>(out_len, "out")?;
    if overlaps(input, in_len, out, out_len) {
        let flowmap_workspace {
            ws: inner, scratch, ..
        } = ws;
        scratch.clear();
        scratch.try_reserve_exact(out_len).map_err(|_| {
            Error::new(
                flowmap_status::FLOWMAP_ERR_OUT_OF_MEMORY,
                format_args!("cannot allocate {out_len} floats for an in-place call"),
            )
        })?;
        scratch.resize(out_len, 0.0);
        {
            // SAFETY: checked non-NULL/aligned/size above; valid for reads by the contract;
            // only read (the output goes to `scratch`) and dropped before `out` is written.
            let x = unsafe { std::slice::from_raw_parts(input, in_len) };
            f(inner, x, scratch)?;
        }
        // SAFETY: checked non-NULL/aligned/size above; valid for writes by the contract; the
        // input slice no longer exists, so this is the only reference to that memory.
        let y = unsafe { std::slice::from_raw_parts_mut(out, out_len) };
        y.copy_from_slice(scratch);
        Ok(())
    } else {
        // SAFETY: as above; the ranges are disjoint, so a shared and an exclusive slice may
        // coexist.
        let (x, y) = unsafe {
            (
                std::slice::from_raw_parts(input, in_len),
                std::slice::from_raw_parts_mut(out, out_len),
            )
        };
        f(&mut ws.ws, x, y).map_err(Error::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_detection() {
        let buf = [0f32; 8];
        let p = buf.as_ptr();
        assert!(overlaps(p, 4, p, 4));
        assert!(overlaps(p, 4, p.wrapping_add(3), 4));
        assert!(!overlaps(p, 4, p.wrapping_add(4), 4));
        assert!(!overlaps(p.wrapping_add(4), 4, p, 4));
    }

    #[test]
    fn sizes_are_checked() {
        assert!(check_bytes::<f32>(usize::MAX / 4 + 1, "x").is_err());
        assert!(check_bytes::<f32>((isize::MAX as usize) / 4 + 1, "x").is_err());
        assert!(check_bytes::<f32>(1 << 20, "x").is_ok());
        assert!(check_ptr(std::ptr::null::<f32>(), "x").is_err());
        let misaligned = (std::ptr::null::<u8>().wrapping_add(2)) as *const f32;
        assert!(check_ptr(misaligned, "x").is_err());
    }
}
