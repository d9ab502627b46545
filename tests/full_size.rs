//! The full-size models (resnet18-224, resnet50-224) against MXNet's goldens. Their params are too
//! big to commit: `scripts/make-full-models.sh` regenerates them with MXNet 1.9.1 into
//! tests/fixtures/full (or $EDGECLASS_FULL_MODELS). Without them this test says it skipped;
//! with EDGECLASS_REQUIRE_FULL_MODELS=1 (CI) their absence is a failure.

mod common;

use std::path::Path;

use common::*;
use edgeclass::model::Model;

/// MXNet's outputs for exactly these params. `make-full-models.sh` writes them beside the params
/// it regenerates; the committed reference goldens hold only for params byte-identical to the
/// reference manifest: MXNet's calibration (oneDNN) rounds differently on other CPUs, and then
/// the regenerated model differs from the reference one (|dlogit| up to 6e-3 seen, far above the
/// tolerance), so comparing against the reference would test the CPU, not edgeclass.
fn goldens_for(model_dir: &Path, name: &str) -> Vec<Golden> {
    let beside = model_dir.join("goldens.json");
    let path = if beside.exists() {
        beside
    } else {
        let reference = fixtures().join("reference").join(name);
        let want = manifest_params_sha(&reference.join("manifest.json"));
        let params = std::fs::read(model_dir.join("image-classification-0000.params")).unwrap();
        assert_eq!(
            Some(sha256_hex(&params)),
            want,
            "{name}: no goldens.json beside the params, and the params differ from the reference"
        );
        reference.join("goldens.json")
    };
    eprintln!("{name}: goldens from {}", path.display());
    load_goldens(&path)
}

fn manifest_params_sha(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["files"]["image-classification-0000.params"]
        .as_str()
        .map(str::to_string)
}

#[test]
fn resnet18_and_resnet50_match_mxnet() {
    // EDGECLASS_FULL_MODEL_NAMES (comma-separated) narrows the set: emulated, each ARM target
    // runs one of the two (cross/run.sh), as both take minutes under qemu.
    const MODELS: [&str; 2] = ["resnet18-224", "resnet50-224"];
    let names = std::env::var("EDGECLASS_FULL_MODEL_NAMES").unwrap_or_else(|_| MODELS.join(","));
    let names: Vec<&str> = names
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    for name in &names {
        assert!(
            MODELS.contains(name),
            "EDGECLASS_FULL_MODEL_NAMES: unknown model {name}"
        );
    }
    assert!(
        !names.is_empty(),
        "EDGECLASS_FULL_MODEL_NAMES names no model"
    );
    for name in names {
        let Some(model_dir) = full_model(name) else {
            continue;
        };
        let model = Model::load(&model_dir, &Default::default()).unwrap();
        assert_eq!(model.info.input_shape, [1, 3, 224, 224]);
        assert_eq!(model.info.classes, 1000);
        let mut state = model.new_state().unwrap();
        let goldens = goldens_for(&model_dir, name);
        let inputs = fixtures().join("photos/inputs");
        let mut ran = 0;
        for g in &goldens {
            let input = match pattern(&g.image, model.info.input_shape) {
                Some(p) => p,
                None => {
                    // Photos whose preprocessed tensor is committed (china, flower); MXNet's
                    // goldens also list the bench photos, whose tensors are not kept here.
                    let photo = g.image.trim_start_matches("photos/");
                    let npy = inputs.join(format!("{photo}.224x224.npy"));
                    if !npy.exists() {
                        continue;
                    }
                    let tensor = read_npy_f32(&npy);
                    assert_eq!(
                        Some(tensor_sha256(&tensor)),
                        g.input_sha256,
                        "{name} {}: the committed tensor is not the one MXNet was given",
                        g.image
                    );
                    tensor
                }
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
        // 3 patterns + china + flower.
        assert_eq!(ran, 5);
    }
}
