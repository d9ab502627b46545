//! ML Feedback: what the Greengrass ML Feedback connector did, on the device and without
//! Greengrass. After a classification (or an SDK-style `publish`), a configuration's sampling
//! strategy decides whether the model input is worth keeping; a kept sample goes durably into a
//! local spool until the user's uploader ships it to S3; the outcome is published as the
//! connector's status and prediction messages (MQTT with the `mqtt` feature, and/or a callback).
//!
//! Stages, one file each: `config` (connector parameters) → `strategy` (keep or drop) → `spool`
//! (crash-safe files) → `message` (JSON shapes) → `mqtt` (broker, bounded queue). `hub` is the
//! connector, [`Feedback`]: decide → spool → publish, with `RequestLimit` bounding the requests
//! in progress (excess gets the connector's `Queue.Full` status); `upload` drains the spool
//! through the user's uploader; `sdk` checks the SDK's `publish` arguments; `ids` makes sample
//! ids and Python-style timestamps. `registry` maps config ids to open connectors, for the SDK's
//! `publish(ConfigId, ...)`; `hook` is what a service is given at open when its
//! `MLFeedbackConnectorConfigId` names one ([`hook_for`], [`open_service`]).

pub mod config;
pub mod hook;
mod hub;
mod ids;
pub mod message;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod registry;
mod sdk;
pub mod spool;
pub mod strategy;
mod upload;

use std::sync::Arc;

use serde_json::{Map, Value};

pub use config::{FeedbackConfig, FeedbackConnectorConfig};
pub use hook::{hook_for, open_registered, open_service, unrouted};
pub use hub::Feedback;
pub use ids::{new_uuid, python_timestamp};
pub use sdk::{parse_publish_args, unknown_config};
pub use spool::{Sample, Spool, SpoolStats};
pub use strategy::Strategy;
pub use upload::{drain_spool, DrainReport};

/// What happened to one feedback request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept: written to the spool, waiting for upload.
    /// Kept: written to the spool as sample `id`, waiting for upload.
    Spooled {
        /// The request's id (a UUID; a kept sample's name in the spool and in S3).
        id: String,
    },
    /// The sampling strategy did not keep it (`sample_dropped_by_strategy`).
    /// Not kept by the sampling strategy (`sample_dropped_by_strategy`).
    Dropped {
        /// The request's id (a UUID; a kept sample's name in the spool and in S3).
        id: String,
    },
    /// `RequestLimit` requests were already in progress (`Queue.Full`).
    /// Refused: `RequestLimit` requests were in progress (`Queue.Full`).
    Throttled {
        /// The request's id (a UUID; a kept sample's name in the spool and in S3).
        id: String,
    },
}

impl Outcome {
    /// The request's id (a UUID), whatever happened to it.
    pub fn id(&self) -> &str {
        match self {
            Outcome::Spooled { id } | Outcome::Dropped { id } | Outcome::Throttled { id } => id,
        }
    }
}

/// An upload failure: the connector's exception type (e.g. `NoSuchBucket`) and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadError {
    /// The connector's exception type, e.g. `NoSuchBucket`.
    pub error: String,
    /// What went wrong, for people.
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
    /// Whether the broker is connected now.
    pub connected: bool,
}

/// Counters of a feedback hub (the connector's CloudWatch metrics, and more).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedbackStats {
    /// Feedback requests (classifications and `publish` calls).
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
    /// The spool's counters.
    pub spool: SpoolStats,
    /// The MQTT delivery counters.
    pub mqtt: MqttStats,
}
