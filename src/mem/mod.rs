//! Memory: the heap counters every stage reads and the counting global allocator that feeds them.
//!
//! `model` asks [`heap::reserve`] before each large allocation of a load and marks the load with
//! [`heap::loading`]; `service` measures loads and requests with [`heap::measure`] and enforces the
//! connector's memory limit with [`heap::with_load_limit`]. Both import this module and neither
//! imports the other's internals.
//!
//! With the `heap-accounting` feature (the default) `alloc` installs `alloc::CountingAllocator`
//! as the process's `#[global_allocator]`: that is what lets the library keep the KB limit
//! honestly. A Rust program that has its own global allocator turns the feature off
//! (`default-features = false`); the counters then stay at zero, [`heap::is_counting`] says so, and
//! the service falls back to size estimates. Besides `ffi`, this is the one module allowed
//! `unsafe` (the allocator's), each use commented with its invariant.

#[cfg(feature = "heap-accounting")]
pub mod alloc;
pub mod heap;
