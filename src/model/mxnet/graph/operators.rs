//! The MXNet operators edgeclass implements: one row per operator family, naming the
//! operator names MXNet writes for it (every era's spelling), how it is lowered to tract, and
//! what the graph walk must know about it. Adding an operator is one file and one row; the
//! "supported" list of errors and the README's list follow this table (tests/mxnet_ops.rs).

use super::*;

/// How a node of this family becomes tract nodes: its output.
pub(super) type Lower = for<'a, 'b, 'c> fn(&'c mut Builder<'a>, &'b SymNode) -> Result<OutletId>;

/// One operator family.
pub(super) struct Operator {
    /// The operator names MXNet writes for it (`op` of a symbol node).
    pub(super) names: &'static [&'static str],
    pub(super) lower: Lower,
    /// A softmax: when it is the head, the input it normalises is also the model's logits.
    pub(super) softmax: bool,
    /// Inputs the forward pass reads (the rest are training-only, e.g. SoftmaxOutput's label);
    /// `usize::MAX` for all.
    pub(super) forward_inputs: usize,
}

const ALL_INPUTS: usize = usize::MAX;

impl Operator {
    /// A family that reads all its inputs and is no softmax (most of them).
    const fn plain(names: &'static [&'static str], lower: Lower) -> Operator {
        Operator {
            names,
            lower,
            softmax: false,
            forward_inputs: ALL_INPUTS,
        }
    }
}

/// Every operator edgeclass implements.
pub(super) const OPERATORS: &[Operator] = &[
    Operator::plain(&["_copy", "identity", "Dropout"], |b, n| b.identity(n)),
    Operator::plain(&["Cast"], |b, n| b.cast(n)),
    Operator::plain(&["BatchNorm"], |b, n| b.batch_norm(n)),
    Operator::plain(&["Convolution"], |b, n| b.convolution(n)),
    Operator::plain(&["Activation"], |b, n| b.activation(n)),
    Operator::plain(&["relu"], |b, n| b.relu_op(n)),
    Operator::plain(&["Pooling"], |b, n| b.pooling(n)),
    Operator::plain(
        &[
            "elemwise_add",
            "_plus",
            "_Plus",
            "_add",
            "broadcast_add",
            "broadcast_plus",
        ],
        |b, n| b.add(n),
    ),
    Operator::plain(&["Flatten", "flatten"], |b, n| b.flatten_op(n)),
    Operator::plain(&["FullyConnected"], |b, n| b.fully_connected(n)),
    Operator {
        names: &["SoftmaxOutput"],
        lower: |b, n| b.softmax(n),
        softmax: true,
        // data, then the label: training only.
        forward_inputs: 1,
    },
    Operator {
        names: &["softmax", "SoftmaxActivation", "Softmax"],
        lower: |b, n| b.softmax(n),
        softmax: true,
        forward_inputs: ALL_INPUTS,
    },
];

/// The row of operator `op`.
pub(super) fn find(op: &str) -> Option<&'static Operator> {
    OPERATORS.iter().find(|o| o.names.contains(&op))
}

/// Every supported operator name, in the table's order.
pub fn names() -> impl Iterator<Item = &'static str> {
    OPERATORS.iter().flat_map(|o| o.names.iter().copied())
}

/// The list errors show: each family's names joined with `/`.
pub(super) fn supported() -> String {
    OPERATORS
        .iter()
        .map(|o| o.names.join("/"))
        .collect::<Vec<_>>()
        .join(", ")
}
