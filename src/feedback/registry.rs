//! Open ML Feedback connectors by config id, for the lifetime of the process: a service whose
//! `MLFeedbackConnectorConfigId` names a config id of an open connector feeds that connector, and
//! the SDK's `publish(ConfigId, ...)` (address `MLFeedback`, no handle) finds it here. Config ids
//! are unique across the open connectors.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

use super::{unknown_config, Feedback, FeedbackConnectorConfig, Outcome};
use crate::error::{Code, Error, Result};

fn hubs() -> &'static Mutex<HashMap<String, Arc<Feedback>>> {
    static HUBS: OnceLock<Mutex<HashMap<String, Arc<Feedback>>>> = OnceLock::new();
    HUBS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Bumped by every change to the map, under its lock: a service's hook caches what it found and
/// looks again only when this moved (`hook::Route`).
static GENERATION: AtomicU64 = AtomicU64::new(0);

pub(super) fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<String, Arc<Feedback>>> {
    hubs().lock().unwrap_or_else(|p| p.into_inner())
}

fn taken(ids: &[String], map: &HashMap<String, Arc<Feedback>>) -> Result<()> {
    match ids.iter().find(|id| map.contains_key(*id)) {
        Some(id) => Err(Error::new(
            Code::ServiceExists,
            format!("ML Feedback config id {id:?} is already open in another feedback connector; close it first"),
        )),
        None => Ok(()),
    }
}

/// Open an ML Feedback connector from its `Parameters` and register its config ids.
pub fn open(params: &BTreeMap<String, String>) -> Result<Arc<Feedback>> {
    let config = FeedbackConnectorConfig::from_parameters(params)?;
    let ids: Vec<String> = config.configs.keys().cloned().collect();
    taken(&ids, &lock())?;
    let fb = Arc::new(Feedback::with_config(config)?);
    let mut map = lock();
    taken(&ids, &map)?;
    for id in ids {
        map.insert(id, fb.clone());
    }
    GENERATION.fetch_add(1, Ordering::AcqRel);
    Ok(fb)
}

/// The open connector that has configuration `config_id`.
pub fn get(config_id: &str) -> Option<Arc<Feedback>> {
    lock().get(config_id).cloned()
}

/// Unregister every config id of `fb`. Returns whether any was registered.
pub fn close(fb: &Arc<Feedback>) -> bool {
    let mut map = lock();
    let before = map.len();
    map.retain(|_, v| !Arc::ptr_eq(v, fb));
    GENERATION.fetch_add(1, Ordering::AcqRel);
    map.len() != before
}

/// The SDK's `feedback.publish(ConfigId, ModelInput, ModelPrediction, Metadata)`.
pub fn publish(
    config_id: &str,
    input: &[u8],
    prediction: &Value,
    metadata: Map<String, Value>,
) -> Result<Outcome> {
    let fb = get(config_id).ok_or_else(|| unknown_config(config_id))?;
    fb.submit(config_id, input, prediction, metadata)
}

/// `publish` with JSON text arguments, validated as the SDK did (the C ABI's and Python's).
pub fn publish_json(
    config_id: &str,
    input: &[u8],
    prediction_json: &str,
    metadata_json: Option<&str>,
) -> Result<Outcome> {
    let (prediction, metadata) =
        super::parse_publish_args(config_id, prediction_json, metadata_json)?;
    publish(config_id, input, &prediction, metadata)
}
