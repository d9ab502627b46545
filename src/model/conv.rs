//! The convolutions Winograd leaves (the strided 3x3 ones, the small outputs) as matrix products
//! on [`super::gemm`]: `W [Co, Ci·kh·kw] · X' [Ci·kh·kw, P]` with `X'` the im2col of the input
//! (P = output pixels), built a block of columns at a time so that it stays within
//! `IM2COL_FLOATS`. The bias is written first and the product added to it. The work is split
//! among the model state's pool by output channels (rows), which keeps the thin products of the
//! 7x7 outputs (P = 49) parallel too. And the 1x1 convolutions, which tract's declutter has
//! already made `EinSum` products, as [`PointwiseGemm`]: `W [Co, Ci] · X [Ci, P]` on the input
//! as it is. Measured against tract 0.23.9's im2col + OptMatMul: issue 20's note.
//!
//! [`rewrite`] replaces each eligible `Conv` of a decluttered model (f32, group 1, NCHW or CHW,
//! constant kernel and bias); it runs after the Winograd rewrite, which takes the 3x3 ones it
//! wants first. [`rewrite_pointwise`] replaces the 1x1 ones.

use tract_core::internal::*;
use tract_core::ops::cnn::{Conv, KernelFormat};
use tract_core::ops::einsum::EinSum;

use super::gemm::{matmul_add, Layout};
use super::window::Window;

/// The largest im2col block, in values (2 MiB): the stem's 147 x 12,544 im2col would be 7.4 MB.
const IM2COL_FLOATS: usize = 512 * 1024;

/// The most output pixels per image of a convolution [`rewrite`] takes: up to ResNet's 28x28
/// outputs. Per node on ResNet-18 with gemm's AVX-512 kernels (`bench --profile`, this AVX-512
/// host, 1 thread, ms, tract -> here, the least of 4 runs): the 28x28 and 14x14 ones 1.4-3.3 ->
/// 1.1-2.7 (0.65-0.89x), the 7x7 ones 0.9-0.95x; the stem (112x112 outputs, K = 147) 4.1 ->
/// 4.8, lost, so it stays tract's. `benches/ab.sh`, whole model, against the 64-pixel limit
/// before: ResNet-18 0.92x, ResNet-50 0.93x (1 thread, medians).
const MAX_OUTPUT_PIXELS: usize = 784;

/// The fewest multiply-adds per image of a convolution [`rewrite`] and [`rewrite_pointwise`]
/// take. They were measured on ResNet's (6 to 231 million each); smaller ones stay tract's:
/// the tiny test model's (under 2 million) on gemm left gemm's per-thread buffer (1.25 MiB, the
/// L2 size) on pool threads that a closed service's rayon pool ends after its drop returns,
/// and `tests/service_chaos.rs` saw the live heap 1.3 MB above its baseline now and then.
const MIN_MULTIPLY_ADDS: usize = 4 << 20;

/// Shape of one rewritten convolution: its window (`c`: input channels) and output channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvGeometry {
    pub window: Window,
    pub co: usize,
}

impl ConvGeometry {
    fn k(&self) -> usize {
        self.window.c * self.window.kh * self.window.kw
    }

    fn p(&self) -> usize {
        self.window.oh * self.window.ow
    }

    /// Columns `p0..p0 + cols` of the im2col of image `x` (`[Ci, H, W]`) into `out`
    /// (`[K, cols]`), rows `r0..` of it (`out` holds whole rows).
    fn im2col(&self, x: &[f32], p0: usize, cols: usize, r0: usize, out: &mut [f32]) {
        let g = &self.window;
        for (i, row) in out.chunks_mut(cols).enumerate() {
            let r = r0 + i;
            let (c, ky, kx) = (r / (g.kh * g.kw), r / g.kw % g.kh, r % g.kw);
            let plane = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
            // The output columns whose input column is inside the image: ix = ox·sw + kx·dw − pad.
            let shift = kx * g.dw;
            let lo = g.pad_left.saturating_sub(shift).div_ceil(g.sw);
            let hi = if g.w + g.pad_left > shift {
                ((g.w + g.pad_left - shift - 1) / g.sw + 1).min(g.ow)
            } else {
                0
            };
            let mut p = p0;
            let mut written = 0;
            while written < cols {
                let (oy, ox0) = (p / g.ow, p % g.ow);
                let run = (g.ow - ox0).min(cols - written);
                let dst = &mut row[written..written + run];
                let iy = (oy * g.sh + ky * g.dh).wrapping_sub(g.pad_top);
                // This run's columns inside the image: [a, b) of ox0..ox0 + run.
                let (a, b) = (lo.clamp(ox0, ox0 + run), hi.clamp(ox0, ox0 + run));
                if iy >= g.h || a >= b {
                    dst.fill(0.0);
                } else {
                    let src = &plane[iy * g.w..(iy + 1) * g.w];
                    dst[..a - ox0].fill(0.0);
                    dst[b - ox0..].fill(0.0);
                    let first = a * g.sw + shift - g.pad_left;
                    let inside = &mut dst[a - ox0..b - ox0];
                    if g.sw == 1 {
                        inside.copy_from_slice(&src[first..first + inside.len()]);
                    } else {
                        for (d, s) in inside.iter_mut().zip(src[first..].iter().step_by(g.sw)) {
                            *d = *s;
                        }
                    }
                }
                written += run;
                p += run;
            }
        }
    }
}

/// A convolution as a matrix product: input `[N, Ci, H, W]` (or `[Ci, H, W]`) → output
/// `[N, Co, OH, OW]`, with the kernel as `[Co, Ci·kh·kw]` and the bias (`[Co]`) held here.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConvGemm {
    pub geometry: ConvGeometry,
    pub weights: Arc<Tensor>,
    pub bias: Arc<Tensor>,
    /// The largest im2col block, in values (`IM2COL_FLOATS`; smaller in tests).
    pub block_floats: usize,
}

impl Op for ConvGemm {
    fn name(&self) -> StaticName {
        "ConvGemm".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let (g, w) = (&self.geometry, &self.geometry.window);
        Ok(vec![format!(
            "{}x{} stride {}x{}: {}x{} . {}x{}",
            w.kh,
            w.kw,
            w.sh,
            w.sw,
            g.co,
            g.k(),
            g.k(),
            g.p()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for ConvGemm {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let x = x.try_as_plain_ram()?.as_slice::<f32>()?;
        let (k, p, co) = (self.geometry.k(), self.geometry.p(), self.geometry.co);
        let g = self.geometry.window;
        let weights = self.weights.try_as_plain_ram()?.as_slice::<f32>()?;
        let bias = self.bias.try_as_plain_ram()?.as_slice::<f32>()?;
        ensure!(x.len() == g.input_len() && weights.len() == co * k);
        ensure!(bias.len() == co);
        let mut y = Tensor::zero::<f32>(&g.output_shape(co))?;
        {
            let mut view = y.try_as_plain_ram_mut()?;
            let y = view.as_slice_mut::<f32>()?;
            // One im2col buffer for every image.
            let block = (self.block_floats / k.max(1)).clamp(1, p);
            let mut cols = vec![0f32; k * block];
            for (b, image_out) in y.chunks_mut(co * p).enumerate() {
                for (row, &v) in image_out.chunks_mut(p).zip(bias) {
                    row.fill(v);
                }
                let image = &x[b * g.c * g.h * g.w..(b + 1) * g.c * g.h * g.w];
                for p0 in (0..p).step_by(block) {
                    let n = block.min(p - p0);
                    let buf = &mut cols[..k * n];
                    tract_linalg::multithread::par_chunks_mut(buf, n, k * n, |r0, rows| {
                        self.geometry.im2col(image, p0, n, r0, rows);
                        Ok(())
                    })?;
                    product(image_out, weights, buf, p, k, p0, n)?;
                }
            }
        }
        Ok(tvec!(y.into_tvalue()))
    }
}

/// `out[:, p0..p0 + n] += weights · cols` (`cols`: `[K, n]`), split among the executor's threads
/// by rows of `out` (`[Co, P]`).
fn product(
    out: &mut [f32],
    weights: &[f32],
    cols: &[f32],
    p: usize,
    k: usize,
    p0: usize,
    n: usize,
) -> TractResult<()> {
    split_rows(out, p, |r0, rows| {
        let r = rows.len() / p;
        matmul_add(
            rows,
            Layout {
                rows: r,
                cols: n,
                offset: p0,
                row_stride: p,
            },
            weights,
            Layout::dense(r, k, r0 * k),
            cols,
            Layout::dense(k, n, 0),
        )
    })
}

/// `f(first_row, rows)` over `out` (rows of `row_len`) in as many parts as tract's executor has
/// threads, one each: every part streams the whole im2col block, so fewer, larger parts are
/// cheaper than the 4 per thread `par_chunks_mut` makes.
fn split_rows(
    out: &mut [f32],
    row_len: usize,
    f: impl Fn(usize, &mut [f32]) -> TractResult<()> + Sync + Send,
) -> TractResult<()> {
    #[cfg(feature = "multithread")]
    if let tract_linalg::multithread::Executor::MultiThread(pool) =
        tract_linalg::multithread::current_tract_executor()
    {
        use rayon::prelude::*;
        let rows = out.len() / row_len.max(1);
        let parts = pool.current_num_threads().min(rows);
        if parts > 1 {
            let per = rows.div_ceil(parts);
            return pool.install(|| {
                out.par_chunks_mut(per * row_len)
                    .enumerate()
                    .try_for_each(|(i, part)| f(i * per, part))
            });
        }
    }
    #[cfg(not(feature = "multithread"))]
    let _ = row_len;
    f(0, out)
}

impl TypedOp for ConvGemm {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = &self.geometry;
        ensure!(inputs[0].datum_type == f32::datum_type());
        ensure!(inputs[0].shape.volume() == g.window.input_len().to_dim());
        Ok(tvec!(f32::fact(g.window.output_shape(g.co))))
    }

    as_op!();
}

/// The geometry, `[Co, K]` weights and `[Co]` bias of a convolution this module can run.
fn candidate(
    model: &TypedModel,
    node: &TypedNode,
    (min_macs, max_pixels): (usize, usize),
) -> Option<(ConvGeometry, Tensor, Tensor)> {
    let conv = node.op_as::<Conv>()?;
    if conv.q_params.is_some() || conv.group != 1 || node.inputs.len() != 3 {
        return None;
    }
    let x = model.outlet_fact(node.inputs[0]).ok()?;
    let kernel = model.outlet_fact(node.inputs[1]).ok()?.konst.clone()?;
    let bias = model.outlet_fact(node.inputs[2]).ok()?.konst.clone()?;
    if kernel.datum_type() != f32::datum_type()
        || bias.datum_type() != f32::datum_type()
        || !kernel.is_plain_ram()
        || !bias.is_plain_ram()
    {
        return None;
    }
    let window = Window::of(&conv.pool_spec, x)?;
    let (ci, kh, kw) = (window.c, window.kh, window.kw);
    let co = conv.output_channels();
    let g = ConvGeometry { window, co };
    if ci == 0 || co == 0 || g.p() > max_pixels || co * g.k() * g.p() < min_macs {
        return None;
    }
    // What tract's own output shape says must be what this geometry computes.
    let facts = conv
        .output_facts(&[
            x,
            model.outlet_fact(node.inputs[1]).ok()?,
            model.outlet_fact(node.inputs[2]).ok()?,
        ])
        .ok()?;
    if facts[0].shape.as_concrete()? != window.output_shape(co).as_slice() {
        return None;
    }
    let kv = kernel.try_as_plain_ram().ok()?;
    let kv = kv.as_slice::<f32>().ok()?;
    if kv.len() != co * g.k() {
        return None;
    }
    // [Co, Ci, kh, kw] whatever the kernel's own layout, matching the im2col rows (c, ky, kx);
    // written in place (tract's Tensor::from_shape would copy a whole kernel once more while the
    // model loads).
    let mut weights = Tensor::zero::<f32>(&[co, g.k()]).ok()?;
    {
        let mut view = weights.try_as_plain_ram_mut().ok()?;
        let wv = view.as_slice_mut::<f32>().ok()?;
        for o in 0..co {
            for i in 0..ci {
                for y in 0..kh {
                    for x in 0..kw {
                        wv[((o * ci + i) * kh + y) * kw + x] = kv[match conv.kernel_fmt {
                            KernelFormat::OIHW => ((o * ci + i) * kh + y) * kw + x,
                            KernelFormat::HWIO => ((y * kw + x) * ci + i) * co + o,
                            KernelFormat::OHWI => ((o * kh + y) * kw + x) * ci + i,
                        }];
                    }
                }
            }
        }
    }
    let bv = bias.try_as_plain_ram().ok()?;
    let bv = bv.as_slice::<f32>().ok()?;
    let bias = match bv.len() {
        1 => vec![bv[0]; co],
        n if n == co => bv.to_vec(),
        _ => return None,
    };
    Some((g, weights, Tensor::from_shape(&[co], &bias).ok()?))
}

/// A 1x1 convolution as tract's declutter leaves it: an `EinSum` of the input (`[Ci, H, W]`, unit
/// axes aside, after a `Downsample` when strided) with a constant `[Co, Ci]` kernel, giving
/// `[Co, H, W]`. That is `W · X` with `X` read in place as `[Ci, H·W]`: no im2col, no bias (a
/// bias, and the batch norm and ReLU after it, stay the nodes they are).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PointwiseGemm {
    pub co: usize,
    pub ci: usize,
    /// Output pixels (H·W).
    pub p: usize,
    /// `[Co, Ci]`.
    pub weights: Arc<Tensor>,
    /// The `EinSum`'s output shape (its unit axes included).
    pub output_shape: TVec<usize>,
}

impl Op for PointwiseGemm {
    fn name(&self) -> StaticName {
        "PointwiseGemm".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}x{} . {}x{}",
            self.co, self.ci, self.ci, self.p
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for PointwiseGemm {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let x = x.try_as_plain_ram()?.as_slice::<f32>()?;
        let (co, ci, p) = (self.co, self.ci, self.p);
        let weights = self.weights.try_as_plain_ram()?.as_slice::<f32>()?;
        ensure!(x.len() == ci * p && weights.len() == co * ci);
        let mut y = Tensor::zero::<f32>(&self.output_shape)?;
        {
            let mut view = y.try_as_plain_ram_mut()?;
            let y = view.as_slice_mut::<f32>()?;
            ensure!(y.len() == co * p);
            product(y, weights, x, p, ci, 0, p)?;
        }
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for PointwiseGemm {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs[0].datum_type == f32::datum_type());
        ensure!(inputs[0].shape.volume() == (self.ci * self.p).to_dim());
        Ok(tvec!(f32::fact(&*self.output_shape)))
    }

    as_op!();
}

/// The [`PointwiseGemm`] an `EinSum` node is, if it is one: two inputs, the second a constant
/// `[Co, Ci]`; one summed axis (Ci) before every spatial axis of the input; Co before every
/// spatial axis of the output, the spatial axes in the same order in both; any other axis of
/// size 1. Read from the axes mapping, not from its letters.
fn pointwise_candidate(
    model: &TypedModel,
    node: &TypedNode,
    min_macs: usize,
) -> Option<PointwiseGemm> {
    let op = node.op_as::<EinSum>()?;
    if node.inputs.len() != 2 || op.q_params.is_some() || op.operating_dt != f32::datum_type() {
        return None;
    }
    let x = model.outlet_fact(node.inputs[0]).ok()?;
    let kernel = model.outlet_fact(node.inputs[1]).ok()?.konst.clone()?;
    if x.datum_type != f32::datum_type()
        || kernel.datum_type() != f32::datum_type()
        || !kernel.is_plain_ram()
    {
        return None;
    }
    let xs = x.shape.as_concrete()?;
    let ys = node.outputs[0].fact.shape.as_concrete()?;
    let &[co, ci] = kernel.shape() else {
        return None;
    };
    let (mut summed, mut out_channels) = (None, None);
    // (position in the input, position in the output) of each spatial axis longer than 1.
    let mut spatial = Vec::new();
    for a in op.axes.iter_all_axes() {
        let (i0, i1, o) = (&a.inputs[0], &a.inputs[1], &a.outputs[0]);
        match (&i0[..], &i1[..], &o[..]) {
            (&[x], &[1], &[]) if summed.is_none() => summed = Some(x),
            (&[], &[0], &[y]) if out_channels.is_none() => out_channels = Some(y),
            (&[x], &[], &[y]) if xs[x] == ys[y] => {
                if xs[x] > 1 {
                    spatial.push((x, y));
                }
            }
            (&[x], &[], &[]) if xs[x] == 1 => {}
            (&[], &[], &[y]) if ys[y] == 1 => {}
            _ => return None,
        }
    }
    let (k, o) = (summed?, out_channels?);
    let ordered = spatial
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
    if xs[k] != ci || ys[o] != co || !ordered || spatial.iter().any(|&(x, y)| x < k || y < o) {
        return None;
    }
    let p: usize = spatial.iter().map(|&(x, _)| xs[x]).product();
    if ci == 0 || co == 0 || xs.iter().product::<usize>() != ci * p {
        return None;
    }
    if ys.iter().product::<usize>() != co * p || co * ci * p < min_macs {
        return None;
    }
    Some(PointwiseGemm {
        co,
        ci,
        p,
        weights: kernel,
        output_shape: ys.into(),
    })
}

/// Replace every 1x1 convolution (`EinSum`) of a decluttered `model` that
/// `pointwise_candidate` accepts, of at least `MIN_MULTIPLY_ADDS` multiply-adds, by a
/// [`PointwiseGemm`]; returns how many were replaced.
pub fn rewrite_pointwise(model: &mut TypedModel) -> TractResult<usize> {
    rewrite_pointwise_with(model, MIN_MULTIPLY_ADDS)
}

fn rewrite_pointwise_with(model: &mut TypedModel, min_macs: usize) -> TractResult<usize> {
    super::optimise::replace_nodes(
        model,
        "gemm pointwise",
        |model, node| pointwise_candidate(model, node, min_macs),
        |patch, name, taps, op| Ok(patch.wire_node(format!("{name}.gemm"), op, &[taps[0]])?[0]),
    )
}

/// Replace every eligible convolution of a decluttered `model` with at most
/// `MAX_OUTPUT_PIXELS` output pixels and at least `MIN_MULTIPLY_ADDS` multiply-adds by a
/// [`ConvGemm`]; returns how many were replaced.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    rewrite_with(model, (MIN_MULTIPLY_ADDS, MAX_OUTPUT_PIXELS), IM2COL_FLOATS)
}

fn rewrite_with(
    model: &mut TypedModel,
    limits: (usize, usize),
    block_floats: usize,
) -> TractResult<usize> {
    super::optimise::replace_nodes(
        model,
        "gemm conv",
        |model, node| candidate(model, node, limits),
        |patch, name, taps, (geometry, weights, bias)| {
            let op = ConvGemm {
                geometry,
                weights: Arc::new(weights),
                bias: Arc::new(bias),
                block_floats,
            };
            Ok(patch.wire_node(format!("{name}.conv_gemm"), op, &[taps[0]])?[0])
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_core::ops::cnn::{PaddingSpec, PoolSpec};
    use tract_core::ops::nn::DataFormat;

    use super::super::testing::{run, Rng};

    struct Case {
        n: usize,
        ci: usize,
        co: usize,
        hw: [usize; 2],
        k: [usize; 2],
        stride: [usize; 2],
        dil: [usize; 2],
        pad: [usize; 4],
    }

    /// The textbook convolution in f64: the reference.
    fn direct_conv(c: &Case, x: &[f32], kernel: &[f32], bias: &[f32]) -> (Vec<usize>, Vec<f64>) {
        let [h, w] = c.hw;
        let [kh, kw] = c.k;
        let oh = (h + c.pad[0] + c.pad[2] - (c.dil[0] * (kh - 1) + 1)) / c.stride[0] + 1;
        let ow = (w + c.pad[1] + c.pad[3] - (c.dil[1] * (kw - 1) + 1)) / c.stride[1] + 1;
        let mut y = vec![0f64; c.n * c.co * oh * ow];
        for b in 0..c.n {
            for o in 0..c.co {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = bias[o] as f64;
                        for i in 0..c.ci {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * c.stride[0] + ky * c.dil[0]) as isize
                                        - c.pad[0] as isize;
                                    let ix = (ox * c.stride[1] + kx * c.dil[1]) as isize
                                        - c.pad[1] as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xv =
                                        x[((b * c.ci + i) * h + iy as usize) * w + ix as usize];
                                    let kv = kernel[((o * c.ci + i) * kh + ky) * kw + kx];
                                    s += xv as f64 * kv as f64;
                                }
                            }
                        }
                        y[((b * c.co + o) * oh + oy) * ow + ox] = s;
                    }
                }
            }
        }
        (vec![c.n, c.co, oh, ow], y)
    }

    fn check(threads: usize, blocked: bool) {
        let mut rng = Rng(0x2545f4914f6cdd1d);
        #[rustfmt::skip]
        let cases = [
            // The stem (7x7 stride 2, pad 3), strided 3x3 and 1x1 shortcuts, 1x1 stride 1,
            // 3x3 on 7x7 outputs, asymmetric padding, dilation, batch 2, odd sizes.
            Case { n: 1, ci: 3, co: 8, hw: [23, 21], k: [7, 7], stride: [2, 2], dil: [1, 1], pad: [3, 3, 3, 3] },
            Case { n: 1, ci: 5, co: 7, hw: [9, 9], k: [3, 3], stride: [2, 2], dil: [1, 1], pad: [1, 1, 1, 1] },
            Case { n: 1, ci: 6, co: 4, hw: [8, 7], k: [1, 1], stride: [2, 2], dil: [1, 1], pad: [0, 0, 0, 0] },
            Case { n: 1, ci: 16, co: 24, hw: [7, 7], k: [1, 1], stride: [1, 1], dil: [1, 1], pad: [0, 0, 0, 0] },
            Case { n: 1, ci: 40, co: 70, hw: [12, 13], k: [1, 1], stride: [1, 1], dil: [1, 1], pad: [0, 0, 0, 0] },
            Case { n: 1, ci: 64, co: 40, hw: [7, 7], k: [3, 3], stride: [1, 1], dil: [1, 1], pad: [1, 1, 1, 1] },
            Case { n: 1, ci: 3, co: 5, hw: [6, 10], k: [3, 2], stride: [1, 3], dil: [1, 1], pad: [0, 2, 1, 0] },
            Case { n: 1, ci: 2, co: 3, hw: [9, 9], k: [3, 3], stride: [1, 1], dil: [2, 2], pad: [2, 2, 2, 2] },
            Case { n: 2, ci: 4, co: 6, hw: [5, 6], k: [3, 3], stride: [1, 1], dil: [1, 1], pad: [1, 1, 1, 1] },
            Case { n: 2, ci: 4, co: 6, hw: [5, 6], k: [1, 1], stride: [1, 1], dil: [1, 1], pad: [0, 0, 0, 0] },
        ];
        for c in cases {
            let [h, w] = c.hw;
            let [kh, kw] = c.k;
            let kernel = rng.vec(c.co * c.ci * kh * kw);
            let bias = rng.vec(c.co);
            let x = rng.vec(c.n * c.ci * h * w);
            let mut model = TypedModel::default();
            let xs = model.add_source("x", f32::fact([c.n, c.ci, h, w])).unwrap();
            let k = model
                .add_const(
                    "k",
                    Tensor::from_shape(&[c.co, c.ci, kh, kw], &kernel).unwrap(),
                )
                .unwrap();
            let b = model
                .add_const("b", Tensor::from_shape(&[c.co], &bias).unwrap())
                .unwrap();
            let op = Conv {
                pool_spec: PoolSpec {
                    data_format: DataFormat::NCHW,
                    kernel_shape: tvec![kh, kw],
                    padding: PaddingSpec::Explicit(
                        tvec![c.pad[0], c.pad[1]],
                        tvec![c.pad[2], c.pad[3]],
                    ),
                    dilations: Some(tvec![c.dil[0], c.dil[1]]),
                    strides: Some(tvec![c.stride[0], c.stride[1]]),
                    input_channels: c.ci,
                    output_channels: c.co,
                },
                kernel_fmt: KernelFormat::OIHW,
                group: 1,
                q_params: None,
            };
            let y = model.wire_node("conv", op, &[xs, k, b]).unwrap()[0];
            model.select_output_outlets(&[y]).unwrap();
            let mut model = model.into_decluttered().unwrap();
            // Blocks of 37 values: im2col blocks of a column or a few, ending inside output rows.
            let blocks = if blocked { 37 } else { IM2COL_FLOATS };
            // tract's declutter already turns a 1x1 convolution into a matrix product (an
            // EinSum, after a Downsample when strided): the pointwise rewrite's, for one image
            // (a batch is not [Ci, P] in memory).
            let want = usize::from(c.k != [1, 1]);
            assert_eq!(
                rewrite_with(&mut model, (0, usize::MAX), blocks).unwrap(),
                want,
                "k {:?} stride {:?}",
                c.k,
                c.stride
            );
            let want = usize::from(c.k == [1, 1] && c.n == 1);
            assert_eq!(
                rewrite_pointwise_with(&mut model, 0).unwrap(),
                want,
                "pointwise: k {:?} stride {:?} n {}",
                c.k,
                c.stride,
                c.n
            );
            model.optimize().unwrap();
            let input = Tensor::from_shape(&[c.n, c.ci, h, w], &x).unwrap();
            let got = run(model, &input, threads);
            let (shape, want) = direct_conv(&c, &x, &kernel, &bias);
            assert_eq!(
                got.shape(),
                shape.as_slice(),
                "k {:?} stride {:?}",
                c.k,
                c.stride
            );
            let got = got.try_as_plain_ram().unwrap();
            let got = got.as_slice::<f32>().unwrap();
            let terms = (c.ci * kh * kw) as f64;
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*g as f64 - w).abs() <= 1e-5 * terms.sqrt() * 4.0,
                    "k {:?} stride {:?} dil {:?} pad {:?} [{i}]: {g} vs {w}",
                    c.k,
                    c.stride,
                    c.dil,
                    c.pad
                );
            }
        }
    }

    #[test]
    fn matches_the_textbook_convolution() {
        check(1, false);
        check(1, true);
    }

    #[cfg(feature = "multithread")]
    #[test]
    fn matches_the_textbook_convolution_on_two_threads() {
        check(2, false);
        check(2, true);
    }
}
