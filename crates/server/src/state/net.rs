//! What the networking layer passes between threads, as data.

/// A request to the acceptor: listen on `port` at `binds` instead (CONFIG
/// SET port / bind). The old listeners close first, as in Redis; if the
/// new ones cannot be opened the old ones are opened again and the error
/// is returned.
pub struct Relisten {
    pub binds: Vec<String>,
    pub port: u16,
    pub done: std::sync::mpsc::SyncSender<Result<(), String>>,
}

/// A connection on its way to a worker.
pub enum Incoming {
    Tcp(std::net::TcpStream, std::net::SocketAddr, std::net::SocketAddr),
    Unix(std::os::unix::net::UnixStream, String),
    /// A live connection moving from another worker.
    MovingTcp(std::net::TcpStream, Box<crate::state::session::Session>),
    MovingUnix(std::os::unix::net::UnixStream, Box<crate::state::session::Session>),
}
