//! The counting global allocator (feature `heap-accounting`, on by default): the system
//! allocator, plus a count of live bytes kept in `service::heap`. It is what lets a service
//! measure its model and activation memory honestly and prove it stays inside its limit.

use std::alloc::{GlobalAlloc, Layout, System};

use crate::service::heap;

pub struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's own arguments, so the allocator
// upholds exactly System's guarantees; the bookkeeping only touches atomics and `const`
// thread-locals, which never allocate (no recursion into the allocator).
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's (non-zero-size layout).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            heap::record_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for alloc.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            heap::record_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator (hence System) for `layout`.
        unsafe { System.dealloc(ptr, layout) };
        heap::record_dealloc(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr`/`layout` come from this allocator; `new_size` is the caller's valid size.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            heap::record_dealloc(layout.size());
            heap::record_alloc(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;
