//! Helpers of the unit tests of our own operators (winograd, conv, pool).

use tract_core::internal::*;

/// A small deterministic generator (xorshift), values in [-1, 1).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// Run `model` on `input` with `threads` threads (tract's executor in the plan, as a model
/// state's scope sets it) and return its first output.
pub fn run(model: TypedModel, input: &Tensor, threads: usize) -> Tensor {
    #[allow(unused_mut)]
    let mut options = RunOptions::default();
    #[cfg(feature = "multithread")]
    if threads > 1 {
        options.executor = Some(tract_linalg::multithread::Executor::multithread(threads));
    }
    #[cfg(not(feature = "multithread"))]
    assert_eq!(threads, 1);
    let plan = model.into_runnable_with_options(&options).unwrap();
    let out = plan.run(tvec![input.clone().into_tvalue()]).unwrap();
    out[0].clone().into_tensor()
}
