//! What a rayon parallel region costs when the pool's threads went idle before it, as they do
//! between the nodes of a multi-threaded inference (the measurement behind `model/hot.rs`).
//! `cargo bench --bench pool_wake`: for each single-threaded gap before a region of 2 x W us of
//! spinning work on a 2-thread pool, the region's median and 90th percentile, and its overhead
//! (median minus W), called from outside the pool (how runs were made before `model/hot.rs`)
//! and from inside it with the other thread spinning (how they are made now).
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const REGIONS: usize = 300;

fn spin_for(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        black_box(0);
    }
}

fn report(how: &str, gap_us: u64, work_us: u64, mut times: Vec<f64>) {
    times.sort_by(f64::total_cmp);
    let med = times[times.len() / 2];
    println!(
        "{how:8} gap {gap_us:5} us, 2 x {work_us:4} us: region median {med:7.1} us (overhead {:6.1}), p90 {:7.1}",
        med - work_us as f64,
        times[times.len() * 9 / 10]
    );
}

fn regions(pool: &rayon::ThreadPool, gap: Duration, work: Duration) -> Vec<f64> {
    (0..REGIONS)
        .map(|_| {
            spin_for(gap);
            let t = Instant::now();
            pool.install(|| rayon::join(|| spin_for(work), || spin_for(work)));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

fn main() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for (gap_us, work_us) in [
        (0u64, 200u64),
        (20, 200),
        (100, 200),
        (1000, 200),
        (100, 1000),
    ] {
        let (gap, work) = (
            Duration::from_micros(gap_us),
            Duration::from_micros(work_us),
        );
        report("outside", gap_us, work_us, regions(&pool, gap, work));
        // Inside: the regions run on a pool thread while the other one spins for jobs, as
        // model/hot.rs arranges for one inference.
        let times = pool.install(|| {
            let active = AtomicBool::new(true);
            let runner = rayon::current_thread_index();
            rayon::in_place_scope(|s| {
                s.spawn(|_| {
                    if rayon::current_thread_index() == runner {
                        return;
                    }
                    while active.load(Ordering::Acquire) {
                        if rayon::yield_now() != Some(rayon::Yield::Executed) {
                            std::hint::spin_loop();
                        }
                    }
                });
                let times = regions(&pool, gap, work);
                active.store(false, Ordering::Release);
                times
            })
        });
        report("inside", gap_us, work_us, times);
    }
}
