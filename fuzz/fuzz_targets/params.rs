//! The `.params` reader (MXNet NDArray list files), whole-buffer and streaming.
//!
//! Invariants: an error is always `ParamsFormat`; the streaming reader (fed by a reader that
//! returns short reads) gives exactly what the in-memory parser gives; every array holds
//! product(shape) values; no single allocation is larger than a small multiple of the input
//! (sizes claimed by the file must be checked against the bytes that are there).
#![no_main]

use std::io::Read;

use edgeclass::model::mxnet::{self, params};
use edgeclass::mem::heap;
use edgeclass::Code;
use libfuzzer_sys::fuzz_target;

/// A reader that hands out at most `step` bytes per call (1..=13), like a slow pipe.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

type Fingerprint = Vec<(
    Option<String>,
    Option<(Vec<usize>, Vec<u32>)>,
    params::RecordVersion,
)>;

fn fingerprint(entries: &[params::ParamEntry]) -> Fingerprint {
    entries
        .iter()
        .map(|e| {
            let array = e.array.as_ref().map(|a| {
                (
                    a.shape.clone(),
                    a.data.iter().map(|v| v.to_bits()).collect(),
                )
            });
            (e.name.clone(), array, e.version)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (n, _, largest, parsed) = heap::count_allocations(|| params::parse(data));
    // f16 widens 2x; entries cost ~10x their 8 minimal bytes; chunk buffers are 64 KiB.
    let bound = 16 * data.len() + (128 << 10);
    assert!(
        largest <= bound,
        "parse made an allocation of {largest} bytes ({n} in all) for {} input bytes",
        data.len()
    );
    let step = 1 + data.first().map_or(0, |b| usize::from(*b) % 13);
    let streamed = params::parse_reader(Trickle { data, step }, data.len() as u64);
    match (&parsed, &streamed) {
        // Bit for bit (NaN weights included): same names, shapes, versions and values.
        (Ok(a), Ok(b)) => assert_eq!(
            fingerprint(a),
            fingerprint(b),
            "streaming and in-memory parses differ"
        ),
        (Err(a), Err(b)) => assert_eq!(a.code, b.code),
        _ => panic!("in-memory {parsed:?} but streamed {streamed:?}"),
    }
    match parsed {
        Ok(entries) => {
            let named = entries.iter().filter(|e| e.name.is_some()).count();
            assert!(named == 0 || named == entries.len());
            for e in &entries {
                if let Some(a) = &e.array {
                    let count = a
                        .shape
                        .iter()
                        .try_fold(1usize, |acc, &d| acc.checked_mul(d));
                    assert_eq!(count, Some(a.data.len()), "shape {:?}", a.shape);
                    assert!(matches!(a.stored_dtype, "float32" | "float64" | "float16"));
                }
            }
            if let Err(e) = mxnet::params_by_name(entries) {
                assert_eq!(e.code, Code::ParamsFormat, "{e}");
            }
        }
        Err(e) => assert_eq!(e.code, Code::ParamsFormat, "{e}"),
    }
});
