//! The one map from edgeclass error codes to HTTP statuses (`docs/serve.md` documents it;
//! tests/serve.rs compares the two). A `match` with no wildcard: a new code does not compile
//! until it has a status here and a row there.

use edgeclass::Code;

/// The HTTP status an error with `code` is answered with.
pub fn http_status(code: Code) -> u16 {
    match code {
        // The request is wrong.
        Code::InvalidArgument => 400,
        Code::BufferTooSmall => 500,
        Code::UnknownService => 404,
        Code::ServiceExists => 409,
        // The service's configuration is wrong (its requests get the error): not the request's.
        Code::InvalidParameter => 503,
        Code::Unsupported => 503,
        // A client's code for a daemon it cannot reach: the daemon never answers it itself; a
        // proxy in front of one would, as an unavailable upstream.
        Code::Unavailable => 502,
        // The body.
        Code::UnsupportedContentType => 415,
        Code::UnsupportedImageFormat => 415,
        Code::UnsupportedImageFeature => 415,
        Code::ContentTypeMismatch => 415,
        Code::CorruptImage => 400,
        Code::BadTensor => 400,
        // The model could not be loaded (at start or by a reload): the service cannot answer.
        Code::ModelNotFound => 503,
        Code::ParamsFormat => 503,
        Code::SymbolFormat => 503,
        Code::UnsupportedOperator => 503,
        Code::ModelMismatch => 503,
        Code::Nnef => 503,
        Code::Io => 503,
        // Limits.
        Code::MemoryLimit => 413,
        Code::ImageTooLarge => 413,
        Code::Timeout => 504,
        Code::Cancelled => 503,
        Code::Internal => 500,
        Code::Panic => 500,
    }
}

/// Answers that are not an edgeclass error (no such route, wrong method): their status and the
/// code their JSON body carries.
pub const ROUTING: &[(u16, Code, &str)] = &[
    (404, Code::InvalidArgument, "no such route"),
    (
        405,
        Code::InvalidArgument,
        "method not allowed on this route",
    ),
];
