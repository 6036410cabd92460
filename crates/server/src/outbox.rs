//! A client's outbox: bytes that threads other than the connection's own
//! worker send to it (pub/sub messages, keyspace events, MONITOR lines),
//! bounded by `client-output-buffer-limit`.
//!
//! The connection drains its outbox into its reply buffer before running
//! each command and whenever the outbox signals, so what one sender sends
//! arrives in the order it was sent, and a push queued before a command
//! ran reaches the client before that command's reply. A client whose
//! pending output (outbox plus what its connection has not written yet)
//! passes its class's hard limit, or stays over the soft limit for the
//! soft seconds, is closed and its queued bytes are dropped at once, so a
//! subscriber that never reads costs at most its limit.

use std::sync::atomic::Ordering;

use crate::client::ClientInfo;
use crate::config::OutputLimit;
use crate::server::Server;
pub use crate::state::outbox::{Outbox, OutputClass};

/// Sends `bytes` to a client through its outbox, closing the client if
/// that takes its pending output over its limit.
pub fn send(server: &Server, info: &ClientInfo, bytes: &[u8]) {
    if info.is_killed() {
        return;
    }
    let pending = info.outbox.append(bytes) + info.output_bytes.load(Ordering::Relaxed);
    check_limit(server, info, counted(pending));
}

/// The part of `pending` output that counts against a limit.
fn counted(pending: usize) -> usize {
    pending.saturating_sub(UNCOUNTED_OUTPUT_BYTES)
}

/// The cron's pass: a client whose output stays over its soft limit is
/// closed once the soft seconds pass even if nothing more is sent to it.
pub fn check_idle_limits(server: &Server) {
    for info in server.clients.all() {
        let pending = info.pending_output();
        if pending > 0 {
            check_limit(server, &info, counted(pending));
        }
    }
}

pub use crate::state::outbox::UNCOUNTED_OUTPUT_BYTES;

/// Applies the client's output limit to `counted` bytes of output (a
/// reply its own command built counts whole; queued pushes count beyond
/// the first buffer). Returns false if the client is being closed for it.
pub fn check_limit(server: &Server, info: &ClientInfo, counted: usize) -> bool {
    let limit = server.tunables.output_limit(info.output_class());
    if !over_limit(&info.outbox, &limit, counted, shoal_engine::now_ms()) {
        return true;
    }
    if !info.is_killed() {
        server.log.warning(&format!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            crate::client::client_line(info)
        ));
        server.clients.kill(info.id);
    }
    info.outbox.discard();
    false
}

/// True when `pending` bytes break `limit`: over the hard limit, or over
/// the soft limit for more than its seconds (measured from the first time
/// the soft limit was seen passed; falling under it resets the clock).
fn over_limit(outbox: &Outbox, limit: &OutputLimit, pending: usize, now_ms: i64) -> bool {
    let pending = pending as u64;
    if limit.hard_bytes > 0 && pending >= limit.hard_bytes {
        return true;
    }
    if limit.soft_bytes == 0 || pending < limit.soft_bytes {
        outbox.soft_since_ms.store(0, Ordering::Relaxed);
        return false;
    }
    let since = outbox.soft_since_ms.load(Ordering::Relaxed);
    if since == 0 {
        outbox.soft_since_ms.store(now_ms, Ordering::Relaxed);
        return limit.soft_seconds == 0;
    }
    now_ms - since > limit.soft_seconds as i64 * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(hard: u64, soft: u64, seconds: u64) -> OutputLimit {
        OutputLimit { hard_bytes: hard, soft_bytes: soft, soft_seconds: seconds }
    }

    #[test]
    fn hard_limit_closes_at_once() {
        let outbox = Outbox::default();
        assert!(!over_limit(&outbox, &limit(100, 0, 0), 99, 1_000));
        assert!(over_limit(&outbox, &limit(100, 0, 0), 100, 1_000));
        assert!(!over_limit(&outbox, &limit(0, 0, 0), usize::MAX / 2, 1_000), "0 means no limit");
    }

    #[test]
    fn soft_limit_needs_its_seconds_and_resets_under_it() {
        let outbox = Outbox::default();
        let soft = limit(0, 50, 2);
        assert!(!over_limit(&outbox, &soft, 60, 10_000), "first time over: the clock starts");
        assert!(!over_limit(&outbox, &soft, 60, 12_000));
        assert!(over_limit(&outbox, &soft, 60, 12_001));
        assert!(!over_limit(&outbox, &soft, 10, 12_500), "under the soft limit resets the clock");
        assert!(!over_limit(&outbox, &soft, 60, 13_000));
        assert!(!over_limit(&outbox, &soft, 60, 15_000));
        assert!(over_limit(&outbox, &soft, 60, 15_001));
    }

    #[test]
    fn drained_bytes_keep_their_order() {
        let outbox = Outbox::default();
        outbox.append(b"one ");
        outbox.append(b"two ");
        let mut out = b"reply ".to_vec();
        outbox.drain_into(&mut out);
        outbox.append(b"three");
        outbox.drain_into(&mut out);
        assert_eq!(out, b"reply one two three");
        assert_eq!(outbox.queued(), 0);
    }
}
