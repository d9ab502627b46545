//! The services file parser (`edgeclass::service::definition`) against the fixture documents of
//! `tests/fixtures/services`, whose `expected.json` the Python SDK's parser is checked against too
//! (ffi-tests/python/test_sdk.py): the same documents mean the same connectors in both.

use edgeclass::service::definition::{self, Kind};
use serde_json::Value;
use std::path::Path;

#[test]
fn every_fixture_document_parses_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/services");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let documents = expected["documents"].as_object().unwrap();
    let on_disk = std::fs::read_dir(&dir).unwrap().count() - 1;
    assert_eq!(
        documents.len(),
        on_disk,
        "every document has its expectation"
    );
    for (file, want) in documents {
        let path = dir.join(file);
        let got = definition::read(&path);
        if let Some(text) = want.get("error") {
            let e = got.expect_err(file);
            assert_eq!(e.code, edgeclass::Code::InvalidArgument, "{file}: {e}");
            assert!(e.message.contains(text.as_str().unwrap()), "{file}: {e}");
            assert!(e.message.starts_with(&path.display().to_string()), "{e}");
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{file}: {e}"));
        let want = want["connectors"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{file}: {got:?}");
        for (c, w) in got.iter().zip(want) {
            let kind = match c.kind {
                Kind::Service => "service",
                Kind::Feedback => "feedback",
            };
            assert_eq!(kind, w["kind"], "{file}: {c:?}");
            assert_eq!(c.id.as_deref(), w["id"].as_str(), "{file}: {c:?}");
            assert_eq!(c.name.as_deref(), w["name"].as_str(), "{file}: {c:?}");
            match (&c.parameters, w["error"].as_str()) {
                (Ok(p), None) => {
                    if c.kind == Kind::Service {
                        assert_eq!(
                            p.get("LocalInferenceServiceName").map(String::as_str),
                            w["name"].as_str()
                        );
                    }
                }
                (Err(e), Some(text)) => {
                    let whole = format!("{}: {text}", path.display());
                    assert_eq!(e.message, whole, "{file}");
                    assert!(c.label().len() < e.message.len());
                }
                (got, want) => panic!("{file}: {c:?}: got {got:?}, expected error {want:?}"),
            }
        }
    }
}

#[test]
fn a_missing_file_is_named() {
    let e = definition::read(Path::new("/nonexistent/services.json")).unwrap_err();
    assert_eq!(e.code, edgeclass::Code::InvalidArgument);
    assert!(
        e.message
            .starts_with("cannot read the services file /nonexistent/services.json"),
        "{e}"
    );
}
