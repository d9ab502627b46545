//! Image files → probabilities, against MXNet 1.9.1 with the connector's OpenCV preprocessing.
//! Where our input tensor is bit-identical to MXNet's (its sha256 is in the goldens: every PNG,
//! and every JPEG with the libjpeg-turbo decoder), the answers must match to |Δprob| ≤ 1e-4 and
//! the same top-5; with zune-jpeg on tiny-trained, the same top-1 and |Δprob| ≤ 0.02.

mod common;

use common::*;
use edgeclass::image::{detect_format, DecodeOptions, ImageFormat, JpegDecoder, Preprocessor};
use edgeclass::model::{top_k, Model};
use edgeclass::Code;

#[derive(Default, Debug)]
struct Counts {
    exact: usize,
    tolerant: usize,
    refused: usize,
}

fn run_images(model_dir: &str, goldens: &str, decoder: JpegDecoder) -> Counts {
    let f = fixtures();
    let model = Model::load(&f.join(model_dir), &Default::default()).unwrap();
    let [_, c, h, w] = model.info.input_shape;
    let options = DecodeOptions {
        jpeg_decoder: decoder,
        ..DecodeOptions::default()
    };
    let mut pre = Preprocessor::new(c, h, w, options).unwrap();
    let mut state = model.new_state().unwrap();
    let mut input = vec![0f32; model.info.input_len()];
    let mut counts = Counts::default();
    for g in load_goldens(&f.join(goldens)) {
        if pattern(&g.image, model.info.input_shape).is_some() {
            continue;
        }
        let path = f.join(&g.image);
        if !path.exists() {
            // Only the two large timing photos are not copied into the repository.
            assert!(
                g.image.starts_with("photos/bench_"),
                "missing fixture {}",
                g.image
            );
            continue;
        }
        let what = format!("{model_dir} {:?} {}", decoder, g.image);
        let bytes = std::fs::read(&path).unwrap();
        if let Err(e) = pre.preprocess("application/x-image", &bytes, &mut input) {
            // cv2 decodes BMP and arithmetic JPEG; we refuse BMP (the connector documents JPEG
            // and PNG only) and zune-jpeg cannot decode arithmetic coding: specific errors.
            let expected = match g.image.as_str() {
                "images/bmp_content_named_jpg.jpg" => Code::UnsupportedImageFormat,
                "images/jpeg_arithmetic.jpg" if decoder == JpegDecoder::Zune => {
                    Code::UnsupportedImageFeature
                }
                _ => panic!("{what}: {e}"),
            };
            assert_eq!(e.code, expected, "{what}: {e}");
            counts.refused += 1;
            continue;
        }
        let exact = g.input_sha256.as_deref() == Some(tensor_sha256(&input).as_str());
        let format = detect_format(&bytes).unwrap();
        if format == ImageFormat::Png || decoder == JpegDecoder::Turbo {
            assert!(
                exact,
                "{what}: our input tensor differs from MXNet's (decode or resize is not exact)"
            );
        }
        let out = model.run(&mut state, &input).unwrap();
        if exact {
            assert_matches(&what, &out.probs, out.logits.as_ref().unwrap(), &g);
            counts.exact += 1;
        } else {
            let dprob = out
                .probs
                .iter()
                .zip(&g.probs)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert_eq!(top_k(&out.probs, 1)[0], g.top5[0], "{what}: top-1");
            assert!(dprob <= 0.02, "{what}: |dprob| {dprob} > 0.02");
            counts.tolerant += 1;
        }
    }
    eprintln!("{model_dir} with {decoder:?}: {counts:?}");
    counts
}

#[test]
fn sha256_known_answers() {
    // FIPS 180-4 examples.
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
}

#[test]
fn tiny_trained_from_image_files_with_zune() {
    let c = run_images(
        "tiny-trained",
        "tiny-trained/goldens.json",
        JpegDecoder::Zune,
    );
    // 6 digit PNGs + the PNG edge cases are exact; the JPEGs are within the zune tolerance.
    assert!(c.exact >= 20, "{c:?}");
    assert!(c.tolerant >= 20, "{c:?}");
}

/// The slim models with zune: PNG inputs exact (JPEG inputs of random-weight nets are too
/// sensitive to ±1 LSB for a tolerance: their tensors are checked in image_decode.rs instead).
#[test]
fn slim_models_from_png_files() {
    for m in [
        "r18-slim",
        "r50-slim",
        "r18-nonsquare",
        "r18-gray",
        "r34-29",
        "r18-slim-fp16",
    ] {
        let model = format!("slim/{m}");
        let goldens = format!("slim/{m}/goldens.json");
        let f = fixtures();
        let model_dir = f.join(&model);
        let loaded = Model::load(&model_dir, &Default::default()).unwrap();
        let [_, c, h, w] = loaded.info.input_shape;
        let mut pre = Preprocessor::new(c, h, w, DecodeOptions::default()).unwrap();
        let mut state = loaded.new_state().unwrap();
        let mut input = vec![0f32; loaded.info.input_len()];
        let mut exact = 0;
        for g in load_goldens(&f.join(&goldens))
            .iter()
            .filter(|g| g.image.ends_with(".png"))
        {
            let bytes = std::fs::read(f.join(&g.image)).unwrap();
            pre.preprocess("image/png", &bytes, &mut input).unwrap();
            assert_eq!(
                g.input_sha256.as_deref(),
                Some(tensor_sha256(&input).as_str()),
                "{m} {}",
                g.image
            );
            let out = loaded.run(&mut state, &input).unwrap();
            assert_matches(
                &format!("{m} {}", g.image),
                &out.probs,
                out.logits.as_ref().unwrap(),
                g,
            );
            exact += 1;
        }
        assert!(exact >= 3, "{m}: {exact} PNG goldens");
    }
}

/// With libjpeg-turbo every JPEG tensor is bit-identical to MXNet's, on every model.
#[cfg(feature = "jpeg-turbo")]
#[test]
fn every_model_from_image_files_with_libjpeg_turbo() {
    let c = run_images(
        "tiny-trained",
        "tiny-trained/goldens.json",
        JpegDecoder::Turbo,
    );
    assert_eq!(c.tolerant, 0, "{c:?}");
    for m in [
        "r18-slim",
        "r50-slim",
        "r18-nonsquare",
        "r18-gray",
        "r34-29",
        "r18-slim-fp16",
        "r18-noid",
    ] {
        let c = run_images(
            &format!("slim/{m}"),
            &format!("slim/{m}/goldens.json"),
            JpegDecoder::Turbo,
        );
        assert_eq!(c.tolerant, 0, "{m}: {c:?}");
        assert!(c.exact >= 9, "{m}: {c:?}");
    }
}
