//! The command table at run time: entries parsed from `table` into flag
//! sets, legacy key ranges and a case-insensitive name index.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::LazyLock;

use crate::spec::{Begin, Find, KeySpec, Spec};

/// Index of a command (or subcommand) in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u16);

macro_rules! flag_set {
    ($name:ident, $ty:ty, [$(($const:ident, $word:literal, $shown:literal)),* $(,)?]) => {
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name(pub $ty);

        #[allow(non_upper_case_globals)]
        impl $name {
            flag_set!(@consts $ty, 0, $($const),*);

            /// Every flag in output order: (flag, word, shown in COMMAND INFO).
            pub const ALL: &'static [($name, &'static str, bool)] = &[$(($name::$const, $word, $shown)),*];

            pub fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }

            pub fn intersects(self, other: $name) -> bool {
                self.0 & other.0 != 0
            }

            pub fn insert(&mut self, other: $name) {
                self.0 |= other.0;
            }

            /// Parses space-separated words; the unknown word is returned as error.
            pub fn parse(words: &str) -> Result<$name, String> {
                let mut set = $name::default();
                for word in words.split_whitespace() {
                    let word = word.trim_start_matches('@');
                    match Self::ALL.iter().find(|(_, w, _)| w.eq_ignore_ascii_case(word)) {
                        Some((flag, _, _)) => set.insert(*flag),
                        None => return Err(word.to_string()),
                    }
                }
                Ok(set)
            }

            /// Names of the flags that are shown, in output order.
            pub fn names(self) -> impl Iterator<Item = &'static str> {
                Self::ALL.iter().filter(move |(f, _, shown)| *shown && self.contains(*f)).map(|(_, w, _)| *w)
            }
        }
    };
    (@consts $ty:ty, $n:expr, $first:ident $(, $rest:ident)*) => {
        pub const $first: Self = Self(1 << $n);
        flag_set!(@consts $ty, $n + 1, $($rest),*);
    };
    (@consts $ty:ty, $n:expr,) => {};
}

flag_set!(CommandFlags, u32, [
    (WRITE, "write", true),
    (READONLY, "readonly", true),
    (DENYOOM, "denyoom", true),
    (MODULE, "module", true),
    (ADMIN, "admin", true),
    (PUBSUB, "pubsub", true),
    (NOSCRIPT, "noscript", true),
    (BLOCKING, "blocking", true),
    (LOADING, "loading", true),
    (STALE, "stale", true),
    (SKIP_MONITOR, "skip_monitor", true),
    (SKIP_SLOWLOG, "skip_slowlog", true),
    (ASKING, "asking", true),
    (FAST, "fast", true),
    (NO_AUTH, "no_auth", true),
    (MAY_REPLICATE, "may_replicate", false),
    (SENTINEL, "sentinel", false),
    (ONLY_SENTINEL, "only_sentinel", false),
    (NO_MANDATORY_KEYS, "no_mandatory_keys", true),
    (PROTECTED, "protected", false),
    (NO_ASYNC_LOADING, "no_async_loading", true),
    (NO_MULTI, "no_multi", true),
    (MOVABLE_KEYS, "movablekeys", true),
    (ALLOW_BUSY, "allow_busy", true),
    (TOUCHES_ARBITRARY_KEYS, "touches_arbitrary_keys", false),
]);

flag_set!(AclCategories, u32, [
    (KEYSPACE, "keyspace", true),
    (READ, "read", true),
    (WRITE, "write", true),
    (SET, "set", true),
    (SORTEDSET, "sortedset", true),
    (LIST, "list", true),
    (HASH, "hash", true),
    (STRING, "string", true),
    (BITMAP, "bitmap", true),
    (HYPERLOGLOG, "hyperloglog", true),
    (GEO, "geo", true),
    (STREAM, "stream", true),
    (PUBSUB, "pubsub", true),
    (ADMIN, "admin", true),
    (FAST, "fast", true),
    (SLOW, "slow", true),
    (BLOCKING, "blocking", true),
    (DANGEROUS, "dangerous", true),
    (CONNECTION, "connection", true),
    (TRANSACTION, "transaction", true),
    (SCRIPTING, "scripting", true),
]);

flag_set!(KeyFlags, u16, [
    (RO, "RO", true),
    (RW, "RW", true),
    (OW, "OW", true),
    (RM, "RM", true),
    (ACCESS, "access", true),
    (UPDATE, "update", true),
    (INSERT, "insert", true),
    (DELETE, "delete", true),
    (NOT_KEY, "not_key", true),
    (INCOMPLETE, "incomplete", true),
    (VARIABLE_FLAGS, "variable_flags", true),
]);

/// A key spec with its flags parsed.
#[derive(Clone, Copy, Debug)]
pub struct ParsedKeySpec {
    pub flags: KeyFlags,
    pub begin: Begin,
    pub find: Find,
}

/// The (first, last, step) triple COMMAND INFO still reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LegacyRange {
    pub first: i32,
    pub last: i32,
    pub step: i32,
}

/// One runnable command or subcommand.
#[derive(Debug)]
pub struct Command {
    pub id: CommandId,
    /// Full name: `get`, `client|list`.
    pub name: &'static str,
    pub arity: i32,
    pub flags: CommandFlags,
    pub acl: AclCategories,
    pub key_specs: Vec<ParsedKeySpec>,
    pub legacy: LegacyRange,
    pub group: &'static str,
    pub spec: &'static Spec,
    pub parent: Option<CommandId>,
    /// Subcommands by lower-case name (the part after `|`).
    pub subcommands: Vec<CommandId>,
}

impl Command {
    pub fn is(&self, flag: CommandFlags) -> bool {
        self.flags.contains(flag)
    }

    /// The name without its container (`list` for `client|list`).
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('|').next().unwrap_or(self.name)
    }

    /// True when the argument count satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }

    pub fn has_keys(&self) -> bool {
        !self.key_specs.is_empty() || self.spec.special_keys
    }
}

/// The whole command table.
pub struct Table {
    commands: Vec<Command>,
    top_level: HashMap<Vec<u8>, CommandId, NameHasher>,
}

/// FNV-1a for command names: every request looks its name up, and the
/// names are a fixed set of short strings, which need no keyed hash (no
/// input can make the table's probe chains longer than they are at start).
#[derive(Default, Clone, Copy)]
struct NameHasher;

impl std::hash::BuildHasher for NameHasher {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Longest command name the per-thread cache of recent names holds.
const RECENT_NAME_MAX: usize = 16;

/// Names each thread remembers (a script's few commands, a client's mix).
const RECENT_NAMES: usize = 8;

thread_local! {
    /// (length, bytes as sent, id) of names this thread found in the
    /// global table, each in the slot `recent_slot` gives it; length
    /// usize::MAX marks an empty slot.
    static RECENT: [Cell<(usize, [u8; RECENT_NAME_MAX], u16)>; RECENT_NAMES] =
        const { [const { Cell::new((usize::MAX, [0; RECENT_NAME_MAX], 0)) }; RECENT_NAMES] };
}

/// The cache slot of a non-empty name: its length and its first and last
/// bytes tell apart the commands a client or script usually mixes.
#[inline]
fn recent_slot(name: &[u8]) -> usize {
    (name.len() * 7 + name[0] as usize + name[name.len() - 1] as usize) % RECENT_NAMES
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    Table::build(crate::table::ALL).unwrap_or_else(|e| panic!("command table is invalid: {e}"))
});

/// The global command table.
pub fn table() -> &'static Table {
    &TABLE
}

impl Table {
    /// Builds the table from its groups, validating every entry.
    pub fn build(groups: &'static [(&'static str, &'static [Spec])]) -> Result<Table, String> {
        let mut table = Table { commands: Vec::new(), top_level: HashMap::default() };
        for (group, specs) in groups {
            for spec in specs.iter() {
                let id = table.add(spec, group, None)?;
                if table.top_level.insert(spec.name.as_bytes().to_vec(), id).is_some() {
                    return Err(format!("duplicate command {}", spec.name));
                }
            }
        }
        Ok(table)
    }

    fn add(&mut self, spec: &'static Spec, group: &'static str, parent: Option<CommandId>) -> Result<CommandId, String> {
        let context = |e: String| format!("{}: unknown word {e:?}", spec.name);
        let mut flags = CommandFlags::parse(spec.flags).map_err(context)?;
        let acl = AclCategories::parse(spec.acl).map_err(context)?;
        let mut key_specs = Vec::with_capacity(spec.key_specs.len());
        for ks in spec.key_specs {
            key_specs.push(parse_key_spec(ks).map_err(context)?);
        }
        if let Some(parent) = parent {
            let parent_name = self.commands[parent.0 as usize].name;
            if !spec.name.starts_with(&format!("{parent_name}|")) {
                return Err(format!("subcommand {} is not named {parent_name}|...", spec.name));
            }
        } else if spec.name.contains('|') || spec.name != spec.name.to_ascii_lowercase() {
            return Err(format!("bad command name {}", spec.name));
        }
        if !spec.tips.split_whitespace().all(is_known_tip) {
            return Err(format!("{}: unknown tip in {:?}", spec.name, spec.tips));
        }
        let legacy = legacy_range(&key_specs, &mut flags);
        if spec.special_keys {
            flags.insert(CommandFlags::MOVABLE_KEYS);
        }
        let id = CommandId(u16::try_from(self.commands.len()).map_err(|_| "too many commands".to_string())?);
        self.commands.push(Command {
            id,
            name: spec.name,
            arity: spec.arity,
            flags,
            acl,
            key_specs,
            legacy,
            group,
            spec,
            parent,
            subcommands: Vec::new(),
        });
        let mut subs = Vec::with_capacity(spec.subcommands.len());
        for sub in spec.subcommands {
            subs.push(self.add(sub, group, Some(id))?);
        }
        self.commands[id.0 as usize].subcommands = subs;
        Ok(id)
    }

    pub fn get(&self, id: CommandId) -> &Command {
        &self.commands[id.0 as usize]
    }

    /// Every command and subcommand.
    pub fn all(&self) -> &[Command] {
        &self.commands
    }

    /// Top-level commands, in table order.
    pub fn top_level(&self) -> impl Iterator<Item = &Command> {
        self.commands.iter().filter(|c| c.parent.is_none())
    }

    pub fn top_level_count(&self) -> usize {
        self.top_level.len()
    }

    /// Looks up a top-level command by name, ignoring case.
    pub fn lookup(&self, name: &[u8]) -> Option<&Command> {
        // Clients repeat the same few commands (spelled the same way) over
        // and over: each thread remembers the names it found in the global
        // table, byte for byte.
        let cached = !name.is_empty() && name.len() <= RECENT_NAME_MAX && std::ptr::eq(self, &*TABLE);
        let slot = if cached { recent_slot(name) } else { 0 };
        if cached {
            let (len, bytes, id) = RECENT.with(|recent| recent[slot].get());
            if len == name.len() && bytes[..len] == *name {
                return Some(self.get(CommandId(id)));
            }
        }
        let id = self.lookup_id(name)?;
        if cached {
            let mut bytes = [0u8; RECENT_NAME_MAX];
            bytes[..name.len()].copy_from_slice(name);
            RECENT.with(|recent| recent[slot].set((name.len(), bytes, id.0)));
        }
        Some(self.get(id))
    }

    fn lookup_id(&self, name: &[u8]) -> Option<CommandId> {
        let mut lower = [0u8; 32];
        if name.len() > lower.len() {
            return None;
        }
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.top_level.get(&lower[..name.len()]).copied()
    }

    /// Looks up `container sub` (e.g. `client list`), ignoring case.
    pub fn lookup_sub(&self, container: &Command, sub: &[u8]) -> Option<&Command> {
        container
            .subcommands
            .iter()
            .map(|id| self.get(*id))
            .find(|c| c.short_name().as_bytes().eq_ignore_ascii_case(sub))
    }

    /// Resolves the command an argument vector names, descending into
    /// subcommands when the container has them.
    pub fn resolve(&self, argv: &[&[u8]]) -> Option<&Command> {
        let cmd = self.lookup(argv.first()?)?;
        if cmd.subcommands.is_empty() {
            return Some(cmd);
        }
        match argv.get(1) {
            Some(sub) => self.lookup_sub(cmd, sub),
            None => Some(cmd),
        }
    }

    /// Looks up a full name such as `config|get` (used by COMMAND INFO).
    pub fn lookup_full_name(&self, name: &[u8]) -> Option<&Command> {
        let mut parts = name.splitn(2, |&b| b == b'|');
        let top = self.lookup(parts.next()?)?;
        match parts.next() {
            None => Some(top),
            Some(sub) => self.lookup_sub(top, sub),
        }
    }
}

fn parse_key_spec(ks: &KeySpec) -> Result<ParsedKeySpec, String> {
    Ok(ParsedKeySpec { flags: KeyFlags::parse(ks.flags)?, begin: ks.begin, find: ks.find })
}

fn is_known_tip(tip: &str) -> bool {
    matches!(
        tip,
        "nondeterministic_output"
            | "nondeterministic_output_order"
            | "request_policy:all_shards"
            | "request_policy:all_nodes"
            | "request_policy:multi_shard"
            | "request_policy:special"
            | "response_policy:one_succeeded"
            | "response_policy:all_succeeded"
            | "response_policy:agg_logical_and"
            | "response_policy:agg_logical_or"
            | "response_policy:agg_min"
            | "response_policy:agg_max"
            | "response_policy:agg_sum"
            | "response_policy:special"
    )
}

/// Derives the legacy (first, last, step) from the key specs, marking the
/// command as having movable keys when the specs cannot be summarised so.
fn legacy_range(specs: &[ParsedKeySpec], flags: &mut CommandFlags) -> LegacyRange {
    let simple = |s: &ParsedKeySpec| matches!((s.begin, s.find), (Begin::Index(_), Find::Range { .. }));
    match specs {
        [] => return LegacyRange::default(),
        [only] if simple(only) => {
            if only.flags.contains(KeyFlags::INCOMPLETE) {
                flags.insert(CommandFlags::MOVABLE_KEYS);
            }
            return range_of(only);
        }
        _ => {}
    }
    let mut first = i32::MAX;
    // Compared as unsigned so a negative (from the end) last key wins.
    let mut last: u32 = 0;
    let mut previous_last: u32 = 0;
    let mut step = 0;
    for spec in specs {
        let (Begin::Index(pos), Find::Range { last_key, step: key_step, .. }) = (spec.begin, spec.find) else {
            flags.insert(CommandFlags::MOVABLE_KEYS);
            continue;
        };
        if key_step != 1 || (previous_last != 0 && previous_last as i64 != pos as i64 - 1) {
            flags.insert(CommandFlags::MOVABLE_KEYS);
            continue;
        }
        if spec.flags.contains(KeyFlags::INCOMPLETE) {
            flags.insert(CommandFlags::MOVABLE_KEYS);
        }
        first = first.min(pos);
        let absolute = if last_key >= 0 { last_key + pos } else { last_key };
        last = last.max(absolute as u32);
        previous_last = last;
        step = 1;
    }
    if first == i32::MAX {
        flags.insert(CommandFlags::MOVABLE_KEYS);
        return LegacyRange::default();
    }
    LegacyRange { first, last: last as i32, step }
}

fn range_of(spec: &ParsedKeySpec) -> LegacyRange {
    match (spec.begin, spec.find) {
        (Begin::Index(pos), Find::Range { last_key, step, .. }) => LegacyRange {
            first: pos,
            last: if last_key >= 0 { pos + last_key } else { last_key },
            step,
        },
        _ => LegacyRange::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_through_the_recent_names_cache_match_the_table() {
        let t = table();
        for name in ["get", "GET", "get", "Get", "set", "incr", "incr", "nosuch", "get", "", "zadd", "ZADD", "zadd"] {
            let found = t.lookup(name.as_bytes()).map(|c| c.name);
            let expected = t.lookup_id(name.as_bytes()).map(|id| t.get(id).name);
            assert_eq!(found, expected, "{name}");
        }
        assert_eq!(t.lookup(b"GeT").map(|c| c.name), Some("get"));
        assert!(t.lookup(b"ge").is_none());
        assert!(t.lookup(b"getx").is_none());
        let long = "x".repeat(RECENT_NAME_MAX + 1);
        assert!(t.lookup(long.as_bytes()).is_none());
        // Names that share a cache slot replace each other: every name,
        // looked up in turn twice over, in both cases, is still its own.
        let names: Vec<&str> = t.top_level.keys().map(|k| std::str::from_utf8(k).unwrap()).collect();
        for _ in 0..2 {
            for name in &names {
                assert_eq!(t.lookup(name.as_bytes()).map(|c| c.name), Some(*name));
                assert_eq!(t.lookup(name.to_uppercase().as_bytes()).map(|c| c.name), Some(*name));
            }
        }
    }
}
