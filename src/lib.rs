//! edgeclass: classify images on edge devices with SageMaker image-classification models
//! (MXNet ResNet checkpoints) or NNEF models, without MXNet. A drop-in for the AWS IoT
//! Greengrass v1 "ML Image Classification connector".
//!
//! The data path, one module per stage:
//! `model` (artefact discovery, `.params` / symbol JSON import, NNEF) → tract plan → probabilities
//! → `answer` (the connector's `[p0,p1,...]` text).

pub mod answer;
pub mod error;
pub mod image;
pub mod model;
pub mod npy;

pub use error::{Code, Error, Result};
pub use model::{Inference, Model, ModelInfo};
