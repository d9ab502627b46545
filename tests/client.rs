//! `edgeclass::client::Client` against scripted daemons on a Unix socket: what it sends, what it
//! makes of every kind of answer (good, chunked, refused, garbage, cut off, late, huge), and
//! reconnecting after the daemon closed a kept-alive connection. The real daemon is tests/serve.rs's.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use edgeclass::client::Client;
use edgeclass::service::Request;
use edgeclass::Code;

fn socket_path(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeclass-client-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("d.sock")
}

/// One request as the daemon reads it: (request line, headers lower-cased, body).
type Received = (String, Vec<(String, String)>, Vec<u8>);

fn read_request(r: &mut BufReader<UnixStream>) -> Option<Received> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let start = line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        if line.trim_end().is_empty() {
            break;
        }
        let (k, v) = line.trim_end().split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((start, headers, body))
}

/// A daemon that answers each connection's requests with `script(n, request)` (n counts
/// requests over all connections): the raw bytes to write, and whether to close afterwards.
fn daemon(
    tag: &str,
    script: impl Fn(usize, &Received) -> (Vec<u8>, bool) + Send + Sync + 'static,
) -> PathBuf {
    let path = socket_path(tag);
    let listener = UnixListener::bind(&path).unwrap();
    let script = std::sync::Arc::new(script);
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let (script, count) = (script.clone(), count.clone());
            thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                while let Some(req) = read_request(&mut r) {
                    let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let (bytes, close) = script(n, &req);
                    let _ = w.write_all(&bytes);
                    if close {
                        return;
                    }
                }
            });
        }
    });
    path
}

fn ok_answer(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn it_sends_the_sdk_call_as_one_post_and_reads_the_connector_answer() {
    let path = daemon("post", |_, (start, headers, body)| {
        // The reference: the request written out by hand.
        assert_eq!(
            start,
            "POST /services/imageClassification/invocations HTTP/1.1"
        );
        let get = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
        assert_eq!(get("content-type").as_deref(), Some("image/png"));
        assert_eq!(get("content-length").as_deref(), Some("5"));
        assert_eq!(body, b"\x89PNG!");
        (ok_answer("[0.5,0.25,1e-30,0.125]"), false)
    });
    let client = Client::new(Some(&path), 5 * SECOND);
    for _ in 0..3 {
        let c = client
            .invoke(
                "image-classification",
                "imageClassification",
                "image/png",
                b"\x89PNG!",
                None,
            )
            .unwrap();
        assert_eq!(c.probs, vec![0.5, 0.25, 1e-30, 0.125]);
    }
}

#[test]
fn a_chunked_answer_reads_the_same() {
    let path = daemon("chunked", |_, _| {
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n[0.5\r\n6;x=y\r\n,0.25]\r\n0\r\n\r\n"
                .to_vec(),
            false,
        )
    });
    let client = Client::new(Some(&path), 5 * SECOND);
    let c = client
        .invoke("image-classification", "svc-a", "image/jpeg", b"x", None)
        .unwrap();
    assert_eq!(c.probs, vec![0.5, 0.25]);
}

#[test]
fn a_refusal_keeps_the_daemons_code_and_message() {
    let path = daemon("refusal", |_, _| {
        let body = r#"{"code":2003,"name":"CORRUPT_IMAGE","message":"PNG: bad CRC in IDAT"}"#;
        (
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
            false,
        )
    });
    let client = Client::new(Some(&path), 5 * SECOND);
    let e = client
        .invoke("image-classification", "svc-a", "image/png", b"x", None)
        .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (Code::CorruptImage, "PNG: bad CRC in IDAT")
    );
}

#[test]
fn garbage_cut_off_and_huge_answers_are_unavailable_not_a_crash() {
    let answers: Vec<(&str, Vec<u8>)> = vec![
        ("not HTTP", b"hello there\r\n\r\n".to_vec()),
        ("status 2000", b"HTTP/1.1 2000 OK\r\n\r\n".to_vec()),
        (
            "body cut off",
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n[0.5".to_vec(),
        ),
        (
            "huge length",
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\n".to_vec(),
        ),
        ("not a list", ok_answer("{\"a\":1}")),
        (
            "500 without JSON",
            b"HTTP/1.1 500 Oops\r\ncontent-length: 4\r\n\r\noops".to_vec(),
        ),
        ("no answer", Vec::new()),
        (
            "endless header",
            [b"HTTP/1.1 200 OK\r\nx: ".to_vec(), vec![b'a'; 70_000]].concat(),
        ),
    ];
    for (i, (what, bytes)) in answers.into_iter().enumerate() {
        let path = daemon(&format!("garbage{i}"), move |_, _| (bytes.clone(), true));
        let client = Client::new(Some(&path), 5 * SECOND);
        let e = client
            .invoke("image-classification", "svc-a", "image/png", b"x", None)
            .unwrap_err();
        assert_eq!(e.code, Code::Unavailable, "{what}: {e}");
        assert!(e.message.contains(path.to_str().unwrap()), "{what}: {e}");
    }
}

#[test]
fn no_daemon_is_unavailable_and_a_silent_one_times_out() {
    let missing = socket_path("missing");
    let e = Client::new(Some(&missing), SECOND)
        .invoke("image-classification", "svc-a", "image/png", b"x", None)
        .unwrap_err();
    assert_eq!(e.code, Code::Unavailable, "{e}");
    assert!(e.message.contains("cannot connect"), "{e}");

    let path = daemon("silent", |_, _| {
        thread::sleep(3 * SECOND);
        (ok_answer("[1]"), true)
    });
    let client = Client::new(Some(&path), 10 * SECOND);
    // The request's own timeout is shorter than the client's: it decides.
    let request = Request::new();
    request.set_timeout(Duration::from_millis(300));
    let t0 = Instant::now();
    let e = client
        .invoke(
            "image-classification",
            "svc-a",
            "image/png",
            b"x",
            Some(&request),
        )
        .unwrap_err();
    assert_eq!(e.code, Code::Timeout, "{e}");
    assert!(t0.elapsed() < 2 * SECOND, "{:?}", t0.elapsed());
    request.cancel();
    let e = client
        .invoke(
            "image-classification",
            "svc-a",
            "image/png",
            b"x",
            Some(&request),
        )
        .unwrap_err();
    assert_eq!(e.code, Code::Cancelled, "{e}");
}

#[test]
fn a_connection_the_daemon_closed_is_replaced_once() {
    // The daemon closes each connection after its answer, without saying so: the next call
    // finds the kept connection dead and sends again on a new one.
    let path = daemon("closing", |n, _| (ok_answer(&format!("[{n}]")), true));
    let client = Client::new(Some(&path), 5 * SECOND);
    for n in 0..4 {
        let c = client
            .invoke("image-classification", "svc-a", "image/png", b"x", None)
            .unwrap();
        assert_eq!(c.probs, vec![n as f32]);
    }
}

#[test]
fn names_and_content_types_are_checked_before_connecting() {
    let missing = socket_path("unchecked");
    let client = Client::new(Some(&missing), SECOND);
    // The in-process call's answers (registry::invoke) are the reference.
    for algo in ["object-detection", "bad_algo", ""] {
        let want = edgeclass::service::registry::invoke(algo, "svc-a", "image/png", b"x", None)
            .unwrap_err();
        let e = client
            .invoke(algo, "svc-a", "image/png", b"x", None)
            .unwrap_err();
        assert_eq!((e.code, &e.message), (want.code, &want.message), "{algo}");
    }
    let e = client
        .invoke("image-classification", "bad_name", "image/png", b"x", None)
        .unwrap_err();
    assert_eq!(e.code, Code::UnknownService, "{e}");
    let e = client
        .invoke(
            "image-classification",
            "svc-a",
            "image/png\r\nX: y",
            b"x",
            None,
        )
        .unwrap_err();
    assert_eq!(e.code, Code::InvalidArgument, "{e}");
}
