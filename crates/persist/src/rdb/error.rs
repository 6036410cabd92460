//! What can go wrong reading RDB data.

use std::fmt;

/// A decoding or reading failure.
#[derive(Debug)]
pub enum Error {
    /// The input is not valid RDB data; the text says what was wrong.
    Corrupt(&'static str),
    /// The input ended in the middle of something.
    Truncated,
    /// A packed encoding (`what`: "Ziplist", "Zset listpack", ...) failed
    /// its check; Redis logs these as "<what> integrity check failed".
    Integrity { what: &'static str, cause: Box<Error> },
    /// A collection with no elements (Redis refuses to load one: it skips
    /// the key in a file and fails a RESTORE).
    EmptyKey,
    /// A value type byte this version does not know.
    UnknownType(u8),
    /// The file does not start with the RDB signature.
    Signature,
    /// A version this reader cannot handle.
    Version(u32),
    /// The stored checksum differs from the computed one.
    Checksum { expected: u64, computed: u64 },
    /// Module data (no modules can be loaded).
    Module,
    /// Reading the source failed.
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Corrupt(what) => write!(f, "corrupt RDB data: {what}"),
            Error::Truncated => f.write_str("Unexpected EOF reading RDB file"),
            Error::Integrity { what, cause } => match &**cause {
                Error::Corrupt(detail) => write!(f, "{what} integrity check failed ({detail})."),
                Error::Truncated => write!(f, "{what} integrity check failed (it ends early)."),
                other => write!(f, "{what} integrity check failed ({other})."),
            },
            Error::EmptyKey => f.write_str("empty keys skipped"),
            Error::UnknownType(t) => write!(f, "Unknown RDB encoding type {t}"),
            Error::Signature => f.write_str("Wrong signature trying to load DB from file"),
            Error::Version(v) => write!(f, "Can't handle RDB format version {v}"),
            Error::Checksum { expected, computed } => {
                write!(f, "RDB CRC error: the file says {expected:x}, its data gives {computed:x}")
            }
            Error::Module => f.write_str("The RDB file contains module data I can't load: no matching module"),
            Error::Io(e) => write!(f, "error reading the RDB file: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Reports a failure inside a packed encoding as its integrity check
/// failing (an empty collection stays `EmptyKey`: a file skips it).
pub(crate) fn integrity<T>(what: &'static str, result: Result<T>) -> Result<T> {
    result.map_err(|e| match e {
        Error::EmptyKey | Error::Integrity { .. } => e,
        cause => Error::Integrity { what, cause: Box::new(cause) },
    })
}
