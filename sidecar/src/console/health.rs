//! `/metrics` (Prometheus text), `/healthz` (the process answers) and `/readyz` (the show
//! can do its job: a source connected, OBS attached when it is used, a voice that speaks).
//!
//! Counters the show and admission count as they go (events, latencies) come through the
//! `metrics` facade. What other parts already count (the timeline's drops, rejected input,
//! TTS engines, sources, OBS and the link) is read from them at scrape time and set as
//! absolute values, so nothing is counted twice and no part pays for a scrape it did not ask.

use std::sync::OnceLock;

use axum::extract::State as Extract;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::http::{refusal, State};
use super::view::Panels;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's metrics recorder (once; later calls are no-ops). Latencies get
/// buckets from 1 ms to 30 s.
pub fn install_metrics() {
    HANDLE.get_or_init(|| {
        let buckets = [
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets(&buckets)
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Histogram samples wait in the recorder until upkeep folds them into buckets: without
        // it (nobody scraping), a long show's memory would grow with every event.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(5));
                upkeep.run_upkeep();
            })
            .expect("a thread for metrics upkeep");
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "a metrics recorder was already installed; /metrics shows only its own readings"
            );
        }
        handle
    });
}

pub(super) async fn metrics(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    install_metrics();
    set_readings(&state, &state.panels());
    let text = HANDLE.get().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// What other parts count, as absolute values.
fn set_readings(state: &State, panels: &Panels) {
    let show = &panels.show;
    metrics::gauge!("aivs_paused").set(f64::from(u8::from(show.paused)));
    metrics::gauge!("aivs_queue_total").set(show.queued_total as f64);
    for (level, n) in &show.queued_by_level {
        metrics::gauge!("aivs_queue_depth", "level" => level.to_string()).set(*n as f64);
    }
    metrics::counter!("aivs_lines_aired_total").absolute(show.counters.lines_aired);
    metrics::counter!("aivs_lines_interrupted_total").absolute(show.counters.interrupted);
    metrics::counter!("aivs_thanks_merged_total").absolute(show.counters.thanks_merged);
    metrics::counter!("aivs_speech_failures_total").absolute(show.counters.speech_failures);
    for (class, reason, n) in &show.counters.drops {
        metrics::counter!("aivs_lines_dropped_total", "class" => class.clone(), "reason" => reason.clone())
            .absolute(*n);
    }
    for (platform, reason, n) in state.readings().rejected.snapshot() {
        metrics::counter!("aivs_rejected_total", "platform" => platform, "reason" => reason)
            .absolute(n);
    }
    for source in &panels.sources {
        let up = f64::from(u8::from(source.state == "connected"));
        metrics::gauge!("aivs_source_up", "source" => source.key.clone()).set(up);
        metrics::counter!("aivs_source_reconnects_total", "source" => source.key.clone())
            .absolute(source.reconnects);
    }
    for e in &panels.voice {
        let labels = [("engine", e.engine.clone()), ("voice", e.voice.clone())];
        metrics::counter!("aivs_tts_attempts_total", &labels).absolute(e.attempts);
        metrics::counter!("aivs_tts_errors_total", &labels)
            .absolute(e.attempts.saturating_sub(e.successes));
        metrics::counter!("aivs_tts_breaker_trips_total", &labels).absolute(e.breaker_trips);
        metrics::gauge!("aivs_tts_breaker_open", &labels)
            .set(f64::from(u8::from(e.breaker != "closed")));
    }
    metrics::gauge!("aivs_obs_connected").set(f64::from(u8::from(panels.obs.connected)));
    metrics::gauge!("aivs_avatar_clients").set(panels.avatars as f64);
    metrics::gauge!("aivs_audio_clock").set(f64::from(u8::from(panels.audio_clock)));
    for target in &panels.push {
        let live = f64::from(u8::from(target.state == "live"));
        metrics::gauge!("aivs_push_live", "target" => target.name.clone()).set(live);
    }
}

pub(super) async fn healthz(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    (StatusCode::OK, "ok\n").into_response()
}

/// 200 when a source is connected, OBS is attached (if OBS control is on) and a voice
/// engine's breaker is closed; 503 naming what is missing otherwise.
pub(super) async fn readyz(Extract(state): Extract<State>, headers: HeaderMap) -> Response {
    if let Some(refused) = refusal(&state, &headers) {
        return refused;
    }
    let missing = not_ready(&state.panels());
    if missing.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let text = format!("not ready: {}\n", missing.join("; "));
        (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
    }
}

fn not_ready(panels: &Panels) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !panels.sources.iter().any(|s| s.state == "connected") {
        missing.push("no live-room source is connected");
    }
    if panels.obs.enabled && !panels.obs.connected {
        missing.push("OBS is not attached");
    }
    if !panels.voice.iter().any(|e| e.breaker == "closed") {
        missing.push("no voice engine is available");
    }
    missing
}
