//! The services file: the connector definition document that created the Greengrass connectors,
//! read by the Python SDK (`greengrass_machine_learning_sdk/services.py`) and by `edgeclass serve`.
//!
//! Accepted shapes: `{"Connectors": [...]}` (the `create-connector-definition --initial-version`
//! JSON), a bare list of connectors, and that document wrapped as the AWS CLI/API show it
//! (`{"InitialVersion": {...}}`, `{"Definition": {...}}`). Each connector is
//! `{"Id", "ConnectorArn", "Parameters": {name: string}}`:
//! - an ARN naming `/connectors/ImageClassification` (or no ARN) is an image classification
//!   service, named by its `LocalInferenceServiceName`;
//! - an ARN naming `/connectors/MLFeedback` is an ML Feedback connector;
//! - any other ARN (Object Detection, ...) is skipped.
//!
//! A document that is not one of these shapes is refused as a whole. A connector that is wrong
//! (parameters that are not strings, no service name, a name used twice) is reported on its own,
//! as a [`Connector`] whose `parameters` is the error naming it by index and `Id`: a daemon serves
//! the others and answers that service's requests with the error. Parameter values themselves
//! are checked when the service opens ([`crate::ServiceConfig::from_parameters`]).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{invalid_argument, invalid_parameter, Code, Error, Result};

/// `ConnectorArn` part that marks an ML Image Classification connector.
pub const IMAGE_CLASSIFICATION_ARN: &str = "/connectors/ImageClassification";
/// `ConnectorArn` part that marks an ML Feedback connector.
pub const FEEDBACK_ARN: &str = "/connectors/MLFeedback";

/// What a connector of the document is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An ML Image Classification connector (or one without an ARN): a local inference service.
    Service,
    /// An ML Feedback connector.
    Feedback,
}

/// One connector of the document that edgeclass runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Connector {
    /// Its index in the document's connector list.
    pub index: usize,
    /// Its `Id`, when it has a string one.
    pub id: Option<String>,
    /// What it is.
    pub kind: Kind,
    /// For a service: its `LocalInferenceServiceName`, when that is a string (even if the
    /// entry is otherwise wrong, so that requests to it get its error).
    pub name: Option<String>,
    /// Its `Parameters` (all strings), or what is wrong with the entry (`InvalidParameter`,
    /// the message naming the source, index and `Id`).
    pub parameters: Result<BTreeMap<String, String>>,
}

impl Connector {
    /// How messages name it: `Connectors[2] (Id "MyConnector")`.
    pub fn label(&self) -> String {
        label(self.index, self.id.as_deref())
    }
}

fn label(index: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("Connectors[{index}] (Id {})", Value::from(id)),
        None => format!("Connectors[{index}]"),
    }
}

fn connector_list<'a>(document: &'a Value, source: &str) -> Result<&'a Vec<Value>> {
    let mut doc = document;
    if let Value::Array(list) = doc {
        return Ok(list);
    }
    if let Value::Object(_) = doc {
        for wrapper in ["InitialVersion", "Definition"] {
            if doc.get("Connectors").is_none() {
                if let Some(inner @ Value::Object(_)) = doc.get(wrapper) {
                    doc = inner;
                }
            }
        }
        if let Some(connectors) = doc.get("Connectors") {
            return match connectors {
                Value::Array(list) => Ok(list),
                _ => Err(invalid_argument(format!(
                    "{source}: \"Connectors\" must be a list"
                ))),
            };
        }
    }
    Err(invalid_argument(format!(
        "{source}: expected a connector definition {{\"Connectors\": [...]}} or a list of connectors"
    )))
}

/// The parameters of one entry, checked to be an object of strings.
fn string_parameters(entry: &Value, where_: &str) -> Result<BTreeMap<String, String>> {
    let Some(Value::Object(params)) = entry.get("Parameters") else {
        return Err(invalid_parameter(format!(
            "{where_}: \"Parameters\" must be an object"
        )));
    };
    let mut out = BTreeMap::new();
    for (key, value) in params {
        match value {
            Value::String(s) => {
                out.insert(key.clone(), s.clone());
            }
            other => {
                return Err(invalid_parameter(format!(
                    "{where_}: parameter {key} must be a string (connector parameters are strings), not {other}"
                )))
            }
        }
    }
    Ok(out)
}

/// The connectors of a parsed document that edgeclass runs, in document order. `source` names the
/// document in messages (its path). Fails only when the document as a whole has the wrong shape;
/// an entry's own error is in its [`Connector::parameters`].
pub fn parse(document: &Value, source: &str) -> Result<Vec<Connector>> {
    let list = connector_list(document, source)?;
    let mut out = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (index, entry) in list.iter().enumerate() {
        let id = entry.get("Id").and_then(Value::as_str).map(str::to_string);
        let where_ = format!("{source}: {}", label(index, id.as_deref()));
        let entry_error = |message: String| Connector {
            index,
            id: id.clone(),
            kind: Kind::Service,
            name: None,
            parameters: Err(invalid_parameter(message)),
        };
        if !entry.is_object() {
            out.push(entry_error(format!(
                "{where_}: a connector must be an object"
            )));
            continue;
        }
        let kind = match entry.get("ConnectorArn") {
            None | Some(Value::Null) => Kind::Service,
            Some(Value::String(arn)) if arn.is_empty() => Kind::Service,
            Some(Value::String(arn)) if arn.contains(IMAGE_CLASSIFICATION_ARN) => Kind::Service,
            Some(Value::String(arn)) if arn.contains(FEEDBACK_ARN) => Kind::Feedback,
            // Another kind of connector: not ours to run.
            Some(Value::String(_)) => continue,
            Some(_) => {
                out.push(entry_error(format!(
                    "{where_}: ConnectorArn must be a string"
                )));
                continue;
            }
        };
        // The name is read even when another parameter is wrong: requests to the service get
        // the entry's error instead of "unknown service".
        let name = match kind {
            Kind::Service => entry
                .get("Parameters")
                .and_then(|p| p.get("LocalInferenceServiceName"))
                .and_then(Value::as_str)
                .map(str::to_string),
            Kind::Feedback => None,
        };
        let mut parameters = string_parameters(entry, &where_);
        if kind == Kind::Service && parameters.is_ok() {
            match &name {
                None => {
                    parameters = Err(invalid_parameter(format!(
                        "{where_}: LocalInferenceServiceName is required but was not provided"
                    )))
                }
                Some(n) => {
                    if let Some(first) = names.get(n) {
                        parameters = Err(Error::new(
                            Code::ServiceExists,
                            format!(
                                "{where_}: LocalInferenceServiceName \"{n}\" is already used by Connectors[{first}]"
                            ),
                        ));
                    } else {
                        names.insert(n.clone(), index);
                    }
                }
            }
        }
        out.push(Connector {
            index,
            id,
            kind,
            name,
            parameters,
        });
    }
    Ok(out)
}

/// [`parse`] the bytes of a services file (UTF-8 JSON, with or without a byte-order mark).
pub fn parse_bytes(bytes: &[u8], source: &str) -> Result<Vec<Connector>> {
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let document: Value = serde_json::from_slice(text)
        .map_err(|e| invalid_argument(format!("{source}: not valid JSON: {e}")))?;
    parse(&document, source)
}

/// Read and [`parse`] the services file at `path`.
pub fn read(path: &Path) -> Result<Vec<Connector>> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| invalid_argument(format!("cannot read the services file {source}: {e}")))?;
    parse_bytes(&bytes, &source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SEED: &str =
        "arn:aws:greengrass:region::/connectors/ImageClassificationx86-64/versions/2";

    fn service(name: &str) -> Value {
        json!({"Id": format!("C-{name}"), "ConnectorArn": SEED, "Parameters": {
            "LocalInferenceServiceName": name, "MLModelDestinationPath": "/m"}})
    }

    #[test]
    fn every_shape_gives_the_same_services() {
        let list = json!([service("a"), service("b")]);
        let shapes = [
            list.clone(),
            json!({"Connectors": list}),
            json!({"InitialVersion": {"Connectors": list}, "Name": "x"}),
            json!({"Definition": {"Connectors": list}, "Arn": "x"}),
        ];
        for doc in &shapes {
            let c = parse(doc, "f").unwrap();
            let names: Vec<_> = c.iter().map(|c| c.name.clone().unwrap()).collect();
            assert_eq!(names, ["a", "b"]);
            assert!(c
                .iter()
                .all(|c| c.parameters.is_ok() && c.kind == Kind::Service));
        }
    }

    #[test]
    fn a_bad_entry_is_reported_alone() {
        let mut bad = service("b");
        bad["Parameters"]["LocalInferenceServiceTimeoutSeconds"] = json!(10);
        let doc = json!({"Connectors": [service("a"), bad, service("a")]});
        let c = parse(&doc, "f.json").unwrap();
        assert!(c[0].parameters.is_ok());
        let e = c[1].parameters.as_ref().unwrap_err();
        assert_eq!(c[1].name.as_deref(), Some("b"));
        assert_eq!(e.code, Code::InvalidParameter);
        assert_eq!(
            e.message,
            "f.json: Connectors[1] (Id \"C-b\"): parameter LocalInferenceServiceTimeoutSeconds must be a string (connector parameters are strings), not 10"
        );
        let e = c[2].parameters.as_ref().unwrap_err();
        assert_eq!(e.code, Code::ServiceExists);
        assert!(
            e.message.ends_with("is already used by Connectors[0]"),
            "{e}"
        );
    }
}
