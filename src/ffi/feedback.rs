//! ML Feedback (src/feedback): sampling, a crash-safe spool, status/prediction messages.

use std::ffi::{c_char, c_void, CStr};
use std::sync::Arc;
use std::time::Duration;

use super::boundary::*;
use super::edgeclass_status;
use super::logger;
use super::params::edgeclass_params;
use crate::error::{invalid_argument, Code, Error};

/// An open ML Feedback connector (a handle to it). Thread-safe: any thread may publish, drain or
/// read stats at once. Lifetime: from `edgeclass_feedback_open` until `edgeclass_feedback_close`;
/// the connector (its MQTT connection and upload thread) lives while a handle or a service
/// request uses it.
pub struct edgeclass_feedback {
    pub(super) feedback: Arc<crate::feedback::Feedback>,
}

/// What `edgeclass_feedback_publish` did with the request.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum edgeclass_feedback_outcome {
    /// Kept by the sampling strategy and written to the spool (waiting for upload).
    EDGECLASS_FEEDBACK_SPOOLED = 0,
    /// Not kept by the sampling strategy (status `sample_dropped_by_strategy`).
    EDGECLASS_FEEDBACK_DROPPED_BY_STRATEGY = 1,
    /// `RequestLimit` requests were in progress (status `fail`, error `Queue.Full`).
    EDGECLASS_FEEDBACK_THROTTLED = 2,
}

/// One spooled sample, as the upload callback sees it. Every pointer is valid only during the
/// callback. Upload `data` (`len` bytes, type `content_type`) to `s3://bucket/key`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct edgeclass_feedback_sample {
    /// The sample's UUID (also the `id` of its status message).
    pub id: *const c_char,
    pub config_id: *const c_char,
    pub content_type: *const c_char,
    pub bucket: *const c_char,
    /// `s3-prefix/UUID.file-ext`.
    pub key: *const c_char,
    pub data: *const u8,
    pub len: usize,
    /// The model prediction, JSON (a list for image classification).
    pub prediction_json: *const c_char,
    /// The metadata with `publish-ts`, a JSON object.
    pub metadata_json: *const c_char,
    /// On failure the callback may write "ExceptionType: message" here (NUL-terminated, at most
    /// `error_cap` bytes including the NUL): it becomes the failure status's `error` and text.
    pub error: *mut c_char,
    pub error_cap: usize,
}

/// Upload callback: return 0 when the sample is safely uploaded (it is then deleted from the
/// spool and the success status and prediction messages are published), anything else on failure
/// (the sample stays and is tried again later). Called from one thread at a time: the background
/// upload thread, or the thread inside `edgeclass_feedback_drain`.
pub type edgeclass_upload_fn =
    Option<extern "C" fn(user_data: *mut c_void, sample: *const edgeclass_feedback_sample) -> i32>;

/// Message callback: `topic` (NUL-terminated) and the JSON `payload` (`len` bytes, not
/// NUL-terminated), valid only during the call. Called on the thread that produced the message
/// (a classifying thread or the upload thread), possibly from several threads at once: keep it
/// quick and thread-safe.
pub type edgeclass_message_fn = Option<
    extern "C" fn(user_data: *mut c_void, topic: *const c_char, payload: *const u8, len: usize),
>;

/// Counters of a feedback connector (`edgeclass_feedback_get_stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct edgeclass_feedback_stats {
    pub requests: u64,
    pub spooled: u64,
    /// `SampleNotUsed`.
    pub dropped_by_strategy: u64,
    /// `ErrorRequestThrottled` (`Queue.Full`).
    pub throttled: u64,
    /// Kept but not written (disk error, larger than the spool).
    pub spool_errors: u64,
    /// `SampleUploadSuccess`, `SampleUploadFailure`, `SampleAndPredictionPublished`.
    pub uploaded: u64,
    pub upload_failures: u64,
    pub predictions_published: u64,
    /// Classifications whose feedback failed (logged; the classification succeeded).
    pub hook_errors: u64,
    /// Samples and bytes in the spool now.
    pub spool_samples: u64,
    pub spool_bytes: u64,
    /// Oldest samples removed to make room for new ones.
    pub spool_dropped_oldest: u64,
    pub spool_corrupt: u64,
    /// Partial samples of an interrupted writer removed when the spool was opened.
    pub spool_cleaned_temp: u64,
    /// MQTT: waiting for the broker's acknowledgement, acknowledged, refused (queue full).
    pub mqtt_queued: u64,
    pub mqtt_delivered: u64,
    pub mqtt_overflowed: u64,
    pub mqtt_reconnects: u64,
    pub mqtt_connected: bool,
}

/// Open an ML Feedback connector from `params` (built with `edgeclass_params_new` /
/// `edgeclass_params_set`): the connector's `FeedbackConfigurationMap` (a JSON string) and
/// `RequestLimit`, plus `EdgeclassSpoolDirectory` (required) and the other `Edgeclass*` options.
/// Registers its config ids: services whose `MLFeedbackConnectorConfigId` names one feed it.
/// `EDGECLASS_SERVICE_EXISTS` when a config id is already open.
///
/// # Safety
/// `params` comes from `edgeclass_params_new`; `out` is valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_feedback_open(
    params: *const edgeclass_params,
    out: *mut *mut edgeclass_feedback,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        unsafe {
            give_handle(out, || {
                let p = handle(params, "params")?;
                logger::install_default();
                let feedback = crate::feedback::registry::open(&p.map)?;
                Ok(edgeclass_feedback { feedback })
            })
        }
    })
}

/// Close a feedback connector: unregister its config ids, stop its upload thread and free the
/// handle (NULL is fine). Samples stay in the spool for the next open.
///
/// # Safety
/// `fb` is NULL or a handle from `edgeclass_feedback_open`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_feedback_close(fb: *mut edgeclass_feedback) {
    guard_value((), || {
        // SAFETY: caller contract.
        if let Some(h) = unsafe { take_handle(fb) } {
            crate::feedback::registry::close(&h.feedback);
            let _ = h.feedback.set_uploader(None);
        }
    })
}

/// The ML SDK's `feedback.publish(ConfigId, ModelInput, ModelPrediction, Metadata)`, on the
/// open connector that has `config_id`. `prediction_json` is a JSON list (image classification)
/// or object; `metadata_json` a JSON object or NULL. Validated as the SDK did
/// (`EDGECLASS_INVALID_ARGUMENT`, also for a config id no open connector has). Sampling drops and
/// `RequestLimit` throttling are not errors: they are reported in `*outcome` (may be NULL) and on
/// `feedback/message/status`. Never waits on the network; the sample write is fsynced.
///
/// # Safety
/// Strings are NUL-terminated (`metadata_json` may be NULL); `model_input` is valid for `len`
/// bytes (may be NULL when 0); `outcome` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_feedback_publish(
    config_id: *const c_char,
    model_input: *const u8,
    len: usize,
    prediction_json: *const c_char,
    metadata_json: *const c_char,
    outcome: *mut edgeclass_feedback_outcome,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract for each pointer.
        let (id, input, prediction, metadata) = unsafe {
            (
                text(config_id, "config_id")?,
                bytes(model_input, len, "model_input", "len")?,
                text(prediction_json, "prediction_json")?,
                if metadata_json.is_null() {
                    None
                } else {
                    Some(text(metadata_json, "metadata_json")?)
                },
            )
        };
        let o = crate::feedback::registry::publish_json(id, input, prediction, metadata)?;
        if !outcome.is_null() {
            let v = match o {
                crate::feedback::Outcome::Spooled { .. } => {
                    edgeclass_feedback_outcome::EDGECLASS_FEEDBACK_SPOOLED
                }
                crate::feedback::Outcome::Dropped { .. } => {
                    edgeclass_feedback_outcome::EDGECLASS_FEEDBACK_DROPPED_BY_STRATEGY
                }
                crate::feedback::Outcome::Throttled { .. } => {
                    edgeclass_feedback_outcome::EDGECLASS_FEEDBACK_THROTTLED
                }
            };
            // SAFETY: non-NULL, caller contract.
            unsafe { outcome.write(v) };
        }
        Ok(())
    })
}

/// Turn a C upload callback into the hub's uploader.
pub(super) fn c_uploader(
    callback: extern "C" fn(*mut c_void, *const edgeclass_feedback_sample) -> i32,
    user_data: *mut c_void,
) -> crate::feedback::Uploader {
    // Kept as an integer so the closure is Send + Sync; passed back verbatim.
    let user = user_data as usize;
    Arc::new(move |s: &crate::feedback::Sample| {
        let c = |v: &str| {
            std::ffi::CString::new(v).map_err(|_| crate::feedback::UploadError {
                error: "InvalidSample".into(),
                message: format!("{v:?} contains a NUL byte"),
            })
        };
        let prediction = serde_json::to_string(&s.prediction).unwrap_or_default();
        let metadata = serde_json::to_string(&s.metadata).unwrap_or_default();
        let strings = [
            c(&s.id)?,
            c(&s.config_id)?,
            c(&s.content_type)?,
            c(&s.bucket)?,
            c(&s.key)?,
            c(&prediction)?,
            c(&metadata)?,
        ];
        let mut error = [0 as c_char; 512];
        let sample = edgeclass_feedback_sample {
            id: strings[0].as_ptr(),
            config_id: strings[1].as_ptr(),
            content_type: strings[2].as_ptr(),
            bucket: strings[3].as_ptr(),
            key: strings[4].as_ptr(),
            data: s.input.as_ptr(),
            len: s.input.len(),
            prediction_json: strings[5].as_ptr(),
            metadata_json: strings[6].as_ptr(),
            error: error.as_mut_ptr(),
            error_cap: error.len() - 1,
        };
        let rc = callback(user as *mut c_void, &sample);
        if rc == 0 {
            return Ok(serde_json::Map::new());
        }
        // The buffer has one spare NUL the callback cannot overwrite.
        // SAFETY: `error` is NUL-terminated: its last byte is never handed out.
        let text = unsafe { CStr::from_ptr(error.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        Err(match text.split_once(": ") {
            Some((kind, msg)) if !kind.is_empty() && !kind.contains(' ') => {
                crate::feedback::UploadError {
                    error: kind.to_string(),
                    message: msg.to_string(),
                }
            }
            _ if !text.is_empty() => crate::feedback::UploadError {
                error: "UploadFailed".into(),
                message: text,
            },
            _ => crate::feedback::UploadError {
                error: "UploadFailed".into(),
                message: format!("the upload callback returned {rc}"),
            },
        })
    })
}

/// Upload in the background: a thread calls `callback` for each spooled sample, oldest first, as
/// soon as it is spooled (and for those left from earlier runs); after a failure it tries again
/// after a backoff (1 s doubling to 60 s). NULL `callback` stops the thread (waiting for the
/// upload in progress). `user_data` is passed back verbatim and must stay valid until the
/// callback is replaced or the connector closed.
///
/// # Safety
/// `fb` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_feedback_set_upload_callback(
    fb: *const edgeclass_feedback,
    callback: edgeclass_upload_fn,
    user_data: *mut c_void,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { handle(fb, "fb")? };
        h.feedback
            .set_uploader(callback.map(|cb| c_uploader(cb, user_data)))
    })
}

/// Upload spooled samples now, on this thread, oldest first, through `callback`, until the spool
/// is empty, `max` were uploaded (0: no limit) or one fails. `*uploaded` (may be NULL) gets the
/// count. A failed upload is not an error of this call (the sample stays; see the status message).
///
/// # Safety
/// `fb` is a live handle; `uploaded` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_feedback_drain(
    fb: *const edgeclass_feedback,
    callback: edgeclass_upload_fn,
    user_data: *mut c_void,
    max: usize,
    uploaded: *mut usize,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { handle(fb, "fb")? };
        let cb = callback.ok_or_else(|| invalid_argument("callback is NULL"))?;
        let report = h.feedback.drain(&c_uploader(cb, user_data), max)?;
        if !uploaded.is_null() {
            // SAFETY: non-NULL, caller contract.
            unsafe { uploaded.write(report.uploaded) };
        }
        Ok(())
    })
}

/// Receive every message (status, prediction, inference results) through `callback`, e.g. to
/// publish with your own MQTT client; in addition to the built-in MQTT client when configured.
/// NULL stops it. `user_data` must stay valid until replaced or the connector closed.
///
/// # Safety
/// `fb` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_feedback_set_message_callback(
    fb: *const edgeclass_feedback,
    callback: edgeclass_message_fn,
    user_data: *mut c_void,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { handle(fb, "fb")? };
        let user = user_data as usize;
        let cb: Option<crate::feedback::MessageCallback> = callback.map(|cb| {
            Arc::new(move |topic: &str, payload: &[u8]| {
                if let Ok(t) = std::ffi::CString::new(topic) {
                    cb(
                        user as *mut c_void,
                        t.as_ptr(),
                        payload.as_ptr(),
                        payload.len(),
                    );
                }
            }) as crate::feedback::MessageCallback
        });
        h.feedback.set_message_callback(cb);
        Ok(())
    })
}

/// Wait until every MQTT message is acknowledged by the broker, at most `timeout_ms`:
/// `EDGECLASS_TIMEOUT` if some are still queued (they keep being retried). `EDGECLASS_OK` at once
/// without a broker.
///
/// # Safety
/// `fb` is a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_feedback_flush(
    fb: *const edgeclass_feedback,
    timeout_ms: u64,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let h = unsafe { handle(fb, "fb")? };
        if h.feedback.flush(Duration::from_millis(timeout_ms)) {
            Ok(())
        } else {
            Err(Error::new(
                Code::Timeout,
                format!(
                    "{} MQTT message(s) not yet acknowledged after {timeout_ms} ms",
                    h.feedback.stats().mqtt.queued
                ),
            ))
        }
    })
}

/// The connector's counters.
///
/// # Safety
/// `fb` is a live handle; `out` is valid for writing an `edgeclass_feedback_stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_feedback_get_stats(
    fb: *const edgeclass_feedback,
    out: *mut edgeclass_feedback_stats,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        let s = unsafe { handle(fb, "fb")? }.feedback.stats();
        let stats = edgeclass_feedback_stats {
            requests: s.requests,
            spooled: s.spooled,
            dropped_by_strategy: s.dropped_by_strategy,
            throttled: s.throttled,
            spool_errors: s.spool_errors,
            uploaded: s.uploaded,
            upload_failures: s.upload_failures,
            predictions_published: s.predictions_published,
            hook_errors: s.hook_errors,
            spool_samples: s.spool.samples,
            spool_bytes: s.spool.bytes,
            spool_dropped_oldest: s.spool.dropped_oldest,
            spool_corrupt: s.spool.corrupt,
            spool_cleaned_temp: s.spool.cleaned_temp,
            mqtt_queued: s.mqtt.queued,
            mqtt_delivered: s.mqtt.delivered,
            mqtt_overflowed: s.mqtt.overflowed,
            mqtt_reconnects: s.mqtt.reconnects,
            mqtt_connected: s.mqtt.connected,
        };
        // SAFETY: caller contract.
        unsafe { write_out(out, stats, "out") }
    })
}
