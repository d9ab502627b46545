//! The MXNet checkpoint importer: `.params` + symbol JSON + `model-shapes.json` → tract graph.

pub mod graph;
pub mod params;
pub mod symbol;

use std::collections::HashMap;

use serde_json::Value;

use crate::error::{model_mismatch, params_format, Result};
use params::NdArray;

/// Read `model-shapes.json` (`[{"shape": [N, C, H, W], "name": "data"}]`) and return `[1, C, H, W]`:
/// N is the training batch size in real archives and means nothing at inference.
pub fn parse_model_shapes(text: &str) -> Result<[usize; 4]> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| model_mismatch(format!("model-shapes.json is not valid JSON: {e}")))?;
    let list = v.as_array().ok_or_else(|| {
        model_mismatch("model-shapes.json must be a list of {\"shape\", \"name\"} objects")
    })?;
    let entry = list
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(graph::DATA))
        .or(if list.len() == 1 { list.first() } else { None })
        .ok_or_else(|| model_mismatch("model-shapes.json has no entry named \"data\""))?;
    let shape = entry
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| model_mismatch("model-shapes.json: the data entry has no \"shape\" list"))?;
    let dims: Vec<u64> = shape.iter().filter_map(Value::as_u64).collect();
    if dims.len() != shape.len() || dims.len() != 4 {
        return Err(model_mismatch(format!(
            "model-shapes.json: input shape {} must have rank 4 (N, C, H, W) with non-negative integers",
            Value::Array(shape.clone())
        )));
    }
    let (c, h, w) = (dims[1], dims[2], dims[3]);
    // Generous bounds that still refuse absurd shapes before anything is sized by them.
    if !(1..=64).contains(&c) || !(1..=16384).contains(&h) || !(1..=16384).contains(&w) {
        return Err(model_mismatch(format!(
            "model-shapes.json: input shape [N, {c}, {h}, {w}] is out of range (C 1..=64, H and W 1..=16384)"
        )));
    }
    Ok([1, c as usize, h as usize, w as usize])
}

/// Weights by variable name: `arg:`/`aux:` prefixes removed (files saved without prefixes are
/// accepted as they are). Duplicate names and files without names are errors: there would be no
/// way to know which array is which.
pub fn params_by_name(entries: Vec<params::ParamEntry>) -> Result<HashMap<String, NdArray>> {
    let mut out = HashMap::with_capacity(entries.len());
    for (index, e) in entries.into_iter().enumerate() {
        let Some(full) = e.name else {
            return Err(params_format(
                "the params file stores no names, so its arrays cannot be matched to the graph",
            ));
        };
        let name = full
            .strip_prefix("arg:")
            .or_else(|| full.strip_prefix("aux:"))
            .unwrap_or(&full)
            .to_string();
        let Some(array) = e.array else { continue };
        if out.insert(name.clone(), array).is_some() {
            return Err(params_format(format!(
                "record {index}: parameter {name} appears twice"
            )));
        }
    }
    Ok(out)
}
