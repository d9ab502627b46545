//! What a service tells the outside after each successful classification: its
//! [`ClassificationHook`], given when the service opens ([`Service::open_with_hook`]). Nothing on
//! the request path looks a hook up; ML Feedback (`crate::feedback::hook_for`) is one such hook.
//!
//! [`Service::open_with_hook`]: super::Service::open_with_hook

/// One successful classification, as a hook sees it. Borrowed: a hook that keeps anything copies
/// it.
#[derive(Clone, Copy, Debug)]
pub struct Classified<'a> {
    /// The service's name (`LocalInferenceServiceName`).
    pub service: &'a str,
    /// The encoded image as the caller sent it.
    pub body: &'a [u8],
    /// The probabilities answered.
    pub probs: &'a [f32],
    /// The model's labels, when it has them.
    pub labels: Option<&'a [String]>,
}

/// Called on the classifying thread after each successful classification, before the answer
/// returns to the caller: keep it quick. It cannot fail the classification: the service catches
/// and logs a panic.
pub trait ClassificationHook: Send + Sync {
    /// One classification has succeeded.
    fn classified(&self, event: &Classified<'_>);
}
