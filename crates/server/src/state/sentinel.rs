//! The state of a server running in sentinel mode (`shoal-server --sentinel`): the
//! decision logic (`shoal_sentinel::Sentinel`), the configuration it reads and rewrites,
//! the open links to monitored instances, the sentinel's own clients and their
//! subscriptions, and the script queue. One mutex guards it all; nothing holds it across
//! an await. The driver that changes it lives in `crate::sentinel`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use parking_lot::Mutex;
use shoal_resp::Protocol;
use shoal_sentinel::{Addr, Command, Input, LinkId, Millis, Sentinel, SentinelConfig};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

/// SENTINEL SIMULATE-FAILURE flags, as INFO's `sentinel_simulate_failure_flags` shows them.
pub const SIMFAILURE_CRASH_AFTER_ELECTION: u32 = 1 << 0;
pub const SIMFAILURE_CRASH_AFTER_PROMOTION: u32 = 1 << 1;

/// What runs in sentinel mode, shared by the timer, the links and the clients.
pub struct SentinelShared {
    pub state: Mutex<SentinelState>,
    /// Link tasks report here; the main loop feeds the reports to the machine.
    pub inputs: UnboundedSender<Input>,
    pub started: Instant,
}

impl SentinelShared {
    /// Milliseconds on the monotonic clock the machine runs on.
    pub fn now(&self) -> Millis {
        self.started.elapsed().as_millis() as Millis
    }
}

/// One open link: its task and the channel its commands go through.
pub struct LinkHandle {
    pub addr: Addr,
    pub commands: UnboundedSender<Command>,
    pub task: AbortHandle,
}

/// Something for a client connection's task: bytes to write, or the end of it.
#[derive(Debug)]
pub enum ClientOut {
    Data(Vec<u8>),
    Close,
}

/// A client of the sentinel (CLIENT LIST/KILL, and the subscriptions events reach).
pub struct SentinelClient {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub name: String,
    pub created: Instant,
    pub last_interaction: Instant,
    pub last_command: String,
    pub protocol: Protocol,
    pub channels: HashSet<Vec<u8>>,
    pub patterns: HashSet<Vec<u8>>,
    /// The ACL user it is logged in as (CLIENT LIST, CLIENT KILL USER).
    pub user: String,
    pub out: UnboundedSender<ClientOut>,
}

/// A notification or client-reconfig script waiting or running.
#[derive(Clone, Debug)]
pub struct ScriptJob {
    pub argv: Vec<String>,
    /// Not before (machine clock).
    pub start_at: Millis,
    pub retries: u32,
    pub running_since: Option<Millis>,
    pub pid: Option<u32>,
    pub id: u64,
}

/// The intervals that are the driver's rather than the machine's (SENTINEL DEBUG).
#[derive(Clone, Debug)]
pub struct ScriptTiming {
    pub max_runtime_ms: Millis,
    pub retry_delay_ms: Millis,
}

pub struct SentinelState {
    pub machine: Sentinel,
    pub config: SentinelConfig,
    /// The server directives of the same file (port, dir, logfile ...), rewritten with it.
    pub server_config: crate::config::Config,
    /// The configuration file, absolute (the process may change directory).
    pub config_path: PathBuf,
    pub links: HashMap<LinkId, LinkHandle>,
    /// The last INFO text of each data node, and when it came (SENTINEL INFO-CACHE).
    pub info_cache: HashMap<Addr, (Millis, String)>,
    pub clients: BTreeMap<u64, SentinelClient>,
    pub next_client_id: u64,
    pub scripts: VecDeque<ScriptJob>,
    pub next_script_id: u64,
    pub script_timing: ScriptTiming,
    pub simfailure: u32,
    /// `requirepass` of the sentinel itself.
    pub requirepass: Option<String>,
    /// The sentinel's own ACL users (the default user has `requirepass`).
    pub users: crate::state::users::Users,
    pub port: u16,
    pub bind: Vec<String>,
    pub run_id: String,
    pub executable: String,
    pub logfile: Option<PathBuf>,
    pub loglevel: u8,
    pub maxclients: u64,
    pub total_connections: u64,
    pub total_commands: u64,
    pub rejected_connections: u64,
}

impl SentinelState {
    /// The address a link goes to.
    pub fn link_addr(&self, link: LinkId) -> Option<&Addr> {
        self.links.get(&link).map(|l| &l.addr)
    }
}
