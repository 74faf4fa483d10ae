//! The sidecar's Bilibili adapter end to end: the real `target/debug/sidecar` binary against
//! the loopback stand-in danmaku server ([`e2e::fake_bilibili`]), which plays a storm of
//! compressed batches, duplicates, malformed packets and decompression bombs and drops the
//! connection once in the middle. Everything is checked from the outside: the fake's record of
//! auth packets and heartbeats, the sidecar's SQLite ledger, and its log.
//!
//! Builds and runs `target/debug/sidecar` (see `e2e::sidecar`). No OBS.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use e2e::fake_bilibili::{ExpectedGift, FakeBilibili, FakeBilibiliOptions};

const ROOM: u64 = 21_452_505;
const KEY: &str = "e2e-danmaku-token-8f14e45fceea167a5a36dedd4bea2543";
const BUVID: &str = "E2E0B1C2-D3E4-F5A6-B7C8-D9E0F1A2B3C4infoc";

fn write_config(dir: &Path, fake: &FakeBilibili) -> Result<PathBuf> {
    let path = dir.join("bilibili.toml");
    let ledger = dir.join("ledger.sqlite3");
    let scenes_dir = e2e::shipped_scenes_toml();
    std::fs::write(
        &path,
        format!(
            r#"[source]
kind = "bilibili"

[source.bilibili]
room_id = {ROOM}
endpoint = "{endpoint}"
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
bind = "127.0.0.1:0"
"#,
            endpoint = fake.ws_url(),
            ledger = ledger.display(),
        ),
    )?;
    Ok(path)
}

fn truth_map(expected: &[ExpectedGift]) -> BTreeMap<String, (u64, u64)> {
    expected
        .iter()
        .map(|g| (g.msg_id.clone(), (g.count, g.value_fen)))
        .collect()
}

/// The ledger's gifts of this platform as `msg_id → (count, value_fen)`, the truth's shape.
fn ledger_gifts(ledger: &Path) -> BTreeMap<String, (u64, u64)> {
    e2e::sidecar::ledger_gifts(ledger, "bilibili")
        .into_iter()
        .map(|(id, (count, _diamonds, fen))| (id, (count, fen)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bilibili_storm_lands_in_the_ledger_exactly_once() -> Result<()> {
    // First: the first call may build the sidecar for a minute, which the stand-in's
    // accept timeout must not see.
    let sidecar_bin = e2e::sidecar::binary()?;
    let fake = FakeBilibili::start(FakeBilibiliOptions {
        room_id: ROOM,
        key: KEY.to_string(),
        popularity: 4242,
    })
    .await?;
    let work = tempfile::tempdir()?;
    let config = write_config(work.path(), &fake)?;
    let ledger = work.path().join("ledger.sqlite3");
    let log_path = work.path().join("sidecar.log");
    let mut sidecar = Command::new(&sidecar_bin)
        .current_dir(e2e::workspace_root())
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .context("starting the sidecar")?;

    let truth = truth_map(&fake.expected_gifts());
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = loop {
        let activity = fake.activity();
        let gifts = ledger_gifts(&ledger);
        if gifts == truth && activity.storm_parts_played == 2 && activity.heartbeats >= 3 {
            break Ok(());
        }
        if let Some(status) = sidecar.try_wait()? {
            break Err(format!("the sidecar exited early with {status}"));
        }
        if Instant::now() > deadline {
            break Err(format!(
                "timed out: ledger {gifts:?}\ntruth {truth:?}\nfake {activity:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Let a late duplicate (if the sidecar were to count one) reach the ledger before looking.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    e2e::sidecar::stop(&mut sidecar)?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    if let Err(why) = outcome {
        bail!("{why}\n--- sidecar log ---\n{log}");
    }

    // Gifts: exactly the truth, despite duplicates, combo summaries, bombs and the reconnect.
    let gifts = ledger_gifts(&ledger);
    ensure!(gifts == truth, "ledger {gifts:?} != truth {truth:?}");
    let value: u64 = gifts.values().map(|(_, fen)| fen).sum();
    let count: u64 = gifts.values().map(|(n, _)| n).sum();
    let true_value: u64 = fake.expected_gifts().iter().map(|g| g.value_fen).sum();
    let true_count: u64 = fake.expected_gifts().iter().map(|g| g.count).sum();
    ensure!(
        (count, value) == (true_count, true_value),
        "totals {count} gifts / {value} fen, truth {true_count} / {true_value}"
    );

    // Comments (danmaku id_str, Super Chat text) reached the show.
    let seen = e2e::sidecar::ledger_seen(&ledger, "bilibili")?;
    for id in fake.expected_comment_ids() {
        ensure!(
            seen.contains(&id),
            "comment {id} not in the ledger: {seen:?}"
        );
    }

    // The fake saw what the real server would: auth with the key on each connection, a
    // reconnect after the drop, heartbeats.
    let activity = fake.activity();
    ensure!(activity.drops == 1, "{activity:?}");
    ensure!(
        activity.auth_attempts.len() >= 2,
        "no reconnect: {activity:?}"
    );
    for attempt in &activity.auth_attempts {
        ensure!(attempt.accepted, "auth refused: {attempt:?}");
        ensure!(attempt.body["key"] == KEY && attempt.body["buvid"] == BUVID);
        ensure!(attempt.body["roomid"] == ROOM && attempt.body["protover"] == 3);
    }
    ensure!(activity.heartbeats >= 3, "{activity:?}");
    ensure!(activity.unexpected_packets == 0, "{activity:?}");

    // Bad input was counted by reason, and no secret reached the log.
    for reason in fake.planted_faults() {
        ensure!(
            log.contains(reason),
            "no '{reason}' rejection logged:\n{log}"
        );
    }
    ensure!(!log.contains(KEY), "the danmaku key leaked into the log");
    ensure!(!log.contains(BUVID), "the buvid leaked into the log");
    Ok(())
}

/// Another process holds the ledger's write lock for longer than the busy timeout while gifts
/// stream in: the commits are retried, the adapter keeps its connection (the danmaku server
/// keeps no history: a reconnect would lose what was sent meanwhile), and afterwards the
/// ledger is exactly the truth, including the gifts sent after the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_locked_by_another_process_mid_stream_loses_and_doubles_nothing() -> Result<()> {
    e2e::sidecar::binary()?;
    const GIFTS: usize = 200;
    // ~16 s of gifts: the 8 s lock, taken at 30 %, ends well before the stream does.
    let fake = FakeBilibili::start_stream(
        FakeBilibiliOptions {
            room_id: ROOM,
            key: KEY.to_string(),
            popularity: 4242,
        },
        GIFTS,
        Duration::from_millis(80),
    )
    .await?;
    let work = tempfile::tempdir()?;
    let config = write_config(work.path(), &fake)?;
    let ledger = work.path().join("ledger.sqlite3");
    let log_path = work.path().join("sidecar.log");
    let mut sidecar = e2e::sidecar::spawn(&config, &log_path)?;
    let truth = truth_map(&fake.expected_gifts());
    ensure!(truth.len() == GIFTS);

    let outcome = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while ledger_gifts(&ledger).len() * 10 < GIFTS * 3 {
            if let Some(status) = sidecar.try_wait()? {
                bail!("the sidecar exited early with {status}");
            }
            ensure!(Instant::now() < deadline, "30 % of the gifts never arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let locked = ledger.clone();
        let lock = tokio::task::spawn_blocking(move || {
            e2e::sidecar::hold_ledger_write_lock(
                &locked,
                e2e::sidecar::LOCK_LONGER_THAN_BUSY_TIMEOUT,
            )
        })
        .await??;
        tokio::task::spawn_blocking(move || lock.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the lock holder panicked"))?;
        let sent_at_release = fake.activity().stream_sent;
        ensure!(
            sent_at_release < GIFTS,
            "the stream was over before the lock ended: the test proves nothing"
        );
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let (gifts, activity) = (ledger_gifts(&ledger), fake.activity());
            if gifts == truth && activity.stream_sent == GIFTS {
                break;
            }
            if let Some(status) = sidecar.try_wait()? {
                bail!("the sidecar exited early with {status}");
            }
            ensure!(
                Instant::now() < deadline,
                "timed out: ledger has {} of {GIFTS} gifts, {} unknown ones; fake {activity:?}",
                gifts.len(),
                gifts.keys().filter(|k| !truth.contains_key(*k)).count()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Still live: heartbeats go on after the stream.
        let beats = fake.activity().heartbeats;
        let deadline = Instant::now() + Duration::from_secs(10);
        while fake.activity().heartbeats < beats + 2 {
            ensure!(
                Instant::now() < deadline,
                "heartbeats stopped after the lock"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    }
    .await;
    // A late double count would show up now.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let still_running = sidecar.try_wait()?.is_none();
    e2e::sidecar::stop(&mut sidecar)?;
    let log = e2e::sidecar::read_log(&log_path);
    if let Err(why) = outcome {
        bail!("{why:#}\n--- sidecar log ---\n{log}");
    }
    ensure!(still_running, "the sidecar stopped:\n{log}");
    let gifts = ledger_gifts(&ledger);
    ensure!(gifts == truth, "ledger {gifts:?} != truth {truth:?}");
    e2e::sidecar::ensure_lock_survived(&log)?;
    let activity = fake.activity();
    ensure!(
        activity.connections == 1 && activity.drops == 0,
        "the adapter reconnected (gifts of the gap would be lost for good): {activity:?}\n{log}"
    );
    ensure!(activity.unexpected_packets == 0, "{activity:?}");
    Ok(())
}
