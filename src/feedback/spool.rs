//! The spool: kept samples wait here, on disk, until the user's uploader has shipped them.
//!
//! One sample is one file, `NANOS-SEQ-UUID.sample`, so a name sorts by age. It is written under a
//! temporary name (`.tmp-PID-UUID`), fsynced, renamed into place, and the directory fsynced: after
//! a crash or a power cut a sample is either whole or absent. Temporary files left by a dead
//! process are removed when the spool is opened. The spool is bounded by bytes and by count; a new
//! sample pushes out the oldest ones (counted in `dropped_oldest`).
//!
//! File format: the line `EDGECLASS-SAMPLE 1`, one line of JSON (the header: ids, S3 target,
//! prediction, metadata, input length and CRC-32), then the raw input bytes. A file whose length
//! or CRC disagrees with its header is renamed `*.corrupt` and counted, never uploaded.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::error::{invalid_argument, Code, Error, Result};

const MAGIC: &[u8] = b"EDGECLASS-SAMPLE 1\n";
const SUFFIX: &str = ".sample";
const TEMP_PREFIX: &str = ".tmp-";
/// A temporary file this old is garbage even if its writer's pid is alive again (pid reuse).
const TEMP_MAX_AGE: Duration = Duration::from_secs(3600);

/// One kept model input with what the connector would have sent along.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// UUID v4: the `id` of the status messages and the S3 object's name.
    pub id: String,
    /// The configuration that kept it.
    pub config_id: String,
    /// `content-type` of the configuration (the S3 object's type).
    pub content_type: String,
    /// The S3 bucket it goes to (`s3-bucket-name`).
    pub bucket: String,
    /// `s3-prefix/UUID.file-ext`.
    pub key: String,
    /// The model's prediction: a list (image classification) or an object (object detection).
    pub prediction: Value,
    /// The caller's metadata plus `publish-ts`.
    pub metadata: Map<String, Value>,
    /// The model input, as sent (the encoded image).
    pub input: Vec<u8>,
}

impl Sample {
    /// `s3://bucket/key`, the prediction message's `source-ref`.
    pub fn source_ref(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    /// The header: everything but the input bytes (also what the drain command gets).
    pub fn header(&self) -> Value {
        json!({
            "id": self.id,
            "config-id": self.config_id,
            "content-type": self.content_type,
            "s3-bucket-name": self.bucket,
            "s3-key": self.key,
            "source-ref": self.source_ref(),
            "model-prediction": self.prediction,
            "metadata": self.metadata,
            "input-length": self.input.len(),
            "input-crc32": crc32(&self.input),
        })
    }

    /// Parse a sample file's bytes; every inconsistency is an error naming what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Sample> {
        let bad = |what: &str| Error::new(Code::Io, format!("corrupt sample: {what}"));
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("missing EDGECLASS-SAMPLE 1 line"))?;
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad("no header line"))?;
        let header: Value =
            serde_json::from_slice(&rest[..nl]).map_err(|e| bad(&format!("header: {e}")))?;
        let input = &rest[nl + 1..];
        let str_field = |k: &str| -> Result<String> {
            header
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| bad(&format!("header has no string {k:?}")))
        };
        let len = header.get("input-length").and_then(Value::as_u64);
        if len != Some(input.len() as u64) {
            return Err(bad(&format!(
                "input-length {len:?} but {} bytes follow the header",
                input.len()
            )));
        }
        let crc = header.get("input-crc32").and_then(Value::as_u64);
        if crc != Some(u64::from(crc32(input))) {
            return Err(bad("input-crc32 does not match the input bytes"));
        }
        Ok(Sample {
            id: str_field("id")?,
            config_id: str_field("config-id")?,
            content_type: str_field("content-type")?,
            bucket: str_field("s3-bucket-name")?,
            key: str_field("s3-key")?,
            prediction: header
                .get("model-prediction")
                .cloned()
                .ok_or_else(|| bad("header has no model-prediction"))?,
            metadata: header
                .get("metadata")
                .and_then(Value::as_object)
                .cloned()
                .ok_or_else(|| bad("header has no metadata object"))?,
            input: input.to_vec(),
        })
    }

    fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(MAGIC)?;
        serde_json::to_writer(&mut *w, &self.header())?;
        w.write_all(b"\n")?;
        w.write_all(&self.input)
    }

    /// Size of the file this sample makes.
    pub fn encoded_len(&self) -> u64 {
        let header = serde_json::to_vec(&self.header()).map_or(0, |h| h.len());
        (MAGIC.len() + header + 1 + self.input.len()) as u64
    }
}

/// CRC-32 (IEEE), from flate2 which is already a dependency.
fn crc32(b: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(b);
    c.sum()
}

/// Counters and current size of a spool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Samples and bytes in the spool now (as this process knows it).
    pub samples: u64,
    /// Bytes of the samples in the spool now.
    pub bytes: u64,
    /// Samples written since open.
    pub written: u64,
    /// Samples removed to make room for newer ones.
    pub dropped_oldest: u64,
    /// Samples refused because one alone is larger than the byte bound.
    pub refused_too_large: u64,
    /// Sample files found inconsistent and renamed `*.corrupt`.
    pub corrupt: u64,
    /// Temporary files of dead writers removed at open.
    pub cleaned_temp: u64,
    /// Writes that failed (disk full, permissions, ...).
    pub write_errors: u64,
}

#[derive(Default)]
struct Index {
    /// File name → size, oldest first.
    files: BTreeMap<String, u64>,
    bytes: u64,
    /// Writes in progress: their room is reserved.
    pending_bytes: u64,
    pending_count: u64,
}

/// A bounded, crash-safe directory of samples. Thread-safe.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    max_count: u64,
    index: Mutex<Index>,
    seq: AtomicU64,
    written: AtomicU64,
    dropped_oldest: AtomicU64,
    refused_too_large: AtomicU64,
    corrupt: AtomicU64,
    cleaned_temp: AtomicU64,
    write_errors: AtomicU64,
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::new(Code::Io, format!("{what} {}: {e}", path.display()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, "fsync of spool directory", e))
}

/// Whether process `pid` may still be writing (Linux: `/proc/PID` exists; elsewhere assume yes).
fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() || !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}

impl Spool {
    /// Open (creating it if needed) the spool at `dir`, bounded by `max_bytes` and `max_count`:
    /// removes temporary files of dead writers and indexes the samples already there.
    pub fn open(dir: &Path, max_bytes: u64, max_count: u64) -> Result<Spool> {
        fs::create_dir_all(dir).map_err(|e| io_err(dir, "cannot create spool directory", e))?;
        let spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(1),
            max_count: max_count.max(1),
            index: Mutex::new(Index::default()),
            seq: AtomicU64::new(0),
            written: AtomicU64::new(0),
            dropped_oldest: AtomicU64::new(0),
            refused_too_large: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
            cleaned_temp: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
        };
        let cleaned = spool.clean_temp()?;
        spool.cleaned_temp.store(cleaned, Ordering::Relaxed);
        if cleaned > 0 {
            log::warn!(
                "feedback spool {}: removed {cleaned} partial sample(s) left by an interrupted writer",
                dir.display()
            );
        }
        let mut ix = spool.lock();
        spool.rescan(&mut ix)?;
        drop(ix);
        Ok(spool)
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn clean_temp(&self) -> Result<u64> {
        let mut n = 0;
        let entries =
            fs::read_dir(&self.dir).map_err(|e| io_err(&self.dir, "cannot list spool", e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > TEMP_MAX_AGE);
            if old || pid.is_none_or(|p| !pid_alive(p)) {
                match fs::remove_file(entry.path()) {
                    Ok(()) => n += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&entry.path(), "cannot remove", e)),
                }
            }
        }
        Ok(n)
    }

    /// Re-read the directory: another process (`edgeclass feedback drain`) may have removed
    /// samples, or written some.
    fn rescan(&self, ix: &mut Index) -> Result<()> {
        let entries =
            fs::read_dir(&self.dir).map_err(|e| io_err(&self.dir, "cannot list spool", e))?;
        ix.files.clear();
        ix.bytes = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(SUFFIX) || name.starts_with('.') {
                continue;
            }
            if let Ok(m) = entry.metadata() {
                if m.is_file() {
                    ix.bytes += m.len();
                    ix.files.insert(name, m.len());
                }
            }
        }
        Ok(())
    }

    /// Write `sample` durably. Makes room by removing the oldest samples first; refuses a
    /// sample larger than the whole byte bound. Returns the file's path.
    pub fn put(&self, sample: &Sample) -> Result<PathBuf> {
        let size = sample.encoded_len();
        if size > self.max_bytes {
            self.refused_too_large.fetch_add(1, Ordering::Relaxed);
            return Err(Error::new(
                Code::ImageTooLarge,
                format!(
                    "the sample needs {size} bytes; the spool holds at most {} bytes (EdgeclassSpoolMaxBytes)",
                    self.max_bytes
                ),
            ));
        }
        self.reserve(size)?;
        let result = self.write(sample);
        let mut ix = self.lock();
        ix.pending_bytes -= size;
        ix.pending_count -= 1;
        match &result {
            Ok((name, path)) => {
                // The file is visible from its rename on: another thread may have uploaded and
                // removed it already (remove_file, then `forget` under this lock). Index it only
                // if it still exists; a removal after this check forgets it after this lock. A
                // rescan by another thread may have indexed it already.
                if path.exists() && ix.files.insert(name.clone(), size).is_none() {
                    ix.bytes += size;
                }
                self.written.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        result.map(|(_, path)| path)
    }

    fn over(&self, ix: &Index, size: u64) -> bool {
        ix.bytes + ix.pending_bytes + size > self.max_bytes
            || ix.files.len() as u64 + ix.pending_count + 1 > self.max_count
    }

    fn reserve(&self, size: u64) -> Result<()> {
        let mut ix = self.lock();
        if self.over(&ix, size) {
            self.rescan(&mut ix)?;
        }
        while self.over(&ix, size) {
            let Some((name, len)) = ix.files.pop_first() else {
                // Only writes in progress fill the spool; with RequestLimit this cannot last.
                self.write_errors.fetch_add(1, Ordering::Relaxed);
                return Err(Error::new(
                    Code::Io,
                    "the spool is full of samples being written; try again",
                ));
            };
            ix.bytes -= len;
            match fs::remove_file(self.dir.join(&name)) {
                Ok(()) => {
                    let n = self.dropped_oldest.fetch_add(1, Ordering::Relaxed) + 1;
                    log::warn!(
                        "feedback spool {}: full; dropped the oldest sample {name} ({n} dropped so far)",
                        self.dir.display()
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&self.dir.join(&name), "cannot remove old sample", e)),
            }
        }
        ix.pending_bytes += size;
        ix.pending_count += 1;
        Ok(())
    }

    fn write(&self, sample: &Sample) -> Result<(String, PathBuf)> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        let name = format!("{nanos:020}-{seq:06}-{}{SUFFIX}", sample.id);
        let temp = self
            .dir
            .join(format!("{TEMP_PREFIX}{}-{}", std::process::id(), sample.id));
        let path = self.dir.join(&name);
        let written = (|| -> std::io::Result<()> {
            let mut w = BufWriter::new(File::create(&temp)?);
            sample.write_to(&mut w)?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            drop(f);
            fs::rename(&temp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(io_err(&path, "cannot write sample", e));
        }
        sync_dir(&self.dir)?;
        Ok((name, path))
    }

    /// Names of the samples, oldest first.
    pub fn names(&self) -> Vec<String> {
        self.lock().files.keys().cloned().collect()
    }

    /// Re-read the directory, then list (for samples written by another process).
    pub fn refresh(&self) -> Result<Vec<String>> {
        let mut ix = self.lock();
        self.rescan(&mut ix)?;
        Ok(ix.files.keys().cloned().collect())
    }

    /// The file of sample `name` in the spool.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Read sample `name`. A corrupt file is renamed `NAME.corrupt`, counted, and reported as
    /// an error; a vanished one is `Ok(None)`.
    pub fn load(&self, name: &str) -> Result<Option<Sample>> {
        if name.contains('/') || !name.ends_with(SUFFIX) {
            return Err(invalid_argument(format!("{name:?} is not a sample name")));
        }
        let path = self.dir.join(name);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.forget(name);
                return Ok(None);
            }
            Err(e) => return Err(io_err(&path, "cannot read sample", e)),
        };
        match Sample::decode(&bytes) {
            Ok(s) => Ok(Some(s)),
            Err(e) => {
                self.corrupt.fetch_add(1, Ordering::Relaxed);
                let aside = self.dir.join(format!("{name}.corrupt"));
                let _ = fs::rename(&path, &aside);
                self.forget(name);
                log::error!("feedback spool: {}: {e}; moved aside", path.display());
                Err(e.context(path.display()))
            }
        }
    }

    /// Delete sample `name` (after a successful upload). Removing a missing one is fine.
    pub fn remove(&self, name: &str) -> Result<()> {
        let path = self.dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, "cannot remove sample", e)),
        }
        self.forget(name);
        Ok(())
    }

    fn forget(&self, name: &str) {
        let mut ix = self.lock();
        if let Some(len) = ix.files.remove(name) {
            ix.bytes -= len;
        }
    }

    /// Its counters now.
    pub fn stats(&self) -> SpoolStats {
        let ix = self.lock();
        SpoolStats {
            samples: ix.files.len() as u64,
            bytes: ix.bytes,
            written: self.written.load(Ordering::Relaxed),
            dropped_oldest: self.dropped_oldest.load(Ordering::Relaxed),
            refused_too_large: self.refused_too_large.load(Ordering::Relaxed),
            corrupt: self.corrupt.load(Ordering::Relaxed),
            cleaned_temp: self.cleaned_temp.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "edgeclass-spool-{tag}-{}-{}",
            std::process::id(),
            super::super::new_uuid()
        ));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn sample(n: usize) -> Sample {
        Sample {
            id: super::super::new_uuid(),
            config_id: "cfg-1".into(),
            content_type: "image/png".into(),
            bucket: "bucket".into(),
            key: "p/x.png".into(),
            prediction: json!([0.5, 0.25, 0.25]),
            metadata: json!({"publish-ts": "2019-07-11 00:12:48.816752"})
                .as_object()
                .unwrap()
                .clone(),
            input: (0..n).map(|i| (i * 7 % 251) as u8).collect(),
        }
    }

    /// `put` makes the file visible (its rename) before it indexes it. An uploader on another
    /// thread can find it, upload it and remove it in between; the index must not keep it then
    /// (it did: a phantom sample counted against the spool's bounds until the next rescan).
    #[test]
    fn a_sample_removed_before_put_indexes_it_does_not_stay_indexed() {
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let dir = temp_dir("race");
        let spool = Arc::new(Spool::open(&dir, 1 << 30, 1 << 20).unwrap());
        let done = Arc::new(AtomicBool::new(false));
        let remover = {
            let (spool, done, dir) = (spool.clone(), done.clone(), dir.clone());
            std::thread::spawn(move || {
                // Lists the directory itself (a rescan would repair the index and hide the bug).
                while !done.load(Ordering::Relaxed) {
                    for e in fs::read_dir(&dir).unwrap().flatten() {
                        let name = e.file_name().to_string_lossy().into_owned();
                        if name.ends_with(SUFFIX) {
                            spool.remove(&name).unwrap();
                        }
                    }
                }
            })
        };
        let s = sample(16);
        for _ in 0..1000 {
            spool.put(&s).unwrap();
        }
        done.store(true, Ordering::Relaxed);
        remover.join().unwrap();
        let on_disk: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(SUFFIX))
            .collect();
        let indexed = spool.names();
        let phantoms: Vec<&String> = indexed.iter().filter(|n| !on_disk.contains(n)).collect();
        assert!(
            phantoms.is_empty(),
            "{} of {} indexed samples are not on disk",
            phantoms.len(),
            indexed.len()
        );
        assert_eq!(spool.stats().samples, on_disk.len() as u64);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn round_trip_and_restart() {
        let dir = temp_dir("rt");
        let s = sample(1000);
        {
            let spool = Spool::open(&dir, 1 << 20, 100).unwrap();
            let path = spool.put(&s).unwrap();
            assert_eq!(fs::metadata(&path).unwrap().len(), s.encoded_len());
        }
        // A new process (here: a new Spool) finds it, and removes a dead writer's temp file.
        fs::write(dir.join(".tmp-999999999-x"), b"EDGECLASS-SAMPLE 1\n{").unwrap();
        let spool = Spool::open(&dir, 1 << 20, 100).unwrap();
        assert_eq!(spool.stats().cleaned_temp, 1);
        assert!(!dir.join(".tmp-999999999-x").exists());
        let names = spool.names();
        assert_eq!(names.len(), 1);
        assert_eq!(spool.load(&names[0]).unwrap().unwrap(), s);
        assert_eq!(s.source_ref(), "s3://bucket/p/x.png");
        spool.remove(&names[0]).unwrap();
        assert_eq!(spool.stats().samples, 0);
        assert_eq!(spool.load(&names[0]).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bounds_drop_oldest_first_and_count() {
        let dir = temp_dir("bounds");
        let one = sample(100).encoded_len();
        // Room for exactly 3 by bytes, 5 by count.
        let spool = Spool::open(&dir, 3 * one, 5).unwrap();
        let ids: Vec<String> = (0..5)
            .map(|_| {
                let s = sample(100);
                spool.put(&s).unwrap();
                s.id
            })
            .collect();
        let st = spool.stats();
        assert_eq!((st.samples, st.bytes, st.dropped_oldest), (3, 3 * one, 2));
        let kept: Vec<String> = spool
            .names()
            .iter()
            .map(|n| spool.load(n).unwrap().unwrap().id)
            .collect();
        assert_eq!(kept, ids[2..]);
        // Count bound.
        let spool2 = Spool::open(&temp_dir("count"), 1 << 30, 2).unwrap();
        for _ in 0..4 {
            spool2.put(&sample(10)).unwrap();
        }
        assert_eq!(
            (spool2.stats().samples, spool2.stats().dropped_oldest),
            (2, 2)
        );
        // One sample larger than the bound is refused, nothing dropped for it.
        let e = spool.put(&sample(4 * one as usize)).unwrap_err();
        assert!(e.message.contains("EdgeclassSpoolMaxBytes"), "{e}");
        assert_eq!(spool.stats().refused_too_large, 1);
        assert_eq!(spool.stats().samples, 3);
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(spool2.dir()).unwrap();
    }

    #[test]
    fn corrupt_files_are_moved_aside() {
        let dir = temp_dir("corrupt");
        let spool = Spool::open(&dir, 1 << 20, 10).unwrap();
        let path = spool.put(&sample(50)).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let e = spool.load(&name).unwrap_err();
        assert!(e.message.contains("input-crc32"), "{e}");
        assert!(!path.exists() && dir.join(format!("{name}.corrupt")).exists());
        assert_eq!((spool.stats().corrupt, spool.stats().samples), (1, 0));
        // Truncated: the length check names it.
        let e = Sample::decode(&bytes[..bytes.len() - 3]).unwrap_err();
        assert!(e.message.contains("input-length"), "{e}");
        assert!(Sample::decode(b"garbage").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
