//! One error type for the whole library.
//!
//! Every error carries a [`Code`] (stable: grouped by stage, never renumbered, exported to C as
//! `EDGECLASS_*` status values) and a message that names the thing that is wrong: the parameter and
//! its rule, the operator and its node, the bytes needed and allowed.

use std::fmt;

/// Stable status codes. Groups: 1xxx arguments and configuration, 2xxx input images,
/// 3xxx models, 4xxx limits (memory, size, time), 5xxx internal. Never renumber a code; add new
/// ones at the end of their group.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// A caller-supplied argument is invalid (NULL where a value is required, bad UTF-8, ...).
    InvalidArgument = 1001,
    /// A connector or service parameter fails its documented rule.
    InvalidParameter = 1002,
    /// The caller's output buffer is too small; the message and the out-size say how much is needed.
    BufferTooSmall = 1003,
    /// No service with that name is open.
    UnknownService = 1004,
    /// A service with that name is already open.
    ServiceExists = 1005,
    /// The requested feature (e.g. GPU acceleration) is not available in this build.
    Unsupported = 1006,

    /// The content type is not one the service accepts.
    UnsupportedContentType = 2001,
    /// The bytes are not a JPEG or PNG (the message names what was detected).
    UnsupportedImageFormat = 2002,
    /// The image data is corrupt or ends early.
    CorruptImage = 2003,
    /// The image uses a feature the decoder does not implement (e.g. arithmetic coding).
    UnsupportedImageFeature = 2004,
    /// The bytes disagree with the declared content type and strict mode is on.
    ContentTypeMismatch = 2005,
    /// The input tensor file (.npy / raw f32) is malformed or has the wrong shape.
    BadTensor = 2006,

    /// A model file or directory is missing, or the artefact is incomplete or ambiguous.
    ModelNotFound = 3001,
    /// The `.params` file is malformed (bad magic, truncated, impossible sizes, unknown dtype).
    ParamsFormat = 3002,
    /// The symbol JSON is malformed (not JSON, bad attribute, bad input reference, cycle).
    SymbolFormat = 3003,
    /// The graph uses an operator (or an operator option) edgeclass does not implement.
    UnsupportedOperator = 3004,
    /// Weights and graph disagree (missing parameter, wrong shape), or the input shape is invalid.
    ModelMismatch = 3005,
    /// NNEF load or save failed.
    Nnef = 3006,
    /// An I/O error while reading or writing a model file.
    Io = 3007,

    /// The memory limit would be exceeded; the message gives the bytes needed and allowed.
    MemoryLimit = 4001,
    /// The image is larger than the configured cap.
    ImageTooLarge = 4002,
    /// The request's deadline passed.
    Timeout = 4003,
    /// The request was cancelled from another thread.
    Cancelled = 4004,

    /// An internal error in edgeclass or tract (a bug: please report it).
    Internal = 5001,
    /// A panic was caught at the C boundary (a bug: please report it).
    Panic = 5002,
}

impl Code {
    /// Short, stable, machine-friendly name (used in messages and by the Python binding).
    pub fn name(self) -> &'static str {
        match self {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::InvalidParameter => "INVALID_PARAMETER",
            Code::BufferTooSmall => "BUFFER_TOO_SMALL",
            Code::UnknownService => "UNKNOWN_SERVICE",
            Code::ServiceExists => "SERVICE_EXISTS",
            Code::Unsupported => "UNSUPPORTED",
            Code::UnsupportedContentType => "UNSUPPORTED_CONTENT_TYPE",
            Code::UnsupportedImageFormat => "UNSUPPORTED_IMAGE_FORMAT",
            Code::CorruptImage => "CORRUPT_IMAGE",
            Code::UnsupportedImageFeature => "UNSUPPORTED_IMAGE_FEATURE",
            Code::ContentTypeMismatch => "CONTENT_TYPE_MISMATCH",
            Code::BadTensor => "BAD_TENSOR",
            Code::ModelNotFound => "MODEL_NOT_FOUND",
            Code::ParamsFormat => "PARAMS_FORMAT",
            Code::SymbolFormat => "SYMBOL_FORMAT",
            Code::UnsupportedOperator => "UNSUPPORTED_OPERATOR",
            Code::ModelMismatch => "MODEL_MISMATCH",
            Code::Nnef => "NNEF",
            Code::Io => "IO",
            Code::MemoryLimit => "MEMORY_LIMIT",
            Code::ImageTooLarge => "IMAGE_TOO_LARGE",
            Code::Timeout => "TIMEOUT",
            Code::Cancelled => "CANCELLED",
            Code::Internal => "INTERNAL",
            Code::Panic => "PANIC",
        }
    }
}

/// An error: a stable code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    /// The same error with `context: ` put in front of its message.
    pub fn context(self, context: impl fmt::Display) -> Error {
        Error {
            code: self.code,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.name())
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand constructors, so call sites read `Err(err::params(format!(..)))`.
macro_rules! ctor {
    ($($fn:ident => $code:ident),* $(,)?) => {
        $(
            #[doc = concat!("An error with code [`Code::", stringify!($code), "`].")]
            pub fn $fn(message: impl Into<String>) -> Error {
                Error::new(Code::$code, message)
            }
        )*
    };
}

ctor! {
    invalid_argument => InvalidArgument,
    invalid_parameter => InvalidParameter,
    params_format => ParamsFormat,
    symbol_format => SymbolFormat,
    unsupported_operator => UnsupportedOperator,
    model_mismatch => ModelMismatch,
    model_not_found => ModelNotFound,
    bad_tensor => BadTensor,
    nnef => Nnef,
    internal => Internal,
    corrupt_image => CorruptImage,
    unsupported_image_format => UnsupportedImageFormat,
    unsupported_image_feature => UnsupportedImageFeature,
    unsupported_content_type => UnsupportedContentType,
    content_type_mismatch => ContentTypeMismatch,
    image_too_large => ImageTooLarge,
    memory_limit => MemoryLimit,
}

/// An I/O error on `path`, keeping the OS's words.
pub fn io(path: &std::path::Path, e: std::io::Error) -> Error {
    let code = if e.kind() == std::io::ErrorKind::NotFound {
        Code::ModelNotFound
    } else {
        Code::Io
    };
    Error::new(code, format!("{}: {e}", path.display()))
}
