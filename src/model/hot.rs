//! Keeping a model state's pool threads awake for the length of one inference.
//!
//! A multi-threaded run is a chain of parallel regions (one or two per convolution) separated by
//! single-threaded nodes. Between two regions rayon's idle threads go to sleep after a few dozen
//! yields, and the next region first waits for the kernel to wake them: measured on the 2-vCPU
//! development VM (`cargo bench --bench pool_wake`), a region that follows 20 us to 1 ms of
//! single-threaded work starts 40-100 us late, for about 50 regions per ResNet-18 inference.
//! OpenMP runtimes spin between regions for the same reason. So the run itself executes on the
//! pool's first thread (the calling thread waits once per inference, not once per region), and
//! the pool's other threads each look for the run's jobs until the run ends.
//!
//! Always the same thread: glibc gives each thread that allocates its own malloc arena, and the
//! run's tensors spread over every pool thread's arena (whichever took the run) made the peak
//! RSS of a 2-thread ResNet-18 `bench` 95-105 MiB instead of 88.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// Idle rounds between two `sched_yield`s, so that a looking thread gives its core away when the
/// machine has more runnable threads than cores (another service, another process).
const ROUNDS_PER_OS_YIELD: u32 = 64;

/// `run` on thread 0 of `pool` while the pool's other threads execute its jobs as they come,
/// until `run` returns (or unwinds: its panic reaches the caller, as from `install`).
pub fn on_pool<R: Send>(pool: &rayon::ThreadPool, run: impl FnOnce() -> R + Send) -> R {
    let active = AtomicBool::new(true);
    // Ends the others' search whether `run` returns or unwinds.
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    on_first_thread_while(
        pool,
        || {
            let _stop = Stop(&active);
            run()
        },
        || look_for_work(&active),
    )
}

/// `f` on thread 0 of `pool`, the pool's other threads left idle (a run inside `f` wakes them
/// through [`on_pool`]).
pub fn on_first_thread<R: Send>(pool: &rayon::ThreadPool, f: impl FnOnce() -> R + Send) -> R {
    on_first_thread_while(pool, f, || ())
}

/// `f` on thread 0 of `pool` and `others` on each of its other threads (broadcast: one call on
/// every thread of the pool, every one of them started).
fn on_first_thread_while<R: Send>(
    pool: &rayon::ThreadPool,
    f: impl FnOnce() -> R + Send,
    others: impl Fn() + Sync,
) -> R {
    let f = Mutex::new(Some(f));
    let mut outs = pool.broadcast(|ctx| {
        if ctx.index() != 0 {
            others();
            return None;
        }
        let f = f.lock().unwrap_or_else(PoisonError::into_inner).take();
        f.map(|f| f())
    });
    outs.swap_remove(0)
        .expect("thread 0 of the pool ran the call")
}

/// Execute the pool's jobs (the run's parallel regions, pushed on thread 0's deque) until
/// `active` is cleared.
fn look_for_work(active: &AtomicBool) {
    let mut idle = 0u32;
    while active.load(Ordering::Acquire) {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => idle = 0,
            _ => {
                idle += 1;
                if idle.is_multiple_of(ROUNDS_PER_OS_YIELD) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }
}
