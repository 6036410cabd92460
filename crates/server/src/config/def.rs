//! What describes one configuration parameter (the table of them is
//! `table.rs`).

pub const IMMUTABLE: u8 = 1;
pub const SENSITIVE: u8 = 2;
pub const PROTECTED: u8 = 4;
pub const MULTI_ARG: u8 = 8;
pub const DENY_LOADING: u8 = 16;
pub const HIDDEN: u8 = 32;

/// How a parameter's value is parsed and printed.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Bool,
    Int { min: i64, max: i64, memory: bool, percent: bool, octal: bool },
    Enum { names: &'static [&'static str], multi: bool },
    Str,
    Special(Special),
}

/// Parameters with their own syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    Save,
    ClientOutputBufferLimit,
    OomScoreAdjValues,
    NotifyKeyspaceEvents,
    Bind,
    ReplicaOf,
    LatencyPercentiles,
    Dir,
}

/// One parameter's definition.
#[derive(Clone, Copy, Debug)]
pub struct Def {
    pub name: &'static str,
    /// Former name still accepted ("" if none).
    pub alias: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub flags: u8,
}

