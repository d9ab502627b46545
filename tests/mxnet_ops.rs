//! Operators and format variants that the fixtures' ResNets do not use, checked against values
//! computed by hand: small symbols built here, with weights chosen so the arithmetic is simple.

use std::collections::HashMap;

use edgeclass::model::mxnet::{graph, params::NdArray, symbol};
use edgeclass::model::{ImportedModel, Model};

fn arr(shape: &[usize], data: &[f32]) -> NdArray {
    NdArray {
        shape: shape.to_vec(),
        data: data.to_vec(),
        stored_dtype: "float32",
    }
}

fn run(
    sym: &str,
    params: HashMap<String, NdArray>,
    input_shape: [usize; 4],
    input: &[f32],
) -> edgeclass::Inference {
    let symbol = symbol::parse(sym).unwrap();
    let model = ImportedModel::from_mxnet_parts(&symbol, params, input_shape, None)
        .unwrap()
        .into_model()
        .unwrap();
    let mut state = model.new_state().unwrap();
    model.run(&mut state, input).unwrap()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 1e-5 * (1.0 + y.abs()))
}

/// A v0.8-style graph: attributes under "param", 2-element inputs, BatchNorm with only 3 inputs
/// (its aux states implied as `<name>_moving_mean/var`), `_Plus`, a FullyConnected named like a
/// transfer-learned head, and the head a plain `softmax`.
#[test]
fn old_format_graph_with_implied_batchnorm_aux() {
    let sym = r#"{"nodes": [
        {"op": "null", "name": "data", "param": {}, "inputs": []},
        {"op": "null", "name": "bn_gamma", "param": {}, "inputs": []},
        {"op": "null", "name": "bn_beta", "param": {}, "inputs": []},
        {"op": "BatchNorm", "name": "bn", "param": {"eps": "0", "fix_gamma": "False"}, "inputs": [[0, 0], [1, 0], [2, 0]]},
        {"op": "_Plus", "name": "_plus0", "param": {}, "inputs": [[3, 0], [0, 0]]},
        {"op": "null", "name": "newlayer_fc2_weight", "param": {}, "inputs": []},
        {"op": "null", "name": "newlayer_fc2_bias", "param": {}, "inputs": []},
        {"op": "FullyConnected", "name": "newlayer_fc2", "param": {"num_hidden": "2"}, "inputs": [[4, 0], [5, 0], [6, 0]]},
        {"op": "softmax", "name": "prob", "param": {}, "inputs": [[7, 0]]}
      ], "arg_nodes": [0, 1, 2, 5, 6], "heads": [[8, 0]]}"#;
    let params = HashMap::from([
        ("bn_gamma".to_string(), arr(&[2], &[2.0, 1.0])),
        ("bn_beta".to_string(), arr(&[2], &[0.5, 0.0])),
        ("bn_moving_mean".to_string(), arr(&[2], &[1.0, 0.0])),
        ("bn_moving_var".to_string(), arr(&[2], &[4.0, 1.0])),
        (
            "newlayer_fc2_weight".to_string(),
            arr(&[2, 2], &[1.0, 0.0, 0.0, 1.0]),
        ),
        ("newlayer_fc2_bias".to_string(), arr(&[2], &[0.0, 1.0])),
    ]);
    // x = [3, 2]: bn = [(3-1)/2*2+0.5, (2-0)/1*1+0] = [2.5, 2]; plus x = [5.5, 4];
    // fc (identity + bias [0,1]) = [5.5, 5]; softmax = [1/(1+e^-0.5), e^-0.5/(1+e^-0.5)].
    let out = run(sym, params, [1, 2, 1, 1], &[3.0, 2.0]);
    let p0 = 1.0 / (1.0 + (-0.5f32).exp());
    assert!(
        close(out.logits.as_ref().unwrap(), &[5.5, 5.0]),
        "{:?}",
        out.logits
    );
    assert!(close(&out.probs, &[p0, 1.0 - p0]), "{:?}", out.probs);
}

/// fix_gamma (and its default, True) ignores the stored gamma; eps defaults to 1e-3.
#[test]
fn batchnorm_defaults_ignore_gamma() {
    let sym = r#"{"nodes": [
        {"op": "null", "name": "data"},
        {"op": "null", "name": "g"}, {"op": "null", "name": "b"},
        {"op": "null", "name": "m"}, {"op": "null", "name": "v"},
        {"op": "BatchNorm", "name": "bn", "attrs": {}, "inputs": [[0,0,0],[1,0,0],[2,0,0],[3,0,1],[4,0,1]]},
        {"op": "Flatten", "name": "f", "inputs": [[5,0,0]]}
      ], "heads": [[6,0,0]]}"#;
    let params = HashMap::from([
        ("g".to_string(), arr(&[1], &[5.0])),
        ("b".to_string(), arr(&[1], &[0.0])),
        ("m".to_string(), arr(&[1], &[0.0])),
        ("v".to_string(), arr(&[1], &[0.999])),
    ]);
    // (x - 0) / sqrt(0.999 + 0.001) * 1 + 0 = x.
    let out = run(sym, params, [1, 1, 1, 1], &[7.0]);
    assert!(close(&out.probs, &[7.0]), "{:?}", out.probs);
    assert!(out.logits.is_none(), "no softmax head, no logits");
}

/// Pooling conventions: a 5x5 input, 2x2 kernel, stride 2: "valid" floors to 2x2, "full" ceils
/// to 3x3 (the last window sees the one remaining row/column). Max values by hand.
#[test]
fn pooling_valid_and_full_conventions() {
    let input: Vec<f32> = (0..25).map(|v| v as f32).collect();
    for (convention, expected) in [
        ("valid", vec![6.0, 8.0, 16.0, 18.0]),
        (
            "full",
            vec![6.0, 8.0, 9.0, 16.0, 18.0, 19.0, 21.0, 23.0, 24.0],
        ),
    ] {
        let sym = format!(
            r#"{{"nodes": [{{"op": "null", "name": "data"}},
            {{"op": "Pooling", "name": "p", "attrs": {{"kernel": "(2, 2)", "stride": "(2,2)", "pool_type": "max", "pooling_convention": "{convention}"}}, "inputs": [[0,0,0]]}},
            {{"op": "Flatten", "name": "f", "inputs": [[1,0,0]]}}], "heads": [[2,0,0]]}}"#
        );
        let out = run(&sym, HashMap::new(), [1, 1, 5, 5], &input);
        assert_eq!(out.probs, expected, "{convention}");
    }
}

/// Average pooling with padding: count_include_pad true (MXNet's default) divides by the full
/// window, false by the real cells only. 2x2 input of ones, 3x3 kernel, pad 1, stride 1 (corner
/// windows cover 4 real cells of 9).
#[test]
fn avg_pooling_count_include_pad() {
    for (include, corner) in [("True", 4.0 / 9.0), ("False", 1.0)] {
        let sym = format!(
            r#"{{"nodes": [{{"op": "null", "name": "data"}},
            {{"op": "Pooling", "name": "p", "attrs": {{"kernel": "(3, 3)", "pad": "(1, 1)", "pool_type": "avg", "count_include_pad": "{include}"}}, "inputs": [[0,0,0]]}},
            {{"op": "Flatten", "name": "f", "inputs": [[1,0,0]]}}], "heads": [[2,0,0]]}}"#
        );
        let out = run(&sym, HashMap::new(), [1, 1, 2, 2], &[1.0; 4]);
        assert!(
            close(&out.probs, &[corner; 4]),
            "{include}: {:?}",
            out.probs
        );
    }
}

/// Activations by hand: relu, sigmoid, tanh, softrelu (= ln(1 + e^x), also for large |x|).
#[test]
fn activations() {
    let x = [-100.0f32, -1.0, 0.0, 2.0, 100.0];
    type Reference = fn(f32) -> f32;
    let cases: [(&str, Reference); 4] = [
        ("relu", |v| v.max(0.0)),
        ("sigmoid", |v| 1.0 / (1.0 + (-v as f64).exp()) as f32),
        ("tanh", |v| (v as f64).tanh() as f32),
        ("softrelu", |v| {
            if v > 30.0 {
                v
            } else {
                (1.0 + (v as f64).exp()).ln() as f32
            }
        }),
    ];
    for (act, f) in cases {
        let sym = format!(
            r#"{{"nodes": [{{"op": "null", "name": "data"}},
            {{"op": "Activation", "name": "a", "attrs": {{"act_type": "{act}"}}, "inputs": [[0,0,0]]}},
            {{"op": "Flatten", "name": "f", "inputs": [[1,0,0]]}}], "heads": [[2,0,0]]}}"#
        );
        let out = run(&sym, HashMap::new(), [1, 5, 1, 1], &x);
        let want: Vec<f32> = x.iter().map(|&v| f(v)).collect();
        assert!(
            close(&out.probs, &want),
            "{act}: {:?} vs {want:?}",
            out.probs
        );
    }
}

/// Grouped, dilated, biased convolution: 2 groups of 1 channel, 2x2 kernel of ones with dilation
/// 2 on a 3x3 input: each output is the sum of the 4 corners of its channel, plus the bias.
#[test]
fn grouped_dilated_convolution_with_bias() {
    let sym = r#"{"nodes": [{"op": "null", "name": "data"},
        {"op": "null", "name": "c_weight"}, {"op": "null", "name": "c_bias"},
        {"op": "Convolution", "name": "c", "attrs": {"kernel": "[2,2]", "dilate": "(2, 2)", "num_filter": "2", "num_group": "2", "no_bias": "false"}, "inputs": [[0,0,0],[1,0,0],[2,0,0]]},
        {"op": "Flatten", "name": "f", "inputs": [[3,0,0]]}], "heads": [[4,0,0]]}"#;
    let params = HashMap::from([
        ("c_weight".to_string(), arr(&[2, 1, 2, 2], &[1.0; 8])),
        ("c_bias".to_string(), arr(&[2], &[0.5, -1.0])),
    ]);
    let ch0: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let ch1: Vec<f32> = (1..=9).map(|v| 10.0 * v as f32).collect();
    let input: Vec<f32> = ch0.iter().chain(&ch1).copied().collect();
    let out = run(sym, params, [1, 2, 3, 3], &input);
    // corners 1+3+7+9 = 20 (+0.5); 200 (-1).
    assert!(close(&out.probs, &[20.5, 199.0]), "{:?}", out.probs);
}

#[test]
fn unsupported_attributes_are_named() {
    let sym = r#"{"nodes": [{"op": "null", "name": "data"},
        {"op": "Pooling", "name": "p9", "attrs": {"kernel": "(1,1)", "pooling_convention": "same"}, "inputs": [[0,0,0]]}],
        "heads": [[1,0,0]]}"#;
    let e = graph::build(&symbol::parse(sym).unwrap(), HashMap::new(), [1, 1, 2, 2])
        .err()
        .unwrap();
    assert_eq!(e.code, edgeclass::Code::UnsupportedOperator);
    assert!(
        e.message.contains("p9") && e.message.contains("same"),
        "{e}"
    );
    let sym = r#"{"nodes": [{"op": "null", "name": "data"},
        {"op": "Activation", "name": "a1", "attrs": {"act_type": "gelu"}, "inputs": [[0,0,0]]}],
        "heads": [[1,0,0]]}"#;
    let e = graph::build(&symbol::parse(sym).unwrap(), HashMap::new(), [1, 1, 2, 2])
        .err()
        .unwrap();
    assert!(
        e.message.contains("gelu") && e.message.contains("a1"),
        "{e}"
    );
}

/// A 2-D attribute is `(a, b)` or `(a)` (= `(a, a)`): stride `(2)` pools like `(2, 2)`; three
/// values are a symbol error naming the node and the attribute, for both operators that take
/// them (one rule, `Attrs::pair`).
#[test]
fn two_d_attributes_take_one_or_two_values() {
    let input: Vec<f32> = (0..25).map(|v| v as f32).collect();
    let pool = |stride: &str| {
        format!(
            r#"{{"nodes": [{{"op": "null", "name": "data"}},
            {{"op": "Pooling", "name": "p", "attrs": {{"kernel": "(2, 2)", "stride": "{stride}", "pool_type": "max"}}, "inputs": [[0,0,0]]}},
            {{"op": "Flatten", "name": "f", "inputs": [[1,0,0]]}}], "heads": [[2,0,0]]}}"#
        )
    };
    // By hand, as in pooling_valid_and_full_conventions: 5x5, 2x2 max, stride 2, valid.
    let out = run(&pool("(2)"), HashMap::new(), [1, 1, 5, 5], &input);
    assert_eq!(out.probs, [6.0, 8.0, 16.0, 18.0]);
    let conv = r#"{"nodes": [{"op": "null", "name": "data"}, {"op": "null", "name": "w"},
        {"op": "Convolution", "name": "c3", "attrs": {"kernel": "(1,1)", "num_filter": "1", "no_bias": "True", "dilate": "(1,1,1)"}, "inputs": [[0,0,0],[1,0,0]]}],
        "heads": [[2,0,0]]}"#;
    for (sym, node, key) in [
        (pool("(1,1,1)"), "p", "stride"),
        (conv.to_string(), "c3", "dilate"),
    ] {
        let params = HashMap::from([("w".to_string(), arr(&[1, 1, 1, 1], &[1.0]))]);
        let e = graph::build(&symbol::parse(&sym).unwrap(), params, [1, 1, 5, 5])
            .err()
            .unwrap();
        assert_eq!(e.code, edgeclass::Code::SymbolFormat, "{e}");
        assert!(
            e.message.contains(&format!("node {node} "))
                && e.message.contains(key)
                && e.message.contains("not 2-D"),
            "{e}"
        );
    }
}

#[test]
fn a_model_loads_from_memory_like_from_disk() {
    // Sanity: the in-memory path gives the same answers as the directory path on tiny-trained.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-trained");
    let from_disk = Model::load(&dir, &Default::default()).unwrap();
    let sym = symbol::parse(
        &std::fs::read_to_string(dir.join("image-classification-symbol.json")).unwrap(),
    )
    .unwrap();
    let entries = edgeclass::model::mxnet::params::parse(
        &std::fs::read(dir.join("image-classification-0030.params")).unwrap(),
    )
    .unwrap();
    let params = edgeclass::model::mxnet::params_by_name(entries).unwrap();
    let from_mem = ImportedModel::from_mxnet_parts(&sym, params, [1, 3, 28, 28], None)
        .unwrap()
        .into_model()
        .unwrap();
    let input: Vec<f32> = (0..3 * 28 * 28).map(|i| (i % 256) as f32).collect();
    let a = from_disk
        .run(&mut from_disk.new_state().unwrap(), &input)
        .unwrap();
    let b = from_mem
        .run(&mut from_mem.new_state().unwrap(), &input)
        .unwrap();
    assert_eq!(a, b);
}

/// The operator table (`graph/operators.rs`) is what the importer accepts, what its error lists,
/// and what the README lists.
#[test]
fn the_operator_table_is_the_one_list() {
    let names: Vec<&str> = graph::operators::names().collect();
    assert!(names.len() >= 20, "{names:?}");
    let single = |op: &str| {
        format!(
            r#"{{"nodes": [{{"op": "null", "name": "data"}},
            {{"op": "{op}", "name": "n1", "inputs": [[0,0,0]]}}],
            "heads": [[1,0,0]]}}"#
        )
    };
    // Every name in the table is wired (a node may still fail for want of attributes or
    // parameters, but never as an unknown operator).
    for op in &names {
        let symbol = symbol::parse(&single(op)).unwrap();
        if let Err(e) = graph::build(&symbol, HashMap::new(), [1, 1, 2, 2]) {
            assert!(!e.message.contains("unsupported operator"), "{op}: {e}");
        }
    }
    // An unknown one is refused with the whole table as the supported list.
    let e = graph::build(
        &symbol::parse(&single("Deconvolution")).unwrap(),
        HashMap::new(),
        [1, 1, 2, 2],
    )
    .err()
    .unwrap();
    assert_eq!(e.code, edgeclass::Code::UnsupportedOperator);
    let listed = e.message.split_once("supported: ").unwrap().1;
    let listed: Vec<&str> = listed
        .split([',', '/', ' ', '('])
        .filter(|s| !s.is_empty())
        .take_while(|s| !s.starts_with("UNSUPPORTED"))
        .collect();
    let mut want = names.clone();
    want.sort_unstable();
    let mut got = listed.clone();
    got.sort_unstable();
    assert_eq!(got, want, "{e}");
    // The README's list of operators names each of them.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let list = readme
        .split_once("- Operators: ")
        .and_then(|(_, rest)| rest.split_once("\n- "))
        .expect("README: the `- Operators:` item")
        .0;
    for op in &names {
        assert!(
            list.contains(&format!("`{op}`")),
            "README's operator list does not name `{op}`"
        );
    }
}
