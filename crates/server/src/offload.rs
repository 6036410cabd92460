//! Running a client's commands that need the Lua VM: on the connection's
//! own worker when the VM is free (on a coroutine, so that a long script
//! can pause and let the worker serve its other connections), else on the
//! script thread (see `state::scripts` for why it exists). Either way the
//! runner dispatches the requests as the connection would have, with the
//! connection's client state and reply buffer, while the connection
//! awaits the outcome without holding up its worker.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use smallvec::SmallVec;
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
    let request: Request<'_> = argv.iter().copied().collect();
    run_batch(server, client, out, std::slice::from_ref(&request)).await.1
}

/// One request's arguments.
pub type Request<'a> = SmallVec<[&'a [u8]; 8]>;

/// Runs `requests` (the first needs the Lua VM; a connection passes the
/// calls that follow it in its pipeline too) on the script thread in one
/// crossing, one after the other as the connection would. Returns how
/// many ran, and the outcome of the last one tried: when it is not
/// `Continue`, that request did not run (`Busy`, `Postpone`).
pub async fn run_batch(server: &Server, client: &mut Client, out: &mut ReplyBuf, requests: &[Request<'_>]) -> (usize, Outcome) {
    debug_assert!(!requests.is_empty());
    if let Some((ran, finished)) = run_here(server, client, out, requests).await {
        return (ran, finished.into());
    }
    let done = Arc::new(Done::default());
    let job = Borrowed { lent: Lent::new(server, client, out, requests), done: done.clone() };
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
        let (server, client, out, requests) = unsafe { job.lent.get() };
        // Script calls share one locking of the keyspace until someone
        // else wants a shard.
        shoal_engine::keyspace::hold_between_units();
        let (ran, finished) = run_requests(server, client, out, requests);
        job.done.finish(ran, finished);
    }));
    let (ran, finished) = loop {
        tokio::select! {
            outcome = waiting.wait() => break outcome,
            _ = tokio::time::sleep(std::time::Duration::from_millis(QUEUE_CHECK_MS)) => {
                if busy_script(server) && done.withdraw() {
                    waiting.finished = true;
                    return (0, Outcome::Busy(Busy::Shard(0)));
                }
            }
        }
    };
    (ran, finished.into())
}

/// Dispatches `requests` one after the other as the connection would;
/// stops at the first that must wait. How many ran, and how the last one
/// tried ended.
fn run_requests(server: &Server, client: &mut Client, out: &mut ReplyBuf, requests: &[Request<'_>]) -> (usize, Finished) {
    let mut ran = 0;
    let mut finished = Finished::Continue;
    for argv in requests {
        if ran > 0 {
            if client.close_after_reply {
                break;
            }
            // Pushes sent before this command ran precede its reply.
            client.info.outbox.drain_into(&mut out.buf);
        }
        finished = match dispatch(server, client, out, argv) {
            Outcome::Busy(busy) => Finished::Busy(busy),
            Outcome::Postpone => Finished::Postpone,
            // What needs the VM never blocks, suspends or moves again.
            _ => Finished::Continue,
        };
        if !matches!(finished, Finished::Continue) {
            break;
        }
        ran += 1;
    }
    (ran, finished)
}

impl From<Finished> for Outcome {
    fn from(finished: Finished) -> Outcome {
        match finished {
            Finished::Continue => Outcome::Continue,
            Finished::Postpone => Outcome::Postpone,
            Finished::Busy(busy) => Outcome::Busy(busy),
        }
    }
}

// ---------------------------------------------------------------------
// Running script calls on the connection's own worker.
//
// Crossing to the script thread and back costs two thread wake-ups, more
// than a small script. So when the VM is free (its lock taken without
// waiting), a worker runs the calls itself, on a stack of its own (a
// coroutine) so that a script that runs long can pause (`pausable`): its
// connection then yields to the worker's other connections, which find
// the keyspace held as with any script and get `-BUSY` past the threshold
// or send SCRIPT KILL, and resumes it. When the VM is busy (a script runs,
// the script thread loads a library), the calls cross as before.

/// The coroutine's stack, as large as the script thread's (converting a
/// deeply nested reply recurses once per level).
const STACK_BYTES: usize = crate::state::scripts::SCRIPT_THREAD_STACK_BYTES;

type Fiber = corosensei::Coroutine<(), (), (usize, Finished), corosensei::stack::DefaultStack>;

thread_local! {
    /// This thread's coroutine stack, kept between runs (mapped once).
    static STACK: std::cell::RefCell<Option<corosensei::stack::DefaultStack>> = const { std::cell::RefCell::new(None) };
}

/// Runs `requests` here if the first is a script call and the VM is free
/// right now; `None` if it must cross.
async fn run_here(server: &Server, client: &mut Client, out: &mut ReplyBuf, requests: &[Request<'_>]) -> Option<(usize, Finished)> {
    let cmd = shoal_commands::table().resolve(&requests[0])?;
    if !matches!(cmd.name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro") {
        return None;
    }
    // A debugging session (SCRIPT DEBUG SYNC) waits for its client as long
    // as it likes: on the script thread, never on a worker.
    if client.lua_debug {
        return None;
    }
    let mut slot_guard = server.scripts.vm.try_lock()?;
    let stack = match STACK.with(|s| s.borrow_mut().take()) {
        Some(stack) => stack,
        None => corosensei::stack::DefaultStack::new(STACK_BYTES).expect("a script stack can be mapped"),
    };
    let lent = Lent::new(server, client, out, requests);
    let slot: *mut crate::state::scripts::VmSlot = &mut *slot_guard;
    let fiber: Fiber = corosensei::Coroutine::with_stack(stack, move |yielder: &corosensei::Yielder<(), ()>, ()| {
        // SAFETY: the connection that owns these resumes this coroutine
        // to its end (here or in `Running`'s drop) and does not touch
        // them meanwhile; the VM lock is held until then.
        let (server, client, out, requests) = unsafe { lent.get() };
        let slot = unsafe { &mut *slot };
        shoal_engine::keyspace::hold_between_units();
        crate::families::scripting::lend(slot, || {
            crate::families::scripting::pausable(&|| yielder.suspend(()), || run_requests(server, client, out, requests))
        })
    });
    let mut running = Running(Some(fiber));
    let result = loop {
        match running.resume() {
            Some(result) => break result,
            None => tokio::task::yield_now().await,
        }
    };
    drop(slot_guard);
    Some(result)
}

/// A coroutine running script calls; dropped before its end (its
/// connection's future dropped), it runs to its end first: it borrows the
/// connection's state and may hold the keyspace.
struct Running(Option<Fiber>);

impl Running {
    /// Resumes the calls: their result once they ended, `None` if a script paused.
    fn resume(&mut self) -> Option<(usize, Finished)> {
        let fiber = self.0.as_mut().expect("resumed after its end");
        match fiber.resume(()) {
            corosensei::CoroutineResult::Yield(()) => None,
            corosensei::CoroutineResult::Return(result) => {
                let fiber = self.0.take().expect("present");
                STACK.with(|s| *s.borrow_mut() = Some(fiber.into_stack()));
                Some(result)
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A coroutine that panicked is done: its panic is unwinding now.
        while self.0.as_ref().is_some_and(|fiber| !fiber.done()) {
            let _ = self.resume();
        }
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

/// The connection's state, lent to the script thread for its requests.
struct Borrowed {
    lent: Lent,
    done: Arc<Done>,
}

/// A connection's state and requests, lent to whoever runs them (the
/// script thread, or a coroutine on the connection's own worker).
struct Lent {
    server: *const Server,
    client: *mut Client,
    out: *mut ReplyBuf,
    requests: *const [Request<'static>],
}

// SAFETY: the pointers are used by one thread at a time: the runner while
// the requests run, the connection after they have.
unsafe impl Send for Lent {}

impl Lent {
    fn new(server: &Server, client: &mut Client, out: &mut ReplyBuf, requests: &[Request<'_>]) -> Lent {
        let requests = requests as *const [Request<'_>] as *const [Request<'static>];
        Lent { server, client, out, requests }
    }

    /// SAFETY: only while the connection that lent them waits for the
    /// runner, and once at a time.
    unsafe fn get<'a>(&self) -> (&'a Server, &'a mut Client, &'a mut ReplyBuf, &'a [Request<'static>]) {
        (&*self.server, &mut *self.client, &mut *self.out, &*self.requests)
    }
}

#[derive(Default)]
struct Done {
    /// `QUEUED`, `RUNNING` or `WITHDRAWN`.
    state: std::sync::atomic::AtomicU8,
    /// How many requests ran, and how the last one tried ended.
    result: Mutex<Option<(usize, Finished)>>,
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

    fn finish(&self, ran: usize, outcome: Finished) {
        *self.result.lock() = Some((ran, outcome));
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
    async fn wait(&mut self) -> (usize, Finished) {
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
