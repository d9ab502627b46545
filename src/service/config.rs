//! The connector's `Parameters` object, validated with the documented patterns, plus edgeclass's
//! own options (prefixed `Edgeclass`). Every rejection names the parameter, the value and the rule.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{invalid_parameter, Result};
use crate::image::{DecodeOptions, JpegDecoder};
use crate::model::{default_threads, WinogradMode, MAX_THREADS};
use crate::names::{is_service_name, service_name_rule, SERVICE_NAME_RULE};

/// Upper bounds that keep a typo from becoming a day-long wait or a terabyte budget.
pub const MAX_TIMEOUT_SECONDS: u64 = 86_400;
/// The largest `LocalInferenceServiceMemoryLimitKB`: 256 GiB.
pub const MAX_MEMORY_KB: u64 = 256 << 20; // 256 GiB
/// The most `EdgeclassWorkers` (`EdgeclassThreads`: [`MAX_THREADS`]).
pub const MAX_WORKERS: usize = 64;

/// A validated service configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceConfig {
    /// `LocalInferenceServiceName`.
    pub name: String,
    /// `MLModelDestinationPath`: the model directory, `model.tar.gz` or NNEF file.
    pub model_path: PathBuf,
    /// `MLModelResourceId` (kept for logs; optional outside Greengrass).
    pub resource_id: Option<String>,
    /// `MLModelSageMakerJobArn` (kept for logs; optional outside Greengrass).
    pub job_arn: Option<String>,
    /// `LocalInferenceServiceTimeoutSeconds`.
    pub timeout: Duration,
    /// `LocalInferenceServiceMemoryLimitKB`, in bytes.
    pub memory_limit_bytes: u64,
    /// `MLFeedbackConnectorConfigId` (empty = none).
    pub feedback_config_id: Option<String>,
    /// `EdgeclassWorkers`: concurrent requests, each with its own model state (default 1).
    pub workers: usize,
    /// `EdgeclassThreads`: threads per inference (default: [`default_threads`] of the workers,
    /// the cores the process may use shared among them; more than 1 needs the `multithread`
    /// feature, a default one).
    pub threads: usize,
    /// `EdgeclassWinograd`: which 3x3 convolutions run as Winograd (default `lean`).
    pub winograd: WinogradMode,
    /// Image decoding options: `EdgeclassStrictDecoding`, `EdgeclassApplyExif`,
    /// `EdgeclassMaxImagePixels`, `EdgeclassJpegDecoder`.
    pub decode: DecodeOptions,
}

/// The keys this build understands, with what each one means (for error messages and docs).
pub const KEYS: &[(&str, &str)] = &[
    ("MLModelDestinationPath", "required: the model directory, model.tar.gz or NNEF file"),
    ("LocalInferenceServiceName", concat!("required: ", service_name_rule!())),
    ("LocalInferenceServiceTimeoutSeconds", "required: [1-9][0-9]*, at most 86400"),
    ("LocalInferenceServiceMemoryLimitKB", "required: [1-9][0-9]*, at most 268435456"),
    ("MLModelResourceId", "optional: [a-zA-Z0-9:_-]+"),
    ("MLModelSageMakerJobArn", "optional: arn:aws:sagemaker:REGION:ACCOUNT:training-job/NAME"),
    ("GPUAcceleration", "optional: CPU (default) or GPU"),
    (
        "MLFeedbackConnectorConfigId",
        concat!("optional: ^$|", service_name_rule!()),
    ),
    ("EdgeclassWorkers", "optional: concurrent requests, 1..=64 (default 1)"),
    ("EdgeclassThreads", "optional: threads per inference, 1..=64 (default: the cores the process may use, divided among EdgeclassWorkers; >1 needs the multithread feature, on by default)"),
    ("EdgeclassWinograd", "optional: off, lean (default) or fast: Winograd 3x3 convolutions, weight memory for speed"),
    ("EdgeclassStrictDecoding", "optional: true/false (default false): refuse bytes that disagree with the content type"),
    ("EdgeclassApplyExif", "optional: true/false (default true): apply the EXIF orientation as OpenCV does"),
    ("EdgeclassMaxImagePixels", "optional: [1-9][0-9]*, largest accepted width x height (default 67108864)"),
    ("EdgeclassJpegDecoder", "optional: zune (default) or libjpeg-turbo (bit-exact with the connector; needs the jpeg-turbo feature)"),
];

/// `[1-9][0-9]*`
fn is_positive_integer(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && (b'1'..=b'9').contains(&b[0]) && b.iter().all(u8::is_ascii_digit)
}

/// `[a-zA-Z0-9:_-]+`
fn is_resource_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b":_-".contains(&c))
}

/// `^arn:aws:sagemaker:[a-zA-Z0-9-]+:[0-9]+:training-job/[a-zA-Z0-9][a-zA-Z0-9-]+$`, also accepting
/// `training-job:` as the connector documentation's own example writes it. Returns whether the
/// colon form was used, or None when the value does not match.
fn job_arn_colon_form(s: &str) -> Option<bool> {
    let rest = s.strip_prefix("arn:aws:sagemaker:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, rest) = rest.split_once(':')?;
    let (colon, job) = if let Some(j) = rest.strip_prefix("training-job/") {
        (false, j)
    } else {
        (true, rest.strip_prefix("training-job:")?)
    };
    let ok = !region.is_empty()
        && region
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        && !account.is_empty()
        && account.bytes().all(|c| c.is_ascii_digit())
        && job.len() >= 2
        && job.as_bytes()[0].is_ascii_alphanumeric()
        && job.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
    ok.then_some(colon)
}

fn rule_error(key: &str, value: &str, rule: &str) -> crate::Error {
    invalid_parameter(format!("{key}={value:?} does not match {rule}"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(rule_error(key, value, "true or false")),
    }
}

fn parse_bounded(key: &str, value: &str, max: u64) -> Result<u64> {
    if !is_positive_integer(value) {
        return Err(rule_error(key, value, "[1-9][0-9]*"));
    }
    match value.parse::<u64>() {
        Ok(v) if v <= max => Ok(v),
        _ => Err(invalid_parameter(format!(
            "{key}={value:?} is larger than the maximum {max}"
        ))),
    }
}

/// Builds a [`ServiceConfig`] in Rust, checked by the same rules as the Greengrass parameter map
/// (it builds one: each method sets the parameter it names).
///
/// ```no_run
/// use edgeclass::ServiceConfig;
///
/// let config = ServiceConfig::builder("imageClassification", "/models/resnet18")
///     .timeout_seconds(10)
///     .memory_limit_kb(500_000)
///     .workers(2)
///     .build()?;
/// let service = edgeclass::Service::open(config)?;
/// # Ok::<(), edgeclass::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ServiceConfigBuilder {
    params: BTreeMap<String, String>,
}

impl ServiceConfigBuilder {
    fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.params.insert(key.to_string(), value.to_string());
        self
    }

    /// `LocalInferenceServiceTimeoutSeconds` (required, 1..=86400).
    pub fn timeout_seconds(self, seconds: u64) -> Self {
        self.set("LocalInferenceServiceTimeoutSeconds", seconds)
    }

    /// `LocalInferenceServiceMemoryLimitKB` (required).
    pub fn memory_limit_kb(self, kb: u64) -> Self {
        self.set("LocalInferenceServiceMemoryLimitKB", kb)
    }

    /// `EdgeclassWorkers`: requests served at once (default 1).
    pub fn workers(self, workers: usize) -> Self {
        self.set("EdgeclassWorkers", workers)
    }

    /// `EdgeclassThreads`: threads per inference (default: the cores the process may use,
    /// divided among the workers; more than 1 needs `multithread`).
    pub fn threads(self, threads: usize) -> Self {
        self.set("EdgeclassThreads", threads)
    }

    /// `EdgeclassWinograd` (default lean).
    pub fn winograd(self, mode: WinogradMode) -> Self {
        self.set("EdgeclassWinograd", mode.name())
    }

    /// `MLFeedbackConnectorConfigId`: the ML Feedback configuration this service feeds (when it
    /// is opened with its hook, `crate::feedback::open_service`).
    pub fn feedback_config_id(self, id: &str) -> Self {
        self.set("MLFeedbackConnectorConfigId", id)
    }

    /// `EdgeclassJpegDecoder` (default zune).
    pub fn jpeg_decoder(self, decoder: JpegDecoder) -> Self {
        self.set("EdgeclassJpegDecoder", decoder.name())
    }

    /// `EdgeclassStrictDecoding`: refuse bytes that disagree with the content type.
    pub fn strict_decoding(self, strict: bool) -> Self {
        self.set("EdgeclassStrictDecoding", strict)
    }

    /// `EdgeclassApplyExif` (default true).
    pub fn apply_exif(self, apply: bool) -> Self {
        self.set("EdgeclassApplyExif", apply)
    }

    /// `EdgeclassMaxImagePixels`: the largest accepted width x height.
    pub fn max_image_pixels(self, pixels: u64) -> Self {
        self.set("EdgeclassMaxImagePixels", pixels)
    }

    /// Any other parameter of [`KEYS`], by its Greengrass name.
    pub fn parameter(self, key: &str, value: &str) -> Self {
        self.set(key, value)
    }

    /// The configuration, or the first rule a parameter breaks (`InvalidParameter`, naming it).
    pub fn build(&self) -> Result<ServiceConfig> {
        ServiceConfig::from_parameters(&self.params)
    }
}

impl ServiceConfig {
    /// A [`ServiceConfigBuilder`] for a service called `name` serving the model at `model_path`
    /// (`LocalInferenceServiceName`, `MLModelDestinationPath`).
    pub fn builder(name: &str, model_path: impl AsRef<std::path::Path>) -> ServiceConfigBuilder {
        ServiceConfigBuilder {
            params: BTreeMap::new(),
        }
        .set("LocalInferenceServiceName", name)
        .set(
            "MLModelDestinationPath",
            model_path.as_ref().to_string_lossy(),
        )
    }

    /// Validate a `Parameters` map (all values strings, as in the connector definition).
    pub fn from_parameters(params: &BTreeMap<String, String>) -> Result<ServiceConfig> {
        for key in params.keys() {
            if !KEYS.iter().any(|(k, _)| k == key) {
                let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
                return Err(invalid_parameter(format!(
                    "unknown parameter {key:?}; known parameters: {}",
                    known.join(", ")
                )));
            }
        }
        let required = |key: &str| -> Result<&str> {
            params
                .get(key)
                .map(String::as_str)
                .ok_or_else(|| invalid_parameter(format!("{key} is required but was not provided")))
        };
        let name = required("LocalInferenceServiceName")?;
        if !is_service_name(name) {
            return Err(rule_error(
                "LocalInferenceServiceName",
                name,
                SERVICE_NAME_RULE,
            ));
        }
        let model_path = required("MLModelDestinationPath")?;
        if model_path.is_empty() {
            return Err(rule_error(
                "MLModelDestinationPath",
                model_path,
                ".+ (a model path)",
            ));
        }
        let timeout = parse_bounded(
            "LocalInferenceServiceTimeoutSeconds",
            required("LocalInferenceServiceTimeoutSeconds")?,
            MAX_TIMEOUT_SECONDS,
        )?;
        let memory_kb = parse_bounded(
            "LocalInferenceServiceMemoryLimitKB",
            required("LocalInferenceServiceMemoryLimitKB")?,
            MAX_MEMORY_KB,
        )?;
        let resource_id = match params.get("MLModelResourceId") {
            Some(v) if !is_resource_id(v) => {
                return Err(rule_error("MLModelResourceId", v, "[a-zA-Z0-9:_-]+"))
            }
            v => v.cloned(),
        };
        let job_arn = match params.get("MLModelSageMakerJobArn") {
            Some(v) => match job_arn_colon_form(v) {
                None => {
                    return Err(rule_error(
                        "MLModelSageMakerJobArn",
                        v,
                        "^arn:aws:sagemaker:[a-zA-Z0-9-]+:[0-9]+:training-job/[a-zA-Z0-9][a-zA-Z0-9-]+$",
                    ))
                }
                Some(true) => {
                    log::info!(
                        "[{name}] MLModelSageMakerJobArn uses 'training-job:' (as the connector documentation's example does) instead of 'training-job/'; accepted"
                    );
                    Some(v.clone())
                }
                Some(false) => Some(v.clone()),
            },
            None => None,
        };
        match params.get("GPUAcceleration").map(String::as_str) {
            None | Some("CPU") => {}
            Some("GPU") => {
                return Err(crate::Error::new(
                    crate::Code::Unsupported,
                    "GPUAcceleration=\"GPU\": this edgeclass build has no GPU runtime; use \"CPU\"",
                ))
            }
            Some(v) => return Err(rule_error("GPUAcceleration", v, "CPU or GPU")),
        }
        let feedback_config_id = match params
            .get("MLFeedbackConnectorConfigId")
            .map(String::as_str)
        {
            None | Some("") => None,
            Some(v) if is_service_name(v) => Some(v.to_string()),
            Some(v) => {
                return Err(rule_error(
                    "MLFeedbackConnectorConfigId",
                    v,
                    concat!("^$|", service_name_rule!()),
                ))
            }
        };
        let workers = match params.get("EdgeclassWorkers") {
            Some(v) => parse_bounded("EdgeclassWorkers", v, MAX_WORKERS as u64)? as usize,
            None => 1,
        };
        let threads = match params.get("EdgeclassThreads") {
            Some(v) => parse_bounded("EdgeclassThreads", v, MAX_THREADS as u64)? as usize,
            None => default_threads(workers),
        };
        if threads > 1 && !cfg!(feature = "multithread") {
            return Err(crate::Error::new(
                crate::Code::Unsupported,
                format!("EdgeclassThreads=\"{threads}\": this edgeclass build runs one thread per inference (build with the `multithread` feature for more)"),
            ));
        }
        let mut decode = DecodeOptions::default();
        let winograd = match params.get("EdgeclassWinograd") {
            Some(v) => v
                .parse()
                .map_err(|_| rule_error("EdgeclassWinograd", v, "off, lean or fast"))?,
            None => WinogradMode::default(),
        };
        if let Some(v) = params.get("EdgeclassStrictDecoding") {
            decode.strict_content_type = parse_bool("EdgeclassStrictDecoding", v)?;
        }
        if let Some(v) = params.get("EdgeclassApplyExif") {
            decode.apply_exif = parse_bool("EdgeclassApplyExif", v)?;
        }
        if let Some(v) = params.get("EdgeclassMaxImagePixels") {
            decode.max_pixels = parse_bounded("EdgeclassMaxImagePixels", v, 1 << 34)?;
        }
        if let Some(v) = params.get("EdgeclassJpegDecoder") {
            decode.jpeg_decoder = match JpegDecoder::from_name(v) {
                // Refused here, not at the first JPEG request, like GPUAcceleration=GPU.
                Some(JpegDecoder::Turbo) if !cfg!(feature = "jpeg-turbo") => {
                    return Err(crate::Error::new(
                        crate::Code::Unsupported,
                        "EdgeclassJpegDecoder=\"libjpeg-turbo\": this edgeclass build has no libjpeg-turbo (build with the `jpeg-turbo` feature); use \"zune\"",
                    ))
                }
                Some(decoder) => decoder,
                None => {
                    return Err(rule_error(
                        "EdgeclassJpegDecoder",
                        v,
                        "zune or libjpeg-turbo",
                    ))
                }
            };
        }
        Ok(ServiceConfig {
            name: name.to_string(),
            model_path: PathBuf::from(model_path),
            resource_id,
            job_arn,
            timeout: Duration::from_secs(timeout),
            memory_limit_bytes: memory_kb * 1024,
            feedback_config_id,
            workers,
            threads,
            winograd,
            decode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> BTreeMap<String, String> {
        // The connector documentation's create-connector-definition example (x86_64, v2).
        [
            ("MLModelDestinationPath", "/path-to-model"),
            ("MLModelResourceId", "my-ml-resource"),
            (
                "MLModelSageMakerJobArn",
                "arn:aws:sagemaker:us-west-2:123456789012:training-job:MyImageClassifier",
            ),
            ("LocalInferenceServiceName", "imageClassification"),
            ("LocalInferenceServiceTimeoutSeconds", "10"),
            ("LocalInferenceServiceMemoryLimitKB", "500000"),
            ("GPUAcceleration", "CPU"),
            ("MLFeedbackConnectorConfigId", "MyConfig0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn the_documented_example_is_accepted() {
        let c = ServiceConfig::from_parameters(&seed()).unwrap();
        assert_eq!(c.name, "imageClassification");
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.memory_limit_bytes, 500_000 * 1024);
        assert_eq!(c.feedback_config_id.as_deref(), Some("MyConfig0"));
        assert_eq!(c.workers, 1);
    }

    #[test]
    fn each_rule_names_parameter_value_and_rule() {
        let cases: &[(&str, &str, &str)] = &[
            ("LocalInferenceServiceName", "a", "{1,62}"),
            ("LocalInferenceServiceName", "my_service", "{1,62}"),
            ("LocalInferenceServiceName", "-abc", "{1,62}"),
            ("LocalInferenceServiceName", &"a".repeat(64), "{1,62}"),
            ("LocalInferenceServiceTimeoutSeconds", "0", "[1-9][0-9]*"),
            ("LocalInferenceServiceTimeoutSeconds", "10s", "[1-9][0-9]*"),
            ("LocalInferenceServiceTimeoutSeconds", "86401", "maximum"),
            ("LocalInferenceServiceMemoryLimitKB", "-5", "[1-9][0-9]*"),
            (
                "LocalInferenceServiceMemoryLimitKB",
                "99999999999999999999999",
                "maximum",
            ),
            ("MLModelResourceId", "bad id", "[a-zA-Z0-9:_-]+"),
            (
                "MLModelSageMakerJobArn",
                "arn:aws:s3:::bucket",
                "training-job/",
            ),
            (
                "MLModelSageMakerJobArn",
                "arn:aws:sagemaker:us-west-2:12ab:training-job/x1",
                "training-job/",
            ),
            ("GPUAcceleration", "TPU", "CPU or GPU"),
            ("EdgeclassWinograd", "quick", "off, lean or fast"),
            ("EdgeclassWinograd", "", "off, lean or fast"),
            ("MLFeedbackConnectorConfigId", "x", "^$|"),
            ("EdgeclassWorkers", "65", "maximum"),
            ("EdgeclassStrictDecoding", "maybe", "true or false"),
            ("EdgeclassJpegDecoder", "libjpeg", "zune or libjpeg-turbo"),
            ("MLModelDestinationPath", "", "model path"),
        ];
        for (key, value, rule) in cases {
            let mut p = seed();
            p.insert(key.to_string(), value.to_string());
            let e = ServiceConfig::from_parameters(&p).unwrap_err();
            assert_eq!(e.code, crate::Code::InvalidParameter, "{key}={value}: {e}");
            assert!(
                e.message.contains(key) && e.message.contains(rule),
                "{key}={value}: {e}"
            );
        }
    }

    #[test]
    fn the_builder_gives_what_the_parameter_map_gives() {
        let built = ServiceConfig::builder("imageClassification", "/m/model.tar.gz")
            .timeout_seconds(7)
            .memory_limit_kb(1000)
            .workers(3)
            .winograd(WinogradMode::Fast)
            .jpeg_decoder(JpegDecoder::Zune)
            .strict_decoding(true)
            .apply_exif(false)
            .max_image_pixels(4096)
            .feedback_config_id("cfg-1")
            .build()
            .unwrap();
        let map: BTreeMap<String, String> = [
            ("LocalInferenceServiceName", "imageClassification"),
            ("MLModelDestinationPath", "/m/model.tar.gz"),
            ("LocalInferenceServiceTimeoutSeconds", "7"),
            ("LocalInferenceServiceMemoryLimitKB", "1000"),
            ("EdgeclassWorkers", "3"),
            ("EdgeclassWinograd", "fast"),
            ("EdgeclassJpegDecoder", "zune"),
            ("EdgeclassStrictDecoding", "true"),
            ("EdgeclassApplyExif", "false"),
            ("EdgeclassMaxImagePixels", "4096"),
            ("MLFeedbackConnectorConfigId", "cfg-1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(built, ServiceConfig::from_parameters(&map).unwrap());
        assert_eq!(built.timeout, Duration::from_secs(7));
        assert_eq!(built.memory_limit_bytes, 1000 * 1024);
        // The same rules: a missing required parameter, a value out of range.
        let e = ServiceConfig::builder("svc", "/m")
            .memory_limit_kb(1)
            .build();
        assert!(e
            .unwrap_err()
            .message
            .contains("LocalInferenceServiceTimeoutSeconds"));
        let e = ServiceConfig::builder("svc", "/m")
            .timeout_seconds(1)
            .memory_limit_kb(1)
            .workers(65)
            .build();
        assert!(e.unwrap_err().message.contains("EdgeclassWorkers"));
    }

    #[test]
    fn each_mode_and_decoder_name_parses_back() {
        for mode in [WinogradMode::Off, WinogradMode::Lean, WinogradMode::Fast] {
            assert_eq!(mode.name().parse::<WinogradMode>().unwrap(), mode);
        }
        for decoder in [JpegDecoder::Zune, JpegDecoder::Turbo] {
            assert_eq!(JpegDecoder::from_name(decoder.name()), Some(decoder));
        }
        assert_eq!(JpegDecoder::from_name("libjpeg"), None);
    }

    #[test]
    fn winograd_is_a_service_option_lean_by_default() {
        assert_eq!(
            ServiceConfig::from_parameters(&seed()).unwrap().winograd,
            WinogradMode::Lean
        );
        for (v, mode) in [
            ("off", WinogradMode::Off),
            ("lean", WinogradMode::Lean),
            ("fast", WinogradMode::Fast),
        ] {
            let mut p = seed();
            p.insert("EdgeclassWinograd".into(), v.into());
            assert_eq!(ServiceConfig::from_parameters(&p).unwrap().winograd, mode);
        }
    }

    #[test]
    fn optional_forms_and_missing_required() {
        let mut p = seed();
        p.insert(
            "MLModelSageMakerJobArn".into(),
            "arn:aws:sagemaker:eu-central-1:1:training-job/ic-2019".into(),
        );
        p.insert("MLFeedbackConnectorConfigId".into(), String::new());
        p.remove("GPUAcceleration");
        let c = ServiceConfig::from_parameters(&p).unwrap();
        assert_eq!(c.feedback_config_id, None);
        p.insert("GPUAcceleration".into(), "GPU".into());
        assert_eq!(
            ServiceConfig::from_parameters(&p).unwrap_err().code,
            crate::Code::Unsupported
        );
        let mut p = seed();
        p.remove("LocalInferenceServiceMemoryLimitKB");
        let e = ServiceConfig::from_parameters(&p).unwrap_err();
        assert!(
            e.message
                .contains("LocalInferenceServiceMemoryLimitKB is required"),
            "{e}"
        );
        let mut p = seed();
        p.insert("LocalInferenceServiceTimeOutSeconds".into(), "3".into());
        let e = ServiceConfig::from_parameters(&p).unwrap_err();
        assert!(
            e.message
                .contains("unknown parameter \"LocalInferenceServiceTimeOutSeconds\""),
            "{e}"
        );
    }
}
