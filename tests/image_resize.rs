//! Resize against OpenCV 4.10's `cv2.resize` (INTER_LINEAR, uint8): every vector in
//! `fixtures/resize/` and the gray (1-channel) model inputs must be bit-exact.

mod common;

use common::{npy_f32, npy_u8};
use edgeclass::image::{decode, resize_linear, ColorMode, DecodeOptions, Resizer};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A fixture image named relative to the shared fixtures root (`images/...` or `tiny-trained/...`).
fn source_path(source: &str) -> String {
    format!("{FIXTURES}/{source}")
}

#[test]
fn every_resize_vector_is_bit_exact() {
    let index: serde_json::Value =
        serde_json::from_slice(&read(&format!("{FIXTURES}/resize/index.json"))).unwrap();
    let cases = index.as_array().unwrap();
    assert_eq!(cases.len(), 13);
    let mut resizer = Resizer::new();
    for case in cases {
        let source = case["source"].as_str().unwrap();
        let wh = |k: &str| {
            (
                case[k][0].as_u64().unwrap() as usize,
                case[k][1].as_u64().unwrap() as usize,
            )
        };
        let (src_w, src_h) = wh("source_wh");
        let (dst_w, dst_h) = wh("target_wh");
        // PNG decoding is exact (checked in image_decode.rs), so this isolates the resize.
        let img = decode(
            "image/png",
            &read(&source_path(source)),
            &DecodeOptions::default(),
            ColorMode::Rgb,
        )
        .unwrap();
        assert_eq!((img.width, img.height), (src_w, src_h), "{source}");
        let (shape, expected) = npy_u8(&read(&format!(
            "{FIXTURES}/resize/{}",
            case["file"].as_str().unwrap()
        )));
        assert_eq!(shape, vec![dst_h, dst_w, 3]);
        let mut got = vec![0u8; dst_w * dst_h * 3];
        resizer
            .resize(&img.pixels, src_w, src_h, 3, &mut got, dst_w, dst_h)
            .unwrap();
        let differing = got.iter().zip(&expected).filter(|(a, b)| a != b).count();
        assert_eq!(
            differing, 0,
            "{source} -> {dst_w}x{dst_h}: {differing} bytes differ"
        );
        // The one-shot helper and a fresh resizer agree with the reused one.
        assert_eq!(
            resize_linear(&img.pixels, src_w, src_h, 3, dst_w, dst_h).unwrap(),
            expected
        );
    }
}

/// One channel: cv2's gray decodes (not ours) resized to 64x64 must equal the C=1 model inputs.
#[test]
fn gray_resize_matches_the_one_channel_model_inputs() {
    let dir = format!("{FIXTURES}/slim/inputs/1x64x64");
    let mut checked = 0;
    for entry in std::fs::read_dir(format!("{dir}/decoded")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let (shape, gray) = npy_u8(&read(path.to_str().unwrap()));
        let input_name = name.replace(".gray.npy", ".npy");
        let input_path = format!("{dir}/{input_name}");
        if !std::path::Path::new(&input_path).exists() {
            continue; // png_palette has a gray decode but no model input
        }
        let (in_shape, expected) = npy_f32(&read(&input_path));
        assert_eq!(in_shape, vec![1, 1, 64, 64]);
        let resized = resize_linear(&gray, shape[1], shape[0], 1, 64, 64).unwrap();
        let got: Vec<f32> = resized.iter().map(|&v| f32::from(v)).collect();
        assert_eq!(got, expected, "{name}");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn exact_halving_is_a_rounded_box_mean() {
    // 4x2 -> 2x1 takes OpenCV's INTER_AREA shortcut: (a + b + c + d + 2) >> 2.
    let src = [0u8, 1, 10, 20, 0, 0, 11, 21];
    let out = resize_linear(&src, 4, 2, 1, 2, 1).unwrap();
    assert_eq!(out, vec![(1 + 2) >> 2, (10 + 20 + 11 + 21 + 2) >> 2]);
}

#[test]
fn bad_sizes_are_errors() {
    assert!(resize_linear(&[1, 2, 3], 1, 1, 3, 0, 4).is_err());
    assert!(resize_linear(&[1, 2, 3], 2, 1, 3, 4, 4).is_err());
    let mut resizer = Resizer::new();
    let mut small = [0u8; 5];
    assert!(resizer
        .resize(&[1, 2, 3], 1, 1, 3, &mut small, 2, 1)
        .is_err());
}
