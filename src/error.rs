//! Error type shared by every part of the engine.
//!
//! Every failure carries an [`ErrorKind`] (stable numeric codes, mirrored by the C
//! status enum) and a human-readable message that says what was wrong and where.

use std::fmt;

/// The category of a failure. The numbers are stable and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorKind {
    /// A caller-supplied argument is invalid (NULL, out of range, empty where it must not be).
    InvalidArgument = 1,
    /// Reading a file failed (missing file, permission, I/O error).
    Io = 2,
    /// The weights file is malformed or inconsistent (header, tensor table, shapes, metadata).
    InvalidWeights = 3,
    /// The vocabulary file is malformed or does not fit the weights.
    InvalidVocab = 4,
    /// The tools JSON is invalid (bad JSON, a tool without a string name, a wrong-typed field).
    InvalidTools = 5,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 6,
    /// The loaded model lacks a part the call needs (e.g. the contrastive head).
    Unsupported = 7,
    /// The call was stopped by the caller's callback.
    Cancelled = 8,
    /// An internal invariant failed (a bug in libneedle); the message says which.
    Internal = 9,
}

impl ErrorKind {
    /// Every kind, in code order (what the wrappers' status lists are checked against).
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidArgument,
        ErrorKind::Io,
        ErrorKind::InvalidWeights,
        ErrorKind::InvalidVocab,
        ErrorKind::InvalidTools,
        ErrorKind::InvalidUtf8,
        ErrorKind::Unsupported,
        ErrorKind::Cancelled,
        ErrorKind::Internal,
    ];

    /// The kind of a numeric code, `None` for 0 (success) and unknown codes.
    pub fn from_code(code: i32) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Stable numeric code (also the C status value).
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Short stable name of the kind.
    pub fn name(self) -> &'static str {
        let n = self.c_name();
        &n[..n.len() - 1]
    }

    /// [`ErrorKind::name`] with a terminating NUL (for `needle_status_str`).
    pub(crate) fn c_name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument\0",
            ErrorKind::Io => "I/O error\0",
            ErrorKind::InvalidWeights => "invalid weights file\0",
            ErrorKind::InvalidVocab => "invalid vocabulary\0",
            ErrorKind::InvalidTools => "invalid tools JSON\0",
            ErrorKind::InvalidUtf8 => "invalid UTF-8\0",
            ErrorKind::Unsupported => "unsupported by this model\0",
            ErrorKind::Cancelled => "cancelled\0",
            ErrorKind::Internal => "internal error\0",
        }
    }
}

/// An engine error: a kind plus a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Creates an error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }

    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn weights(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidWeights, message)
    }

    pub(crate) fn vocab(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidVocab, message)
    }

    pub(crate) fn argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for Error {}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;
