//! The shape of a command table entry, written as `const` data.
//!
//! Entries use words rather than bit masks (`"write denyoom"`,
//! `"RW access update"`) so the table reads like documentation; `registry`
//! parses them once at start-up and a unit test rejects any unknown word.

/// One command (or subcommand) as declared in the table.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Lower-case name; subcommands are written `container|sub`.
    pub name: &'static str,
    /// Redis arity: `n` means exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    /// Command flags (`write readonly denyoom admin pubsub noscript blocking
    /// loading stale skip_monitor skip_slowlog asking fast no_auth
    /// may_replicate sentinel only_sentinel no_mandatory_keys protected
    /// no_async_loading no_multi allow_busy`).
    pub flags: &'static str,
    /// ACL categories without the `@` (`read string fast`).
    pub acl: &'static str,
    pub key_specs: &'static [KeySpec],
    /// Command tips (`nondeterministic_output request_policy:all_shards`).
    pub tips: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    /// One sentence in our own words.
    pub summary: &'static str,
    pub subcommands: &'static [Spec],
    /// Keys cannot be found from the key specs alone: see `keys::special_keys`.
    pub special_keys: bool,
}

/// Where to start looking for keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// At this argument index (0 is the command name).
    Index(i32),
    /// After this keyword, searched from `start_from` (negative: from the end, backwards).
    Keyword { keyword: &'static str, start_from: i32 },
    /// Not describable (Redis reports type "unknown").
    Unknown,
}

/// How to find the keys once the start is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Find {
    /// Keys from the start to `last_key` (relative; negative counts from the
    /// end), every `step`; with `limit` > 1 and `last_key` -1 only the first
    /// 1/limit of the remaining arguments are keys.
    Range { last_key: i32, step: i32, limit: i32 },
    /// The argument at `key_num_index` (relative) holds the key count; the
    /// keys start at `first_key` (relative), every `step`.
    KeyNum { key_num_index: i32, first_key: i32, step: i32 },
    Unknown,
}

#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    /// `RO RW OW RM` plus `access update insert delete not_key incomplete variable_flags`.
    pub flags: &'static str,
    pub begin: Begin,
    pub find: Find,
}

impl Spec {
    pub const fn new(name: &'static str, arity: i32, flags: &'static str, acl: &'static str) -> Spec {
        Spec {
            name,
            arity,
            flags,
            acl,
            key_specs: &[],
            tips: "",
            since: "",
            complexity: "",
            summary: "",
            subcommands: &[],
            special_keys: false,
        }
    }

    /// A container such as CLIENT or CONFIG whose work is done by subcommands.
    pub const fn container(name: &'static str, arity: i32, subcommands: &'static [Spec]) -> Spec {
        let mut spec = Spec::new(name, arity, "", "slow");
        spec.subcommands = subcommands;
        spec
    }

    pub const fn keys(mut self, key_specs: &'static [KeySpec]) -> Spec {
        self.key_specs = key_specs;
        self
    }

    pub const fn tips(mut self, tips: &'static str) -> Spec {
        self.tips = tips;
        self
    }

    pub const fn special_keys(mut self) -> Spec {
        self.special_keys = true;
        self
    }

    pub const fn acl(mut self, acl: &'static str) -> Spec {
        self.acl = acl;
        self
    }

    pub const fn flags(mut self, flags: &'static str) -> Spec {
        self.flags = flags;
        self
    }

    pub const fn doc(mut self, since: &'static str, complexity: &'static str, summary: &'static str) -> Spec {
        self.since = since;
        self.complexity = complexity;
        self.summary = summary;
        self
    }
}

/// A key spec starting at a fixed index.
pub const fn at(flags: &'static str, index: i32, find: Find) -> KeySpec {
    KeySpec { flags, begin: Begin::Index(index), find }
}

/// A key spec starting after a keyword.
pub const fn after(flags: &'static str, keyword: &'static str, start_from: i32, find: Find) -> KeySpec {
    KeySpec { flags, begin: Begin::Keyword { keyword, start_from }, find }
}

/// A key spec Redis reports as unknown (found by a special procedure).
pub const fn unknown(flags: &'static str) -> KeySpec {
    KeySpec { flags, begin: Begin::Unknown, find: Find::Unknown }
}

/// One key at the spec's start.
pub const ONE: Find = Find::Range { last_key: 0, step: 1, limit: 0 };

pub const fn range(last_key: i32, step: i32, limit: i32) -> Find {
    Find::Range { last_key, step, limit }
}

pub const fn keynum(key_num_index: i32, first_key: i32, step: i32) -> Find {
    Find::KeyNum { key_num_index, first_key, step }
}

/// The key at `index` alone, with `flags`.
pub const fn key(flags: &'static str, index: i32) -> KeySpec {
    at(flags, index, ONE)
}
