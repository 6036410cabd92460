//! The simulated world: sentinels running the real state machine, data nodes that behave
//! like redis-server as far as a sentinel can tell, and a network with delays, loss,
//! partitions and crashes, all driven by one seeded random generator and one event queue.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::hash::{Hash, Hasher};

use shoal_sentinel::{
    splitmix64, Action, Addr, Command, Event, Input, LinkId, Millis, Persisted, PersistedMaster, Reply, Sentinel,
    SentinelOptions, Timing,
};

pub const MASTER_NAME: &str = "mymaster";
const NODE_TICK_MS: Millis = 100;
const WRITES_PER_NODE_TICK: u64 = 100;

/// The run's one random generator (splitmix64, the state machine's own).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        splitmix64(&mut self.0)
    }

    /// An index below `count`.
    pub fn index(&mut self, count: usize) -> usize {
        self.range(0, count as u64 - 1) as usize
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

/// FNV-1a, so that the trace hash does not depend on std's randomly keyed hasher.
pub struct TraceHasher(u64);

impl Hasher for TraceHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // FNV-1a over 8-byte words: the trace hashes every action, so it must be cheap.
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.0 ^= u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
        for &b in chunks.remainder() {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// The knobs one run draws from its seed.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub sentinels: usize,
    pub nodes: usize,
    pub quorum: u32,
    pub down_after_ms: Millis,
    pub failover_timeout_ms: Millis,
    pub parallel_syncs: u32,
    pub min_delay_ms: Millis,
    pub max_delay_ms: Millis,
    pub loss_per_mille: u64,
    pub priorities: Vec<u32>,
}

impl Scenario {
    pub fn draw(rng: &mut Rng) -> Scenario {
        let sentinels = if rng.chance(500) { 3 } else { 5 };
        let nodes = rng.range(2, 4) as usize;
        // Replica priority 0 now and then: such a replica must never be promoted.
        let priorities = (0..nodes).map(|_| if rng.chance(100) { 0 } else { rng.range(1, 3) as u32 * 50 }).collect();
        Scenario {
            sentinels,
            nodes,
            quorum: sentinels as u32 / 2 + 1,
            down_after_ms: rng.range(1000, 5000),
            failover_timeout_ms: rng.range(3000, 15_000),
            parallel_syncs: rng.range(1, 2) as u32,
            min_delay_ms: rng.range(0, 2),
            max_delay_ms: rng.range(3, 40),
            loss_per_mille: if rng.chance(300) { rng.range(1, 20) } else { 0 },
            priorities,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    Sentinel(usize),
    Node(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Master,
    Replica(Addr),
}

pub struct DataNode {
    pub addr: Addr,
    pub up: bool,
    pub incarnation: u32,
    pub run_id: String,
    pub role: Role,
    /// The role in its config file (REPLICAOF is always followed by CONFIG REWRITE).
    pub saved_role: Role,
    pub offset: u64,
    pub link_up: bool,
    pub link_down_since: Millis,
    pub sync_done_at: Option<Millis>,
    pub priority: u32,
    /// Started as a master with `master-fence-on-restart` and not confirmed yet: takes
    /// no writes, and INFO says `master_fenced:1`.
    pub fenced: bool,
}

struct SimLink {
    target: Endpoint,
    target_incarnation: u32,
    subscribe: bool,
    up: bool,
    /// Arrival time of the last message each way, so that a link stays in order.
    last_out: Millis,
    last_in: Millis,
}

pub struct SimSentinel {
    pub addr: Addr,
    pub options: SentinelOptions,
    pub machine: Option<Sentinel>,
    pub persisted: Persisted,
    pub incarnation: u32,
    pub paused_until: Option<Millis>,
    links: BTreeMap<LinkId, SimLink>,
    last_tick: Option<Millis>,
    /// Time spent ticking normally (not paused, not in TILT) since the failover being
    /// watched began, with that failover's epoch.
    pub failover_watch: Option<(u64, Millis)>,
}

#[derive(Debug)]
enum Ev {
    Tick { s: usize, inc: u32 },
    ConnectDone { s: usize, inc: u32, link: LinkId, ok: bool },
    Command { s: usize, inc: u32, link: LinkId, command: Command },
    Reply { s: usize, inc: u32, link: LinkId, reply: Reply },
    Hello { s: usize, inc: u32, link: LinkId, payload: String },
    Broken { s: usize, inc: u32, link: LinkId },
    NodeTick,
    Resume { s: usize },
    Crash { s: usize },
    Restart { s: usize },
}

/// An event in the queue, ordered by time, then by the order it was scheduled in.
struct Queued {
    at: Millis,
    seq: u64,
    // Boxed: the heap moves entries around, and commands are large.
    event: Box<Ev>,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Queued) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Queued) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Queued) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A broken safety property, with the time it was seen.
#[derive(Debug)]
pub struct Violation(pub String);

pub struct World {
    pub now: Millis,
    pub rng: Rng,
    pub scenario: Scenario,
    pub sentinels: Vec<SimSentinel>,
    pub nodes: Vec<DataNode>,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    /// Partition group of each endpoint; different groups cannot talk.
    groups: BTreeMap<Endpoint, u8>,
    pub loss_per_mille: u64,
    pub trace: TraceHasher,
    pub leaders: BTreeMap<u64, String>,
    pub promotions: BTreeMap<u64, Addr>,
    /// The master each configuration epoch names, as any sentinel reported it.
    configs: BTreeMap<u64, Addr>,
    pub violations: Vec<Violation>,
    pub events_processed: u64,
    /// How many times each sentinel event was published, over all sentinels.
    pub event_counts: BTreeMap<&'static str, u64>,
    /// During the chaos phase, faults are also aimed at the moments that matter (a
    /// sentinel crashing right after it voted).
    pub chaos: bool,
    /// `SENTINEL_SIM_TRACE=1`: print every sentinel event and fault.
    tracing: bool,
    /// The data nodes run with `master-fence-on-restart` (odd seeds; decided without
    /// drawing from the generator, so even seeds run as they did before fencing existed).
    pub fencing: bool,
}

impl World {
    pub fn new(seed: u64) -> World {
        let mut rng = Rng::new(seed);
        let scenario = Scenario::draw(&mut rng);
        let timing = Timing::default();
        let nodes: Vec<DataNode> = (0..scenario.nodes)
            .map(|i| {
                let role = if i == 0 { Role::Master } else { Role::Replica(node_addr(0)) };
                DataNode {
                    addr: node_addr(i),
                    up: true,
                    incarnation: 0,
                    run_id: run_id(&mut rng),
                    role: role.clone(),
                    saved_role: role,
                    offset: 0,
                    link_up: false,
                    link_down_since: 0,
                    sync_done_at: None,
                    priority: scenario.priorities[i],
                    fenced: false,
                }
            })
            .collect();
        let mut master = PersistedMaster::new(MASTER_NAME, node_addr(0), scenario.quorum, &timing);
        master.down_after_ms = scenario.down_after_ms;
        master.failover_timeout_ms = scenario.failover_timeout_ms;
        master.parallel_syncs = scenario.parallel_syncs;
        let sentinels = (0..scenario.sentinels)
            .map(|i| {
                let options = SentinelOptions {
                    myid: format!("{:040x}", 0x5e17_0000 + i as u64),
                    port: 26379,
                    announce_ip: None,
                    timing: timing.clone(),
                };
                let persisted =
                    Persisted { myid: options.myid.clone(), current_epoch: 0, masters: vec![master.clone()] };
                SimSentinel {
                    addr: Addr::new(format!("10.0.1.{}", i + 1), 26379),
                    machine: Some(Sentinel::restore(options.clone(), &persisted, 0)),
                    options,
                    persisted,
                    incarnation: 0,
                    paused_until: None,
                    links: BTreeMap::new(),
                    last_tick: None,
                    failover_watch: None,
                }
            })
            .collect();
        let mut world = World {
            now: 0,
            loss_per_mille: scenario.loss_per_mille,
            rng,
            scenario,
            sentinels,
            nodes,
            queue: BinaryHeap::new(),
            seq: 0,
            groups: BTreeMap::new(),
            trace: TraceHasher(0xcbf2_9ce4_8422_2325),
            leaders: BTreeMap::new(),
            promotions: BTreeMap::new(),
            configs: BTreeMap::from([(0, node_addr(0))]),
            violations: Vec::new(),
            events_processed: 0,
            event_counts: BTreeMap::new(),
            chaos: false,
            tracing: std::env::var_os("SENTINEL_SIM_TRACE").is_some(),
            fencing: seed % 2 == 1,
        };
        for s in 0..world.sentinels.len() {
            let at = world.rng.range(0, 100);
            world.schedule(at, Ev::Tick { s, inc: 0 });
        }
        world.schedule(NODE_TICK_MS, Ev::NodeTick);
        world
    }

    /// Runs every event up to `until`.
    pub fn run_until(&mut self, until: Millis) {
        while self.queue.peek().is_some_and(|next| next.0.at <= until) {
            let Reverse(next) = self.queue.pop().expect("peeked");
            self.now = next.at;
            self.events_processed += 1;
            self.process(*next.event);
        }
        self.now = until;
    }

    fn schedule(&mut self, at: Millis, event: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued { at, seq: self.seq, event: Box::new(event) }));
    }

    fn delay(&mut self) -> Millis {
        let (low, high) = (self.scenario.min_delay_ms, self.scenario.max_delay_ms);
        // Now and then a message is much slower than the rest.
        if self.rng.chance(5) {
            self.rng.range(high, high * 10)
        } else {
            self.rng.range(low, high)
        }
    }

    pub fn cut(&self, a: Endpoint, b: Endpoint) -> bool {
        self.groups.get(&a).copied().unwrap_or(0) != self.groups.get(&b).copied().unwrap_or(0)
    }

    pub fn set_group(&mut self, endpoint: Endpoint, group: u8) {
        self.note(("partition", endpoint, group));
        self.groups.insert(endpoint, group);
    }

    pub fn heal(&mut self) {
        self.note("heal partitions");
        self.groups.clear();
    }

    fn note(&mut self, what: impl Hash + std::fmt::Debug) {
        if self.tracing {
            eprintln!("{:>7} {:?}", self.now, what);
        }
        self.now.hash(&mut self.trace);
        what.hash(&mut self.trace);
    }

    fn process(&mut self, event: Ev) {
        if let Some(s) = event_sentinel(&event) {
            if let Some(until) = self.sentinels[s].paused_until {
                // A frozen process reads nothing; the kernel keeps what arrives, in order.
                self.reschedule(until, event);
                return;
            }
        }
        match event {
            Ev::Tick { s, inc } => self.tick(s, inc),
            Ev::ConnectDone { s, inc, link, ok } => {
                if self.live_link(s, inc, link) {
                    let input = if ok { Input::Connected(link) } else { Input::Disconnected(link) };
                    if ok {
                        self.sentinels[s].links.get_mut(&link).expect("live").up = true;
                    } else {
                        self.sentinels[s].links.remove(&link);
                    }
                    self.feed(s, input);
                }
            }
            Ev::Command { s, inc, link, command } => self.deliver_command(s, inc, link, command),
            Ev::Reply { s, inc, link, reply } => {
                if self.live_link(s, inc, link) {
                    self.feed(s, Input::Reply(link, reply));
                }
            }
            Ev::Hello { s, inc, link, payload } => {
                if self.live_link(s, inc, link) {
                    self.feed(s, Input::Hello(link, payload));
                }
            }
            Ev::Broken { s, inc, link } => {
                if self.live_link(s, inc, link) {
                    self.sentinels[s].links.remove(&link);
                    self.feed(s, Input::Disconnected(link));
                }
            }
            Ev::NodeTick => {
                self.node_tick();
                self.schedule(self.now + NODE_TICK_MS, Ev::NodeTick);
            }
            Ev::Resume { s } => {
                self.sentinels[s].paused_until = None;
            }
            Ev::Crash { s } => self.crash_sentinel(s),
            Ev::Restart { s } => self.restart_sentinel(s),
        }
    }

    fn reschedule(&mut self, at: Millis, event: Ev) {
        self.schedule(at, event);
    }

    fn live_link(&self, s: usize, inc: u32, link: LinkId) -> bool {
        let sentinel = &self.sentinels[s];
        sentinel.machine.is_some() && sentinel.incarnation == inc && sentinel.links.contains_key(&link)
    }

    fn tick(&mut self, s: usize, inc: u32) {
        if self.sentinels[s].incarnation != inc || self.sentinels[s].machine.is_none() {
            return;
        }
        self.feed(s, Input::Tick);
        self.watch_failover(s);
        let next = self.now + Sentinel::tick_interval_ms(self.rng.next());
        self.schedule(next, Ev::Tick { s, inc });
    }

    /// Checks that a failover ends (or is aborted) within its bound of active time: each
    /// state's timeout, plus the start's random delay, plus a few ticks.
    fn watch_failover(&mut self, s: usize) {
        let now = self.now;
        let sentinel = &mut self.sentinels[s];
        let machine = sentinel.machine.as_ref().expect("ticking");
        let delta = sentinel.last_tick.map_or(0, |t| now - t);
        sentinel.last_tick = Some(now);
        let active = !machine.in_tilt() && delta <= sentinel.options.timing.tilt_trigger_ms;
        let progress = machine.failover(MASTER_NAME);
        sentinel.failover_watch = match (progress, sentinel.failover_watch) {
            (None, _) => None,
            (Some(p), Some((epoch, spent))) if p.epoch == epoch => {
                Some((epoch, spent + if active { delta } else { 0 }))
            }
            (Some(p), _) => Some((p.epoch, 0)),
        };
        if let Some((epoch, spent)) = sentinel.failover_watch {
            let t = &sentinel.options.timing;
            let timeout = self.scenario.failover_timeout_ms;
            let bound = t.max_desync_ms + t.election_timeout_ms.min(timeout) + 3 * timeout + 1000;
            if spent > bound {
                let text =
                    format!("failover of epoch {epoch} by sentinel {s} still running after {spent} ms (bound {bound})");
                self.violations.push(Violation(text));
                self.sentinels[s].failover_watch = None;
            }
        }
    }

    /// Hands one input to a sentinel and carries out its actions.
    fn feed(&mut self, s: usize, input: Input) {
        let entropy = self.rng.next();
        let now = self.now;
        let machine = self.sentinels[s].machine.as_mut().expect("only running sentinels get input");
        let actions = machine.handle(now, entropy, input);
        self.act(s, actions);
        self.check_config(s);
    }

    /// One configuration epoch names one master, whichever sentinel reports it.
    fn check_config(&mut self, s: usize) {
        let Some(machine) = self.sentinels[s].machine.as_ref() else { return };
        let epoch = machine.config_epoch(MASTER_NAME).expect("monitored");
        let addr = machine.master_addr_ref(MASTER_NAME).expect("monitored");
        if self.configs.get(&epoch).is_some_and(|known| known == addr) {
            return; // the common case, without a clone
        }
        if let Some((known, addr)) = first_claim(&mut self.configs, epoch, addr.clone()) {
            let text = format!("config epoch {epoch} names {known} and, at sentinel {s}, {addr}");
            self.violations.push(Violation(text));
        }
    }

    fn act(&mut self, s: usize, actions: Vec<Action>) {
        for action in actions {
            if self.tracing && matches!(action, Action::Event(_)) {
                self.note((s, &action));
            } else {
                (self.now, s, &action).hash(&mut self.trace);
            }
            match action {
                Action::Connect { link, addr, subscribe } => self.connect(s, link, &addr, subscribe),
                Action::Close(link) => {
                    self.sentinels[s].links.remove(&link);
                }
                Action::Send(link, command) => {
                    if command == Command::Unfence {
                        self.check_unfence(s, link);
                    }
                    self.send(s, link, command)
                }
                Action::Event(event) => self.observe(s, &event),
                Action::ClientReconfig { .. } => {}
                Action::FlushConfig => {
                    let sentinel = &mut self.sentinels[s];
                    sentinel.persisted = sentinel.machine.as_ref().expect("running").persisted();
                }
            }
        }
    }

    /// A sentinel lifts only the fence of the node its configuration names master.
    fn check_unfence(&mut self, s: usize, link: LinkId) {
        let target = self.sentinels[s].links.get(&link).map(|l| l.target);
        let named = self.sentinels[s].machine.as_ref().and_then(|m| m.master_addr(MASTER_NAME));
        let ok = match target {
            Some(Endpoint::Node(n)) => named.as_ref() == Some(&self.nodes[n].addr),
            // A link the world no longer has: the command goes nowhere.
            None => true,
            Some(Endpoint::Sentinel(_)) => false,
        };
        if !ok {
            let text = format!("sentinel {s} unfences {target:?} while it names {named:?} master");
            self.violations.push(Violation(text));
        }
    }

    /// Records what the safety checks need from the events.
    fn observe(&mut self, s: usize, event: &Event) {
        *self.event_counts.entry(event.kind).or_default() += 1;
        if event.kind == "+vote-for-leader" && self.chaos && self.rng.chance(100) {
            // Crash before or after the vote reached the disk? The vote's FlushConfig
            // came first, so either way the restarted sentinel must remember it.
            let crash = self.now + self.rng.range(0, 50);
            let restart = crash + self.rng.range(1, 500);
            self.schedule(crash, Ev::Crash { s });
            self.schedule(restart, Ev::Restart { s });
        }
        let machine = self.sentinels[s].machine.as_ref().expect("running");
        let problem = match event.kind {
            "+elected-leader" => {
                let epoch = machine.last_failover_epoch(MASTER_NAME).expect("monitored");
                let me = machine.myid().to_string();
                first_claim(&mut self.leaders, epoch, me)
                    .map(|(old, new)| format!("two leaders in epoch {epoch}: {old} and {new}"))
            }
            "+promoted-slave" => {
                let epoch = machine.config_epoch(MASTER_NAME).expect("monitored");
                let addr = machine.failover(MASTER_NAME).and_then(|p| p.promoted).expect("promotion in progress");
                first_claim(&mut self.promotions, epoch, addr)
                    .map(|(old, new)| format!("config epoch {epoch} names two masters: {old} and {new}"))
            }
            _ => None,
        };
        if let Some(text) = problem {
            self.violations.push(Violation(text));
        }
    }

    fn endpoint_of(&self, addr: &Addr) -> Option<Endpoint> {
        if let Some(i) = self.nodes.iter().position(|n| n.addr == *addr) {
            return Some(Endpoint::Node(i));
        }
        self.sentinels.iter().position(|t| t.addr == *addr).map(Endpoint::Sentinel)
    }

    fn target_state(&self, target: Endpoint) -> (bool, u32) {
        match target {
            Endpoint::Node(i) => (self.nodes[i].up, self.nodes[i].incarnation),
            Endpoint::Sentinel(j) => (self.sentinels[j].machine.is_some(), self.sentinels[j].incarnation),
        }
    }

    fn connect(&mut self, s: usize, link: LinkId, addr: &Addr, subscribe: bool) {
        let inc = self.sentinels[s].incarnation;
        let Some(target) = self.endpoint_of(addr) else {
            let at = self.now + self.delay();
            self.schedule(at, Ev::ConnectDone { s, inc, link, ok: false });
            return;
        };
        let (up, target_incarnation) = self.target_state(target);
        let now = self.now;
        self.sentinels[s]
            .links
            .insert(link, SimLink { target, target_incarnation, subscribe, up: false, last_out: now, last_in: now });
        if self.cut(Endpoint::Sentinel(s), target) {
            // The SYN goes nowhere: the connect hangs until the sentinel gives up on it.
            return;
        }
        let at = self.now + 2 * self.delay();
        self.schedule(at, Ev::ConnectDone { s, inc, link, ok: up });
    }

    fn send(&mut self, s: usize, link: LinkId, command: Command) {
        let inc = self.sentinels[s].incarnation;
        let Some(state) = self.sentinels[s].links.get(&link) else { return };
        let target = state.target;
        if !state.up || self.cut(Endpoint::Sentinel(s), target) || self.rng.chance(self.loss_per_mille) {
            return;
        }
        let delay = self.delay();
        let state = self.sentinels[s].links.get_mut(&link).expect("checked");
        let at = (self.now + delay).max(state.last_out);
        state.last_out = at;
        self.schedule(at, Ev::Command { s, inc, link, command });
    }

    /// Sends something back to sentinel `s` on `link`, in order with what came before.
    fn answer(&mut self, s: usize, link: LinkId, from: Endpoint, event: impl FnOnce(u32) -> Ev) {
        if self.cut(Endpoint::Sentinel(s), from) || self.rng.chance(self.loss_per_mille) {
            return;
        }
        let inc = self.sentinels[s].incarnation;
        let delay = self.delay();
        let Some(state) = self.sentinels[s].links.get_mut(&link) else { return };
        let at = (self.now + delay).max(state.last_in);
        state.last_in = at;
        self.schedule(at, event(inc));
    }

    fn deliver_command(&mut self, s: usize, inc: u32, link: LinkId, command: Command) {
        if !self.live_link(s, inc, link) {
            return;
        }
        let state = &self.sentinels[s].links[&link];
        let target = state.target;
        let (up, incarnation) = self.target_state(target);
        if !up || incarnation != state.target_incarnation {
            // The process behind the link is gone: the connection is reset.
            self.answer(s, link, target, |inc| Ev::Broken { s, inc, link });
            return;
        }
        let reply = match target {
            Endpoint::Node(n) => self.node_command(n, s, &command),
            Endpoint::Sentinel(peer) => {
                if let Some(until) = self.sentinels[peer].paused_until {
                    self.reschedule(until, Ev::Command { s, inc, link, command });
                    return;
                }
                self.sentinel_command(peer, s, &command)
            }
        };
        self.answer(s, link, target, |inc| Ev::Reply { s, inc, link, reply });
    }

    fn sentinel_command(&mut self, peer: usize, from: usize, command: &Command) -> Reply {
        let now = self.now;
        let entropy = self.rng.next();
        let local_ip = self.sentinels[from].addr.host.clone();
        let machine = self.sentinels[peer].machine.as_mut().expect("target is up");
        match command {
            Command::Ping => Reply::Ping("PONG".into()),
            Command::Hello(hello) => {
                let actions = machine.receive_hello(now, &hello.format(&local_ip));
                self.act(peer, actions);
                self.check_config(peer);
                Reply::Published(true)
            }
            Command::IsMasterDownByAddr { addr, epoch, runid } => {
                let (reply, actions) = machine.is_master_down_by_addr(now, entropy, addr, *epoch, runid.as_deref());
                self.act(peer, actions);
                Reply::MasterDown(Some(reply))
            }
            Command::Info | Command::ReplicaOf(_) | Command::ScriptKill | Command::Unfence => Reply::Done,
        }
    }

    fn node_command(&mut self, n: usize, from: usize, command: &Command) -> Reply {
        match command {
            Command::Ping => Reply::Ping("PONG".into()),
            Command::Info => Reply::Info(self.info(n)),
            Command::Hello(hello) => {
                let payload = hello.format(&self.sentinels[from].addr.host.clone());
                self.publish_hello(n, payload);
                Reply::Published(true)
            }
            Command::ReplicaOf(target) => {
                let node = &mut self.nodes[n];
                node.role = match target {
                    Some(addr) => Role::Replica(addr.clone()),
                    None => Role::Master,
                };
                node.saved_role = node.role.clone();
                node.fenced = false;
                if node.link_up {
                    node.link_down_since = self.now;
                }
                node.link_up = false;
                node.sync_done_at = None;
                Reply::Done
            }
            Command::IsMasterDownByAddr { .. } => Reply::MasterDown(None),
            Command::ScriptKill => Reply::Done,
            Command::Unfence => {
                self.nodes[n].fenced = false;
                Reply::Done
            }
        }
    }

    /// Delivers a hello to every sentinel subscribed on node `n` (the sender included).
    fn publish_hello(&mut self, n: usize, payload: String) {
        let incarnation = self.nodes[n].incarnation;
        let mut targets = Vec::new();
        for (s, sentinel) in self.sentinels.iter().enumerate() {
            if sentinel.machine.is_none() {
                continue;
            }
            for (link, state) in &sentinel.links {
                let subscribed = state.subscribe && state.up && state.target == Endpoint::Node(n);
                if subscribed && state.target_incarnation == incarnation {
                    targets.push((s, *link));
                }
            }
        }
        for (s, link) in targets {
            let payload = payload.clone();
            self.answer(s, link, Endpoint::Node(n), |inc| Ev::Hello { s, inc, link, payload });
        }
    }

    fn info(&self, n: usize) -> String {
        let node = &self.nodes[n];
        let mut text = format!("# Server\r\nrun_id:{}\r\n# Replication\r\n", node.run_id);
        match &node.role {
            Role::Master => {
                text.push_str("role:master\r\n");
                if self.fencing {
                    text.push_str(&format!("master_fenced:{}\r\n", u8::from(node.fenced)));
                }
                let replicas: Vec<&DataNode> = self
                    .nodes
                    .iter()
                    .filter(|r| r.up && r.link_up && r.role == Role::Replica(node.addr.clone()))
                    .collect();
                text.push_str(&format!("connected_slaves:{}\r\n", replicas.len()));
                for (i, r) in replicas.iter().enumerate() {
                    text.push_str(&format!(
                        "slave{i}:ip={},port={},state=online,offset={},lag=0\r\n",
                        r.addr.host, r.addr.port, r.offset
                    ));
                }
            }
            Role::Replica(master) => {
                text.push_str(&format!(
                    "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n",
                    master.host,
                    master.port,
                    if node.link_up { "up" } else { "down" }
                ));
                if !node.link_up {
                    let down = (self.now.saturating_sub(node.link_down_since)) / 1000;
                    text.push_str(&format!("master_link_down_since_seconds:{down}\r\n"));
                }
                text.push_str(&format!(
                    "slave_repl_offset:{}\r\nslave_priority:{}\r\nreplica_announced:1\r\n",
                    node.offset, node.priority
                ));
            }
        }
        text
    }

    /// Replication, coarsely: masters take writes; a replica that can reach its master
    /// syncs for a while, then follows its offset.
    fn node_tick(&mut self) {
        for n in 0..self.nodes.len() {
            if !self.nodes[n].up {
                continue;
            }
            let master = match &self.nodes[n].role {
                Role::Master => {
                    if !self.nodes[n].fenced {
                        self.nodes[n].offset += WRITES_PER_NODE_TICK;
                    }
                    continue;
                }
                Role::Replica(addr) => self.nodes.iter().position(|m| m.addr == *addr),
            };
            let reachable =
                master.filter(|&m| m != n && self.nodes[m].up && !self.cut(Endpoint::Node(n), Endpoint::Node(m)));
            let now = self.now;
            match reachable {
                Some(m) => {
                    let master_offset = self.nodes[m].offset;
                    let sync = self.rng.range(200, 1500);
                    let node = &mut self.nodes[n];
                    if node.link_up {
                        node.offset = master_offset;
                    } else {
                        let done = *node.sync_done_at.get_or_insert(now + sync);
                        if now >= done {
                            node.link_up = true;
                            node.offset = master_offset;
                        }
                    }
                }
                None => {
                    let node = &mut self.nodes[n];
                    if node.link_up {
                        node.link_down_since = now;
                    }
                    node.link_up = false;
                    node.sync_done_at = None;
                }
            }
        }
    }

    pub fn crash_node(&mut self, n: usize) {
        if !self.nodes[n].up {
            return;
        }
        self.note(("crash node", n));
        let node = &mut self.nodes[n];
        node.up = false;
        node.incarnation += 1;
        node.link_up = false;
        node.sync_done_at = None;
        self.break_links_to(Endpoint::Node(n));
    }

    pub fn restart_node(&mut self, n: usize) {
        if self.nodes[n].up {
            return;
        }
        self.note(("restart node", n));
        let run_id = run_id(&mut self.rng);
        let now = self.now;
        let node = &mut self.nodes[n];
        node.up = true;
        node.run_id = run_id;
        node.role = node.saved_role.clone();
        node.fenced = self.fencing && node.role == Role::Master;
        node.link_down_since = now;
    }

    pub fn crash_sentinel(&mut self, s: usize) {
        if self.sentinels[s].machine.is_none() {
            return;
        }
        self.note(("crash sentinel", s));
        let sentinel = &mut self.sentinels[s];
        sentinel.machine = None;
        sentinel.incarnation += 1;
        sentinel.links.clear();
        sentinel.paused_until = None;
        sentinel.failover_watch = None;
        sentinel.last_tick = None;
        self.break_links_to(Endpoint::Sentinel(s));
    }

    pub fn restart_sentinel(&mut self, s: usize) {
        if self.sentinels[s].machine.is_some() {
            return;
        }
        self.note(("restart sentinel", s));
        let sentinel = &mut self.sentinels[s];
        sentinel.machine = Some(Sentinel::restore(sentinel.options.clone(), &sentinel.persisted, self.now));
        let inc = sentinel.incarnation;
        let at = self.now + self.rng.range(1, 100);
        self.schedule(at, Ev::Tick { s, inc });
    }

    /// Freezes a sentinel's process (as a stopped or starved process): no ticks, nothing
    /// read, until `until`.
    pub fn pause_sentinel(&mut self, s: usize, until: Millis) {
        if self.sentinels[s].machine.is_none() || self.sentinels[s].paused_until.is_some() {
            return;
        }
        self.note(("pause sentinel", s, until));
        self.sentinels[s].paused_until = Some(until);
        self.schedule(until, Ev::Resume { s });
    }

    fn break_links_to(&mut self, target: Endpoint) {
        let mut broken = Vec::new();
        for (s, sentinel) in self.sentinels.iter().enumerate() {
            for (link, state) in &sentinel.links {
                if state.target == target {
                    broken.push((s, *link));
                }
            }
        }
        for (s, link) in broken {
            self.answer(s, link, target, |inc| Ev::Broken { s, inc, link });
        }
    }
}

/// Records `value` as the one for `key`; if another was recorded first, returns both.
fn first_claim<K: Ord, V: PartialEq + Clone>(map: &mut BTreeMap<K, V>, key: K, value: V) -> Option<(V, V)> {
    match map.get(&key) {
        Some(first) if *first != value => Some((first.clone(), value)),
        Some(_) => None,
        None => {
            map.insert(key, value);
            None
        }
    }
}

fn event_sentinel(event: &Ev) -> Option<usize> {
    match event {
        Ev::Tick { s, .. }
        | Ev::ConnectDone { s, .. }
        | Ev::Reply { s, .. }
        | Ev::Hello { s, .. }
        | Ev::Broken { s, .. } => Some(*s),
        Ev::Command { .. } | Ev::NodeTick | Ev::Resume { .. } | Ev::Crash { .. } | Ev::Restart { .. } => None,
    }
}

pub fn node_addr(i: usize) -> Addr {
    Addr::new(format!("10.0.0.{}", i + 1), 6379)
}

fn run_id(rng: &mut Rng) -> String {
    format!("{:016x}{:016x}{:08x}", rng.next(), rng.next(), rng.next() as u32)
}
