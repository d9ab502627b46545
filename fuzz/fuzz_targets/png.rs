//! Png decoding: header-only probe (size caps, EXIF), then both colour modes through the
//! library's decoder; see common/image.rs for the invariants.
#![no_main]

#[path = "../common/image.rs"]
mod image_common;

use edgeclass::image::ImageFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    image_common::check(data, ImageFormat::Png);
});
