//! ML Feedback without a broker: a service feeding a feedback connector (strategy decisions on
//! real classifications, spooled bytes, messages), RequestLimit's Queue.Full, uploads that fail
//! and succeed, the `edgeclass feedback drain` CLI, and a writer SIGKILLed while it spools.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::fixtures;
use edgeclass::feedback::{self, registry, Outcome, Sample, Spool, UploadError, Uploader};
use edgeclass::service::{Service, ServiceConfig};
use serde_json::{json, Map, Value};

fn scratch(tag: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "feedback-{tag}-{}-{}",
        std::process::id(),
        feedback::new_uuid()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn feedback_params(map: &str, spool: &Path, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    p.insert("FeedbackConfigurationMap".into(), map.to_string());
    p.insert(
        "EdgeclassSpoolDirectory".into(),
        spool.to_str().unwrap().to_string(),
    );
    for (k, v) in extra {
        p.insert(k.to_string(), v.to_string());
    }
    p
}

fn service(name: &str, config_id: &str) -> Service {
    let p: BTreeMap<String, String> = [
        (
            "MLModelDestinationPath",
            fixtures().join("tiny-trained").to_str().unwrap(),
        ),
        ("LocalInferenceServiceName", name),
        ("LocalInferenceServiceTimeoutSeconds", "30"),
        ("LocalInferenceServiceMemoryLimitKB", "200000"),
        ("MLFeedbackConnectorConfigId", config_id),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    feedback::open_service(ServiceConfig::from_parameters(&p).unwrap()).unwrap()
}

type Messages = Arc<Mutex<Vec<(String, Value)>>>;

fn record(fb: &feedback::Feedback) -> Messages {
    let log: Messages = Arc::default();
    let l = log.clone();
    fb.set_message_callback(Some(Arc::new(move |topic: &str, payload: &[u8]| {
        let v: Value = serde_json::from_slice(payload).unwrap();
        l.lock().unwrap().push((topic.to_string(), v));
    })));
    log
}

/// Fixture images and what MXNet says about them (tiny-trained/goldens.json): top class and its
/// probability.
const IMAGES: &[(&str, &str, usize, f64)] = &[
    (
        "tiny-trained/images/digit00_label0_28x28.jpg",
        "image/jpeg",
        0,
        1.0,
    ),
    (
        "tiny-trained/images/digit07_label3_28x28.png",
        "image/png",
        3,
        0.99999,
    ),
    (
        "tiny-trained/images/digit11_label5_14x14.png",
        "image/png",
        5,
        0.99937,
    ),
    ("photos/china.jpg", "image/jpeg", 8, 0.76538),
    ("photos/flower.jpg", "image/jpeg", 0, 0.99455),
    ("images/jpeg_1x1.jpg", "image/jpeg", 1, 0.16878),
];

#[test]
fn a_service_feeds_its_feedback_connector() {
    let dir = scratch("service");
    // LEAST_CONFIDENCE 0.9: keep when max p <= 0.9, i.e. china (0.765) and jpeg_1x1 (0.169).
    let map = r#"{"lc-svc": {"s3-bucket-name": "my-bucket", "content-type": "image/jpeg",
        "s3-prefix": "hard-cases", "file-ext": "jpg",
        "sampling-strategy": {"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.9}}}"#;
    let fb = registry::open(&feedback_params(
        map,
        &dir,
        &[
            ("EdgeclassResultTopic", "ml/edgeclass/image-classification"),
            ("EdgeclassResultTopK", "1"),
            ("EdgeclassResultThreshold", "0"),
        ],
    ))
    .unwrap();
    let log = record(&fb);
    let svc = service("fb-svc", "lc-svc");
    let mut kept_inputs = Vec::new();
    for (path, ct, _, p) in IMAGES {
        let bytes = std::fs::read(fixtures().join(path)).unwrap();
        let out = svc.classify(ct, &bytes, None).unwrap();
        let max = out.probs.iter().copied().fold(0f32, f32::max) as f64;
        assert!((max - p).abs() < 0.01, "{path}: {max} vs MXNet {p}");
        if *p <= 0.9 {
            kept_inputs.push(bytes);
        }
    }
    let msgs = log.lock().unwrap().clone();
    // Per image: the inference-results message, then a dropped status for the 4 confident ones.
    let results: Vec<&Value> = msgs
        .iter()
        .filter(|(t, _)| t == "ml/edgeclass/image-classification")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(results.len(), IMAGES.len());
    for (r, (path, _, top, _)) in results.iter().zip(IMAGES) {
        assert_eq!(r["inference-type"], "image-classification");
        assert_eq!(
            r["inference-description"],
            "Top 1 predictions with score 0.0 or above "
        );
        // labels.txt of tiny-trained is "0".."9".
        assert_eq!(
            r["inference-results"][0]["Label"],
            top.to_string(),
            "{path}"
        );
    }
    let statuses: Vec<&Value> = msgs
        .iter()
        .filter(|(t, _)| t == "feedback/message/status")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(statuses.len(), 4);
    assert!(statuses
        .iter()
        .all(|s| s["response"]["status"] == "sample_dropped_by_strategy"));
    let st = fb.stats();
    assert_eq!(
        (
            st.requests,
            st.spooled,
            st.dropped_by_strategy,
            st.throttled
        ),
        (6, 2, 4, 0)
    );
    // The spool holds exactly the two inputs, with their predictions and the S3 target.
    let names = fb.spool().names();
    assert_eq!(names.len(), 2);
    for (name, input) in names.iter().zip(&kept_inputs) {
        let s = fb.spool().load(name).unwrap().unwrap();
        assert_eq!(&s.input, input);
        assert_eq!(s.config_id, "lc-svc");
        assert_eq!(s.bucket, "my-bucket");
        assert_eq!(s.key, format!("hard-cases/{}.jpg", s.id));
        assert_eq!(s.content_type, "image/jpeg");
        let p = s.prediction.as_array().unwrap();
        assert_eq!(p.len(), 10);
        let max = p.iter().map(|x| x.as_f64().unwrap()).fold(0.0, f64::max);
        assert!(max <= 0.9, "{max}");
        let ts = s.metadata["publish-ts"].as_str().unwrap();
        assert!(ts.len() >= 19 && ts.as_bytes()[10] == b' ', "{ts}");
    }
    // A config id no connector has: classification still succeeds, feedback counts it.
    let svc2 = service("fb-svc-unrouted", "nobody-has-this");
    let before = feedback::unrouted();
    let bytes = std::fs::read(fixtures().join(IMAGES[0].0)).unwrap();
    assert!(svc2.classify("image/jpeg", &bytes, None).is_ok());
    assert_eq!(feedback::unrouted(), before + 1);
    registry::close(&fb);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn request_limit_answers_queue_full() {
    let dir = scratch("limit");
    // LEAST_CONFIDENCE 0.5 drops [1.0]; the dropped status is emitted while the request is in
    // progress, so a blocking callback holds it there.
    let map = r#"{"lim-1": {"s3-bucket-name": "bbb", "content-type": "image/png",
        "sampling-strategy": {"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.5}}}"#;
    let fb = registry::open(&feedback_params(map, &dir, &[("RequestLimit", "1")])).unwrap();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let entered_tx = Mutex::new(entered_tx);
    let seen: Messages = Arc::default();
    let s2 = seen.clone();
    fb.set_message_callback(Some(Arc::new(move |_topic: &str, payload: &[u8]| {
        let v: Value = serde_json::from_slice(payload).unwrap();
        let dropped = v["response"]["status"] == "sample_dropped_by_strategy";
        s2.lock().unwrap().push((String::new(), v));
        if dropped {
            entered_tx.lock().unwrap().send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
        }
    })));
    let fb2 = fb.clone();
    let first = std::thread::spawn(move || {
        fb2.submit("lim-1", b"x", &json!([1.0]), Map::new())
            .unwrap()
    });
    entered_rx.recv().unwrap();
    let second = fb.submit("lim-1", b"y", &json!([0.1]), Map::new()).unwrap();
    assert!(matches!(second, Outcome::Throttled { .. }), "{second:?}");
    release_tx.send(()).unwrap();
    assert!(matches!(first.join().unwrap(), Outcome::Dropped { .. }));
    let seen = seen.lock().unwrap();
    let full = &seen[1].1;
    assert_eq!(
        full,
        &json!({"response": {"status": "fail",
            "error_message": "Request limit has been reached (max request: 1 ). Dropping request.",
            "error": "Queue.Full"}, "id": second.id()})
    );
    // With the first request done, the limit admits again (max 0.4 <= 0.5: kept).
    drop(seen);
    let third = fb.submit("lim-1", b"z", &json!([0.3, 0.3, 0.4]), Map::new());
    assert!(matches!(third, Ok(Outcome::Spooled { .. })), "{third:?}");
    let st = fb.stats();
    assert_eq!(
        (
            st.requests,
            st.throttled,
            st.dropped_by_strategy,
            st.spooled
        ),
        (3, 1, 1, 1)
    );
    registry::close(&fb);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn uploads_fail_then_succeed_with_the_connector_messages() {
    let dir = scratch("upload");
    let map = r#"{"up-1": {"s3-bucket-name": "bucket-a", "content-type": "image/png",
        "s3-prefix": "pre", "file-ext": "png"}}"#;
    let fb = registry::open(&feedback_params(map, &dir, &[])).unwrap();
    let log = record(&fb);
    // The SDK path: JSON text arguments, validated.
    let e = registry::publish_json("up_1", b"x", "[1]", None).unwrap_err();
    assert!(e.message.contains("regex"), "{e}");
    let e = registry::publish_json("up-1", b"x", "0.5", None).unwrap_err();
    assert!(e.message.contains("list"), "{e}");
    let e = registry::publish_json("up-9", b"x", "[1]", None).unwrap_err();
    assert!(e.message.contains("no open ML Feedback connector"), "{e}");
    let a =
        registry::publish_json("up-1", b"first", "[0.5,0.5]", Some(r#"{"camera": 7}"#)).unwrap();
    let b = registry::publish_json("up-1", b"second", r#"{"boxes": []}"#, None).unwrap();
    let got: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let g = got.clone();
    let attempts = Arc::new(Mutex::new(0));
    let at = attempts.clone();
    let upload: Uploader = Arc::new(move |s: &Sample| {
        let mut n = at.lock().unwrap();
        *n += 1;
        if *n == 1 {
            return Err(UploadError {
                error: "NoSuchBucket".into(),
                message: "The specified bucket does not exist".into(),
            });
        }
        g.lock().unwrap().push(s.clone());
        let mut extra = Map::new();
        extra.insert("ETag".into(), json!("\"e1\""));
        Ok(extra)
    });
    let r = fb.drain(&upload, 0).unwrap();
    assert_eq!(r.uploaded, 0);
    assert_eq!(r.failed.as_ref().unwrap().error, "NoSuchBucket");
    assert_eq!(fb.spool().names().len(), 2, "a failed sample stays");
    let r = fb.drain(&upload, 0).unwrap();
    assert_eq!((r.uploaded, r.failed), (2, None));
    assert!(fb.spool().names().is_empty());
    let got = got.lock().unwrap();
    assert_eq!(got[0].input, b"first");
    assert_eq!(got[0].id, a.id());
    assert_eq!(got[0].key, format!("pre/{}.png", a.id()));
    assert_eq!(got[0].metadata["camera"], 7);
    assert_eq!(got[1].input, b"second");
    assert_eq!(got[1].id, b.id());
    let msgs = log.lock().unwrap();
    let ts = got[0].metadata["publish-ts"].clone();
    assert_eq!(
        msgs.as_slice(),
        &[
            (
                "feedback/message/status".to_string(),
                json!({"response": {"status": "fail",
                    "error_message": format!("[RequestId: {}] Failed to upload model input data due to exception. Model prediction will not be published. Exception type: NoSuchBucket, error: The specified bucket does not exist", a.id()),
                    "error": "NoSuchBucket"}, "id": a.id()})
            ),
            (
                "feedback/message/status".to_string(),
                json!({"response": {"status": "success", "s3_response": {"ETag": "\"e1\"", "bucket": "bucket-a", "key": format!("pre/{}.png", a.id())}}, "id": a.id()})
            ),
            (
                "feedback/message/prediction".to_string(),
                json!({"source-ref": format!("s3://bucket-a/pre/{}.png", a.id()),
                    "model-prediction": [0.5, 0.5], "config-id": "up-1",
                    "metadata": {"camera": 7, "publish-ts": ts}})
            ),
            (
                "feedback/message/status".to_string(),
                json!({"response": {"status": "success", "s3_response": {"ETag": "\"e1\"", "bucket": "bucket-a", "key": format!("pre/{}.png", b.id())}}, "id": b.id()})
            ),
            (
                "feedback/message/prediction".to_string(),
                json!({"source-ref": format!("s3://bucket-a/pre/{}.png", b.id()),
                    "model-prediction": {"boxes": []}, "config-id": "up-1",
                    "metadata": {"publish-ts": got[1].metadata["publish-ts"].clone()}})
            ),
        ]
    );
    let st = fb.stats();
    assert_eq!(
        (st.uploaded, st.upload_failures, st.predictions_published),
        (2, 1, 2)
    );
    drop(msgs);
    drop(got);
    // The background uploader picks up new samples as they are spooled.
    fb.set_uploader(Some(upload.clone())).unwrap();
    registry::publish_json("up-1", b"third", "[1]", None).unwrap();
    let t0 = Instant::now();
    while fb.stats().uploaded < 3 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "background upload did not happen"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(fb.spool().names().is_empty());
    fb.set_uploader(None).unwrap();
    registry::close(&fb);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn drain_cli_deletes_only_what_the_command_uploaded() {
    let dir = scratch("cli");
    let out = scratch("cli-out");
    std::fs::create_dir_all(&out).unwrap();
    let map = r#"{"cli-1": {"s3-bucket-name": "bucket-c", "content-type": "application/octet-stream", "file-ext": "bin"}}"#;
    let fb = registry::open(&feedback_params(map, &dir, &[])).unwrap();
    let ids: Vec<String> = (0..3u8)
        .map(|i| {
            // Spooled in order; names sort by time.
            std::thread::sleep(Duration::from_millis(2));
            fb.submit("cli-1", &[i; 1000], &json!([i]), Map::new())
                .unwrap()
                .id()
                .to_string()
        })
        .collect();
    registry::close(&fb);
    drop(fb);
    let exe = env!("CARGO_BIN_EXE_edgeclass");
    // The command stores stdin under the key, and fails for the second sample.
    let cmd = format!(
        "test \"$EDGECLASS_SAMPLE_ID\" != \"{}\" && test \"$EDGECLASS_S3_BUCKET\" = bucket-c && cat > {}/\"$EDGECLASS_S3_KEY\"",
        ids[1],
        out.display()
    );
    let run = |cmd: &str| {
        common::target_command(exe)
            .args(["feedback", "drain", dir.to_str().unwrap(), "--command", cmd])
            .output()
            .unwrap()
    };
    let o = run(&cmd);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let stdout = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        lines[0]["source-ref"],
        format!("s3://bucket-c/{}.bin", ids[0])
    );
    assert_eq!(lines[0]["model-prediction"], json!([0]));
    assert_eq!(
        std::fs::read(out.join(format!("{}.bin", ids[0]))).unwrap(),
        vec![0u8; 1000]
    );
    let left: Vec<String> = Spool::open(&dir, u64::MAX, u64::MAX)
        .unwrap()
        .names()
        .iter()
        .map(|n| {
            n.split('-')
                .skip(2)
                .collect::<Vec<_>>()
                .join("-")
                .replace(".sample", "")
        })
        .collect();
    assert_eq!(left, ids[1..]);
    // A command that succeeds drains the rest.
    let o = run(&format!("cat > {}/\"$EDGECLASS_S3_KEY\"", out.display()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 2);
    assert_eq!(
        std::fs::read(out.join(format!("{}.bin", ids[2]))).unwrap(),
        vec![2u8; 1000]
    );
    assert!(Spool::open(&dir, u64::MAX, u64::MAX)
        .unwrap()
        .names()
        .is_empty());
    // Usage errors.
    let o = common::target_command(exe)
        .args(["feedback", "drain", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
}

/// The input bytes the crash writer puts in a sample: a pattern derived from the sample's id.
fn pattern(id: &str, len: usize) -> Vec<u8> {
    let seed = u64::from_str_radix(&id[..8], 16).unwrap();
    (0..len as u64)
        .map(|j| ((j.wrapping_mul(131) + seed) % 251) as u8)
        .collect()
}

/// Run by `spooling_survives_sigkill` in a child process: write samples until killed.
#[test]
#[ignore = "child process of spooling_survives_sigkill"]
fn spool_writer_child() {
    let Ok(dir) = std::env::var("EDGECLASS_SPOOL_WRITER_DIR") else {
        return;
    };
    // Bounded, so that evictions run (and get killed) too.
    let spool = Spool::open(Path::new(&dir), 32 << 20, 200).unwrap();
    for i in 0u64.. {
        let id = feedback::new_uuid();
        let len = (i * 7919 % 2_000_000) as usize;
        let s = Sample {
            input: pattern(&id, len),
            id,
            config_id: "crash".into(),
            content_type: "image/jpeg".into(),
            bucket: "bucket".into(),
            key: "k".into(),
            prediction: json!([i]),
            metadata: Map::new(),
        };
        spool.put(&s).unwrap();
    }
}

#[test]
fn spooling_survives_sigkill() {
    let dir = scratch("crash");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut partial_left = 0;
    let mut rounds = 0;
    // Kill at varied moments; go on until at least one kill left a partial (temporary) file
    // behind, i.e. hit a write in progress.
    while rounds < 20 || (partial_left == 0 && rounds < 100) {
        let mut child = common::target_command(&exe)
            .args(["spool_writer_child", "--exact", "--ignored", "--nocapture"])
            .env("EDGECLASS_SPOOL_WRITER_DIR", &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Under an emulator the child starts and writes several times slower.
        let scale = if common::emulated() { 8 } else { 1 };
        std::thread::sleep(Duration::from_millis((40 + (rounds * 37) % 160) * scale));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // After each kill: partial files only under temporary names, every sample whole.
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                partial_left += 1;
            } else if let Ok(bytes) = std::fs::read(e.path()) {
                // (A sample may vanish under us: the next writer evicts the oldest.)
                Sample::decode(&bytes)
                    .unwrap_or_else(|err| panic!("round {rounds}: {name}: {err}"));
            }
        }
        rounds += 1;
    }
    assert!(
        partial_left > 0,
        "no kill hit a write in progress in {rounds} rounds"
    );
    // Opening removes the dead writers' partial files; every sample left is whole.
    let spool = Spool::open(&dir, 32 << 20, 200).unwrap();
    let names = spool.names();
    assert!(!names.is_empty());
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(name.ends_with(".sample"), "unexpected file {name}");
        let s = Sample::decode(&std::fs::read(e.path()).unwrap())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(s.input, pattern(&s.id, s.input.len()), "{name}");
        assert!(name.contains(&s.id));
    }
    assert!(spool.stats().bytes <= 32 << 20 && names.len() <= 200);
    eprintln!(
        "{rounds} kills, {partial_left} partial file(s) left behind and removed, {} whole samples",
        names.len()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
