//! The network TTS engines against loopback stand-ins that speak their wire formats
//! (`e2e::fake_gpt_sovits`, `e2e::fake_edge_tts`), with real espeak-ng speech inside (and
//! ffmpeg's MP3 for Edge), and the rotation across both.
//!
//! "Speech" is asserted from the decoded samples: after trimming silence more than 0.5 s
//! remains, at a level a voice has (-40..-3 dBFS RMS), within ±1 — not from the engines' own
//! account of what they did.

use std::sync::Arc;
use std::time::Duration;

use e2e::fake_edge_tts::{EdgeMode, FakeEdgeTts};
use e2e::fake_gpt_sovits::{FakeGptSovits, SovitsMode};
use sidecar::speech::audio::{finish_clip, rms_dbfs, trim_silence};
use sidecar::speech::edge_tts::{drm::TRUSTED_CLIENT_TOKEN, EdgeTts, EdgeTtsConfig};
use sidecar::speech::gpt_sovits::{GptSovits, GptSovitsConfig, GptSovitsSpeaker, MediaType};
use sidecar::speech::rotation::{AudioCheck, Rotation, RotationConfig, Step};
use sidecar::speech::{RawAudio, SpeechError, SpeechRequest, TtsEngine};

const LINE: &str = "感谢小明送的小心心，太开心了！";
const MODEL_RATE: u32 = 32_000;

fn assert_speech(audio: &RawAudio, expected_rate: u32) {
    assert_eq!(audio.rate, expected_rate);
    assert!(audio
        .samples
        .iter()
        .all(|s| s.is_finite() && s.abs() <= 1.0));
    let speech = trim_silence(&audio.samples, audio.rate);
    let secs = speech.len() as f64 / f64::from(audio.rate);
    let level = rms_dbfs(speech);
    assert!(secs > 0.5, "only {secs:.2} s of speech");
    assert!((-40.0..-3.0).contains(&level), "speech at {level:.1} dBFS");
}

/// The caller's audio checks as the show would run them: the audio middleware's silence and
/// length test; a refusal is `Rejected`.
fn middleware_check() -> AudioCheck {
    Arc::new(|audio: &RawAudio| {
        finish_clip(&audio.samples, audio.rate, -20.0)
            .map(|_| ())
            .map_err(|e| SpeechError::Rejected(e.to_string()))
    })
}

fn sovits_config(fake: &FakeGptSovits) -> GptSovitsConfig {
    GptSovitsConfig {
        base_url: fake.base_url(),
        ref_audio_path: "refs/main.wav".into(),
        prompt_text: "大家好，我是小鹿".into(),
        speakers: vec![GptSovitsSpeaker {
            name: "sweet".into(),
            ref_audio_path: "refs/sweet.wav".into(),
            prompt_text: "你好呀".into(),
            prompt_lang: None,
        }],
        timeout_secs: 10.0,
        ..Default::default()
    }
}

async fn sovits_say(
    config: GptSovitsConfig,
    request: &SpeechRequest,
) -> Result<RawAudio, SpeechError> {
    GptSovits::new(config).unwrap().synthesize(request).await
}

#[tokio::test]
async fn gpt_sovits_speaks_in_every_packing() {
    let fake = FakeGptSovits::start(MODEL_RATE).await.unwrap();
    let cases = [
        (SovitsMode::Speech, false, MediaType::Wav),
        (SovitsMode::Speech, true, MediaType::Wav),
        (SovitsMode::Speech, false, MediaType::Raw),
        (SovitsMode::Speech, true, MediaType::Raw),
        (SovitsMode::FloatWav, false, MediaType::Wav),
        (SovitsMode::FloatWav, true, MediaType::Wav),
    ];
    for (mode, streaming, media_type) in cases {
        fake.set_mode(mode);
        let config = GptSovitsConfig {
            streaming,
            media_type,
            raw_sample_rate: MODEL_RATE,
            ..sovits_config(&fake)
        };
        let audio = sovits_say(config, &SpeechRequest::new(LINE))
            .await
            .unwrap_or_else(|e| panic!("{mode:?} streaming={streaming} {media_type:?}: {e}"));
        assert_speech(&audio, MODEL_RATE);
    }
    let seen = fake.requests();
    assert_eq!(seen.len(), cases.len());
    assert_eq!(seen[0]["text"], LINE);
    assert_eq!(seen[0]["ref_audio_path"], "refs/main.wav");
    assert_eq!(seen[1]["streaming_mode"], true);
    assert_eq!(seen[2]["media_type"], "raw");
}

#[tokio::test]
async fn gpt_sovits_speakers_and_speed_reach_the_server() {
    let fake = FakeGptSovits::start(MODEL_RATE).await.unwrap();
    let engine = GptSovits::new(sovits_config(&fake)).unwrap();
    assert_eq!(engine.voices(), ["default", "sweet"]);
    let mut request = SpeechRequest::new(LINE);
    let normal = engine.synthesize(&request).await.unwrap();
    request.voice = Some("sweet".into());
    request.prosody.rate = 1.5;
    let fast = engine.synthesize(&request).await.unwrap();
    let seen = fake.requests();
    assert_eq!(seen[1]["ref_audio_path"], "refs/sweet.wav");
    assert_eq!(seen[1]["prompt_text"], "你好呀");
    assert_eq!(seen[1]["speed_factor"], 1.5);
    // The stand-in really spoke faster.
    assert!(
        fast.samples.len() * 10 < normal.samples.len() * 9,
        "{} vs {}",
        fast.samples.len(),
        normal.samples.len()
    );
}

#[tokio::test]
async fn gpt_sovits_failure_modes_give_the_right_errors() {
    let fake = FakeGptSovits::start(MODEL_RATE).await.unwrap();
    let request = SpeechRequest::new(LINE);
    let say = |streaming: bool| {
        sovits_say(
            GptSovitsConfig {
                streaming,
                timeout_secs: 2.0,
                ..sovits_config(&fake)
            },
            &request,
        )
    };

    fake.set_mode(SovitsMode::EmptyBody);
    let e = say(false).await.unwrap_err();
    assert!(
        matches!(e, SpeechError::BadAudio(ref m) if m.contains("empty")),
        "{e}"
    );

    fake.set_mode(SovitsMode::AllZero);
    for streaming in [false, true] {
        let e = say(streaming).await.unwrap_err();
        assert!(
            matches!(e, SpeechError::BadAudio(ref m) if m.contains("all-zero")),
            "{e}"
        );
    }

    fake.set_mode(SovitsMode::FloatAsInt16);
    for streaming in [false, true] {
        let e = say(streaming).await.unwrap_err();
        assert!(
            matches!(e, SpeechError::BadAudio(ref m) if m.contains("float32")),
            "{e}"
        );
    }

    // A noise floor is audio to the engine; the caller's checks refuse it.
    fake.set_mode(SovitsMode::NoiseFloor);
    let quiet = say(false).await.unwrap();
    assert!(rms_dbfs(&quiet.samples) < -60.0);
    let e = middleware_check()(&quiet).unwrap_err();
    assert!(
        matches!(e, SpeechError::Rejected(ref m) if m.contains("silent")),
        "{e}"
    );

    fake.set_mode(SovitsMode::ServerError);
    let e = say(false).await.unwrap_err();
    assert!(matches!(e, SpeechError::Http { status: 500, .. }), "{e}");

    fake.set_mode(SovitsMode::BadRequest);
    let e = say(false).await.unwrap_err();
    assert!(
        matches!(e, SpeechError::Http { status: 400, ref detail, .. } if detail.contains("tts failed: CUDA out of memory")),
        "{e}"
    );

    fake.set_mode(SovitsMode::Slow(Duration::from_secs(4)));
    let e = say(false).await.unwrap_err();
    assert!(matches!(e, SpeechError::Timeout { .. }), "{e}");

    fake.set_mode(SovitsMode::DisconnectMidStream);
    for streaming in [false, true] {
        let e = say(streaming).await.unwrap_err();
        assert!(
            matches!(e, SpeechError::Unreachable { ref detail, .. } if detail.contains("broke after")),
            "streaming={streaming}: {e}"
        );
    }

    // api_v2's own parameter check.
    fake.set_mode(SovitsMode::Speech);
    let e = sovits_say(
        GptSovitsConfig {
            text_lang: "xx".into(),
            ..sovits_config(&fake)
        },
        &request,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, SpeechError::Http { status: 400, ref detail, .. } if detail == "text_lang: xx is not supported in version v2"),
        "{e}"
    );

    // Nobody listening.
    let base_url = fake.base_url();
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = sovits_say(
        GptSovitsConfig {
            base_url,
            ..GptSovitsConfig {
                ref_audio_path: "refs/main.wav".into(),
                ..Default::default()
            }
        },
        &request,
    )
    .await
    .unwrap_err();
    assert!(matches!(e, SpeechError::Unreachable { .. }), "{e}");
}

fn edge_config(fake: &FakeEdgeTts) -> EdgeTtsConfig {
    EdgeTtsConfig {
        endpoint: fake.endpoint(),
        voices: vec!["zh-CN-YunxiNeural".into()],
        timeout_secs: 10.0,
        ..Default::default()
    }
}

#[tokio::test]
async fn edge_tts_speaks_with_escaped_text_and_prosody() {
    let fake = FakeEdgeTts::start(TRUSTED_CLIENT_TOKEN, 0).await.unwrap();
    let engine = EdgeTts::new(edge_config(&fake)).unwrap();
    assert_eq!(
        engine.voices(),
        ["zh-CN-XiaoxiaoNeural", "zh-CN-YunxiNeural"]
    );
    let text = "谢谢<老板>&大家的'支持'，欢迎来到直播间！";
    let mut request = SpeechRequest::new(text);
    request.prosody.rate = 1.2;
    request.prosody.pitch_semitones = 2.0;
    let audio = engine.synthesize(&request).await.unwrap();
    assert_speech(&audio, 24_000);
    request.voice = Some("zh-CN-YunxiNeural".into());
    assert_speech(&engine.synthesize(&request).await.unwrap(), 24_000);

    let activity = fake.activity();
    assert_eq!(activity.protocol_errors, Vec::<String>::new());
    assert_eq!((activity.handshakes_accepted, activity.completed), (2, 2));
    let first = &activity.requests[0];
    assert_eq!(
        first.voice,
        "Microsoft Server Speech Text to Speech Voice (zh-CN, XiaoxiaoNeural)"
    );
    assert_eq!(first.text, text, "markup characters must arrive as text");
    assert_eq!(
        (first.rate.as_str(), first.pitch.as_str()),
        ("+20%", "+24Hz")
    );
    assert_eq!(first.output_format, "audio-24khz-48kbitrate-mono-mp3");
    assert!(activity.requests[1].voice.ends_with("(zh-CN, YunxiNeural)"));
}

#[tokio::test]
async fn edge_tts_corrects_a_skewed_clock_from_the_403() {
    // The server's clock is an hour ahead of ours: the first token is refused.
    let fake = FakeEdgeTts::start(TRUSTED_CLIENT_TOKEN, 3_600)
        .await
        .unwrap();
    let engine = EdgeTts::new(edge_config(&fake)).unwrap();
    assert_speech(
        &engine.synthesize(&SpeechRequest::new(LINE)).await.unwrap(),
        24_000,
    );
    let activity = fake.activity();
    assert_eq!(activity.refusals.len(), 1, "{:?}", activity.refusals);
    assert!(activity.refusals[0].contains("Sec-MS-GEC"));
    // The correction sticks: the next request is accepted at once.
    engine
        .synthesize(&SpeechRequest::new("再来一句。"))
        .await
        .unwrap();
    assert_eq!(fake.activity().refusals.len(), 1);
    assert_eq!(fake.activity().handshakes_accepted, 2);
}

#[tokio::test]
async fn edge_tts_failure_modes_give_the_right_errors() {
    let fake = FakeEdgeTts::start(TRUSTED_CLIENT_TOKEN, 0).await.unwrap();
    let config = EdgeTtsConfig {
        timeout_secs: 2.0,
        ..edge_config(&fake)
    };
    let engine = EdgeTts::new(config.clone()).unwrap();
    let request = SpeechRequest::new(LINE);

    fake.set_mode(EdgeMode::Refuse403);
    let e = engine.synthesize(&request).await.unwrap_err();
    assert!(
        matches!(e, SpeechError::Http { status: 403, ref detail, .. } if detail.contains("Sec-MS-GEC")),
        "{e}"
    );

    fake.set_mode(EdgeMode::CloseWithoutAudio);
    let e = engine.synthesize(&request).await.unwrap_err();
    assert!(
        matches!(e, SpeechError::Protocol { ref detail, .. } if detail.contains("before any audio")),
        "{e}"
    );

    fake.set_mode(EdgeMode::TurnEndWithoutAudio);
    let e = engine.synthesize(&request).await.unwrap_err();
    assert!(
        matches!(e, SpeechError::Protocol { ref detail, .. } if detail.contains("turn.end without any audio")),
        "{e}"
    );

    fake.set_mode(EdgeMode::CloseMidAudio);
    let e = engine.synthesize(&request).await.unwrap_err();
    assert!(
        matches!(e, SpeechError::Unreachable { ref detail, .. } if detail.contains("mid-audio")),
        "{e}"
    );

    fake.set_mode(EdgeMode::Slow(Duration::from_secs(4)));
    let e = engine.synthesize(&request).await.unwrap_err();
    assert!(matches!(e, SpeechError::Timeout { .. }), "{e}");

    // A voice the service does not have: it closes without audio.
    fake.set_mode(EdgeMode::Speech);
    let mut unknown = request.clone();
    unknown.voice = Some("zh-CN-NobodyNeural".into());
    let e = engine.synthesize(&unknown).await.unwrap_err();
    assert!(matches!(e, SpeechError::Protocol { .. }), "{e}");

    // Wrong TrustedClientToken: refused like a bad clock.
    let e = EdgeTts::new(EdgeTtsConfig {
        trusted_client_token: "0123456789ABCDEF0123456789ABCDEF".into(),
        ..config.clone()
    })
    .unwrap()
    .synthesize(&request)
    .await
    .unwrap_err();
    assert!(matches!(e, SpeechError::Http { status: 403, .. }), "{e}");

    // Nobody listening.
    let endpoint = fake.endpoint();
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = EdgeTts::new(EdgeTtsConfig { endpoint, ..config })
        .unwrap()
        .synthesize(&request)
        .await
        .unwrap_err();
    assert!(matches!(e, SpeechError::Unreachable { .. }), "{e}");
}

#[tokio::test]
async fn rotation_moves_past_a_silent_engine_to_the_next() {
    let sovits = FakeGptSovits::start(MODEL_RATE).await.unwrap();
    sovits.set_mode(SovitsMode::NoiseFloor);
    let edge = FakeEdgeTts::start(TRUSTED_CLIENT_TOKEN, 0).await.unwrap();
    let first: Arc<dyn TtsEngine> = Arc::new(
        GptSovits::new(GptSovitsConfig {
            speakers: Vec::new(),
            ..sovits_config(&sovits)
        })
        .unwrap(),
    );
    let second: Arc<dyn TtsEngine> = Arc::new(
        EdgeTts::new(EdgeTtsConfig {
            voices: Vec::new(),
            ..edge_config(&edge)
        })
        .unwrap(),
    );
    let rotation = Rotation::new(vec![first, second], RotationConfig::default());
    let spoken = rotation
        .synthesize(&SpeechRequest::new(LINE), &middleware_check())
        .await
        .unwrap();
    assert_eq!(
        (spoken.engine.as_str(), spoken.voice.as_str(), spoken.step),
        ("edge-tts", "default", Step::NextEngine)
    );
    assert_speech(&spoken.audio, 24_000);
    assert_eq!(spoken.failures.len(), 1);
    assert_eq!(spoken.failures[0].engine, "gpt-sovits");
    assert!(matches!(spoken.failures[0].error, SpeechError::Rejected(_)));

    let stats = rotation.stats();
    assert_eq!(stats.len(), 2);
    assert_eq!(
        (
            stats[0].engine.as_str(),
            stats[0].attempts,
            stats[0].successes
        ),
        ("gpt-sovits", 1, 0)
    );
    assert_eq!(stats[0].failures.rejected, 1);
    assert_eq!(
        (
            stats[1].engine.as_str(),
            stats[1].attempts,
            stats[1].successes
        ),
        ("edge-tts", 1, 1)
    );
    assert!(stats[1].mean_latency_ms > 0.0);
    assert_eq!(
        sovits.requests().len(),
        1,
        "a rejected clip is not retried on the same voice"
    );
}
