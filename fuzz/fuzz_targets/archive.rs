//! Model archives (tar and tar.gz) into the loader, as a service loads them: through
//! `ImportedModel::load` on a file, inside a memory limit.
//!
//! The first byte chooses how the rest is written: bit 0 set, gzipped here (so mutations hit the
//! tar structure inside a valid gzip stream); clear, as is (a raw tar, or gzip bytes that
//! mutations corrupt).
//!
//! Invariants: an error has a model or limit code (never `Internal`/`Panic`); the load's heap
//! peak stays within the limit (plus a small slack for the allocations under the size the
//! loader checks); an imported model has the `[1, C, H, W]` input and at least one class.
#![no_main]

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use edgeclass::model::ImportedModel;
use edgeclass::mem::heap;
use edgeclass::Code;
use libfuzzer_sys::fuzz_target;

/// The load's memory limit: small, so that the archive sizes a fuzz input can reach (a 4 KB
/// gzip inflates to ~4 MB) cross it.
const LIMIT: u64 = 2 << 20;
/// Allocations under the sizes the loader reserves (names, small vectors, tract's graph nodes).
const SLACK: usize = 1 << 20;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("edgeclass-fuzz-archive-{}", std::process::id()))
    })
}

/// tract-nnef panics on some malformed graphs, and `nnef::load` catches that (an `NNEF` error);
/// libFuzzer's hook would abort first. Panics from tract files unwind to that catch; any other
/// panic still aborts here (and one that escapes the loader aborts in the harness).
fn let_the_loader_catch_tract_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.location().is_some_and(|l| l.file().contains("tract-")) {
                return;
            }
            abort(info)
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    let_the_loader_catch_tract_panics();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 1 {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(rest).expect("in memory");
        gz.finish().expect("in memory")
    } else {
        rest.to_vec()
    };
    std::fs::write(path(), &bytes).expect("temporary file");
    drop(bytes);
    let (loaded, _, peak) =
        heap::measure(|| heap::with_load_limit(LIMIT, || ImportedModel::load(path())));
    if heap::is_counting() {
        assert!(
            peak <= LIMIT as usize + SLACK,
            "the load peaked at {peak} bytes with a limit of {LIMIT} ({:?})",
            loaded.as_ref().err()
        );
    }
    match loaded {
        Ok(m) => {
            assert_eq!(m.info.input_shape[0], 1);
            assert!(m.info.classes >= 1, "{:?}", m.info);
        }
        Err(e) => assert!(
            matches!(
                e.code,
                Code::ModelNotFound
                    | Code::ParamsFormat
                    | Code::SymbolFormat
                    | Code::UnsupportedOperator
                    | Code::ModelMismatch
                    | Code::Nnef
                    | Code::Io
                    | Code::MemoryLimit
            ),
            "unexpected error code {:?}: {e}",
            e.code
        ),
    }
});
