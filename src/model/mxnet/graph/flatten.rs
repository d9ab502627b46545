//! `Flatten` / `flatten`: [N, ...] -> [N, product of the rest].

use super::*;

impl Builder<'_> {
    pub(super) fn flatten_op(&mut self, node: &SymNode) -> Result<OutletId> {
        let (x, shape) = self.data_input(node)?;
        self.flatten(&node.name, x, &shape)
    }

    pub(super) fn flatten(&mut self, name: &str, x: OutletId, shape: &[usize]) -> Result<OutletId> {
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
}
