//! ACL users, Redis 7.0's model: a user is on or off, has SHA-256 password
//! hashes (or nopass) and a list of selectors; the first is the root
//! selector, the others come from `(...)` rules. A selector allows a set of
//! commands (a bit per command of the table, plus allowed first arguments),
//! key patterns with read/write permissions and channel patterns. A command
//! runs when at least one selector allows it with all its keys and
//! channels.
//!
//! Rules apply in order (`User::apply`); `User::describe` gives them back
//! in the form ACL LIST shows, computed from the bits as Redis does
//! (categories chosen greedily, then single commands). Everything here is
//! pure: the registry of users, the log and the enforcement live in
//! `crate::acl`, the sentinel uses this model over its own commands.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use shoal_commands::{table, AclCategories, Command, CommandFlags, CommandId, KeyFlags};
use shoal_types::glob_match;

/// Key pattern permissions.
pub const READ: u8 = 1;
pub const WRITE: u8 = 2;
const ALL: u8 = READ | WRITE;

/// The commands ACL rules name: all of the table (the data server) or
/// the part a sentinel serves, each top-level command followed by its
/// subcommands.
pub struct Universe {
    order: Vec<CommandId>,
    member: Vec<bool>,
}

impl Universe {
    /// Every command of the table.
    pub fn full() -> Universe {
        Universe::filtered(|_| true)
    }

    /// The top-level commands `keep` accepts, with their subcommands.
    pub fn filtered(keep: impl Fn(&str) -> bool) -> Universe {
        let t = table();
        let mut order = Vec::new();
        let mut member = vec![false; t.all().len()];
        for cmd in t.top_level() {
            if !keep(cmd.name) {
                continue;
            }
            order.push(cmd.id);
            member[cmd.id.0 as usize] = true;
            for &sub in &cmd.subcommands {
                order.push(sub);
                member[sub.0 as usize] = true;
            }
        }
        Universe { order, member }
    }

    fn contains(&self, id: CommandId) -> bool {
        self.member.get(id.0 as usize).copied().unwrap_or(false)
    }

    /// A command or `container|sub` by name, case-insensitively.
    pub fn lookup(&self, name: &[u8]) -> Option<&'static Command> {
        let t = table();
        let cmd = match name.iter().position(|&b| b == b'|') {
            None => t.lookup(name)?,
            Some(at) => {
                let parent = t.lookup(&name[..at])?;
                if parent.parent.is_some() {
                    return None;
                }
                t.lookup_sub(parent, &name[at + 1..])?
            }
        };
        self.contains(cmd.id).then_some(cmd)
    }

    fn commands(&self) -> impl Iterator<Item = &'static Command> + '_ {
        let t = table();
        self.order.iter().map(move |&id| t.get(id))
    }

    /// The commands of one category (ACL CAT), in the universe's order.
    pub fn in_category(&self, category: AclCategories) -> impl Iterator<Item = &'static Command> + '_ {
        self.commands().filter(move |c| c.acl.intersects(category))
    }
}

/// The category names in Redis's order (ACL CAT).
pub fn categories() -> impl Iterator<Item = (AclCategories, &'static str)> {
    AclCategories::ALL.iter().map(|(flag, name, _)| (*flag, *name))
}

fn category(name: &[u8]) -> Option<AclCategories> {
    categories().find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(name)).map(|(c, _)| c)
}

/// Why a rule was refused (Redis's errno cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownCommand,
    KeyAfterAll,
    ChannelAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
}

impl RuleError {
    pub fn message(self) -> &'static str {
        match self {
            RuleError::Syntax => "Syntax error",
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::KeyAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSubcommand => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// What rules need to know besides the user: the commands they name and
/// `acl-pubsub-default` (new selectors start with all channels when it is
/// `allchannels`).
pub struct Context<'a> {
    pub universe: &'a Universe,
    pub all_channels_default: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub flags: u8,
    pub pattern: Vec<u8>,
}

/// Commands, keys and channels one selector allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    all_keys: bool,
    all_channels: bool,
    /// Every command, whatever the bits say (set by +@all, cleared as
    /// soon as one bit is cleared).
    all_commands: bool,
    /// Commands added later would be allowed: +@all was the base (only
    /// -@all clears it). Decides whether descriptions start with +@all.
    future: bool,
    bits: Vec<u64>,
    first_args: BTreeMap<CommandId, Vec<Vec<u8>>>,
    patterns: Vec<KeyPattern>,
    channels: Vec<Vec<u8>>,
}

/// Why a command is refused, with Redis's ordering (a key beats a
/// command, a channel beats a key) and the argument at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denied {
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(i) => (2, i),
            Denied::Channel(i) => (4, i),
        }
    }

    /// The -NOPERM reply text.
    pub fn message(self, cmd: &Command) -> String {
        match self {
            Denied::Command => format!("NOPERM this user has no permissions to run the '{}' command", cmd.name),
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments".to_string()
            }
            Denied::Channel(_) => {
                "NOPERM this user has no permissions to access one of the channels used as arguments".to_string()
            }
        }
    }

    /// ACL LOG's `reason`.
    pub fn reason(self) -> &'static str {
        match self {
            Denied::Command => "command",
            Denied::Key(_) => "key",
            Denied::Channel(_) => "channel",
        }
    }

    /// What a script's redis.call and redis.acl_check_cmd are told.
    pub fn script_message(self) -> &'static str {
        match self {
            Denied::Command => "can't run this command or subcommand",
            Denied::Key(_) => "can't access at least one of the keys mentioned in the command arguments",
            Denied::Channel(_) => "can't publish to the channel mentioned in the command",
        }
    }
}

fn words() -> usize {
    table().all().len().div_ceil(64)
}

impl Selector {
    fn new(all_channels: bool) -> Selector {
        Selector {
            all_keys: false,
            all_channels,
            all_commands: false,
            future: false,
            bits: vec![0; words()],
            first_args: BTreeMap::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    fn bit(&self, id: CommandId) -> bool {
        let i = id.0 as usize;
        self.bits[i / 64] & (1 << (i % 64)) != 0
    }

    fn set_bit(&mut self, id: CommandId, on: bool) {
        let i = id.0 as usize;
        if on {
            self.bits[i / 64] |= 1 << (i % 64);
        } else {
            self.bits[i / 64] &= !(1 << (i % 64));
            self.all_commands = false;
        }
    }

    /// Allows or denies a command; a container's subcommands follow it.
    fn change(&mut self, cmd: &Command, allow: bool) {
        self.set_bit(cmd.id, allow);
        self.first_args.remove(&cmd.id);
        for &sub in &cmd.subcommands {
            self.set_bit(sub, allow);
        }
    }

    fn change_category(&mut self, universe: &Universe, category: AclCategories, allow: bool) {
        for cmd in universe.commands() {
            if cmd.acl.intersects(category) {
                self.change(cmd, allow);
            }
        }
    }

    fn set_all(&mut self, allow: bool) {
        self.bits.iter_mut().for_each(|w| *w = if allow { u64::MAX } else { 0 });
        self.all_commands = allow;
        self.future = allow;
        self.first_args.clear();
    }

    fn apply(&mut self, op: &[u8], ctx: &Context<'_>) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if is("allkeys") || op == b"~*" {
            self.all_keys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.patterns.clear();
        } else if is("allchannels") || op == b"&*" {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.all_keys {
                return Err(RuleError::KeyAfterAll);
            }
            let (flags, pattern) = key_pattern(op)?;
            match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
                Some(existing) => existing.flags |= flags,
                None => self.patterns.push(KeyPattern { flags, pattern: pattern.to_vec() }),
            }
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelAfterAll);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            self.allow_command(&op[1..], ctx.universe)?;
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let cmd = ctx.universe.lookup(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change(cmd, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.len() >= 2 {
            let category = category(&op[2..]).ok_or(RuleError::UnknownCommand)?;
            self.change_category(ctx.universe, category, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// `+cmd`, `+container|sub` or `+cmd|first-arg`.
    fn allow_command(&mut self, name: &[u8], universe: &Universe) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&b| b == b'|') else {
            let cmd = universe.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change(cmd, true);
            return Ok(());
        };
        let (base, sub) = (&name[..bar], &name[bar + 1..]);
        let cmd = universe.lookup(base).ok_or(RuleError::UnknownCommand)?;
        if cmd.parent.is_some() {
            return Err(RuleError::FirstArgOfSubcommand);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !cmd.subcommands.is_empty() {
            let cmd = universe.lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.change(cmd, true);
        } else {
            let args = self.first_args.entry(cmd.id).or_default();
            if !args.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                args.push(sub.to_vec());
            }
        }
        Ok(())
    }

    fn allows_everything(&self) -> bool {
        self.all_commands && self.all_keys && self.all_channels
    }

    /// Key patterns as GETUSER shows them (`~a %R~b`).
    fn keys_text(&self) -> String {
        if self.all_keys {
            return "~*".to_string();
        }
        let parts: Vec<String> = self.patterns.iter().map(pattern_text).collect();
        parts.join(" ")
    }

    fn channels_text(&self) -> String {
        if self.all_channels {
            return "&*".to_string();
        }
        let parts: Vec<String> = self.channels.iter().map(|c| format!("&{}", String::from_utf8_lossy(c))).collect();
        parts.join(" ")
    }

    /// The whole selector in rule form: keys, channels, commands.
    fn describe(&self, universe: &Universe) -> String {
        let mut out = String::new();
        if self.all_keys {
            out.push_str("~* ");
        } else {
            for p in &self.patterns {
                out.push_str(&pattern_text(p));
                out.push(' ');
            }
        }
        if self.all_channels {
            out.push_str("&* ");
        } else {
            out.push_str("resetchannels ");
            for c in &self.channels {
                out.push('&');
                out.push_str(&String::from_utf8_lossy(c));
                out.push(' ');
            }
        }
        out.push_str(&self.describe_commands(universe));
        out
    }

    /// Command rules that rebuild this selector's bits: +@all or -@all,
    /// then the categories that fit best, one at a time (more commands
    /// in common than different, fewest differences first), then single
    /// commands and first arguments for what remains.
    pub fn describe_commands(&self, universe: &Universe) -> String {
        let additive = !self.future;
        let mut rules = vec![if additive { "-@all".to_string() } else { "+@all".to_string() }];
        let mut fake = Selector::new(false);
        fake.set_all(!additive);
        let mut temp = self.clone();
        let mut applied = vec![false; AclCategories::ALL.len()];
        loop {
            let mut best = None;
            let (mut min_diff, mut max_same) = (usize::MAX, 0);
            for (j, (flag, _)) in categories().enumerate() {
                if applied[j] {
                    continue;
                }
                let (mut on, mut off) = (0, 0);
                for cmd in universe.in_category(flag) {
                    if temp.bit(cmd.id) {
                        on += 1;
                    } else {
                        off += 1;
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                    best = Some(j);
                    min_diff = diff;
                    max_same = same;
                }
            }
            let Some(j) = best else { break };
            let (flag, name) = categories().nth(j).expect("category index");
            fake.change_category(universe, flag, additive);
            temp.change_category(universe, flag, !additive);
            rules.push(format!("{}@{name}", if additive { '+' } else { '-' }));
            applied[j] = true;
        }
        for cmd in universe.commands() {
            let user_bit = self.bit(cmd.id);
            if user_bit != fake.bit(cmd.id) {
                rules.push(format!("{}{}", if user_bit { '+' } else { '-' }, cmd.name));
                fake.change(cmd, user_bit);
            }
            // A command's allowed first arguments follow it (they only
            // matter while its bit is off).
            if let Some(args) = self.first_args.get(&cmd.id).filter(|_| !user_bit) {
                for arg in args {
                    rules.push(format!("+{}|{}", cmd.name, String::from_utf8_lossy(arg)));
                }
            }
        }
        rules.join(" ")
    }

    /// Checks one command against this selector; `keys` caches the
    /// command's keys across selectors.
    fn check(&self, cmd: &Command, argv: &[&[u8]], keys: &mut Option<Vec<(usize, KeyFlags)>>) -> Result<(), Denied> {
        if !self.all_commands && !cmd.is(CommandFlags::NO_AUTH) && !self.bit(cmd.id) {
            let index = if cmd.parent.is_some() { 2 } else { 1 };
            let allowed = match (self.first_args.get(&cmd.id), argv.get(index)) {
                (Some(args), Some(arg)) if argv.len() >= 2 => args.iter().any(|a| a.eq_ignore_ascii_case(arg)),
                _ => false,
            };
            if !allowed {
                return Err(Denied::Command);
            }
        }
        if !self.all_keys && cmd.has_keys() {
            let keys = keys.get_or_insert_with(|| command_keys(cmd, argv));
            for &(index, flags) in keys.iter() {
                if !self.key_allowed(argv[index], access(flags)) {
                    return Err(Denied::Key(index));
                }
            }
        }
        if !self.all_channels {
            for (index, is_pattern) in channels(cmd, argv) {
                if !channel_allowed(&self.channels, argv[index], is_pattern) {
                    return Err(Denied::Channel(index));
                }
            }
        }
        Ok(())
    }

    fn key_allowed(&self, key: &[u8], needed: u8) -> bool {
        self.all_keys || self.patterns.iter().any(|p| p.flags & needed == needed && glob_match(&p.pattern, key, false))
    }
}

/// The keys a command names, with their spec flags (not-key arguments
/// left out), as ACL checks see them.
fn command_keys(cmd: &Command, argv: &[&[u8]]) -> Vec<(usize, KeyFlags)> {
    let mut found = Vec::new();
    if shoal_commands::keys::find_keys(cmd, argv, &mut found).is_err() {
        return Vec::new();
    }
    found.iter().filter(|k| !k.flags.contains(KeyFlags::NOT_KEY)).map(|k| (k.index, k.flags)).collect()
}

/// The permission a key spec needs: access reads, insert/delete/update write.
fn access(flags: KeyFlags) -> u8 {
    let mut needed = 0;
    if flags.contains(KeyFlags::ACCESS) {
        needed |= READ;
    }
    if flags.intersects(KeyFlags(KeyFlags::INSERT.0 | KeyFlags::DELETE.0 | KeyFlags::UPDATE.0)) {
        needed |= WRITE;
    }
    needed
}

/// The channels a command publishes to or subscribes to: (argument index,
/// is a pattern). Unsubscribing is never checked.
pub fn channels(cmd: &Command, argv: &[&[u8]]) -> Vec<(usize, bool)> {
    match cmd.name {
        "publish" | "spublish" if argv.len() > 1 => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..argv.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argv.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

/// A channel against a list of channel rules: a channel matches them as
/// patterns, a pattern (PSUBSCRIBE) only literally.
pub fn channel_allowed(rules: &[Vec<u8>], channel: &[u8], is_pattern: bool) -> bool {
    rules.iter().any(|r| if is_pattern { r == channel } else { glob_match(r, channel, false) })
}

fn pattern_text(p: &KeyPattern) -> String {
    let prefix = match p.flags {
        ALL => "~",
        READ => "%R~",
        _ => "%W~",
    };
    format!("{prefix}{}", String::from_utf8_lossy(&p.pattern))
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| b.is_ascii_whitespace() || b == 0)
}

/// `~pattern` or `%RW~pattern`.
fn key_pattern(op: &[u8]) -> Result<(u8, &[u8]), RuleError> {
    let (flags, start) = if op[0] == b'%' {
        let mut flags = 0;
        let mut at = 1;
        loop {
            match op.get(at).map(u8::to_ascii_uppercase) {
                Some(b'R') if flags & READ == 0 => flags |= READ,
                Some(b'W') if flags & WRITE == 0 => flags |= WRITE,
                Some(b'~') => {
                    at += 1;
                    break;
                }
                // `%R` without `~`: nothing is left to be the pattern.
                None => break,
                _ => return Err(RuleError::Syntax),
            }
            at += 1;
        }
        (flags, at)
    } else {
        (ALL, 1)
    };
    let pattern = &op[start.min(op.len())..];
    if has_spaces(pattern) {
        return Err(RuleError::Syntax);
    }
    Ok((flags, pattern))
}

/// Hex SHA-256 of a password (how passwords are stored and shown).
pub fn hash_password(password: &[u8]) -> String {
    let digest = Sha256::digest(password);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_hash(hash: &[u8]) -> bool {
    hash.len() == 64 && hash.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

/// One user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: Vec<u8>,
    pub enabled: bool,
    pub nopass: bool,
    /// None: neither flag; Some(true): sanitize-payload; Some(false):
    /// skip-sanitize-payload.
    pub sanitize: Option<bool>,
    /// Hex SHA-256 hashes, in the order they were added.
    pub passwords: Vec<String>,
    /// The root selector first.
    pub selectors: Vec<Selector>,
}

impl User {
    /// A new user: off, no password, no commands, no keys.
    pub fn new(name: &[u8], ctx: &Context<'_>) -> User {
        User {
            name: name.to_vec(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(ctx.all_channels_default)],
        }
    }

    /// The default user: on, nopass, every key, channel and command.
    pub fn default_user(ctx: &Context<'_>) -> User {
        let mut user = User::new(b"default", ctx);
        for rule in ["+@all", "~*", "&*", "on", "nopass"] {
            user.apply(rule.as_bytes(), ctx).expect("default user rules");
        }
        user
    }

    /// Applies one rule.
    pub fn apply(&mut self, op: &[u8], ctx: &Context<'_>) -> Result<(), RuleError> {
        let is = |word: &str| op.eq_ignore_ascii_case(word.as_bytes());
        if op.is_empty() {
            return Ok(());
        }
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = self.hash_of(op)?;
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = self.hash_of(op)?;
            let at = self.passwords.iter().position(|p| *p == hash).ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let inner = &op[1..op.len() - 1];
            let rules = shoal_resp::inline::split_args_owned(inner).ok_or(RuleError::Syntax)?;
            let mut selector = Selector::new(ctx.all_channels_default);
            for rule in rules {
                if !rule.is_empty() {
                    selector.apply(&rule, ctx)?;
                }
            }
            self.selectors.push(selector);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            self.enabled = false;
            self.sanitize = Some(true);
            self.selectors.truncate(1);
            let root = &mut self.selectors[0];
            root.all_keys = false;
            root.patterns.clear();
            root.all_channels = ctx.all_channels_default;
            root.channels.clear();
            root.set_all(false);
        } else {
            self.selectors[0].apply(op, ctx)?;
        }
        Ok(())
    }

    fn hash_of(&self, op: &[u8]) -> Result<String, RuleError> {
        if op[0] == b'>' || op[0] == b'<' {
            return Ok(hash_password(&op[1..]));
        }
        if !valid_hash(&op[1..]) {
            return Err(RuleError::BadHash);
        }
        Ok(String::from_utf8_lossy(&op[1..]).into_owned())
    }

    /// Applies rules in order, all or nothing; a selector may be spread
    /// over several arguments (`(+get` `~key)`). The error is the text
    /// ACL SETUSER replies.
    pub fn apply_all(&mut self, rules: &[&[u8]], ctx: &Context<'_>) -> Result<(), String> {
        let merged = merge_selectors(rules).map_err(|start| {
            format!("Unmatched parenthesis in acl selector starting at '{}'.", String::from_utf8_lossy(start))
        })?;
        let mut staged = self.clone();
        for rule in &merged {
            staged.apply(rule, ctx).map_err(|e| {
                format!("Error in ACL SETUSER modifier '{}': {}", String::from_utf8_lossy(rule), e.message())
            })?;
        }
        *self = staged;
        Ok(())
    }

    /// Some selector allows every command, present and future.
    pub fn allows_all_commands(&self) -> bool {
        self.selectors.iter().any(|s| s.all_commands)
    }

    /// True when no rule limits this user: the hot path's one check.
    pub fn allows_everything(&self) -> bool {
        self.selectors.iter().any(Selector::allows_everything)
    }

    /// Whether `password` logs this user in (on, and nopass or a match).
    pub fn accepts(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hash = hash_password(password);
        // Every stored hash is compared in full, match or not.
        self.passwords.iter().fold(false, |found, p| found | constant_time_eq(p.as_bytes(), hash.as_bytes()))
    }

    /// Whether the user may run `argv` (`cmd` resolved from it).
    pub fn check(&self, cmd: &Command, argv: &[&[u8]]) -> Result<(), Denied> {
        let mut keys = None;
        let mut worst = Denied::Command;
        for selector in &self.selectors {
            match selector.check(cmd, argv, &mut keys) {
                Ok(()) => return Ok(()),
                Err(denied) if denied.rank() > worst.rank() => worst = denied,
                Err(_) => {}
            }
        }
        Err(worst)
    }

    /// Whether one selector both allows the command and gives `needed`
    /// access to every key (a `*` pattern with those permissions).
    pub fn unrestricted(&self, cmd: &Command, argv: &[&[u8]], needed: u8) -> bool {
        let mut keys = None;
        self.selectors.iter().any(|s| {
            s.check(cmd, argv, &mut keys).is_ok()
                && (s.all_keys || s.patterns.iter().any(|p| p.flags & needed == needed && p.pattern == b"*"))
        })
    }

    /// Whether some selector gives `needed` (READ/WRITE) access to `key`.
    pub fn key_allowed(&self, key: &[u8], needed: u8) -> bool {
        self.selectors.iter().any(|s| s.key_allowed(key, needed))
    }

    /// Whether some selector allows the channel.
    pub fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.selectors.iter().any(|s| s.all_channels || channel_allowed(&s.channels, channel, is_pattern))
    }

    /// Whether a subscriber of this user keeps its subscriptions under the
    /// `new` rules: some new selector has all channels, or every old
    /// channel rule is still there.
    pub fn channels_kept_by(&self, new: &User) -> bool {
        if new.selectors.iter().any(|s| s.all_channels) {
            return true;
        }
        let upcoming: Vec<&Vec<u8>> = new.selectors.iter().flat_map(|s| s.channels.iter()).collect();
        self.selectors.iter().all(|s| !s.all_channels && s.channels.iter().all(|c| upcoming.contains(&c)))
    }

    /// The channel rules of every selector (to recheck subscriptions).
    pub fn channel_rules(&self) -> Vec<Vec<u8>> {
        self.selectors.iter().flat_map(|s| s.channels.iter().cloned()).collect()
    }

    /// The flags in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut flags = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            flags.push("nopass");
        }
        match self.sanitize {
            Some(false) => flags.push("skip-sanitize-payload"),
            Some(true) => flags.push("sanitize-payload"),
            None => {}
        }
        flags
    }

    /// The rules after the name in ACL LIST and the ACL file.
    pub fn describe(&self, universe: &Universe) -> String {
        let mut out = String::new();
        for flag in self.flags() {
            out.push_str(flag);
            out.push(' ');
        }
        for p in &self.passwords {
            out.push('#');
            out.push_str(p);
            out.push(' ');
        }
        for (i, s) in self.selectors.iter().enumerate() {
            if i == 0 {
                out.push_str(&s.describe(universe));
            } else {
                out.push_str(&format!(" ({})", s.describe(universe)));
            }
        }
        out
    }

    /// ACL GETUSER's commands / keys / channels of one selector.
    pub fn selector_fields(&self, index: usize, universe: &Universe) -> [(&'static str, String); 3] {
        let s = &self.selectors[index];
        [("commands", s.describe_commands(universe)), ("keys", s.keys_text()), ("channels", s.channels_text())]
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Joins a selector spread over several arguments (`(+get`, `~k)`) into
/// one; the unmatched opening argument is the error.
pub fn merge_selectors<'a>(rules: &[&'a [u8]]) -> Result<Vec<Vec<u8>>, &'a [u8]> {
    let mut merged = Vec::new();
    let mut open: Option<(Vec<u8>, &'a [u8])> = None;
    for &rule in rules {
        if let Some((mut acc, start)) = open.take() {
            acc.push(b' ');
            acc.extend_from_slice(rule);
            if rule.last() == Some(&b')') {
                merged.push(acc);
            } else {
                open = Some((acc, start));
            }
            continue;
        }
        if rule.first() == Some(&b'(') && rule.last() != Some(&b')') {
            open = Some((rule.to_vec(), rule));
            continue;
        }
        merged.push(rule.to_vec());
    }
    match open {
        Some((_, start)) => Err(start),
        None => Ok(merged),
    }
}

/// A user name may not hold spaces or NUL bytes.
pub fn valid_name(name: &[u8]) -> bool {
    !has_spaces(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(universe: &Universe) -> Context<'_> {
        Context { universe, all_channels_default: false }
    }

    fn user(rules: &[&str]) -> (User, Universe) {
        let universe = Universe::full();
        let mut u = User::new(b"u", &ctx(&universe));
        let rules: Vec<&[u8]> = rules.iter().map(|r| r.as_bytes()).collect();
        u.apply_all(&rules, &ctx(&universe)).unwrap();
        (u, universe)
    }

    #[test]
    fn descriptions_follow_redis() {
        let (u, universe) = user(&[]);
        assert_eq!(u.describe(&universe), "off resetchannels -@all");
        let (u, universe) = user(&["on", ">x", "~a*", "%R~b*", "&ch", "+get", "+@hash", "-hset", "(+set ~x*)"]);
        assert_eq!(
            u.describe(&universe),
            "on #2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 ~a* %R~b* resetchannels &ch -@all +@hash -hset +get (~x* resetchannels -@all +set)"
        );
        let universe = Universe::full();
        let d = User::default_user(&ctx(&universe));
        assert_eq!(d.describe(&universe), "on nopass ~* &* +@all");
        assert!(d.allows_everything());
    }

    #[test]
    fn checks_commands_keys_and_channels() {
        let (u, _) = user(&["on", "+get", "+set", "%R~r*", "%W~w*", "&news", "+publish", "+select|0"]);
        let t = table();
        let get = t.lookup(b"get").unwrap();
        let set = t.lookup(b"set").unwrap();
        assert_eq!(u.check(get, &[b"get", b"r1"]), Ok(()));
        assert_eq!(u.check(get, &[b"get", b"w1"]), Err(Denied::Key(1)));
        assert_eq!(u.check(set, &[b"set", b"w1", b"v"]), Ok(()));
        assert_eq!(u.check(set, &[b"set", b"r1", b"v"]), Err(Denied::Key(1)));
        let publish = t.lookup(b"publish").unwrap();
        assert_eq!(u.check(publish, &[b"publish", b"news", b"m"]), Ok(()));
        assert_eq!(u.check(publish, &[b"publish", b"other", b"m"]), Err(Denied::Channel(1)));
        let select = t.lookup(b"select").unwrap();
        assert_eq!(u.check(select, &[b"select", b"0"]), Ok(()));
        assert_eq!(u.check(select, &[b"select", b"1"]), Err(Denied::Command));
    }

    #[test]
    fn rule_errors() {
        let universe = Universe::full();
        let mut u = User::new(b"u", &ctx(&universe));
        assert_eq!(u.apply(b"+nosuch", &ctx(&universe)), Err(RuleError::UnknownCommand));
        assert_eq!(u.apply(b"#abc", &ctx(&universe)), Err(RuleError::BadHash));
        assert_eq!(u.apply(b"<nope", &ctx(&universe)), Err(RuleError::NoSuchPassword));
        assert_eq!(u.apply(b"+config|get|x", &ctx(&universe)), Err(RuleError::FirstArgOfSubcommand));
        u.apply(b"allkeys", &ctx(&universe)).unwrap();
        assert_eq!(u.apply(b"~x", &ctx(&universe)), Err(RuleError::KeyAfterAll));
        assert_eq!(u.apply(b"bogus", &ctx(&universe)), Err(RuleError::Syntax));
    }
}
