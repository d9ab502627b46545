//! `BatchNorm` in its inference form, folded into a per-channel scale and shift.

use super::*;

impl Builder<'_> {
    pub(super) fn batch_norm(&mut self, node: &SymNode) -> Result<OutletId> {
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
}
