//! The EXIF orientation reader and the orientation transforms.
//!
//! The input is a TIFF-structured EXIF block. Invariants: `orientation` answers 1..=8 or `None`;
//! put in a JPEG APP1 segment or a PNG eXIf chunk, the probe reports that orientation (1 when
//! absent or when EXIF is off) and the matching size swap, and the decoded pixels are exactly
//! the unrotated decode transformed as OpenCV does (checked against a direct per-pixel formula).
#![no_main]

use edgeclass::image::{self, exif, ColorMode, DecodeOptions};
use libfuzzer_sys::fuzz_target;

const JPEG: &[u8] = include_bytes!("../../tests/fixtures/images/jpeg_odd_size_17x9.jpg");
const PNG: &[u8] = include_bytes!("../../tests/fixtures/images/png_1x1000.png");

/// OpenCV's orientation, written per output pixel: which source pixel lands at (x, y).
fn reference(o: u8, src: &[u8], w: usize, h: usize, c: usize) -> Vec<u8> {
    let (ow, oh) = if exif::swaps_axes(o) { (h, w) } else { (w, h) };
    let mut out = Vec::with_capacity(src.len());
    for y in 0..oh {
        for x in 0..ow {
            let (sx, sy) = match o {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                8 => (w - 1 - y, x),
                _ => (x, y),
            };
            let at = (sy * w + sx) * c;
            out.extend_from_slice(&src[at..at + c]);
        }
    }
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
    let tiff = &tiff[..tiff.len().min(65535 - 2 - 6)];
    let mut v = vec![0xff, 0xd8, 0xff, 0xe1];
    v.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    v.extend_from_slice(b"Exif\0\0");
    v.extend_from_slice(tiff);
    v.extend_from_slice(&JPEG[2..]);
    v
}

fn png_with_exif(tiff: &[u8]) -> Vec<u8> {
    let ihdr_end = 8 + 12 + 13;
    let mut v = PNG[..ihdr_end].to_vec();
    v.extend_from_slice(&(tiff.len() as u32).to_be_bytes());
    let start = v.len();
    v.extend_from_slice(b"eXIf");
    v.extend_from_slice(tiff);
    let crc = crc32(&v[start..]);
    v.extend_from_slice(&crc.to_be_bytes());
    v.extend_from_slice(&PNG[ihdr_end..]);
    v
}

fn check_container(file: &[u8], ct: &str, expected: u8) {
    for apply_exif in [true, false] {
        let options = DecodeOptions {
            apply_exif,
            ..DecodeOptions::default()
        };
        let o = if apply_exif { expected } else { 1 };
        let info = image::probe(ct, file, &options).expect("probe of a valid image");
        assert_eq!(info.orientation, o, "{ct}");
        let plain = image::decode(
            ct,
            file,
            &DecodeOptions {
                apply_exif: false,
                ..options
            },
            ColorMode::Rgb,
        )
        .expect("decode of a valid image");
        let oriented = image::decode(ct, file, &options, ColorMode::Rgb).expect("decode");
        assert_eq!(
            (oriented.width, oriented.height),
            (info.width as usize, info.height as usize)
        );
        let want = reference(o, &plain.pixels, plain.width, plain.height, 3);
        assert!(
            oriented.pixels == want,
            "{ct}: orientation {o} moved the wrong pixels"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let found = exif::orientation(data);
    if let Some(o) = found {
        assert!((1..=8).contains(&o), "orientation {o}");
    }
    let expected = found.unwrap_or(1);

    // The transform alone, on a small synthetic image with distinct pixels.
    let b = |i: usize| usize::from(data.get(i).copied().unwrap_or(0));
    let (w, h, c) = (1 + b(0) % 19, 1 + b(1) % 17, 1 + b(2) % 4);
    let o = 1 + (b(3) % 8) as u8;
    let src: Vec<u8> = (0..w * h * c).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut dst = vec![0u8; src.len()];
    exif::apply(o, &src, w, h, c, &mut dst);
    assert!(
        dst == reference(o, &src, w, h, c),
        "apply({o}) on {w}x{h}x{c}"
    );

    check_container(
        &jpeg_with_exif(data),
        "image/jpeg",
        if data.len() <= 65535 - 8 {
            expected
        } else {
            exif::orientation(&data[..65535 - 8]).unwrap_or(1)
        },
    );
    check_container(&png_with_exif(data), "image/png", expected);
});
