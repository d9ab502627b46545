//! `edgeclass serve`: the real binary, started per test on its own socket, spoken to with the
//! small std-only HTTP/1.1 client below (and curl for the README's examples). Answers are
//! compared with the in-process `Service::classify` of the same image and model.
#![cfg(feature = "serve")]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{fixtures, target_command, time_bound};
use edgeclass::answer::connector_body;
use edgeclass::{Code, Service, ServiceConfig};
use serde_json::{json, Value};

#[path = "../src/bin/edgeclass/serve/status.rs"]
mod status;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh scratch directory.
fn scratch(what: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("edgeclass-serve-{what}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn tiny() -> PathBuf {
    fixtures().join("tiny-trained")
}

fn params(name: &str, model: &Path, extra: &[(&str, &str)]) -> Value {
    let mut p = json!({
        "MLModelDestinationPath": model.to_str().unwrap(),
        "LocalInferenceServiceName": name,
        "LocalInferenceServiceTimeoutSeconds": "10",
        "LocalInferenceServiceMemoryLimitKB": "100000",
    });
    for (k, v) in extra {
        p[*k] = json!(v);
    }
    p
}

fn connector(id: &str, params: Value) -> Value {
    json!({"Id": id,
        "ConnectorArn": "arn:aws:greengrass:region::/connectors/ImageClassificationx86-64/versions/2",
        "Parameters": params})
}

/// A running daemon; killed when dropped.
struct Daemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(dir: &Path, connectors: Vec<Value>, extra: &[&str]) -> Daemon {
        Daemon::start_env(dir, connectors, extra, &[])
    }

    fn start_env(
        dir: &Path,
        connectors: Vec<Value>,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Daemon {
        let config = dir.join("services.json");
        std::fs::write(&config, json!({ "Connectors": connectors }).to_string()).unwrap();
        let socket = dir.join("edgeclass.sock");
        let log = dir.join("daemon.log");
        let mut cmd = target_command(env!("CARGO_BIN_EXE_edgeclass"));
        cmd.args(["serve", "--config"])
            .arg(&config)
            .arg("--socket")
            .arg(&socket)
            .args(extra)
            .env_remove("EDGECLASS_SOCKET")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let mut d = Daemon { child, socket, log };
        d.wait_ready();
        d
    }

    /// Until `GET /ping` answers (every service tried: 200 or 503).
    fn wait_ready(&mut self) {
        let t0 = Instant::now();
        while t0.elapsed() < time_bound(Duration::from_secs(60)) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the daemon exited with {status}: {}", self.log_text());
            }
            if let Ok(s) = UnixStream::connect(&self.socket) {
                if let Ok(r) = try_request(s, "GET", "/ping", &[], b"") {
                    assert!(r.status == 200 || r.status == 503, "{r:?}");
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the daemon did not answer: {}", self.log_text());
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn connect(&self) -> UnixStream {
        UnixStream::connect(&self.socket).unwrap()
    }

    fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        try_request(self.connect(), method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}; log: {}", self.log_text()))
    }

    fn classify(&self, service: &str, content_type: &str, body: &[u8]) -> Reply {
        self.call(
            "POST",
            &format!("/services/{service}/invocations"),
            &[("Content-Type", content_type)],
            body,
        )
    }

    fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Its resident memory, KiB (`VmRSS`). Under an emulator it is the emulator's: the bounds
    /// below are checked natively only (`common::emulated`).
    fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(t0.elapsed() < within, "no exit: {}", self.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// An error answer: its status, and the JSON body's code, name and message.
    fn error(&self) -> (u16, Code, String) {
        let v = self.json();
        let code = Code::from_u32(v["code"].as_u64().unwrap() as u32).unwrap();
        assert_eq!(v["name"], code.name(), "{v}");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 3, "{v}");
        assert!(self.text().starts_with("{\"code\":"), "{}", self.text());
        (
            self.status,
            code,
            v["message"].as_str().unwrap().to_string(),
        )
    }
}

/// Send one request and read its response (Content-Length framed, as the daemon answers).
fn try_request(
    mut s: impl Read + Write,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Reply> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    // A daemon may answer (an error) before reading the body: read its answer even when
    // writing the rest failed.
    let wrote = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body));
    read_reply(&mut s).map_err(|e| wrote.err().unwrap_or(e))
}

fn read_reply(s: &mut impl Read) -> std::io::Result<Reply> {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no response head in {raw:?}")))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    let body = raw[split + 4..].to_vec();
    if let Some(n) = headers.get("content-length") {
        assert_eq!(body.len(), n.parse::<usize>().unwrap(), "{head}");
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn digits() -> Vec<(String, Vec<u8>)> {
    let dir = tiny().join("images");
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg" || x == "png"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

fn content_type(name: &str) -> &'static str {
    if name.ends_with(".png") {
        "image/png"
    } else {
        "image/jpeg"
    }
}

/// The in-process service of the same parameters: the reference answers.
fn in_process(p: &Value) -> Service {
    let map: BTreeMap<String, String> = p
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    Service::open(ServiceConfig::from_parameters(&map).unwrap()).unwrap()
}

#[test]
fn invocations_answer_what_the_service_answers_in_process() {
    let dir = scratch("answers");
    let p = params("digits", &tiny(), &[]);
    let d = Daemon::start(
        &dir,
        vec![connector("Digits", p.clone())],
        &["--http", "127.0.0.1:0"],
    );
    let reference = in_process(&p);
    let mut images = digits();
    for photo in ["china.jpg", "flower.jpg"] {
        let bytes = std::fs::read(fixtures().join("photos").join(photo)).unwrap();
        images.push((photo.to_string(), bytes));
    }
    for (name, bytes) in &images {
        let expected = connector_body(
            &reference
                .classify(content_type(name), bytes, None)
                .unwrap()
                .probs,
        );
        let r = d.classify("digits", content_type(name), bytes);
        assert_eq!((r.status, r.text()), (200, expected.clone()), "{name}");
        assert_eq!(r.headers["content-type"], "application/json");
        // The only service answers POST /invocations too, application/x-image included.
        let r = d.call(
            "POST",
            "/invocations",
            &[("Content-Type", "application/x-image")],
            bytes,
        );
        assert_eq!((r.status, r.text()), (200, expected), "{name}");
    }
    // The same bytes `edgeclass classify` prints.
    for (name, _) in images.iter().step_by(5) {
        let path = match name.as_str() {
            "china.jpg" | "flower.jpg" => fixtures().join("photos").join(name),
            _ => tiny().join("images").join(name),
        };
        let out = target_command(env!("CARGO_BIN_EXE_edgeclass"))
            .args(["classify", "--model"])
            .arg(tiny())
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}");
        let bytes = std::fs::read(&path).unwrap();
        let r = d.classify("digits", content_type(name), &bytes);
        assert_eq!(format!("{}\n", r.text()).as_bytes(), out.stdout, "{name}");
    }
    // The Greengrass v2 shape: ?top=K, or Accept: application/json; format=v2 (top 5).
    let (name, bytes) = &images[0];
    let probs = reference
        .classify(content_type(name), bytes, None)
        .unwrap()
        .probs;
    let order = edgeclass::model::top_k(&probs, 10);
    for (path, accept, k) in [
        ("/services/digits/invocations?top=3", "*/*", 3),
        (
            "/services/digits/invocations",
            "application/json; format=v2",
            5,
        ),
    ] {
        let r = d.call(
            "POST",
            path,
            &[("Content-Type", content_type(name)), ("Accept", accept)],
            bytes,
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let results = v["inference-results"].as_array().unwrap();
        assert_eq!(results.len(), k);
        for (res, &class) in results.iter().zip(&order) {
            let model = reference.model();
            let labels = model.labels.as_ref().unwrap();
            assert_eq!(res["Label"], labels[class].as_str());
            let score: f64 = res["Score"].as_str().unwrap().parse().unwrap();
            assert!((score - probs[class] as f64).abs() < 1e-6, "{res}");
        }
    }
    let r = d.call("POST", "/services/digits/invocations?top=0", &[], bytes);
    assert_eq!(r.error().1, Code::InvalidArgument);
    let r = d.call("POST", "/services/nope/invocations", &[], bytes);
    let (status, code, message) = r.error();
    assert_eq!((status, code), (404, Code::UnknownService));
    assert!(message.contains("digits"), "{message}");
}

#[test]
fn several_services_need_a_name_and_unknown_routes_are_json() {
    let dir = scratch("routes");
    let d = Daemon::start(
        &dir,
        vec![
            connector("A", params("alpha", &tiny(), &[])),
            connector("B", params("beta", &tiny(), &[])),
        ],
        &[],
    );
    let (status, code, message) = d.call("POST", "/invocations", &[], b"x").error();
    assert_eq!((status, code), (400, Code::InvalidArgument));
    assert!(message.contains("alpha, beta"), "{message}");
    let r = d.call("GET", "/services/alpha/invocations", &[], b"");
    assert_eq!(r.error().0, 405);
    assert_eq!(r.headers["allow"], "POST");
    assert_eq!(d.call("GET", "/nothing/here", &[], b"").error().0, 404);
    let r = d.call("GET", "/ping", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let s = d.call("GET", "/services", &[], b"").json();
    let names: Vec<&str> = s["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    let alpha = &s["services"][0];
    assert_eq!(alpha["loaded"], true);
    assert_eq!(alpha["model"]["classes"], 10);
    assert_eq!(alpha["budget"]["limit_bytes"], 100_000 * 1024);
}

/// One entry with a number for a string, one whose model is missing: each answers its own
/// error, the same every time, while the good service serves and /ping says 503.
#[test]
fn a_bad_entry_answers_its_error_while_the_others_serve() {
    let dir = scratch("bad-entry");
    let mut bad = params("numbers", &tiny(), &[]);
    bad["LocalInferenceServiceTimeoutSeconds"] = json!(10);
    let d = Daemon::start(
        &dir,
        vec![
            connector("Good", params("good", &tiny(), &[])),
            connector("Numbers", bad),
            connector("NoModel", params("nomodel", &dir.join("missing"), &[])),
        ],
        &[],
    );
    let (name, bytes) = &digits()[0];
    let ok = d.classify("good", content_type(name), bytes);
    assert_eq!(ok.status, 200, "{}", ok.text());
    let first = d.classify("numbers", content_type(name), bytes).error();
    assert_eq!((first.0, first.1), (503, Code::InvalidParameter));
    assert!(
        first.2.contains("Connectors[1] (Id \"Numbers\")"),
        "{}",
        first.2
    );
    assert!(first.2.contains("must be a string"), "{}", first.2);
    assert_eq!(
        d.classify("numbers", content_type(name), bytes).error(),
        first
    );
    let missing = d.classify("nomodel", content_type(name), bytes).error();
    assert_eq!((missing.0, missing.1), (503, Code::ModelNotFound));
    assert!(missing.2.contains("Id \"NoModel\""), "{}", missing.2);
    assert_eq!(
        d.classify("nomodel", content_type(name), bytes).error(),
        missing
    );
    let ping = d.call("GET", "/ping", &[], b"");
    assert_eq!(ping.status, 503);
    let ping = ping.json();
    let failed: Vec<&str> = ping["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["service"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["numbers", "nomodel"]);
    assert_eq!(
        d.classify("good", content_type(name), bytes).text(),
        ok.text()
    );
    let log = d.log_text();
    assert!(
        log.contains("Connectors[1] (Id \"Numbers\")") && log.contains("Id \"NoModel\""),
        "{log}"
    );
}

/// docs/serve.md's table is the code's table: every code, its number, name and status.
#[test]
fn the_documented_error_table_is_the_code_table() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/serve.md"))
        .unwrap();
    let mut rows = BTreeMap::new();
    let mut routing = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let third = cells.get(2).copied().unwrap_or("");
        let (Ok(number), Ok(status)) = (cells[0].parse::<u32>(), third.parse::<u16>()) else {
            if let (Ok(status), Some(name)) = (cells[0].parse::<u16>(), cells.get(1)) {
                routing.push((status, name.trim_matches('`').to_string()));
            }
            continue;
        };
        let code = Code::from_u32(number).unwrap_or_else(|| panic!("no code {number}"));
        assert_eq!(cells[1].trim_matches('`'), code.name(), "{line}");
        assert!(rows.insert(number, status).is_none(), "{line} twice");
    }
    for code in Code::ALL {
        assert_eq!(
            rows.get(&(*code as u32)),
            Some(&status::http_status(*code)),
            "{code:?}"
        );
    }
    assert_eq!(rows.len(), Code::ALL.len());
    let want: Vec<(u16, String)> = status::ROUTING
        .iter()
        .map(|(s, c, _)| (*s, c.name().to_string()))
        .collect();
    assert_eq!(routing, want);
}

#[test]
fn metrics_parse_as_prometheus_text_and_count_the_requests() {
    let dir = scratch("metrics");
    let d = Daemon::start(
        &dir,
        vec![connector("Digits", params("digits", &tiny(), &[]))],
        &[],
    );
    let (name, bytes) = &digits()[0];
    // Each answer's Server-Timing: the stages in ms, summed here to compare with /metrics.
    let mut timed: BTreeMap<String, f64> = BTreeMap::new();
    for _ in 0..3 {
        let r = d.classify("digits", content_type(name), bytes);
        assert_eq!(r.status, 200);
        let header = &r.headers["server-timing"];
        let mut stages = Vec::new();
        for part in header.split(", ") {
            let (stage, dur) = part.split_once(";dur=").expect(header);
            let ms: f64 = dur.parse().expect(header);
            assert!(ms >= 0.0, "{header}");
            *timed.entry(stage.to_string()).or_default() += ms;
            stages.push((stage, ms));
        }
        let names: Vec<&str> = stages.iter().map(|s| s.0).collect();
        assert_eq!(
            names,
            ["wait", "decode", "preprocess", "inference", "total"],
            "{header}"
        );
        let parts: f64 = stages[..4].iter().map(|s| s.1).sum();
        assert!(parts <= stages[4].1 + 0.004, "{header}");
    }
    let refused = d.classify("digits", "image/png", b"not an image");
    assert_eq!(refused.status, 415);
    assert!(!refused.headers.contains_key("server-timing"));
    let text = d.call("GET", "/metrics", &[], b"").text();
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut samples: Vec<(String, BTreeMap<String, String>, f64)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            assert!(
                rest.split_once(' ').is_some_and(|(_, h)| !h.is_empty()),
                "{line}"
            );
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                families
                    .insert(name.to_string(), kind.to_string())
                    .is_none(),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.strip_suffix('}').unwrap()),
            None => (series, ""),
        };
        let labels: BTreeMap<String, String> = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap();
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| families.get(*f).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(families.contains_key(family), "{line}: no TYPE before it");
        assert!(name.starts_with("edgeclass_"), "{line}");
        samples.push((name.to_string(), labels, value));
    }
    let get = |name: &str, want: &[(&str, &str)]| -> f64 {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .unwrap_or_else(|| panic!("{name} {want:?} missing:\n{text}"))
            .2
    };
    let svc = ("service", "digits");
    assert_eq!(get("edgeclass_requests_total", &[svc]), 4.0);
    assert_eq!(
        get(
            "edgeclass_request_failures_total",
            &[svc, ("code", "UNSUPPORTED_IMAGE_FORMAT")]
        ),
        1.0
    );
    assert_eq!(
        get("edgeclass_responses_total", &[svc, ("status", "200")]),
        3.0
    );
    assert_eq!(
        get("edgeclass_responses_total", &[svc, ("status", "415")]),
        1.0
    );
    assert_eq!(
        get("edgeclass_memory_limit_bytes", &[svc]),
        100_000.0 * 1024.0
    );
    assert!(get("edgeclass_memory_planned_bytes", &[svc]) > 0.0);
    assert_eq!(get("edgeclass_service_loaded", &[svc]), 1.0);
    assert_eq!(
        get("edgeclass_reloads_total", &[svc, ("result", "ok")]),
        0.0
    );
    for stage in ["wait", "decode", "preprocess", "inference", "total"] {
        let l = [svc, ("stage", stage)];
        assert_eq!(
            get("edgeclass_request_stage_seconds_count", &l),
            3.0,
            "{stage}"
        );
        assert_eq!(
            get(
                "edgeclass_request_stage_seconds_bucket",
                &[svc, ("stage", stage), ("le", "+Inf")]
            ),
            3.0
        );
        // Cumulative buckets never decrease.
        let buckets: Vec<f64> = samples
            .iter()
            .filter(|(n, l, _)| {
                n == "edgeclass_request_stage_seconds_bucket" && l["stage"] == stage
            })
            .map(|s| s.2)
            .collect();
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "{stage}: {buckets:?}"
        );
    }
    assert!(
        get(
            "edgeclass_request_stage_seconds_sum",
            &[svc, ("stage", "inference")]
        ) > 0.0
    );
    // The answers' Server-Timing and /metrics report the same stages (to the header's
    // rounding: 0.0005 ms per answer).
    for (stage, ms) in &timed {
        let sum = get(
            "edgeclass_request_stage_seconds_sum",
            &[svc, ("stage", stage)],
        );
        assert!((sum * 1e3 - ms).abs() <= 0.002, "{stage}: {sum} s, {ms} ms");
    }
}

/// A small budget: tiny-trained under 6 MB leaves each request a few MB of image.
fn small_budget_daemon(dir: &Path, extra: &[&str]) -> (Daemon, u64) {
    let d = Daemon::start(
        dir,
        vec![connector(
            "Digits",
            params(
                "digits",
                &tiny(),
                &[
                    ("LocalInferenceServiceMemoryLimitKB", "6000"),
                    ("LocalInferenceServiceTimeoutSeconds", "3"),
                ],
            ),
        )],
        extra,
    );
    let budget = d.call("GET", "/services", &[], b"").json()["services"][0]["budget"]
        ["image_bytes"]
        .as_u64()
        .unwrap();
    (d, budget)
}

fn still_serves(d: &Daemon) {
    let (name, bytes) = &digits()[0];
    let r = d.classify("digits", content_type(name), bytes);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn limits_bodies_above_the_budget_garbage_and_truncation() {
    let dir = scratch("limits");
    let (d, budget) = small_budget_daemon(&dir, &[]);
    assert!(budget > 0 && budget < 6_000 * 1024, "{budget}");
    let rss0 = d.rss_kib();
    // Content-Length far above the budget: refused from the header, before any body byte.
    for announced in [budget + 1, 1 << 40] {
        let mut s = d.connect();
        let head = format!("POST /services/digits/invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {announced}\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.set_read_timeout(Some(time_bound(Duration::from_secs(5))))
            .unwrap();
        let r = read_reply(&mut s).unwrap();
        let (status, code, message) = r.error();
        assert_eq!((status, code), (413, Code::MemoryLimit), "{message}");
        assert!(
            message.contains(&format!("Content-Length {announced}")),
            "{message}"
        );
    }
    // A chunked body is read only up to the budget.
    let mut s = d.connect();
    s.write_all(b"POST /services/digits/invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let chunk = vec![0x89u8; 64 * 1024];
    let mut sent = 0u64;
    let mut refused = false;
    while sent <= 4 * budget {
        let ok = s
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .and_then(|_| s.write_all(&chunk))
            .and_then(|_| s.write_all(b"\r\n"));
        if ok.is_err() {
            refused = true;
            break;
        }
        sent += chunk.len() as u64;
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    match read_reply(&mut s) {
        Ok(r) => assert_eq!((r.error().0, r.error().1), (413, Code::MemoryLimit)),
        Err(e) => assert!(refused, "{e}"),
    }
    // Garbage: 400 or closed.
    let mut s = d.connect();
    s.write_all(b"\x00\x01\x02garbage \xff\xfe\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert!(
        raw.is_empty() || raw.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    // Truncated: 1000 bytes announced, 10 sent, then the writing half closed.
    let mut s = d.connect();
    s.write_all(b"POST /services/digits/invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n0123456789").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    // An error answer, or the connection closed.
    if let Ok(r) = read_reply(&mut s) {
        assert!(r.status >= 400, "{r:?}");
    }
    still_serves(&d);
    // A truncated PNG in full: the image's own error.
    let png = std::fs::read(fixtures().join("images/png_truncated.png")).unwrap();
    let (status, code, _) = d.classify("digits", "image/png", &png).error();
    assert_eq!((status, code), (400, Code::CorruptImage));
    still_serves(&d);
    let rss1 = d.rss_kib();
    assert!(
        rss1 < rss0 + 16 * 1024 || common::emulated(),
        "RSS grew from {rss0} to {rss1} KiB"
    );
}

#[test]
fn a_client_killed_mid_request_leaves_the_daemon_serving() {
    let dir = scratch("killed");
    let (d, _) = small_budget_daemon(&dir, &[]);
    let (name, bytes) = &digits()[0];
    for cut in [bytes.len() / 2, bytes.len()] {
        // A child process that sends part (or all) of a request and is killed before the answer.
        let script = format!(
            "import socket,sys,os\ns=socket.socket(socket.AF_UNIX)\ns.connect({:?})\nb=open({:?},'rb').read()\ns.sendall(b'POST /services/digits/invocations HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: {}\\r\\nContent-Length: %d\\r\\n\\r\\n' % len(b) + b[:{cut}])\nos.kill(os.getpid(), 9)\n",
            d.socket.to_str().unwrap(),
            tiny().join("images").join(name).to_str().unwrap(),
            content_type(name),
        );
        let status = std::process::Command::new("python3")
            .args(["-c", &script])
            .status()
            .unwrap();
        assert!(!status.success());
        still_serves(&d);
    }
}

#[test]
fn idle_connections_do_not_stop_other_clients_and_close_by_the_header_timeout() {
    let dir = scratch("idle");
    let (d, _) = small_budget_daemon(&dir, &["--header-read-timeout", "2"]);
    let rss0 = d.rss_kib();
    let idle: Vec<UnixStream> = (0..200).map(|_| d.connect()).collect();
    let t0 = Instant::now();
    still_serves(&d);
    // Accepted, each with its buffers: a few MiB at most.
    let rss1 = d.rss_kib();
    assert!(
        rss1 < rss0 + 16 * 1024 || common::emulated(),
        "RSS {rss0} -> {rss1} KiB with 200 idle connections"
    );
    assert!(
        t0.elapsed() < time_bound(Duration::from_secs(2)),
        "{:?}",
        t0.elapsed()
    );
    // The header timeout closes each of them.
    for mut s in idle {
        s.set_read_timeout(Some(time_bound(Duration::from_secs(10))))
            .unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        assert!(
            n == 0 || buf.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            &buf[..n]
        );
    }
    still_serves(&d);
}

#[test]
fn a_client_sending_one_byte_per_second_is_closed() {
    let dir = scratch("slowloris");
    let (d, _) = small_budget_daemon(&dir, &["--header-read-timeout", "2"]);
    let mut s = d.connect();
    let head =
        b"POST /services/digits/invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n";
    let t0 = Instant::now();
    let mut closed = false;
    for b in head.iter() {
        if s.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        s.set_read_timeout(Some(Duration::from_millis(1000)))
            .unwrap();
        let mut buf = [0u8; 256];
        match s.read(&mut buf) {
            Ok(_) => {
                closed = true;
                break;
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "not closed after {:?}", t0.elapsed());
    assert!(
        t0.elapsed() < time_bound(Duration::from_secs(6)),
        "{:?}",
        t0.elapsed()
    );
    still_serves(&d);
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_one() {
    let dir = scratch("cap");
    let (d, _) = small_budget_daemon(
        &dir,
        &["--max-connections", "3", "--header-read-timeout", "30"],
    );
    let idle: Vec<UnixStream> = (0..3).map(|_| d.connect()).collect();
    let socket = d.socket.clone();
    let (name, bytes) = digits()[0].clone();
    let waiting = std::thread::spawn(move || {
        let t0 = Instant::now();
        let s = UnixStream::connect(&socket).unwrap();
        let r = try_request(
            s,
            "POST",
            "/services/digits/invocations",
            &[("Content-Type", content_type(&name))],
            &bytes,
        )
        .unwrap();
        (r.status, t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!waiting.is_finished(), "served beyond the cap");
    drop(idle);
    let (status, waited) = waiting.join().unwrap();
    assert_eq!(status, 200);
    assert!(waited >= Duration::from_millis(1400), "{waited:?}");
}

/// SIGTERM with requests in flight on a slow model: each completes (200) or gets its timeout
/// (504), none later than its deadline, and the daemon exits 0, telling systemd (an abstract
/// NOTIFY_SOCKET) READY=1 and STOPPING=1.
#[test]
fn sigterm_drains_the_requests_in_flight_and_exits_0() {
    let dir = scratch("sigterm");
    let model = dir.join("slow");
    // Emulated (qemu-user, ~30x slower), a shorter model and a longer timeout keep one request
    // in flight at SIGTERM and inside its deadline, as natively.
    let (layers, timeout_s) = if common::emulated() { (8, 20) } else { (60, 4) };
    common::write_slow_model(&model, layers);
    let notify_name = format!("edgeclass-serve-test-{}", std::process::id());
    let listener = {
        use std::os::linux::net::SocketAddrExt;
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(notify_name.as_bytes()).unwrap();
        UnixDatagram::bind_addr(&addr).unwrap()
    };
    listener
        .set_read_timeout(Some(time_bound(Duration::from_secs(60))))
        .unwrap();
    let mut d = Daemon::start_env(
        &dir,
        vec![connector(
            "Slow",
            params(
                "slow",
                &model,
                &[(
                    "LocalInferenceServiceTimeoutSeconds",
                    &timeout_s.to_string(),
                )],
            ),
        )],
        &[],
        &[("NOTIFY_SOCKET", &format!("@{notify_name}"))],
    );
    let mut buf = [0u8; 64];
    let n = listener.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    let (name, bytes) = digits()[0].clone();
    let t_one = {
        let t0 = Instant::now();
        assert_eq!(d.classify("slow", content_type(&name), &bytes).status, 200);
        t0.elapsed()
    };
    eprintln!("one request on the slow model: {t_one:?}");
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let socket = d.socket.clone();
            let (name, bytes) = (name.clone(), bytes.clone());
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let s = UnixStream::connect(&socket).unwrap();
                let r = try_request(
                    s,
                    "POST",
                    "/services/slow/invocations",
                    &[("Content-Type", content_type(&name))],
                    &bytes,
                )
                .unwrap();
                (r, t0.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    d.signal("-TERM");
    let n = listener.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    let mut answered = 0;
    for c in clients {
        let (r, took) = c.join().unwrap();
        match r.status {
            200 => answered += 1,
            504 => assert_eq!(r.error().1, Code::Timeout),
            other => panic!("{other}: {}", r.text()),
        }
        assert!(
            took < Duration::from_secs(timeout_s) + time_bound(Duration::from_secs(2)),
            "{took:?}"
        );
    }
    assert!(answered >= 1, "no request in flight completed");
    let status = d.wait_exit(time_bound(Duration::from_secs(10)));
    assert_eq!(status.code(), Some(0), "{}", d.log_text());
    assert!(!d.socket.exists(), "the socket file is removed at exit");
    assert!(UnixStream::connect(&d.socket).is_err());
}

#[test]
fn the_socket_is_0660_a_live_one_is_kept_and_a_stale_one_replaced() {
    let dir = scratch("socket");
    let good = vec![connector("Digits", params("digits", &tiny(), &[]))];
    let d = Daemon::start(&dir, good.clone(), &[]);
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    // A second daemon on the same socket refuses to take it.
    let out = target_command(env!("CARGO_BIN_EXE_edgeclass"))
        .args(["serve", "--config"])
        .arg(dir.join("services.json"))
        .arg("--socket")
        .arg(&d.socket)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another process is serving on it") && err.contains("--socket"),
        "{err}"
    );
    still_serves(&d);
    drop(d);
    // A stale socket file (nobody listening) is replaced.
    let dir2 = scratch("stale");
    let stale = std::os::unix::net::UnixListener::bind(dir2.join("edgeclass.sock")).unwrap();
    drop(stale);
    let d = Daemon::start(&dir2, good, &[]);
    still_serves(&d);
    // A directory that does not exist: the message names --socket and EDGECLASS_SOCKET.
    let out = target_command(env!("CARGO_BIN_EXE_edgeclass"))
        .args(["serve", "--config"])
        .arg(dir2.join("services.json"))
        .env("EDGECLASS_SOCKET", dir2.join("no/such/dir.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no/such") && err.contains("does not exist") && err.contains("--socket PATH"),
        "{err}"
    );
}

#[test]
fn a_remote_http_address_needs_allow_remote() {
    let dir = scratch("remote");
    std::fs::write(dir.join("services.json"), "[]").unwrap();
    let out = target_command(env!("CARGO_BIN_EXE_edgeclass"))
        .args(["serve", "--config"])
        .arg(dir.join("services.json"))
        .arg("--socket")
        .arg(dir.join("s.sock"))
        .args(["--http", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0.0.0.0") && err.contains("--http-allow-remote"),
        "{err}"
    );
    let d = Daemon::start(
        &dir,
        vec![],
        &["--http", "0.0.0.0:0", "--http-allow-remote"],
    );
    assert_eq!(d.call("GET", "/ping", &[], b"").status, 200);
}

/// The README's curl examples, run as written (from the repository root, with
/// EDGECLASS_SOCKET naming the test's socket and the daemon on the README's TCP address).
#[test]
fn the_readme_curl_examples_work_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("\n## Serve")
        .nth(1)
        .expect("a Serve section")
        .split("\n## ")
        .next()
        .unwrap();
    let commands: Vec<&str> = section.lines().filter(|l| l.starts_with("curl ")).collect();
    assert!(commands.len() >= 4, "{commands:?}");
    let serve_line = section
        .lines()
        .find(|l| l.starts_with("edgeclass serve "))
        .unwrap();
    let http = serve_line
        .split("--http ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let dir = scratch("readme");
    let p = params("imageClassification", &tiny(), &[]);
    let d = Daemon::start(
        &dir,
        vec![connector("MyImageClassificationConnector", p.clone())],
        &["--http", http],
    );
    let reference = in_process(&p);
    for command in commands {
        let out = std::process::Command::new("sh")
            .args(["-c", command])
            .current_dir(root)
            .env("EDGECLASS_SOCKET", &d.socket)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if command.contains("/invocations") && !command.contains("top=") {
            let image = command
                .split("@")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            let bytes = std::fs::read(root.join(image)).unwrap();
            let want = connector_body(
                &reference
                    .classify("image/jpeg", &bytes, None)
                    .unwrap()
                    .probs,
            );
            assert_eq!(text, want, "{command}");
        } else {
            assert!(!text.is_empty(), "{command}");
        }
    }
}

/// The library artefacts hold no HTTP server: the daemon's crates are the binary's only.
#[test]
fn the_library_artefacts_hold_no_server_code() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_edgeclass"));
    let dir = bin.parent().unwrap();
    // The library's newest source: an artefact older than it proves nothing.
    fn newest(dir: &Path) -> std::time::SystemTime {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| !p.ends_with("bin"))
            .map(|p| {
                if p.is_dir() {
                    newest(&p)
                } else {
                    p.metadata().unwrap().modified().unwrap()
                }
            })
            .max()
            .unwrap_or(std::time::UNIX_EPOCH)
    }
    let sources = newest(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let mut checked = 0;
    for lib in ["libedgeclass.so", "libedgeclass.a"] {
        let path = dir.join(lib);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let built = path.metadata().unwrap().modified().unwrap();
        assert!(
            built >= sources,
            "{} is older than src/: build it (cargo build --release) first",
            path.display()
        );
        checked += 1;
        // Crate names as they appear in symbols and panic locations.
        let mut words = vec!["hyper-1.", "hyper::", "hyper_util", "http_body_util"];
        // The MQTT client (feature `mqtt`) runs on tokio inside the library.
        if !cfg!(feature = "mqtt") {
            words.extend(["tokio-1.", "tokio::"]);
        }
        for w in words {
            assert!(
                !bytes.windows(w.len()).any(|x| x == w.as_bytes()),
                "{} contains {w}",
                path.display()
            );
        }
    }
    assert!(checked > 0, "no library artefact beside {}", bin.display());
    // The binary does (the check above would pass on an empty file).
    let bytes = std::fs::read(&bin).unwrap();
    assert!(bytes.windows(8).any(|x| x == b"hyper-1."));
}

/// The daemon's 200 answer on `service` for the image `name` (its content type from the name).
fn daemon_answer(d: &Daemon, service: &str, name: &str, bytes: &[u8]) -> String {
    let r = d.classify(service, content_type(name), bytes);
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// The connector body an in-process service on `model` answers for the image `name`.
fn in_process_answer(model: &Path, name: &str, bytes: &[u8]) -> String {
    connector_body(
        &in_process(&params("reference", model, &[]))
            .classify(content_type(name), bytes, None)
            .unwrap()
            .probs,
    )
}

/// `POST /services/NAME/reload` and SIGHUP: the new model answers after the swap (compared
/// with an in-process service of that model), a hostile model's error is answered while the
/// old model serves on, and the metrics count both.
#[test]
fn reload_swaps_the_model_and_a_failed_reload_keeps_the_old_one() {
    let dir = scratch("reload");
    let p = params("digits", &tiny(), &[]);
    let d = Daemon::start(&dir, vec![connector("Digits", p.clone())], &[]);
    let (name, bytes) = digits()[3].clone();
    let answer = |d: &Daemon| daemon_answer(d, "digits", &name, &bytes);
    let tiny_answer = in_process_answer(&tiny(), &name, &bytes);
    assert_eq!(answer(&d), tiny_answer);
    // Another model: the slim ResNet-18 (3x224x224, another class count).
    let other = fixtures().join("slim/r18-slim");
    let other_answer = in_process_answer(&other, &name, &bytes);
    assert_ne!(other_answer, tiny_answer);
    let body = json!({ "model_path": other.to_str().unwrap() }).to_string();
    let r = d.call(
        "POST",
        "/services/digits/reload",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["generation"], 2);
    assert_eq!(answer(&d), other_answer);
    // A hostile model: its error, and the current model serves on.
    let hostile = fixtures().join("hostile-models/symbol-cycle");
    let body = json!({ "model_path": hostile.to_str().unwrap() }).to_string();
    let (status, code, message) = d
        .call("POST", "/services/digits/reload", &[], body.as_bytes())
        .error();
    assert_eq!((status, code), (503, Code::SymbolFormat), "{message}");
    assert!(message.contains("the current model serves on"), "{message}");
    assert_eq!(answer(&d), other_answer);
    // A body that is not {"model_path": ...}.
    let (status, code, _) = d
        .call("POST", "/services/digits/reload", &[], b"{\"path\": 1}")
        .error();
    assert_eq!((status, code), (400, Code::InvalidArgument));
    assert_eq!(
        d.call("POST", "/services/nope/reload", &[], b"").error().1,
        Code::UnknownService
    );
    // An empty body reloads the service's current path; SIGHUP reloads every service.
    let r = d.call("POST", "/services/digits/reload", &[], b"");
    assert_eq!(r.json()["generation"], 3, "{}", r.text());
    d.signal("-HUP");
    let t0 = Instant::now();
    loop {
        let v = d.call("GET", "/services", &[], b"").json();
        let text = d.call("GET", "/metrics", &[], b"").text();
        if text.contains("edgeclass_reloads_total{service=\"digits\",result=\"ok\"} 3") {
            assert!(
                text.contains("edgeclass_reloads_total{service=\"digits\",result=\"failed\"} 1"),
                "{text}"
            );
            assert_eq!(v["services"][0]["model"]["origin"], other.to_str().unwrap());
            break;
        }
        assert!(
            t0.elapsed() < time_bound(Duration::from_secs(30)),
            "no SIGHUP reload: {}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(answer(&d), other_answer);
}

/// A copy of a model folder's model files (not its test images) at `to`.
fn copy_model(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("image-classification-")
            || name == "model-shapes.json"
            || name == "labels.txt"
        {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// A deployment's replacement of the model folder at `path`: the new files are written beside
/// it, then the folders are swapped by two renames (the watcher may see the path missing
/// between them, never half a model).
fn deploy(from: &Path, path: &Path, break_params: bool) {
    let staged = path.with_extension("new");
    let _ = std::fs::remove_dir_all(&staged);
    copy_model(from, &staged);
    if break_params {
        for e in std::fs::read_dir(&staged).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "params") {
                let bytes = std::fs::read(&p).unwrap();
                std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
            }
        }
    }
    let old = path.with_extension("old");
    let _ = std::fs::remove_dir_all(&old);
    std::fs::rename(path, &old).unwrap();
    std::fs::rename(&staged, path).unwrap();
}

/// `edgeclass_reloads_total{service=NAME,result=RESULT}`, read from `GET /metrics`.
fn reloads(d: &Daemon, name: &str, result: &str) -> u64 {
    let text = d.call("GET", "/metrics", &[], b"").text();
    let labels = format!("service=\"{name}\",result=\"{result}\"");
    metric(&text, "edgeclass_reloads_total", &labels) as u64
}

/// `--watch-models`: a model folder replaced by a deployment reloads its service once the new
/// files hold still, without a signal or a request; a broken model there fails once (counted),
/// the current model serves on and is not tried again until the files change; a good model
/// deployed after it serves.
#[test]
fn watched_model_folders_reload_their_service_when_deployed_anew() {
    let dir = scratch("watch");
    let model = dir.join("model");
    copy_model(&tiny(), &model);
    let p = params("digits", &model, &[]);
    let d = Daemon::start(
        &dir,
        vec![connector("Digits", p.clone())],
        &["--watch-models", "0.1"],
    );
    let (name, bytes) = digits()[3].clone();
    let answer = |d: &Daemon| daemon_answer(d, "digits", &name, &bytes);
    let (tiny_answer, other) = (
        in_process_answer(&tiny(), &name, &bytes),
        fixtures().join("slim/r18-slim"),
    );
    let other_answer = in_process_answer(&other, &name, &bytes);
    assert_ne!(tiny_answer, other_answer);
    assert_eq!(answer(&d), tiny_answer);
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let t0 = Instant::now();
        while !done() {
            assert!(
                t0.elapsed() < time_bound(Duration::from_secs(20)),
                "{what}: {}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // Unchanged files: no reload.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        (reloads(&d, "digits", "ok"), reloads(&d, "digits", "failed")),
        (0, 0)
    );
    deploy(&other, &model, false);
    until("no reload after the deployment", &|| {
        reloads(&d, "digits", "ok") == 1
    });
    assert_eq!(answer(&d), other_answer);
    deploy(&other, &model, true);
    until("no failed reload of the broken model", &|| {
        reloads(&d, "digits", "failed") == 1
    });
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        (reloads(&d, "digits", "ok"), reloads(&d, "digits", "failed")),
        (1, 1)
    );
    assert_eq!(answer(&d), other_answer);
    assert!(
        d.log_text()
            .contains("not tried again until the files change"),
        "{}",
        d.log_text()
    );
    deploy(&tiny(), &model, false);
    until("no reload after the repair", &|| {
        reloads(&d, "digits", "ok") == 2
    });
    assert_eq!(reloads(&d, "digits", "failed"), 1);
    assert_eq!(answer(&d), tiny_answer);
}

/// Stalled uploads hold at most the service's room for bodies (twice its workers' image
/// budgets): six clients that announce a full-budget body and send half of it grow the daemon's
/// RSS by about one budget (two are read, four wait), not three; then it serves on.
#[test]
fn stalled_uploads_hold_at_most_the_services_body_room() {
    let dir = scratch("bodyroom");
    let p = params(
        "digits",
        &tiny(),
        &[
            ("LocalInferenceServiceMemoryLimitKB", "60000"),
            ("LocalInferenceServiceTimeoutSeconds", "30"),
        ],
    );
    let d = Daemon::start(&dir, vec![connector("Digits", p)], &[]);
    let budget = d.call("GET", "/services", &[], b"").json()["services"][0]["budget"]
        ["image_bytes"]
        .as_u64()
        .unwrap();
    assert!(budget > 40 << 20, "{budget}");
    let rss0 = d.rss_kib();
    let uploads: Vec<_> = (0..6)
        .map(|_| {
            let mut s = d.connect();
            std::thread::spawn(move || {
                let head = format!("POST /services/digits/invocations HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {budget}\r\n\r\n");
                s.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
                let half = vec![0x89u8; (budget / 2) as usize];
                // Those that wait for room stop at the write timeout, their rest unsent.
                let sent = s.write_all(head.as_bytes()).and_then(|_| s.write_all(&half));
                (s, sent.is_ok())
            })
        })
        .collect();
    let streams: Vec<(UnixStream, bool)> = uploads.into_iter().map(|t| t.join().unwrap()).collect();
    let read = streams.iter().filter(|s| s.1).count();
    let grown = d.rss_kib().saturating_sub(rss0) * 1024;
    eprintln!("six stalled half uploads of {budget} bytes: RSS +{grown} bytes");
    assert!(
        grown < budget + (16 << 20) || common::emulated(),
        "RSS grew {grown} bytes; budget {budget}"
    );
    // Two were read whole (the RSS shows them), the other four wait.
    assert_eq!(read, 2);
    assert!(
        grown > budget / 2,
        "RSS grew {grown} bytes only: were the bodies read?"
    );
    drop(streams);
    still_serves(&d);
}

/// The ML Feedback connectors of the file are opened as the SDK opens them: a service whose
/// MLFeedbackConnectorConfigId names one spools what it classifies (drained here by the CLI,
/// which prints each sample's prediction), and a wrong feedback entry is reported by /ping and
/// /services while the rest serves.
#[test]
fn feedback_connectors_of_the_file_get_the_classifications() {
    let dir = scratch("feedback");
    let spool = dir.join("spool");
    let arn = "arn:aws:greengrass:region::/connectors/MLFeedback/versions/1";
    let map = r#"{"fb-1": {"s3-bucket-name": "my-bucket", "content-type": "image/png"}}"#;
    let feedback = json!({"Id": "Feedback", "ConnectorArn": arn, "Parameters": {
        "FeedbackConfigurationMap": map, "EdgeclassSpoolDirectory": spool.to_str().unwrap()}});
    let broken = json!({"Id": "Broken", "ConnectorArn": arn, "Parameters": {
        "FeedbackConfigurationMap": "{}", "RequestLimit": 10}});
    let p = params(
        "digits",
        &tiny(),
        &[("MLFeedbackConnectorConfigId", "fb-1")],
    );
    let d = Daemon::start(
        &dir,
        vec![feedback, broken, connector("Digits", p.clone())],
        &[],
    );
    let (name, bytes) = digits()
        .into_iter()
        .find(|(n, _)| n.ends_with(".png"))
        .unwrap();
    let r = d.classify("digits", "image/png", &bytes);
    assert_eq!(r.status, 200, "{name}: {}", r.text());
    let probs = in_process(&params("plain", &tiny(), &[]))
        .classify("image/png", &bytes, None)
        .unwrap()
        .probs;
    let ping = d.call("GET", "/ping", &[], b"");
    assert_eq!(ping.status, 503);
    let failed = ping.json()["failed"].clone();
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert!(
        failed[0]["connector"]
            .as_str()
            .unwrap()
            .contains("Id \"Broken\""),
        "{failed}"
    );
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .contains("RequestLimit"),
        "{failed}"
    );
    let services = d.call("GET", "/services", &[], b"").json();
    assert_eq!(services["feedback"][0]["config_ids"], json!(["fb-1"]));
    assert_eq!(services["feedback"][1]["loaded"], false);
    let out = target_command(env!("CARGO_BIN_EXE_edgeclass"))
        .args(["feedback", "drain"])
        .arg(&spool)
        .args(["--command", "cat >/dev/null"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["config-id"], "fb-1");
    let predicted: Vec<f64> = lines[0]["model-prediction"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(predicted.len(), probs.len());
    for (a, b) in predicted.iter().zip(&probs) {
        assert!((a - *b as f64).abs() < 1e-6, "{predicted:?} {probs:?}");
    }
}

/// sd_notify to a NOTIFY_SOCKET path (the abstract form is in the SIGTERM test), and SIGINT
/// stopping like SIGTERM: READY=1, STOPPING=1, exit 0.
#[test]
fn sd_notify_to_a_path_and_sigint_exit_0() {
    let dir = scratch("notify");
    let path = dir.join("notify");
    let listener = UnixDatagram::bind(&path).unwrap();
    listener
        .set_read_timeout(Some(time_bound(Duration::from_secs(60))))
        .unwrap();
    let mut d = Daemon::start_env(
        &dir,
        vec![connector("Digits", params("digits", &tiny(), &[]))],
        &[],
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    );
    let mut buf = [0u8; 64];
    let n = listener.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    still_serves(&d);
    d.signal("-INT");
    let n = listener.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    let status = d.wait_exit(time_bound(Duration::from_secs(10)));
    assert_eq!(status.code(), Some(0), "{}", d.log_text());
}

/// Mode 0660 at work: a process of another uid is refused unless it is in the socket's group.
/// Needs root (to act as another uid with setpriv); elsewhere it says SKIPPED.
#[test]
fn another_uid_without_the_sockets_group_is_refused() {
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    let setpriv = Path::new("/usr/bin/setpriv");
    if !is_root || !setpriv.exists() || common::emulated() {
        eprintln!("SKIPPED: needs root and setpriv to act as another uid");
        return;
    }
    let dir = scratch("uid");
    // The other uid must reach the socket's directory.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = Daemon::start(
        &dir,
        vec![connector("Digits", params("digits", &tiny(), &[]))],
        &[],
    );
    let group = 4242;
    std::process::Command::new("chgrp")
        .arg(group.to_string())
        .arg(&d.socket)
        .status()
        .unwrap();
    let curl = Path::new("/usr/bin/curl");
    if !curl.exists() {
        eprintln!("SKIPPED: needs /usr/bin/curl as the other uid's client");
        return;
    }
    let ping_as = |groups: &str| {
        std::process::Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", groups])
            .arg(curl)
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--unix-socket",
            ])
            .arg(&d.socket)
            .arg("http://localhost/ping")
            .output()
            .unwrap()
    };
    let refused = ping_as("--clear-groups");
    // curl's exit status 7: it could not connect.
    assert_eq!(refused.status.code(), Some(7), "{refused:?}");
    let member = ping_as(&format!("--groups={group}"));
    assert!(
        member.status.success(),
        "{}",
        String::from_utf8_lossy(&member.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&member.stdout), "200");
}

/// `edgeclass::client::Client` and the C ABI's `edgeclass_client_*` against the daemon: the
/// in-process service's probabilities, codes and messages; a daemon gone is `UNAVAILABLE`.
#[test]
fn the_library_client_answers_as_the_service_does_in_process() {
    use edgeclass::client::Client;
    use edgeclass::ffi::{
        edgeclass_client, edgeclass_client_free, edgeclass_client_invoke, edgeclass_client_new,
        edgeclass_result, edgeclass_result_body, edgeclass_result_free, edgeclass_status,
    };
    let dir = scratch("client");
    let p = params("digits", &tiny(), &[]);
    let mut d = Daemon::start(&dir, vec![connector("Digits", p.clone())], &[]);
    let reference = in_process(&p);
    let client = Client::new(Some(&d.socket), time_bound(Duration::from_secs(30)));
    let mut images = digits();
    for bad in [
        "random_bytes.jpg",
        "png_truncated.png",
        "jpeg_truncated.jpg",
        "empty.jpg",
    ] {
        let bytes = std::fs::read(fixtures().join("images").join(bad)).unwrap();
        images.push((bad.to_string(), bytes));
    }
    let (mut answered, mut refused) = (0, 0);
    for (name, bytes) in &images {
        let ct = content_type(name);
        let want = reference.classify(ct, bytes, None);
        let got = client.invoke("image-classification", "digits", ct, bytes, None);
        match (&want, &got) {
            (Ok(w), Ok(g)) => {
                assert_eq!(w.probs, g.probs, "{name}");
                answered += 1;
            }
            (Err(w), Err(g)) => {
                assert_eq!(w.code, g.code, "{name}: {g}");
                assert!(g.message.contains(&w.message), "{name}: {g} / {w}");
                refused += 1;
            }
            _ => panic!("{name}: in-process {want:?}, through the daemon {got:?}"),
        }
    }
    assert!(answered >= 10 && refused == 4, "{answered} {refused}");
    let e = client
        .invoke(
            "image-classification",
            "nope",
            "image/png",
            &images[0].1,
            None,
        )
        .unwrap_err();
    assert_eq!(e.code, Code::UnknownService, "{e}");

    // The same through the header's functions: the body is the connector's answer.
    let (name, bytes) = &images[0];
    let expected = connector_body(
        &reference
            .classify(content_type(name), bytes, None)
            .unwrap()
            .probs,
    );
    let sock = std::ffi::CString::new(d.socket.to_str().unwrap()).unwrap();
    let mut c: *mut edgeclass_client = std::ptr::null_mut();
    let mut r: *mut edgeclass_result = std::ptr::null_mut();
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid NUL-terminated strings, buffers of the lengths given, out pointers to
    // locals; the handles are freed once below.
    unsafe {
        assert_eq!(
            edgeclass_client_new(sock.as_ptr(), 30_000, &mut c),
            edgeclass_status::EDGECLASS_OK
        );
        let status = edgeclass_client_invoke(
            c,
            c"image-classification".as_ptr(),
            c"digits".as_ptr(),
            c"application/x-image".as_ptr(),
            bytes.as_ptr(),
            bytes.len(),
            std::ptr::null(),
            &mut r,
        );
        assert_eq!(status, edgeclass_status::EDGECLASS_OK);
        let mut needed = 0usize;
        assert_eq!(
            edgeclass_result_body(r, buf.as_mut_ptr().cast(), buf.len(), &mut needed),
            edgeclass_status::EDGECLASS_OK
        );
        let body = std::ffi::CStr::from_ptr(buf.as_ptr().cast())
            .to_str()
            .unwrap();
        assert_eq!(body, expected);
        edgeclass_result_free(r);
        // The daemon killed: the next call cannot get an answer.
        d.child.kill().unwrap();
        d.child.wait().unwrap();
        let mut r2: *mut edgeclass_result = std::ptr::null_mut();
        let status = edgeclass_client_invoke(
            c,
            c"image-classification".as_ptr(),
            c"digits".as_ptr(),
            c"image/png".as_ptr(),
            bytes.as_ptr(),
            bytes.len(),
            std::ptr::null(),
            &mut r2,
        );
        assert_eq!(status, edgeclass_status::EDGECLASS_UNAVAILABLE);
        assert!(r2.is_null());
        edgeclass_client_free(c);
    }
}

/// Issue 17's hot swap under load: two clients send requests while the model is swapped 20
/// times (4 under an emulator: `common::model_swaps`) between two models through
/// `POST .../reload`; no request fails, each answer is one of
/// the two models' answers for its image, and after each swap a new request gets the new model.
#[test]
fn twenty_swaps_under_two_clients_fail_no_request() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let dir = scratch("swaps");
    let p = params("digits", &tiny(), &[]);
    let d = Arc::new(Daemon::start(
        &dir,
        vec![connector("Digits", p.clone())],
        &[],
    ));
    let other = fixtures().join("slim/r18-slim");
    let models = [tiny(), other.clone()];
    let images: Vec<(String, Vec<u8>)> = digits().into_iter().take(4).collect();
    let refs = [in_process(&p), in_process(&params("other", &other, &[]))];
    let expected: Vec<[String; 2]> = images
        .iter()
        .map(|(name, bytes)| {
            let ct = content_type(name);
            [0, 1].map(|m| connector_body(&refs[m].classify(ct, bytes, None).unwrap().probs))
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..2)
        .map(|c| {
            let (d, stop, images, expected) =
                (d.clone(), stop.clone(), images.clone(), expected.clone());
            std::thread::spawn(move || {
                let mut served = [0usize; 2];
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let i = (n + c) % images.len();
                    let r = d.classify("digits", content_type(&images[i].0), &images[i].1);
                    assert_eq!(r.status, 200, "client {c}, request {n}: {}", r.text());
                    let text = r.text();
                    let m = expected[i].iter().position(|e| *e == text);
                    let m = m.unwrap_or_else(|| panic!("client {c}, request {n}: {text}"));
                    served[m] += 1;
                    n += 1;
                }
                served
            })
        })
        .collect();
    for swap in 1..=common::model_swaps() {
        let to = swap % 2;
        let body = json!({ "model_path": models[to].to_str().unwrap() }).to_string();
        let r = d.call("POST", "/services/digits/reload", &[], body.as_bytes());
        assert_eq!(r.status, 200, "swap {swap}: {}", r.text());
        assert_eq!(r.json()["generation"], swap + 1);
        let i = swap % images.len();
        let r = d.classify("digits", content_type(&images[i].0), &images[i].1);
        assert_eq!(r.text(), expected[i][to], "after swap {swap}");
    }
    stop.store(true, Ordering::Relaxed);
    let served: Vec<[usize; 2]> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    for m in 0..2 {
        assert!(
            served.iter().map(|s| s[m]).sum::<usize>() > 0,
            "model {m}: {served:?}"
        );
    }
}

/// Standard base64 (the test's own, for `publish` bodies).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One sample value of a `/metrics` family for a connector.
fn feedback_metric(text: &str, name: &str, connector: &str) -> f64 {
    metric(text, name, &format!("connector=\"{connector}\""))
}

/// The value of the sample `name{labels}` in Prometheus text (it must be there).
fn metric(text: &str, name: &str, labels: &str) -> f64 {
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("{prefix} missing:\n{text}"))
        .parse()
        .unwrap()
}

/// The JSON payloads the daemon logged for `topic` (at debug level; no broker: the log is
/// where they go).
fn logged_messages(log: &str, topic: &str) -> Vec<Value> {
    let marker = format!("message on {topic}: ");
    // Whole lines only: the daemon may be writing the last one.
    let complete = &log[..log.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .filter_map(|l| l.split_once(&marker).map(|(_, json)| json))
        .map(|j| serde_json::from_str(j).unwrap_or_else(|e| panic!("{e}: {j}")))
        .collect()
}

/// `--feedback-upload-command`: the daemon uploads what its services' classifications and
/// `POST /feedback/{id}/publish` spool, through the command (which gets each sample as `feedback
/// drain --command` gives it), logs the connector's messages after each upload, counts them in
/// /metrics, and backs off a failing upload. `publish` refuses what the library refuses
/// in-process, with the same code and message.
#[test]
fn the_daemon_uploads_feedback_samples_and_publish_goes_through_it() {
    let dir = scratch("feedback-upload");
    let spool = dir.join("spool");
    let uploaded = dir.join("uploaded");
    std::fs::create_dir_all(&uploaded).unwrap();
    let script = dir.join("upload.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$EDGECLASS_S3_BUCKET\" = bad-bucket ] && {{ echo refused; exit 3; }}\n\
             cat > '{u}'/\"$EDGECLASS_SAMPLE_ID.input\" || exit 1\n\
             printf '%s\\n%s\\n%s\\n%s\\n' \"$EDGECLASS_S3_BUCKET\" \"$EDGECLASS_S3_KEY\" \
             \"$EDGECLASS_CONFIG_ID\" \"$EDGECLASS_CONTENT_TYPE\" > '{u}'/\"$EDGECLASS_SAMPLE_ID.meta\"\n",
            u = uploaded.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let map = r#"{"fb-up": {"s3-bucket-name": "my-bucket", "content-type": "image/png",
        "s3-prefix": "kept", "file-ext": "png"},
        "fb-bad": {"s3-bucket-name": "bad-bucket", "content-type": "image/png"}}"#;
    let arn = "arn:aws:greengrass:region::/connectors/MLFeedback/versions/1";
    let feedback = json!({"Id": "Feedback", "ConnectorArn": arn, "Parameters": {
        "FeedbackConfigurationMap": map, "EdgeclassSpoolDirectory": spool.to_str().unwrap()}});
    let p = params(
        "digits",
        &tiny(),
        &[("MLFeedbackConnectorConfigId", "fb-up")],
    );
    // The messages go to the log at debug level when the connector has no broker.
    let d = Daemon::start_env(
        &dir,
        vec![feedback, connector("Digits", p)],
        &["--feedback-upload-command", script.to_str().unwrap()],
        &[("EDGECLASS_LOG", "debug")],
    );
    let (_, png) = digits()
        .into_iter()
        .find(|(n, _)| n.ends_with(".png"))
        .unwrap();
    assert_eq!(d.classify("digits", "image/png", &png).status, 200);
    let input = b"\x00model input\xff".to_vec();
    let body = json!({"ModelInput": base64(&input), "ModelPrediction": [0.25, 0.75],
        "Metadata": {"camera": "c1"}});
    let r = d.call(
        "POST",
        "/feedback/fb-up/publish",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["outcome"], "spooled");
    let published_id = r.json()["id"].as_str().unwrap().to_string();

    // Both samples arrive through the command, with what `feedback drain --command` gives it.
    let t0 = Instant::now();
    let metas = loop {
        let metas: Vec<PathBuf> = std::fs::read_dir(&uploaded)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "meta"))
            .collect();
        if metas.len() == 2 {
            break metas;
        }
        assert!(
            t0.elapsed() < time_bound(Duration::from_secs(20)),
            "uploaded {metas:?}; log: {}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut ids = Vec::new();
    for m in &metas {
        let id = m.file_stem().unwrap().to_str().unwrap().to_string();
        let meta = std::fs::read_to_string(m).unwrap();
        let data = std::fs::read(uploaded.join(format!("{id}.input"))).unwrap();
        let want_data = if id == published_id { &input } else { &png };
        assert_eq!(&data, want_data, "{id}");
        assert_eq!(
            meta,
            format!("my-bucket\nkept/{id}.png\nfb-up\nimage/png\n"),
            "{id}"
        );
        ids.push(id);
    }
    assert!(ids.contains(&published_id));

    // After each upload: the success status, then the prediction, in the connector's shapes.
    let t0 = Instant::now();
    while logged_messages(&d.log_text(), "feedback/message/prediction").len() < 2 {
        assert!(
            t0.elapsed() < time_bound(Duration::from_secs(10)),
            "{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = d.log_text();
    let statuses = logged_messages(&log, "feedback/message/status");
    let predictions = logged_messages(&log, "feedback/message/prediction");
    assert_eq!((statuses.len(), predictions.len()), (2, 2), "{log}");
    let in_process_probs = in_process(&params("plain", &tiny(), &[]))
        .classify("image/png", &png, None)
        .unwrap()
        .probs;
    for id in &ids {
        let s = statuses.iter().find(|s| s["id"] == id.as_str()).unwrap();
        assert_eq!(s["response"]["status"], "success", "{s}");
        assert_eq!(s["response"]["s3_response"]["bucket"], "my-bucket");
        assert_eq!(
            s["response"]["s3_response"]["key"],
            format!("kept/{id}.png")
        );
        let source = format!("s3://my-bucket/kept/{id}.png");
        let p = predictions
            .iter()
            .find(|p| p["source-ref"] == source.as_str())
            .unwrap_or_else(|| panic!("no prediction for {source}: {predictions:?}"));
        let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            ["config-id", "metadata", "model-prediction", "source-ref"]
        );
        assert_eq!(p["config-id"], "fb-up");
        assert!(p["metadata"]["publish-ts"].is_string(), "{p}");
        let got: Vec<f64> = p["model-prediction"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        if *id == published_id {
            assert_eq!(got, [0.25, 0.75]);
            assert_eq!(p["metadata"]["camera"], "c1");
        } else {
            assert_eq!(got.len(), in_process_probs.len());
            for (a, b) in got.iter().zip(&in_process_probs) {
                assert!((a - *b as f64).abs() < 1e-6, "{got:?} {in_process_probs:?}");
            }
        }
    }
    let metrics = d.call("GET", "/metrics", &[], b"").text();
    let m = |name: &str| feedback_metric(&metrics, name, "Feedback");
    assert_eq!(m("edgeclass_feedback_requests_total"), 2.0);
    assert_eq!(m("edgeclass_feedback_spooled_total"), 2.0);
    assert_eq!(m("edgeclass_feedback_uploaded_total"), 2.0);
    assert_eq!(m("edgeclass_feedback_upload_failures_total"), 0.0);
    assert_eq!(m("edgeclass_feedback_spool_samples"), 0.0);

    // publish refuses what the library refuses in-process: same code and message. The
    // reference is this process's own connector of the same configuration.
    let mut local: BTreeMap<String, String> = BTreeMap::new();
    local.insert("FeedbackConfigurationMap".into(), map.into());
    local.insert(
        "EdgeclassSpoolDirectory".into(),
        dir.join("local-spool").to_str().unwrap().into(),
    );
    let local_fb = edgeclass::feedback::registry::open(&local).unwrap();
    for (config_id, prediction, metadata) in [
        ("no-such-config", json!([0.5]), json!(null)),
        ("bad_id", json!([0.5]), json!(null)),
        ("fb-up", json!("[NaN]"), json!(null)),
        ("fb-up", json!(3), json!(null)),
        ("fb-up", json!([0.5]), json!([1])),
        ("fb-up", json!([0.5]), json!("{not json")),
    ] {
        let body = json!({"ModelInput": "", "ModelPrediction": prediction, "Metadata": metadata});
        let r = d.call(
            "POST",
            &format!("/feedback/{config_id}/publish"),
            &[],
            body.to_string().as_bytes(),
        );
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let meta = (!metadata.is_null()).then(|| text(&metadata));
        let want = edgeclass::feedback::registry::publish_json(
            config_id,
            b"",
            &text(&prediction),
            meta.as_deref(),
        )
        .unwrap_err();
        assert_eq!(
            r.error(),
            (
                status::http_status(want.code),
                want.code,
                want.message.clone()
            ),
            "{config_id} {prediction} {metadata}"
        );
    }
    edgeclass::feedback::registry::close(&local_fb);
    let too_big = (17u64 << 20).to_string();
    let (status_, code, message) = d
        .call(
            "POST",
            "/feedback/fb-up/publish",
            &[("Content-Length", too_big.as_str())],
            b"",
        )
        .error();
    assert_eq!((status_, code), (413, Code::MemoryLimit), "{message}");
    let (status_, code, message) = d
        .call(
            "POST",
            "/feedback/fb-up/publish",
            &[],
            b"{\"ModelInput\": 1}",
        )
        .error();
    assert_eq!((status_, code), (400, Code::InvalidArgument));
    assert!(message.contains("base64"), "{message}");
    assert_eq!(
        d.call("GET", "/feedback/fb-up/publish", &[], b"").status,
        405
    );

    // A failing upload: the fail status names the command's failure, the sample stays, the
    // failure is counted; requests are served meanwhile.
    let body = json!({"ModelInput": base64(b"x"), "ModelPrediction": [1.0]});
    let r = d.call(
        "POST",
        "/feedback/fb-bad/publish",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.json()["outcome"], "spooled", "{}", r.text());
    let bad_id = r.json()["id"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    let fail = loop {
        let log = d.log_text();
        if let Some(s) = logged_messages(&log, "feedback/message/status")
            .into_iter()
            .find(|s| s["id"] == bad_id.as_str())
        {
            break s;
        }
        assert!(t0.elapsed() < time_bound(Duration::from_secs(10)), "{log}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(fail["response"]["status"], "fail", "{fail}");
    assert_eq!(fail["response"]["error"], "CommandFailed", "{fail}");
    assert_eq!(d.classify("digits", "image/png", &png).status, 200);
    let metrics = d.call("GET", "/metrics", &[], b"").text();
    let m = |name: &str| feedback_metric(&metrics, name, "Feedback");
    assert!(
        m("edgeclass_feedback_upload_failures_total") >= 1.0,
        "{metrics}"
    );
    assert_eq!(m("edgeclass_feedback_uploaded_total"), 2.0);
    assert!(!uploaded.join(format!("{bad_id}.meta")).exists());
}

/// An upload command that hangs is killed after `--feedback-upload-timeout`: the upload fails
/// (`CommandTimedOut`, counted; the sample stays) instead of holding the connector's uploads,
/// and the daemon serves meanwhile. `feedback drain --timeout` is the same uploader.
#[test]
fn a_hanging_upload_command_is_killed_after_its_timeout() {
    let dir = scratch("feedback-timeout");
    let spool = dir.join("spool");
    let map = r#"{"fb-slow": {"s3-bucket-name": "my-bucket", "content-type": "image/png"}}"#;
    let arn = "arn:aws:greengrass:region::/connectors/MLFeedback/versions/1";
    let feedback = json!({"Id": "Slow", "ConnectorArn": arn, "Parameters": {
        "FeedbackConfigurationMap": map, "EdgeclassSpoolDirectory": spool.to_str().unwrap()}});
    let d = Daemon::start_env(
        &dir,
        vec![
            feedback,
            connector("Digits", params("digits", &tiny(), &[])),
        ],
        &[
            "--feedback-upload-command",
            "sleep 60",
            "--feedback-upload-timeout",
            "0.5",
        ],
        &[("EDGECLASS_LOG", "debug")],
    );
    // A body larger than a pipe's buffer: `sleep` reads none of it.
    let body = json!({"ModelInput": base64(&vec![7u8; 1 << 20]), "ModelPrediction": [1.0]});
    let t0 = Instant::now();
    let r = d.call(
        "POST",
        "/feedback/fb-slow/publish",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.json()["outcome"], "spooled", "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    let fail = loop {
        if let Some(s) = logged_messages(&d.log_text(), "feedback/message/status")
            .into_iter()
            .find(|s| s["id"] == id.as_str())
        {
            break s;
        }
        assert!(
            t0.elapsed() < time_bound(Duration::from_secs(10)),
            "{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(t0.elapsed() < time_bound(Duration::from_secs(10)));
    assert_eq!(fail["response"]["status"], "fail", "{fail}");
    assert_eq!(fail["response"]["error"], "CommandTimedOut", "{fail}");
    let (_, png) = digits()
        .into_iter()
        .find(|(n, _)| n.ends_with(".png"))
        .unwrap();
    assert_eq!(d.classify("digits", "image/png", &png).status, 200);
    let metrics = d.call("GET", "/metrics", &[], b"").text();
    assert!(feedback_metric(&metrics, "edgeclass_feedback_upload_failures_total", "Slow") >= 1.0);
    assert_eq!(
        feedback_metric(&metrics, "edgeclass_feedback_spool_samples", "Slow"),
        1.0
    );
    drop(d);

    // The CLI's drain: the same kill, exit 1, the sample still there.
    let t0 = Instant::now();
    let out = target_command(env!("CARGO_BIN_EXE_edgeclass"))
        .args(["feedback", "drain"])
        .arg(&spool)
        .args(["--command", "sleep 60", "--timeout", "0.5"])
        .output()
        .unwrap();
    assert!(t0.elapsed() < time_bound(Duration::from_secs(10)));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CommandTimedOut"), "{err}");
    let samples = std::fs::read_dir(&spool)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sample")
        })
        .count();
    assert_eq!(samples, 1);
}
