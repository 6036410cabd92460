//! The vocabulary between the state machine and its driver: addresses, links, inputs,
//! commands, replies, actions and events.

use crate::hello::Hello;

pub use crate::addr::Addr;

/// Milliseconds on the driver's monotonic clock. The state machine only ever compares and
/// subtracts them; it never reads a clock itself.
pub type Millis = u64;

/// One connection the state machine asked the driver to open. Every input about a link
/// carries its id; ids are never reused, so an input about a link the state machine has
/// since closed (a late reply after a failover reset, say) is recognised and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u64);

/// The intervals Redis 7.0's sentinel uses. `SENTINEL DEBUG` changes them in Redis; the
/// defaults here are Redis's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timing {
    pub ping_period_ms: Millis,
    pub info_period_ms: Millis,
    pub ask_period_ms: Millis,
    /// Shoal's: how soon a sentinel asks again a peer that has not yet confirmed the
    /// master down (redis-sentinel waits the whole ask period; the peer's own down-after
    /// usually ends a tick after ours, so that wait delayed the ODOWN by up to a second).
    pub ask_retry_ms: Millis,
    pub publish_period_ms: Millis,
    pub default_down_after_ms: Millis,
    pub tilt_trigger_ms: Millis,
    pub tilt_period_ms: Millis,
    pub slave_reconf_timeout_ms: Millis,
    pub min_link_reconnect_period_ms: Millis,
    pub election_timeout_ms: Millis,
    pub default_failover_timeout_ms: Millis,
    /// Upper bound of the random delay added to a failover's start, so that sentinels that
    /// saw the master fail at the same moment do not ask for votes at the same moment.
    pub max_desync_ms: Millis,
    /// Commands sent on one link and not yet answered; periodic commands stop above it.
    pub max_pending_commands: u32,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            ping_period_ms: 1000,
            info_period_ms: 10_000,
            ask_period_ms: 1000,
            ask_retry_ms: 100,
            publish_period_ms: 2000,
            default_down_after_ms: 30_000,
            tilt_trigger_ms: 2000,
            tilt_period_ms: 30_000,
            slave_reconf_timeout_ms: 10_000,
            min_link_reconnect_period_ms: 15_000,
            election_timeout_ms: 10_000,
            default_failover_timeout_ms: 180_000,
            max_desync_ms: 1000,
            max_pending_commands: 100,
        }
    }
}

/// What the driver tells the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The periodic timer (Redis runs it 10-20 times a second, with jitter).
    Tick,
    /// The link (command connection, and for data nodes the hello subscription) is up.
    Connected(LinkId),
    /// The link could not be opened, or broke; replies still pending on it are lost.
    Disconnected(LinkId),
    /// The reply to a command sent on a link, in the order the commands were sent.
    Reply(LinkId, Reply),
    /// A message on `__sentinel__:hello` received through a data node's link.
    Hello(LinkId, String),
    /// A data node's hello subscription broke or was refused (`-NOAUTH` once the node's
    /// users changed); its command connection stays. Until `Subscribed` the node shows
    /// `disconnected`, as redis-sentinel shows a link whose pubsub connection is gone.
    Unsubscribed(LinkId),
    /// The hello subscription is back.
    Subscribed(LinkId),
}

/// A command for the driver to send on a link.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    Ping,
    Info,
    /// `PUBLISH __sentinel__:hello <payload>` (to a sentinel: its PUBLISH command).
    Hello(Hello),
    /// `SENTINEL IS-MASTER-DOWN-BY-ADDR <ip> <port> <epoch> <runid or *>`.
    IsMasterDownByAddr {
        addr: Addr,
        epoch: u64,
        runid: Option<String>,
    },
    /// `MULTI`, `REPLICAOF <addr>|NO ONE`, `CONFIG REWRITE`, `CLIENT KILL TYPE normal`,
    /// `CLIENT KILL TYPE pubsub`, `EXEC`; answered by one [`Reply::Done`].
    ReplicaOf(Option<Addr>),
    /// `SCRIPT KILL`, sent once to an instance that answers PING with -BUSY.
    ScriptKill,
    /// `CONFIG SET master-fenced no`: lifts the fence of a Shoal master that restarted with
    /// `master-fence-on-restart` (INFO `master_fenced:1`); answered by one [`Reply::Done`].
    Unfence,
}

/// The reply to a [`Command`], as the driver understood it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reply {
    /// PING's status or error line (`PONG`, `LOADING ...`, `BUSY ...`).
    Ping(String),
    /// INFO's text.
    Info(String),
    /// PUBLISH of a hello was accepted (`true`) or answered with an error.
    Published(bool),
    /// IS-MASTER-DOWN-BY-ADDR's three elements, or `None` for an error or a malformed reply.
    MasterDown(Option<IsMasterDownReply>),
    /// Any reply to a command whose reply the sentinel ignores (REPLICAOF's transaction,
    /// SCRIPT KILL, the unfencing CONFIG SET).
    Done,
}

/// The reply of SENTINEL IS-MASTER-DOWN-BY-ADDR: down state, the vote (None is `*`), and
/// the epoch of the vote.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IsMasterDownReply {
    pub down: bool,
    pub leader: Option<String>,
    pub leader_epoch: u64,
}

/// The log level of an event, as redis-sentinel logs it. Only `Warning` events run the
/// master's notification script; `Debug` events are not published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// An event: logged, published on the channel named `kind`, and passed to the master's
/// notification script when it is a warning.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    pub level: Level,
    pub kind: &'static str,
    pub text: String,
    /// The master the event concerns, if any (whose notification script runs).
    pub master: Option<String>,
}

/// `leader` or `observer`, the second argument of the client-reconfig script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReconfigRole {
    Leader,
    Observer,
}

/// The failover states of Redis's sentinel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailoverState {
    None,
    WaitStart,
    SelectSlave,
    SendSlaveofNoone,
    WaitPromotion,
    ReconfSlaves,
    UpdateConfig,
}

impl FailoverState {
    /// The name SENTINEL MASTER reports in `failover-state`.
    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "none",
            FailoverState::WaitStart => "wait_start",
            FailoverState::SelectSlave => "select_slave",
            FailoverState::SendSlaveofNoone => "send_slaveof_noone",
            FailoverState::WaitPromotion => "wait_promotion",
            FailoverState::ReconfSlaves => "reconf_slaves",
            FailoverState::UpdateConfig => "update_config",
        }
    }
}

/// What the state machine asks the driver to do, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Open a link to `addr` and answer with `Connected` or `Disconnected`. With `subscribe`
    /// (masters and replicas) the link includes a subscription to `__sentinel__:hello`, and
    /// either connection breaking breaks the link.
    Connect {
        link: LinkId,
        addr: Addr,
        subscribe: bool,
    },
    /// Close a link; nothing more is reported about it.
    Close(LinkId),
    Send(LinkId, Command),
    Event(Event),
    /// Run the master's client-reconfig script: `<master> <role> <state> <from> <to>`.
    ClientReconfig {
        master: String,
        role: ReconfigRole,
        state: &'static str,
        from: Addr,
        to: Addr,
    },
    /// Persist the configuration (`Sentinel::persisted`) before anything that follows is
    /// carried out: a vote must be on disk before the reply that grants it leaves.
    FlushConfig,
}
