//! The pure parsers on small inputs: the `.params` reader, the symbol JSON reader, the EXIF
//! orientation reader and transform, and the OpenCV-exact resize. Runs under miri
//! (`scripts/sanitize.sh miri`), which checks the parsers' paths through the standard library and
//! our dependencies for undefined behaviour; natively it is part of the ordinary suite. Miri
//! interprets about a thousand times slower, so under miri the cases that read whole ~200 KB
//! files are skipped (`MIRI_SKIP`) and resize checks one OpenCV vector instead of five.
//!
//! References are never this code: MXNet's manifests and goldens, the JSON as serde sees it,
//! OpenCV's resize vectors, and hand-computed transforms.

mod common;

use common::npy_u8;
use edgeclass::image::{decode, exif, resize_linear, ColorMode, DecodeOptions};
use edgeclass::model::mxnet::{params, symbol};
use edgeclass::Code;
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn read(rel: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{rel}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_slice(&read(rel)).unwrap()
}

#[test]
#[cfg_attr(miri, ignore = "reads a 187 KB file: minutes under miri")]
fn params_of_a_slim_model_match_its_symbol_and_manifest() {
    let entries = params::parse(&read("slim/r18-gray/image-classification-0002.params")).unwrap();
    // Every stored array is a variable of the symbol (arg:/aux: prefix), with MXNet's names.
    let sym = json("slim/r18-gray/image-classification-symbol.json");
    let variables: Vec<&str> = sym["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["op"] == "null")
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    let mut args = 0usize;
    for e in &entries {
        let name = e.name.as_deref().unwrap();
        let (kind, var) = name.split_once(':').unwrap();
        assert!(kind == "arg" || kind == "aux", "{name}");
        assert!(variables.contains(&var), "{name} is not a symbol variable");
        let a = e.array.as_ref().unwrap();
        assert_eq!(a.data.len(), a.shape.iter().product::<usize>(), "{name}");
        assert!(a.data.iter().all(|x| x.is_finite()), "{name}");
        if kind == "arg" {
            args += a.data.len();
        }
    }
    // MXNet's own count of the trained parameters (manifest written by make_models.py).
    let manifest = json("slim/r18-gray/manifest.json");
    assert_eq!(args as u64, manifest["num_parameters"].as_u64().unwrap());
}

/// Hostile cases whose defect sits at the end of a whole ~190 KB file (read completely first).
const MIRI_SKIP: [&str; 3] = [
    "params-missing-array",
    "params-names-count-mismatch",
    "params-truncated-in-names",
];

#[test]
fn hostile_params_files_get_params_format_errors() {
    let expected = json("hostile-models/expected.json");
    let mut checked = 0;
    for (case, _) in expected.as_object().unwrap() {
        if !case.starts_with("params-") || (cfg!(miri) && MIRI_SKIP.contains(&case.as_str())) {
            continue;
        }
        let file = format!("hostile-models/{case}/image-classification-0000.params");
        let result = params::parse(&read(&file));
        match case.as_str() {
            // Well-formed files whose content does not fit the graph: the graph import refuses
            // them (tests/hostile_models.rs), the reader must accept them.
            "params-missing-array" => assert!(result.is_ok(), "{case}: {:?}", result.err()),
            _ => {
                let err = result.err().unwrap_or_else(|| panic!("{case}: parsed"));
                assert_eq!(err.code, Code::ParamsFormat, "{case}: {err}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 12 - MIRI_SKIP.len(), "{checked} params cases");
}

#[test]
fn symbols_parse_as_serde_sees_them() {
    let models: &[&str] = if cfg!(miri) {
        &["tiny-trained"]
    } else {
        &["slim/r18-gray", "tiny-trained"]
    };
    for model in models {
        let text =
            String::from_utf8(read(&format!("{model}/image-classification-symbol.json"))).unwrap();
        let raw: Value = serde_json::from_str(&text).unwrap();
        let sym = symbol::parse(&text).unwrap();
        let nodes = raw["nodes"].as_array().unwrap();
        assert_eq!(sym.nodes.len(), nodes.len(), "{model}");
        for (n, r) in sym.nodes.iter().zip(nodes) {
            assert_eq!(n.op, r["op"].as_str().unwrap(), "{model}");
            assert_eq!(n.name, r["name"].as_str().unwrap(), "{model}");
            let inputs = r["inputs"].as_array().unwrap();
            assert_eq!(n.inputs.len(), inputs.len(), "{model} {}", n.name);
            for (e, ri) in n.inputs.iter().zip(inputs) {
                assert_eq!(e.node as u64, ri[0].as_u64().unwrap());
                assert_eq!(e.index as u64, ri[1].as_u64().unwrap());
            }
        }
        assert_eq!(
            sym.heads[0].node as u64,
            raw["heads"][0][0].as_u64().unwrap()
        );
    }
}

#[test]
fn hostile_symbols_get_symbol_format_errors() {
    for case in ["symbol-bad-input-id", "symbol-cycle", "symbol-not-json"] {
        let bytes = read(&format!(
            "hostile-models/{case}/image-classification-symbol.json"
        ));
        let err = match std::str::from_utf8(&bytes) {
            Ok(text) => symbol::parse(text).err(),
            Err(_) => continue, // not UTF-8: refused before the parser
        };
        let err = err.unwrap_or_else(|| panic!("{case}: parsed"));
        assert_eq!(err.code, Code::SymbolFormat, "{case}: {err}");
    }
    for text in [
        "",
        "{",
        "[]",
        "{\"nodes\": 3}",
        "{\"nodes\": [], \"heads\": [[0, 0, 0]]}",
    ] {
        let err = symbol::parse(text)
            .err()
            .unwrap_or_else(|| panic!("{text:?}: parsed"));
        assert_eq!(err.code, Code::SymbolFormat, "{text:?}");
    }
}

/// A TIFF block with one IFD0 entry: the orientation tag of `kind` (3 SHORT, 4 LONG) = `value`.
fn tiff(little: bool, kind: u16, value: u32) -> Vec<u8> {
    let u16b = |x: u16| {
        if little {
            x.to_le_bytes()
        } else {
            x.to_be_bytes()
        }
    };
    let u32b = |x: u32| {
        if little {
            x.to_le_bytes()
        } else {
            x.to_be_bytes()
        }
    };
    let mut v = if little {
        b"II".to_vec()
    } else {
        b"MM".to_vec()
    };
    v.extend(u16b(42));
    v.extend(u32b(8)); // IFD0 right after the header
    v.extend(u16b(2)); // two entries: an unrelated tag first
    v.extend(u16b(0x010f)); // Make, ASCII, 4 bytes inline
    v.extend(u16b(2));
    v.extend(u32b(4));
    v.extend(b"abc\0");
    v.extend(u16b(0x0112));
    v.extend(u16b(kind));
    v.extend(u32b(1));
    if kind == 3 {
        // A SHORT sits in the first two bytes of the value field.
        v.extend(u16b(value as u16));
        v.extend([0, 0]);
    } else {
        v.extend(u32b(value));
    }
    v.extend(u32b(0)); // no next IFD
    v
}

#[test]
fn exif_orientation_reads_both_byte_orders_and_refuses_garbage() {
    for little in [true, false] {
        for o in 1..=8u32 {
            assert_eq!(exif::orientation(&tiff(little, 3, o)), Some(o as u8));
            assert_eq!(exif::orientation(&tiff(little, 4, o)), Some(o as u8));
        }
        for bad in [0, 9, 256, 0x0001_0003] {
            assert_eq!(exif::orientation(&tiff(little, 4, bad)), None, "{bad}");
        }
        assert_eq!(
            exif::orientation(&tiff(little, 7, 3)),
            None,
            "UNDEFINED type"
        );
        // Every truncation of a valid block: no panic, and nothing read past the end.
        let full = tiff(little, 3, 6);
        for n in 0..full.len() {
            let got = exif::orientation(&full[..n]);
            // The orientation entry ends 8 bytes before the block does (its value field is
            // complete at len - 4 - 2 for a SHORT).
            assert!(got.is_none() || n >= full.len() - 6, "{n}: {got:?}");
        }
    }
    // IFD offset and entry count pointing far outside the block.
    let mut far = tiff(true, 3, 6);
    far[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(exif::orientation(&far), None);
    let mut many = tiff(true, 3, 6);
    many[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    many.truncate(many.len() - 4);
    assert_eq!(
        exif::orientation(&many),
        Some(6),
        "entries after the tag are not needed"
    );
    many[8 + 2 + 12..8 + 2 + 14].copy_from_slice(&0x0113u16.to_le_bytes());
    assert_eq!(exif::orientation(&many), None, "65535 entries, none inside");
}

#[test]
fn exif_transforms_match_hand_computed_results() {
    // A 3x2 image, one channel: rows [1 2 3] / [4 5 6].
    let src = [1u8, 2, 3, 4, 5, 6];
    // OpenCV's ApplyExifOrientation, worked out by hand on this image.
    let cases: [(u8, &[u8]); 8] = [
        (1, &[1, 2, 3, 4, 5, 6]),
        (2, &[3, 2, 1, 6, 5, 4]),
        (3, &[6, 5, 4, 3, 2, 1]),
        (4, &[4, 5, 6, 1, 2, 3]),
        (5, &[1, 4, 2, 5, 3, 6]),
        (6, &[4, 1, 5, 2, 6, 3]),
        (7, &[6, 3, 5, 2, 4, 1]),
        (8, &[3, 6, 2, 5, 1, 4]),
    ];
    for (o, want) in cases {
        let mut dst = [0u8; 6];
        exif::apply(o, &src, 3, 2, 1, &mut dst);
        assert_eq!(&dst, want, "orientation {o}");
        assert_eq!(exif::swaps_axes(o), o >= 5);
    }
    // Channels move together: the same transform on 2-channel pixels (v, 10 v).
    let src2: Vec<u8> = src.iter().flat_map(|&v| [v, 10 * v]).collect();
    let mut dst2 = vec![0u8; 12];
    exif::apply(6, &src2, 3, 2, 2, &mut dst2);
    let want: Vec<u8> = [4u8, 1, 5, 2, 6, 3]
        .iter()
        .flat_map(|&v| [v, 10 * v])
        .collect();
    assert_eq!(dst2, want);
}

#[test]
fn resize_matches_opencv_vectors_and_hand_values() {
    // 2x2 -> 1x1 is OpenCV's exact 2x box case: (a + b + c + d + 2) >> 2.
    assert_eq!(
        resize_linear(&[10, 20, 30, 41], 2, 2, 1, 1, 1).unwrap(),
        vec![25]
    );
    // Upscaling a constant image keeps it constant.
    assert_eq!(
        resize_linear(&[7, 8, 9], 1, 1, 3, 3, 2).unwrap(),
        [7, 8, 9].repeat(6)
    );
    // Refusals instead of panics.
    assert!(
        resize_linear(&[1, 2, 3], 2, 2, 1, 1, 1).is_err(),
        "source too short"
    );
    assert!(resize_linear(&[], 0, 0, 3, 4, 4).is_err(), "empty source");
    assert!(
        resize_linear(&[1], 1, 1, 1, usize::MAX, 2).is_err(),
        "overflowing target"
    );
    // OpenCV 4.10's cv2.resize output for the small targets of the resize vectors.
    let index = json("resize/index.json");
    let mut checked = 0;
    for case in index.as_array().unwrap() {
        let (tw, th) = (
            case["target_wh"][0].as_u64().unwrap() as usize,
            case["target_wh"][1].as_u64().unwrap() as usize,
        );
        let source = case["source"].as_str().unwrap();
        let small = if cfg!(miri) { 17 * 9 } else { 48 * 32 };
        if tw * th > small || !source.starts_with("images/png_rgb8") {
            continue; // the large ones are in tests/image_resize.rs
        }
        let img = decode(
            "image/png",
            &read(source),
            &DecodeOptions::default(),
            ColorMode::Rgb,
        )
        .unwrap();
        let got = resize_linear(&img.pixels, img.width, img.height, 3, tw, th).unwrap();
        let (shape, want) = npy_u8(&read(&format!("resize/{}", case["file"].as_str().unwrap())));
        assert_eq!(shape, vec![th, tw, 3]);
        assert!(got == want, "{source} -> {tw}x{th}");
        checked += 1;
    }
    assert!(
        checked >= if cfg!(miri) { 2 } else { 5 },
        "{checked} vectors"
    );
}
