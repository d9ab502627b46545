//! `Service::reload`: the model swapped under load, a failed reload leaving the old model
//! serving, and the memory limit covering the moment both models exist. The reference answers
//! come from services opened directly on each model (no reload involved).

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::*;
use edgeclass::service::{Service, ServiceConfig};
use edgeclass::Code;

const MIB: u64 = 1 << 20;

fn config(name: &str, model: &Path, limit_kb: u64, workers: usize) -> ServiceConfig {
    ServiceConfig::builder(name, model)
        .memory_limit_kb(limit_kb)
        .workers(workers)
        .timeout_seconds(30)
        .build()
        .unwrap()
}

fn tiny() -> PathBuf {
    fixtures().join("tiny-trained")
}

fn slim() -> PathBuf {
    fixtures().join("slim/r18-slim")
}

/// Images both models accept (the tiny model's digits and two photos), with their bytes.
fn images() -> Vec<(String, Vec<u8>)> {
    let f = fixtures();
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(f.join("tiny-trained/images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png" || x == "jpg"))
        .take(4)
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    for photo in ["photos/china.jpg", "photos/flower.jpg"] {
        v.push((photo.into(), std::fs::read(f.join(photo)).unwrap()));
    }
    v
}

/// Each image's answer from a service opened on `model` alone.
fn answers(model: &Path, images: &[(String, Vec<u8>)]) -> Vec<Vec<f32>> {
    let s = Service::open(config("reference", model, 512 * 1024, 1)).unwrap();
    images
        .iter()
        .map(|(_, b)| s.classify("application/x-image", b, None).unwrap().probs)
        .collect()
}

#[test]
fn twenty_swaps_under_load_fail_no_request_and_each_answer_is_one_models() {
    let images = images();
    let models = [tiny(), slim()];
    let expected = [answers(&models[0], &images), answers(&models[1], &images)];
    // The two models' answers differ for every image (else the test could not tell them apart).
    for (i, (name, _)) in images.iter().enumerate() {
        assert_ne!(expected[0][i], expected[1][i], "{name}");
    }
    let service = Arc::new(Service::open(config("swapped", &models[0], 512 * 1024, 2)).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let served = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let clients: Vec<_> = (0..2)
        .map(|c| {
            let (service, stop, images, expected, served) = (
                service.clone(),
                stop.clone(),
                images.clone(),
                expected.clone(),
                served.clone(),
            );
            thread::spawn(move || {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) || n < 10 {
                    let i = (n + c) % images.len();
                    let (name, body) = &images[i];
                    let probs = service
                        .classify("application/x-image", body, None)
                        .unwrap_or_else(|e| panic!("client {c}, request {n} ({name}): {e}"))
                        .probs;
                    let which = expected
                        .iter()
                        .position(|e| e[i] == probs)
                        .unwrap_or_else(|| {
                            panic!("client {c}, request {n} ({name}): neither model's answer")
                        });
                    served[which].fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
                n
            })
        })
        .collect();
    for swap in 1..=model_swaps() as u64 {
        let to = swap as usize % 2;
        let done = service.reload(Some(&models[to])).unwrap();
        assert_eq!(done.generation, swap + 1);
        assert_eq!(service.generation(), swap + 1);
        assert_eq!(done.model_path, models[to]);
        // After the swap, a new request gets the new model.
        let (name, body) = &images[swap as usize % images.len()];
        let probs = service
            .classify("application/x-image", body, None)
            .unwrap()
            .probs;
        assert_eq!(
            probs,
            expected[to][swap as usize % images.len()],
            "after swap {swap}: {name}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let requests: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let stats = service.stats();
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert!(requests >= 20, "{requests}");
    // Both models answered the clients (each served half of the swaps' intervals).
    for (m, n) in served.iter().enumerate() {
        assert!(n.load(Ordering::Relaxed) > 0, "model {m} never answered");
    }
}

#[test]
fn a_hostile_model_fails_the_reload_with_its_error_and_the_old_model_serves_on() {
    let images = images();
    let expected = answers(&tiny(), &images);
    let service = Service::open(config("hostile-reload", &tiny(), 512 * 1024, 2)).unwrap();
    let dir = fixtures().join("hostile-models");
    let mut tried = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        // The reference: the error of a service opened on it directly.
        let reference = Service::open(config("hostile-ref", &path, 512 * 1024, 1)).unwrap_err();
        let e = service.reload(Some(&path)).unwrap_err();
        assert_eq!(e.code, reference.code, "{}: {e}", path.display());
        assert!(
            e.message.contains("the current model serves on"),
            "{}: {e}",
            path.display()
        );
        assert_eq!(service.generation(), 1);
        for (i, (name, body)) in images.iter().enumerate() {
            let probs = service
                .classify("application/x-image", body, None)
                .unwrap()
                .probs;
            assert_eq!(probs, expected[i], "after {}: {name}", path.display());
        }
        tried += 1;
    }
    assert!(tried >= 15, "{tried} hostile models");
    assert_eq!(service.model().info.input_shape, [1, 3, 28, 28]);
}

#[test]
fn a_reload_that_does_not_fit_beside_the_old_model_is_refused_and_the_old_model_serves() {
    let images = images();
    let expected = answers(&tiny(), &images);
    // Sized for one tiny model and its two workers: no room for r50-slim's load beside it.
    let sizing = Service::open(config("sizing", &tiny(), 512 * 1024, 2)).unwrap();
    let b = sizing.budget();
    let big = Service::open(config(
        "sizing-big",
        &fixtures().join("slim/r50-slim"),
        512 * 1024,
        1,
    ))
    .unwrap()
    .budget();
    let limit = b.load_peak_bytes.max(b.fixed_bytes() + 2 * MIB);
    assert!(
        big.load_peak_bytes > limit - b.fixed_bytes(),
        "{big:?} {b:?}"
    );
    let service = Service::open(config("tight", &tiny(), limit.div_ceil(1024), 2)).unwrap();
    let e = service
        .reload(Some(&fixtures().join("slim/r50-slim")))
        .unwrap_err();
    assert_eq!(e.code, Code::MemoryLimit, "{e}");
    assert!(e.message.contains("beside the current model"), "{e}");
    assert_eq!(service.generation(), 1);
    for (i, (name, body)) in images.iter().enumerate() {
        let c = service.classify("application/x-image", body, None).unwrap();
        assert_eq!(c.probs, expected[i], "{name}");
    }
    // Reloading the same model needs its load peak beside it: half of it is refused, all of
    // it (and the load's reservation margins) is enough.
    let e = service.reload(None).unwrap_err();
    assert_eq!(e.code, Code::MemoryLimit, "{e}");
    let roomy = b.fixed_bytes() + b.load_peak_bytes + MIB;
    let service = Service::open(config("roomy", &tiny(), roomy.div_ceil(1024), 2)).unwrap();
    let done = service.reload(None).unwrap();
    assert_eq!((done.generation, done.model_path), (2, tiny()));
    assert_eq!(done.budget.limit, roomy.div_ceil(1024) * 1024);
    for (i, (name, body)) in images.iter().enumerate() {
        let c = service.classify("application/x-image", body, None).unwrap();
        assert_eq!(c.probs, expected[i], "{name}");
    }
}

#[test]
fn requests_racing_a_reload_each_get_one_models_whole_answer() {
    let images = images();
    let expected = answers(&slim(), &images);
    let service = Arc::new(Service::open(config("waiting", &tiny(), 512 * 1024, 1)).unwrap());
    let start = Arc::new(Barrier::new(5));
    let waiting: Vec<_> = (0..4)
        .map(|i| {
            let (service, start, images) = (service.clone(), start.clone(), images.clone());
            thread::spawn(move || {
                start.wait();
                let (_, body) = &images[i % images.len()];
                let c = service.classify("application/x-image", body, None).unwrap();
                (i % images.len(), c.probs)
            })
        })
        .collect();
    start.wait();
    service.reload(Some(&slim())).unwrap();
    for w in waiting {
        let (i, probs) = w.join().unwrap();
        // Each request ran on one model or the other, whole: never a mix, never an error.
        assert!(
            probs == expected[i] || probs == answers(&tiny(), &images)[i],
            "image {i}"
        );
    }
    assert_eq!(service.budget().workers, 1);
    assert_eq!(service.model().info.input_shape, [1, 3, 64, 64]);
}
