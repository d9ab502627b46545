//! The ML Feedback connector's `Parameters`: `FeedbackConfigurationMap` (a JSON *string*) and
//! `RequestLimit`, validated with the documented patterns and ranges, plus edgeclass's own options
//! for the spool and MQTT (prefixed `Edgeclass`). Every rejection names the key and the rule.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::strategy::Strategy;
use crate::error::{invalid_parameter, Result};
use crate::names::{is_service_name, SERVICE_NAME_RULE};

/// One entry of `FeedbackConfigurationMap`.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedbackConfig {
    /// The map key: [`SERVICE_NAME_RULE`].
    pub id: String,
    /// `s3-bucket-name`: `^[a-z0-9\.\-]{3,63}$`.
    pub bucket: String,
    /// `content-type` of the uploaded model input (e.g. `image/jpeg`).
    pub content_type: String,
    /// `s3-prefix` (may be empty).
    pub prefix: String,
    /// `file-ext` without a leading dot (may be empty).
    pub file_ext: String,
    /// `sampling-strategy`; absent = keep every sample.
    pub strategy: Strategy,
}

impl FeedbackConfig {
    /// The S3 key of sample `uuid`: `s3-prefix/UUID.file-ext`, as the connector built it.
    pub fn s3_key(&self, uuid: &str) -> String {
        let mut key = String::new();
        if !self.prefix.is_empty() {
            key.push_str(&self.prefix);
            if !self.prefix.ends_with('/') {
                key.push('/');
            }
        }
        key.push_str(uuid);
        if !self.file_ext.is_empty() {
            key.push('.');
            key.push_str(&self.file_ext);
        }
        key
    }
}

/// Where samples wait until they are uploaded.
#[derive(Clone, Debug, PartialEq)]
pub struct SpoolOptions {
    /// `EdgeclassSpoolDirectory` (required).
    pub dir: PathBuf,
    /// `EdgeclassSpoolMaxBytes`: total bytes of sample files (default 256 MiB).
    pub max_bytes: u64,
    /// `EdgeclassSpoolMaxCount`: number of sample files (default 10000).
    pub max_count: u64,
}

/// The MQTT broker the messages go to (`EdgeclassMqttHost` set).
#[derive(Clone, Debug, PartialEq)]
pub struct MqttOptions {
    /// `EdgeclassMqttHost`: the broker's host name or address.
    pub host: String,
    /// `EdgeclassMqttPort` (default 1883).
    pub port: u16,
    /// `EdgeclassMqttClientId` (default `edgeclass-feedback-PID`).
    pub client_id: String,
    /// `EdgeclassMqttQueueLimit`: messages kept while the broker is unreachable (default 1000).
    pub queue_limit: usize,
}

/// The Greengrass v2 style result message (`EdgeclassResultTopic` set).
#[derive(Clone, Debug, PartialEq)]
pub struct ResultOptions {
    /// `EdgeclassResultTopic`: where the result message goes.
    pub topic: String,
    /// `EdgeclassResultTopK` (default 5, as the v2 sample's MAX_NO_OF_RESULTS).
    pub top_k: usize,
    /// `EdgeclassResultThreshold` (default 0.3, as the v2 sample's SCORE_THRESHOLD).
    pub threshold: f64,
}

/// A validated ML Feedback connector configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedbackConnectorConfig {
    /// By config id.
    pub configs: BTreeMap<String, FeedbackConfig>,
    /// `RequestLimit`: concurrent requests; `None` = no limit (absent, empty or "0").
    pub request_limit: Option<usize>,
    /// Where kept samples wait for upload.
    pub spool: SpoolOptions,
    /// The MQTT broker, when `EdgeclassMqttHost` is set.
    pub mqtt: Option<MqttOptions>,
    /// The Greengrass v2 style result message, when `EdgeclassResultTopic` is set.
    pub result: Option<ResultOptions>,
    /// `EdgeclassRandomSeed`: makes RANDOM_SAMPLING reproducible (tests); default from the OS.
    pub random_seed: Option<u64>,
}

/// The keys this build understands, with their rules (for error messages and docs).
pub const FEEDBACK_KEYS: &[(&str, &str)] = &[
    ("FeedbackConfigurationMap", "required: a JSON object (as a string) mapping config ids to configurations"),
    ("RequestLimit", "optional: ^$|^[0-9]{1,3}$ (empty or 0: no limit)"),
    ("EdgeclassSpoolDirectory", "required: the directory where samples wait for upload"),
    ("EdgeclassSpoolMaxBytes", "optional: [1-9][0-9]*, total bytes of spooled samples (default 268435456)"),
    ("EdgeclassSpoolMaxCount", "optional: [1-9][0-9]*, number of spooled samples (default 10000)"),
    ("EdgeclassMqttHost", "optional: the MQTT broker's host name or address (needs the mqtt feature)"),
    ("EdgeclassMqttPort", "optional: [1-9][0-9]*, at most 65535 (default 1883)"),
    ("EdgeclassMqttClientId", "optional: 1 to 23 characters [a-zA-Z0-9-_] (default edgeclass-feedback-PID)"),
    ("EdgeclassMqttQueueLimit", "optional: [1-9][0-9]*, messages kept while the broker is down, at most 1000000 (default 1000)"),
    ("EdgeclassResultTopic", "optional: publish a Greengrass v2 style inference-results message per classification to this topic"),
    ("EdgeclassResultTopK", "optional: [1-9][0-9]*, results per message (default 5)"),
    ("EdgeclassResultThreshold", "optional: a number in [0, 1], the lowest score reported (default 0.3)"),
    ("EdgeclassRandomSeed", "optional: [0-9]+, seed of RANDOM_SAMPLING (default: from the OS)"),
];

fn rule(key: &str, value: &str, rule: &str) -> crate::Error {
    invalid_parameter(format!("{key}={value:?} does not match {rule}"))
}

fn positive(key: &str, value: &str, max: u64) -> Result<u64> {
    let b = value.as_bytes();
    if b.is_empty() || b[0] == b'0' || !b.iter().all(u8::is_ascii_digit) {
        return Err(rule(key, value, "[1-9][0-9]*"));
    }
    match value.parse::<u64>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(invalid_parameter(format!(
            "{key}={value:?} is larger than the maximum {max}"
        ))),
    }
}

/// `^[a-z0-9\.\-]{3,63}$`
fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
}

/// `^$|^[0-9]{1,3}$`
fn parse_request_limit(value: &str) -> Result<Option<usize>> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > 3 || !value.bytes().all(|c| c.is_ascii_digit()) {
        return Err(rule("RequestLimit", value, "^$|^[0-9]{1,3}$"));
    }
    // "0" would refuse every request; read it as "no limit" like the empty string.
    Ok(value.parse::<usize>().ok().filter(|&v| v > 0))
}

fn string_field(id: &str, obj: &Map<String, Value>, key: &str, required: bool) -> Result<String> {
    match obj.get(key) {
        None if required => Err(invalid_parameter(format!(
            "FeedbackConfigurationMap[{id:?}]: {key} is required but was not provided"
        ))),
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(invalid_parameter(format!(
            "FeedbackConfigurationMap[{id:?}].{key}={other} must be a string"
        ))),
    }
}

fn number_in(id: &str, key: &str, v: Option<&Value>, max: f64) -> Result<f64> {
    let name = format!("FeedbackConfigurationMap[{id:?}].sampling-strategy.{key}");
    let v =
        v.ok_or_else(|| invalid_parameter(format!("{name} is required but was not provided")))?;
    // Numbers, and numbers written as strings (CloudFormation turns numbers into strings).
    let x = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let range = if max.is_infinite() {
        "a number >= 0".to_string()
    } else {
        format!("a number in [0, {max}]")
    };
    match x {
        Some(x) if x.is_finite() && (0.0..=max).contains(&x) => Ok(x),
        _ => Err(invalid_parameter(format!("{name}={v} must be {range}"))),
    }
}

fn parse_strategy(id: &str, v: &Value) -> Result<Strategy> {
    let obj = v.as_object().ok_or_else(|| {
        invalid_parameter(format!(
            "FeedbackConfigurationMap[{id:?}].sampling-strategy={v} must be an object {{\"strategy-name\": ..., \"rate\" | \"threshold\": ...}}"
        ))
    })?;
    for key in obj.keys() {
        if !["strategy-name", "rate", "threshold"].contains(&key.as_str()) {
            return Err(invalid_parameter(format!(
                "FeedbackConfigurationMap[{id:?}].sampling-strategy: unknown key {key:?}; known keys: strategy-name, rate, threshold"
            )));
        }
    }
    let name = match obj.get("strategy-name") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(invalid_parameter(format!(
                "FeedbackConfigurationMap[{id:?}].sampling-strategy.strategy-name={other} must be a string"
            )))
        }
        None => {
            return Err(invalid_parameter(format!(
                "FeedbackConfigurationMap[{id:?}].sampling-strategy.strategy-name is required but was not provided"
            )))
        }
    };
    let threshold = |max| number_in(id, "threshold", obj.get("threshold"), max);
    Ok(match name {
        "RANDOM_SAMPLING" => Strategy::RandomSampling {
            rate: number_in(id, "rate", obj.get("rate"), 1.0)?,
        },
        "LEAST_CONFIDENCE" => Strategy::LeastConfidence {
            threshold: threshold(1.0)?,
        },
        "MARGIN" => Strategy::Margin {
            threshold: threshold(1.0)?,
        },
        "ENTROPY" => Strategy::Entropy {
            threshold: threshold(f64::INFINITY)?,
        },
        other => {
            return Err(invalid_parameter(format!(
                "FeedbackConfigurationMap[{id:?}].sampling-strategy.strategy-name={other:?} must be one of RANDOM_SAMPLING, LEAST_CONFIDENCE, MARGIN, ENTROPY"
            )))
        }
    })
}

fn parse_config(id: &str, v: &Value) -> Result<FeedbackConfig> {
    if !is_service_name(id) {
        return Err(invalid_parameter(format!(
            "FeedbackConfigurationMap: config id {id:?} does not match {SERVICE_NAME_RULE}"
        )));
    }
    let obj = v.as_object().ok_or_else(|| {
        invalid_parameter(format!(
            "FeedbackConfigurationMap[{id:?}]={v} must be an object"
        ))
    })?;
    const KNOWN: [&str; 5] = [
        "s3-bucket-name",
        "content-type",
        "s3-prefix",
        "file-ext",
        "sampling-strategy",
    ];
    for key in obj.keys() {
        if !KNOWN.contains(&key.as_str()) {
            return Err(invalid_parameter(format!(
                "FeedbackConfigurationMap[{id:?}]: unknown key {key:?}; known keys: {}",
                KNOWN.join(", ")
            )));
        }
    }
    let bucket = string_field(id, obj, "s3-bucket-name", true)?;
    if !is_bucket_name(&bucket) {
        return Err(rule(
            &format!("FeedbackConfigurationMap[{id:?}].s3-bucket-name"),
            &bucket,
            "^[a-z0-9\\.\\-]{3,63}$",
        ));
    }
    let content_type = string_field(id, obj, "content-type", true)?;
    if content_type.is_empty() || content_type.chars().any(|c| c.is_control()) {
        return Err(rule(
            &format!("FeedbackConfigurationMap[{id:?}].content-type"),
            &content_type,
            "a non-empty MIME type such as image/jpeg",
        ));
    }
    let prefix = string_field(id, obj, "s3-prefix", false)?;
    let file_ext = string_field(id, obj, "file-ext", false)?;
    // The key becomes a file name fragment and an S3 key: no control characters, no "..".
    for (key, value) in [("s3-prefix", &prefix), ("file-ext", &file_ext)] {
        if value.chars().any(|c| c.is_control()) || value.split('/').any(|p| p == "..") {
            return Err(rule(
                &format!("FeedbackConfigurationMap[{id:?}].{key}"),
                value,
                "printable characters without '..' segments",
            ));
        }
    }
    if file_ext.contains('/') {
        return Err(rule(
            &format!("FeedbackConfigurationMap[{id:?}].file-ext"),
            &file_ext,
            "an extension without '/' (e.g. jpg)",
        ));
    }
    let strategy = match obj.get("sampling-strategy") {
        None | Some(Value::Null) => Strategy::All,
        Some(s) => parse_strategy(id, s)?,
    };
    Ok(FeedbackConfig {
        id: id.to_string(),
        bucket,
        content_type,
        prefix,
        file_ext,
        strategy,
    })
}

/// Parse the `FeedbackConfigurationMap` JSON string.
pub fn parse_configuration_map(text: &str) -> Result<BTreeMap<String, FeedbackConfig>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        invalid_parameter(format!(
            "FeedbackConfigurationMap is not valid JSON ({e}); it must be a JSON object (as a string) mapping config ids to configurations"
        ))
    })?;
    let obj = value.as_object().ok_or_else(|| {
        invalid_parameter(
            "FeedbackConfigurationMap must be a JSON object mapping config ids to configurations",
        )
    })?;
    if obj.is_empty() {
        return Err(invalid_parameter(
            "FeedbackConfigurationMap must hold at least one configuration",
        ));
    }
    // serde_json keeps the last of duplicate keys; the connector requires unique ids.
    if let Some(dup) = duplicate_top_level_key(text) {
        return Err(invalid_parameter(format!(
            "FeedbackConfigurationMap: config id {dup:?} appears twice; ids must be unique"
        )));
    }
    obj.iter()
        .map(|(id, v)| Ok((id.clone(), parse_config(id, v)?)))
        .collect()
}

/// The first key that appears twice at the top level of a JSON object, by a small scan (serde_json
/// silently keeps the last one).
fn duplicate_top_level_key(text: &str) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    let b = text.as_bytes();
    let (mut depth, mut i, mut expect_key) = (0usize, 0usize, false);
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => {
                depth += 1;
                expect_key = depth == 1 && b[i] == b'{';
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect_key = true,
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                if depth == 1 && expect_key {
                    let raw = &text[start..i.min(text.len())];
                    let key: String = serde_json::from_str(&format!("\"{raw}\"")).ok()?;
                    if !seen.insert(key.clone()) {
                        return Some(key);
                    }
                    expect_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

impl FeedbackConnectorConfig {
    /// Validate a `Parameters` map (all values strings, as in the connector definition).
    pub fn from_parameters(params: &BTreeMap<String, String>) -> Result<FeedbackConnectorConfig> {
        for key in params.keys() {
            if !FEEDBACK_KEYS.iter().any(|(k, _)| k == key) {
                let known: Vec<&str> = FEEDBACK_KEYS.iter().map(|(k, _)| *k).collect();
                return Err(invalid_parameter(format!(
                    "unknown ML Feedback parameter {key:?}; known parameters: {}",
                    known.join(", ")
                )));
            }
        }
        let get = |k: &str| params.get(k).map(String::as_str);
        let map = get("FeedbackConfigurationMap").ok_or_else(|| {
            invalid_parameter("FeedbackConfigurationMap is required but was not provided")
        })?;
        let configs = parse_configuration_map(map)?;
        let request_limit = match get("RequestLimit") {
            Some(v) => parse_request_limit(v)?,
            None => None,
        };
        let dir = get("EdgeclassSpoolDirectory").ok_or_else(|| {
            invalid_parameter("EdgeclassSpoolDirectory is required but was not provided (the directory where samples wait for upload)")
        })?;
        if dir.is_empty() {
            return Err(rule(
                "EdgeclassSpoolDirectory",
                dir,
                ".+ (a directory path)",
            ));
        }
        let spool = SpoolOptions {
            dir: PathBuf::from(dir),
            max_bytes: match get("EdgeclassSpoolMaxBytes") {
                Some(v) => positive("EdgeclassSpoolMaxBytes", v, u64::MAX)?,
                None => 256 << 20,
            },
            max_count: match get("EdgeclassSpoolMaxCount") {
                Some(v) => positive("EdgeclassSpoolMaxCount", v, u64::MAX)?,
                None => 10_000,
            },
        };
        let mqtt = match get("EdgeclassMqttHost") {
            None | Some("") => {
                for k in [
                    "EdgeclassMqttPort",
                    "EdgeclassMqttClientId",
                    "EdgeclassMqttQueueLimit",
                ] {
                    if params.contains_key(k) {
                        return Err(invalid_parameter(format!(
                            "{k} is set but EdgeclassMqttHost is not"
                        )));
                    }
                }
                None
            }
            Some(host) => {
                if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(rule("EdgeclassMqttHost", host, "a host name or address"));
                }
                let port = match get("EdgeclassMqttPort") {
                    Some(v) => positive("EdgeclassMqttPort", v, 65535)? as u16,
                    None => 1883,
                };
                let client_id = match get("EdgeclassMqttClientId") {
                    Some(v) => {
                        // MQTT 3.1.1 §3.1.3.1: servers MUST accept 1..=23 of these characters.
                        if v.is_empty()
                            || v.len() > 23
                            || !v
                                .bytes()
                                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                        {
                            return Err(rule(
                                "EdgeclassMqttClientId",
                                v,
                                "1 to 23 characters [a-zA-Z0-9-_]",
                            ));
                        }
                        v.to_string()
                    }
                    None => format!("edgeclass-fb-{}", std::process::id()),
                };
                let queue_limit = match get("EdgeclassMqttQueueLimit") {
                    Some(v) => positive("EdgeclassMqttQueueLimit", v, 1_000_000)? as usize,
                    None => 1000,
                };
                Some(MqttOptions {
                    host: host.to_string(),
                    port,
                    client_id,
                    queue_limit,
                })
            }
        };
        let result = match get("EdgeclassResultTopic") {
            None | Some("") => None,
            Some(topic) => {
                if topic.contains(['+', '#', '\0']) || topic.len() > 65535 {
                    return Err(rule(
                        "EdgeclassResultTopic",
                        topic,
                        "an MQTT topic name without wildcards",
                    ));
                }
                let top_k = match get("EdgeclassResultTopK") {
                    Some(v) => positive("EdgeclassResultTopK", v, 100_000)? as usize,
                    None => 5,
                };
                let threshold = match get("EdgeclassResultThreshold") {
                    Some(v) => match v.trim().parse::<f64>() {
                        Ok(x) if (0.0..=1.0).contains(&x) => x,
                        _ => return Err(rule("EdgeclassResultThreshold", v, "a number in [0, 1]")),
                    },
                    None => 0.3,
                };
                Some(ResultOptions {
                    topic: topic.to_string(),
                    top_k,
                    threshold,
                })
            }
        };
        let random_seed = match get("EdgeclassRandomSeed") {
            Some(v) => Some(
                v.parse::<u64>()
                    .map_err(|_| rule("EdgeclassRandomSeed", v, "[0-9]+ (a 64-bit integer)"))?,
            ),
            None => None,
        };
        Ok(FeedbackConnectorConfig {
            configs,
            request_limit,
            spool,
            mqtt,
            result,
            random_seed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ML Feedback connector documentation's example map (two configurations).
    pub const DOC_MAP: &str = r#"{
        "RandomSamplingConfiguration": {
            "s3-bucket-name": "my-aws-bucket-random-sampling",
            "content-type": "image/png",
            "file-ext": "png",
            "sampling-strategy": {"strategy-name": "RANDOM_SAMPLING", "rate": 0.5}
        },
        "LeastConfidenceConfiguration": {
            "s3-bucket-name": "my-aws-bucket-least-confidence-sampling",
            "content-type": "image/png",
            "file-ext": "png",
            "sampling-strategy": {"strategy-name": "LEAST_CONFIDENCE", "threshold": 0.4}
        }
    }"#;

    fn params(map: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert("FeedbackConfigurationMap".to_string(), map.to_string());
        p.insert("RequestLimit".to_string(), "10".to_string());
        p.insert("EdgeclassSpoolDirectory".to_string(), "/tmp/x".to_string());
        for (k, v) in extra {
            p.insert(k.to_string(), v.to_string());
        }
        p
    }

    #[test]
    fn the_documented_example_is_accepted() {
        let c = FeedbackConnectorConfig::from_parameters(&params(DOC_MAP, &[])).unwrap();
        assert_eq!(c.configs.len(), 2);
        let r = &c.configs["RandomSamplingConfiguration"];
        assert_eq!(r.bucket, "my-aws-bucket-random-sampling");
        assert_eq!(r.strategy, Strategy::RandomSampling { rate: 0.5 });
        assert_eq!(r.s3_key("U"), "U.png");
        assert_eq!(
            c.configs["LeastConfidenceConfiguration"].strategy,
            Strategy::LeastConfidence { threshold: 0.4 }
        );
        assert_eq!(c.request_limit, Some(10));
        assert_eq!(c.spool.max_bytes, 256 << 20);
        assert_eq!(c.spool.max_count, 10_000);
        assert_eq!(c.mqtt, None);
    }

    #[test]
    fn s3_keys_join_prefix_and_extension() {
        let mut c = parse_configuration_map(
            r#"{"c1": {"s3-bucket-name": "b.b-1", "content-type": "image/jpeg", "s3-prefix": "pre/fix", "file-ext": "jpg"}}"#,
        )
        .unwrap()
        .remove("c1")
        .unwrap();
        assert_eq!(c.strategy, Strategy::All);
        assert_eq!(c.s3_key("U"), "pre/fix/U.jpg");
        c.prefix = "pre/".into();
        c.file_ext.clear();
        assert_eq!(c.s3_key("U"), "pre/U");
    }

    #[test]
    fn request_limit_pattern_and_range() {
        for (v, want) in [("", None), ("0", None), ("1", Some(1)), ("999", Some(999))] {
            let c =
                FeedbackConnectorConfig::from_parameters(&params(DOC_MAP, &[("RequestLimit", v)]))
                    .unwrap();
            assert_eq!(c.request_limit, want, "RequestLimit={v:?}");
        }
        for v in ["1000", "-1", "ten", " 5", "1.5"] {
            let e =
                FeedbackConnectorConfig::from_parameters(&params(DOC_MAP, &[("RequestLimit", v)]))
                    .unwrap_err();
            assert!(
                e.message.contains("RequestLimit") && e.message.contains("^$|^[0-9]{1,3}$"),
                "{v}: {e}"
            );
        }
    }

    #[test]
    fn each_rejection_names_the_key_and_the_rule() {
        let cfg = |body: &str| format!(r#"{{"Cfg-1": {{{body}}}}}"#);
        let ok = r#""s3-bucket-name": "bucket", "content-type": "image/jpeg""#;
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "not valid JSON"),
            ("[1]".into(), "JSON object"),
            ("{}".into(), "at least one"),
            (r#"{"a": {}}"#.into(), "^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$"),
            (r#"{"bad_id": {}}"#.into(), "^[a-zA-Z0-9][a-zA-Z0-9-]{1,62}$"),
            (cfg(r#""content-type": "image/jpeg""#), "s3-bucket-name is required"),
            (cfg(r#""s3-bucket-name": "bucket""#), "content-type is required"),
            (cfg(r#""s3-bucket-name": "Bucket", "content-type": "x""#), "^[a-z0-9\\.\\-]{3,63}$"),
            (cfg(r#""s3-bucket-name": "ab", "content-type": "x""#), "{3,63}"),
            (cfg(r#""s3-bucket-name": 7, "content-type": "x""#), "s3-bucket-name=7 must be a string"),
            (cfg(&format!(r#"{ok}, "s3-prefx": "p""#)), "unknown key \"s3-prefx\""),
            (cfg(&format!(r#"{ok}, "file-ext": "a/b""#)), "file-ext"),
            (cfg(&format!(r#"{ok}, "s3-prefix": "a/../b""#)), "'..'"),
            (cfg(&format!(r#"{ok}, "sampling-strategy": "MARGIN""#)), "must be an object"),
            (cfg(&format!(r#"{ok}, "sampling-strategy": {{"rate": 0.5}}"#)), "strategy-name is required"),
            (cfg(&format!(r#"{ok}, "sampling-strategy": {{"strategy-name": "UNCERTAINTY"}}"#)), "one of RANDOM_SAMPLING, LEAST_CONFIDENCE, MARGIN, ENTROPY"),
            (cfg(&format!(r#"{ok}, "sampling-strategy": {{"strategy-name": "RANDOM_SAMPLING"}}"#)), "rate is required"),
            (cfg(&format!(r#"{ok}, "sampling-strategy": {{"strategy-name": "RANDOM_SAMPLING", "rate": 1.5}}"#)), "rate=1.5 must be a number in [0, 1]"),
            (cfg(&format!(r#"{ok}, "sampling-strategy": {{"strategy-name": "LEAST_CONFIDENCE", "threshold": -0.1}}"#)), "threshold=-0.1 must be a number in [0, 1]"),
            (cfg(&format!(r#"{ok}, "sampling-strategy": {{"strategy-name": "MARGIN", "threshold": 2}}"#)), "threshold=2 must be a number in [0, 1]"),
            (cfg(&format!(r#"{ok}, "sampling-strategy": {{"strategy-name": "ENTROPY", "threshold": -1}}"#)), "must be a number >= 0"),
            (cfg(&format!(r#"{ok}, "sampling-strategy": {{"strategy-name": "ENTROPY", "thresold": 1}}"#)), "unknown key \"thresold\""),
            (r#"{"c1": {"s3-bucket-name": "bbb", "content-type": "x"}, "c1": {"s3-bucket-name": "ccc", "content-type": "x"}}"#.into(), "appears twice"),
        ];
        for (map, want) in &cases {
            let e = FeedbackConnectorConfig::from_parameters(&params(map, &[])).unwrap_err();
            assert_eq!(e.code, crate::Code::InvalidParameter, "{map}: {e}");
            assert!(
                e.message.contains("FeedbackConfigurationMap") && e.message.contains(want),
                "{map}: {e}"
            );
        }
        // Large entropy thresholds are fine ("0 to infinity").
        let c = parse_configuration_map(&cfg(&format!(
            r#"{ok}, "sampling-strategy": {{"strategy-name": "ENTROPY", "threshold": "7.5"}}"#
        )))
        .unwrap();
        assert_eq!(c["Cfg-1"].strategy, Strategy::Entropy { threshold: 7.5 });
    }

    #[test]
    fn edgeclass_options_are_validated() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("EdgeclassSpoolMaxBytes", "0")],
                "EdgeclassSpoolMaxBytes=\"0\" does not match [1-9][0-9]*",
            ),
            (&[("EdgeclassSpoolMaxCount", "x")], "EdgeclassSpoolMaxCount"),
            (&[("EdgeclassMqttPort", "1883")], "EdgeclassMqttHost is not"),
            (
                &[("EdgeclassMqttHost", "h"), ("EdgeclassMqttPort", "65536")],
                "EdgeclassMqttPort=\"65536\" is larger than the maximum 65535",
            ),
            (
                &[("EdgeclassMqttHost", "h"), ("EdgeclassMqttClientId", "a b")],
                "1 to 23 characters",
            ),
            (
                &[("EdgeclassMqttHost", "h"), ("EdgeclassMqttQueueLimit", "0")],
                "EdgeclassMqttQueueLimit",
            ),
            (&[("EdgeclassResultTopic", "a/#")], "without wildcards"),
            (
                &[
                    ("EdgeclassResultTopic", "a/b"),
                    ("EdgeclassResultThreshold", "1.1"),
                ],
                "EdgeclassResultThreshold=\"1.1\" does not match a number in [0, 1]",
            ),
            (&[("EdgeclassRandomSeed", "-3")], "EdgeclassRandomSeed"),
            (
                &[("EdgeclassSpoolDirectory", "")],
                "EdgeclassSpoolDirectory",
            ),
            (
                &[("EdgeclassMqttHots", "h")],
                "unknown ML Feedback parameter \"EdgeclassMqttHots\"",
            ),
        ];
        for (extra, want) in cases {
            let e = FeedbackConnectorConfig::from_parameters(&params(DOC_MAP, extra)).unwrap_err();
            assert!(e.message.contains(want), "{extra:?}: {e}");
        }
        let mut p = params(DOC_MAP, &[]);
        p.remove("EdgeclassSpoolDirectory");
        let e = FeedbackConnectorConfig::from_parameters(&p).unwrap_err();
        assert!(
            e.message.contains("EdgeclassSpoolDirectory is required"),
            "{e}"
        );
        let c = FeedbackConnectorConfig::from_parameters(&params(
            DOC_MAP,
            &[
                ("EdgeclassMqttHost", "127.0.0.1"),
                ("EdgeclassResultTopic", "ml/edgeclass/image-classification"),
            ],
        ))
        .unwrap();
        let m = c.mqtt.unwrap();
        assert_eq!((m.port, m.queue_limit), (1883, 1000));
        assert!(m.client_id.len() <= 23, "{}", m.client_id);
        let r = c.result.unwrap();
        assert_eq!((r.top_k, r.threshold), (5, 0.3));
    }
}
