//! The routes: SageMaker's endpoint contract (`POST /invocations`, `GET /ping`) per service,
//! plus `/services`, `/metrics` and reloads. Every failure is a JSON body
//! `{"code","name","message"}` with the status of `status::http_status`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::OwnedSemaphorePermit;

use edgeclass::answer::connector_body;
use edgeclass::error::{invalid_argument, memory_limit};
use edgeclass::{Code, Error, Model, Service};

use super::state::{Daemon, Entry};
use super::{metrics, status};

/// `Server-Timing`, which `hyper::header` does not name.
const SERVER_TIMING: hyper::header::HeaderName =
    hyper::header::HeaderName::from_static("server-timing");

/// Every answer of the daemon.
pub type Answer = Response<Full<Bytes>>;

/// The v2 answer's class count when the request names none (`format=v2` without `top`).
pub const V2_DEFAULT_TOP: usize = 5;

pub fn respond(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `{"code":N,"name":"NAME","message":"..."}`, in that order.
fn error_body(code: Code, message: &str) -> String {
    format!(
        "{{\"code\":{},\"name\":{},\"message\":{}}}",
        code as u32,
        Value::from(code.name()),
        Value::from(message)
    )
}

/// The answer to an edgeclass error.
pub fn error(e: &Error) -> Answer {
    respond(
        status::http_status(e.code),
        "application/json",
        error_body(e.code, &e.message),
    )
}

fn routing(status: u16, message: String) -> Answer {
    let (_, code, _) = status::ROUTING
        .iter()
        .find(|(s, _, _)| *s == status)
        .copied()
        .unwrap_or((status, Code::InvalidArgument, ""));
    respond(status, "application/json", error_body(code, &message))
}

/// The routes, as the path names them.
enum Route<'a> {
    Ping,
    Services,
    Metrics,
    Invocations,
    Invoke(&'a str),
    Reload(&'a str),
    Publish(&'a str),
}

impl Route<'_> {
    fn method(&self) -> Method {
        match self {
            Route::Ping | Route::Services | Route::Metrics => Method::GET,
            Route::Invocations | Route::Invoke(_) | Route::Reload(_) | Route::Publish(_) => {
                Method::POST
            }
        }
    }
}

/// Serve one request.
pub async fn handle(daemon: Arc<Daemon>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let route = match segments.as_slice() {
        ["ping"] => Route::Ping,
        ["services"] => Route::Services,
        ["metrics"] => Route::Metrics,
        ["invocations"] => Route::Invocations,
        ["services", name, "invocations"] => Route::Invoke(name),
        ["services", name, "reload"] => Route::Reload(name),
        ["feedback", config_id, "publish"] => Route::Publish(config_id),
        _ => return Ok(routing(404, format!("no route {path}; see docs/serve.md"))),
    };
    let allowed = route.method();
    if req.method() != allowed {
        let mut r = routing(405, format!("{path} takes {allowed}, not {}", req.method()));
        if let Ok(v) = HeaderValue::from_str(allowed.as_str()) {
            r.headers_mut().insert(ALLOW, v);
        }
        return Ok(r);
    }
    Ok(match route {
        Route::Ping => ping(&daemon),
        Route::Services => services(&daemon),
        Route::Metrics => metrics_text(&daemon),
        Route::Invoke(name) => invoke(&daemon, name, req).await,
        Route::Reload(name) => super::reload::route(&daemon, name, req).await,
        Route::Publish(config_id) => super::feedback::publish(&daemon, config_id, req).await,
        Route::Invocations => match daemon.names().as_slice() {
            [one] => invoke(&daemon, one, req).await,
            [] => {
                drain(req).await;
                error(&Error::new(
                    Code::UnknownService,
                    "the services file has no service: POST /services/NAME/invocations needs one",
                ))
            }
            several => {
                let message = format!(
                    "{} services are open ({}): POST /services/NAME/invocations",
                    several.len(),
                    several.join(", ")
                );
                drain(req).await;
                error(&invalid_argument(message))
            }
        },
    })
}

fn ping(daemon: &Daemon) -> Answer {
    if daemon.all_loaded() {
        return respond(200, "application/json", json!({"status": "ok"}).to_string());
    }
    let failed: Vec<Value> = daemon
        .services
        .iter()
        .filter_map(|e| e.service.as_ref().err().map(|err| (e, err)))
        .map(|(e, err)| json!({"service": e.name, "connector": e.connector, "code": err.code as u32, "name": err.code.name(), "message": err.message}))
        .chain(daemon.feedback.iter().filter_map(|f| {
            f.feedback.as_ref().err().map(|err| json!({"connector": f.connector, "code": err.code as u32, "name": err.code.name(), "message": err.message}))
        }))
        .collect();
    respond(
        503,
        "application/json",
        json!({"status": "degraded", "failed": failed}).to_string(),
    )
}

fn service_json(e: &Entry) -> Value {
    let mut v = json!({"name": e.name, "connector": e.connector});
    match &e.service {
        Ok(s) => {
            let info = &s.model().info;
            let b = s.budget();
            v["loaded"] = json!(true);
            v["model"] = json!({
                "origin": info.origin, "format": info.format, "input_shape": info.input_shape,
                "classes": info.classes, "epoch": info.epoch, "weight_bytes": info.weight_bytes,
                "labels": s.model().labels.is_some(),
            });
            v["timeout_seconds"] = json!(s.config().timeout.as_secs());
            v["workers"] = json!(s.config().workers);
            v["budget"] = json!({
                "limit_bytes": b.limit, "model_bytes": b.model_bytes,
                "load_peak_bytes": b.load_peak_bytes, "activation_bytes": b.activation_bytes,
                "worker_buffer_bytes": b.worker_buffer_bytes, "workers": b.workers,
                "image_bytes": b.image_bytes, "measured": b.measured,
            });
        }
        Err(err) => {
            v["loaded"] = json!(false);
            v["error"] =
                json!({"code": err.code as u32, "name": err.code.name(), "message": err.message});
        }
    }
    v
}

fn services(daemon: &Daemon) -> Answer {
    let feedback: Vec<Value> = daemon
        .feedback
        .iter()
        .map(|f| match &f.feedback {
            Ok(fb) => json!({"connector": f.connector, "loaded": true,
                "config_ids": fb.config().configs.keys().collect::<Vec<_>>()}),
            Err(err) => json!({"connector": f.connector, "loaded": false,
                "error": {"code": err.code as u32, "name": err.code.name(), "message": err.message}}),
        })
        .collect();
    let services: Vec<Value> = daemon.services.iter().map(service_json).collect();
    respond(
        200,
        "application/json",
        json!({"services": services, "feedback": feedback}).to_string(),
    )
}

fn metrics_text(daemon: &Daemon) -> Answer {
    let views: Vec<metrics::ServiceView<'_>> = daemon
        .services
        .iter()
        .filter_map(|e| {
            let name = e.name.as_deref()?;
            let memory = e.service.as_ref().ok().map(|s| {
                let b = s.budget();
                metrics::Memory {
                    limit: b.limit,
                    planned: b.fixed_bytes(),
                    image_budget: b.image_bytes,
                    request_peak: s.stats().request_peak_bytes,
                }
            });
            Some(metrics::ServiceView {
                name,
                metrics: &e.metrics,
                loaded: e.service.is_ok(),
                memory,
            })
        })
        .collect();
    let feedback: Vec<metrics::FeedbackView<'_>> = daemon
        .feedback
        .iter()
        .filter_map(|f| {
            f.feedback.as_ref().ok().map(|fb| metrics::FeedbackView {
                connector: &f.id,
                stats: fb.stats(),
            })
        })
        .collect();
    let heap =
        edgeclass::mem::heap::is_counting().then(|| edgeclass::mem::heap::live_bytes() as u64);
    respond(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        metrics::render(&views, &feedback, heap),
    )
}

/// What the client asked the answer to look like.
enum Shape {
    /// The connector's `[p0,p1,...]`.
    Connector,
    /// The Greengrass v2 component's `{"inference-results": [...]}`, top K.
    V2(usize),
}

fn shape(req: &Request<Incoming>) -> Result<Shape, Error> {
    let mut top = None;
    let mut v2 = false;
    for pair in req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("top", k)) => {
                top = Some(k.parse::<usize>().ok().filter(|&k| k > 0).ok_or_else(|| {
                    invalid_argument(format!("top={k}: expected a positive integer"))
                })?)
            }
            Some(("format", "v2")) => v2 = true,
            _ => {
                return Err(invalid_argument(format!(
                    "unknown query parameter {pair:?}: expected top=K or format=v2"
                )))
            }
        }
    }
    // `Accept: application/json; format=v2`.
    if let Some(accept) = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()) {
        let mut parts = accept.split(';').map(str::trim);
        if parts.next() == Some("application/json")
            && parts.any(|p| p.replace(' ', "") == "format=v2")
        {
            v2 = true;
        }
    }
    Ok(match (top, v2) {
        (Some(k), _) => Shape::V2(k),
        (None, true) => Shape::V2(V2_DEFAULT_TOP),
        (None, false) => Shape::Connector,
    })
}

/// Cancels the classification when the request's future is dropped (the client went away).
struct CancelOnDrop(Option<Arc<edgeclass::Request>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.cancel();
        }
    }
}

async fn invoke(daemon: &Daemon, name: &str, req: Request<Incoming>) -> Answer {
    let started = Instant::now();
    let Some(entry) = daemon.entry(name) else {
        let names = daemon.names().join(", ");
        drain(req).await;
        return error(&Error::new(
            Code::UnknownService,
            format!("no service named {name:?}; the services are: {names}"),
        ));
    };
    let (answer, failure) = match invoke_entry(entry, req, started).await {
        Ok(a) => (a, None),
        Err(e) => (error(&e), Some(e.code.name())),
    };
    entry.metrics.answered(answer.status().as_u16(), failure);
    answer
}

/// What a request needs before its body is read: the service, the answer's shape, the
/// content type.
fn admit(entry: &Entry, req: &Request<Incoming>) -> Result<(Arc<Service>, Shape, String), Error> {
    let service = entry.service.as_ref().map_err(Clone::clone)?.clone();
    let shape = shape(req)?;
    let content_type = match req.headers().get(CONTENT_TYPE) {
        None => "application/x-image".to_string(),
        Some(v) => v
            .to_str()
            .map_err(|_| invalid_argument("the Content-Type header is not text"))?
            .to_string(),
    };
    Ok((service, shape, content_type))
}

/// Read and drop a small body (at most 1 MiB, for at most a second) before answering an error
/// that did not need it: closing with unread bytes makes the kernel reset the connection, and
/// the client would lose the answer.
pub async fn drain(req: Request<Incoming>) {
    const MAX: usize = 1 << 20;
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > MAX) {
        return;
    }
    let limited = Limited::new(req.into_body(), MAX);
    let _ = tokio::time::timeout(Duration::from_secs(1), limited.collect()).await;
}

async fn invoke_entry(
    entry: &Entry,
    req: Request<Incoming>,
    started: Instant,
) -> Result<Answer, Error> {
    let (service, shape, content_type) = match admit(entry, &req) {
        Ok(a) => a,
        Err(e) => {
            drain(req).await;
            return Err(e);
        }
    };
    let (body, _room) = read_body(entry, &service, req, started).await?;
    let request = Arc::new(edgeclass::Request::new());
    // The body's time counts: the service's timeout runs from the request's arrival.
    let left = service.config().timeout.saturating_sub(started.elapsed());
    if left.is_zero() {
        return Err(Error::new(
            Code::Timeout,
            "the request's deadline passed while its body was read",
        ));
    }
    request.set_timeout(left);
    let mut guard = CancelOnDrop(Some(request.clone()));
    let svc = service.clone();
    let classified = tokio::task::spawn_blocking(move || {
        svc.classify_with_model(&content_type, &body, Some(&request))
    })
    .await;
    guard.0 = None;
    let (c, model) = match classified {
        Ok(r) => r?,
        Err(e) => {
            return Err(edgeclass::error::internal(format!(
                "the classification task failed: {e}"
            )))
        }
    };
    let total_us = started.elapsed().as_micros() as u64;
    entry.metrics.timed(&c.stats, total_us);
    let mut answer = match shape {
        Shape::Connector => respond(200, "application/json", connector_body(&c.probs)),
        Shape::V2(k) => respond(200, "application/json", v2_body(&model, &c.probs, k)),
    };
    if let Ok(v) = HeaderValue::from_str(&server_timing(&c.stats, total_us)) {
        answer.headers_mut().insert(SERVER_TIMING, v);
    }
    Ok(answer)
}

/// The `Server-Timing` header (W3C Server Timing) of an answer: the request's stages, as in
/// `/metrics`, in milliseconds. A client sees what its request cost the daemon (and, by
/// difference, what the way there and back added) without scraping the shared counters.
fn server_timing(stats: &edgeclass::classifier::CallStats, total_us: u64) -> String {
    let ms = |us: u64| us as f64 / 1e3;
    format!(
        "wait;dur={:.3}, decode;dur={:.3}, preprocess;dur={:.3}, inference;dur={:.3}, \
         total;dur={:.3}",
        ms(stats.wait_us),
        ms(stats.decode_us),
        ms(stats.preprocess_us),
        ms(stats.inference_us),
        ms(total_us)
    )
}

/// The Greengrass v2 answer, labelled by the model that answered (not the service's current
/// one, which a reload may have swapped since).
fn v2_body(model: &Model, probs: &[f32], top: usize) -> String {
    use edgeclass::feedback::{message, python_timestamp, strategy};
    let p: Vec<f64> = probs.iter().map(|&x| strategy::from_f32(x)).collect();
    message::inference_results(
        &python_timestamp(SystemTime::now()),
        &p,
        model.labels.as_deref(),
        top,
        0.0,
    )
    .to_string()
}

/// The request body, at most the service's image budget: refused from `Content-Length` before
/// a byte is read, else read up to the budget (chunked or unannounced bodies), within the
/// service's timeout, once the service has room for it (see `state::BodyRoom`; the permit
/// returned holds that room until dropped).
async fn read_body(
    entry: &Entry,
    service: &Service,
    req: Request<Incoming>,
    started: Instant,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Error> {
    let limit = service.budget().image_bytes;
    let too_large = |n: String| {
        memory_limit(format!(
            "the request body ({n}) is more than the service's image budget of {limit} bytes (from LocalInferenceServiceMemoryLimitKB)"
        ))
    };
    let mut announced = None;
    if let Some(v) = req.headers().get(CONTENT_LENGTH) {
        let n: u64 = v
            .to_str()
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid_argument("Content-Length is not a number"))?;
        if n > limit {
            return Err(too_large(format!("Content-Length {n}")));
        }
        announced = Some(n);
    }
    let timeout = service.config().timeout;
    let deadline = tokio::time::Instant::from_std(started + timeout);
    let late = |what: &str| {
        Error::new(
            Code::Timeout,
            format!("{what} within the service's timeout of {timeout:?}"),
        )
    };
    let permit = match &entry.bodies {
        None => None,
        Some(b) => {
            let kib = announced.unwrap_or(limit).div_ceil(1024).min(b.kib as u64) as u32;
            let wait = b.room.clone().acquire_many_owned(kib.max(1));
            match tokio::time::timeout_at(deadline, wait).await {
                Err(_) => {
                    return Err(late(
                        "the service had no room for the request body (other bodies held it)",
                    ))
                }
                Ok(p) => p.ok(),
            }
        }
    };
    let limited = Limited::new(req.into_body(), limit as usize);
    match tokio::time::timeout_at(deadline, limited.collect()).await {
        Err(_) => Err(late("the request body was not received")),
        Ok(Err(e)) if e.is::<LengthLimitError>() => {
            Err(too_large(format!("more than {limit} bytes")))
        }
        Ok(Err(e)) => Err(invalid_argument(format!(
            "the request body could not be read: {e}"
        ))),
        Ok(Ok(collected)) => Ok((collected.to_bytes(), permit)),
    }
}

/// A body of JSON read whole (small: a reload's options), at most `max` bytes.
pub async fn read_small_json(
    req: Request<Incoming>,
    max: usize,
    within: Duration,
) -> Result<Option<Value>, Error> {
    let limited = Limited::new(req.into_body(), max);
    let bytes = match tokio::time::timeout(within, limited.collect()).await {
        Err(_) => {
            return Err(Error::new(
                Code::Timeout,
                "the request body was not received in time",
            ))
        }
        Ok(Err(e)) => {
            return Err(invalid_argument(format!(
                "the request body could not be read (at most {max} bytes): {e}"
            )))
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| invalid_argument(format!("the request body is not JSON: {e}")))
}
