//! Addition of two tensors: the element-wise ops need equal shapes, the `broadcast_*` ones
//! numpy-compatible shapes, as MXNet checks them.

use super::*;

impl Builder<'_> {
    pub(super) fn add(&mut self, node: &SymNode) -> Result<OutletId> {
        let name = node.name.as_str();
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
}
