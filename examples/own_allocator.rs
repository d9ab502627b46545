//! A Rust program that has its own `#[global_allocator]` and uses edgeclass: it opens a service
//! (the connector's memory limit and timeout) and classifies one image.
//!
//! A program has only one global allocator, and edgeclass's `heap-accounting` feature (a default)
//! installs its own. So this program depends on edgeclass without default features:
//!
//! ```text
//! cargo run --release --no-default-features --example own_allocator [-- MODEL IMAGE]
//! ```
//!
//! (in your own Cargo.toml: `edgeclass = { version = "...", default-features = false }`). The
//! service then sizes its memory budget from estimates instead of measurements; answers are the
//! same. Built with the default features (`cargo build --examples`), the program runs on
//! edgeclass's counting allocator instead, and says so.

use std::alloc::{GlobalAlloc, Layout, System};
use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering};

use edgeclass::model::top_k;
use edgeclass::{Service, ServiceConfig};

/// This program's allocator: the system's, counting the bytes it has handed out.
#[cfg_attr(feature = "heap-accounting", allow(dead_code))]
struct Tally;

static HANDED_OUT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: both methods forward to `System` with the caller's own arguments, so they uphold
// System's contract; the count is one atomic add, which does not allocate.
unsafe impl GlobalAlloc for Tally {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HANDED_OUT.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above (System's) with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[cfg(not(feature = "heap-accounting"))]
#[global_allocator]
static GLOBAL: Tally = Tally;

fn main() -> Result<(), Box<dyn Error>> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .unwrap_or(format!("{root}/tests/fixtures/tiny-trained"));
    let image = args.next().unwrap_or(format!(
        "{root}/tests/fixtures/tiny-trained/images/digit07_label3_28x28.png"
    ));
    let config = ServiceConfig::builder("own-allocator", &model)
        .timeout_seconds(10)
        .memory_limit_kb(200_000)
        .build()?;
    let service = Service::open(config)?;
    let content_type = if image.ends_with(".png") {
        "image/png"
    } else {
        "image/jpeg"
    };
    let answer = service.classify(content_type, &std::fs::read(&image)?, None)?;
    let best = top_k(&answer.probs, 1)[0];
    let model = service.model();
    let label = model.labels.as_ref().map(|l| l[best].as_str());
    println!(
        "{image}: class {best} {label:?}, p = {}",
        answer.probs[best]
    );
    let budget = service.budget();
    if edgeclass::mem::heap::is_counting() {
        println!("allocator: edgeclass's counting allocator (heap-accounting on); budget measured");
    } else {
        println!(
            "allocator: this program's ({} bytes handed out); edgeclass counts nothing, budget {} (model {} bytes, estimated)",
            HANDED_OUT.load(Ordering::Relaxed),
            if budget.measured { "measured" } else { "estimated" },
            budget.model_bytes
        );
    }
    Ok(())
}
