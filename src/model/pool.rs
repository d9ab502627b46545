//! Max pooling over NCHW planes, split among tract's executor's threads by channel. tract
//! 0.23.9's `OptMaxPool` walks each output's window on one thread: ResNet's stem pool (3x3,
//! stride 2, 64 x 112 x 112 in) took 3.7 ms of a 60-70 ms ResNet-18 inference, 1.7 ms here on
//! one thread (AVX-512 host). Each output row is the element-wise maximum of its window's input
//! rows (a vectorised pass), then the maximum of each window's columns of that row, tap by tap.
//!
//! Padding is not a value: a window takes the maximum of its positions inside the image, and a
//! window with none (or only NaN) gives `f32::MIN`, as tract's does.

use super::window::Window;
use tract_core::internal::*;
use tract_core::ops::cnn::MaxPool;

/// The input positions `[lo, hi)` of output position `o` on an axis of `len` positions.
fn bounds(o: usize, stride: usize, pad: usize, k: usize, len: usize) -> (usize, usize) {
    let start = o * stride;
    (
        start.saturating_sub(pad).min(len),
        (start + k).saturating_sub(pad).min(len),
    )
}

/// One plane of `g`: `x` is `h * w`, `y` is `oh * ow`, `row` a scratch row of `w`.
fn plane(g: &Window, x: &[f32], y: &mut [f32], row: &mut [f32]) {
    for (oy, out) in y.chunks_mut(g.ow).enumerate() {
        let (y0, y1) = bounds(oy, g.sh, g.pad_top, g.kh, g.h);
        if y0 >= y1 {
            out.fill(f32::MIN);
            continue;
        }
        row.fill(f32::MIN);
        for iy in y0..y1 {
            for (m, v) in row.iter_mut().zip(&x[iy * g.w..(iy + 1) * g.w]) {
                *m = bigger(*m, *v);
            }
        }
        // Windows wholly inside the row: tap by tap, a strided pass each (no per-output
        // window arithmetic); the few at the edges window by window.
        let a = g.pad_left.div_ceil(g.sw).min(g.ow);
        let b = if g.w + g.pad_left >= g.kw {
            ((g.w + g.pad_left - g.kw) / g.sw + 1).clamp(a, g.ow)
        } else {
            a
        };
        for ox in (0..a).chain(b..g.ow) {
            let (x0, x1) = bounds(ox, g.sw, g.pad_left, g.kw, g.w);
            out[ox] = row[x0..x1].iter().fold(f32::MIN, |m, v| bigger(m, *v));
        }
        if a < b {
            let inner = &mut out[a..b];
            inner.fill(f32::MIN);
            for kx in 0..g.kw {
                let first = a * g.sw + kx - g.pad_left;
                for (o, v) in inner.iter_mut().zip(row[first..].iter().step_by(g.sw)) {
                    *o = bigger(*o, *v);
                }
            }
        }
    }
}

/// `v` if it is above `m`, else `m` (so a NaN `v` is skipped): one `maxps` on x86, where
/// `f32::max`'s NaN rules cost a compare and a blend more.
#[inline(always)]
fn bigger(m: f32, v: f32) -> f32 {
    if v > m {
        v
    } else {
        m
    }
}

/// Max pooling `[N, C, H, W]` (or `[C, H, W]`) → `[N, C, OH, OW]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PlaneMaxPool {
    pub geometry: Window,
}

impl Op for PlaneMaxPool {
    fn name(&self) -> StaticName {
        "PlaneMaxPool".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.geometry;
        Ok(vec![format!(
            "{}x{} stride {}x{}, pad {}x{}",
            g.kh, g.kw, g.sh, g.sw, g.pad_top, g.pad_left
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for PlaneMaxPool {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let x = x.try_as_plain_ram()?.as_slice::<f32>()?;
        let g = self.geometry;
        let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
        ensure!(x.len() == g.input_len());
        let mut y = Tensor::zero::<f32>(&g.output_shape(g.c))?;
        {
            let mut view = y.try_as_plain_ram_mut()?;
            let y = view.as_slice_mut::<f32>()?;
            tract_linalg::multithread::par_chunks_mut(y, plane_out, x.len(), |p0, planes| {
                let mut row = vec![0f32; g.w];
                for (i, out) in planes.chunks_mut(plane_out).enumerate() {
                    let p = p0 + i;
                    plane(&g, &x[p * plane_in..(p + 1) * plane_in], out, &mut row);
                }
                Ok(())
            })?;
        }
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for PlaneMaxPool {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = &self.geometry;
        ensure!(inputs[0].datum_type == f32::datum_type());
        ensure!(inputs[0].shape.volume() == g.input_len().to_dim());
        Ok(tvec!(f32::fact(g.output_shape(g.c))))
    }

    as_op!();
}

fn candidate(model: &TypedModel, node: &TypedNode) -> Option<Window> {
    let pool = node.op_as::<MaxPool>()?;
    let ps = &pool.pool_spec;
    if pool.with_index_outputs.is_some() || ps.dilations().iter().any(|&d| d != 1) {
        return None;
    }
    let x = model.outlet_fact(node.inputs[0]).ok()?;
    let g = Window::of(ps, x)?;
    // tract's own output shape must be what this geometry computes.
    let facts = pool.output_facts(&[x]).ok()?;
    (facts[0].shape.as_concrete()? == g.output_shape(g.c).as_slice()).then_some(g)
}

/// Replace the eligible max pools of a decluttered `model`; returns how many were replaced.
pub fn rewrite(model: &mut TypedModel) -> TractResult<usize> {
    super::optimise::replace_nodes(
        model,
        "plane max pool",
        candidate,
        |patch, name, taps, geometry| {
            Ok(patch.wire_node(
                format!("{name}.plane_max"),
                PlaneMaxPool { geometry },
                &[taps[0]],
            )?[0])
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_core::ops::cnn::{PaddingSpec, PoolSpec};
    use tract_core::ops::nn::DataFormat;

    struct Case {
        n: usize,
        c: usize,
        hw: [usize; 2],
        k: [usize; 2],
        s: [usize; 2],
        /// top, left, bottom, right
        pad: [usize; 4],
    }

    impl Case {
        fn out(&self) -> [usize; 2] {
            [
                (self.hw[0] + self.pad[0] + self.pad[2] - self.k[0]) / self.s[0] + 1,
                (self.hw[1] + self.pad[1] + self.pad[3] - self.k[1]) / self.s[1] + 1,
            ]
        }

        /// The textbook max pool: the reference.
        fn textbook(&self, x: &[f32]) -> Vec<f32> {
            let (hw, out) = (self.hw, self.out());
            let mut y = Vec::new();
            for p in 0..self.n * self.c {
                for oy in 0..out[0] {
                    for ox in 0..out[1] {
                        let mut m = f32::MIN;
                        for ky in 0..self.k[0] {
                            for kx in 0..self.k[1] {
                                let iy = (oy * self.s[0] + ky) as isize - self.pad[0] as isize;
                                let ix = (ox * self.s[1] + kx) as isize - self.pad[1] as isize;
                                if iy >= 0
                                    && ix >= 0
                                    && (iy as usize) < hw[0]
                                    && (ix as usize) < hw[1]
                                {
                                    let v = x[(p * hw[0] + iy as usize) * hw[1] + ix as usize];
                                    if v > m {
                                        m = v;
                                    }
                                }
                            }
                        }
                        y.push(m);
                    }
                }
            }
            y
        }
    }

    fn check(threads: usize) {
        #[rustfmt::skip]
        let cases = [
            Case { n: 1, c: 64, hw: [112, 112], k: [3, 3], s: [2, 2], pad: [1, 1, 1, 1] },
            Case { n: 1, c: 3, hw: [7, 9], k: [2, 2], s: [2, 2], pad: [0, 0, 0, 0] },
            Case { n: 2, c: 5, hw: [6, 6], k: [3, 3], s: [1, 1], pad: [1, 1, 1, 1] },
            Case { n: 1, c: 2, hw: [5, 8], k: [3, 2], s: [2, 3], pad: [2, 0, 1, 1] },
            Case { n: 1, c: 1, hw: [1, 1], k: [3, 3], s: [1, 1], pad: [1, 1, 1, 1] },
            Case { n: 1, c: 4, hw: [11, 10], k: [5, 5], s: [3, 3], pad: [2, 2, 2, 2] },
            Case { n: 1, c: 3, hw: [9, 9], k: [1, 1], s: [2, 2], pad: [0, 0, 0, 0] },
        ];
        let mut seed = 0x853c49e6748fea9bu64;
        for case in cases {
            let Case {
                n,
                c,
                hw,
                k,
                s,
                pad,
            } = case;
            let x: Vec<f32> = (0..n * c * hw[0] * hw[1])
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    // A NaN now and then: skipped by both, as tract does.
                    if i % 97 == 5 {
                        f32::NAN
                    } else {
                        (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    }
                })
                .collect();
            let mut model = TypedModel::default();
            let xs = model
                .add_source("x", f32::fact([n, c, hw[0], hw[1]]))
                .unwrap();
            let op = MaxPool {
                pool_spec: PoolSpec {
                    data_format: DataFormat::NCHW,
                    kernel_shape: tvec![k[0], k[1]],
                    padding: PaddingSpec::Explicit(tvec![pad[0], pad[1]], tvec![pad[2], pad[3]]),
                    dilations: None,
                    strides: Some(tvec![s[0], s[1]]),
                    input_channels: c,
                    output_channels: c,
                },
                with_index_outputs: None,
            };
            let y = model.wire_node("pool", op, &[xs]).unwrap()[0];
            model.select_output_outlets(&[y]).unwrap();
            let mut model = model.into_decluttered().unwrap();
            assert_eq!(rewrite(&mut model).unwrap(), 1, "{hw:?} {k:?} {s:?}");
            model.optimize().unwrap();
            let input = Tensor::from_shape(&[n, c, hw[0], hw[1]], &x).unwrap();
            let got = super::super::testing::run(model, &input, threads);
            let out = case.out();
            assert_eq!(
                got.shape(),
                &[n, c, out[0], out[1]],
                "{hw:?} {k:?} {s:?} {pad:?}"
            );
            let got = got.try_as_plain_ram().unwrap();
            assert_eq!(
                got.as_slice::<f32>().unwrap(),
                case.textbook(&x).as_slice(),
                "{hw:?} {k:?} {s:?} {pad:?}"
            );
        }
    }

    #[test]
    fn matches_the_textbook_max_pool() {
        check(1);
    }

    #[cfg(feature = "multithread")]
    #[test]
    fn matches_the_textbook_max_pool_on_two_threads() {
        check(2);
    }
}
