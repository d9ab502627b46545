//! `Convolution` (NCHW; kernel, stride, pad, dilate, num_group, no_bias).

use super::*;

impl Builder<'_> {
    pub(super) fn convolution(&mut self, node: &SymNode) -> Result<OutletId> {
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
        let stride = a.pair("stride", 1)?;
        let pad = a.pair("pad", 0)?;
        let dilate = a.pair("dilate", 1)?;
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
}
