//! Heap accounting: how many bytes edgeclass has live, overall and on the current thread, and the
//! peaks. The counters are fed by the counting global allocator in `ffi::alloc` (installed when
//! the `heap-accounting` feature is on, the default); without it they stay at zero and
//! [`is_counting`] says so, and the service falls back to size estimates.
//!
//! Per-thread counters make the activation measurement of a warm-up run honest even while other
//! threads allocate: a tract run happens entirely on the calling thread.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

thread_local! {
    // Signed: memory freed on a thread other than the one that allocated it makes a thread's
    // count go below where it started.
    static THREAD_LIVE: Cell<isize> = const { Cell::new(0) };
    static THREAD_PEAK: Cell<isize> = const { Cell::new(0) };
    // Allocation events on this thread: count, bytes requested, largest single request.
    static THREAD_ALLOCS: Cell<(usize, usize, usize)> = const { Cell::new((0, 0, 0)) };
}

/// Record an allocation of `size` bytes (called by the global allocator; must not allocate).
#[inline]
pub fn record_alloc(size: usize) {
    // A relaxed store per allocation: the cheapest way to know the allocator is installed,
    // whichever way the library was linked.
    COUNTING.store(true, Ordering::Relaxed);
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
    // try_with: during thread teardown the thread-locals may be gone; then only the globals count.
    let _ = THREAD_LIVE.try_with(|l| {
        let v = l.get() + size as isize;
        l.set(v);
        let _ = THREAD_PEAK.try_with(|p| p.set(p.get().max(v)));
    });
    let _ = THREAD_ALLOCS.try_with(|a| {
        let (n, bytes, largest) = a.get();
        a.set((n + 1, bytes + size, largest.max(size)));
    });
}

/// Record a deallocation of `size` bytes.
#[inline]
pub fn record_dealloc(size: usize) {
    LIVE.fetch_sub(size, Ordering::Relaxed);
    let _ = THREAD_LIVE.try_with(|l| l.set(l.get() - size as isize));
}

/// Whether allocations are being counted (the `heap-accounting` allocator is installed).
pub fn is_counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

/// Bytes live now, process-wide (everything the Rust side of this library allocated).
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The highest `live_bytes` seen since start or the last [`reset_peak`].
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Start a new peak measurement from the current live bytes.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Measure what `f` allocates on this thread: (bytes still live after it, peak above the start).
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, isize, usize) {
    let start = THREAD_LIVE.with(Cell::get);
    let saved_peak = THREAD_PEAK.with(Cell::get);
    THREAD_PEAK.with(|p| p.set(start));
    let out = f();
    let end = THREAD_LIVE.with(Cell::get);
    let peak = THREAD_PEAK.with(Cell::get);
    THREAD_PEAK.with(|p| p.set(saved_peak.max(peak)));
    (out, end - start, (peak - start).max(0) as usize)
}

/// Allocation events `f` causes on this thread: (count, bytes requested, largest single request).
/// A reallocation counts as one allocation of its new size.
pub fn count_allocations<T>(f: impl FnOnce() -> T) -> (usize, usize, usize, T) {
    let saved = THREAD_ALLOCS.with(Cell::get);
    THREAD_ALLOCS.with(|a| a.set((0, 0, 0)));
    let out = f();
    let (n, bytes, largest) = THREAD_ALLOCS.with(Cell::get);
    THREAD_ALLOCS.with(|a| a.set((saved.0 + n, saved.1 + bytes, saved.2.max(largest))));
    (n, bytes, largest, out)
}
