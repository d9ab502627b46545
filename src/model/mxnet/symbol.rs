//! Reader for MXNet symbol JSON (`*-symbol.json`), every era from the v0.8 static graph to the
//! 1.x nnvm format.
//!
//! What varies by era and is handled here: attributes under `attrs`, `attr` or `param`; input
//! entries of 2 or 3 elements (the version is ignored); `node_row_ptr` is never read (it counts
//! hidden outputs). Attribute values are strings in dmlc's syntax: tuples as `"(3, 3)"`,
//! `"(3,3)"`, `"[3,3]"` or a bare `"3"`, booleans in any case.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{model_mismatch, symbol_format, Result};

/// A reference to output `index` of node `node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub node: usize,
    pub index: usize,
}

/// One node of the graph: an operator, or a variable (`op == "null"`).
#[derive(Clone, Debug, PartialEq)]
pub struct SymNode {
    pub op: String,
    pub name: String,
    pub attrs: BTreeMap<String, String>,
    pub inputs: Vec<Entry>,
}

impl SymNode {
    pub fn is_variable(&self) -> bool {
        self.op == "null"
    }

    pub fn attrs(&self) -> Attrs<'_> {
        Attrs { node: self }
    }
}

/// A parsed symbol: nodes in file order (which MXNet guarantees is topological; checked).
#[derive(Clone, Debug, PartialEq)]
pub struct Symbol {
    pub nodes: Vec<SymNode>,
    pub heads: Vec<Entry>,
    /// `attrs.mxnet_version` (e.g. 10901), absent in files older than nnvm.
    pub mxnet_version: Option<i64>,
}

/// Parse symbol JSON text.
pub fn parse(text: &str) -> Result<Symbol> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        // serde's message already names the line and column.
        symbol_format(format!("symbol file is not valid JSON: {e}"))
    })?;
    let nodes_json = root
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or_else(|| symbol_format("symbol JSON has no \"nodes\" list"))?;
    let mut nodes = Vec::with_capacity(nodes_json.len());
    for (id, n) in nodes_json.iter().enumerate() {
        nodes.push(parse_node(id, n, nodes_json.len())?);
    }
    let heads_json = root
        .get("heads")
        .and_then(Value::as_array)
        .ok_or_else(|| symbol_format("symbol JSON has no \"heads\" list"))?;
    let mut heads = Vec::new();
    for (k, h) in heads_json.iter().enumerate() {
        let e = parse_entry(h).ok_or_else(|| {
            symbol_format(format!(
                "head {k} is not a [node, output, version] entry: {h}"
            ))
        })?;
        if e.node >= nodes.len() {
            return Err(symbol_format(format!(
                "head {k} refers to node {} but the graph has {} nodes",
                e.node,
                nodes.len()
            )));
        }
        heads.push(e);
    }
    if heads.is_empty() {
        return Err(symbol_format(
            "symbol JSON has an empty \"heads\" list: no output",
        ));
    }
    let mxnet_version = root
        .get("attrs")
        .and_then(|a| a.get("mxnet_version"))
        .and_then(|v| v.get(1))
        .and_then(Value::as_i64);
    Ok(Symbol {
        nodes,
        heads,
        mxnet_version,
    })
}

fn parse_node(id: usize, n: &Value, count: usize) -> Result<SymNode> {
    let op = n
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| symbol_format(format!("node {id} has no \"op\" string")))?
        .to_string();
    let name = n
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| symbol_format(format!("node {id} has no \"name\" string")))?
        .to_string();
    let mut attrs = BTreeMap::new();
    // v0.8 files keep operator parameters under "param" and extra attributes under "attr";
    // later files use "attr" or "attrs". Merge all that are present.
    for key in ["param", "attr", "attrs"] {
        if let Some(obj) = n.get(key).and_then(Value::as_object) {
            for (k, v) in obj {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                attrs.insert(k.clone(), v);
            }
        }
    }
    let mut inputs = Vec::new();
    if let Some(list) = n.get("inputs") {
        let list = list.as_array().ok_or_else(|| {
            symbol_format(format!("node {id} ({name}): \"inputs\" is not a list"))
        })?;
        for (k, e) in list.iter().enumerate() {
            let entry = parse_entry(e).ok_or_else(|| {
                symbol_format(format!(
                    "node {id} ({name}): input {k} is not a [node, output(, version)] entry: {e}"
                ))
            })?;
            if entry.node >= count {
                return Err(symbol_format(format!(
                    "node {id} ({name}): input {k} refers to node {} but the graph has {count} nodes",
                    entry.node
                )));
            }
            // MXNet writes nodes in topological order, so an input at or after the node itself is
            // a cycle or a forward reference. Rejecting it here means nothing later can recurse
            // forever.
            if entry.node >= id {
                return Err(symbol_format(format!(
                    "node {id} ({name}): input {k} refers to node {} which does not come before it (a cycle or a forward reference)",
                    entry.node
                )));
            }
            inputs.push(entry);
        }
    }
    Ok(SymNode {
        op,
        name,
        attrs,
        inputs,
    })
}

fn parse_entry(v: &Value) -> Option<Entry> {
    let a = v.as_array()?;
    if a.len() != 2 && a.len() != 3 {
        return None;
    }
    let node = usize::try_from(a[0].as_u64()?).ok()?;
    let index = usize::try_from(a[1].as_u64()?).ok()?;
    Some(Entry { node, index })
}

/// Typed access to a node's string attributes, with errors that name the node and attribute.
pub struct Attrs<'a> {
    node: &'a SymNode,
}

impl<'a> Attrs<'a> {
    fn raw(&self, key: &str) -> Option<&'a str> {
        self.node.attrs.get(key).map(|s| s.trim())
    }

    fn bad(&self, key: &str, value: &str, want: &str) -> crate::error::Error {
        symbol_format(format!(
            "node {} ({}): attribute {key}={value:?} is not {want}",
            self.node.name, self.node.op
        ))
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.raw(key)
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(self.bad(key, v, "a boolean")),
            },
        }
    }

    pub fn f64(&self, key: &str, default: f64) -> Result<f64> {
        match self.raw(key) {
            None => Ok(default),
            Some(v) => v.parse::<f64>().map_err(|_| self.bad(key, v, "a number")),
        }
    }

    pub fn usize(&self, key: &str, default: Option<usize>) -> Result<usize> {
        match (self.raw(key), default) {
            (None, Some(d)) => Ok(d),
            (None, None) => Err(symbol_format(format!(
                "node {} ({}): required attribute {key} is missing",
                self.node.name, self.node.op
            ))),
            (Some(v), _) => {
                let i = parse_int(v)
                    .and_then(|i| u64::try_from(i).ok())
                    .ok_or_else(|| self.bad(key, v, "a non-negative integer"))?;
                self.fits_usize(key, v, i)
            }
        }
    }

    /// A tuple attribute; `None` when absent (or written `None`/`()`).
    pub fn tuple(&self, key: &str) -> Result<Option<Vec<usize>>> {
        let Some(v) = self.raw(key) else {
            return Ok(None);
        };
        let Some(values) =
            parse_tuple(v).map_err(|_| self.bad(key, v, "a tuple of non-negative integers"))?
        else {
            return Ok(None);
        };
        values
            .into_iter()
            .map(|i| self.fits_usize(key, v, i))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// A 2-D attribute (`stride`, `pad`, `dilate`): `(a, b)`, or `(a)` meaning `(a, a)`;
    /// `[default; 2]` when absent. Any other length does not match a 2-D kernel.
    pub fn pair(&self, key: &str, default: usize) -> Result<[usize; 2]> {
        match self.tuple(key)? {
            None => Ok([default; 2]),
            Some(v) if v.len() == 2 => Ok([v[0], v[1]]),
            Some(v) if v.len() == 1 => Ok([v[0]; 2]),
            Some(v) => Err(symbol_format(format!(
                "node {} ({}): {key}={v:?} is not 2-D, as the kernel is",
                self.node.name, self.node.op
            ))),
        }
    }

    /// A well-formed value too large for this platform's sizes is out of range for the model,
    /// not a malformed file: the same file gets the same code on 32- and 64-bit targets (an
    /// armv7 build refused a pad of 2^63 - 1 as malformed where x86_64 called it a mismatch).
    fn fits_usize(&self, key: &str, value: &str, i: u64) -> Result<usize> {
        usize::try_from(i).map_err(|_| {
            model_mismatch(format!(
                "node {} ({}): attribute {key}={value:?} is out of range (at most {} on this platform)",
                self.node.name,
                self.node.op,
                usize::MAX
            ))
        })
    }
}

fn parse_int(s: &str) -> Option<i64> {
    // dmlc accepts a trailing L (Python 2 longs written into old files).
    let s = s.trim();
    let s = s.strip_suffix('L').unwrap_or(s);
    s.parse::<i64>().ok()
}

/// `"(3, 3)"`, `"(3,3)"`, `"[3,3]"`, `"3"`, `"(3,)"`, `"None"`, `"()"`. Values are `u64` so that
/// the syntax check does not depend on the platform's `usize`.
pub fn parse_tuple(s: &str) -> std::result::Result<Option<Vec<u64>>, String> {
    let s = s.trim();
    if s == "None" {
        return Ok(None);
    }
    let inner =
        if (s.starts_with('(') && s.ends_with(')')) || (s.starts_with('[') && s.ends_with(']')) {
            &s[1..s.len() - 1]
        } else {
            s
        };
    let mut out = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let i = parse_int(part).ok_or_else(|| format!("{part:?} is not an integer"))?;
        out.push(u64::try_from(i).map_err(|_| format!("{part:?} is negative"))?);
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_in_every_spelling() {
        assert_eq!(parse_tuple("(3, 3)"), Ok(Some(vec![3, 3])));
        assert_eq!(parse_tuple("(3,3)"), Ok(Some(vec![3, 3])));
        assert_eq!(parse_tuple("[3,3]"), Ok(Some(vec![3, 3])));
        assert_eq!(parse_tuple("3"), Ok(Some(vec![3])));
        assert_eq!(parse_tuple("(2L, 2L)"), Ok(Some(vec![2, 2])));
        assert_eq!(parse_tuple("(7,)"), Ok(Some(vec![7])));
        assert_eq!(parse_tuple("None"), Ok(None));
        assert_eq!(parse_tuple("()"), Ok(None));
        assert!(parse_tuple("(a, 3)").is_err());
        assert!(parse_tuple("(-1, 3)").is_err());
    }

    #[test]
    fn eras_of_attribute_keys_and_inputs() {
        let text = r#"{"nodes": [
            {"op": "null", "name": "data", "inputs": []},
            {"op": "Activation", "name": "a", "param": {"act_type": "relu"}, "inputs": [[0, 0]]},
            {"op": "Pooling", "name": "p", "attr": {"global_pool": "TRUE"}, "inputs": [[1, 0, 0]]},
            {"op": "Flatten", "name": "f", "attrs": {"__lr_mult__": "1"}, "inputs": [[2, 0, 0]]}
          ], "arg_nodes": [0], "heads": [[3, 0, 0]]}"#;
        let s = parse(text).unwrap();
        assert_eq!(s.nodes[1].attrs().str("act_type"), Some("relu"));
        assert!(s.nodes[2].attrs().bool("global_pool", false).unwrap());
        assert_eq!(s.nodes[2].inputs, vec![Entry { node: 1, index: 0 }]);
        assert_eq!(s.heads, vec![Entry { node: 3, index: 0 }]);
        assert_eq!(s.mxnet_version, None);
    }

    #[test]
    fn forward_references_and_bad_ids_are_rejected() {
        let cyc = r#"{"nodes": [{"op": "null", "name": "data"},
            {"op": "Flatten", "name": "f", "inputs": [[1, 0, 0]]}], "heads": [[1, 0, 0]]}"#;
        assert!(parse(cyc)
            .unwrap_err()
            .message
            .contains("does not come before"));
        let far = r#"{"nodes": [{"op": "null", "name": "data"},
            {"op": "Flatten", "name": "f", "inputs": [[9999, 0, 0]]}], "heads": [[1, 0, 0]]}"#;
        assert!(parse(far).unwrap_err().message.contains("9999"));
        assert!(parse("{\"nodes\": [")
            .unwrap_err()
            .message
            .contains("not valid JSON"));
    }
}
