//! MXNet symbol + params → tract `TypedModel`.
//!
//! Walks the nodes in file order (topological, checked by the symbol reader), wiring only those
//! the first head depends on. Every parameter the graph uses is looked up by the variable name the
//! graph gives it (never by a hard-coded layer name) and checked against the shape the operator
//! implies. The outputs are the head (probabilities) and, when the head is a softmax, its input
//! (the logits), so tests can compare logits with MXNet's.

use std::collections::{BTreeMap, HashMap, HashSet};

use tract_core::internal::*;
use tract_core::ops;
use tract_core::ops::cnn::{Conv, KernelFormat, MaxPool, PaddingSpec, PoolSpec, SumPool};
use tract_core::ops::einsum::EinSum;
use tract_core::ops::nn::{DataFormat, Reduce, Reducer, Softmax, SoftmaxKind};

use super::params::NdArray;
use super::symbol::{Entry, SymNode, Symbol};
use crate::error::{model_mismatch, symbol_format, unsupported_operator, Error, Result};

/// The name of the input variable in SageMaker (and all MXNet image-classification) graphs.
mod activation;
mod add;
mod batch_norm;
mod convolution;
mod flatten;
mod fully_connected;
pub mod operators;
mod passthrough;
mod pooling;
mod softmax;

pub const DATA: &str = "data";

/// A built graph and what was learnt while building it.
pub struct Built {
    pub model: TypedModel,
    /// Whether output 1 holds the logits (the head's input, when the head is a softmax).
    pub has_logits: bool,
    pub classes: usize,
    pub parameter_count: usize,
    pub weight_bytes: usize,
    /// Operator name → number of nodes the output depends on.
    pub operators: BTreeMap<String, usize>,
}

/// Build the tract graph for `symbol` with weights `params` (keyed by variable name, without the
/// `arg:`/`aux:` prefix) and the input shape `[N, C, H, W]`.
pub fn build(
    symbol: &Symbol,
    params: HashMap<String, NdArray>,
    input: [usize; 4],
) -> Result<Built> {
    let head = symbol.heads[0];
    let live = live_nodes(symbol, head.node);
    // How often each variable is read, so that its weights are moved into the graph on the last
    // read instead of copied: peak memory stays near one copy of the weights.
    let mut reads: HashMap<String, usize> = HashMap::new();
    for (id, node) in symbol.nodes.iter().enumerate() {
        if live[id] {
            for e in &node.inputs {
                *reads.entry(symbol.nodes[e.node].name.clone()).or_insert(0) += 1;
            }
        }
    }
    let mut b = Builder {
        symbol,
        params,
        reads,
        model: TypedModel::default(),
        wires: vec![None; symbol.nodes.len()],
        used_params: HashSet::new(),
        parameter_count: 0,
        weight_bytes: 0,
        input,
    };
    let mut operators = BTreeMap::new();
    for (id, node) in symbol.nodes.iter().enumerate() {
        if !live[id] || node.is_variable() {
            continue;
        }
        *operators.entry(node.op.clone()).or_insert(0) += 1;
        let out = b.wire(id, node).map_err(|e| add_node_context(e, node))?;
        b.wires[id] = Some(out);
    }
    let probs = b.value(head)?;
    let head_node = &symbol.nodes[head.node];
    let logits = if is_softmax(&head_node.op) {
        Some(b.value(head_node.inputs[0])?)
    } else {
        None
    };
    let shape = b.shape(probs)?;
    if shape.len() != 2 || shape[0] != input[0] {
        return Err(model_mismatch(format!(
            "the output {} ({}) has shape {shape:?}; expected [batch, classes]",
            head_node.name, head_node.op
        )));
    }
    let classes = shape[1];
    if classes == 0 {
        // Any zero-sized axis on the way (a reshape, a slice) ends here: an answer with no
        // probabilities is no classifier.
        return Err(model_mismatch(format!(
            "the output {} ({}) has shape {shape:?}: no classes",
            head_node.name, head_node.op
        )));
    }
    let mut outputs = vec![probs];
    outputs.extend(logits);
    b.model
        .select_output_outlets(&outputs)
        .map_err(|e| tract_err("selecting outputs", e))?;
    Ok(Built {
        model: b.model,
        has_logits: logits.is_some(),
        classes,
        parameter_count: b.parameter_count,
        weight_bytes: b.weight_bytes,
        operators,
    })
}

fn is_softmax(op: &str) -> bool {
    operators::find(op).is_some_and(|o| o.softmax)
}

/// The largest padding accepted: as large as the largest input side `model-shapes.json` accepts,
/// far beyond any real network (whose pads are below the kernel size), and small enough that
/// padded sizes cannot overflow.
const MAX_PAD: usize = 16384;

fn check_pad(name: &str, op: &str, pad: &[usize; 2]) -> Result<()> {
    if pad.iter().any(|&p| p > MAX_PAD) {
        return Err(model_mismatch(format!(
            "node {name} ({op}): pad {pad:?} is out of range (at most {MAX_PAD})"
        )));
    }
    Ok(())
}

/// Numpy broadcasting: aligned from the right, each pair of dimensions equal or one of them 1.
fn broadcastable(a: &[usize], b: &[usize]) -> bool {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .all(|(&x, &y)| x == y || x == 1 || y == 1)
}

fn add_node_context(e: Error, node: &SymNode) -> Error {
    if e.message.contains(&format!("node {}", node.name)) {
        e
    } else {
        e.context(format!("node {} ({})", node.name, node.op))
    }
}

pub(crate) fn tract_err(context: &str, e: TractError) -> Error {
    crate::error::internal(format!("{context}: {e:#}"))
}

/// Nodes `head` depends on. Inputs always point to earlier nodes (checked when parsing), so one
/// backward sweep suffices.
fn live_nodes(symbol: &Symbol, head: usize) -> Vec<bool> {
    let mut live = vec![false; symbol.nodes.len()];
    live[head] = true;
    for id in (0..=head).rev() {
        if !live[id] {
            continue;
        }
        let node = &symbol.nodes[id];
        // Training-only inputs (SoftmaxOutput's label) are not required.
        let n = operators::find(&node.op).map_or(node.inputs.len(), |o| {
            o.forward_inputs.min(node.inputs.len())
        });
        for e in &node.inputs[..n] {
            live[e.node] = true;
        }
    }
    live
}

struct Builder<'a> {
    symbol: &'a Symbol,
    params: HashMap<String, NdArray>,
    reads: HashMap<String, usize>,
    model: TypedModel,
    wires: Vec<Option<OutletId>>,
    used_params: HashSet<String>,
    parameter_count: usize,
    weight_bytes: usize,
    input: [usize; 4],
}

impl Builder<'_> {
    /// The tract outlet carrying the data flowing along `e`.
    fn value(&mut self, e: Entry) -> Result<OutletId> {
        let node = &self.symbol.nodes[e.node];
        if node.is_variable() {
            if let Some(w) = self.wires[e.node] {
                return Ok(w);
            }
            if node.name != DATA {
                return Err(model_mismatch(format!(
                    "variable {} is used as data, but only the input variable `{DATA}` can be",
                    node.name
                )));
            }
            let w = self
                .model
                .add_source(DATA, f32::fact(self.input))
                .map_err(|e| tract_err("adding the input", e))?;
            self.wires[e.node] = Some(w);
            return Ok(w);
        }
        if e.index != 0 {
            return Err(unsupported_operator(format!(
                "node {} ({}): its output {} is used; only output 0 is supported",
                node.name, node.op, e.index
            )));
        }
        self.wires[e.node]
            .ok_or_else(|| crate::error::internal(format!("node {} not wired", node.name)))
    }

    fn shape(&self, o: OutletId) -> Result<Vec<usize>> {
        let fact = self
            .model
            .outlet_fact(o)
            .map_err(|e| tract_err("shape", e))?;
        fact.shape
            .as_concrete()
            .map(|s| s.to_vec())
            .ok_or_else(|| crate::error::internal("symbolic shape in an MXNet graph"))
    }

    /// The data input 0 of `node` and its shape.
    fn data_input(&mut self, node: &SymNode) -> Result<(OutletId, Vec<usize>)> {
        let e = *node.inputs.first().ok_or_else(|| {
            symbol_format(format!(
                "node {} ({}) has no data input",
                node.name, node.op
            ))
        })?;
        let o = self.value(e)?;
        Ok((o, self.shape(o)?))
    }

    /// Parameter input `k` of `node` (called `arg` by the operator), checked against `expected`.
    /// Pre-0.9 graphs omit some inputs (BatchNorm's aux states); MXNet then implies a variable
    /// named `<node>_<arg>`, and so do we.
    fn param(
        &mut self,
        node: &SymNode,
        k: usize,
        arg: &str,
        expected: &[usize],
    ) -> Result<Vec<f32>> {
        let name = match node.inputs.get(k) {
            Some(e) => {
                let v = &self.symbol.nodes[e.node];
                if !v.is_variable() {
                    return Err(unsupported_operator(format!(
                        "node {} ({}): its {arg} is computed by node {} ({}); only stored parameters are supported",
                        node.name, node.op, v.name, v.op
                    )));
                }
                v.name.clone()
            }
            None => format!("{}_{arg}", node.name),
        };
        let array = self.params.get(&name).ok_or_else(|| {
            model_mismatch(format!(
                "node {} ({}) needs parameter {name} ({arg}, shape {expected:?}) but the params file does not have it",
                node.name, node.op
            ))
        })?;
        if array.shape != expected {
            return Err(model_mismatch(format!(
                "parameter {name} has shape {:?} in the params file, but node {} ({}) needs {expected:?}",
                array.shape, node.name, node.op
            )));
        }
        if self.used_params.insert(name.clone()) {
            self.parameter_count += array.data.len();
            self.weight_bytes += array.data.len() * 4;
        }
        let left = self.reads.get_mut(&name).map(|n| {
            *n = n.saturating_sub(1);
            *n
        });
        if left.unwrap_or(0) == 0 {
            Ok(self
                .params
                .remove(&name)
                .map(|a| a.data)
                .unwrap_or_default())
        } else {
            Ok(array.data.clone())
        }
    }

    fn konst(&mut self, name: String, shape: &[usize], data: &[f32]) -> Result<OutletId> {
        let t = Tensor::from_shape(shape, data).map_err(|e| tract_err("constant", e))?;
        self.model
            .add_const(name, t)
            .map_err(|e| tract_err("constant", e))
    }

    fn node(
        &mut self,
        name: &str,
        op: impl Into<Box<dyn TypedOp>>,
        inputs: &[OutletId],
    ) -> Result<OutletId> {
        self.model
            .wire_node(name, op, inputs)
            .map(|o| o[0])
            .map_err(|e| model_mismatch(format!("node {name}: {e:#}")))
    }

    fn wire(&mut self, _id: usize, node: &SymNode) -> Result<OutletId> {
        let op = operators::find(&node.op).ok_or_else(|| {
            unsupported_operator(format!(
                "unsupported operator {} (node {}); supported: {}",
                node.op,
                node.name,
                operators::supported()
            ))
        })?;
        (op.lower)(self, node)
    }

    fn broadcast(
        &mut self,
        name: &str,
        op: impl Into<Box<dyn TypedOp>>,
        inputs: &[OutletId],
    ) -> Result<OutletId> {
        wire_with_rank_broadcast(name, &mut self.model, op, inputs)
            .map(|o| o[0])
            .map_err(|e| model_mismatch(format!("node {name}: {e:#}")))
    }
}
