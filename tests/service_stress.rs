//! Stress: every fixture image, good and hostile, x 20 rounds x 4 threads, on a service whose
//! memory limit is just above its need. No crash, every answer (or error code) identical to the
//! serial one, and the library's live heap never above the limit.
//! Alone in its test binary, so the process-wide heap figures are this test's.
#![cfg(feature = "heap-accounting")]

mod common;

use std::sync::Arc;

use edgeclass::mem::heap;
use edgeclass::service::{Service, ServiceConfig};
use edgeclass::Code;

fn config(memory_kb: u64) -> ServiceConfig {
    ServiceConfig::from_parameters(&common::tiny_service_params("stress", memory_kb, 2)).unwrap()
}

#[test]
fn all_images_many_threads_inside_the_limit() {
    let images = common::stress_images();
    // Size the limit as a user would: see common::tiny_limit_kb.
    let limit_kb = common::tiny_limit_kb(&images, 2);
    let limit = limit_kb * 1024;

    let baseline = heap::live_bytes() as u64;
    heap::reset_peak();
    let service = Arc::new(Service::open(config(limit_kb)).unwrap());
    let serial: Vec<Result<Vec<f32>, Code>> = images
        .iter()
        .map(|(_, b)| {
            service
                .classify("image/jpeg", b, None)
                .map(|c| c.probs)
                .map_err(|e| e.code)
        })
        .collect();
    let ok = serial.iter().filter(|r| r.is_ok()).count();
    assert!(
        ok >= 40 && ok < images.len(),
        "{ok} of {} decoded",
        images.len()
    );
    let load_peak = heap::peak_bytes() as u64 - baseline;
    heap::reset_peak();
    let images = Arc::new(images);
    let serial = Arc::new(serial);
    let started = std::time::Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (service, images, serial) = (service.clone(), images.clone(), serial.clone());
            std::thread::spawn(move || {
                for round in 0..20 {
                    for k in 0..images.len() {
                        let k = (k + t * 13 + round) % images.len();
                        let got = service
                            .classify("image/jpeg", &images[k].1, None)
                            .map(|c| c.probs)
                            .map_err(|e| e.code);
                        assert_eq!(got, serial[k], "thread {t} round {round} {}", images[k].0);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let serving_peak = heap::peak_bytes() as u64 - baseline;
    let peak = load_peak.max(serving_peak);
    let stats = service.stats();
    eprintln!(
        "stress: {} images x 20 rounds x 4 threads in {:?}; {} requests ({} ok, {} failed); peak live heap {peak} bytes (opening {load_peak}, serving {serving_peak}), limit {limit} bytes ({:.1} %)",
        images.len(),
        started.elapsed(),
        stats.requests,
        stats.succeeded,
        stats.failed,
        100.0 * peak as f64 / limit as f64
    );
    assert!(peak <= limit, "peak live heap {peak} > limit {limit}");
    assert_eq!(stats.requests, images.len() as u64 * 81);
}
