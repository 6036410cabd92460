//! Instance addresses, shared by the state machine's vocabulary and the hello message.

use std::fmt;

/// A host (an IP address or, with `resolve-hostnames`, a name) and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    pub host: String,
    pub port: u16,
}

impl Addr {
    pub fn new(host: impl Into<String>, port: u16) -> Addr {
        Addr { host: host.into(), port }
    }

    /// Redis compares a configured address with the host an instance reports
    /// (`master_host:`) without regard to case.
    pub fn same_host(&self, host: &str) -> bool {
        self.host.eq_ignore_ascii_case(host)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}
