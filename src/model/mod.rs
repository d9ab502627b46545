//! Model import and execution: a SageMaker artefact (or NNEF) → an optimised tract plan that
//! maps an NCHW f32 tensor to class probabilities.

// Internal stages, public for the tests, benches and fuzz targets only: not part of the API.
#[doc(hidden)]
pub mod archive;
#[doc(hidden)]
pub mod artefact;
#[cfg(target_arch = "x86_64")]
#[doc(hidden)]
pub mod conv;
// Matrix products for our own operators (one `unsafe` call, bounds checked first); x86_64 only
// (see winograd.rs for why).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[doc(hidden)]
pub mod gemm;
#[cfg(feature = "multithread")]
mod hot;
#[doc(hidden)]
pub mod mxnet;
#[doc(hidden)]
pub mod nnef;
#[doc(hidden)]
pub mod optimise;
#[doc(hidden)]
pub mod pool;
#[cfg(test)]
mod testing;
#[doc(hidden)]
pub mod window;
#[doc(hidden)]
pub mod winograd;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tract_core::internal::*;

use crate::error::{invalid_argument, model_mismatch, Code, Error, Result};
use crate::mem::heap;
use artefact::Artefact;
use mxnet::graph::tract_err;

/// What we know about a model, for `edgeclass info` and for sizing buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// "mxnet" or "nnef".
    pub format: &'static str,
    /// Where it was loaded from, and which files.
    pub origin: String,
    /// The files it was read from.
    pub files: Vec<String>,
    /// `[1, C, H, W]`.
    pub input_shape: [usize; 4],
    /// Classes: the length of the probability vector.
    pub classes: usize,
    /// The checkpoint epoch (MXNet), if known.
    pub epoch: Option<u32>,
    /// The MXNet version the symbol JSON records (`attrs.mxnet_version`), if any.
    pub mxnet_version: Option<i64>,
    /// Weights (scalars) the graph uses.
    pub parameter_count: usize,
    /// Bytes of the f32 weights the graph uses.
    pub weight_bytes: usize,
    /// Operator → count, over the nodes the output depends on (source graph).
    pub operators: BTreeMap<String, usize>,
    /// Whether the model also outputs logits (output 1).
    pub has_logits: bool,
}

impl ModelInfo {
    /// Elements of one input tensor (C·H·W; batch is 1).
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }
}

/// Load-time measurements.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadTimings {
    /// Reading and parsing the files, and building the tract graph.
    pub import: Duration,
    /// tract's declutter + codegen (`into_optimized`) and plan creation.
    pub optimize: Duration,
}

/// A model as imported, before optimisation: what `convert` exports to NNEF.
pub struct ImportedModel {
    /// tract's graph, as imported.
    pub typed: TypedModel,
    /// What we know about the model.
    pub info: ModelInfo,
    /// Class names (`labels.txt` or NNEF's), when present.
    pub labels: Option<Vec<String>>,
}

const PROP_HAS_LOGITS: &str = "edgeclass.has_logits";
const PROP_EPOCH: &str = "edgeclass.epoch";

impl ImportedModel {
    /// Import the model at `path` (directory, SageMaker `model.tar.gz`, or NNEF).
    pub fn load(path: &Path) -> Result<ImportedModel> {
        crate::mem::heap::loading(|| match artefact::discover(path)? {
            Artefact::Mxnet(files) => Self::from_mxnet(files),
            Artefact::Nnef {
                path,
                source,
                labels,
            } => nnef::load(&path, source, labels.as_deref()),
        })
    }

    /// Build from an already parsed symbol and weights (by variable name) and the input shape
    /// `[1, C, H, W]`: the in-memory path (tests, fuzzing, embedders with their own storage).
    pub fn from_mxnet_parts(
        symbol: &mxnet::symbol::Symbol,
        params: std::collections::HashMap<String, mxnet::params::NdArray>,
        input: [usize; 4],
        labels: Option<Vec<String>>,
    ) -> Result<ImportedModel> {
        let built = mxnet::graph::build(symbol, params, input)?;
        if let Some(l) = &labels {
            if l.len() != built.classes {
                return Err(model_mismatch(format!(
                    "{} labels for {} classes",
                    l.len(),
                    built.classes
                )));
            }
        }
        let info = ModelInfo {
            format: "mxnet",
            origin: "memory".into(),
            files: Vec::new(),
            input_shape: input,
            classes: built.classes,
            epoch: None,
            mxnet_version: symbol.mxnet_version,
            parameter_count: built.parameter_count,
            weight_bytes: built.weight_bytes,
            operators: built.operators,
            has_logits: built.has_logits,
        };
        Ok(ImportedModel {
            typed: built.model,
            info,
            labels,
        })
    }

    fn from_mxnet(f: artefact::MxnetFiles) -> Result<ImportedModel> {
        let ctx = |name: &str| format!("{}/{name}", f.origin);
        let symbol_text = std::str::from_utf8(&f.symbol).map_err(|_| {
            crate::error::symbol_format(format!("{}: not UTF-8 text", ctx(&f.symbol_name)))
        })?;
        // serde_json's tree takes up to ~16 bytes per byte of text (`[0,0,...]`: 32-byte values
        // for 2 bytes each).
        heap::reserve(
            || format!("parsing {}", ctx(&f.symbol_name)),
            16 * symbol_text.len() as u64,
        )?;
        let symbol =
            mxnet::symbol::parse(symbol_text).map_err(|e| e.context(ctx(&f.symbol_name)))?;
        let shapes_text = String::from_utf8_lossy(&f.model_shapes);
        let input = mxnet::parse_model_shapes(&shapes_text)
            .map_err(|e| e.context(ctx("model-shapes.json")))?;
        let entries = match f.params {
            artefact::ParamsSource::Parsed(entries) => Ok(entries),
            artefact::ParamsSource::Memory(ref bytes) => mxnet::params::parse(bytes),
            artefact::ParamsSource::File(ref path) => {
                let file = std::fs::File::open(path).map_err(|e| crate::error::io(path, e))?;
                let len = file
                    .metadata()
                    .map_err(|e| crate::error::io(path, e))?
                    .len();
                mxnet::params::parse_reader(std::io::BufReader::new(file), len)
            }
        }
        .map_err(|e| e.context(ctx(&f.params_name)))?;
        let params = mxnet::params_by_name(entries).map_err(|e| e.context(ctx(&f.params_name)))?;
        // Building the graph copies the weights into tract's tensors, one at a time; reserve a
        // whole copy (the arrays are freed only when the build ends).
        let weights: u64 = params.values().map(|a| 4 * a.data.len() as u64).sum();
        heap::reserve(|| format!("{}: building the graph", f.origin), weights)?;
        let mut model = Self::from_mxnet_parts(&symbol, params, input, None)
            .map_err(|e| e.context(f.origin.clone()))?;
        if let Some(bytes) = &f.labels {
            let labels = parse_labels(bytes, model.info.classes)
                .map_err(|e| e.context(ctx("labels.txt")))?;
            model.labels = Some(labels);
        }
        let info = &mut model.info;
        info.origin = f.origin.clone();
        info.epoch = Some(f.epoch);
        info.files = vec![
            f.symbol_name.clone(),
            f.params_name.clone(),
            "model-shapes.json".into(),
        ];
        if model.labels.is_some() {
            info.files.push("labels.txt".into());
        }
        Ok(model)
    }

    /// Write the model as NNEF (`.nnef.tgz` when `path` ends in `.tgz`/`.gz`, else `.nnef.tar`),
    /// keeping the input shape, the labels and the logits output.
    pub fn save_nnef(&self, path: &Path) -> Result<()> {
        let mut typed = self.typed.clone();
        typed.properties.insert(
            PROP_HAS_LOGITS.into(),
            tensor0(self.info.has_logits as i64).into_arc_tensor(),
        );
        if let Some(epoch) = self.info.epoch {
            typed
                .properties
                .insert(PROP_EPOCH.into(), tensor0(epoch as i64).into_arc_tensor());
        }
        nnef::save(typed, self.labels.as_deref(), path)
    }

    /// Optimise for this machine and make it runnable, with the default [`ModelOptions`].
    pub fn into_model(self) -> Result<Model> {
        self.into_model_with_options(&ModelOptions::default())
    }

    /// Optimise and make runnable as `options` say.
    pub fn into_model_with_options(self, options: &ModelOptions) -> Result<Model> {
        let t0 = Instant::now();
        // No executor in the plan: each ModelState owns its pool (see `new_state`), so that a
        // fork() child's worker can start a pool of its own.
        check_threads(options.threads)?;
        let run_options = RunOptions::default();
        let winograd = options.winograd.policy();
        // tract's declutter, Winograd and packing make copies of the weights (each freed as the
        // next exists): reserve two more copies (Winograd's 16 values per 9 included) before.
        heap::reserve(
            || "optimising the model (two copies of its weights)".to_string(),
            2 * self.info.weight_bytes as u64 + (1 << 20),
        )?;
        let plan = crate::mem::heap::loading(|| {
            let mut typed = self.typed;
            typed.declutter()?;
            if let Some(policy) = winograd {
                winograd::rewrite(&mut typed, &policy)?;
                // The thin convolutions on the same GEMM (`off` keeps tract's, as the fallback).
                #[cfg(target_arch = "x86_64")]
                {
                    conv::rewrite(&mut typed)?;
                    conv::rewrite_pointwise(&mut typed)?;
                }
                pool::rewrite(&mut typed)?;
            }
            optimise::optimize(&mut typed)?;
            typed.into_runnable_with_options(&run_options)
        })
        .map_err(|e| tract_err("optimising the model", e))?;
        let optimize = t0.elapsed();
        // The import's and the optimisation's freed blocks, back to the OS (heap.rs says why).
        heap::trim_free_memory();
        Ok(Model {
            plan,
            threads: options.threads,
            info: self.info,
            labels: self.labels,
            timings: LoadTimings {
                import: Duration::ZERO,
                optimize,
            },
        })
    }
}

/// How a model is optimised for running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelOptions {
    /// Threads per inference (1: the calling thread only).
    pub threads: usize,
    /// Which 3x3 stride-1 convolutions run as Winograd F(2x2, 3x3) (see [`winograd`]).
    pub winograd: WinogradMode,
}

impl Default for ModelOptions {
    /// [`default_threads`]`(1)` threads (every core the process may use); Winograd
    /// [`WinogradMode::Lean`]. The library reads no environment: the CLI maps
    /// `EDGECLASS_WINOGRAD`, a service its `EdgeclassWinograd` parameter.
    fn default() -> Self {
        ModelOptions {
            threads: default_threads(1),
            winograd: WinogradMode::default(),
        }
    }
}

/// The most threads one inference runs on.
pub const MAX_THREADS: usize = 64;

/// Threads per inference when none are asked for: the cores this process may use
/// (`std::thread::available_parallelism`, which honours CPU affinity and a cgroup's CPU quota)
/// shared among `workers` inferences that may run at once, at least 1 and at most
/// [`MAX_THREADS`]. Always 1 without the `multithread` feature.
pub fn default_threads(workers: usize) -> usize {
    if !cfg!(feature = "multithread") {
        return 1;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / workers.max(1)).clamp(1, MAX_THREADS)
}

/// Which convolutions run as Winograd F(2x2, 3x3): a trade of weight memory (16 values per 9)
/// for speed. Measured on resnet18-224 against `Off` (one thread, interleaved): see the README.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WinogradMode {
    /// tract's convolutions only (`off`): the fallback.
    Off,
    /// Large outputs only ([`winograd::Policy::lean`]): most of the gain for ~2 MB more weights
    /// on ResNet-18 (`lean`).
    #[default]
    Lean,
    /// Also the 14x14 outputs ([`winograd::Policy::fast`]): faster still, for 5.5 MB more weights
    /// on ResNet-18 (`fast`).
    Fast,
}

impl WinogradMode {
    /// The values [`str::parse`] accepts, as messages list them.
    pub const ACCEPTED: &'static str = "off, lean or fast (also 0/false = off, 1/true = lean)";

    /// The mode's own name, as `EdgeclassWinograd` and `--winograd` write it (parses back).
    pub fn name(self) -> &'static str {
        match self {
            WinogradMode::Off => "off",
            WinogradMode::Lean => "lean",
            WinogradMode::Fast => "fast",
        }
    }
}

impl std::str::FromStr for WinogradMode {
    type Err = Error;

    /// `off`/`0`/`false`, `lean`/`1`/`true`/`on`, or `fast`; anything else is refused
    /// (`InvalidArgument`, naming the accepted values), not taken as the default.
    fn from_str(s: &str) -> Result<WinogradMode> {
        match s {
            "0" | "off" | "false" => Ok(WinogradMode::Off),
            "1" | "on" | "true" | "lean" => Ok(WinogradMode::Lean),
            "fast" => Ok(WinogradMode::Fast),
            _ => Err(invalid_argument(format!(
                "Winograd mode {s:?}: expected {}",
                WinogradMode::ACCEPTED
            ))),
        }
    }
}

impl WinogradMode {
    fn policy(self) -> Option<winograd::Policy> {
        match self {
            WinogradMode::Off => None,
            WinogradMode::Lean => Some(winograd::Policy::lean()),
            WinogradMode::Fast => Some(winograd::Policy::fast()),
        }
    }
}

/// Whether `threads` threads per inference are possible in this build.
fn check_threads(threads: usize) -> Result<()> {
    match threads {
        0 => Err(invalid_argument("threads must be at least 1")),
        1 => Ok(()),
        #[cfg(feature = "multithread")]
        _ => Ok(()),
        #[cfg(not(feature = "multithread"))]
        n => Err(Error::new(
            Code::Unsupported,
            format!(
                "{n} threads per inference needs edgeclass built with the `multithread` feature"
            ),
        )),
    }
}

/// tract's executor for `threads` threads per inference: none (the calling thread) for 1, a
/// private rayon pool otherwise, whose threads join `group` (their allocations counted there).
fn executor(
    threads: usize,
    group: Option<&heap::ThreadGroup>,
) -> Result<Option<tract_linalg::multithread::Executor>> {
    check_threads(threads)?;
    match threads {
        1 => Ok(None),
        #[cfg(feature = "multithread")]
        n => {
            let join = group.map(|g| g.joiner());
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(|i| format!("edgeclass-tract-{i}"))
                .start_handler(move |_| {
                    if let Some(join) = &join {
                        join()
                    }
                })
                .build()
                .map_err(|e| {
                    crate::error::internal(format!("cannot start a {n}-thread inference pool: {e}"))
                })?;
            // Wait until every thread has started: what a thread allocates as it starts then
            // belongs to the state's creation, not to whichever request comes first (whose
            // reported peak covers the group's allocations only from the request's start).
            pool.broadcast(|_| ());
            Ok(Some(tract_linalg::multithread::Executor::MultiThread(
                Arc::new(pool),
            )))
        }
        #[cfg(not(feature = "multithread"))]
        _ => {
            let _ = group;
            unreachable!("check_threads refused it")
        }
    }
}

fn parse_labels(bytes: &[u8], classes: usize) -> Result<Vec<String>> {
    let text = std::str::from_utf8(bytes).map_err(|_| model_mismatch("labels.txt is not UTF-8"))?;
    let mut labels: Vec<String> = text
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    while labels.last().is_some_and(|l| l.is_empty()) {
        labels.pop();
    }
    if labels.len() != classes {
        return Err(model_mismatch(format!(
            "labels.txt has {} labels but the model has {classes} classes",
            labels.len()
        )));
    }
    Ok(labels)
}

/// An optimised, runnable model. Immutable and shareable between threads (`Arc<Model>`); each
/// thread runs it through its own [`ModelState`].
pub struct Model {
    plan: Arc<TypedSimplePlan>,
    /// Threads per inference: above 1, the plan runs on a thread pool of its own.
    threads: usize,
    /// What we know about the model.
    pub info: ModelInfo,
    /// Class names (`labels.txt` or NNEF's), when present.
    pub labels: Option<Vec<String>>,
    /// How long loading took.
    pub timings: LoadTimings,
}

/// Per-worker execution state (tract's intermediate values) and, above one thread per
/// inference, the worker's own thread pool. Cheap to create for one thread.
pub struct ModelState {
    state: TypedSimpleState,
    executor: Option<tract_linalg::multithread::Executor>,
    /// The pool's threads, counted together (declared after `executor`: dropped after it).
    group: Option<heap::ThreadGroup>,
    pool_peak: usize,
    /// The group's live bytes when `on_runner` began (its runs measure their peak from there).
    runner_start: Option<isize>,
}

impl ModelState {
    /// `f` with this state's pool as tract's executor on this thread (tract reads it through
    /// `current_tract_executor`: its matrix products and our Winograd transforms), measuring
    /// the pool threads' peak.
    fn scoped<R: Send>(&mut self, f: impl FnOnce(&mut TypedSimpleState) -> R + Send) -> R {
        // Inside `on_runner` the measurement started there, before the request's decode.
        let start = self
            .runner_start
            .or_else(|| self.group.as_ref().map(heap::ThreadGroup::start));
        let out = match self.executor.clone() {
            #[cfg(feature = "multithread")]
            Some(tract_linalg::multithread::Executor::MultiThread(pool)) => {
                let state = &mut self.state;
                let executor = tract_linalg::multithread::Executor::MultiThread(pool.clone());
                hot::on_pool(&pool, move || {
                    tract_linalg::multithread::multithread_tract_scope(executor, || f(state))
                })
            }
            Some(e) => tract_linalg::multithread::multithread_tract_scope(e, || f(&mut self.state)),
            None => f(&mut self.state),
        };
        self.pool_peak = match (&self.group, start) {
            (Some(g), Some(start)) => g.peak_since(start),
            _ => 0,
        };
        out
    }

    /// `f(self)` on the thread this state's runs execute on: the first thread of its pool above
    /// one thread per inference (`model::hot`), else the calling thread. For a caller that
    /// decodes and runs one request after the other on its own thread ([`crate::Classifier`]):
    /// glibc gives every thread that allocates a malloc arena of its own, and a decode on the
    /// calling thread followed by a run on the pool's thread kept both working sets resident (a
    /// 2-thread ResNet-18 classify peaked at 85-98 MiB instead of 78-82 with one arena).
    /// [`ModelState::pool_peak_bytes`] then covers all of `f`.
    pub fn on_runner<R: Send>(&mut self, f: impl FnOnce(&mut ModelState) -> R + Send) -> R {
        #[cfg(feature = "multithread")]
        if let Some(tract_linalg::multithread::Executor::MultiThread(pool)) = self.executor.clone()
        {
            if pool.current_thread_index().is_none() {
                self.runner_start = self.group.as_ref().map(heap::ThreadGroup::start);
                // Caught so that the start is cleared whatever `f` does (a later run measures
                // from its own start), then resumed.
                let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    hot::on_first_thread(&pool, || f(self))
                }));
                let start = self.runner_start.take();
                if let (Some(g), Some(start)) = (&self.group, start) {
                    self.pool_peak = g.peak_since(start);
                }
                return out.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            }
        }
        f(self)
    }

    /// Peak bytes the pool's threads allocated during the last run, above what they held before
    /// it (tract's per-thread scratch space on the first run): 0 on one thread, where the whole
    /// run is on the calling thread and [`heap::measure`] sees it. The run's peak is at most the
    /// calling thread's peak plus this.
    pub fn pool_peak_bytes(&self) -> usize {
        self.pool_peak
    }
}

/// One inference's results.
#[derive(Clone, Debug, PartialEq)]
pub struct Inference {
    /// The model's output: one probability per class.
    pub probs: Vec<f32>,
    /// The input of the final softmax, when the model has one.
    pub logits: Option<Vec<f32>>,
}

/// When to give up on a request: a point in time and/or a flag another thread may set.
#[derive(Clone, Copy, Debug, Default)]
pub struct Deadline<'a> {
    /// Give up after this instant.
    pub at: Option<Instant>,
    /// Give up once this flag is set.
    pub cancel: Option<&'a AtomicBool>,
}

impl Deadline<'_> {
    /// `Err(Timeout)` once the time has passed, `Err(Cancelled)` once the flag is set.
    pub fn check(&self, stage: &str) -> Result<()> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::new(
                Code::Cancelled,
                format!("request cancelled (during {stage})"),
            ));
        }
        if self.at.is_some_and(|at| Instant::now() >= at) {
            return Err(Error::new(
                Code::Timeout,
                format!("request deadline passed (during {stage})"),
            ));
        }
        Ok(())
    }
}

impl Model {
    /// Threads per inference it was optimised for (above 1: on a pool of its own).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Import the model at `path` and optimise it as `options` say ([`ModelOptions::default`]:
    /// one thread, lean Winograd).
    pub fn load(path: &Path, options: &ModelOptions) -> Result<Model> {
        // Refuse an impossible thread count before the (slow) import.
        check_threads(options.threads)?;
        let t0 = Instant::now();
        let imported = ImportedModel::load(path)?;
        let import = t0.elapsed();
        let mut model = imported.into_model_with_options(options)?;
        model.timings.import = import;
        Ok(model)
    }

    /// Bytes of the largest single value the plan computes (a node output), or `None` when a
    /// shape is not concrete or overflows. Any run needs at least this much beside the weights,
    /// so a service can refuse a model before its warm-up run would allocate it.
    pub fn largest_value_bytes(&self) -> Option<u64> {
        let mut largest = 0u64;
        for node in &self.plan.model().nodes {
            for o in &node.outputs {
                let elements = o
                    .fact
                    .shape
                    .as_concrete()?
                    .iter()
                    .try_fold(1u64, |a, &d| a.checked_mul(d as u64))?;
                let bytes = elements.checked_mul(o.fact.datum_type.size_of() as u64)?;
                largest = largest.max(bytes);
            }
        }
        Some(largest)
    }

    /// A run state (tract's buffers) for one thread at a time: one per worker.
    pub fn new_state(&self) -> Result<ModelState> {
        let state = self
            .plan
            .spawn()
            .map_err(|e| tract_err("creating a model state", e))?;
        let group = if self.threads > 1 {
            let group = heap::ThreadGroup::new();
            if group.is_none() {
                log::warn!("every heap-accounting thread group is taken: this model state's pool runs uncounted");
            }
            group
        } else {
            None
        };
        Ok(ModelState {
            state,
            executor: executor(self.threads, group.as_ref())?,
            group,
            pool_peak: 0,
            runner_start: None,
        })
    }

    /// Run on one NCHW f32 tensor of `info.input_len()` elements.
    pub fn run(&self, state: &mut ModelState, input: &[f32]) -> Result<Inference> {
        self.run_until(state, input, Deadline::default())
    }

    /// Run, checking `deadline` between tract nodes (a node itself is not interrupted).
    pub fn run_until(
        &self,
        state: &mut ModelState,
        input: &[f32],
        deadline: Deadline,
    ) -> Result<Inference> {
        if input.len() != self.info.input_len() {
            return Err(invalid_argument(format!(
                "input has {} values; the model takes {:?} = {} values",
                input.len(),
                self.info.input_shape,
                self.info.input_len()
            )));
        }
        let tensor =
            Tensor::from_shape(&self.info.input_shape, input).map_err(|e| tract_err("input", e))?;
        let result = state.scoped(|s| {
            s.run_plan_with_eval(
                tvec![tensor.into_tvalue()],
                |ctx, op_state, node, inputs| {
                    deadline.check("inference")?;
                    tract_core::plan::eval(ctx, op_state, node, inputs)
                },
            )
        });
        let outputs = match result {
            Ok(o) => o,
            Err(e) => {
                // An aborted run leaves its intermediate values in the state; clear them so the
                // state is clean for the next request.
                let _ = state.state.reset_turn();
                return Err(match e.downcast_ref::<Error>() {
                    Some(ours) => ours.clone(),
                    None => tract_err("running the model", e),
                });
            }
        };
        let read = |i: usize| -> Result<Vec<f32>> {
            let t = outputs[i]
                .try_as_plain_ram()
                .map_err(|e| tract_err("output", e))?;
            Ok(t.as_slice::<f32>()
                .map_err(|e| tract_err("output", e))?
                .to_vec())
        };
        let probs = read(0)?;
        let logits = if self.info.has_logits && outputs.len() > 1 {
            Some(read(1)?)
        } else {
            None
        };
        Ok(Inference { probs, logits })
    }
}

impl Model {
    /// Run once and time every tract node: `(node name, operator, time)` in execution order.
    /// For `edgeclass bench` and for finding where time goes.
    pub fn profile(
        &self,
        state: &mut ModelState,
        input: &[f32],
    ) -> Result<Vec<(String, String, Duration)>> {
        let tensor =
            Tensor::from_shape(&self.info.input_shape, input).map_err(|e| tract_err("input", e))?;
        let mut times = Vec::new();
        state
            .scoped(|s| {
                s.run_plan_with_eval(
                    tvec![tensor.into_tvalue()],
                    |ctx, op_state, node, inputs| {
                        let t0 = Instant::now();
                        let r = tract_core::plan::eval(ctx, op_state, node, inputs);
                        times.push((node.name.clone(), node.op.name().to_string(), t0.elapsed()));
                        r
                    },
                )
            })
            .map_err(|e| tract_err("profiling the model", e))?;
        Ok(times)
    }
}

/// Indices of the `k` largest values, best first (ties: lower index first, like a stable sort).
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    idx.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}
