//! The boundary every export goes through: the thread's last error, the panic guard, and one
//! helper for each cast (a NUL-terminated string, a handle, an out-pointer, a byte range, text
//! copied out under the one buffer rule).

use std::cell::RefCell;
use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::edgeclass_status;
use crate::error::{invalid_argument, Code, Error, Result};

thread_local! {
    pub(super) static LAST_ERROR: RefCell<Option<Error>> = const { RefCell::new(None) };
}

pub(super) fn set_last_error(e: Error) {
    let _ = LAST_ERROR.try_with(|l| *l.borrow_mut() = Some(e));
}

/// The panic boundary: run `f`, turn its error or panic into a status and the last error.
pub(super) fn guard(f: impl FnOnce() -> Result<()>) -> edgeclass_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => {
            // A success clears the last error, so edgeclass_last_error_code tells whether the
            // thread's last fallible call failed.
            let _ = LAST_ERROR.try_with(|l| l.borrow_mut().take());
            edgeclass_status::EDGECLASS_OK
        }
        Ok(Err(e)) => {
            let status = e.code.into();
            set_last_error(e);
            status
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(Error::new(
                Code::Panic,
                format!("internal panic caught at the C boundary: {what}"),
            ));
            edgeclass_status::EDGECLASS_PANIC
        }
    }
}

/// A value-returning export's panic boundary: `fallback` when `f` panics.
pub(super) fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid for `'a`.
pub(super) unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(invalid_argument(format!("{what} is NULL")));
    }
    // SAFETY: non-NULL, and the caller guarantees NUL termination and validity.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| invalid_argument(format!("{what} is not valid UTF-8")))
}

/// # Safety
/// `p` is NULL or points to a live `T` created by this library and not aliased mutably.
pub(super) unsafe fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: the caller passes a pointer this library returned (or NULL, rejected here).
    unsafe { p.as_ref() }.ok_or_else(|| invalid_argument(format!("{what} is NULL")))
}

/// Give C a new handle through `out`. `out` is checked before `make` runs, so that a NULL `out`
/// cannot leak what `make` creates; then the boxed value is written there. Every handle C holds
/// comes from here or from a `*_new` (`Box::into_raw`), and goes back through [`take_handle`].
///
/// # Safety
/// `out` is NULL or valid for writing a pointer.
pub(super) unsafe fn give_handle<T>(
    out: *mut *mut T,
    make: impl FnOnce() -> Result<T>,
) -> Result<()> {
    if out.is_null() {
        return Err(invalid_argument("out is NULL"));
    }
    let handle = Box::into_raw(Box::new(make()?));
    // SAFETY: non-NULL, and valid for writes per the caller's contract.
    unsafe { out.write(handle) };
    Ok(())
}

/// Take back a handle C got from [`give_handle`] or a `*_new` (`None` for NULL).
///
/// # Safety
/// `p` is NULL or such a handle, not yet taken back, and C does not use it afterwards.
pub(super) unsafe fn take_handle<T>(p: *mut T) -> Option<Box<T>> {
    // SAFETY: created by Box::into_raw and taken back once, per the caller's contract.
    (!p.is_null()).then(|| unsafe { Box::from_raw(p) })
}

/// # Safety
/// `p` is NULL or valid for writing a `T`.
pub(super) unsafe fn write_out<T>(p: *mut T, value: T, what: &str) -> Result<()> {
    if p.is_null() {
        return Err(invalid_argument(format!("{what} (output pointer) is NULL")));
    }
    // SAFETY: non-NULL and valid for writes per the caller's contract.
    unsafe { p.write(value) };
    Ok(())
}

/// Copy `s` plus a NUL into `buf` (capacity `cap` bytes), truncating on a UTF-8 boundary if
/// needed; returns the bytes the whole string needs including the NUL.
///
/// # Safety
/// `buf` is NULL (then nothing is written) or valid for writing `cap` bytes.
pub(super) unsafe fn copy_text(s: &str, buf: *mut c_char, cap: usize) -> usize {
    let needed = s.len() + 1;
    if !buf.is_null() && cap > 0 {
        let mut n = s.len().min(cap - 1);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        // SAFETY: `buf` holds `cap` > n bytes; the source is `n` bytes of `s`; no overlap (s is ours).
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), buf as *mut u8, n);
            *buf.add(n) = 0;
        }
    }
    needed
}

/// The buffer rule of every function that copies into a caller's buffer (`cap` elements,
/// `needed` wanted), written once: a NULL buffer with `cap` 0 only asks for the size (`Ok(false)`:
/// nothing to copy); otherwise the buffer must hold all `needed` elements, and a NULL buffer holds
/// none whatever `cap` says (`BUFFER_TOO_SMALL`).
pub(super) fn buffer_rule(
    buf_is_null: bool,
    cap: usize,
    needed: usize,
    what: &str,
    unit: &str,
) -> Result<bool> {
    if buf_is_null && cap == 0 {
        return Ok(false);
    }
    if buf_is_null || cap < needed {
        let held = if buf_is_null { 0 } else { cap };
        return Err(Error::new(
            Code::BufferTooSmall,
            format!(
                "{what}: {needed} {unit} needed, the buffer holds {held}{}",
                if buf_is_null { " (it is NULL)" } else { "" }
            ),
        ));
    }
    Ok(true)
}

/// Copy text out under [`buffer_rule`]: `*needed` (when not NULL) gets the bytes the whole text
/// needs, NUL included; a short buffer gets a truncated, NUL-terminated prefix.
///
/// # Safety
/// `buf` is NULL or valid for writing `cap` bytes; `needed` is NULL or valid for writing.
pub(super) unsafe fn copy_text_out(
    s: &str,
    buf: *mut c_char,
    cap: usize,
    needed: *mut usize,
    what: &str,
) -> Result<()> {
    // SAFETY: caller contract.
    let n = unsafe { copy_text(s, buf, cap) };
    if !needed.is_null() {
        // SAFETY: non-NULL, caller contract.
        unsafe { needed.write(n) };
    }
    buffer_rule(buf.is_null(), cap, n, what, "bytes (NUL included)").map(|_| ())
}

/// The `len` bytes at `p`; `what` and `len_name` are the C parameters' names, for the error.
///
/// # Safety
/// `p` is valid for `len` bytes, or NULL with `len == 0`.
pub(super) unsafe fn bytes<'a>(
    p: *const u8,
    len: usize,
    what: &str,
    len_name: &str,
) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(invalid_argument(format!(
            "{what} is NULL but {len_name} is {len}"
        )));
    }
    // SAFETY: non-NULL and valid for `len` bytes per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}
