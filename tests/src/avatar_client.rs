//! Plays the OBS plugin's part on the avatar link for tests and benchmarks: connects with the
//! plugin's handshake ([`avatar_link::client::connect`]), says Hello as the audio clock, records
//! every `Say` and its audio, and reports `Started`/`Finished` at once (playout is not real time
//! here), or in real time through the plugin's own queue ([`avatar_link::playout`]).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use avatar_link::playout::{Playout, PlayoutEvent, BLOCK_SAMPLES};
use avatar_link::{AudioChunk, Command, Frame, Report, SAMPLE_RATE};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// What the avatar saw of one utterance.
#[derive(Debug, Clone)]
pub struct Heard {
    pub utterance: u64,
    pub text: String,
    pub expression: Option<String>,
    pub said_at: Instant,
    pub first_audio_at: Option<Instant>,
    pub samples: usize,
    pub finished: bool,
}

impl Heard {
    /// An utterance whose `Say` just arrived, no audio yet.
    fn said(utterance: u64, text: String, expression: Option<String>) -> Self {
        Self {
            utterance,
            text,
            expression,
            said_at: Instant::now(),
            first_audio_at: None,
            samples: 0,
            finished: false,
        }
    }
}

/// A link connection that said Hello as the audio clock.
pub type AvatarSocket = avatar_link::client::Socket;

/// Connects to the link on `port` as the audio clock (retrying until `deadline`).
pub async fn connect_avatar(port: u16, token: &str, deadline: Instant) -> Result<AvatarSocket> {
    let url = format!("ws://127.0.0.1:{port}{}", avatar_link::PATH);
    loop {
        match avatar_link::client::connect(url.as_str(), token, "e2e-avatar", true).await {
            Ok(ws) => return Ok(ws),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => bail!("cannot connect to the avatar link: {e}"),
        }
    }
}

/// Connects to the link on `port` (retrying until `timeout`) and plays until `done(&heard)` is
/// true after an utterance finished; fails after `timeout`.
pub async fn play_avatar(
    port: u16,
    token: &str,
    timeout: Duration,
    done: impl Fn(&[Heard]) -> bool,
) -> Result<Vec<Heard>> {
    let deadline = Instant::now() + timeout;
    let mut ws = connect_avatar(port, token, deadline).await?;
    let mut heard: Vec<Heard> = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(message)) = tokio::time::timeout(left, ws.next()).await else {
            bail!("timed out; heard so far: {heard:#?}");
        };
        match message? {
            Message::Text(text) => {
                if let Ok(Command::Say {
                    utterance,
                    text,
                    expression,
                    ..
                }) = serde_json::from_str::<Command>(&text)
                {
                    heard.push(Heard::said(utterance, text, expression));
                }
            }
            Message::Binary(bytes) => {
                let Some(chunk) = voice_chunk(&bytes)? else {
                    continue;
                };
                let Some(h) = heard.iter_mut().find(|h| h.utterance == chunk.utterance) else {
                    continue;
                };
                if h.first_audio_at.is_none() {
                    h.first_audio_at = Some(Instant::now());
                    let started = Report::Started {
                        utterance: chunk.utterance,
                    };
                    ws.send(Message::text(serde_json::to_string(&started)?))
                        .await?;
                }
                h.samples += chunk.samples.len();
                if chunk.last {
                    h.finished = true;
                    let finished = Report::Finished {
                        utterance: chunk.utterance,
                        played_ms: avatar_link::samples_to_ms(h.samples),
                        interrupted: false,
                    };
                    ws.send(Message::text(serde_json::to_string(&finished)?))
                        .await?;
                    if done(&heard) {
                        return Ok(heard);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Like [`play_avatar`], but plays in real time through the OBS source's queue
/// ([`avatar_link::playout`]), paced by the wall clock: an utterance lasts as long as its audio
/// (late audio waits), a `Stop` fades it out (`Finished` with `interrupted` and what was
/// played), and utterances play one after another in the order they were said. `Progress`
/// every 20 ms.
pub async fn play_avatar_in_real_time(
    port: u16,
    token: &str,
    timeout: Duration,
    done: impl Fn(&[Heard]) -> bool,
) -> Result<Vec<Heard>> {
    let deadline = Instant::now() + timeout;
    let mut ws = connect_avatar(port, token, deadline).await?;
    let mut heard: Vec<Heard> = Vec::new();
    let mut playout = Playout::default();
    let mut block = vec![0.0; BLOCK_SAMPLES];
    // The playout's clock: samples pulled since `started`.
    let started = Instant::now();
    let mut pulled: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        if Instant::now() > deadline {
            bail!("timed out; heard so far: {heard:#?}");
        }
        tokio::select! {
            message = ws.next() => match message.context("link closed")?? {
                Message::Text(text) => match serde_json::from_str::<Command>(&text) {
                    Ok(Command::Say { utterance, text, expression, .. }) => {
                        heard.push(Heard::said(utterance, text, expression));
                        playout.announce(utterance);
                    }
                    Ok(Command::Stop { utterance }) => playout.stop(utterance),
                    _ => {}
                },
                Message::Binary(bytes) => {
                    let Some(chunk) = voice_chunk(&bytes)? else {
                    continue;
                };
                    if let Some(h) = heard.iter_mut().find(|h| h.utterance == chunk.utterance) {
                        h.samples += chunk.samples.len();
                        h.first_audio_at.get_or_insert_with(Instant::now);
                        playout.push(chunk.utterance, &chunk.samples, chunk.last);
                    }
                }
                _ => {}
            },
            _ = tick.tick() => {}
        }
        let due = started.elapsed().as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000;
        let mut reports = Vec::new();
        let mut now_playing = None;
        while u128::from(pulled) + BLOCK_SAMPLES as u128 <= due {
            let block = playout.pull(&mut block);
            pulled += BLOCK_SAMPLES as u64;
            now_playing = block.now_playing;
            for event in block.events {
                match event {
                    PlayoutEvent::Started { utterance, .. } => {
                        reports.push(Report::Started { utterance })
                    }
                    PlayoutEvent::Finished {
                        utterance,
                        played_ms,
                        interrupted,
                        ..
                    } => {
                        if let Some(h) = heard.iter_mut().find(|h| h.utterance == utterance) {
                            h.finished = true;
                        }
                        reports.push(Report::Finished {
                            utterance,
                            played_ms,
                            interrupted,
                        });
                    }
                }
            }
        }
        if let Some(now) = now_playing {
            reports.push(Report::Progress {
                utterance: now.utterance,
                played_ms: now.played_ms,
                received_ms: now.received_ms,
            });
        }
        let mut finished = false;
        for report in reports {
            finished |= matches!(report, Report::Finished { .. });
            ws.send(Message::text(serde_json::to_string(&report)?))
                .await?;
        }
        if finished && done(&heard) {
            return Ok(heard);
        }
    }
}

/// What a long-running avatar ([`play_avatar_until`]) played, as counts: a soak airs far too
/// many lines to keep each one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Played {
    pub said: u64,
    pub finished: u64,
    pub samples: u64,
}

/// Like [`play_avatar`], but plays until `stop` turns `true` (or its sender is dropped), keeping
/// only counters, which it also publishes on `progress` after every finished utterance so a
/// soak can sample them. Fails if the link closes before `stop`.
pub async fn play_avatar_until(
    port: u16,
    token: &str,
    connect_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    progress: tokio::sync::watch::Sender<Played>,
) -> Result<Played> {
    let mut ws = connect_avatar(port, token, Instant::now() + connect_timeout).await?;
    let mut played = Played::default();
    // Samples of the utterances said and not finished (`None`: no audio yet); finished ones are
    // forgotten.
    let mut playing: std::collections::HashMap<u64, Option<usize>> =
        std::collections::HashMap::new();
    loop {
        let message = tokio::select! {
            // Stopped, or the soak that owns the sender is gone.
            _ = stop.wait_for(|stop| *stop) => return Ok(played),
            message = ws.next() => message,
        };
        let Some(message) = message else {
            bail!("the link closed while playing: {played:?}");
        };
        match message? {
            Message::Text(text) => {
                match serde_json::from_str::<Command>(&text) {
                    Ok(Command::Say { utterance, .. }) => {
                        played.said += 1;
                        playing.insert(utterance, None);
                    }
                    // An interrupted line: the plugin reports what it played of it.
                    Ok(Command::Stop { utterance }) => {
                        if let Some(samples) = playing.remove(&utterance) {
                            let samples = samples.unwrap_or_default();
                            let finished = Report::Finished {
                                utterance,
                                played_ms: avatar_link::samples_to_ms(samples),
                                interrupted: true,
                            };
                            ws.send(Message::text(serde_json::to_string(&finished)?))
                                .await?;
                        }
                    }
                    _ => {}
                }
            }
            Message::Binary(bytes) => {
                let Some(chunk) = voice_chunk(&bytes)? else {
                    continue;
                };
                let Some(entry) = playing.get_mut(&chunk.utterance) else {
                    continue;
                };
                let first = entry.is_none();
                *entry.get_or_insert(0) += chunk.samples.len();
                if first {
                    let started = Report::Started {
                        utterance: chunk.utterance,
                    };
                    ws.send(Message::text(serde_json::to_string(&started)?))
                        .await?;
                }
                played.samples += chunk.samples.len() as u64;
                if chunk.last {
                    let samples = playing
                        .remove(&chunk.utterance)
                        .flatten()
                        .unwrap_or_default();
                    played.finished += 1;
                    let finished = Report::Finished {
                        utterance: chunk.utterance,
                        played_ms: avatar_link::samples_to_ms(samples),
                        interrupted: false,
                    };
                    ws.send(Message::text(serde_json::to_string(&finished)?))
                        .await?;
                    progress.send_replace(played);
                }
            }
            _ => {}
        }
    }
}

/// A voice chunk, or `None` for a sound effect's frame (a trigger's `sound_file`, which plays
/// over the voice and is no part of any utterance).
fn voice_chunk(bytes: &[u8]) -> Result<Option<AudioChunk>> {
    match Frame::decode(bytes).context("bad audio frame")? {
        Frame::Voice(chunk) => Ok(Some(chunk)),
        Frame::Sound(_) => Ok(None),
    }
}
