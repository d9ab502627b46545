//! The softmax family: `SoftmaxOutput` (its label input is training-only), `softmax`,
//! `SoftmaxActivation`, `Softmax`.

use super::*;

impl Builder<'_> {
    pub(super) fn softmax(&mut self, node: &SymNode) -> Result<OutletId> {
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
