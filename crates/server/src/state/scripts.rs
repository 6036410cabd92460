//! Scripting state shared by every thread: the script thread's queue, the
//! lock over the Lua VMs, which script runs (for SCRIPT KILL, FUNCTION
//! KILL, FUNCTION STATS), and the counts INFO reports. The VMs themselves
//! are `families::scripting`'s; nothing here touches them.
//!
//! Why a thread of its own: a script holds the whole keyspace for as long
//! as it runs, possibly seconds. Run plainly on a worker, it would also
//! hold every other connection of that worker, which then could neither
//! get `-BUSY` nor send SCRIPT KILL. So a worker runs a script call itself
//! only on a coroutine that can pause (`crate::offload`), and only when it
//! gets the VM lock without waiting; everything else that needs the VM is
//! handed to the script thread, which may wait, while the connection waits
//! asynchronously and its worker goes on serving the others.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::OnceLock;

use parking_lot::Mutex;

/// Work for the script thread.
pub type Job = Box<dyn FnOnce() + Send>;

/// The script thread's stack: converting a deeply nested reply recurses
/// once per level (up to `MAX_REPLY_DEPTH`).
pub const SCRIPT_THREAD_STACK_BYTES: usize = 64 << 20;

thread_local! {
    static ON_SCRIPT_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// True on a server's script thread, and on a worker while it runs
/// script calls itself (holding the VM lock).
pub fn on_script_thread() -> bool {
    ON_SCRIPT_THREAD.with(|c| c.get())
}

/// Says whether this thread now acts as the script thread; returns what
/// it said before.
pub fn set_on_script_thread(on: bool) -> bool {
    ON_SCRIPT_THREAD.with(|c| c.replace(on))
}

/// Commands that use the VM, and so run on the script thread.
pub fn uses_vm(cmd: &shoal_commands::Command) -> bool {
    matches!(
        cmd.name,
        "eval"
            | "evalsha"
            | "eval_ro"
            | "evalsha_ro"
            | "fcall"
            | "fcall_ro"
            | "script|load"
            | "script|exists"
            | "script|flush"
            | "function|load"
            | "function|delete"
            | "function|flush"
            | "function|list"
            | "function|dump"
            | "function|restore"
    )
}

/// Runs `job` on the script thread and waits for it: for threads that
/// may wait (a file's loader), and inline on the script thread itself.
pub fn run_on_script_thread(scripts: &Scripts, job: &mut (dyn FnMut() + Send)) {
    if on_script_thread() {
        job();
        return;
    }
    struct Borrowed(*mut (dyn FnMut() + Send + 'static));
    // SAFETY: the caller waits below until the job has run.
    unsafe impl Send for Borrowed {}
    // SAFETY: only the lifetime is erased; the borrow outlives the wait.
    let borrowed = Borrowed(unsafe { std::mem::transmute::<*mut (dyn FnMut() + Send + '_), *mut (dyn FnMut() + Send + 'static)>(job) });
    let (sender, receiver) = channel();
    scripts.submit(Box::new(move || {
        let borrowed = borrowed;
        unsafe { (*borrowed.0)() };
        let _ = sender.send(());
    }));
    receiver.recv().expect("the script thread runs every job");
}

/// What kind of script is running.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Running {
    Eval = 1,
    Function = 2,
}

/// The running function, for FUNCTION STATS.
#[derive(Clone, Default)]
pub struct RunningFunction {
    pub name: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub started_ms: i64,
}

/// Why a kill request was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KillRefused {
    /// Nothing of that kind runs.
    NotBusy,
    /// The script has written: killing it would leave half its work.
    Unkillable,
    /// SCRIPT KILL while a function runs, or FUNCTION KILL while a script does.
    OtherKind,
}

/// What the VM lock guards: the scripting engine (the Lua VMs, the script
/// cache, the libraries), a type this layer does not know, created on
/// first use.
pub type VmSlot = Option<Box<dyn std::any::Any + Send>>;

#[derive(Default)]
pub struct Scripts {
    queue: OnceLock<Mutex<Sender<Job>>>,
    /// The scripting engine. The script thread waits for it; a worker only
    /// tries it, and runs a script call itself when it gets it.
    pub vm: Mutex<VmSlot>,
    /// 0: nothing runs; else `Running`.
    running: AtomicU8,
    kill: AtomicBool,
    /// The running script has changed data.
    pub wrote: AtomicBool,
    pub function: Mutex<Option<RunningFunction>>,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may run noscript commands.
    pub deny_scripts_disabled: AtomicBool,
    /// INFO: scripts in the EVAL cache and their bytes, libraries and
    /// functions loaded, the VM's memory.
    pub cached_scripts: AtomicU64,
    pub cached_script_bytes: AtomicU64,
    pub libraries: AtomicU64,
    pub functions: AtomicU64,
    pub vm_bytes: AtomicU64,
    pub functions_vm_bytes: AtomicU64,
    pub functions_bytes: AtomicU64,
    /// The libraries' code, for snapshots and AOF rewrites (the script
    /// thread owns the libraries themselves).
    pub library_codes: Mutex<Vec<Vec<u8>>>,
    /// What the declared flags of each cached script with a shebang (by
    /// SHA-1) and of each function (by lower case name) make of the
    /// command that runs it, for the checks made before a command runs
    /// (read-only replica, OOM, stale replica, CLIENT PAUSE WRITE) on
    /// threads that have no VM. Scripts without a shebang are absent.
    pub script_flags: Mutex<HashMap<String, DeclaredFlags>>,
    pub function_flags: Mutex<HashMap<String, DeclaredFlags>>,
}

/// The command flags a script's declared flags stand for, as Redis derives
/// EVAL's and FCALL's from them: a write unless `no-writes`, refused when
/// out of memory unless `allow-oom` or `no-writes`, served by a stale
/// replica only with `allow-stale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeclaredFlags {
    pub writes: bool,
    pub deny_oom: bool,
    pub stale: bool,
}

impl Scripts {
    /// Queues `job` on the script thread (started on first use).
    pub fn submit(&self, job: Job) {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = channel::<Job>();
            std::thread::Builder::new()
                .name("shoal-script".into())
                .stack_size(SCRIPT_THREAD_STACK_BYTES)
                .spawn(move || {
                    ON_SCRIPT_THREAD.with(|c| c.set(true));
                    while let Ok(job) = receiver.recv() {
                        job();
                    }
                })
                .expect("the script thread starts");
            Mutex::new(sender)
        });
        queue.lock().send(job).expect("the script thread lives as long as the server");
    }

    /// A script starts running (on the script thread, holding every shard).
    pub fn start(&self, kind: Running) {
        self.kill.store(false, Ordering::Release);
        self.wrote.store(false, Ordering::Release);
        self.running.store(kind as u8, Ordering::Release);
    }

    /// What FUNCTION STATS shows of the running function, published once
    /// it has run for a while (not for every short call).
    pub fn publish_function(&self, function: RunningFunction) {
        *self.function.lock() = Some(function);
    }

    /// The run ends; `published`: it published its function.
    pub fn end(&self, published: bool) {
        self.running.store(0, Ordering::Release);
        self.kill.store(false, Ordering::Release);
        if published {
            *self.function.lock() = None;
        }
    }

    pub fn running(&self) -> Option<Running> {
        match self.running.load(Ordering::Acquire) {
            1 => Some(Running::Eval),
            2 => Some(Running::Function),
            _ => None,
        }
    }

    /// SCRIPT KILL (`Eval`) or FUNCTION KILL (`Function`): asks the running
    /// script to stop at its next hook.
    pub fn request_kill(&self, kind: Running) -> Result<(), KillRefused> {
        match self.running() {
            None => Err(KillRefused::NotBusy),
            Some(running) if running != kind => Err(KillRefused::OtherKind),
            Some(_) if self.wrote.load(Ordering::Acquire) => Err(KillRefused::Unkillable),
            Some(_) => {
                self.kill.store(true, Ordering::Release);
                Ok(())
            }
        }
    }

    /// SHUTDOWN NOSAVE: stop whatever runs, written or not.
    pub fn force_kill(&self) {
        self.kill.store(true, Ordering::Release);
    }

    pub fn kill_requested(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }
}
