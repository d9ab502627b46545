//! How a service spends its memory limit (`LocalInferenceServiceMemoryLimitKB`): pure functions
//! from what the load and the warm-up measured to a [`Budget`], or the `MemoryLimit` refusal that
//! names what did not fit. `Service::open` measures; this module decides. Without the counting
//! allocator (the `heap-accounting` feature off) the figures are the estimates below.

use crate::error::{memory_limit, Result};

/// Without accounting: the model holds its weights twice (the file's tensors become tract's
/// packed copies, and some stay as they were).
pub const EST_MODEL_BYTES_PER_WEIGHT_BYTE: u64 = 2;
/// Without accounting: loading holds three copies of the weights at its peak (parsed, decluttered
/// and packed exist together for a moment).
pub const EST_LOAD_PEAK_PER_WEIGHT_BYTE: u64 = 3;
/// Without accounting: one inference's intermediate values, as input-sized `f32` tensors alive at
/// once (ResNets keep a few of their widest activations, up to ~64 input sizes in all).
pub const EST_ACTIVATION_INPUTS: u64 = 64;

/// How the memory limit is spent. All in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// `LocalInferenceServiceMemoryLimitKB` × 1024.
    pub limit: u64,
    /// Weights and optimised plan, as measured while loading (or estimated without accounting).
    pub model_bytes: u64,
    /// The highest heap use while loading (file bytes, parsed weights and the optimiser's copies
    /// exist together for a moment); it must fit the limit too.
    pub load_peak_bytes: u64,
    /// Peak of one inference's intermediate values, measured on a warm-up run.
    pub activation_bytes: u64,
    /// Per worker: the input tensor and the resized image.
    pub worker_buffer_bytes: u64,
    /// Workers (inferences at once).
    pub workers: u64,
    /// Per worker: what an image decode may use (the rest of the limit, shared equally).
    pub image_bytes: u64,
    /// Whether the figures were measured by the counting allocator (else estimated).
    pub measured: bool,
}

impl Budget {
    /// Bytes the service holds before any image: model + workers × (activations + buffers).
    pub fn fixed_bytes(&self) -> u64 {
        self.model_bytes + self.workers * (self.activation_bytes + self.worker_buffer_bytes)
    }
}

/// What a model load measured: `None` figures were not measured (no counting allocator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadFigures {
    /// Bytes of the model's weights, from the model itself.
    pub weight_bytes: u64,
    /// Heap still held after the load (the model).
    pub retained: Option<u64>,
    /// The load's measured peak, and what its reservations claimed: the higher counts (an
    /// estimate, e.g. of tract's optimisation, can be above what this load measured; a service
    /// sized from it passes every reservation of the same load).
    pub peak: Option<(u64, u64)>,
    /// Bytes of the largest single value the plan computes, `None` when not bounded.
    pub largest_value: Option<u64>,
}

impl LoadFigures {
    /// The model's bytes: measured, or [`EST_MODEL_BYTES_PER_WEIGHT_BYTE`] × its weights.
    pub fn model_bytes(&self) -> u64 {
        self.retained
            .unwrap_or(EST_MODEL_BYTES_PER_WEIGHT_BYTE * self.weight_bytes)
    }

    /// The load's peak: measured (or claimed), or [`EST_LOAD_PEAK_PER_WEIGHT_BYTE`] × weights.
    pub fn load_peak(&self) -> u64 {
        match self.peak {
            Some((measured, claimed)) => measured.max(claimed),
            None => EST_LOAD_PEAK_PER_WEIGHT_BYTE * self.weight_bytes,
        }
    }
}

/// One inference's activation bytes: the warm-up's measured peak, or the estimate for an input of
/// `input_len` values.
pub fn activation_bytes(measured: Option<u64>, input_len: u64) -> u64 {
    measured.unwrap_or(4 * input_len * EST_ACTIVATION_INPUTS)
}

/// Whether the loaded model fits `limit` before any worker runs it: its load peak, its bytes, and
/// its largest intermediate value beside it (checked before the warm-up allocates it: a hostile
/// model-shapes.json or pads can ask for gigabytes of activations from a few bytes of weights).
pub fn check_load(service: &str, limit: u64, load: &LoadFigures) -> Result<()> {
    let (model_bytes, load_peak) = (load.model_bytes(), load.load_peak());
    let allows = format!("LocalInferenceServiceMemoryLimitKB allows {limit} bytes");
    if load_peak > limit {
        return Err(memory_limit(format!(
            "service {service}: loading the model needs {load_peak} bytes at its peak ({model_bytes} retained); {allows}"
        )));
    }
    if model_bytes > limit {
        return Err(memory_limit(format!(
            "service {service}: the model needs {model_bytes} bytes (weights and plan); {allows}"
        )));
    }
    match load.largest_value {
        Some(v) if model_bytes.saturating_add(v) <= limit => Ok(()),
        Some(v) => Err(memory_limit(format!(
            "service {service}: one intermediate value of the model needs {v} bytes beside the model's {model_bytes}; {allows}"
        ))),
        None => Err(memory_limit(format!(
            "service {service}: the model's intermediate values have no bounded size; {allows}"
        ))),
    }
}

/// Bytes a worker holds for its input: the `f32` tensor and the resized 8-bit image.
pub fn worker_buffer_bytes(input_len: u64) -> u64 {
    input_len * 4 + input_len
}

/// The budget of a service with `workers` workers for a model with input `[n, c, h, w]`, or the
/// refusal when the fixed part plus the smallest useful image per worker (an RGBA file of the
/// model's own input size) does not fit. What is left is shared equally as the workers' decode
/// budgets.
pub fn plan(
    service: &str,
    limit: u64,
    load: &LoadFigures,
    activation_bytes: u64,
    input_shape: [usize; 4],
    workers: u64,
) -> Result<Budget> {
    let [_, _, h, w] = input_shape.map(|d| d as u64);
    let input_len = input_shape.iter().map(|&d| d as u64).product();
    let mut budget = Budget {
        limit,
        model_bytes: load.model_bytes(),
        load_peak_bytes: load.load_peak(),
        activation_bytes,
        worker_buffer_bytes: worker_buffer_bytes(input_len),
        workers,
        image_bytes: 0,
        measured: load.retained.is_some(),
    };
    let min_image = h * w * 4;
    let needed = budget.fixed_bytes() + workers * min_image;
    if needed > limit {
        return Err(memory_limit(format!(
            "service {service}: needs at least {needed} bytes (model {}, {workers} worker(s) x (activations {activation_bytes} + buffers {} + smallest image {min_image})); LocalInferenceServiceMemoryLimitKB allows {limit} bytes",
            budget.model_bytes, budget.worker_buffer_bytes
        )));
    }
    budget.image_bytes = (limit - budget.fixed_bytes()) / workers;
    Ok(budget)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    const MIB: u64 = 1 << 20;

    fn measured(retained: u64, peak: u64, claimed: u64, largest: u64) -> LoadFigures {
        LoadFigures {
            weight_bytes: 10 * MIB,
            retained: Some(retained),
            peak: Some((peak, claimed)),
            largest_value: Some(largest),
        }
    }

    #[test]
    fn a_budget_shares_what_is_left_between_the_workers() {
        // Hand-computed: input 1x3x224x224 = 150,528 values; buffers 5 x 150,528 = 752,640;
        // fixed = 40 MiB + 2 x (8 MiB + 752,640) = 41,943,040 + 2 x 9,141,248 = 60,225,536;
        // limit 100 MiB = 104,857,600: each worker decodes in (104,857,600 - 60,225,536) / 2.
        let load = measured(40 * MIB, 70 * MIB, 60 * MIB, 4 * MIB);
        check_load("s", 100 * MIB, &load).unwrap();
        let b = plan("s", 100 * MIB, &load, 8 * MIB, [1, 3, 224, 224], 2).unwrap();
        assert_eq!(b.worker_buffer_bytes, 752_640);
        assert_eq!(b.fixed_bytes(), 60_225_536);
        assert_eq!(b.image_bytes, 22_316_032);
        assert_eq!((b.load_peak_bytes, b.measured), (70 * MIB, true));
    }

    #[test]
    fn the_smallest_image_must_fit_to_the_byte() {
        // fixed 60,225,536 + 2 workers x 224 x 224 x 4 (200,704) = 60,626,944.
        let load = measured(40 * MIB, 70 * MIB, 0, 4 * MIB);
        let b = plan("s", 70 * MIB, &load, 8 * MIB, [1, 3, 224, 224], 2).unwrap();
        assert!(b.image_bytes >= 200_704);
        let at = |limit| plan("s", limit, &load, 8 * MIB, [1, 3, 224, 224], 2);
        assert_eq!(at(60_626_944).unwrap().image_bytes, 200_704);
        let e = at(60_626_943).unwrap_err();
        assert_eq!(e.code, Code::MemoryLimit);
        assert!(e.message.contains("needs at least 60626944 bytes"), "{e}");
        assert!(e.message.contains("allows 60626943 bytes"), "{e}");
    }

    #[test]
    fn a_load_is_refused_by_its_peak_its_size_or_its_largest_value() {
        // The claimed figure counts when it is above the measured peak.
        let e = check_load("s", 65 * MIB, &measured(40 * MIB, 60 * MIB, 66 * MIB, 0)).unwrap_err();
        assert!(
            e.message
                .contains(&format!("needs {} bytes at its peak", 66 * MIB)),
            "{e}"
        );
        let e = check_load("s", 30 * MIB, &measured(31 * MIB, 20 * MIB, 0, 0)).unwrap_err();
        assert!(e.message.contains("the model needs 32505856 bytes"), "{e}");
        let e = check_load(
            "s",
            50 * MIB,
            &measured(40 * MIB, 45 * MIB, 0, 10 * MIB + 1),
        );
        assert!(e.unwrap_err().message.contains("one intermediate value"));
        check_load("s", 50 * MIB, &measured(40 * MIB, 45 * MIB, 0, 10 * MIB)).unwrap();
        let unbounded = LoadFigures {
            largest_value: None,
            ..measured(MIB, MIB, 0, 0)
        };
        let e = check_load("s", 50 * MIB, &unbounded).unwrap_err();
        assert!(e.message.contains("no bounded size"), "{e}");
    }

    #[test]
    fn without_accounting_the_figures_are_the_named_estimates() {
        let load = LoadFigures {
            weight_bytes: 10 * MIB,
            retained: None,
            peak: None,
            largest_value: Some(0),
        };
        assert_eq!(load.model_bytes(), 20 * MIB);
        assert_eq!(load.load_peak(), 30 * MIB);
        // 4 bytes x 150,528 values x 64.
        assert_eq!(activation_bytes(None, 150_528), 38_535_168);
        assert_eq!(activation_bytes(Some(7), 150_528), 7);
        let b = plan("s", 100 * MIB, &load, 1, [1, 1, 2, 2], 1).unwrap();
        assert!(!b.measured);
    }
}
