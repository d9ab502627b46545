//! `POST /services/{name}/reload` and SIGHUP: a new model for a service, through the library's
//! hot swap (`Service::reload`: requests in flight finish on the old model, a model that fails
//! to load or warm up leaves the old one serving and the error is answered).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Value};

use edgeclass::error::invalid_argument;
use edgeclass::{Code, Error, Service};

use super::http::{drain, error, read_small_json, respond};
use super::state::{Daemon, Entry};

/// The largest reload body read (a JSON object with a path).
const MAX_BODY: usize = 64 * 1024;

/// Reload one service (`path` None: from its own model path), counted in the metrics.
pub(super) fn reload(
    entry: &Entry,
    service: &Service,
    path: Option<PathBuf>,
) -> edgeclass::Result<Value> {
    let result = service.reload(path.as_deref());
    entry.metrics.reloaded(result.is_ok());
    let r = result?;
    log::info!(
        "service {} reloaded: generation {} from {} (requests paused {:?})",
        service.name(),
        r.generation,
        r.model_path.display(),
        r.paused
    );
    Ok(json!({
        "service": service.name(),
        "generation": r.generation,
        "model_path": r.model_path,
        "paused_ms": r.paused.as_secs_f64() * 1e3,
        "budget": {"limit_bytes": r.budget.limit, "model_bytes": r.budget.model_bytes,
            "image_bytes": r.budget.image_bytes, "workers": r.budget.workers},
    }))
}

/// `POST /services/{name}/reload`, body empty or `{"model_path": "..."}`.
pub async fn route(
    daemon: &Arc<Daemon>,
    name: &str,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let found = daemon
        .services
        .iter()
        .position(|e| e.name.as_deref() == Some(name));
    let Some(index) = found else {
        drain(req).await;
        return error(&Error::new(
            Code::UnknownService,
            format!(
                "no service named {name:?}; the services are: {}",
                daemon.names().join(", ")
            ),
        ));
    };
    // A service that never opened has no model to swap: its own error says why.
    if let Err(e) = &daemon.services[index].service {
        drain(req).await;
        return error(e);
    }
    let path = match read_small_json(req, MAX_BODY, Duration::from_secs(10)).await {
        Err(e) => return error(&e),
        Ok(None) => None,
        Ok(Some(Value::Object(o))) => match (o.get("model_path"), o.len()) {
            (None, 0) => None,
            (Some(Value::String(p)), 1) if !p.is_empty() => Some(PathBuf::from(p)),
            _ => {
                return error(&invalid_argument(format!(
                    "the reload body {} is not {{\"model_path\": \"PATH\"}} (or empty: the service's own path)",
                    Value::Object(o)
                )))
            }
        },
        Ok(Some(other)) => {
            return error(&invalid_argument(format!(
                "the reload body {other} is not a JSON object"
            )))
        }
    };
    // Loading and warming up takes time: off the I/O threads.
    let daemon = daemon.clone();
    let done = tokio::task::spawn_blocking(move || {
        let entry = &daemon.services[index];
        let service = entry.service.as_ref().map_err(Clone::clone)?;
        reload(entry, service, path)
    })
    .await;
    match done {
        Ok(Ok(v)) => respond(200, "application/json", v.to_string()),
        Ok(Err(e)) => error(&e),
        Err(e) => error(&edgeclass::error::internal(format!(
            "the reload task failed: {e}"
        ))),
    }
}

/// SIGHUP: reload every open service from its own model path, one after the other.
pub fn reload_all(daemon: &Daemon) {
    for entry in &daemon.services {
        if let Ok(service) = &entry.service {
            if let Err(e) = reload(entry, service, None) {
                log::error!("SIGHUP: {e}");
            }
        }
    }
}
