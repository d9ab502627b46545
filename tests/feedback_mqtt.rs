//! ML Feedback over MQTT with a real broker: a `mosquitto` child process on 127.0.0.1 (a free
//! port, persistence in a temporary directory), a subscriber with a persistent session, a
//! service classifying the fixture images. The broker is stopped mid-run and restarted: every
//! message within the queue bound arrives, the excess is counted, nothing else is lost.
//!
//! A second test is issue 17's "feedback end to end from Python": a Python Lambda
//! (`python/examples/feedback_lambda.py`) classifies and publishes through `edgeclass serve`,
//! whose uploader command ships the sample, and the broker gets the connector's messages.
//!
//! Needs the `mqtt` feature and the `mosquitto` binary (Debian package `mosquitto`); without the
//! binary the tests are skipped with a message, unless `EDGECLASS_REQUIRE_MOSQUITTO=1`.
#![cfg(feature = "mqtt")]

mod common;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::fixtures;
use edgeclass::feedback::{self, registry, Sample, Uploader};
use edgeclass::service::{Service, ServiceConfig};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{Map, Value};

/// A message: topic and payload.
type Msg = (String, Vec<u8>);

fn mosquitto() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

/// The broker binary; None (the test skips) when it is missing and not required.
fn required_mosquitto() -> Option<PathBuf> {
    let found = mosquitto();
    if found.is_none() {
        if std::env::var("EDGECLASS_REQUIRE_MOSQUITTO").as_deref() == Ok("1") {
            panic!("EDGECLASS_REQUIRE_MOSQUITTO=1 but no mosquitto binary was found (apt-get install mosquitto)");
        }
        eprintln!("skipped: mosquitto is not installed (apt-get install mosquitto; EDGECLASS_REQUIRE_MOSQUITTO=1 makes this a failure)");
    }
    found
}

/// A mosquitto child process bound to 127.0.0.1 only.
struct Broker {
    exe: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start(exe: PathBuf, dir: &Path) -> Broker {
        std::fs::create_dir_all(dir).unwrap();
        // A free port: bind port 0, read it, release it.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut b = Broker {
            exe,
            dir: dir.to_path_buf(),
            port,
            child: None,
        };
        b.restart();
        b
    }

    fn restart(&mut self) {
        assert!(self.child.is_none());
        let conf = self.dir.join("mosquitto.conf");
        // `user root` keeps mosquitto from switching to the mosquitto user when the tests run as
        // root (it could not write the persistence directory then); no effect otherwise.
        std::fs::write(
            &conf,
            format!(
                "listener {} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 0\nlog_dest file {}/mosquitto.log\nuser root\n",
                self.port,
                self.dir.display(),
                self.dir.display()
            ),
        )
        .unwrap();
        let child = Command::new(&self.exe)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "mosquitto did not listen on 127.0.0.1:{}; log:\n{}",
                self.port,
                std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM: mosquitto saves its persistence database (sessions, queued messages) and exits.
    fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let t0 = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("mosquitto did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Messages received by a subscriber with a persistent session (it gets what was published
/// while it was disconnected once it reconnects).
#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<Msg>>,
    changed: Condvar,
    subscribed: Mutex<bool>,
}

impl Inbox {
    fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Msg> {
        let end = Instant::now() + timeout;
        let mut got = self.got.lock().unwrap();
        while distinct(&got) < n && Instant::now() < end {
            got = self
                .changed
                .wait_timeout(got, Duration::from_millis(50))
                .unwrap()
                .0;
        }
        got.clone()
    }
}

/// Messages counted once: QoS 1 is at-least-once, and every message here is unique (ids,
/// timestamps), so an identical payload is a redelivery.
fn distinct(v: &[Msg]) -> usize {
    let mut s: Vec<&Msg> = v.iter().collect();
    s.sort();
    s.dedup();
    s.len()
}

fn subscribe(port: u16, inbox: Arc<Inbox>, client_id: &str) {
    let mut o = MqttOptions::new(client_id, "127.0.0.1", port);
    o.set_clean_session(false)
        .set_keep_alive(Duration::from_secs(5))
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut connection) = Client::new(o, 100);
    client.subscribe("feedback/#", QoS::AtLeastOnce).unwrap();
    client.subscribe("ml/#", QoS::AtLeastOnce).unwrap();
    std::thread::spawn(move || {
        let _client = client;
        loop {
            match connection.recv() {
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    inbox
                        .got
                        .lock()
                        .unwrap()
                        .push((p.topic.clone(), p.payload.to_vec()));
                    inbox.changed.notify_all();
                }
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                    *inbox.subscribed.lock().unwrap() = true;
                }
                Ok(Ok(_)) => {}
                // Broker gone: retry (the session and subscriptions persist on the broker).
                Ok(Err(_)) => std::thread::sleep(Duration::from_millis(50)),
                Err(_) => return,
            }
        }
    });
}

fn service(config_id: &str) -> Service {
    let p: BTreeMap<String, String> = [
        (
            "MLModelDestinationPath",
            fixtures().join("tiny-trained").to_str().unwrap(),
        ),
        ("LocalInferenceServiceName", "mqtt-svc"),
        ("LocalInferenceServiceTimeoutSeconds", "30"),
        ("LocalInferenceServiceMemoryLimitKB", "200000"),
        ("MLFeedbackConnectorConfigId", config_id),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    feedback::open_service(ServiceConfig::from_parameters(&p).unwrap()).unwrap()
}

/// (fixture, content type, kept by LEAST_CONFIDENCE 0.9): MXNet's top probability
/// (tiny-trained/goldens.json) is 1.0, 0.99999, 0.765, 0.9946, 0.169.
const IMAGES: &[(&str, &str, bool)] = &[
    (
        "tiny-trained/images/digit00_label0_28x28.jpg",
        "image/jpeg",
        false,
    ),
    (
        "tiny-trained/images/digit07_label3_28x28.png",
        "image/png",
        false,
    ),
    ("photos/china.jpg", "image/jpeg", true),
    ("photos/flower.jpg", "image/jpeg", false),
    ("images/jpeg_1x1.jpg", "image/jpeg", true),
];

const RESULT_TOPIC: &str = "ml/edgeclass/image-classification";
const QUEUE_LIMIT: usize = 9;

#[test]
fn messages_reach_a_real_broker_across_a_restart() {
    let Some(exe) = required_mosquitto() else {
        return;
    };
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "feedback-mqtt-{}-{}",
        std::process::id(),
        feedback::new_uuid()
    ));
    let mut broker = Broker::start(exe, &root.join("broker"));
    let inbox = Arc::new(Inbox::default());
    subscribe(broker.port, inbox.clone(), "edgeclass-test-sub");
    let t0 = Instant::now();
    while !*inbox.subscribed.lock().unwrap() {
        assert!(t0.elapsed() < Duration::from_secs(10), "no SUBACK");
        std::thread::sleep(Duration::from_millis(10));
    }

    let map = r#"{"mq-lc": {"s3-bucket-name": "bucket-m", "content-type": "image/jpeg",
        "s3-prefix": "hard", "file-ext": "jpg",
        "sampling-strategy": {"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.9}}}"#;
    let port = broker.port.to_string();
    let queue_limit = QUEUE_LIMIT.to_string();
    let params: BTreeMap<String, String> = [
        ("FeedbackConfigurationMap", map),
        (
            "EdgeclassSpoolDirectory",
            root.join("spool").to_str().unwrap(),
        ),
        ("EdgeclassMqttHost", "127.0.0.1"),
        ("EdgeclassMqttPort", &port),
        ("EdgeclassMqttClientId", "edgeclass-test-pub"),
        ("EdgeclassMqttQueueLimit", &queue_limit),
        ("EdgeclassResultTopic", RESULT_TOPIC),
        ("EdgeclassResultTopK", "1"),
        ("EdgeclassResultThreshold", "0.1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let fb = registry::open(&params).unwrap();
    // Every message the hub produced, in order (the callback sees them all, MQTT or not).
    let produced: Arc<Mutex<Vec<Msg>>> = Arc::default();
    let p2 = produced.clone();
    fb.set_message_callback(Some(Arc::new(move |t: &str, b: &[u8]| {
        p2.lock().unwrap().push((t.to_string(), b.to_vec()));
    })));
    let uploaded: Arc<Mutex<Vec<String>>> = Arc::default();
    let u2 = uploaded.clone();
    let upload: Uploader = Arc::new(move |s: &Sample| {
        u2.lock().unwrap().push(s.id.clone());
        Ok(Map::new())
    });
    fb.set_uploader(Some(upload.clone())).unwrap();
    let svc = service("mq-lc");
    let images: Vec<(Vec<u8>, &str, bool)> = IMAGES
        .iter()
        .map(|(p, ct, keep)| (std::fs::read(fixtures().join(p)).unwrap(), *ct, *keep))
        .collect();

    // Phase 1, broker up: per image a result message, then a dropped status (3 images) or, once
    // uploaded, a success status and a prediction (2 images): 5 + 3 + 2 * 2 = 12 messages.
    for (bytes, ct, _) in &images {
        svc.classify(ct, bytes, None).unwrap();
    }
    let t0 = Instant::now();
    while fb.stats().uploaded < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "uploads did not happen"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        fb.flush(Duration::from_secs(10)),
        "phase 1 not acknowledged"
    );
    let got = inbox.wait_for(12, Duration::from_secs(10));
    assert_eq!(distinct(&got), 12, "{got:?}");
    assert_same(&got, &produced.lock().unwrap());
    let by_topic = |topic: &str| -> Vec<Value> {
        got.iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, b)| serde_json::from_slice(b).unwrap())
            .collect()
    };
    let results = by_topic(RESULT_TOPIC);
    assert_eq!(results.len(), 5);
    assert_eq!(results[2]["inference-results"][0]["Label"], "8"); // china.jpg: class 8
    let statuses = by_topic("feedback/message/status");
    let dropped = statuses
        .iter()
        .filter(|s| s["response"]["status"] == "sample_dropped_by_strategy")
        .count();
    let success: Vec<&Value> = statuses
        .iter()
        .filter(|s| s["response"]["status"] == "success")
        .collect();
    assert_eq!((dropped, success.len()), (3, 2));
    let predictions = by_topic("feedback/message/prediction");
    assert_eq!(predictions.len(), 2);
    for p in &predictions {
        assert_eq!(p["config-id"], "mq-lc");
        let id = p["source-ref"]
            .as_str()
            .unwrap()
            .strip_prefix("s3://bucket-m/hard/")
            .unwrap()
            .strip_suffix(".jpg")
            .unwrap();
        assert!(uploaded.lock().unwrap().iter().any(|u| u == id));
        assert!(success.iter().any(|s| s["id"] == id));
        assert_eq!(p["model-prediction"].as_array().unwrap().len(), 10);
    }
    let st = fb.stats().mqtt;
    assert_eq!((st.delivered, st.queued, st.overflowed), (12, 0, 0));

    // Phase 2, broker stopped: uploads paused, so only this thread produces messages, in a known
    // order. 3 rounds of the 5 images = 15 result + 9 dropped statuses = 24 messages; the queue
    // keeps the first 9, refuses 15 (counted).
    fb.set_uploader(None).unwrap();
    broker.stop();
    let t0 = Instant::now();
    while fb.stats().mqtt.connected {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "broker loss not noticed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = produced.lock().unwrap().len();
    for _ in 0..3 {
        for (bytes, ct, _) in &images {
            svc.classify(ct, bytes, None).unwrap();
        }
    }
    let phase2: Vec<Msg> = produced.lock().unwrap()[before..].to_vec();
    assert_eq!(phase2.len(), 24);
    let st = fb.stats();
    assert_eq!(
        (st.mqtt.queued, st.mqtt.overflowed),
        (QUEUE_LIMIT as u64, 15)
    );
    assert_eq!(
        st.spool.samples, 6,
        "3 rounds x 2 kept samples wait for upload"
    );
    assert!(!fb.flush(Duration::from_millis(200)));

    // Phase 3, broker back (same port, its persisted sessions): the 9 queued messages arrive,
    // then the 6 spooled samples are uploaded: 6 success statuses + 6 predictions.
    broker.restart();
    assert!(
        fb.flush(Duration::from_secs(20)),
        "queued messages not delivered after the restart"
    );
    fb.set_uploader(Some(upload)).unwrap();
    let t0 = Instant::now();
    while fb.stats().uploaded < 8 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "uploads did not resume"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(fb.flush(Duration::from_secs(10)));
    let total = 12 + QUEUE_LIMIT + 12;
    let got = inbox.wait_for(total, Duration::from_secs(20));
    // Nothing more comes.
    std::thread::sleep(Duration::from_millis(300));
    let got_now = inbox.got.lock().unwrap().clone();
    assert_eq!(distinct(&got_now), distinct(&got));
    assert_eq!(distinct(&got), total, "received {got:?}");
    // Exactly: phase 1, the first QUEUE_LIMIT messages of phase 2, and everything after.
    let produced = produced.lock().unwrap();
    let mut want: Vec<Msg> = produced[..before].to_vec();
    want.extend_from_slice(&phase2[..QUEUE_LIMIT]);
    want.extend_from_slice(&produced[before + 24..]);
    assert_eq!(want.len(), total);
    assert_same(&got, &want);
    let st = fb.stats().mqtt;
    assert_eq!((st.overflowed, st.queued), (15, 0));
    assert!(st.reconnects >= 1);
    registry::close(&fb);
    drop(fb);
    drop(broker);
    let _ = std::fs::remove_dir_all(&root);
}

/// Same messages, ignoring order and redeliveries.
fn assert_same(got: &[Msg], want: &[Msg]) {
    let norm = |v: &[Msg]| {
        let mut s: Vec<(String, String)> = v
            .iter()
            .map(|(t, b)| (t.clone(), String::from_utf8_lossy(b).into_owned()))
            .collect();
        s.sort();
        s.dedup();
        s
    };
    let (g, w) = (norm(got), norm(want));
    let missing: Vec<_> = w.iter().filter(|m| !g.contains(m)).collect();
    let extra: Vec<_> = g.iter().filter(|m| !w.contains(m)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:#?}\nunexpected {extra:#?}"
    );
}

/// Python's `str(datetime)`: `YYYY-MM-DD HH:MM:SS[.ffffff]` (no fraction when it is zero).
fn is_python_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (b.len() == 19 || b.len() == 26)
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (b.len() == 19 || (b[19] == b'.' && digits(20..26)))
}

/// A UUID as the connector's ids are: 8-4-4-4-12 lowercase hex.
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| {
            p.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        })
}

/// Issue 17, item 6: a Python Lambda (`python/examples/feedback_lambda.py`, the SDK with
/// `EDGECLASS_SOCKET` set) classifies through `edgeclass serve` and `publish`es the image and its
/// prediction; the daemon's `--feedback-upload-command` (a script writing what it got into a
/// scratch directory) uploads the sample; a real mosquitto gets the `success` status and the
/// prediction message. The messages are checked against the shapes the AWS documentation of the
/// ML Feedback connector gives (its "Output data" section: the keys written out below), the upload
/// against the Lambda's input, the prediction
/// against this process's own classification of the image.
#[cfg(feature = "serve")]
#[test]
fn a_python_lambda_publishes_through_the_daemon_to_a_real_broker() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;

    let Some(exe) = required_mosquitto() else {
        return;
    };
    let python = std::env::var("EDGECLASS_PYTHON").unwrap_or_else(|_| "python3".into());
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "feedback-lambda-{}-{}",
        std::process::id(),
        feedback::new_uuid()
    ));
    let broker = Broker::start(exe, &root.join("broker"));
    let inbox = Arc::new(Inbox::default());
    subscribe(broker.port, inbox.clone(), "edgeclass-test-lambda-sub");
    let t0 = Instant::now();
    while !*inbox.subscribed.lock().unwrap() {
        assert!(t0.elapsed() < Duration::from_secs(10), "no SUBACK");
        std::thread::sleep(Duration::from_millis(10));
    }

    let uploaded = root.join("uploaded");
    std::fs::create_dir_all(&uploaded).unwrap();
    let script = root.join("upload.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat > '{u}'/\"$EDGECLASS_SAMPLE_ID.input\" || exit 1\n\
             printf '%s\\n%s\\n%s\\n' \"$EDGECLASS_S3_BUCKET\" \"$EDGECLASS_S3_KEY\" \
             \"$EDGECLASS_CONTENT_TYPE\" > '{u}'/\"$EDGECLASS_SAMPLE_ID.meta\"\n",
            u = uploaded.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let map = r#"{"lambda-fb": {"s3-bucket-name": "lambda-bucket", "content-type": "image/jpeg",
        "s3-prefix": "from-lambda", "file-ext": "jpg"}}"#;
    let services = serde_json::json!({"Connectors": [
        {"Id": "Feedback", "ConnectorArn": "arn:aws:greengrass:region::/connectors/MLFeedback/versions/1",
         "Parameters": {"FeedbackConfigurationMap": map,
            "EdgeclassSpoolDirectory": root.join("spool").to_str().unwrap(),
            "EdgeclassMqttHost": "127.0.0.1", "EdgeclassMqttPort": broker.port.to_string(),
            "EdgeclassMqttClientId": "edgeclass-lambda-pub"}},
        {"Id": "Classifier", "ConnectorArn": "arn:aws:greengrass:region::/connectors/ImageClassificationx86-64/versions/2",
         "Parameters": {"MLModelDestinationPath": fixtures().join("tiny-trained").to_str().unwrap(),
            "LocalInferenceServiceName": "lambda-svc", "LocalInferenceServiceTimeoutSeconds": "10",
            "LocalInferenceServiceMemoryLimitKB": "100000"}}]});
    let services_path = root.join("services.json");
    std::fs::write(&services_path, services.to_string()).unwrap();
    // A Unix socket's path must fit sun_path (108 bytes): the cross targets' CARGO_TARGET_TMPDIR
    // (target/TRIPLE/tmp/...) made it too long, and the daemon refused to start.
    let socket = std::env::temp_dir().join(format!("edgeclass-fb-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let log = root.join("daemon.log");
    let mut daemon = common::target_command(env!("CARGO_BIN_EXE_edgeclass"))
        .args(["serve", "--config"])
        .arg(&services_path)
        .arg("--socket")
        .arg(&socket)
        .arg("--feedback-upload-command")
        .arg(&script)
        .env_remove("EDGECLASS_SOCKET")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let daemon = Kill(&mut daemon);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    // Ready when GET /ping answers 200 (the service and the feedback connector are open).
    let t0 = Instant::now();
    loop {
        let ok = UnixStream::connect(&socket).ok().and_then(|mut s| {
            s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .ok()?;
            let mut answer = String::new();
            s.read_to_string(&mut answer).ok()?;
            Some(answer.starts_with("HTTP/1.1 200"))
        });
        if ok == Some(true) {
            break;
        }
        if let Some(status) = daemon.0.try_wait().unwrap() {
            panic!("the daemon exited with {status}: {}", log_text());
        }
        assert!(
            t0.elapsed() < common::time_bound(Duration::from_secs(60)),
            "the daemon did not get ready: {}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let image = fixtures().join("tiny-trained/images/digit00_label0_28x28.jpg");
    let lambda = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/examples/feedback_lambda.py");
    let out = Command::new(&python)
        .arg(&lambda)
        .arg(&image)
        .args(["lambda-svc", "lambda-fb", r#"{"camera": "front-door"}"#])
        .env(
            "PYTHONPATH",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("python"),
        )
        .env("EDGECLASS_SOCKET", &socket)
        // A services file that does not exist: a call that went in-process would fail.
        .env("EDGECLASS_SERVICES", root.join("no-such-services.json"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} (EDGECLASS_PYTHON): {e}"));
    assert!(
        out.status.success(),
        "the Lambda failed: {}\ndaemon: {}",
        String::from_utf8_lossy(&out.stderr),
        log_text()
    );
    let printed: Vec<f64> = serde_json::from_slice(&out.stdout).unwrap();
    let bytes = std::fs::read(&image).unwrap();
    let reference = Service::open(
        ServiceConfig::from_parameters(
            &[
                (
                    "MLModelDestinationPath",
                    fixtures().join("tiny-trained").to_str().unwrap(),
                ),
                ("LocalInferenceServiceName", "lambda-reference"),
                ("LocalInferenceServiceTimeoutSeconds", "30"),
                ("LocalInferenceServiceMemoryLimitKB", "200000"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        )
        .unwrap(),
    )
    .unwrap()
    .classify("image/jpeg", &bytes, None)
    .unwrap()
    .probs;
    assert_eq!(printed.len(), reference.len());
    for (a, b) in printed.iter().zip(&reference) {
        assert!((a - *b as f64).abs() < 1e-6, "{printed:?} {reference:?}");
    }

    // The broker gets the success status and the prediction message.
    let got = inbox.wait_for(2, common::time_bound(Duration::from_secs(20)));
    assert_eq!(distinct(&got), 2, "{got:?}\ndaemon: {}", log_text());
    let of = |topic: &str| -> Value {
        let (_, payload) = got
            .iter()
            .find(|(t, _)| t == topic)
            .unwrap_or_else(|| panic!("nothing on {topic}: {got:?}"));
        serde_json::from_slice(payload).unwrap()
    };
    let status = of("feedback/message/status");
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&status), ["id", "response"], "{status}");
    let id = status["id"].as_str().unwrap();
    assert!(is_uuid(id), "{status}");
    assert_eq!(status["response"]["status"], "success", "{status}");
    let s3 = &status["response"]["s3_response"];
    assert_eq!(s3["bucket"], "lambda-bucket", "{status}");
    assert_eq!(s3["key"], format!("from-lambda/{id}.jpg"), "{status}");
    let prediction = of("feedback/message/prediction");
    assert_eq!(
        keys(&prediction),
        ["config-id", "metadata", "model-prediction", "source-ref"],
        "{prediction}"
    );
    assert_eq!(
        prediction["source-ref"],
        format!("s3://lambda-bucket/from-lambda/{id}.jpg")
    );
    assert_eq!(prediction["config-id"], "lambda-fb");
    let sent: Vec<f64> = prediction["model-prediction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(sent, printed, "the prediction the Lambda published");
    let metadata = prediction["metadata"].as_object().unwrap();
    assert_eq!(metadata.len(), 2, "{prediction}");
    assert_eq!(metadata["camera"], "front-door");
    let ts = metadata["publish-ts"].as_str().unwrap();
    assert!(is_python_datetime(ts), "publish-ts {ts:?}");

    // What the uploader command got: the Lambda's model input, for that bucket and key.
    assert_eq!(
        std::fs::read(uploaded.join(format!("{id}.input"))).unwrap(),
        bytes
    );
    assert_eq!(
        std::fs::read_to_string(uploaded.join(format!("{id}.meta"))).unwrap(),
        format!("lambda-bucket\nfrom-lambda/{id}.jpg\nimage/jpeg\n")
    );
    drop(daemon);
    drop(broker);
    let _ = std::fs::remove_dir_all(&root);
}
