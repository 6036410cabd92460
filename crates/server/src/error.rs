//! Command errors and their exact Redis wording.
//!
//! Handlers return `CmdError`; the dispatcher turns it into the error reply.
//! All fixed error texts live here so they match redis-server 7.0 in one
//! place.

/// A command failure. The reply text is `message()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdError {
    WrongType,
    NotInteger,
    NotFloat,
    Syntax,
    OutOfRange,
    /// "value is out of range, must be positive".
    NotPositive,
    NoSuchKey,
    InvalidExpire(&'static str),
    IncrOverflow,
    NanOrInfinity,
    StringTooLong,
    InvalidDbIndex,
    DbIndexOutOfRange,
    SameObject,
    /// Any other message, including its code (e.g. "ERR ...", "NOAUTH ...").
    Custom(String),
    /// A message that quotes client bytes verbatim (not necessarily UTF-8).
    Raw(Vec<u8>),
}

pub type CmdResult = Result<(), CmdError>;

impl CmdError {
    pub fn custom(message: impl Into<String>) -> CmdError {
        CmdError::Custom(message.into())
    }

    /// "ERR <text>".
    pub fn err(text: impl AsRef<str>) -> CmdError {
        CmdError::Custom(format!("ERR {}", text.as_ref()))
    }

    /// "ERR " followed by byte pieces joined as they are.
    pub fn err_bytes(parts: &[&[u8]]) -> CmdError {
        let mut message = b"ERR ".to_vec();
        parts.iter().for_each(|p| message.extend_from_slice(p));
        CmdError::Raw(message)
    }

    /// The reply text as bytes (exact for `Raw`).
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            CmdError::Raw(bytes) => bytes.clone(),
            other => other.message().into_bytes(),
        }
    }

    pub fn message(&self) -> String {
        match self {
            CmdError::WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value".into(),
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::OutOfRange => "ERR value is out of range".into(),
            CmdError::NotPositive => "ERR value is out of range, must be positive".into(),
            CmdError::NoSuchKey => "ERR no such key".into(),
            CmdError::InvalidExpire(command) => format!("ERR invalid expire time in '{command}' command"),
            CmdError::IncrOverflow => "ERR increment or decrement would overflow".into(),
            CmdError::NanOrInfinity => "ERR increment would produce NaN or Infinity".into(),
            CmdError::StringTooLong => "ERR string exceeds maximum allowed size (proto-max-bulk-len)".into(),
            CmdError::InvalidDbIndex => "ERR invalid DB index".into(),
            CmdError::DbIndexOutOfRange => "ERR DB index is out of range".into(),
            CmdError::SameObject => "ERR source and destination objects are the same".into(),
            CmdError::Custom(message) => message.clone(),
            CmdError::Raw(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// The error code (first word) for errorstats.
    pub fn code(&self) -> String {
        self.message().split(' ').next().unwrap_or("ERR").to_string()
    }
}

/// Helpers for argument parsing with Redis's errors.
pub mod parse {
    use super::CmdError;

    pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
        shoal_resp::number::parse_i64(arg).ok_or(CmdError::NotInteger)
    }

    pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
        shoal_resp::number::parse_f64(arg).ok_or(CmdError::NotFloat)
    }

    /// Case-insensitive keyword comparison.
    pub fn is(arg: &[u8], keyword: &str) -> bool {
        arg.eq_ignore_ascii_case(keyword.as_bytes())
    }

    /// A database index argument as SELECT/MOVE/SWAPDB parse it.
    pub fn db_index(arg: &[u8]) -> Result<i64, CmdError> {
        shoal_resp::number::parse_i64(arg).ok_or(CmdError::InvalidDbIndex)
    }
}
