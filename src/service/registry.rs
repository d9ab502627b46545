//! Services by name, for the lifetime of the process: the connector's
//! `LocalInferenceServiceName` → service, and the SDK's call shape
//! `invoke(AlgoType, ServiceName, ContentType, Body)`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use super::{
    unknown_service, Classification, ClassificationHook, Request, Service, ServiceConfig, ALGO_TYPE,
};
use crate::error::{invalid_argument, Code, Error, Result};

fn services() -> &'static Mutex<HashMap<String, Arc<Service>>> {
    static SERVICES: OnceLock<Mutex<HashMap<String, Arc<Service>>>> = OnceLock::new();
    SERVICES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Open a service from connector `Parameters` and register it under its name, without a hook.
/// Opening a name that is already open is `Code::ServiceExists`.
pub fn open(params: &BTreeMap<String, String>) -> Result<Arc<Service>> {
    open_with(params, |_| None)
}

/// [`open`], with the hook that `hook_for` gives for the parsed configuration
/// (`crate::feedback::open_registered` passes ML Feedback's).
pub fn open_with(
    params: &BTreeMap<String, String>,
    hook_for: impl FnOnce(&ServiceConfig) -> Option<Arc<dyn ClassificationHook>>,
) -> Result<Arc<Service>> {
    let config = ServiceConfig::from_parameters(params)?;
    let name = config.name.clone();
    if services()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains_key(&name)
    {
        return Err(exists(&name));
    }
    // Load outside the lock: opening takes time and must not block other services' requests.
    let hook = hook_for(&config);
    let service = Arc::new(Service::open_with_hook(config, hook)?);
    let mut map = services().lock().unwrap_or_else(|p| p.into_inner());
    if map.contains_key(&name) {
        return Err(exists(&name));
    }
    map.insert(name, service.clone());
    Ok(service)
}

fn exists(name: &str) -> Error {
    Error::new(
        Code::ServiceExists,
        format!("a service named {name:?} is already open; close it first"),
    )
}

/// The open service called `name`.
pub fn get(name: &str) -> Option<Arc<Service>> {
    services()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(name)
        .cloned()
}

/// Unregister `name`. Requests already running finish; the service is freed when the last
/// `Arc` is dropped. Returns whether it was open.
pub fn close(name: &str) -> bool {
    services()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(name)
        .is_some()
}

/// Names of the open services, sorted.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = services()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .keys()
        .cloned()
        .collect();
    v.sort();
    v
}

/// The SDK's `invoke_inference_service(AlgoType, ServiceName, ContentType, Body)`.
pub fn invoke(
    algo_type: &str,
    service_name: &str,
    content_type: &str,
    body: &[u8],
    request: Option<&Request>,
) -> Result<Classification> {
    check_algo_type(algo_type, service_name)?;
    let service = get(service_name).ok_or_else(|| unknown_service(algo_type, service_name))?;
    service.classify(content_type, body, request)
}

/// The SDK's check of `AlgoType` before it looks for the service: `InvalidArgument` when it
/// breaks the name rule, `UnknownService` when it is another algorithm than
/// image-classification (shared with `crate::client::Client::invoke`).
pub fn check_algo_type(algo_type: &str, service_name: &str) -> Result<()> {
    if algo_type == ALGO_TYPE {
        return Ok(());
    }
    if !crate::names::is_service_name(algo_type) {
        return Err(invalid_argument(format!(
            "AlgoType {algo_type:?} does not match {}",
            crate::names::SERVICE_NAME_RULE
        )));
    }
    Err(unknown_service(algo_type, service_name))
}
