//! The server's ACL users and the ACL log: the registry every connection
//! resolves its user from. A connection holds its user's `UserCell`, so a
//! change by ACL SETUSER applies to its next command; `open` caches "this
//! user allows everything", which keeps the permission check of the
//! all-permissive default user to one load and one branch.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::state::acl::{Context, Universe, User};

/// One user as connections share it.
pub struct UserCell {
    pub name: Vec<u8>,
    open: AtomicBool,
    rules: RwLock<User>,
}

impl UserCell {
    fn new(user: User) -> Arc<UserCell> {
        Arc::new(UserCell {
            name: user.name.clone(),
            open: AtomicBool::new(user.allows_everything()),
            rules: RwLock::new(user),
        })
    }

    /// No rule limits this user (the fast path).
    #[inline]
    pub fn open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    pub fn rules(&self) -> parking_lot::RwLockReadGuard<'_, User> {
        self.rules.read()
    }

    fn replace(&self, mut user: User) {
        user.name = self.name.clone();
        let open = user.allows_everything();
        *self.rules.write() = user;
        self.open.store(open, Ordering::Relaxed);
    }

    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// One ACL LOG entry.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    pub ctime_ms: i64,
    pub client_info: String,
}

/// Entries this close in time (and otherwise equal) are counted as one.
const LOG_GROUPING_MS: i64 = 60_000;

/// All users, the default one always present.
pub struct Users {
    map: RwLock<BTreeMap<Vec<u8>, Arc<UserCell>>>,
    default: Arc<UserCell>,
    pub universe: Universe,
    all_channels_default: AtomicBool,
    /// The requirepass value last applied to the default user.
    requirepass: Mutex<Option<String>>,
    log: Mutex<VecDeque<LogEntry>>,
}

impl Users {
    pub fn new(universe: Universe) -> Users {
        let default = {
            let ctx = Context { universe: &universe, all_channels_default: false };
            UserCell::new(User::default_user(&ctx))
        };
        let mut map = BTreeMap::new();
        map.insert(b"default".to_vec(), default.clone());
        Users {
            map: RwLock::new(map),
            default,
            universe,
            all_channels_default: AtomicBool::new(false),
            requirepass: Mutex::new(None),
            log: Mutex::new(VecDeque::new()),
        }
    }

    pub fn context(&self) -> Context<'_> {
        Context { universe: &self.universe, all_channels_default: self.all_channels_default.load(Ordering::Relaxed) }
    }

    /// `acl-pubsub-default`: allchannels (true) or resetchannels.
    pub fn set_all_channels_default(&self, all: bool) {
        self.all_channels_default.store(all, Ordering::Relaxed);
    }

    pub fn default_user(&self) -> Arc<UserCell> {
        self.default.clone()
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<UserCell>> {
        self.map.read().get(name).cloned()
    }

    /// Names in order.
    pub fn names(&self) -> Vec<Vec<u8>> {
        self.map.read().keys().cloned().collect()
    }

    /// Every user as an ACL file line (ACL LIST, ACL SAVE, CONFIG REWRITE).
    pub fn lines(&self) -> Vec<String> {
        self.all().iter().map(|u| format!("user {} {}", u.name_lossy(), u.rules().describe(&self.universe))).collect()
    }

    pub fn all(&self) -> Vec<Arc<UserCell>> {
        self.map.read().values().cloned().collect()
    }

    /// New connections start authenticated: the default user is on and
    /// needs no password.
    pub fn default_is_open(&self) -> bool {
        let d = self.default.rules();
        d.enabled && d.nopass
    }

    /// The default user needs no password (AUTH <password> then errs).
    pub fn default_nopass(&self) -> bool {
        self.default.rules().nopass
    }

    /// `requirepass`: the default user's password, or nopass when empty.
    /// Only a change of the value touches the user.
    pub fn apply_requirepass(&self, pass: &str) {
        let pass = (!pass.is_empty()).then(|| pass.to_string());
        let mut last = self.requirepass.lock();
        if *last == pass {
            return;
        }
        *last = pass.clone();
        let ctx = self.context();
        let mut user = self.default.rules().clone();
        let _ = user.apply(b"resetpass", &ctx);
        let _ = match &pass {
            Some(p) => user.apply(format!(">{p}").as_bytes(), &ctx),
            None => user.apply(b"nopass", &ctx),
        };
        self.default.replace(user);
    }

    /// ACL SETUSER: applies `rules` to the user (created if missing), all
    /// or nothing. Returns the user's rules before (None: it is new) and
    /// after.
    pub fn set_user(&self, name: &[u8], rules: &[&[u8]]) -> Result<(Option<User>, User), String> {
        let ctx = self.context();
        let mut map = self.map.write();
        let old = map.get(name).map(|cell| cell.rules().clone());
        let mut user = old.clone().unwrap_or_else(|| User::new(name, &ctx));
        user.apply_all(rules, &ctx)?;
        match map.get(name) {
            Some(cell) => cell.replace(user.clone()),
            None => {
                map.insert(name.to_vec(), UserCell::new(user.clone()));
            }
        }
        Ok((old, user))
    }

    /// Removes users (never the default one); the removed ones.
    pub fn delete(&self, names: &[&[u8]]) -> Vec<Arc<UserCell>> {
        let mut map = self.map.write();
        names.iter().filter(|n| **n != b"default").filter_map(|n| map.remove(*n)).collect()
    }

    /// Replaces every user with `users` (ACL LOAD, start-up): the default
    /// user keeps its cell (connections hold it) and gets the new rules,
    /// or the built-in ones when `users` has no default. Returns the
    /// users that went away or were replaced (their connections close).
    pub fn replace_all(&self, users: Vec<User>) -> Vec<Arc<UserCell>> {
        let ctx = self.context();
        let mut map = self.map.write();
        let mut new_map = BTreeMap::new();
        let mut default_rules = User::default_user(&ctx);
        for user in users {
            if user.name == b"default" {
                default_rules = user;
            } else {
                new_map.insert(user.name.clone(), UserCell::new(user));
            }
        }
        self.default.replace(default_rules);
        new_map.insert(b"default".to_vec(), self.default.clone());
        let old = std::mem::replace(&mut *map, new_map);
        old.into_iter().filter(|(name, _)| name != b"default").map(|(_, cell)| cell).collect()
    }

    /// Users from `user` directives (each: the name, then rules), as the
    /// start-up loads them: a `default` line starts from `reset`.
    pub fn from_directives(&self, lines: &[Vec<String>]) -> Result<Vec<User>, String> {
        let ctx = self.context();
        let mut users = Vec::new();
        for words in lines {
            let name = words[0].as_bytes();
            if !crate::state::acl::valid_name(name) {
                return Err("Spaces not allowed in ACL usernames".to_string());
            }
            let mut user = User::new(name, &ctx);
            if name == b"default" {
                user = User::default_user(&ctx);
                let _ = user.apply(b"reset", &ctx);
            }
            let rules: Vec<&[u8]> = words[1..].iter().map(|w| w.as_bytes()).collect();
            let merged = crate::state::acl::merge_selectors(&rules)
                .map_err(|_| format!("Unmatched parenthesis in acl selector of the user named '{}'", words[0]))?;
            for rule in &merged {
                user.apply(rule, &ctx).map_err(|e| {
                    let rule = String::from_utf8_lossy(rule);
                    format!("Error loading ACL rule '{rule}' for the user named '{}': {}", words[0], e.message())
                })?;
            }
            users.push(user);
        }
        // Without a `default` line the default user stays as it is
        // (with requirepass applied).
        if !users.iter().any(|u| u.name == b"default") {
            users.push(self.default.rules().clone());
        }
        Ok(users)
    }

    /// Adds an entry, or counts it into a recent equal one (among the
    /// last 10), which moves to the front. `max_len` is acllog-max-len.
    pub fn log(&self, entry: LogEntry, max_len: usize) {
        let mut log = self.log.lock();
        let similar = log.iter().take(10).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && (e.ctime_ms - entry.ctime_ms).abs() <= LOG_GROUPING_MS
                && e.object == entry.object
                && e.username == entry.username
        });
        match similar {
            Some(at) => {
                let mut existing = log.remove(at).expect("entry found");
                existing.count += 1;
                existing.ctime_ms = entry.ctime_ms;
                existing.client_info = entry.client_info;
                log.push_front(existing);
            }
            None => {
                log.push_front(entry);
                log.truncate(max_len);
            }
        }
    }

    pub fn log_entries(&self, count: usize) -> Vec<LogEntry> {
        self.log.lock().iter().take(count).cloned().collect()
    }

    pub fn log_reset(&self) {
        self.log.lock().clear();
    }
}
