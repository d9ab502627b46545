//! Counters of the daemon, written as Prometheus text format 0.0.4 on `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use edgeclass::service::CallStats;

/// Upper bounds of the latency buckets, seconds (`+Inf` follows).
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The stages of a request that have a histogram (the library's `CallStats`, and the whole).
pub const STAGES: [&str; 5] = ["wait", "decode", "preprocess", "inference", "total"];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, us: u64) {
        let s = us as f64 / 1e6;
        // Cumulative buckets are summed when written; here each value lands in its first bucket.
        if let Some(i) = BUCKETS.iter().position(|&b| s <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

/// One service's counters.
#[derive(Default)]
pub struct ServiceMetrics {
    requests: AtomicU64,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    statuses: Mutex<BTreeMap<u16, u64>>,
    stages: [Histogram; 5],
    reloads: AtomicU64,
    reload_failures: AtomicU64,
}

impl ServiceMetrics {
    /// An invocation answered with `status`; `failure` is its error code's name, if it failed.
    pub fn answered(&self, status: u16, failure: Option<&'static str>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        *lock(&self.statuses).entry(status).or_default() += 1;
        if let Some(name) = failure {
            *lock(&self.failures).entry(name).or_default() += 1;
        }
    }

    /// The stage timings of a classification, and the whole request's time.
    pub fn timed(&self, stats: &CallStats, total_us: u64) {
        let values = [
            stats.wait_us,
            stats.decode_us,
            stats.preprocess_us,
            stats.inference_us,
            total_us,
        ];
        for (h, v) in self.stages.iter().zip(values) {
            h.observe(v);
        }
    }

    /// A reload finished (`ok`: the new model serves).
    pub fn reloaded(&self, ok: bool) {
        let c = if ok {
            &self.reloads
        } else {
            &self.reload_failures
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A label value, escaped as the text format requires.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What the text format needs of a service beside its counters.
pub struct ServiceView<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its counters.
    pub metrics: &'a ServiceMetrics,
    /// Whether it serves (loaded).
    pub loaded: bool,
    /// Its memory figures, when loaded.
    pub memory: Option<Memory>,
}

/// A service's memory figures, bytes.
#[derive(Clone, Copy)]
pub struct Memory {
    /// The limit.
    pub limit: u64,
    /// What it holds before any image (the budget's fixed part).
    pub planned: u64,
    /// Per worker, what one image may use.
    pub image_budget: u64,
    /// The highest heap use of one request so far.
    pub request_peak: u64,
}

/// An ML Feedback connector's counters (`edgeclass::feedback::Feedback::stats`).
pub struct FeedbackView<'a> {
    /// Its connector `Id`.
    pub connector: &'a str,
    /// Its counters now.
    pub stats: edgeclass::feedback::FeedbackStats,
}

/// The feedback families: (name, type, help, the value of a connector's counters).
type FeedbackPick = fn(&edgeclass::feedback::FeedbackStats) -> u64;
const FEEDBACK: [(&str, &str, &str, FeedbackPick); 7] = [
    ("edgeclass_feedback_requests_total", "counter", "ML Feedback requests (classifications of services naming the connector, and publish calls), per connector.", |s| s.requests),
    ("edgeclass_feedback_spooled_total", "counter", "Samples kept by the sampling strategy and written to the spool, per connector.", |s| s.spooled),
    ("edgeclass_feedback_dropped_total", "counter", "Samples not kept by the sampling strategy (SampleNotUsed), per connector.", |s| s.dropped_by_strategy),
    ("edgeclass_feedback_throttled_total", "counter", "Requests ignored because RequestLimit were in progress (Queue.Full), per connector.", |s| s.throttled),
    ("edgeclass_feedback_uploaded_total", "counter", "Samples uploaded (SampleUploadSuccess), per connector.", |s| s.uploaded),
    ("edgeclass_feedback_upload_failures_total", "counter", "Failed uploads (SampleUploadFailure; the sample stays and is tried again), per connector.", |s| s.upload_failures),
    ("edgeclass_feedback_spool_samples", "gauge", "Samples waiting in the spool for upload now, per connector.", |s| s.spool.samples),
];

/// Write one metric family: HELP, TYPE, then the samples `f` writes.
fn family(out: &mut String, name: &str, kind: &str, help: &str, f: impl FnOnce(&mut String)) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    f(out);
}

/// The whole `/metrics` text.
pub fn render(
    services: &[ServiceView<'_>],
    feedback: &[FeedbackView<'_>],
    heap_live: Option<u64>,
) -> String {
    let mut o = String::new();
    family(&mut o, "edgeclass_service_loaded", "gauge", "1 when the service's model is loaded and serving, 0 when its configuration or load failed.", |o| {
        for s in services {
            let _ = writeln!(o, "edgeclass_service_loaded{{service=\"{}\"}} {}", esc(s.name), u8::from(s.loaded));
        }
    });
    family(
        &mut o,
        "edgeclass_requests_total",
        "counter",
        "Invocation requests answered, per service.",
        |o| {
            for s in services {
                let n = s.metrics.requests.load(Ordering::Relaxed);
                let _ = writeln!(
                    o,
                    "edgeclass_requests_total{{service=\"{}\"}} {n}",
                    esc(s.name)
                );
            }
        },
    );
    family(
        &mut o,
        "edgeclass_request_failures_total",
        "counter",
        "Failed invocation requests, per service and edgeclass error code name.",
        |o| {
            for s in services {
                for (code, n) in lock(&s.metrics.failures).iter() {
                    let _ = writeln!(
                        o,
                        "edgeclass_request_failures_total{{service=\"{}\",code=\"{code}\"}} {n}",
                        esc(s.name)
                    );
                }
            }
        },
    );
    family(
        &mut o,
        "edgeclass_responses_total",
        "counter",
        "Invocation responses, per service and HTTP status.",
        |o| {
            for s in services {
                for (status, n) in lock(&s.metrics.statuses).iter() {
                    let _ = writeln!(
                        o,
                        "edgeclass_responses_total{{service=\"{}\",status=\"{status}\"}} {n}",
                        esc(s.name)
                    );
                }
            }
        },
    );
    family(&mut o, "edgeclass_request_stage_seconds", "histogram", "Time of each stage of a classification (wait for a worker, decode, preprocess, inference) and of the whole request (total), per service.", |o| {
        for s in services {
            for (stage, h) in STAGES.iter().zip(&s.metrics.stages) {
                let labels = format!("service=\"{}\",stage=\"{stage}\"", esc(s.name));
                let mut cumulative = 0;
                for (b, n) in BUCKETS.iter().zip(&h.buckets) {
                    cumulative += n.load(Ordering::Relaxed);
                    let _ = writeln!(o, "edgeclass_request_stage_seconds_bucket{{{labels},le=\"{b}\"}} {cumulative}");
                }
                let count = h.count.load(Ordering::Relaxed);
                let _ = writeln!(o, "edgeclass_request_stage_seconds_bucket{{{labels},le=\"+Inf\"}} {count}");
                let sum = h.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
                let _ = writeln!(o, "edgeclass_request_stage_seconds_sum{{{labels}}} {sum}");
                let _ = writeln!(o, "edgeclass_request_stage_seconds_count{{{labels}}} {count}");
            }
        }
    });
    type Pick = fn(Memory) -> u64;
    let memory: [(&str, &str, Pick); 4] = [
        ("edgeclass_memory_limit_bytes", "The service's memory limit (LocalInferenceServiceMemoryLimitKB x 1024).", |m| m.limit),
        ("edgeclass_memory_planned_bytes", "What the service holds before any image: model, and per worker activations and buffers.", |m| m.planned),
        ("edgeclass_memory_image_budget_bytes", "Per worker, what one request's image may use (the largest accepted body too).", |m| m.image_budget),
        ("edgeclass_memory_request_peak_bytes", "The highest heap use of one request so far (decode and inference).", |m| m.request_peak),
    ];
    for (name, help, pick) in memory {
        family(&mut o, name, "gauge", help, |o| {
            for s in services {
                if let Some(m) = s.memory {
                    let _ = writeln!(o, "{name}{{service=\"{}\"}} {}", esc(s.name), pick(m));
                }
            }
        });
    }
    if let Some(live) = heap_live {
        family(
            &mut o,
            "edgeclass_heap_live_bytes",
            "gauge",
            "Heap bytes in use by the whole daemon now (edgeclass's counting allocator).",
            |o| {
                let _ = writeln!(o, "edgeclass_heap_live_bytes {live}");
            },
        );
    }
    family(&mut o, "edgeclass_reloads_total", "counter", "Model reloads per service and result (ok: the new model serves; failed: the old one still does).", |o| {
        for s in services {
            let ok = s.metrics.reloads.load(Ordering::Relaxed);
            let failed = s.metrics.reload_failures.load(Ordering::Relaxed);
            let _ = writeln!(o, "edgeclass_reloads_total{{service=\"{}\",result=\"ok\"}} {ok}", esc(s.name));
            let _ = writeln!(o, "edgeclass_reloads_total{{service=\"{}\",result=\"failed\"}} {failed}", esc(s.name));
        }
    });
    for (name, kind, help, pick) in FEEDBACK {
        family(&mut o, name, kind, help, |o| {
            for f in feedback {
                let _ = writeln!(
                    o,
                    "{name}{{connector=\"{}\"}} {}",
                    esc(f.connector),
                    pick(&f.stats)
                );
            }
        });
    }
    o
}
