//! Shared helpers for the integration tests: fixture paths, MXNet goldens, comparisons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use edgeclass::npy::Npy;
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// One MXNet golden record with a tensor input.
pub struct Golden {
    pub image: String,
    pub probs: Vec<f32>,
    pub logits: Vec<f32>,
    pub top5: Vec<usize>,
    pub top5_probs: Vec<f32>,
}

pub fn load_goldens(path: &Path) -> Vec<Golden> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap();
    let floats = |r: &Value, k: &str| -> Vec<f32> {
        r[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    v.as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("error").is_none())
        .map(|r| Golden {
            image: r["image"].as_str().unwrap().to_string(),
            probs: floats(r, "probs"),
            logits: floats(r, "logits"),
            top5: r["top5"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect(),
            top5_probs: floats(r, "top5_probs"),
        })
        .collect()
}

/// The closed-form pattern tensors of the fixtures README, or None for other names.
pub fn pattern(name: &str, shape: [usize; 4]) -> Option<Vec<f32>> {
    let [_, c, h, w] = shape;
    let f: fn(usize, usize, usize) -> f32 = match name {
        "pattern_mod" => |c, y, x| ((7 * x + 3 * y + 37 * c) % 256) as f32,
        "pattern_xor" => |c, y, x| (((x ^ y) * (c + 1)) % 256) as f32,
        "const_128" => |_, _, _| 128.0,
        _ => return None,
    };
    let mut v = Vec::with_capacity(c * h * w);
    for ci in 0..c {
        for y in 0..h {
            for x in 0..w {
                v.push(f(ci, y, x));
            }
        }
    }
    Some(v)
}

pub fn read_npy_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Npy::parse(&bytes).unwrap().to_f32().unwrap()
}

/// The input tensor for a golden: a pattern, or `<dir>/<image with / as __>.npy` when present.
pub fn golden_input(g: &Golden, shape: [usize; 4], npy_dir: &Path) -> Option<Vec<f32>> {
    if let Some(p) = pattern(&g.image, shape) {
        return Some(p);
    }
    let p = npy_dir.join(format!("{}.npy", g.image.replace('/', "__")));
    p.exists().then(|| read_npy_f32(&p))
}

/// The tolerances: |dprob| <= 1e-4, |dlogit| <= 1e-4 * max|logit| + 1e-5, and the same
/// top-5 (a swap is accepted only between classes whose golden logits are within tolerance, i.e.
/// a tie MXNet's own backends could order either way). Ranks whose golden probability underflowed
/// to 0 or a subnormal are not compared: their order means nothing (fixtures README).
/// Returns (max dprob, max dlogit).
pub fn assert_matches(what: &str, probs: &[f32], logits: &[f32], g: &Golden) -> (f32, f32) {
    assert_eq!(probs.len(), g.probs.len(), "{what}: class count");
    let dprob = probs
        .iter()
        .zip(&g.probs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let dlogit = logits
        .iter()
        .zip(&g.logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let max_logit = g.logits.iter().map(|x| x.abs()).fold(0f32, f32::max);
    let logit_tol = 1e-4 * max_logit + 1e-5;
    assert!(dprob <= 1e-4, "{what}: max |dprob| {dprob} > 1e-4");
    assert!(
        dlogit <= logit_tol,
        "{what}: max |dlogit| {dlogit} > {logit_tol}"
    );
    let ours = edgeclass::model::top_k(probs, g.top5.len());
    for (rank, (&a, &b)) in ours.iter().zip(&g.top5).enumerate() {
        if a != b && g.top5_probs[rank] >= f32::MIN_POSITIVE {
            let gap = (g.logits[a] - g.logits[b]).abs();
            assert!(
                gap <= 2.0 * logit_tol,
                "{what}: top-5 rank {rank} is class {a}, MXNet says {b} (logit gap {gap})"
            );
        }
    }
    (dprob, dlogit)
}
