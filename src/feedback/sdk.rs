//! The SDK's `publish` arguments, checked with `feedback.py`'s rules, and the error for a config
//! id that no open connector has.

use serde_json::{Map, Value};

use crate::error::{invalid_argument, Code, Error, Result};
use crate::names::{is_service_name, SERVICE_NAME_RULE};

/// Parse and validate the SDK's `publish` arguments given as JSON text, with `feedback.py`'s
/// rules: `ConfigId` matches [`SERVICE_NAME_RULE`], `ModelPrediction` is a list or
/// an object, `Metadata` (optional, default `{}`) is an object.
pub fn parse_publish_args(
    config_id: &str,
    prediction_json: &str,
    metadata_json: Option<&str>,
) -> Result<(Value, Map<String, Value>)> {
    if !is_service_name(config_id) {
        return Err(invalid_argument(format!(
            "field config_id must match the regex {SERVICE_NAME_RULE} (got {config_id:?})"
        )));
    }
    let prediction: Value = serde_json::from_str(prediction_json)
        .map_err(|e| invalid_argument(format!("ModelPrediction is not valid JSON: {e}")))?;
    if !prediction.is_array() && !prediction.is_object() {
        return Err(invalid_argument(
            "ModelPrediction must be a list (image classification) or a dict (object detection)",
        ));
    }
    let metadata = match metadata_json.map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(invalid_argument("Metadata must be a dict")),
            Err(e) => return Err(invalid_argument(format!("Metadata is not valid JSON: {e}"))),
        },
    };
    Ok((prediction, metadata))
}

/// An error for an unknown config id (the registry's and the C ABI's).
pub fn unknown_config(config_id: &str) -> Error {
    Error::new(
        Code::InvalidArgument,
        format!("ConfigId {config_id:?}: no open ML Feedback connector has this configuration"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_args_are_validated_like_the_sdk() {
        let (p, m) = parse_publish_args("cfg-1", "[0.5,0.5]", None).unwrap();
        assert_eq!((p, m.len()), (serde_json::json!([0.5, 0.5]), 0));
        let (_, m) = parse_publish_args("cfg-1", "{\"boxes\": []}", Some("{\"a\": 1}")).unwrap();
        assert_eq!(m["a"], 1);
        for (id, pred, md, want) in [
            ("c", "[1]", None, "^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$"),
            ("cfg_1", "[1]", None, "config_id must match"),
            ("cfg-1", "3", None, "list"),
            ("cfg-1", "[1", None, "not valid JSON"),
            ("cfg-1", "[1]", Some("[1]"), "Metadata must be a dict"),
        ] {
            let e = parse_publish_args(id, pred, md).unwrap_err();
            assert!(e.message.contains(want), "{id} {pred} {md:?}: {e}");
        }
    }
}
