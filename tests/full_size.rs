//! The full-size models (resnet18-224, resnet50-224) against MXNet's goldens. Their params are too
//! big to commit: `scripts/make-full-models.sh` regenerates them with MXNet 1.9.1 into
//! tests/fixtures/full (or $EDGECLASS_FULL_MODELS). Without them this test says it skipped;
//! with EDGECLASS_REQUIRE_FULL_MODELS=1 (CI) their absence is a failure.

mod common;

use std::path::PathBuf;

use common::*;
use edgeclass::model::Model;

fn full_dir() -> PathBuf {
    std::env::var_os("EDGECLASS_FULL_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures().join("full"))
}

#[test]
fn resnet18_and_resnet50_match_mxnet() {
    let dir = full_dir();
    let required = std::env::var("EDGECLASS_REQUIRE_FULL_MODELS").is_ok_and(|v| v == "1");
    for name in ["resnet18-224", "resnet50-224"] {
        let model_dir = dir.join(name);
        if !model_dir.join("image-classification-0000.params").exists() {
            assert!(
                !required,
                "{}: full-size model missing; run scripts/make-full-models.sh",
                model_dir.display()
            );
            eprintln!(
                "SKIPPED full-size goldens for {name}: {} not found (run scripts/make-full-models.sh)",
                model_dir.display()
            );
            continue;
        }
        let model = Model::load(&model_dir).unwrap();
        assert_eq!(model.info.input_shape, [1, 3, 224, 224]);
        assert_eq!(model.info.classes, 1000);
        let mut state = model.new_state().unwrap();
        // Committed goldens: the 3 pattern tensors and the two photos' preprocessed tensors.
        let goldens = load_goldens(&fixtures().join("reference").join(name).join("goldens.json"));
        let inputs = fixtures().join("photos/inputs");
        let mut ran = 0;
        for g in &goldens {
            let input = match pattern(&g.image, model.info.input_shape) {
                Some(p) => p,
                None => read_npy_f32(&inputs.join(format!(
                    "{}.224x224.npy",
                    g.image.trim_start_matches("photos/")
                ))),
            };
            let out = model.run(&mut state, &input).unwrap();
            let (p, l) = assert_matches(
                &format!("{name} {}", g.image),
                &out.probs,
                out.logits.as_ref().unwrap(),
                g,
            );
            eprintln!("{name} {}: |dprob| {p:e} |dlogit| {l:e}", g.image);
            ran += 1;
        }
        assert_eq!(ran, 5);
    }
}
