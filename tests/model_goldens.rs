//! The imported models against MXNet 1.9.1's own outputs (each model folder's `goldens.json`
//! under tests/fixtures; its `manifest.json` records the MXNet, numpy and OpenCV versions that
//! made them): every golden whose input is a tensor (closed-form patterns and the
//! preprocessed `.npy` inputs).

mod common;

use std::path::Path;

use common::*;
use edgeclass::model::{ImportedModel, Model};

/// Run every tensor golden of `goldens` through the model at `model_dir`; returns how many ran.
fn check_model(model_dir: &Path, goldens: &Path, npy_dir: &Path) -> usize {
    let model = Model::load(model_dir, &Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}", model_dir.display()));
    assert!(model.info.has_logits);
    let mut state = model.new_state().unwrap();
    let mut ran = 0;
    let (mut worst_p, mut worst_l) = (0f32, 0f32);
    for g in load_goldens(goldens) {
        let Some(input) = golden_input(&g, model.info.input_shape, npy_dir) else {
            continue;
        };
        let out = model.run(&mut state, &input).unwrap();
        let what = format!("{} on {}", model_dir.display(), g.image);
        let (p, l) = assert_matches(&what, &out.probs, out.logits.as_ref().unwrap(), &g);
        worst_p = worst_p.max(p);
        worst_l = worst_l.max(l);
        ran += 1;
    }
    eprintln!(
        "{}: {ran} tensor goldens, max |dprob| {worst_p:e}, max |dlogit| {worst_l:e}",
        model_dir.display()
    );
    ran
}

#[test]
fn tiny_trained_and_its_format_era_copies() {
    let f = fixtures();
    let goldens = f.join("tiny-trained/goldens.json");
    let inputs = f.join("tiny-trained/inputs");
    for dir in [
        "tiny-trained",
        "tiny-trained-compat-attr-json-v1-params",
        "tiny-trained-compat-legacy-params",
    ] {
        // 3 patterns + 8 preprocessed inputs.
        assert_eq!(check_model(&f.join(dir), &goldens, &inputs), 11, "{dir}");
    }
}

#[test]
fn every_slim_model() {
    let f = fixtures();
    let cases = [
        ("slim/r18-slim", "slim/r18-slim"),
        ("slim/r50-slim", "slim/r50-slim"),
        ("slim/r18-nonsquare", "slim/r18-nonsquare"),
        ("slim/r18-gray", "slim/r18-gray"),
        ("slim/r18-noid", "slim/r18-noid"),
        ("slim/r34-29", "slim/r34-29"),
        ("slim/r18-slim-batch32", "slim/r18-slim-batch32"),
        ("slim/r18-slim-fp16", "slim/r18-slim-fp16"),
        ("slim/r18-slim-tar/model.tar.gz", "slim/r18-slim-tar"),
        (
            "slim/r18-slim-tar/model-dotslash.tar.gz",
            "slim/r18-slim-tar",
        ),
        // r18-slim's own three files behind a 512 MiB member the loader streams past.
        (
            "hostile-archives/loads-past-a-512mib-member.tar.gz",
            "slim/r18-slim-tar",
        ),
    ];
    for (model, golden_dir) in cases {
        let model = f.join(model);
        let shape = edgeclass::model::ImportedModel::load(&model)
            .unwrap()
            .info
            .input_shape;
        let npy_dir = f.join(format!(
            "slim/inputs/{}x{}x{}",
            shape[1], shape[2], shape[3]
        ));
        let ran = check_model(&model, &f.join(golden_dir).join("goldens.json"), &npy_dir);
        // 3 patterns plus at least the 5 .npy inputs of that shape.
        assert!(
            ran >= 8,
            "{}: only {ran} tensor goldens ran",
            model.display()
        );
    }
}

#[test]
fn the_highest_epoch_is_loaded() {
    let info = ImportedModel::load(&fixtures().join("slim/r18-noid"))
        .unwrap()
        .info;
    assert_eq!(info.epoch, Some(7));
    assert!(info
        .files
        .contains(&"image-classification-0007.params".to_string()));
    assert!(
        !info.operators.contains_key("_copy"),
        "r18-noid has no identity node"
    );
}

#[test]
fn info_describes_the_model() {
    let m = ImportedModel::load(&fixtures().join("tiny-trained")).unwrap();
    let i = &m.info;
    assert_eq!(i.input_shape, [1, 3, 28, 28]);
    assert_eq!(i.classes, 10);
    assert_eq!(i.epoch, Some(30));
    assert_eq!(i.mxnet_version, Some(10901));
    // Hand count from the symbol: resnet-20 CIFAR layout = 3 stages x 3 units x 2 convs + conv0
    // + 2 projection shortcuts = 21 convolutions... plus the stage-1 shortcut MXNet's resnet.py
    // always adds on unit 1 = 22.
    assert_eq!(i.operators["Convolution"], 22);
    assert_eq!(i.operators["FullyConnected"], 1);
    // The params file is 1.1 MB of f32: weight bytes must be close to it and a multiple of 4.
    let file = std::fs::metadata(fixtures().join("tiny-trained/image-classification-0030.params"))
        .unwrap()
        .len();
    assert_eq!(i.weight_bytes % 4, 0);
    assert!(
        i.weight_bytes as u64 <= file && i.weight_bytes as u64 > file * 9 / 10,
        "{} vs {file}",
        i.weight_bytes
    );
    assert_eq!(m.labels.as_ref().unwrap().len(), 10);
}

#[test]
fn nnef_round_trip_keeps_shape_labels_and_probabilities() {
    let f = fixtures();
    let dir = std::env::temp_dir().join(format!("edgeclass-nnef-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (src, name) in [
        ("tiny-trained", "tiny.nnef.tgz"),
        ("slim/r18-nonsquare", "nonsquare.nnef.tar"),
    ] {
        let imported = ImportedModel::load(&f.join(src)).unwrap();
        let out = dir.join(name);
        imported.save_nnef(&out).unwrap();
        let original = imported.into_model().unwrap();
        let reloaded = Model::load(&out, &Default::default()).unwrap();
        assert_eq!(reloaded.info.format, "nnef");
        assert_eq!(reloaded.info.input_shape, original.info.input_shape);
        assert_eq!(reloaded.info.classes, original.info.classes);
        assert_eq!(reloaded.info.epoch, original.info.epoch);
        assert_eq!(reloaded.labels, original.labels);
        assert!(reloaded.info.has_logits);
        // And it still matches MXNet.
        let goldens = load_goldens(&f.join(src).join("goldens.json"));
        let mut state = reloaded.new_state().unwrap();
        for g in goldens
            .iter()
            .filter(|g| g.image.starts_with("pattern") || g.image == "const_128")
        {
            let input = pattern(&g.image, reloaded.info.input_shape).unwrap();
            let out = reloaded.run(&mut state, &input).unwrap();
            assert_matches(
                &format!("{name} {}", g.image),
                &out.probs,
                out.logits.as_ref().unwrap(),
                g,
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wrong_input_length_is_refused() {
    let model = Model::load(&fixtures().join("tiny-trained"), &Default::default()).unwrap();
    let mut state = model.new_state().unwrap();
    let e = model.run(&mut state, &[0.0; 10]).unwrap_err();
    assert_eq!(e.code, edgeclass::Code::InvalidArgument);
    assert!(e.message.contains("2352"), "{e}");
}
