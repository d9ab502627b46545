//! edgeclass: classify images on edge devices with SageMaker image-classification models
//! (MXNet ResNet checkpoints) or NNEF models, without MXNet. A drop-in for the AWS IoT
//! Greengrass v1 "ML Image Classification connector".
//!
//! # Use from Rust
//! - [`Classifier`]: a model and its preprocessing on the calling thread: encoded JPEG/PNG
//!   bytes in, a [`Classification`] (one probability per class) out.
//! - [`Service`]: what the connector ran: a model behind a memory limit
//!   (`LocalInferenceServiceMemoryLimitKB`), a timeout, a pool of workers, cancellable
//!   [`Request`]s. Configure it with [`ServiceConfig::builder`] or from the connector's
//!   parameter map ([`ServiceConfig::from_parameters`]); open it with [`Service::open`], or over
//!   a model you loaded with [`Service::with_model`]. [`feedback::open_service`] opens one
//!   whose classifications feed ML Feedback.
//! - [`Model`] / [`model::ImportedModel`]: loading, conversion to NNEF, running tensors.
//!
//! # The `heap-accounting` feature and your global allocator
//! With `heap-accounting` (a default feature) this crate installs its own `#[global_allocator]`
//! (`mem::alloc::CountingAllocator`: the system allocator plus counters). That is what lets a
//! [`Service`] measure its model and requests and keep its memory limit to the byte. A program
//! can have only one global allocator: if yours sets one, depend on edgeclass with
//! `default-features = false`. Everything still works; the counters stay at zero
//! ([`mem::heap::is_counting`] says so) and a service sizes its budget from estimates
//! ([`service::budget`]) instead of measurements. `examples/own_allocator.rs` is such a program.
//!
//! # Layout
//! The data path, one module per stage:
//! `model` (artefact discovery, `.params` / symbol JSON import, NNEF) → tract plan → probabilities
//! → `answer` (the connector's `[p0,p1,...]` text); `image` (sniff, decode, orient, resize,
//! tensor) feeds it; `mem` counts the heap for both; `classifier` joins them on one thread;
//! `service` wraps them with the connector's parameters, memory limit, deadlines and worker pool,
//! and tells its hook (ML Feedback: `feedback`) about each answer; `client` asks the
//! `edgeclass serve` daemon instead of a service in this process; `ffi` is the C ABI over
//! `service`, `client` and `feedback` (documented in `include/edgeclass.h`).
// `unsafe` lives only in the C ABI layer (src/ffi), the counting allocator (src/mem/alloc.rs),
// the client's one send(2) with MSG_NOSIGNAL (client::send_all) and the one GEMM call over
// bounds-checked slices (model::gemm::product, x86_64), each use commented with its invariant.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod answer;
pub mod classifier;
pub mod client;
pub mod error;
pub mod feedback;
// The C ABI: documented in include/edgeclass.h, not part of the Rust API.
#[allow(unsafe_code)]
#[doc(hidden)]
pub mod ffi;
pub mod image;
#[allow(unsafe_code)]
pub mod mem;
pub mod model;
pub mod names;
// The CLI's .npy reader.
#[doc(hidden)]
pub mod npy;
pub mod service;

pub use classifier::{Classification, Classifier};
pub use error::{Code, Error, Result};
pub use model::{default_threads, Inference, Model, ModelInfo, ModelOptions};
pub use service::{Request, Service, ServiceConfig};
