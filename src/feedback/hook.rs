//! ML Feedback as a service's [`ClassificationHook`]: a service whose
//! `MLFeedbackConnectorConfigId` names a configuration is opened with [`hook_for`]'s hook, which
//! hands each classification to the open connector that has that configuration.
//!
//! The connector is found late, as Greengrass did: the service and the feedback connector start
//! in either order, and a connector may close and open again. The hook keeps a weak reference to
//! the connector it found and looks again only when the registry has changed since (one atomic
//! load per request otherwise), so a classification does not take the registry's lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};

use super::{registry, Feedback};
use crate::error::Result;
use crate::service::{self, ClassificationHook, Classified, Service, ServiceConfig};

/// How many classifications named a feedback config id that no open feedback connector has.
static UNROUTED: AtomicU64 = AtomicU64::new(0);

/// Classifications whose `MLFeedbackConnectorConfigId` named no open configuration.
pub fn unrouted() -> u64 {
    UNROUTED.load(Ordering::Relaxed)
}

/// The hook of a service with `MLFeedbackConnectorConfigId` = `config_id`.
struct Route {
    config_id: String,
    /// The registry's generation when the connector was looked up, and what was found.
    found: RwLock<(u64, Weak<Feedback>)>,
}

impl Route {
    fn connector(&self) -> Option<Arc<Feedback>> {
        let now = registry::generation();
        {
            let found = self.found.read().unwrap_or_else(|p| p.into_inner());
            if found.0 == now {
                return found.1.upgrade();
            }
        }
        // Looked up after reading the generation: a change in between bumps it again, and the
        // next request looks again.
        let fb = registry::get(&self.config_id);
        let weak = fb.as_ref().map_or_else(Weak::new, Arc::downgrade);
        *self.found.write().unwrap_or_else(|p| p.into_inner()) = (now, weak);
        fb
    }
}

impl ClassificationHook for Route {
    /// Never fails: errors are logged and counted by the connector. Touches the network only
    /// through the MQTT thread; copies the body only if the sample is kept.
    fn classified(&self, e: &Classified<'_>) {
        let id = &self.config_id;
        match self.connector() {
            Some(fb) => fb.on_classification(e.service, id, e.body, e.probs, e.labels),
            None => {
                let n = UNROUTED.fetch_add(1, Ordering::Relaxed) + 1;
                if n == 1 || n.is_multiple_of(1000) {
                    log::warn!(
                        "[{}] MLFeedbackConnectorConfigId {id:?}: no open ML Feedback connector has this configuration; no feedback ({n} so far)",
                        e.service
                    );
                }
            }
        }
    }
}

/// The ML Feedback hook for a service opened with `config`: `None` when it names no
/// `MLFeedbackConnectorConfigId`.
pub fn hook_for(config: &ServiceConfig) -> Option<Arc<dyn ClassificationHook>> {
    let id = config.feedback_config_id.as_ref()?;
    Some(Arc::new(Route {
        config_id: id.clone(),
        found: RwLock::new((u64::MAX, Weak::new())),
    }))
}

/// Open a service with its ML Feedback hook ([`Service::open_with_hook`] + [`hook_for`]).
pub fn open_service(config: ServiceConfig) -> Result<Service> {
    let hook = hook_for(&config);
    Service::open_with_hook(config, hook)
}

/// Open a service from connector `Parameters` with its ML Feedback hook and register it under
/// its name (`service::registry::open_with`): what the C ABI's `edgeclass_service_open` does.
pub fn open_registered(params: &BTreeMap<String, String>) -> Result<Arc<Service>> {
    service::registry::open_with(params, hook_for)
}
