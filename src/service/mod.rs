//! The local inference service: what the connector was, as a library. A service owns one model
//! (shared, immutable) and N workers (model state + image buffers); it answers each request
//! within its deadline and inside its memory limit, or says precisely why not.
//!
//! `Service::classify` is the whole data path, top to bottom:
//! deadline → probe the image headers (size check, before any pixel buffer) → wait for a worker
//! → decode + orient + resize + tensor → run the model (deadline checked between nodes) →
//! probabilities.

pub mod budget;
pub mod config;
pub mod definition;
mod hook;
pub mod registry;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub use crate::classifier::{CallStats, Classification};
use crate::error::{memory_limit, Code, Error, Result};
use crate::image::{self, Preprocessor};
use crate::mem::heap;
use crate::model::{Deadline, Model, ModelOptions};
pub use budget::{Budget, LoadFigures};
pub use config::{ServiceConfig, ServiceConfigBuilder};
pub use hook::{ClassificationHook, Classified};

/// The algorithm type of this connector, as the ML SDK passes it.
pub const ALGO_TYPE: &str = "image-classification";

/// Cumulative counters of a service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// Requests received.
    pub requests: u64,
    /// Requests answered.
    pub succeeded: u64,
    /// Requests that failed, for any reason.
    pub failed: u64,
    /// Of the failed: past their deadline (`Timeout`).
    pub timeouts: u64,
    /// Of the failed: cancelled by the caller.
    pub cancelled: u64,
    /// Of the failed: refused for memory (`MemoryLimit`).
    pub refused_memory: u64,
    /// Highest heap use of a single request on its thread (decode + inference), bytes.
    pub request_peak_bytes: u64,
}

/// Options of one request: a cancel flag another thread may set, and an optional deadline
/// tighter than the service's timeout. Share it with `Arc` to cancel from elsewhere.
#[derive(Debug, Default)]
pub struct Request {
    cancel: AtomicBool,
    timeout_ns: AtomicU64,
}

impl Request {
    /// A request with no cancel and the service's own timeout.
    pub fn new() -> Request {
        Request::default()
    }

    /// Stop the request at its next check (between decode stages or tract nodes).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Use `timeout` instead of the service's timeout when it is shorter (zero = the service's).
    pub fn set_timeout(&self, timeout: Duration) {
        let ns = timeout.as_nanos().min(u64::MAX as u128) as u64;
        self.timeout_ns.store(ns, Ordering::Relaxed);
    }
}

struct Worker {
    pre: Preprocessor,
    input: Vec<f32>,
    inference: worker::InferenceThread,
}

/// A running local inference service. Thread-safe: share it with `Arc` and call
/// [`Service::classify`] from any number of threads; at most `workers` run at once, the others
/// wait (until their own deadline).
pub struct Service {
    config: ServiceConfig,
    model: Arc<Model>,
    idle: Mutex<Vec<Worker>>,
    freed: Condvar,
    budget: Budget,
    stats: Mutex<ServiceStats>,
    hook: Option<Arc<dyn ClassificationHook>>,
}

impl Service {
    /// Load the model, measure it, and set up the workers; fails with `MemoryLimit` (bytes needed
    /// and allowed) when the service cannot fit its limit. No hook: a config that names an
    /// `MLFeedbackConnectorConfigId` is logged as feeding nothing (`feedback::open_service`
    /// opens a service with its feedback hook).
    pub fn open(config: ServiceConfig) -> Result<Service> {
        Service::open_with_hook(config, None)
    }

    /// [`Service::open`], with `hook` told about every successful classification.
    pub fn open_with_hook(
        config: ServiceConfig,
        hook: Option<Arc<dyn ClassificationHook>>,
    ) -> Result<Service> {
        let name = config.name.clone();
        // tract logs from deep inside the load (its kernel selection, e.g. on ARM): named too.
        let _named = LogContext::enter(&name);
        let limit = config.memory_limit_bytes;
        let counting = heap::is_counting();
        // Every large allocation of the load asks the limit first (heap::reserve): a model that
        // cannot fit is refused before it allocates, not measured after.
        let (model, retained, load_peak) = heap::measure(|| {
            heap::with_load_limit(limit, || {
                let options = ModelOptions {
                    threads: config.threads,
                    winograd: config.winograd,
                };
                Model::load(&config.model_path, &options)
            })
        });
        let model = model.map_err(|e| {
            // A load refused by the limit names the parameter that set it, as the other
            // refusals of an open do.
            let e = if e.code == Code::MemoryLimit {
                Error::new(
                    e.code,
                    format!(
                        "{}; LocalInferenceServiceMemoryLimitKB allows {limit} bytes",
                        e.message
                    ),
                )
            } else {
                e
            };
            e.context(format!("service {name}"))
        })?;
        let load = budget::LoadFigures {
            weight_bytes: model.info.weight_bytes as u64,
            retained: counting.then_some(retained.max(0) as u64),
            peak: counting.then(|| (load_peak as u64, heap::load_claimed())),
            largest_value: model.largest_value_bytes(),
        };
        log::info!(
            "[{name}] loaded {} ({} classes, input {:?}): {} bytes retained, {} peak while loading, in {:?} + {:?}",
            model.info.origin,
            model.info.classes,
            model.info.input_shape,
            load.model_bytes(),
            load.load_peak(),
            model.timings.import,
            model.timings.optimize
        );
        Service::assemble(config, Arc::new(model), load, hook)
    }

    /// A service over a model loaded elsewhere (e.g. shared with a [`crate::Classifier`]), with
    /// `config`'s limits, workers and decoding; `config.model_path` is not read, and neither are
    /// its threads and Winograd (the model was optimised already). The load was not measured
    /// under this service's limit: its bytes are estimated (twice its weights).
    pub fn with_model(
        config: ServiceConfig,
        model: Arc<Model>,
        hook: Option<Arc<dyn ClassificationHook>>,
    ) -> Result<Service> {
        let _named = LogContext::enter(&config.name);
        let load = budget::LoadFigures {
            weight_bytes: model.info.weight_bytes as u64,
            retained: None,
            peak: Some((0, 0)),
            largest_value: model.largest_value_bytes(),
        };
        Service::assemble(config, model, load, hook)
    }

    /// Check the loaded model against the limit, start and warm the workers, plan the budget.
    fn assemble(
        config: ServiceConfig,
        model: Arc<Model>,
        load: budget::LoadFigures,
        hook: Option<Arc<dyn ClassificationHook>>,
    ) -> Result<Service> {
        if let (Some(id), None) = (&config.feedback_config_id, &hook) {
            log::warn!(
                "[{}] MLFeedbackConnectorConfigId {id:?} is set, but the service was opened without a hook: no ML Feedback (edgeclass::feedback::open_service opens it with one)",
                config.name
            );
        }
        let name = config.name.clone();
        let limit = config.memory_limit_bytes;
        let counting = heap::is_counting();
        budget::check_load(&name, limit, &load)?;
        let [_, c, h, w] = model.info.input_shape;
        let input_len = model.info.input_len();
        let mut workers = Vec::with_capacity(config.workers);
        let mut activation = 0u64;
        for i in 0..config.workers {
            let inference = worker::InferenceThread::spawn(model.clone(), &name, i)?;
            // A warm-up run on the worker's own thread: measures the activation peak (with tract's
            // per-thread scratch) and builds tract's lazy structures before the first request.
            let warm = inference.run(vec![0f32; input_len], &Deadline::default());
            warm.result?;
            let measured = counting.then_some(warm.peak as u64);
            activation = activation.max(budget::activation_bytes(measured, input_len as u64));
            let pre = Preprocessor::new(c, h, w, config.decode)?;
            workers.push(Worker {
                pre,
                input: warm.input,
                inference,
            });
        }
        let budget = budget::plan(
            &name,
            limit,
            &load,
            activation,
            model.info.input_shape,
            config.workers as u64,
        )?;
        log::info!("[{name}] memory budget: {budget:?}");
        Ok(Service {
            config,
            model,
            idle: Mutex::new(workers),
            freed: Condvar::new(),
            budget,
            stats: Mutex::new(ServiceStats::default()),
            hook,
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Its name (`LocalInferenceServiceName`).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Its model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// How its memory limit is spent.
    pub fn budget(&self) -> Budget {
        self.budget
    }

    /// Its counters now.
    pub fn stats(&self) -> ServiceStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Classify one encoded image (JPEG or PNG) sent with `content_type`.
    pub fn classify(
        &self,
        content_type: &str,
        body: &[u8],
        request: Option<&Request>,
    ) -> Result<Classification> {
        let started = Instant::now();
        let _named = LogContext::enter(&self.config.name);
        let (result, _, peak) =
            heap::measure(|| self.classify_inner(content_type, body, request, started));
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.requests += 1;
        stats.request_peak_bytes = stats.request_peak_bytes.max(peak as u64);
        match &result {
            Ok(_) => stats.succeeded += 1,
            Err(e) => {
                stats.failed += 1;
                match e.code {
                    Code::Timeout => stats.timeouts += 1,
                    Code::Cancelled => stats.cancelled += 1,
                    Code::MemoryLimit => stats.refused_memory += 1,
                    _ => {}
                }
                log::warn!("[{}] request failed: {e}", self.config.name);
            }
        }
        drop(stats);
        // The hook (ML Feedback: sample, spool and publish) never fails the classification.
        if let (Ok(c), Some(hook)) = (&result, &self.hook) {
            let event = Classified {
                service: &self.config.name,
                body,
                probs: &c.probs,
                labels: self.model.labels.as_deref(),
            };
            let call = std::panic::AssertUnwindSafe(|| hook.classified(&event));
            if std::panic::catch_unwind(call).is_err() {
                log::error!(
                    "[{}] the classification hook panicked (a bug); the classification is unaffected",
                    self.config.name
                );
            }
        }
        // The request's peak: decoding on this thread plus inference on the worker's thread.
        result.map(|mut c| {
            c.stats.peak_bytes += peak as u64;
            c
        })
    }

    fn classify_inner(
        &self,
        content_type: &str,
        body: &[u8],
        request: Option<&Request>,
        started: Instant,
    ) -> Result<Classification> {
        let mut timeout = self.config.timeout;
        if let Some(ns) = request
            .map(|r| r.timeout_ns.load(Ordering::Relaxed))
            .filter(|&ns| ns > 0)
        {
            timeout = timeout.min(Duration::from_nanos(ns));
        }
        let deadline = Deadline {
            at: Some(started + timeout),
            cancel: request.map(|r| &r.cancel),
        };
        deadline.check("admission")?;
        // Headers only: refuse what cannot fit before a single pixel buffer exists.
        let probe = image::probe_image(content_type, body, &self.config.decode)?;
        let info = &probe.info;
        let needed = image::buffer_bytes_for(info) as u64;
        if needed > self.budget.image_bytes {
            return Err(memory_limit(format!(
                "the {}x{} image needs {needed} bytes to decode; the service has {} bytes per request left within its limit of {} bytes",
                info.width, info.height, self.budget.image_bytes, self.budget.limit
            )));
        }
        let mut worker = self.acquire(&deadline)?;
        let waited = started.elapsed();
        let result = self.run_worker(&mut worker, probe, body, &deadline);
        self.release(worker);
        let (probs, logits, mut stats) = result?;
        stats.wait_us = waited.as_micros() as u64;
        Ok(Classification {
            probs,
            logits,
            stats,
        })
    }

    fn run_worker(
        &self,
        w: &mut Worker,
        probe: image::Probe,
        body: &[u8],
        deadline: &Deadline,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>, CallStats)> {
        deadline.check("decode")?;
        // The admission's probe: the headers are read (and a content-type warning logged) once.
        let pre = w.pre.preprocess_probed(probe, body, &mut w.input)?;
        deadline.check("inference")?;
        w.inference.ensure_started()?;
        let done = w.inference.run(std::mem::take(&mut w.input), deadline);
        w.input = done.input;
        let out = done.result?;
        let stats = CallStats {
            decode_us: pre.decode_us,
            preprocess_us: pre.resize_us,
            inference_us: done.elapsed.as_micros() as u64,
            peak_bytes: done.peak as u64,
            decoded_width: pre.decoded_width,
            decoded_height: pre.decoded_height,
            ..CallStats::default()
        };
        Ok((out.probs, out.logits, stats))
    }

    /// Take an idle worker, waiting until one is freed or the deadline passes.
    fn acquire(&self, deadline: &Deadline) -> Result<Worker> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(w) = idle.pop() {
                return Ok(w);
            }
            deadline.check("waiting for a free worker")?;
            // Wake up at the deadline, or every 50 ms to notice a cancel.
            let wait = deadline
                .at
                .map_or(Duration::from_millis(50), |at| {
                    at.saturating_duration_since(Instant::now())
                })
                .min(Duration::from_millis(50));
            idle = self
                .freed
                .wait_timeout(idle, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn release(&self, w: Worker) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(w);
        self.freed.notify_one();
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.config.name)
            .field("budget", &self.budget)
            .finish()
    }
}

thread_local! {
    static LOG_SERVICE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// The service whose request this thread is serving, so that log lines from deeper stages
/// (decoders) can be prefixed with its name like the service's own lines.
pub fn log_context() -> Option<String> {
    LOG_SERVICE.try_with(|c| c.borrow().clone()).ok().flatten()
}

pub(crate) struct LogContext;

impl LogContext {
    pub(crate) fn enter(name: &str) -> LogContext {
        let _ = LOG_SERVICE.try_with(|c| *c.borrow_mut() = Some(name.to_string()));
        LogContext
    }
}

impl Drop for LogContext {
    fn drop(&mut self) {
        let _ = LOG_SERVICE.try_with(|c| c.borrow_mut().take());
    }
}

/// An error for a request that named no open service.
pub fn unknown_service(algo_type: &str, name: &str) -> Error {
    Error::new(
        Code::UnknownService,
        format!("no local inference service {name:?} of type {algo_type:?} is open"),
    )
}
