//! The flags a script declares in its shebang or a function at
//! registration (`no-writes`, `allow-oom`, ...).

/// Flags a script declares in its shebang (`#!lua flags=...`).
#[derive(Clone, Copy, Default, Debug)]
pub struct ScriptFlags {
    /// The script has a shebang: flags were declared, even none.
    pub declared: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

/// Flag names as scripts and functions declare them, with their field.
pub const FLAG_NAMES: &[(&str, fn(&ScriptFlags) -> bool)] = &[
    ("no-writes", |f| f.no_writes),
    ("allow-oom", |f| f.allow_oom),
    ("allow-stale", |f| f.allow_stale),
    ("no-cluster", |f| f.no_cluster),
    ("allow-cross-slot-keys", |f| f.allow_cross_slot_keys),
];

impl ScriptFlags {
    /// The command flags these stand for; None without a shebang (the
    /// command's own flags apply).
    pub fn command_flags(&self) -> Option<crate::state::scripts::DeclaredFlags> {
        self.declared.then_some(crate::state::scripts::DeclaredFlags {
            writes: !self.no_writes,
            deny_oom: !self.no_writes && !self.allow_oom,
            stale: self.allow_stale,
        })
    }

    /// Sets the flag `name`; false if there is no such flag.
    pub fn set(&mut self, name: &[u8]) -> bool {
        let field = match name {
            b"no-writes" => &mut self.no_writes,
            b"allow-oom" => &mut self.allow_oom,
            b"allow-stale" => &mut self.allow_stale,
            b"no-cluster" => &mut self.no_cluster,
            b"allow-cross-slot-keys" => &mut self.allow_cross_slot_keys,
            _ => return false,
        };
        *field = true;
        true
    }
}

