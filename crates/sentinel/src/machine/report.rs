//! What SENTINEL MASTER(S), REPLICAS and SENTINELS report about each instance: the same
//! fields, in the same order, as redis-sentinel. Scripts are the driver's (they live in the
//! config, not in the state machine), so it appends `notification-script` and
//! `client-reconfig-script` to a master's fields itself.

use super::{Master, Node, Peer, Reconf, Replica, Sentinel};
use crate::info::ReportedRole;
use crate::types::{FailoverState, Millis};

/// One field's value: RESP replies carry integers as bulk strings here, as redis-sentinel's
/// do, but the driver may want to tell them apart (RESP3 maps, tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Text(String),
    Int(i64),
}

pub type Fields = Vec<(&'static str, Field)>;

impl Sentinel {
    /// The names of the monitored masters, in order.
    pub fn master_names(&self) -> Vec<String> {
        self.masters.keys().cloned().collect()
    }

    /// SENTINEL MASTER <name>.
    pub fn describe_master(&self, now: Millis, name: &str) -> Option<Fields> {
        let master = self.masters.get(name)?;
        let flags = flags(
            &master.node,
            &[(master.o_down, "o_down")],
            "master",
            &[
                (master.failover != FailoverState::None, "failover_in_progress"),
                (master.forced, "force_failover"),
                (master.node.script_kill_sent, "script_kill_sent"),
            ],
        );
        let mut fields = base(&master.node, &master.name, &flags);
        if master.failover != FailoverState::None {
            fields.push(("failover-state", Field::Text(master.failover.name().to_string())));
        }
        timings(now, &master.node, master.o_down.then_some(master.o_down_since), master.down_after, &mut fields);
        data_node(now, &master.node, &mut fields);
        fields.push(("config-epoch", Field::Int(master.config_epoch as i64)));
        fields.push(("num-slaves", Field::Int(master.replicas.len() as i64)));
        fields.push(("num-other-sentinels", Field::Int(master.sentinels.len() as i64)));
        fields.push(("quorum", Field::Int(master.quorum as i64)));
        fields.push(("failover-timeout", Field::Int(master.failover_timeout as i64)));
        fields.push(("parallel-syncs", Field::Int(master.parallel_syncs as i64)));
        Some(fields)
    }

    /// SENTINEL REPLICAS <name>: the replicas that announce themselves.
    pub fn describe_replicas(&self, now: Millis, name: &str) -> Option<Vec<Fields>> {
        let master = self.masters.get(name)?;
        Some(master.replicas.values().filter(|r| r.announced).map(|r| describe_replica(now, master, r)).collect())
    }

    /// SENTINEL SENTINELS <name>.
    pub fn describe_sentinels(&self, now: Millis, name: &str) -> Option<Vec<Fields>> {
        let master = self.masters.get(name)?;
        Some(master.sentinels.values().map(|p| describe_peer(now, master, p)).collect())
    }
}

fn describe_replica(now: Millis, master: &Master, replica: &Replica) -> Fields {
    let node = &replica.node;
    let flags = flags(
        node,
        &[],
        "slave",
        &[
            (replica.promoted, "promoted"),
            (matches!(replica.reconf, Reconf::Sent(_)), "reconf_sent"),
            (replica.reconf == Reconf::InProgress, "reconf_inprog"),
            (replica.reconf == Reconf::Done, "reconf_done"),
            (node.script_kill_sent, "script_kill_sent"),
        ],
    );
    let mut fields = base(node, &node.addr.to_string(), &flags);
    timings(now, node, None, master.down_after, &mut fields);
    data_node(now, node, &mut fields);
    fields.push(("master-link-down-time", Field::Int(node.master_link_down_ms)));
    fields.push(("master-link-status", Field::Text(if replica.master_link_up { "ok" } else { "err" }.to_string())));
    fields.push(("master-host", Field::Text(replica.master_host.clone().unwrap_or_else(|| "?".to_string()))));
    fields.push(("master-port", Field::Int(replica.master_port.unwrap_or(0) as i64)));
    fields.push(("slave-priority", Field::Int(replica.priority as i64)));
    fields.push(("slave-repl-offset", Field::Int(replica.repl_offset as i64)));
    fields.push(("replica-announced", Field::Int(replica.announced as i64)));
    fields
}

fn describe_peer(now: Millis, master: &Master, peer: &Peer) -> Fields {
    let node = &peer.node;
    let flags = flags(node, &[], "sentinel", &[(peer.master_down, "master_down")]);
    let mut fields = base(node, &peer.runid, &flags);
    timings(now, node, None, master.down_after, &mut fields);
    fields.push(("last-hello-message", Field::Int(now.saturating_sub(peer.last_hello) as i64)));
    fields.push(("voted-leader", Field::Text(peer.leader.clone().unwrap_or_else(|| "?".to_string()))));
    fields.push(("voted-leader-epoch", Field::Int(peer.leader_epoch as i64)));
    fields
}

/// The `flags` field: `s_down`, those of `before` that hold, the kind, `disconnected`,
/// those of `after` that hold, in redis-sentinel's order.
fn flags(
    node: &Node,
    before: &[(bool, &'static str)],
    kind: &'static str,
    after: &[(bool, &'static str)],
) -> Vec<&'static str> {
    let holding =
        |list: &[(bool, &'static str)]| list.iter().filter(|(on, _)| *on).map(|(_, f)| *f).collect::<Vec<_>>();
    let mut flags = Vec::new();
    if node.s_down {
        flags.push("s_down");
    }
    flags.extend(holding(before));
    flags.push(kind);
    if !node.link.connected || node.link.unsubscribed {
        flags.push("disconnected");
    }
    flags.extend(holding(after));
    flags
}

/// name, ip, port, runid, flags and the link's counters.
fn base(node: &Node, name: &str, flags: &[&str]) -> Fields {
    vec![
        ("name", Field::Text(name.to_string())),
        ("ip", Field::Text(node.addr.host.clone())),
        ("port", Field::Int(node.addr.port as i64)),
        ("runid", Field::Text(node.runid.clone().unwrap_or_default())),
        ("flags", Field::Text(flags.join(","))),
        ("link-pending-commands", Field::Int(node.link.pending as i64)),
        ("link-refcount", Field::Int(1)),
    ]
}

/// The ping times, the down times and down-after-milliseconds.
fn timings(now: Millis, node: &Node, o_down_since: Option<Millis>, down_after: Millis, fields: &mut Fields) {
    let ago = |t: Millis| Field::Int(now.saturating_sub(t) as i64);
    let link = &node.link;
    fields.push(("last-ping-sent", link.act_ping.map_or(Field::Int(0), ago)));
    fields.push(("last-ok-ping-reply", ago(link.last_avail)));
    fields.push(("last-ping-reply", ago(link.last_pong)));
    if node.s_down {
        fields.push(("s-down-time", ago(node.s_down_since)));
    }
    if let Some(since) = o_down_since {
        fields.push(("o-down-time", ago(since)));
    }
    fields.push(("down-after-milliseconds", Field::Int(down_after as i64)));
}

/// What masters and replicas add: INFO's age and the role it reported.
fn data_node(now: Millis, node: &Node, fields: &mut Fields) {
    fields.push(("info-refresh", Field::Int(node.info_refresh.map_or(0, |t| now.saturating_sub(t) as i64))));
    let role = if node.role_reported == ReportedRole::Master { "master" } else { "slave" };
    fields.push(("role-reported", Field::Text(role.to_string())));
    fields.push(("role-reported-time", Field::Int(now.saturating_sub(node.role_reported_time) as i64)));
}
