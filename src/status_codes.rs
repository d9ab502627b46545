// The status codes, declared once: src/error.rs includes this file (the `Code` enum, its
// names, `Code::ALL`), and build.rs reads it to write src/ffi/status.rs (the C enum
// `edgeclass_status` that cbindgen puts in include/edgeclass.h). Groups: 1xxx arguments and
// configuration, 2xxx input images, 3xxx models, 4xxx limits (memory, size, time), 5xxx
// internal. Never renumber or remove a code; add new ones at the end of their group.
// One entry per line: doc lines, then `Variant = number, "NAME",`.
codes! {
    /// A caller-supplied argument is invalid (NULL where a value is required, bad UTF-8, ...).
    InvalidArgument = 1001, "INVALID_ARGUMENT",
    /// A connector or service parameter fails its documented rule.
    InvalidParameter = 1002, "INVALID_PARAMETER",
    /// The caller's output buffer is too small; the message and the out-size say how much is needed.
    BufferTooSmall = 1003, "BUFFER_TOO_SMALL",
    /// No service with that name is open.
    UnknownService = 1004, "UNKNOWN_SERVICE",
    /// A service with that name is already open.
    ServiceExists = 1005, "SERVICE_EXISTS",
    /// The requested feature (e.g. GPU acceleration) is not available in this build.
    Unsupported = 1006, "UNSUPPORTED",
    /// The `edgeclass serve` daemon a client calls cannot be reached, closed the connection
    /// before answering, or answered something that is not its protocol.
    Unavailable = 1007, "UNAVAILABLE",

    /// The content type is not one the service accepts.
    UnsupportedContentType = 2001, "UNSUPPORTED_CONTENT_TYPE",
    /// The bytes are not a JPEG or PNG (the message names what was detected).
    UnsupportedImageFormat = 2002, "UNSUPPORTED_IMAGE_FORMAT",
    /// The image data is corrupt or ends early.
    CorruptImage = 2003, "CORRUPT_IMAGE",
    /// The image uses a feature the decoder does not implement (e.g. arithmetic coding).
    UnsupportedImageFeature = 2004, "UNSUPPORTED_IMAGE_FEATURE",
    /// The bytes disagree with the declared content type and strict mode is on.
    ContentTypeMismatch = 2005, "CONTENT_TYPE_MISMATCH",
    /// The input tensor file (.npy / raw f32) is malformed or has the wrong shape.
    BadTensor = 2006, "BAD_TENSOR",

    /// A model file or directory is missing, or the artefact is incomplete or ambiguous.
    ModelNotFound = 3001, "MODEL_NOT_FOUND",
    /// The `.params` file is malformed (bad magic, truncated, impossible sizes, unknown dtype).
    ParamsFormat = 3002, "PARAMS_FORMAT",
    /// The symbol JSON is malformed (not JSON, bad attribute, bad input reference, cycle).
    SymbolFormat = 3003, "SYMBOL_FORMAT",
    /// The graph uses an operator (or an operator option) edgeclass does not implement.
    UnsupportedOperator = 3004, "UNSUPPORTED_OPERATOR",
    /// Weights and graph disagree (missing parameter, wrong shape), or the input shape is invalid.
    ModelMismatch = 3005, "MODEL_MISMATCH",
    /// NNEF load or save failed.
    Nnef = 3006, "NNEF",
    /// An I/O error while reading or writing a model file.
    Io = 3007, "IO",

    /// The memory limit would be exceeded; the message gives the bytes needed and allowed.
    MemoryLimit = 4001, "MEMORY_LIMIT",
    /// The image is larger than the configured cap.
    ImageTooLarge = 4002, "IMAGE_TOO_LARGE",
    /// The request's deadline passed.
    Timeout = 4003, "TIMEOUT",
    /// The request was cancelled from another thread.
    Cancelled = 4004, "CANCELLED",

    /// An internal error in edgeclass or tract (a bug: please report it).
    Internal = 5001, "INTERNAL",
    /// A panic was caught at the C boundary (a bug: please report it).
    Panic = 5002, "PANIC",
}
