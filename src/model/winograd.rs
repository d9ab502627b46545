//! Winograd F(2x2, 3x3) for the 3x3, stride-1 convolutions that carry most of a ResNet's FLOPs.
//!
//! tract runs every convolution as im2col + GEMM: 9·Cin·Cout multiply-adds per output pixel. The
//! Winograd form computes each 2x2 output tile from a 4x4 input tile with 16 element-wise products
//! per (Cin, Cout) pair instead of 36, i.e. 2.25x fewer multiply-adds. Written as a graph:
//!
//! ```text
//! x [N,C,H,W] ──WinogradInput──▶ V [C, 16, T]   (V = Bᵀ d B per 4x4 tile; T = N·tiles)
//! U [16, Co, C] (const, U = G g Gᵀ per filter, computed in f64 at load)
//! WinogradGemm (U, V) ──▶ M [16, Co, T]   (16 GEMMs, split among the executor's threads; x86_64)
//! or EinSum gmk,kgn->gmn (U, V)           (elsewhere: tract packs U once and runs its kernels)
//! M ──WinogradOutput(+bias)──▶ y [N,Co,H',W']   (y = Aᵀ m A per tile, cropped)
//! ```
//!
//! [`rewrite`] replaces each eligible `Conv` of a *decluttered* model (so batch-norm scales are
//! already folded into the weights and bias) by that sub-graph. On x86_64 the 16 products run on
//! `super::gemm` (faer's kernels, packing as they go): measured on ResNet-18's shapes, they and
//! no packing node beat tract's EinSum with pre-packed weights by 1.5-2.5x (issue 20). On ARM
//! tract's own kernels (tuned per core: A53, A55, A72...) stay until a board measures otherwise:
//! gemm-f32 has no armv7 NEON kernel at all. Only f32,
//! group 1, 3x3 kernels, stride 1, dilation 1, channel-first convs with constant weights are
//! rewritten; everything else keeps tract's convolution.

use tract_core::internal::*;
use tract_core::ops::cnn::{Conv, KernelFormat};

use super::window::Window;

/// Which convolutions [`rewrite`] turns into Winograd form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Smallest number of output tiles (per image) for which the Winograd form is used: with few
    /// tiles the GEMMs are too thin to amortise the transforms and the bigger weights.
    pub min_tiles: usize,
    /// Smallest Cin·Cout: tiny convolutions gain nothing.
    pub min_channels_product: usize,
}

impl Policy {
    /// Every eligible convolution (tests, benches).
    pub fn all() -> Policy {
        Policy {
            min_tiles: 1,
            min_channels_product: 1,
        }
    }

    /// 3x3 convolutions with at least 100 output tiles (20x20 outputs and up; ResNet's 56x56 and
    /// 28x28 stages). Below that the weights' growth (16 values per 9) buys little: on
    /// ResNet-18, adding the 14x14 stage (49 tiles) made inference ~7 % faster but added 5.5 MB
    /// of weights, 7 % of the process's peak RSS.
    pub fn lean() -> Policy {
        Policy {
            min_tiles: 100,
            min_channels_product: 1,
        }
    }

    /// Every shape where Winograd is faster. Measured on ResNet's shapes (benches/winograd.rs,
    /// AVX-512 host): Winograd wins at 56x56, 28x28 and 14x14 outputs (7x7 = 49 tiles and up)
    /// and loses at 7x7 (16 tiles), where the 16 GEMMs are 16 columns wide and tract's kernels
    /// run them at half the speed of the direct convolution's.
    pub fn fast() -> Policy {
        Policy {
            min_tiles: 25,
            min_channels_product: 1,
        }
    }
}

/// Tile geometry of one rewritten convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Batch size (1 when the data format has no batch axis).
    pub n: usize,
    /// Input height and width.
    pub h: usize,
    pub w: usize,
    /// Padding before (top, left); what lies beyond the input is zero, whatever the padding after.
    pub pad_top: usize,
    pub pad_left: usize,
    /// Output height and width.
    pub oh: usize,
    pub ow: usize,
}

impl Geometry {
    /// Tile rows and columns: each tile gives 2x2 outputs.
    pub fn tiles(&self) -> (usize, usize) {
        (self.oh.div_ceil(2), self.ow.div_ceil(2))
    }
    /// T: the number of tiles over the batch.
    pub fn t(&self) -> usize {
        let (th, tw) = self.tiles();
        self.n * th * tw
    }
}

/// U = G g Gᵀ for every filter: `w` is the 3x3 kernel as `w[o][i][y][x]` (through `at`), the result
/// is `[16, cout, cin]` (tap-major, so each of the 16 slices is one GEMM's left operand).
pub fn transform_kernel(
    cout: usize,
    cin: usize,
    at: impl Fn(usize, usize, usize, usize) -> f32,
) -> Vec<f32> {
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    let mut u = vec![0f32; 16 * cout * cin];
    for o in 0..cout {
        for i in 0..cin {
            let mut g = [[0f64; 3]; 3];
            for (y, row) in g.iter_mut().enumerate() {
                for (x, v) in row.iter_mut().enumerate() {
                    *v = at(o, i, y, x) as f64;
                }
            }
            // tmp = G g (4x3), then U = tmp Gᵀ (4x4).
            let mut tmp = [[0f64; 3]; 4];
            for a in 0..4 {
                for x in 0..3 {
                    tmp[a][x] = (0..3).map(|y| G[a][y] * g[y][x]).sum();
                }
            }
            for a in 0..4 {
                for b in 0..4 {
                    let v: f64 = (0..3).map(|x| tmp[a][x] * G[b][x]).sum();
                    u[((a * 4 + b) * cout + o) * cin + i] = v as f32;
                }
            }
        }
    }
    u
}

/// V = Bᵀ d B for every 4x4 input tile: `x` is `[n, c, h, w]`, `v` is `[c, 16, T]` with the tiles of
/// image `b` at `b·th·tw + ty·tw + tx`. Channels are split across tract's executor's threads.
pub fn transform_input(g: &Geometry, c: usize, x: &[f32], v: &mut [f32]) -> TractResult<()> {
    let t = g.t();
    assert_eq!(v.len(), 16 * c * t);
    tract_linalg::multithread::par_chunks_mut(v, 16 * t, x.len() + v.len(), |ch0, chunk| {
        input_channels(g, c, x, ch0, chunk);
        Ok(())
    })
}

/// y = Aᵀ m A (+ bias) for every tile: `m` is `[16, co, T]`, `y` is `[n, co, oh, ow]`; `bias` is
/// empty, one value, or one per output channel. Output planes are split across tract's
/// executor's threads.
pub fn transform_output(
    g: &Geometry,
    co: usize,
    m: &[f32],
    bias: &[f32],
    y: &mut [f32],
) -> TractResult<()> {
    let plane = g.oh * g.ow;
    assert_eq!(y.len(), g.n * co * plane);
    tract_linalg::multithread::par_chunks_mut(y, plane, m.len() + y.len(), |p0, chunk| {
        output_planes(g, co, m, bias, p0, chunk);
        Ok(())
    })
}

/// The input transform of channels `ch0..` (as many as `v` holds: `[k, 16, T]`). Plain loops over
/// contiguous rows that the compiler vectorises; no runtime-dispatched SIMD, whose target-feature
/// calls would need `unsafe` outside the FFI layer.
fn input_channels(g: &Geometry, c: usize, x: &[f32], ch0: usize, v: &mut [f32]) {
    input_impl(g, c, x, ch0, v)
}

/// The output transform of output planes `p0..` (plane `p` = image `p / co`, channel `p % co`).
fn output_planes(g: &Geometry, co: usize, m: &[f32], bias: &[f32], p0: usize, y: &mut [f32]) {
    output_impl(g, co, m, bias, p0, y)
}

/// `out = a - b`, element-wise (equal lengths).
#[inline(always)]
fn sub(out: &mut [f32], a: &[f32], b: &[f32]) {
    for (o, (a, b)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = a - b;
    }
}

/// `out = a + b`, element-wise (equal lengths).
#[inline(always)]
fn add(out: &mut [f32], a: &[f32], b: &[f32]) {
    for (o, (a, b)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = a + b;
    }
}

/// The input transform, in two passes per channel so that every inner loop runs over contiguous
/// memory: first d·B along each padded input row (the columns split into even and odd, so the
/// tiles' 4 columns are `even[tx], odd[tx], even[tx+1], odd[tx+1]`), kept per row parity; then
/// Bᵀ·(d·B) down the rows, where the 4 rows of tile row `ty` are rows `ty` and `ty+1` of the even
/// and odd halves, so each of the 16 outputs is one run over all the channel's tiles.
#[inline(always)]
fn input_impl(g: &Geometry, c: usize, x: &[f32], ch0: usize, v: &mut [f32]) {
    let (th, tw) = g.tiles();
    let t = g.t();
    let ti = th * tw;
    let plane = g.h * g.w;
    assert_eq!(x.len(), g.n * c * plane);
    assert_eq!(v.len() % (16 * t), 0);
    let chunk = v.len() / (16 * t);
    // Half the padded width and height (the padded plane is (2·th + 2) x (2·tw + 2)).
    let (hh, wh) = (th + 1, tw + 1);
    let mut prow = vec![0f32; 2 * wh];
    let mut even = vec![0f32; wh];
    let mut odd = vec![0f32; wh];
    // rt[((j * 2 + parity) * hh + ty) * tw + tx]: d·B column j of padded row 2·ty + parity.
    let mut rt = vec![0f32; 4 * 2 * hh * tw];
    let col0 = g.pad_left.min(prow.len());
    let col1 = (g.pad_left + g.w).min(prow.len());
    for ch in ch0..ch0 + chunk {
        for b in 0..g.n {
            let xin = &x[(b * c + ch) * plane..][..plane];
            for r in 0..2 * hh {
                let (ty, parity) = (r / 2, r % 2);
                let row = |j: usize| ((j * 2 + parity) * hh + ty) * tw;
                let iy = r as isize - g.pad_top as isize;
                if iy < 0 || iy >= g.h as isize {
                    for j in 0..4 {
                        rt[row(j)..][..tw].fill(0.0);
                    }
                    continue;
                }
                let src = &xin[iy as usize * g.w..][..g.w];
                prow.fill(0.0);
                prow[col0..col1].copy_from_slice(&src[..col1 - col0]);
                for ((e, o), pair) in even
                    .iter_mut()
                    .zip(odd.iter_mut())
                    .zip(prow.chunks_exact(2))
                {
                    *e = pair[0];
                    *o = pair[1];
                }
                sub(&mut rt[row(0)..][..tw], &even[..tw], &even[1..]);
                add(&mut rt[row(1)..][..tw], &odd[..tw], &even[1..]);
                sub(&mut rt[row(2)..][..tw], &even[1..], &odd[..tw]);
                sub(&mut rt[row(3)..][..tw], &odd[..tw], &odd[1..]);
            }
            for j in 0..4 {
                let e = &rt[(j * 2) * hh * tw..][..hh * tw];
                let o = &rt[(j * 2 + 1) * hh * tw..][..hh * tw];
                // Rows 0..4 of every tile: e[ty], o[ty], e[ty + 1], o[ty + 1].
                let (d0, d1, d2, d3) = (&e[..ti], &o[..ti], &e[tw..tw + ti], &o[tw..tw + ti]);
                let at = |i: usize| ((ch - ch0) * 16 + i * 4 + j) * t + b * ti;
                sub(&mut v[at(0)..][..ti], d0, d2);
                add(&mut v[at(1)..][..ti], d1, d2);
                sub(&mut v[at(2)..][..ti], d2, d1);
                sub(&mut v[at(3)..][..ti], d1, d3);
            }
        }
    }
}

/// `out = a + b + c + k`, element-wise (equal lengths).
#[inline(always)]
fn sum3(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], k: f32) {
    for (o, ((a, b), c)) in out.iter_mut().zip(a.iter().zip(b).zip(c)) {
        *o = a + b + c + k;
    }
}

/// `out = a - b - c + k`, element-wise (equal lengths).
#[inline(always)]
fn dif3(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], k: f32) {
    for (o, ((a, b), c)) in out.iter_mut().zip(a.iter().zip(b).zip(c)) {
        *o = a - b - c + k;
    }
}

/// The output transform, in contiguous runs over all the tiles of an output channel: Aᵀ·m down
/// the rows (8 runs), ·A along the columns plus the bias (4 runs), then the 4 outputs of every
/// tile are interleaved into the output rows.
#[inline(always)]
fn output_impl(g: &Geometry, co: usize, m: &[f32], bias: &[f32], p0: usize, y: &mut [f32]) {
    let (th, tw) = g.tiles();
    let t = g.t();
    let ti = th * tw;
    let plane = g.oh * g.ow;
    assert_eq!(m.len(), 16 * co * t);
    assert_eq!(y.len() % plane, 0);
    // s[(a * 4 + j) * ti + tile]: row a of Aᵀ·m, column j.
    let mut s = vec![0f32; 8 * ti];
    // ys[(a * 2 + b) * ti + tile]: output (2·ty + a, 2·tx + b) of every tile.
    let mut ys = vec![0f32; 4 * ti];
    for (p, yout) in (p0..).zip(y.chunks_exact_mut(plane)) {
        let (b, o) = (p / co, p % co);
        {
            let bias = match bias.len() {
                0 => 0.0,
                1 => bias[0],
                _ => bias[o],
            };
            let mij = |ij: usize| &m[(ij * co + o) * t + b * ti..][..ti];
            for j in 0..4 {
                let (m0, m1, m2, m3) = (mij(j), mij(4 + j), mij(8 + j), mij(12 + j));
                sum3(&mut s[j * ti..][..ti], m0, m1, m2, 0.0);
                dif3(&mut s[(4 + j) * ti..][..ti], m1, m2, m3, 0.0);
            }
            for a in 0..2 {
                let sj = |j: usize| &s[(a * 4 + j) * ti..][..ti];
                let (left, right) = ys[a * 2 * ti..][..2 * ti].split_at_mut(ti);
                sum3(left, sj(0), sj(1), sj(2), bias);
                dif3(right, sj(1), sj(2), sj(3), bias);
            }
            for (oy, row) in yout.chunks_exact_mut(g.ow).enumerate() {
                let (ty, a) = (oy / 2, oy % 2);
                let left = &ys[(a * 2) * ti + ty * tw..][..tw];
                let right = &ys[(a * 2 + 1) * ti + ty * tw..][..tw];
                for (pair, (l, r)) in row.chunks_exact_mut(2).zip(left.iter().zip(right)) {
                    pair[0] = *l;
                    pair[1] = *r;
                }
                if g.ow % 2 == 1 {
                    row[g.ow - 1] = left[tw - 1];
                }
            }
        }
    }
}

/// The input transform as a tract operator: `[N, C, H, W]` (or `[C, H, W]`) → `[C, 16, T]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WinogradInput {
    pub geometry: Geometry,
    pub channels: usize,
}

impl Op for WinogradInput {
    fn name(&self) -> StaticName {
        "WinogradInput".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let (th, tw) = self.geometry.tiles();
        Ok(vec![format!(
            "F(2x2,3x3) {th}x{tw} tiles, {:?}",
            self.geometry
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for WinogradInput {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let x = x.try_as_plain_ram()?.as_slice::<f32>()?;
        let shape = [self.channels, 16, self.geometry.t()];
        let mut v = Tensor::zero::<f32>(&shape)?;
        {
            let mut view = v.try_as_plain_ram_mut()?;
            transform_input(
                &self.geometry,
                self.channels,
                x,
                view.as_slice_mut::<f32>()?,
            )?;
        }
        Ok(tvec!(v.into_tvalue()))
    }
}

impl TypedOp for WinogradInput {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs[0].datum_type == f32::datum_type());
        ensure!(
            inputs[0].shape.volume()
                == (self.geometry.n * self.channels * self.geometry.h * self.geometry.w).to_dim()
        );
        Ok(tvec!(f32::fact([self.channels, 16, self.geometry.t()])))
    }

    as_op!();
}

/// The output transform as a tract operator: `[16, Co, T]` and a bias (`[]`, `[1]` or `[Co]`) →
/// `[N, Co, H', W']` (or `[Co, H', W']`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WinogradOutput {
    pub geometry: Geometry,
    pub channels: usize,
    /// Whether the output has the batch axis.
    pub has_n: bool,
}

impl WinogradOutput {
    fn shape(&self) -> TVec<usize> {
        let g = &self.geometry;
        if self.has_n {
            tvec![g.n, self.channels, g.oh, g.ow]
        } else {
            tvec![self.channels, g.oh, g.ow]
        }
    }
}

impl Op for WinogradOutput {
    fn name(&self) -> StaticName {
        "WinogradOutput".into()
    }

    op_as_typed_op!();
}

impl EvalOp for WinogradOutput {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (m, bias) = args_2!(inputs);
        let m = m.try_as_plain_ram()?.as_slice::<f32>()?;
        let bias = bias.try_as_plain_ram()?.as_slice::<f32>()?;
        let mut y = Tensor::zero::<f32>(&self.shape())?;
        {
            let mut view = y.try_as_plain_ram_mut()?;
            transform_output(
                &self.geometry,
                self.channels,
                m,
                bias,
                view.as_slice_mut::<f32>()?,
            )?;
        }
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for WinogradOutput {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs[0].datum_type == f32::datum_type());
        ensure!(*inputs[0].shape == *f32::fact([16, self.channels, self.geometry.t()]).shape);
        let b = inputs[1].shape.volume();
        ensure!(b == 1.to_dim() || b == self.channels.to_dim() || b == 0.to_dim());
        Ok(tvec!(f32::fact(self.shape())))
    }

    as_op!();
}

/// What a convolution needs to be rewritten: its geometry, channels and constant weights.
struct Candidate {
    geometry: Geometry,
    cin: usize,
    cout: usize,
    has_n: bool,
    kernel: Arc<Tensor>,
    kernel_fmt: KernelFormat,
}

fn candidate(model: &TypedModel, node: &TypedNode, policy: &Policy) -> Option<Candidate> {
    let conv = node.op_as::<Conv>()?;
    let ps = &conv.pool_spec;
    if conv.q_params.is_some()
        || conv.group != 1
        || ps.kernel_shape.as_slice() != [3, 3]
        || ps.strides().iter().any(|&s| s != 1)
        || ps.dilations().iter().any(|&d| d != 1)
        || node.inputs.len() != 3
    {
        return None;
    }
    let kfact = model.outlet_fact(node.inputs[1]).ok()?;
    let kernel = kfact.konst.clone()?;
    if kernel.datum_type() != f32::datum_type() || !kernel.is_plain_ram() {
        return None;
    }
    let bias = model.outlet_fact(node.inputs[2]).ok()?;
    if bias.konst.is_none() || bias.datum_type != f32::datum_type() {
        return None;
    }
    let window = Window::of(ps, model.outlet_fact(node.inputs[0]).ok()?)?;
    let cin = window.c;
    let cout = conv.output_channels();
    let geometry = Geometry {
        n: window.n,
        h: window.h,
        w: window.w,
        pad_top: window.pad_top,
        pad_left: window.pad_left,
        oh: window.oh,
        ow: window.ow,
    };
    let (th, tw) = geometry.tiles();
    if th * tw < policy.min_tiles || cin * cout < policy.min_channels_product {
        return None;
    }
    let bias_len = bias.shape.volume().to_usize().ok()?;
    if bias_len != 1 && bias_len != cout {
        return None;
    }
    Some(Candidate {
        geometry,
        cin,
        cout,
        has_n: window.has_n,
        kernel,
        kernel_fmt: conv.kernel_fmt,
    })
}

/// Replace the eligible convolutions of a decluttered `model` by their Winograd form; returns how
/// many were replaced.
pub fn rewrite(model: &mut TypedModel, policy: &Policy) -> TractResult<usize> {
    super::optimise::replace_nodes(
        model,
        "winograd",
        |model, node| candidate(model, node, policy),
        |patch, name, taps, c| {
            let k = c.kernel.try_as_plain_ram()?.as_slice::<f32>()?;
            let (cin, cout) = (c.cin, c.cout);
            let u = match c.kernel_fmt {
                KernelFormat::OIHW => {
                    transform_kernel(cout, cin, |o, i, y, x| k[((o * cin + i) * 3 + y) * 3 + x])
                }
                KernelFormat::HWIO => transform_kernel(cout, cin, |o, i, y, x| {
                    k[((y * 3 + x) * cin + i) * cout + o]
                }),
                KernelFormat::OHWI => {
                    transform_kernel(cout, cin, |o, i, y, x| k[((o * 3 + y) * 3 + x) * cin + i])
                }
            };
            let v = patch.wire_node(
                format!("{name}.winograd_in"),
                WinogradInput {
                    geometry: c.geometry,
                    channels: cin,
                },
                &[taps[0]],
            )?[0];
            let u = Tensor::from_shape(&[16, cout, cin], &u)?;
            #[cfg(target_arch = "x86_64")]
            let m = patch.wire_node(
                format!("{name}.winograd_gemm"),
                super::gemm::WinogradGemm {
                    u: Arc::new(u),
                    cout,
                    cin,
                    tiles: c.geometry.t(),
                },
                &[v],
            )?[0];
            #[cfg(not(target_arch = "x86_64"))]
            let m = {
                let u = patch.add_const(format!("{name}.winograd_u"), u)?;
                patch.wire_node(
                    format!("{name}.winograd_gemm"),
                    tract_core::ops::einsum::EinSum::new(
                        "gmk,kgn->gmn".parse()?,
                        f32::datum_type(),
                    ),
                    &[u, v],
                )?[0]
            };
            Ok(patch.wire_node(
                format!("{name}.winograd_out"),
                WinogradOutput {
                    geometry: c.geometry,
                    channels: cout,
                    has_n: c.has_n,
                },
                &[m, taps[2]],
            )?[0])
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_core::ops::cnn::{PaddingSpec, PoolSpec};
    use tract_core::ops::nn::DataFormat;

    use super::super::testing::{run, Rng};

    /// A one-conv model: x [n, cin, h, w] → Conv 3x3 stride 1 (explicit padding) with bias.
    fn conv_model(
        n: usize,
        cin: usize,
        cout: usize,
        h: usize,
        w: usize,
        pad: [usize; 2],
        rng: &mut Rng,
    ) -> TypedModel {
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([n, cin, h, w])).unwrap();
        let k = model
            .add_const(
                "k",
                Tensor::from_shape(&[cout, cin, 3, 3], &rng.vec(cout * cin * 9)).unwrap(),
            )
            .unwrap();
        let b = model
            .add_const("b", Tensor::from_shape(&[cout], &rng.vec(cout)).unwrap())
            .unwrap();
        let pool_spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![3, 3],
            padding: PaddingSpec::Explicit(tvec![pad[0], pad[1]], tvec![pad[0], pad[1]]),
            dilations: None,
            strides: None,
            input_channels: cin,
            output_channels: cout,
        };
        let op = Conv {
            pool_spec,
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let y = model.wire_node("conv", op, &[x, k, b]).unwrap()[0];
        model.select_output_outlets(&[y]).unwrap();
        model
    }

    fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.shape(), b.shape());
        let a = a.try_as_plain_ram().unwrap();
        let b = b.try_as_plain_ram().unwrap();
        let (a, b) = (a.as_slice::<f32>().unwrap(), b.as_slice::<f32>().unwrap());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Winograd against tract's own convolution, both optimised, on odd and even sizes, padding
    /// 0 and 1, few and many channels, batch 1 and 2.
    #[test]
    fn matches_tract_conv() {
        check_against_tract_conv(1);
    }

    /// The same with the transforms split across two threads.
    #[cfg(feature = "multithread")]
    #[test]
    fn matches_tract_conv_two_threads() {
        check_against_tract_conv(2);
    }

    fn check_against_tract_conv(threads: usize) {
        let mut rng = Rng(0x9e3779b97f4a7c15);
        let cases = [
            // n, cin, cout, h, w, pad
            (1, 1, 1, 3, 3, [0, 0]),
            (1, 1, 1, 1, 1, [1, 1]),
            (1, 3, 5, 7, 7, [1, 1]),
            (1, 4, 6, 8, 5, [1, 1]),
            (1, 5, 4, 9, 6, [0, 0]),
            (1, 2, 3, 4, 11, [0, 1]),
            (2, 3, 2, 5, 5, [1, 0]),
            (1, 64, 64, 14, 14, [1, 1]),
            (1, 130, 70, 9, 13, [1, 1]),
            (1, 256, 256, 7, 7, [1, 1]),
        ];
        for (n, cin, cout, h, w, pad) in cases {
            let model = conv_model(n, cin, cout, h, w, pad, &mut rng);
            let input = Tensor::from_shape(&[n, cin, h, w], &rng.vec(n * cin * h * w)).unwrap();
            let reference = run(model.clone().into_optimized().unwrap(), &input, threads);
            let mut wino = model.into_decluttered().unwrap();
            let replaced = rewrite(&mut wino, &Policy::all()).unwrap();
            assert_eq!(replaced, 1, "case {:?}", (n, cin, cout, h, w, pad));
            wino.optimize().unwrap();
            let got = run(wino, &input, threads);
            let diff = max_abs_diff(&reference, &got);
            // Sums of 9·cin products of values in [-1, 1): f32 rounding grows with sqrt(terms).
            let tol = 2e-6 * (9.0 * cin as f32).sqrt() * 4.0;
            assert!(
                diff <= tol,
                "case {:?}: max abs diff {diff} > {tol}",
                (n, cin, cout, h, w, pad)
            );
        }
    }

    #[test]
    fn leaves_other_convs_alone() {
        let mut rng = Rng(7);
        let mut model = TypedModel::default();
        let x = model.add_source("x", f32::fact([1, 4, 9, 9])).unwrap();
        let k = model
            .add_const(
                "k",
                Tensor::from_shape(&[4, 4, 3, 3], &rng.vec(144)).unwrap(),
            )
            .unwrap();
        let b = model.add_const("b", tensor0(0f32)).unwrap();
        let pool_spec = PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec![3, 3],
            padding: PaddingSpec::Explicit(tvec![1, 1], tvec![1, 1]),
            dilations: None,
            strides: Some(tvec![2, 2]),
            input_channels: 4,
            output_channels: 4,
        };
        let op = Conv {
            pool_spec,
            kernel_fmt: KernelFormat::OIHW,
            group: 1,
            q_params: None,
        };
        let y = model.wire_node("conv", op, &[x, k, b]).unwrap()[0];
        model.select_output_outlets(&[y]).unwrap();
        let mut model = model.into_decluttered().unwrap();
        assert_eq!(rewrite(&mut model, &Policy::all()).unwrap(), 0);
    }

    /// Which of ResNet's output sizes each policy rewrites: lean takes 56x56 and 28x28 (784 and
    /// 196 tiles) but not 14x14 (49) or 7x7 (16); fast adds 14x14.
    #[test]
    fn policies_pick_resnet_output_sizes() {
        let mut rng = Rng(11);
        for (side, lean, fast) in [(56, 1, 1), (28, 1, 1), (14, 0, 1), (7, 0, 0)] {
            for (policy, want) in [(Policy::lean(), lean), (Policy::fast(), fast)] {
                let model = conv_model(1, 2, 2, side, side, [1, 1], &mut rng);
                let mut model = model.into_decluttered().unwrap();
                assert_eq!(
                    rewrite(&mut model, &policy).unwrap(),
                    want,
                    "{side}x{side} with {policy:?}"
                );
            }
        }
    }
}
