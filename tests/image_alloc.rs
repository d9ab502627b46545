//! The second preprocess of an image of the same size reuses every pixel buffer: measured with
//! the library's counting global allocator (feature `heap-accounting`, on by default).
#![cfg(feature = "heap-accounting")]

use edgeclass::image::tensor::hwc_to_chw;
use edgeclass::image::{DecodeOptions, Preprocessor, Resizer};

/// (allocations, bytes, largest single allocation) made by `f` on this thread.
fn count<T>(f: impl FnOnce() -> T) -> (usize, usize, usize, T) {
    let out = edgeclass::mem::heap::count_allocations(f);
    assert!(
        edgeclass::mem::heap::is_counting(),
        "the counting allocator is not installed"
    );
    out
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
