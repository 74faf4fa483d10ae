//! What the fake saw the client do, for tests to assert on. Times are measured from the moment
//! the fake started.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// One WebSocket upgrade request, accepted or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    /// 0-based, in order of arrival.
    pub id: usize,
    pub at: Duration,
    pub cursor: String,
    pub internal_ext: String,
    pub user_unique_id: String,
    /// Upgraded to a WebSocket (signature accepted).
    pub accepted: bool,
    /// Why the upgrade was refused.
    pub refused: Option<String>,
    /// The storm frame the session started from (`seq`), when the cursor was known.
    pub resumed_at_seq: Option<u64>,
    /// When the server's deliberate silence started on this connection: once the client had
    /// acked the last frame before it (so the client's stall timer starts about now too).
    pub stall_started: Option<Duration>,
    /// When and how the session ended.
    pub ended: Option<(Duration, SessionEnd)>,
    /// Binary messages the server sent on it.
    pub frames_sent: usize,
}

/// How a WebSocket session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client sent a WebSocket close.
    ClientClosed,
    /// The client's TCP connection ended or failed.
    ClientGone(String),
    /// The server dropped the connection (a scheduled fault).
    ServerDropped,
}

/// An ack received: `PushFrame { logId, payloadType = "ack" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub connection: usize,
    pub at: Duration,
    pub log_id: u64,
    /// The storm frame it acknowledges (`None` for the idle frames after the storm).
    pub seq: Option<u64>,
}

/// A client heartbeat (`PushFrame { payloadType = "hb" }`) or a pong to the server's ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beat {
    pub connection: usize,
    pub at: Duration,
}

/// Everything recorded; behind the fake's mutex.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub ttwids: HashSet<String>,
    pub page_requests: usize,
    pub connections: Vec<Connection>,
    pub acks: Vec<Ack>,
    pub heartbeats: Vec<Beat>,
    pub pongs: Vec<Beat>,
    pub violations: Vec<String>,
    /// Storm frame `seq` → times sent.
    pub storm_sent: BTreeMap<u64, usize>,
    /// Storm frame `seq` → when it was first written to a socket.
    pub storm_first_sent: BTreeMap<u64, Duration>,
    pub storm_acked: BTreeSet<u64>,
    pub faults_fired: BTreeMap<u64, Duration>,
    /// Idle frames sent after the storm: `logId` → `internalExt`.
    pub idle_frames: HashMap<u64, String>,
    pub open_sessions: usize,
    pub max_open_sessions: usize,
}

impl State {
    pub fn violation(&mut self, what: String) {
        // Bounded: a client that gets something wrong on every frame should not eat memory.
        if self.violations.len() < 1000 {
            self.violations.push(what);
        }
    }
}
