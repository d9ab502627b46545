//! The Rust API as a Rust user meets it: a `Classifier` (bytes in, classification out) answers
//! MXNet's goldens; a `Service` over the same loaded model (`Service::with_model`) gives the same
//! answers; a `ServiceConfig` from the builder opens a service.

mod common;

use std::sync::Arc;

use common::{assert_matches, fixtures, load_goldens};
use edgeclass::image::DecodeOptions;
use edgeclass::{Classifier, Model, ModelOptions, Service, ServiceConfig};

#[test]
fn a_classifier_and_a_service_sharing_its_model_answer_mxnet_goldens() {
    let f = fixtures();
    let dir = f.join("tiny-trained");
    let model = Arc::new(Model::load(&dir, &ModelOptions::default()).unwrap());
    let mut classifier = Classifier::new(model.clone(), DecodeOptions::default()).unwrap();
    let config = ServiceConfig::builder("rust-api", &dir)
        .timeout_seconds(30)
        .memory_limit_kb(200_000)
        .build()
        .unwrap();
    let service = Service::with_model(config, model, None).unwrap();
    let mut checked = 0;
    // PNG goldens: the decode is exact, so the probabilities match MXNet's within float noise.
    for g in load_goldens(&f.join("tiny-trained/goldens.json"))
        .iter()
        .filter(|g| g.image.ends_with(".png"))
    {
        let bytes = std::fs::read(f.join(&g.image)).unwrap();
        if !bytes.starts_with(b"\x89PNG") {
            continue; // e.g. a JPEG named .png: decoded by zune, within a tolerance only
        }
        let c = classifier.classify("image/png", &bytes).unwrap();
        assert_matches(&g.image, &c.probs, c.logits.as_ref().unwrap(), g);
        assert!(c.stats.decoded_width > 0 && c.stats.decoded_height > 0);
        let top = classifier.top(&c.probs, 5);
        assert_eq!(
            top.iter().map(|t| t.0).collect::<Vec<_>>(),
            g.top5[..top.len()],
            "{}",
            g.image
        );
        let s = service.classify("image/png", &bytes, None).unwrap();
        assert_eq!(s.probs, c.probs, "{}", g.image);
        checked += 1;
    }
    assert!(checked >= 6, "{checked} PNG goldens");
    // A bad image is the same error either way.
    let a = classifier
        .classify("image/png", b"\x89PNG\r\n")
        .unwrap_err();
    let b = service
        .classify("image/png", b"\x89PNG\r\n", None)
        .unwrap_err();
    assert_eq!(a.code, b.code);
}

#[test]
fn a_builder_config_opens_a_service_and_a_classifier_loads_alone() {
    let f = fixtures();
    let dir = f.join("tiny-trained");
    let service = Service::open(
        ServiceConfig::builder("rust-api-open", &dir)
            .timeout_seconds(30)
            .memory_limit_kb(200_000)
            .build()
            .unwrap(),
    )
    .unwrap();
    let mut classifier =
        Classifier::load(&dir, &ModelOptions::default(), DecodeOptions::default()).unwrap();
    let bytes = std::fs::read(dir.join("images/digit07_label3_28x28.png")).unwrap();
    let a = service.classify("image/png", &bytes, None).unwrap();
    let b = classifier.classify("image/png", &bytes).unwrap();
    assert_eq!(a.probs, b.probs);
    // The label in the file name is the reference.
    assert_eq!(classifier.top(&b.probs, 1)[0].0, 3);
}
