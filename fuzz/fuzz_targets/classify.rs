//! End to end: body bytes -> `Service::classify` on the `tiny-trained` model (ResNet-20, 3x28x28,
//! 10 classes), loaded once. The first byte picks the content type (the connector's four) and
//! one of two services: lenient with EXIF (the defaults), or strict without EXIF. Both run with
//! a 4 Mpixel cap and a 160 MB memory limit, so no input can make the fuzzer run out of memory.
//!
//! Invariants: an answer has 10 probabilities in [0, 1] summing to 1, and the connector body
//! has 10 values; an error has an image or limit code, never `Internal`/`Panic`; a failed request
//! leaves the service able to answer the next one.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use edgeclass::{Code, Service, ServiceConfig};
use libfuzzer_sys::fuzz_target;

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/tiny-trained"
);
const DIGIT: &[u8] =
    include_bytes!("../../tests/fixtures/tiny-trained/images/digit07_label3_28x28.png");
const TYPES: [&str; 4] = [
    "image/jpeg",
    "image/png",
    "application/x-image",
    "image/jpg",
];

fn open(name: &str, strict: bool) -> Service {
    let mut p = BTreeMap::new();
    let mut set = |k: &str, v: &str| p.insert(k.to_string(), v.to_string());
    set("MLModelDestinationPath", MODEL);
    set("LocalInferenceServiceName", name);
    set("LocalInferenceServiceTimeoutSeconds", "60");
    set("LocalInferenceServiceMemoryLimitKB", "160000");
    set("EdgeclassMaxImagePixels", "4194304");
    if strict {
        set("EdgeclassStrictDecoding", "true");
        set("EdgeclassApplyExif", "false");
    }
    let config = ServiceConfig::from_parameters(&p).expect("parameters");
    Service::open(config).expect("open tiny-trained")
}

fn services() -> &'static [Service; 2] {
    static S: OnceLock<[Service; 2]> = OnceLock::new();
    S.get_or_init(|| [open("fuzz-lenient", false), open("fuzz-strict", true)])
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = TYPES[usize::from(selector & 3)];
    let strict = selector & 4 != 0;
    let service = &services()[usize::from(strict)];
    match service.classify(content_type, body, None) {
        Ok(c) => {
            assert_eq!(c.probs.len(), 10);
            assert!(
                c.probs.iter().all(|p| (0.0..=1.0).contains(p)),
                "{:?}",
                c.probs
            );
            let sum: f32 = c.probs.iter().sum();
            assert!((sum - 1.0).abs() < 1e-3, "probabilities sum to {sum}");
            let text = edgeclass::answer::connector_body(&c.probs);
            assert!(text.starts_with('[') && text.ends_with(']'));
            assert_eq!(text.split(',').count(), 10);
            assert!(c.stats.decoded_width >= 1 && c.stats.decoded_height >= 1);
        }
        Err(e) => {
            let ok = matches!(
                e.code,
                Code::UnsupportedImageFormat
                    | Code::CorruptImage
                    | Code::UnsupportedImageFeature
                    | Code::ImageTooLarge
                    | Code::MemoryLimit
            ) || (strict && e.code == Code::ContentTypeMismatch);
            assert!(ok, "unexpected error code {:?}: {e}", e.code);
            // The worker that failed is still good: a known image still classifies.
            if data.len() % 16 == 0 {
                let again = service
                    .classify("image/png", DIGIT, None)
                    .expect("service broken");
                assert_eq!(again.probs.len(), 10);
            }
        }
    }
});
