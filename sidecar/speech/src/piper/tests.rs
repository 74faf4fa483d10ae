use super::phonemizer::decompose;
use super::*;
use crate::engine::Prosody;
use crate::vad::{AudioChecks, VadConfig};

const JOE: &str = "models/piper/en_US-joe-medium.onnx";

/// The real joe voice (CI installs it with scripts/install-models.sh); loaded once.
fn joe() -> Piper {
    static JOE_VOICE: std::sync::OnceLock<Piper> = std::sync::OnceLock::new();
    JOE_VOICE
        .get_or_init(|| {
            Piper::from_config(&PiperConfig {
                model: Some(JOE.into()),
                ..PiperConfig::default()
            })
            .unwrap_or_else(|e| panic!("{e}"))
            .expect("configured")
        })
        .clone()
}

#[test]
fn clauses_split_at_punctuation_not_inside_numbers() {
    let got = clauses("Hello there, my friend. It costs 3.5 dollars?! 谢谢，再见。 no end");
    let want = [
        ("Hello there", Some(',')),
        ("my friend", Some('.')),
        ("It costs 3.5 dollars", Some('!')),
        ("谢谢", Some(',')),
        ("再见", Some('.')),
        ("no end", None),
    ];
    let got: Vec<(&str, Option<char>)> = got
        .iter()
        .map(|c| (c.text.as_str(), c.terminator))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn phonemes_follow_pipers_format() {
    // Real espeak-ng: one sentence with a comma, then a question.
    let sentences = phonemize("espeak-ng", "en-us", "Hello there, my friend. How are you?")
        .expect("espeak-ng must be installed");
    assert_eq!(sentences.len(), 2, "{sentences:?}");
    let first: String = sentences[0].iter().collect();
    let second: String = sentences[1].iter().collect();
    // espeak's IPA with stress marks, clause punctuation kept as Piper does.
    assert!(first.starts_with("həlˈoʊ"), "{first}");
    assert!(first.contains(", "), "{first}");
    assert!(first.ends_with('.'), "{first}");
    assert!(second.ends_with('?'), "{second}");
    assert!(!first.contains('\n') && !first.contains('('));
}

#[test]
fn ids_are_bos_pad_interspersed_eos() {
    let voice: VoiceFile = serde_json::from_str(
        r#"{"audio":{"sample_rate":22050},"phoneme_id_map":
            {"_":[0],"^":[1],"$":[2]," ":[3],"a":[14],"b":[15],"c":[16],"̧":[140]}}"#,
    )
    .unwrap();
    let ids = PhonemeIds::new(&voice).unwrap();
    let mut phonemes = Vec::new();
    for c in "ab çx".chars() {
        decompose(c, &mut phonemes);
    }
    let (got, missing) = ids.ids(&phonemes);
    // x is unknown: dropped and counted, like Piper does.
    assert_eq!(got, [1, 0, 14, 0, 15, 0, 3, 0, 16, 0, 140, 0, 2]);
    assert_eq!(missing, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joe_speaks_english_that_passes_the_audio_checks() {
    let engine = joe();
    assert_eq!(engine.name(), "piper");
    assert!(engine.voices().is_empty(), "single-speaker voice");
    let version = engine.version();
    assert!(version.starts_with("en_US-joe-medium.onnx:"), "{version}");
    assert_eq!(version, joe().version());

    let text = "Thank you so much for the gift! Welcome to the stream, everyone.";
    let start = std::time::Instant::now();
    let audio = engine
        .synthesize(&SpeechRequest::new(text))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let took = start.elapsed();
    assert_eq!(audio.rate, 22_050);
    assert!(audio.duration_ms() > 1_000, "{} ms", audio.duration_ms());
    eprintln!(
        "piper: {} ms of audio in {} ms (real-time factor {:.3})",
        audio.duration_ms(),
        took.as_millis(),
        took.as_secs_f64() * 1000.0 / audio.duration_ms() as f64
    );
    let checks = AudioChecks::new(VadConfig {
        silero_required: true,
        ..VadConfig::default()
    });
    let report = tokio::task::spawn_blocking(move || checks.check(&audio))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.silero.voiced_ratio().unwrap() > 0.5, "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faster_prosody_is_shorter() {
    let engine = joe();
    // VITS draws phoneme durations at random (noise_w) and the sentence pause does not
    // scale with the rate, so single runs vary by ~10 %: compare totals of three.
    let mut request = SpeechRequest::new("This sentence is read at two different speeds.");
    let mut total = |rate: f32| {
        request.prosody = Prosody {
            rate,
            ..Prosody::default()
        };
        let request = request.clone();
        let engine = &engine;
        async move {
            let mut samples = 0;
            for _ in 0..3 {
                samples += engine.synthesize(&request).await.unwrap().samples.len();
            }
            samples as f32
        }
    };
    let normal = total(1.0).await;
    let fast = total(1.5).await;
    let ratio = fast / normal;
    assert!((0.5..0.85).contains(&ratio), "{ratio}");
}

#[tokio::test]
async fn empty_text_and_bad_setups_are_clear_errors() {
    assert!(matches!(
        joe().synthesize(&SpeechRequest::new(" ~~ ")).await,
        Err(SpeechError::EmptyText)
    ));
    assert!(Piper::from_config(&PiperConfig::default())
        .unwrap()
        .is_none());
    let err = Piper::from_config(&PiperConfig {
        model: Some("models/piper/no-such-voice.onnx".into()),
        ..PiperConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no-such-voice.onnx") && err.contains("install-models.sh"),
        "{err}"
    );
    let err = phonemize("/nonexistent/espeak-ng", "en-us", "hello").unwrap_err();
    assert!(matches!(err, SpeechError::Spawn { .. }), "{err}");
}
