//! Shared helpers for the integration tests: fixture paths, MXNet goldens, comparisons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use edgeclass::npy::Npy;
use edgeclass::Code;
use serde_json::Value;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The full-size model `name` (resnet18-224, resnet50-224) in tests/fixtures/full or
/// $EDGECLASS_FULL_MODELS, or `None` after saying it is skipped: the params are too big to
/// commit (`scripts/make-full-models.sh` regenerates them). With EDGECLASS_REQUIRE_FULL_MODELS=1
/// (CI) a missing model is a failure.
pub fn full_model(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("EDGECLASS_FULL_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures().join("full"))
        .join(name);
    if dir.join("image-classification-0000.params").exists() {
        return Some(dir);
    }
    let required = std::env::var("EDGECLASS_REQUIRE_FULL_MODELS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{}: full-size model missing; run scripts/make-full-models.sh",
        dir.display()
    );
    eprintln!(
        "SKIPPED {name}: {} not found (run scripts/make-full-models.sh)",
        dir.display()
    );
    None
}

/// One MXNet golden record with a tensor input.
pub struct Golden {
    pub image: String,
    pub probs: Vec<f32>,
    pub logits: Vec<f32>,
    pub top5: Vec<usize>,
    pub top5_probs: Vec<f32>,
    /// sha256 of the float32 NCHW input MXNet was given (image records).
    pub input_sha256: Option<String>,
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
            input_sha256: r
                .get("input_sha256")
                .and_then(|v| v.as_str())
                .map(str::to_string),
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

/// A uint8 `.npy` (decoded reference images): shape and values.
pub fn npy_u8(bytes: &[u8]) -> (Vec<usize>, Vec<u8>) {
    let npy = Npy::parse(bytes).unwrap();
    assert_eq!(npy.dtype, edgeclass::npy::NpyDtype::U8);
    (npy.shape.clone(), npy.data.to_vec())
}

/// A float32 `.npy` (preprocessed model inputs): shape and values.
pub fn npy_f32(bytes: &[u8]) -> (Vec<usize>, Vec<f32>) {
    let npy = Npy::parse(bytes).unwrap();
    (npy.shape.clone(), npy.to_f32().unwrap())
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

/// The issue's tolerances: |dprob| <= 1e-4, |dlogit| <= 1e-4 * max|logit| + 1e-5, and the same
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

/// sha256 of an f32 tensor's little-endian bytes: what the goldens' `input_sha256` records.
pub fn tensor_sha256(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    sha256_hex(&bytes)
}

/// SHA-256 (FIPS 180-4), to compare our input tensors with the goldens' `input_sha256`.
pub fn sha256_hex(data: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[4 * i..4 * i + 4].try_into().unwrap());
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let mut v = h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7]
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [
                t1.wrapping_add(t2),
                v[0],
                v[1],
                v[2],
                v[3].wrapping_add(t1),
                v[4],
                v[5],
                v[6],
            ];
        }
        for i in 0..8 {
            h[i] = h[i].wrapping_add(v[i]);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

/// The code every "error" / "either" file of `images/` must fail with (the "either" files are
/// refused by the default build): image_decode.rs at the decoder, service.rs through a service.
pub const IMAGE_ERRORS: &[(&str, Code)] = &[
    ("bmp_content_named_jpg.jpg", Code::UnsupportedImageFormat),
    ("empty.jpg", Code::UnsupportedImageFormat),
    ("jpeg_arithmetic.jpg", Code::UnsupportedImageFeature),
    ("jpeg_header_only.jpg", Code::CorruptImage),
    ("jpeg_huge_header_30000x30000.jpg", Code::ImageTooLarge),
    ("jpeg_huge_header_65500x65500.jpg", Code::ImageTooLarge),
    ("jpeg_truncated.jpg", Code::CorruptImage),
    ("png_bad_crc.png", Code::CorruptImage),
    ("png_huge_header_30000x30000.png", Code::ImageTooLarge),
    ("png_truncated.png", Code::CorruptImage),
    ("random_bytes.jpg", Code::UnsupportedImageFormat),
    ("text_file.png", Code::UnsupportedImageFormat),
];

/// Every fixture image, good and hostile (`images/`) plus the tiny-trained digits, sorted by
/// name: the stress tests' workload.
pub fn stress_images() -> Vec<(String, Vec<u8>)> {
    let f = fixtures();
    let mut images: Vec<(String, Vec<u8>)> = Vec::new();
    for dir in ["images", "tiny-trained/images"] {
        for e in std::fs::read_dir(f.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "jpg" || x == "png") {
                images.push((
                    format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    images.sort();
    images
}

/// Connector parameters of a tiny-trained service.
pub fn tiny_service_params(
    name: &str,
    memory_kb: u64,
    workers: usize,
) -> std::collections::BTreeMap<String, String> {
    let model = fixtures().join("tiny-trained");
    [
        (
            "MLModelDestinationPath",
            model.to_str().unwrap().to_string(),
        ),
        ("LocalInferenceServiceName", name.to_string()),
        ("LocalInferenceServiceTimeoutSeconds", "30".to_string()),
        ("LocalInferenceServiceMemoryLimitKB", memory_kb.to_string()),
        ("EdgeclassWorkers", workers.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The memory limit (KB) a user would give a tiny-trained service with `workers` workers that
/// must accept every decodable image in `images`: what the service holds, plus per worker the
/// largest decode among them, plus 5 %; or the loading peak when that is more.
pub fn tiny_limit_kb(images: &[(String, Vec<u8>)], workers: usize) -> u64 {
    use edgeclass::service::{Service, ServiceConfig};
    let config =
        ServiceConfig::from_parameters(&tiny_service_params("sizing", 1_000_000, workers)).unwrap();
    let probe = Service::open(config).unwrap();
    let largest = images
        .iter()
        .filter_map(|(_, b)| edgeclass::image::probe("image/jpeg", b, &probe.config().decode).ok())
        .map(|i| edgeclass::image::buffer_bytes_for(&i) as u64)
        .max()
        .unwrap();
    let b = probe.budget();
    let need = b.load_peak_bytes.max(b.fixed_bytes() + b.workers * largest);
    (need + need / 20).div_ceil(1024)
}

/// A command running `program`, a binary built for the target: through the runner named by
/// `EDGECLASS_TEST_RUNNER` when one is set (cross/run.sh sets it to the qemu-user command line
/// that .cargo/config.toml uses, since a test under emulation cannot exec an ARM binary itself).
pub fn target_command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    match std::env::var("EDGECLASS_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut c = std::process::Command::new(words.next().unwrap());
            c.args(words).arg(program);
            c
        }
        _ => std::process::Command::new(program),
    }
}

/// Whether the tests run under an emulator (see `target_command`): wall-clock and RSS figures
/// are the emulator's then, not the library's.
pub fn emulated() -> bool {
    std::env::var("EDGECLASS_TEST_RUNNER").is_ok_and(|r| !r.trim().is_empty())
}

/// A wall-clock bound sized for native speed, widened under an emulator (qemu-user runs this
/// code 10-30 times slower, sharing the cores with the other target's suite): a hang still fails,
/// a slow emulated instruction stream does not.
pub fn time_bound(native: std::time::Duration) -> std::time::Duration {
    if emulated() {
        native * 30
    } else {
        native
    }
}

/// How many model swaps the hot-swap tests make: 20 natively; 4 under an emulator, where each
/// swap's load and warm-up of the slim ResNet-18 takes seconds, not milliseconds (4 still swaps
/// each way twice; the swap code is the same on every target, and the native run makes all 20).
pub fn model_swaps() -> usize {
    if emulated() {
        4
    } else {
        20
    }
}

/// A hostile fixture's error message against its `expected.json` entry: each pattern of
/// `error_should_match_each_regex_case_insensitive` (alternatives split on `|`) must occur in it.
pub fn check_message(case: &str, spec: &Value, message: &str) {
    let msg = message.to_lowercase();
    for pattern in spec["error_should_match_each_regex_case_insensitive"]
        .as_array()
        .unwrap()
    {
        let alternatives: Vec<String> = pattern
            .as_str()
            .unwrap()
            .split('|')
            .map(|s| s.to_lowercase())
            .collect();
        assert!(
            alternatives.iter().any(|a| msg.contains(a.as_str())),
            "{case}: message {message:?} matches none of {alternatives:?}"
        );
    }
}

/// Writes a deliberately slow model: a 3x3 convolution repeated `layers` times (one shared
/// weight) on 32x96x96 activations, then global pooling, a 2-class FC and softmax.
pub fn write_slow_model(dir: &Path, layers: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut nodes = vec![
        r#"{"op":"null","name":"data","inputs":[]}"#.to_string(),
        r#"{"op":"null","name":"conv0_weight","inputs":[]}"#.to_string(),
        r#"{"op":"Convolution","name":"conv0","attrs":{"kernel":"(3, 3)","pad":"(1, 1)","num_filter":"32","no_bias":"True"},"inputs":[[0,0,0],[1,0,0]]}"#.to_string(),
        r#"{"op":"null","name":"shared_weight","inputs":[]}"#.to_string(),
    ];
    let mut last = 2;
    for i in 0..layers {
        nodes.push(format!(
            r#"{{"op":"Convolution","name":"conv{}","attrs":{{"kernel":"(3, 3)","pad":"(1, 1)","num_filter":"32","no_bias":"True"}},"inputs":[[{last},0,0],[3,0,0]]}}"#,
            i + 1
        ));
        last = nodes.len() - 1;
    }
    let n = nodes.len();
    nodes.push(format!(r#"{{"op":"Pooling","name":"pool1","attrs":{{"global_pool":"True","kernel":"(7, 7)","pool_type":"avg"}},"inputs":[[{last},0,0]]}}"#));
    nodes.push(format!(
        r#"{{"op":"Flatten","name":"flatten0","inputs":[[{n},0,0]]}}"#
    ));
    nodes.push(r#"{"op":"null","name":"fc1_weight","inputs":[]}"#.to_string());
    nodes.push(r#"{"op":"null","name":"fc1_bias","inputs":[]}"#.to_string());
    nodes.push(format!(r#"{{"op":"FullyConnected","name":"fc1","attrs":{{"num_hidden":"2"}},"inputs":[[{},0,0],[{},0,0],[{},0,0]]}}"#, n + 1, n + 2, n + 3));
    nodes.push(format!(
        r#"{{"op":"SoftmaxOutput","name":"softmax","inputs":[[{},0,0]]}}"#,
        n + 4
    ));
    let symbol = format!(
        r#"{{"nodes":[{}],"arg_nodes":[0],"heads":[[{},0,0]]}}"#,
        nodes.join(","),
        n + 5
    );
    std::fs::write(dir.join("image-classification-symbol.json"), symbol).unwrap();
    std::fs::write(
        dir.join("model-shapes.json"),
        r#"[{"shape": [1, 3, 96, 96], "name": "data"}]"#,
    )
    .unwrap();
    // Averaging kernels keep the activations bounded however deep the stack is.
    let arrays: Vec<(&str, Vec<usize>, Vec<f32>)> = vec![
        (
            "arg:conv0_weight",
            vec![32, 3, 3, 3],
            vec![1.0 / 27.0 / 255.0; 32 * 27],
        ),
        (
            "arg:shared_weight",
            vec![32, 32, 3, 3],
            vec![1.0 / 288.0; 32 * 288],
        ),
        (
            "arg:fc1_weight",
            vec![2, 32],
            (0..64).map(|i| if i < 32 { 1.0 } else { -1.0 }).collect(),
        ),
        ("arg:fc1_bias", vec![2], vec![0.0, 0.0]),
    ];
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0x112u64.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&(arrays.len() as u64).to_le_bytes());
    for (_, shape, data) in &arrays {
        bytes.extend_from_slice(&0xF993_FAC9u32.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes());
        bytes.extend_from_slice(&(shape.len() as i32).to_le_bytes());
        for d in shape {
            bytes.extend_from_slice(&(*d as i64).to_le_bytes());
        }
        bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    bytes.extend_from_slice(&(arrays.len() as u64).to_le_bytes());
    for (name, _, _) in &arrays {
        bytes.extend_from_slice(&(name.len() as u64).to_le_bytes());
        bytes.extend_from_slice(name.as_bytes());
    }
    std::fs::write(dir.join("image-classification-0001.params"), bytes).unwrap();
}
