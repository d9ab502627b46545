//! A service whose memory limit is L opens or refuses every model fixture, good and hostile,
//! without the heap ever holding more than L above where it started (the counting allocator's
//! peak): loading asks the limit before each large allocation instead of measuring after.
//!
//! One test in its own binary: the peak is process-wide.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edgeclass::mem::heap;
use edgeclass::model::ImportedModel;
use edgeclass::service::{Service, ServiceConfig};
use edgeclass::Code;

fn open(model: &Path, limit_kb: u64) -> edgeclass::Result<Service> {
    let p: BTreeMap<String, String> = [
        ("MLModelDestinationPath", model.to_str().unwrap()),
        ("LocalInferenceServiceName", "budget"),
        ("LocalInferenceServiceTimeoutSeconds", "10"),
        ("LocalInferenceServiceMemoryLimitKB", &limit_kb.to_string()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Service::open(ServiceConfig::from_parameters(&p)?)
}

/// A params file of one float32 record of `floats` zeros named `arg:w`.
fn params_one_record(floats: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0x112u64, 0, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&0xF993_FAC9u32.to_le_bytes()); // V2
    out.extend_from_slice(&0i32.to_le_bytes()); // dense
    out.extend_from_slice(&1i32.to_le_bytes()); // ndim
    out.extend_from_slice(&floats.to_le_bytes());
    for v in [1i32, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes()); // cpu, device 0, float32
    }
    out.resize(out.len() + 4 * floats as usize, 0);
    for v in [1u64, 5] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(b"arg:w");
    out
}

fn models(tmp: &Path) -> Vec<PathBuf> {
    let fx = common::fixtures();
    let mut out = Vec::new();
    for group in ["slim", "hostile-models"] {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(fx.join(group))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.is_dir() && (group == "hostile-models" || p.join("model-shapes.json").exists())
            })
            .collect();
        dirs.sort();
        out.extend(dirs);
    }
    out.push(fx.join("tiny-trained"));
    out.push(fx.join("slim/r18-slim-tar/model.tar.gz"));
    out.push(fx.join("slim/r18-slim-tar/model-dotslash.tar.gz"));
    let mut hostile: Vec<PathBuf> = std::fs::read_dir(fx.join("hostile-archives"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".t"))
        .collect();
    hostile.sort();
    out.extend(hostile);
    // NNEF, as tract writes it (re-packed by the loader from the archive).
    let r18 = ImportedModel::load(&fx.join("slim/r18-slim")).unwrap();
    for name in ["r18.nnef.tgz", "r18.nnef.tar"] {
        r18.save_nnef(&tmp.join(name)).unwrap();
        out.push(tmp.join(name));
    }
    // A params file whose record alone declares 24 MiB (the model's own files beside it).
    let big = tmp.join("params-record-24mib");
    std::fs::create_dir_all(&big).unwrap();
    for f in ["image-classification-symbol.json", "model-shapes.json"] {
        std::fs::copy(fx.join("slim/r18-slim").join(f), big.join(f)).unwrap();
    }
    std::fs::write(
        big.join("image-classification-0000.params"),
        params_one_record(6 << 20),
    )
    .unwrap();
    out.push(big);
    out
}

#[test]
fn every_model_fixture_opens_or_is_refused_within_the_limit() {
    if !heap::is_counting() {
        eprintln!("SKIPPED: no counting allocator");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("edgeclass-budget-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let models = models(&tmp);
    assert!(models.len() > 40, "{} models", models.len());
    let mut opened = 0;
    let mut refused_by_limit = 0;
    for limit_kb in [1_000u64, 4_000, 16_000, 64_000] {
        let limit = limit_kb * 1024;
        for model in &models {
            let start = heap::live_bytes();
            heap::reset_peak();
            let result = open(model, limit_kb);
            let peak = heap::peak_bytes().saturating_sub(start);
            let name = model.strip_prefix(common::fixtures()).unwrap_or(model);
            match &result {
                Ok(_) => opened += 1,
                Err(e) if e.code == Code::MemoryLimit => refused_by_limit += 1,
                Err(_) => {}
            }
            eprintln!(
                "L={limit_kb} KB {}: peak {peak} bytes: {}",
                name.display(),
                result
                    .as_ref()
                    .map_or_else(|e| e.to_string(), |_| "opened".into())
            );
            assert!(
                peak as u64 <= limit,
                "{} with a limit of {limit} bytes: the heap peaked {peak} bytes above its start ({:?})",
                name.display(),
                result.err()
            );
        }
    }
    eprintln!("{opened} opened, {refused_by_limit} refused by the limit");
    // The limits straddle the models: some open, some are refused by the limit.
    assert!(opened > 10, "{opened} opened");
    assert!(
        refused_by_limit > 10,
        "{refused_by_limit} refused by the limit"
    );
    // The 24 MiB record, at 16 MB: refused before its array exists, naming it.
    let big = tmp.join("params-record-24mib");
    let e = open(&big, 16_000).unwrap_err();
    assert_eq!(e.code, Code::MemoryLimit, "{e}");
    assert!(e.message.contains("record 0"), "{e}");
    assert!(e.message.contains("6291456 values"), "{e}");
    std::fs::remove_dir_all(&tmp).unwrap();
}
