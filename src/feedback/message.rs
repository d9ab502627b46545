//! The messages, in the ML Feedback connector's JSON shapes (`feedback/message/status`,
//! `feedback/message/prediction`) and the Greengrass v2 image-classification component's
//! (`inference-results` with `Label`/`Score`), including their quirks: the space before ")" in
//! the throttling message, `Score` as a string, the trailing space of `inference-description`.

use serde_json::{json, Map, Value};

/// Every request's outcome.
pub const STATUS_TOPIC: &str = "feedback/message/status";
/// A prediction, after its input was uploaded. (The documentation also writes it with a leading
/// slash; the topic the connector's tables list, without it, is used.)
pub const PREDICTION_TOPIC: &str = "feedback/message/prediction";

/// `{"response": {"status": "success", "s3_response": {...}}, "id": ID}`. The connector put
/// boto3's PutObject response in `s3_response`; edgeclass has `bucket` and `key` plus whatever the
/// uploader returned.
pub fn status_success(id: &str, bucket: &str, key: &str, extra: &Map<String, Value>) -> Value {
    let mut s3 = extra.clone();
    s3.insert("bucket".into(), json!(bucket));
    s3.insert("key".into(), json!(key));
    json!({"response": {"status": "success", "s3_response": s3}, "id": id})
}

/// `{"response": {"status": "sample_dropped_by_strategy"}, "id": ID}`.
pub fn status_dropped(id: &str) -> Value {
    json!({"response": {"status": "sample_dropped_by_strategy"}, "id": id})
}

/// An upload failure, worded as the connector did.
pub fn status_upload_failed(id: &str, error: &str, message: &str) -> Value {
    json!({
        "response": {
            "status": "fail",
            "error_message": format!(
                "[RequestId: {id}] Failed to upload model input data due to exception. Model prediction will not be published. Exception type: {error}, error: {message}"
            ),
            "error": error,
        },
        "id": id,
    })
}

/// `RequestLimit` reached: the connector's `Queue.Full` failure.
pub fn status_queue_full(id: &str, limit: usize) -> Value {
    json!({
        "response": {
            "status": "fail",
            "error_message": format!("Request limit has been reached (max request: {limit} ). Dropping request."),
            "error": "Queue.Full",
        },
        "id": id,
    })
}

/// `{"source-ref": "s3://bucket/key", "model-prediction": [...], "config-id": ..., "metadata": {...}}`.
pub fn prediction(
    source_ref: &str,
    prediction: &Value,
    config_id: &str,
    metadata: &Map<String, Value>,
) -> Value {
    json!({
        "source-ref": source_ref,
        "model-prediction": prediction,
        "config-id": config_id,
        "metadata": metadata,
    })
}

/// The Greengrass v2 component's result: the `top_k` best classes scoring at least `threshold`,
/// best first. `Label` is the class's label, or its index when the model has no labels; `Score`
/// is a string, as the v2 sample code wrote it.
pub fn inference_results(
    timestamp: &str,
    probs: &[f64],
    labels: Option<&[String]>,
    top_k: usize,
    threshold: f64,
) -> Value {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    // Stable: equal scores keep class order.
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let results: Vec<Value> = order
        .into_iter()
        .filter(|&i| probs[i] >= threshold)
        .take(top_k)
        .map(|i| {
            let label = labels
                .and_then(|l| l.get(i))
                .cloned()
                .unwrap_or_else(|| i.to_string());
            json!({"Label": label, "Score": python_float_str(probs[i])})
        })
        .collect();
    json!({
        "timestamp": timestamp,
        "inference-type": "image-classification",
        "inference-description": format!(
            "Top {top_k} predictions with score {} or above ",
            python_float_str(threshold)
        ),
        "inference-results": results,
    })
}

/// Python's `str(float)`: the shortest round-trip digits, exponent form below 1e-4 or from 1e16,
/// and always a decimal point or exponent ("1.0", not "1").
pub fn python_float_str(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else if x > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Rust: "1e-5", "1.5e-7"; Python: "1e-05", "1.5e-07".
        let s = format!("{x:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ("-", d),
            None => ("+", exp),
        };
        return format!("{mant}e{sign}{digits:0>2}");
    }
    let s = format!("{x}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_shapes_match_the_documentation() {
        assert_eq!(
            status_dropped("u1"),
            json!({"response": {"status": "sample_dropped_by_strategy"}, "id": "u1"})
        );
        let q = status_queue_full("u2", 10);
        assert_eq!(
            q["response"]["error_message"],
            "Request limit has been reached (max request: 10 ). Dropping request."
        );
        assert_eq!(q["response"]["error"], "Queue.Full");
        assert_eq!(q["response"]["status"], "fail");
        let f = status_upload_failed("u3", "NoSuchBucket", "The specified bucket does not exist");
        assert_eq!(
            f["response"]["error_message"],
            "[RequestId: u3] Failed to upload model input data due to exception. Model prediction will not be published. Exception type: NoSuchBucket, error: The specified bucket does not exist"
        );
        assert_eq!(f["response"]["error"], "NoSuchBucket");
        let mut extra = Map::new();
        extra.insert("ETag".into(), json!("\"abc\""));
        let s = status_success("u4", "b", "p/u4.jpg", &extra);
        assert_eq!(
            s,
            json!({"response": {"status": "success", "s3_response": {"ETag": "\"abc\"", "bucket": "b", "key": "p/u4.jpg"}}, "id": "u4"})
        );
    }

    #[test]
    fn prediction_shape_matches_the_documentation() {
        let mut md = Map::new();
        md.insert("publish-ts".into(), json!("2019-07-11 00:12:48.816752"));
        let p = prediction(
            "s3://bucket/prefix/UUID.ext",
            &json!([0.5, 0.2, 0.2, 0.1]),
            "ConfigID2",
            &md,
        );
        assert_eq!(
            p,
            json!({
                "source-ref": "s3://bucket/prefix/UUID.ext",
                "model-prediction": [0.5, 0.2, 0.2, 0.1],
                "config-id": "ConfigID2",
                "metadata": {"publish-ts": "2019-07-11 00:12:48.816752"},
            })
        );
        // Numbers print as Python printed them: shortest digits.
        assert!(serde_json::to_string(&p)
            .unwrap()
            .contains("[0.5,0.2,0.2,0.1]"));
    }

    #[test]
    fn inference_results_top_k_threshold_and_quirks() {
        let labels: Vec<String> = ["cat", "dog", "cougar, puma", "fox"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let probs = [0.1, 0.3, 0.5882352941176471, 0.01];
        let m = inference_results("2021-01-01 00:00:00.000000", &probs, Some(&labels), 5, 0.3);
        assert_eq!(
            m,
            json!({
                "timestamp": "2021-01-01 00:00:00.000000",
                "inference-type": "image-classification",
                "inference-description": "Top 5 predictions with score 0.3 or above ",
                "inference-results": [
                    {"Label": "cougar, puma", "Score": "0.5882352941176471"},
                    {"Label": "dog", "Score": "0.3"},
                ],
            })
        );
        // Top-1, no labels: the class index; ties keep class order.
        let m = inference_results("t", &[0.4, 0.4, 0.2], None, 1, 0.0);
        assert_eq!(
            m["inference-results"],
            json!([{"Label": "0", "Score": "0.4"}])
        );
        assert_eq!(
            m["inference-description"],
            "Top 1 predictions with score 0.0 or above "
        );
    }

    #[test]
    fn python_float_str_matches_python() {
        // Values checked against CPython's str().
        for (x, want) in [
            (0.3, "0.3"),
            (1.0, "1.0"),
            (0.0, "0.0"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (123.25, "123.25"),
        ] {
            assert_eq!(python_float_str(x), want, "{x}");
        }
    }
}
