//! The model input: NCHW float32 with raw 0..255 values (no mean/std: the network's `bn_data`
//! normalises), batch 1.

use crate::error::{invalid_argument, Result};

/// Write interleaved `height` x `width` x `channels` u8 pixels into `out` as planar (CHW) f32.
pub fn hwc_to_chw(
    pixels: &[u8],
    height: usize,
    width: usize,
    channels: usize,
    out: &mut [f32],
) -> Result<()> {
    let plane = height
        .checked_mul(width)
        .ok_or_else(|| invalid_argument("tensor: height x width overflows"))?;
    let len = plane
        .checked_mul(channels)
        .ok_or_else(|| invalid_argument("tensor: size overflows"))?;
    if pixels.len() != len || out.len() != len {
        return Err(invalid_argument(format!(
            "tensor: {height}x{width}x{channels} needs {len} values; got {} pixel bytes and an \
             output of {} floats",
            pixels.len(),
            out.len()
        )));
    }
    if channels == 1 {
        for (o, &p) in out.iter_mut().zip(pixels) {
            *o = f32::from(p);
        }
        return Ok(());
    }
    for (c, out_plane) in out.chunks_exact_mut(plane).enumerate() {
        for (o, px) in out_plane.iter_mut().zip(pixels.chunks_exact(channels)) {
            *o = f32::from(px[c]);
        }
    }
    Ok(())
}
