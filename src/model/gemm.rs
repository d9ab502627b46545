//! Single-precision matrix products through the `gemm-f32` crate (faer's GEMM, candle's too):
//! its AVX-512 and AVX2/FMA kernels with cache blocking run ResNet's Winograd and thin shapes
//! 1.3x to 2.5x faster than tract 0.23.9's, packing as they go (measured in issue 20's note).
//! Safe over slices: the bounds every stride reaches are checked before the one `unsafe` call.
//! Also the operator that runs a Winograd convolution's 16 products on it ([`WinogradGemm`]).

use tract_core::internal::*;

/// A row-major matrix in a slice: `rows` x `cols`, row `r` starting at `offset + r * row_stride`,
/// its columns contiguous.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub offset: usize,
    pub row_stride: usize,
}

impl Layout {
    /// A dense `rows` x `cols` matrix at `offset`.
    pub fn dense(rows: usize, cols: usize, offset: usize) -> Layout {
        Layout {
            rows,
            cols,
            offset,
            row_stride: cols,
        }
    }

    /// Whether every element lies inside a slice of `len` values.
    fn fits(&self, len: usize) -> bool {
        if self.rows == 0 || self.cols == 0 {
            return self.offset <= len;
        }
        (self.rows - 1)
            .checked_mul(self.row_stride)
            .and_then(|x| x.checked_add(self.offset))
            .and_then(|x| x.checked_add(self.cols))
            .is_some_and(|end| end <= len)
            && self.row_stride >= self.cols
            && isize::try_from(self.row_stride).is_ok()
    }
}

/// `c = a · b` (`c` overwritten), on the calling thread.
pub fn matmul(
    c: &mut [f32],
    cl: Layout,
    a: &[f32],
    al: Layout,
    b: &[f32],
    bl: Layout,
) -> TractResult<()> {
    product(c, cl, a, al, b, bl, false)
}

/// `c += a · b`, on the calling thread (a bias already in `c` costs no pass of its own).
pub fn matmul_add(
    c: &mut [f32],
    cl: Layout,
    a: &[f32],
    al: Layout,
    b: &[f32],
    bl: Layout,
) -> TractResult<()> {
    product(c, cl, a, al, b, bl, true)
}

fn product(
    c: &mut [f32],
    cl: Layout,
    a: &[f32],
    al: Layout,
    b: &[f32],
    bl: Layout,
    add: bool,
) -> TractResult<()> {
    ensure!(
        al.rows == cl.rows && bl.cols == cl.cols && al.cols == bl.rows,
        "matmul shapes: {al:?} x {bl:?} -> {cl:?}"
    );
    ensure!(
        cl.fits(c.len()) && al.fits(a.len()) && bl.fits(b.len()),
        "matmul out of bounds"
    );
    if cl.rows == 0 || cl.cols == 0 {
        return Ok(());
    }
    if al.cols == 0 {
        if add {
            return Ok(());
        }
        for r in 0..cl.rows {
            let row = cl.offset + r * cl.row_stride;
            c[row..row + cl.cols].fill(0.0);
        }
        return Ok(());
    }
    // gemm's kernels want a column-major destination: c is row-major, so compute cᵀ = bᵀ · aᵀ,
    // which reads the same memory as column-major matrices (what the `gemm` facade does).
    // SAFETY: every element each matrix's layout reaches lies inside its slice (checked above:
    // offset + (rows - 1) * row_stride + cols <= len, strides fit isize); `c` is borrowed
    // mutably, so it overlaps neither `a` nor `b`; the destination is read (add) and written only
    // inside its layout. The transposed operands address exactly the elements of the layouts
    // checked.
    #[allow(unsafe_code)]
    unsafe {
        gemm_f32::gemm::f32::get_gemm_fn()(
            cl.cols,
            cl.rows,
            al.cols,
            c.as_mut_ptr().add(cl.offset),
            cl.row_stride as isize,
            1,
            add,
            b.as_ptr().add(bl.offset),
            bl.row_stride as isize,
            1,
            a.as_ptr().add(al.offset),
            al.row_stride as isize,
            1,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm_common::Parallelism::None,
        );
    }
    Ok(())
}

/// The 16 products of a Winograd convolution, `M[g] = U[g] · V[:, g, :]`: `V [C, 16, T]` →
/// `M [16, Co, T]`, with `U [16, Co, C]` held by the operator. The products are split among
/// tract's executor's threads (each on one thread: 16 independent products balance better and
/// synchronise less than each split in parts).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WinogradGemm {
    pub u: Arc<Tensor>,
    pub cout: usize,
    pub cin: usize,
    pub tiles: usize,
}

impl Op for WinogradGemm {
    fn name(&self) -> StaticName {
        "WinogradGemm".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "16 x ({}x{} . {}x{})",
            self.cout, self.cin, self.cin, self.tiles
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for WinogradGemm {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let v = args_1!(inputs);
        let v = v.try_as_plain_ram()?.as_slice::<f32>()?;
        let u = self.u.try_as_plain_ram()?.as_slice::<f32>()?;
        let (co, c, t) = (self.cout, self.cin, self.tiles);
        ensure!(v.len() == c * 16 * t && u.len() == 16 * co * c);
        let mut m = Tensor::zero::<f32>(&[16, co, t])?;
        {
            let mut view = m.try_as_plain_ram_mut()?;
            let out = view.as_slice_mut::<f32>()?;
            // Rows of the split: one product each; the work is the multiply-adds.
            tract_linalg::multithread::par_chunks_mut(
                out,
                co * t,
                16 * co * c * t,
                |g0, chunk| {
                    for i in 0..chunk.len() / (co * t) {
                        let g = g0 + i;
                        matmul(
                            chunk,
                            Layout::dense(co, t, i * co * t),
                            u,
                            Layout::dense(co, c, g * co * c),
                            v,
                            Layout {
                                rows: c,
                                cols: t,
                                offset: g * t,
                                row_stride: 16 * t,
                            },
                        )?;
                    }
                    Ok(())
                },
            )?;
        }
        Ok(tvec!(m.into_tvalue()))
    }
}

impl TypedOp for WinogradGemm {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs[0].datum_type == f32::datum_type());
        ensure!(*inputs[0].shape == *f32::fact([self.cin, 16, self.tiles]).shape);
        Ok(tvec!(f32::fact([16, self.cout, self.tiles])))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the textbook triple loop, on shapes that cross the kernels' tile sizes, with
    /// strided operands.
    #[test]
    fn matches_the_triple_loop() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 7),
            (17, 33, 13),
            (64, 64, 49),
            (40, 3, 100),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 4.0)
                .collect();
            // b is the second half of each row of a wider matrix.
            let b: Vec<f32> = (0..k * 2 * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
                .collect();
            let mut c = vec![f32::NAN; m * n];
            matmul(
                &mut c,
                Layout::dense(m, n, 0),
                &a,
                Layout::dense(m, k, 0),
                &b,
                Layout {
                    rows: k,
                    cols: n,
                    offset: n,
                    row_stride: 2 * n,
                },
            )
            .unwrap();
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|x| a[i * k + x] as f64 * b[x * 2 * n + n + j] as f64)
                        .sum();
                    let got = c[i * n + j] as f64;
                    assert!(
                        (got - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{m}x{k}x{n} [{i},{j}]: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_layouts_outside_their_slices() {
        let mut c = vec![0.0; 4];
        let a = vec![0.0; 4];
        let b = vec![0.0; 3];
        let err = matmul(
            &mut c,
            Layout::dense(2, 2, 0),
            &a,
            Layout::dense(2, 2, 0),
            &b,
            Layout::dense(2, 2, 0),
        );
        assert!(err.is_err());
    }
}
