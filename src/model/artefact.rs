//! Finding the model files: a SageMaker training job's output, either extracted into a directory
//! or as the flat `model.tar.gz` itself, or an NNEF model (`.nnef.tgz`, `.nnef.tar`, directory).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::archive::{
    self, check_ceiling, Index, Kind, Member, MAX_GRAPH_BYTES, MAX_LABELS_BYTES, MAX_SHAPES_BYTES,
};
use super::mxnet::params::ParamEntry;
use crate::error::{io, memory_limit, model_not_found, Result};
use crate::mem::heap;

/// SageMaker's checkpoint prefix.
pub const PREFIX: &str = "image-classification";

/// The bytes of a SageMaker (MXNet) artefact, gathered from a directory or an archive.
#[derive(Debug)]
pub struct MxnetFiles {
    /// Where it came from, for messages.
    pub origin: String,
    pub symbol_name: String,
    pub symbol: Vec<u8>,
    pub params_name: String,
    pub params: ParamsSource,
    /// The checkpoint epoch: the `NNNN` of `<prefix>-NNNN.params`.
    pub epoch: u32,
    pub model_shapes: Vec<u8>,
    pub labels: Option<Vec<u8>>,
}

/// Where the params are: a file of a directory (read when needed, record by record, with no
/// whole-file copy), bytes in memory, or already parsed from an archive member as it streamed
/// past (again with no whole-member copy).
#[derive(Debug)]
pub enum ParamsSource {
    File(PathBuf),
    Memory(Vec<u8>),
    Parsed(Vec<ParamEntry>),
}

/// Where an NNEF model is: a directory tract reads itself, or an archive's used members
/// re-packed in memory as a tar (the members tract does not use never leave the archive).
#[derive(Debug)]
pub enum NnefSource {
    Directory(PathBuf),
    Tar(Vec<u8>),
}

/// What a model path holds.
#[derive(Debug)]
pub enum Artefact {
    Mxnet(MxnetFiles),
    /// An NNEF model, where it came from, and the `labels.txt` edgeclass keeps beside
    /// `graph.nnef`, if any.
    Nnef {
        path: PathBuf,
        source: NnefSource,
        labels: Option<Vec<u8>>,
    },
}

/// Read the file `path` whole, refusing it when it is larger than `ceiling` or than what the
/// load's memory limit has left.
fn read_bounded(path: &Path, what: &str, ceiling: u64) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path).map_err(|e| io(path, e))?.len();
    if len > ceiling {
        return Err(memory_limit(format!(
            "{}: {what} is {len} bytes; the largest accepted is {ceiling} bytes",
            path.display()
        )));
    }
    heap::reserve(|| format!("{}: reading {what}", path.display()), len)?;
    let mut out = Vec::with_capacity(len as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(ceiling).read_to_end(&mut out))
        .map_err(|e| io(path, e))?;
    Ok(out)
}

/// Look at `path` and gather the model it holds.
pub fn discover(path: &Path) -> Result<Artefact> {
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    if meta.is_dir() {
        if path.join("graph.nnef").is_file() {
            let labels_path = path.join("labels.txt");
            let labels = if labels_path.is_file() {
                Some(read_bounded(&labels_path, "labels.txt", MAX_LABELS_BYTES)?)
            } else {
                None
            };
            return Ok(Artefact::Nnef {
                path: path.to_path_buf(),
                source: NnefSource::Directory(path.to_path_buf()),
                labels,
            });
        }
        let mut files = Vec::new();
        let entries = std::fs::read_dir(path).map_err(|e| io(path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(path, e))?;
            if entry
                .file_type()
                .map(|t| t.is_file() || t.is_symlink())
                .unwrap_or(false)
            {
                if let Some(name) = entry.file_name().to_str() {
                    files.push(name.to_string());
                }
            }
        }
        files.sort();
        let origin = path.display().to_string();
        let read = |name: &str, ceiling: u64| -> Result<ParamsSource> {
            let file = path.join(name);
            if ceiling == u64::MAX {
                return Ok(ParamsSource::File(file));
            }
            Ok(ParamsSource::Memory(read_bounded(&file, name, ceiling)?))
        };
        return gather(&origin, &files, read);
    }
    // A file: an archive. Tell NNEF from SageMaker by what is inside, not by the name.
    let index = archive::index(path)?;
    if index.named("graph.nnef").next().is_some() {
        return nnef_from_archive(path, &index);
    }
    mxnet_from_archive(path, &index)
}

/// The files of a checkpoint, chosen from a listing.
struct Choice {
    symbol_name: String,
    params_name: String,
    epoch: u32,
    labels: bool,
}

/// Pick the files of a checkpoint from `names` (the directory or archive listing); `found`
/// describes the listing for messages.
fn choose(origin: &str, names: &[String], found: &dyn Fn() -> String) -> Result<Choice> {
    let symbols: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with("-symbol.json"))
        .collect();
    let symbol_name = if names.iter().any(|n| n == &format!("{PREFIX}-symbol.json")) {
        format!("{PREFIX}-symbol.json")
    } else {
        match symbols.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(model_not_found(format!(
                    "{origin}: no symbol file ({PREFIX}-symbol.json or *-symbol.json) and no NNEF graph.nnef; found: {}",
                    found()
                )))
            }
            many => {
                return Err(model_not_found(format!(
                    "{origin}: several symbol files ({}) and none is {PREFIX}-symbol.json: which model is meant?",
                    many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )))
            }
        }
    };
    let prefix = symbol_name.trim_end_matches("-symbol.json");
    let mut best: Option<(u32, &String)> = None;
    for n in names {
        if let Some(epoch) = params_epoch(n, prefix) {
            if best.is_none_or(|(e, _)| epoch > e) {
                best = Some((epoch, n));
            }
        }
    }
    let Some((epoch, params_name)) = best else {
        return Err(model_not_found(format!(
            "{origin}: no params file matching {prefix}-NNNN.params; found: {}",
            found()
        )));
    };
    if !names.iter().any(|n| n == "model-shapes.json") {
        return Err(model_not_found(format!(
            "{origin}: model-shapes.json is missing (it gives the input shape; edgeclass does not guess it); found: {}",
            found()
        )));
    }
    Ok(Choice {
        params_name: params_name.clone(),
        symbol_name,
        epoch,
        labels: names.iter().any(|n| n == "labels.txt"),
    })
}

/// Pick the files of a checkpoint from `names` and read them with `read(name, ceiling)`
/// (`ceiling` u64::MAX for the params, which need not be read whole).
fn gather(
    origin: &str,
    names: &[String],
    mut read: impl FnMut(&str, u64) -> Result<ParamsSource>,
) -> Result<Artefact> {
    let found = || {
        if names.is_empty() {
            "nothing".to_string()
        } else {
            names.join(", ")
        }
    };
    let c = choose(origin, names, &found)?;
    let bytes = |s: ParamsSource| match s {
        ParamsSource::Memory(v) => v,
        _ => unreachable!("read returns files with a ceiling in memory"),
    };
    let labels = if c.labels {
        Some(bytes(read("labels.txt", MAX_LABELS_BYTES)?))
    } else {
        None
    };
    Ok(Artefact::Mxnet(MxnetFiles {
        origin: origin.to_string(),
        symbol: bytes(read(&c.symbol_name, MAX_GRAPH_BYTES)?),
        params: read(&c.params_name, u64::MAX)?,
        params_name: c.params_name,
        symbol_name: c.symbol_name,
        epoch: c.epoch,
        model_shapes: bytes(read("model-shapes.json", MAX_SHAPES_BYTES)?),
        labels,
    }))
}

/// A SageMaker checkpoint from an archive: choose from the first pass's listing, then stream
/// the archive once more reading only the chosen members (the params parsed as they pass).
fn mxnet_from_archive(path: &Path, index: &Index) -> Result<Artefact> {
    let origin = path.display().to_string();
    let mut names: Vec<String> = index.members.iter().map(|m| m.base().to_string()).collect();
    names.sort();
    names.dedup();
    let c = choose(&origin, &names, &|| index.found())?;
    let chosen = |base: &str| -> Result<Member> {
        Ok(index
            .one(&origin, base)?
            .expect("choose picks listed names")
            .clone())
    };
    let symbol = chosen(&c.symbol_name)?;
    check_ceiling(&origin, &symbol, "the symbol file", MAX_GRAPH_BYTES)?;
    let params = chosen(&c.params_name)?;
    let shapes = chosen("model-shapes.json")?;
    check_ceiling(&origin, &shapes, "model-shapes.json", MAX_SHAPES_BYTES)?;
    let labels = if c.labels {
        let m = chosen("labels.txt")?;
        check_ceiling(&origin, &m, "labels.txt", MAX_LABELS_BYTES)?;
        Some(m)
    } else {
        None
    };
    let mut symbol_bytes = None;
    let mut params_entries = None;
    let mut shapes_bytes = None;
    let mut labels_bytes = None;
    let mut left = 3 + labels.is_some() as usize;
    archive::walk(path, |m, data| {
        if m.kind != Kind::File {
            return Ok(true);
        }
        let is = |want: &Member| want.path == m.path;
        if is(&symbol) || is(&params) || is(&shapes) || labels.as_ref().is_some_and(is) {
            let want = [&symbol, &params, &shapes]
                .into_iter()
                .chain(labels.as_ref())
                .find(|w| is(w))
                .expect("one of them");
            if want.size != m.size {
                return Err(model_not_found(format!(
                    "{origin}: archive member {} changed while it was read ({} bytes, then {})",
                    m.path, want.size, m.size
                )));
            }
            if is(&params) {
                let entries = crate::model::mxnet::params::parse_reader(data, m.size)
                    .map_err(|e| e.context(format!("{origin}/{}", c.params_name)))?;
                params_entries = Some(entries);
            } else {
                let bytes = archive::read_member(&origin, m, data)?;
                if is(&symbol) {
                    symbol_bytes = Some(bytes);
                } else if is(&shapes) {
                    shapes_bytes = Some(bytes);
                } else {
                    labels_bytes = Some(bytes);
                }
            }
            left -= 1;
        }
        Ok(left > 0)
    })?;
    let missing = || {
        model_not_found(format!(
            "{origin}: the archive changed while it was read (a chosen member is gone)"
        ))
    };
    Ok(Artefact::Mxnet(MxnetFiles {
        origin: origin.clone(),
        symbol: symbol_bytes.ok_or_else(missing)?,
        params: ParamsSource::Parsed(params_entries.ok_or_else(missing)?),
        params_name: c.params_name,
        symbol_name: c.symbol_name,
        epoch: c.epoch,
        model_shapes: shapes_bytes.ok_or_else(missing)?,
        labels: if labels.is_some() {
            Some(labels_bytes.ok_or_else(missing)?)
        } else {
            None
        },
    }))
}

/// An NNEF archive: its `graph.nnef`, `graph.quant` and `.dat` tensors re-packed in memory (each
/// tensor's header checked against its member size first, so tract allocates no more than the
/// archive holds), and `labels.txt`.
fn nnef_from_archive(path: &Path, index: &Index) -> Result<Artefact> {
    let origin = path.display().to_string();
    let graph = index.one(&origin, "graph.nnef")?.expect("listed");
    check_ceiling(&origin, graph, "the NNEF graph", MAX_GRAPH_BYTES)?;
    if let Some(q) = index.one(&origin, "graph.quant")? {
        check_ceiling(&origin, q, "the NNEF quantisation file", MAX_GRAPH_BYTES)?;
    }
    let labels = index.one(&origin, "labels.txt")?.cloned();
    if let Some(l) = &labels {
        check_ceiling(&origin, l, "labels.txt", MAX_LABELS_BYTES)?;
    }
    // What tract-nnef reads: it ignores paths with a component starting with '.'.
    let used = |m: &Member| {
        m.kind == Kind::File
            && !m.path.split('/').any(|c| c.starts_with('.'))
            && (m.base() == "graph.nnef" || m.base() == "graph.quant" || m.path.ends_with(".dat"))
    };
    let mut kept: Vec<&Member> = index.members.iter().filter(|m| used(m)).collect();
    kept.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(w) = kept.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(model_not_found(format!(
            "{origin}: the archive holds {} twice: which one is meant?",
            w[0].path
        )));
    }
    // The re-packed tar: a header per member (two with a long name), data padded to 512.
    let pad = |n: u64| n.div_ceil(512) * 512;
    let tar_len = kept
        .iter()
        .map(|m| 512 + pad(m.size) + if m.path.len() >= 100 { 1024 } else { 0 })
        .sum::<u64>()
        + 1024;
    heap::reserve(
        || format!("{origin}: the NNEF graph and tensors ({tar_len} bytes)"),
        tar_len,
    )?;
    let mut tar = tar::Builder::new(Vec::with_capacity(tar_len as usize));
    let mut tensor_bytes = 0u64;
    let mut labels_bytes = None;
    let mut left = kept.len() + labels.is_some() as usize;
    archive::walk(path, |m, data| {
        if m.kind != Kind::File {
            return Ok(true);
        }
        if labels.as_ref().is_some_and(|l| l.path == m.path) {
            labels_bytes = Some(archive::read_member(&origin, m, data)?);
            left -= 1;
            return Ok(left > 0);
        }
        let Ok(i) = kept.binary_search_by(|k| k.path.as_str().cmp(&m.path)) else {
            return Ok(true);
        };
        if kept[i].size != m.size {
            return Err(model_not_found(format!(
                "{origin}: archive member {} changed while it was read",
                m.path
            )));
        }
        let mut head = Vec::new();
        if m.path.ends_with(".dat") {
            let mut h = [0u8; 128];
            data.read_exact(&mut h).map_err(|_| {
                crate::error::nnef(format!(
                    "{origin}: tensor {} is {} bytes, shorter than its 128-byte header",
                    m.path, m.size
                ))
            })?;
            tensor_bytes = tensor_bytes.saturating_add(dat_tensor_bytes(&origin, m, &h)?);
            head.extend_from_slice(&h);
        }
        let body = Exact {
            inner: std::io::Cursor::new(head).chain(data.take(m.size)),
            left: m.size,
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(m.size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &m.path, body).map_err(|e| {
            model_not_found(format!(
                "{origin}: cannot read archive member {} ({e})",
                m.path
            ))
        })?;
        left -= 1;
        Ok(left > 0)
    })?;
    let tar = tar.into_inner().map_err(|e| io(path, e))?;
    if tensor_bytes > archive::MAX_ARCHIVE_BYTES {
        return Err(memory_limit(format!(
            "{origin}: the NNEF tensors take {tensor_bytes} bytes; the largest accepted is {} bytes",
            archive::MAX_ARCHIVE_BYTES
        )));
    }
    // tract's NNEF reader holds the tensors, parses the graph text into a tree and builds the
    // model's constants from both: measured on ResNet-18 (slim) at 1.1 MB above the tar for
    // 190 KB of tensors and 17 KB of text, so reserve 4 bytes per tensor byte and 32 per byte of
    // text.
    let build = tensor_bytes
        .saturating_mul(4)
        .saturating_add(32 * graph.size);
    heap::reserve(
        || {
            format!(
                "{origin}: reading the NNEF graph and its {tensor_bytes} bytes of tensors (estimated)"
            )
        },
        build,
    )?;
    Ok(Artefact::Nnef {
        path: path.to_path_buf(),
        source: NnefSource::Tar(tar),
        labels: labels_bytes,
    })
}

/// The bytes tract allocates for the NNEF tensor file `m` with header `h`: its element count
/// times the element size, refused when the header declares more data than the member holds.
fn dat_tensor_bytes(origin: &str, m: &Member, h: &[u8; 128]) -> Result<u64> {
    let u32_at = |i: usize| u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]) as u64;
    let bad = |why: String| crate::error::nnef(format!("{origin}: tensor {}: {why}", m.path));
    if h[..2] != [0x4e, 0xef] {
        return Err(bad("not an NNEF tensor file (bad magic)".into()));
    }
    let data_bytes = u32_at(4);
    let rank = u32_at(8);
    if rank > 8 {
        return Err(bad(format!("rank {rank}; at most 8")));
    }
    if data_bytes > m.size - 128 {
        return Err(bad(format!(
            "the header declares {data_bytes} data bytes, but the file holds {}",
            m.size - 128
        )));
    }
    let elements = (0..rank as usize)
        .try_fold(1u64, |a, i| a.checked_mul(u32_at(12 + 4 * i)))
        .ok_or_else(|| bad("its shape overflows".into()))?;
    let bits = u32_at(44);
    // tract's own check: elements x bits = the declared data (a packed type may round up a byte).
    let declared_bits = elements.checked_mul(bits);
    if declared_bits.is_none_or(|b| b.div_ceil(8) > data_bytes) {
        return Err(bad(format!(
            "its shape holds {elements} values of {bits} bits, more than the {data_bytes} data bytes declared"
        )));
    }
    // Widened to at least a byte per value in memory.
    Ok(elements.saturating_mul(bits.div_ceil(8).max(1)))
}

/// A reader that fails instead of ending early: `left` bytes must come.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} bytes missing (truncated)", self.left),
            ));
        }
        self.left = self.left.saturating_sub(n as u64);
        Ok(n)
    }
}

/// `<prefix>-NNNN.params` → NNNN (four or more digits, as `'%s-%04d.params'` writes them).
fn params_epoch(name: &str, prefix: &str) -> Option<u32> {
    let digits = name
        .strip_prefix(prefix)?
        .strip_prefix('-')?
        .strip_suffix(".params")?;
    if digits.len() < 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_from_names() {
        assert_eq!(
            params_epoch("image-classification-0007.params", PREFIX),
            Some(7)
        );
        assert_eq!(
            params_epoch("image-classification-12345.params", PREFIX),
            Some(12345)
        );
        assert_eq!(params_epoch("image-classification-07.params", PREFIX), None);
        assert_eq!(params_epoch("other-0007.params", PREFIX), None);
        assert_eq!(
            params_epoch("image-classification-00a7.params", PREFIX),
            None
        );
    }

    #[test]
    fn highest_epoch_wins_and_missing_files_are_listed() {
        let names: Vec<String> = [
            "image-classification-0003.params",
            "image-classification-0010.params",
            "image-classification-0007.params",
            "image-classification-symbol.json",
            "model-shapes.json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let read = |n: &str, _| Ok(ParamsSource::Memory(n.as_bytes().to_vec()));
        let Artefact::Mxnet(f) = gather("t", &names, read).unwrap() else {
            panic!("not mxnet")
        };
        assert_eq!(
            (f.epoch, f.params_name.as_str()),
            (10, "image-classification-0010.params")
        );
        let e = gather("t", &names[..4], read).unwrap_err();
        assert!(e.message.contains("model-shapes.json is missing"), "{e}");
        assert!(
            e.message.contains("image-classification-0003.params"),
            "{e}"
        );
    }
}
