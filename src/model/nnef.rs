//! NNEF models through tract-nnef: load (`.nnef.tgz`, `.nnef.tar`, directory) and save.

use std::collections::BTreeMap;
use std::path::Path;

use tract_core::internal::*;
use tract_nnef::framework::Nnef;

use super::{ImportedModel, ModelInfo, PROP_EPOCH, PROP_HAS_LOGITS, PROP_LABELS};
use crate::error::{model_mismatch, nnef as nnef_err, Result};

fn framework() -> Nnef {
    tract_nnef::nnef()
}

/// Load an NNEF model; the input must be a concrete `[1, C, H, W]` f32 tensor.
pub fn load(path: &Path) -> Result<ImportedModel> {
    let typed = framework()
        .model_for_path(path)
        .map_err(|e| nnef_err(format!("{}: cannot load NNEF model: {e:#}", path.display())))?;
    let inputs = typed
        .input_outlets()
        .map_err(|e| nnef_err(format!("{e:#}")))?;
    if inputs.len() != 1 {
        return Err(model_mismatch(format!(
            "{}: the NNEF model has {} inputs; expected 1",
            path.display(),
            inputs.len()
        )));
    }
    let fact = typed
        .outlet_fact(inputs[0])
        .map_err(|e| nnef_err(format!("{e:#}")))?;
    let shape = fact
        .shape
        .as_concrete()
        .map(|s| s.to_vec())
        .unwrap_or_default();
    if fact.datum_type != f32::datum_type() || shape.len() != 4 || shape[0] != 1 {
        return Err(model_mismatch(format!(
            "{}: the NNEF model's input is {fact:?}; expected f32 [1, C, H, W]",
            path.display()
        )));
    }
    let outputs = typed
        .output_outlets()
        .map_err(|e| nnef_err(format!("{e:#}")))?;
    let out_fact = typed
        .outlet_fact(outputs[0])
        .map_err(|e| nnef_err(format!("{e:#}")))?;
    let classes = match out_fact.shape.as_concrete() {
        Some([1, n]) => *n,
        _ => {
            return Err(model_mismatch(format!(
                "{}: the NNEF model's output is {out_fact:?}; expected [1, classes]",
                path.display()
            )))
        }
    };
    let prop_i64 = |key: &str| -> Option<i64> {
        typed
            .properties
            .get(key)
            .and_then(|t| t.cast_to_scalar::<i64>().ok())
    };
    let has_logits = prop_i64(PROP_HAS_LOGITS) == Some(1) && outputs.len() > 1;
    let epoch = prop_i64(PROP_EPOCH).and_then(|e| u32::try_from(e).ok());
    let labels = match typed.properties.get(PROP_LABELS) {
        Some(t) => {
            let bytes = t
                .try_as_plain_ram()
                .ok()
                .and_then(|p| p.as_slice::<u8>().ok().map(|s| s.to_vec()))
                .ok_or_else(|| {
                    model_mismatch("NNEF property edgeclass.labels is not a byte tensor")
                })?;
            Some(super::parse_labels(&bytes, classes)?)
        }
        None => None,
    };
    let mut operators = BTreeMap::new();
    let mut parameter_count = 0;
    for node in typed.nodes() {
        if let Some(k) = node.op_as::<tract_core::ops::konst::Const>() {
            parameter_count += k.val().len();
        } else if !node.op_is::<tract_core::ops::source::TypedSource>() {
            *operators.entry(node.op.name().to_string()).or_insert(0) += 1;
        }
    }
    let info = ModelInfo {
        format: "nnef",
        origin: path.display().to_string(),
        files: vec![path.display().to_string()],
        input_shape: [1, shape[1], shape[2], shape[3]],
        classes,
        epoch,
        mxnet_version: None,
        parameter_count,
        weight_bytes: parameter_count * 4,
        operators,
        has_logits,
    };
    Ok(ImportedModel {
        typed,
        info,
        labels,
    })
}

/// Save a (not yet optimised) model as NNEF: a gzipped tar for `.tgz`/`.gz` paths, else a tar.
pub fn save(typed: TypedModel, path: &Path) -> Result<()> {
    // Only a decluttered model can be serialised (the optimised one has codegen-only operators).
    let model = typed
        .into_decluttered()
        .map_err(|e| nnef_err(format!("declutter before NNEF export: {e:#}")))?;
    let name = path.to_string_lossy();
    let file = std::fs::File::create(path).map_err(|e| crate::error::io(path, e))?;
    let fail = |e: TractError| nnef_err(format!("{}: writing NNEF: {e:#}", path.display()));
    if name.ends_with(".tgz") || name.ends_with(".gz") {
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let gz = framework().write_to_tar(&model, gz).map_err(fail)?;
        gz.finish().map_err(|e| crate::error::io(path, e))?;
    } else {
        framework().write_to_tar(&model, file).map_err(fail)?;
    }
    Ok(())
}
