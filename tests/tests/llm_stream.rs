//! The sidecar's streaming LLM pipeline (`sidecar::llm`) against `e2e::fake_openai`, a local
//! server speaking the OpenAI streaming wire format (chunked SSE, `[DONE]`) and its failure
//! modes: sentence pipelining, retries only before the first token, timeouts, the concurrency
//! cap, the key kept out of logs, and leaky model output refused before TTS.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use e2e::fake_openai::{tokens, FakeConfig, FakeOpenAi, Script};
use sidecar::llm::{
    CommentContext, Emotion, LlmConfig, LlmError, Preset, ReplyEvent, ReplySentence, ReplyWriter,
    SceneContext, TimeoutStage, ViewerContext,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

const KEY: &str = "sk-e2e-5f0c1d9a7b3e";

fn config(fake: &FakeOpenAi) -> LlmConfig {
    LlmConfig {
        enabled: true,
        preset: Preset::Openai,
        base_url: fake.base_url(),
        model: "gpt-4o-mini".into(),
        api_key: KEY.into(),
        retry_backoff_ms: 20,
        first_token_timeout_ms: 3_000,
        reply_timeout_ms: 10_000,
        requests_per_minute: 0,
        ..Default::default()
    }
}

async fn fake(ttft_ms: u64, interval_ms: u64) -> Result<FakeOpenAi> {
    FakeOpenAi::start(FakeConfig {
        api_key: Some(KEY.into()),
        ttft: Duration::from_millis(ttft_ms),
        token_interval: Duration::from_millis(interval_ms),
        ..Default::default()
    })
    .await
}

fn comment(text: &str) -> CommentContext {
    CommentContext { text: text.into() }
}

fn viewer() -> ViewerContext {
    ViewerContext {
        name: "小明".into(),
        visits: 5,
        gift_total_yuan: 12.5,
        recent: Vec::new(),
    }
}

fn scene() -> SceneContext {
    SceneContext {
        viewer_count: Some(66),
        now_showing: "聊天".into(),
        minutes_live: Some(10),
    }
}

/// All sentences, then the terminal event.
async fn collect(mut rx: mpsc::Receiver<ReplyEvent>) -> Result<(Vec<ReplySentence>, ReplyEvent)> {
    let mut sentences = Vec::new();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .context("no reply event within 20 s")?
            .context("reply channel closed without a terminal event")?;
        match event {
            ReplyEvent::Sentence(s) => sentences.push(s),
            end => return Ok((sentences, end)),
        }
    }
}

#[tokio::test]
async fn first_sentence_arrives_long_before_the_reply_ends() -> Result<()> {
    let fake = fake(80, 40).await?;
    let reply = "[happy]谢谢你的小心心！今天我超级开心的。我们一起听首歌好不好？";
    fake.push(Script::Reply(tokens(reply)));
    let writer = ReplyWriter::new(&config(&fake))?;
    let (sentences, end) =
        collect(writer.start(&comment("主播唱首歌吧"), &viewer(), &scene())).await?;

    let texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "谢谢你的小心心！",
            "今天我超级开心的。",
            "我们一起听首歌好不好？"
        ]
    );
    assert!(sentences.iter().all(|s| s.emotion == Emotion::Happy));
    let ReplyEvent::Done {
        full_text,
        elapsed,
        refused,
    } = end
    else {
        bail!("expected Done, got {end:?}");
    };
    assert_eq!(full_text, texts.concat());
    assert_eq!(refused, 0);
    let first = sentences[0].elapsed;
    // ~33 tokens at 40 ms: the first sentence (11 tokens in) must not wait for the other 22.
    assert!(
        first + Duration::from_millis(500) < elapsed,
        "first sentence at {first:?}, reply done at {elapsed:?}"
    );
    assert!(
        first < writer.first_sentence_budget(),
        "first sentence at {first:?}"
    );
    eprintln!("first sentence {first:?}, whole reply {elapsed:?}");

    // What went over the wire.
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(request.body["stream"], true);
    assert_eq!(request.body["model"], "gpt-4o-mini");
    assert_eq!(request.body["messages"][0]["role"], "system");
    assert_eq!(request.body["messages"][1]["role"], "user");
    let data: serde_json::Value = serde_json::from_str(request.message_content(1).unwrap())?;
    assert_eq!(data["comment"], "主播唱首歌吧");
    assert_eq!(data["viewer"]["name"], "小明");
    assert_eq!(data["viewer"]["visits"], 5);
    Ok(())
}

#[tokio::test]
async fn server_errors_before_the_first_token_are_retried() -> Result<()> {
    let fake = fake(10, 5).await?;
    fake.push(Script::Error {
        status: 500,
        message: "The server had an error while processing your request.".into(),
        retry_after: None,
    });
    fake.push(Script::Error {
        status: 429,
        message: "Rate limit reached for requests".into(),
        retry_after: Some(0),
    });
    fake.push(Script::Reply(tokens("[excited]哇，终于连上啦！")));
    let writer = ReplyWriter::new(&config(&fake))?;
    let (sentences, end) = collect(writer.start(&comment("在吗"), &viewer(), &scene())).await?;
    assert!(matches!(end, ReplyEvent::Done { .. }), "{end:?}");
    assert_eq!(sentences.len(), 1);
    assert_eq!(sentences[0].text, "哇，终于连上啦！");
    assert_eq!(sentences[0].emotion, Emotion::Excited);
    assert_eq!(fake.requests().len(), 3, "500, 429, then success");

    // Retries run out: the last error is reported, after 1 + retries requests.
    for _ in 0..3 {
        fake.push(Script::Error {
            status: 503,
            message: "overloaded".into(),
            retry_after: None,
        });
    }
    let (sentences, end) = collect(writer.start(&comment("在吗"), &viewer(), &scene())).await?;
    assert!(sentences.is_empty());
    match end {
        ReplyEvent::Failed(LlmError::Http {
            status: 503,
            detail,
        }) => {
            assert!(detail.contains("overloaded"), "{detail}")
        }
        other => bail!("expected HTTP 503, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), 3 + 3);
    Ok(())
}

#[tokio::test]
async fn a_stream_broken_after_the_first_token_is_not_retried() -> Result<()> {
    let fake = fake(20, 10).await?;
    let reply = tokens("[happy]第一句话说完了。第二句话还没说完就断");
    let cut = reply.len() - 3;
    fake.push(Script::DisconnectAfter {
        tokens: reply,
        after: cut,
    });
    let writer = ReplyWriter::new(&config(&fake))?;
    let (sentences, end) = collect(writer.start(&comment("讲个故事"), &viewer(), &scene())).await?;
    let texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        texts,
        vec!["第一句话说完了。"],
        "nothing said twice, no half sentence"
    );
    match end {
        ReplyEvent::Failed(LlmError::Interrupted { received_chars, .. }) => {
            assert!(received_chars > 8, "{received_chars}")
        }
        other => bail!("expected Interrupted, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fake.requests().len(),
        1,
        "no second request after text was received"
    );

    // Cut before the first token: that one is retried (nothing was said yet).
    fake.push(Script::DisconnectAfter {
        tokens: tokens("[happy]不会出现"),
        after: 0,
    });
    fake.push(Script::Reply(tokens("[happy]重新连上啦。")));
    let (sentences, end) = collect(writer.start(&comment("讲个故事"), &viewer(), &scene())).await?;
    assert!(matches!(end, ReplyEvent::Done { .. }), "{end:?}");
    assert_eq!(sentences[0].text, "重新连上啦。");
    assert_eq!(fake.requests().len(), 3);
    Ok(())
}

#[tokio::test]
async fn slow_first_token_times_out_and_a_dropped_reply_frees_the_server() -> Result<()> {
    let fake = fake(10, 5).await?;
    let cfg = LlmConfig {
        first_token_timeout_ms: 600,
        retries: 0,
        ..config(&fake)
    };
    let writer = ReplyWriter::new(&cfg)?;

    // The caller's budget runs out first (it then speaks a template)…
    fake.push(Script::Slow);
    let started = Instant::now();
    let mut rx = writer.start(&comment("你好"), &viewer(), &scene());
    let budget = Duration::from_millis(300);
    assert!(
        tokio::time::timeout(budget, rx.recv()).await.is_err(),
        "nothing can arrive from a server that never sends a token"
    );
    // …and the client's own first-token timeout ends the request.
    let (sentences, end) = collect(rx).await?;
    assert!(sentences.is_empty());
    assert!(
        matches!(
            end,
            ReplyEvent::Failed(LlmError::Timeout {
                stage: TimeoutStage::FirstToken,
                ..
            })
        ),
        "{end:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(550) && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    // Dropping the receiver cancels the request: the server sees the client hang up.
    fake.push(Script::Slow);
    let rx = writer.start(&comment("你好"), &viewer(), &scene());
    let deadline = Instant::now() + Duration::from_secs(3);
    while fake.active() == 0 {
        assert!(Instant::now() < deadline, "request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(rx);
    while fake.active() > 0 {
        assert!(
            Instant::now() < deadline,
            "the dropped reply kept its request open"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[tokio::test]
async fn concurrency_cap_is_honoured() -> Result<()> {
    let fake = fake(250, 5).await?;
    let cfg = LlmConfig {
        max_concurrency: 2,
        ..config(&fake)
    };
    let writer = ReplyWriter::new(&cfg)?;
    let receivers: Vec<_> = (0..5)
        .map(|i| writer.start(&comment(&format!("第{i}条")), &viewer(), &scene()))
        .collect();
    for rx in receivers {
        let (sentences, end) = collect(rx).await?;
        assert!(matches!(end, ReplyEvent::Done { .. }), "{end:?}");
        assert!(!sentences.is_empty());
    }
    assert_eq!(fake.requests().len(), 5);
    assert_eq!(
        fake.max_concurrent(),
        2,
        "at most 2 requests in flight, and the cap was reached"
    );
    Ok(())
}

#[tokio::test]
async fn empty_non_stream_and_unauthorised_replies() -> Result<()> {
    let fake = fake(10, 5).await?;
    let writer = ReplyWriter::new(&config(&fake))?;

    fake.push(Script::Empty);
    let (sentences, end) = collect(writer.start(&comment("嗨"), &viewer(), &scene())).await?;
    assert!(sentences.is_empty());
    assert!(
        matches!(end, ReplyEvent::Failed(LlmError::Empty)),
        "{end:?}"
    );

    fake.push(Script::NonStream(
        "[shy]嘿嘿，被你夸得不好意思了。谢谢你呀！".into(),
    ));
    let (sentences, end) =
        collect(writer.start(&comment("主播好可爱"), &viewer(), &scene())).await?;
    assert!(matches!(end, ReplyEvent::Done { .. }), "{end:?}");
    let texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, vec!["嘿嘿，被你夸得不好意思了。", "谢谢你呀！"]);
    assert!(sentences.iter().all(|s| s.emotion == Emotion::Shy));

    let before = fake.requests().len();
    let wrong = ReplyWriter::new(&LlmConfig {
        api_key: "sk-wrong".into(),
        ..config(&fake)
    })?;
    let (_, end) = collect(wrong.start(&comment("嗨"), &viewer(), &scene())).await?;
    match end {
        ReplyEvent::Failed(LlmError::Http {
            status: 401,
            detail,
        }) => {
            assert!(detail.contains("Incorrect API key"), "{detail}")
        }
        other => bail!("expected 401, got {other:?}"),
    }
    assert_eq!(fake.requests().len(), before + 1, "a 401 is not retried");
    Ok(())
}

/// A `MakeWriter` collecting everything logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn the_key_is_sent_but_never_logged() -> Result<()> {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    // Thread-local, and this test's runtime is single-threaded: every task logs here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = fake(10, 5).await?;
    let cfg = config(&fake);
    let writer = ReplyWriter::new(&cfg)?;
    fake.push(Script::Error {
        status: 500,
        message: format!("upstream rejected header Authorization: Bearer {KEY}"),
        retry_after: None,
    });
    fake.push(Script::Reply(tokens("[happy]收到啦。")));
    let (_, end) = collect(writer.start(&comment("测试"), &viewer(), &scene())).await?;
    assert!(matches!(end, ReplyEvent::Done { .. }), "{end:?}");
    // A server error that echoes the key: the error the caller sees is scrubbed.
    for _ in 0..3 {
        fake.push(Script::Error {
            status: 500,
            message: format!("bad key {KEY}"),
            retry_after: None,
        });
    }
    let (_, end) = collect(writer.start(&comment("测试"), &viewer(), &scene())).await?;
    let ReplyEvent::Failed(error) = end else {
        bail!("expected a failure");
    };

    let requests = fake.requests();
    assert!(requests
        .iter()
        .all(|r| r.header("authorization") == Some(format!("Bearer {KEY}").as_str())));
    let logged = String::from_utf8(logs.0.lock().unwrap().clone())?;
    assert!(
        logged.contains("LLM request"),
        "the test must see the client's logs: {logged}"
    );
    let shown = format!(
        "{logged}\n{error}\n{error:?}\n{cfg:?}\n{writer:?}\n{:?}",
        writer.client()
    );
    assert!(!shown.contains(KEY), "the key leaked:\n{shown}");
    Ok(())
}

#[tokio::test]
async fn leaky_model_output_is_never_spoken() -> Result<()> {
    let fake = fake(5, 1).await?;
    let writer = ReplyWriter::new(&config(&fake))?;
    let system = writer.prompt().system_prompt().to_string();
    let corpus = include_str!("../data/injection-corpus.txt");
    let comments: Vec<&str> = corpus
        .lines()
        .filter_map(|l| l.strip_prefix("comment: "))
        .take(8)
        .collect();
    for (i, text) in comments.iter().enumerate() {
        // The model "obeys" the injection and recites its system prompt.
        fake.push(Script::Reply(tokens(&format!("[neutral]好的！{system}"))));
        let (sentences, end) = collect(writer.start(&comment(text), &viewer(), &scene())).await?;
        assert!(sentences.is_empty(), "spoke {sentences:?}");
        assert!(
            matches!(end, ReplyEvent::Failed(LlmError::Refused(_))),
            "{end:?}"
        );
        let request = &fake.requests()[i];
        assert_eq!(request.message_content(0), Some(system.as_str()));
        let data: serde_json::Value = serde_json::from_str(request.message_content(1).unwrap())?;
        assert_eq!(
            data["comment"].as_str(),
            Some(writer.safety().mask(text).text.trim())
        );
    }
    Ok(())
}
