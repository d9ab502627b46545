//! Inputs the fuzz targets (fuzz/, scripts/fuzz.sh) crashed on, minimised, with the answer each
//! must give now: a specific error code, never `Internal` or a panic. The inputs live in
//! tests/fixtures/fuzz (its README says what each one broke).

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use edgeclass::model::mxnet::params::NdArray;
use edgeclass::model::mxnet::symbol;
use edgeclass::model::ImportedModel;
use edgeclass::Code;

fn fuzz_fixture(name: &str) -> PathBuf {
    common::fixtures().join("fuzz").join(name)
}

/// What decoding `bytes` with the default options gives in both colour modes: an error each.
fn decode_errors(content_type: &str, bytes: &[u8]) -> Vec<edgeclass::Error> {
    use edgeclass::image::{self, ColorMode, DecodeOptions};
    [ColorMode::Rgb, ColorMode::Gray]
        .into_iter()
        .map(|mode| {
            image::decode(content_type, bytes, &DecodeOptions::default(), mode)
                .map(|_| ())
                .unwrap_err()
        })
        .collect()
}

fn zeros(shape: &[usize]) -> NdArray {
    NdArray {
        shape: shape.to_vec(),
        data: vec![0.0; shape.iter().product()],
        stored_dtype: "float32",
    }
}

fn import(
    symbol_file: &str,
    params: &[(&str, &[usize])],
    input: [usize; 4],
) -> edgeclass::Result<ImportedModel> {
    let text = std::fs::read_to_string(fuzz_fixture(symbol_file)).unwrap();
    let sym = symbol::parse(&text)?;
    let params: HashMap<String, NdArray> = params
        .iter()
        .map(|(name, shape)| (name.to_string(), zeros(shape)))
        .collect();
    ImportedModel::from_mxnet_parts(&sym, params, input, None)
}

/// `elemwise_add` of a 6x6 and an 8x8 value: tract wired it with an undetermined shape and the
/// next node failed with INTERNAL ("symbolic shape").
#[test]
fn add_of_unequal_shapes_is_a_model_mismatch() {
    let err = import(
        "add-unequal-shapes-symbol.json",
        &[
            ("conv0_weight", &[3, 3, 3, 3]),
            ("fc1_weight", &[2, 108]),
            ("fc1_bias", &[2]),
        ],
        [1, 3, 8, 8],
    )
    .err()
    .expect("an add of 6x6 and 8x8 must be refused");
    assert_eq!(err.code, Code::ModelMismatch, "{err}");
    assert!(err.message.contains("plus0"), "{err}");
    assert!(
        err.message.contains("[1, 3, 6, 6] and [1, 3, 8, 8]"),
        "{err}"
    );
}

/// `FullyConnected` with `num_hidden=0` as the head: the graph built, with an output of shape
/// [1, 0], and the model was accepted with no classes (MXNet bounds num_hidden below by 1). Found
/// by the `symbol` target after 715 CPU s.
#[test]
fn fully_connected_with_no_outputs_is_a_symbol_error() {
    let err = import("fc-num-hidden-zero-symbol.json", &[], [1, 3, 32, 32])
        .err()
        .expect("num_hidden 0 must be refused");
    assert_eq!(err.code, Code::SymbolFormat, "{err}");
    assert!(err.message.contains("fc1"), "{err}");
    assert!(err.message.contains("num_hidden must be positive"), "{err}");
}

// Attributes taken from the file went into unchecked arithmetic: kernel 0 (`kernel - 1`), a pad
// near 2^63 (`size + 2 * pad`) and a dilate of 2^62 (`dilate * (kernel - 1)`) overflowed: a
// panic with overflow checks, a wrapped size handed to tract without them.

const INPUT: [usize; 4] = [1, 3, 8, 8];

/// On 64-bit targets the value reaches the operator's own range check (`on_64_bit` names it); on
/// 32-bit ones (armv7) it does not fit a `usize` and the attribute reader refuses it, with the same
/// code and the value as written in the file.
fn assert_out_of_range(message: &str, on_64_bit: &str) {
    if cfg!(target_pointer_width = "64") {
        assert!(message.contains(on_64_bit), "{message}");
    } else {
        assert!(
            message.contains("is out of range (at most 4294967295 on this platform)"),
            "{message}"
        );
    }
}

#[test]
fn convolution_kernel_zero_is_a_symbol_error() {
    let err = import(
        "conv-kernel-zero-symbol.json",
        &[("conv0_weight", &[2, 3, 0, 3])],
        INPUT,
    )
    .err()
    .expect("kernel 0");
    assert_eq!(err.code, Code::SymbolFormat, "{err}");
    assert!(err.message.contains("must be positive"), "{err}");
}

#[test]
fn convolution_pad_near_2_63_is_refused() {
    let err = import(
        "conv-pad-overflow-symbol.json",
        &[("conv0_weight", &[2, 3, 3, 3])],
        INPUT,
    )
    .err()
    .expect("pad 2^63 - 1");
    assert_eq!(err.code, Code::ModelMismatch, "{err}");
    assert_out_of_range(&err.message, "pad [9223372036854775807, 1] is out of range");
}

#[test]
fn convolution_dilate_of_2_62_is_refused() {
    let err = import(
        "conv-dilate-overflow-symbol.json",
        &[("conv0_weight", &[2, 3, 5, 5])],
        INPUT,
    )
    .err()
    .expect("dilate 2^62");
    assert_eq!(err.code, Code::ModelMismatch, "{err}");
    assert_out_of_range(&err.message, "does not fit the padded input");
}

#[test]
fn pooling_pad_near_2_63_is_refused() {
    let err = import("pool-pad-overflow-symbol.json", &[], INPUT)
        .err()
        .expect("pooling pad 2^63 - 1");
    assert_eq!(err.code, Code::ModelMismatch, "{err}");
    assert_out_of_range(&err.message, "pad [9223372036854775807, 1] is out of range");
}

/// A PLTE chunk of 4 bytes (not a multiple of 3, with valid CRCs): the `png` crate 0.18.1 panicked
/// expanding the palette ("range end index 3 out of range for slice of length 1"), in the
/// service's decode too. The header walk now refuses it, before the decoder sees it.
#[test]
fn png_palette_not_a_multiple_of_3_is_corrupt() {
    use edgeclass::image::{self, DecodeOptions};
    let bytes = std::fs::read(fuzz_fixture("png-plte-not-multiple-of-3.png")).unwrap();
    let err = image::probe("image/png", &bytes, &DecodeOptions::default()).unwrap_err();
    assert_eq!(err.code, Code::CorruptImage, "{err}");
    assert!(err.message.contains("PLTE chunk of 4 bytes"), "{err}");
    for err in decode_errors("image/png", &bytes) {
        assert_eq!(err.code, Code::CorruptImage, "{err}");
    }
}

/// A baseline 2144x64 JPEG whose three components come in three scans (not interleaved):
/// zune-jpeg keeps every coefficient until the last scan, which the decode-memory estimate (the
/// budget a service reserves under its memory limit) left out: the decode peaked at 1,339,344
/// bytes against an estimate of 1,029,120. The estimate now counts the coefficients.
#[test]
fn jpeg_with_separate_scans_stays_inside_its_decode_estimate() {
    use edgeclass::image::{self, ColorMode, DecodeOptions, ImageDecoder};
    use edgeclass::mem::heap;
    let bytes = std::fs::read(fuzz_fixture("jpeg-noninterleaved-scans.jpg")).unwrap();
    let options = DecodeOptions::default();
    let info = image::probe("image/jpeg", &bytes, &options).unwrap();
    assert_eq!((info.width, info.height), (2144, 64));
    // What zune keeps: 2144x64 padded to 16x16 MCUs, 3 components of i16 coefficients.
    assert!(
        info.decode_bytes >= 2144 * 64 * 3 * 2 + 2144 * 64 * 3,
        "{info:?}"
    );
    for mode in [ColorMode::Rgb, ColorMode::Gray] {
        // A fresh decoder each time: its buffers are kept between calls.
        let mut decoder = ImageDecoder::new(options);
        let (result, _, peak) = heap::measure(|| {
            decoder
                .decode("image/jpeg", &bytes, mode)
                .map(|v| v.pixels.len())
        });
        assert_eq!(result.unwrap(), 2144 * 64 * mode.channels());
        if heap::is_counting() {
            // The fuzz target's bound: the estimate plus 256 KiB for small allocations.
            assert!(
                peak <= info.decode_bytes + (256 << 10),
                "{mode:?}: decode peaked at {peak} bytes, estimate {}",
                info.decode_bytes
            );
        }
    }
}

/// A 96x64 baseline JPEG whose components are sampled 1x1, 2x1 and 1x3 (largest 2x3): zune-jpeg
/// 0.5.15 panicked writing past its row buffer (idct/avx2.rs:246, an `unwrap` on a slice out of
/// range). libjpeg decodes such a file, so the header probe accepts it; the zune decoder is not
/// asked to (a vertical factor of 3, like the horizontal one zune refuses itself). With the
/// second component made 2x2 the ratio to 2x3 is fractional, which libjpeg refuses ("fractional
/// sampling not implemented"), and so does the probe now.
#[test]
fn jpeg_with_sampling_factor_3_is_unsupported_by_zune() {
    use edgeclass::image::{self, DecodeOptions};
    let bytes = std::fs::read(fuzz_fixture("jpeg-sampling-1x3.jpg")).unwrap();
    let options = DecodeOptions::default();
    let info = image::probe("image/jpeg", &bytes, &options).unwrap();
    assert_eq!((info.width, info.height), (96, 64));
    for err in decode_errors("image/jpeg", &bytes) {
        assert_eq!(err.code, Code::UnsupportedImageFeature, "{err}");
        assert!(err.message.contains("2x3"), "{err}");
    }
    // The frame header's second component: id 2, sampling 0x21 -> 0x22.
    let sof = bytes.windows(2).position(|w| w == [0xff, 0xc0]).unwrap();
    let factors = sof + 2 + 2 + 6 + 3 + 1;
    assert_eq!(bytes[factors], 0x21);
    let mut fractional = bytes.clone();
    fractional[factors] = 0x22;
    let err = image::probe("image/jpeg", &fractional, &options).unwrap_err();
    assert_eq!(err.code, Code::UnsupportedImageFeature, "{err}");
    assert!(err.message.contains("fractional sampling"), "{err}");
}

/// A 96x8 baseline JPEG sampled 1x2, 1x1, 1x1 whose scans are not interleaved (the first holds
/// the third component only): zune-jpeg 0.5.15 panicked copying MCU rows ("range end index 3072
/// out of range for slice of length 1536", mcu.rs:379). The zune path refuses subsampled files
/// with non-interleaved scans; the 4:4:4 case above still decodes.
#[test]
fn subsampled_jpeg_with_separate_scans_is_unsupported_by_zune() {
    let bytes = std::fs::read(fuzz_fixture("jpeg-noninterleaved-subsampled.jpg")).unwrap();
    for err in decode_errors("image/jpeg", &bytes) {
        assert_eq!(err.code, Code::UnsupportedImageFeature, "{err}");
        assert!(err.message.contains("not interleaved"), "{err}");
    }
}
