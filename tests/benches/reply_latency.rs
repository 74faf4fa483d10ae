//! Comment → first audio sample on the avatar link, with the real sidecar.
//!
//! `cargo bench -p e2e --bench reply_latency`
//!
//! A BarrageGrab stand-in sends 12 comments 2.5 s apart; an OpenAI-compatible stand-in answers
//! each after a fixed time to first token (200 ms) at a fixed token rate (one token / 20 ms);
//! the local voice (espeak-ng, webrtc-vad + Silero checks, the clip cache) speaks; this program
//! is the avatar. Per comment it records when the LLM request arrived and when the first audio
//! chunk of the reply reached the avatar, and prints:
//!
//! * **total**: LLM request → first audio;
//! * **LLM**: the model's own share, up to the end of the first sentence (TTFT + tokens × rate);
//! * **sidecar-added**: total − LLM: sentence split, safety screen, emotion, scheduling, text
//!   normalisation, synthesis + checks (cold) or cache hit (warm), link framing.
//!
//! The first reply is synthesised (cold); the others are the same sentence, served from the
//! audio cache (warm), which isolates the sidecar's own overhead from the TTS engine's time.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use e2e::avatar_client::play_avatar;
use e2e::fake_barrage_grab::{chat, envelope, user, FakeBarrageGrab, Step};
use e2e::fake_openai::{tokens, FakeConfig, FakeOpenAi};

const COMMENTS: usize = 12;
const TTFT: Duration = Duration::from_millis(200);
const TOKEN_INTERVAL: Duration = Duration::from_millis(20);
const REPLY: &str = "[happy]欢迎小明来玩！今天想听点什么呀？";
const LINK_TOKEN: &str = "bench";

#[tokio::main]
async fn main() -> Result<()> {
    // The release build (what a streamer runs), before any stand-in starts its accept timeout.
    let root = e2e::workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .args(["build", "--release", "-p", "sidecar", "--bin", "sidecar"])
        .status()?;
    anyhow::ensure!(status.success(), "cargo build --release -p sidecar failed");
    let bin = e2e::target_dir().join("release/sidecar");
    let llm_started = Instant::now();
    let llm = FakeOpenAi::start(FakeConfig {
        api_key: Some("sk-bench".into()),
        ttft: TTFT,
        token_interval: TOKEN_INTERVAL,
        default_reply: tokens(REPLY),
    })
    .await?;
    let mut script = vec![Step::Pause(Duration::from_millis(2_000))];
    for i in 0..COMMENTS {
        let viewer = user(5_000 + i as u64, "小明", 1);
        script.push(Step::Send(envelope(
            1,
            &chat(70_000 + i as u64, viewer, "主播你好呀", 7_000),
        )));
        script.push(Step::Pause(Duration::from_millis(2_500)));
    }
    let grab = FakeBarrageGrab::start(script).await?;
    let work = tempfile::tempdir()?;
    let port = e2e::free_port()?;
    let config = work.path().join("bench.toml");
    std::fs::write(
        &config,
        format!(
            r#"[source]
kind = "barrage_grab"
[source.barrage_grab]
url = "{grab}"
[ledger]
path = "{dir}/ledger.sqlite3"
[obs]
enabled = false
[link]
bind = "127.0.0.1:{port}"
token = "{LINK_TOKEN}"
[onnx]
runtime_path = "{root}/models/onnxruntime/libonnxruntime.so.1.31.1"
[voice.vad]
silero_model = "{root}/models/silero_vad.onnx"
[voice.cache]
dir = "{dir}/cache"
[llm]
enabled = true
preset = "openai"
base_url = "{llm_url}"
model = "bench"
[[lines.reply]]
keywords = ["主播"]
say = ["{{user}}你好！"]
"#,
            grab = grab.url(),
            dir = work.path().display(),
            root = root.display(),
            llm_url = llm.base_url(),
        ),
    )?;
    let mut sidecar = Command::new(&bin)
        .current_dir(&root)
        .args(["run", "--config"])
        .arg(&config)
        .env("AIVS_LLM_API_KEY", "sk-bench")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.path().join("sidecar.log"))?)
        .spawn()
        .context("starting the sidecar")?;
    let heard = play_avatar(port, LINK_TOKEN, Duration::from_secs(90), |heard| {
        // A reply is over when its last sentence (or the template line) has played.
        heard
            .iter()
            .filter(|h| h.finished && (h.text.starts_with("今天") || h.text.ends_with("你好！")))
            .count()
            >= COMMENTS
    })
    .await;
    e2e::sidecar::stop(&mut sidecar)?;
    let heard = heard?;

    // The model's share up to the end of the first sentence.
    let reply_tokens = tokens(REPLY);
    let first_sentence_tokens = reply_tokens
        .iter()
        .position(|t| t.contains('！'))
        .context("no sentence end in the reply")?
        + 1;
    let llm_share = TTFT + TOKEN_INTERVAL * first_sentence_tokens as u32;
    let requests = llm.requests();
    let firsts: Vec<_> = heard
        .iter()
        .filter(|h| h.text.starts_with("欢迎"))
        .collect();
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    let fallbacks = heard.iter().filter(|h| h.text.ends_with("你好！")).count();
    anyhow::ensure!(
        fallbacks == 0 && requests.len() == COMMENTS && firsts.len() == COMMENTS,
        "{COMMENTS} comments, {} LLM requests, {} LLM replies, {fallbacks} template replies",
        requests.len(),
        firsts.len()
    );
    for (i, (request, h)) in requests.iter().zip(&firsts).enumerate() {
        let asked = llm_started + request.at;
        let Some(audio) = h.first_audio_at else {
            continue;
        };
        let total = audio.saturating_duration_since(asked);
        let added = total.saturating_sub(llm_share);
        if i == 0 { &mut cold } else { &mut warm }.push((total, added));
    }
    println!(
        "comment reply latency: {} replies, LLM share {:.0} ms (TTFT {} ms + {} tokens × {} ms)",
        firsts.len(),
        ms(llm_share),
        TTFT.as_millis(),
        first_sentence_tokens,
        TOKEN_INTERVAL.as_millis()
    );
    for (name, runs) in [("cold (synthesised)", &cold), ("warm (cache hit)", &warm)] {
        if runs.is_empty() {
            continue;
        }
        let (totals, added): (Vec<_>, Vec<_>) = runs.iter().copied().unzip();
        println!(
            "  {name:<20} total p50 {:>6.1} ms p99 {:>6.1} ms | sidecar-added p50 {:>6.1} ms p99 {:>6.1} ms",
            ms(pct(&totals, 0.5)),
            ms(pct(&totals, 0.99)),
            ms(pct(&added, 0.5)),
            ms(pct(&added, 0.99)),
        );
    }
    Ok(())
}

fn pct(v: &[Duration], q: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
