//! Rotation rules against in-process engines that follow a script (the network engines are
//! tested against their stand-ins in `tests/tests/tts_engines.rs`).

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::*;
use crate::audio::rms_dbfs;

#[derive(Clone, Copy)]
enum Outcome {
    Speech,
    Silence,
    Down,
    Http500,
    Http400,
    /// Accepts the request and never answers.
    Hang,
    /// A bug in the engine.
    Panic,
}

struct Scripted {
    name: &'static str,
    voices: Vec<String>,
    /// Per call, in order; `fallback` once empty.
    script: Mutex<VecDeque<Outcome>>,
    fallback: Outcome,
    calls: Mutex<Vec<SpeechRequest>>,
}

impl Scripted {
    fn new(
        name: &'static str,
        voices: &[&str],
        script: &[Outcome],
        fallback: Outcome,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            voices: voices.iter().map(|v| v.to_string()).collect(),
            script: Mutex::new(script.iter().copied().collect()),
            fallback,
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<(Option<String>, String)> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .map(|r| (r.voice.clone(), r.text.clone()))
            .collect()
    }
}

impl TtsEngine for Scripted {
    fn name(&self) -> &str {
        self.name
    }
    fn voices(&self) -> Vec<String> {
        self.voices.clone()
    }
    fn version(&self) -> String {
        format!("{}-1", self.name)
    }
    fn synthesize<'a>(
        &'a self,
        request: &'a SpeechRequest,
    ) -> BoxFuture<'a, Result<RawAudio, SpeechError>> {
        self.calls.lock().unwrap().push(request.clone());
        let outcome = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(self.fallback);
        let engine = self.name.to_string();
        Box::pin(async move {
            let rate = 16_000;
            match outcome {
                Outcome::Speech => Ok(RawAudio {
                    samples: (0..8_000).map(|i| 0.3 * (i as f32 * 0.08).sin()).collect(),
                    rate,
                }),
                Outcome::Silence => Ok(RawAudio {
                    samples: vec![0.0; 8_000],
                    rate,
                }),
                Outcome::Down => Err(SpeechError::Unreachable {
                    engine,
                    detail: "connection refused".into(),
                }),
                Outcome::Http500 => Err(SpeechError::Http {
                    engine,
                    status: 500,
                    detail: "boom".into(),
                }),
                Outcome::Http400 => Err(SpeechError::Http {
                    engine,
                    status: 400,
                    detail: "tts failed".into(),
                }),
                Outcome::Hang => std::future::pending().await,
                Outcome::Panic => panic!("injected engine bug"),
            }
        })
    }
}

fn level_check() -> AudioCheck {
    Arc::new(|audio: &RawAudio| {
        let level = rms_dbfs(&audio.samples);
        if level > -50.0 {
            Ok(())
        } else {
            Err(SpeechError::Rejected(format!("silent ({level:.0} dBFS)")))
        }
    })
}

fn rotation(engines: Vec<Arc<Scripted>>) -> Rotation {
    let engines = engines
        .into_iter()
        .map(|e| e as Arc<dyn TtsEngine>)
        .collect();
    Rotation::new(engines, RotationConfig::default())
}

fn steps(spoken: &Spoken) -> Vec<(String, String, Step)> {
    spoken
        .failures
        .iter()
        .map(|f| (f.engine.clone(), f.voice.clone(), f.step))
        .collect()
}

fn s(x: &str) -> String {
    x.to_string()
}

#[tokio::test]
async fn transient_failure_retries_the_same_voice() {
    let a = Scripted::new("a", &["v1", "v2"], &[Outcome::Http500], Outcome::Speech);
    let r = rotation(vec![a.clone()]);
    let spoken = r
        .synthesize(&SpeechRequest::new("你好"), &level_check())
        .await
        .unwrap();
    assert_eq!((spoken.engine.as_str(), spoken.voice.as_str()), ("a", "v1"));
    assert_eq!(spoken.step, Step::Retry);
    assert_eq!(steps(&spoken), [(s("a"), s("v1"), Step::First)]);
    assert_eq!(a.calls().len(), 2);
    assert_eq!(spoken.engine_version, "a-1");
}

#[tokio::test]
async fn rejected_clip_goes_to_another_voice_not_a_retry() {
    let a = Scripted::new("a", &["v1", "v2"], &[Outcome::Silence], Outcome::Speech);
    let r = rotation(vec![a.clone()]);
    let spoken = r
        .synthesize(&SpeechRequest::new("你好"), &level_check())
        .await
        .unwrap();
    assert_eq!(
        (spoken.voice.as_str(), spoken.step),
        ("v2", Step::OtherVoice)
    );
    assert!(matches!(spoken.failures[0].error, SpeechError::Rejected(_)));
    assert_eq!(a.calls()[1].0.as_deref(), Some("v2"));
    let stats = r.stats();
    assert_eq!(stats[0].failures.rejected, 1);
    assert_eq!((stats[1].attempts, stats[1].successes), (1, 1));
}

#[tokio::test]
async fn a_dead_engine_is_left_for_the_next_one() {
    let a = Scripted::new("a", &["v1", "v2", "v3"], &[], Outcome::Down);
    let b = Scripted::new("b", &[], &[], Outcome::Speech);
    let r = rotation(vec![a.clone(), b.clone()]);
    let spoken = r
        .synthesize(&SpeechRequest::new("你好"), &level_check())
        .await
        .unwrap();
    assert_eq!(
        (spoken.engine.as_str(), spoken.voice.as_str()),
        ("b", "default")
    );
    assert_eq!(spoken.step, Step::NextEngine);
    // One try on v1: a dead server opens the engine's breaker at once, so there is no retry
    // (it would wait a whole timeout again) and no other voice of it.
    assert_eq!(steps(&spoken), [(s("a"), s("v1"), Step::First)]);
    assert_eq!(b.calls(), [(None, s("你好"))]);
    let stats = r.stats();
    assert!(stats[..3].iter().all(|s| s.breaker == "open"), "{stats:?}");
    // The next line goes straight to b.
    let spoken = r
        .synthesize(&SpeechRequest::new("再见"), &level_check())
        .await
        .unwrap();
    assert_eq!(spoken.engine, "b");
    assert!(spoken.failures.is_empty());
    assert_eq!(a.calls().len(), 1);
}

#[tokio::test]
async fn simplified_text_is_the_last_resort_on_the_most_successful_engine() {
    // b has succeeded before; this time both refuse the full text.
    let a = Scripted::new("a", &[], &[], Outcome::Http400);
    let b = Scripted::new(
        "b",
        &[],
        &[Outcome::Speech, Outcome::Http400],
        Outcome::Speech,
    );
    let r = rotation(vec![a.clone(), b.clone()]);
    r.synthesize(&SpeechRequest::new("先热身"), &level_check())
        .await
        .unwrap();
    let spoken = r
        .synthesize(
            &SpeechRequest::new("🎉谢谢【小明】的嘉年华！！下次见~"),
            &level_check(),
        )
        .await
        .unwrap();
    assert_eq!(
        (spoken.engine.as_str(), spoken.step),
        ("b", Step::Simplified)
    );
    assert_eq!(spoken.request.text, "谢谢 小明 的嘉年华！");
    assert_eq!(spoken.failures.len(), 2, "{:?}", steps(&spoken));
    assert_eq!(b.calls().last().unwrap().1, "谢谢 小明 的嘉年华！");
}

#[tokio::test]
async fn a_failing_engine_is_demoted_then_forgiven() {
    tokio::time::pause();
    let a = Scripted::new("a", &[], &[Outcome::Http400; 3], Outcome::Speech);
    let b = Scripted::new("b", &[], &[], Outcome::Speech);
    let r = rotation(vec![a.clone(), b.clone()]);
    for _ in 0..3 {
        let spoken = r
            .synthesize(&SpeechRequest::new("你好"), &level_check())
            .await
            .unwrap();
        assert_eq!(spoken.engine, "b");
    }
    // a failed its 3 recent attempts: b goes first now.
    let spoken = r
        .synthesize(&SpeechRequest::new("你好"), &level_check())
        .await
        .unwrap();
    assert_eq!((spoken.engine.as_str(), spoken.step), ("b", Step::First));
    assert!(r.stats()[0].demoted);
    assert_eq!(r.stats()[0].failures.http, 3);
    // Ten minutes later the bad streak is forgotten and a is first again.
    tokio::time::advance(Duration::from_secs(601)).await;
    let spoken = r
        .synthesize(&SpeechRequest::new("你好"), &level_check())
        .await
        .unwrap();
    assert_eq!((spoken.engine.as_str(), spoken.step), ("a", Step::First));
}

#[tokio::test]
async fn attempts_are_bounded_and_all_failures_reported() {
    let a = Scripted::new("a", &["v1", "v2", "v3", "v4"], &[], Outcome::Http500);
    let r = Rotation::new(
        vec![a.clone() as Arc<dyn TtsEngine>],
        RotationConfig {
            max_attempts: 3,
            ..Default::default()
        },
    );
    let err = r
        .synthesize(&SpeechRequest::new("你好！再见"), &level_check())
        .await
        .unwrap_err();
    let RotationError::Exhausted { failures } = &err else {
        panic!("{err}");
    };
    assert_eq!(failures.len(), 3);
    assert_eq!(a.calls().len(), 3);
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    assert!(matches!(
        r.synthesize(&SpeechRequest::new("  "), &level_check())
            .await,
        Err(RotationError::EmptyText)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_hung_engine_costs_one_deadline_and_frees_the_lines_in_flight_on_it() {
    let a = Scripted::new("a", &[], &[], Outcome::Hang);
    let b = Scripted::new("b", &[], &[], Outcome::Speech);
    let r = Arc::new(rotation(vec![a.clone(), b.clone()]));
    let started = Instant::now();
    // Three lines at once, all stuck on a: the first deadline opens a's breaker, which ends
    // the other two attempts at the same moment.
    let lines: Vec<_> = (0..3)
        .map(|i| {
            let r = r.clone();
            tokio::spawn(async move {
                let spoken = r
                    .synthesize(&SpeechRequest::new(format!("谢谢{i}")), &level_check())
                    .await
                    .unwrap();
                (spoken.engine, Instant::now())
            })
        })
        .collect();
    for line in lines {
        let (engine, done) = line.await.unwrap();
        assert_eq!(engine, "b");
        assert_eq!(
            done - started,
            Duration::from_secs(6),
            "one default deadline, no retry"
        );
    }
    // A line after that does not touch a at all.
    let before = Instant::now();
    let spoken = r
        .synthesize(&SpeechRequest::new("再来"), &level_check())
        .await
        .unwrap();
    assert_eq!(
        (spoken.engine.as_str(), before.elapsed()),
        ("b", Duration::ZERO)
    );
    assert_eq!(a.calls().len(), 3);
}

/// Waits (in real time, the clock stays paused) until the first engine's background probe has
/// finished. A successful probe's audio check runs on the blocking pool, so one `yield_now`
/// is not enough on a busy machine.
async fn probe_settled(r: &Rotation) {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while r.stats()[0].breaker == "probing" && std::time::Instant::now() < give_up {
        tokio::task::yield_now().await;
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_is_probed_after_its_cooldown_and_closes_when_the_probe_succeeds() {
    let a = Scripted::new("a", &[], &[Outcome::Down, Outcome::Down], Outcome::Speech);
    let b = Scripted::new("b", &[], &[], Outcome::Speech);
    let r = rotation(vec![a.clone(), b.clone()]);
    let say = |text: &'static str| {
        let r = &r;
        async move {
            r.synthesize(&SpeechRequest::new(text), &level_check())
                .await
                .unwrap()
                .engine
        }
    };
    assert_eq!(say("一").await, "b");
    assert_eq!(r.stats()[0].breaker, "open");
    tokio::time::advance(Duration::from_secs(31)).await;
    // Cool-down over: this line still goes to b, while a probe runs in the background. The
    // probe fails (a's second Down), so a is skipped for twice as long.
    assert_eq!(say("二").await, "b");
    probe_settled(&r).await;
    assert_eq!(a.calls().last().unwrap().1, PROBE_TEXT);
    assert_eq!(r.stats()[0].breaker, "open");
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(say("三").await, "b", "60 s cool-down after a failed probe");
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(say("四").await, "b");
    probe_settled(&r).await;
    assert_eq!(r.stats()[0].breaker, "closed", "the probe succeeded");
    assert_eq!(say("五").await, "a");
    // Probes are never real lines.
    assert!(a
        .calls()
        .iter()
        .all(|(_, text)| text != "二" && text != "四"));
}

#[tokio::test]
async fn repeated_server_errors_open_the_voice_breaker_after_the_threshold() {
    let a = Scripted::new("a", &[], &[], Outcome::Http500);
    let b = Scripted::new("b", &[], &[], Outcome::Speech);
    let r = rotation(vec![a.clone(), b.clone()]);
    // Each line: First + one Retry on a (transient), then b; the third failure opens it.
    r.synthesize(&SpeechRequest::new("一"), &level_check())
        .await
        .unwrap();
    assert_eq!(r.stats()[0].breaker, "closed");
    let spoken = r
        .synthesize(&SpeechRequest::new("二"), &level_check())
        .await
        .unwrap();
    assert_eq!(spoken.failures.len(), 1, "no retry once the breaker opened");
    assert_eq!(r.stats()[0].breaker, "open");
    assert_eq!(r.stats()[0].breaker_trips, 1);
    let spoken = r
        .synthesize(&SpeechRequest::new("三"), &level_check())
        .await
        .unwrap();
    assert!(spoken.failures.is_empty());
    assert_eq!(a.calls().len(), 3);
}

#[tokio::test]
async fn a_panicking_engine_is_a_failed_attempt_and_the_next_engine_speaks() {
    let a = Scripted::new("a", &[], &[], Outcome::Panic);
    let b = Scripted::new("b", &[], &[], Outcome::Speech);
    let r = rotation(vec![a.clone(), b.clone()]);
    let spoken = r
        .synthesize(&SpeechRequest::new("你好"), &level_check())
        .await
        .unwrap();
    assert_eq!(spoken.engine, "b");
    assert!(matches!(
        &spoken.failures[0].error,
        SpeechError::Unavailable { detail, .. } if detail.contains("panicked")
    ));
}
