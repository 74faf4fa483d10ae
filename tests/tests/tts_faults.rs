//! A failing primary TTS engine does not delay the thank-yous: the real sidecar with
//! `engines = ["gpt_sovits", "espeak"]` and default deadlines, a GPT-SoVITS stand-in that hangs
//! mid-show, answers 500, or is not there at all, and eight 1-diamond gifts 2 s apart from a
//! BarrageGrab stand-in. The test plays the OBS plugin's part on the avatar link.
//!
//! What must hold (issue 8): every gift that arrives after the first failure is thanked on air
//! within 5 s of arriving (the combo window of 2 s included), every gift is thanked, and the
//! dead engine is remembered (its breaker opens) instead of being waited on again per line.

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use e2e::avatar_client::{play_avatar, Heard};
use e2e::fake_barrage_grab::{envelope, gift, user, FakeBarrageGrab, GiftMsg, Step};
use e2e::fake_gpt_sovits::{FakeGptSovits, SovitsMode};

const LINK_TOKEN: &str = "link-secret";
const ROOM: u64 = 7_300_000_000_000_000_011;
const GIFTS: u64 = 8;
const GIFT_EVERY: Duration = Duration::from_secs(2);
/// What the issue allows between a gift and its thank-you going on air.
const WITHIN: Duration = Duration::from_secs(5);
/// Small gifts are thanked once their combo has been quiet this long (`[gifts] combo_idle_ms`).
const COMBO_WINDOW: Duration = Duration::from_secs(2);
/// The default deadline of one synthesis attempt (`[voice.rotation] attempt_timeout_secs`).
const ATTEMPT_DEADLINE: Duration = Duration::from_secs(6);

/// The primary engine is GPT-SoVITS at `sovits_url`, espeak-ng the fallback.
fn voice_config(sovits_url: &str) -> String {
    format!(
        r#"[voice]
engines = ["gpt_sovits", "espeak"]

[voice.gpt_sovits]
base_url = "{sovits_url}"
ref_audio_path = "refs/main.wav"
prompt_text = "大家好"
"#
    )
}

fn script() -> Vec<Step> {
    let mut steps = vec![Step::Pause(Duration::from_millis(2_500))]; // the avatar connects
    for n in 1..=GIFTS {
        let g = GiftMsg {
            msg_id: 70_000 + n,
            room_id: ROOM,
            gift_id: 463,
            gift_name: "小心心",
            diamonds: 1,
            group_id: 0,
            gift_count: 1,
            repeat_count: 1,
            combo: false,
        };
        let sender = user(5_000 + n, &format!("观众{n}号"), 1);
        steps.push(Step::Send(envelope(5, &gift(&g, sender))));
        steps.push(Step::Pause(GIFT_EVERY));
    }
    steps
}

/// Runs the show against the broken engine; returns when each gift was sent and what aired.
/// `break_at`: the engine works until then (from the start of the run), then `breaks` runs.
async fn run_with_broken_engine(
    sovits_url: &str,
    break_at: Option<(Duration, &(dyn Fn() + Sync))>,
) -> Result<(Vec<Instant>, Vec<Heard>, String)> {
    e2e::sidecar::binary()?;
    let mut grab = FakeBarrageGrab::start(script()).await?;
    let work = tempfile::tempdir()?;
    let link_port = e2e::free_port()?;
    let (config, _) = e2e::sidecar::barrage_grab_show(
        work.path(),
        &grab.url(),
        link_port,
        LINK_TOKEN,
        &voice_config(sovits_url),
    )?;
    let log_path = work.path().join("sidecar.log");
    let mut sidecar = e2e::sidecar::spawn(&config, &log_path)?;
    let breaking = async {
        if let Some((after, breaks)) = break_at {
            tokio::time::sleep(after).await;
            breaks();
        }
    };
    let outcome = async {
        let playing = play_avatar(link_port, LINK_TOKEN, Duration::from_secs(70), |heard| {
            (1..=GIFTS).all(|n| heard_for(heard, n).is_some())
        });
        let (heard, ()) = tokio::join!(playing, breaking);
        let heard = heard?;
        let report = grab.script_played(Duration::from_secs(10)).await?;
        Ok::<_, anyhow::Error>((report.sent_at, heard))
    }
    .await;
    e2e::sidecar::stop(&mut sidecar)?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let (sent_at, heard) = outcome.with_context(|| format!("sidecar log:\n{log}"))?;
    ensure!(
        sent_at.len() == GIFTS as usize,
        "{} gifts sent",
        sent_at.len()
    );
    Ok((sent_at, heard, log))
}

/// The thank-you line that names viewer `n`.
fn heard_for(heard: &[Heard], n: u64) -> Option<&Heard> {
    heard
        .iter()
        .find(|h| h.finished && h.text.contains(&format!("观众{n}号")))
}

/// Gift → on air delays, in gift order.
fn delays(sent_at: &[Instant], heard: &[Heard]) -> Result<Vec<Duration>> {
    (1..=GIFTS)
        .map(|n| {
            let h = heard_for(heard, n)
                .with_context(|| format!("gift {n} never thanked: {heard:#?}"))?;
            Ok(h.said_at.saturating_duration_since(sent_at[n as usize - 1]))
        })
        .collect()
}

fn check_breaker_opened(log: &str) -> Result<()> {
    ensure!(
        log.contains("TTS circuit breaker open"),
        "the dead engine's breaker never opened:\n{log}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_hangs_mid_show_costs_one_deadline_then_every_thank_you_airs_within_5_s(
) -> Result<()> {
    let sovits = FakeGptSovits::start(32_000).await?;
    // Healthy at first (the thank-you lines are pre-warmed through it), wedged from 3 s on:
    // after the first gift went out, before its line is synthesised.
    let hang_from = Duration::from_secs(3);
    let started = Instant::now();
    let hang = || sovits.set_mode(SovitsMode::Hang);
    let (sent_at, heard, log) =
        run_with_broken_engine(&sovits.base_url(), Some((hang_from, &hang))).await?;
    let delays = delays(&sent_at, &heard)?;
    println!("gift → on air: {delays:?}");
    check_breaker_opened(&log)?;
    // The first line to meet the hang waits one deadline (no retry on the same dead server,
    // and the lines in flight with it give up at the same moment), after its combo window.
    // (Slack for a loaded machine: synthesis and checks of the fallback take longer there.)
    let worst = COMBO_WINDOW + ATTEMPT_DEADLINE + Duration::from_secs(4);
    ensure!(delays.iter().all(|d| *d <= worst), "{delays:?}");
    // Every gift arriving once that first failure has surely happened airs within 5 s.
    let first_failure_by =
        started + hang_from + COMBO_WINDOW + ATTEMPT_DEADLINE + Duration::from_secs(1);
    let mut judged = 0;
    for (i, (at, delay)) in sent_at.iter().zip(&delays).enumerate() {
        if *at >= first_failure_by {
            judged += 1;
            ensure!(
                *delay <= WITHIN,
                "gift {} aired {delay:?} after it arrived: {delays:?}\n{log}",
                i + 1
            );
        }
    }
    ensure!(
        judged >= 2,
        "too few gifts after the first failure to judge: {delays:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_engine_answering_500_never_delays_a_thank_you_past_5_s() -> Result<()> {
    let sovits = FakeGptSovits::start(32_000).await?;
    sovits.set_mode(SovitsMode::ServerError);
    let (sent_at, heard, log) = run_with_broken_engine(&sovits.base_url(), None).await?;
    let delays = delays(&sent_at, &heard)?;
    println!("gift → on air: {delays:?}");
    ensure!(delays.iter().all(|d| *d <= WITHIN), "{delays:?}");
    check_breaker_opened(&log)?;
    // Three consecutive failures open the voice's breaker: after that the engine is skipped.
    let requests = sovits.requests().len();
    ensure!(
        requests <= 4,
        "{requests} requests reached the failing engine"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_primary_engine_never_delays_a_thank_you_past_5_s() -> Result<()> {
    // A port nobody listens on.
    let closed = format!("http://127.0.0.1:{}", e2e::free_port()?);
    let (sent_at, heard, log) = run_with_broken_engine(&closed, None).await?;
    let delays = delays(&sent_at, &heard)?;
    println!("gift → on air: {delays:?}");
    ensure!(delays.iter().all(|d| *d <= WITHIN), "{delays:?}");
    check_breaker_opened(&log)?;
    Ok(())
}
