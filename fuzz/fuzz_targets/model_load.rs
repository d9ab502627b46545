//! Loading a whole MXNet model from memory: symbol JSON, `model-shapes.json` and `.params`, split
//! by a separator line (so insertions into one part do not shift the others), through the same
//! steps as a model directory: parse, `ImportedModel::from_mxnet_parts`, and, when the graph is
//! small enough to be cheap, tract's optimisation and two inferences.
//!
//! Invariants: errors carry a model code (never `Internal`, i.e. never a graph the importer
//! accepted and tract then refused); an imported model has the declared input shape and at least
//! one class; a run gives one value per class, and a softmax head gives a distribution.
#![no_main]

use edgeclass::model::mxnet::{self, params, symbol};
use edgeclass::model::ImportedModel;
use edgeclass::{Code, Error};
use libfuzzer_sys::fuzz_target;

const SEP: &[u8] = b"\n--edgeclass-fuzz--\n";

fn split(data: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let find = |d: &[u8]| d.windows(SEP.len()).position(|w| w == SEP);
    let a = find(data)?;
    let (sym, rest) = (&data[..a], &data[a + SEP.len()..]);
    let b = find(rest)?;
    Some((sym, &rest[..b], &rest[b + SEP.len()..]))
}

fn assert_model_error(e: &Error) {
    assert!(
        matches!(
            e.code,
            Code::SymbolFormat
                | Code::ParamsFormat
                | Code::ModelMismatch
                | Code::UnsupportedOperator
        ),
        "unexpected error code {:?}: {e}",
        e.code
    );
}

fn import(sym: &[u8], shapes: &[u8], params_bytes: &[u8]) -> Result<ImportedModel, Error> {
    let text = std::str::from_utf8(sym)
        .map_err(|_| edgeclass::error::symbol_format("symbol: not UTF-8"))?;
    let symbol = symbol::parse(text)?;
    let input = mxnet::parse_model_shapes(&String::from_utf8_lossy(shapes))?;
    assert_eq!(input[0], 1);
    let entries = params::parse(params_bytes)?;
    let params = mxnet::params_by_name(entries)?;
    ImportedModel::from_mxnet_parts(&symbol, params, input, None)
}

/// Elements of every value the graph computes: a bound on what running it costs.
fn total_elements(m: &ImportedModel) -> Option<usize> {
    let mut total = 0usize;
    for node in &m.typed.nodes {
        for o in &node.outputs {
            let n = o
                .fact
                .shape
                .as_concrete()?
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))?;
            total = total.checked_add(n)?;
        }
    }
    Some(total)
}

fuzz_target!(|data: &[u8]| {
    let Some((sym, shapes, params_bytes)) = split(data) else {
        return;
    };
    let model = match import(sym, shapes, params_bytes) {
        Ok(m) => m,
        Err(e) => return assert_model_error(&e),
    };
    let info = model.info.clone();
    assert!(
        info.classes >= 1,
        "a model with no classes was imported: {info:?}"
    );
    assert_eq!(info.weight_bytes, 4 * info.parameter_count);
    assert_eq!(info.input_shape[0], 1);
    // Optimising and running is the expensive part: only for graphs that are cheap to run.
    if total_elements(&model).is_none_or(|n| n > 1 << 20) {
        return;
    }
    let model = match model.into_model() {
        Ok(m) => m,
        Err(e) => return assert_model_error(&e),
    };
    let mut state = model.new_state().expect("state");
    let n = info.input_len();
    for input in [
        vec![0f32; n],
        (0..n).map(|i| (i * 37 % 256) as f32).collect(),
    ] {
        let out = match model.run(&mut state, &input) {
            Ok(o) => o,
            Err(e) => return assert_model_error(&e),
        };
        assert_eq!(out.probs.len(), info.classes);
        if let Some(l) = &out.logits {
            assert!(info.has_logits);
            assert_eq!(l.len(), info.classes);
            if l.iter().all(|v| v.is_finite()) {
                let sum: f32 = out.probs.iter().sum();
                assert!((sum - 1.0).abs() < 1e-3, "softmax sums to {sum}");
                assert!(out.probs.iter().all(|p| (0.0..=1.0).contains(p)));
            }
        }
    }
});
