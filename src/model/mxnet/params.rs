//! Reader for MXNet's NDArray list files (`*.params`), as written by `mx.nd.save` and
//! `mx.model.save_checkpoint`, from MXNet 0.8 to 1.9.
//!
//! Layout (all little-endian, packed): `u64 0x112`, `u64 0`, `u64 n`, `n` records, `u64 m`
//! (0 or n) names as `u64 len` + bytes. A record starts with a magic that tells its version:
//! V2 `0xF993FAC9` (stype, i32 ndim, i64 dims), V3 `0xF993FACA` (as V2, numpy shape semantics),
//! V1 `0xF993FAC8` (no stype), anything else is a pre-0.11 record whose first u32 *is* `ndim`,
//! followed by u32 dims. Then context (2 x i32), i32 dtype flag, raw data.
//!
//! Hostile files are the norm here: every size read from the file is checked against the bytes
//! that are left before anything is allocated.

use std::io::Read;

use crate::error::{params_format, Result};

const LIST_MAGIC: u64 = 0x112;
const V1_MAGIC: u32 = 0xF993_FAC8;
const V2_MAGIC: u32 = 0xF993_FAC9;
const V3_MAGIC: u32 = 0xF993_FACA;
/// MXNet's own limit on tensor rank; real checkpoints use 1, 2 or 4.
const MAX_NDIM: usize = 32;

/// Which record layout a record used (reported by `info`, useful when debugging old files).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordVersion {
    Legacy,
    V1,
    V2,
    V3,
}

/// One dense array, widened to f32.
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    /// The element type stored in the file (before widening).
    pub stored_dtype: &'static str,
}

/// One named entry of a params file. `array` is `None` for MXNet's "none" records (ndim 0).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamEntry {
    /// The full stored name (`arg:conv0_weight`), or `None` when the file stores no names.
    pub name: Option<String>,
    pub array: Option<NdArray>,
    pub version: RecordVersion,
}

/// Parse a whole params file held in memory.
pub fn parse(bytes: &[u8]) -> Result<Vec<ParamEntry>> {
    parse_reader(bytes, bytes.len() as u64)
}

/// Parse a params file from a reader that holds `len` bytes, record by record: only the
/// widened f32 arrays are kept, never the whole file (loading peaks lower).
pub fn parse_reader(reader: impl Read, len: u64) -> Result<Vec<ParamEntry>> {
    let mut r = Cursor { reader, left: len };
    let magic = r.u64("the file header")?;
    if magic != LIST_MAGIC {
        return Err(params_format(format!(
            "not an MXNet NDArray list file: header magic is {magic:#018x}, expected {LIST_MAGIC:#x}"
        )));
    }
    r.u64("the file header")?; // reserved
    let count = r.u64("the array count")?;
    // Each record takes at least 8 bytes (legacy: ndim + ctx...), so a count larger than the
    // bytes left cannot be honest: refuse it before reserving anything for it.
    if count > (r.left() / 8) as u64 {
        return Err(params_format(format!(
            "the file claims {count} arrays but only {} bytes follow (truncated or corrupt)",
            r.left()
        )));
    }
    // Grown as records arrive: an honest count is small, and a hostile one that the bytes left
    // allow (one per 8 bytes) would reserve ~9 times the file.
    let mut entries = Vec::with_capacity((count as usize).min(1024));
    for index in 0..count as usize {
        let (array, version) = read_record(&mut r, index)?;
        entries.push(ParamEntry {
            name: None,
            array,
            version,
        });
    }
    let names = r.u64("the name list count")?;
    if names != 0 && names != count {
        return Err(params_format(format!(
            "the file holds {count} arrays but {names} names (must be 0 or {count})"
        )));
    }
    for (index, entry) in entries.iter_mut().enumerate().take(names as usize) {
        let what = format!("name {index} of the name list");
        let len = r.u64(&what)?;
        if len > r.left() as u64 {
            return Err(params_format(format!(
                "unexpected end of file in {what}: it claims {len} bytes, {} are left (truncated)",
                r.left()
            )));
        }
        let raw = r.take(len as usize, &what)?;
        let name = std::str::from_utf8(&raw)
            .map_err(|_| params_format(format!("{what} is not valid UTF-8")))?;
        entry.name = Some(name.to_string());
    }
    if r.left() != 0 {
        log::warn!(
            "params file has {} trailing bytes after the name list; ignored",
            r.left()
        );
    }
    Ok(entries)
}

fn read_record(
    r: &mut Cursor<impl Read>,
    index: usize,
) -> Result<(Option<NdArray>, RecordVersion)> {
    let header = format!("record {index}'s header");
    let first = r.u32(&header)?;
    let version = match first {
        V1_MAGIC => RecordVersion::V1,
        V2_MAGIC => RecordVersion::V2,
        V3_MAGIC => RecordVersion::V3,
        _ => RecordVersion::Legacy,
    };
    if matches!(version, RecordVersion::V2 | RecordVersion::V3) {
        let stype = r.i32(&header)?;
        if stype != 0 {
            return Err(params_format(format!(
                "record {index} is a sparse array (storage type {stype}); only dense arrays are supported"
            )));
        }
    }
    // Shape: V1/V2/V3 store an i32 ndim and i64 dims; legacy records store u32 ndim (the magic
    // we just read) and u32 dims.
    let ndim: i64 = match version {
        RecordVersion::Legacy => first as i64,
        _ => r.i32(&header)? as i64,
    };
    let none = match version {
        RecordVersion::V3 => ndim == -1,
        _ => ndim == 0,
    };
    if none {
        return Ok((None, version));
    }
    if ndim < 0 || ndim as usize > MAX_NDIM {
        return Err(params_format(format!(
            "record {index} claims ndim {ndim}; must be between 0 and {MAX_NDIM}{}",
            if version == RecordVersion::Legacy {
                " (or the record starts with an unknown magic)"
            } else {
                ""
            }
        )));
    }
    let ndim = ndim as usize;
    let dim_size = if version == RecordVersion::Legacy {
        4
    } else {
        8
    };
    if ndim * dim_size > r.left() {
        return Err(params_format(format!(
            "unexpected end of file in {header} (truncated)"
        )));
    }
    let mut shape = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        let d: i64 = if dim_size == 4 {
            r.u32(&header)? as i64
        } else {
            r.i64(&header)?
        };
        if d < 0 {
            return Err(params_format(format!(
                "record {index} has a negative dimension {d} in its shape"
            )));
        }
        shape.push(d as u64);
    }
    r.i32(&header)?; // dev_type: where MXNet would put it; irrelevant here
    r.i32(&header)?; // dev_id
    let flag = r.i32(&header)?;
    let (dtype, size) = match flag {
        0 => ("float32", 4usize),
        1 => ("float64", 8),
        2 => ("float16", 2),
        3 => ("uint8", 1),
        4 => ("int32", 4),
        5 => ("int8", 1),
        6 => ("int64", 8),
        7 => ("bool", 1),
        8 => ("int16", 2),
        9 => ("uint16", 2),
        10 => ("uint32", 4),
        11 => ("uint64", 8),
        12 => ("bfloat16", 2),
        _ => {
            return Err(params_format(format!(
                "record {index} has unknown dtype flag {flag} (known: 0..=12; 0 float32, 1 float64, 2 float16)"
            )))
        }
    };
    let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let bytes = elements.and_then(|n| n.checked_mul(size as u64));
    let (elements, bytes) = match (elements, bytes) {
        (Some(n), Some(b)) if b <= r.left() as u64 => (n as usize, b as usize),
        _ => {
            return Err(params_format(format!(
                "record {index} claims shape {shape:?} of {dtype}: {} bytes, but only {} bytes are left in the file (truncated or corrupt)",
                bytes.map_or_else(|| "more than 2^64".to_string(), |b| b.to_string()),
                r.left()
            )))
        }
    };
    let size = match flag {
        0 => 4,
        1 => 8,
        2 => 2,
        _ => {
            return Err(params_format(format!(
                "record {index} stores {dtype}; weights must be float32, float64 or float16"
            )))
        }
    };
    // Within the load's memory limit (a service's), before the array exists.
    let chunk_len = (64 << 10).min(bytes);
    crate::mem::heap::reserve(
        || format!("record {index} ({elements} values, widened to float32)"),
        4 * elements as u64 + chunk_len as u64,
    )?;
    // Widen chunk by chunk into the final vector: the raw bytes never exist whole.
    let mut data: Vec<f32> = Vec::with_capacity(elements);
    let mut chunk = vec![0u8; chunk_len];
    let mut remaining = bytes;
    while remaining > 0 {
        let n = chunk.len().min(remaining);
        r.fill(&mut chunk[..n], &format!("record {index}'s data"))?;
        let raw = &chunk[..n];
        match size {
            4 => data.extend(
                raw.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            ),
            8 => data.extend(
                raw.chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("chunk of 8")) as f32),
            ),
            _ => data.extend(
                raw.chunks_exact(2)
                    .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))),
            ),
        }
        remaining -= n;
    }
    debug_assert_eq!(data.len(), elements);
    let shape = shape.into_iter().map(|d| d as usize).collect();
    Ok((
        Some(NdArray {
            shape,
            data,
            stored_dtype: dtype,
        }),
        version,
    ))
}

/// Exact IEEE half → single conversion (subnormals, infinities and NaN included).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal half: value = m * 2^-24; renormalise into a single-precision normal.
            let shift = m.leading_zeros() - 21; // bring the top set bit to position 10
            let m = (m << shift) & 0x3ff;
            let e = 127 - 15 + 1 - shift;
            sign | (e << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// A reader that knows how many bytes are left, so sizes claimed by the file can be checked
/// before anything is allocated for them.
struct Cursor<R> {
    reader: R,
    left: u64,
}

impl<R: Read> Cursor<R> {
    fn left(&self) -> usize {
        usize::try_from(self.left).unwrap_or(usize::MAX)
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        let n = buf.len() as u64;
        if n > self.left {
            return Err(params_format(format!(
                "unexpected end of file in {what}: needs {n} bytes, {} are left (truncated)",
                self.left
            )));
        }
        self.reader.read_exact(buf).map_err(|e| {
            params_format(format!("unexpected end of file in {what}: {e} (truncated)"))
        })?;
        self.left -= n;
        Ok(())
    }

    /// `n` bytes (callers have checked `n` against `left` for anything the file sized).
    fn take(&mut self, n: usize, what: &str) -> Result<Vec<u8>> {
        if n as u64 > self.left {
            return Err(params_format(format!(
                "unexpected end of file in {what}: needs {n} bytes, {} are left (truncated)",
                self.left
            )));
        }
        let mut v = vec![0u8; n];
        self.fill(&mut v, what)?;
        Ok(v)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let mut b = [0u8; 4];
        self.fill(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn i32(&mut self, what: &str) -> Result<i32> {
        Ok(self.u32(what)? as i32)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let mut b = [0u8; 8];
        self.fill(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    fn i64(&mut self, what: &str) -> Result<i64> {
        Ok(self.u64(what)? as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example from the format notes: `mx.nd.save` of {'arg:w': f32 [[0,1,2],[3,4,5]],
    /// 'aux:m': f64 [1.5]}, 162 bytes, written out by hand here.
    fn worked_example() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0x112u64.to_le_bytes());
        v.extend_from_slice(&0u64.to_le_bytes());
        v.extend_from_slice(&2u64.to_le_bytes());
        v.extend_from_slice(&V2_MAGIC.to_le_bytes());
        v.extend_from_slice(&0i32.to_le_bytes());
        v.extend_from_slice(&2i32.to_le_bytes());
        v.extend_from_slice(&2i64.to_le_bytes());
        v.extend_from_slice(&3i64.to_le_bytes());
        v.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for x in 0..6 {
            v.extend_from_slice(&(x as f32).to_le_bytes());
        }
        v.extend_from_slice(&V2_MAGIC.to_le_bytes());
        v.extend_from_slice(&0i32.to_le_bytes());
        v.extend_from_slice(&1i32.to_le_bytes());
        v.extend_from_slice(&1i64.to_le_bytes());
        v.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        v.extend_from_slice(&1.5f64.to_le_bytes());
        v.extend_from_slice(&2u64.to_le_bytes());
        for n in ["arg:w", "aux:m"] {
            v.extend_from_slice(&(n.len() as u64).to_le_bytes());
            v.extend_from_slice(n.as_bytes());
        }
        v
    }

    #[test]
    fn reads_the_worked_example() {
        let bytes = worked_example();
        assert_eq!(bytes.len(), 162);
        let e = parse(&bytes).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name.as_deref(), Some("arg:w"));
        let a = e[0].array.as_ref().unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, vec![0., 1., 2., 3., 4., 5.]);
        assert_eq!(e[1].array.as_ref().unwrap().data, vec![1.5]);
        assert_eq!(e[1].array.as_ref().unwrap().stored_dtype, "float64");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = worked_example();
        for len in 0..bytes.len() {
            assert!(
                parse(&bytes[..len]).is_err(),
                "prefix of {len} bytes parsed"
            );
        }
    }

    #[test]
    fn none_records_and_no_names() {
        let mut v = Vec::new();
        v.extend_from_slice(&0x112u64.to_le_bytes());
        v.extend_from_slice(&0u64.to_le_bytes());
        v.extend_from_slice(&1u64.to_le_bytes());
        v.extend_from_slice(&V2_MAGIC.to_le_bytes());
        v.extend_from_slice(&0i32.to_le_bytes());
        v.extend_from_slice(&0i32.to_le_bytes()); // ndim 0: "none", the record ends here
        v.extend_from_slice(&0u64.to_le_bytes()); // no names
        let e = parse(&v).unwrap();
        assert_eq!(
            e,
            vec![ParamEntry {
                name: None,
                array: None,
                version: RecordVersion::V2
            }]
        );
    }

    #[test]
    fn f16_widening_is_exact() {
        // Hand-computed values: 1.0, -2.0, 65504 (max), 2^-14 (min normal), 2^-24 (min subnormal),
        // 3 * 2^-24, 1365 * 2^-12 (0x3555), infinity.
        let cases: [(u16, f32); 8] = [
            (0x3c00, 1.0),
            (0xc000, -2.0),
            (0x7bff, 65504.0),
            (0x0400, 1.0 / 16384.0),
            (0x0001, 1.0 / 16777216.0),
            (0x0003, 3.0 / 16777216.0),
            (0x3555, 1365.0 / 4096.0),
            (0x7c00, f32::INFINITY),
        ];
        for (h, f) in cases {
            assert_eq!(f16_to_f32(h), f, "{h:#06x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), 0x8000_0000);
    }
}
