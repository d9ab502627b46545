//! The sliding-window geometry of a 2-D convolution or pool over NCHW (or CHW) f32 data of a
//! concrete shape, read once from tract's `PoolSpec` and the input's fact: what the operators of
//! our own (`winograd`, `conv`, `pool`) compute with.

use tract_core::internal::*;
use tract_core::ops::cnn::PoolSpec;
use tract_core::ops::nn::DataFormat;

/// Input, kernel, strides, dilations, leading padding and output of one 2-D window operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// Images (1 when the data has no batch axis).
    pub n: usize,
    /// Input channels.
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub oh: usize,
    pub ow: usize,
    /// Whether the input and output have the batch axis.
    pub has_n: bool,
}

impl Window {
    /// The window `ps` slides over `x`: `None` unless the kernel is 2-D and not empty, the
    /// strides are not 0, the data is f32 NCHW or CHW of a concrete shape, and the output is not
    /// empty.
    pub fn of(ps: &PoolSpec, x: &TypedFact) -> Option<Window> {
        if ps.kernel_shape.len() != 2
            || !matches!(ps.data_format, DataFormat::NCHW | DataFormat::CHW)
            || x.datum_type != f32::datum_type()
        {
            return None;
        }
        let xshape: TVec<usize> = x.shape.as_concrete()?.iter().copied().collect();
        let shape = ps.data_format.shape(xshape).ok()?;
        let (h, w) = (shape.hw_dims()[0], shape.hw_dims()[1]);
        let (kh, kw) = (ps.kernel_shape[0], ps.kernel_shape[1]);
        let strides = ps.strides();
        let dilations = ps.dilations();
        if kh == 0 || kw == 0 || strides.contains(&0) {
            return None;
        }
        let padded = ps.padding.compute(&[h, w], &[kh, kw], &dilations, &strides);
        let window = Window {
            n: shape.n().copied().unwrap_or(1),
            c: *shape.c(),
            h,
            w,
            kh,
            kw,
            sh: strides[0],
            sw: strides[1],
            dh: dilations[0],
            dw: dilations[1],
            pad_top: padded[0].pad_before,
            pad_left: padded[1].pad_before,
            oh: padded[0].convoluted,
            ow: padded[1].convoluted,
            has_n: shape.n().is_some(),
        };
        (window.oh > 0 && window.ow > 0).then_some(window)
    }

    /// Values of the whole input.
    pub fn input_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }

    /// The output's shape with `channels` channels, with the batch axis when the input has it.
    pub fn output_shape(&self, channels: usize) -> TVec<usize> {
        if self.has_n {
            tvec![self.n, channels, self.oh, self.ow]
        } else {
            tvec![channels, self.oh, self.ow]
        }
    }
}
