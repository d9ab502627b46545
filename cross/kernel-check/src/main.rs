//! Prints the tract matrix-multiplication kernels that an optimised model uses on this CPU:
//! one line per kernel, `KERNEL <name> <count>`.
//!
//! tract picks its ARM kernels at run time (from /proc/cpuinfo, the auxiliary vector and its
//! TRACT_CPU_* knobs). Under qemu-user /proc/cpuinfo is the host's, so without care the cross
//! tests would exercise other kernels than real boards run (VFPv2 on armv7, SVE on aarch64).
//! cross/run.sh runs this under the same runner as the tests and fails unless every kernel is a
//! NEON one (armv7neon_*, arm64simd_*).
//!
//!     edgeclass-kernel-check MODEL_DIR

use std::collections::BTreeMap;
use std::path::Path;

use edgeclass::model::ImportedModel;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: edgeclass-kernel-check MODEL_DIR");
        std::process::exit(2);
    };
    let imported = ImportedModel::load(Path::new(&path)).expect("loading the model");
    // The same optimisation as Model::load: this is where tract chooses the kernels.
    let optimized = imported
        .typed
        .into_optimized()
        .expect("optimising the model");
    let mut kernels: BTreeMap<String, usize> = BTreeMap::new();
    for node in optimized.nodes() {
        // An optimised matmul describes itself as "Mult: m:.. k:.. n:.. with [kernel, ...]".
        for line in node.op.info().unwrap_or_default() {
            let Some(rest) = line.strip_prefix("Mult: ") else {
                continue;
            };
            let list = rest.rsplit(" with ").next().unwrap_or(rest);
            for name in list.trim_matches(|c| c == '[' || c == ']').split(',') {
                let name = name.trim();
                if !name.is_empty() {
                    *kernels.entry(name.to_string()).or_default() += 1;
                }
            }
        }
    }
    if kernels.is_empty() {
        // tract changed how it describes its matmuls: fail rather than pass vacuously.
        eprintln!("edgeclass-kernel-check: no matmul kernel found in the optimised model");
        std::process::exit(1);
    }
    for (name, count) in kernels {
        println!("KERNEL {name} {count}");
    }
}
