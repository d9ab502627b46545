//! The layout's rules, checked on the sources (issue 15): data flows one way, so the lower
//! modules never name the higher ones, and no file under src/ grows past 800 lines.
//!
//! Lower → higher: `error`, `names`, `mem`, `image`, `model` → `classifier` → `service` →
//! `client`, `feedback` → `ffi`. A comment may mention a higher module; code may not.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The code of a file: each line with its `//` comment cut off (string contents are kept; none
/// of the names below appear in a string literal).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("").to_string()))
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn lower_modules_never_import_higher_ones() {
    let rules: &[(&str, &[&str])] = &[
        (
            "mem",
            &["service", "feedback", "ffi", "classifier", "model", "image"],
        ),
        (
            "image",
            &["service", "feedback", "ffi", "classifier", "model"],
        ),
        ("model", &["service", "feedback", "ffi", "classifier"]),
        ("classifier.rs", &["service", "feedback", "ffi"]),
        ("service", &["feedback", "ffi", "client"]),
        ("client.rs", &["feedback", "ffi"]),
        ("feedback", &["ffi"]),
    ];
    let mut broken = Vec::new();
    for (module, higher) in rules {
        let path = src().join(module);
        let files = if path.is_dir() {
            sources(&path)
        } else {
            vec![path]
        };
        assert!(!files.is_empty(), "{module}: no sources");
        for file in files {
            for (n, line) in code_lines(&file) {
                for h in *higher {
                    if line.contains(&format!("crate::{h}")) {
                        broken.push(format!("{}:{n}: {}", file.display(), line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the flow:\n{}",
        broken.join("\n")
    );
}

#[test]
fn no_source_file_is_over_800_lines() {
    let long: Vec<String> = sources(&src())
        .into_iter()
        .map(|f| (std::fs::read_to_string(&f).unwrap().lines().count(), f))
        .filter(|(n, _)| *n > 800)
        .map(|(n, f)| format!("{}: {n} lines", f.display()))
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}
