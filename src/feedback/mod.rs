//! ML Feedback: what the Greengrass ML Feedback connector did, on the device and without
//! Greengrass. After a classification (or an SDK-style `publish`), a configuration's sampling
//! strategy decides whether the model input is worth keeping; a kept sample goes durably into a
//! local spool until the user's uploader ships it to S3; the outcome is published as the
//! connector's status and prediction messages (MQTT with the `mqtt` feature, and/or a callback).
//!
//! Stages, one file each: `config` (connector parameters) → `strategy` (keep or drop) → `spool`
//! (crash-safe files) → `message` (JSON shapes) → `mqtt` (broker, bounded queue). This file is
//! the hub, [`Feedback`]: decide → spool → publish, with `RequestLimit` bounding the requests in
//! progress (excess gets the connector's `Queue.Full` status). `registry` maps config ids to open
//! hubs for the services whose `MLFeedbackConnectorConfigId` names one.

pub mod config;
pub mod message;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod registry;
pub mod spool;
pub mod strategy;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

pub use config::{FeedbackConfig, FeedbackConnectorConfig};
pub use spool::{Sample, Spool, SpoolStats};
pub use strategy::Strategy;

use crate::error::{internal, invalid_argument, Code, Error, Result};

/// What happened to one feedback request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept: written to the spool, waiting for upload.
    Spooled { id: String },
    /// The sampling strategy did not keep it (`sample_dropped_by_strategy`).
    Dropped { id: String },
    /// `RequestLimit` requests were already in progress (`Queue.Full`).
    Throttled { id: String },
}

impl Outcome {
    pub fn id(&self) -> &str {
        match self {
            Outcome::Spooled { id } | Outcome::Dropped { id } | Outcome::Throttled { id } => id,
        }
    }
}

/// An upload failure: the connector's exception type (e.g. `NoSuchBucket`) and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadError {
    pub error: String,
    pub message: String,
}

/// The user's uploader: ships one sample to S3 (`sample.bucket`, `sample.key`). `Ok` may carry
/// fields for the success status's `s3_response` (e.g. the `ETag`). Called from one thread at
/// a time.
pub type Uploader =
    Arc<dyn Fn(&Sample) -> std::result::Result<Map<String, Value>, UploadError> + Send + Sync>;

/// Receives every message: `(topic, JSON payload)`. Called on the thread that produced the
/// message (a classifying thread, or the uploader thread): keep it quick.
pub type MessageCallback = Arc<dyn Fn(&str, &[u8]) + Send + Sync>;

/// MQTT delivery counters (all zero without a broker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MqttStats {
    /// Messages waiting for the broker's acknowledgement now.
    pub queued: u64,
    /// Messages acknowledged by the broker.
    pub delivered: u64,
    /// Messages refused because the queue was full (or the message invalid).
    pub overflowed: u64,
    /// Connections after the first.
    pub reconnects: u64,
    pub connected: bool,
}

/// Counters of a feedback hub (the connector's CloudWatch metrics, and more).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedbackStats {
    pub requests: u64,
    /// Kept and spooled.
    pub spooled: u64,
    /// `SampleNotUsed`.
    pub dropped_by_strategy: u64,
    /// `ErrorRequestThrottled`.
    pub throttled: u64,
    /// Kept but not spooled (disk error, too large).
    pub spool_errors: u64,
    /// `SampleUploadSuccess`.
    pub uploaded: u64,
    /// `SampleUploadFailure`.
    pub upload_failures: u64,
    /// `SampleAndPredictionPublished`.
    pub predictions_published: u64,
    /// Classifications whose feedback failed (logged; the classification itself succeeded).
    pub hook_errors: u64,
    pub spool: SpoolStats,
    pub mqtt: MqttStats,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    spooled: AtomicU64,
    dropped_by_strategy: AtomicU64,
    throttled: AtomicU64,
    spool_errors: AtomicU64,
    uploaded: AtomicU64,
    upload_failures: AtomicU64,
    predictions_published: AtomicU64,
    hook_errors: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The background uploader: a thread that drains the spool through the user's uploader.
struct UploadThread {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

/// An open ML Feedback "connector". Thread-safe: share it with `Arc`.
pub struct Feedback {
    config: FeedbackConnectorConfig,
    spool: Spool,
    rng: Mutex<strategy::SplitMix64>,
    in_flight: AtomicUsize,
    counters: Counters,
    #[cfg(feature = "mqtt")]
    mqtt: Option<mqtt::MqttPublisher>,
    callback: Mutex<Option<MessageCallback>>,
    /// Serialises uploads between the background thread and `drain`.
    upload_lock: Mutex<()>,
    /// Wakes the upload thread when a sample was spooled.
    wake: Arc<(Mutex<bool>, Condvar)>,
    upload_thread: Mutex<Option<UploadThread>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fill `buf` from `/dev/urandom`.
pub(crate) fn read_urandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

/// A random (version 4) UUID, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. From `/dev/urandom`; where
/// there is none, from a process-wide SplitMix64 seeded by the clock (unique, not secret).
pub fn new_uuid() -> String {
    let mut b = [0u8; 16];
    if read_urandom(&mut b).is_err() {
        static FALLBACK: Mutex<Option<strategy::SplitMix64>> = Mutex::new(None);
        let mut g = lock(&FALLBACK);
        let r = g.get_or_insert_with(strategy::SplitMix64::from_os);
        b[..8].copy_from_slice(&r.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&r.next_u64().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `time` (UTC) as Python's `str(datetime)`: `2019-07-11 00:12:48.816752`, and without the
/// fraction when the microseconds are 0, as Python writes it.
pub fn python_timestamp(time: SystemTime) -> String {
    let d = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let micros = d.subsec_micros();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    let mut out = format!(
        "{y:04}-{m:02}-{day:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    if micros != 0 {
        out.push_str(&format!(".{micros:06}"));
    }
    out
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Decrements the in-flight count when a request ends, however it ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Feedback {
    /// Open from the ML Feedback connector's `Parameters` (see [`config::FEEDBACK_KEYS`]).
    pub fn open(params: &BTreeMap<String, String>) -> Result<Feedback> {
        Feedback::with_config(FeedbackConnectorConfig::from_parameters(params)?)
    }

    pub fn with_config(config: FeedbackConnectorConfig) -> Result<Feedback> {
        let spool = Spool::open(
            &config.spool.dir,
            config.spool.max_bytes,
            config.spool.max_count,
        )?;
        #[cfg(feature = "mqtt")]
        let mqtt = match &config.mqtt {
            Some(o) => Some(mqtt::MqttPublisher::start(o.clone())?),
            None => None,
        };
        #[cfg(not(feature = "mqtt"))]
        if config.mqtt.is_some() {
            return Err(Error::new(
                Code::Unsupported,
                "EdgeclassMqttHost is set but this edgeclass build has no MQTT client (build with the mqtt feature, or receive the messages with a message callback)",
            ));
        }
        let rng = match config.random_seed {
            Some(seed) => strategy::SplitMix64::new(seed),
            None => strategy::SplitMix64::from_os(),
        };
        Ok(Feedback {
            config,
            spool,
            rng: Mutex::new(rng),
            in_flight: AtomicUsize::new(0),
            counters: Counters::default(),
            #[cfg(feature = "mqtt")]
            mqtt,
            callback: Mutex::new(None),
            upload_lock: Mutex::new(()),
            wake: Arc::new((Mutex::new(false), Condvar::new())),
            upload_thread: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &FeedbackConnectorConfig {
        &self.config
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Send every message to `callback` too (None: stop).
    pub fn set_message_callback(&self, callback: Option<MessageCallback>) {
        *lock(&self.callback) = callback;
    }

    fn emit(&self, topic: &str, message: &Value) {
        let payload = match serde_json::to_vec(message) {
            Ok(p) => p,
            Err(e) => {
                log::error!("feedback: cannot serialise a message for {topic}: {e}");
                return;
            }
        };
        let callback = lock(&self.callback).clone();
        if let Some(cb) = callback {
            cb(topic, &payload);
        }
        #[cfg(feature = "mqtt")]
        if let Some(m) = &self.mqtt {
            m.publish(topic, payload);
        }
    }

    /// The SDK's `feedback.publish(ConfigId, ModelInput, ModelPrediction, Metadata)`:
    /// `prediction` is a list (image classification) or an object (object detection).
    pub fn submit(
        &self,
        config_id: &str,
        input: &[u8],
        prediction: &Value,
        metadata: Map<String, Value>,
    ) -> Result<Outcome> {
        let config = self.config.configs.get(config_id).ok_or_else(|| {
            invalid_argument(format!(
                "ConfigId {config_id:?} is not in this FeedbackConfigurationMap (known: {})",
                self.config
                    .configs
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let probs: Option<Vec<f64>> = match prediction {
            Value::Array(a) => Some(
                a.iter()
                    .map(|v| v.as_f64().unwrap_or(f64::NAN))
                    .collect(),
            ),
            Value::Object(_) => None,
            other => {
                return Err(invalid_argument(format!(
                    "ModelPrediction must be a list (image classification) or an object (object detection), not {other}"
                )))
            }
        };
        bump(&self.counters.requests);
        let id = new_uuid();
        let _in_flight = match self.admit() {
            Some(g) => g,
            None => {
                bump(&self.counters.throttled);
                let limit = self.config.request_limit.unwrap_or(0);
                log::warn!("feedback [{config_id}]: RequestLimit {limit} reached; request {id} dropped (Queue.Full)");
                self.emit(
                    message::STATUS_TOPIC,
                    &message::status_queue_full(&id, limit),
                );
                return Ok(Outcome::Throttled { id });
            }
        };
        let keep = match &probs {
            Some(p) => {
                let mut rng = lock(&self.rng);
                config.strategy.keep(p, &mut || rng.next_f64())
            }
            // How strategies apply to object detection is not documented: only RANDOM_SAMPLING
            // can be decided without a probability list; the others keep everything.
            None => {
                let mut rng = lock(&self.rng);
                match config.strategy {
                    Strategy::RandomSampling { .. } => {
                        config.strategy.keep(&[], &mut || rng.next_f64())
                    }
                    _ => true,
                }
            }
        };
        if !keep {
            bump(&self.counters.dropped_by_strategy);
            self.emit(message::STATUS_TOPIC, &message::status_dropped(&id));
            return Ok(Outcome::Dropped { id });
        }
        let mut metadata = metadata;
        metadata.insert(
            "publish-ts".into(),
            Value::String(python_timestamp(SystemTime::now())),
        );
        let sample = Sample {
            key: config.s3_key(&id),
            id: id.clone(),
            config_id: config_id.to_string(),
            content_type: config.content_type.clone(),
            bucket: config.bucket.clone(),
            prediction: prediction.clone(),
            metadata,
            input: input.to_vec(),
        };
        if let Err(e) = self.spool.put(&sample) {
            bump(&self.counters.spool_errors);
            return Err(e.context(format!("feedback [{config_id}] sample {id}")));
        }
        bump(&self.counters.spooled);
        let (flag, cv) = &*self.wake;
        *lock(flag) = true;
        cv.notify_all();
        Ok(Outcome::Spooled { id })
    }

    /// Count this request in, unless `RequestLimit` are in progress already.
    fn admit(&self) -> Option<InFlight<'_>> {
        let n = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let guard = InFlight(&self.in_flight);
        match self.config.request_limit {
            Some(limit) if n > limit => None,
            _ => Some(guard),
        }
    }

    /// The SDK's `publish` with JSON text arguments (what the C ABI and Python pass): parses and
    /// validates as `feedback.py` did.
    pub fn publish_json(
        &self,
        config_id: &str,
        input: &[u8],
        prediction_json: &str,
        metadata_json: Option<&str>,
    ) -> Result<Outcome> {
        let (prediction, metadata) = parse_publish_args(config_id, prediction_json, metadata_json)?;
        self.submit(config_id, input, &prediction, metadata)
    }

    /// After a successful classification by `service` (its `MLFeedbackConnectorConfigId` is
    /// `config_id`): the Greengrass v2 style result message, then the feedback request. Never
    /// fails: errors are logged and counted. Copies `body` only when the sample is kept.
    pub fn on_classification(
        &self,
        service: &str,
        config_id: &str,
        body: &[u8],
        probs: &[f32],
        labels: Option<&[String]>,
    ) {
        let p: Vec<f64> = probs.iter().map(|&x| strategy::from_f32(x)).collect();
        if let Some(r) = &self.config.result {
            let m = message::inference_results(
                &python_timestamp(SystemTime::now()),
                &p,
                labels,
                r.top_k,
                r.threshold,
            );
            self.emit(&r.topic, &m);
        }
        let prediction = Value::Array(
            p.iter()
                .map(|&x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number))
                .collect(),
        );
        if let Err(e) = self.submit(config_id, body, &prediction, Map::new()) {
            bump(&self.counters.hook_errors);
            log::warn!("[{service}] ML Feedback for config {config_id:?} failed: {e}");
        }
    }

    /// Upload spooled samples, oldest first, through `upload` on this thread, until the spool
    /// is empty, `max` were uploaded (0: no limit) or an upload fails; publishes the status and
    /// prediction messages. An upload failure is an `Ok` report with `failed` set (the sample
    /// stays for a later try); a spool error is an `Err`.
    pub fn drain(&self, upload: &Uploader, max: usize) -> Result<DrainReport> {
        let _one = lock(&self.upload_lock);
        drain_spool(
            &self.spool,
            upload,
            max,
            |sample, extra| {
                bump(&self.counters.uploaded);
                self.emit(
                    message::STATUS_TOPIC,
                    &message::status_success(&sample.id, &sample.bucket, &sample.key, extra),
                );
                self.emit(
                    message::PREDICTION_TOPIC,
                    &message::prediction(
                        &sample.source_ref(),
                        &sample.prediction,
                        &sample.config_id,
                        &sample.metadata,
                    ),
                );
                bump(&self.counters.predictions_published);
            },
            |sample, e| {
                bump(&self.counters.upload_failures);
                self.emit(
                    message::STATUS_TOPIC,
                    &message::status_upload_failed(&sample.id, &e.error, &e.message),
                );
            },
        )
    }

    /// Upload in the background through `upload` (None: stop the background uploader). Samples
    /// are tried as soon as they are spooled; after a failure, again after a backoff (1 s,
    /// doubling up to 60 s).
    pub fn set_uploader(self: &Arc<Self>, upload: Option<Uploader>) -> Result<()> {
        let mut slot = lock(&self.upload_thread);
        if let Some(t) = slot.take() {
            t.stop.store(true, Ordering::Relaxed);
            self.wake.1.notify_all();
            // Called from the uploader itself (inside its callback): it stops after this sample.
            if t.handle.thread().id() != std::thread::current().id() {
                let _ = t.handle.join();
            }
        }
        let Some(upload) = upload else {
            return Ok(());
        };
        let stop = Arc::new(AtomicBool::new(false));
        // A weak reference: the thread must not keep the hub alive.
        let hub = Arc::downgrade(self);
        let st = stop.clone();
        let handle = std::thread::Builder::new()
            .name("edgeclass-feedback-upload".into())
            .spawn(move || upload_loop(hub, st, upload))
            .map_err(|e| internal(format!("cannot start the upload thread: {e}")))?;
        *slot = Some(UploadThread { stop, handle });
        Ok(())
    }

    /// Wait until the MQTT queue is empty (every message acknowledged), at most `timeout`.
    /// True at once without a broker.
    pub fn flush(&self, timeout: Duration) -> bool {
        #[cfg(feature = "mqtt")]
        if let Some(m) = &self.mqtt {
            return m.flush(timeout);
        }
        let _ = timeout;
        true
    }

    pub fn stats(&self) -> FeedbackStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        #[cfg(feature = "mqtt")]
        let mqtt = self.mqtt.as_ref().map(|m| m.stats()).unwrap_or_default();
        #[cfg(not(feature = "mqtt"))]
        let mqtt = MqttStats::default();
        FeedbackStats {
            requests: get(&c.requests),
            spooled: get(&c.spooled),
            dropped_by_strategy: get(&c.dropped_by_strategy),
            throttled: get(&c.throttled),
            spool_errors: get(&c.spool_errors),
            uploaded: get(&c.uploaded),
            upload_failures: get(&c.upload_failures),
            predictions_published: get(&c.predictions_published),
            hook_errors: get(&c.hook_errors),
            spool: self.spool.stats(),
            mqtt,
        }
    }
}

impl Drop for Feedback {
    fn drop(&mut self) {
        if let Some(t) = lock(&self.upload_thread).take() {
            t.stop.store(true, Ordering::Relaxed);
            self.wake.1.notify_all();
            // The thread holds only a weak reference, so this is not its own last reference
            // unless it is upgrading right now; then it finishes its sample and stops.
            if t.handle.thread().id() != std::thread::current().id() {
                let _ = t.handle.join();
            }
        }
    }
}

impl std::fmt::Debug for Feedback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feedback")
            .field("configs", &self.config.configs.keys().collect::<Vec<_>>())
            .field("spool", &self.spool.dir())
            .finish()
    }
}

/// What a drain did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub uploaded: usize,
    /// Sample files found corrupt (moved aside).
    pub corrupt: usize,
    /// The failure that stopped the drain.
    pub failed: Option<UploadError>,
}

fn upload_loop(hub: std::sync::Weak<Feedback>, stop: Arc<AtomicBool>, upload: Uploader) {
    let mut backoff = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let Some(fb) = hub.upgrade() else { return };
        let wake = fb.wake.clone();
        let retry_after = match fb.drain(&upload, 0) {
            Ok(r) if r.failed.is_none() => {
                backoff = Duration::ZERO;
                None
            }
            Ok(_) => {
                backoff = (backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
                Some(backoff)
            }
            Err(e) => {
                log::error!("feedback: the upload thread cannot read the spool: {e}");
                Some(Duration::from_secs(5))
            }
        };
        // Never wait holding the hub: it must be free to close.
        drop(fb);
        let (flag, cv) = &*wake;
        let mut woken = lock(flag);
        let end = std::time::Instant::now() + retry_after.unwrap_or(Duration::from_secs(3600));
        // A new sample ends an idle wait, not a backoff after a failure.
        let idle = retry_after.is_none();
        loop {
            if stop.load(Ordering::Relaxed) || (idle && *woken) {
                break;
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            woken = cv
                .wait_timeout(woken, left.min(Duration::from_millis(200)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *woken = false;
    }
}

/// Upload the samples of `spool`, oldest first (re-reading the directory first), through
/// `upload`; a sample is deleted only after its upload succeeded. Stops after `max` uploads (0: no
/// limit) or at the first failure. `uploaded` / `failed` are told about each outcome.
pub fn drain_spool(
    spool: &Spool,
    upload: &Uploader,
    max: usize,
    mut uploaded: impl FnMut(&Sample, &Map<String, Value>),
    mut failed: impl FnMut(&Sample, &UploadError),
) -> Result<DrainReport> {
    let mut report = DrainReport::default();
    for name in spool.refresh()? {
        if max > 0 && report.uploaded >= max {
            break;
        }
        let sample = match spool.load(&name) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(_) => {
                // Moved aside and logged by `load`.
                report.corrupt += 1;
                continue;
            }
        };
        match upload(&sample) {
            Ok(extra) => {
                spool.remove(&name)?;
                report.uploaded += 1;
                uploaded(&sample, &extra);
            }
            Err(e) => {
                log::warn!(
                    "feedback: upload of sample {} to {} failed: {}: {}",
                    sample.id,
                    sample.source_ref(),
                    e.error,
                    e.message
                );
                failed(&sample, &e);
                report.failed = Some(e);
                break;
            }
        }
    }
    Ok(report)
}

/// An uploader that runs `sh -c COMMAND` per sample: the input bytes on its standard input, the
/// rest in the environment (`EDGECLASS_SAMPLE_ID`, `EDGECLASS_CONFIG_ID`,
/// `EDGECLASS_CONTENT_TYPE`, `EDGECLASS_S3_BUCKET`, `EDGECLASS_S3_KEY`, `EDGECLASS_SOURCE_REF`,
/// `EDGECLASS_SAMPLE_JSON` = the header with prediction and metadata). Exit status 0 = uploaded.
/// The command's standard output goes to this process's standard error.
pub fn command_uploader(command: &str) -> Uploader {
    let command = command.to_string();
    Arc::new(move |s: &Sample| {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let fail = |message: String| UploadError {
            error: "CommandFailed".into(),
            message,
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("EDGECLASS_SAMPLE_ID", &s.id)
            .env("EDGECLASS_CONFIG_ID", &s.config_id)
            .env("EDGECLASS_CONTENT_TYPE", &s.content_type)
            .env("EDGECLASS_S3_BUCKET", &s.bucket)
            .env("EDGECLASS_S3_KEY", &s.key)
            .env("EDGECLASS_SOURCE_REF", s.source_ref())
            .env("EDGECLASS_SAMPLE_JSON", s.header().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::from(std::io::stderr()))
            .spawn()
            .map_err(|e| fail(format!("cannot run sh -c {command:?}: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read its input closes the pipe early: not an error here,
            // its exit status decides.
            let _ = stdin.write_all(&s.input);
        }
        let status = child
            .wait()
            .map_err(|e| fail(format!("waiting for {command:?}: {e}")))?;
        if status.success() {
            Ok(Map::new())
        } else {
            Err(fail(format!("{command:?} exited with {status}")))
        }
    })
}

/// Parse and validate the SDK's `publish` arguments given as JSON text, with `feedback.py`'s
/// rules: `ConfigId` matches `^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$`, `ModelPrediction` is a list or
/// an object, `Metadata` (optional, default `{}`) is an object.
pub fn parse_publish_args(
    config_id: &str,
    prediction_json: &str,
    metadata_json: Option<&str>,
) -> Result<(Value, Map<String, Value>)> {
    if !crate::service::config::is_service_name(config_id) {
        return Err(invalid_argument(format!(
            "field config_id must match the regex ^[a-zA-Z0-9][a-zA-Z0-9-]{{1,62}}$ (got {config_id:?})"
        )));
    }
    let prediction: Value = serde_json::from_str(prediction_json)
        .map_err(|e| invalid_argument(format!("ModelPrediction is not valid JSON: {e}")))?;
    if !prediction.is_array() && !prediction.is_object() {
        return Err(invalid_argument(
            "ModelPrediction must be a list (image classification) or a dict (object detection)",
        ));
    }
    let metadata = match metadata_json.map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(invalid_argument("Metadata must be a dict")),
            Err(e) => return Err(invalid_argument(format!("Metadata is not valid JSON: {e}"))),
        },
    };
    Ok((prediction, metadata))
}

/// How many classifications named a feedback config id that no open feedback connector has.
static UNROUTED: AtomicU64 = AtomicU64::new(0);

/// Classifications whose `MLFeedbackConnectorConfigId` named no open configuration.
pub fn unrouted() -> u64 {
    UNROUTED.load(Ordering::Relaxed)
}

/// The service hook: called by `Service::classify` after a successful classification when the
/// service has an `MLFeedbackConnectorConfigId`. Never fails and never panics into the caller;
/// touches the network only through the MQTT thread; copies `body` only if the sample is kept.
pub fn after_classification(
    service: &str,
    config_id: &str,
    body: &[u8],
    probs: &[f32],
    labels: Option<&[String]>,
) {
    let run = || match registry::get(config_id) {
        Some(fb) => fb.on_classification(service, config_id, body, probs, labels),
        None => {
            let n = UNROUTED.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_multiple_of(1000) {
                log::warn!(
                    "[{service}] MLFeedbackConnectorConfigId {config_id:?}: no open ML Feedback connector has this configuration; no feedback ({n} so far)"
                );
            }
        }
    };
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_err() {
        log::error!("[{service}] ML Feedback panicked (a bug); the classification is unaffected");
    }
}

/// An error for an unknown config id (the registry's and the C ABI's).
pub fn unknown_config(config_id: &str) -> Error {
    Error::new(
        Code::InvalidArgument,
        format!("ConfigId {config_id:?}: no open ML Feedback connector has this configuration"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_python_str_datetime_in_utc() {
        let t = |s: u64, us: u32| {
            python_timestamp(SystemTime::UNIX_EPOCH + Duration::new(s, us * 1000))
        };
        // 2019-07-11 00:12:48.816752 UTC = 1562803968.816752 (date -u -d @1562803968).
        assert_eq!(t(1_562_803_968, 816_752), "2019-07-11 00:12:48.816752");
        assert_eq!(t(0, 1), "1970-01-01 00:00:00.000001");
        // Python's str(datetime) drops a zero fraction.
        assert_eq!(t(0, 0), "1970-01-01 00:00:00");
        // Leap day and end of year.
        assert_eq!(t(951_782_400, 5), "2000-02-29 00:00:00.000005");
        assert_eq!(t(1_704_067_199, 999_999), "2023-12-31 23:59:59.999999");
    }

    #[test]
    fn uuids_are_v4_and_distinct() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        for u in [&a, &b] {
            let parts: Vec<&str> = u.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{u}");
            assert!("89ab".contains(&parts[3][..1]), "{u}");
            assert!(u
                .bytes()
                .all(|c| c == b'-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        }
    }

    #[test]
    fn publish_args_are_validated_like_the_sdk() {
        let (p, m) = parse_publish_args("cfg-1", "[0.5,0.5]", None).unwrap();
        assert_eq!((p, m.len()), (serde_json::json!([0.5, 0.5]), 0));
        let (_, m) = parse_publish_args("cfg-1", "{\"boxes\": []}", Some("{\"a\": 1}")).unwrap();
        assert_eq!(m["a"], 1);
        for (id, pred, md, want) in [
            ("c", "[1]", None, "^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$"),
            ("cfg_1", "[1]", None, "config_id must match"),
            ("cfg-1", "3", None, "list"),
            ("cfg-1", "[1", None, "not valid JSON"),
            ("cfg-1", "[1]", Some("[1]"), "Metadata must be a dict"),
        ] {
            let e = parse_publish_args(id, pred, md).unwrap_err();
            assert!(e.message.contains(want), "{id} {pred} {md:?}: {e}");
        }
    }
}
