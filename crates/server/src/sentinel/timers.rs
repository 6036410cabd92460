//! The sentinel's timer: the machine's tick (10 to 19 times a second, as redis-sentinel's
//! `hz` varies) and the script queue (notification and client-reconfig scripts, at most 16
//! at once, retried on exit status 1, killed after their maximum run time).

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use shoal_sentinel::{Input, Sentinel};

use super::{apply, log};
use crate::state::sentinel::SentinelShared;

const MAX_RUNNING_SCRIPTS: usize = 16;
const MAX_SCRIPT_RETRIES: u32 = 10;

pub async fn tick_loop(shared: Arc<SentinelShared>) {
    loop {
        let pause = Sentinel::tick_interval_ms(rand::random());
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let now = shared.now();
        let mut st = shared.state.lock();
        let actions = st.machine.handle(now, rand::random(), Input::Tick);
        apply(&shared, &mut st, actions);
        drop(st);
        run_scripts(&shared);
    }
}

/// Starts the scripts that are due.
fn run_scripts(shared: &Arc<SentinelShared>) {
    let now = shared.now();
    let mut st = shared.state.lock();
    let running = st.scripts.iter().filter(|s| s.running_since.is_some()).count();
    let mut free = MAX_RUNNING_SCRIPTS.saturating_sub(running);
    let mut started = Vec::new();
    for job in st.scripts.iter_mut() {
        if free == 0 {
            break;
        }
        if job.running_since.is_some() || job.start_at > now {
            continue;
        }
        let child = Command::new(&job.argv[0])
            .args(&job.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        job.retries += 1;
        match child {
            Ok(child) => {
                job.running_since = Some(now);
                job.pid = Some(child.id());
                started.push((job.id, child));
                free -= 1;
            }
            Err(_) => {
                // Could not even start: counted as a failure that is not retried.
                job.start_at = u64::MAX;
            }
        }
    }
    st.scripts.retain(|j| j.start_at != u64::MAX);
    let max_runtime = st.script_timing.max_runtime_ms;
    for (id, _) in &started {
        if let Some(job) = st.scripts.iter().find(|j| j.id == *id) {
            log(&st, 1, &format!("+script-child {}", job.pid.unwrap_or(0)));
        }
    }
    drop(st);
    for (id, child) in started {
        let shared = shared.clone();
        std::thread::spawn(move || wait_script(shared, id, child, max_runtime));
    }
}

/// Waits for a script on a thread of its own; kills it after `max_runtime` ms; retries it
/// later if it exited with status 1 (redis-sentinel's "try again" status).
fn wait_script(shared: Arc<SentinelShared>, id: u64, mut child: std::process::Child, max_runtime: u64) {
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > Duration::from_millis(max_runtime) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let now = shared.now();
    let mut st = shared.state.lock();
    let retry_delay = st.script_timing.retry_delay_ms;
    let Some(pos) = st.scripts.iter().position(|j| j.id == id) else { return };
    let retry = status.is_some_and(|s| s.code() == Some(1));
    let job = &mut st.scripts[pos];
    if retry && job.retries < MAX_SCRIPT_RETRIES {
        job.running_since = None;
        job.pid = None;
        job.start_at = now + retry_delay * (1 << (job.retries - 1).min(10));
        return;
    }
    let code = status.and_then(|s| s.code()).unwrap_or(-1);
    st.scripts.remove(pos);
    if code != 0 {
        log(&st, 3, &format!("-script-error {} {code}", id));
    }
}
