//! Running a client's command on the script thread (see `state::scripts`
//! for why it exists). The connection hands over the command with its
//! client state and reply buffer, and awaits the outcome without holding
//! up its worker; the script thread runs the whole request through
//! `dispatch` as the connection would have.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use shoal_engine::Busy;
use shoal_resp::ReplyBuf;
use tokio::sync::Notify;

use crate::client::Client;
use crate::dispatch::{dispatch, Outcome};
use crate::server::Server;

/// Runs `argv` (whose command needs the Lua VM) on the script thread:
/// the request joins the thread's queue and the connection awaits its
/// outcome. A request still queued when the script running ahead of it
/// passes `busy-reply-threshold` is withdrawn: the outcome then says to
/// wait for the shards (that script holds them all), and the request,
/// dispatched again, gets `-BUSY` like any other client's.
pub async fn run(server: &Server, client: &mut Client, out: &mut ReplyBuf, argv: &[&[u8]]) -> Outcome {
    let done = Arc::new(Done::default());
    let job = Borrowed { server, client, out, argv: Borrowed::new_argv(argv), done: done.clone() };
    // Waits for the job in its drop if this future is dropped first: the
    // job borrows the client, the reply buffer and the arguments.
    let mut waiting = Waiting { done: done.clone(), finished: false };
    server.scripts.submit(Box::new(move || {
        let job = job;
        if !job.done.start() {
            // Withdrawn by its connection, which no longer waits for it.
            return;
        }
        // SAFETY: the connection that owns these waits for `done` (here
        // or in `Waiting`'s drop) and does not touch them meanwhile.
        let (server, client, out, argv) = unsafe { (&*job.server, &mut *job.client, &mut *job.out, &*job.argv) };
        let outcome = match dispatch(server, client, out, argv) {
            Outcome::Busy(busy) => Finished::Busy(busy),
            Outcome::Postpone => Finished::Postpone,
            // What needs the VM never blocks, suspends or moves again.
            _ => Finished::Continue,
        };
        job.done.finish(outcome);
    }));
    let finished = loop {
        tokio::select! {
            outcome = waiting.wait() => break outcome,
            _ = tokio::time::sleep(std::time::Duration::from_millis(QUEUE_CHECK_MS)) => {
                if busy_script(server) && done.withdraw() {
                    waiting.finished = true;
                    return Outcome::Busy(Busy::Shard(0));
                }
            }
        }
    };
    match finished {
        Finished::Continue => Outcome::Continue,
        Finished::Postpone => Outcome::Postpone,
        Finished::Busy(busy) => Outcome::Busy(busy),
    }
}

/// How often a queued request looks whether the script ahead of it has
/// become busy.
const QUEUE_CHECK_MS: u64 = 10;

/// True once a script has run past `busy-reply-threshold`.
fn busy_script(server: &Server) -> bool {
    server.engine.keyspace.exclusive().is_some_and(|(kind, since_ms)| {
        kind == shoal_engine::ExclusiveKind::Script
            && shoal_engine::now_ms() - since_ms >= server.tunables.busy_reply_threshold_ms()
    })
}

/// What the script thread reports back (an `Outcome` that can cross threads).
enum Finished {
    Continue,
    Postpone,
    Busy(Busy),
}

/// The connection's state, lent to the script thread for one command.
struct Borrowed {
    server: *const Server,
    client: *mut Client,
    out: *mut ReplyBuf,
    argv: *const [&'static [u8]],
    done: Arc<Done>,
}

// SAFETY: the pointers are used by one thread at a time: the script thread
// while the job runs, the connection after `done` says it has finished.
unsafe impl Send for Borrowed {}

impl Borrowed {
    fn new_argv(argv: &[&[u8]]) -> *const [&'static [u8]] {
        argv as *const [&[u8]] as *const [&'static [u8]]
    }
}

#[derive(Default)]
struct Done {
    /// `QUEUED`, `RUNNING` or `WITHDRAWN`.
    state: std::sync::atomic::AtomicU8,
    result: Mutex<Option<Finished>>,
    finished: Condvar,
    notify: Notify,
}

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const WITHDRAWN: u8 = 2;

impl Done {
    /// The script thread takes the job; false if it was withdrawn.
    fn start(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.state.compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The connection takes the job back; false if it already runs.
    fn withdraw(&self) -> bool {
        use std::sync::atomic::Ordering;
        self.state.compare_exchange(QUEUED, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    fn finish(&self, outcome: Finished) {
        *self.result.lock() = Some(outcome);
        self.finished.notify_all();
        // Stores a permit if the connection is not waiting yet.
        self.notify.notify_one();
    }
}

struct Waiting {
    done: Arc<Done>,
    finished: bool,
}

impl Waiting {
    async fn wait(&mut self) -> Finished {
        loop {
            if let Some(outcome) = self.done.result.lock().take() {
                self.finished = true;
                return outcome;
            }
            self.done.notify.notified().await;
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.finished || self.done.withdraw() {
            return;
        }
        let mut result = self.done.result.lock();
        while result.is_none() {
            self.done.finished.wait(&mut result);
        }
    }
}
