//! JPEG: our own bounds-checked marker walk (sizes, colour space, EXIF, completeness) and pixel
//! decoding with zune-jpeg (default) or libjpeg-turbo (feature `jpeg-turbo`).
//!
//! The marker walk exists because zune-jpeg fills missing data silently (a truncated or
//! header-only file "decodes"), and because the size and the colour space must be known, in
//! libjpeg's terms, before any pixel buffer is allocated.

use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::errors::DecodeErrors;

use super::{ColorMode, DecodeOptions};
use crate::error::{corrupt_image, unsupported_image_feature, Error, Result};

/// The colour space libjpeg assigns to a file (jdapimin.c `default_decompress_parms`); it decides
/// what OpenCV got, so it decides what we produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JpegColorSpace {
    Gray,
    YCbCr,
    Rgb,
    /// Adobe APP14 transform 0 with 4 components: CMYK stored inverted, as Photoshop writes it.
    Cmyk,
    /// Adobe APP14 transform 2 (or unknown) with 4 components.
    Ycck,
}

/// What the headers (everything before the first scan) say.
#[derive(Clone, Debug)]
pub struct JpegHeader {
    pub width: u32,
    pub height: u32,
    pub components: u8,
    pub progressive: bool,
    /// Arithmetic entropy coding (SOF9/SOF10 or a DAC segment): libjpeg-turbo decodes it,
    /// zune-jpeg 0.5.15 does not.
    pub arithmetic: bool,
    pub color_space: JpegColorSpace,
    /// Byte range of the first `Exif\0\0` APP1 payload's TIFF data, if any.
    pub exif: Option<(usize, usize)>,
    /// Largest horizontal and vertical sampling factors (an MCU is 8x that many pixels).
    pub max_sampling: (u8, u8),
    /// Components in the first scan: fewer than `components` means the scans are not
    /// interleaved, and the decoder keeps every coefficient until the last scan.
    pub first_scan_components: u8,
}

impl JpegHeader {
    /// A baseline file whose first scan lacks components: zune-jpeg then keeps every coefficient
    /// until the last scan, on a path of its own (progressive files always keep them).
    pub fn baseline_scans_not_interleaved(&self) -> bool {
        !self.progressive && self.first_scan_components < self.components
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// How far `scan_markers` should read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Walk {
    /// Stop at the first start-of-scan: enough for sizes, colour space and EXIF.
    Headers,
    /// Follow the entropy-coded data to the end-of-image marker (completeness check).
    ToEnd,
}

/// Parse the headers. Errors: corrupt or truncated headers, no frame header, and the JPEG
/// variants neither decoder handles here (lossless, hierarchical, 12-bit).
pub fn parse_header(bytes: &[u8]) -> Result<JpegHeader> {
    scan_markers(bytes, Walk::Headers)
}

/// Check that the data reaches an end-of-image marker after the last scan. libjpeg (and so
/// OpenCV) only warns on truncated data and returns uninitialised rows; zune fills them with grey.
/// Both are garbage, so a missing EOI is an error here. Data after EOI is ignored, like libjpeg.
pub fn check_complete(bytes: &[u8]) -> Result<()> {
    scan_markers(bytes, Walk::ToEnd).map(|_| ())
}

#[allow(clippy::too_many_lines)]
fn scan_markers(bytes: &[u8], walk: Walk) -> Result<JpegHeader> {
    if bytes.get(0..2) != Some(&[0xff, 0xd8]) {
        return Err(corrupt_image("JPEG: missing start-of-image marker"));
    }
    let mut frame: Option<Frame> = None;
    let mut saw_dac = false;
    let mut saw_jfif = false;
    let mut adobe_transform: Option<u8> = None;
    let mut exif = None;
    let mut first_scan_components = 0u8;
    let mut scans = 0usize;
    let mut pos = 2usize;
    loop {
        // Find the next marker: libjpeg skips stray bytes and 0xFF fill bytes before a marker.
        while bytes.get(pos).is_some_and(|&b| b != 0xff) {
            pos += 1;
        }
        while bytes.get(pos) == Some(&0xff) {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            return Err(truncated(walk, scans));
        };
        pos += 1;
        match marker {
            0xd9 => {
                // EOI
                if walk == Walk::Headers || scans == 0 {
                    return Err(corrupt_image(
                        "JPEG: end-of-image marker before any image data",
                    ));
                }
                break;
            }
            0x01 | 0xd0..=0xd7 | 0xd8 | 0x00 => continue, // standalone markers (and stray 0xFF00)
            _ => {}
        }
        let length = usize::from(be16(bytes, pos).ok_or_else(|| truncated(walk, scans))?);
        if length < 2 {
            return Err(corrupt_image(format!(
                "JPEG: marker 0xFF{marker:02X} has length {length}"
            )));
        }
        let payload = bytes
            .get(pos + 2..pos + length)
            .ok_or_else(|| truncated(walk, scans))?;
        match marker {
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                if frame.is_some() {
                    return Err(corrupt_image("JPEG: more than one frame header"));
                }
                frame = Some(parse_frame(marker, payload)?);
            }
            0xcc => saw_dac = true,
            0xe0 if payload.starts_with(b"JFIF\0") => saw_jfif = true,
            0xe1 if exif.is_none() && payload.starts_with(b"Exif\0\0") => {
                exif = Some((pos + 2 + 6, pos + length));
            }
            0xee if payload.starts_with(b"Adobe") && payload.len() >= 12 => {
                adobe_transform = payload.get(11).copied();
            }
            0xda => {
                if frame.is_none() {
                    return Err(corrupt_image("JPEG: scan before the frame header"));
                }
                if scans == 0 {
                    first_scan_components = payload.first().copied().unwrap_or(0);
                }
                scans += 1;
                if walk == Walk::Headers {
                    break;
                }
                // Skip the entropy-coded data: it ends at a 0xFF that is not stuffing (FF00),
                // a restart marker (FFD0..FFD7) or fill (FFFF).
                // memchr jumps from 0xFF to 0xFF with SIMD: this walk runs on every request.
                pos += length;
                loop {
                    match bytes.get(pos..).and_then(|rest| memchr::memchr(0xff, rest)) {
                        None => return Err(truncated(walk, scans)),
                        Some(skip) => pos += skip,
                    }
                    match bytes.get(pos + 1) {
                        None => return Err(truncated(walk, scans)),
                        Some(&next)
                            if next != 0 && !(0xd0..=0xd7).contains(&next) && next != 0xff =>
                        {
                            break;
                        }
                        Some(_) => pos += 1,
                    }
                }
                continue;
            }
            _ => {}
        }
        pos += length;
    }
    let Frame {
        width,
        height,
        components,
        progressive,
        arithmetic,
        ids,
        max_sampling,
    } = frame.ok_or_else(|| corrupt_image("JPEG: no frame header"))?;
    let arithmetic = arithmetic || saw_dac;
    let color_space = match components {
        1 => JpegColorSpace::Gray,
        3 => {
            if saw_jfif {
                JpegColorSpace::YCbCr
            } else if let Some(t) = adobe_transform {
                if t == 0 {
                    JpegColorSpace::Rgb
                } else {
                    JpegColorSpace::YCbCr
                }
            } else if ids == [b'R', b'G', b'B'] {
                JpegColorSpace::Rgb
            } else {
                JpegColorSpace::YCbCr
            }
        }
        4 => match adobe_transform {
            Some(0) | None => JpegColorSpace::Cmyk,
            Some(_) => JpegColorSpace::Ycck,
        },
        n => {
            return Err(unsupported_image_feature(format!(
                "JPEG with {n} components is not supported"
            )))
        }
    };
    Ok(JpegHeader {
        width,
        height,
        components,
        progressive,
        arithmetic,
        color_space,
        exif,
        max_sampling,
        first_scan_components,
    })
}

fn truncated(walk: Walk, scans: usize) -> Error {
    if walk == Walk::ToEnd && scans > 0 {
        corrupt_image("JPEG: data ends before the end-of-image marker (truncated file)")
    } else {
        corrupt_image("JPEG: data ends inside the headers (truncated file)")
    }
}

/// The frame header's fields we use.
#[derive(Clone, Copy)]
struct Frame {
    width: u32,
    height: u32,
    components: u8,
    progressive: bool,
    arithmetic: bool,
    /// The first three component ids ('R', 'G', 'B' marks an RGB file for libjpeg).
    ids: [u8; 3],
    max_sampling: (u8, u8),
}

fn parse_frame(marker: u8, payload: &[u8]) -> Result<Frame> {
    match marker {
        0xc3 | 0xcb => return Err(unsupported_image_feature("lossless JPEG is not supported")),
        0xc5..=0xc7 | 0xcd..=0xcf => {
            return Err(unsupported_image_feature(
                "hierarchical JPEG is not supported",
            ))
        }
        _ => {}
    }
    let precision = *payload
        .first()
        .ok_or_else(|| corrupt_image("JPEG: empty frame header"))?;
    if precision != 8 {
        return Err(unsupported_image_feature(format!(
            "{precision}-bit JPEG is not supported (only 8-bit samples)"
        )));
    }
    let height = be16(payload, 1).ok_or_else(|| corrupt_image("JPEG: short frame header"))?;
    let width = be16(payload, 3).ok_or_else(|| corrupt_image("JPEG: short frame header"))?;
    let components = *payload
        .get(5)
        .ok_or_else(|| corrupt_image("JPEG: short frame header"))?;
    if width == 0 || height == 0 {
        return Err(corrupt_image(format!(
            "JPEG: frame header declares {width}x{height} (a height defined later by DNL is not supported)"
        )));
    }
    let need = 6 + 3 * usize::from(components);
    if payload.len() < need {
        return Err(corrupt_image(
            "JPEG: frame header shorter than its component list",
        ));
    }
    let mut ids = [0u8; 3];
    for (i, id) in ids
        .iter_mut()
        .enumerate()
        .take(usize::from(components).min(3))
    {
        *id = payload[6 + 3 * i];
    }
    // Sampling factors as libjpeg checks them (jdinput.c, jdsample.c): 1 to 4 each, and every
    // component's a divisor of the largest ("fractional sampling" is not implemented there, so
    // OpenCV never decoded such a file; zune-jpeg 0.5.15 accepts it and rounds the ratio down).
    let factors = |i: usize| {
        let f = payload[6 + 3 * i + 1];
        (f >> 4, f & 15)
    };
    let mut max_sampling = (1u8, 1u8);
    for i in 0..usize::from(components) {
        let (h, v) = factors(i);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return Err(corrupt_image(format!(
                "JPEG: component {i} has sampling factors {h}x{v} (each must be 1 to 4)"
            )));
        }
        max_sampling = (max_sampling.0.max(h), max_sampling.1.max(v));
    }
    for i in 0..usize::from(components) {
        let (h, v) = factors(i);
        if !max_sampling.0.is_multiple_of(h) || !max_sampling.1.is_multiple_of(v) {
            return Err(unsupported_image_feature(format!(
                "JPEG: component {i} is sampled {h}x{v} against {}x{}: fractional sampling is not \
                 supported (libjpeg refuses it too)",
                max_sampling.0, max_sampling.1
            )));
        }
    }
    Ok(Frame {
        width: u32::from(width),
        height: u32::from(height),
        components,
        progressive: matches!(marker, 0xc2 | 0xca),
        arithmetic: matches!(marker, 0xc9 | 0xca),
        ids,
        max_sampling,
    })
}

/// Bytes of the buffer the decode writes into, for `mode` (before any conversion).
pub fn decode_buffer_bytes(header: &JpegHeader, mode: ColorMode) -> usize {
    // Saturating: on 32-bit targets with raised caps the product may not fit; the byte limit
    // then refuses it instead of a wrapped size getting through.
    let pixels = (header.width as usize).saturating_mul(header.height as usize);
    let per_pixel = match (header.color_space, mode) {
        (JpegColorSpace::Cmyk | JpegColorSpace::Ycck, _) => 4,
        (_, ColorMode::Rgb) | (JpegColorSpace::Rgb, ColorMode::Gray) => 3,
        (_, ColorMode::Gray) => 1,
    };
    pixels.saturating_mul(per_pixel)
}

/// An estimate of the memory zune-jpeg allocates itself: every DCT coefficient (i16) when the file
/// is progressive or its scans are not interleaved (zune keeps them until the last scan), and one
/// MCU row per component plus upsampling scratch.
pub fn decoder_scratch_bytes(header: &JpegHeader) -> usize {
    // Padded to whole MCUs (8 pixels per sampling step; 16 at least, as before sampling counted).
    let mcu_w = 8 * usize::from(header.max_sampling.0.max(2));
    let mcu_h = 8 * usize::from(header.max_sampling.1.max(2));
    let padded_w = (header.width as usize).div_ceil(mcu_w) * mcu_w;
    let padded_h = (header.height as usize).div_ceil(mcu_h) * mcu_h;
    let comps = usize::from(header.components);
    let coefficients = padded_w.saturating_mul(padded_h).saturating_mul(comps * 2);
    let rows = padded_w.saturating_mul(mcu_h * comps * 2 * 3);
    if header.progressive {
        coefficients
    } else if header.baseline_scans_not_interleaved() {
        // Found by the jpeg fuzz target: a baseline 2144x64 file with one scan per component
        // peaked at 1,339,344 bytes against an estimate (rows only) of 1,029,120.
        coefficients.saturating_add(rows)
    } else {
        rows
    }
}

fn zune_error(e: DecodeErrors) -> Error {
    match e {
        DecodeErrors::Unsupported(s) => unsupported_image_feature(format!("JPEG: {s:?}")),
        other => corrupt_image(format!("JPEG: {other}")),
    }
}

/// What a user whose JPEG the zune decoder refuses can do: in a `jpeg-turbo` build, choose the
/// libjpeg-turbo decoder (it is there, just not the default); in any other, build with it.
#[cfg(feature = "jpeg-turbo")]
pub const TURBO_REMEDY: &str = "choose the libjpeg-turbo decoder, which decodes it \
     (EdgeclassJpegDecoder=libjpeg-turbo, or --jpeg-decoder libjpeg-turbo)";
#[cfg(not(feature = "jpeg-turbo"))]
pub const TURBO_REMEDY: &str = "a build with the jpeg-turbo feature decodes it with the \
     libjpeg-turbo decoder (EdgeclassJpegDecoder=libjpeg-turbo, or --jpeg-decoder libjpeg-turbo)";

/// Decode with zune-jpeg into `buf`, converting to `mode` (interleaved RGB or gray, as stored,
/// before orientation). Returns the bytes written (`width * height * channels`).
pub fn decode_zune(
    bytes: &[u8],
    header: &JpegHeader,
    mode: ColorMode,
    opts: &DecodeOptions,
    buf: &mut Vec<u8>,
) -> Result<usize> {
    if header.arithmetic {
        return Err(unsupported_image_feature(format!(
            "arithmetic-coded JPEG is not supported by the zune decoder; {TURBO_REMEDY}"
        )));
    }
    // zune-jpeg 0.5.15 refuses a horizontal factor of 3 but not a vertical one, and with a
    // chroma component sampled 1x3 it panicked writing past its row buffer (idct/avx2.rs; found
    // by the jpeg fuzz target). libjpeg decodes such files; zune is not asked to.
    if header.max_sampling.0 == 3 || header.max_sampling.1 == 3 {
        return Err(unsupported_image_feature(format!(
            "JPEG sampling factors up to {}x{} are not supported by the zune decoder (only 1, 2 \
             and 4); {TURBO_REMEDY}",
            header.max_sampling.0, header.max_sampling.1
        )));
    }
    // Its path for baseline scans that are not interleaved copies MCU rows with a step that
    // assumes 1x1 sampling: a 96x8 file sampled 1x2, 1x1, 1x1 panicked (mcu.rs:379, fuzz
    // target). Such files are rare (the 4:4:4 case decodes).
    if header.baseline_scans_not_interleaved() && header.max_sampling != (1, 1) {
        return Err(unsupported_image_feature(format!(
            "subsampled JPEG whose scans are not interleaved is not supported by the zune \
             decoder; {TURBO_REMEDY}"
        )));
    }
    let out_space = match (header.color_space, mode) {
        (JpegColorSpace::Cmyk, _) => ColorSpace::CMYK,
        (JpegColorSpace::Ycck, _) => ColorSpace::YCCK,
        (JpegColorSpace::Rgb, _) | (_, ColorMode::Rgb) => ColorSpace::RGB,
        (_, ColorMode::Gray) => ColorSpace::Luma,
    };
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(opts.max_width as usize)
        .set_max_height(opts.max_height as usize)
        .jpeg_set_out_colorspace(out_space);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().map_err(zune_error)?;
    // zune guesses colour spaces with its own rules; decode only when they agree with libjpeg's.
    let zune_space = decoder.input_colorspace();
    let expected = match header.color_space {
        JpegColorSpace::Gray => ColorSpace::Luma,
        JpegColorSpace::YCbCr => ColorSpace::YCbCr,
        JpegColorSpace::Rgb => ColorSpace::RGB,
        JpegColorSpace::Cmyk => ColorSpace::CMYK,
        JpegColorSpace::Ycck => ColorSpace::YCCK,
    };
    if zune_space != Some(expected) {
        return Err(unsupported_image_feature(format!(
            "JPEG colour space {:?} (zune-jpeg reads it as {zune_space:?}) is not supported by \
             the zune decoder",
            header.color_space
        )));
    }
    let dims = decoder.dimensions();
    if dims != Some((header.width as usize, header.height as usize)) {
        return Err(corrupt_image(format!(
            "JPEG: decoder sees size {dims:?}, headers say {}x{}",
            header.width, header.height
        )));
    }
    let need = decode_buffer_bytes(header, mode);
    if decoder.output_buffer_size() != Some(need) {
        return Err(Error::new(
            crate::error::Code::Internal,
            format!(
                "JPEG: zune wants {:?} output bytes, expected {need}",
                decoder.output_buffer_size()
            ),
        ));
    }
    if buf.len() < need {
        buf.resize(need, 0);
    }
    decoder.decode_into(&mut buf[..need]).map_err(zune_error)?;
    Ok(convert_decoded(header, mode, &mut buf[..need]))
}

/// Turn what the decoder wrote (RGB, gray, CMYK or YCCK samples, in `buf`) into `mode`'s layout
/// in place, the way OpenCV converts libjpeg's output. Returns the bytes now valid.
pub fn convert_decoded(header: &JpegHeader, mode: ColorMode, buf: &mut [u8]) -> usize {
    let pixels = header.width as usize * header.height as usize;
    match header.color_space {
        JpegColorSpace::Cmyk | JpegColorSpace::Ycck => {
            if header.color_space == JpegColorSpace::Ycck {
                ycck_to_cmyk(buf);
            }
            match mode {
                ColorMode::Rgb => {
                    for i in 0..pixels {
                        let rgb = cmyk_to_rgb(&buf[4 * i..4 * i + 4]);
                        buf[3 * i..3 * i + 3].copy_from_slice(&rgb);
                    }
                    pixels * 3
                }
                ColorMode::Gray => {
                    for i in 0..pixels {
                        let [r, g, b] = cmyk_to_rgb(&buf[4 * i..4 * i + 4]);
                        buf[i] = bgr_to_gray_opencv(r, g, b);
                    }
                    pixels
                }
            }
        }
        JpegColorSpace::Rgb if mode == ColorMode::Gray => {
            for i in 0..pixels {
                buf[i] = rgb_to_gray_libjpeg(buf[3 * i], buf[3 * i + 1], buf[3 * i + 2]);
            }
            pixels
        }
        _ => pixels * mode.channels(),
    }
}

/// OpenCV's `icvCvt_CMYK2BGR_8u_C4C3R` on libjpeg's raw CMYK samples: `R = K - ((255 - C) * K >> 8)`.
fn cmyk_to_rgb(cmyk: &[u8]) -> [u8; 3] {
    let k = i32::from(cmyk[3]);
    let f = |c: u8| (k - (((255 - i32::from(c)) * k) >> 8)) as u8;
    [f(cmyk[0]), f(cmyk[1]), f(cmyk[2])]
}

/// OpenCV's `icvCvt_CMYK2Gray_8u_C4C1R` after the CMYK step: `descale(B*cB + G*cG + R*cR, 14)`
/// with cR = 4899, cG = 9617, cB = 1868. (From OpenCV's source; no fixture exercises it.)
fn bgr_to_gray_opencv(r: u8, g: u8, b: u8) -> u8 {
    let t = u32::from(b) * 1868 + u32::from(g) * 9617 + u32::from(r) * 4899;
    ((t + (1 << 13)) >> 14) as u8
}

/// libjpeg's `rgb_gray_convert` (what OpenCV's grayscale read gets for an RGB-coded JPEG):
/// `(R*19595 + G*38470 + B*7471 + 32768) >> 16`. (From libjpeg's source; no fixture exercises it.)
fn rgb_to_gray_libjpeg(r: u8, g: u8, b: u8) -> u8 {
    let t = u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471;
    ((t + 32768) >> 16) as u8
}

/// libjpeg's `ycck_cmyk_convert` (jdcolor.c), in place on 4-byte pixels: the YCC part goes through
/// the fixed-point YCbCr->RGB tables and is inverted; K passes through.
fn ycck_to_cmyk(buf: &mut [u8]) {
    const ONE_HALF: i32 = 1 << 15;
    let fix = |x: f64| (x * 65536.0 + 0.5) as i32;
    for px in buf.chunks_exact_mut(4) {
        let y = i32::from(px[0]);
        let cb = i32::from(px[1]) - 128;
        let cr = i32::from(px[2]) - 128;
        let cr_r = (fix(1.40200) * cr + ONE_HALF) >> 16;
        let cb_b = (fix(1.77200) * cb + ONE_HALF) >> 16;
        let g = (-fix(0.34414) * cb + ONE_HALF + -fix(0.71414) * cr) >> 16;
        px[0] = (255 - (y + cr_r)).clamp(0, 255) as u8;
        px[1] = (255 - (y + g)).clamp(0, 255) as u8;
        px[2] = (255 - (y + cb_b)).clamp(0, 255) as u8;
    }
}

/// Decode with libjpeg-turbo (ISLOW IDCT and fancy upsampling: TurboJPEG's defaults and what
/// OpenCV uses) into `buf`, converted to `mode` like OpenCV. The caller has already checked
/// completeness: libjpeg-turbo only warns on truncated data.
#[cfg(feature = "jpeg-turbo")]
pub fn decode_turbo(
    bytes: &[u8],
    header: &JpegHeader,
    mode: ColorMode,
    buf: &mut Vec<u8>,
) -> Result<usize> {
    use turbojpeg::PixelFormat;
    let format = match (header.color_space, mode) {
        // libjpeg turns YCCK into CMYK itself; OpenCV then applies its CMYK formula.
        (JpegColorSpace::Cmyk | JpegColorSpace::Ycck, _) => PixelFormat::CMYK,
        (_, ColorMode::Rgb) => PixelFormat::RGB,
        // libjpeg's own gray output: the Y plane, or its RGB->gray formula for RGB files.
        (_, ColorMode::Gray) => PixelFormat::GRAY,
    };
    let (width, height) = (header.width as usize, header.height as usize);
    let need = width * height * format.size();
    if buf.len() < need {
        buf.resize(need, 0);
    }
    let turbo_error = |e: turbojpeg::Error| corrupt_image(format!("JPEG (libjpeg-turbo): {e}"));
    let mut decompressor = turbojpeg::Decompressor::new().map_err(turbo_error)?;
    let image = turbojpeg::Image {
        pixels: &mut buf[..need],
        width,
        pitch: width * format.size(),
        height,
        format,
    };
    decompressor.decompress(bytes, image).map_err(turbo_error)?;
    let pixels = width * height;
    Ok(match header.color_space {
        // libjpeg already converted YCCK to CMYK: apply only OpenCV's CMYK step.
        JpegColorSpace::Ycck | JpegColorSpace::Cmyk => {
            let as_cmyk = JpegHeader {
                color_space: JpegColorSpace::Cmyk,
                ..header.clone()
            };
            convert_decoded(&as_cmyk, mode, &mut buf[..need])
        }
        // libjpeg produced the final layout (RGB, replicated gray, or its gray conversion).
        _ => pixels * mode.channels(),
    })
}
