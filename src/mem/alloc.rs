//! The counting global allocator (feature `heap-accounting`, on by default): the system
//! allocator, plus a count of live bytes kept in `mem::heap`. It is what lets a service
//! measure its model and activation memory honestly and prove it stays inside its limit.
//!
//! While a thread loads a model (`heap::loading`), its large blocks are mapped from the OS
//! directly and unmapped when freed, so the memory a load frees leaves the process instead of
//! staying resident in glibc's heap (see `heap::loading` for the figures). Which blocks are
//! mapped is kept in a fixed table: `dealloc` only has the pointer and the layout to go by.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::heap;

/// The system allocator, counting into [`super::heap`]; installed as the global allocator by
/// this module when `heap-accounting` is on.
pub struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's own arguments, so the allocator
// upholds exactly System's guarantees; the bookkeeping only touches atomics and `const`
// thread-locals, which never allocate (no recursion into the allocator).
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = match os_block(layout) {
            Some(p) => p,
            // SAFETY: same contract as our caller's (non-zero-size layout).
            None => unsafe { System.alloc(layout) },
        };
        if !p.is_null() {
            heap::record_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = match os_block(layout) {
            Some(p) => p,
            // SAFETY: as for alloc.
            None => unsafe { System.alloc_zeroed(layout) },
        };
        if !p.is_null() {
            heap::record_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !release_os_block(ptr, layout.size()) {
            // SAFETY: `ptr` was returned by this allocator for `layout` and is not one of our
            // mapped blocks, so System returned it.
            unsafe { System.dealloc(ptr, layout) };
        }
        heap::record_dealloc(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = if let Some(slot) = slot_of(ptr, layout.size()) {
            // A mapped block moves: a new block (mapped again while loading), the bytes copied,
            // the old one unmapped.
            // SAFETY: `new_size` is non-zero and, rounded up to `align`, fits isize (the
            // caller's contract for realloc).
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            let q = match os_block(new_layout) {
                Some(q) => q,
                // SAFETY: a valid non-zero-size layout.
                None => unsafe { System.alloc(new_layout) },
            };
            if !q.is_null() {
                // SAFETY: both blocks are live, distinct and at least this long.
                unsafe { std::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size)) };
                unmap(slot, ptr, layout.size());
            }
            q
        } else {
            // SAFETY: `ptr`/`layout` come from System (not a mapped block); `new_size` is the
            // caller's valid size.
            unsafe { System.realloc(ptr, layout, new_size) }
        };
        if !p.is_null() {
            heap::record_dealloc(layout.size());
            heap::record_alloc(new_size);
        }
        p
    }
}

/// Blocks from this size up are mapped while loading: every weight tensor of a real model, few
/// enough blocks for the table (ResNet-50 keeps a few hundred).
const OS_BLOCK_MIN: usize = 256 << 10;
const PAGE: usize = 4096;
const SLOTS: usize = 4096;

/// Addresses of the live mapped blocks; 0 is a free slot. `heap::os_blocks_live` counts them:
/// when 0, a large free needs no table scan.
static MAPPED: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
/// One past the highest slot ever used: a lookup scans only `MAPPED[..USED_SLOTS]` (a few hundred
/// for a big model), as every large free at inference time looks its pointer up.
static USED_SLOTS: AtomicUsize = AtomicUsize::new(0);

fn mapped_len(size: usize) -> usize {
    size.div_ceil(PAGE) * PAGE
}

/// A block mapped from the OS for `layout`, when this thread is loading a model and the block
/// is large; `None` means "use System" (also when the table is full or the mapping fails).
fn os_block(layout: Layout) -> Option<*mut u8> {
    if layout.size() < OS_BLOCK_MIN || layout.align() > PAGE || !heap::is_loading() {
        return None;
    }
    // Only blocks that cannot hold pointers: byte and float buffers (alignment below a
    // pointer's) and SIMD-aligned tensor data (tract aligns tensors to its vector size, 16 bytes
    // and up). LeakSanitizer does not scan memory mapped outside malloc, so a pointer-holding
    // block here (tract's node list, 8-aligned) made it report the nodes it points to as leaked
    // (found by the classify fuzz target, whose service lives until exit).
    let word = std::mem::align_of::<usize>();
    if layout.align() >= word && layout.align() <= 2 * word {
        return None;
    }
    let len = mapped_len(layout.size());
    // SAFETY: an anonymous private mapping of `len` bytes at an address of the kernel's choice
    // touches no existing memory. Its pages are zero-filled, which alloc_zeroed relies on.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    let addr = p as usize;
    for (i, slot) in MAPPED.iter().enumerate() {
        if slot
            .compare_exchange(0, addr, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            USED_SLOTS.fetch_max(i + 1, Ordering::AcqRel);
            heap::record_os_block(true);
            return Some(p.cast());
        }
    }
    // Table full: give the mapping back and let System serve this block.
    // SAFETY: `p`/`len` is the mapping made above, not yet handed to anyone.
    unsafe { libc::munmap(p, len) };
    None
}

fn slot_of(ptr: *mut u8, size: usize) -> Option<&'static AtomicUsize> {
    if size < OS_BLOCK_MIN || heap::os_blocks_live() == 0 {
        return None;
    }
    let addr = ptr as usize;
    // A block being freed was registered before it was handed out, so USED_SLOTS covers it.
    let used = USED_SLOTS.load(Ordering::Acquire).min(SLOTS);
    MAPPED[..used]
        .iter()
        .find(|s| s.load(Ordering::Acquire) == addr)
}

/// Unmap `ptr` if it is one of our mapped blocks; false when it is System's.
fn release_os_block(ptr: *mut u8, size: usize) -> bool {
    match slot_of(ptr, size) {
        Some(slot) => {
            unmap(slot, ptr, size);
            true
        }
        None => false,
    }
}

/// Free `slot` and unmap the block it records (`ptr`, allocated with `size` bytes).
fn unmap(slot: &AtomicUsize, ptr: *mut u8, size: usize) {
    // Free the slot before unmapping: once unmapped, the address may be mapped again by anyone.
    slot.store(0, Ordering::Release);
    heap::record_os_block(false);
    // SAFETY: `ptr` is a live block mapped by `os_block` with this size's length (the layout is
    // the one it was allocated with); the caller is freeing it, so nothing uses it after this.
    unsafe { libc::munmap(ptr.cast(), mapped_len(size)) };
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;
