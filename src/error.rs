//! One error type for the whole library.
//!
//! Every error carries a [`Code`] (stable: grouped by stage, never renumbered, exported to C as
//! `EDGECLASS_*` status values) and a message that names the thing that is wrong: the parameter and
//! its rule, the operator and its node, the bytes needed and allowed.

use std::fmt;

/// Stable status codes, exported to C as the `EDGECLASS_*` values of `edgeclass_status`. Groups:
/// 1xxx arguments and configuration, 2xxx input images, 3xxx models, 4xxx limits (memory, size,
/// time), 5xxx internal. Never renumbered; new ones are added at the end of their group.
macro_rules! codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $value:literal, $name:literal,)*) => {
        /// Stable status codes (see the module docs); `src/status_codes.rs` declares them.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[doc = $doc])* $variant = $value,)*
        }

        impl Code {
            /// Every code, in the order declared.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// Short, stable, machine-friendly name (used in messages and by the Python binding).
            pub fn name(self) -> &'static str {
                match self {
                    $(Code::$variant => $name,)*
                }
            }

            /// The C name (`EDGECLASS_` + [`Code::name`]) as a NUL-terminated static string.
            pub fn c_name_nul(self) -> &'static str {
                match self {
                    $(Code::$variant => concat!("EDGECLASS_", $name, "\0"),)*
                }
            }

            /// The code with this number, if there is one.
            pub fn from_u32(value: u32) -> Option<Code> {
                match value {
                    $($value => Some(Code::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

include!("status_codes.rs");

/// An error: a stable code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The stable code: what kind of failure, as C and Python see it.
    pub code: Code,
    /// What failed and why, for people.
    pub message: String,
}

impl Error {
    /// An error with `code` and `message`.
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

/// The library's result: an [`Error`] on failure.
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
