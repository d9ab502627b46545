//! Every pixel layout the decoders convert, against OpenCV 4.10's `imdecode`, in colour
//! (`IMREAD_COLOR` then BGR->RGB, for RGB models) and gray (`IMREAD_GRAYSCALE`, for 1-channel
//! models). The conversions run in place in the decode buffer, so each layout where a pixel
//! grows (gray 1 or 2 bytes -> RGB 3), keeps its size (RGB8) or shrinks (gray+alpha16, RGBA,
//! RGB16, CMYK and YCCK -> RGB or gray, RGB -> gray) is here.
//!
//! PNG: every layout the format allows, bit for bit.
//! `fixtures/png-layouts/` holds one PNG per row, encoded by pypng, and OpenCV's pixels for
//! each (`make.py` made them; see its docstring). The space is enumerated here from the PNG
//! specification, independently of the fixtures' own index, and each file's IHDR and tRNS are
//! read back to check that the file is the layout its row claims.

use std::collections::BTreeSet;

mod common;

use common::npy_u8;
use edgeclass::image::{decode, probe, ColorMode, DecodeOptions, JpegDecoder};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/png-layouts");

/// PNG 1.2 section 4.1.1 (IHDR): the legal bit depths of each colour type.
const LEGAL_DEPTHS: &[(u8, &[u8])] = &[
    (0, &[1, 2, 4, 8, 16]),
    (2, &[8, 16]),
    (3, &[1, 2, 4, 8]),
    (4, &[8, 16]),
    (6, &[8, 16]),
];
/// Section 4.2.1.1: tRNS is allowed for colour types 0, 2 and 3 only.
const TRNS_ALLOWED: &[u8] = &[0, 2, 3];
/// Odd sizes (width, height), including a 1x1 image whose Adam7 passes are mostly empty.
const SIZES: &[(u32, u32)] = &[(1, 1), (3, 5), (33, 17)];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Layout {
    color_type: u8,
    bit_depth: u8,
    trns: bool,
    interlaced: bool,
    width: u32,
    height: u32,
}

fn every_layout() -> BTreeSet<Layout> {
    let mut all = BTreeSet::new();
    for &(color_type, depths) in LEGAL_DEPTHS {
        for &bit_depth in depths {
            for trns in [false, true] {
                if trns && !TRNS_ALLOWED.contains(&color_type) {
                    continue;
                }
                for interlaced in [false, true] {
                    for &(width, height) in SIZES {
                        all.insert(Layout {
                            color_type,
                            bit_depth,
                            trns,
                            interlaced,
                            width,
                            height,
                        });
                    }
                }
            }
        }
    }
    all
}

/// The layout a PNG file really has, read from its bytes (IHDR and the chunk list).
fn layout_of(bytes: &[u8]) -> Layout {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let be32 = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(&bytes[12..16], b"IHDR");
    let mut layout = Layout {
        width: be32(16),
        height: be32(20),
        bit_depth: bytes[24],
        color_type: bytes[25],
        interlaced: bytes[28] == 1,
        trns: false,
    };
    let mut pos = 8;
    while pos + 8 <= bytes.len() {
        let len = be32(pos) as usize;
        if &bytes[pos + 4..pos + 8] == b"tRNS" {
            layout.trns = true;
        }
        pos += 12 + len;
    }
    layout
}

struct Row {
    file: String,
    layout: Layout,
    rgb: Vec<u8>,
    gray: Vec<u8>,
}

fn rows() -> Vec<Row> {
    let read = |name: &str| std::fs::read(format!("{DIR}/{name}")).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&read("index.json")).unwrap();
    let (rgb_all, gray_all) = (read("expected-rgb.bin"), read("expected-gray.bin"));
    let mut rows = Vec::new();
    for r in index["rows"].as_array().unwrap() {
        let file = r["file"].as_str().unwrap().to_string();
        let bytes = read(&file);
        let layout = layout_of(&bytes);
        let n = |k: &str| r[k].as_u64().unwrap() as usize;
        let claimed = Layout {
            color_type: n("color_type") as u8,
            bit_depth: n("bit_depth") as u8,
            trns: r["trns"].as_bool().unwrap(),
            interlaced: r["interlaced"].as_bool().unwrap(),
            width: n("width") as u32,
            height: n("height") as u32,
        };
        assert_eq!(
            layout, claimed,
            "{file}: the file is not the layout its row names"
        );
        let pixels = n("width") * n("height");
        rows.push(Row {
            rgb: rgb_all[n("rgb_offset")..n("rgb_offset") + 3 * pixels].to_vec(),
            gray: gray_all[n("gray_offset")..n("gray_offset") + pixels].to_vec(),
            file,
            layout,
        });
    }
    rows
}

#[test]
fn the_fixtures_cover_every_layout_once() {
    let rows = rows();
    let have: BTreeSet<Layout> = rows.iter().map(|r| r.layout.clone()).collect();
    assert_eq!(have.len(), rows.len(), "a layout appears twice");
    let want = every_layout();
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(missing.is_empty(), "layouts without a fixture: {missing:?}");
    assert!(extra.is_empty(), "fixtures of no legal layout: {extra:?}");
    assert_eq!(rows.len(), 156);
}

fn first_difference(got: &[u8], want: &[u8]) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} bytes, OpenCV {}", got.len(), want.len()));
    }
    let wrong = got.iter().zip(want).filter(|(a, b)| a != b).count();
    let at = got.iter().zip(want).position(|(a, b)| a != b)?;
    Some(format!(
        "{wrong} of {} bytes differ, first at byte {at}: {} against OpenCV's {}",
        want.len(),
        got[at],
        want[at]
    ))
}

/// Decodes every row in `mode` and lists the rows that differ from OpenCV (all of them, so a
/// failure shows the whole pattern, not just the first row).
fn check(mode: ColorMode) {
    let mut failures = Vec::new();
    let rows = rows();
    for row in &rows {
        let bytes = std::fs::read(format!("{DIR}/{}", row.file)).unwrap();
        let options = DecodeOptions::default();
        let info = probe("image/png", &bytes, &options).unwrap();
        assert_eq!(
            (info.width, info.height, info.bit_depth),
            (row.layout.width, row.layout.height, row.layout.bit_depth),
            "{}",
            row.file
        );
        let want = match mode {
            ColorMode::Rgb => &row.rgb,
            ColorMode::Gray => &row.gray,
        };
        match decode("image/png", &bytes, &options, mode) {
            Ok(img) => {
                assert_eq!(
                    (img.width, img.height),
                    (row.layout.width as usize, row.layout.height as usize)
                );
                assert_eq!(img.channels, mode.channels(), "{}", row.file);
                if let Some(d) = first_difference(&img.pixels, want) {
                    failures.push(format!("{}: {d}", row.file));
                }
            }
            Err(e) => failures.push(format!("{}: refused: {e}", row.file)),
        }
    }
    assert!(
        failures.is_empty(),
        "{mode:?}: {} of {} layouts differ from OpenCV:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn every_layout_decodes_like_opencv_in_colour() {
    check(ColorMode::Rgb);
}

#[test]
fn every_layout_decodes_like_opencv_in_gray() {
    check(ColorMode::Gray);
}

// ---- JPEG: the samples libjpeg / zune-jpeg return, converted in place ----

const IN_PLACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/in-place");
const IMAGES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images");

/// (file, folder, zune-jpeg's largest difference from OpenCV in colour and in gray). zune's
/// IDCT and upsampling are within a few levels of libjpeg-turbo's (pinned, as in
/// image_decode.rs, so a regression shows); the conversions themselves are exact, which the
/// libjpeg-turbo decoder proves bit for bit.
const JPEG_IN_PLACE: &[(&str, &str, u8, u8)] = &[
    // Adobe CMYK (4 bytes a pixel) -> RGB (3) and gray (1).
    ("jpeg_cmyk_pil.jpg", IMAGES, 1, 1),
    // YCCK -> CMYK (4 -> 4), then as above.
    ("jpeg_cmyk_imagemagick.jpg", IMAGES, 2, 2),
    // RGB-coded (Adobe transform 0): RGB (3) -> gray (1) with libjpeg's formula.
    ("jpeg_rgb_adobe.jpg", IN_PLACE, 1, 1),
];

fn jpeg_in_place(decoder: JpegDecoder, exact: bool) {
    for &(file, dir, pin_rgb, pin_gray) in JPEG_IN_PLACE {
        let bytes = std::fs::read(format!("{dir}/{file}")).unwrap();
        let options = DecodeOptions {
            jpeg_decoder: decoder,
            ..DecodeOptions::default()
        };
        for (mode, ext, pin) in [
            (ColorMode::Rgb, "rgb", pin_rgb),
            (ColorMode::Gray, "gray", pin_gray),
        ] {
            let (shape, want) =
                npy_u8(&std::fs::read(format!("{IN_PLACE}/{file}.{ext}.npy")).unwrap());
            let img = decode("image/jpeg", &bytes, &options, mode)
                .unwrap_or_else(|e| panic!("{file} {mode:?}: {e}"));
            assert_eq!(vec![img.height, img.width], shape[..2], "{file} {mode:?}");
            assert_eq!(img.channels, mode.channels(), "{file} {mode:?}");
            assert_eq!(img.pixels.len(), want.len(), "{file} {mode:?}");
            let diff = img
                .pixels
                .iter()
                .zip(&want)
                .map(|(a, b)| a.abs_diff(*b))
                .max()
                .unwrap();
            let allowed = if exact { 0 } else { pin };
            assert!(
                diff <= allowed,
                "{file} {mode:?} ({decoder:?}): max difference {diff} from OpenCV, allowed {allowed}"
            );
        }
    }
}

#[test]
fn jpeg_layouts_converted_in_place_match_opencv() {
    jpeg_in_place(JpegDecoder::Zune, false);
}

#[cfg(feature = "jpeg-turbo")]
#[test]
fn jpeg_layouts_converted_in_place_are_bit_exact_with_libjpeg_turbo() {
    jpeg_in_place(JpegDecoder::Turbo, true);
}
