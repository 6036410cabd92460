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

/// Runs `argv` (whose command needs the Lua VM) on the script thread. If
/// the thread is busy with another client's script, nothing runs and the
/// outcome says to wait: the running script holds every shard, so the
/// caller waits for one (getting `-BUSY` past the threshold, like any
/// client) and dispatches again. A command that holds no shard (SCRIPT
/// LOAD, FUNCTION LOAD, at most its 500 ms) is waited for here.
pub async fn run(server: &Server, client: &mut Client, out: &mut ReplyBuf, argv: &[&[u8]]) -> Outcome {
    while !server.scripts.claim() {
        let keyspace = &server.engine.keyspace;
        if keyspace.exclusive().is_some() || !keyspace.is_free(Busy::Shard(0)) {
            return Outcome::Busy(Busy::Shard(0));
        }
        tokio::time::sleep(std::time::Duration::from_millis(CLAIM_RETRY_MS)).await;
    }
    let done = Arc::new(Done::default());
    let job = Borrowed { server, client, out, argv: Borrowed::new_argv(argv), done: done.clone() };
    // Waits for the job in its drop if this future is dropped first: the
    // job borrows the client, the reply buffer and the arguments.
    let mut waiting = Waiting { done, finished: false };
    server.scripts.submit(Box::new(move || {
        let job = job;
        // SAFETY: the connection that owns these waits for `done` (here
        // or in `Waiting`'s drop) and does not touch them meanwhile.
        let (server, client, out, argv) = unsafe { (&*job.server, &mut *job.client, &mut *job.out, &*job.argv) };
        let outcome = match dispatch(server, client, out, argv) {
            Outcome::Busy(busy) => Finished::Busy(busy),
            Outcome::Postpone => Finished::Postpone,
            // What needs the VM never blocks, suspends or moves again.
            _ => Finished::Continue,
        };
        server.scripts.release();
        job.done.finish(outcome);
    }));
    match waiting.wait().await {
        Finished::Continue => Outcome::Continue,
        Finished::Postpone => Outcome::Postpone,
        Finished::Busy(busy) => Outcome::Busy(busy),
    }
}

/// How often a connection looks again for the script thread while it runs
/// a command that holds no shard.
const CLAIM_RETRY_MS: u64 = 1;

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
    result: Mutex<Option<Finished>>,
    finished: Condvar,
    notify: Notify,
}

impl Done {
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
        if self.finished {
            return;
        }
        let mut result = self.done.result.lock();
        while result.is_none() {
            self.done.finished.wait(&mut result);
        }
    }
}
