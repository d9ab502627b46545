//! A model and its preprocessing in one value, for a Rust program that classifies on its own
//! thread: encoded image bytes in, a [`Classification`] out. What the connector did per request,
//! without a service's limits, deadlines or worker pool (use [`crate::Service`] for those).
//!
//! ```no_run
//! use edgeclass::{Classifier, ModelOptions};
//! use edgeclass::image::DecodeOptions;
//!
//! let mut classifier = Classifier::load(
//!     "model-dir".as_ref(),
//!     &ModelOptions::default(),
//!     DecodeOptions::default(),
//! )?;
//! let answer = classifier.classify("image/jpeg", &std::fs::read("cat.jpg")?)?;
//! for (class, label, p) in classifier.top(&answer.probs, 3) {
//!     println!("{class} {label:?}: {p}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::image::{DecodeOptions, Preprocessor};
use crate::mem::heap;
use crate::model::{top_k, Model, ModelOptions, ModelState};

/// Per-call figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Waiting for a free worker (a service's; 0 for a [`Classifier`]).
    pub wait_us: u64,
    /// Header probe, decode and EXIF orientation.
    pub decode_us: u64,
    /// Resize and tensor layout.
    pub preprocess_us: u64,
    /// The model's run.
    pub inference_us: u64,
    /// Peak bytes this request allocated: on its thread, plus the peak of the inference's thread
    /// pool when it runs on several threads (0 without heap accounting).
    pub peak_bytes: u64,
    /// The decoded image's width, after EXIF orientation (0 for a tensor input).
    pub decoded_width: u32,
    /// The decoded image's height, after EXIF orientation (0 for a tensor input).
    pub decoded_height: u32,
}

/// One answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Classification {
    /// One probability per class: the connector's answer.
    pub probs: Vec<f32>,
    /// The input of the model's final softmax, when it has one.
    pub logits: Option<Vec<f32>>,
    /// How the call went.
    pub stats: CallStats,
}

/// A loaded model with its preprocessing state. Not `Sync`: one per thread; the model itself is
/// shared (`Arc`) between classifiers made from it with [`Classifier::new`].
pub struct Classifier {
    model: Arc<Model>,
    state: ModelState,
    /// Or why images cannot feed this model (e.g. 4 input channels): tensors still can.
    pre: std::result::Result<Preprocessor, Error>,
    input: Vec<f32>,
}

impl Classifier {
    /// Load the model at `path` (a directory, SageMaker `model.tar.gz` or NNEF file) and prepare
    /// to classify images decoded with `decode`.
    pub fn load(path: &Path, options: &ModelOptions, decode: DecodeOptions) -> Result<Classifier> {
        Classifier::new(Arc::new(Model::load(path, options)?), decode)
    }

    /// A classifier over an already loaded model. A model whose input images cannot feed (not 1
    /// or 3 channels) still classifies tensors; [`Classifier::classify`] answers why not.
    pub fn new(model: Arc<Model>, decode: DecodeOptions) -> Result<Classifier> {
        let [_, c, h, w] = model.info.input_shape;
        Ok(Classifier {
            state: model.new_state()?,
            pre: Preprocessor::new(c, h, w, decode),
            input: vec![0f32; model.info.input_len()],
            model,
        })
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Classify one encoded image (JPEG or PNG) sent as `content_type`, as the connector did:
    /// decoded and oriented, resized to the model's input, then run.
    pub fn classify(&mut self, content_type: &str, bytes: &[u8]) -> Result<Classification> {
        let (pre, input, model) = (&mut self.pre, &mut self.input, &self.model);
        // The decode on the thread the run executes on (ModelState::on_runner: one malloc arena).
        let (result, _, peak) = heap::measure(|| {
            self.state.on_runner(|state| -> Result<Classification> {
                let pre = match pre {
                    Ok(pre) => pre.preprocess(content_type, bytes, input)?,
                    Err(e) => return Err(e.clone()),
                };
                let mut c = infer(model, state, input)?;
                c.stats.decode_us = pre.decode_us;
                c.stats.preprocess_us = pre.resize_us;
                c.stats.decoded_width = pre.decoded_width;
                c.stats.decoded_height = pre.decoded_height;
                Ok(c)
            })
        });
        result.map(|mut c| {
            c.stats.peak_bytes = (peak + self.state.pool_peak_bytes()) as u64;
            c
        })
    }

    /// Classify an input tensor already laid out as the model takes it (NCHW `f32`,
    /// `model().info.input_len()` values).
    pub fn classify_tensor(&mut self, input: &[f32]) -> Result<Classification> {
        infer(&self.model, &mut self.state, input)
    }

    /// The `k` most probable classes of `probs`, best first: (class, its label when the model
    /// has labels, probability).
    pub fn top<'a>(&'a self, probs: &[f32], k: usize) -> Vec<(usize, Option<&'a str>, f32)> {
        let labels = self.model.labels.as_deref();
        top_k(probs, k)
            .into_iter()
            .map(|i| {
                (
                    i,
                    labels.and_then(|l| l.get(i)).map(String::as_str),
                    probs[i],
                )
            })
            .collect()
    }
}

/// Run `model` on `input` with `state`, timed. A free function so that `classify` can pass its
/// own input buffer while borrowing the state.
fn infer(model: &Model, state: &mut ModelState, input: &[f32]) -> Result<Classification> {
    let started = Instant::now();
    let out = model.run(state, input)?;
    Ok(Classification {
        probs: out.probs,
        logits: out.logits,
        stats: CallStats {
            inference_us: started.elapsed().as_micros() as u64,
            ..CallStats::default()
        },
    })
}
