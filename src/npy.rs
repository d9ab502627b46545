//! A small, strict reader for NumPy `.npy` files (format versions 1-3), for input tensors
//! (`float32`) and reference images (`uint8`). Only C-order, little-endian or byte-sized dtypes.

use crate::error::{bad_tensor, Result};

/// Element types edgeclass reads from `.npy` files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyDtype {
    F32,
    U8,
}

impl NpyDtype {
    fn size(self) -> usize {
        match self {
            NpyDtype::F32 => 4,
            NpyDtype::U8 => 1,
        }
    }
}

/// A parsed `.npy` header plus a view of the data bytes.
#[derive(Debug)]
pub struct Npy<'a> {
    pub dtype: NpyDtype,
    pub shape: Vec<usize>,
    pub data: &'a [u8],
}

impl<'a> Npy<'a> {
    /// Parse `bytes` as a `.npy` file; the data length must match the header exactly.
    pub fn parse(bytes: &'a [u8]) -> Result<Npy<'a>> {
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            return Err(bad_tensor("not a .npy file (missing \\x93NUMPY magic)"));
        }
        let (header_len, start): (usize, usize) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            v => {
                return Err(bad_tensor(format!(
                    ".npy format version {v} is not supported"
                )))
            }
        };
        let end = start
            .checked_add(header_len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad_tensor(".npy header runs past the end of the file"))?;
        let header = std::str::from_utf8(&bytes[start..end])
            .map_err(|_| bad_tensor(".npy header is not text"))?;
        let descr = dict_value(header, "descr")?;
        let dtype = match descr.trim_matches(|c| c == '\'' || c == '"') {
            "<f4" => NpyDtype::F32,
            "|u1" | "<u1" | "u1" => NpyDtype::U8,
            other => {
                return Err(bad_tensor(format!(
                    ".npy dtype {other} is not supported (float32 '<f4' or uint8 '|u1')"
                )))
            }
        };
        if dict_value(header, "fortran_order")?.trim() != "False" {
            return Err(bad_tensor(
                ".npy file is in Fortran order; only C order is supported",
            ));
        }
        let shape_text = dict_value(header, "shape")?;
        let shape_text = shape_text
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')');
        let mut shape = Vec::new();
        for part in shape_text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            shape.push(part.parse::<usize>().map_err(|_| {
                bad_tensor(format!(
                    ".npy shape entry {part:?} is not a non-negative integer"
                ))
            })?);
        }
        let count = shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| bad_tensor(".npy shape is too large"))?;
        let data = &bytes[end..];
        if data.len() != count {
            return Err(bad_tensor(format!(
                ".npy header says shape {shape:?} ({count} data bytes) but the file holds {} data bytes",
                data.len()
            )));
        }
        Ok(Npy { dtype, shape, data })
    }

    /// The data as f32 values (dtype must be float32).
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        if self.dtype != NpyDtype::F32 {
            return Err(bad_tensor(format!(
                "expected a float32 .npy, found {:?}",
                self.dtype
            )));
        }
        Ok(f32_from_le_bytes(self.data))
    }
}

/// Little-endian f32 values from bytes (length must be a multiple of 4; the tail is ignored).
pub fn f32_from_le_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The text after `'key':` in a Python dict literal, up to the next top-level comma.
fn dict_value<'h>(header: &'h str, key: &str) -> Result<&'h str> {
    let pat1 = format!("'{key}':");
    let pat2 = format!("\"{key}\":");
    let at = header
        .find(&pat1)
        .map(|i| i + pat1.len())
        .or_else(|| header.find(&pat2).map(|i| i + pat2.len()))
        .ok_or_else(|| bad_tensor(format!(".npy header has no {key:?} entry")))?;
    let rest = &header[at..];
    let mut depth = 0i32;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Ok(rest[..i].trim()),
            _ => {}
        }
    }
    Err(bad_tensor(format!(
        ".npy header entry {key:?} is not terminated"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut h = header.to_string();
        while !(10 + h.len() + 1).is_multiple_of(16) {
            h.push(' ');
        }
        h.push('\n');
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(h.len() as u16).to_le_bytes());
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn reads_f32_and_u8() {
        let mut data = Vec::new();
        for x in [1.5f32, -2.0, 0.25] {
            data.extend_from_slice(&x.to_le_bytes());
        }
        let f = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }",
            &data,
        );
        let n = Npy::parse(&f).unwrap();
        assert_eq!(n.shape, vec![1, 3]);
        assert_eq!(n.to_f32().unwrap(), vec![1.5, -2.0, 0.25]);
        let u = npy(
            "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }",
            &[7, 9],
        );
        let n = Npy::parse(&u).unwrap();
        assert_eq!(
            (n.dtype, n.shape.clone(), n.data),
            (NpyDtype::U8, vec![2], &[7u8, 9][..])
        );
    }

    #[test]
    fn rejects_bad_files() {
        let f = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }",
            &[0; 8],
        );
        assert!(Npy::parse(&f)
            .unwrap_err()
            .message
            .contains("12 data bytes"));
        let f = npy(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
            &[0; 8],
        );
        assert!(Npy::parse(&f).unwrap_err().message.contains("<f8"));
        assert!(Npy::parse(b"hello").is_err());
        let f = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999, 99999999999), }", &[]);
        assert!(Npy::parse(&f).is_err());
    }
}
