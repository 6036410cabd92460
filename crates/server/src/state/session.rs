//! A connection's state besides its socket, as data (it moves with the
//! socket between workers); serving it is `crate::conn`'s.

use shoal_resp::{ReplyBuf, RequestParser};

use crate::client::Client;

/// What a connection owns besides its socket. It moves with the socket
/// when the connection changes workers (placement.rs).
pub struct Session {
    pub client: Client,
    pub(crate) out: ReplyBuf,
    pub(crate) input: Vec<u8>,
    pub(crate) parser: RequestParser,
}
