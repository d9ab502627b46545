//! `edgeclass_request`: a cancel flag and a tighter deadline for one call.

use std::time::Duration;

use super::boundary::*;
use super::edgeclass_status;
use crate::service::Request;

/// Per-request options: a cancel flag and an optional tighter deadline. Thread-safe:
/// `edgeclass_request_cancel` may be called from any thread while another thread is inside
/// `edgeclass_classify` with it. Lifetime: until `edgeclass_request_free`, which must not race
/// with a call still using it.
pub struct edgeclass_request {
    pub(super) request: Request,
}

/// A new request: pass it to `edgeclass_classify` to be able to cancel it or to give it a
/// tighter deadline. NULL only if memory is exhausted.
#[unsafe(no_mangle)]
pub extern "C" fn edgeclass_request_new() -> *mut edgeclass_request {
    guard_value(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(edgeclass_request {
            request: Request::new(),
        }))
    })
}

/// Cancel the request: the call using it returns `EDGECLASS_CANCELLED` at its next check
/// (between decode stages or network nodes; at most one node's time). Any thread (NULL is fine).
///
/// # Safety
/// `request` is NULL or a live request handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_request_cancel(request: *const edgeclass_request) {
    guard_value((), || {
        // SAFETY: caller contract.
        if let Some(r) = unsafe { request.as_ref() } {
            r.request.cancel();
        }
    })
}

/// Give the request a deadline of `timeout_ms` after its start when shorter than the service's
/// `LocalInferenceServiceTimeoutSeconds` (0 restores the service's).
///
/// # Safety
/// `request` is a live request handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_request_set_timeout_ms(
    request: *const edgeclass_request,
    timeout_ms: u64,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { handle(request, "request")? };
        r.request.set_timeout(Duration::from_millis(timeout_ms));
        Ok(())
    })
}

/// Free a request (NULL is fine). Not while a call still uses it.
///
/// # Safety
/// `request` is NULL or a request handle no call is using, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_request_free(request: *mut edgeclass_request) {
    guard_value((), || {
        // SAFETY: caller contract.
        drop(unsafe { take_handle(request) });
    })
}
