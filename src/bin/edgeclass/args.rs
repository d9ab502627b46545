//! The `edgeclass` command line, declared with clap's derive (binary only, not the library).
//!
//! A subcommand is one variant of [`Command`] with its own options struct, and one arm in
//! `main`'s match; options shared between subcommands are `#[command(flatten)]`ed structs
//! ([`ModelArg`], [`DecodeArgs`]). clap answers `--help` for every subcommand and `--version`, and
//! exits 2 on a usage error (as the hand-written parser did). A missing `--model` stays an
//! `INVALID_ARGUMENT` error (exit 1), checked by the command, as before.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use edgeclass::error::invalid_argument;
use edgeclass::image::{DecodeOptions, JpegDecoder};
use edgeclass::model::{ModelOptions, WinogradMode};

const AFTER_HELP: &str = "\
Exit status: 0 success, 1 error (the message names the error code), 2 usage error.
`edgeclass help COMMAND` or `edgeclass COMMAND --help` describes each command.";

/// Classify images with SageMaker image-classification (MXNet) or NNEF models, no MXNet needed.
#[derive(Parser)]
#[command(name = "edgeclass", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Describe a model: input shape, classes, labels, epoch, parameters, weight bytes, operators
    Info(ModelArg),
    /// Classify images or tensors: print the connector's answer (or the top K classes) per input
    ///
    /// The connector's answer is [p0,p1,...]: brackets, commas, no spaces, each value the shortest
    /// decimal that reads back as the same f32; prefixed with the file name when there are
    /// several inputs. Every input is answered or gets its error; the exit status is 1 when any
    /// failed.
    Classify(ClassifyArgs),
    /// Write the model as NNEF, keeping its input shape, labels and logits
    Convert(ConvertArgs),
    /// Time loading, decoding, resizing and inference on this machine
    Bench(BenchArgs),
    /// ML Feedback samples spooled by a service (`EdgeclassSpoolDirectory`)
    #[command(subcommand)]
    Feedback(FeedbackCommand),
    /// Serve every service of a services file over HTTP (a Unix socket, optionally TCP)
    ///
    /// The services file is the connector definition document the Python SDK reads. Routes:
    /// POST /services/NAME/invocations (or /invocations with one service), GET /ping,
    /// GET /services, GET /metrics, POST /services/NAME/reload; SIGHUP reloads every service,
    /// SIGTERM or SIGINT stops after the requests in flight. See docs/serve.md.
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
}

#[cfg(feature = "serve")]
#[derive(Args)]
pub struct ServeArgs {
    /// The services file: a connector definition ({"Connectors": [...]}) or a list of connectors
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The Unix socket to serve on (mode 0660) [env: EDGECLASS_SOCKET; default:
    /// /run/edgeclass/edgeclass.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Also serve over TCP on HOST:PORT (a loopback address unless --http-allow-remote)
    #[arg(long, value_name = "HOST:PORT")]
    pub http: Option<String>,
    /// Allow a --http address that other hosts can reach (the daemon has no authentication)
    #[arg(long)]
    pub http_allow_remote: bool,
    /// Close a connection whose request headers have not all arrived within SECONDS (also an
    /// idle keep-alive connection)
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = positive_seconds)]
    pub header_read_timeout: f64,
    /// Connections served at once; more wait to be accepted
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = positive)]
    pub max_connections: usize,
    /// Upload the samples of every ML Feedback connector of the file in the background, each
    /// through `sh -c CMD` as `edgeclass feedback drain --command` does, and publish the
    /// connector's success status and prediction messages after each upload
    #[arg(long, value_name = "CMD")]
    pub feedback_upload_command: Option<String>,
    /// Kill an upload command still running after SECONDS (the upload fails, CommandTimedOut,
    /// and is tried again after the backoff)
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = positive_seconds)]
    pub feedback_upload_timeout: f64,
    /// Every SECONDS, look at each service's model path, and reload the service when the files
    /// there have changed and held still for one interval (a model that fails to load is not
    /// tried again until its files change again; the old model serves on)
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub watch_models: Option<f64>,
}

#[derive(Args)]
pub struct ModelArg {
    /// The model (required): a SageMaker training job's folder or model.tar.gz, or NNEF
    ///
    /// A directory holding image-classification-symbol.json, image-classification-NNNN.params
    /// (the highest NNNN is used), model-shapes.json and optionally labels.txt; a SageMaker
    /// model.tar.gz holding the same; or an NNEF model (.nnef.tgz, .nnef.tar or a directory with
    /// graph.nnef). An archive's labels come from its own labels.txt member only.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
}

impl ModelArg {
    /// `--model`, which every command needs: its absence is an argument error (exit 1).
    pub fn path(&self) -> edgeclass::Result<&PathBuf> {
        self.model
            .as_ref()
            .ok_or_else(|| invalid_argument("--model PATH is required"))
    }
}

/// How images are decoded (classify, bench).
#[derive(Args)]
pub struct DecodeArgs {
    /// The declared type of the images (image/jpeg, image/png); default: from the bytes
    #[arg(long, value_name = "T")]
    pub content_type: Option<String>,
    /// Ignore the EXIF orientation
    #[arg(long)]
    pub no_exif: bool,
    /// Refuse bytes that disagree with --content-type
    #[arg(long)]
    pub strict: bool,
    /// JPEG decoder: zune (pure Rust) or libjpeg-turbo (bit-exact with the connector; needs the
    /// jpeg-turbo build feature)
    #[arg(long, value_enum, value_name = "D", default_value = "zune")]
    pub jpeg_decoder: Decoder,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Decoder {
    Zune,
    #[value(name = "libjpeg-turbo")]
    LibjpegTurbo,
}

impl DecodeArgs {
    pub fn options(&self) -> DecodeOptions {
        DecodeOptions {
            apply_exif: !self.no_exif,
            strict_content_type: self.strict,
            jpeg_decoder: match self.jpeg_decoder {
                Decoder::Zune => JpegDecoder::Zune,
                Decoder::LibjpegTurbo => JpegDecoder::Turbo,
            },
            ..DecodeOptions::default()
        }
    }

    /// The content type the images are declared as (the connector's default).
    pub fn content_type(&self) -> &str {
        self.content_type
            .as_deref()
            .unwrap_or("application/x-image")
    }
}

#[derive(Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// JPEG or PNG files, decoded and preprocessed as the connector's OpenCV stack did
    ///
    /// EXIF orientation applied, the whole image resized to the model's W x H, RGB or gray.
    #[arg(value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Float32 NCHW input tensors: .npy files, or raw little-endian f32 of C*H*W values
    ///
    /// Takes every value up to the next option.
    #[arg(long = "tensor", value_name = "FILE", num_args = 1..)]
    pub tensors: Vec<PathBuf>,
    /// Print the K most probable classes (with labels when the model has labels.txt) instead
    /// of the connector's answer
    #[arg(long, value_name = "K", value_parser = positive)]
    pub top: Option<usize>,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

/// How the model is optimised to run: `--threads`, `--winograd`.
#[derive(Args)]
pub struct RunArgs {
    /// Threads per inference [default: the cores this process may use]
    #[arg(long, value_name = "N", value_parser = positive)]
    pub threads: Option<usize>,
    /// Which 3x3 convolutions run as Winograd: off, lean (default) or fast [env:
    /// EDGECLASS_WINOGRAD]
    ///
    /// fast trades more weight memory for speed; off is tract's own convolutions.
    #[arg(long, value_name = "MODE")]
    pub winograd: Option<String>,
}

impl RunArgs {
    /// The model options: `--winograd`, else `EDGECLASS_WINOGRAD`, else lean. A value that is
    /// not a mode is refused (it was taken as the default before).
    pub fn options(&self) -> edgeclass::Result<ModelOptions> {
        let winograd = match (&self.winograd, std::env::var("EDGECLASS_WINOGRAD")) {
            (Some(v), _) => v
                .parse()
                .map_err(|e: edgeclass::Error| e.context("--winograd"))?,
            (None, Ok(v)) => v
                .parse()
                .map_err(|e: edgeclass::Error| e.context("EDGECLASS_WINOGRAD"))?,
            (None, Err(_)) => WinogradMode::default(),
        };
        Ok(ModelOptions {
            threads: self
                .threads
                .unwrap_or_else(|| edgeclass::default_threads(1)),
            winograd,
        })
    }
}

#[derive(Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Where to write the NNEF model (.tgz: gzipped tar, otherwise a plain tar); required
    #[arg(long, value_name = "FILE.nnef.tgz")]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// An image to time decoding and preprocessing with (and to classify, with --json)
    #[arg(value_name = "IMAGE")]
    pub image: Option<PathBuf>,
    /// Timed runs per stage, after warm-up
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = positive)]
    pub runs: usize,
    /// Also time every network node and print the slowest
    #[arg(long)]
    pub profile: bool,
    #[command(flatten)]
    pub run: RunArgs,
    /// End-to-end timings (bytes -> probabilities) as one JSON line, after a `FIRST <ms>` line
    /// printed as soon as the first answer exists (for harnesses); needs IMAGE
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub decode: DecodeArgs,
}

#[derive(Subcommand)]
pub enum FeedbackCommand {
    /// Upload the samples spooled in DIR, oldest first, through a shell command
    ///
    /// Runs `sh -c CMD` per sample with the input bytes on stdin and EDGECLASS_S3_BUCKET,
    /// EDGECLASS_S3_KEY, EDGECLASS_CONTENT_TYPE, EDGECLASS_SAMPLE_ID, EDGECLASS_CONFIG_ID,
    /// EDGECLASS_SOURCE_REF and EDGECLASS_SAMPLE_JSON in the environment; deletes a sample only
    /// when CMD exits 0; stops at the first failure (exit 1). Prints each uploaded sample's
    /// feedback/message/prediction JSON on stdout.
    Drain(DrainArgs),
}

#[derive(Args)]
pub struct DrainArgs {
    /// The spool directory (the service's EdgeclassSpoolDirectory)
    pub dir: PathBuf,
    /// The shell command that uploads one sample
    #[arg(long, value_name = "CMD")]
    pub command: String,
    /// Upload at most N samples (0: all)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max: usize,
    /// Kill CMD if it still runs after SECONDS (that upload fails; default: wait)
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub timeout: Option<f64>,
}

/// A positive number of seconds (at most a day).
fn positive_seconds(v: &str) -> Result<f64, String> {
    v.parse()
        .ok()
        .filter(|&s: &f64| s > 0.0 && s <= 86400.0)
        .ok_or_else(|| "not a number of seconds in (0, 86400]".to_string())
}

/// A count that must be at least 1 (`--top`, `--runs`, `--threads`).
fn positive(v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|&k| k > 0)
        .ok_or_else(|| "not a positive integer".to_string())
}
