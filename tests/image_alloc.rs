//! The second preprocess of an image of the same size reuses every pixel buffer: measured with a
//! counting global allocator (this file's only `unsafe`, and the only one in the image tests).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use edgeclass::image::tensor::hwc_to_chw;
use edgeclass::image::{DecodeOptions, Preprocessor, Resizer};

/// Counts allocations (and their largest size) on the current test's thread only, so the test
/// harness's own threads do not disturb the numbers.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn record(size: usize) {
    // `try_with`: during thread teardown the thread-local may be gone; then do not count.
    if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(size, Ordering::Relaxed);
        LARGEST.fetch_max(size, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's own arguments, so `System`'s
// guarantees carry over unchanged; the counters are atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// (allocations, bytes, largest single allocation) made by `f` on this thread.
fn count<T>(f: impl FnOnce() -> T) -> (usize, usize, usize, T) {
    ALLOCATIONS.store(0, Ordering::Relaxed);
    BYTES.store(0, Ordering::Relaxed);
    LARGEST.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
        LARGEST.load(Ordering::Relaxed),
        out,
    )
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// china.jpg (640x427 baseline) with an EXIF APP1 (orientation 6) inserted after SOI, so the
/// rotation buffer is exercised too.
fn rotated_photo() -> Vec<u8> {
    let photo = std::fs::read(format!("{FIXTURES}/photos/china.jpg")).unwrap();
    let tiff: &[u8] = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
    let mut out = photo[..2].to_vec();
    out.extend([0xff, 0xe1]);
    out.extend(((2 + 6 + tiff.len()) as u16).to_be_bytes());
    out.extend(b"Exif\0\0");
    out.extend(tiff);
    out.extend(&photo[2..]);
    out
}

/// A 1600x1200 RGB PNG with a non-trivial pattern, written by the `png` crate's encoder.
fn large_png() -> Vec<u8> {
    let (w, h) = (1600u32, 1200u32);
    let pixels: Vec<u8> = (0..w * h * 3)
        .map(|i| ((i % 251) ^ (i / 2400)) as u8)
        .collect();
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&pixels)
        .unwrap();
    bytes
}

/// The second preprocess of an image reuses the decode, rotation and resize buffers: no
/// allocation on that call is half the size of the decoded image, while the first call's
/// largest allocation is at least one (which shows the counter sees them). What remains is the
/// decoders' own per-call scratch (zune-jpeg: Huffman tables and one MCU row per component;
/// png: up to 128 raw rows for unfiltering, and the zlib state).
#[test]
fn second_preprocess_reuses_every_pixel_buffer() {
    let cases = [
        (
            "rotated china.jpg",
            "image/jpeg",
            rotated_photo(),
            640 * 427,
        ),
        ("1600x1200 png", "image/png", large_png(), 1600 * 1200),
    ];
    for (name, content_type, bytes, pixels) in &cases {
        for channels in [3, 1] {
            let mut pre = Preprocessor::new(channels, 224, 224, DecodeOptions::default()).unwrap();
            let mut out = vec![0f32; pre.input_len()];
            let (_, _, first_largest, first) =
                count(|| pre.preprocess(content_type, bytes, &mut out));
            let first = first.unwrap();
            let decoded_bytes = pixels * channels;
            assert!(
                first_largest >= decoded_bytes,
                "{name} C={channels}: first call's largest allocation {first_largest}"
            );
            let before = out.clone();
            let (n, total, largest, second) =
                count(|| pre.preprocess(content_type, bytes, &mut out));
            assert_eq!(second.unwrap().decoded_width, first.decoded_width);
            assert_eq!(out, before);
            assert!(
                largest < decoded_bytes / 2,
                "{name} C={channels}: an allocation of {largest} bytes on the second call"
            );
            assert!(
                total < decoded_bytes,
                "{name} C={channels}: {n} allocations, {total} bytes on the second call"
            );
        }
    }
}

/// Our own stages (resize, tensor layout) allocate nothing at all once sized.
#[test]
fn resize_and_tensor_allocate_nothing_when_reused() {
    let src: Vec<u8> = (0..640 * 427 * 3).map(|i| (i % 253) as u8).collect();
    let mut resizer = Resizer::new();
    let mut resized = vec![0u8; 224 * 224 * 3];
    let mut tensor = vec![0f32; 224 * 224 * 3];
    resizer
        .resize(&src, 640, 427, 3, &mut resized, 224, 224)
        .unwrap();
    let (n, _, _, ()) = count(|| {
        resizer
            .resize(&src, 640, 427, 3, &mut resized, 224, 224)
            .unwrap();
        hwc_to_chw(&resized, 224, 224, 3, &mut tensor).unwrap();
    });
    assert_eq!(n, 0);
}
