//! `Pooling`: max, avg and sum, global or windowed, both pooling conventions.

use super::*;

impl Builder<'_> {
    pub(super) fn pooling(&mut self, node: &SymNode) -> Result<OutletId> {
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
        let stride = a.pair("stride", 1)?;
        let pad = a.pair("pad", 0)?;
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
}
