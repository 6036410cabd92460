//! The sentinel state machine: per-master state, discovery, down detection, leader election
//! and the failover states.
//!
//! Every public entry point takes the time (`now`) and, where a choice must be random, some
//! `entropy`; it returns the actions to carry out in order. Maps are `BTreeMap`s so that the
//! iteration order, and therefore the whole behaviour, depends on the inputs only.

mod admin;
mod report;

use std::collections::BTreeMap;

use crate::hello::Hello;
use crate::info::{InfoReport, ReportedRole};
use crate::types::{
    Action, Addr, Command, Event, FailoverState, Input, IsMasterDownReply, Level, LinkId, Millis, ReconfigRole, Reply,
    Timing,
};

/// Who this sentinel is and how it behaves, fixed for its lifetime.
#[derive(Clone, Debug)]
pub struct SentinelOptions {
    /// 40 hex characters, persisted as `sentinel myid`.
    pub myid: String,
    /// The port announced in hello messages (`announce-port` or the listening port).
    pub port: u16,
    /// `announce-ip`; without it the driver puts the link's local address in hellos.
    pub announce_ip: Option<String>,
    pub timing: Timing,
}

/// A master's settings: `sentinel monitor` and the `sentinel <option> <name> <value>` lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistedMaster {
    pub name: String,
    pub addr: Addr,
    pub quorum: u32,
    pub down_after_ms: Millis,
    pub failover_timeout_ms: Millis,
    pub parallel_syncs: u32,
    pub master_reboot_down_after_ms: Millis,
    pub config_epoch: u64,
    pub leader_epoch: u64,
    pub known_replicas: Vec<Addr>,
    /// Other sentinels: address and run id.
    pub known_sentinels: Vec<(Addr, String)>,
}

impl PersistedMaster {
    /// A newly monitored master with redis-sentinel's defaults.
    pub fn new(name: &str, addr: Addr, quorum: u32, timing: &Timing) -> PersistedMaster {
        PersistedMaster {
            name: name.to_string(),
            addr,
            quorum,
            down_after_ms: timing.default_down_after_ms,
            failover_timeout_ms: timing.default_failover_timeout_ms,
            parallel_syncs: 1,
            master_reboot_down_after_ms: 0,
            config_epoch: 0,
            leader_epoch: 0,
            known_replicas: Vec::new(),
            known_sentinels: Vec::new(),
        }
    }
}

/// Everything a sentinel keeps across restarts (what redis-sentinel writes to its config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Persisted {
    pub myid: String,
    pub current_epoch: u64,
    pub masters: Vec<PersistedMaster>,
}

/// A failover in progress, as seen from outside (the simulator checks its duration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverProgress {
    pub state: FailoverState,
    pub epoch: u64,
    /// When `+try-failover` was published.
    pub began: Millis,
    pub promoted: Option<Addr>,
}

pub use admin::{MasterOption, QuorumCheck};
pub use report::{Field, Fields};

pub struct Sentinel {
    ctx: Ctx,
    masters: BTreeMap<String, Master>,
}

/// The state shared by all masters, kept apart from them so that a function can hold a
/// master mutably and still emit actions, allocate links and change the epoch.
struct Ctx {
    myid: String,
    port: u16,
    announce_ip: Option<String>,
    timing: Timing,
    current_epoch: u64,
    tilt: bool,
    tilt_since: Millis,
    previous_tick: Option<Millis>,
    next_link: u64,
    links: BTreeMap<LinkId, Owner>,
    entropy: u64,
    now: Millis,
    out: Vec<Action>,
}

/// The instance a link belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Owner {
    Master(String),
    Replica(String, Addr),
    Sentinel(String, Addr),
}

/// One link's bookkeeping (redis-sentinel's `instanceLink`).
#[derive(Clone, Debug)]
struct Link {
    id: Option<LinkId>,
    connected: bool,
    connected_at: Millis,
    last_reconnect: Option<Millis>,
    pending: u32,
    /// When the oldest unanswered PING was sent.
    act_ping: Option<Millis>,
    last_ping: Option<Millis>,
    last_pong: Millis,
    /// Last acceptable PING reply (PONG, LOADING, MASTERDOWN).
    last_avail: Millis,
    last_pubsub_activity: Millis,
    /// The hello subscription of a data node's link is gone (the link shows
    /// `disconnected`).
    unsubscribed: bool,
}

impl Link {
    fn new(now: Millis) -> Link {
        Link {
            id: None,
            connected: false,
            connected_at: 0,
            last_reconnect: None,
            pending: 0,
            act_ping: Some(now),
            last_ping: None,
            last_pong: now,
            last_avail: now,
            last_pubsub_activity: now,
            unsubscribed: false,
        }
    }
}

/// What masters, replicas and sentinels have in common.
#[derive(Clone, Debug)]
struct Node {
    addr: Addr,
    link: Link,
    runid: Option<String>,
    s_down: bool,
    s_down_since: Millis,
    last_pub: Millis,
    info_refresh: Option<Millis>,
    role_reported: ReportedRole,
    role_reported_time: Millis,
    master_link_down_ms: i64,
    script_kill_sent: bool,
    /// Since when its INFO has reported `master_fenced:1` without a break.
    fenced_since: Option<Millis>,
}

impl Node {
    fn new(addr: Addr, role: ReportedRole, now: Millis) -> Node {
        Node {
            addr,
            link: Link::new(now),
            runid: None,
            s_down: false,
            s_down_since: 0,
            last_pub: 0,
            info_refresh: None,
            role_reported: role,
            role_reported_time: now,
            master_link_down_ms: 0,
            script_kill_sent: false,
            fenced_since: None,
        }
    }

    /// No SDOWN or ODOWN began in the last `ms` (`o_down_since` is 0 for non-masters).
    fn no_down_for(&self, o_down_since: Millis, ms: Millis, now: Millis) -> bool {
        let recent = self.s_down_since.max(o_down_since);
        recent == 0 || now.saturating_sub(recent) > ms
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reconf {
    None,
    Sent(Millis),
    InProgress,
    Done,
}

#[derive(Clone, Debug)]
struct Replica {
    node: Node,
    master_host: Option<String>,
    master_port: Option<u16>,
    master_link_up: bool,
    priority: u32,
    repl_offset: u64,
    announced: bool,
    conf_change_time: Millis,
    reconf: Reconf,
    promoted: bool,
}

#[derive(Clone, Debug)]
struct Peer {
    node: Node,
    runid: String,
    master_down: bool,
    last_master_down_reply: Millis,
    leader: Option<String>,
    leader_epoch: u64,
    last_hello: Millis,
}

#[derive(Clone, Debug)]
struct Master {
    name: String,
    node: Node,
    quorum: u32,
    down_after: Millis,
    failover_timeout: Millis,
    parallel_syncs: u32,
    reboot_down_after: Millis,
    rebooted: bool,
    reboot_since: Millis,
    config_epoch: u64,
    leader: Option<String>,
    leader_epoch: u64,
    o_down: bool,
    o_down_since: Millis,
    failover: FailoverState,
    failover_epoch: u64,
    /// When the last failover attempt started (plus its random delay), or when this
    /// sentinel voted for another one; a new attempt waits twice the failover timeout.
    /// None: never, or reset (a failover may start at once).
    failover_start: Option<Millis>,
    failover_began: Millis,
    election_deadline: Millis,
    failover_state_change: Millis,
    forced: bool,
    promoted: Option<Addr>,
    replicas: BTreeMap<Addr, Replica>,
    sentinels: BTreeMap<Addr, Peer>,
}

impl Sentinel {
    /// A sentinel monitoring nothing yet.
    pub fn new(options: SentinelOptions) -> Sentinel {
        let persisted = Persisted { myid: options.myid.clone(), current_epoch: 0, masters: Vec::new() };
        Sentinel::restore(options, &persisted, 0)
    }

    /// A sentinel starting from what an earlier run persisted (at time `now`).
    pub fn restore(options: SentinelOptions, persisted: &Persisted, now: Millis) -> Sentinel {
        let mut sentinel = Sentinel {
            ctx: Ctx {
                myid: persisted.myid.clone(),
                port: options.port,
                announce_ip: options.announce_ip,
                timing: options.timing,
                current_epoch: persisted.current_epoch,
                tilt: false,
                tilt_since: 0,
                previous_tick: None,
                next_link: 0,
                links: BTreeMap::new(),
                entropy: 0,
                now,
                out: Vec::new(),
            },
            masters: BTreeMap::new(),
        };
        for saved in &persisted.masters {
            let master = Master::restore(saved, now);
            sentinel.masters.insert(saved.name.clone(), master);
        }
        sentinel
    }

    /// Starts monitoring a master (SENTINEL MONITOR or a `sentinel monitor` line).
    pub fn monitor(&mut self, now: Millis, settings: PersistedMaster) -> Result<Vec<Action>, &'static str> {
        if self.masters.contains_key(&settings.name) {
            return Err("Duplicated master name");
        }
        if settings.quorum == 0 {
            return Err("Quorum must be 1 or greater.");
        }
        self.ctx.begin(now, 0);
        let master = Master::restore(&settings, now);
        self.ctx.event(
            Level::Warning,
            "+monitor",
            Some(&master.name),
            format!("{} quorum {}", master.ident(), master.quorum),
        );
        self.masters.insert(settings.name.clone(), master);
        self.ctx.out.push(Action::FlushConfig);
        Ok(self.ctx.finish())
    }

    /// Handles one input from the driver.
    pub fn handle(&mut self, now: Millis, entropy: u64, input: Input) -> Vec<Action> {
        self.ctx.begin(now, entropy);
        match input {
            Input::Tick => self.tick(),
            Input::Connected(link) => self.link_up(link),
            Input::Disconnected(link) => self.link_down(link),
            Input::Reply(link, reply) => self.reply(link, reply),
            Input::Hello(link, payload) => self.hello_on_link(link, &payload),
            Input::Unsubscribed(link) => self.subscription(link, false),
            Input::Subscribed(link) => self.subscription(link, true),
        }
        self.ctx.finish()
    }

    /// A hello that another sentinel sent to this one with PUBLISH.
    pub fn receive_hello(&mut self, now: Millis, payload: &str) -> Vec<Action> {
        self.ctx.begin(now, 0);
        if let Some(hello) = Hello::parse(payload) {
            self.process_hello(&hello);
        }
        self.ctx.finish()
    }

    /// SENTINEL IS-MASTER-DOWN-BY-ADDR from another sentinel; `runid` None is `*` (no vote
    /// asked). The actions (a FlushConfig when a vote was cast) must be carried out before
    /// the reply is sent.
    pub fn is_master_down_by_addr(
        &mut self,
        now: Millis,
        entropy: u64,
        addr: &Addr,
        req_epoch: u64,
        runid: Option<&str>,
    ) -> (IsMasterDownReply, Vec<Action>) {
        self.ctx.begin(now, entropy);
        let ctx = &mut self.ctx;
        let master = self.masters.values_mut().find(|m| m.node.addr == *addr);
        let mut reply = IsMasterDownReply { down: false, leader: None, leader_epoch: 0 };
        if let Some(master) = master {
            reply.down = !ctx.tilt && master.node.s_down;
            if let Some(runid) = runid {
                let (leader, epoch) = ctx.vote_leader(master, req_epoch, runid);
                reply.leader = leader;
                reply.leader_epoch = epoch;
            }
        }
        (reply, self.ctx.finish())
    }

    /// SENTINEL FAILOVER: fails over without asking the other sentinels.
    pub fn force_failover(&mut self, now: Millis, entropy: u64, name: &str) -> Result<Vec<Action>, &'static str> {
        self.ctx.begin(now, entropy);
        let Some(master) = self.masters.get_mut(name) else { return Err("No such master with that name") };
        if master.failover != FailoverState::None {
            return Err("INPROG Failover already in progress");
        }
        if select_replica(&self.ctx, master).is_none() {
            return Err("NOGOODSLAVE No suitable replica to promote");
        }
        self.ctx.start_failover(master);
        master.forced = true;
        Ok(self.ctx.finish())
    }

    /// What to persist now (written on every FlushConfig).
    pub fn persisted(&self) -> Persisted {
        Persisted {
            myid: self.ctx.myid.clone(),
            current_epoch: self.ctx.current_epoch,
            masters: self.masters.values().map(Master::persisted).collect(),
        }
    }

    pub fn myid(&self) -> &str {
        &self.ctx.myid
    }

    pub fn current_epoch(&self) -> u64 {
        self.ctx.current_epoch
    }

    pub fn in_tilt(&self) -> bool {
        self.ctx.tilt
    }

    /// SENTINEL GET-MASTER-ADDR-BY-NAME: the promoted replica's address once it has
    /// accepted the promotion, the master's before.
    pub fn master_addr(&self, name: &str) -> Option<Addr> {
        self.master_addr_ref(name).cloned()
    }

    pub fn master_addr_ref(&self, name: &str) -> Option<&Addr> {
        self.masters.get(name).map(|m| m.current_addr())
    }

    pub fn config_epoch(&self, name: &str) -> Option<u64> {
        self.masters.get(name).map(|m| m.config_epoch)
    }

    /// The epoch of the latest failover this sentinel started for `name`, in progress or
    /// not (a failover can be elected and aborted within one tick).
    pub fn last_failover_epoch(&self, name: &str) -> Option<u64> {
        self.masters.get(name).map(|m| m.failover_epoch)
    }

    pub fn failover(&self, name: &str) -> Option<FailoverProgress> {
        let master = self.masters.get(name)?;
        (master.failover != FailoverState::None).then(|| FailoverProgress {
            state: master.failover,
            epoch: master.failover_epoch,
            began: master.failover_began,
            promoted: master.promoted.clone(),
        })
    }

    /// The addresses of the replicas known for a master.
    pub fn replicas(&self, name: &str) -> Vec<Addr> {
        self.masters.get(name).map(|m| m.replicas.keys().cloned().collect()).unwrap_or_default()
    }

    /// The run ids of the other sentinels known for a master.
    pub fn sentinels(&self, name: &str) -> Vec<String> {
        self.masters.get(name).map(|m| m.sentinels.values().map(|p| p.runid.clone()).collect()).unwrap_or_default()
    }

    /// Whether the master is subjectively / objectively down here.
    pub fn down_state(&self, name: &str) -> Option<(bool, bool)> {
        self.masters.get(name).map(|m| (m.node.s_down, m.o_down))
    }

    /// The timer period redis-sentinel would use next (its `hz` varies between 10 and 19 so
    /// that sentinels started together drift apart).
    pub fn tick_interval_ms(entropy: u64) -> Millis {
        1000 / (10 + entropy % 10)
    }

    fn tick(&mut self) {
        self.check_tilt();
        let names: Vec<String> = self.masters.keys().cloned().collect();
        for name in names {
            let master = self.masters.get_mut(&name).expect("name taken from the map");
            self.ctx.handle_master(master);
            if master.failover == FailoverState::UpdateConfig {
                self.ctx.switch_to_promoted(master);
            }
        }
    }

    fn check_tilt(&mut self) {
        let ctx = &mut self.ctx;
        let now = ctx.now;
        if let Some(previous) = ctx.previous_tick {
            if now < previous || now - previous > ctx.timing.tilt_trigger_ms {
                ctx.tilt = true;
                ctx.tilt_since = now;
                ctx.event(Level::Warning, "+tilt", None, "#tilt mode entered".into());
            }
        }
        ctx.previous_tick = Some(now);
    }

    fn link_up(&mut self, link: LinkId) {
        let Some(owner) = self.ctx.links.get(&link).cloned() else { return };
        let now = self.ctx.now;
        let Some(node) = self.masters.get_mut(owner.master_name()).and_then(|m| m.node_mut(&owner)) else { return };
        node.link.connected = true;
        node.link.unsubscribed = false;
        node.link.pending = 0;
        node.link.last_pubsub_activity = now;
        self.ctx.send_ping(node);
        // A data node's INFO goes out with the first PING, as redis-sentinel queues both
        // when it opens the link: a replica just discovered can be chosen by a failover
        // requested right away (the sentinel suite's 05-manual asks for one as soon as
        // every sentinel counts the replicas) instead of a tick later.
        if !matches!(owner, Owner::Sentinel(..)) {
            self.ctx.send(&mut node.link, Command::Info);
        }
    }

    fn subscription(&mut self, link: LinkId, subscribed: bool) {
        let Some(owner) = self.ctx.links.get(&link).cloned() else { return };
        let now = self.ctx.now;
        let Some(node) = self.node_mut(&owner) else { return };
        node.link.unsubscribed = !subscribed;
        if subscribed {
            node.link.last_pubsub_activity = now;
        }
    }

    fn link_down(&mut self, link: LinkId) {
        let Some(owner) = self.ctx.links.remove(&link) else { return };
        if let Some(node) = self.node_mut(&owner) {
            node.link.id = None;
            node.link.connected = false;
            node.link.pending = 0;
            // A fence seen again after a reconnection settles from then on.
            node.fenced_since = None;
        }
    }

    fn reply(&mut self, link: LinkId, reply: Reply) {
        let Some(owner) = self.ctx.links.get(&link).cloned() else { return };
        let ctx = &mut self.ctx;
        let Some(master) = self.masters.get_mut(owner.master_name()) else { return };
        match (&owner, reply) {
            (_, Reply::Ping(text)) => {
                let Some(node) = master.node_mut(&owner) else { return };
                node.link.pending = node.link.pending.saturating_sub(1);
                let acceptable = ctx.ping_reply(node, &text);
                if acceptable && text.starts_with("PONG") && matches!(owner, Owner::Master(_)) {
                    master.rebooted = false;
                }
            }
            (_, Reply::Info(text)) => {
                let Some(node) = master.node_mut(&owner) else { return };
                node.link.pending = node.link.pending.saturating_sub(1);
                let report = InfoReport::parse(&text);
                match &owner {
                    Owner::Master(_) => ctx.master_info(master, &report),
                    Owner::Replica(_, addr) => ctx.replica_info(master, addr, &report),
                    Owner::Sentinel(..) => {}
                }
            }
            (_, Reply::Published(ok)) => {
                let Some(node) = master.node_mut(&owner) else { return };
                node.link.pending = node.link.pending.saturating_sub(1);
                if ok {
                    node.last_pub = ctx.now;
                }
            }
            (Owner::Sentinel(_, addr), Reply::MasterDown(answer)) => {
                let Some(peer) = master.sentinels.get_mut(addr) else { return };
                peer.node.link.pending = peer.node.link.pending.saturating_sub(1);
                if let Some(answer) = answer {
                    peer.last_master_down_reply = ctx.now;
                    peer.master_down = answer.down;
                    if let Some(leader) = answer.leader {
                        peer.leader = Some(leader);
                        peer.leader_epoch = answer.leader_epoch;
                    }
                }
            }
            (_, _) => {
                if let Some(node) = master.node_mut(&owner) {
                    node.link.pending = node.link.pending.saturating_sub(1);
                }
            }
        }
    }

    fn hello_on_link(&mut self, link: LinkId, payload: &str) {
        let Some(owner) = self.ctx.links.get(&link).cloned() else { return };
        let now = self.ctx.now;
        if let Some(node) = self.node_mut(&owner) {
            node.link.last_pubsub_activity = now;
        }
        // Our own hellos come back on the channel too; they only prove the link lives.
        if let Some(hello) = Hello::parse(payload).filter(|h| h.runid != self.ctx.myid) {
            self.process_hello(&hello);
        }
    }

    fn node_mut(&mut self, owner: &Owner) -> Option<&mut Node> {
        self.masters.get_mut(owner.master_name())?.node_mut(owner)
    }

    fn process_hello(&mut self, hello: &Hello) {
        let Some(master) = self.masters.get(&hello.master_name) else { return };
        let sender = hello.sender();
        let known = master.sentinels.get(&sender).is_some_and(|p| p.runid == hello.runid);
        if !known {
            self.add_sentinel(hello, &sender);
        }
        let ctx = &mut self.ctx;
        if hello.current_epoch > ctx.current_epoch {
            ctx.current_epoch = hello.current_epoch;
            ctx.out.push(Action::FlushConfig);
            ctx.event(Level::Warning, "+new-epoch", Some(&hello.master_name), ctx.current_epoch.to_string());
        }
        let master = self.masters.get_mut(&hello.master_name).expect("checked above");
        let Some(peer) = master.sentinels.get_mut(&sender) else { return };
        peer.last_hello = ctx.now;
        if master.config_epoch >= hello.master_config_epoch {
            return;
        }
        master.config_epoch = hello.master_config_epoch;
        let new_addr = &hello.master_addr;
        // Compared with the address this sentinel announces, and a failover past its
        // promotion gives way: redis-sentinel compares with the old master's address only,
        // so a leader that learns, while reconfiguring replicas, a newer configuration
        // naming the old master keeps the newer epoch, then switches to its own promoted
        // replica under it; two masters then share one epoch and the sentinels never agree.
        let old = master.current_addr().clone();
        if old == *new_addr && master.failover < FailoverState::ReconfSlaves {
            return;
        }
        let peer_ident = master.peer_ident(&sender);
        ctx.event(Level::Warning, "+config-update-from", Some(&master.name), peer_ident);
        ctx.event(
            Level::Warning,
            "+switch-master",
            Some(&master.name),
            format!("{} {} {} {} {}", master.name, old.host, old.port, new_addr.host, new_addr.port),
        );
        ctx.reset_and_change_address(master, new_addr.clone());
        ctx.out.push(Action::ClientReconfig {
            master: master.name.clone(),
            role: ReconfigRole::Observer,
            state: "start",
            from: old,
            to: new_addr.clone(),
        });
    }

    /// A hello from a sentinel not yet known under this address and run id.
    fn add_sentinel(&mut self, hello: &Hello, sender: &Addr) {
        let name = &hello.master_name;
        let ctx = &mut self.ctx;
        let master = self.masters.get_mut(name).expect("caller checked");
        let moved = master.remove_sentinels(ctx, |p| p.runid == hello.runid);
        if moved {
            let text = format!("{} ip {} port {} for {}", master.ident(), sender.host, sender.port, hello.runid);
            ctx.event(Level::Notice, "+sentinel-address-switch", Some(name), text);
        } else if let Some(other) = master.sentinels.get(sender) {
            // Another run id claims this address: the old one is gone, everywhere.
            let obsolete = other.runid.clone();
            ctx.event(Level::Notice, "+sentinel-invalid-addr", Some(name), master.peer_ident(sender));
            for master in self.masters.values_mut() {
                master.remove_sentinels(ctx, |p| p.runid == obsolete);
            }
        }
        let master = self.masters.get_mut(name).expect("caller checked");
        master.sentinels.insert(sender.clone(), Peer::new(sender.clone(), hello.runid.clone(), ctx.now));
        if moved {
            // The same sentinel under its new address in the other masters too.
            for other in self.masters.values_mut().filter(|m| m.name != *name) {
                if other.remove_sentinels(ctx, |p| p.runid == hello.runid) {
                    other.sentinels.insert(sender.clone(), Peer::new(sender.clone(), hello.runid.clone(), ctx.now));
                }
            }
        } else {
            let master = &self.masters[name];
            ctx.event(Level::Notice, "+sentinel", Some(name), master.peer_ident(sender));
        }
        ctx.out.push(Action::FlushConfig);
    }
}

impl Owner {
    fn master_name(&self) -> &str {
        match self {
            Owner::Master(name) | Owner::Replica(name, _) | Owner::Sentinel(name, _) => name,
        }
    }
}

impl Peer {
    fn new(addr: Addr, runid: String, now: Millis) -> Peer {
        let mut node = Node::new(addr, ReportedRole::Master, now);
        node.runid = Some(runid.clone());
        Peer {
            node,
            runid,
            master_down: false,
            last_master_down_reply: 0,
            leader: None,
            leader_epoch: 0,
            last_hello: 0,
        }
    }
}

impl Replica {
    fn new(addr: Addr, now: Millis) -> Replica {
        Replica {
            node: Node::new(addr, ReportedRole::Replica, now),
            master_host: None,
            master_port: None,
            master_link_up: false,
            priority: 100,
            repl_offset: 0,
            announced: true,
            conf_change_time: now,
            reconf: Reconf::None,
            promoted: false,
        }
    }

    fn replicates(&self, addr: &Addr) -> bool {
        self.master_port == Some(addr.port) && self.master_host.as_deref().is_some_and(|h| addr.same_host(h))
    }
}

impl Master {
    fn restore(saved: &PersistedMaster, now: Millis) -> Master {
        let mut master = Master {
            name: saved.name.clone(),
            node: Node::new(saved.addr.clone(), ReportedRole::Master, now),
            quorum: saved.quorum,
            down_after: saved.down_after_ms,
            failover_timeout: saved.failover_timeout_ms,
            parallel_syncs: saved.parallel_syncs,
            reboot_down_after: saved.master_reboot_down_after_ms,
            rebooted: false,
            reboot_since: 0,
            config_epoch: saved.config_epoch,
            leader: None,
            leader_epoch: saved.leader_epoch,
            o_down: false,
            o_down_since: 0,
            failover: FailoverState::None,
            failover_epoch: 0,
            failover_start: None,
            failover_began: 0,
            election_deadline: 0,
            failover_state_change: 0,
            forced: false,
            promoted: None,
            replicas: BTreeMap::new(),
            sentinels: BTreeMap::new(),
        };
        for addr in &saved.known_replicas {
            master.replicas.insert(addr.clone(), Replica::new(addr.clone(), now));
        }
        for (addr, runid) in &saved.known_sentinels {
            master.sentinels.insert(addr.clone(), Peer::new(addr.clone(), runid.clone(), now));
        }
        master
    }

    fn persisted(&self) -> PersistedMaster {
        // Once the promoted replica accepted its role, the configuration on disk already
        // names it as the master and the old master as a replica.
        let current = self.current_addr().clone();
        let known_replicas = self
            .replicas
            .keys()
            .map(|addr| if *addr == current { self.node.addr.clone() } else { addr.clone() })
            .collect();
        PersistedMaster {
            name: self.name.clone(),
            addr: current,
            quorum: self.quorum,
            down_after_ms: self.down_after,
            failover_timeout_ms: self.failover_timeout,
            parallel_syncs: self.parallel_syncs,
            master_reboot_down_after_ms: self.reboot_down_after,
            config_epoch: self.config_epoch,
            leader_epoch: self.leader_epoch,
            known_replicas,
            known_sentinels: self.sentinels.values().map(|p| (p.node.addr.clone(), p.runid.clone())).collect(),
        }
    }

    fn current_addr(&self) -> &Addr {
        match &self.promoted {
            Some(promoted) if self.failover >= FailoverState::ReconfSlaves => promoted,
            _ => &self.node.addr,
        }
    }

    fn node_mut(&mut self, owner: &Owner) -> Option<&mut Node> {
        match owner {
            Owner::Master(_) => Some(&mut self.node),
            Owner::Replica(_, addr) => self.replicas.get_mut(addr).map(|r| &mut r.node),
            Owner::Sentinel(_, addr) => self.sentinels.get_mut(addr).map(|p| &mut p.node),
        }
    }

    /// `master <name> <ip> <port>`, how events name the master.
    fn ident(&self) -> String {
        format!("master {} {} {}", self.name, self.node.addr.host, self.node.addr.port)
    }

    fn suffix(&self) -> String {
        format!("@ {} {} {}", self.name, self.node.addr.host, self.node.addr.port)
    }

    fn replica_ident(&self, addr: &Addr) -> String {
        format!("slave {}:{} {} {} {}", addr.host, addr.port, addr.host, addr.port, self.suffix())
    }

    fn peer_ident(&self, addr: &Addr) -> String {
        let runid = self.sentinels.get(addr).map(|p| p.runid.as_str()).unwrap_or("");
        format!("sentinel {} {} {} {}", runid, addr.host, addr.port, self.suffix())
    }

    /// Removes the sentinels matching `which`, closing their links; true if any was removed.
    fn remove_sentinels(&mut self, ctx: &mut Ctx, which: impl Fn(&Peer) -> bool) -> bool {
        let gone: Vec<Addr> = self.sentinels.iter().filter(|(_, p)| which(p)).map(|(a, _)| a.clone()).collect();
        for addr in &gone {
            let mut peer = self.sentinels.remove(addr).expect("collected above");
            ctx.close(&mut peer.node.link);
        }
        !gone.is_empty()
    }

    /// Closes the master's links, forgets its replicas (and, with `sentinels`, its
    /// sentinels) and its down and failover state, and monitors `addr` from scratch; a
    /// failover may start at once.
    fn forget(&mut self, ctx: &mut Ctx, addr: Addr, sentinels: bool) {
        ctx.close(&mut self.node.link);
        for (_, mut replica) in std::mem::take(&mut self.replicas) {
            ctx.close(&mut replica.node.link);
        }
        if sentinels {
            for (_, mut peer) in std::mem::take(&mut self.sentinels) {
                ctx.close(&mut peer.node.link);
            }
        }
        self.node = Node::new(addr, ReportedRole::Master, ctx.now);
        self.o_down = false;
        self.o_down_since = 0;
        self.rebooted = false;
        self.leader = None;
        self.failover = FailoverState::None;
        self.failover_state_change = 0;
        self.failover_start = None;
        self.forced = false;
        self.promoted = None;
    }

    fn looks_sane(&self, ctx: &Ctx) -> bool {
        self.node.role_reported == ReportedRole::Master
            && !self.node.s_down
            && !self.o_down
            && self.node.info_refresh.is_some_and(|t| ctx.now.saturating_sub(t) < ctx.timing.info_period_ms * 2)
    }
}

impl Ctx {
    fn begin(&mut self, now: Millis, entropy: u64) {
        debug_assert!(self.out.is_empty(), "actions of an earlier input were not taken");
        self.now = now;
        self.entropy = entropy;
    }

    fn finish(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    /// The next pseudo-random number derived from the input's entropy.
    fn random(&mut self) -> u64 {
        splitmix64(&mut self.entropy)
    }

    fn desync(&mut self) -> Millis {
        let max = self.timing.max_desync_ms.max(1);
        self.random() % max
    }

    fn event(&mut self, level: Level, kind: &'static str, master: Option<&str>, text: String) {
        self.out.push(Action::Event(Event { level, kind, text, master: master.map(str::to_string) }));
    }

    fn send(&mut self, link: &mut Link, command: Command) -> bool {
        match link.id {
            Some(id) if link.connected => {
                link.pending += 1;
                self.out.push(Action::Send(id, command));
                true
            }
            _ => false,
        }
    }

    /// Sends REPLICAOF (`None`: NO ONE) and asks for INFO right behind it: the reply shows
    /// the new role and master at once, where redis-sentinel waits for the next INFO period
    /// (up to a second during a failover, on average half the time a client cannot write
    /// after a promotion).
    fn send_replicaof(&mut self, link: &mut Link, target: Option<Addr>) -> bool {
        if !self.send(link, Command::ReplicaOf(target)) {
            return false;
        }
        self.send(link, Command::Info);
        true
    }

    fn close(&mut self, link: &mut Link) {
        if let Some(id) = link.id.take() {
            self.links.remove(&id);
            self.out.push(Action::Close(id));
        }
        link.connected = false;
        link.pending = 0;
    }

    fn send_ping(&mut self, node: &mut Node) {
        if self.send(&mut node.link, Command::Ping) {
            node.link.last_ping = Some(self.now);
            if node.link.act_ping.is_none() {
                node.link.act_ping = Some(self.now);
            }
        }
    }

    /// Handles a PING reply; true when it was an acceptable one.
    fn ping_reply(&mut self, node: &mut Node, text: &str) -> bool {
        let acceptable = ["PONG", "LOADING", "MASTERDOWN"].iter().any(|p| text.starts_with(p));
        if acceptable {
            node.link.last_avail = self.now;
            node.link.act_ping = None;
        } else if text.starts_with("BUSY") && node.s_down && !node.script_kill_sent {
            self.send(&mut node.link, Command::ScriptKill);
            node.script_kill_sent = true;
        }
        node.link.last_pong = self.now;
        acceptable
    }

    /// The timer's work for one master, its replicas and its sentinels, in redis-sentinel's
    /// order.
    fn handle_master(&mut self, master: &mut Master) {
        let hello = self.hello(master);
        let down_after = master.down_after;
        let name = master.name.clone();
        self.reconnect(&mut master.node, || Owner::Master(name.clone()), true);
        // A fenced node is watched every second, so that its fence is lifted (or it is
        // converted) soon after it settled.
        let master_info_period = if master.node.fenced_since.is_some() { 1000 } else { self.timing.info_period_ms };
        self.periodic(&mut master.node, Some(master_info_period), down_after, &hello);
        if self.acting() {
            let now = self.now;
            let node = &master.node;
            let role_mismatch = node.role_reported == ReportedRole::Replica
                && now.saturating_sub(node.role_reported_time) > down_after + self.timing.info_period_ms * 2;
            let reboot_down = master.rebooted && now.saturating_sub(master.reboot_since) > master.reboot_down_after;
            let ident = |node: &Node| format!("master {} {} {}", name, node.addr.host, node.addr.port);
            self.check_subjectively_down(
                &name,
                ident,
                &mut master.node,
                down_after,
                role_mismatch || reboot_down,
                true,
            );
            self.check_objectively_down(master);
            if self.start_failover_if_needed(master) {
                self.ask_other_sentinels(master, true);
            }
            // A state that can move on at once does so in the same tick (redis-sentinel
            // takes one state per tick: a promotion started three ticks after the election).
            loop {
                let state = master.failover;
                self.failover_step(master);
                if master.failover == state {
                    break;
                }
            }
            self.ask_other_sentinels(master, false);
        }
        let fast_info = master.o_down || master.failover != FailoverState::None;
        let suffix = |node: &Node, kind: &str, id: &str| {
            let (a, m) = (&node.addr, &master.node.addr);
            format!("{kind} {id} {} {} @ {name} {} {}", a.host, a.port, m.host, m.port)
        };
        for (addr, replica) in master.replicas.iter_mut() {
            self.reconnect(&mut replica.node, || Owner::Replica(name.clone(), addr.clone()), true);
            // Replicas of a failing master are watched every second.
            let fast = fast_info || replica.node.master_link_down_ms != 0 || replica.node.fenced_since.is_some();
            let info_period = if fast { 1000 } else { self.timing.info_period_ms };
            self.periodic(&mut replica.node, Some(info_period), down_after, &hello);
            if self.acting() {
                let ident = |node: &Node| suffix(node, "slave", &node.addr.to_string());
                self.check_subjectively_down(&name, ident, &mut replica.node, down_after, false, true);
            }
        }
        for (addr, peer) in master.sentinels.iter_mut() {
            self.reconnect(&mut peer.node, || Owner::Sentinel(name.clone(), addr.clone()), false);
            self.periodic(&mut peer.node, None, down_after, &hello);
            if self.acting() {
                let ident = |node: &Node| suffix(node, "sentinel", node.runid.as_deref().unwrap_or(""));
                self.check_subjectively_down(&name, ident, &mut peer.node, down_after, false, false);
            }
        }
    }

    /// Whether the acting half runs: not in TILT, or TILT just ended.
    fn acting(&mut self) -> bool {
        if !self.tilt {
            return true;
        }
        if self.now.saturating_sub(self.tilt_since) < self.timing.tilt_period_ms {
            return false;
        }
        self.tilt = false;
        self.event(Level::Warning, "-tilt", None, "#tilt mode exited".into());
        true
    }

    fn reconnect(&mut self, node: &mut Node, owner: impl FnOnce() -> Owner, pubsub: bool) {
        if node.link.id.is_some() {
            return;
        }
        if node.link.last_reconnect.is_some_and(|t| self.now.saturating_sub(t) < self.timing.ping_period_ms) {
            return;
        }
        node.link.last_reconnect = Some(self.now);
        // The link counts from the moment it is opened, and its first PING is as good as
        // sent (it goes out as soon as the link is up): a connect that hangs is then
        // closed and retried like a link that stopped answering.
        node.link.connected_at = self.now;
        node.link.last_ping = Some(self.now);
        node.link.act_ping.get_or_insert(self.now);
        let id = LinkId(self.next_link);
        self.next_link += 1;
        node.link.id = Some(id);
        self.links.insert(id, owner());
        self.out.push(Action::Connect { link: id, addr: node.addr.clone(), subscribe: pubsub });
    }

    /// PING, INFO (every `info_period`, data nodes only) and hello on one link.
    fn periodic(&mut self, node: &mut Node, info_period: Option<Millis>, down_after: Millis, hello: &Hello) {
        if !node.link.connected || node.link.pending >= self.timing.max_pending_commands {
            return;
        }
        if let Some(period) = info_period {
            if node.info_refresh.is_none_or(|t| self.now.saturating_sub(t) > period) {
                self.send(&mut node.link, Command::Info);
            }
        }
        let ping_period = down_after.min(self.timing.ping_period_ms);
        let since_pong = self.now.saturating_sub(node.link.last_pong);
        let since_ping = node.link.last_ping.map_or(Millis::MAX, |t| self.now.saturating_sub(t));
        if since_pong > ping_period && since_ping > ping_period / 2 {
            self.send_ping(node);
        }
        if self.now.saturating_sub(node.last_pub) > self.timing.publish_period_ms {
            self.send(&mut node.link, Command::Hello(hello.clone()));
        }
    }

    fn hello(&self, master: &Master) -> Hello {
        Hello {
            ip: self.announce_ip.clone(),
            port: self.port,
            runid: self.myid.clone(),
            current_epoch: self.current_epoch,
            master_name: master.name.clone(),
            master_addr: master.current_addr().clone(),
            master_config_epoch: master.config_epoch,
        }
    }

    /// SDOWN: no acceptable reply for `down_after`, or `other_reason` (a master reporting
    /// itself a replica for long enough, a rebooted master not answering PONG for its reboot
    /// period). Links that look stuck are closed first, so that they are reopened.
    fn check_subjectively_down(
        &mut self,
        master_name: &str,
        ident: impl Fn(&Node) -> String,
        node: &mut Node,
        down_after: Millis,
        other_reason: bool,
        subscribed: bool,
    ) {
        let now = self.now;
        let elapsed = match node.link.act_ping {
            Some(t) => now.saturating_sub(t),
            None if !node.link.connected => now.saturating_sub(node.link.last_avail),
            None => 0,
        };
        let link = &node.link;
        let settled =
            link.id.is_some() && now.saturating_sub(link.connected_at) > self.timing.min_link_reconnect_period_ms;
        let stuck = settled
            && link.act_ping.is_some_and(|t| now.saturating_sub(t) > down_after / 2)
            && now.saturating_sub(link.last_pong) > down_after / 2;
        let silent =
            settled && subscribed && now.saturating_sub(link.last_pubsub_activity) > self.timing.publish_period_ms * 3;
        if stuck || silent {
            self.close(&mut node.link);
        }
        if elapsed > down_after || other_reason {
            if !node.s_down {
                self.event(Level::Warning, "+sdown", Some(master_name), ident(node));
                node.s_down_since = now;
                node.s_down = true;
            }
        } else if node.s_down {
            self.event(Level::Warning, "-sdown", Some(master_name), ident(node));
            node.s_down = false;
            node.script_kill_sent = false;
        }
    }

    fn check_objectively_down(&mut self, master: &mut Master) {
        let mut votes = 0;
        if master.node.s_down {
            votes = 1 + master.sentinels.values().filter(|p| p.master_down).count() as u32;
        }
        let odown = master.node.s_down && votes >= master.quorum;
        if odown && !master.o_down {
            let text = format!("{} #quorum {}/{}", master.ident(), votes, master.quorum);
            self.event(Level::Warning, "+odown", Some(&master.name), text);
            master.o_down = true;
            master.o_down_since = self.now;
        } else if !odown && master.o_down {
            self.event(Level::Warning, "-odown", Some(&master.name), master.ident());
            master.o_down = false;
        }
    }

    /// Asks the other sentinels whether the master is down and, during a failover, for
    /// their vote. Answers older than five ask periods are forgotten first.
    fn ask_other_sentinels(&mut self, master: &mut Master, forced: bool) {
        let ask = self.timing.ask_period_ms;
        // Votes are asked for the failover's own epoch (redis-sentinel sends its current
        // epoch, which can be newer): a vote in a later epoch must not count for this one.
        let (epoch, runid) = if master.failover != FailoverState::None {
            (master.failover_epoch, Some(self.myid.clone()))
        } else {
            (self.current_epoch, None)
        };
        let addr = master.node.addr.clone();
        for peer in master.sentinels.values_mut() {
            let elapsed = self.now.saturating_sub(peer.last_master_down_reply);
            if elapsed > ask * 5 {
                peer.master_down = false;
                peer.leader = None;
            }
            if !master.node.s_down || !peer.node.link.connected {
                continue;
            }
            // A peer that answered "not down" is asked again soon, unless a question is
            // still on its way.
            let confirmed_or_waiting = peer.master_down || peer.node.link.pending > 0;
            let period = if confirmed_or_waiting { ask } else { self.timing.ask_retry_ms };
            if !forced && elapsed < period {
                continue;
            }
            let command = Command::IsMasterDownByAddr { addr: addr.clone(), epoch, runid: runid.clone() };
            self.send(&mut peer.node.link, command);
        }
    }

    /// Grants this sentinel's vote for `req_epoch` to `candidate` unless it already voted
    /// in that epoch or a later one; returns the vote held and its epoch.
    fn vote_leader(&mut self, master: &mut Master, req_epoch: u64, candidate: &str) -> (Option<String>, u64) {
        if req_epoch > self.current_epoch {
            self.current_epoch = req_epoch;
            self.out.push(Action::FlushConfig);
            self.event(Level::Warning, "+new-epoch", Some(&master.name), self.current_epoch.to_string());
        }
        if master.leader_epoch < req_epoch && self.current_epoch <= req_epoch {
            master.leader = Some(candidate.to_string());
            master.leader_epoch = self.current_epoch;
            self.out.push(Action::FlushConfig);
            let text = format!("{} {}", candidate, master.leader_epoch);
            self.event(Level::Warning, "+vote-for-leader", Some(&master.name), text);
            if candidate != self.myid {
                // Voting for someone else delays our own attempt for this master.
                master.failover_start = Some(self.now + self.desync());
            }
        }
        (master.leader.clone(), master.leader_epoch)
    }

    /// The leader of `epoch` if one sentinel holds the votes of a majority of the sentinels
    /// known (this one included) and at least `quorum` of them.
    fn leader(&mut self, master: &mut Master, epoch: u64) -> Option<String> {
        let voters = master.sentinels.len() as u64 + 1;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for peer in master.sentinels.values() {
            if let Some(leader) = &peer.leader {
                if peer.leader_epoch == epoch {
                    *counts.entry(leader.clone()).or_default() += 1;
                }
            }
        }
        let most_voted = best(&counts);
        let candidate = most_voted.clone().map(|(who, _)| who).unwrap_or_else(|| self.myid.clone());
        let (my_vote, my_epoch) = self.vote_leader(master, epoch, &candidate);
        if let Some(vote) = my_vote.filter(|_| my_epoch == epoch) {
            *counts.entry(vote).or_default() += 1;
        }
        let (winner, votes) = best(&counts)?;
        (votes > voters / 2 && votes >= master.quorum as u64).then_some(winner)
    }

    fn start_failover_if_needed(&mut self, master: &mut Master) -> bool {
        if !master.o_down || master.failover != FailoverState::None {
            return false;
        }
        if master.failover_start.is_some_and(|t| self.now.saturating_sub(t) < master.failover_timeout * 2) {
            return false;
        }
        self.start_failover(master);
        true
    }

    fn start_failover(&mut self, master: &mut Master) {
        self.current_epoch += 1;
        master.failover = FailoverState::WaitStart;
        master.failover_epoch = self.current_epoch;
        self.event(Level::Warning, "+new-epoch", Some(&master.name), self.current_epoch.to_string());
        self.event(Level::Warning, "+try-failover", Some(&master.name), master.ident());
        let start = self.now + self.desync();
        master.failover_start = Some(start);
        master.failover_began = self.now;
        // Fixed now: redis-sentinel measures it from `failover_start`, which each vote for
        // another sentinel pushes back, so an election could wait indefinitely.
        master.election_deadline = start + self.timing.election_timeout_ms.min(master.failover_timeout);
        master.failover_state_change = self.now;
    }

    fn failover_step(&mut self, master: &mut Master) {
        match master.failover {
            FailoverState::WaitStart => self.failover_wait_start(master),
            FailoverState::SelectSlave => self.failover_select(master),
            FailoverState::SendSlaveofNoone => self.failover_promote(master),
            FailoverState::WaitPromotion => {
                if self.now.saturating_sub(master.failover_state_change) > master.failover_timeout {
                    self.event(Level::Warning, "-failover-abort-slave-timeout", Some(&master.name), master.ident());
                    self.abort_failover(master);
                }
            }
            FailoverState::ReconfSlaves => self.failover_reconf_next(master),
            FailoverState::None | FailoverState::UpdateConfig => {}
        }
    }

    fn set_failover_state(&mut self, master: &mut Master, state: FailoverState) {
        master.failover = state;
        master.failover_state_change = self.now;
    }

    fn failover_wait_start(&mut self, master: &mut Master) {
        let leader = self.leader(master, master.failover_epoch);
        let elected = leader.as_deref() == Some(self.myid.as_str());
        if !elected && !master.forced {
            if self.now > master.election_deadline {
                self.event(Level::Warning, "-failover-abort-not-elected", Some(&master.name), master.ident());
                self.abort_failover(master);
            }
            return;
        }
        self.event(Level::Warning, "+elected-leader", Some(&master.name), master.ident());
        self.set_failover_state(master, FailoverState::SelectSlave);
        self.event(Level::Warning, "+failover-state-select-slave", Some(&master.name), master.ident());
    }

    fn failover_select(&mut self, master: &mut Master) {
        let Some(addr) = select_replica(self, master) else {
            self.event(Level::Warning, "-failover-abort-no-good-slave", Some(&master.name), master.ident());
            self.abort_failover(master);
            return;
        };
        self.event(Level::Warning, "+selected-slave", Some(&master.name), master.replica_ident(&addr));
        master.replicas.get_mut(&addr).expect("selected from the map").promoted = true;
        master.promoted = Some(addr.clone());
        self.set_failover_state(master, FailoverState::SendSlaveofNoone);
        self.event(
            Level::Notice,
            "+failover-state-send-slaveof-noone",
            Some(&master.name),
            master.replica_ident(&addr),
        );
    }

    fn failover_promote(&mut self, master: &mut Master) {
        let addr = master.promoted.clone().expect("promoted replica chosen before this state");
        let replica = master.replicas.get_mut(&addr).expect("promoted replica is known");
        if !replica.node.link.connected {
            if self.now.saturating_sub(master.failover_state_change) > master.failover_timeout {
                self.event(Level::Warning, "-failover-abort-slave-timeout", Some(&master.name), master.ident());
                self.abort_failover(master);
            }
            return;
        }
        if !self.send_replicaof(&mut replica.node.link, None) {
            return;
        }
        self.event(Level::Notice, "+failover-state-wait-promotion", Some(&master.name), master.replica_ident(&addr));
        self.set_failover_state(master, FailoverState::WaitPromotion);
    }

    /// Sends REPLICAOF <promoted> to as many replicas as `parallel-syncs` allows, then
    /// checks whether the failover is over.
    fn failover_reconf_next(&mut self, master: &mut Master) {
        let promoted = master.promoted.clone().expect("promoted replica chosen before this state");
        // Replicas told long ago that never moved count as done (the others fix them
        // later). Checked for every replica first: redis-sentinel checks inside the loop
        // that stops at parallel-syncs, so with that many replicas stuck the check never
        // runs and the failover waits for its whole timeout.
        let timeout = self.timing.slave_reconf_timeout_ms;
        let addrs: Vec<Addr> = master.replicas.keys().cloned().collect();
        for addr in &addrs {
            let replica = &master.replicas[addr];
            if matches!(replica.reconf, Reconf::Sent(at) if self.now.saturating_sub(at) > timeout) {
                let ident = master.replica_ident(addr);
                self.event(Level::Notice, "-slave-reconf-sent-timeout", Some(&master.name), ident);
                master.replicas.get_mut(addr).expect("key taken from the map").reconf = Reconf::Done;
            }
        }
        let mut in_progress =
            master.replicas.values().filter(|r| matches!(r.reconf, Reconf::Sent(_) | Reconf::InProgress)).count()
                as u32;
        for addr in addrs {
            if in_progress >= master.parallel_syncs {
                break;
            }
            let ident = master.replica_ident(&addr);
            let replica = master.replicas.get_mut(&addr).expect("key taken from the map");
            let waiting = !replica.promoted && replica.reconf == Reconf::None;
            if !waiting || !replica.node.link.connected {
                continue;
            }
            if self.send_replicaof(&mut replica.node.link, Some(promoted.clone())) {
                replica.reconf = Reconf::Sent(self.now);
                self.event(Level::Notice, "+slave-reconf-sent", Some(&master.name), ident);
                in_progress += 1;
            }
        }
        self.failover_detect_end(master, &promoted);
    }

    /// The failover ends when every reachable replica is reconfigured, or at its timeout.
    /// Unlike redis-sentinel, the timeout applies even while the promoted replica is down
    /// (redis-sentinel waits for it indefinitely); a down new master then fails over again.
    fn failover_detect_end(&mut self, master: &mut Master, promoted: &Addr) {
        let timed_out = self.now.saturating_sub(master.failover_state_change) > master.failover_timeout;
        let promoted_down = master.replicas.get(promoted).is_none_or(|r| r.node.s_down);
        if promoted_down && !timed_out {
            return;
        }
        let pending =
            master.replicas.values().filter(|r| !r.promoted && r.reconf != Reconf::Done && !r.node.s_down).count();
        if timed_out {
            self.event(Level::Warning, "+failover-end-for-timeout", Some(&master.name), master.ident());
        }
        if pending == 0 || timed_out {
            self.event(Level::Warning, "+failover-end", Some(&master.name), master.ident());
            self.set_failover_state(master, FailoverState::UpdateConfig);
        }
        if timed_out {
            // Best effort: tell the replicas not yet told where the new master is.
            let addrs: Vec<Addr> = master.replicas.keys().cloned().collect();
            for addr in addrs {
                let ident = master.replica_ident(&addr);
                let replica = master.replicas.get_mut(&addr).expect("key taken from the map");
                if replica.promoted || matches!(replica.reconf, Reconf::Done | Reconf::Sent(_)) {
                    continue;
                }
                if self.send_replicaof(&mut replica.node.link, Some(promoted.clone())) {
                    replica.reconf = Reconf::Sent(self.now);
                    self.event(Level::Notice, "+slave-reconf-sent-be", Some(&master.name), ident);
                }
            }
        }
    }

    fn abort_failover(&mut self, master: &mut Master) {
        debug_assert!(master.failover != FailoverState::None && master.failover <= FailoverState::WaitPromotion);
        master.failover = FailoverState::None;
        master.failover_state_change = self.now;
        master.forced = false;
        if let Some(addr) = master.promoted.take() {
            if let Some(replica) = master.replicas.get_mut(&addr) {
                replica.promoted = false;
            }
        }
    }

    fn switch_to_promoted(&mut self, master: &mut Master) {
        let old = master.node.addr.clone();
        let new = master.promoted.clone().unwrap_or_else(|| old.clone());
        let text = format!("{} {} {} {} {}", master.name, old.host, old.port, new.host, new.port);
        self.event(Level::Warning, "+switch-master", Some(&master.name), text);
        self.reset_and_change_address(master, new);
    }

    /// Forgets the master's state and replicas (not its sentinels) and monitors `new`
    /// instead; the old address becomes a replica so that it is reconfigured when it returns.
    fn reset_and_change_address(&mut self, master: &mut Master, new: Addr) {
        let mut replicas: Vec<Addr> = master.replicas.keys().filter(|a| **a != new).cloned().collect();
        if master.node.addr != new {
            replicas.push(master.node.addr.clone());
        }
        master.forget(self, new, false);
        let now = self.now;
        for addr in replicas {
            master.replicas.insert(addr.clone(), Replica::new(addr.clone(), now));
            self.event(Level::Notice, "+slave", Some(&master.name), master.replica_ident(&addr));
        }
        self.out.push(Action::FlushConfig);
    }

    fn master_info(&mut self, master: &mut Master, report: &InfoReport) {
        self.refresh_common(&mut master.node, report);
        if report.run_id.is_some() && master.node.runid.as_deref() != report.run_id.as_deref() {
            let rebooted = master.node.runid.is_some();
            master.node.runid = report.run_id.clone();
            if rebooted {
                self.event(Level::Notice, "+reboot", Some(&master.name), master.ident());
                if master.reboot_down_after != 0 {
                    master.rebooted = true;
                    master.reboot_since = self.now;
                }
            }
        }
        for addr in &report.replicas {
            if !master.replicas.contains_key(addr) {
                master.replicas.insert(addr.clone(), Replica::new(addr.clone(), self.now));
                self.event(Level::Notice, "+slave", Some(&master.name), master.replica_ident(addr));
                self.out.push(Action::FlushConfig);
            }
        }
        let role = report.role.unwrap_or(master.node.role_reported);
        let ident = master.ident();
        self.role_change(&master.name, &mut master.node, role, true, &ident);
        // A master that reports itself a replica is left alone: it looks down to us, and a
        // failover follows.
        if role == ReportedRole::Master
            && report.fenced
            && !self.tilt
            && master.failover == FailoverState::None
            && !master.o_down
            && self.fence_settled(&master.node)
        {
            // The node this sentinel names master restarted fenced: confirm it.
            if self.send(&mut master.node.link, Command::Unfence) {
                self.event(Level::Notice, "+unfence", Some(&master.name), ident);
            }
        }
    }

    /// A fence seen for a hello period: long enough for the hellos of the other sentinels,
    /// published through the fenced node, to bring a newer configuration that names another
    /// master (this sentinel may have been cut off while a failover happened).
    fn fence_settled(&self, node: &Node) -> bool {
        node.fenced_since.is_some_and(|since| self.now.saturating_sub(since) >= self.timing.publish_period_ms)
    }

    /// A node known as a replica reports itself a fenced master: it restarted with the role
    /// its config file gave it and has taken no write since, so it is sent to the master at
    /// once (once the fence settled) instead of after the wait for a master that may have
    /// taken writes.
    fn convert_fenced(&mut self, master: &mut Master, addr: &Addr) {
        let replica = &master.replicas[addr];
        if !master.looks_sane(self) || !self.fence_settled(&replica.node) {
            return;
        }
        let target = master.node.addr.clone();
        let ident = master.replica_ident(addr);
        let replica = master.replicas.get_mut(addr).expect("caller's key");
        if self.send_replicaof(&mut replica.node.link, Some(target)) {
            self.event(Level::Notice, "+convert-to-slave", Some(&master.name), ident);
        }
    }

    fn replica_info(&mut self, master: &mut Master, addr: &Addr, report: &InfoReport) {
        let now = self.now;
        let ident = master.replica_ident(addr);
        let replica = master.replicas.get_mut(addr).expect("caller checked the link's owner");
        self.refresh_common(&mut replica.node, report);
        if report.run_id.is_some() && replica.node.runid.as_deref() != report.run_id.as_deref() {
            if replica.node.runid.is_some() {
                self.event(Level::Notice, "+reboot", Some(&master.name), ident.clone());
            }
            replica.node.runid = report.run_id.clone();
        }
        if report.role == Some(ReportedRole::Replica) {
            if let Some(host) = &report.master_host {
                if replica.master_host.as_deref().is_none_or(|h| !h.eq_ignore_ascii_case(host)) {
                    replica.master_host = Some(host.clone());
                    replica.conf_change_time = now;
                }
            }
            if report.master_port.is_some() && report.master_port != replica.master_port {
                replica.master_port = report.master_port;
                replica.conf_change_time = now;
            }
            replica.master_link_up = report.master_link_up;
            replica.priority = report.priority.unwrap_or(replica.priority);
            replica.repl_offset = report.repl_offset.unwrap_or(replica.repl_offset);
            replica.announced = report.announced.unwrap_or(replica.announced);
        }
        let role = report.role.unwrap_or(replica.node.role_reported);
        if self.role_change(&master.name, &mut replica.node, role, false, &ident) {
            replica.conf_change_time = now;
        }
        if self.tilt {
            return;
        }
        match role {
            // (A promoted replica that restarted fenced is still the promotion we asked for.)
            ReportedRole::Master if report.fenced && !master.replicas[addr].promoted => {
                self.convert_fenced(master, addr)
            }
            ReportedRole::Master => self.replica_became_master(master, addr),
            ReportedRole::Replica => self.replica_follows(master, addr),
        }
    }

    /// What every data node's INFO sets, and when it was read.
    fn refresh_common(&mut self, node: &mut Node, report: &InfoReport) {
        node.master_link_down_ms = report.master_link_down_ms;
        node.info_refresh = Some(self.now);
        node.fenced_since = if report.fenced { Some(node.fenced_since.unwrap_or(self.now)) } else { None };
    }

    /// Records the reported role; true when it changed to replica.
    fn role_change(
        &mut self,
        master_name: &str,
        node: &mut Node,
        role: ReportedRole,
        is_master: bool,
        ident: &str,
    ) -> bool {
        if role == node.role_reported {
            return false;
        }
        node.role_reported = role;
        node.role_reported_time = self.now;
        let expected = if is_master { ReportedRole::Master } else { ReportedRole::Replica };
        let kind = if role == expected { "+role-change" } else { "-role-change" };
        let name = if role == ReportedRole::Master { "master" } else { "slave" };
        self.event(Level::Verbose, kind, Some(master_name), format!("{ident} new reported role is {name}"));
        role == ReportedRole::Replica
    }

    /// A replica reports itself a master: the promotion we asked for, or something to undo.
    fn replica_became_master(&mut self, master: &mut Master, addr: &Addr) {
        let now = self.now;
        let replica = &master.replicas[addr];
        if replica.promoted && master.failover == FailoverState::WaitPromotion {
            master.config_epoch = master.failover_epoch;
            self.set_failover_state(master, FailoverState::ReconfSlaves);
            self.out.push(Action::FlushConfig);
            self.event(Level::Warning, "+promoted-slave", Some(&master.name), master.replica_ident(addr));
            self.event(Level::Warning, "+failover-state-reconf-slaves", Some(&master.name), master.ident());
            self.out.push(Action::ClientReconfig {
                master: master.name.clone(),
                role: ReconfigRole::Leader,
                state: "start",
                from: master.node.addr.clone(),
                to: addr.clone(),
            });
            force_hello(master, self.timing.publish_period_ms);
            return;
        }
        let wait = self.timing.publish_period_ms * 4;
        if !replica.promoted
            && master.looks_sane(self)
            && replica.node.no_down_for(0, wait, now)
            && now.saturating_sub(replica.node.role_reported_time) > wait
        {
            let target = master.node.addr.clone();
            let ident = master.replica_ident(addr);
            let replica = master.replicas.get_mut(addr).expect("caller's key");
            if self.send_replicaof(&mut replica.node.link, Some(target)) {
                self.event(Level::Notice, "+convert-to-slave", Some(&master.name), ident);
            }
        }
    }

    /// A replica reports itself a replica: fix where it replicates from, and follow its
    /// reconfiguration during a failover.
    fn replica_follows(&mut self, master: &mut Master, addr: &Addr) {
        let now = self.now;
        let replica = &master.replicas[addr];
        let wait = master.failover_timeout;
        if !replica.replicates(&master.node.addr)
            && master.looks_sane(self)
            && replica.node.no_down_for(0, wait, now)
            && now.saturating_sub(replica.conf_change_time) > wait
        {
            let target = master.node.addr.clone();
            let ident = master.replica_ident(addr);
            let replica = master.replicas.get_mut(addr).expect("caller's key");
            if self.send_replicaof(&mut replica.node.link, Some(target)) {
                self.event(Level::Notice, "+fix-slave-config", Some(&master.name), ident);
            }
        }
        let Some(promoted) = master.promoted.clone() else { return };
        let ident = master.replica_ident(addr);
        let replica = master.replicas.get_mut(addr).expect("caller's key");
        if matches!(replica.reconf, Reconf::Sent(_)) && replica.replicates(&promoted) {
            replica.reconf = Reconf::InProgress;
            self.event(Level::Notice, "+slave-reconf-inprog", Some(&master.name), ident.clone());
        }
        if replica.reconf == Reconf::InProgress && replica.master_link_up {
            replica.reconf = Reconf::Done;
            self.event(Level::Notice, "+slave-reconf-done", Some(&master.name), ident);
        }
    }
}

/// splitmix64: a tiny generator, the same on every platform and version, for the
/// randomness derived from an input's entropy (and for drivers that need a seeded one).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Makes the next tick send hellos for this master everywhere.
fn force_hello(master: &mut Master, publish_period: Millis) {
    let rewind = |node: &mut Node| node.last_pub = node.last_pub.saturating_sub(publish_period + 1);
    rewind(&mut master.node);
    master.replicas.values_mut().for_each(|r| rewind(&mut r.node));
    master.sentinels.values_mut().for_each(|p| rewind(&mut p.node));
}

/// The most voted run id (the smallest run id among equals, so that the choice depends on
/// the votes only).
fn best(counts: &BTreeMap<String, u64>) -> Option<(String, u64)> {
    let mut best: Option<(&String, u64)> = None;
    for (who, &votes) in counts {
        if best.is_none_or(|(_, most)| votes > most) {
            best = Some((who, votes));
        }
    }
    best.map(|(who, votes)| (who.clone(), votes))
}

/// The replica to promote: among those reachable, recently heard from, not too long cut
/// off from the master, with a non-zero priority, the lowest priority, then the largest
/// replication offset, then the smallest run id (a missing run id sorts last).
fn select_replica(ctx: &Ctx, master: &Master) -> Option<Addr> {
    let now = ctx.now;
    let t = &ctx.timing;
    let mut max_link_down = master.down_after * 10;
    if master.node.s_down {
        max_link_down += now.saturating_sub(master.node.s_down_since);
    }
    let info_validity = if master.node.s_down { t.ping_period_ms * 5 } else { t.info_period_ms * 3 };
    master
        .replicas
        .iter()
        .filter(|(_, r)| {
            !r.node.s_down
                && r.node.link.connected
                && now.saturating_sub(r.node.link.last_avail) <= t.ping_period_ms * 5
                && r.priority != 0
                && r.node.info_refresh.is_some_and(|i| now.saturating_sub(i) <= info_validity)
                && r.node.master_link_down_ms <= max_link_down as i64
        })
        .min_by(|(_, a), (_, b)| {
            a.priority.cmp(&b.priority).then(b.repl_offset.cmp(&a.repl_offset)).then_with(|| {
                match (&a.node.runid, &b.node.runid) {
                    (Some(x), Some(y)) => x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase()),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
            })
        })
        .map(|(addr, _)| addr.clone())
}
