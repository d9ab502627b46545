//! Finding the model files: a SageMaker training job's output, either extracted into a directory
//! or as the flat `model.tar.gz` itself, or an NNEF model (`.nnef.tgz`, `.nnef.tar`, directory).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{io, model_not_found, Error, Result};

/// SageMaker's checkpoint prefix.
pub const PREFIX: &str = "image-classification";
/// The archive's largest accepted member: far above any real checkpoint (ResNet-152 is ~240 MB),
/// and a bound on what a hostile gzip can make us allocate.
const MAX_MEMBER_BYTES: u64 = 2 << 30;

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

/// Where a member's bytes are: a file of a directory (read when needed: the params file record by
/// record, with no whole-file copy), or an archive member already in memory.
#[derive(Debug)]
pub enum ParamsSource {
    File(PathBuf),
    Memory(Vec<u8>),
}

impl ParamsSource {
    fn into_bytes(self) -> Result<Vec<u8>> {
        match self {
            ParamsSource::File(p) => std::fs::read(&p).map_err(|e| io(&p, e)),
            ParamsSource::Memory(v) => Ok(v),
        }
    }
}

/// What a model path holds.
#[derive(Debug)]
pub enum Artefact {
    Mxnet(MxnetFiles),
    /// An NNEF model tract can read from this path (directory or tar/tgz), and the `labels.txt`
    /// edgeclass keeps beside `graph.nnef`, if any.
    Nnef {
        path: PathBuf,
        labels: Option<Vec<u8>>,
    },
}

/// Look at `path` and gather the model it holds.
pub fn discover(path: &Path) -> Result<Artefact> {
    let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
    if meta.is_dir() {
        if path.join("graph.nnef").is_file() {
            let labels_path = path.join("labels.txt");
            let labels = if labels_path.is_file() {
                Some(std::fs::read(&labels_path).map_err(|e| io(&labels_path, e))?)
            } else {
                None
            };
            return Ok(Artefact::Nnef {
                path: path.to_path_buf(),
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
        let read = |name: &str| -> Result<ParamsSource> { Ok(ParamsSource::File(path.join(name))) };
        return gather(&origin, &files, read);
    }
    // A file: an archive. Tell NNEF from SageMaker by what is inside, not by the name.
    let members = read_archive(path)?;
    if members.iter().any(|(n, _)| n == "graph.nnef") {
        let labels = members
            .into_iter()
            .find(|(n, _)| n == "labels.txt")
            .map(|(_, d)| d);
        return Ok(Artefact::Nnef {
            path: path.to_path_buf(),
            labels,
        });
    }
    let names: Vec<String> = members.iter().map(|(n, _)| n.clone()).collect();
    let origin = path.display().to_string();
    let mut members = members;
    gather(&origin, &names, |name| {
        let i = members
            .iter()
            .position(|(n, _)| n == name)
            .expect("listed member");
        Ok(ParamsSource::Memory(std::mem::take(&mut members[i].1)))
    })
}

/// Pick the files of a checkpoint from `names` (the directory or archive listing).
fn gather(
    origin: &str,
    names: &[String],
    mut read: impl FnMut(&str) -> Result<ParamsSource>,
) -> Result<Artefact> {
    let found = || {
        if names.is_empty() {
            "nothing".to_string()
        } else {
            names.join(", ")
        }
    };
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
    let labels = if names.iter().any(|n| n == "labels.txt") {
        Some(read("labels.txt")?.into_bytes()?)
    } else {
        None
    };
    Ok(Artefact::Mxnet(MxnetFiles {
        origin: origin.to_string(),
        symbol: read(&symbol_name)?.into_bytes()?,
        params: read(params_name)?,
        params_name: params_name.clone(),
        symbol_name,
        epoch,
        model_shapes: read("model-shapes.json")?.into_bytes()?,
        labels,
    }))
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

/// Every regular file of a tar / tar.gz archive, by base name (SageMaker's archive is flat;
/// `tar -C dir .` adds `./`).
fn read_archive(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let mut head = [0u8; 2];
    let gz = {
        let mut f = &file;
        f.read_exact(&mut head).is_ok() && head == [0x1f, 0x8b]
    };
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let bad = |e: std::io::Error| {
        model_not_found(format!(
            "{}: not a model directory, nor a readable tar/tar.gz archive ({e})",
            path.display()
        ))
    };
    let mut archive = tar::Archive::new(reader);
    let mut out = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let base = name
            .trim_start_matches("./")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        let size = entry.header().size().map_err(bad)?;
        if size > MAX_MEMBER_BYTES {
            return Err(Error::new(
                crate::error::Code::MemoryLimit,
                format!(
                    "{}: archive member {name} claims {size} bytes (limit {MAX_MEMBER_BYTES})",
                    path.display()
                ),
            ));
        }
        let mut data = Vec::new();
        entry
            .by_ref()
            .take(size)
            .read_to_end(&mut data)
            .map_err(bad)?;
        if data.len() as u64 != size {
            return Err(bad(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("member {name} is truncated"),
            )));
        }
        out.push((base, data));
    }
    if out.is_empty() {
        return Err(model_not_found(format!(
            "{}: the archive holds no files",
            path.display()
        )));
    }
    Ok(out)
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
        let read = |n: &str| Ok(ParamsSource::Memory(n.as_bytes().to_vec()));
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
