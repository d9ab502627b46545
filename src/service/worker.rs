//! One worker's inference thread. Each worker runs its model state on a thread of its own, so
//! that tract's per-thread scratch memory exists once per worker (measured by the warm-up run)
//! rather than once per calling thread: the service's memory stays bounded however many threads
//! call it. Callers decode on their own thread, then hand the input tensor over (moved, not
//! copied) and wait for it to come back. The request's cancel flag goes with the job and the
//! inference thread checks it between nodes, so a waiting caller blocks without waking up
//! (polling the flag every few milliseconds cost a thread wake-up each time, on the request's
//! path and on the cores the model runs on).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{internal, Code, Error, Result};
use crate::mem::heap;
use crate::model::{Deadline, Inference, Model};

struct Job {
    input: Vec<f32>,
    deadline: Option<Instant>,
    cancel: Option<Arc<AtomicBool>>,
}

/// What comes back from the inference thread.
pub(crate) struct Done {
    /// The input buffer, handed back for the next request.
    pub input: Vec<f32>,
    pub result: Result<Inference>,
    /// Peak bytes the run allocated on the inference thread, plus its pool's peak.
    pub peak: usize,
    pub elapsed: Duration,
}

pub(crate) struct InferenceThread {
    jobs: Option<Sender<Job>>,
    results: Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    /// The process the thread was started in. After a `fork()` (Python's `multiprocessing`
    /// forks by default) the child has a copy of this struct but none of the parent's threads:
    /// a job sent there would wait forever.
    pid: u32,
    model: Arc<Model>,
    service: String,
    index: usize,
}

impl InferenceThread {
    /// The `index`th inference thread of service `service`.
    pub fn spawn(model: Arc<Model>, service: &str, index: usize) -> Result<InferenceThread> {
        let mut state = model.new_state()?;
        let handle = model.clone();
        let (jobs, job_rx) = channel::<Job>();
        let (done_tx, results) = channel::<Done>();
        let name = service.to_string();
        let service = service.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("edgeclass-{service}-{index}"))
            .spawn(move || {
                // What tract logs on this thread (e.g. its kernel selection) names the service.
                let _named = super::LogContext::enter(&service);
                while let Ok(job) = job_rx.recv() {
                    let t0 = Instant::now();
                    let deadline = Deadline {
                        at: job.deadline,
                        cancel: job.cancel.as_deref(),
                    };
                    // A panic in tract must not kill the worker (or the process): report it.
                    let (result, _, peak) = heap::measure(|| {
                        catch_unwind(AssertUnwindSafe(|| {
                            model.run_until(&mut state, &job.input, deadline)
                        }))
                        .unwrap_or_else(|_| Err(Error::new(Code::Panic, "panic during inference")))
                    });
                    // With a pool, this thread waits while the pool's threads work: their peak
                    // is added (an upper bound of the run's, as the two need not coincide).
                    let peak = peak + state.pool_peak_bytes();
                    let done = Done {
                        input: job.input,
                        result,
                        peak,
                        elapsed: t0.elapsed(),
                    };
                    if done_tx.send(done).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| internal(format!("cannot start an inference thread: {e}")))?;
        Ok(InferenceThread {
            jobs: Some(jobs),
            results,
            thread: Some(thread),
            pid: std::process::id(),
            model: handle,
            service: name,
            index,
        })
    }

    /// Whether this thread was started in another process (this one is a `fork()` child).
    fn forked(&self) -> bool {
        self.pid != std::process::id()
    }

    /// In a `fork()` child, start this worker's thread again (the parent's does not exist here),
    /// with a thread pool of its own when the model runs on several threads (the state owns its
    /// pool: `Model::new_state`); elsewhere nothing.
    pub fn ensure_started(&mut self) -> Result<()> {
        if !self.forked() {
            return Ok(());
        }
        let fresh = InferenceThread::spawn(self.model.clone(), &self.service, self.index)?;
        // The old value's thread and handle are the parent's: replaced without joining (Drop
        // does not join a forked handle).
        drop(std::mem::replace(self, fresh));
        log::info!(
            "[{}] worker {}: inference thread started again in this fork() child",
            self.service,
            self.index
        );
        Ok(())
    }

    /// Run the model on `input` (moved to the inference thread and back), until `deadline`
    /// or until `cancel` is set.
    pub fn run(
        &self,
        input: Vec<f32>,
        deadline: Option<Instant>,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Done {
        let len = input.len();
        let sent = self.jobs.as_ref().map(|j| {
            j.send(Job {
                input,
                deadline,
                cancel,
            })
        });
        if !matches!(sent, Some(Ok(()))) {
            return lost(len);
        }
        // The thread answers every job (a panic is caught there), so this returns; it stops at
        // the deadline or the cancel itself.
        self.results.recv().unwrap_or_else(|_| lost(len))
    }
}

fn lost(len: usize) -> Done {
    Done {
        input: vec![0.0; len],
        result: Err(internal("the inference thread is gone")),
        peak: 0,
        elapsed: Duration::ZERO,
    }
}

impl Drop for InferenceThread {
    fn drop(&mut self) {
        // Closing the job channel ends the thread's loop.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            if self.forked() {
                // The parent's thread: it does not exist here, and joining it is undefined.
                std::mem::forget(t);
            } else {
                let _ = t.join();
            }
        }
    }
}
