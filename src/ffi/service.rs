//! `edgeclass_service`: open, find, close, describe a local inference service.

use std::ffi::c_char;
use std::sync::Arc;

use super::boundary::*;
use super::edgeclass_status;
use super::logger;
use super::params::edgeclass_params;
use crate::error::invalid_argument;
use crate::service::{self, registry, Service};

/// An open local inference service (a handle to it). Thread-safe: any number of threads may call
/// `edgeclass_classify` on the same handle at once; at most `EdgeclassWorkers` requests run at a
/// time, the others wait until their deadline. Lifetime: from `edgeclass_service_open` /
/// `edgeclass_service_find` until `edgeclass_service_close` / `edgeclass_service_free`; the
/// service itself lives while any handle or running request uses it.
pub struct edgeclass_service {
    pub(super) service: Arc<Service>,
}

/// A service's model and memory figures (`edgeclass_service_get_info`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct edgeclass_service_info {
    /// Model input: channels, height, width (batch is 1).
    pub channels: u32,
    pub height: u32,
    pub width: u32,
    /// Number of classes (length of every probability vector).
    pub classes: u32,
    /// Whether labels are available (`edgeclass_service_label`).
    pub has_labels: bool,
    /// Memory limit in bytes (`LocalInferenceServiceMemoryLimitKB` x 1024).
    pub limit_bytes: u64,
    /// Weights and plan, measured while loading.
    pub model_bytes: u64,
    /// The highest heap use while loading the model.
    pub load_peak_bytes: u64,
    /// Activation peak of one inference, measured on the warm-up run.
    pub activation_bytes: u64,
    /// Per worker: tensor and resize buffers.
    pub worker_buffer_bytes: u64,
    pub workers: u32,
    /// Per worker: the most an image decode may use; larger images are refused.
    pub image_bytes: u64,
    /// Whether the figures above were measured (heap accounting on) rather than estimated.
    pub measured: bool,
    /// Requests so far, and how they ended.
    pub requests: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timeouts: u64,
    pub cancelled: u64,
    pub refused_memory: u64,
    /// Highest heap use of a single request.
    pub request_peak_bytes: u64,
}

/// Validate `params`, load the model, measure it against the memory limit and register the
/// service under its `LocalInferenceServiceName`. On success `*out` is a new handle.
///
/// # Safety
/// `params` comes from `edgeclass_params_new`; `out` is valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_service_open(
    params: *const edgeclass_params,
    out: *mut *mut edgeclass_service,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        unsafe {
            give_handle(out, || {
                let p = handle(params, "params")?;
                logger::install_default();
                let service = crate::feedback::open_registered(&p.map)?;
                Ok(edgeclass_service { service })
            })
        }
    })
}

/// A new handle to the open service called `name` (`EDGECLASS_UNKNOWN_SERVICE` if none).
///
/// # Safety
/// `name` is a NUL-terminated string; `out` is valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_service_find(
    name: *const c_char,
    out: *mut *mut edgeclass_service,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        unsafe {
            give_handle(out, || {
                let name = text(name, "name")?;
                let service = registry::get(name)
                    .ok_or_else(|| service::unknown_service(service::ALGO_TYPE, name))?;
                Ok(edgeclass_service { service })
            })
        }
    })
}

/// Close a service: unregister its name (so it can be opened again) and free this handle.
/// Requests running on other threads finish first; other handles stay valid (NULL is fine).
///
/// # Safety
/// `service` is NULL or a handle from this library, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_service_close(service: *mut edgeclass_service) {
    guard_value((), || {
        // SAFETY: caller contract.
        if let Some(h) = unsafe { take_handle(service) } {
            if registry::get(h.service.name()).is_some_and(|s| Arc::ptr_eq(&s, &h.service)) {
                registry::close(h.service.name());
            }
        }
    })
}

/// Free a handle without closing the service (for handles from `edgeclass_service_find`).
///
/// # Safety
/// `service` is NULL or a handle from this library, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_service_free(service: *mut edgeclass_service) {
    guard_value((), || {
        // SAFETY: caller contract.
        drop(unsafe { take_handle(service) });
    })
}

/// Swap the service's model for the one at `model_path` (NULL: load again from where the current
/// model came from, e.g. after its artefact was replaced), with the service's own parameters.
/// Blocks until the new model serves: requests already running finish on the old model, requests
/// that arrive meanwhile wait (within their deadlines) for the new one. On any failure (a
/// missing or hostile model, `EDGECLASS_MEMORY_LIMIT` when the new model's load does not fit
/// beside the old one) the old model keeps serving and the status and last error say why. The
/// memory limit must hold the old model and the new one's load at once: see the README's
/// "Reloading a model". Thread-safe; reloads of one service run one after another.
///
/// # Safety
/// `service` is a handle from this library; `model_path` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_service_reload(
    service: *const edgeclass_service,
    model_path: *const c_char,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let s = &unsafe { handle(service, "service")? }.service;
        let path = if model_path.is_null() {
            None
        } else {
            // SAFETY: caller contract.
            Some(std::path::PathBuf::from(unsafe {
                text(model_path, "model_path")?
            }))
        };
        s.reload(path.as_deref()).map(|_| ())
    })
}

/// The generation of the model the service runs now: 1 for the model it opened with, +1 per
/// successful `edgeclass_service_reload`; 0 for a NULL or invalid handle.
///
/// # Safety
/// `service` is NULL or a handle from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_service_generation(service: *const edgeclass_service) -> u64 {
    guard_value(0, || {
        // SAFETY: caller contract.
        unsafe { handle(service, "service") }.map_or(0, |h| h.service.generation())
    })
}

/// The service's model shape, memory budget and counters.
///
/// # Safety
/// `service` is a live handle; `out` is valid for writing an `edgeclass_service_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_service_get_info(
    service: *const edgeclass_service,
    out: *mut edgeclass_service_info,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let s = &unsafe { handle(service, "service")? }.service;
        let m = &s.model().info;
        let b = s.budget();
        let st = s.stats();
        let info = edgeclass_service_info {
            channels: m.input_shape[1] as u32,
            height: m.input_shape[2] as u32,
            width: m.input_shape[3] as u32,
            classes: m.classes as u32,
            has_labels: s.model().labels.is_some(),
            limit_bytes: b.limit,
            model_bytes: b.model_bytes,
            load_peak_bytes: b.load_peak_bytes,
            activation_bytes: b.activation_bytes,
            worker_buffer_bytes: b.worker_buffer_bytes,
            workers: b.workers as u32,
            image_bytes: b.image_bytes,
            measured: b.measured,
            requests: st.requests,
            succeeded: st.succeeded,
            failed: st.failed,
            timeouts: st.timeouts,
            cancelled: st.cancelled,
            refused_memory: st.refused_memory,
            request_peak_bytes: st.request_peak_bytes,
        };
        // SAFETY: caller contract.
        unsafe { write_out(out, info, "out") }
    })
}

/// Copy the label of class `index` into `buf` (see `edgeclass_last_error_message` for the
/// buffer rules); `*needed` gets the size including the NUL (`buf` NULL and `cap` 0: only the
/// size, EDGECLASS_OK). `EDGECLASS_INVALID_ARGUMENT` when the model has no labels or `index` is
/// out of range.
///
/// # Safety
/// `service` is a live handle; `buf` is NULL or valid for `cap` bytes; `needed` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_service_label(
    service: *const edgeclass_service,
    index: usize,
    buf: *mut c_char,
    cap: usize,
    needed: *mut usize,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let s = &unsafe { handle(service, "service")? }.service;
        let model = s.model();
        let labels = model
            .labels
            .as_ref()
            .ok_or_else(|| invalid_argument("the model has no labels"))?;
        let label = labels.get(index).ok_or_else(|| {
            invalid_argument(format!("label index {index} >= {} classes", labels.len()))
        })?;
        // SAFETY: caller contract.
        unsafe { copy_text_out(label, buf, cap, needed, "the label") }
    })
}
