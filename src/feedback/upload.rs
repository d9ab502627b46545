//! Uploads: the background thread that drains the spool through the user's uploader, the drain
//! itself (a sample is deleted only after its upload succeeded).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Map, Value};

use super::hub::lock;
use super::{Feedback, Sample, Spool, UploadError, Uploader};
use crate::error::Result;

/// The background uploader: a thread that drains the spool through the user's uploader.
pub(super) struct UploadThread {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) handle: JoinHandle<()>,
}

/// What a drain did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Samples uploaded and deleted.
    pub uploaded: usize,
    /// Sample files found corrupt (moved aside).
    pub corrupt: usize,
    /// The failure that stopped the drain.
    pub failed: Option<UploadError>,
}

pub(super) fn upload_loop(hub: std::sync::Weak<Feedback>, stop: Arc<AtomicBool>, upload: Uploader) {
    let mut backoff = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let Some(fb) = hub.upgrade() else { return };
        let wake = fb.wake.clone();
        let retry_after = match fb.drain(&upload, 0) {
            Ok(r) if r.failed.is_none() => {
                backoff = Duration::ZERO;
                None
            }
            Ok(_) => {
                backoff = (backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
                Some(backoff)
            }
            Err(e) => {
                log::error!("feedback: the upload thread cannot read the spool: {e}");
                Some(Duration::from_secs(5))
            }
        };
        // Never wait holding the hub: it must be free to close.
        drop(fb);
        let (flag, cv) = &*wake;
        let mut woken = lock(flag);
        let end = std::time::Instant::now() + retry_after.unwrap_or(Duration::from_secs(3600));
        // A new sample ends an idle wait, not a backoff after a failure.
        let idle = retry_after.is_none();
        loop {
            if stop.load(Ordering::Relaxed) || (idle && *woken) {
                break;
            }
            let left = end.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            woken = cv
                .wait_timeout(woken, left.min(Duration::from_millis(200)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *woken = false;
    }
}

/// Upload the samples of `spool`, oldest first (re-reading the directory first), through
/// `upload`; a sample is deleted only after its upload succeeded. Stops after `max` uploads (0: no
/// limit) or at the first failure. `uploaded` / `failed` are told about each outcome.
pub fn drain_spool(
    spool: &Spool,
    upload: &Uploader,
    max: usize,
    mut uploaded: impl FnMut(&Sample, &Map<String, Value>),
    mut failed: impl FnMut(&Sample, &UploadError),
) -> Result<DrainReport> {
    let mut report = DrainReport::default();
    for name in spool.refresh()? {
        if max > 0 && report.uploaded >= max {
            break;
        }
        let sample = match spool.load(&name) {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(_) => {
                // Moved aside and logged by `load`.
                report.corrupt += 1;
                continue;
            }
        };
        match upload(&sample) {
            Ok(extra) => {
                spool.remove(&name)?;
                report.uploaded += 1;
                uploaded(&sample, &extra);
            }
            Err(e) => {
                log::warn!(
                    "feedback: upload of sample {} to {} failed: {}: {}",
                    sample.id,
                    sample.source_ref(),
                    e.error,
                    e.message
                );
                failed(&sample, &e);
                report.failed = Some(e);
                break;
            }
        }
    }
    Ok(report)
}
