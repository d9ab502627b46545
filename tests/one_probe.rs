//! One probe per request: the service reads an image's headers once (its admission probe is the
//! one the decode uses), so the content-type mismatch warning is logged once per request. It was
//! logged twice (the admission probe and the decode's own), and a JPEG's markers were walked a
//! third time.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};

use edgeclass::{Service, ServiceConfig};

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-trained");
const PNG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tiny-trained/images/digit07_label3_28x28.png"
);

static MISMATCH_WARNINGS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count(_: *mut c_void, level: i32, message: *const c_char) {
    // SAFETY: the logger passes a NUL-terminated message valid during the call.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    if level == 2 && text.contains("content type \"image/jpeg\" but the bytes are PNG") {
        MISMATCH_WARNINGS.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_content_type_mismatch_is_warned_once_per_request() {
    let status = edgeclass::ffi::edgeclass_set_log_callback(Some(count), std::ptr::null_mut(), 2);
    assert_eq!(status, edgeclass::ffi::edgeclass_status::EDGECLASS_OK);
    let mut p = BTreeMap::new();
    for (k, v) in [
        ("MLModelDestinationPath", MODEL),
        ("LocalInferenceServiceName", "one-probe"),
        ("LocalInferenceServiceTimeoutSeconds", "30"),
        ("LocalInferenceServiceMemoryLimitKB", "200000"),
    ] {
        p.insert(k.to_string(), v.to_string());
    }
    let service = Service::open(ServiceConfig::from_parameters(&p).unwrap()).unwrap();
    let png = std::fs::read(PNG).unwrap();
    let right = service.classify("image/png", &png, None).unwrap();
    assert_eq!(MISMATCH_WARNINGS.load(Ordering::SeqCst), 0);
    for round in 1..=3 {
        // Lenient by default: decoded by its bytes, as OpenCV does, with one warning.
        let c = service.classify("image/jpeg", &png, None).unwrap();
        assert_eq!(c.probs, right.probs);
        assert_eq!(
            MISMATCH_WARNINGS.load(Ordering::SeqCst),
            round,
            "warnings after {round} requests"
        );
    }
}
