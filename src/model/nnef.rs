//! NNEF models through tract-nnef: load (`.nnef.tgz`, `.nnef.tar`, directory) and save.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use tract_core::internal::*;
use tract_nnef::framework::Nnef;

use super::artefact::NnefSource;
use super::{ImportedModel, ModelInfo, PROP_EPOCH, PROP_HAS_LOGITS};
use crate::error::{model_mismatch, nnef as nnef_err, Result};

fn framework() -> Nnef {
    tract_nnef::nnef()
}

/// Where edgeclass keeps the labels inside an NNEF archive or directory. tract-nnef ignores
/// files it does not know, and 0.23 cannot read back string or non-scalar properties.
pub const LABELS_FILE: &str = "labels.txt";

/// Load an NNEF model (from `path`, as `source` holds it); the input must be a concrete
/// `[1, C, H, W]` f32 tensor.
pub fn load(path: &Path, source: NnefSource, labels: Option<&[u8]>) -> Result<ImportedModel> {
    // tract-nnef panics on some malformed inputs (e.g. a property it cannot resolve): turn that
    // into an error instead of taking the caller's process down.
    let loaded = std::panic::catch_unwind(|| match &source {
        NnefSource::Directory(dir) => framework().model_for_path(dir),
        NnefSource::Tar(tar) => framework().model_for_read(&mut &tar[..]),
    });
    drop(source);
    let typed = match loaded {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            return Err(nnef_err(format!(
                "{}: cannot load NNEF model: {e:#}",
                path.display()
            )))
        }
        Err(_) => {
            return Err(nnef_err(format!(
                "{}: cannot load NNEF model: tract-nnef panicked on it",
                path.display()
            )))
        }
    };
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
    let labels = match labels {
        Some(bytes) => {
            Some(super::parse_labels(bytes, classes).map_err(|e| e.context(path.display()))?)
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

/// Save a (not yet optimised) model as NNEF: a gzipped tar for `.tgz`/`.gz` paths, else a tar,
/// with `labels.txt` beside `graph.nnef`.
pub fn save(typed: TypedModel, labels: Option<&[String]>, path: &Path) -> Result<()> {
    // Only a decluttered model can be serialised (the optimised one has codegen-only operators).
    let model = typed
        .into_decluttered()
        .map_err(|e| nnef_err(format!("declutter before NNEF export: {e:#}")))?;
    let fail = |e: TractError| nnef_err(format!("{}: writing NNEF: {e:#}", path.display()));
    let io_fail = |e: std::io::Error| crate::error::io(path, e);
    // tract writes a finished tar; re-pack it with labels.txt added.
    let nnef_tar = framework().write_to_tar(&model, Vec::new()).map_err(fail)?;
    let file = std::fs::File::create(path).map_err(io_fail)?;
    let name = path.to_string_lossy();
    if name.ends_with(".tgz") || name.ends_with(".gz") {
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let gz = repack(&nnef_tar, labels, gz).map_err(io_fail)?;
        gz.finish().map_err(io_fail)?;
    } else {
        repack(&nnef_tar, labels, file)
            .map_err(io_fail)?
            .sync_all()
            .map_err(io_fail)?;
    }
    Ok(())
}

/// Copy the tar `nnef_tar` into `sink`, adding `labels.txt`; returns the sink (tar finished).
fn repack<W: Write>(nnef_tar: &[u8], labels: Option<&[String]>, sink: W) -> std::io::Result<W> {
    let mut out = tar::Builder::new(sink);
    let mut input = tar::Archive::new(nnef_tar);
    for entry in input.entries()? {
        let mut entry = entry?;
        let header = entry.header().clone();
        out.append(&header, &mut entry)?;
    }
    if let Some(labels) = labels {
        let text = labels.join("\n") + "\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        out.append_data(&mut header, LABELS_FILE, text.as_bytes())?;
    }
    out.into_inner()
}
