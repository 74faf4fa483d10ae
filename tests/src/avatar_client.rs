//! Plays the OBS plugin's part on the avatar link for tests and benchmarks: connects with the
//! bearer token, says Hello as the audio clock, records every `Say` and its audio, and reports
//! `Started`/`Finished` at once (playout is not real time here).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use avatar_link::{AudioChunk, Command, Report};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
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
pub type AvatarSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects to the link on `port` as the audio clock (retrying until `deadline`).
pub async fn connect_avatar(port: u16, token: &str, deadline: Instant) -> Result<AvatarSocket> {
    let url = format!("ws://127.0.0.1:{port}{}", avatar_link::PATH);
    let mut ws = loop {
        let mut request = url.as_str().into_client_request()?;
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => break ws,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => bail!("cannot connect to the avatar link: {e}"),
        }
    };
    let hello = Report::Hello {
        protocol: 1,
        client: "e2e-avatar".into(),
        audio_clock: true,
    };
    ws.send(Message::text(serde_json::to_string(&hello)?))
        .await?;
    Ok(ws)
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
                let chunk = AudioChunk::decode(&bytes).context("bad audio chunk")?;
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
                        played_ms: (h.samples * 1000 / avatar_link::SAMPLE_RATE as usize) as u32,
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

/// Like [`play_avatar`], but plays in real time, as the OBS source does: an utterance lasts as
/// long as its audio (it ends with `Finished` once all of it has arrived and that long has
/// passed), a `Stop` cuts it (`Finished` with `interrupted` and what was played), and an
/// utterance whose audio came while another played starts after it. `Progress` every 20 ms.
pub async fn play_avatar_in_real_time(
    port: u16,
    token: &str,
    timeout: Duration,
    done: impl Fn(&[Heard]) -> bool,
) -> Result<Vec<Heard>> {
    let deadline = Instant::now() + timeout;
    let mut ws = connect_avatar(port, token, deadline).await?;
    let mut heard: Vec<Heard> = Vec::new();
    let mut complete = std::collections::HashSet::new();
    // (index into `heard`, when it started playing)
    let mut playing: Option<(usize, Instant)> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        if Instant::now() > deadline {
            bail!("timed out; heard so far: {heard:#?}");
        }
        let mut reports = Vec::new();
        tokio::select! {
            message = ws.next() => match message.context("link closed")?? {
                Message::Text(text) => match serde_json::from_str::<Command>(&text) {
                    Ok(Command::Say { utterance, text, expression, .. }) => {
                        heard.push(Heard::said(utterance, text, expression))
                    }
                    Ok(Command::Stop { utterance }) => {
                        if let Some((i, started)) =
                            playing.filter(|(i, _)| heard[*i].utterance == utterance)
                        {
                            heard[i].finished = true;
                            playing = None;
                            reports.push(Report::Finished {
                                utterance,
                                played_ms: started.elapsed().as_millis() as u32,
                                interrupted: true,
                            });
                        } else if let Some(h) = heard.iter_mut().find(|h| h.utterance == utterance) {
                            h.finished = true; // cut before it started
                        }
                    }
                    _ => {}
                },
                Message::Binary(bytes) => {
                    let chunk = AudioChunk::decode(&bytes).context("bad audio chunk")?;
                    if let Some(h) = heard.iter_mut().find(|h| h.utterance == chunk.utterance) {
                        h.samples += chunk.samples.len();
                        h.first_audio_at.get_or_insert_with(Instant::now);
                        if chunk.last {
                            complete.insert(chunk.utterance);
                        }
                    }
                }
                _ => {}
            },
            _ = tick.tick() => {}
        }
        if let Some((i, started)) = playing {
            let h = &heard[i];
            let length_ms = (h.samples * 1000 / avatar_link::SAMPLE_RATE as usize) as u128;
            let elapsed_ms = started.elapsed().as_millis();
            if complete.contains(&h.utterance) && elapsed_ms >= length_ms {
                heard[i].finished = true;
                playing = None;
                reports.push(Report::Finished {
                    utterance: heard[i].utterance,
                    played_ms: length_ms as u32,
                    interrupted: false,
                });
            } else {
                reports.push(Report::Progress {
                    utterance: h.utterance,
                    played_ms: elapsed_ms.min(length_ms) as u32,
                    received_ms: length_ms as u32,
                });
            }
        }
        if playing.is_none() {
            if let Some(i) = heard.iter().position(|h| !h.finished && h.samples > 0) {
                playing = Some((i, Instant::now()));
                reports.push(Report::Started {
                    utterance: heard[i].utterance,
                });
            }
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
                                played_ms: (samples * 1000 / avatar_link::SAMPLE_RATE as usize)
                                    as u32,
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
                let chunk = AudioChunk::decode(&bytes).context("bad audio chunk")?;
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
                        played_ms: (samples * 1000 / avatar_link::SAMPLE_RATE as usize) as u32,
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
