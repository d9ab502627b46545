//! Shared by the `jpeg` and `png` targets: header-only probing with the default (large) caps,
//! then full decodes in both colour modes with caps small enough for the fuzzer's memory limit,
//! checking that what the headers promised is what the decode produced.

use edgeclass::image::{self, jpeg, png, ColorMode, DecodeOptions, ImageDecoder, ImageFormat};
use edgeclass::mem::heap;
use edgeclass::{Code, Error};

/// Decode caps of the fuzz targets: 4 Mpixel, 96 MiB of decode memory.
pub fn fuzz_options() -> DecodeOptions {
    DecodeOptions {
        max_width: 4096,
        max_height: 4096,
        max_pixels: 4 << 20,
        max_decode_bytes: 96 << 20,
        ..DecodeOptions::default()
    }
}

/// Codes an image decode may legitimately end with. Never `Internal`, `Panic`, or a model code.
pub fn assert_image_error(e: &Error, strict: bool) {
    let ok = matches!(
        e.code,
        Code::UnsupportedImageFormat
            | Code::CorruptImage
            | Code::UnsupportedImageFeature
            | Code::ImageTooLarge
            | Code::MemoryLimit
    ) || (strict && e.code == Code::ContentTypeMismatch);
    assert!(ok, "unexpected error code {:?}: {e}", e.code);
    assert!(!e.message.is_empty(), "error without a message: {e:?}");
}

fn check_info(info: &image::ImageInfo, o: &DecodeOptions, format: ImageFormat) {
    assert_eq!(info.format, format);
    assert!(
        info.stored_width >= 1 && info.stored_height >= 1,
        "{info:?}"
    );
    assert!(info.stored_width <= o.max_width && info.stored_height <= o.max_height);
    assert!(u64::from(info.stored_width) * u64::from(info.stored_height) <= o.max_pixels);
    assert!((1..=8).contains(&info.orientation), "{info:?}");
    if image::exif::swaps_axes(info.orientation) {
        assert_eq!(
            (info.width, info.height),
            (info.stored_height, info.stored_width)
        );
    } else {
        assert_eq!(
            (info.width, info.height),
            (info.stored_width, info.stored_height)
        );
    }
    assert!(info.decode_bytes <= o.max_decode_bytes);
    // The decode buffer alone is at least one byte per pixel.
    assert!(info.decode_bytes >= info.stored_width as usize * info.stored_height as usize);
}

/// Probe with `options`; check the result's invariants and that the format parser agrees.
fn probe(
    ct: &str,
    data: &[u8],
    o: &DecodeOptions,
    format: ImageFormat,
) -> Option<image::ImageInfo> {
    match image::probe(ct, data, o) {
        Ok(info) => {
            check_info(&info, o, format);
            let (w, h) = match format {
                ImageFormat::Jpeg => {
                    let hd = jpeg::parse_header(data).expect("probe ok, header parse fails");
                    (hd.width, hd.height)
                }
                ImageFormat::Png => {
                    let hd = png::parse_header(data).expect("probe ok, header parse fails");
                    (hd.width, hd.height)
                }
            };
            assert_eq!((w, h), (info.stored_width, info.stored_height));
            Some(info)
        }
        Err(e) => {
            assert_image_error(&e, o.strict_content_type);
            None
        }
    }
}

pub fn check(data: &[u8], format: ImageFormat) {
    let ct = match format {
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Png => "image/png",
    };
    // Header-only checks with the library's defaults (64 Mpixel): whatever size the header
    // declares, this must answer from the headers alone (a huge allocation would abort the run).
    let defaults = DecodeOptions::default();
    let (n, _, largest, default_info) =
        heap::count_allocations(|| probe(ct, data, &defaults, format));
    assert!(
        largest <= 64 << 10,
        "probe allocated {largest} bytes at once ({n} allocations) for {} input bytes",
        data.len()
    );

    let options = fuzz_options();
    let info = probe(ct, data, &options, format);
    if let (Some(small), Some(default)) = (&info, &default_info) {
        assert_eq!(small, default, "the caps changed what the headers say");
    }
    if info.is_some() {
        assert!(
            default_info.is_some(),
            "ok under tight caps, refused under the defaults"
        );
    }

    let mut decoder = ImageDecoder::new(options);
    for mode in [ColorMode::Rgb, ColorMode::Gray] {
        let (result, _, peak) = heap::measure(|| {
            decoder.decode(ct, data, mode).map(|v| {
                (
                    v.width,
                    v.height,
                    v.channels,
                    v.pixels.len(),
                    v.info.clone(),
                )
            })
        });
        match result {
            Ok((w, h, c, len, vinfo)) => {
                let info = info.as_ref().expect("decoded, but the probe refused it");
                assert_eq!(&vinfo, info);
                assert_eq!((w, h), (info.width as usize, info.height as usize));
                assert_eq!(c, mode.channels());
                assert_eq!(len, w * h * c);
                if format == ImageFormat::Jpeg {
                    jpeg::check_complete(data).expect("decoded, but the JPEG is incomplete");
                }
                // The budget a service reserves for this image must cover what decoding took
                // (the decoder's own buffers are kept between calls, so a repeat costs less).
                assert!(
                    peak <= info.decode_bytes + (256 << 10),
                    "{w}x{h} {format:?} {mode:?}: decode peaked at {peak} bytes, estimate {}",
                    info.decode_bytes
                );
            }
            Err(e) => {
                assert_image_error(&e, false);
                if info.is_some() {
                    // The headers passed; what is left is the data itself.
                    assert!(
                        matches!(
                            e.code,
                            Code::CorruptImage | Code::UnsupportedImageFeature | Code::MemoryLimit
                        ),
                        "{e}"
                    );
                }
            }
        }
    }
}
