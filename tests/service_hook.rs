//! A service tells its hook about every successful classification, with what it answered and
//! what it was sent, and nothing about a failed one; a panicking hook cannot fail a
//! classification. (ML Feedback is such a hook: tests/feedback.rs.)

mod common;

use std::sync::{Arc, Mutex};

use edgeclass::service::{ClassificationHook, Classified, Service, ServiceConfig};

/// What a hook was told: service, body, probabilities, label count.
type Seen = (String, Vec<u8>, Vec<f32>, Option<usize>);

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
}

impl ClassificationHook for Recorder {
    fn classified(&self, e: &Classified<'_>) {
        self.seen.lock().unwrap().push((
            e.service.to_string(),
            e.body.to_vec(),
            e.probs.to_vec(),
            e.labels.map(|l| l.len()),
        ));
    }
}

struct Panics;

impl ClassificationHook for Panics {
    fn classified(&self, _: &Classified<'_>) {
        panic!("a hook's bug");
    }
}

fn open(name: &str, hook: Arc<dyn ClassificationHook>) -> Service {
    let params = common::tiny_service_params(name, 200_000, 1);
    Service::open_with_hook(ServiceConfig::from_parameters(&params).unwrap(), Some(hook)).unwrap()
}

fn images() -> Vec<(String, Vec<u8>)> {
    let dir = common::fixtures().join("tiny-trained/images");
    ["digit00_label0_28x28.jpg", "digit07_label3_28x28.png"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read(dir.join(n)).unwrap()))
        .collect()
}

#[test]
fn the_hook_sees_each_answer_and_body() {
    let recorder = Arc::new(Recorder::default());
    let service = open("hook-svc", recorder.clone());
    let mut answered = Vec::new();
    for (name, body) in images() {
        let ct = if name.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        };
        answered.push((
            body.clone(),
            service.classify(ct, &body, None).unwrap().probs,
        ));
    }
    // A bad image fails, and the hook hears nothing of it.
    assert!(service.classify("image/png", b"not a png", None).is_err());
    let seen = recorder.seen.lock().unwrap();
    assert_eq!(seen.len(), answered.len());
    for ((service, body, probs, _), (sent, probs_answered)) in seen.iter().zip(&answered) {
        assert_eq!(service, "hook-svc");
        assert_eq!(body, sent);
        assert_eq!(probs, probs_answered);
    }
}

#[test]
fn a_panicking_hook_does_not_fail_the_classification() {
    let service = open("hook-panics", Arc::new(Panics));
    let (name, body) = &images()[1];
    assert!(name.ends_with(".png"));
    let c = service.classify("image/png", body, None).unwrap();
    // The same answer as a service without a hook gives.
    let params = common::tiny_service_params("hook-none", 200_000, 1);
    let plain = Service::open(ServiceConfig::from_parameters(&params).unwrap()).unwrap();
    assert_eq!(
        c.probs,
        plain.classify("image/png", body, None).unwrap().probs
    );
}
