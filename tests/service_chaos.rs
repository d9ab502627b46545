//! Chaos stress (issue 9): request threads mixing good and hostile images, requests cancelled
//! from another thread or given deadlines that expire, while another thread opens and closes a
//! second service through the registry and a third calls it by name. Passes when:
//! - every plain request equals the serial answer (bit for bit) or the serial error code;
//! - a cancelled or deadlined request gives the serial answer or exactly `Cancelled`/`Timeout`;
//! - a call by name gives the serial answer or `UnknownService` (closed), and opening an open
//!   name gives `ServiceExists`;
//! - the library's peak live heap stays within the sum of the limits of the services alive at
//!   once (the main one, and at most two of the churned one: one closing, one opening);
//! - nothing leaks: after warm-up, the live heap returns to its level when everything is closed,
//!   and RSS stays flat (growth printed and bounded).
//!
//! Alone in its test binary, so the process-wide heap figures are this test's.
//! `CHAOS_ROUNDS` (default 4) scales the run.
#![cfg(feature = "heap-accounting")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use edgeclass::mem::heap;
use edgeclass::service::{registry, Service, ServiceConfig};
use edgeclass::{Code, Request};

type Answer = Result<Vec<f32>, Code>;

fn answer(r: edgeclass::Result<edgeclass::Classification>) -> Answer {
    r.map(|c| c.probs).map_err(|e| e.code)
}

/// A small deterministic generator (xorshift), one per thread: reproducible mixes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[derive(Default)]
struct Counts {
    plain: AtomicU64,
    cancelled: AtomicU64,
    cancel_lost_race: AtomicU64,
    timed_out: AtomicU64,
    by_name_ok: AtomicU64,
    by_name_unknown: AtomicU64,
    opened: AtomicU64,
    exists: AtomicU64,
}

#[test]
fn chaos_mix_keeps_answers_limits_and_memory() {
    let rounds: usize = std::env::var("CHAOS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let images = Arc::new(common::stress_images());
    let main_kb = common::tiny_limit_kb(&images, 2);
    let churn_kb = common::tiny_limit_kb(&images, 1);
    let service = Arc::new(
        Service::open(
            ServiceConfig::from_parameters(&common::tiny_service_params("chaos", main_kb, 2))
                .unwrap(),
        )
        .unwrap(),
    );
    let serial: Arc<Vec<Answer>> = Arc::new(
        images
            .iter()
            .map(|(_, b)| answer(service.classify("image/jpeg", b, None)))
            .collect(),
    );
    let decoded = serial.iter().filter(|r| r.is_ok()).count();
    assert!(decoded >= 40 && decoded < images.len(), "{decoded} decoded");

    // Warm-up: one round on every thread shape used below (allocator arenas, tract's per-thread
    // scratch, the registry, one churn open/close), then the baselines.
    let churn_params = common::tiny_service_params("chaos-churn", churn_kb, 1);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for (_, b) in images.iter() {
                    let _ = service.classify("image/jpeg", b, None);
                }
            });
        }
    });
    let churn = registry::open(&churn_params).unwrap();
    let _ = registry::invoke(
        "image-classification",
        "chaos-churn",
        "image/jpeg",
        &images[0].1,
        None,
    );
    drop(churn);
    assert!(registry::close("chaos-churn"));
    let live_after_warmup = heap::live_bytes() as i64;
    let rss_after_warmup = rss_bytes();
    heap::reset_peak();
    let peak_base = heap::live_bytes() as u64;
    let limit_bytes = (main_kb + 2 * churn_kb) * 1024;

    let counts = Arc::new(Counts::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (cancel_tx, cancel_rx) = mpsc::channel::<(Arc<Request>, u64)>();
    let started = Instant::now();
    std::thread::scope(|s| {
        // The canceller: cancels each request it is handed after the delay it is given.
        s.spawn(move || {
            while let Ok((req, delay_us)) = cancel_rx.recv() {
                std::thread::sleep(Duration::from_micros(delay_us));
                req.cancel();
            }
        });
        // Request threads on the main service.
        let mut workers = Vec::new();
        for t in 0..4u64 {
            let (service, images, serial, counts) = (&service, &images, &serial, counts.clone());
            let cancel_tx = cancel_tx.clone();
            workers.push(s.spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                for round in 0..rounds {
                    for k in 0..images.len() {
                        let k = (k + t as usize * 13 + round) % images.len();
                        let (name, body) = (&images[k].0, &images[k].1);
                        let want = &serial[k];
                        let what = format!("thread {t} round {round} {name}");
                        match rng.below(10) {
                            // Cancelled before it starts: always exactly Cancelled.
                            0 => {
                                let req = Request::new();
                                req.cancel();
                                let got = answer(service.classify("image/jpeg", body, Some(&req)));
                                assert_eq!(got, Err(Code::Cancelled), "{what}");
                                counts.cancelled.fetch_add(1, Ordering::Relaxed);
                            }
                            // Cancelled from the canceller thread at a random point.
                            1 | 2 => {
                                let req = Arc::new(Request::new());
                                cancel_tx.send((req.clone(), rng.below(3000))).unwrap();
                                let got = answer(service.classify("image/jpeg", body, Some(&req)));
                                if got == Err(Code::Cancelled) {
                                    counts.cancelled.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    assert_eq!(&got, want, "{what} (cancel raced)");
                                    counts.cancel_lost_race.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            // A deadline of 1 µs to 2 ms: expires somewhere, or not at all.
                            3 | 4 => {
                                let req = Request::new();
                                req.set_timeout(Duration::from_micros(1 + rng.below(2000)));
                                let got = answer(service.classify("image/jpeg", body, Some(&req)));
                                if got == Err(Code::Timeout) {
                                    counts.timed_out.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    assert_eq!(&got, want, "{what} (deadline)");
                                }
                            }
                            _ => {
                                let got = answer(service.classify("image/jpeg", body, None));
                                assert_eq!(&got, want, "{what}");
                                counts.plain.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }));
        }
        drop(cancel_tx);
        // The churn: open the second service, check a second open is refused, close it; again.
        {
            let (stop, counts, images) = (stop.clone(), counts.clone(), &images);
            let churn_params = &churn_params;
            s.spawn(move || {
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let svc = registry::open(churn_params).unwrap();
                    counts.opened.fetch_add(1, Ordering::Relaxed);
                    let again = registry::open(churn_params).err().map(|e| e.code);
                    assert_eq!(again, Some(Code::ServiceExists));
                    counts.exists.fetch_add(1, Ordering::Relaxed);
                    let _ = svc.classify("image/jpeg", &images[i % images.len()].1, None);
                    drop(svc);
                    // Open long enough for calls by name to reach it.
                    std::thread::sleep(Duration::from_millis(30));
                    assert!(registry::close("chaos-churn"));
                    i += 1;
                }
            });
        }
        // Calls by name to the churned service, which may be open or closed at any moment.
        {
            let (stop, counts, images, serial) = (stop.clone(), counts.clone(), &images, &serial);
            s.spawn(move || {
                let mut k = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let i = k % images.len();
                    let got = answer(registry::invoke(
                        "image-classification",
                        "chaos-churn",
                        "image/jpeg",
                        &images[i].1,
                        None,
                    ));
                    if got == Err(Code::UnknownService) {
                        counts.by_name_unknown.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(1));
                    } else {
                        assert_eq!(got, serial[i], "by name: {}", images[i].0);
                        counts.by_name_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    k += 1;
                }
            });
        }
        let mut panicked = None;
        for w in workers {
            if let Err(p) = w.join() {
                panicked = Some(p);
            }
        }
        stop.store(true, Ordering::Relaxed);
        if let Some(p) = panicked {
            std::panic::resume_unwind(p);
        }
    });
    let elapsed = started.elapsed();
    let peak = heap::peak_bytes() as u64 - peak_base;
    let stats = service.stats();
    let c = &*counts;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    eprintln!(
        "chaos: {} images x {rounds} rounds x 4 threads in {elapsed:?}: {} plain, {} cancelled \
         ({} cancels lost the race), {} timed out; churn: {} opens ({} refused as existing), \
         {} calls by name answered, {} unknown; peak live heap {peak} of {limit_bytes} bytes \
         ({:.1} %)",
        images.len(),
        n(&c.plain),
        n(&c.cancelled),
        n(&c.cancel_lost_race),
        n(&c.timed_out),
        n(&c.opened),
        n(&c.exists),
        n(&c.by_name_ok),
        n(&c.by_name_unknown),
        100.0 * peak as f64 / limit_bytes as f64
    );
    assert_eq!(
        stats.requests,
        images.len() as u64 * (1 + 4 + 4 * rounds as u64),
        "every request counted once"
    );
    assert_eq!(stats.cancelled, n(&c.cancelled));
    assert_eq!(stats.timeouts, n(&c.timed_out));
    assert!(n(&c.cancelled) > 0 && n(&c.timed_out) > 0 && n(&c.opened) > 0);
    assert!(peak <= limit_bytes, "peak live heap {peak} > {limit_bytes}");

    // Leaks: close everything the run opened; the live heap must be back where it was after the
    // warm-up (same services open then: the main one), up to a little per-thread state.
    assert!(registry::names().is_empty(), "{:?}", registry::names());
    let live_end = heap::live_bytes() as i64;
    let rss_end = rss_bytes();
    let rss_growth = rss_end as i64 - rss_after_warmup as i64;
    eprintln!(
        "chaos: live heap after warm-up {live_after_warmup} B, at the end {live_end} B \
         ({:+} B); RSS {rss_after_warmup} -> {rss_end} B ({:+.1} MiB)",
        live_end - live_after_warmup,
        rss_growth as f64 / (1 << 20) as f64
    );
    assert!(
        live_end - live_after_warmup <= 64 * 1024,
        "live heap grew by {} B",
        live_end - live_after_warmup
    );
    // Under qemu-user, RSS is mostly the emulator's translation cache, which grows with new code.
    if !common::emulated() {
        assert!(rss_growth < 16 << 20, "RSS grew by {rss_growth} B");
    }
}
