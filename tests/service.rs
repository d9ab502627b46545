//! The local inference service: parameters, registry, memory budget, deadlines, cancel and
//! concurrency, through the Rust API (the C ABI has the same tests in ffi-tests/).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use edgeclass::service::{registry, Request, Service, ServiceConfig};
use edgeclass::Code;

fn params(
    name: &str,
    model: &Path,
    memory_kb: u64,
    extra: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [
        ("MLModelDestinationPath", model.to_str().unwrap()),
        ("MLModelResourceId", "my-ml-resource"),
        (
            "MLModelSageMakerJobArn",
            "arn:aws:sagemaker:us-west-2:123456789012:training-job:MyImageClassifier",
        ),
        ("LocalInferenceServiceName", name),
        ("LocalInferenceServiceTimeoutSeconds", "10"),
        ("GPUAcceleration", "CPU"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    p.insert(
        "LocalInferenceServiceMemoryLimitKB".into(),
        memory_kb.to_string(),
    );
    for (k, v) in extra {
        p.insert(k.to_string(), v.to_string());
    }
    p
}

fn open(
    name: &str,
    model: &Path,
    memory_kb: u64,
    extra: &[(&str, &str)],
) -> edgeclass::Result<Service> {
    Service::open(ServiceConfig::from_parameters(&params(
        name, model, memory_kb, extra,
    ))?)
}

fn digit(name: &str) -> Vec<u8> {
    std::fs::read(fixtures().join("tiny-trained/images").join(name)).unwrap()
}

#[test]
fn classify_matches_mxnet_and_the_direct_path() {
    let service = open("tiny", &fixtures().join("tiny-trained"), 200_000, &[]).unwrap();
    let goldens = load_goldens(&fixtures().join("tiny-trained/goldens.json"));
    for name in [
        "digit07_label3_28x28.png",
        "digit11_label5_14x14.png",
        "digit19_label9_112x112.png",
    ] {
        let out = service.classify("image/png", &digit(name), None).unwrap();
        let g = goldens.iter().find(|g| g.image.ends_with(name)).unwrap();
        assert_matches(name, &out.probs, out.logits.as_ref().unwrap(), g);
        assert!(out.stats.inference_us > 0 && out.stats.decoded_width > 0);
    }
    let s = service.stats();
    assert_eq!((s.requests, s.succeeded, s.failed), (3, 3, 0));
}

#[test]
fn registry_open_close_reopen_and_invoke() {
    let model = fixtures().join("tiny-trained");
    let p = params("registry-test", &model, 200_000, &[]);
    let service = registry::open(&p).unwrap();
    assert_eq!(registry::open(&p).unwrap_err().code, Code::ServiceExists);
    let body = digit("digit07_label3_28x28.png");
    let a = registry::invoke(
        "image-classification",
        "registry-test",
        "image/png",
        &body,
        None,
    )
    .unwrap();
    let b = service.classify("image/png", &body, None).unwrap();
    assert_eq!(a.probs, b.probs);
    let e = registry::invoke(
        "object-detection",
        "registry-test",
        "image/png",
        &body,
        None,
    )
    .unwrap_err();
    assert_eq!(e.code, Code::UnknownService);
    let e = registry::invoke("bad_type", "registry-test", "image/png", &body, None).unwrap_err();
    assert_eq!(e.code, Code::InvalidArgument);
    assert!(registry::close("registry-test"));
    assert!(!registry::close("registry-test"));
    let e = registry::invoke(
        "image-classification",
        "registry-test",
        "image/png",
        &body,
        None,
    )
    .unwrap_err();
    assert_eq!(e.code, Code::UnknownService);
    // Reopen under the same name; the old handle still works until dropped.
    let again = registry::open(&p).unwrap();
    assert_eq!(
        again.classify("image/png", &body, None).unwrap().probs,
        b.probs
    );
    assert_eq!(
        service.classify("image/png", &body, None).unwrap().probs,
        b.probs
    );
    registry::close("registry-test");
}

#[test]
fn bad_images_and_content_types_get_their_codes() {
    let service = open(
        "codes",
        &fixtures().join("tiny-trained"),
        200_000,
        &[("EdgeclassStrictDecoding", "true")],
    )
    .unwrap();
    let img = |n: &str| std::fs::read(fixtures().join("images").join(n)).unwrap();
    let cases = [
        (
            "image/gif",
            img("png_rgb8.png"),
            Code::UnsupportedContentType,
        ),
        (
            "image/jpeg",
            img("png_content_named_jpg.jpg"),
            Code::ContentTypeMismatch,
        ),
        ("image/jpeg", img("jpeg_truncated.jpg"), Code::CorruptImage),
        ("image/jpeg", img("empty.jpg"), Code::UnsupportedImageFormat),
        (
            "image/jpeg",
            img("jpeg_huge_header_30000x30000.jpg"),
            Code::ImageTooLarge,
        ),
        (
            "image/png",
            img("text_file.png"),
            Code::UnsupportedImageFormat,
        ),
    ];
    for (ct, body, code) in cases {
        let e = service.classify(ct, &body, None).unwrap_err();
        assert_eq!(e.code, code, "{ct}: {e}");
    }
    assert_eq!(service.stats().failed, 6);
}

/// Every image of tiny-trained's goldens through a service, the path the C ABI's
/// `edgeclass_classify` takes (moved here from ffi-tests): PNG bytes within 1e-4 of MXNet with
/// the same top-5, JPEG bytes (zune-jpeg) the same top-1 within 0.02, the decoded size MXNet's;
/// the `images/` files that must not decode fail with their code and a message. Then every
/// content type the ABI documents, refused ones, and prefixes of a PNG.
#[test]
fn every_fixture_image_through_a_service() {
    use edgeclass::model::top_k;
    let f = fixtures();
    let service = open("fixture-images", &f.join("tiny-trained"), 500_000, &[]).unwrap();
    let read_json = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(f.join(p)).unwrap()).unwrap()
    };
    let expected = read_json("images/expected.json");
    let goldens = read_json("tiny-trained/goldens.json");
    let content_type = |name: &str| {
        if name.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        }
    };
    let (mut decoded, mut refused) = (0, 0);
    for g in goldens.as_array().unwrap() {
        let name = g["image"].as_str().unwrap();
        let path = f.join(name);
        if !path.exists() {
            continue; // the patterns are tensors, the two timing photos are not committed
        }
        let bytes = std::fs::read(&path).unwrap();
        let got = service.classify(content_type(name), &bytes, None);
        let file = name.strip_prefix("images/");
        let expect = file.map_or("decode", |n| expected[n]["expect"].as_str().unwrap());
        if expect != "decode" {
            let file = file.unwrap();
            let code = IMAGE_ERRORS.iter().find(|(n, _)| *n == file).unwrap().1;
            let e = got.err().unwrap_or_else(|| panic!("{name}: decoded"));
            assert_eq!(e.code, code, "{name}: {e}");
            assert!(e.message.len() > 10, "{name}: message {:?}", e.message);
            refused += 1;
            continue;
        }
        let out = got.unwrap_or_else(|e| panic!("{name}: {e}"));
        let want: Vec<f32> = g["probs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let top5: Vec<usize> = g["top5"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(out.probs.len(), want.len(), "{name}");
        let dprob = out
            .probs
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        if bytes.starts_with(b"\x89PNG") {
            assert!(dprob <= 1e-4, "{name}: |dprob| {dprob}");
            assert_eq!(top_k(&out.probs, 5), top5, "{name}: top-5");
        } else {
            assert!(dprob <= 0.02, "{name}: |dprob| {dprob}");
            assert_eq!(top_k(&out.probs, 1)[0], top5[0], "{name}: top-1");
        }
        let hw = &g["decoded_hw"];
        assert_eq!(
            (
                out.stats.decoded_height as u64,
                out.stats.decoded_width as u64
            ),
            (hw[0].as_u64().unwrap(), hw[1].as_u64().unwrap()),
            "{name}: decoded size"
        );
        decoded += 1;
    }
    assert!(
        decoded >= 50 && refused == IMAGE_ERRORS.len(),
        "{decoded} decoded, {refused} refused"
    );

    let png = digit("digit07_label3_28x28.png");
    for ok in [
        "image/png",
        "image/jpeg",
        "image/jpg",
        "application/x-image",
    ] {
        assert!(service.classify(ok, &png, None).is_ok(), "{ok}");
    }
    for bad in ["text/plain", "", "image/gif", "image", "png"] {
        let e = service.classify(bad, &png, None).unwrap_err();
        assert_eq!(e.code, Code::UnsupportedContentType, "{bad:?}");
    }
    // Every 40th prefix: refused as corrupt or as not an image, never decoded.
    for cut in (1..png.len()).step_by(png.len() / 40 + 1) {
        let e = service
            .classify("image/png", &png[..cut], None)
            .unwrap_err();
        assert!(
            matches!(e.code, Code::CorruptImage | Code::UnsupportedImageFormat),
            "{cut} of {} bytes: {e}",
            png.len()
        );
    }
}

#[test]
fn a_limit_too_small_to_open_says_how_much_is_needed() {
    let e = open("small", &fixtures().join("tiny-trained"), 100, &[]).unwrap_err();
    assert_eq!(e.code, Code::MemoryLimit);
    assert!(
        e.message.contains("needs") && e.message.contains("102400 bytes"),
        "{e}"
    );
}

#[test]
fn an_image_too_large_for_the_budget_is_refused_before_decoding() {
    let model = fixtures().join("tiny-trained");
    let probe = open("probe-budget", &model, 200_000, &[]).unwrap();
    let b = probe.budget();
    assert!(b.measured, "heap accounting is on by default");
    assert!(b.model_bytes > 1_000_000 && b.activation_bytes > 0, "{b:?}");
    assert!(b.load_peak_bytes >= b.model_bytes, "{b:?}");
    // As little as the service can open with, plus 256 KB per request for decoding.
    let kb = b
        .load_peak_bytes
        .max(b.fixed_bytes() + 256 * 1024)
        .div_ceil(1024);
    let service = open("tight", &model, kb, &[]).unwrap();
    let image_bytes = service.budget().image_bytes;
    let small = service
        .classify("image/png", &digit("digit11_label5_14x14.png"), None)
        .unwrap();
    // 8000x8000 is within the pixel caps, but its decode needs ~192 MB.
    let huge = png_header_only(8000, 8000);
    let t = Instant::now();
    let e = service.classify("image/png", &huge, None).unwrap_err();
    assert_eq!(e.code, Code::MemoryLimit);
    assert!(e.message.contains("8000x8000 image needs"), "{e}");
    assert!(
        e.message
            .contains(&format!("has {image_bytes} bytes per request")),
        "{e}"
    );
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "refused from the header, not after decoding"
    );
    assert_eq!(service.stats().refused_memory, 1);
    // Still healthy.
    let again = service
        .classify("image/png", &digit("digit11_label5_14x14.png"), None)
        .unwrap();
    assert_eq!(again.probs, small.probs);
}

#[test]
fn a_tight_deadline_times_out_and_the_service_stays_healthy() {
    let service = open("deadline", &fixtures().join("tiny-trained"), 200_000, &[]).unwrap();
    let body = digit("digit19_label9_112x112.png");
    let reference = service.classify("image/png", &body, None).unwrap();
    let req = Request::new();
    req.set_timeout(Duration::from_nanos(1));
    let e = service
        .classify("image/png", &body, Some(&req))
        .unwrap_err();
    assert_eq!(e.code, Code::Timeout, "{e}");
    let cancelled = Request::new();
    cancelled.cancel();
    assert_eq!(
        service
            .classify("image/png", &body, Some(&cancelled))
            .unwrap_err()
            .code,
        Code::Cancelled
    );
    assert_eq!(
        service.classify("image/png", &body, None).unwrap().probs,
        reference.probs
    );
    let s = service.stats();
    assert_eq!((s.timeouts, s.cancelled, s.succeeded), (1, 1, 2));
}

/// The service's own 1-second timeout against a model that needs several seconds, then a
/// cancel from another thread: both stop within one network node of the moment.
#[test]
fn a_slow_model_times_out_at_one_second_and_cancels_from_another_thread() {
    if std::env::var("EDGECLASS_SKIP_SLOW_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED slow-model timeout test (EDGECLASS_SKIP_SLOW_TESTS=1)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("edgeclass-slow-{}", std::process::id()));
    // 1000 layers: a steady-state run several times the 1 s timeout. With 400 the warm-up took
    // over 1.5 s, but a later run, with its buffers warm on a machine whose load had just
    // dropped, once finished inside the second and the classify succeeded.
    write_slow_model(&dir, 1000);
    let p = params(
        "slow",
        &dir,
        1_000_000,
        &[("LocalInferenceServiceTimeoutSeconds", "1")],
    );
    let t0 = Instant::now();
    let service = Arc::new(Service::open(ServiceConfig::from_parameters(&p).unwrap()).unwrap());
    let full_run = t0.elapsed(); // dominated by the warm-up inference
    let body = digit("digit19_label9_112x112.png");
    eprintln!("slow model: the warm-up inference took {full_run:?}");
    if full_run < Duration::from_millis(1500) {
        eprintln!("that is under 1.5 s: the 1 s timeout check is weak on this machine");
    }
    let t = Instant::now();
    let e = service.classify("image/png", &body, None).unwrap_err();
    let took = t.elapsed();
    assert_eq!(e.code, Code::Timeout, "{e}");
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_millis(1500),
        "timed out after {took:?}"
    );

    let req = Arc::new(Request::new());
    let canceller = {
        let req = req.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            req.cancel();
        })
    };
    let t = Instant::now();
    let e = service
        .classify("image/png", &body, Some(&req))
        .unwrap_err();
    let took = t.elapsed();
    canceller.join().unwrap();
    assert_eq!(e.code, Code::Cancelled, "{e}");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(700),
        "cancelled after {took:?}"
    );
    let s = service.stats();
    assert_eq!((s.timeouts, s.cancelled), (1, 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 8 threads x 50 requests on a service with 2 workers: every answer bit-equal to the serial one.
#[test]
fn concurrent_requests_equal_serial_answers() {
    let service = Arc::new(
        open(
            "concurrent",
            &fixtures().join("tiny-trained"),
            300_000,
            &[("EdgeclassWorkers", "2")],
        )
        .unwrap(),
    );
    let dir = fixtures().join("tiny-trained/images");
    let mut images: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg" || x == "png"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    images.sort();
    let serial: Vec<Vec<f32>> = images
        .iter()
        .map(|(_, b)| service.classify("image/jpeg", b, None).unwrap().probs)
        .collect();
    let images = Arc::new(images);
    let serial = Arc::new(serial);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (service, images, serial) = (service.clone(), images.clone(), serial.clone());
            std::thread::spawn(move || {
                for i in 0..50 {
                    let k = (t * 7 + i) % images.len();
                    let out = service.classify("image/jpeg", &images[k].1, None).unwrap();
                    assert_eq!(
                        out.probs, serial[k],
                        "thread {t} request {i} ({})",
                        images[k].0
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(service.stats().succeeded, 400 + images.len() as u64);
}

/// A PNG signature and IHDR (RGB, 8-bit) for `w` x `h`, with an empty IDAT and IEND: enough for a
/// header probe, and any decoder would have to allocate for the declared size.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[]);
    chunk(&mut png, b"IEND", &[]);
    png
}
