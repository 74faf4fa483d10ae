//! A deadline on everything said to obs-websocket.
//!
//! obws waits for an answer for as long as the socket stays open, and a frozen OBS (SIGSTOP, a
//! hung UI thread, a machine swapping itself to death) keeps it open and simply never replies.
//! Every request the sidecar makes therefore goes through [`Obs::call`], bounded by
//! `[obs] request_timeout_secs`; connecting (TCP, the WebSocket upgrade, obs-websocket's
//! Hello/Identify and obws's version check) is bounded by `connect_timeout_secs`. A timeout is a
//! lost connection ([`RequestError::connection_lost`]): the controller drops the client and
//! reconnects, which is the only thing that can help.

use std::future::Future;
use std::time::Duration;

use super::ObsConfig;

/// Why a request to OBS did not give an answer we can use.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("{what}: OBS did not answer within {after:?}")]
    TimedOut { what: &'static str, after: Duration },
    /// OBS answered, with an error (e.g. no such source, unknown input kind).
    #[error("{what}: OBS refused: {message}")]
    Refused { what: &'static str, message: String },
    /// The connection failed under the request (closed, reset, handshake failed).
    #[error("{what}: {message}")]
    Failed { what: &'static str, message: String },
}

impl RequestError {
    /// Whether the connection is gone or useless. Only a refusal leaves it usable: OBS is
    /// there and answering, so the caller handles that one request's failure locally.
    pub fn connection_lost(&self) -> bool {
        !matches!(self, Self::Refused { .. })
    }

    fn from_obws(what: &'static str, error: obws::Error) -> Self {
        match error {
            obws::Error::Api { code, message } => Self::Refused {
                what,
                message: message.unwrap_or_else(|| format!("{code:?}")),
            },
            // OBS answered something obws cannot read: reconnecting would not change that.
            obws::Error::DeserializeResponse(e) => Self::Refused {
                what,
                message: format!("unexpected answer: {e}"),
            },
            other => Self::Failed {
                what,
                message: chain(&other),
            },
        }
    }
}

/// An error and its causes on one line ("failed to connect: Connection refused (os error 111)").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The requests OBS refused on one connection, each logged once.
#[derive(Default)]
pub struct Refusals {
    reported: std::collections::BTreeSet<&'static str>,
}

impl Refusals {
    /// A refusal is logged (once per step and connection) and the step skipped: OBS is there,
    /// the rest still applies. A lost connection propagates.
    pub fn settle<T>(
        &mut self,
        step: &'static str,
        result: Result<T, RequestError>,
    ) -> Result<Option<T>, RequestError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(e) if e.connection_lost() => Err(e),
            Err(e) => {
                if self.reported.insert(step) {
                    tracing::warn!(step, error = %e, "OBS refused; the show goes on without it");
                } else {
                    tracing::debug!(step, error = %e, "OBS refused again");
                }
                Ok(None)
            }
        }
    }
}

/// A connected obs-websocket client whose every request has a deadline.
pub struct Obs {
    client: obws::Client,
    timeout: Duration,
}

impl Obs {
    /// Connects and logs in, all within `connect_timeout_secs`.
    pub async fn connect(config: &ObsConfig) -> Result<Self, RequestError> {
        let after = Duration::from_secs_f64(config.connect_timeout_secs);
        let password = (!config.password.is_empty()).then_some(config.password.as_str());
        let connecting = obws::Client::connect(&config.host, config.port, password);
        let client = match tokio::time::timeout(after, connecting).await {
            Ok(Ok(client)) => client,
            // Whatever went wrong while connecting, the connection is not usable.
            Ok(Err(e)) => {
                return Err(RequestError::Failed {
                    what: "connect",
                    message: chain(&e),
                })
            }
            Err(_) => {
                return Err(RequestError::TimedOut {
                    what: "connect",
                    after,
                })
            }
        };
        Ok(Self {
            client,
            timeout: Duration::from_secs_f64(config.request_timeout_secs),
        })
    }

    /// The underlying client, to build a request for [`Obs::call`]. Never await a request
    /// on it directly: that would have no deadline.
    pub fn client(&self) -> &obws::Client {
        &self.client
    }

    /// Awaits `request` (built on [`Obs::client`]) for at most the request timeout. `what` names
    /// it in errors (the obs-websocket request type, e.g. `"CreateInput"`).
    ///
    /// Dropping a timed-out request leaves its slot in obws's table of pending answers; that is
    /// harmless because a timeout means the caller drops the whole client.
    pub async fn call<T>(
        &self,
        what: &'static str,
        request: impl Future<Output = obws::Result<T>>,
    ) -> Result<T, RequestError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(result) => result.map_err(|e| RequestError::from_obws(what, e)),
            Err(_) => Err(RequestError::TimedOut {
                what,
                after: self.timeout,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use futures_util::{SinkExt, StreamExt};
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::Message;

    use super::*;

    fn config(port: u16) -> ObsConfig {
        ObsConfig {
            port,
            request_timeout_secs: 0.3,
            connect_timeout_secs: 0.4,
            ..ObsConfig::default()
        }
    }

    /// How the stand-in obs-websocket treats requests other than the login's GetVersion.
    #[derive(Clone, Copy)]
    enum Answer {
        Never,
        Refuse,
    }

    /// An obs-websocket 5 stand-in (no authentication) on a free loopback port.
    async fn fake_obs(answer: Answer) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve_fake(tcp, answer));
            }
        });
        port
    }

    async fn serve_fake(tcp: tokio::net::TcpStream, answer: Answer) {
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let hello =
            serde_json::json!({"op": 0, "d": {"obsWebSocketVersion": "5.1.0", "rpcVersion": 1}});
        ws.send(Message::text(hello.to_string())).await.unwrap();
        while let Some(Ok(message)) = ws.next().await {
            let Ok(text) = message.to_text() else {
                continue;
            };
            let Ok(msg) = serde_json::from_str::<serde_json::Value>(text) else {
                continue;
            };
            let d = &msg["d"];
            let reply = match (msg["op"].as_u64(), d["requestType"].as_str()) {
                (Some(1), _) => serde_json::json!({"op": 2, "d": {"negotiatedRpcVersion": 1}}),
                (Some(6), Some("GetVersion")) => serde_json::json!({"op": 7, "d": {
                    "requestType": "GetVersion", "requestId": d["requestId"],
                    "requestStatus": {"result": true, "code": 100},
                    "responseData": {
                        "obsVersion": "29.0.2", "obsWebSocketVersion": "5.1.0", "rpcVersion": 1,
                        "availableRequests": [], "supportedImageFormats": [],
                        "platform": "debian", "platformDescription": "test"
                    }
                }}),
                (Some(6), Some(kind)) => match answer {
                    Answer::Never => continue,
                    Answer::Refuse => serde_json::json!({"op": 7, "d": {
                        "requestType": kind, "requestId": d["requestId"],
                        "requestStatus": {"result": false, "code": 600, "comment": "No source was found"}
                    }}),
                },
                _ => continue,
            };
            if ws.send(Message::text(reply.to_string())).await.is_err() {
                return;
            }
        }
    }

    #[tokio::test]
    async fn a_server_that_accepts_and_never_answers_times_the_connect_out() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // The kernel completes the TCP handshake from the backlog, as it does for a frozen OBS;
        // nobody ever reads the WebSocket upgrade.
        let begin = Instant::now();
        let err = Obs::connect(&config(port)).await.err().expect("must fail");
        let took = begin.elapsed();
        assert!(
            matches!(
                err,
                RequestError::TimedOut {
                    what: "connect",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.connection_lost());
        assert!(
            took >= Duration::from_millis(350) && took < Duration::from_secs(2),
            "{took:?}"
        );
        drop(listener);
    }

    #[tokio::test]
    async fn an_unanswered_request_times_out_as_a_lost_connection() {
        let port = fake_obs(Answer::Never).await;
        let obs = Obs::connect(&config(port)).await.unwrap();
        let begin = Instant::now();
        let err = obs
            .call("GetSceneList", obs.client().scenes().list())
            .await
            .expect_err("must time out");
        let took = begin.elapsed();
        assert!(
            matches!(err, RequestError::TimedOut { what: "GetSceneList", after } if after == Duration::from_millis(300)),
            "{err}"
        );
        assert!(err.connection_lost());
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(2),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn a_refusal_keeps_the_connection() {
        let port = fake_obs(Answer::Refuse).await;
        let obs = Obs::connect(&config(port)).await.unwrap();
        let err = obs
            .call(
                "GetInputSettings",
                obs.client().inputs().settings::<serde_json::Value>("x"),
            )
            .await
            .expect_err("must be refused");
        assert!(
            matches!(&err, RequestError::Refused { message, .. } if message == "No source was found"),
            "{err}"
        );
        assert!(!err.connection_lost());
        // The connection is still good for the next request.
        obs.call("GetVersion", obs.client().general().version())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn nothing_listening_fails_fast_with_the_cause() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = Obs::connect(&config(port)).await.err().expect("must fail");
        assert!(matches!(err, RequestError::Failed { .. }), "{err}");
        assert!(err.to_string().to_lowercase().contains("refused"), "{err}");
    }
}
