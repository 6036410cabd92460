//! What the SENTINEL commands change or ask that is the state machine's: REMOVE, RESET,
//! SET of the options it uses, CKQUORUM and INFO's sentinel section. Argument parsing and
//! the options that are the driver's (scripts, auth, rename-command) live with the driver.

use shoal_types::glob::glob_match;

use super::Sentinel;
use crate::types::{Action, Level, Millis, Timing};

/// A master option SENTINEL SET changes here, with its already validated value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MasterOption {
    DownAfterMs(Millis),
    FailoverTimeoutMs(Millis),
    ParallelSyncs(u32),
    Quorum(u32),
    MasterRebootDownAfterMs(Millis),
}

/// SENTINEL CKQUORUM's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuorumCheck {
    /// Sentinels not down, this one included.
    pub usable: u32,
    /// Enough of them for the master's quorum.
    pub quorum_reachable: bool,
    /// Enough of them for a majority, which a failover's election needs.
    pub majority_reachable: bool,
}

impl QuorumCheck {
    /// The reply line, as redis-sentinel words it (`+OK ...` or `-NOQUORUM ...`).
    pub fn reply(&self) -> String {
        let usable = self.usable;
        if self.quorum_reachable && self.majority_reachable {
            return format!("+OK {usable} usable Sentinels. Quorum and failover authorization can be reached");
        }
        let mut reasons = Vec::new();
        if !self.quorum_reachable {
            reasons.push("Not enough available Sentinels to reach the specified quorum for this master");
        }
        if !self.majority_reachable {
            reasons.push("Not enough available Sentinels to reach the majority and authorize a failover");
        }
        format!("-NOQUORUM {usable} usable Sentinels. {}", reasons.join(". "))
    }
}

impl Sentinel {
    /// The intervals in use (SENTINEL DEBUG shows them).
    pub fn timing(&self) -> &Timing {
        &self.ctx.timing
    }

    /// SENTINEL DEBUG <param> <value>: new intervals, used from the next input on.
    pub fn set_timing(&mut self, timing: Timing) {
        self.ctx.timing = timing;
    }

    /// SENTINEL CONFIG SET announce-ip / announce-port: what the next hellos announce.
    pub fn set_announce(&mut self, ip: Option<String>, port: u16) {
        self.ctx.announce_ip = ip;
        self.ctx.port = port;
    }

    /// SENTINEL REMOVE: forgets a master, closing its links.
    pub fn remove(&mut self, now: Millis, name: &str) -> Option<Vec<Action>> {
        self.ctx.begin(now, 0);
        let mut master = self.masters.remove(name)?;
        self.ctx.event(Level::Warning, "-monitor", Some(name), master.ident());
        let addr = master.node.addr.clone();
        master.forget(&mut self.ctx, addr, true);
        self.ctx.out.push(Action::FlushConfig);
        Some(self.ctx.finish())
    }

    /// SENTINEL RESET <pattern>: masters whose name matches forget their replicas,
    /// sentinels and state (they are rediscovered); returns how many were reset.
    pub fn reset(&mut self, now: Millis, pattern: &str) -> (usize, Vec<Action>) {
        self.ctx.begin(now, 0);
        let mut count = 0;
        for master in self.masters.values_mut() {
            if !glob_match(pattern.as_bytes(), master.name.as_bytes(), false) {
                continue;
            }
            count += 1;
            let addr = master.node.addr.clone();
            master.forget(&mut self.ctx, addr, true);
            self.ctx.event(Level::Warning, "+reset-master", Some(&master.name), master.ident());
        }
        if count > 0 {
            self.ctx.out.push(Action::FlushConfig);
        }
        (count, self.ctx.finish())
    }

    /// SENTINEL SET for one option; `text` is the option and value as given, for the
    /// `+set` event. The caller adds a FlushConfig after the last option.
    pub fn set_option(&mut self, now: Millis, name: &str, option: MasterOption, text: &str) -> Option<Vec<Action>> {
        self.ctx.begin(now, 0);
        let master = self.masters.get_mut(name)?;
        match option {
            MasterOption::DownAfterMs(ms) => master.down_after = ms,
            MasterOption::FailoverTimeoutMs(ms) => master.failover_timeout = ms,
            MasterOption::ParallelSyncs(n) => master.parallel_syncs = n,
            MasterOption::Quorum(n) => master.quorum = n,
            MasterOption::MasterRebootDownAfterMs(ms) => master.reboot_down_after = ms,
        }
        self.ctx.event(Level::Warning, "+set", Some(name), format!("{} {text}", master.ident()));
        Some(self.ctx.finish())
    }

    /// SENTINEL CKQUORUM.
    pub fn check_quorum(&self, name: &str) -> Option<QuorumCheck> {
        let master = self.masters.get(name)?;
        let voters = master.sentinels.len() as u32 + 1;
        let usable = 1 + master.sentinels.values().filter(|p| !p.node.s_down).count() as u32;
        Some(QuorumCheck { usable, quorum_reachable: usable >= master.quorum, majority_reachable: usable > voters / 2 })
    }

    /// INFO's `# Sentinel` fields about masters and TILT (the script counters are the
    /// driver's): `(tilt, tilt_since_seconds)` and one `masterN:` line per master.
    pub fn info_masters(&self, now: Millis) -> (bool, i64, Vec<String>) {
        let tilt_since = if self.ctx.tilt { (now.saturating_sub(self.ctx.tilt_since) / 1000) as i64 } else { -1 };
        let lines = self
            .masters
            .values()
            .enumerate()
            .map(|(i, m)| {
                let status = if m.o_down {
                    "odown"
                } else if m.node.s_down {
                    "sdown"
                } else {
                    "ok"
                };
                format!(
                    "master{i}:name={},status={status},address={}:{},slaves={},sentinels={}",
                    m.name,
                    m.node.addr.host,
                    m.node.addr.port,
                    m.replicas.len(),
                    m.sentinels.len() + 1
                )
            })
            .collect();
        (self.ctx.tilt, tilt_since, lines)
    }
}
