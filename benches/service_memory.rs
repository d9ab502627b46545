//! Memory of a long-lived service: open a ResNet-18 service (tests/fixtures/full, made by
//! scripts/make-full-models.sh; or EDGECLASS_BENCH_MODEL), answer 100 requests, and print the
//! library's live and peak heap and the process RSS next to the service's limit.
//! `cargo bench --bench service_memory`

use std::collections::BTreeMap;
use std::path::PathBuf;

use edgeclass::mem::heap;
use edgeclass::service::{Service, ServiceConfig};

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let model = std::env::var_os("EDGECLASS_BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or(root.join("full/resnet18-224"));
    if !model.exists() {
        println!(
            "SKIPPED: {} not found (run scripts/make-full-models.sh)",
            model.display()
        );
        return;
    }
    let limit_kb: u64 = std::env::var("EDGECLASS_BENCH_LIMIT_KB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(262_144);
    let params: BTreeMap<String, String> = [
        (
            "MLModelDestinationPath",
            model.to_str().unwrap().to_string(),
        ),
        ("LocalInferenceServiceName", "memory-bench".to_string()),
        ("LocalInferenceServiceTimeoutSeconds", "10".to_string()),
        ("LocalInferenceServiceMemoryLimitKB", limit_kb.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let body = std::fs::read(root.join("photos/china.jpg")).unwrap();
    let baseline = heap::live_bytes();
    heap::reset_peak();
    let service = Service::open(ServiceConfig::from_parameters(&params).unwrap()).unwrap();
    let b = service.budget();
    for _ in 0..100 {
        service.classify("image/jpeg", &body, None).unwrap();
    }
    let live = heap::live_bytes() - baseline;
    let peak = heap::peak_bytes() - baseline;
    println!("model {}", model.display());
    println!(
        "limit                 {:>12} bytes ({limit_kb} KB)",
        b.limit
    );
    println!("model (retained)      {:>12} bytes", b.model_bytes);
    println!("model (loading peak)  {:>12} bytes", b.load_peak_bytes);
    println!("activations / worker  {:>12} bytes", b.activation_bytes);
    println!("image budget / worker {:>12} bytes", b.image_bytes);
    println!("after 100 requests:   live heap {live} bytes, peak heap {peak} bytes ({:.1} % of the limit)", 100.0 * peak as f64 / b.limit as f64);
    println!(
        "process RSS           {} KiB now, {} KiB peak (VmHWM)",
        status_kib("VmRSS:"),
        status_kib("VmHWM:")
    );
    let s = service.stats();
    println!(
        "requests {} ok {} failed {}; largest request peak {} bytes",
        s.requests, s.succeeded, s.failed, s.request_peak_bytes
    );
}
