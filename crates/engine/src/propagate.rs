//! The single propagation point: every effect of every write, in one total
//! order, on its way to replicas and the append-only file.
//!
//! Handlers never write to a stream themselves. An execution unit (a
//! command, an EXEC, a script) collects its effects in `Tx`; when it ends,
//! still holding its shard locks, it publishes them here. Publishing takes
//! this module's mutex, so the order of the stream is consistent with the
//! order in which each key was changed. Units with more than one effect are
//! wrapped in MULTI/EXEC, and SELECT is emitted when the database changes,
//! as Redis does.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One command to propagate, with the database it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    pub db: usize,
    pub argv: Vec<Vec<u8>>,
    /// For replicas only, never for the append-only file (PUBLISH).
    pub replicas_only: bool,
}

impl Effect {
    pub fn new(db: usize, argv: Vec<Vec<u8>>) -> Effect {
        Effect { db, argv, replicas_only: false }
    }

    pub fn replicas_only(db: usize, argv: &[&[u8]]) -> Effect {
        Effect { db, argv: argv.iter().map(|a| a.to_vec()).collect(), replicas_only: true }
    }
}

/// Where propagated bytes go (a replica link).
pub trait StreamSink: Send + Sync {
    /// Delivers bytes; returns false if the sink is gone and should be dropped.
    fn deliver(&self, bytes: &[u8]) -> bool;
}

/// The append-only file's writer. Its stream is the replicas' minus what
/// is for replicas only (PUBLISH, PINGs), with its own SELECTs.
pub trait AofSink: Send + Sync {
    /// Appends one unit's bytes; returns the file's offset after them, which
    /// the unit's client waits for under `appendfsync always`.
    fn append(&self, bytes: &[u8]) -> u64;
}

struct AofChannel {
    selected_db: Option<usize>,
    sink: Arc<dyn AofSink>,
}

struct Sink {
    id: u64,
    sink: Arc<dyn StreamSink>,
}

struct StreamState {
    /// Database the stream last selected (None: the next effect selects).
    selected_db: Option<usize>,
    /// Bytes produced since start (master_repl_offset).
    offset: u64,
    sinks: Vec<Sink>,
    next_sink_id: u64,
    aof: Option<AofChannel>,
}

pub struct Propagation {
    active: AtomicBool,
    state: Mutex<StreamState>,
    replication_id: String,
}

impl Default for Propagation {
    fn default() -> Self {
        Propagation {
            active: AtomicBool::new(false),
            state: Mutex::new(StreamState { selected_db: None, offset: 0, sinks: Vec::new(), next_sink_id: 1, aof: None }),
            replication_id: random_hex_id(),
        }
    }
}

/// A 40-character hex id, as Redis uses for replication ids and run ids.
pub fn random_hex_id() -> String {
    (0..40).map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0')).collect()
}

impl Propagation {
    /// True when anything consumes the stream (otherwise effects are dropped
    /// before they are even formatted).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub fn replication_id(&self) -> &str {
        &self.replication_id
    }

    pub fn offset(&self) -> u64 {
        self.state.lock().offset
    }

    pub fn sink_count(&self) -> usize {
        self.state.lock().sinks.len()
    }

    /// Attaches a sink; returns its id and the stream offset it starts at.
    /// Callers that send a snapshot first must attach while holding every
    /// shard lock, so the snapshot and the stream meet exactly.
    pub fn attach(&self, sink: Arc<dyn StreamSink>) -> (u64, u64) {
        let mut state = self.state.lock();
        let id = state.next_sink_id;
        state.next_sink_id += 1;
        state.sinks.push(Sink { id, sink });
        // A new consumer must see a SELECT before its first command.
        state.selected_db = None;
        self.active.store(true, Ordering::Release);
        (id, state.offset)
    }

    pub fn detach(&self, id: u64) {
        let mut state = self.state.lock();
        state.sinks.retain(|s| s.id != id);
        self.refresh_active(&state);
    }

    /// Starts (Some) or stops (None) feeding the append-only file. `then`
    /// runs under the stream's lock, after the change: no unit publishes
    /// between the two (an AOF rewrite switches files at its cut this way).
    pub fn set_aof<T>(&self, sink: Option<Arc<dyn AofSink>>, then: impl FnOnce() -> T) -> T {
        let mut state = self.state.lock();
        state.aof = sink.map(|sink| AofChannel { selected_db: None, sink });
        self.refresh_active(&state);
        then()
    }

    /// Runs `f`, which moves the append-only file to a new file (an AOF
    /// rewrite's cut), with no unit publishing meanwhile. The new file's
    /// first unit starts with a SELECT: replayed on its own after a new
    /// base, it cannot rely on a SELECT left in the file before it.
    pub fn new_aof_file<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut state = self.state.lock();
        if let Some(aof) = state.aof.as_mut() {
            aof.selected_db = None;
        }
        f()
    }

    fn refresh_active(&self, state: &StreamState) {
        self.active.store(!state.sinks.is_empty() || state.aof.is_some(), Ordering::Release);
    }

    /// Publishes one execution unit's effects, wrapped in MULTI/EXEC when
    /// there are several and `may_wrap` (commands that touch arbitrary keys,
    /// such as SCAN expiring what it meets, are not wrapped).
    /// Returns the append-only file's offset after the unit, when the
    /// file received some of it.
    pub fn publish(&self, effects: &[Effect], may_wrap: bool) -> Option<u64> {
        if effects.is_empty() || !self.is_active() {
            return None;
        }
        let mut state = self.state.lock();
        let state = &mut *state;
        if !state.sinks.is_empty() {
            let mut bytes = Vec::with_capacity(64 * effects.len());
            encode_unit(&mut state.selected_db, effects.iter(), may_wrap, &mut bytes);
            self.send(state, &bytes);
        }
        let aof = state.aof.as_mut()?;
        let mut for_file = effects.iter().filter(|e| !e.replicas_only).peekable();
        for_file.peek()?;
        let mut bytes = Vec::with_capacity(64 * effects.len());
        encode_unit(&mut aof.selected_db, for_file, may_wrap, &mut bytes);
        Some(aof.sink.append(&bytes))
    }

    /// Sends a command to the replicas only (replication PINGs).
    pub fn publish_raw(&self, argv: &[&[u8]]) {
        if !self.is_active() {
            return;
        }
        let mut state = self.state.lock();
        if state.sinks.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        encode(&mut bytes, argv);
        self.send(&mut state, &bytes);
    }

    fn send(&self, state: &mut StreamState, bytes: &[u8]) {
        state.offset += bytes.len() as u64;
        state.sinks.retain(|s| s.sink.deliver(bytes));
        self.refresh_active(state);
    }
}

/// Encodes one unit's effects for a stream whose current database is
/// `selected`: SELECT when the database changes, MULTI/EXEC around several
/// effects when `may_wrap`.
fn encode_unit<'a>(
    selected: &mut Option<usize>,
    effects: impl Iterator<Item = &'a Effect>,
    may_wrap: bool,
    out: &mut Vec<u8>,
) {
    let effects: smallvec::SmallVec<[&Effect; 4]> = effects.collect();
    let wrap = may_wrap && effects.len() > 1;
    if wrap {
        select_if_needed(selected, effects[0].db, out);
        encode(out, &[b"MULTI".as_slice()]);
    }
    for effect in &effects {
        select_if_needed(selected, effect.db, out);
        let argv: smallvec::SmallVec<[&[u8]; 8]> = effect.argv.iter().map(|a| a.as_slice()).collect();
        encode(out, &argv);
    }
    if wrap {
        encode(out, &[b"EXEC".as_slice()]);
    }
}

fn select_if_needed(selected: &mut Option<usize>, db: usize, out: &mut Vec<u8>) {
    if *selected != Some(db) {
        let db_text = db.to_string();
        encode(out, &[b"SELECT".as_slice(), db_text.as_bytes()]);
        *selected = Some(db);
    }
}

/// Encodes an argument vector as a RESP multibulk.
pub fn encode(out: &mut Vec<u8>, argv: &[&[u8]]) {
    out.push(b'*');
    out.extend_from_slice(argv.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for arg in argv {
        out.push(b'$');
        out.extend_from_slice(arg.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Mutex<Vec<u8>>);
    impl StreamSink for Collect {
        fn deliver(&self, bytes: &[u8]) -> bool {
            self.0.lock().extend_from_slice(bytes);
            true
        }
    }

    fn effect(db: usize, args: &[&str]) -> Effect {
        Effect::new(db, args.iter().map(|a| a.as_bytes().to_vec()).collect())
    }

    #[test]
    fn wraps_and_selects_like_redis() {
        let p = Propagation::default();
        p.publish(&[effect(0, &["SET", "a", "1"])], true);
        let sink = Arc::new(Collect(Mutex::new(Vec::new())));
        let (_, offset) = p.attach(sink.clone());
        assert_eq!(offset, 0, "nothing is produced without consumers");
        p.publish(&[effect(9, &["SET", "a", "1"])], true);
        p.publish(&[effect(9, &["DEL", "b"]), effect(9, &["INCR", "c"])], true);
        p.publish(&[effect(9, &["DEL", "y"]), effect(9, &["DEL", "z"])], false);
        p.publish(&[effect(1, &["DEL", "x"])], true);
        let text = String::from_utf8(sink.0.lock().clone()).unwrap().replace("\r\n", " ");
        assert_eq!(
            text,
            "*2 $6 SELECT $1 9 *3 $3 SET $1 a $1 1 *1 $5 MULTI *2 $3 DEL $1 b *2 $4 INCR $1 c *1 $4 EXEC \
             *2 $3 DEL $1 y *2 $3 DEL $1 z *2 $6 SELECT $1 1 *2 $3 DEL $1 x "
        );
        assert_eq!(p.offset() as usize, sink.0.lock().len());
    }

    struct File(Mutex<Vec<u8>>);
    impl AofSink for File {
        fn append(&self, bytes: &[u8]) -> u64 {
            let mut file = self.0.lock();
            file.extend_from_slice(bytes);
            file.len() as u64
        }
    }

    #[test]
    fn the_file_gets_its_own_selects_and_no_replica_only_effects() {
        let p = Propagation::default();
        let replica = Arc::new(Collect(Mutex::new(Vec::new())));
        p.attach(replica.clone());
        p.publish(&[effect(3, &["SET", "a", "1"])], true);
        let file = Arc::new(File(Mutex::new(Vec::new())));
        p.set_aof(Some(file.clone()), || ());
        assert_eq!(p.publish(&[effect(3, &["SET", "b", "1"])], true), Some(file.0.lock().len() as u64));
        let publish = Effect::replicas_only(3, &[b"PUBLISH", b"ch", b"m"]);
        assert_eq!(p.publish(&[publish.clone()], true), None, "nothing of it reached the file");
        p.publish(&[publish, effect(3, &["DEL", "c"])], true);
        p.publish_raw(&[b"PING"]);
        let text = |b: &Mutex<Vec<u8>>| String::from_utf8(b.lock().clone()).unwrap().replace("\r\n", " ");
        assert_eq!(text(&file.0), "*2 $6 SELECT $1 3 *3 $3 SET $1 b $1 1 *2 $3 DEL $1 c ");
        assert!(text(&replica.0).ends_with("*1 $5 MULTI *3 $7 PUBLISH $2 ch $1 m *2 $3 DEL $1 c *1 $4 EXEC *1 $4 PING "));
        p.set_aof(None, || ());
        assert_eq!(p.publish(&[effect(3, &["SET", "b", "1"])], true), None);
        assert!(p.is_active(), "the replica still listens");
    }

    #[test]
    fn a_new_file_starts_with_a_select() {
        let p = Propagation::default();
        let file = Arc::new(File(Mutex::new(Vec::new())));
        p.set_aof(Some(file.clone()), || ());
        p.publish(&[effect(9, &["SET", "a", "1"])], true);
        p.new_aof_file(|| file.0.lock().clear());
        p.publish(&[effect(9, &["SET", "b", "1"])], true);
        let text = String::from_utf8(file.0.lock().clone()).unwrap().replace("\r\n", " ");
        assert_eq!(text, "*2 $6 SELECT $1 9 *3 $3 SET $1 b $1 1 ");
    }
}
