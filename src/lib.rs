//! edgeclass: classify images on edge devices with SageMaker image-classification models
//! (MXNet ResNet checkpoints) or NNEF models, without MXNet. A drop-in for the AWS IoT
//! Greengrass v1 "ML Image Classification connector".
//!
//! The data path, one module per stage:
//! `model` (artefact discovery, `.params` / symbol JSON import, NNEF) → tract plan → probabilities
//! → `answer` (the connector's `[p0,p1,...]` text); `image` (sniff, decode, orient, resize,
//! tensor) feeds it; `mem` counts the heap for both; `service` wraps both with the connector's parameters, memory limit,
//! deadlines and worker pool; `ffi` is the C ABI over `service`.
// `unsafe` lives only in the C ABI layer (src/ffi) and the counting allocator (src/mem/alloc.rs),
// each use commented with its invariant.
#![deny(unsafe_code)]

pub mod answer;
pub mod classifier;
pub mod error;
pub mod feedback;
#[allow(unsafe_code)]
pub mod ffi;
pub mod image;
#[allow(unsafe_code)]
pub mod mem;
pub mod model;
pub mod names;
pub mod npy;
pub mod service;

pub use classifier::{Classification, Classifier};
pub use error::{Code, Error, Result};
pub use model::{Inference, Model, ModelInfo, ModelOptions};
pub use service::{Request, Service, ServiceConfig};
