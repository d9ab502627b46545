//! Every broken model in tests/fixtures/hostile-models gets its own clear error: the expected code,
//! and a message matching the suggestions in expected.json (each alternative a plain substring,
//! case-insensitive). No panic, no hang, no huge allocation (a test would die of it). The same
//! code and message when a service is opened over it (the path the C ABI's
//! `edgeclass_service_open` takes).

mod common;

use edgeclass::model::ImportedModel;
use edgeclass::service::{Service, ServiceConfig};
use edgeclass::Code;
use serde_json::Value;

fn expected_code(case: &str) -> Code {
    match case {
        "params-missing-array" | "weights-shape-mismatch" | "model-shapes-wrong-rank" => {
            Code::ModelMismatch
        }
        c if c.starts_with("params-") => Code::ParamsFormat,
        "symbol-unknown-op" => Code::UnsupportedOperator,
        c if c.starts_with("symbol-") => Code::SymbolFormat,
        "missing-params" | "missing-model-shapes" => Code::ModelNotFound,
        other => panic!("no expectation for {other}"),
    }
}

#[test]
fn every_hostile_model_is_rejected_clearly() {
    let dir = common::fixtures().join("hostile-models");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let cases = expected.as_object().unwrap();
    assert_eq!(cases.len(), 20);
    for (case, spec) in cases {
        let started = std::time::Instant::now();
        let err = match ImportedModel::load(&dir.join(case)).and_then(|m| m.into_model()) {
            Ok(_) => panic!("{case}: loaded, but it must be rejected"),
            Err(e) => e,
        };
        assert!(
            started.elapsed().as_secs() < 5,
            "{case}: took {:?}",
            started.elapsed()
        );
        assert_eq!(err.code, expected_code(case), "{case}: {err}");
        common::check_message(case, spec, &err.message);
        eprintln!("{case}: {err}");
        let config = ServiceConfig::builder("hostile", dir.join(case))
            .timeout_seconds(10)
            .memory_limit_kb(500_000)
            .build()
            .unwrap();
        let err = match Service::open(config) {
            Ok(_) => panic!("{case}: a service opened over it"),
            Err(e) => e,
        };
        assert_eq!(err.code, expected_code(case), "{case} (service): {err}");
        common::check_message(case, spec, &err.message);
    }
}
