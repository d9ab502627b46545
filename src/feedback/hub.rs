//! The connector itself, [`Feedback`]: a configuration's strategy decides, the spool keeps, the
//! messages go to MQTT and/or the callback; counters for the connector's metrics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

#[cfg(feature = "mqtt")]
use super::mqtt;
use super::upload::{drain_spool, upload_loop, DrainReport, UploadThread};
#[cfg(not(feature = "mqtt"))]
use super::MqttStats;
use super::{
    message, new_uuid, python_timestamp, strategy, FeedbackConnectorConfig, FeedbackStats,
    MessageCallback, Outcome, Sample, Spool, Strategy, Uploader,
};
use crate::error::{internal, invalid_argument, Result};
#[cfg(not(feature = "mqtt"))]
use crate::error::{Code, Error};

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
    pub(super) wake: Arc<(Mutex<bool>, Condvar)>,
    upload_thread: Mutex<Option<UploadThread>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Decrements the in-flight count when a request ends, however it ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Feedback {
    /// Open from the ML Feedback connector's `Parameters` (see [`super::config::FEEDBACK_KEYS`]).
    pub fn open(params: &BTreeMap<String, String>) -> Result<Feedback> {
        Feedback::with_config(FeedbackConnectorConfig::from_parameters(params)?)
    }

    /// Open from an already parsed configuration (spool opened, MQTT started).
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

    /// The configuration it was opened with.
    pub fn config(&self) -> &FeedbackConnectorConfig {
        &self.config
    }

    /// Its spool of kept samples.
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

    /// Its counters now.
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
