//! PNG: our own IHDR/chunk walk (sizes, colour type, eXIf) and pixel decoding with the `png`
//! crate, converted the way OpenCV's `imdecode` (libpng) does: palette expanded with tRNS ignored,
//! alpha dropped without compositing, 16-bit samples reduced with `v >> 8`, gray replicated.

use std::io::Cursor;

use super::ColorMode;
use crate::error::{corrupt_image, unsupported_image_feature, Result};

/// What the header chunks say.
#[derive(Clone, Debug)]
pub struct PngHeader {
    pub width: u32,
    pub height: u32,
    pub bit_depth: u8,
    /// PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
    pub color_type: u8,
    pub interlaced: bool,
    pub has_trns: bool,
    /// A gAMA chunk is present (only matters for the gray conversion, see `decode`).
    pub has_gama: bool,
    /// Byte range of the first eXIf chunk's data, if any.
    pub exif: Option<(usize, usize)>,
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parse IHDR and walk the chunk list (lengths only; CRCs are checked by the decode). A chunk
/// list that runs off the end stops the walk: the decode reports it.
pub fn parse_header(bytes: &[u8]) -> Result<PngHeader> {
    // 8-byte signature, then IHDR: length 13, "IHDR", 13 bytes of data, CRC.
    if bytes.get(12..16) != Some(b"IHDR") || be32(bytes, 8) != Some(13) {
        return Err(corrupt_image("PNG: the first chunk is not a 13-byte IHDR"));
    }
    let ihdr = bytes
        .get(16..29)
        .ok_or_else(|| corrupt_image("PNG: data ends inside IHDR"))?;
    let width = be32(ihdr, 0).unwrap_or(0);
    let height = be32(ihdr, 4).unwrap_or(0);
    let (bit_depth, color_type, compression, filter, interlace) =
        (ihdr[8], ihdr[9], ihdr[10], ihdr[11], ihdr[12]);
    if width == 0 || height == 0 || width > 0x7fff_ffff || height > 0x7fff_ffff {
        return Err(corrupt_image(format!(
            "PNG: IHDR declares an invalid size {width}x{height}"
        )));
    }
    let depth_ok = match color_type {
        0 => matches!(bit_depth, 1 | 2 | 4 | 8 | 16),
        3 => matches!(bit_depth, 1 | 2 | 4 | 8),
        2 | 4 | 6 => matches!(bit_depth, 8 | 16),
        _ => false,
    };
    if !depth_ok {
        return Err(corrupt_image(format!(
            "PNG: invalid colour type {color_type} with bit depth {bit_depth}"
        )));
    }
    if compression != 0 || filter != 0 || interlace > 1 {
        return Err(unsupported_image_feature(format!(
            "PNG: unknown compression {compression}, filter {filter} or interlace {interlace} method"
        )));
    }
    let mut header = PngHeader {
        width,
        height,
        bit_depth,
        color_type,
        interlaced: interlace == 1,
        has_trns: false,
        has_gama: false,
        exif: None,
    };
    let mut pos = 8usize;
    while let (Some(len), Some(kind)) = (be32(bytes, pos), bytes.get(pos + 4..pos + 8)) {
        // The `png` crate (0.18.1) panics expanding a palette whose length is not a multiple of 3
        // (its PLTE check is 3..=768 bytes only); the standard calls such a chunk an error.
        if kind == b"PLTE" && (len == 0 || len % 3 != 0 || len > 768) {
            return Err(corrupt_image(format!(
                "PNG: PLTE chunk of {len} bytes (it must hold 1 to 256 RGB entries, a multiple of 3 bytes)"
            )));
        }
        let start = pos + 8;
        let Some(end) = start
            .checked_add(len as usize)
            .filter(|&e| e <= bytes.len())
        else {
            break;
        };
        match kind {
            b"tRNS" => header.has_trns = true,
            b"gAMA" => header.has_gama = true,
            b"eXIf" if header.exif.is_none() => header.exif = Some((start, end)),
            b"IEND" => break,
            _ => {}
        }
        pos = end + 4;
    }
    Ok(header)
}

/// Samples per pixel after the `png` crate's EXPAND (palette -> RGB, tRNS -> alpha).
fn expanded_samples(h: &PngHeader) -> usize {
    match (h.color_type, h.has_trns) {
        (0, false) => 1,
        (0, true) | (4, _) => 2,
        (2, false) | (3, false) => 3,
        _ => 4,
    }
}

/// Bytes of the decode buffer: the decoder's output (samples x 1 or 2 bytes), and at least the
/// converted image, which is built in place in the same buffer.
pub fn decode_buffer_bytes(h: &PngHeader, mode: ColorMode) -> usize {
    // Saturating: see `jpeg::decode_buffer_bytes`.
    let pixels = (h.width as usize).saturating_mul(h.height as usize);
    let sample_bytes = if h.bit_depth == 16 { 2 } else { 1 };
    let raw = pixels.saturating_mul(expanded_samples(h) * sample_bytes);
    raw.max(pixels.saturating_mul(mode.channels()))
}

/// An estimate of what the `png` crate allocates itself: its unfiltering buffer (up to 128 raw
/// rows plus growth), a row for the transform, and the zlib state.
pub fn decoder_scratch_bytes(h: &PngHeader) -> usize {
    let sample_bytes = if h.bit_depth == 16 { 2 } else { 1 };
    let row = (h.width as usize).saturating_mul(expanded_samples(h) * sample_bytes) + 1;
    row.saturating_mul(h.height.min(128) as usize + 4)
        .saturating_add(128 * 1024)
}

/// Decode into `buf` as `mode` (interleaved RGB or gray, as stored, before orientation).
/// Returns the bytes written (`width * height * channels`).
///
/// Gray mode follows libpng's `png_set_rgb_to_gray(1, 0.299, 0.587)` as OpenCV uses it:
/// 8-bit `(9797 R + 19234 G + 3737 B) >> 15`, 16-bit `((...) + 16384) >> 15` then `>> 8`.
/// For files with a gAMA chunk libpng goes through its gamma tables instead; we do not model
/// that and apply the same formula, ignoring gAMA (the colour path ignores gAMA too, like OpenCV).
pub fn decode(
    bytes: &[u8],
    header: &PngHeader,
    mode: ColorMode,
    buf: &mut Vec<u8>,
) -> Result<usize> {
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: 64 << 20 });
    // EXPAND: palette -> RGB(A), low bit depths -> 8 bits (scaled like libpng), tRNS -> alpha.
    // 16-bit samples are kept so the gray conversion can use them, as libpng does.
    decoder.set_transformations(png::Transformations::EXPAND);
    decoder.set_ignore_text_chunk(true);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let (color, depth) = reader.output_color_type();
    let samples = color.samples();
    let sample_bytes = match depth {
        png::BitDepth::Eight => 1,
        png::BitDepth::Sixteen => 2,
        other => {
            return Err(corrupt_image(format!(
                "PNG: unexpected output depth {other:?} after expansion"
            )))
        }
    };
    let pixels = header.width as usize * header.height as usize;
    let raw_len = pixels * samples * sample_bytes;
    let need = raw_len.max(pixels * mode.channels());
    if reader.output_buffer_size() != Some(raw_len) || need != decode_buffer_bytes(header, mode) {
        return Err(corrupt_image(format!(
            "PNG: decoder output size {:?} disagrees with the header ({raw_len} bytes)",
            reader.output_buffer_size()
        )));
    }
    if buf.len() < need {
        buf.resize(need, 0);
    }
    reader.next_frame(&mut buf[..raw_len]).map_err(png_error)?;
    let buf = &mut buf[..need];
    Ok(match mode {
        ColorMode::Rgb => to_rgb(buf, pixels, samples, sample_bytes),
        ColorMode::Gray => to_gray(buf, pixels, samples, sample_bytes),
    })
}

/// In place: `samples` x `sample_bytes` per pixel (big-endian 16-bit) -> RGB8.
///
/// Input pixels are 1 to 8 bytes (gray8 1, gray16 and gray+alpha8 2, RGB8 3, gray+alpha16 and
/// RGBA8 4, RGB16 6, RGBA16 8) and output pixels 3: a pixel that shrinks or keeps its size is
/// moved front to back, one that grows back to front, so no input byte is overwritten before it
/// is read. (The direction once followed the colour instead of the size, and 16-bit gray+alpha,
/// which shrinks, was overwritten going backwards.)
fn to_rgb(buf: &mut [u8], pixels: usize, samples: usize, sample_bytes: usize) -> usize {
    let stride = samples * sample_bytes;
    // The high byte of a big-endian 16-bit sample is `v >> 8`; gray is replicated, alpha dropped.
    let read = |buf: &[u8], i: usize| -> [u8; 3] {
        let at = i * stride;
        if samples >= 3 {
            [buf[at], buf[at + sample_bytes], buf[at + 2 * sample_bytes]]
        } else {
            [buf[at]; 3]
        }
    };
    if stride >= 3 {
        for i in 0..pixels {
            let rgb = read(buf, i);
            buf[3 * i..3 * i + 3].copy_from_slice(&rgb);
        }
    } else {
        for i in (0..pixels).rev() {
            let rgb = read(buf, i);
            buf[3 * i..3 * i + 3].copy_from_slice(&rgb);
        }
    }
    pixels * 3
}

/// In place: `samples` x `sample_bytes` per pixel -> gray8, libpng's rgb_to_gray arithmetic.
/// Output pixels are 1 byte, never larger than input ones: front to back is always safe.
fn to_gray(buf: &mut [u8], pixels: usize, samples: usize, sample_bytes: usize) -> usize {
    let stride = samples * sample_bytes;
    for i in 0..pixels {
        let at = i * stride;
        buf[i] = if samples <= 2 {
            buf[at]
        } else if sample_bytes == 1 {
            let (r, g, b) = (
                u32::from(buf[at]),
                u32::from(buf[at + 1]),
                u32::from(buf[at + 2]),
            );
            ((9797 * r + 19234 * g + 3737 * b) >> 15) as u8
        } else {
            let s =
                |c: usize| u32::from(u16::from_be_bytes([buf[at + 2 * c], buf[at + 2 * c + 1]]));
            ((((9797 * s(0) + 19234 * s(1) + 3737 * s(2)) + 16384) >> 15) >> 8) as u8
        };
    }
    pixels
}

fn png_error(e: png::DecodingError) -> crate::error::Error {
    match e {
        png::DecodingError::LimitsExceeded => {
            crate::error::memory_limit("PNG: the decoder's internal buffers would exceed 64 MiB")
        }
        png::DecodingError::IoError(io) => {
            corrupt_image(format!("PNG: data ends early or cannot be read ({io})"))
        }
        other => corrupt_image(format!("PNG: {other}")),
    }
}
