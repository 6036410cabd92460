//! The state machine driven by hand: one sentinel, scripted replies, exact events.

use std::collections::BTreeMap;

use shoal_sentinel::{
    Action, Addr, Command, Input, IsMasterDownReply, LinkId, Millis, Persisted, PersistedMaster, Reply, Sentinel,
    SentinelOptions, Timing,
};

const ME: &str = "1111111111111111111111111111111111111111";
const PEER_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const PEER_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

struct Harness {
    sentinel: Sentinel,
    links: BTreeMap<LinkId, Addr>,
    actions: Vec<Action>,
}

fn master_addr() -> Addr {
    Addr::new("10.0.0.1", 6379)
}

fn peer_addr(i: u8) -> Addr {
    Addr::new(format!("10.0.1.{i}"), 26379)
}

fn options() -> SentinelOptions {
    SentinelOptions { myid: ME.into(), port: 26379, announce_ip: Some("10.0.1.9".into()), timing: Timing::default() }
}

impl Harness {
    /// A sentinel monitoring `mymaster` with the given quorum, peers and replicas.
    fn new(quorum: u32, peers: &[(&str, Addr)], replicas: &[Addr]) -> Harness {
        let mut master = PersistedMaster::new("mymaster", master_addr(), quorum, &Timing::default());
        master.down_after_ms = 5000;
        master.failover_timeout_ms = 60_000;
        master.known_sentinels = peers.iter().map(|(id, addr)| (addr.clone(), id.to_string())).collect();
        master.known_replicas = replicas.to_vec();
        let persisted = Persisted { myid: ME.into(), current_epoch: 0, masters: vec![master] };
        Harness { sentinel: Sentinel::restore(options(), &persisted, 0), links: BTreeMap::new(), actions: Vec::new() }
    }

    /// Feeds an input; links the sentinel opens are connected at once.
    fn input(&mut self, now: Millis, input: Input) {
        let actions = self.sentinel.handle(now, 0, input);
        self.take(now, actions);
    }

    fn take(&mut self, now: Millis, actions: Vec<Action>) {
        for action in actions {
            if let Action::Connect { link, addr, .. } = &action {
                self.links.insert(*link, addr.clone());
                self.actions.push(action.clone());
                let more = self.sentinel.handle(now, 0, Input::Connected(*link));
                self.take(now, more);
            } else {
                self.actions.push(action);
            }
        }
    }

    fn tick(&mut self, now: Millis) {
        self.input(now, Input::Tick);
    }

    /// Ticks every 100 ms from `from` to `to`, answering nothing.
    fn tick_through(&mut self, from: Millis, to: Millis) {
        let mut now = from;
        while now <= to {
            self.tick(now);
            now += 100;
        }
    }

    fn link_to(&self, addr: &Addr) -> LinkId {
        *self.links.iter().rev().find(|(_, a)| *a == addr).expect("a link to that address").0
    }

    fn events(&self) -> Vec<String> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Event(e) => Some(format!("{} {}", e.kind, e.text)),
                _ => None,
            })
            .collect()
    }

    fn has_event(&self, kind: &str) -> bool {
        self.events().iter().any(|e| e.split(' ').next() == Some(kind))
    }

    fn sent_to(&self, addr: &Addr) -> Vec<Command> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(link, c) if self.links.get(link) == Some(addr) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    fn reply(&mut self, now: Millis, addr: &Addr, reply: Reply) {
        let link = self.link_to(addr);
        self.input(now, Input::Reply(link, reply));
    }
}

fn master_info(replicas: &[&Addr]) -> String {
    let mut text = format!("run_id:{}\r\nrole:master\r\n", "0".repeat(40));
    for (i, r) in replicas.iter().enumerate() {
        text.push_str(&format!("slave{i}:ip={},port={},state=online,offset=1,lag=0\r\n", r.host, r.port));
    }
    text
}

fn replica_info(run_id: char, priority: u32, offset: u64) -> String {
    format!(
        "run_id:{}\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:up\r\n\
         slave_repl_offset:{offset}\r\nslave_priority:{priority}\r\n",
        run_id.to_string().repeat(40)
    )
}

#[test]
fn a_silent_master_is_subjectively_down_after_down_after_ms() {
    let mut h = Harness::new(1, &[], &[]);
    h.tick(0);
    assert!(h.sent_to(&master_addr()).contains(&Command::Ping));
    h.tick_through(100, 5000);
    assert!(!h.has_event("+sdown"), "down after 5000 ms, not before");
    h.tick_through(5100, 5200);
    assert!(h.events().contains(&"+sdown master mymaster 10.0.0.1 6379".to_string()), "{:?}", h.events());
    // Quorum 1: this sentinel alone makes it objectively down and tries a failover.
    assert!(h.events().iter().any(|e| e == "+odown master mymaster 10.0.0.1 6379 #quorum 1/1"));
    assert!(h.has_event("+try-failover"));
    assert_eq!(h.sentinel.current_epoch(), 1);
}

#[test]
fn pong_keeps_the_master_up_and_clears_sdown() {
    let mut h = Harness::new(1, &[], &[]);
    let mut now = 0;
    while now < 20_000 {
        h.tick(now);
        if h.sent_to(&master_addr()).contains(&Command::Ping) {
            h.reply(now, &master_addr(), Reply::Ping("PONG".into()));
            h.actions.clear();
        }
        now += 100;
    }
    assert!(!h.has_event("+sdown"));
    assert_eq!(h.sentinel.down_state("mymaster"), Some((false, false)));
}

#[test]
fn objective_down_needs_the_quorum_of_replies() {
    let mut h = Harness::new(2, &[(PEER_A, peer_addr(1))], &[]);
    h.tick_through(0, 5200);
    assert!(h.has_event("+sdown"));
    assert!(!h.has_event("+odown"), "one of two is not a quorum");
    let asked = h.sent_to(&peer_addr(1));
    assert!(asked.iter().any(|c| matches!(c,
        Command::IsMasterDownByAddr { addr, runid: None, .. } if *addr == master_addr())));
    let reply = IsMasterDownReply { down: true, leader: None, leader_epoch: 0 };
    h.reply(5200, &peer_addr(1), Reply::MasterDown(Some(reply)));
    h.tick(5300);
    assert!(h.events().iter().any(|e| e == "+odown master mymaster 10.0.0.1 6379 #quorum 2/2"), "{:?}", h.events());
    // The failover asks the peer for its vote in the failover's epoch.
    let asked = h.sent_to(&peer_addr(1));
    assert!(asked.iter().any(|c| matches!(c,
        Command::IsMasterDownByAddr { epoch: 1, runid: Some(r), .. } if r == ME)));
}

#[test]
fn a_vote_is_given_once_per_epoch_and_persisted_first() {
    let mut h = Harness::new(2, &[], &[]);
    let (reply, actions) = h.sentinel.is_master_down_by_addr(0, 0, &master_addr(), 5, Some(PEER_A));
    assert_eq!(reply.leader.as_deref(), Some(PEER_A));
    assert_eq!(reply.leader_epoch, 5);
    assert!(!reply.down);
    assert!(matches!(actions.first(), Some(Action::FlushConfig)), "epoch persisted before the reply: {actions:?}");
    assert!(actions.iter().any(|a| matches!(a, Action::Event(e) if e.kind == "+vote-for-leader")));
    let (reply, _) = h.sentinel.is_master_down_by_addr(1, 0, &master_addr(), 5, Some(PEER_B));
    assert_eq!(reply.leader.as_deref(), Some(PEER_A), "second request in epoch 5 gets the first vote");
    let (reply, _) = h.sentinel.is_master_down_by_addr(2, 0, &master_addr(), 4, Some(PEER_B));
    assert_eq!((reply.leader.as_deref(), reply.leader_epoch), (Some(PEER_A), 5), "older epochs get nothing new");
    // The vote survives a restart: no second vote in epoch 5 from a restarted sentinel.
    let persisted = h.sentinel.persisted();
    assert_eq!(persisted.current_epoch, 5);
    assert_eq!(persisted.masters[0].leader_epoch, 5);
    let mut restarted = Sentinel::restore(options(), &persisted, 10);
    let (reply, _) = restarted.is_master_down_by_addr(11, 0, &master_addr(), 5, Some(PEER_B));
    assert_ne!(reply.leader.as_deref(), Some(PEER_B));
    let (reply, _) = restarted.is_master_down_by_addr(12, 0, &master_addr(), 6, Some(PEER_B));
    assert_eq!((reply.leader.as_deref(), reply.leader_epoch), (Some(PEER_B), 6));
    // Unknown addresses get no vote.
    let (reply, _) = restarted.is_master_down_by_addr(13, 0, &Addr::new("10.9.9.9", 1), 7, Some(PEER_B));
    assert_eq!(reply, IsMasterDownReply { down: false, leader: None, leader_epoch: 0 });
}

/// Replicas known and answering INFO: (address, run id letter, priority, offset).
fn with_replicas(replicas: &[(Addr, char, u32, u64)]) -> Harness {
    let addrs: Vec<Addr> = replicas.iter().map(|r| r.0.clone()).collect();
    let mut h = Harness::new(1, &[], &addrs);
    h.tick(0);
    h.reply(0, &master_addr(), Reply::Info(master_info(&addrs.iter().collect::<Vec<_>>())));
    for (addr, id, priority, offset) in replicas {
        h.reply(0, addr, Reply::Info(replica_info(*id, *priority, *offset)));
        h.reply(0, addr, Reply::Ping("PONG".into()));
    }
    h
}

fn promoted_by_forced_failover(h: &mut Harness) -> Addr {
    let actions = h.sentinel.force_failover(100, 0, "mymaster").expect("a replica qualifies");
    h.take(100, actions);
    h.tick(200); // wait-start: forced, no election
    h.tick(300); // select-slave
    h.sentinel.failover("mymaster").and_then(|p| p.promoted).expect("a replica was selected")
}

#[test]
fn replica_selection_prefers_priority_then_offset_then_run_id() {
    let r = |i: u8| Addr::new(format!("10.0.0.{i}"), 6379);
    let mut h = with_replicas(&[(r(2), 'c', 100, 500), (r(3), 'b', 50, 10), (r(4), 'a', 0, 9999)]);
    assert_eq!(promoted_by_forced_failover(&mut h), r(3), "lowest non-zero priority wins");
    let mut h = with_replicas(&[(r(2), 'c', 100, 500), (r(3), 'b', 100, 700)]);
    assert_eq!(promoted_by_forced_failover(&mut h), r(3), "then the largest offset");
    let mut h = with_replicas(&[(r(2), 'c', 100, 700), (r(3), 'b', 100, 700)]);
    assert_eq!(promoted_by_forced_failover(&mut h), r(3), "then the smallest run id");
    let mut h = with_replicas(&[(r(4), 'a', 0, 9999)]);
    assert!(h.sentinel.force_failover(100, 0, "mymaster").unwrap_err().starts_with("NOGOODSLAVE"));
}

#[test]
fn a_forced_failover_runs_every_state_and_switches_master() {
    let r = |i: u8| Addr::new(format!("10.0.0.{i}"), 6379);
    let mut h = with_replicas(&[(r(2), 'a', 100, 500), (r(3), 'b', 100, 400)]);
    assert_eq!(promoted_by_forced_failover(&mut h), r(2));
    h.tick(400); // send-slaveof-noone
    assert!(h.sent_to(&r(2)).contains(&Command::ReplicaOf(None)));
    h.reply(500, &r(2), Reply::Done);
    h.reply(500, &r(2), Reply::Info(format!("run_id:{}\r\nrole:master\r\n", "a".repeat(40))));
    assert_eq!(h.sentinel.config_epoch("mymaster"), Some(1));
    assert_eq!(h.sentinel.master_addr("mymaster"), Some(r(2)), "the promoted replica is announced at once");
    h.tick(600); // reconf-slaves: parallel-syncs 1
    assert!(h.sent_to(&r(3)).contains(&Command::ReplicaOf(Some(r(2)))));
    h.reply(700, &r(3), Reply::Done);
    let following = replica_info('b', 100, 400).replace("10.0.0.1", "10.0.0.2");
    h.reply(800, &r(3), Reply::Info(following));
    h.tick(900);
    let kinds: Vec<String> = h.events().iter().map(|e| e.split(' ').next().unwrap().to_string()).collect();
    let expected = [
        "+new-epoch",
        "+try-failover",
        "+elected-leader",
        "+failover-state-select-slave",
        "+selected-slave",
        "+failover-state-send-slaveof-noone",
        "+failover-state-wait-promotion",
        "+promoted-slave",
        "+failover-state-reconf-slaves",
        "+slave-reconf-sent",
        "+slave-reconf-inprog",
        "+slave-reconf-done",
        "+failover-end",
        "+switch-master",
    ];
    let mut position = 0;
    for kind in expected {
        let found = kinds[position..].iter().position(|k| k == kind);
        assert!(found.is_some(), "{kind} missing or out of order in {kinds:?}");
        position += found.unwrap() + 1;
    }
    assert!(h.events().contains(&"+switch-master mymaster 10.0.0.1 6379 10.0.0.2 6379".to_string()));
    assert_eq!(h.sentinel.failover("mymaster"), None);
    // The old master is now a replica to watch; the config names the new master.
    assert!(h.sentinel.replicas("mymaster").contains(&master_addr()));
    let persisted = h.sentinel.persisted();
    assert_eq!(persisted.masters[0].addr, r(2));
    assert_eq!(persisted.masters[0].config_epoch, 1);
}

#[test]
fn a_stalled_timer_enters_tilt_and_stops_acting() {
    let mut h = Harness::new(1, &[], &[]);
    h.tick(0);
    h.tick(2500);
    assert!(h.events().contains(&"+tilt #tilt mode entered".to_string()));
    assert!(h.sentinel.in_tilt());
    // In TILT nothing is judged down, however silent the master.
    h.tick_through(2600, 32_400);
    assert!(!h.has_event("+sdown"));
    let (reply, _) = h.sentinel.is_master_down_by_addr(32_450, 0, &master_addr(), 1, None);
    assert!(!reply.down);
    h.tick_through(32_500, 32_700);
    assert!(h.events().contains(&"-tilt #tilt mode exited".to_string()));
    assert!(h.has_event("+sdown"));
}

#[test]
fn hellos_discover_sentinels_and_newer_configs() {
    let mut h = Harness::new(2, &[], &[]);
    h.tick(0);
    let hello = format!("10.0.1.1,26379,{PEER_A},3,mymaster,10.0.0.1,6379,0");
    let link = h.link_to(&master_addr());
    h.input(10, Input::Hello(link, hello));
    assert_eq!(h.sentinel.sentinels("mymaster"), vec![PEER_A.to_string()]);
    assert_eq!(h.sentinel.current_epoch(), 3);
    assert!(h.has_event("+sentinel") && h.has_event("+new-epoch"));
    // A newer configuration moves the master.
    let actions = h.sentinel.receive_hello(20, &format!("10.0.1.1,26379,{PEER_A},4,mymaster,10.0.0.7,6380,4"));
    h.take(20, actions);
    assert_eq!(h.sentinel.master_addr("mymaster"), Some(Addr::new("10.0.0.7", 6380)));
    assert!(h.events().contains(&"+switch-master mymaster 10.0.0.1 6379 10.0.0.7 6380".to_string()));
    // An older one does not move it back.
    let actions = h.sentinel.receive_hello(30, &format!("10.0.1.1,26379,{PEER_A},4,mymaster,10.0.0.1,6379,3"));
    h.take(30, actions);
    assert_eq!(h.sentinel.master_addr("mymaster"), Some(Addr::new("10.0.0.7", 6380)));
    // Our own hellos, echoed by the channel, are ignored.
    let before = h.sentinel.sentinels("mymaster");
    h.tick(35);
    let link = h.link_to(&Addr::new("10.0.0.7", 6380));
    h.input(40, Input::Hello(link, format!("10.0.1.9,26379,{ME},9,mymaster,10.0.0.7,6380,4")));
    assert_eq!(h.sentinel.sentinels("mymaster"), before);
    assert_eq!(h.sentinel.current_epoch(), 4);
}

#[test]
fn replicas_are_discovered_from_the_masters_info() {
    let mut h = Harness::new(1, &[], &[]);
    h.tick(0);
    let r = Addr::new("10.0.0.5", 6379);
    h.reply(10, &master_addr(), Reply::Info(master_info(&[&r])));
    assert_eq!(h.sentinel.replicas("mymaster"), vec![r.clone()]);
    assert!(h.events().contains(&"+slave slave 10.0.0.5:6379 10.0.0.5 6379 @ mymaster 10.0.0.1 6379".to_string()));
    assert!(h.actions.contains(&Action::FlushConfig));
}

/// Found by the simulator (seed 6704): a leader reconfiguring replicas learns a newer
/// configuration naming the old master. It must adopt it whole (address and epoch) and end
/// its failover, not keep the epoch and later switch to its own replica under it.
#[test]
fn a_newer_configuration_naming_the_old_master_ends_a_promoted_failover() {
    let r = |i: u8| Addr::new(format!("10.0.0.{i}"), 6379);
    let mut h = with_replicas(&[(r(2), 'a', 100, 500), (r(3), 'b', 100, 400)]);
    assert_eq!(promoted_by_forced_failover(&mut h), r(2));
    h.tick(400);
    h.reply(500, &r(2), Reply::Done);
    h.reply(500, &r(2), Reply::Info(format!("run_id:{}\r\nrole:master\r\n", "a".repeat(40))));
    assert_eq!((h.sentinel.master_addr("mymaster"), h.sentinel.config_epoch("mymaster")), (Some(r(2)), Some(1)));
    let actions = h.sentinel.receive_hello(600, &format!("10.0.1.1,26379,{PEER_A},5,mymaster,10.0.0.1,6379,5"));
    h.take(600, actions);
    assert_eq!(h.sentinel.failover("mymaster"), None, "the newer configuration ends the failover");
    assert_eq!(
        (h.sentinel.master_addr("mymaster"), h.sentinel.config_epoch("mymaster")),
        (Some(master_addr()), Some(5))
    );
    assert!(
        h.events().contains(&"+switch-master mymaster 10.0.0.2 6379 10.0.0.1 6379".to_string()),
        "{:?}",
        h.events()
    );
    // Ticking on does not bring the promoted replica back under epoch 5.
    h.tick_through(700, 3000);
    assert_eq!(h.sentinel.master_addr("mymaster"), Some(master_addr()));
}

#[test]
fn remove_reset_set_and_quorum_checks() {
    use shoal_sentinel::MasterOption;
    let mut h = Harness::new(2, &[(PEER_A, peer_addr(1)), (PEER_B, peer_addr(2))], &[Addr::new("10.0.0.2", 6379)]);
    h.tick(0);
    let check = h.sentinel.check_quorum("mymaster").unwrap();
    assert_eq!((check.usable, check.quorum_reachable, check.majority_reachable), (3, true, true));
    assert_eq!(check.reply(), "+OK 3 usable Sentinels. Quorum and failover authorization can be reached");
    // Both peers silent past down-after: one usable sentinel of three.
    h.tick_through(100, 5200);
    let check = h.sentinel.check_quorum("mymaster").unwrap();
    assert_eq!(
        check.reply(),
        "-NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified quorum for this \
         master. Not enough available Sentinels to reach the majority and authorize a failover"
    );

    let actions = h.sentinel.set_option(5300, "mymaster", MasterOption::Quorum(1), "quorum 1").unwrap();
    assert!(actions.iter().any(|a| matches!(a, Action::Event(e) if e.kind == "+set"
        && e.text == "master mymaster 10.0.0.1 6379 quorum 1")));
    assert!(h.sentinel.set_option(5300, "nosuch", MasterOption::Quorum(1), "quorum 1").is_none());

    let (count, actions) = h.sentinel.reset(5400, "my*");
    assert_eq!(count, 1);
    assert!(actions.iter().any(|a| matches!(a, Action::Event(e) if e.kind == "+reset-master")));
    assert!(actions.iter().filter(|a| matches!(a, Action::Close(_))).count() >= 3, "links closed: {actions:?}");
    assert!(h.sentinel.replicas("mymaster").is_empty() && h.sentinel.sentinels("mymaster").is_empty());
    assert_eq!(h.sentinel.down_state("mymaster"), Some((false, false)));
    assert_eq!(h.sentinel.reset(5400, "other*").0, 0);

    let actions = h.sentinel.remove(5500, "mymaster").unwrap();
    assert!(actions.iter().any(|a| matches!(a, Action::Event(e) if e.kind == "-monitor")));
    assert_eq!(actions.last(), Some(&Action::FlushConfig));
    assert!(h.sentinel.master_names().is_empty());
    assert!(h.sentinel.persisted().masters.is_empty());
}

/// A replica told to follow the new master that never reports doing so counts as done
/// after slave-reconf-timeout (10 s), and the failover ends.
#[test]
fn a_replica_that_never_follows_times_out_and_the_failover_ends() {
    let r = |i: u8| Addr::new(format!("10.0.0.{i}"), 6379);
    let mut h = with_replicas(&[(r(2), 'a', 100, 500), (r(3), 'b', 100, 400)]);
    assert_eq!(promoted_by_forced_failover(&mut h), r(2));
    h.tick(400);
    h.reply(500, &r(2), Reply::Info(format!("run_id:{}\r\nrole:master\r\n", "a".repeat(40))));
    h.tick(600);
    assert!(h.sent_to(&r(3)).contains(&Command::ReplicaOf(Some(r(2)))));
    let mut now = 700;
    while now <= 10_500 {
        h.tick(now);
        // Both answer PING (a down replica would not hold the failover up), but the
        // other replica never follows the new master.
        h.reply(now, &r(2), Reply::Ping("PONG".into()));
        h.reply(now, &r(3), Reply::Ping("PONG".into()));
        now += 100;
    }
    assert!(!h.has_event("-slave-reconf-sent-timeout"), "not before 10 s");
    while now <= 11_000 {
        h.tick(now);
        h.reply(now, &r(2), Reply::Ping("PONG".into()));
        h.reply(now, &r(3), Reply::Ping("PONG".into()));
        now += 100;
    }
    assert!(h.has_event("-slave-reconf-sent-timeout"), "{:?}", h.events());
    assert!(h.has_event("+failover-end") && h.has_event("+switch-master"), "{:?}", h.events());
    assert_eq!(h.sentinel.master_addr("mymaster"), Some(r(2)));
}

fn fenced_master_info(run_id: char) -> String {
    format!("run_id:{}\r\nrole:master\r\nmaster_fenced:1\r\n", run_id.to_string().repeat(40))
}

/// The master this sentinel names restarted fenced: it is watched every second and
/// confirmed (`CONFIG SET master-fenced no`) once the fence has been seen for a hello
/// period, and no more once its INFO says it is unfenced.
#[test]
fn a_fenced_master_is_confirmed_once_the_fence_settled() {
    let mut h = Harness::new(1, &[], &[]);
    h.tick(0);
    h.reply(10, &master_addr(), Reply::Info(fenced_master_info('0')));
    assert!(!h.sent_to(&master_addr()).contains(&Command::Unfence), "not before a hello period");
    h.actions.clear();
    h.tick_through(100, 1100);
    assert!(h.sent_to(&master_addr()).contains(&Command::Info), "a fenced master's INFO is read every second");
    h.reply(1200, &master_addr(), Reply::Info(fenced_master_info('0')));
    assert!(!h.sent_to(&master_addr()).contains(&Command::Unfence), "1190 ms: not settled yet");
    h.reply(2100, &master_addr(), Reply::Info(fenced_master_info('0')));
    assert!(h.sent_to(&master_addr()).contains(&Command::Unfence), "{:?}", h.actions);
    assert!(h.events().contains(&"+unfence master mymaster 10.0.0.1 6379".to_string()), "{:?}", h.events());
    h.actions.clear();
    h.reply(2200, &master_addr(), Reply::Info(format!("{}master_fenced:0\r\n", master_info(&[]))));
    h.tick_through(2300, 15_000);
    assert!(!h.sent_to(&master_addr()).contains(&Command::Unfence));
}

/// A node known as a replica that reports itself a master: redis-sentinel converts it
/// only after 4 hello periods (it may have taken writes); a fenced one has taken none and
/// is converted once the fence settled.
#[test]
fn a_fenced_node_known_as_a_replica_is_converted_without_the_usual_wait() {
    let r = Addr::new("10.0.0.5", 6379);
    for fenced in [true, false] {
        let mut h = Harness::new(1, &[], &[r.clone()]);
        h.tick(0);
        let report =
            if fenced { fenced_master_info('c') } else { format!("run_id:{}\r\nrole:master\r\n", "c".repeat(40)) };
        h.reply(10, &master_addr(), Reply::Info(master_info(&[&r])));
        h.reply(20, &r, Reply::Info(report.clone()));
        assert!(!h.sent_to(&r).iter().any(|c| matches!(c, Command::ReplicaOf(_))), "not before a hello period");
        h.reply(2100, &master_addr(), Reply::Info(master_info(&[&r])));
        h.reply(2100, &r, Reply::Info(report));
        let converted = h.sent_to(&r).contains(&Command::ReplicaOf(Some(master_addr())));
        assert_eq!(converted, fenced, "fenced: {fenced}, {:?}", h.events());
        assert_eq!(h.has_event("+convert-to-slave"), fenced);
    }
}
