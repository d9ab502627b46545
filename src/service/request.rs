//! The options of one request to a service: its cancel flag and its own timeout.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Options of one request: a cancel flag another thread may set, and an optional deadline
/// tighter than the service's timeout. Share it with `Arc` to cancel from elsewhere.
#[derive(Debug, Default)]
pub struct Request {
    /// Shared with the inference thread that runs the request, which checks it itself: the
    /// caller blocks on the answer rather than polling the flag for it.
    cancel: Arc<AtomicBool>,
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

    /// The timeout set by [`Request::set_timeout`], if any.
    pub fn timeout(&self) -> Option<Duration> {
        let ns = self.timeout_ns.load(Ordering::Relaxed);
        (ns > 0).then(|| Duration::from_nanos(ns))
    }

    /// Whether [`Request::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The flag itself, for the inference thread that runs the request.
    pub(crate) fn cancel_flag(&self) -> &Arc<AtomicBool> {
        &self.cancel
    }
}
