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
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// One command to propagate, with the database it applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effect {
    pub db: usize,
    pub argv: Vec<Vec<u8>>,
    /// For replicas only, never for the append-only file (PUBLISH).
    pub replicas_only: bool,
    /// For the append-only file only, never for replicas (a script's
    /// `redis.set_repl(redis.REPL_AOF)`).
    pub aof_only: bool,
}

impl Effect {
    pub fn new(db: usize, argv: Vec<Vec<u8>>) -> Effect {
        Effect { db, argv, replicas_only: false, aof_only: false }
    }

    pub fn replicas_only(db: usize, argv: &[&[u8]]) -> Effect {
        Effect { db, argv: argv.iter().map(|a| a.to_vec()).collect(), replicas_only: true, aof_only: false }
    }
}

/// A replica's side of the stream: told when bytes are there to read
/// (`Propagation::read`) or when it fell too far behind.
pub trait StreamReader: Send + Sync {
    fn wake(&self);
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

/// The replication buffer: the stream's recent bytes, in blocks, shared by
/// the backlog (partial resyncs) and every replica's pending output, as in
/// Redis 7.0. A block is dropped once it is older than the backlog's size
/// and every replica has read past it, so a replica's output costs no copy
/// of the stream, and memory is the backlog plus the slowest replica's lag
/// (bounded by `client-output-buffer-limit replica`).
struct Backlog {
    /// Full blocks of `BLOCK_BYTES`, the last one filling.
    blocks: VecDeque<Vec<u8>>,
    /// The stream offset just before the first byte held.
    start: u64,
    /// Bytes held.
    len: u64,
    /// repl-backlog-size: bytes kept for partial resyncs.
    size: u64,
}

const BLOCK_BYTES: usize = 16 * 1024;

impl Backlog {
    fn new(offset: u64, size: u64) -> Backlog {
        Backlog { blocks: VecDeque::new(), start: offset, len: 0, size: size.max(1) }
    }

    fn append(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        while !bytes.is_empty() {
            if self.blocks.back().is_none_or(|b| b.len() == BLOCK_BYTES) {
                self.blocks.push_back(Vec::with_capacity(BLOCK_BYTES));
            }
            let block = self.blocks.back_mut().expect("a block was just ensured");
            let take = (BLOCK_BYTES - block.len()).min(bytes.len());
            block.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
    }

    /// Drops whole blocks that lie before `keep_from` (a stream offset).
    fn trim(&mut self, keep_from: u64) {
        while self.blocks.len() > 1 && self.start + BLOCK_BYTES as u64 <= keep_from {
            self.blocks.pop_front();
            self.start += BLOCK_BYTES as u64;
            self.len -= BLOCK_BYTES as u64;
        }
    }

    /// Copies up to `max` bytes that follow stream offset `from` into `out`.
    fn copy(&self, from: u64, max: usize, out: &mut Vec<u8>) -> usize {
        debug_assert!(from >= self.start && from <= self.start + self.len);
        let mut at = (from - self.start) as usize;
        let mut left = max.min((self.start + self.len - from) as usize);
        let copied = left;
        while left > 0 {
            let block = &self.blocks[at / BLOCK_BYTES];
            let inside = at % BLOCK_BYTES;
            let take = (block.len() - inside).min(left);
            out.extend_from_slice(&block[inside..inside + take]);
            at += take;
            left -= take;
        }
        copied
    }
}

struct Reader {
    id: u64,
    /// The stream offset this reader has read up to.
    position: u64,
    waker: Arc<dyn StreamReader>,
    /// Fell more than the output limit behind: it is to be dropped.
    over_limit: bool,
}

/// The replication identity: the current history's id, and the id (and
/// the first offset not in it) of the history this one continues, as a
/// promoted replica keeps its old master's (PSYNC2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationIds {
    pub id: String,
    pub id2: String,
    /// The first offset not part of `id2`'s history (-1: none).
    pub second_offset: i64,
}

pub const NO_ID: &str = "0000000000000000000000000000000000000000";

struct StreamState {
    /// Database the stream last selected (None: the next effect selects).
    selected_db: Option<usize>,
    /// Bytes produced since start (master_repl_offset).
    offset: u64,
    ids: ReplicationIds,
    backlog: Option<Backlog>,
    readers: Vec<Reader>,
    next_reader_id: u64,
    /// A reader further behind than this is dropped (0: no limit).
    reader_limit: u64,
    aof: Option<AofChannel>,
}

pub struct Propagation {
    active: AtomicBool,
    /// A copy of the offset for readers that take no lock (WAIT).
    offset: AtomicU64,
    state: Mutex<StreamState>,
}

impl Default for Propagation {
    fn default() -> Self {
        Propagation {
            active: AtomicBool::new(false),
            offset: AtomicU64::new(0),
            state: Mutex::new(StreamState {
                selected_db: None,
                offset: 0,
                ids: ReplicationIds { id: random_hex_id(), id2: NO_ID.to_string(), second_offset: -1 },
                backlog: None,
                readers: Vec::new(),
                next_reader_id: 1,
                reader_limit: 0,
                aof: None,
            }),
        }
    }
}

thread_local! {
    /// Bytes of the master's command being applied on this thread, fed
    /// when its unit ends (`Propagation::feed_staged`).
    static STAGED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Stages the bytes of the master's command about to be applied on this
/// thread: fed to the stream by the unit that applies it, or by the
/// caller after it ran if it opened no unit.
pub fn stage_verbatim(bytes: &[u8]) {
    STAGED.with(|staged| staged.borrow_mut().extend_from_slice(bytes));
}

/// A 40-character hex id, as Redis uses for replication ids and run ids.
pub fn random_hex_id() -> String {
    (0..40).map(|_| char::from_digit(rand::random_range(0..16u32), 16).unwrap_or('0')).collect()
}

/// What the backlog holds, for INFO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BacklogInfo {
    pub active: bool,
    pub size: u64,
    /// repl_backlog_first_byte_offset (1-based, as Redis counts).
    pub first_byte: u64,
    pub histlen: u64,
}

/// Why a reader got nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// Detached, or its bytes are gone.
    Gone,
    /// It fell further behind than the output limit.
    OverLimit,
}

impl Propagation {
    /// True when anything consumes the stream (otherwise effects are dropped
    /// before they are even formatted).
    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    pub fn ids(&self) -> ReplicationIds {
        self.state.lock().ids.clone()
    }

    pub fn replication_id(&self) -> String {
        self.state.lock().ids.id.clone()
    }

    /// master_repl_offset, without taking the stream's lock.
    pub fn offset(&self) -> u64 {
        self.offset.load(Ordering::Acquire)
    }

    pub fn reader_count(&self) -> usize {
        self.state.lock().readers.len()
    }

    pub fn backlog_info(&self) -> BacklogInfo {
        let state = self.state.lock();
        match &state.backlog {
            Some(b) => BacklogInfo { active: true, size: b.size, first_byte: b.start + 1, histlen: b.len },
            None => BacklogInfo::default(),
        }
    }

    /// Memory of the replication buffer: (all of it, the part that is the
    /// backlog's; the rest is held only for replicas).
    pub fn buffer_memory(&self) -> (u64, u64) {
        let state = self.state.lock();
        match &state.backlog {
            Some(b) => {
                // The blocks and the list holding them (which grows with a
                // slow replica's lag too).
                let list = (b.blocks.capacity() * std::mem::size_of::<Vec<u8>>()) as u64;
                let total = list + b.blocks.iter().map(|block| block.capacity() as u64).sum::<u64>();
                // Without replicas everything held is the backlog's.
                let backlog = if state.readers.is_empty() { total } else { total.min(b.size) };
                (total, backlog)
            }
            None => (0, 0),
        }
    }

    /// Creates the backlog (at the current offset) unless there is one.
    pub fn create_backlog(&self, size: u64) {
        let mut state = self.state.lock();
        if state.backlog.is_none() {
            state.backlog = Some(Backlog::new(state.offset, size));
        }
        self.refresh_active(&state);
    }

    /// Frees the backlog (no replica left for repl-backlog-ttl): a new
    /// history starts, since nobody could continue the old one from here.
    pub fn free_backlog(&self) {
        let mut state = self.state.lock();
        if !state.readers.is_empty() {
            return;
        }
        state.backlog = None;
        state.ids = ReplicationIds { id: random_hex_id(), id2: NO_ID.to_string(), second_offset: -1 };
        self.refresh_active(&state);
    }

    pub fn set_backlog_size(&self, size: u64) {
        let mut state = self.state.lock();
        if let Some(backlog) = state.backlog.as_mut() {
            backlog.size = size.max(1);
        }
        Self::trim(&mut state);
    }

    pub fn set_reader_limit(&self, bytes: u64) {
        self.state.lock().reader_limit = bytes;
    }

    /// Where a PSYNC for `id` at `offset` (the first byte the replica
    /// lacks, 1-based) can continue from: Some(the bytes it would get) if
    /// the id is this history's (or the previous one's, up to where it
    /// ended) and the backlog still holds that offset.
    pub fn can_continue(&self, id: &str, offset: u64) -> Option<u64> {
        let state = self.state.lock();
        let ids = &state.ids;
        let known = id == ids.id || (id == ids.id2 && ids.second_offset >= 0 && offset <= ids.second_offset as u64);
        let backlog = state.backlog.as_ref()?;
        let first = backlog.start + 1;
        (known && offset >= first && offset <= backlog.start + backlog.len + 1).then(|| state.offset + 1 - offset)
    }

    /// Attaches a reader that starts after stream offset `from` (None: the
    /// current offset). Callers that send a snapshot first must attach
    /// while holding every shard lock, so the snapshot and the stream meet
    /// exactly. Creates the backlog if there is none. Returns the reader's
    /// id and its start, or None if the backlog no longer holds `from`.
    pub fn attach(&self, waker: Arc<dyn StreamReader>, from: Option<u64>, backlog_size: u64) -> Option<(u64, u64)> {
        let mut state = self.state.lock();
        let state = &mut *state;
        if state.backlog.is_none() {
            state.backlog = Some(Backlog::new(state.offset, backlog_size));
        }
        let backlog = state.backlog.as_ref().expect("created above");
        let position = from.unwrap_or(state.offset);
        if position < backlog.start || position > state.offset {
            return None;
        }
        let id = state.next_reader_id;
        state.next_reader_id += 1;
        state.readers.push(Reader { id, position, waker, over_limit: false });
        if from.is_none() {
            // A replica starting from a snapshot must see a SELECT before
            // its first command.
            state.selected_db = None;
        }
        self.refresh_active(state);
        Some((id, position))
    }

    pub fn detach(&self, id: u64) {
        let mut state = self.state.lock();
        state.readers.retain(|r| r.id != id);
        Self::trim(&mut state);
        self.refresh_active(&state);
    }

    /// Copies up to `max` bytes the reader `id` has not read yet into `out`
    /// and moves it past them; Ok(0) when it is up to date.
    pub fn read(&self, id: u64, max: usize, out: &mut Vec<u8>) -> Result<usize, ReadError> {
        let mut state = self.state.lock();
        let state = &mut *state;
        let Some(reader) = state.readers.iter_mut().find(|r| r.id == id) else { return Err(ReadError::Gone) };
        if reader.over_limit {
            return Err(ReadError::OverLimit);
        }
        let backlog = state.backlog.as_ref().ok_or(ReadError::Gone)?;
        if reader.position < backlog.start {
            return Err(ReadError::Gone);
        }
        let copied = backlog.copy(reader.position, max, out);
        reader.position += copied as u64;
        if copied > 0 {
            Self::trim(state);
        }
        Ok(copied)
    }

    /// Bytes the reader `id` has not read yet.
    pub fn pending(&self, id: u64) -> u64 {
        let state = self.state.lock();
        state.readers.iter().find(|r| r.id == id).map_or(0, |r| state.offset - r.position)
    }

    /// Bytes all readers have not read yet (not counted for eviction).
    pub fn pending_total(&self) -> u64 {
        let state = self.state.lock();
        state.readers.iter().map(|r| state.offset - r.position).sum()
    }

    /// This server now continues its master's history (a full sync):
    /// its id and offset, a fresh backlog, no previous history.
    pub fn adopt(&self, id: &str, offset: u64, backlog_size: u64) {
        let mut state = self.state.lock();
        state.ids = ReplicationIds { id: id.to_string(), id2: NO_ID.to_string(), second_offset: -1 };
        state.offset = offset;
        self.offset.store(offset, Ordering::Release);
        state.backlog = Some(Backlog::new(offset, backlog_size));
        // Its own replicas cannot continue: their bytes are gone.
        for reader in &mut state.readers {
            reader.over_limit = true;
            reader.waker.wake();
        }
        state.readers.clear();
        self.refresh_active(&state);
    }

    /// The master continued under a new id (+CONTINUE with another id, a
    /// promotion): the old id stays valid up to the current offset.
    pub fn switch_id(&self, new_id: &str) {
        let mut state = self.state.lock();
        if state.ids.id == new_id {
            return;
        }
        let old = std::mem::replace(&mut state.ids.id, new_id.to_string());
        state.ids.id2 = old;
        state.ids.second_offset = state.offset as i64 + 1;
        // The next command of this server's own stream selects its db.
        state.selected_db = None;
    }

    /// Feeds what `stage_verbatim` staged on this thread, if anything.
    /// `Tx::finish` calls it for a replica's unit, under the unit's shard
    /// locks: a snapshot's cut (every shard locked) then sees a command of
    /// the master's stream applied exactly when its bytes are counted.
    pub fn feed_staged(&self) {
        STAGED.with(|staged| {
            let mut staged = staged.borrow_mut();
            if !staged.is_empty() {
                self.feed_verbatim(&staged);
                staged.clear();
            }
        })
    }

    /// Appends bytes received from this server's master as they are (a
    /// replica forwards its master's stream verbatim, so that offsets
    /// agree along a chain).
    pub fn feed_verbatim(&self, bytes: &[u8]) {
        let mut state = self.state.lock();
        self.send(&mut state, bytes);
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

    /// Runs `f` with the stream's lock held and its current offset and ids
    /// (a snapshot's cut records them in its header).
    pub fn at_cut<T>(&self, f: impl FnOnce(u64, &ReplicationIds, usize) -> T) -> T {
        let state = self.state.lock();
        f(state.offset, &state.ids, state.selected_db.unwrap_or(0))
    }

    /// The next unit starts with a SELECT (a full sync's cut: replicas
    /// starting from a snapshot know no selected database).
    pub fn select_again(&self) {
        self.state.lock().selected_db = None;
    }

    fn refresh_active(&self, state: &StreamState) {
        self.active.store(state.backlog.is_some() || state.aof.is_some(), Ordering::Release);
    }

    /// Publishes one execution unit's effects, wrapped in MULTI/EXEC when
    /// there are several and `may_wrap` (commands that touch arbitrary keys,
    /// such as SCAN expiring what it meets, are not wrapped). With
    /// `to_replicas` false (a replica applying its master's stream, which
    /// it forwards verbatim instead) only the file gets them.
    /// Returns the append-only file's offset after the unit, when the
    /// file received some of it.
    pub fn publish(&self, effects: &[Effect], may_wrap: bool, to_replicas: bool) -> Option<u64> {
        if effects.is_empty() || !self.is_active() {
            return None;
        }
        let mut state = self.state.lock();
        let state = &mut *state;
        if to_replicas && state.backlog.is_some() {
            let mut for_replicas = effects.iter().filter(|e| !e.aof_only).peekable();
            if for_replicas.peek().is_some() {
                let mut bytes = Vec::with_capacity(64 * effects.len());
                encode_unit(&mut state.selected_db, for_replicas, may_wrap, &mut bytes);
                self.send(state, &bytes);
            }
        }
        let aof = state.aof.as_mut()?;
        let mut for_file = effects.iter().filter(|e| !e.replicas_only).peekable();
        for_file.peek()?;
        let mut bytes = Vec::with_capacity(64 * effects.len());
        encode_unit(&mut aof.selected_db, for_file, may_wrap, &mut bytes);
        Some(aof.sink.append(&bytes))
    }

    /// Sends a command to the replicas only (replication PINGs, REPLCONF
    /// GETACK), when there are replicas.
    pub fn publish_raw(&self, argv: &[&[u8]]) {
        if !self.is_active() {
            return;
        }
        let mut state = self.state.lock();
        if state.readers.is_empty() || state.backlog.is_none() {
            return;
        }
        let mut bytes = Vec::new();
        encode(&mut bytes, argv);
        self.send(&mut state, &bytes);
    }

    fn send(&self, state: &mut StreamState, bytes: &[u8]) {
        let Some(backlog) = state.backlog.as_mut() else { return };
        backlog.append(bytes);
        state.offset += bytes.len() as u64;
        self.offset.store(state.offset, Ordering::Release);
        let limit = state.reader_limit;
        for reader in &mut state.readers {
            if limit > 0 && state.offset - reader.position > limit {
                reader.over_limit = true;
            }
            reader.waker.wake();
        }
        Self::trim(state);
    }

    /// Drops what neither the backlog nor a reader still needs.
    fn trim(state: &mut StreamState) {
        let Some(backlog) = state.backlog.as_mut() else { return };
        let mut keep_from = state.offset.saturating_sub(backlog.size);
        for reader in state.readers.iter().filter(|r| !r.over_limit) {
            keep_from = keep_from.min(reader.position);
        }
        backlog.trim(keep_from);
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

    struct Nobody;
    impl StreamReader for Nobody {
        fn wake(&self) {}
    }

    fn effect(db: usize, args: &[&str]) -> Effect {
        Effect::new(db, args.iter().map(|a| a.as_bytes().to_vec()).collect())
    }

    fn read_all(p: &Propagation, id: u64) -> String {
        let mut out = Vec::new();
        while p.read(id, 7, &mut out).unwrap() > 0 {}
        String::from_utf8(out).unwrap().replace("\r\n", " ")
    }

    #[test]
    fn wraps_and_selects_like_redis() {
        let p = Propagation::default();
        p.publish(&[effect(0, &["SET", "a", "1"])], true, true);
        assert_eq!(p.offset(), 0, "nothing is produced without a backlog");
        let (id, offset) = p.attach(Arc::new(Nobody), None, 1 << 20).unwrap();
        assert_eq!(offset, 0);
        p.publish(&[effect(9, &["SET", "a", "1"])], true, true);
        p.publish(&[effect(9, &["DEL", "b"]), effect(9, &["INCR", "c"])], true, true);
        p.publish(&[effect(9, &["DEL", "y"]), effect(9, &["DEL", "z"])], false, true);
        p.publish(&[effect(1, &["DEL", "x"])], true, true);
        let text = read_all(&p, id);
        assert_eq!(
            text,
            "*2 $6 SELECT $1 9 *3 $3 SET $1 a $1 1 *1 $5 MULTI *2 $3 DEL $1 b *2 $4 INCR $1 c *1 $4 EXEC \
             *2 $3 DEL $1 y *2 $3 DEL $1 z *2 $6 SELECT $1 1 *2 $3 DEL $1 x "
        );
        assert_eq!(p.offset() as usize, text.len() + text.matches(' ').count());
    }

    #[test]
    fn the_backlog_keeps_its_size_and_what_readers_still_need() {
        let p = Propagation::default();
        let (slow, _) = p.attach(Arc::new(Nobody), None, 100).unwrap();
        let value = "v".repeat(1000);
        for _ in 0..100 {
            p.publish(&[effect(0, &["SET", "k", &value])], true, true);
        }
        // The slow reader has read nothing: everything is still there.
        assert_eq!(p.backlog_info().histlen, p.offset());
        assert_eq!(p.can_continue(&p.replication_id(), 1), Some(p.offset()));
        let mut out = Vec::new();
        while p.read(slow, 10_000, &mut out).unwrap() > 0 {}
        assert_eq!(out.len() as u64, p.offset());
        let info = p.backlog_info();
        assert!(info.histlen >= 100 && info.histlen < 100 + BLOCK_BYTES as u64, "{info:?}");
        assert_eq!(info.first_byte + info.histlen, p.offset() + 1);
        assert_eq!(p.can_continue(&p.replication_id(), 1), None, "trimmed away");
        assert_eq!(p.can_continue(&p.replication_id(), p.offset() + 1), Some(0));
        assert_eq!(p.can_continue(&p.replication_id(), p.offset() + 2), None);
        assert_eq!(p.can_continue("x", p.offset() + 1), None);
        // A reader attached at an offset gets exactly the bytes after it.
        let at = p.offset() - 50;
        let (late, start) = p.attach(Arc::new(Nobody), Some(at), 100).unwrap();
        assert_eq!(start, at);
        let mut tail = Vec::new();
        p.read(late, 1000, &mut tail).unwrap();
        assert_eq!(tail, out[at as usize..]);
        assert!(p.attach(Arc::new(Nobody), Some(0), 100).is_none());
    }

    #[test]
    fn a_reader_over_the_limit_is_dropped_and_releases_the_buffer() {
        let p = Propagation::default();
        p.set_reader_limit(5000);
        let (id, _) = p.attach(Arc::new(Nobody), None, 100).unwrap();
        for _ in 0..100 {
            p.publish(&[effect(0, &["SET", "k", &"v".repeat(100)])], true, true);
        }
        assert_eq!(p.read(id, 10, &mut Vec::new()), Err(ReadError::OverLimit));
        assert!(p.backlog_info().histlen < 100 + BLOCK_BYTES as u64);
        p.detach(id);
        assert_eq!(p.read(id, 10, &mut Vec::new()), Err(ReadError::Gone));
    }

    #[test]
    fn a_new_id_keeps_the_old_one_valid_up_to_the_switch() {
        let p = Propagation::default();
        p.create_backlog(1 << 20);
        let old = p.replication_id();
        p.publish(&[effect(0, &["SET", "a", "1"])], true, true);
        let at_switch = p.offset();
        p.switch_id(&random_hex_id());
        p.publish(&[effect(0, &["SET", "a", "2"])], true, true);
        assert!(p.can_continue(&old, at_switch + 1).is_some());
        assert!(p.can_continue(&old, at_switch + 2).is_none());
        assert!(p.can_continue(&p.replication_id(), at_switch + 2).is_some());
        let ids = p.ids();
        assert_eq!((ids.id2, ids.second_offset), (old, at_switch as i64 + 1));
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
        let (replica, _) = p.attach(Arc::new(Nobody), None, 1 << 20).unwrap();
        p.publish(&[effect(3, &["SET", "a", "1"])], true, true);
        let file = Arc::new(File(Mutex::new(Vec::new())));
        p.set_aof(Some(file.clone()), || ());
        assert_eq!(p.publish(&[effect(3, &["SET", "b", "1"])], true, true), Some(file.0.lock().len() as u64));
        let publish = Effect::replicas_only(3, &[b"PUBLISH", b"ch", b"m"]);
        assert_eq!(p.publish(&[publish.clone()], true, true), None, "nothing of it reached the file");
        p.publish(&[publish, effect(3, &["DEL", "c"])], true, true);
        p.publish_raw(&[b"PING"]);
        p.publish(&[effect(3, &["DEL", "d"])], true, false);
        let text = |b: &Mutex<Vec<u8>>| String::from_utf8(b.lock().clone()).unwrap().replace("\r\n", " ");
        assert_eq!(text(&file.0), "*2 $6 SELECT $1 3 *3 $3 SET $1 b $1 1 *2 $3 DEL $1 c *2 $3 DEL $1 d ");
        assert!(read_all(&p, replica).ends_with("*1 $5 MULTI *3 $7 PUBLISH $2 ch $1 m *2 $3 DEL $1 c *1 $4 EXEC *1 $4 PING "));
        p.set_aof(None, || ());
        assert_eq!(p.publish(&[effect(3, &["SET", "b", "1"])], true, true), None);
        assert!(p.is_active(), "the backlog still listens");
    }

    #[test]
    fn a_new_file_starts_with_a_select() {
        let p = Propagation::default();
        let file = Arc::new(File(Mutex::new(Vec::new())));
        p.set_aof(Some(file.clone()), || ());
        p.publish(&[effect(9, &["SET", "a", "1"])], true, true);
        p.new_aof_file(|| file.0.lock().clear());
        p.publish(&[effect(9, &["SET", "b", "1"])], true, true);
        let text = String::from_utf8(file.0.lock().clone()).unwrap().replace("\r\n", " ");
        assert_eq!(text, "*2 $6 SELECT $1 9 *3 $3 SET $1 b $1 1 ");
    }
}
