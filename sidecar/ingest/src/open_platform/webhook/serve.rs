//! Serving the push endpoint with bounds a slow or hostile client cannot stretch.
//!
//! `axum::serve` has no read timeouts and takes every connection, so a client that trickles its
//! request a byte a second (or opens thousands of sockets) would hold tasks and file descriptors
//! for as long as it likes. This loop hands each connection to hyper's HTTP/1 server directly:
//!
//! * **Header deadline** ([`ServeLimits::header_timeout`], 5 s): the request head must be
//!   complete this long after hyper starts reading it, which is also how long an idle keep-alive
//!   connection lives. The platform (or the proxy in front) sends a whole request at once.
//! * **Body deadline** (the webhook's own, 5 s, see `Webhook::with_body_timeout`): a body still
//!   incomplete then is answered 408 and the connection is closed.
//! * **Connection cap** ([`ServeLimits::max_connections`], 64): a connection beyond it is closed
//!   at once and logged; with the deadlines above, a slot held by a trickler frees within 5 s,
//!   and the platform resends a push that was refused.
//!
//! HTTP/2 is not offered: the platform and reverse proxies speak HTTP/1.1 to a backend.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Bounds on connections (the body deadline lives with the handler).
#[derive(Debug, Clone)]
pub struct ServeLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// How long open connections may take to finish their request at shutdown.
    pub drain_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(5),
            max_connections: 64,
            drain_timeout: Duration::from_secs(3),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish (bounded
/// by [`ServeLimits::drain_timeout`]).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (closing_tx, closing_rx) = watch::channel(false);
    let refused = AtomicU64::new(0);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "push endpoint accept failed");
                // Out of file descriptors, typically: do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let n = refused.fetch_add(1, Ordering::Relaxed) + 1;
            // A flood of connections must not become a flood of log lines.
            if n.is_power_of_two() {
                tracing::warn!(%peer, refused = n, max = limits.max_connections, "push endpoint connection refused: too many connections");
            }
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        let mut closing = closing_rx.clone();
        let header_timeout = limits.header_timeout;
        connections.spawn(async move {
            let _slot = slot;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let mut conn = pin!(http.serve_connection(TokioIo::new(stream), service));
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                // Header timeouts and clients that vanish mid-request land here.
                tracing::debug!(%peer, error = %e, "push connection ended");
            }
        });
    }
    let _ = closing_tx.send(true);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "push connections still open at shutdown; closing them"
        );
        connections.abort_all();
    }
    Ok(())
}
