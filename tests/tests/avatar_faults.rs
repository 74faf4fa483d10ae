//! A gift is thanked only when it was heard: the real sidecar, a BarrageGrab stand-in with one
//! gift, and avatars that fail the way a real one can.
//!
//! * The avatar's clock died but its connection stayed up: lines are sent, never played, never
//!   reported. The gift must stay unthanked while the line is tried again (watchdog), and after
//!   the last attempt be thanked in the text overlay, noted as such in the ledger.
//! * The avatar went away mid-line (the plugin drops the link when its clock thread dies): the
//!   gift stays unthanked and its line airs in full once an avatar is back.
//! * A gift interrupts a long reply on an avatar that plays in real time: the gift's line airs
//!   next, then the rest of the reply (from the clause that was cut), never the cut reply
//!   before the line that cut it.

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use avatar_link::Command as LinkCommand;
use e2e::avatar_client::{connect_avatar, play_avatar, play_avatar_in_real_time};
use e2e::fake_barrage_grab::{chat, envelope, gift, kind, user, FakeBarrageGrab, GiftMsg, Step};
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

const LINK_TOKEN: &str = "link-secret";
const ROOM: u64 = 7_300_000_000_000_000_012;
/// BarrageGrab events carry their own platform name (they are not the web adapter's).
const PLATFORM: &str = "barrage_grab";

struct Show {
    sidecar: Child,
    ledger: PathBuf,
    log: PathBuf,
    link_port: u16,
    _grab: FakeBarrageGrab,
    _work: tempfile::TempDir,
}

impl Show {
    async fn start() -> Result<Self> {
        Self::start_with(one_gift(), "").await
    }

    async fn start_with(script: Vec<Step>, extra_config: &str) -> Result<Self> {
        e2e::sidecar::binary()?;
        let grab = FakeBarrageGrab::start(script).await?;
        let work = tempfile::tempdir()?;
        let link_port = e2e::free_port()?;
        let (config, ledger) = e2e::sidecar::barrage_grab_show(
            work.path(),
            &grab.url(),
            link_port,
            LINK_TOKEN,
            extra_config,
        )?;
        let log = work.path().join("sidecar.log");
        let sidecar = e2e::sidecar::spawn(&config, &log)?;
        Ok(Self {
            sidecar,
            ledger,
            log,
            link_port,
            _grab: grab,
            _work: work,
        })
    }

    fn thanks(&self) -> Option<Option<String>> {
        e2e::sidecar::ledger_thanks(&self.ledger, PLATFORM)
            .into_values()
            .next()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn heart(msg_id: u64) -> GiftMsg {
    GiftMsg {
        msg_id,
        room_id: ROOM,
        gift_id: 463,
        gift_name: "小心心",
        diamonds: 1,
        group_id: 0,
        gift_count: 1,
        repeat_count: 1,
        combo: false,
    }
}

fn one_gift() -> Vec<Step> {
    vec![
        Step::Pause(Duration::from_millis(1_500)),
        Step::Send(envelope(
            kind::GIFT,
            &gift(&heart(81_001), user(6_001, "小明", 1)),
        )),
    ]
}

/// Reads what the sidecar sends until `until`, never reporting anything; returns the texts of
/// the `Say` commands received.
async fn silent_avatar(port: u16, until: Instant) -> Result<Vec<String>> {
    let mut ws = connect_avatar(port, LINK_TOKEN, until).await?;
    let mut said = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(until.saturating_duration_since(Instant::now()), ws.next()).await
    {
        if let Message::Text(text) = message? {
            if let Ok(LinkCommand::Say { text, .. }) = serde_json::from_str(&text) {
                said.push(text);
            }
        }
    }
    Ok(said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_avatar_clock_never_gets_a_gift_marked_thanked() -> Result<()> {
    let mut show = Show::start().await?;
    // Attempt 1 airs ~2 s after the gift and expires after its length + 5 s; retries follow
    // 2 s and 4 s later; after the third the gift is thanked in text (~35 s in all).
    let watching = tokio::spawn({
        let port = show.link_port;
        async move { silent_avatar(port, Instant::now() + Duration::from_secs(50)).await }
    });
    let deadline = Instant::now() + Duration::from_secs(50);
    let mut unthanked_seen = false;
    let outcome = loop {
        match show.thanks() {
            Some(None) => unthanked_seen = true,
            Some(Some(text)) => break Ok(text),
            None => {}
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!("the gift was never settled"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    e2e::sidecar::stop(&mut show.sidecar)?;
    let log = show.log();
    let aired = outcome.with_context(|| format!("sidecar log:\n{log}"))?;
    watching.abort();
    ensure!(unthanked_seen, "the gift was never seen unthanked");
    ensure!(
        aired.starts_with("(text overlay, not spoken"),
        "the gift was marked thanked as if heard: {aired:?}\n{log}"
    );
    let tries = log
        .matches("gift thank-you not heard; it will be tried again")
        .count();
    ensure!(tries == 2, "{tries} retries logged\n{log}");
    ensure!(log.contains("thanked in the text overlay"), "{log}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avatar_that_leaves_mid_line_gets_the_whole_line_again() -> Result<()> {
    let mut show = Show::start().await?;
    let port = show.link_port;
    let outcome = async {
        // The first avatar takes the line's Say and goes away before playing any of it.
        let mut ws =
            connect_avatar(port, LINK_TOKEN, Instant::now() + Duration::from_secs(10)).await?;
        let said = loop {
            let message = tokio::time::timeout(Duration::from_secs(15), ws.next())
                .await
                .context("no line reached the first avatar")?
                .context("link closed")??;
            if let Message::Text(text) = message {
                if let Ok(LinkCommand::Say { text, .. }) = serde_json::from_str(&text) {
                    break text;
                }
            }
        };
        drop(ws);
        tokio::time::sleep(Duration::from_secs(1)).await;
        ensure!(
            show.thanks() == Some(None),
            "thanked although nothing was played: {:?}",
            show.thanks()
        );
        // A working avatar comes back and hears the line from the start.
        let heard = play_avatar(port, LINK_TOKEN, Duration::from_secs(20), |heard| {
            heard.iter().any(|h| h.finished && h.text == said)
        })
        .await?;
        let again = heard
            .iter()
            .find(|h| h.text == said)
            .context("not said again")?;
        ensure!(again.samples > 48_000 / 2, "only {} samples", again.samples);
        let deadline = Instant::now() + Duration::from_secs(5);
        while show.thanks() != Some(Some(said.clone())) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ensure!(
            show.thanks() == Some(Some(said.clone())),
            "ledger: {:?}",
            show.thanks()
        );
        Ok(())
    }
    .await;
    e2e::sidecar::stop(&mut show.sidecar)?;
    let log = show.log();
    outcome.with_context(|| format!("sidecar log:\n{log}"))
}

const STORY: &str = "好呀，那我给大家讲一个很长很长的故事：从前有一座山，山上有一座庙，庙里有一个老和尚，老和尚在给小和尚讲故事。";

/// The reply as the avatar is told it: whole, or after the interruption resumed from the clause
/// that was cut, in the voice's normalised text (where "：" reads as "，").
/// The story, or the rest of it from a clause (a clause may end in `：` or `，` depending on
/// where the cut fell, so both are compared with one punctuation).
fn is_story(text: &str) -> bool {
    let plain = |s: &str| s.replace('：', "，");
    text == STORY || (!text.is_empty() && plain(STORY).ends_with(&plain(text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gift_that_interrupts_a_reply_airs_before_the_reply_comes_back() -> Result<()> {
    let script = vec![
        Step::Pause(Duration::from_millis(1_500)),
        Step::Send(envelope(
            kind::CHAT,
            &chat(82_001, user(6_002, "小红", 1), "讲个故事吧", ROOM),
        )),
        // The reply is on air (about ten seconds of it) when the gift comes; its thank-you is
        // offered after the 2 s combo window, well inside the first half of the reply.
        Step::Pause(Duration::from_millis(2_500)),
        Step::Send(envelope(
            kind::GIFT,
            &gift(&heart(82_002), user(6_003, "小刚", 1)),
        )),
    ];
    let extra = format!("[[lines.reply]]\nkeywords = [\"故事\"]\nsay = [\"{STORY}\"]\n");
    let mut show = Show::start_with(script, &extra).await?;
    let port = show.link_port;
    let outcome = play_avatar_in_real_time(port, LINK_TOKEN, Duration::from_secs(45), |heard| {
        heard
            .iter()
            .filter(|h| is_story(&h.text) && h.finished)
            .count()
            == 2
            && heard.iter().any(|h| h.text.contains("小刚") && h.finished)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    e2e::sidecar::stop(&mut show.sidecar)?;
    let log = show.log();
    let heard = outcome.with_context(|| format!("sidecar log:\n{log}"))?;
    let order: Vec<&str> = heard
        .iter()
        .map(|h| {
            if is_story(&h.text) {
                "reply"
            } else if h.text.contains("小刚") {
                "gift"
            } else {
                "other"
            }
        })
        .filter(|k| *k != "other")
        .collect();
    ensure!(
        order == ["reply", "gift", "reply"],
        "the cut reply must come back only after the gift's line: {order:?}\n{log}"
    );
    ensure!(
        log.contains("interrupting the current line"),
        "no interruption happened:\n{log}"
    );
    // Cut seconds into the story (well past its first clause): what comes back is the rest of
    // it, from the clause that was cut.
    let resumed = heard
        .iter()
        .rev()
        .find(|h| is_story(&h.text))
        .map(|h| h.text.as_str());
    ensure!(
        resumed.is_some_and(|text| text.chars().count() < STORY.chars().count()),
        "the cut reply must resume from the clause that was cut: {resumed:?}\n{log}"
    );
    let thanked = e2e::sidecar::ledger_thanks(&show.ledger, PLATFORM);
    ensure!(
        thanked
            .values()
            .all(|t| t.as_deref().is_some_and(|t| t.contains("小刚"))),
        "the gift was not thanked as heard: {thanked:?}"
    );
    Ok(())
}
