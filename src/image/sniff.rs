//! Content types and format detection from the bytes themselves.
//!
//! OpenCV's `imdecode` ignores the declared type and sniffs the bytes, so we do the same and only
//! use the content type to refuse what the connector never accepted and to warn on a mismatch.

use crate::error::{unsupported_content_type, unsupported_image_format, Result};

/// An image format edgeclass decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
}

impl ImageFormat {
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
        }
    }
}

/// What a content type declares. `application/x-image` (the connector's generic type) declares
/// no format, so any detected format agrees with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclaredType {
    Jpeg,
    Png,
    AnyImage,
}

/// Parse a content type: case-insensitive, parameters after `;` ignored.
pub fn parse_content_type(content_type: &str) -> Result<DeclaredType> {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("image/jpeg") || essence.eq_ignore_ascii_case("image/jpg") {
        Ok(DeclaredType::Jpeg)
    } else if essence.eq_ignore_ascii_case("image/png") {
        Ok(DeclaredType::Png)
    } else if essence.eq_ignore_ascii_case("application/x-image") {
        Ok(DeclaredType::AnyImage)
    } else {
        Err(unsupported_content_type(format!(
            "content type {content_type:?} is not accepted (accepted: image/jpeg, image/jpg, \
             image/png, application/x-image)"
        )))
    }
}

impl DeclaredType {
    /// Whether the detected format is what this type declares.
    pub fn agrees_with(self, format: ImageFormat) -> bool {
        match self {
            DeclaredType::AnyImage => true,
            DeclaredType::Jpeg => format == ImageFormat::Jpeg,
            DeclaredType::Png => format == ImageFormat::Png,
        }
    }
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// Detect JPEG or PNG from the first bytes; anything else is an `UnsupportedImageFormat` error
/// whose message names what the bytes look like.
pub fn detect_format(bytes: &[u8]) -> Result<ImageFormat> {
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Ok(ImageFormat::Jpeg);
    }
    if bytes.starts_with(&PNG_SIGNATURE) {
        return Ok(ImageFormat::Png);
    }
    Err(unsupported_image_format(format!(
        "the image is {}; only JPEG and PNG are supported",
        describe_unknown(bytes)
    )))
}

/// A short description of bytes that are neither JPEG nor PNG.
fn describe_unknown(bytes: &[u8]) -> String {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    let known = if bytes.is_empty() {
        Some("an empty body (0 bytes)")
    } else if starts(b"BM") && bytes.len() >= 14 {
        Some("BMP")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("GIF")
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("WebP")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("TIFF")
    } else if bytes.get(4..8) == Some(b"ftyp") {
        Some("an ISO media file (HEIF/AVIF/MP4)")
    } else if starts(&[0xff, 0xd8]) {
        Some("a JPEG start marker not followed by a marker (corrupt JPEG)")
    } else if starts(&PNG_SIGNATURE[..4]) {
        Some("a damaged PNG signature")
    } else if starts(b"\0\0\0\x0cjP  ") || starts(&[0xff, 0x4f, 0xff, 0x51]) {
        Some("JPEG 2000")
    } else {
        None
    };
    if let Some(name) = known {
        return name.to_string();
    }
    let head = bytes.iter().take(32);
    let printable = head
        .clone()
        .all(|&b| b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b));
    if printable {
        let text: String = bytes.iter().take(16).map(|&b| b as char).collect();
        return format!("text ({text:?}...)");
    }
    let hex: Vec<String> = bytes.iter().take(4).map(|b| format!("0x{b:02x}")).collect();
    format!("unknown bytes {}", hex.join(" "))
}
