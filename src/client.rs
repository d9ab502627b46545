//! A client of the `edgeclass serve` daemon: the same call as [`crate::service::registry::invoke`]
//! (`invoke_inference_service(AlgoType, ServiceName, ContentType, Body)`), answered by the daemon
//! over its Unix socket with HTTP/1.1, so that several processes share one loaded model.
//!
//! Standard library only: the library artefacts carry no HTTP crate (the server's lives in the
//! `edgeclass` binary). The client speaks the one request it needs, `POST
//! /services/{name}/invocations`, and reads answers defensively: a status line, headers up to
//! [`MAX_HEADER_BYTES`], a body by `Content-Length` or chunks up to [`MAX_BODY_BYTES`]. A
//! refusal of the daemon comes back as the daemon's own code and message (its JSON error body);
//! a daemon that cannot be reached, closes the connection mid-answer or answers garbage is
//! `Code::Unavailable`; one that does not answer in time is `Code::Timeout`.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::classifier::{CallStats, Classification};
use crate::error::{invalid_argument, Code, Error, Result};
use crate::names::is_service_name;
use crate::service::registry::check_algo_type;
use crate::service::{unknown_service, Request};

/// Environment variable naming the daemon's socket.
pub const SOCKET_ENV: &str = "EDGECLASS_SOCKET";
/// Where `edgeclass serve` listens when neither `--socket` nor `$EDGECLASS_SOCKET` says.
pub const DEFAULT_SOCKET: &str = "/run/edgeclass/edgeclass.sock";
/// The most header bytes an answer may have.
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// The most body bytes an answer may have (a probability takes at most 15 bytes: 4 Mi classes).
pub const MAX_BODY_BYTES: usize = 64 << 20;
/// Connections kept open for reuse.
const MAX_IDLE: usize = 8;

/// A client of one daemon socket. Thread-safe: calls from several threads each use their own
/// connection (kept open and reused afterwards).
#[derive(Debug)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
    idle: Mutex<Vec<UnixStream>>,
}

/// The socket a client uses when none is named: `$EDGECLASS_SOCKET`, else [`DEFAULT_SOCKET`].
pub fn default_socket() -> PathBuf {
    match std::env::var_os(SOCKET_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

fn unavailable(socket: &Path, what: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Unavailable,
        format!("the edgeclass daemon at {}: {what}", socket.display()),
    )
}

impl Client {
    /// A client of the daemon at `socket` (`None`: [`default_socket`]) that waits at most
    /// `timeout` for each answer (zero: 60 s). Nothing is connected yet: the first call
    /// connects.
    pub fn new(socket: Option<&Path>, timeout: Duration) -> Client {
        Client {
            socket: socket.map_or_else(default_socket, Path::to_path_buf),
            timeout: if timeout.is_zero() {
                Duration::from_secs(60)
            } else {
                timeout
            },
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Classify `body` with the daemon's service `service_name`, as
    /// [`crate::service::registry::invoke`] does in-process: the same checks and codes, and
    /// the probabilities of the connector's answer. `request`: its timeout (when shorter than
    /// the client's) bounds the wait; a request already cancelled is not sent (a cancel while
    /// the daemon works is not forwarded). The stats of the answer are zero except `wait_us`
    /// (the whole round trip): the work happened in the daemon.
    pub fn invoke(
        &self,
        algo_type: &str,
        service_name: &str,
        content_type: &str,
        body: &[u8],
        request: Option<&Request>,
    ) -> Result<Classification> {
        check_algo_type(algo_type, service_name)?;
        // A name no service can have (and no URL path may carry): unknown, as in-process.
        if !is_service_name(service_name) {
            return Err(unknown_service(algo_type, service_name));
        }
        if content_type
            .bytes()
            .any(|b| b == b'\r' || b == b'\n' || b == 0)
        {
            return Err(invalid_argument(
                "content_type holds a line break or NUL, which an HTTP header cannot carry",
            ));
        }
        if request.is_some_and(Request::is_cancelled) {
            return Err(Error::new(Code::Cancelled, "the request was cancelled"));
        }
        let timeout = request
            .and_then(Request::timeout)
            .map_or(self.timeout, |t| t.min(self.timeout));
        let started = Instant::now();
        let path = format!("/services/{service_name}/invocations");
        let (status, answer) = self.post(&path, content_type, body, timeout)?;
        if status != 200 {
            return Err(daemon_error(&self.socket, status, &answer));
        }
        let probs = parse_answer(&answer).ok_or_else(|| {
            unavailable(
                &self.socket,
                format!(
                    "answered 200 with a body that is not a list of probabilities: {:?}",
                    preview(&answer)
                ),
            )
        })?;
        Ok(Classification {
            probs,
            logits: None,
            stats: CallStats {
                wait_us: started.elapsed().as_micros() as u64,
                ..CallStats::default()
            },
        })
    }

    /// One POST: (status, body). A kept-alive connection that the daemon closed since (it
    /// restarted, or closed it for idleness) is retried once on a new connection, when nothing
    /// of the answer had arrived: classifying is idempotent.
    fn post(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>)> {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        head.extend_from_slice(body);
        loop {
            let (mut stream, reused) = self.connection(timeout)?;
            let sent = send_all(&stream, &head);
            let answer = match sent {
                Ok(()) => read_answer(&mut stream),
                Err(e) => Err(Failure::Io(e, false)),
            };
            match answer {
                Ok((status, answer, keep)) => {
                    if keep {
                        self.give_back(stream);
                    }
                    return Ok((status, answer));
                }
                Err(Failure::Io(e, _))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(Error::new(
                        Code::Timeout,
                        format!(
                            "the edgeclass daemon at {} did not answer within {timeout:?}",
                            self.socket.display()
                        ),
                    ))
                }
                // Not retried when it timed out (above): that would double the wait.
                Err(Failure::Io(_, false)) | Err(Failure::Closed) if reused => continue,
                Err(f) => return Err(unavailable(&self.socket, f)),
            }
        }
    }

    /// A connection: an idle one (reused = true), or a new one.
    fn connection(&self, timeout: Duration) -> Result<(UnixStream, bool)> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let (stream, reused) = match idle {
            Some(s) => (s, true),
            None => {
                let s = UnixStream::connect(&self.socket)
                    .map_err(|e| unavailable(&self.socket, format!("cannot connect: {e}")))?;
                (s, false)
            }
        };
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|_| stream.set_write_timeout(Some(timeout)))
            .map_err(|e| unavailable(&self.socket, e))?;
        Ok((stream, reused))
    }

    fn give_back(&self, stream: UnixStream) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(stream);
        }
    }
}

/// Write all of `buf` with `MSG_NOSIGNAL`: a daemon that closed the connection must give this
/// process `EPIPE`, not the `SIGPIPE` that `write(2)` raises (which kills a C program that did
/// not ignore it). The write timeout applies (`EAGAIN` after `SO_SNDTIMEO`).
#[allow(unsafe_code)]
fn send_all(stream: &UnixStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: the descriptor belongs to `stream`, which outlives the call, and `buf` is
        // valid for reading `buf.len()` bytes.
        let n = unsafe {
            libc::send(
                stream.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// How reading an answer failed.
#[derive(Debug)]
enum Failure {
    /// An I/O error; `true` when part of the answer had arrived.
    Io(std::io::Error, bool),
    /// The connection closed before any byte of the answer.
    Closed,
    /// The bytes are not an HTTP/1.1 answer (or exceed a limit).
    Garbage(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Io(e, _) => write!(f, "{e}"),
            Failure::Closed => write!(f, "closed the connection without answering"),
            Failure::Garbage(what) => write!(f, "answered something that is not HTTP/1.1: {what}"),
        }
    }
}

/// Read one answer: (status, body, whether the connection may be reused).
fn read_answer(stream: &mut UnixStream) -> std::result::Result<(u16, Vec<u8>, bool), Failure> {
    let mut reader = BufReader::new(stream);
    let mut header_bytes = 0usize;
    let mut line = Vec::new();
    let mut read_line = |reader: &mut BufReader<&mut UnixStream>,
                         line: &mut Vec<u8>,
                         first: bool|
     -> std::result::Result<(), Failure> {
        line.clear();
        let n = reader
            .by_ref()
            .take((MAX_HEADER_BYTES - header_bytes) as u64 + 1)
            .read_until(b'\n', line)
            .map_err(|e| Failure::Io(e, !first))?;
        header_bytes += n;
        if n == 0 {
            return Err(if first {
                Failure::Closed
            } else {
                Failure::Garbage("the headers end early".into())
            });
        }
        if header_bytes > MAX_HEADER_BYTES || !line.ends_with(b"\n") {
            return Err(Failure::Garbage(format!(
                "headers over {MAX_HEADER_BYTES} bytes, or cut off"
            )));
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Ok(())
    };
    read_line(&mut reader, &mut line, true)?;
    let status_line = String::from_utf8_lossy(&line).into_owned();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(Failure::Garbage(format!(
            "status line {:?}",
            preview(&line)
        )));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| Failure::Garbage(format!("status line {status_line:?}")))?;
    let (mut length, mut chunked, mut keep) = (None, false, version == "HTTP/1.1");
    loop {
        read_line(&mut reader, &mut line, false)?;
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        let Some((name, value)) = text.split_once(':') else {
            return Err(Failure::Garbage(format!("header {:?}", preview(&line))));
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => {
                let n: usize = value
                    .parse()
                    .map_err(|_| Failure::Garbage(format!("Content-Length {value:?}")))?;
                length = Some(n);
            }
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => keep = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(&mut reader)?
    } else if let Some(n) = length {
        if n > MAX_BODY_BYTES {
            return Err(Failure::Garbage(format!(
                "a body of {n} bytes (at most {MAX_BODY_BYTES})"
            )));
        }
        let mut body = vec![0; n];
        reader
            .read_exact(&mut body)
            .map_err(|e| Failure::Io(e, true))?;
        body
    } else {
        // No length: the body runs to the end of the connection.
        keep = false;
        let mut body = Vec::new();
        reader
            .take(MAX_BODY_BYTES as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| Failure::Io(e, true))?;
        if body.len() > MAX_BODY_BYTES {
            return Err(Failure::Garbage(format!(
                "a body over {MAX_BODY_BYTES} bytes"
            )));
        }
        body
    };
    Ok((status, body, keep))
}

fn read_chunked(reader: &mut impl BufRead) -> std::result::Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader
            .by_ref()
            .take(1024)
            .read_line(&mut line)
            .map_err(|e| Failure::Io(e, true))?;
        let size = line.trim().split(';').next().unwrap_or("");
        let n = usize::from_str_radix(size, 16)
            .map_err(|_| Failure::Garbage(format!("chunk size {:?}", line.trim())))?;
        if body.len().saturating_add(n) > MAX_BODY_BYTES {
            return Err(Failure::Garbage(format!(
                "a body over {MAX_BODY_BYTES} bytes"
            )));
        }
        let start = body.len();
        body.resize(start + n, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(|e| Failure::Io(e, true))?;
        let mut crlf = [0u8; 2];
        reader
            .read_exact(&mut crlf)
            .map_err(|e| Failure::Io(e, true))?;
        if n == 0 {
            return Ok(body);
        }
    }
}

/// The probabilities of the connector's answer `[p0,p1,...]`.
pub fn parse_answer(body: &[u8]) -> Option<Vec<f32>> {
    let text = std::str::from_utf8(body).ok()?.trim();
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner.split(',').map(|v| v.trim().parse().ok()).collect()
}

/// The error of a refusal: the daemon's JSON `{"code","name","message"}`, or `Unavailable`
/// with the status and a preview of what came instead.
fn daemon_error(socket: &Path, status: u16, body: &[u8]) -> Error {
    let parsed: Option<(Code, String)> = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let code = Code::from_u32(u32::try_from(v.get("code")?.as_u64()?).ok()?)?;
            Some((code, v.get("message")?.as_str()?.to_string()))
        });
    match parsed {
        Some((code, message)) => Error::new(code, message),
        None => unavailable(
            socket,
            format!(
                "answered HTTP {status} without an edgeclass error: {:?}",
                preview(body)
            ),
        ),
    }
}

fn preview(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
    if bytes.len() > 200 {
        s + "..."
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_back_to_the_same_floats() {
        let probs = [0.3f32, 0.1, 1e-30, 0.0, 1.0, 0.123_456_79];
        let body = crate::answer::connector_body(&probs);
        assert_eq!(parse_answer(body.as_bytes()).unwrap(), probs);
        assert_eq!(parse_answer(b"[]").unwrap(), Vec::<f32>::new());
        for bad in [&b"[0.1,"[..], b"0.1]", b"[0.1,,0.2]", b"[x]", b"\xff"] {
            assert!(parse_answer(bad).is_none(), "{bad:?}");
        }
    }
}
