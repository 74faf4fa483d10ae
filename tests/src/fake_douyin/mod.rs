//! `FakeDouyin`: a loopback stand-in for Douyin's live-room web service — the room page and
//! the webcast push WebSocket — speaking the real wire format byte for byte
//! (`/work/shared/protocols.md` §1), so the sidecar's Douyin adapter can be tested end to end
//! without the internet.
//!
//! It serves a [`Scenario`]: a storm of frames generated from a seed, full of what makes real
//! rooms hard (cumulative gift combos interleaved between viewers, bundles, missing combo
//! summaries, duplicated and reordered messages, bad input), and it knows the ground truth a
//! correct client must end up with. On its own schedule it drops the connection, stalls, and
//! sends frames twice. It checks what the client does — the `ttwid` cookie, every query
//! parameter, the signature (refused with `200 OK` like the real service), acks carrying the
//! right `internalExt`, heartbeats, pongs, resuming from the cursor — and records it all for
//! tests to assert on.
//!
//! The signature is checked against [`signature::sign`], which the `fake-douyin-signer` binary
//! computes for the sidecar's pluggable signer command.
//!
//! Nothing here uses the sidecar's code: the protobuf encoding is [`crate::protobuf_writer`].

pub mod messages;
mod observed;
pub mod proto_read;
mod scenario;
mod server;
mod session;
pub mod signature;
mod storm;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};

pub use observed::{Ack, Beat, Connection, SessionEnd};
pub use scenario::{
    Fault, FrameKind, Scenario, ScenarioOptions, Scripted, StormFrame, GZIP_BOMB_INFLATED,
};
pub use server::{FIXED_PARAMS, PUSH_PATH, REQUIRED_PARAMS};
pub use storm::{BadInput, Truth};

use observed::State;

/// What the listener and the sessions share.
pub(crate) struct Shared {
    scenario: Scenario,
    started: Instant,
    state: Mutex<State>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking session must not hide what the others recorded.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Keeps a connection task abortable when the fake is dropped.
    fn track(&self, task: AbortHandle) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }
}

/// A running fake. Dropping it stops the listener and every connection.
pub struct FakeDouyin {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl FakeDouyin {
    /// Binds `127.0.0.1:0` and serves `scenario` until dropped. Needs a tokio runtime.
    pub async fn start(scenario: Scenario) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            scenario,
            started: Instant::now(),
            state: Mutex::new(State::default()),
            tasks: Mutex::new(Vec::new()),
        });
        let accept = tokio::spawn(server::accept_loop(listener, shared.clone()));
        Ok(Self {
            shared,
            addr,
            accept,
        })
    }

    /// `http://127.0.0.1:PORT`: the sidecar's `endpoint` override. The room page is
    /// `{base_url}/{web_rid}`, the WebSocket `ws://127.0.0.1:PORT/webcast/im/push/v2/?…`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn scenario(&self) -> &Scenario {
        &self.shared.scenario
    }

    pub fn truth(&self) -> &Truth {
        &self.shared.scenario.truth
    }

    pub fn web_rid(&self) -> &str {
        &self.shared.scenario.web_rid
    }

    pub fn room_id(&self) -> u64 {
        self.shared.scenario.room_id
    }

    /// Time since the fake started (the clock of every recorded `at`).
    pub fn elapsed(&self) -> Duration {
        self.shared.now()
    }

    /// Every WebSocket upgrade request, in order, refused ones included.
    pub fn connections(&self) -> Vec<Connection> {
        self.shared.lock().connections.clone()
    }

    pub fn acks(&self) -> Vec<Ack> {
        self.shared.lock().acks.clone()
    }

    /// Client heartbeat frames (`payloadType = "hb"`).
    pub fn heartbeats(&self) -> Vec<Beat> {
        self.shared.lock().heartbeats.clone()
    }

    /// Pongs to the server's WebSocket pings.
    pub fn pongs(&self) -> Vec<Beat> {
        self.shared.lock().pongs.clone()
    }

    /// Everything the client did against the contract (cookie, query, acks, unexpected
    /// requests…), signature refusals excepted (see [`Self::signature_refusals`]).
    pub fn violations(&self) -> Vec<String> {
        self.shared.lock().violations.clone()
    }

    /// Upgrade requests refused for their signature.
    pub fn signature_refusals(&self) -> usize {
        self.shared
            .lock()
            .connections
            .iter()
            .filter(|c| c.refused.as_deref() == Some("signature rejected"))
            .count()
    }

    /// The `ttwid` cookies handed out (a test can check none of them reached a log).
    pub fn issued_ttwids(&self) -> Vec<String> {
        self.shared.lock().ttwids.iter().cloned().collect()
    }

    pub fn page_requests(&self) -> usize {
        self.shared.lock().page_requests
    }

    /// Faults that happened: after which frame (`seq`), and when.
    pub fn faults_fired(&self) -> BTreeMap<u64, Duration> {
        self.shared.lock().faults_fired.clone()
    }

    /// Distinct storm frames sent at least once.
    pub fn frames_sent(&self) -> usize {
        self.shared.lock().storm_sent.len()
    }

    /// When storm frame `seq` was first written to a client's socket (the WebSocket send had
    /// returned), on the caller's clock.
    pub fn frame_sent_at(&self, seq: u64) -> Option<Instant> {
        let at = *self.shared.lock().storm_first_sent.get(&seq)?;
        Some(self.shared.started + at)
    }

    /// Every storm frame has been sent at least once.
    pub fn storm_complete(&self) -> bool {
        self.frames_sent() == self.shared.scenario.frames.len()
    }

    /// Storm frames that were sent, can be decoded, and were never acked.
    pub fn unacked_frames(&self) -> Vec<u64> {
        let st = self.shared.lock();
        self.shared
            .scenario
            .frames
            .iter()
            .filter(|f| {
                f.ackable()
                    && st.storm_sent.contains_key(&f.seq)
                    && !st.storm_acked.contains(&f.seq)
            })
            .map(|f| f.seq)
            .collect()
    }

    /// Most WebSocket sessions open at the same time (a client that leaks connections shows
    /// here).
    pub fn max_open_sessions(&self) -> usize {
        self.shared.lock().max_open_sessions
    }
}

impl Drop for FakeDouyin {
    fn drop(&mut self) {
        self.accept.abort();
        let tasks = self.shared.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for t in tasks.iter() {
            t.abort();
        }
    }
}
