//! ML Feedback over MQTT with a real broker: a `mosquitto` child process on 127.0.0.1 (a free
//! port, persistence in a temporary directory), a subscriber with a persistent session, a
//! service classifying the fixture images. The broker is stopped mid-run and restarted: every
//! message within the queue bound arrives, the excess is counted, nothing else is lost.
//!
//! Needs the `mqtt` feature and the `mosquitto` binary (Debian package `mosquitto`); without the
//! binary the test is skipped with a message, unless `EDGECLASS_REQUIRE_MOSQUITTO=1`.
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

fn subscribe(port: u16, inbox: Arc<Inbox>) {
    let mut o = MqttOptions::new("edgeclass-test-sub", "127.0.0.1", port);
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
    let Some(exe) = mosquitto() else {
        if std::env::var("EDGECLASS_REQUIRE_MOSQUITTO").as_deref() == Ok("1") {
            panic!("EDGECLASS_REQUIRE_MOSQUITTO=1 but no mosquitto binary was found (apt-get install mosquitto)");
        }
        eprintln!("skipped: mosquitto is not installed (apt-get install mosquitto; EDGECLASS_REQUIRE_MOSQUITTO=1 makes this a failure)");
        return;
    };
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "feedback-mqtt-{}-{}",
        std::process::id(),
        feedback::new_uuid()
    ));
    let mut broker = Broker::start(exe, &root.join("broker"));
    let inbox = Arc::new(Inbox::default());
    subscribe(broker.port, inbox.clone());
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
