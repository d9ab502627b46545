//! The symbol JSON reader, and the graph builder on whatever it accepts.
//!
//! Invariants: errors are `SymbolFormat` (reader), or `SymbolFormat` / `UnsupportedOperator` /
//! `ModelMismatch` (builder); an accepted symbol only has inputs pointing to earlier nodes and
//! heads inside the graph. The builder is fed zero weights of exactly the shapes it asks for
//! (it names them in its "needs parameter" error), so the fuzzer reaches every operator without
//! having to invent a params file.
#![no_main]

use std::collections::HashMap;

use edgeclass::model::mxnet::params::NdArray;
use edgeclass::model::mxnet::{graph, symbol};
use edgeclass::Code;
use libfuzzer_sys::fuzz_target;

/// `... needs parameter NAME (ARG, shape [a, b]) ...` → (NAME, [a, b]).
fn wanted_param(message: &str) -> Option<(String, Vec<usize>)> {
    let rest = &message[message.find("needs parameter ")? + "needs parameter ".len()..];
    let name = &rest[..rest.find(" (")?];
    let shape = &rest[rest.find("shape [")? + "shape [".len()..];
    let shape = &shape[..shape.find(']')?];
    let dims = shape
        .split(',')
        .map(|d| d.trim().parse::<usize>().ok())
        .collect::<Option<Vec<_>>>()?;
    Some((name.to_string(), dims))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sym = match symbol::parse(text) {
        Ok(s) => s,
        Err(e) => {
            assert_eq!(e.code, Code::SymbolFormat, "{e}");
            return;
        }
    };
    assert!(!sym.heads.is_empty());
    for h in &sym.heads {
        assert!(h.node < sym.nodes.len());
    }
    for (id, n) in sym.nodes.iter().enumerate() {
        for e in &n.inputs {
            assert!(e.node < id, "node {id} reads node {}", e.node);
        }
        // Typed attribute access never panics, whatever the strings are.
        let a = n.attrs();
        for key in n.attrs.keys() {
            let _ = a.tuple(key);
            let _ = a.usize(key, None);
            let _ = a.bool(key, false);
            let _ = a.f64(key, 0.0);
        }
    }
    let input = [1, 3, 32, 32];
    let mut params: HashMap<String, NdArray> = HashMap::new();
    for _ in 0..64 {
        match graph::build(&sym, params.clone(), input) {
            Ok(built) => {
                assert!(built.classes >= 1, "a model with no classes was accepted");
                assert_eq!(built.weight_bytes, 4 * built.parameter_count);
                return;
            }
            Err(e) => {
                assert!(
                    matches!(
                        e.code,
                        Code::SymbolFormat | Code::UnsupportedOperator | Code::ModelMismatch
                    ),
                    "{e}"
                );
                let Some((name, shape)) = wanted_param(&e.message) else {
                    return;
                };
                let count: usize = shape.iter().product();
                if count > 1 << 20 || params.contains_key(&name) {
                    return;
                }
                params.insert(
                    name,
                    NdArray {
                        shape,
                        data: vec![0.0; count],
                        stored_dtype: "float32",
                    },
                );
            }
        }
    }
});
