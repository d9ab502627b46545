//! Operators that pass their data input through: `_copy`/`identity` (MXNet's `id` node),
//! `Dropout` (inference: the identity) and `Cast` to a float type.

use super::*;

impl Builder<'_> {
    pub(super) fn identity(&mut self, node: &SymNode) -> Result<OutletId> {
        Ok(self.data_input(node)?.0)
    }

    pub(super) fn cast(&mut self, node: &SymNode) -> Result<OutletId> {
        let name = node.name.as_str();
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
}
