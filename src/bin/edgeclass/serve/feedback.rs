//! The daemon's ML Feedback: the background uploader of every feedback connector of the file
//! (`--feedback-upload-command`, the CLI's command uploader), the connectors' messages in the
//! log, and `POST /feedback/{config_id}/publish`, the SDK's `publish` from another process.

use std::time::Duration;

use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::Request;
use serde_json::{json, Value};

use edgeclass::error::{internal, invalid_argument, memory_limit};
use edgeclass::feedback::{registry, Outcome};
use edgeclass::{Code, Error};

use super::http::{drain, error, respond, Answer};
use super::state::Daemon;

/// The largest `publish` body read (the JSON with the base64 model input: about 12 MiB of
/// input). Refused from `Content-Length` before a byte is read; `state::Daemon` holds twice
/// this of publish bodies at once.
pub const PUBLISH_BODY_MAX: u64 = 16 << 20;

/// How long a `publish` body may take to arrive.
pub const PUBLISH_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Give every open feedback connector of `daemon` its message log and, with `command`, its
/// background uploader (a command still running after `timeout` is killed). Uploads run on each connector's own upload thread, never on the
/// request threads; failures back off as the library's hub does (1 s doubling to 60 s).
pub fn start(daemon: &Daemon, command: Option<&str>, timeout: Duration) -> edgeclass::Result<()> {
    for f in &daemon.feedback {
        let Ok(fb) = &f.feedback else { continue };
        // At debug level: a status message per classification at info would flood the log of
        // a busy daemon. Without a broker, say once where the messages can be seen.
        if fb.config().mqtt.is_none() {
            log::info!(
                "{}: no EdgeclassMqttHost: its status and prediction messages go to the log only, at debug level (EDGECLASS_LOG=debug)",
                f.connector
            );
        }
        let connector = f.connector.clone();
        fb.set_message_callback(Some(std::sync::Arc::new(
            move |topic: &str, payload: &[u8]| {
                log::debug!(
                    "{connector}: message on {topic}: {}",
                    String::from_utf8_lossy(payload)
                );
            },
        )));
        match command {
            Some(cmd) => {
                fb.set_uploader(Some(crate::upload::command_uploader(cmd, Some(timeout))))
                    .map_err(|e| e.context(&f.connector))?;
                log::info!(
                    "{}: uploading its samples through sh -c {cmd:?}",
                    f.connector
                );
            }
            None => log::info!(
                "{}: samples stay in {} (no --feedback-upload-command; edgeclass feedback drain uploads them)",
                f.connector,
                fb.spool().dir().display()
            ),
        }
    }
    Ok(())
}

/// The standard base64 alphabet's value of `c`.
fn sextet(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decode standard base64 (RFC 4648 section 4; the `=` padding optional, no line breaks).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.len() % 4 == 1 {
        return Err("its length is not that of base64 text".into());
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for chunk in body.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = sextet(c)
                .ok_or_else(|| format!("{:?} is not a base64 character", char::from(c)))?;
            n |= v << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Ok(out)
}

/// The arguments of a `publish` body: (model input, prediction JSON text, metadata JSON text).
/// `ModelPrediction` and `Metadata` may be JSON values or JSON text in a string (what the
/// Python SDK sends: its own `json.dumps`, so that what the library refuses in-process, e.g.
/// `NaN`, is refused here with the same message).
pub fn publish_args(body: &[u8]) -> Result<(Vec<u8>, String, Option<String>), Error> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| invalid_argument(format!("the publish body is not JSON: {e}")))?;
    let Value::Object(mut doc) = doc else {
        return Err(invalid_argument(
            "the publish body must be a JSON object {\"ModelInput\", \"ModelPrediction\", \"Metadata\"}",
        ));
    };
    let missing = |name: &str| {
        invalid_argument(format!(
            "{name} argument of Feedback.Client.publish is a required argument but was not provided"
        ))
    };
    let input = match doc.remove("ModelInput") {
        None => return Err(missing("ModelInput")),
        Some(Value::String(s)) => base64_decode(&s)
            .map_err(|e| invalid_argument(format!("ModelInput is not base64: {e}")))?,
        Some(_) => return Err(invalid_argument("ModelInput must be base64 text")),
    };
    let text = |v: Value| match v {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let prediction = text(
        doc.remove("ModelPrediction")
            .ok_or_else(|| missing("ModelPrediction"))?,
    );
    let metadata = match doc.remove("Metadata") {
        None | Some(Value::Null) => None,
        Some(v) => Some(text(v)),
    };
    if let Some(extra) = doc.keys().next() {
        return Err(invalid_argument(format!(
            "unknown publish argument {extra:?}: expected ModelInput, ModelPrediction, Metadata"
        )));
    }
    Ok((input, prediction, metadata))
}

/// `POST /feedback/{config_id}/publish`.
pub async fn publish(daemon: &Daemon, config_id: &str, req: Request<Incoming>) -> Answer {
    match publish_inner(daemon, config_id, req).await {
        Ok(outcome) => {
            let name = match &outcome {
                Outcome::Spooled { .. } => "spooled",
                Outcome::Dropped { .. } => "dropped_by_strategy",
                Outcome::Throttled { .. } => "throttled",
            };
            respond(
                200,
                "application/json",
                json!({"outcome": name, "id": outcome.id()}).to_string(),
            )
        }
        Err(e) => error(&e),
    }
}

async fn publish_inner(
    daemon: &Daemon,
    config_id: &str,
    req: Request<Incoming>,
) -> Result<Outcome, Error> {
    let announced = match req.headers().get(CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| invalid_argument("Content-Length is not a number"))?,
        ),
    };
    let too_large = |n: String| {
        memory_limit(format!(
            "the publish body ({n}) is more than the daemon's limit of {PUBLISH_BODY_MAX} bytes"
        ))
    };
    if let Some(n) = announced.filter(|&n| n > PUBLISH_BODY_MAX) {
        drain(req).await;
        return Err(too_large(format!("Content-Length {n}")));
    }
    let room = &daemon.publish_bodies;
    let kib = announced
        .unwrap_or(PUBLISH_BODY_MAX)
        .div_ceil(1024)
        .clamp(1, room.kib as u64) as u32;
    let deadline = tokio::time::Instant::now() + PUBLISH_READ_TIMEOUT;
    let late = |what: &str| {
        Error::new(
            Code::Timeout,
            format!("{what} within {PUBLISH_READ_TIMEOUT:?}"),
        )
    };
    let _permit =
        match tokio::time::timeout_at(deadline, room.room.clone().acquire_many_owned(kib)).await {
            Err(_) => return Err(late("no room for the publish body (other bodies held it)")),
            Ok(p) => p.ok(),
        };
    let limited = Limited::new(req.into_body(), PUBLISH_BODY_MAX as usize);
    let body = match tokio::time::timeout_at(deadline, limited.collect()).await {
        Err(_) => return Err(late("the publish body was not received")),
        Ok(Err(e)) if e.is::<LengthLimitError>() => {
            return Err(too_large(format!("more than {PUBLISH_BODY_MAX} bytes")))
        }
        Ok(Err(e)) => {
            return Err(invalid_argument(format!(
                "the request body could not be read: {e}"
            )))
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    let (input, prediction, metadata) = publish_args(&body)?;
    drop(body);
    let id = config_id.to_string();
    // The sample is written and fsynced: not on the I/O threads.
    tokio::task::spawn_blocking(move || {
        registry::publish_json(&id, &input, &prediction, metadata.as_deref())
    })
    .await
    .map_err(|e| internal(format!("the publish task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_rfc4648_vectors() {
        // RFC 4648 section 10.
        for (text, want) in [
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmE=", "fooba"),
            ("Zm9vYmFy", "foobar"),
            ("Zm9vYg", "foob"),
        ] {
            assert_eq!(base64_decode(text).unwrap(), want.as_bytes(), "{text}");
        }
        assert_eq!(base64_decode("//79").unwrap(), [0xff, 0xfe, 0xfd]);
        for bad in ["Z", "Zm9vY", "Zm9v!A==", "Zg===", "Zm 9v"] {
            assert!(base64_decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn publish_bodies_take_values_or_json_text() {
        let (i, p, m) =
            publish_args(br#"{"ModelInput":"AAE=","ModelPrediction":[0.5,0.5]}"#).unwrap();
        assert_eq!((i, p.as_str(), m), (vec![0, 1], "[0.5,0.5]", None));
        let (_, p, m) =
            publish_args(br#"{"ModelInput":"","ModelPrediction":"[NaN]","Metadata":"{\"a\": 1}"}"#)
                .unwrap();
        assert_eq!((p.as_str(), m.as_deref()), ("[NaN]", Some("{\"a\": 1}")));
        for (body, want) in [
            (r#"{"ModelPrediction":[1]}"#, "ModelInput argument"),
            (r#"{"ModelInput":"AA=="}"#, "ModelPrediction argument"),
            (r#"{"ModelInput":3,"ModelPrediction":[1]}"#, "base64 text"),
            (r#"{"ModelInput":"A","ModelPrediction":[1]}"#, "not base64"),
            (
                r#"{"ModelInput":"","ModelPrediction":[1],"X":1}"#,
                "unknown publish argument \"X\"",
            ),
            ("[1]", "JSON object"),
            ("{", "not JSON"),
        ] {
            let e = publish_args(body.as_bytes()).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert!(e.message.contains(want), "{e}");
        }
    }
}
