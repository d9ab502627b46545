//! Classifying (`edgeclass_classify`, `edgeclass_invoke`) and reading the answer
//! (`edgeclass_result`).

use std::ffi::c_char;

use super::boundary::*;
use super::edgeclass_status;
use super::request::edgeclass_request;
use super::service::edgeclass_service;
use crate::answer::connector_body;
use crate::model::top_k;
use crate::service::{registry, Classification};

/// The answer to one request: probabilities, the connector's text body, top-k, timings.
/// Immutable: safe to read from several threads. Lifetime: until `edgeclass_result_free`.
pub struct edgeclass_result {
    pub(super) classification: Classification,
    pub(super) body: String,
}

/// Timings and sizes of one request (`edgeclass_result_stats`), microseconds and bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct edgeclass_call_stats {
    pub wait_us: u64,
    pub decode_us: u64,
    pub preprocess_us: u64,
    pub inference_us: u64,
    pub peak_bytes: u64,
    pub decoded_width: u32,
    pub decoded_height: u32,
}

/// The result handle of a classification.
pub(super) fn result(classification: Classification) -> edgeclass_result {
    let body = connector_body(&classification.probs);
    edgeclass_result {
        classification,
        body,
    }
}

/// Classify one encoded image. `content_type`: "image/jpeg", "image/png" (also "image/jpg",
/// "application/x-image"); the format is taken from the bytes. `request` may be NULL. On
/// success `*out` is a new result (free it with `edgeclass_result_free`).
///
/// # Safety
/// `service` is a live handle; `body` is valid for `body_len` bytes (may be NULL when 0);
/// `request` is NULL or a live request; `out` is valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_classify(
    service: *const edgeclass_service,
    content_type: *const c_char,
    body: *const u8,
    body_len: usize,
    request: *const edgeclass_request,
    out: *mut *mut edgeclass_result,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract for each pointer.
        unsafe {
            give_handle(out, || {
                let (s, ct, bytes, req) = (
                    handle(service, "service")?,
                    text(content_type, "content_type")?,
                    bytes(body, body_len, "body", "body_len")?,
                    request.as_ref(),
                );
                s.service
                    .classify(ct, bytes, req.map(|r| &r.request))
                    .map(result)
            })
        }
    })
}

/// The ML SDK's call: `invoke_inference_service(AlgoType, ServiceName, ContentType, Body)` on the
/// service registered under `service_name` (`AlgoType` must be "image-classification").
///
/// # Safety
/// As `edgeclass_classify`; `algo_type` and `service_name` are NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_invoke(
    algo_type: *const c_char,
    service_name: *const c_char,
    content_type: *const c_char,
    body: *const u8,
    body_len: usize,
    request: *const edgeclass_request,
    out: *mut *mut edgeclass_result,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract for each pointer.
        unsafe {
            give_handle(out, || {
                let (algo, name, ct, bytes, req) = (
                    text(algo_type, "algo_type")?,
                    text(service_name, "service_name")?,
                    text(content_type, "content_type")?,
                    bytes(body, body_len, "body", "body_len")?,
                    request.as_ref(),
                );
                registry::invoke(algo, name, ct, bytes, req.map(|r| &r.request)).map(result)
            })
        }
    })
}

/// Number of classes in the result.
///
/// # Safety
/// `result` is NULL (returns 0) or a live result.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_result_classes(result: *const edgeclass_result) -> usize {
    // SAFETY: caller contract.
    guard_value(0, || {
        unsafe { result.as_ref() }.map_or(0, |r| r.classification.probs.len())
    })
}

/// Copy the probabilities into `probs` (capacity `cap` floats). `*count` gets the number of
/// classes; `EDGECLASS_BUFFER_TOO_SMALL` (nothing copied) when `cap` is smaller (`probs` NULL and
/// `cap` 0: only the count, EDGECLASS_OK).
///
/// # Safety
/// `result` is a live result; `probs` is NULL or valid for `cap` floats; `count` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_result_probabilities(
    result: *const edgeclass_result,
    probs: *mut f32,
    cap: usize,
    count: *mut usize,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { handle(result, "result")? };
        let p = &r.classification.probs;
        if !count.is_null() {
            // SAFETY: non-NULL, caller contract.
            unsafe { count.write(p.len()) };
        }
        if !buffer_rule(probs.is_null(), cap, p.len(), "the probabilities", "floats")? {
            return Ok(());
        }
        // SAFETY: `probs` holds `cap` >= len floats; no overlap with our Vec.
        unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), probs, p.len()) };
        Ok(())
    })
}

/// Copy the connector's response body, `[p0,p1,...]`, NUL-terminated, into `buf` (capacity
/// `cap`). `*needed` gets the size including the NUL; `EDGECLASS_BUFFER_TOO_SMALL` when `cap` is
/// smaller (the buffer then holds a truncated, NUL-terminated prefix); `buf` NULL and `cap` 0:
/// only the size, EDGECLASS_OK.
///
/// # Safety
/// `result` is a live result; `buf` is NULL or valid for `cap` bytes; `needed` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_result_body(
    result: *const edgeclass_result,
    buf: *mut c_char,
    cap: usize,
    needed: *mut usize,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { handle(result, "result")? };
        // SAFETY: caller contract.
        unsafe { copy_text_out(&r.body, buf, cap, needed, "the body") }
    })
}

/// The `k` most probable classes, best first: indices into `indices`, probabilities into
/// `probs` (either may be NULL); both must hold `k` entries. `*count` = min(k, classes).
///
/// # Safety
/// `result` is a live result; `indices`/`probs` are NULL or valid for `k` entries; `count` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_result_top_k(
    result: *const edgeclass_result,
    k: usize,
    indices: *mut usize,
    probs: *mut f32,
    count: *mut usize,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let r = unsafe { handle(result, "result")? };
        let p = &r.classification.probs;
        let top = top_k(p, k);
        for (i, &c) in top.iter().enumerate() {
            // SAFETY: i < top.len() <= k, and each non-NULL buffer holds k entries.
            unsafe {
                if !indices.is_null() {
                    indices.add(i).write(c);
                }
                if !probs.is_null() {
                    probs.add(i).write(p[c]);
                }
            }
        }
        if !count.is_null() {
            // SAFETY: non-NULL, caller contract.
            unsafe { count.write(top.len()) };
        }
        Ok(())
    })
}

/// Timings and peak memory of the request that made `result`.
///
/// # Safety
/// `result` is a live result; `out` is valid for writing an `edgeclass_call_stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_result_stats(
    result: *const edgeclass_result,
    out: *mut edgeclass_call_stats,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let s = unsafe { handle(result, "result")? }.classification.stats;
        let stats = edgeclass_call_stats {
            wait_us: s.wait_us,
            decode_us: s.decode_us,
            preprocess_us: s.preprocess_us,
            inference_us: s.inference_us,
            peak_bytes: s.peak_bytes,
            decoded_width: s.decoded_width,
            decoded_height: s.decoded_height,
        };
        // SAFETY: caller contract.
        unsafe { write_out(out, stats, "out") }
    })
}

/// Free a result (NULL is fine).
///
/// # Safety
/// `result` is NULL or a live result, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_result_free(result: *mut edgeclass_result) {
    guard_value((), || {
        // SAFETY: caller contract.
        drop(unsafe { take_handle(result) });
    })
}
