//! Two live-room sources at once, from `[[source]]` entries: the real `target/debug/sidecar`
//! binary fed by the BarrageGrab stand-in ([`e2e::fake_barrage_grab`], a steady gift stream)
//! and the Bilibili stand-in ([`e2e::fake_bilibili`], its storm of duplicates, bombs and a
//! dropped connection) together. Each runs under its own supervisor into the one ledger; the
//! ledger must hold exactly each stand-in's ground truth under its platform, nothing else.
//! With two platforms live, the thank-yous a stand-in avatar hears on the link name each
//! platform ("抖音的…", "B站的…"), and the Super Chat's message is read out in full.
//!
//! Builds and runs `target/debug/sidecar` (see `e2e::sidecar`). No OBS.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use e2e::fake_barrage_grab::{gift_stream, FakeBarrageGrab};
use e2e::fake_bilibili::{FakeBilibili, FakeBilibiliOptions};

const GRAB_ROOM: u64 = 7_300_000_000_000_000_002;
const GRAB_GIFTS: u64 = 40;
const BILI_ROOM: u64 = 21_452_505;
const KEY: &str = "e2e-danmaku-token-several-sources-0123456789abcdef";
const BUVID: &str = "E2E0B1C2-D3E4-F5A6-B7C8-D9E0F1A2B3C4infoc";
const LINK_TOKEN: &str = "several-sources-link-token";
/// The Bilibili stand-in's Super Chat message.
const SUPER_CHAT: &str = "主播唱首歌吧！";

fn write_config(dir: &Path, grab_url: &str, bilibili_url: &str, link_port: u16) -> Result<PathBuf> {
    let path = dir.join("several.toml");
    let scenes_dir = e2e::shipped_scenes_toml();
    std::fs::write(
        &path,
        format!(
            r#"[[source]]
kind = "barrage_grab"
url = "{grab_url}"

[[source]]
kind = "bilibili"
room_id = {BILI_ROOM}
endpoint = "{bilibili_url}"
key = "{KEY}"
buvid = "{BUVID}"
heartbeat_secs = 1
stall_secs = 10

[ledger]
path = "{ledger}"

[obs]
enabled = false
scenes_dir = {scenes_dir}

[link]
bind = "127.0.0.1:{link_port}"
token = "{LINK_TOKEN}"
"#,
            ledger = dir.join("ledger.sqlite3").display(),
        ),
    )?;
    Ok(path)
}

/// The ledger's gifts of `platform` as `msg_id → (count, value_fen)`, the truths' shape.
fn ledger_gifts(ledger: &Path, platform: &str) -> BTreeMap<String, (u64, u64)> {
    e2e::sidecar::ledger_gifts(ledger, platform)
        .into_iter()
        .map(|(id, (count, _diamonds, fen))| (id, (count, fen)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barrage_grab_and_bilibili_at_once_each_land_exactly_once() -> Result<()> {
    // First: the first call may build the sidecar for a minute, which the stand-ins' accept
    // timeouts must not see.
    e2e::sidecar::binary()?;
    let (script, grab_truth) = gift_stream(
        GRAB_ROOM,
        8_100_000_000_000_000_000,
        GRAB_GIFTS,
        Duration::from_millis(60),
    );
    let mut grab = FakeBarrageGrab::start(script).await?;
    let bilibili = FakeBilibili::start(FakeBilibiliOptions {
        room_id: BILI_ROOM,
        key: KEY.to_string(),
        popularity: 4242,
    })
    .await?;
    let bili_truth: BTreeMap<String, (u64, u64)> = bilibili
        .expected_gifts()
        .iter()
        .map(|g| (g.msg_id.clone(), (g.count, g.value_fen)))
        .collect();
    ensure!(grab_truth.len() == GRAB_GIFTS as usize && !bili_truth.is_empty());

    let work = tempfile::tempdir()?;
    let link_port = e2e::free_port()?;
    let config = write_config(work.path(), &grab.url(), &bilibili.ws_url(), link_port)?;
    let ledger = work.path().join("ledger.sqlite3");
    let log_path = work.path().join("sidecar.log");
    let mut sidecar = e2e::sidecar::spawn(&config, &log_path)?;
    // The avatar's part: hears lines as fast as they come, until both platforms were named
    // and the Super Chat was read.
    let named = |heard: &[e2e::avatar_client::Heard]| {
        let said = |needle: &str| heard.iter().any(|h| h.text.contains(needle));
        said("抖音的") && said("B站的") && said(SUPER_CHAT)
    };
    let avatar = tokio::spawn(e2e::avatar_client::play_avatar(
        link_port,
        LINK_TOKEN,
        Duration::from_secs(150),
        named,
    ));

    let outcome = async {
        let report = grab.script_played(Duration::from_secs(45)).await?;
        ensure!(report.connections == 1, "{report:?}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let done = ledger_gifts(&ledger, "barrage_grab") == grab_truth
                && ledger_gifts(&ledger, "bilibili") == bili_truth
                && bilibili.activity().storm_parts_played == 2;
            if done {
                return Ok(());
            }
            if let Some(status) = sidecar.try_wait()? {
                bail!("the sidecar exited early with {status}");
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out: barrage_grab {:?}\ntruth {grab_truth:?}\nbilibili {:?}\ntruth \
                     {bili_truth:?}\nfake {:?}",
                    ledger_gifts(&ledger, "barrage_grab"),
                    ledger_gifts(&ledger, "bilibili"),
                    bilibili.activity(),
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    .await;
    // A late double count would show up now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let heard: Result<Vec<e2e::avatar_client::Heard>> =
        match tokio::time::timeout(Duration::from_secs(120), avatar).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(anyhow::anyhow!("avatar task: {join}")),
            Err(_) => Err(anyhow::anyhow!("the thank-yous never named both platforms")),
        };
    e2e::sidecar::stop(&mut sidecar)?;
    let log = e2e::sidecar::read_log(&log_path);
    if let Err(why) = outcome {
        bail!("{why:#}\n--- sidecar log ---\n{log}");
    }

    let grab_gifts = ledger_gifts(&ledger, "barrage_grab");
    ensure!(
        grab_gifts == grab_truth,
        "barrage_grab {grab_gifts:?} != {grab_truth:?}"
    );
    let bili_gifts = ledger_gifts(&ledger, "bilibili");
    ensure!(
        bili_gifts == bili_truth,
        "bilibili {bili_gifts:?} != {bili_truth:?}"
    );
    let platforms = e2e::sidecar::ledger_gift_platforms(&ledger);
    let want = BTreeMap::from([
        ("barrage_grab".to_string(), grab_truth.len() as u64),
        ("bilibili".to_string(), bili_truth.len() as u64),
    ]);
    ensure!(platforms == want, "gift rows by platform {platforms:?}");

    // Both ran side by side, each under its own supervisor: neither was restarted, and the
    // Bilibili adapter reconnected on its own after the stand-in's drop.
    for started in ["source=DouyinBarrageGrab at", "source=bilibili room"] {
        ensure!(
            log.lines()
                .any(|l| l.contains("live-room source starting") && l.contains(started)),
            "no {started:?} start in the log:\n{log}"
        );
    }
    ensure!(
        !log.contains("restarting it"),
        "a source was restarted:\n{log}"
    );
    ensure!(bilibili.activity().drops == 1, "{:?}", bilibili.activity());
    ensure!(!log.contains(KEY), "the danmaku key leaked into the log");

    // Two platforms live: the thank-yous say whose room each gift came from, and the paid
    // message is read out whole.
    let heard = heard.map_err(|e| anyhow::anyhow!("{e:#}\n--- sidecar log ---\n{log}"))?;
    let lines: Vec<&str> = heard.iter().map(|h| h.text.as_str()).collect();
    eprintln!(
        "{} lines heard, e.g. {:?}",
        lines.len(),
        &lines[..lines.len().min(6)]
    );
    ensure!(
        lines.iter().any(|l| l.contains("抖音的")) && lines.iter().any(|l| l.contains("B站的")),
        "no line names both platforms: {lines:#?}"
    );
    ensure!(
        lines.iter().any(|l| l.contains(SUPER_CHAT)),
        "the Super Chat was not read out: {lines:#?}"
    );
    Ok(())
}
