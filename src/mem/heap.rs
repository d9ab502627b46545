//! Heap accounting: how many bytes edgeclass has live, overall and on the current thread, and the
//! peaks. The counters are fed by the counting global allocator in `mem::alloc` (installed when
//! the `heap-accounting` feature is on, the default); without it they stay at zero and
//! [`is_counting`] says so, and the service falls back to size estimates.
//!
//! Per-thread counters make the activation measurement of a warm-up run honest even while other
//! threads allocate: a tract run happens on the calling thread, or on its model state's own
//! thread pool, whose threads are counted together as a [`ThreadGroup`].

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

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
    // The thread group (`ThreadGroup`) this thread counts into as well: its slot + 1, 0 for none.
    static GROUP: Cell<usize> = const { Cell::new(0) };
}

/// Record an allocation of `size` bytes (called by the global allocator; must not allocate).
#[inline]
// Called by the counting allocator only (absent without `heap-accounting`).
#[cfg_attr(not(feature = "heap-accounting"), allow(dead_code))]
pub(crate) fn record_alloc(size: usize) {
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
    if let Some(g) = current_group() {
        let live = g.live.fetch_add(size as isize, Ordering::Relaxed) + size as isize;
        g.peak.fetch_max(live, Ordering::Relaxed);
    }
}

/// Record a deallocation of `size` bytes.
#[inline]
// Called by the counting allocator only (absent without `heap-accounting`).
#[cfg_attr(not(feature = "heap-accounting"), allow(dead_code))]
pub(crate) fn record_dealloc(size: usize) {
    LIVE.fetch_sub(size, Ordering::Relaxed);
    let _ = THREAD_LIVE.try_with(|l| l.set(l.get() - size as isize));
    if let Some(g) = current_group() {
        g.live.fetch_sub(size as isize, Ordering::Relaxed);
    }
}

/// Give the free pages of glibc's heaps back to the OS (`malloc_trim`; nothing elsewhere).
///
/// Why: a load frees many blocks below the size it maps straight from the OS (`loading`). They
/// stay resident in the loading thread's arena, and a run on a pool thread (`model::hot`), which
/// allocates from an arena of its own, cannot reuse them: a 2-thread ResNet-18 classify peaked at
/// 95-99 MiB instead of 81-89.
pub fn trim_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and only walks glibc's own arenas under their locks;
    // it frees nothing that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
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

/// Counters shared by the threads of one group.
struct GroupCounters {
    used: AtomicBool,
    live: AtomicIsize,
    peak: AtomicIsize,
}

/// How many thread groups can exist at once: one per model state that runs on a pool of its
/// own (a service's workers, each generation of a hot swap, each `Classifier`). A fixed table
/// because the allocator reads it and must not allocate; a state made while all are taken runs
/// uncounted (its pool's peak reads 0) and says so in the log.
const GROUP_SLOTS: usize = 512;

#[allow(clippy::declare_interior_mutable_const)] // the initialiser of each slot, copied
const FREE_GROUP: GroupCounters = GroupCounters {
    used: AtomicBool::new(false),
    live: AtomicIsize::new(0),
    peak: AtomicIsize::new(0),
};
static GROUPS: [GroupCounters; GROUP_SLOTS] = [FREE_GROUP; GROUP_SLOTS];

fn current_group() -> Option<&'static GroupCounters> {
    match GROUP.try_with(Cell::get) {
        Ok(0) | Err(_) => None,
        Ok(n) => GROUPS.get(n - 1),
    }
}

/// A set of threads whose allocations are also counted together: the thread pool of a model
/// state that runs one inference on several threads. The thread that runs the model waits while
/// the pool works, so its own counters ([`measure`]) miss the pool's scratch memory (tract keeps
/// a scratch space per pool thread); the group's peak is that part.
///
/// The slot is given back when the group is dropped. A pool thread that outlives its group
/// (rayon's threads end after their pool is dropped, not with it) may still free memory into the
/// slot's next owner: that only lowers its live count, never its peak above a start.
#[derive(Debug)]
pub struct ThreadGroup {
    slot: usize,
}

impl ThreadGroup {
    /// A new, empty group, or `None` when every slot is taken.
    pub fn new() -> Option<ThreadGroup> {
        let slot = GROUPS.iter().position(|g| {
            g.used
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        GROUPS[slot].live.store(0, Ordering::Relaxed);
        GROUPS[slot].peak.store(0, Ordering::Relaxed);
        Some(ThreadGroup { slot })
    }

    /// What a thread calls to join this group for the rest of its life (a pool's start handler).
    pub fn joiner(&self) -> impl Fn() + Send + Sync + 'static {
        let slot = self.slot;
        move || GROUP.with(|g| g.set(slot + 1))
    }

    /// Start a peak measurement: the group's live bytes now.
    pub fn start(&self) -> isize {
        let g = &GROUPS[self.slot];
        let live = g.live.load(Ordering::Relaxed);
        g.peak.store(live, Ordering::Relaxed);
        live
    }

    /// The group's peak above `start` (from [`ThreadGroup::start`]) since then.
    pub fn peak_since(&self, start: isize) -> usize {
        (GROUPS[self.slot].peak.load(Ordering::Relaxed) - start).max(0) as usize
    }
}

impl Drop for ThreadGroup {
    fn drop(&mut self) {
        GROUPS[self.slot].used.store(false, Ordering::Release);
    }
}

thread_local! {
    // Depth of `loading` scopes on this thread (nested loads are fine).
    static LOADING: Cell<u32> = const { Cell::new(0) };
}

/// Run `f` (a model import or optimisation) with this thread's large allocations taken straight
/// from the OS and given back to it when freed (`mem::alloc`; without the `heap-accounting`
/// allocator this only runs `f`).
///
/// Why: loading allocates and frees weight-sized blocks (the file's tensors, decluttered and
/// Winograd-transformed copies, tract's packed copies). From glibc's heap, the freed blocks stay
/// resident: a ResNet-18 load peaked at 107 MiB RSS with 75 MB live at most. Inference keeps the
/// ordinary allocator, which reuses its activation buffers without system calls or page faults
/// (mapping those per run cost ~2x in inference time).
pub fn loading<T>(f: impl FnOnce() -> T) -> T {
    struct Scope;
    impl Drop for Scope {
        fn drop(&mut self) {
            LOADING.with(|d| d.set(d.get() - 1));
        }
    }
    LOADING.with(|d| d.set(d.get() + 1));
    let _scope = Scope;
    f()
}

static OS_BLOCKS: AtomicUsize = AtomicUsize::new(0);

/// Count a block mapped from the OS (`true`) or unmapped (called by the global allocator).
#[inline]
// Called by the counting allocator only (absent without `heap-accounting`).
#[cfg_attr(not(feature = "heap-accounting"), allow(dead_code))]
pub(crate) fn record_os_block(mapped: bool) {
    if mapped {
        OS_BLOCKS.fetch_add(1, Ordering::AcqRel);
    } else {
        OS_BLOCKS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How many blocks are mapped from the OS now: allocated inside [`loading`] and not yet freed.
pub fn os_blocks_live() -> usize {
    OS_BLOCKS.load(Ordering::Acquire)
}

/// Whether the current thread is inside [`loading`] (called by the global allocator; must not
/// allocate).
#[inline]
// Called by the counting allocator only (absent without `heap-accounting`).
#[cfg_attr(not(feature = "heap-accounting"), allow(dead_code))]
pub(crate) fn is_loading() -> bool {
    LOADING.try_with(|d| d.get() > 0).unwrap_or(false)
}

thread_local! {
    // The memory limit of the load running on this thread: (limit, this thread's live bytes when
    // the load began). `None`: no limit (the CLI); the loader's fixed ceilings still apply.
    static LOAD_LIMIT: Cell<Option<(u64, isize)>> = const { Cell::new(None) };
}

/// Run `f` (a model load) with a memory limit of `limit` bytes above this thread's live bytes
/// now: every large allocation of the load path asks [`reserve`] first, so a load that would not
/// fit is refused before it allocates instead of measured after.
pub fn with_load_limit<T>(limit: u64, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<(u64, isize)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            LOAD_LIMIT.with(|l| l.set(self.0));
        }
    }
    let start = THREAD_LIVE.with(Cell::get);
    let _restore = Restore(LOAD_LIMIT.with(|l| l.replace(Some((limit, start)))));
    LOAD_CLAIMED.with(|c| c.set(0));
    f()
}

thread_local! {
    // The highest point the last limited load on this thread asked `reserve` for (bytes above
    // its start, margins included).
    static LOAD_CLAIMED: Cell<u64> = const { Cell::new(0) };
}

/// The highest point the last [`with_load_limit`] load on this thread reserved: what it needs
/// at its peak as the loader estimates it, with [`RESERVE_MARGIN`] twice (the one [`reserve`]
/// keeps, and one for the bytes another load of the same model may differ by). A limit of this
/// much lets the same load pass every reservation.
pub fn load_claimed() -> u64 {
    LOAD_CLAIMED.with(Cell::get)
}

/// The load limit on this thread and the bytes of it still free, if a limit is set. Without the
/// counting allocator nothing is counted, so all of the limit stays free (each single request
/// is still compared with the whole limit).
pub fn load_left() -> Option<(u64, u64)> {
    let (limit, start) = LOAD_LIMIT.with(Cell::get)?;
    let used = (THREAD_LIVE.with(Cell::get) - start).max(0) as u64;
    Some((limit, limit.saturating_sub(used)))
}

/// What [`reserve`] keeps free beyond the bytes asked for: the allocations of a load too small
/// to ask for themselves (names, small vectors, error messages) between two reservations.
pub const RESERVE_MARGIN: u64 = 64 << 10;

/// Before a large allocation of a model load: `Err(MemoryLimit)` when `bytes` more would not fit
/// the load's limit (see [`with_load_limit`]), naming `what`, the bytes and what is left. Always
/// `Ok` without a limit.
pub fn reserve(what: impl FnOnce() -> String, bytes: u64) -> crate::error::Result<()> {
    match load_left() {
        Some((limit, left)) if bytes.saturating_add(RESERVE_MARGIN) > left => {
            Err(crate::error::memory_limit(format!(
            "{} needs {bytes} bytes, but only {left} of the memory limit's {limit} bytes are left",
            what()
        )))
        }
        Some((limit, left)) => {
            let point = (limit - left)
                .saturating_add(bytes)
                .saturating_add(2 * RESERVE_MARGIN);
            LOAD_CLAIMED.with(|c| c.set(c.get().max(point)));
            Ok(())
        }
        None => Ok(()),
    }
}
