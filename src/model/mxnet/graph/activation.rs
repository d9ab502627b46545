//! `Activation` (relu, sigmoid, tanh, softrelu) and the bare `relu` operator.

use super::*;

impl Builder<'_> {
    pub(super) fn relu_op(&mut self, node: &SymNode) -> Result<OutletId> {
        let (x, _) = self.data_input(node)?;
        self.relu(&node.name, x)
    }

    pub(super) fn relu(&mut self, name: &str, x: OutletId) -> Result<OutletId> {
        let zero = self
            .model
            .add_const(format!("{name}.zero"), tensor0(0f32))
            .map_err(|e| tract_err("constant", e))?;
        self.broadcast(name, ops::math::max(), &[x, zero])
    }

    pub(super) fn activation(&mut self, node: &SymNode) -> Result<OutletId> {
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
}
