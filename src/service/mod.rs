//! The local inference service: what the connector was, as a library. A service owns one model
//! (shared, immutable) and N workers (model state + image buffers); it answers each request
//! within its deadline and inside its memory limit, or says precisely why not.
//! [`Service::reload`] swaps the model for another while the service keeps its name, its
//! limits and its callers (see its docs for how the memory limit covers the swap).
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
mod request;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
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
pub use request::Request;

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

struct Worker {
    pre: Preprocessor,
    input: Vec<f32>,
    inference: worker::InferenceThread,
    /// The model this worker runs, with its budget: a request checks its image against the
    /// budget of the worker it got (a reload may have swapped the model since it arrived).
    generation: Arc<Generation>,
}

/// One loaded model and what the service planned for it. A reload makes a new one.
struct Generation {
    /// 1 for the model the service opened with, +1 per successful reload.
    number: u64,
    model: Arc<Model>,
    budget: Budget,
    /// Where the model was loaded from (what `reload(None)` loads again).
    path: PathBuf,
}

/// What a successful [`Service::reload`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloaded {
    /// The new model's generation: 1 is the model the service opened with, +1 per reload.
    pub generation: u64,
    /// Where the new model came from.
    pub model_path: PathBuf,
    /// The new model's budget (planned against the whole limit, the old model being gone).
    pub budget: Budget,
    /// How long requests waited for the swap: draining the old model's requests, loading and
    /// warming up the new one.
    pub paused: Duration,
}

/// A running local inference service. Thread-safe: share it with `Arc` and call
/// [`Service::classify`] from any number of threads; at most `workers` run at once, the others
/// wait (until their own deadline).
pub struct Service {
    config: ServiceConfig,
    /// The model serving new requests (swapped by a reload, while no request runs).
    current: Mutex<Arc<Generation>>,
    idle: Mutex<Vec<Worker>>,
    freed: Condvar,
    /// Held by a reload from start to end: reloads of one service run one after another.
    reloading: Mutex<()>,
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
        let (model, load) = load_measured(&config, &config.model_path, limit).map_err(|e| {
            // A load refused by the limit names the parameter that set it, as the other
            // refusals of an open do.
            memory_note(
                e,
                format!("; LocalInferenceServiceMemoryLimitKB allows {limit} bytes"),
            )
            .context(format!("service {name}"))
        })?;
        let path = config.model_path.clone();
        Service::assemble(config, Arc::new(model), path, load, hook)
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
        let path = config.model_path.clone();
        Service::assemble(config, model, path, load, hook)
    }

    /// Check the loaded model against the limit, start and warm the workers, plan the budget.
    fn assemble(
        config: ServiceConfig,
        model: Arc<Model>,
        path: PathBuf,
        load: budget::LoadFigures,
        hook: Option<Arc<dyn ClassificationHook>>,
    ) -> Result<Service> {
        if let (Some(id), None) = (&config.feedback_config_id, &hook) {
            log::warn!(
                "[{}] MLFeedbackConnectorConfigId {id:?} is set, but the service was opened without a hook: no ML Feedback (edgeclass::feedback::open_service opens it with one)",
                config.name
            );
        }
        let limit = config.memory_limit_bytes;
        budget::check_load(&config.name, limit, &load)?;
        let mut started = Started::new(&config, &model)?;
        while started.workers.len() < config.workers {
            started.add(&config, &model)?;
        }
        let generation = started.finish(&config, limit, 1, model, path, &load)?;
        let workers = started.into_workers(&generation);
        Ok(Service {
            config,
            current: Mutex::new(generation),
            idle: Mutex::new(workers),
            freed: Condvar::new(),
            reloading: Mutex::new(()),
            stats: Mutex::new(ServiceStats::default()),
            hook,
        })
    }

    /// Swap the model for the one at `model_path` (`None`: the path the current model was loaded
    /// from, e.g. after the artefact there was replaced), keeping the service's name, limits,
    /// workers, hook and counters. Blocks until the new model serves, or the reload failed and
    /// the old one serves on: a model that fails to load, that does not fit the limit, or whose
    /// warm-up run fails leaves the old model serving, and the error says why.
    ///
    /// How the memory limit covers the swap: the reload first drains the service. Requests
    /// that are running finish on the model they started on; requests that arrive meanwhile wait
    /// for a worker (within their own deadlines), as when every worker is busy. With no request
    /// running, the old model and its workers' buffers ([`Budget::fixed_bytes`]) still exist,
    /// and the new model loads inside what the limit leaves beside them: its load is refused
    /// (`MemoryLimit`) as soon as it would not fit, and its first worker's warm-up must fit too.
    /// Then the old model is freed, the new model's other workers start and warm up, its
    /// budget is planned against the whole limit, and waiting requests go on with it. So a
    /// service that reloads needs a limit that holds the old model and the new one's load peak
    /// together, and requests wait for the drain, the load and the warm-up (with a 10 s timeout,
    /// a request that would wait past its deadline fails with `Timeout`, as under load).
    ///
    /// Reloads of one service run one after another. The model is loaded with the service's
    /// `EdgeclassThreads` and `EdgeclassWinograd`.
    pub fn reload(&self, model_path: Option<&Path>) -> Result<Reloaded> {
        let name = &self.config.name;
        let _named = LogContext::enter(name);
        let _one = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.generation_now();
        let path = model_path.map_or_else(|| old.path.clone(), Path::to_path_buf);
        let context = || format!("service {name}: reload of {}", path.display());
        let t0 = Instant::now();
        let drained = self.drain();
        log::info!(
            "[{name}] reload of {}: {} worker(s) drained in {:?}",
            path.display(),
            drained.len(),
            t0.elapsed()
        );
        let limit = self.config.memory_limit_bytes;
        // What the old generation holds while the new one loads: its model and its workers'
        // activations and buffers (no request runs, so no image).
        let beside = old.budget.fixed_bytes();
        let room = limit.saturating_sub(beside);
        let first = (|| -> Result<_> {
            let (model, load) = load_measured(&self.config, &path, room)?;
            budget::check_load(name, room, &load)?;
            let model = Arc::new(model);
            let first = Started::new(&self.config, &model)?;
            // The new model's first worker beside the old model: the moment both exist.
            budget::plan(
                name,
                room,
                &load,
                first.activation,
                model.info.input_shape,
                1,
            )?;
            Ok((model, load, first))
        })();
        let (model, load, mut started) = match first {
            Ok(first) => first,
            Err(e) => {
                self.refill(drained);
                let e = memory_note(
                    e,
                    format!(" (beside the current model and its workers' {beside} bytes, of LocalInferenceServiceMemoryLimitKB's {limit})"),
                )
                .context(format!("{}; the current model serves on", context()));
                log::error!("[{name}] {e}");
                return Err(e);
            }
        };
        // The old model goes: its workers (threads and buffers) here, the model itself when the
        // last Arc (the current generation's) is replaced below.
        drop(drained);
        let rest = (|| -> Result<Arc<Generation>> {
            while started.workers.len() < self.config.workers {
                started.add(&self.config, &model)?;
            }
            started.finish(
                &self.config,
                limit,
                old.number + 1,
                model.clone(),
                path.clone(),
                &load,
            )
        })();
        let generation = match rest {
            Ok(g) => g,
            Err(e) => {
                // The new model loaded and ran once, but its other workers did not start or did
                // not fit the whole limit: the old model is gone, so the new one serves with the
                // workers that did start, under the budget of its first one, and the caller hears.
                let budget = budget::plan(
                    name,
                    limit,
                    &load,
                    started.activation,
                    model.info.input_shape,
                    started.workers.len() as u64,
                )
                .unwrap_or(Budget {
                    workers: started.workers.len() as u64,
                    ..old.budget
                });
                let g = Arc::new(Generation {
                    number: old.number + 1,
                    model,
                    budget,
                    path: path.clone(),
                });
                let n = started.workers.len();
                self.install(g.clone(), started.into_workers(&g));
                let e = e.context(format!(
                    "{}: the new model serves with {n} of {} workers",
                    context(),
                    self.config.workers
                ));
                log::error!("[{name}] {e}");
                return Err(e);
            }
        };
        let budget = generation.budget;
        let number = generation.number;
        self.install(generation.clone(), started.into_workers(&generation));
        let reloaded = Reloaded {
            generation: number,
            model_path: path,
            budget,
            paused: t0.elapsed(),
        };
        log::info!(
            "[{name}] reloaded: generation {number} from {} ({} classes), requests paused {:?}; memory budget: {budget:?}",
            reloaded.model_path.display(),
            generation.model.info.classes,
            reloaded.paused
        );
        Ok(reloaded)
    }

    /// Take every worker out of the pool, waiting for the running requests to finish (each ends
    /// by its own deadline). New requests wait in [`Service::acquire`] until the pool is
    /// refilled.
    fn drain(&self) -> Vec<Worker> {
        // Fewer workers than configured are left after a reload whose later workers failed to
        // start (see reload). The caller holds `reloading`: the generation cannot change here.
        let total = self.generation_now().budget.workers as usize;
        let mut taken = Vec::with_capacity(total);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            taken.append(&mut idle);
            if taken.len() >= total {
                return taken;
            }
            idle = self
                .freed
                .wait_timeout(idle, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn refill(&self, workers: Vec<Worker>) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(workers);
        self.freed.notify_all();
    }

    /// Make `generation` the current one and give the waiting requests its workers.
    fn install(&self, generation: Arc<Generation>, workers: Vec<Worker>) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = generation;
        self.refill(workers);
    }

    fn generation_now(&self) -> Arc<Generation> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The current model's generation: 1 for the model the service opened with, +1 per
    /// successful [`Service::reload`].
    pub fn generation(&self) -> u64 {
        self.generation_now().number
    }

    /// Its configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// Its name (`LocalInferenceServiceName`).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Its model now (a [`Service::reload`] may swap it; this one stays valid while held).
    pub fn model(&self) -> Arc<Model> {
        self.generation_now().model.clone()
    }

    /// Where its current model was loaded from (what `reload(None)` loads again): the
    /// configuration's `MLModelDestinationPath`, or the path of the last successful reload.
    pub fn model_path(&self) -> PathBuf {
        self.generation_now().path.clone()
    }

    /// How its memory limit is spent by the current model.
    pub fn budget(&self) -> Budget {
        self.generation_now().budget
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
        self.classify_with_model(content_type, body, request)
            .map(|(c, _)| c)
    }

    /// [`Service::classify`], with the model that answered: the one to read its labels from,
    /// since a [`Service::reload`] may swap the service's model between the request and a
    /// later [`Service::model`].
    pub fn classify_with_model(
        &self,
        content_type: &str,
        body: &[u8],
        request: Option<&Request>,
    ) -> Result<(Classification, Arc<Model>)> {
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
        result.map(|(mut c, model)| {
            if let Some(hook) = &self.hook {
                Self::call_hook(&self.config.name, hook.as_ref(), body, &c, &model);
            }
            // The request's peak: decoding on this thread plus inference on the worker's thread.
            c.stats.peak_bytes += peak as u64;
            (c, model)
        })
    }

    fn call_hook(
        name: &str,
        hook: &dyn ClassificationHook,
        body: &[u8],
        c: &Classification,
        model: &Model,
    ) {
        {
            let event = Classified {
                service: name,
                body,
                probs: &c.probs,
                labels: model.labels.as_deref(),
            };
            let call = std::panic::AssertUnwindSafe(|| hook.classified(&event));
            if std::panic::catch_unwind(call).is_err() {
                log::error!(
                    "[{name}] the classification hook panicked (a bug); the classification is unaffected"
                );
            }
        }
    }

    fn classify_inner(
        &self,
        content_type: &str,
        body: &[u8],
        request: Option<&Request>,
        started: Instant,
    ) -> Result<(Classification, Arc<Model>)> {
        let mut timeout = self.config.timeout;
        if let Some(t) = request.and_then(Request::timeout) {
            timeout = timeout.min(t);
        }
        let deadline = Deadline {
            at: Some(started + timeout),
            cancel: request.map(|r| &**r.cancel_flag()),
        };
        deadline.check("admission")?;
        // Headers only: refuse what cannot fit before a single pixel buffer exists.
        let probe = image::probe_image(content_type, body, &self.config.decode)?;
        let info = &probe.info;
        let needed = image::buffer_bytes_for(info) as u64;
        let fits = |budget: &Budget| {
            if needed > budget.image_bytes {
                return Err(memory_limit(format!(
                    "the {}x{} image needs {needed} bytes to decode; the service has {} bytes per request left within its limit of {} bytes",
                    info.width, info.height, budget.image_bytes, budget.limit
                )));
            }
            Ok(())
        };
        let checked = self.generation_now();
        fits(&checked.budget)?;
        let mut worker = self.acquire(&deadline)?;
        // A reload swapped the model while this request waited: its budget decides.
        if worker.generation.number != checked.number {
            if let Err(e) = fits(&worker.generation.budget) {
                self.release(worker);
                return Err(e);
            }
        }
        let waited = started.elapsed();
        let cancel = request.map(|r| r.cancel_flag().clone());
        let result = self.run_worker(&mut worker, probe, body, &deadline, cancel);
        let model = worker.generation.model.clone();
        self.release(worker);
        let (probs, logits, mut stats) = result?;
        stats.wait_us = waited.as_micros() as u64;
        Ok((
            Classification {
                probs,
                logits,
                stats,
            },
            model,
        ))
    }

    fn run_worker(
        &self,
        w: &mut Worker,
        probe: image::Probe,
        body: &[u8],
        deadline: &Deadline,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<(Vec<f32>, Option<Vec<f32>>, CallStats)> {
        deadline.check("decode")?;
        // The admission's probe: the headers are read (and a content-type warning logged) once.
        let pre = w.pre.preprocess_probed(probe, body, &mut w.input)?;
        deadline.check("inference")?;
        w.inference.ensure_started()?;
        let done = w
            .inference
            .run(std::mem::take(&mut w.input), deadline.at, cancel);
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

/// `e` with `note` after its message when it is a `MemoryLimit` refusal (which limit, and what
/// else it holds); any other error as it is.
fn memory_note(e: Error, note: String) -> Error {
    if e.code == Code::MemoryLimit {
        Error::new(e.code, e.message + &note)
    } else {
        e
    }
}

/// Load the model at `path` with `config`'s options under a load limit of `limit` bytes,
/// measuring what it retains and its peak.
fn load_measured(
    config: &ServiceConfig,
    path: &Path,
    limit: u64,
) -> Result<(Model, budget::LoadFigures)> {
    let counting = heap::is_counting();
    // Every large allocation of the load asks the limit first (heap::reserve): a model that
    // cannot fit is refused before it allocates, not measured after.
    let (model, retained, load_peak) = heap::measure(|| {
        heap::with_load_limit(limit, || {
            let options = ModelOptions {
                threads: config.threads,
                winograd: config.winograd,
            };
            Model::load(path, &options)
        })
    });
    let model = model?;
    let load = budget::LoadFigures {
        weight_bytes: model.info.weight_bytes as u64,
        retained: counting.then_some(retained.max(0) as u64),
        peak: counting.then(|| (load_peak as u64, heap::load_claimed())),
        largest_value: model.largest_value_bytes(),
    };
    log::info!(
        "[{}] loaded {} ({} classes, input {:?}): {} bytes retained, {} peak while loading, in {:?} + {:?}",
        config.name,
        model.info.origin,
        model.info.classes,
        model.info.input_shape,
        load.model_bytes(),
        load.load_peak(),
        model.timings.import,
        model.timings.optimize
    );
    Ok((model, load))
}

/// Workers of a model being started, each warmed up on its own thread.
struct Started {
    workers: Vec<(worker::InferenceThread, Vec<f32>, Preprocessor)>,
    /// The highest activation peak of their warm-up runs (or the estimate).
    activation: u64,
}

impl Started {
    /// The first worker, warmed up.
    fn new(config: &ServiceConfig, model: &Arc<Model>) -> Result<Started> {
        let mut started = Started {
            workers: Vec::with_capacity(config.workers),
            activation: 0,
        };
        started.add(config, model)?;
        Ok(started)
    }

    /// One more worker: its inference thread and a warm-up run on it, which measures the
    /// activation peak (with tract's per-thread scratch) and builds tract's lazy structures
    /// before the first request.
    fn add(&mut self, config: &ServiceConfig, model: &Arc<Model>) -> Result<()> {
        let input_len = model.info.input_len();
        let [_, c, h, w] = model.info.input_shape;
        let pre = Preprocessor::new(c, h, w, config.decode)?;
        let inference =
            worker::InferenceThread::spawn(model.clone(), &config.name, self.workers.len())?;
        let warm = inference.run(vec![0f32; input_len], None, None);
        warm.result?;
        let measured = heap::is_counting().then_some(warm.peak as u64);
        self.activation = self
            .activation
            .max(budget::activation_bytes(measured, input_len as u64));
        self.workers.push((inference, warm.input, pre));
        Ok(())
    }

    /// Plan the budget of these workers under `limit` and make their generation.
    fn finish(
        &self,
        config: &ServiceConfig,
        limit: u64,
        number: u64,
        model: Arc<Model>,
        path: PathBuf,
        load: &budget::LoadFigures,
    ) -> Result<Arc<Generation>> {
        let budget = budget::plan(
            &config.name,
            limit,
            load,
            self.activation,
            model.info.input_shape,
            self.workers.len() as u64,
        )?;
        log::info!("[{}] memory budget: {budget:?}", config.name);
        Ok(Arc::new(Generation {
            number,
            model,
            budget,
            path,
        }))
    }

    /// The pool's workers, running `generation`'s model.
    fn into_workers(self, generation: &Arc<Generation>) -> Vec<Worker> {
        self.workers
            .into_iter()
            .map(|(inference, input, pre)| Worker {
                pre,
                input,
                inference,
                generation: generation.clone(),
            })
            .collect()
    }
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.config.name)
            .field("budget", &self.budget())
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
