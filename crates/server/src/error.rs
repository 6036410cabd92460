//! Command errors and their exact Redis wording.
//!
//! Handlers return `CmdError`; the dispatcher turns it into the error reply.
//! The texts are redis-server 7.0's, byte for byte, and each is written
//! once. Here live the errors many commands share (variants), the fixed
//! texts that several places or commands give and those a family names
//! (constants of `CmdError`), and texts built from arguments that several
//! places give (constructors). A text that one command gives at one place
//! may stay there as a literal, next to the condition it reports.

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
    /// A fixed text, code included; see the constants below.
    Fixed(&'static str),
    /// Any other message, including its code (e.g. "ERR ...", "NOAUTH ...").
    Custom(String),
    /// A message that quotes client bytes verbatim (not necessarily UTF-8).
    Raw(Vec<u8>),
}

pub type CmdResult = Result<(), CmdError>;

impl CmdError {
    /// A replica whose link is down, with `replica-serve-stale-data no`.
    pub const MASTERDOWN: CmdError =
        CmdError::Fixed("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");

    // Blocking commands' timeouts.
    pub const TIMEOUT_NOT_FLOAT: CmdError = CmdError::Fixed("ERR timeout is not a float or out of range");
    pub const TIMEOUT_NOT_INTEGER: CmdError = CmdError::Fixed("ERR timeout is not an integer or out of range");
    pub const TIMEOUT_NEGATIVE: CmdError = CmdError::Fixed("ERR timeout is negative");

    // Counts and limits.
    /// LMPOP, ZMPOP (and their blocking forms), SINTERCARD.
    pub const NUMKEYS_NOT_POSITIVE: CmdError = CmdError::Fixed("ERR numkeys should be greater than 0");
    /// The COUNT of LMPOP and ZMPOP (and their blocking forms).
    pub const COUNT_NOT_POSITIVE: CmdError = CmdError::Fixed("ERR count should be greater than 0");
    /// The COUNT of GEORADIUS, GEOSEARCH and XAUTOCLAIM.
    pub const COUNT_OPTION_NOT_POSITIVE: CmdError = CmdError::Fixed("ERR COUNT must be > 0");
    /// The LIMIT of SINTERCARD and ZINTERCARD.
    pub const LIMIT_NEGATIVE: CmdError = CmdError::Fixed("ERR LIMIT can't be negative");
    /// SRANDMEMBER and HRANDFIELD when the reply would be too big.
    pub const SAMPLE_TOO_LARGE: CmdError =
        CmdError::Fixed("ERR count is too large: the reply would exceed proto-max-bulk-len");
    /// SCAN, SSCAN, HSCAN and ZSCAN.
    pub const INVALID_CURSOR: CmdError = CmdError::Fixed("ERR invalid cursor");

    // Connections (CLIENT SETNAME, HELLO SETNAME).
    pub const BAD_CLIENT_NAME: CmdError =
        CmdError::Fixed("ERR Client names cannot contain spaces, newlines or special characters.");

    // Bitmaps.
    pub const BIT_OFFSET_NOT_INTEGER: CmdError = CmdError::Fixed("ERR bit offset is not an integer or out of range");
    pub const BIT_NOT_INTEGER: CmdError = CmdError::Fixed("ERR bit is not an integer or out of range");
    pub const BITPOS_BIT_NOT_BINARY: CmdError = CmdError::Fixed("ERR The bit argument must be 1 or 0.");
    pub const BITOP_NOT_ONE_SOURCE: CmdError =
        CmdError::Fixed("ERR BITOP NOT must be called with a single source key.");
    pub const BITFIELD_BAD_TYPE: CmdError = CmdError::Fixed(
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.",
    );
    pub const BITFIELD_BAD_OVERFLOW: CmdError = CmdError::Fixed("ERR Invalid OVERFLOW type specified");
    pub const BITFIELD_RO_GET_ONLY: CmdError = CmdError::Fixed("ERR BITFIELD_RO only supports the GET subcommand");

    // Sorted sets.
    /// ZADD INCR and ZINCRBY when the score would become NaN.
    pub const NAN_SCORE: CmdError = CmdError::Fixed("ERR resulting score is not a number (NaN)");
    pub const MIN_MAX_NOT_FLOAT: CmdError = CmdError::Fixed("ERR min or max is not a float");
    pub const MIN_MAX_NOT_LEX_RANGE: CmdError = CmdError::Fixed("ERR min or max not valid string range item");

    // HyperLogLog.
    pub const NOT_HLL: CmdError = CmdError::Fixed("WRONGTYPE Key is not a valid HyperLogLog string value.");
    pub const HLL_CORRUPT: CmdError = CmdError::Fixed("INVALIDOBJ Corrupted HLL object detected");

    // Streams.
    pub const INVALID_STREAM_ID: CmdError =
        CmdError::Fixed("ERR Invalid stream ID specified as stream command argument");
    pub const STREAM_ELEMENTS_TOO_LARGE: CmdError = CmdError::Fixed("ERR Elements are too large to be stored");

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

    /// A command's own arity rule failed (pairs, an option's operands...):
    /// the text the dispatcher gives for the table's arity.
    pub fn wrong_arity(command: &str) -> CmdError {
        CmdError::err(format!("wrong number of arguments for '{command}' command"))
    }

    /// A subcommand's arguments are not what it takes (Redis's
    /// addReplySubcommandSyntaxError).
    pub fn subcommand_syntax(argv: &[&[u8]]) -> CmdError {
        CmdError::err(format!(
            "unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
            String::from_utf8_lossy(&argv[1][..argv[1].len().min(128)]),
            String::from_utf8_lossy(argv[0]).to_uppercase()
        ))
    }

    /// An integer argument outside `min..=max`.
    pub fn not_between(min: i64, max: i64) -> CmdError {
        CmdError::err(format!("value is out of range, value must between {min} and {max}"))
    }

    /// XPENDING, XCLAIM, XAUTOCLAIM: the stream or its group is missing.
    pub fn no_key_or_group(key: &[u8], group: &[u8]) -> CmdError {
        CmdError::custom(format!("NOGROUP No such key '{}' or consumer group '{}'", c_str(key), c_str(group)))
    }

    /// XGROUP and XINFO CONSUMERS: the stream exists, the group does not.
    pub fn no_group_for_key(group: &[u8], key: &[u8]) -> CmdError {
        CmdError::custom(format!("NOGROUP No such consumer group '{}' for key name '{}'", c_str(group), c_str(key)))
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
            CmdError::Fixed(text) => (*text).into(),
            CmdError::Custom(message) => message.clone(),
            CmdError::Raw(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// The error code (first word) for errorstats.
    pub fn code(&self) -> String {
        self.message().split(' ').next().unwrap_or("ERR").to_string()
    }
}

/// Bytes as C's `%s` prints them into an error text (up to the first NUL).
pub fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
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

    /// An integer of at least 1, else `error` (also for a non-integer).
    pub fn at_least_one(arg: &[u8], error: CmdError) -> Result<i64, CmdError> {
        int(arg).ok().filter(|n| *n >= 1).ok_or(error)
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
