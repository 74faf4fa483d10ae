//! The console's routes, the token, and the live update stream.
//!
//! * **Token.** Every route needs it: `Authorization: Bearer …`, or the `aivs_console`
//!   cookie. Opening `/?token=…` once (the address written at start, or an OBS dock's URL)
//!   sets that cookie (HttpOnly, SameSite=Strict) and sends the browser on to `/`, so the
//!   token leaves the address bar and other sites' pages cannot ride on it.
//! * **Controls** are JSON bodies (`application/json` only: a cross-site form cannot send
//!   one without a preflight) answered by the show; a show that does not answer within
//!   [`ANSWER_WITHIN`] gets a 503, never a hung page.
//! * **Updates** go out over SSE when the show's view changes, and at least every second for
//!   what other parts own (sources, voice, OBS); nothing is sent when nothing changed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State as Extract};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot, watch};

use super::control::{Control, ControlRequest};
use super::view::{EngineView, ObsView, Panels, PushView, ShowView, SourceView};
use super::Readings;

/// The show answers a control within this or the page is told it is busy.
const ANSWER_WITHIN: Duration = Duration::from_millis(1500);
/// What other parts own is read again at least this often for the update stream.
const READ_EVERY: Duration = Duration::from_secs(1);
/// Push targets' state is asked of OBS this often (each ask is one vendor request).
const PUSH_EVERY: Duration = Duration::from_secs(2);
const COOKIE: &str = "aivs_console";
const PAGE: &str = include_str!("page.html");

#[derive(Clone)]
pub(super) struct State {
    token: Arc<str>,
    controls: mpsc::Sender<ControlRequest>,
    show: watch::Receiver<Arc<ShowView>>,
    readings: Readings,
    push: Arc<Mutex<Vec<PushView>>>,
}

impl State {
    pub(super) fn new(
        token: String,
        controls: mpsc::Sender<ControlRequest>,
        show: watch::Receiver<Arc<ShowView>>,
        readings: Readings,
    ) -> Self {
        Self {
            token: Arc::from(token),
            controls,
            show,
            readings,
            push: Arc::default(),
        }
    }

    /// Everything one update carries.
    pub(super) fn panels(&self) -> Panels {
        let r = &self.readings;
        let now = crate::clock::now_ms();
        let sources = r
            .sources
            .snapshot()
            .into_iter()
            .map(|(key, s)| SourceView {
                key,
                state: s.state.name(),
                reason: s.reason,
                since_secs: now.saturating_sub(s.since_ms) as f64 / 1000.0,
                reconnects: s.reconnects,
            })
            .collect();
        let voice = r
            .voice
            .stats()
            .into_iter()
            .map(|s| EngineView {
                engine: s.engine,
                voice: s.voice,
                attempts: s.attempts,
                successes: s.successes,
                success_rate: s.recent_success_rate,
                mean_latency_ms: s.mean_latency_ms,
                breaker: s.breaker,
                breaker_trips: s.breaker_trips,
            })
            .collect();
        let obs = match &r.obs {
            Some(obs) => {
                let c = obs.connection();
                ObsView {
                    enabled: true,
                    connected: c.connected,
                    reason: c.reason,
                    streaming: *obs.streaming().borrow(),
                }
            }
            None => ObsView::default(),
        };
        Panels {
            show: (**self.show.borrow()).clone(),
            sources,
            voice,
            obs,
            avatars: r.hub.client_count(),
            audio_clock: r.hub.has_audio_clock(),
            push: self.push.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    pub(super) fn readings(&self) -> &Readings {
        &self.readings
    }

    fn authorised(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
            .next();
        [bearer, cookie]
            .into_iter()
            .flatten()
            .any(|given| same(given, &self.token))
    }
}

/// Compares in time independent of where the first difference is.
fn same(given: &str, token: &str) -> bool {
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

pub(super) async fn serve(listener: tokio::net::TcpListener, state: State) {
    if let Some(obs) = state.readings.obs.clone() {
        tokio::spawn(poll_push(obs, state.push.clone()));
    }
    let app = Router::new()
        .route("/", get(page))
        .route("/api/state", get(panels))
        .route("/api/events", get(events))
        .route("/api/control", post(control))
        .route("/metrics", get(super::health::metrics))
        .route("/healthz", get(super::health::healthz))
        .route("/readyz", get(super::health::readyz))
        .with_state(state);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the console stopped serving");
    }
}

/// Refuses what has no token (the page's own address sets it: see the module docs).
pub(super) fn refusal(state: &State, headers: &HeaderMap) -> Option<Response> {
    (!state.authorised(headers))
        .then(|| (StatusCode::UNAUTHORIZED, "token required\n").into_response())
}

#[derive(Deserialize)]
struct PageQuery {
    token: Option<String>,
}

async fn page(
    Extract(state): Extract<State>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(token) = query.token {
        if !same(&token, &state.token) {
            return (StatusCode::UNAUTHORIZED, "wrong token\n").into_response();
        }
        let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
        let mut response = Redirect::to("/").into_response();
        if let Ok(value) = cookie.parse() {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        return response;
    }
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE)).into_response()
}

async fn panels(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    Json(state.panels()).into_response()
}

async fn events(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    Sse::new(updates(state))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One `panels` event now, then one whenever something changed.
fn updates(state: State) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    let mut show = state.show.clone();
    show.mark_changed();
    futures_util::stream::unfold(
        (state, show, String::new()),
        |(state, mut show, last)| async move {
            loop {
                tokio::select! {
                    changed = show.changed() => if changed.is_err() {
                        // The show is over: the page keeps its last view.
                        return None;
                    },
                    _ = tokio::time::sleep(READ_EVERY) => {}
                }
                let json = match serde_json::to_string(&state.panels()) {
                    Ok(json) => json,
                    Err(e) => {
                        tracing::error!(error = %e, "console view could not be written");
                        continue;
                    }
                };
                if json != last {
                    let event = Event::default().event("panels").data(json.clone());
                    return Some((Ok(event), (state, show, json)));
                }
            }
        },
    )
}

async fn control(
    Extract(state): Extract<State>,
    headers: HeaderMap,
    body: Result<Json<Control>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    let control = match body {
        Ok(Json(control)) => control,
        Err(rejection) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("{}\n", rejection.body_text()),
            )
                .into_response()
        }
    };
    let who = headers
        .get("x-operator")
        .and_then(|v| v.to_str().ok())
        .map(|w| {
            percent_encoding::percent_decode_str(w)
                .decode_utf8_lossy()
                .trim()
                .to_string()
        })
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().filter(|c| !c.is_control()).take(40).collect())
        .unwrap_or_else(|| "operator".to_string());
    let (reply, answer) = oneshot::channel();
    let request = ControlRequest {
        control,
        who,
        reply,
    };
    if state.controls.try_send(request).is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the show is busy or over\n",
        )
            .into_response();
    }
    match tokio::time::timeout(ANSWER_WITHIN, answer).await {
        Ok(Ok(reply)) => {
            let status = if reply.ok {
                StatusCode::OK
            } else {
                StatusCode::CONFLICT
            };
            (status, Json(reply)).into_response()
        }
        _ => (StatusCode::SERVICE_UNAVAILABLE, "the show did not answer\n").into_response(),
    }
}

/// Keeps the push targets' state for the page (OBS answers from its last poll when away).
async fn poll_push(obs: crate::obs::ObsController, into: Arc<Mutex<Vec<PushView>>>) {
    loop {
        let targets = obs.push_status().await;
        let views = targets
            .into_iter()
            .map(|t| PushView {
                name: t.name,
                state: t.state,
                kbps: t.bitrate_kbps_now,
                mb_sent: t.bytes_sent as f64 / 1_000_000.0,
                reconnects: t.reconnects,
                last_error: t.last_error,
            })
            .collect();
        *into.lock().unwrap_or_else(|e| e.into_inner()) = views;
        tokio::time::sleep(PUSH_EVERY).await;
    }
}
