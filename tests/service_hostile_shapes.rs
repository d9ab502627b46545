//! A model whose weights are small but whose activations are huge (a hostile or mistaken
//! `model-shapes.json`: the tiny-trained digits network, fully convolutional up to its global
//! pooling, asked for 3x4096x4096 inputs: its first convolution alone outputs 16 x 4096 x 4096
//! floats, 1 GiB). Opening it under a 195 MiB limit must fail with MEMORY_LIMIT before the warm-up
//! run allocates anything of that size: the library's peak live heap stays under the limit.
//! Alone in its test binary, so the process-wide heap figures are this test's.
#![cfg(feature = "heap-accounting")]

mod common;

use edgeclass::mem::heap;
use edgeclass::service::{Service, ServiceConfig};
use edgeclass::Code;

#[test]
fn huge_activations_are_refused_before_the_warm_up_allocates_them() {
    let src = common::fixtures().join("tiny-trained");
    let dir = std::env::temp_dir().join(format!("edgeclass-huge-shapes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "image-classification-symbol.json",
        "image-classification-0030.params",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    std::fs::write(
        dir.join("model-shapes.json"),
        r#"[{"shape": [1, 3, 4096, 4096], "name": "data"}]"#,
    )
    .unwrap();
    let limit_kb = 200_000u64;
    let mut params = common::tiny_service_params("huge-shapes", limit_kb, 1);
    params.insert(
        "MLModelDestinationPath".into(),
        dir.to_str().unwrap().to_string(),
    );
    let base = heap::live_bytes() as u64;
    heap::reset_peak();
    let started = std::time::Instant::now();
    let Err(e) = Service::open(ServiceConfig::from_parameters(&params).unwrap()) else {
        panic!("opened a service whose first activation is 1 GiB under a 195 MiB limit");
    };
    let peak = heap::peak_bytes() as u64 - base;
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!(
        "{e}; peak live heap while opening {peak} B, {:?}",
        started.elapsed()
    );
    assert_eq!(e.code, Code::MemoryLimit, "{e}");
    assert!(e.message.contains("intermediate value"), "{e}");
    // At least 16 x 4096 x 4096 x 4 bytes, the first convolution's output (the largest value may
    // be bigger: with Winograd, a transformed input is 4x the convolution's input).
    let needed: u64 = e
        .message
        .split("needs ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no byte count in {e}"));
    assert!(needed >= 16u64 << 26, "{e}");
    assert!(
        peak <= limit_kb * 1024,
        "peak live heap {peak} B over the limit"
    );
}
