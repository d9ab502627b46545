//! The one buffer rule of the C functions that copy into a caller's buffer
//! (`edgeclass_service_label`, `edgeclass_result_body`, `edgeclass_result_probabilities`),
//! checked on each with the same cases: a NULL buffer with capacity 0 is a size query (OK, the
//! size written); a NULL buffer with any other capacity holds nothing (BUFFER_TOO_SMALL: the
//! label answered OK here while the body answered BUFFER_TOO_SMALL); a buffer one short is
//! BUFFER_TOO_SMALL; an exact one is OK and holds the value.

use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};

use edgeclass::ffi::*;

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-trained");
const IMAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tiny-trained/images/digit07_label3_28x28.png"
);

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// A function under the rule: (buffer, capacity, out size) -> status; `elem` bytes an element.
type CopyOut<'a> = Box<dyn Fn(*mut u8, usize, *mut usize) -> edgeclass_status + 'a>;

/// Runs the cases on `f`, whose value is `want` (text: its bytes and the NUL).
fn rule_holds(what: &str, f: CopyOut, want: &[u8], elem: usize) {
    use edgeclass_status::*;
    let n = want.len() / elem;
    let mut size = 0usize;
    assert_eq!(
        f(null_mut(), 0, &mut size),
        EDGECLASS_OK,
        "{what}: size query"
    );
    assert_eq!(size, n, "{what}: size");
    for cap in [1, n, n + 1, 1 << 20] {
        size = 0;
        assert_eq!(
            f(null_mut(), cap, &mut size),
            EDGECLASS_BUFFER_TOO_SMALL,
            "{what}: NULL buffer with capacity {cap}"
        );
        assert_eq!(size, n, "{what}: size with a NULL buffer");
    }
    let mut buf = vec![0xAAu8; want.len()];
    assert_eq!(
        f(buf.as_mut_ptr(), n - 1, &mut size),
        EDGECLASS_BUFFER_TOO_SMALL,
        "{what}: one short"
    );
    buf.fill(0xAA);
    assert_eq!(
        f(buf.as_mut_ptr(), n, &mut size),
        EDGECLASS_OK,
        "{what}: exact"
    );
    assert_eq!(buf, want, "{what}: contents");
}

#[test]
fn every_copy_out_function_follows_the_same_buffer_rule() {
    // SAFETY (whole test): every pointer passed is NULL, a live CString, a live Vec of the
    // capacity given, or a handle this library returned and that is not yet freed.
    unsafe {
        let p = edgeclass_params_new();
        for (k, v) in [
            ("MLModelDestinationPath", MODEL),
            ("LocalInferenceServiceName", "buffer-rule"),
            ("LocalInferenceServiceTimeoutSeconds", "30"),
            ("LocalInferenceServiceMemoryLimitKB", "200000"),
        ] {
            let (k, v) = (c(k), c(v));
            assert_eq!(
                edgeclass_params_set(p, k.as_ptr(), v.as_ptr()),
                edgeclass_status::EDGECLASS_OK
            );
        }
        let mut svc = null_mut();
        assert_eq!(
            edgeclass_service_open(p, &mut svc),
            edgeclass_status::EDGECLASS_OK
        );
        edgeclass_params_free(p);
        let image = std::fs::read(IMAGE).unwrap();
        let ct = c("image/png");
        let mut r = null_mut();
        assert_eq!(
            edgeclass_classify(
                svc,
                ct.as_ptr(),
                image.as_ptr(),
                image.len(),
                null(),
                &mut r
            ),
            edgeclass_status::EDGECLASS_OK
        );

        // The references: labels.txt's first line, the body and probabilities as the Rust API
        // gives them.
        let labels = std::fs::read_to_string(format!("{MODEL}/labels.txt")).unwrap();
        let label = format!("{}\0", labels.lines().next().unwrap());
        let mut body = vec![0u8; 4096];
        edgeclass_result_body(r, body.as_mut_ptr() as *mut c_char, body.len(), null_mut());
        let body = CStr::from_ptr(body.as_ptr() as *const c_char)
            .to_bytes_with_nul()
            .to_vec();
        assert!(body.starts_with(b"[") && body.ends_with(b"]\0"));
        let probs: Vec<f32> = std::str::from_utf8(&body[1..body.len() - 2])
            .unwrap()
            .split(',')
            .map(|x| x.parse().unwrap())
            .collect();
        let probs_bytes: Vec<u8> = probs.iter().flat_map(|p| p.to_ne_bytes()).collect();

        rule_holds(
            "edgeclass_service_label",
            Box::new(|b, cap, n| edgeclass_service_label(svc, 0, b as *mut c_char, cap, n)),
            label.as_bytes(),
            1,
        );
        rule_holds(
            "edgeclass_result_body",
            Box::new(|b, cap, n| edgeclass_result_body(r, b as *mut c_char, cap, n)),
            &body,
            1,
        );
        rule_holds(
            "edgeclass_result_probabilities",
            Box::new(|b, cap, n| edgeclass_result_probabilities(r, b as *mut f32, cap, n)),
            &probs_bytes,
            4,
        );
        edgeclass_result_free(r);
        edgeclass_service_close(svc);
    }
}
