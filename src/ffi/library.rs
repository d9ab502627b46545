//! What belongs to the library rather than a handle: versions, status names, the last error,
//! heap figures and the log target.

use std::ffi::{c_char, c_void};

use super::boundary::*;
use super::edgeclass_status;
use super::logger;
use crate::error::Code;
use crate::mem::heap;

/// Version of this C ABI. Incremented on any incompatible change; additions keep it.
pub const EDGECLASS_ABI_VERSION: u32 = 1;

/// Log callback: `level` 1 error, 2 warn, 3 info, 4 debug, 5 trace; `message` is valid only
/// during the call. May be called from any thread that calls into edgeclass.
pub type edgeclass_log_fn =
    Option<extern "C" fn(user_data: *mut c_void, level: i32, message: *const c_char)>;

/// The ABI version (`EDGECLASS_ABI_VERSION` of the header the caller compiled against must match).
#[unsafe(no_mangle)]
pub extern "C" fn edgeclass_abi_version() -> u32 {
    EDGECLASS_ABI_VERSION
}

/// The library version, e.g. "0.1.0": a static NUL-terminated string.
#[unsafe(no_mangle)]
pub extern "C" fn edgeclass_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// A status code's stable name ("EDGECLASS_TIMEOUT"): a static string, "EDGECLASS_UNKNOWN_STATUS"
/// for values that are not statuses.
#[unsafe(no_mangle)]
pub extern "C" fn edgeclass_status_name(status: u32) -> *const c_char {
    // The names come from the one list of codes (src/status_codes.rs).
    let name = match status {
        0 => "EDGECLASS_OK\0",
        _ => Code::from_u32(status).map_or("EDGECLASS_UNKNOWN_STATUS\0", Code::c_name_nul),
    };
    name.as_ptr() as *const c_char
}

/// The code of the last error on this thread: `EDGECLASS_OK` when the thread's last fallible call
/// succeeded (a success clears the last error).
#[unsafe(no_mangle)]
pub extern "C" fn edgeclass_last_error_code() -> edgeclass_status {
    guard_value(edgeclass_status::EDGECLASS_INTERNAL, || {
        LAST_ERROR
            .try_with(|l| {
                l.borrow()
                    .as_ref()
                    .map_or(edgeclass_status::EDGECLASS_OK, |e| e.code.into())
            })
            .unwrap_or(edgeclass_status::EDGECLASS_OK)
    })
}

/// Copy the last error message of this thread into `buf` (capacity `cap`, always NUL-terminated
/// when `cap > 0`, truncated if short). Returns the size the whole message needs, NUL included
/// (1 when there is no error). `buf` may be NULL to ask for the size.
///
/// # Safety
/// `buf` is NULL or valid for writing `cap` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_last_error_message(buf: *mut c_char, cap: usize) -> usize {
    guard_value(0, || {
        let msg = LAST_ERROR
            .try_with(|l| {
                l.borrow()
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        // SAFETY: forwarded caller contract.
        unsafe { copy_text(&msg, buf, cap) }
    })
}

/// Bytes the library has live on its heap now, and the peak since start or the last
/// `edgeclass_heap_reset_peak` (both 0 when heap accounting is off in this build).
///
/// # Safety
/// `live` and `peak` are NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_heap_stats(live: *mut u64, peak: *mut u64) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        unsafe {
            if !live.is_null() {
                live.write(heap::live_bytes() as u64);
            }
            if !peak.is_null() {
                peak.write(heap::peak_bytes() as u64);
            }
        }
        Ok(())
    })
}

/// Start a new heap peak measurement (see `edgeclass_heap_stats`).
#[unsafe(no_mangle)]
pub extern "C" fn edgeclass_heap_reset_peak() {
    guard_value((), heap::reset_peak)
}

/// Send edgeclass's log lines (each prefixed with the service name) to `callback`, or to stderr
/// when `callback` is NULL, up to `max_level` (0 off, 1 error ... 5 trace). Call it before
/// opening services; it may be called again to change the target.
#[unsafe(no_mangle)]
pub extern "C" fn edgeclass_set_log_callback(
    callback: edgeclass_log_fn,
    user_data: *mut c_void,
    max_level: i32,
) -> edgeclass_status {
    guard(|| logger::install(callback, user_data, max_level))
}
