//! `--watch-models SECONDS`: reload a service when the files at its model path change, as a
//! deployment that replaces the artefact in place (a Greengrass component's new version, an
//! rsync, `aws s3 cp`) expects, without a SIGHUP.
//!
//! Polling, not inotify: it works the same on every board and file system (NFS and overlay
//! included), needs no crate, and costs a few `stat` calls per service per interval. A change is
//! acted on once it has held still for one interval, so a copy still being written is not
//! loaded half-way; a model that fails to load is not tried again until its files change again
//! (the old model serves on, and the failure is logged and counted in `edgeclass_reloads_total`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::reload::reload;
use super::state::Daemon;

/// What a poll sees of a model path: for a file, its size, modification time and inode; for a
/// directory, the same of the directory and of each entry in it (a SageMaker model folder is
/// flat), sorted by name. `None`: the path cannot be read now (being replaced, or missing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint(Vec<Stamp>);

/// One file's (or the folder's) name, size, modification time (ns) and inode.
type Stamp = (String, u64, u128, u64);

fn stamp(name: String, m: &std::fs::Metadata) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let modified = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    (name, m.len(), modified, m.ino())
}

/// The fingerprint of `path` now (symbolic links followed, as the loader follows them).
pub fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let top = std::fs::metadata(path).ok()?;
    let mut seen = vec![stamp(String::new(), &top)];
    if top.is_dir() {
        let mut entries = Vec::new();
        for e in std::fs::read_dir(path).ok()? {
            let e = e.ok()?;
            // A dangling link (to nothing the loader reads) is stamped as the link itself:
            // were it unreadable, the folder would never be, and its service never reloaded.
            let m = std::fs::metadata(e.path())
                .or_else(|_| std::fs::symlink_metadata(e.path()))
                .ok()?;
            entries.push(stamp(e.file_name().to_string_lossy().into_owned(), &m));
        }
        entries.sort();
        seen.extend(entries);
    }
    Some(Fingerprint(seen))
}

/// One service's watch.
#[derive(Default)]
struct Watched {
    /// The generation and path the baseline belongs to: a reload by other means (HTTP, SIGHUP)
    /// takes a new baseline instead of reloading again.
    generation: u64,
    path: PathBuf,
    /// The files as the current model was loaded from them (as first seen, for the first one).
    baseline: Option<Fingerprint>,
    /// A change seen at the last poll, waiting to hold still for one interval.
    pending: Option<Fingerprint>,
    /// The files a reload failed on: not tried again until they change.
    failed: Option<Fingerprint>,
}

/// One poll of every open service (blocking: `stat` calls and, when due, the reload itself).
fn poll(daemon: &Daemon, watched: &mut [Watched]) {
    for (entry, w) in daemon.services.iter().zip(watched.iter_mut()) {
        let Ok(service) = &entry.service else {
            continue;
        };
        let (generation, path) = (service.generation(), service.model_path());
        let now = fingerprint(&path);
        if generation != w.generation || path != w.path {
            *w = Watched {
                generation,
                path,
                baseline: now,
                ..Watched::default()
            };
            continue;
        }
        let Some(now) = now else {
            continue; // unreadable now: a replacement in progress; look again next time
        };
        if w.baseline.as_ref() == Some(&now) {
            w.pending = None;
            continue;
        }
        if w.pending.as_ref() != Some(&now) {
            w.pending = Some(now); // changed: wait one interval for it to hold still
            continue;
        }
        w.pending = None;
        if w.failed.as_ref() == Some(&now) {
            continue;
        }
        log::info!(
            "--watch-models: the files at {} changed: reloading service {}",
            path.display(),
            service.name()
        );
        match reload(entry, service, None) {
            Ok(_) => {
                *w = Watched {
                    generation: service.generation(),
                    path: service.model_path(),
                    baseline: Some(now),
                    ..Watched::default()
                }
            }
            Err(e) => {
                log::error!("--watch-models: {e} (the old model serves on; not tried again until the files change)");
                w.failed = Some(now);
            }
        }
    }
}

/// Poll every `interval` until the task is aborted.
pub async fn run(daemon: Arc<Daemon>, interval: Duration) {
    // Generation 0 matches no service: a fresh watch's first poll takes the baselines.
    let fresh = || -> Vec<Watched> { daemon.services.iter().map(|_| Watched::default()).collect() };
    let mut watched = fresh();
    loop {
        let d = daemon.clone();
        let mut w = std::mem::take(&mut watched);
        watched = match tokio::task::spawn_blocking(move || {
            poll(&d, &mut w);
            w
        })
        .await
        {
            Ok(w) => w,
            Err(e) => {
                log::error!("--watch-models: the poll failed: {e}");
                fresh()
            }
        };
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dangling_link_leaves_the_folder_readable_and_changes_are_seen() {
        let dir = std::env::temp_dir().join(format!("edgeclass-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("model-symbol.json"), b"{}").unwrap();
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("old-link")).unwrap();
        let first = fingerprint(&dir).expect("a folder with a dangling link is readable");
        assert_eq!(first.0.len(), 3, "{first:?}");
        assert_eq!(fingerprint(&dir), Some(first.clone()));
        std::fs::write(dir.join("model-symbol.json"), b"{ }").unwrap();
        assert_ne!(fingerprint(&dir), Some(first));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(fingerprint(&dir), None);
    }
}
