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
    matches!(
        op,
        "SoftmaxOutput" | "softmax" | "SoftmaxActivation" | "Softmax"
    )
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
        // The label of SoftmaxOutput is a training-only input: do not require it.
        let n = if node.op == "SoftmaxOutput" {
            1.min(node.inputs.len())
        } else {
            node.inputs.len()
        };
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

    fn wire(&mut self, _id: usize, node: &SymNode) -> Result<OutletId> {
        let name = node.name.as_str();
        match node.op.as_str() {
            "_copy" | "identity" | "Dropout" => Ok(self.data_input(node)?.0),
            "Cast" => {
                // edgeclass computes in f32 throughout; a cast to a float type (fp16 training
                // graphs) is therefore an identity here. Anything else would change results.
                let dtype = node.attrs().str("dtype").unwrap_or("float32");
                match dtype {
                    "float32" | "float16" | "float64" => Ok(self.data_input(node)?.0),
                    other => Err(unsupported_operator(format!(
                        "node {name} (Cast): cast to {other} is not supported (only float types)"
                    ))),
                }
            }
            "BatchNorm" => self.batch_norm(node),
            "Convolution" => self.convolution(node),
            "Activation" => self.activation(node),
            "relu" => {
                let (x, _) = self.data_input(node)?;
                self.relu(name, x)
            }
            "Pooling" => self.pooling(node),
            "elemwise_add" | "_plus" | "_Plus" | "_add" | "broadcast_add" | "broadcast_plus" => {
                if node.inputs.len() != 2 {
                    return Err(symbol_format(format!(
                        "node {name} ({}) has {} inputs, expected 2",
                        node.op,
                        node.inputs.len()
                    )));
                }
                let a = self.value(node.inputs[0])?;
                let b = self.value(node.inputs[1])?;
                // tract wires an add of unequal dimensions (6 vs 8) without complaint and gives
                // it an undetermined shape, so check here with MXNet's rules: element-wise ops
                // need equal shapes, broadcast_* numpy-compatible ones.
                let (sa, sb) = (self.shape(a)?, self.shape(b)?);
                let elementwise = !node.op.starts_with("broadcast_");
                if elementwise && sa != sb {
                    return Err(model_mismatch(format!(
                        "node {name} ({}): input shapes {sa:?} and {sb:?} differ (an element-wise add needs equal shapes)",
                        node.op
                    )));
                }
                if !broadcastable(&sa, &sb) {
                    return Err(model_mismatch(format!(
                        "node {name} ({}): input shapes {sa:?} and {sb:?} do not broadcast",
                        node.op
                    )));
                }
                self.broadcast(name, ops::math::add(), &[a, b])
            }
            "Flatten" | "flatten" => {
                let (x, shape) = self.data_input(node)?;
                self.flatten(name, x, &shape)
            }
            "FullyConnected" => self.fully_connected(node),
            "SoftmaxOutput" | "softmax" | "SoftmaxActivation" | "Softmax" => self.softmax(node),
            other => Err(unsupported_operator(format!(
                "unsupported operator {other} (node {name}); supported: _copy, identity, BatchNorm, Convolution, Activation, Pooling, elemwise_add/_plus/_Plus/_add/broadcast_add, Flatten, FullyConnected, SoftmaxOutput/softmax/SoftmaxActivation, Dropout, Cast"
            ))),
        }
    }

    fn relu(&mut self, name: &str, x: OutletId) -> Result<OutletId> {
        let zero = self
            .model
            .add_const(format!("{name}.zero"), tensor0(0f32))
            .map_err(|e| tract_err("constant", e))?;
        self.broadcast(name, ops::math::max(), &[x, zero])
    }

    fn batch_norm(&mut self, node: &SymNode) -> Result<OutletId> {
        let name = node.name.as_str();
        let a = node.attrs();
        let eps = a.f64("eps", 1e-3)?;
        let fix_gamma = a.bool("fix_gamma", true)?;
        let axis = a.str("axis").unwrap_or("1");
        if axis != "1" {
            return Err(unsupported_operator(format!(
                "node {name} (BatchNorm): axis={axis} is not supported (only the channel axis 1)"
            )));
        }
        let (x, shape) = self.data_input(node)?;
        if shape.len() < 2 {
            return Err(model_mismatch(format!(
                "node {name} (BatchNorm): input shape {shape:?} has no channel axis"
            )));
        }
        let c = shape[1];
        let gamma = self.param(node, 1, "gamma", &[c])?;
        let beta = self.param(node, 2, "beta", &[c])?;
        let mean = self.param(node, 3, "moving_mean", &[c])?;
        let var = self.param(node, 4, "moving_var", &[c])?;
        // Inference form: y = (x - mean) / sqrt(var + eps) * g + beta, with g = 1 when
        // fix_gamma (MXNet ignores the stored gamma then). Folded to y = x * scale + shift in f64.
        let mut scale = vec![0f32; c];
        let mut shift = vec![0f32; c];
        for i in 0..c {
            let g = if fix_gamma { 1.0 } else { gamma[i] as f64 };
            let s = g / (var[i] as f64 + eps).sqrt();
            scale[i] = s as f32;
            shift[i] = (beta[i] as f64 - mean[i] as f64 * s) as f32;
        }
        let mut bshape = vec![1usize; shape.len()];
        bshape[1] = c;
        let s = self.konst(format!("{name}.scale"), &bshape, &scale)?;
        let t = self.konst(format!("{name}.shift"), &bshape, &shift)?;
        let y = self.node(&format!("{name}.mul"), ops::math::mul(), &[x, s])?;
        self.node(name, ops::math::add(), &[y, t])
    }

    fn convolution(&mut self, node: &SymNode) -> Result<OutletId> {
        let name = node.name.as_str();
        let a = node.attrs();
        let kernel = a.tuple("kernel")?.ok_or_else(|| {
            symbol_format(format!(
                "node {name} (Convolution): required attribute kernel is missing"
            ))
        })?;
        if kernel.len() != 2 {
            return Err(unsupported_operator(format!(
                "node {name} (Convolution): {}-D kernels are not supported (only 2-D)",
                kernel.len()
            )));
        }
        let pair = |key: &str, default: usize| -> Result<[usize; 2]> {
            match a.tuple(key)? {
                None => Ok([default; 2]),
                Some(v) if v.len() == 2 => Ok([v[0], v[1]]),
                Some(v) if v.len() == 1 => Ok([v[0]; 2]),
                Some(v) => Err(symbol_format(format!(
                    "node {name} (Convolution): {key}={v:?} does not match the 2-D kernel"
                ))),
            }
        };
        let stride = pair("stride", 1)?;
        let pad = pair("pad", 0)?;
        let dilate = pair("dilate", 1)?;
        let num_filter = a.usize("num_filter", None)?;
        let group = a.usize("num_group", Some(1))?;
        let no_bias = a.bool("no_bias", false)?;
        if let Some(layout) = a.str("layout") {
            if layout != "NCHW" && layout != "None" {
                return Err(unsupported_operator(format!(
                    "node {name} (Convolution): layout {layout} is not supported (only NCHW)"
                )));
            }
        }
        if stride.contains(&0) || dilate.contains(&0) || group == 0 || num_filter == 0 {
            return Err(symbol_format(format!(
                "node {name} (Convolution): stride, dilate, num_group and num_filter must be positive"
            )));
        }
        let (x, shape) = self.data_input(node)?;
        if shape.len() != 4 {
            return Err(model_mismatch(format!(
                "node {name} (Convolution): input shape {shape:?} is not 4-D (N, C, H, W)"
            )));
        }
        let c = shape[1];
        if c % group != 0 || num_filter % group != 0 {
            return Err(model_mismatch(format!(
                "node {name} (Convolution): {c} input channels and {num_filter} filters are not divisible by num_group {group}"
            )));
        }
        if kernel.contains(&0) {
            return Err(symbol_format(format!(
                "node {name} (Convolution): kernel {kernel:?} must be positive"
            )));
        }
        check_pad(name, "Convolution", &pad)?;
        for i in 0..2 {
            // Checked: every value here comes from the file (kernel 0 or a dilate near 2^63
            // must be an error, not an overflow).
            let span = dilate[i]
                .checked_mul(kernel[i] - 1)
                .and_then(|s| s.checked_add(1));
            if span.is_none_or(|span| shape[2 + i] + 2 * pad[i] < span) {
                return Err(model_mismatch(format!(
                    "node {name} (Convolution): kernel {kernel:?} (dilate {dilate:?}) does not fit the padded input {:?}",
                    &shape[2..]
                )));
            }
        }
        let wshape = [num_filter, c / group, kernel[0], kernel[1]];
        let w = self.param(node, 1, "weight", &wshape)?;
        let k = self.konst(format!("{name}.weight"), &wshape, &w)?;
        let bias = if no_bias {
            self.model
                .add_const(format!("{name}.bias"), tensor0(0f32))
                .map_err(|e| tract_err("constant", e))?
        } else {
            let b = self.param(node, 2, "bias", &[num_filter])?;
            self.konst(format!("{name}.bias"), &[num_filter], &b)?
        };
        let pool_spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![kernel[0], kernel[1]],
            padding: PaddingSpec::Explicit(tvec![pad[0], pad[1]], tvec![pad[0], pad[1]]),
            dilations: Some(tvec![dilate[0], dilate[1]]),
            strides: Some(tvec![stride[0], stride[1]]),
            input_channels: c,
            output_channels: num_filter,
        };
        let op = Conv {
            pool_spec,
            kernel_fmt: KernelFormat::OIHW,
            group,
            q_params: None,
        };
        self.node(name, op, &[x, k, bias])
    }

    fn activation(&mut self, node: &SymNode) -> Result<OutletId> {
        let name = node.name.as_str();
        let act = node.attrs().str("act_type").ok_or_else(|| {
            symbol_format(format!(
                "node {name} (Activation): required attribute act_type is missing"
            ))
        })?;
        let (x, _) = self.data_input(node)?;
        match act {
            "relu" => self.relu(name, x),
            "sigmoid" => self.node(name, ops::nn::sigmoid(), &[x]),
            "tanh" => self.node(name, ops::math::tanh(), &[x]),
            "softrelu" => {
                // softplus(x) = max(x, 0) + ln(1 + exp(-|x|)): never overflows, unlike ln(1 + e^x).
                let pos = self.relu(&format!("{name}.pos"), x)?;
                let abs = self.node(&format!("{name}.abs"), ops::math::abs(), &[x])?;
                let neg = self.node(&format!("{name}.neg"), ops::math::neg(), &[abs])?;
                let exp = self.node(&format!("{name}.exp"), ops::math::exp(), &[neg])?;
                let one = self.model.add_const(format!("{name}.one"), tensor0(1f32)).map_err(|e| tract_err("constant", e))?;
                let sum = self.broadcast(&format!("{name}.plus1"), ops::math::add(), &[exp, one])?;
                let ln = self.node(&format!("{name}.ln"), ops::math::ln(), &[sum])?;
                self.node(name, ops::math::add(), &[pos, ln])
            }
            other => Err(unsupported_operator(format!(
                "node {name} (Activation): act_type {other} is not supported (relu, sigmoid, tanh, softrelu)"
            ))),
        }
    }

    fn pooling(&mut self, node: &SymNode) -> Result<OutletId> {
        let name = node.name.as_str();
        let a = node.attrs();
        let pool_type = a.str("pool_type").unwrap_or("max");
        let global = a.bool("global_pool", false)?;
        let (x, shape) = self.data_input(node)?;
        if shape.len() != 4 {
            return Err(model_mismatch(format!(
                "node {name} (Pooling): input shape {shape:?} is not 4-D"
            )));
        }
        let c = shape[1];
        if !matches!(pool_type, "max" | "avg" | "sum") {
            return Err(unsupported_operator(format!(
                "node {name} (Pooling): pool_type {pool_type} is not supported (max, avg, sum)"
            )));
        }
        if global {
            let reducer = if pool_type == "max" {
                Reducer::Max
            } else {
                Reducer::Sum
            };
            let r_name = if pool_type == "avg" {
                format!("{name}.sum")
            } else {
                name.to_string()
            };
            let r = self.node(
                &r_name,
                Reduce {
                    axes: tvec![2, 3],
                    reducer,
                },
                &[x],
            )?;
            if pool_type != "avg" {
                return Ok(r);
            }
            let inv = 1.0f32 / (shape[2] * shape[3]) as f32;
            let inv = self
                .model
                .add_const(format!("{name}.inv"), tensor0(inv))
                .map_err(|e| tract_err("constant", e))?;
            return self.broadcast(name, ops::math::mul(), &[r, inv]);
        }
        let kernel = a.tuple("kernel")?.ok_or_else(|| {
            symbol_format(format!(
                "node {name} (Pooling): kernel is required unless global_pool"
            ))
        })?;
        if kernel.len() != 2 {
            return Err(unsupported_operator(format!(
                "node {name} (Pooling): {}-D pooling is not supported (only 2-D)",
                kernel.len()
            )));
        }
        let pair = |key: &str, default: usize| -> Result<[usize; 2]> {
            match a.tuple(key)? {
                None => Ok([default; 2]),
                Some(v) if v.len() == 2 => Ok([v[0], v[1]]),
                Some(v) if v.len() == 1 => Ok([v[0]; 2]),
                Some(v) => Err(symbol_format(format!(
                    "node {name} (Pooling): {key}={v:?} is not 2-D"
                ))),
            }
        };
        let stride = pair("stride", 1)?;
        let pad = pair("pad", 0)?;
        if stride.contains(&0) || kernel.contains(&0) {
            return Err(symbol_format(format!(
                "node {name} (Pooling): kernel and stride must be positive"
            )));
        }
        check_pad(name, "Pooling", &pad)?;
        for i in 0..2 {
            if shape[2 + i] + 2 * pad[i] < kernel[i] {
                return Err(model_mismatch(format!(
                    "node {name} (Pooling): kernel {kernel:?} does not fit the padded input {:?}",
                    &shape[2..]
                )));
            }
        }
        // MXNet's "valid" rounds the output size down, "full" rounds it up (Caffe style).
        let ceil = match a.str("pooling_convention").unwrap_or("valid") {
            "valid" => false,
            "full" => true,
            other => {
                return Err(unsupported_operator(format!(
                "node {name} (Pooling): pooling_convention {other} is not supported (valid, full)"
            )))
            }
        };
        let count_include_pad = a.bool("count_include_pad", true)?;
        let ps = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![kernel[0], kernel[1]],
            padding: PaddingSpec::ExplicitOnnxPool(
                tvec![pad[0], pad[1]],
                tvec![pad[0], pad[1]],
                ceil,
            ),
            dilations: None,
            strides: Some(tvec![stride[0], stride[1]]),
            input_channels: c,
            output_channels: c,
        };
        match pool_type {
            "max" => self.node(
                name,
                MaxPool {
                    pool_spec: ps,
                    with_index_outputs: None,
                },
                &[x],
            ),
            "avg" => self.node(
                name,
                SumPool {
                    pool_spec: ps,
                    count_include_pad,
                    normalize: true,
                },
                &[x],
            ),
            _ => self.node(
                name,
                SumPool {
                    pool_spec: ps,
                    count_include_pad: true,
                    normalize: false,
                },
                &[x],
            ),
        }
    }

    fn flatten(&mut self, name: &str, x: OutletId, shape: &[usize]) -> Result<OutletId> {
        if shape.len() == 2 {
            return Ok(x);
        }
        if shape.is_empty() {
            return Err(model_mismatch(format!(
                "node {name} (Flatten): scalar input"
            )));
        }
        let from: TVec<TDim> = shape[1..].iter().map(|&d| d.into()).collect();
        let rest: usize = shape[1..].iter().product();
        self.node(name, AxisOp::Reshape(1, from, tvec![rest.into()]), &[x])
    }

    fn fully_connected(&mut self, node: &SymNode) -> Result<OutletId> {
        let name = node.name.as_str();
        let a = node.attrs();
        let num_hidden = a.usize("num_hidden", None)?;
        if num_hidden == 0 {
            // MXNet's FullyConnectedParam bounds num_hidden below by 1.
            return Err(symbol_format(format!(
                "node {name} (FullyConnected): num_hidden must be positive"
            )));
        }
        let no_bias = a.bool("no_bias", false)?;
        let flatten = a.bool("flatten", true)?;
        let (mut x, mut shape) = self.data_input(node)?;
        if shape.len() > 2 {
            if !flatten {
                return Err(unsupported_operator(format!(
                    "node {name} (FullyConnected): flatten=False on a {}-D input is not supported",
                    shape.len()
                )));
            }
            x = self.flatten(&format!("{name}.flatten"), x, &shape)?;
            shape = vec![shape[0], shape[1..].iter().product()];
        }
        if shape.len() != 2 {
            return Err(model_mismatch(format!(
                "node {name} (FullyConnected): input shape {shape:?}"
            )));
        }
        let k = shape[1];
        let w = self.param(node, 1, "weight", &[num_hidden, k])?;
        let wt = self.konst(format!("{name}.weight"), &[num_hidden, k], &w)?;
        let op = EinSum::new(
            "mk,nk->mn".parse().map_err(|e| tract_err("einsum", e))?,
            f32::datum_type(),
        );
        let mm_name = if no_bias {
            name.to_string()
        } else {
            format!("{name}.matmul")
        };
        let y = self.node(&mm_name, op, &[x, wt])?;
        if no_bias {
            return Ok(y);
        }
        let b = self.param(node, 2, "bias", &[num_hidden])?;
        let bt = self.konst(format!("{name}.bias"), &[1, num_hidden], &b)?;
        self.node(name, ops::math::add(), &[y, bt])
    }

    fn softmax(&mut self, node: &SymNode) -> Result<OutletId> {
        let name = node.name.as_str();
        let a = node.attrs();
        let (x, shape) = self.data_input(node)?;
        if let Some(t) = a.str("temperature") {
            if t != "None" && a.f64("temperature", 1.0)? != 1.0 {
                return Err(unsupported_operator(format!(
                    "node {name} ({}): temperature={t} is not supported",
                    node.op
                )));
            }
        }
        let rank = shape.len();
        let axis = match node.op.as_str() {
            "SoftmaxOutput" | "Softmax" => {
                if a.bool("multi_output", false)? {
                    return Err(unsupported_operator(format!(
                        "node {name} (SoftmaxOutput): multi_output=True is not supported"
                    )));
                }
                if a.bool("preserve_shape", false)? {
                    rank - 1
                } else {
                    1
                }
            }
            "SoftmaxActivation" => 1,
            _ => {
                let axis: i64 = a.str("axis").map_or(Ok(-1), |s| {
                    s.parse::<i64>()
                        .map_err(|_| symbol_format(format!("node {name} (softmax): axis={s:?}")))
                })?;
                let r = rank as i64;
                if axis < -r || axis >= r {
                    return Err(symbol_format(format!(
                        "node {name} (softmax): axis {axis} out of range"
                    )));
                }
                axis.rem_euclid(r) as usize
            }
        };
        if rank != 2 || axis != 1 {
            return Err(unsupported_operator(format!(
                "node {name} ({}): softmax over axis {axis} of a {rank}-D input is not supported (only [batch, classes])",
                node.op
            )));
        }
        self.node(
            name,
            Softmax {
                axes: tvec![axis],
                quant_output_dt: None,
                kind: SoftmaxKind::Softmax,
            },
            &[x],
        )
    }
}
