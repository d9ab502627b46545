//! Reading a model archive (tar or tar.gz) within bounds: a model file arrives from S3 or a fleet
//! deployment, so a truncated, corrupt or hostile archive is a real input.
//!
//! The archive is streamed twice. The first pass ([`index`]) lists the members, keeping only the
//! names a model can use, and proves that every member's bytes are really there; the second pass
//! ([`walk`]) hands the chosen members to the loader, which reads them straight from the stream
//! (the `.params` records into their arrays, with no whole-file copy). Members the loader does not
//! use are streamed past, never held. Both passes stop at [`MAX_ARCHIVE_BYTES`] of decompressed
//! data, so a gzip bomb costs at most that much inflating (about a second), not minutes or
//! gigabytes.

use std::cell::Cell;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use crate::error::{io, memory_limit, model_not_found, Error, Result};

/// Decompressed bytes one pass may stream (headers and every member, used or not). The largest
/// SageMaker image-classification checkpoint (ResNet-152) is ~240 MB; this leaves room for four
/// such checkpoints in one archive.
pub const MAX_ARCHIVE_BYTES: u64 = 1 << 30;
/// Members (of any type) one archive may hold: a real model has a handful (NNEF: one `.dat` per
/// tensor, a few hundred).
pub const MAX_MEMBERS: u64 = 65_536;
/// The longest member path: ustar's own limit (155 + 100); GNU long names beyond it are refused
/// without reading them whole.
pub const MAX_NAME_BYTES: u64 = 255;
/// A pax extended header (per-member metadata; macOS tar writes them for extended attributes).
pub const MAX_PAX_BYTES: u64 = 64 << 10;
/// The symbol JSON, NNEF's `graph.nnef` and `graph.quant`: ResNet-152's symbol is ~400 KB.
pub const MAX_GRAPH_BYTES: u64 = 4 << 20;
/// `model-shapes.json`: one shape.
pub const MAX_SHAPES_BYTES: u64 = 64 << 10;
/// `labels.txt`: 22k ImageNet class names take ~0.5 MB.
pub const MAX_LABELS_BYTES: u64 = 16 << 20;

/// What a member is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Directory,
    Link,
    Other,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::File => "a regular file",
            Kind::Directory => "a directory",
            Kind::Link => "a link",
            Kind::Other => "a special file",
        }
    }
}

/// One member: its path (without a leading `./`), type and size in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub path: String,
    pub kind: Kind,
    pub size: u64,
}

impl Member {
    /// The last path component (SageMaker's archive is flat; `tar -C dir .` adds `./`).
    pub fn base(&self) -> &str {
        self.path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or("")
    }
}

/// Whether a member named `base` can be part of a model (the first pass keeps only these).
fn is_candidate(base: &str) -> bool {
    base.ends_with("-symbol.json")
        || base.ends_with(".params")
        || base == "model-shapes.json"
        || base == "labels.txt"
        || base == "graph.nnef"
        || base == "graph.quant"
        || base.ends_with(".dat")
}

/// The first pass's listing.
#[derive(Debug)]
pub struct Index {
    /// Members that may be model files, in archive order (any type: a link named like a model
    /// file is kept so that the loader can say so).
    pub members: Vec<Member>,
    /// How many members the archive holds.
    pub count: u64,
    /// The first few paths, for messages.
    pub listing: Vec<String>,
}

const LISTED: usize = 24;

impl Index {
    /// Every kept member whose base name is `base`.
    pub fn named<'a>(&'a self, base: &'a str) -> impl Iterator<Item = &'a Member> + 'a {
        self.members.iter().filter(move |m| m.base() == base)
    }

    /// The one regular file named `base`: an error names a duplicate, or a link or directory in
    /// its place. `Ok(None)` when there is none.
    pub fn one<'a>(&'a self, origin: &str, base: &'a str) -> Result<Option<&'a Member>> {
        let all: Vec<&Member> = self.named(base).collect();
        match all.as_slice() {
            [] => Ok(None),
            [m] if m.kind == Kind::File => Ok(Some(m)),
            [m] => Err(model_not_found(format!(
                "{origin}: archive member {} is {}, not a regular file",
                m.path,
                m.kind.describe()
            ))),
            many => Err(model_not_found(format!(
                "{origin}: the archive holds {} members named {base} ({}): which one is meant?",
                many.len(),
                many.iter()
                    .map(|m| format!("{} ({})", m.path, m.kind.describe()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// "a, b, c (and N more)" for messages.
    pub fn found(&self) -> String {
        if self.count == 0 {
            return "nothing".into();
        }
        let mut s = self.listing.join(", ");
        if self.count > self.listing.len() as u64 {
            s += &format!(" (and {} more)", self.count - self.listing.len() as u64);
        }
        s
    }
}

/// Refuse `member` when it is larger than `ceiling` (`what` says which file it is).
pub fn check_ceiling(origin: &str, member: &Member, what: &str, ceiling: u64) -> Result<()> {
    if member.size > ceiling {
        return Err(memory_limit(format!(
            "{origin}: {what} {} is {} bytes; the largest accepted is {ceiling} bytes",
            member.path, member.size
        )));
    }
    Ok(())
}

/// The first pass: list the archive at `path`, checking that it is a readable tar stream within
/// [`MAX_ARCHIVE_BYTES`] and [`MAX_MEMBERS`] whose members all hold the bytes they claim.
pub fn index(path: &Path) -> Result<Index> {
    let origin = path.display().to_string();
    let mut index = Index {
        members: Vec::new(),
        count: 0,
        listing: Vec::new(),
    };
    walk(path, |m, _| {
        index.count += 1;
        if index.listing.len() < LISTED {
            index.listing.push(m.path.clone());
        }
        if is_candidate(m.base()) {
            // Model files too large to be what they are named: refused by their headers, before
            // streaming them (a 1 GB symbol file of whitespace costs nothing).
            let base = m.base();
            if base.ends_with("-symbol.json") || base == "graph.nnef" || base == "graph.quant" {
                check_ceiling(&origin, m, "the graph file", MAX_GRAPH_BYTES)?;
            } else if base == "model-shapes.json" {
                check_ceiling(&origin, m, "model-shapes.json", MAX_SHAPES_BYTES)?;
            } else if base == "labels.txt" {
                check_ceiling(&origin, m, "labels.txt", MAX_LABELS_BYTES)?;
            }
            index.members.push(m.clone());
        }
        Ok(true)
    })?;
    if index.count == 0 {
        return Err(model_not_found(format!(
            "{}: the archive holds no files",
            path.display()
        )));
    }
    Ok(index)
}

/// Counts the decompressed bytes read and fails past [`MAX_ARCHIVE_BYTES`]; `over` tells the
/// error apart from the tar reader's own ones.
struct Capped<R> {
    inner: R,
    read: u64,
    over: Rc<Cell<bool>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = (MAX_ARCHIVE_BYTES + 1).saturating_sub(self.read);
        if room == 0 {
            self.over.set(true);
            return Err(std::io::Error::other("decompressed size ceiling reached"));
        }
        let want = buf.len().min(room.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        if self.read > MAX_ARCHIVE_BYTES {
            self.over.set(true);
            return Err(std::io::Error::other("decompressed size ceiling reached"));
        }
        Ok(n)
    }
}

/// Stream the archive at `path`, calling `visit` with each member (regular files, directories,
/// links; GNU long names and pax headers are applied, bounded) and a reader of its data, which
/// `visit` may read or leave (the rest is streamed past). `visit` returns `false` to stop.
pub fn walk(
    path: &Path,
    mut visit: impl FnMut(&Member, &mut dyn Read) -> Result<bool>,
) -> Result<()> {
    let origin = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let file_len = file.metadata().map_err(|e| io(path, e))?.len();
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
    let over = Rc::new(Cell::new(false));
    let capped = Capped {
        inner: reader,
        read: 0,
        over: over.clone(),
    };
    let bad = |e: std::io::Error| -> Error {
        if over.get() {
            return memory_limit(format!(
                "{origin}: the archive decompresses to more than {MAX_ARCHIVE_BYTES} bytes, the most a model archive may hold"
            ));
        }
        let what = if e.kind() == std::io::ErrorKind::UnexpectedEof
            || e.to_string().contains("unexpected EOF")
        {
            "it is truncated: "
        } else {
            ""
        };
        model_not_found(format!(
            "{origin}: not a model directory, nor a readable tar/tar.gz archive ({what}{e})"
        ))
    };
    let mut archive = tar::Archive::new(capped);
    let entries = archive.entries().map_err(bad)?.raw(true);
    let mut count = 0u64;
    let mut claimed = 0u64;
    let mut long_name: Option<Vec<u8>> = None;
    let mut pax_path: Option<Vec<u8>> = None;
    let mut pax_size: Option<u64> = None;
    for entry in entries {
        let mut entry = entry.map_err(bad)?;
        count += 1;
        if count > MAX_MEMBERS {
            return Err(memory_limit(format!(
                "{origin}: the archive holds more than {MAX_MEMBERS} members, the most a model archive may hold"
            )));
        }
        let header = entry.header();
        let kind = header.entry_type();
        let size = header.size().map_err(bad)?;
        // A plain tar's member cannot hold more than the file: say so before streaming to its end.
        if !gz && entry.raw_file_position().saturating_add(size) > file_len {
            return Err(model_not_found(format!(
                "{origin}: archive member {} claims {size} bytes, but the archive ends {} bytes after its start (truncated or corrupt)",
                String::from_utf8_lossy(&entry.path_bytes()),
                file_len.saturating_sub(entry.raw_file_position())
            )));
        }
        if kind.is_gnu_longname() || kind.is_pax_local_extensions() {
            let (limit, what) = if kind.is_gnu_longname() {
                (MAX_NAME_BYTES, "GNU long name")
            } else {
                (MAX_PAX_BYTES, "pax extended header")
            };
            // A GNU long name ends in a NUL.
            if size > limit + kind.is_gnu_longname() as u64 {
                return Err(model_not_found(format!(
                    "{origin}: archive member {count} has a {what} of {size} bytes; the longest accepted is {limit} bytes"
                )));
            }
            let mut data = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut data).map_err(bad)?;
            if (data.len() as u64) < size {
                return Err(bad(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the {what} of member {count} is cut short"),
                )));
            }
            if kind.is_gnu_longname() {
                while data.last() == Some(&0) {
                    data.pop();
                }
                long_name = Some(data);
            } else {
                for (key, value) in pax_records(&data) {
                    match key {
                        b"path" => pax_path = Some(value.to_vec()),
                        b"size" => {
                            pax_size = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok())
                        }
                        _ => {}
                    }
                }
            }
            continue;
        }
        if kind.is_gnu_longlink() || kind.is_pax_global_extensions() {
            // A link's target and archive-wide metadata: never used.
            continue;
        }
        let raw_name = pax_path
            .take()
            .or_else(|| long_name.take())
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        if raw_name.len() as u64 > MAX_NAME_BYTES {
            return Err(model_not_found(format!(
                "{origin}: archive member {count} has a name of {} bytes; the longest accepted is {MAX_NAME_BYTES}",
                raw_name.len()
            )));
        }
        let name = String::from_utf8_lossy(&raw_name);
        let name = name.trim_start_matches("./").to_string();
        if let Some(claimed) = pax_size.take() {
            // Only archives of members over 8 GiB need a pax size: none is a model.
            if claimed != size {
                return Err(model_not_found(format!(
                    "{origin}: archive member {name}: its pax header says {claimed} bytes, its tar header {size} (pax sizes are for members over 8 GiB, more than a model archive may hold)"
                )));
            }
        }
        // The claims are what streaming past a member costs: refuse a bomb by its headers, before
        // inflating it (Capped stays the backstop for what the headers do not say).
        claimed = claimed.saturating_add(512 + size.div_ceil(512) * 512);
        if claimed > MAX_ARCHIVE_BYTES {
            return Err(memory_limit(format!(
                "{origin}: archive member {name} claims {size} bytes, which takes the archive past {MAX_ARCHIVE_BYTES} bytes decompressed, the most a model archive may hold"
            )));
        }
        let kind = if kind.is_file() {
            Kind::File
        } else if kind.is_dir() {
            Kind::Directory
        } else if kind.is_symlink() || kind.is_hard_link() {
            Kind::Link
        } else {
            Kind::Other
        };
        let member = Member {
            path: name,
            kind,
            size: if kind == Kind::File { size } else { 0 },
        };
        let mut data: &mut dyn Read = &mut entry;
        if !visit(&member, &mut data)? {
            return Ok(());
        }
    }
    Ok(())
}

/// The `key=value` records of a pax extended header (`"<len> <key>=<value>\n"` each).
fn pax_records(mut data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let Some(space) = data.iter().position(|&b| b == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            break;
        };
        if len <= space + 1 || len > data.len() {
            break;
        }
        let record = &data[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((&record[..eq], &record[eq + 1..]));
        }
        data = &data[len..];
    }
    out
}

/// Read all of `member` (at most `member.size` bytes, checked against the load's memory limit
/// first) from `data`; an error when fewer bytes arrive.
pub fn read_member(origin: &str, member: &Member, data: &mut dyn Read) -> Result<Vec<u8>> {
    crate::mem::heap::reserve(
        || format!("{origin}: reading archive member {}", member.path),
        member.size,
    )?;
    let mut out = Vec::with_capacity(member.size as usize);
    data.take(member.size).read_to_end(&mut out).map_err(|e| {
        model_not_found(format!(
            "{origin}: cannot read archive member {} ({e})",
            member.path
        ))
    })?;
    if (out.len() as u64) != member.size {
        return Err(model_not_found(format!(
            "{origin}: archive member {} is truncated: {} of {} bytes",
            member.path,
            out.len(),
            member.size
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_are_split() {
        let data = b"20 path=a/long.json\n11 size=42\n";
        let r = pax_records(data);
        assert_eq!(
            r,
            vec![
                (&b"path"[..], &b"a/long.json"[..]),
                (&b"size"[..], &b"42"[..])
            ]
        );
        assert!(pax_records(b"99 path=x\n").is_empty());
    }

    #[test]
    fn base_names() {
        let m = |p: &str| Member {
            path: p.into(),
            kind: Kind::File,
            size: 0,
        };
        assert_eq!(m("a/b/model-shapes.json").base(), "model-shapes.json");
        assert_eq!(m("labels.txt").base(), "labels.txt");
        assert_eq!(m("dir/").base(), "dir");
    }
}
