//! RESP2/RESP3 and inline protocol handling for Shoal.
//!
//! This crate knows nothing about the server: it turns client bytes into
//! argument vectors (`request`), turns replies into bytes (`reply`), splits
//! inline command lines the way redis-server does (`inline`), and parses any
//! RESP value for clients, tests and replication links (`value`). It never
//! performs I/O and never allocates more than the input actually contains.

pub mod inline;
pub mod number;
pub mod reply;
pub mod request;
pub mod value;

pub use reply::{Protocol, ReplyBuf};
pub use request::{peek_request, Arg, Limits, ProtocolError, RequestParser};
pub use value::{parse_value, Value};
