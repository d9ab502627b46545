//! `edgeclass_params`: connector parameters assembled key by key.

use std::collections::BTreeMap;
use std::ffi::c_char;

use super::boundary::*;
use super::edgeclass_status;
use crate::error::invalid_argument;

/// Connector parameters being assembled for `edgeclass_service_open`: the `Parameters` object of
/// the connector definition, key by key (`LocalInferenceServiceName`, ...).
/// Lifetime: from `edgeclass_params_new` to `edgeclass_params_free`. Not thread-safe: use from one
/// thread at a time.
pub struct edgeclass_params {
    pub(super) map: BTreeMap<String, String>,
}

/// A new, empty parameter set (NULL only if memory is exhausted).
#[unsafe(no_mangle)]
pub extern "C" fn edgeclass_params_new() -> *mut edgeclass_params {
    guard_value(std::ptr::null_mut(), || {
        Box::into_raw(Box::new(edgeclass_params {
            map: BTreeMap::new(),
        }))
    })
}

/// Set one connector parameter (a later value for the same key replaces the earlier one).
/// Values are validated by `edgeclass_service_open`.
///
/// # Safety
/// `params` comes from `edgeclass_params_new`; `key`, `value` are NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_params_set(
    params: *mut edgeclass_params,
    key: *const c_char,
    value: *const c_char,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract; the handle is used by one thread at a time (documented).
        let p = unsafe { params.as_mut() }.ok_or_else(|| invalid_argument("params is NULL"))?;
        // SAFETY: caller contract.
        let (k, v) = unsafe { (text(key, "key")?, text(value, "value")?) };
        p.map.insert(k.to_string(), v.to_string());
        Ok(())
    })
}

/// Free a parameter set (NULL is fine).
///
/// # Safety
/// `params` is NULL or comes from `edgeclass_params_new` and is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_params_free(params: *mut edgeclass_params) {
    guard_value((), || {
        // SAFETY: caller contract.
        drop(unsafe { take_handle(params) });
    })
}
