//! The image stage: bytes -> model input tensor, reproducing the connector's OpenCV path:
//! `cv2.imdecode(IMREAD_COLOR)` (or `IMREAD_GRAYSCALE` for C=1 models) -> BGR2RGB ->
//! `cv2.resize(W, H)` (INTER_LINEAR, aspect ratio not kept) -> NCHW float32 0..255, batch 1.
//!
//! Stages: [`sniff`] (content type, format from the bytes), [`jpeg`] / [`png`] (headers and
//! pixels), [`exif`] (orientation), [`resize`] (bit-exact INTER_LINEAR), [`tensor`] (layout).
//! Sizes come from the headers and are checked against the caps before any pixel buffer exists.
//!
//! Policies where OpenCV gives no usable answer:
//! - truncated or header-only JPEGs are `Code::CorruptImage` (OpenCV returns uninitialised rows);
//! - BMP and other formats OpenCV would decode are `Code::UnsupportedImageFormat` (the connector
//!   documents JPEG and PNG only);
//! - arithmetic-coded JPEGs need the `jpeg-turbo` build (zune-jpeg 0.5.15 cannot decode them);
//! - gray mode on a PNG with a gAMA chunk uses the same fixed-point formula as without it: libpng
//!   would go through its gamma tables, which we do not model (the colour path ignores gAMA, as
//!   OpenCV's does).

// Internal stages, public for the tests, benches and fuzz targets only: not part of the API.
#[doc(hidden)]
pub mod exif;
#[doc(hidden)]
pub mod jpeg;
#[doc(hidden)]
pub mod png;
#[doc(hidden)]
pub mod resize;
#[doc(hidden)]
pub mod sniff;
#[doc(hidden)]
pub mod tensor;

use std::time::Instant;

pub use resize::{resize_linear, Resizer};
pub use sniff::{detect_format, parse_content_type, DeclaredType, ImageFormat};

use crate::error::{
    content_type_mismatch, image_too_large, invalid_argument, memory_limit, Code, Error, Result,
};

/// Which JPEG decoder produces the pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum JpegDecoder {
    /// zune-jpeg (pure Rust): within a few levels of libjpeg-turbo, not bit-identical.
    #[default]
    Zune,
    /// libjpeg-turbo through the `turbojpeg` crate (cargo feature `jpeg-turbo`): bit-identical
    /// to OpenCV. Without the feature, selecting it is a `Code::Unsupported` error.
    Turbo,
}

impl JpegDecoder {
    /// Every decoder, for the names' one table.
    const ALL: [JpegDecoder; 2] = [JpegDecoder::Zune, JpegDecoder::Turbo];

    /// The name `EdgeclassJpegDecoder` gives it: `zune` or `libjpeg-turbo`.
    pub fn name(self) -> &'static str {
        match self {
            JpegDecoder::Zune => "zune",
            JpegDecoder::Turbo => "libjpeg-turbo",
        }
    }

    /// The decoder called `name` (as [`JpegDecoder::name`] writes it), if any. Whether this
    /// build has it is the caller's question.
    pub fn from_name(name: &str) -> Option<JpegDecoder> {
        JpegDecoder::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Decoding limits and policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Apply the EXIF orientation like OpenCV 4.10's `imdecode` (default true).
    pub apply_exif: bool,
    /// Refuse bytes that disagree with the content type (`Code::ContentTypeMismatch`) instead of
    /// decoding by the bytes with a warning, as OpenCV does (default false).
    pub strict_content_type: bool,
    /// Largest accepted width and height, in pixels, as stored in the file (default 16384).
    pub max_width: u32,
    /// Largest accepted height, in pixels, as stored (default 16384).
    pub max_height: u32,
    /// Largest accepted width x height (default 64 Mpixel).
    pub max_pixels: u64,
    /// Largest accepted decode memory ([`ImageInfo::decode_bytes`], default 1 GiB): beyond it,
    /// `Code::MemoryLimit`.
    pub max_decode_bytes: usize,
    /// Which decoder turns JPEG into pixels (default zune).
    pub jpeg_decoder: JpegDecoder,
}

impl Default for DecodeOptions {
    fn default() -> DecodeOptions {
        DecodeOptions {
            apply_exif: true,
            strict_content_type: false,
            max_width: 16384,
            max_height: 16384,
            max_pixels: 64 << 20,
            max_decode_bytes: 1 << 30,
            jpeg_decoder: JpegDecoder::Zune,
        }
    }
}

/// The pixel layout a decode produces: OpenCV's `IMREAD_COLOR` (then BGR2RGB) or `IMREAD_GRAYSCALE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    /// Three channels, R G B (OpenCV's `IMREAD_COLOR`, then BGR to RGB).
    Rgb,
    /// One channel (OpenCV's `IMREAD_GRAYSCALE`).
    Gray,
}

impl ColorMode {
    /// Bytes per pixel: 3 or 1.
    pub fn channels(self) -> usize {
        match self {
            ColorMode::Rgb => 3,
            ColorMode::Gray => 1,
        }
    }
}

/// What [`probe`] learns from the headers alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// The format the bytes are in (whatever the content type said).
    pub format: ImageFormat,
    /// Size after the EXIF orientation (when applied): the size of the decoded image.
    pub width: u32,
    /// Height after the EXIF orientation.
    pub height: u32,
    /// Size as stored in the file.
    pub stored_width: u32,
    /// Height as stored in the file.
    pub stored_height: u32,
    /// The EXIF orientation that will be applied (1..=8; 1 when absent or `apply_exif` is off).
    pub orientation: u8,
    /// Samples per pixel in the file: JPEG components, PNG channels (palette counts as 1).
    pub components: u8,
    /// Bits per sample (8 for JPEG).
    pub bit_depth: u8,
    /// Progressive JPEG or Adam7-interlaced PNG.
    pub progressive: bool,
    /// Bytes a decode of this image needs, worst case over both colour modes: our buffers
    /// (decode, orientation) plus an estimate of the decoder's own allocations.
    pub decode_bytes: usize,
}

/// Parsed headers, kept so the decode does not parse them twice.
#[derive(Debug)]
enum Header {
    Jpeg(jpeg::JpegHeader),
    Png(png::PngHeader),
}

/// Parse only the headers: format, size (after orientation), and the bytes the decode will need.
/// Refuses unsupported content types and formats, and sizes over the caps (`Code::ImageTooLarge`,
/// `Code::MemoryLimit`), in time independent of the declared size.
pub fn probe(content_type: &str, bytes: &[u8], options: &DecodeOptions) -> Result<ImageInfo> {
    probe_image(content_type, bytes, options).map(|p| p.info)
}

/// What [`probe_image`] read from the headers, kept so that the decode of the same bytes
/// ([`ImageDecoder::decode_probed`], [`Preprocessor::preprocess_probed`]) does not read them
/// again: one probe per request, and its content-type warning logged once.
#[derive(Debug)]
pub struct Probe {
    /// What the headers say.
    pub info: ImageInfo,
    header: Header,
}

/// [`probe`], keeping the parsed headers for the decode.
pub fn probe_image(content_type: &str, bytes: &[u8], options: &DecodeOptions) -> Result<Probe> {
    probe_header(content_type, bytes, options).map(|(info, header)| Probe { info, header })
}

fn probe_header(
    content_type: &str,
    bytes: &[u8],
    options: &DecodeOptions,
) -> Result<(ImageInfo, Header)> {
    let declared = parse_content_type(content_type)?;
    let format = detect_format(bytes)?;
    if !declared.agrees_with(format) {
        let message = format!(
            "content type {content_type:?} but the bytes are {}",
            format.name()
        );
        if options.strict_content_type {
            return Err(content_type_mismatch(message));
        }
        log::warn!("{message}; decoding as {}", format.name());
    }
    let (header, stored_w, stored_h, components, bit_depth, progressive, exif_range) = match format
    {
        ImageFormat::Jpeg => {
            let h = jpeg::parse_header(bytes)?;
            let (w, ht, c, p, e) = (h.width, h.height, h.components, h.progressive, h.exif);
            (Header::Jpeg(h), w, ht, c, 8, p, e)
        }
        ImageFormat::Png => {
            let h = png::parse_header(bytes)?;
            let components = match h.color_type {
                0 | 3 => 1,
                4 => 2,
                2 => 3,
                _ => 4,
            };
            let (w, ht, d, p, e) = (h.width, h.height, h.bit_depth, h.interlaced, h.exif);
            (Header::Png(h), w, ht, components, d, p, e)
        }
    };
    check_caps(stored_w, stored_h, options)?;
    let orientation = match exif_range {
        Some((start, end)) if options.apply_exif => bytes
            .get(start..end)
            .and_then(exif::orientation)
            .unwrap_or(1),
        _ => 1,
    };
    let (width, height) = if exif::swaps_axes(orientation) {
        (stored_h, stored_w)
    } else {
        (stored_w, stored_h)
    };
    let mut info = ImageInfo {
        format,
        width,
        height,
        stored_width: stored_w,
        stored_height: stored_h,
        orientation,
        components,
        bit_depth,
        progressive,
        decode_bytes: 0,
    };
    info.decode_bytes = header_decode_bytes(&header, &info);
    if info.decode_bytes > options.max_decode_bytes {
        return Err(memory_limit(format!(
            "decoding this {}x{} {} needs about {} bytes, over the limit of {} bytes",
            stored_w,
            stored_h,
            format.name(),
            info.decode_bytes,
            options.max_decode_bytes
        )));
    }
    Ok((info, header))
}

fn check_caps(width: u32, height: u32, options: &DecodeOptions) -> Result<()> {
    if width > options.max_width || height > options.max_height {
        return Err(image_too_large(format!(
            "image is {width}x{height}, over the limit of {}x{}",
            options.max_width, options.max_height
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > options.max_pixels {
        return Err(image_too_large(format!(
            "image is {width}x{height} = {pixels} pixels, over the limit of {} pixels",
            options.max_pixels
        )));
    }
    Ok(())
}

fn header_decode_bytes(header: &Header, info: &ImageInfo) -> usize {
    let (decode, scratch) = match header {
        Header::Jpeg(h) => (
            jpeg::decode_buffer_bytes(h, ColorMode::Rgb),
            jpeg::decoder_scratch_bytes(h),
        ),
        Header::Png(h) => (
            png::decode_buffer_bytes(h, ColorMode::Rgb),
            png::decoder_scratch_bytes(h),
        ),
    };
    let oriented = if info.orientation != 1 {
        (info.width as usize)
            .saturating_mul(info.height as usize)
            .saturating_mul(3)
    } else {
        0
    };
    decode.saturating_add(oriented).saturating_add(scratch)
}

/// Bytes a decode of this image needs (our buffers plus the decoder's own, estimated), so a
/// service can budget memory before decoding. The same as `info.decode_bytes`.
pub fn buffer_bytes_for(info: &ImageInfo) -> usize {
    info.decode_bytes
}

/// A decoded image borrowed from a decoder's buffers: `height` rows of `width` pixels of
/// `channels` interleaved bytes, orientation applied.
#[derive(Debug)]
pub struct DecodedView<'a> {
    /// What the headers said.
    pub info: ImageInfo,
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Bytes per pixel (1 or 3).
    pub channels: usize,
    /// `height` x `width` x `channels` bytes, row by row.
    pub pixels: &'a [u8],
}

/// An owned decoded image (see [`decode`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedImage {
    /// Pixels per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Bytes per pixel (1 or 3).
    pub channels: usize,
    /// `height` x `width` x `channels` bytes, row by row.
    pub pixels: Vec<u8>,
}

/// A decoder that keeps its pixel buffers between calls: after the first image of a given size
/// it allocates no pixel buffer again.
#[derive(Default)]
pub struct ImageDecoder {
    /// How it decodes.
    pub options: DecodeOptions,
    decoded: Vec<u8>,
    oriented: Vec<u8>,
}

impl ImageDecoder {
    /// A decoder with `options` and no buffers yet.
    pub fn new(options: DecodeOptions) -> ImageDecoder {
        ImageDecoder {
            options,
            decoded: Vec::new(),
            oriented: Vec::new(),
        }
    }

    /// Decode `bytes` (declared as `content_type`) as OpenCV's `imdecode` would, in `mode`.
    pub fn decode(
        &mut self,
        content_type: &str,
        bytes: &[u8],
        mode: ColorMode,
    ) -> Result<DecodedView<'_>> {
        let probe = probe_image(content_type, bytes, &self.options)?;
        self.decode_probed(probe, bytes, mode)
    }

    /// Decode `bytes`, whose headers `probe` (made with this decoder's options) has read.
    pub fn decode_probed(
        &mut self,
        probe: Probe,
        bytes: &[u8],
        mode: ColorMode,
    ) -> Result<DecodedView<'_>> {
        let options = self.options;
        let Probe { info, header } = probe;
        let (w, h) = (info.stored_width as usize, info.stored_height as usize);
        let len = match &header {
            Header::Jpeg(hd) => {
                // Completeness first: zune-jpeg would fill missing data in silently.
                jpeg::check_complete(bytes)?;
                match options.jpeg_decoder {
                    JpegDecoder::Zune => {
                        jpeg::decode_zune(bytes, hd, mode, &options, &mut self.decoded)?
                    }
                    JpegDecoder::Turbo => decode_turbo(bytes, hd, mode, &mut self.decoded)?,
                }
            }
            Header::Png(hd) => png::decode(bytes, hd, mode, &mut self.decoded)?,
        };
        let channels = mode.channels();
        if len != w * h * channels {
            return Err(Error::new(
                Code::Internal,
                format!("decoder wrote {len} bytes for {w}x{h}x{channels}"),
            ));
        }
        let pixels = if info.orientation == 1 {
            &self.decoded[..len]
        } else {
            if self.oriented.len() < len {
                self.oriented.resize(len, 0);
            }
            exif::apply(
                info.orientation,
                &self.decoded[..len],
                w,
                h,
                channels,
                &mut self.oriented[..len],
            );
            &self.oriented[..len]
        };
        let (width, height) = (info.width as usize, info.height as usize);
        Ok(DecodedView {
            info,
            width,
            height,
            channels,
            pixels,
        })
    }
}

#[cfg(feature = "jpeg-turbo")]
fn decode_turbo(
    bytes: &[u8],
    header: &jpeg::JpegHeader,
    mode: ColorMode,
    buf: &mut Vec<u8>,
) -> Result<usize> {
    jpeg::decode_turbo(bytes, header, mode, buf)
}

#[cfg(not(feature = "jpeg-turbo"))]
fn decode_turbo(_: &[u8], _: &jpeg::JpegHeader, _: ColorMode, _: &mut Vec<u8>) -> Result<usize> {
    Err(Error::new(
        Code::Unsupported,
        "the libjpeg-turbo decoder is not in this build (cargo feature `jpeg-turbo`)",
    ))
}

/// Decode into a new buffer (convenience for tools and tests; services use [`Preprocessor`]).
pub fn decode(
    content_type: &str,
    bytes: &[u8],
    options: &DecodeOptions,
    mode: ColorMode,
) -> Result<DecodedImage> {
    let mut decoder = ImageDecoder::new(*options);
    let view = decoder.decode(content_type, bytes, mode)?;
    Ok(DecodedImage {
        width: view.width,
        height: view.height,
        channels: view.channels,
        pixels: view.pixels.to_vec(),
    })
}

/// Timings and sizes of one [`Preprocessor::preprocess`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreprocessStats {
    /// The format decoded.
    pub format: ImageFormat,
    /// Decoded size (after orientation), before resizing.
    pub decoded_width: u32,
    /// Decoded height (after orientation), before resizing.
    pub decoded_height: u32,
    /// Probe + decode + orientation, in microseconds.
    pub decode_us: u64,
    /// Resize + tensor layout, in microseconds.
    pub resize_us: u64,
}

/// Bytes -> model input for one model input shape (1, C, H, W), with buffers kept between calls.
pub struct Preprocessor {
    channels: usize,
    height: usize,
    width: usize,
    decoder: ImageDecoder,
    resizer: Resizer,
    resized: Vec<u8>,
}

impl Preprocessor {
    /// For a model input of `channels` (1 or 3) x `height` x `width`.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        options: DecodeOptions,
    ) -> Result<Preprocessor> {
        if channels != 1 && channels != 3 {
            return Err(invalid_argument(format!(
                "model input has {channels} channels; images give 1 (gray) or 3 (RGB)"
            )));
        }
        let len = height
            .checked_mul(width)
            .and_then(|n| n.checked_mul(channels));
        if height == 0 || width == 0 || len.is_none() {
            return Err(invalid_argument(format!(
                "model input size {channels}x{height}x{width} is invalid"
            )));
        }
        Ok(Preprocessor {
            channels,
            height,
            width,
            decoder: ImageDecoder::new(options),
            resizer: Resizer::new(),
            resized: vec![0; len.unwrap_or(0)],
        })
    }

    /// Floats [`Preprocessor::preprocess`] writes: C x H x W.
    pub fn input_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The decoding options.
    pub fn options(&self) -> &DecodeOptions {
        &self.decoder.options
    }

    /// Decode, resize and lay out one image into `out` (C x H x W floats, NCHW with N = 1).
    pub fn preprocess(
        &mut self,
        content_type: &str,
        bytes: &[u8],
        out: &mut [f32],
    ) -> Result<PreprocessStats> {
        let probe = probe_image(content_type, bytes, &self.decoder.options)?;
        self.preprocess_probed(probe, bytes, out)
    }

    /// [`Preprocessor::preprocess`] of bytes whose headers `probe` (made with this
    /// preprocessor's options) has read.
    pub fn preprocess_probed(
        &mut self,
        probe: Probe,
        bytes: &[u8],
        out: &mut [f32],
    ) -> Result<PreprocessStats> {
        if out.len() != self.input_len() {
            return Err(Error::new(
                Code::BufferTooSmall,
                format!(
                    "output holds {} floats, the model input needs {}",
                    out.len(),
                    self.input_len()
                ),
            ));
        }
        let mode = if self.channels == 1 {
            ColorMode::Gray
        } else {
            ColorMode::Rgb
        };
        let started = Instant::now();
        let view = self.decoder.decode_probed(probe, bytes, mode)?;
        let decoded = Instant::now();
        self.resizer.resize(
            view.pixels,
            view.width,
            view.height,
            view.channels,
            &mut self.resized,
            self.width,
            self.height,
        )?;
        tensor::hwc_to_chw(&self.resized, self.height, self.width, self.channels, out)?;
        let finished = Instant::now();
        Ok(PreprocessStats {
            format: view.info.format,
            decoded_width: view.info.width,
            decoded_height: view.info.height,
            decode_us: micros(decoded - started),
            resize_us: micros(finished - decoded),
        })
    }
}

fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
