//! EXIF orientation: a minimal, bounds-checked TIFF reader for tag 0x0112 in IFD0, and the pixel
//! transforms OpenCV 4.10's `imdecode` applies for each value.
//!
//! The bytes are hostile input: every read goes through `get`, every offset is checked, and the
//! entry loop is bounded by the data length, so nothing here can panic or loop forever.

/// The orientation tag's value (1..=8) in IFD0 of a TIFF-structured EXIF block (the bytes after
/// JPEG's `Exif\0\0` prefix, or a PNG eXIf chunk). `None` when the block is malformed or has no
/// valid orientation, which OpenCV also treats as "leave the image alone".
pub fn orientation(tiff: &[u8]) -> Option<u8> {
    let little = match tiff.get(0..4)? {
        [b'I', b'I', 42, 0] => true,
        [b'M', b'M', 0, 42] => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b = tiff.get(at..at.checked_add(2)?)?;
        Some(if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b = tiff.get(at..at.checked_add(4)?)?;
        let a = [b[0], b[1], b[2], b[3]];
        Some(if little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        })
    };
    let ifd0 = usize::try_from(u32_at(4)?).ok()?;
    let count = usize::from(u16_at(ifd0)?);
    for i in 0..count {
        // 12-byte entries: tag u16, type u16, count u32, value-or-offset u32.
        let entry = ifd0.checked_add(2)?.checked_add(i.checked_mul(12)?)?;
        let tag = u16_at(entry)?;
        if tag != 0x0112 {
            continue;
        }
        let kind = u16_at(entry + 2)?;
        // SHORT (3) is what the standard says; a LONG (4) is read too, as a tolerant reader would.
        let value = match kind {
            3 => u32::from(u16_at(entry + 8)?),
            4 => u32_at(entry + 8)?,
            _ => return None,
        };
        return u8::try_from(value).ok().filter(|v| (1..=8).contains(v));
    }
    None
}

/// Whether this orientation swaps width and height (the transposing ones, 5..=8).
pub fn swaps_axes(orientation: u8) -> bool {
    (5..=8).contains(&orientation)
}

/// Write `src` (`width` x `height`, `channels` interleaved bytes per pixel) into `dst` as OpenCV's
/// `ApplyExifOrientation` leaves it. 1 = as stored; 2 = mirror left-right; 3 = rotate 180;
/// 4 = mirror top-bottom; 5 = transpose; 6 = rotate 90 clockwise (transpose, mirror left-right);
/// 7 = transverse (transpose, rotate 180); 8 = rotate 90 counter-clockwise (transpose, mirror
/// top-bottom). `dst` must hold exactly as many bytes as `src`.
pub fn apply(
    orientation: u8,
    src: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    dst: &mut [u8],
) {
    debug_assert_eq!(src.len(), width * height * channels);
    debug_assert_eq!(dst.len(), src.len());
    let transposed = swaps_axes(orientation);
    // Output size: transposed orientations swap the axes.
    let (out_w, out_h) = if transposed {
        (height, width)
    } else {
        (width, height)
    };
    // For each output pixel (ox, oy), the source pixel. After a transpose the output's x runs
    // along the source's y; the flips then mirror the output axes.
    let (mirror_x, mirror_y) = match orientation {
        2 => (true, false),
        3 => (true, true),
        4 => (false, true),
        5 => (false, false),
        6 => (true, false),
        7 => (true, true),
        8 => (false, true),
        _ => (false, false),
    };
    for (oy, out_row) in dst
        .chunks_exact_mut(out_w * channels)
        .take(out_h)
        .enumerate()
    {
        let ty = if mirror_y { out_h - 1 - oy } else { oy };
        for (ox, out_px) in out_row.chunks_exact_mut(channels).enumerate() {
            let tx = if mirror_x { out_w - 1 - ox } else { ox };
            // (tx, ty) is in the transposed frame when `transposed`, else in the source frame.
            let (sx, sy) = if transposed { (ty, tx) } else { (tx, ty) };
            let at = (sy * width + sx) * channels;
            out_px.copy_from_slice(&src[at..at + channels]);
        }
    }
}
