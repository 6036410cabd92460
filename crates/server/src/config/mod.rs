//! Configuration: redis.conf files, `--directive value` arguments and
//! CONFIG GET/SET/REWRITE, with redis-server's names, value formats and
//! error messages.
//!
//! Values live in one store behind a lock (CONFIG is rare); settings read
//! on hot paths are copied into `Tunables` atomics whenever they change.

mod def;
mod table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use parking_lot::{Mutex, RwLock};
use shoal_resp::inline::split_args_owned;
use shoal_types::glob_match;

pub use def::{Def, Kind, Special, DENY_LOADING, HIDDEN, IMMUTABLE, MULTI_ARG, PROTECTED, SENSITIVE};

/// A parsed value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    /// Index into the names, or a bit set of them for multi-choice enums.
    Enum(u32),
    Str(String),
    Save(Vec<(u64, u64)>),
    OutputLimits([OutputLimit; 3]),
    Ints(Vec<i64>),
    Flags(u32),
    Words(Vec<String>),
    Floats(Vec<f64>),
}

/// One client class's output buffer limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OutputLimit {
    pub hard_bytes: u64,
    pub soft_bytes: u64,
    pub soft_seconds: u64,
}

/// Client classes of client-output-buffer-limit, in output order.
pub const OUTPUT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

/// Keyspace notification classes (notify-keyspace-events letters).
pub use shoal_engine::events::class as notify;

/// Why a value was refused (message as Redis words it).
pub type ConfigError = String;

pub fn defs() -> &'static [Def] {
    table::DEFS
}

/// Finds a definition by name or alias (case-insensitive).
pub fn lookup(name: &str) -> Option<(usize, &'static Def)> {
    table::DEFS
        .iter()
        .enumerate()
        .find(|(_, d)| d.name.eq_ignore_ascii_case(name) || (!d.alias.is_empty() && d.alias.eq_ignore_ascii_case(name)))
}

/// Parses `args` for `def`. `from_file` enables the splitting of a single
/// argument for multi-argument parameters (`--save "900 1"`).
pub fn parse(def: &Def, args: &[String]) -> Result<Value, ConfigError> {
    let one = || -> Result<&str, ConfigError> {
        match args {
            [single] => Ok(single.as_str()),
            _ => Err("wrong number of arguments".to_string()),
        }
    };
    match def.kind {
        Kind::Bool => match one()?.to_ascii_lowercase().as_str() {
            "yes" => Ok(Value::Bool(true)),
            "no" => Ok(Value::Bool(false)),
            _ => Err("argument must be 'yes' or 'no'".to_string()),
        },
        Kind::Int { min, max, memory, percent, octal } => parse_int(one()?, min, max, memory, percent, octal),
        Kind::Enum { names, multi } => parse_enum(names, multi, args),
        Kind::Str => Ok(Value::Str(one()?.to_string())),
        Kind::Special(which) => parse_special(which, args),
    }
}

fn parse_int(text: &str, min: i64, max: i64, memory: bool, percent: bool, octal: bool) -> Result<Value, ConfigError> {
    let value = if percent && text.ends_with('%') {
        let p = shoal_resp::number::parse_i64(&text.as_bytes()[..text.len() - 1])
            .filter(|v| *v >= 0)
            .ok_or_else(|| "argument must be a memory or percent value".to_string())?;
        if p > -min {
            return Err(format!("percentage argument must be less or equal to {}", -min));
        }
        -p
    } else if memory {
        parse_memory(text).ok_or_else(|| {
            if percent { "argument must be a memory or percent value" } else { "argument must be a memory value" }
                .to_string()
        })?
    } else if octal {
        i64::from_str_radix(text, 8).map_err(|_| "argument couldn't be parsed as an octal number".to_string())?
    } else {
        shoal_resp::number::parse_i64(text.as_bytes())
            .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?
    };
    if value < min || value > max {
        return Err(if octal {
            format!("argument must be between {min:o} and {max:o} inclusive")
        } else {
            format!("argument must be between {min} and {max} inclusive")
        });
    }
    Ok(Value::Int(value))
}

/// Parses "10", "1k", "1kb", "2MB", "3g" as redis.conf does (k = 1000, kb = 1024).
pub fn parse_memory(text: &str) -> Option<i64> {
    let lower = text.to_ascii_lowercase();
    let units: &[(&str, i64)] = &[
        ("gb", 1024 * 1024 * 1024),
        ("mb", 1024 * 1024),
        ("kb", 1024),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1000),
        ("b", 1),
    ];
    let (digits, multiplier) = units
        .iter()
        .find(|(suffix, _)| lower.ends_with(suffix))
        .map(|(suffix, m)| (&lower[..lower.len() - suffix.len()], *m))
        .unwrap_or((lower.as_str(), 1));
    let n = shoal_resp::number::parse_i64(digits.as_bytes())?;
    n.checked_mul(multiplier)
}

fn parse_enum(names: &'static [&'static str], multi: bool, args: &[String]) -> Result<Value, ConfigError> {
    let error = || format!("argument(s) must be one of the following: {}", names.join(", "));
    if !multi && args.len() != 1 {
        return Err("wrong number of arguments".to_string());
    }
    let mut bits = 0u32;
    for arg in args {
        let index = names.iter().position(|n| n.eq_ignore_ascii_case(arg)).ok_or_else(error)?;
        if !multi {
            return Ok(Value::Enum(index as u32));
        }
        bits |= 1 << index;
    }
    if multi && args.is_empty() {
        return Err(error());
    }
    Ok(Value::Enum(bits))
}

fn parse_special(which: Special, args: &[String]) -> Result<Value, ConfigError> {
    match which {
        Special::Save => {
            if args.len() == 1 && args[0].is_empty() {
                return Ok(Value::Save(Vec::new()));
            }
            if !args.len().is_multiple_of(2) {
                return Err("Invalid save parameters".to_string());
            }
            let mut points = Vec::new();
            for pair in args.chunks(2) {
                let seconds = shoal_resp::number::parse_u64(pair[0].as_bytes());
                let changes = shoal_resp::number::parse_u64(pair[1].as_bytes());
                match (seconds, changes) {
                    (Some(s), Some(c)) if s >= 1 => points.push((s, c)),
                    _ => return Err("Invalid save parameters".to_string()),
                }
            }
            Ok(Value::Save(points))
        }
        Special::ClientOutputBufferLimit => {
            if !args.len().is_multiple_of(4) || args.is_empty() {
                return Err("Wrong number of arguments in buffer limit configuration.".to_string());
            }
            let mut limits = [OutputLimit::default(); 3];
            let mut seen = [false; 3];
            for group in args.chunks(4) {
                let class = match group[0].to_ascii_lowercase().as_str() {
                    "normal" => 0,
                    "slave" | "replica" => 1,
                    "pubsub" => 2,
                    _ => return Err("Invalid client class specified in buffer limit configuration.".to_string()),
                };
                let hard = parse_memory(&group[1]).filter(|v| *v >= 0);
                let soft = parse_memory(&group[2]).filter(|v| *v >= 0);
                let seconds = shoal_resp::number::parse_i64(group[3].as_bytes()).filter(|v| *v >= 0);
                let (Some(hard), Some(soft), Some(seconds)) = (hard, soft, seconds) else {
                    return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".to_string());
                };
                limits[class] =
                    OutputLimit { hard_bytes: hard as u64, soft_bytes: soft as u64, soft_seconds: seconds as u64 };
                seen[class] = true;
            }
            // Classes not mentioned keep their values: the caller merges.
            Ok(Value::OutputLimits(limits))
        }
        Special::OomScoreAdjValues => {
            if args.len() != 3 {
                return Err("wrong number of arguments".to_string());
            }
            let mut values = Vec::new();
            for a in args {
                match shoal_resp::number::parse_i64(a.as_bytes()) {
                    Some(v) if (-2000..=2000).contains(&v) => values.push(v),
                    _ => return Err("Invalid oom-score-adj-values, elements must be between -2000 and 2000.".to_string()),
                }
            }
            Ok(Value::Ints(values))
        }
        Special::NotifyKeyspaceEvents => {
            let [text] = args else { return Err("wrong number of arguments".to_string()) };
            let mut flags = 0;
            for c in text.chars() {
                flags |= match c {
                    'A' => notify::ALL,
                    'K' => notify::KEYSPACE,
                    'E' => notify::KEYEVENT,
                    'm' => notify::KEY_MISS,
                    other => match notify::CLASSES.iter().find(|(l, _)| *l == other) {
                        Some((_, f)) => *f,
                        None => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()),
                    },
                };
            }
            Ok(Value::Flags(flags))
        }
        Special::Bind => {
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".to_string());
            }
            Ok(Value::Words(args.to_vec()))
        }
        Special::ReplicaOf => match args {
            [one] if one.is_empty() => Ok(Value::Words(Vec::new())),
            [host, port] if host.eq_ignore_ascii_case("no") && port.eq_ignore_ascii_case("one") => {
                Ok(Value::Words(Vec::new()))
            }
            [host, port] => match shoal_resp::number::parse_i64(port.as_bytes()) {
                Some(p) if (0..=65535).contains(&p) => Ok(Value::Words(vec![host.clone(), port.clone()])),
                _ => Err("Invalid master port".to_string()),
            },
            _ => Err("wrong number of arguments".to_string()),
        },
        Special::LatencyPercentiles => {
            if args.len() == 1 && args[0].is_empty() {
                return Ok(Value::Floats(Vec::new()));
            }
            let mut values = Vec::new();
            for a in args {
                match shoal_resp::number::parse_f64(a.as_bytes()) {
                    Some(v) if (0.0..=100.0).contains(&v) => values.push(v),
                    _ => {
                        return Err("latency-tracking-info-percentiles parameters should be between 0.0 and 100.0"
                            .to_string())
                    }
                }
            }
            Ok(Value::Floats(values))
        }
        Special::Dir => {
            let [dir] = args else { return Err("wrong number of arguments".to_string()) };
            Ok(Value::Str(dir.clone()))
        }
    }
}

/// Refuses values whose syntax Shoal knows but whose effect it does not
/// have yet, so that no configuration silently asks for something that
/// does not happen.
/// Every refusal here is listed in ARCHITECTURE.md ("Where Shoal
/// deliberately differs"); the default values stay accepted.
fn refuse_unsupported(def: &Def, value: &Value) -> Result<(), ConfigError> {
    let missing = |what: &str, reason: &str| Err(format!("{what} is not supported yet: {reason}"));
    match (def.name, value) {
        ("replica-ignore-maxmemory", Value::Bool(false)) => {
            missing("replica-ignore-maxmemory no", "a replica never evicts; its master's DELs remove keys")
        }
        ("daemonize", Value::Bool(true)) => missing("daemonize yes", "run Shoal under a supervisor instead"),
        ("supervised", Value::Enum(i)) if *i != 3 => {
            missing("supervised", "Shoal does not notify upstart or systemd; use supervised no")
        }
        ("syslog-enabled", Value::Bool(true)) => missing("syslog-enabled yes", "Shoal logs to a file or stdout only"),
        ("cluster-enabled", Value::Bool(true)) => missing("cluster-enabled yes", "Shoal has no cluster mode"),
        ("activedefrag", Value::Bool(true)) => missing("activedefrag yes", "Shoal has no active defragmentation"),
        ("lazyfree-lazy-expire", Value::Bool(true)) => {
            missing("lazyfree-lazy-expire yes", "expired keys are freed when they are deleted")
        }
        ("lazyfree-lazy-server-del", Value::Bool(true)) => {
            missing("lazyfree-lazy-server-del yes", "keys the server deletes are freed at once")
        }
        ("maxmemory-clients", Value::Int(v)) if *v != 0 => {
            missing("maxmemory-clients", "Shoal has no client eviction (use client-output-buffer-limit)")
        }
        ("tls-port", Value::Int(v)) if *v != 0 => missing("tls-port", "Shoal has no TLS"),
        ("socket-mark-id", Value::Int(v)) if *v != 0 => missing("socket-mark-id", "Shoal does not mark its sockets"),
        ("server_cpulist" | "bio_cpulist" | "aof_rewrite_cpulist" | "bgsave_cpulist", Value::Str(s)) if !s.is_empty() => {
            missing(def.name, "Shoal does not pin its threads to CPUs")
        }
        ("watchdog-period", Value::Int(v)) if *v != 0 => missing("watchdog-period", "Shoal has no software watchdog"),
        _ => Ok(()),
    }
}

/// Prints a value as CONFIG GET shows it.
pub fn format(def: &Def, value: &Value) -> String {
    match (def.kind, value) {
        (_, Value::Bool(b)) => if *b { "yes" } else { "no" }.to_string(),
        (Kind::Int { octal: true, .. }, Value::Int(v)) => format!("{v:o}"),
        (Kind::Int { percent: true, .. }, Value::Int(v)) if *v < 0 => format!("{}%", -v),
        (_, Value::Int(v)) => v.to_string(),
        (Kind::Enum { names, multi: false }, Value::Enum(i)) => names[*i as usize].to_string(),
        (Kind::Enum { names, multi: true }, Value::Enum(bits)) => names
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(" "),
        (_, Value::Str(s)) => s.clone(),
        (_, Value::Save(points)) => {
            points.iter().map(|(s, c)| format!("{s} {c}")).collect::<Vec<_>>().join(" ")
        }
        (_, Value::OutputLimits(limits)) => OUTPUT_CLASSES
            .iter()
            .zip(limits.iter())
            .map(|(class, l)| format!("{class} {} {} {}", l.hard_bytes, l.soft_bytes, l.soft_seconds))
            .collect::<Vec<_>>()
            .join(" "),
        (_, Value::Ints(v)) => v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" "),
        (_, Value::Flags(flags)) => format_notify_flags(*flags),
        (_, Value::Words(words)) => words.join(" "),
        (_, Value::Floats(values)) => values
            .iter()
            .map(|v| {
                let mut out = Vec::new();
                shoal_resp::number::write_f64_printf(&mut out, *v, c"%f");
                // Redis prints percentiles with %f and trims trailing zeros.
                let s = String::from_utf8_lossy(&out).into_owned();
                let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
                s
            })
            .collect::<Vec<_>>()
            .join(" "),
        (_, Value::Enum(i)) => i.to_string(),
    }
}

pub fn format_notify_flags(flags: u32) -> String {
    let mut out = String::new();
    if flags & notify::ALL == notify::ALL {
        out.push('A');
    } else {
        for (letter, flag) in notify::CLASSES {
            if flags & flag != 0 {
                out.push(*letter);
            }
        }
    }
    if flags & notify::KEYSPACE != 0 {
        out.push('K');
    }
    if flags & notify::KEYEVENT != 0 {
        out.push('E');
    }
    if flags & notify::KEY_MISS != 0 {
        out.push('m');
    }
    out
}

/// The running configuration.
pub struct Config {
    values: RwLock<Vec<Value>>,
    /// Absolute path of the config file, if the server was started with one.
    pub file: Option<PathBuf>,
    /// The process's oom_score_adj from before oom-score-adj changed it
    /// (None while it has not), to go back to when it is set to `no`.
    oom_score_base: Mutex<Option<i64>>,
    /// `user` directives: the name and the rules of each (applied when
    /// the server starts, see `crate::acl::load_at_startup`).
    users: Vec<Vec<String>>,
}

/// One line of a configuration source that failed.
#[derive(Debug)]
pub struct LoadError {
    pub line_number: usize,
    pub line: String,
    pub message: String,
}

impl LoadError {
    /// Tells on standard error why the server cannot start, as redis-server does
    /// (`product`: which server and version).
    pub fn report(&self, product: &str) {
        eprintln!("\n*** FATAL CONFIG FILE ERROR ({product}) ***");
        if self.line_number > 0 {
            eprintln!("Reading the configuration file, at line {}", self.line_number);
            eprintln!(">>> '{}'", self.line);
        }
        eprintln!("{}", self.message);
    }
}

impl Config {
    /// Builds the configuration from an optional file and the command-line
    /// directives (already joined into "name value..." lines).
    pub fn load(file: Option<&Path>, extra: &str) -> Result<Config, LoadError> {
        Config::load_as(file, extra, false)
    }

    /// The server directives of sentinel mode: the same parameters, checked the same way,
    /// with redis-sentinel's own defaults (port 26379, every interface, protected mode
    /// off); the `sentinel ...` lines are left to the sentinel's configuration.
    pub fn load_sentinel(file: Option<&Path>, extra: &str) -> Result<Config, LoadError> {
        Config::load_as(file, extra, true)
    }

    fn load_as(file: Option<&Path>, extra: &str, sentinel: bool) -> Result<Config, LoadError> {
        let mut values: Vec<Value> = Vec::with_capacity(defs().len());
        for def in defs() {
            let args = split_default(def);
            let value = parse(def, &args).unwrap_or_else(|e| panic!("bad default for {}: {e}", def.name));
            values.push(value);
        }
        // The file's absolute path is taken before a `dir` directive moves
        // the working directory (CONFIG REWRITE writes there).
        let absolute = file.map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()));
        let mut text = String::new();
        if sentinel {
            let defaults = "port 26379\nbind * -::*\nprotected-mode no\n";
            apply_lines(defaults, &mut values, &mut Vec::new(), None, false)?;
        }
        if let Some(path) = file {
            text = std::fs::read_to_string(path).map_err(|e| LoadError {
                line_number: 0,
                line: String::new(),
                message: format!("Fatal error, can't open config file '{}': {e}", path.display()),
            })?;
            text.push('\n');
        }
        text.push_str(extra);
        let mut users = Vec::new();
        apply_lines(&text, &mut values, &mut users, absolute.as_deref().and_then(Path::parent), sentinel)?;
        Ok(Config { values: RwLock::new(values), file: absolute, oom_score_base: Mutex::new(None), users })
    }

    /// The `user` directives (name, then rules).
    pub fn users(&self) -> &[Vec<String>] {
        &self.users
    }

    pub fn get(&self, name: &str) -> Value {
        let (index, _) = lookup(name).unwrap_or_else(|| panic!("unknown config {name}"));
        self.values.read()[index].clone()
    }

    pub fn get_bool(&self, name: &str) -> bool {
        matches!(self.get(name), Value::Bool(true))
    }

    pub fn get_int(&self, name: &str) -> i64 {
        match self.get(name) {
            Value::Int(v) => v,
            other => panic!("config {name} is not an integer: {other:?}"),
        }
    }

    pub fn get_string(&self, name: &str) -> String {
        let (index, def) = lookup(name).unwrap_or_else(|| panic!("unknown config {name}"));
        format(def, &self.values.read()[index])
    }

    /// The value's text for CONFIG GET.
    pub fn display(&self, index: usize) -> String {
        let def = &defs()[index];
        if let Kind::Special(Special::Dir) = def.kind {
            return std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
        }
        format(def, &self.values.read()[index])
    }

    /// CONFIG GET: (name, value) for every parameter matching any
    /// pattern, without duplicates. As in Redis, a pattern without glob
    /// characters is a name looked up directly (any case, echoed as
    /// given), which also finds hidden parameters; glob patterns never
    /// match hidden ones.
    pub fn matching(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let (exact, globs): (Vec<&[u8]>, Vec<&[u8]>) =
            patterns.iter().partition(|p| !p.iter().any(|c| matches!(c, b'[' | b'*' | b'?')));
        for name in exact {
            let name = String::from_utf8_lossy(name).into_owned();
            if let Some((index, _)) = lookup(&name) {
                if seen.insert(name.clone()) {
                    out.push((name.clone(), self.display(index)));
                }
            }
        }
        for (index, def) in defs().iter().enumerate() {
            if def.flags & HIDDEN != 0 {
                continue;
            }
            for name in [def.name, def.alias] {
                if name.is_empty() || seen.contains(name) {
                    continue;
                }
                if globs.iter().any(|p| pattern_matches(p, name)) {
                    seen.insert(name.to_string());
                    out.push((name.to_string(), self.display(index)));
                }
            }
        }
        out
    }

    /// The current values of the named parameters (unknown names are
    /// left out), for `restore`.
    pub fn backup(&self, names: &[&str]) -> Vec<(usize, Value)> {
        let values = self.values.read();
        names.iter().filter_map(|n| lookup(n)).map(|(i, _)| (i, values[i].clone())).collect()
    }

    /// Puts back values taken by `backup` (CONFIG SET rolls back a change
    /// the server could not apply).
    pub fn restore(&self, backup: Vec<(usize, Value)>) {
        let mut values = self.values.write();
        for (index, value) in backup {
            values[index] = value;
        }
        drop(values);
        let _ = self.apply_oom_score_adj();
    }

    /// Sets this process's /proc/self/oom_score_adj from oom-score-adj and
    /// oom-score-adj-values as redis-server does: the first value (master
    /// class; the second while replicaof is set), added to the score the
    /// process had before (`yes`, `relative`) or as is (`absolute`), within
    /// -1000..=1000; `no` puts back the score from before. Called at
    /// start-up and whenever CONFIG SET changes them.
    pub fn apply_oom_score_adj(&self) -> Result<(), String> {
        const PATH: &str = "/proc/self/oom_score_adj";
        let (mode, values, replica) =
            match (self.get("oom-score-adj"), self.get("oom-score-adj-values"), self.get("replicaof")) {
                (Value::Enum(mode), Value::Ints(values), Value::Words(master)) => (mode, values, !master.is_empty()),
                other => unreachable!("oom-score-adj settings: {other:?}"),
            };
        let mut base = self.oom_score_base.lock();
        let score = if mode != 0 {
            let base = match *base {
                Some(b) => b,
                None => {
                    let text =
                        std::fs::read_to_string(PATH).map_err(|e| format!("Unable to read oom_score_adj: {e}"))?;
                    *base.insert(text.trim().parse().unwrap_or(0))
                }
            };
            let value = values[usize::from(replica)];
            // 1 = yes, 2 = relative, 3 = absolute
            if mode == 3 { value } else { value + base }.clamp(-1000, 1000)
        } else if let Some(b) = base.take() {
            b
        } else {
            return Ok(());
        };
        std::fs::write(PATH, format!("{score}\n")).map_err(|e| format!("Unable to write oom_score_adj: {e}"))
    }

    /// CONFIG SET of several parameters at once: all or nothing. Returns
    /// the parameters whose value changed. Protected parameters (`dir`,
    /// `dbfilename`) are refused unless enable-protected-configs is `yes`;
    /// `set_many_from` also knows local connections.
    pub fn set_many(&self, pairs: &[(&str, &str)]) -> Result<Vec<&'static str>, SetError> {
        self.set_many_from(pairs, false)
    }

    /// `set_many` for a client connected over loopback or a Unix socket
    /// (`local`), which enable-protected-configs `local` lets change
    /// protected parameters.
    pub fn set_many_from(&self, pairs: &[(&str, &str)], local: bool) -> Result<Vec<&'static str>, SetError> {
        let mut indexes = Vec::with_capacity(pairs.len());
        for (name, _) in pairs {
            match lookup(name) {
                Some((i, _)) => indexes.push(i),
                None => return Err(SetError::Unknown(name.to_string())),
            }
        }
        // enable-protected-configs: no (0), yes (1), local (2).
        let protected_allowed = match self.get("enable-protected-configs") {
            Value::Enum(1) => true,
            Value::Enum(2) => local,
            _ => false,
        };
        for (n, (name, _)) in pairs.iter().enumerate() {
            let def = &defs()[indexes[n]];
            if def.flags & IMMUTABLE != 0 {
                return Err(SetError::Failed(name.to_string(), "can't set immutable config".to_string()));
            }
            if def.flags & PROTECTED != 0 && !protected_allowed {
                return Err(SetError::Failed(name.to_string(), "can't set protected config".to_string()));
            }
            if indexes[..n].contains(&indexes[n]) {
                return Err(SetError::Failed(name.to_string(), "duplicate parameter".to_string()));
            }
        }
        let mut parsed = Vec::with_capacity(pairs.len());
        let current = self.values.read().clone();
        for (n, (_, text)) in pairs.iter().enumerate() {
            let def = &defs()[indexes[n]];
            let args = split_runtime_value(def, text);
            let mut value = parse(def, &args)
                .and_then(|v| refuse_unsupported(def, &v).map(|_| v))
                .map_err(|e| SetError::Failed(def.name.to_string(), e))?;
            merge_partial(def, &current[indexes[n]], &args, &mut value);
            if let (Kind::Special(Special::Dir), Value::Str(dir)) = (def.kind, &value) {
                std::env::set_current_dir(dir).map_err(|e| SetError::Failed(def.name.to_string(), e.to_string()))?;
            }
            parsed.push(value);
        }
        let mut values = self.values.write();
        let mut changed = Vec::new();
        let mut previous = Vec::new();
        for (i, value) in indexes.into_iter().zip(parsed) {
            if values[i] != value {
                previous.push((i, std::mem::replace(&mut values[i], value)));
                changed.push(defs()[i].name);
            }
        }
        drop(values);
        if let Some(name) = changed.iter().find(|n| n.starts_with("oom-score-adj")) {
            if self.apply_oom_score_adj().is_err() {
                self.restore(previous);
                let reason = "Failed to set current oom_score_adj. Check server logs.".to_string();
                return Err(SetError::Failed(name.to_string(), reason));
            }
        }
        Ok(changed)
    }

    /// CONFIG REWRITE: updates the file in place, keeping comments and
    /// unknown lines, and appends parameters that differ from defaults
    /// (every parameter with `force_all`, DEBUG CONFIG-REWRITE-FORCE-ALL).
    /// `users`: the `user` lines to write in place of the file's (None:
    /// the file's user lines are dropped, as with an aclfile).
    pub fn rewrite(&self, force_all: bool, users: Option<Vec<String>>) -> Result<(), String> {
        let Some(path) = &self.file else {
            return Err("The server is running without a config file".to_string());
        };
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let text = self.rewrite_text(&old, force_all, users);
        let tmp = path.with_extension("tmp-rewrite");
        std::fs::write(&tmp, text).map_err(|e| format!("Rewriting config file: {e}"))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("Rewriting config file: {e}"))
    }

    /// The config file `old` rewritten: lines of parameters replaced in place with their
    /// current values, other lines kept, parameters that differ from defaults appended.
    pub fn rewrite_text(&self, old: &str, force_all: bool, users: Option<Vec<String>>) -> String {
        let values = self.values.read().clone();
        let mut written = vec![false; defs().len()];
        let mut out = Vec::new();
        let mut users = users.unwrap_or_default().into_iter();
        let mut users_written = false;
        for line in old.lines() {
            let trimmed = line.trim();
            let name = trimmed.split_whitespace().next().unwrap_or("");
            if trimmed.starts_with('#') || trimmed.is_empty() {
                out.push(line.to_string());
                continue;
            }
            if name.eq_ignore_ascii_case("user") {
                if !users_written {
                    users_written = true;
                    out.extend(users.by_ref());
                }
                continue;
            }
            match lookup(name) {
                Some((i, def)) => {
                    if !written[i] {
                        written[i] = true;
                        out.extend(rewrite_lines(def, &values[i], i, self));
                    }
                }
                None => out.push(line.to_string()),
            }
        }
        let mut appended = false;
        for (i, def) in defs().iter().enumerate() {
            if written[i] {
                continue;
            }
            let default = parse(def, &split_default(def)).ok();
            let differs = match def.kind {
                Kind::Special(Special::Dir) => false,
                _ => default.as_ref() != Some(&values[i]),
            };
            if differs || force_all {
                if !appended {
                    out.push("# Generated by CONFIG REWRITE".to_string());
                    appended = true;
                }
                out.extend(rewrite_lines(def, &values[i], i, self));
            }
        }
        let rest: Vec<String> = users.collect();
        if !rest.is_empty() {
            if !appended {
                out.push("# Generated by CONFIG REWRITE".to_string());
            }
            out.extend(rest);
        }
        let mut text = out.join("\n");
        text.push('\n');
        text
    }
}

fn rewrite_lines(def: &Def, value: &Value, index: usize, config: &Config) -> Vec<String> {
    match (def.kind, value) {
        (Kind::Special(Special::Save), Value::Save(points)) if points.is_empty() => vec!["save \"\"".to_string()],
        (Kind::Special(Special::Save), Value::Save(points)) => {
            points.iter().map(|(s, c)| format!("save {s} {c}")).collect()
        }
        (Kind::Special(Special::ClientOutputBufferLimit), Value::OutputLimits(limits)) => OUTPUT_CLASSES
            .iter()
            .zip(limits.iter())
            .map(|(class, l)| {
                format!("client-output-buffer-limit {class} {} {} {}", l.hard_bytes, l.soft_bytes, l.soft_seconds)
            })
            .collect(),
        (Kind::Special(Special::ReplicaOf), Value::Words(w)) if w.is_empty() => Vec::new(),
        _ => vec![format!("{} {}", def.name, quote(&config.display(index)))],
    }
}

/// Quotes a value for a config file when it needs it.
fn quote(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\') {
        return value.to_string();
    }
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Why CONFIG SET failed.
#[derive(Debug)]
pub enum SetError {
    Unknown(String),
    Failed(String, String),
}

impl SetError {
    pub fn message(&self) -> String {
        match self {
            SetError::Unknown(name) => format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'"),
            SetError::Failed(name, reason) => {
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}")
            }
        }
    }
}

fn pattern_matches(pattern: &[u8], name: &str) -> bool {
    glob_match(pattern, name.as_bytes(), true)
}

fn split_default(def: &Def) -> Vec<String> {
    if def.flags & MULTI_ARG != 0 && !def.default.is_empty() {
        def.default.split(' ').map(str::to_string).collect()
    } else {
        vec![def.default.to_string()]
    }
}

/// CONFIG SET passes one string; multi-argument parameters split it.
fn split_runtime_value(def: &Def, text: &str) -> Vec<String> {
    if def.flags & MULTI_ARG != 0 && !text.is_empty() {
        split_args_owned(text.as_bytes())
            .unwrap_or_default()
            .into_iter()
            .map(|a| String::from_utf8_lossy(&a).into_owned())
            .collect()
    } else {
        vec![text.to_string()]
    }
}

/// client-output-buffer-limit changes only the classes given.
fn merge_partial(def: &Def, current: &Value, args: &[String], value: &mut Value) {
    if let (Kind::Special(Special::ClientOutputBufferLimit), Value::OutputLimits(old), Value::OutputLimits(new)) =
        (def.kind, current, &mut *value)
    {
        let mentioned: Vec<usize> = args
            .chunks(4)
            .filter_map(|g| match g[0].to_ascii_lowercase().as_str() {
                "normal" => Some(0),
                "slave" | "replica" => Some(1),
                "pubsub" => Some(2),
                _ => None,
            })
            .collect();
        for class in 0..3 {
            if !mentioned.contains(&class) {
                new[class] = old[class];
            }
        }
    }
}

/// Applies config-file text to `values`, redis.conf style.
fn apply_lines(
    text: &str,
    values: &mut [Value],
    users: &mut Vec<Vec<String>>,
    base_dir: Option<&Path>,
    sentinel: bool,
) -> Result<(), LoadError> {
    let mut save_reset = false;
    for (n, raw) in text.split('\n').enumerate() {
        let line = raw.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |message: String| LoadError { line_number: n + 1, line: line.to_string(), message };
        let Some(argv) = split_args_owned(line.as_bytes()) else {
            return Err(fail("Unbalanced quotes in configuration line".to_string()));
        };
        let argv: Vec<String> = argv.into_iter().map(|a| String::from_utf8_lossy(&a).into_owned()).collect();
        let Some(name) = argv.first() else { continue };
        let name = name.to_ascii_lowercase();
        if let Some((index, def)) = lookup(&name) {
            if def.flags & MULTI_ARG == 0 && argv.len() != 2 {
                return Err(fail("wrong number of arguments".to_string()));
            }
            let args: Vec<String> = if def.flags & MULTI_ARG != 0 && argv.len() == 2 && !argv[1].is_empty() {
                split_args_owned(argv[1].as_bytes())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| String::from_utf8_lossy(&a).into_owned())
                    .collect()
            } else {
                argv[1..].to_vec()
            };
            let mut value = parse(def, &args).map_err(fail)?;
            refuse_unsupported(def, &value).map_err(fail)?;
            // Several `save` lines accumulate; the first replaces the default.
            if let (Kind::Special(Special::Save), Value::Save(points)) = (def.kind, &mut value) {
                if save_reset && !points.is_empty() {
                    if let Value::Save(existing) = &values[index] {
                        let mut all = existing.clone();
                        all.append(points);
                        *points = all;
                    }
                }
                save_reset = true;
            }
            merge_partial(def, &values[index].clone(), &args, &mut value);
            if let (Kind::Special(Special::Dir), Value::Str(dir)) = (def.kind, &value) {
                std::env::set_current_dir(dir).map_err(|e| fail(format!("Can't chdir to '{dir}': {e}")))?;
            }
            values[index] = value;
            continue;
        }
        match name.as_str() {
            "include" if argv.len() == 2 => {
                let path = resolve(base_dir, &argv[1]);
                let included = std::fs::read_to_string(&path)
                    .map_err(|e| fail(format!("Fatal error, can't open config file '{}': {e}", path.display())))?;
                apply_lines(&included, values, users, path.parent(), sentinel)?;
            }
            "user" if argv.len() >= 2 => {
                if users.iter().any(|u: &Vec<String>| u[0] == argv[1]) {
                    let message = format!(
                        "Error in user declaration '{}': Duplicate user found. A user can only be defined once in config files",
                        argv[1]
                    );
                    return Err(fail(message));
                }
                users.push(argv[1..].to_vec());
            }
            // Deprecated directives Redis 7.0 still tolerates.
            "list-max-ziplist-entries" | "list-max-ziplist-value" | "lua-replicate-commands" if argv.len() == 2 => {}
            "sentinel" if sentinel => {}
            _ => return Err(fail("Bad directive or wrong number of arguments".to_string())),
        }
    }
    Ok(())
}

fn resolve(base: Option<&Path>, path: &str) -> PathBuf {
    let p = Path::new(path);
    match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p.to_path_buf(),
    }
}

/// What a redis-server command line asks for.
#[derive(Debug, Default, PartialEq)]
pub struct CommandLine {
    /// The config file: the first argument, unless it starts with '-'.
    pub file: Option<PathBuf>,
    /// More configuration comes from standard input ('-' as the first or
    /// the last argument); it is read after the file, before the options.
    pub stdin: bool,
    /// The other arguments as config lines, read last.
    pub options: String,
}

/// Turns redis-server style arguments (without the program name) into
/// config lines, by redis-server 7.0's rules: `--name` starts a directive
/// and the arguments after it are its values, quoted as given, so a value
/// may itself start with `--` once the directive has one
/// (`--proc-title-template --my--title`); one argument may hold both name
/// and values (`"--maxmemory 700mb"`); `--save` followed by an option or
/// nothing means `save ""`.
pub fn parse_command_line(args: &[String]) -> CommandLine {
    let mut line = CommandLine::default();
    let mut j = 0;
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            line.file = Some(PathBuf::from(first));
            j = 1;
        }
    }
    let last = args.len().saturating_sub(1);
    // Whether the directive being built has a value yet: until it has,
    // an argument starting with `--` is that value.
    let mut has_value = true;
    let options = &mut line.options;
    while j < args.len() {
        let arg = &args[j];
        if arg == "-" && (j == 0 || j == last) {
            line.stdin = true;
        } else if has_value && arg.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&arg[2..]);
            options.push(' ');
            let name_only = split_args_owned(arg.as_bytes()).is_some_and(|words| words.len() == 1);
            has_value = !name_only;
            if name_only && arg.eq_ignore_ascii_case("--save") {
                let next_is_option = j != last && args[j + 1].starts_with("--");
                if next_is_option || j == last {
                    options.push_str("\"\"");
                    has_value = next_is_option;
                }
            }
        } else {
            options.push_str(&quote_arg(arg));
            options.push(' ');
            has_value = true;
        }
        j += 1;
    }
    options.push('\n');
    line
}

/// Quotes a command-line value so the config parser reads it back as is.
fn quote_arg(arg: &str) -> String {
    let mut out = String::from("\"");
    for b in arg.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            other => out.push_str(&format!("\\x{other:02x}")),
        }
    }
    out.push('"');
    out
}

/// A snapshot of every value by name (for tests and INFO).
pub fn snapshot(config: &Config) -> HashMap<&'static str, String> {
    defs().iter().enumerate().map(|(i, d)| (d.name, config.display(i))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse() {
        let config = Config::load(None, "").unwrap();
        assert_eq!(config.get_int("port"), 6379);
        assert_eq!(config.get_string("save"), "3600 1 300 100 60 10000");
        assert_eq!(
            config.get_string("client-output-buffer-limit"),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        );
    }

    #[test]
    fn arguments_become_lines() {
        let args: Vec<String> =
            ["--port", "7000", "--save", "", "--loglevel", "verbose"].iter().map(|s| s.to_string()).collect();
        let line = parse_command_line(&args);
        assert!(line.file.is_none() && !line.stdin);
        let config = Config::load(None, &line.options).unwrap();
        assert_eq!(config.get_int("port"), 7000);
        assert_eq!(config.get_string("save"), "");
        assert_eq!(config.get_string("loglevel"), "verbose");
    }

    fn command_line(args: &[&str]) -> CommandLine {
        parse_command_line(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// The error a command line gets, as "'<line>' <message>".
    fn command_line_error(args: &[&str]) -> String {
        let err = Config::load(None, &command_line(args).options).err().expect("should fail");
        format!("'{}' {}", err.line, err.message)
    }

    #[test]
    fn command_line_follows_redis_rules() {
        // A value may start with `--` once its directive has none yet.
        let config = Config::load(
            None,
            &command_line(&["--proc-title-template", "--my--title", "--loglevel", "verbose"]).options,
        )
        .unwrap();
        assert_eq!(config.get_string("proc-title-template"), "--my--title");
        assert_eq!(config.get_string("loglevel"), "verbose");
        // Name and value in one argument, quotes inside it honoured.
        let line =
            command_line(&["conf", "loglevel", "verbose", "--maxmemory '700mb'", "--maxmemory-policy volatile-lru"]);
        assert_eq!(line.file, Some(PathBuf::from("conf")));
        let config = Config::load(None, &line.options).unwrap();
        assert_eq!(config.get_int("maxmemory"), 700 * 1024 * 1024);
        assert_eq!(config.get_string("maxmemory-policy"), "volatile-lru");
        assert_eq!(config.get_string("loglevel"), "verbose");
        // `--save` with no value means `save ""`.
        for args in [
            &["--save", "--loglevel", "verbose"][..],
            &["--loglevel", "verbose", "--save"],
            &["--proc-title-template", "--save", "--save", "", "--loglevel", "verbose"],
        ] {
            let config = Config::load(None, &command_line(args).options).unwrap();
            assert_eq!(config.get_string("save"), "", "{args:?}");
            assert_eq!(config.get_string("loglevel"), "verbose", "{args:?}");
        }
        // Errors quote the directive as built.
        assert_eq!(command_line_error(&["--port"]), "'port' wrong number of arguments");
        assert_eq!(
            command_line_error(&["--port", "6379", "6380"]),
            "'port \"6379\" \"6380\"' wrong number of arguments"
        );
        assert_eq!(
            command_line_error(&["--port", "--loglevel", "verbose"]),
            "'port \"--loglevel\" \"verbose\"' wrong number of arguments"
        );
        assert!(command_line_error(&["--port", "--bla", "--loglevel", "verbose"])
            .starts_with("'port \"--bla\"' argument couldn't be parsed into an integer"));
        assert!(command_line_error(&["--logfile", "--my--log--file", "--loglevel", "--bla"])
            .starts_with("'loglevel \"--bla\"' argument(s) must be one of the following"));
        assert!(command_line_error(&["--shutdown-on-sigint", "now force", "--shutdown-on-sigterm"])
            .starts_with("'shutdown-on-sigterm' argument(s) must be one of the following"));
        assert_eq!(
            command_line_error(&["--replicaof", "--127.0.0.1", "abc"]),
            "'replicaof \"--127.0.0.1\" \"abc\"' Invalid master port"
        );
        assert_eq!(
            command_line_error(&["--replicaof", "--127.0.0.1", "--abc"]),
            "'replicaof \"--127.0.0.1\"' wrong number of arguments"
        );
        // '-' first or last: more configuration from standard input.
        assert!(command_line(&["-"]).stdin && command_line(&["-"]).file.is_none());
        assert!(command_line(&["conf", "--port", "7000", "-"]).stdin);
        assert!(!command_line(&["--port", "7000"]).stdin);
    }

    #[test]
    fn an_aof_without_rdb_preamble_is_accepted() {
        let config = Config::load(None, "aof-use-rdb-preamble no\n").unwrap();
        assert_eq!(config.get_string("aof-use-rdb-preamble"), "no");
        config.set_many(&[("aof-use-rdb-preamble", "yes")]).unwrap();
        assert_eq!(config.get_string("aof-use-rdb-preamble"), "yes");
        config.set_many(&[("aof-use-rdb-preamble", "no")]).unwrap();
        assert!(!config.get_bool("aof-use-rdb-preamble"));
    }

    #[test]
    fn directives_needing_missing_features_are_refused_but_defaults_pass() {
        let refused = [
            "daemonize yes",
            "supervised systemd",
            "syslog-enabled yes",
            "cluster-enabled yes",
            "activedefrag yes",
            "lazyfree-lazy-expire yes",
            "lazyfree-lazy-server-del yes",
            "maxmemory-clients 10mb",
            "maxmemory-clients 5%",
            "tls-port 6380",
            "socket-mark-id 7",
            "server_cpulist 0-1",
            "watchdog-period 100",
        ];
        for line in refused {
            let err = Config::load(None, &format!("{line}\n")).err().unwrap_or_else(|| panic!("{line} accepted"));
            assert!(err.message.contains("is not supported yet"), "{line}: {}", err.message);
        }
        let defaults = "replicaof \"\"\ndaemonize no\nsupervised no\nsyslog-enabled no\ncluster-enabled no\n\
                        activedefrag no\nlazyfree-lazy-expire no\nlazyfree-lazy-server-del no\nmaxmemory-clients 0\n\
                        tls-port 0\nsocket-mark-id 0\nserver_cpulist \"\"\naclfile \"\"\nwatchdog-period 0\n";
        let config = Config::load(None, defaults).unwrap();
        for (name, value) in [("maxmemory-clients", "1mb"), ("activedefrag", "yes"), ("lazyfree-lazy-expire", "yes")] {
            let err = config.set_many(&[(name, value)]).unwrap_err();
            assert!(err.message().contains("is not supported yet"), "{name}: {}", err.message());
        }
        config.set_many(&[("maxmemory-clients", "0"), ("activedefrag", "no")]).unwrap();
        assert_eq!(config.get_string("maxmemory-clients"), "0");
    }

    #[test]
    fn bad_values_name_the_problem() {
        let err = Config::load(None, "port 99999\n").err().unwrap();
        assert_eq!(err.message, "argument must be between 0 and 65535 inclusive");
        assert_eq!(err.line_number, 1);
        let err = Config::load(None, "\nnonsense 1\n").err().unwrap();
        assert_eq!(err.message, "Bad directive or wrong number of arguments");
        assert_eq!(err.line_number, 2);
        let err = Config::load(None, "appendonly maybe\n").err().unwrap();
        assert_eq!(err.message, "argument must be 'yes' or 'no'");
    }

    #[test]
    fn oom_score_adj_moves_this_process_score() {
        let read = || std::fs::read_to_string("/proc/self/oom_score_adj").unwrap().trim().parse::<i64>().unwrap();
        let base = read();
        // Only raise the score: lowering it needs privileges. A base this
        // high leaves no room to check anything.
        if base > 900 {
            return;
        }
        let config = Config::load(None, "oom-score-adj-values \"7 8 9\"\n").unwrap();
        config.apply_oom_score_adj().unwrap();
        assert_eq!(read(), base, "oom-score-adj no leaves the score alone");
        config.set_many(&[("oom-score-adj", "yes")]).unwrap();
        assert_eq!(read(), base + 7);
        config.set_many(&[("oom-score-adj-values", "9 8 7")]).unwrap();
        assert_eq!(read(), base + 9);
        let backup = config.backup(&["oom-score-adj"]);
        config.set_many(&[("oom-score-adj", "absolute"), ("oom-score-adj-values", "950 0 0")]).unwrap();
        assert_eq!(read(), 950);
        config.restore(backup);
        assert_eq!(read(), (base + 950).min(1000), "a rolled back CONFIG SET applies the old mode again");
        config.set_many(&[("oom-score-adj", "no")]).unwrap();
        assert_eq!(read(), base, "no puts the score from before back");
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("2GB"), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn config_set_is_atomic_and_checked() {
        let config = Config::load(None, "").unwrap();
        let err = config.set_many(&[("maxmemory", "10mb"), ("port", "abc")]).unwrap_err();
        assert_eq!(
            err.message(),
            "ERR CONFIG SET failed (possibly related to argument 'port') - argument couldn't be parsed into an integer"
        );
        assert_eq!(config.get_int("maxmemory"), 0);
        let changed = config.set_many(&[("maxmemory", "10mb"), ("save", "100 10"), ("port", "6379")]).unwrap();
        assert_eq!(changed, ["maxmemory", "save"], "a value set to itself is no change");
        assert_eq!(config.get_int("maxmemory"), 10 * 1024 * 1024);
        let backup = config.backup(&["maxmemory", "nonsense"]);
        config.set_many(&[("maxmemory", "1mb")]).unwrap();
        config.restore(backup);
        assert_eq!(config.get_int("maxmemory"), 10 * 1024 * 1024, "restored");
        assert_eq!(config.get_string("save"), "100 10");
        let err = config.set_many(&[("daemonize", "yes")]).unwrap_err();
        assert!(err.message().ends_with("can't set immutable config"));
        let err = config.set_many(&[("dbfilename", "other.rdb")]).unwrap_err();
        assert!(err.message().ends_with("can't set protected config"));
        let open = Config::load(None, "enable-protected-configs yes\n").unwrap();
        open.set_many(&[("dbfilename", "other.rdb")]).unwrap();
        assert_eq!(open.get_string("dbfilename"), "other.rdb");
        let local = Config::load(None, "enable-protected-configs local\n").unwrap();
        assert!(local.set_many_from(&[("dbfilename", "other.rdb")], false).is_err());
        local.set_many_from(&[("dbfilename", "other.rdb")], true).unwrap();
        assert_eq!(local.get_string("dbfilename"), "other.rdb");
        config.set_many(&[("client-output-buffer-limit", "pubsub 1mb 2mb 3")]).unwrap();
        assert_eq!(
            config.get_string("client-output-buffer-limit"),
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 2097152 3"
        );
    }
}
