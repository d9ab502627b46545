//! `FullyConnected` (the classifier head `fc1`, with or without bias, flattening or not).

use super::*;

impl Builder<'_> {
    pub(super) fn fully_connected(&mut self, node: &SymNode) -> Result<OutletId> {
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
}
