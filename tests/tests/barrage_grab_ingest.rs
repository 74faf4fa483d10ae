//! The sidecar's DouyinBarrageGrab adapter end to end: the real `target/debug/sidecar` binary
//! against the loopback stand-in of the tool's WebSocket ([`e2e::fake_barrage_grab`]), which
//! plays a session with duplicates, broken messages and a crash of the tool in the middle of a
//! gift combo — after which the restarted tool, its combo cache lost, claims the whole combo
//! again. Checked from the outside: the SQLite ledger and the log.
//!
//! Builds and runs `target/debug/sidecar` (see `e2e::sidecar`). No OBS.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use e2e::fake_barrage_grab::{
    base, chat, envelope, envelope_raw, gift, gift_stream, kind, user, FakeBarrageGrab, GiftMsg,
    Step,
};
use serde_json::{json, Value};

const ROOM: u64 = 7_300_000_000_000_000_001;
const PLATFORM: &str = "barrage_grab";

fn write_config(dir: &Path, url: &str) -> Result<PathBuf> {
    let path = dir.join("barrage_grab.toml");
    let scenes_dir = e2e::shipped_scenes_toml();
    std::fs::write(
        &path,
        format!(
            r#"[source]
kind = "barrage_grab"

[source.barrage_grab]
url = "{url}"

[ledger]
path = "{ledger}"

[obs]
enabled = false
scenes_dir = {scenes_dir}

[link]
bind = "127.0.0.1:0"
"#,
            ledger = dir.join("ledger.sqlite3").display(),
        ),
    )?;
    Ok(path)
}

/// A message id of this session (Douyin ids are 19-digit numbers).
fn id(n: u64) -> u64 {
    8_000_000_000_000_000_000 + n
}

fn with(mut data: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().expect("an object") {
        data[k] = v.clone();
    }
    data
}

/// The session, and the gifts the ledger must hold afterwards: `msg_id → (count, value_fen)`.
fn session() -> (Vec<Step>, BTreeMap<String, (u64, u64)>) {
    let xiaoming = user(1001, "小明", 12);
    let ahua = user(1002, "阿花", -1);
    let laowang = user(1003, "老王", 30);
    let rose = GiftMsg {
        msg_id: id(11),
        room_id: ROOM,
        gift_id: 1001,
        gift_name: "玫瑰",
        diamonds: 1,
        group_id: 0,
        gift_count: 1,
        repeat_count: 1,
        combo: false,
    };
    // A combo of 鲜花 (10 diamonds) by 阿花: 1, then 3, then — after the crash — 5.
    let flowers = |msg: u64, repeat: i64, tool_increment: i64| GiftMsg {
        msg_id: id(msg),
        room_id: ROOM,
        gift_id: 2002,
        gift_name: "鲜花",
        diamonds: 10,
        group_id: 1_700_000_000_123,
        gift_count: tool_increment,
        repeat_count: repeat,
        combo: true,
    };
    let carnival = GiftMsg {
        msg_id: id(41),
        room_id: ROOM,
        gift_id: 3001,
        gift_name: "嘉年华",
        diamonds: 3000,
        group_id: 0,
        gift_count: 1,
        repeat_count: 1,
        combo: false,
    };
    let combo_2 = envelope(kind::GIFT, &gift(&flowers(22, 3, 2), ahua.clone()));
    let script = vec![
        // The tool is up; a room is going.
        Step::Send(envelope(
            kind::CHAT,
            &chat(id(1), xiaoming.clone(), "主播好", ROOM),
        )),
        Step::Send(envelope(kind::GIFT, &gift(&rose, xiaoming.clone()))),
        Step::Send(envelope(
            kind::GIFT,
            &gift(&flowers(21, 1, 1), ahua.clone()),
        )),
        Step::Send(combo_2.clone()),
        // Douyin resent a message: the tool forwards it again.
        Step::Send(combo_2),
        // Broken input: not JSON inside Data, a gift without GiftId, an absurd price.
        Step::Send(envelope_raw(
            kind::GIFT,
            "{\"MsgId\": 8000000000000000099, \"GiftId\": ",
        )),
        Step::Send(envelope(
            kind::GIFT,
            &with(
                gift(&rose, xiaoming.clone()),
                json!({"MsgId": id(98), "GiftId": null}),
            ),
        )),
        Step::Send(envelope(
            kind::GIFT,
            &with(
                gift(&carnival, laowang.clone()),
                json!({"MsgId": id(97), "DiamondCount": 1_000_000_000_000i64}),
            ),
        )),
        Step::Send(envelope(
            kind::LIKE,
            &with(
                base(id(31), Some(laowang.clone()), "点赞", ROOM),
                json!({"Count": 5, "Total": 50}),
            ),
        )),
        Step::Pause(Duration::from_millis(200)),
        // The streamer restarts the tool.
        Step::Crash {
            away: Duration::from_millis(1500),
        },
        // Its combo cache is gone: it reports the whole running combo as new (5), and forwards
        // Douyin's resend of the rose.
        Step::Send(envelope(
            kind::GIFT,
            &gift(&flowers(23, 5, 5), ahua.clone()),
        )),
        Step::Send(envelope(kind::GIFT, &gift(&rose, xiaoming.clone()))),
        Step::Send(envelope(kind::GIFT, &gift(&carnival, laowang.clone()))),
        Step::Send(envelope(
            kind::ENTER,
            &base(id(51), Some(ahua.clone()), "阿花 来了", ROOM),
        )),
        Step::Send(envelope(
            kind::FOLLOW,
            &base(id(61), Some(ahua), "关注了主播", ROOM),
        )),
        Step::Send(envelope(
            kind::SHARE,
            &with(
                base(id(71), Some(xiaoming), "分享了直播间", ROOM),
                json!({"ShareType": 1}),
            ),
        )),
        Step::Send(envelope(
            kind::ROOM_STATS,
            &with(
                base(id(81), None, "当前直播间人数 321", ROOM),
                json!({"OnlineUserCount": 321, "TotalUserCount": 5000,
                       "OnlineUserCountStr": "321", "TotalUserCountStr": "5000"}),
            ),
        )),
        Step::Send(envelope(
            kind::FANS_CLUB,
            &with(
                base(id(91), Some(laowang), "加入了粉丝团", ROOM),
                json!({"Type": 2, "Level": 1}),
            ),
        )),
        Step::Send(envelope(
            kind::STREAM_ENDED,
            &base(id(95), None, "直播已结束", ROOM),
        )),
    ];
    let truth = [
        (id(11), (1, 10)),
        (id(21), (1, 100)),
        (id(22), (2, 200)),
        // The ledger counts 5 − 3 = 2 from Douyin's running total, not the tool's 5.
        (id(23), (2, 200)),
        (id(41), (1, 30_000)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    (script, truth)
}

/// The ledger's gifts of this platform as `msg_id → (count, value_fen)`, the truth's shape.
fn ledger_gifts(ledger: &Path) -> BTreeMap<String, (u64, u64)> {
    e2e::sidecar::ledger_gifts(ledger, PLATFORM)
        .into_iter()
        .map(|(id, (count, _diamonds, fen))| (id, (count, fen)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_equals_the_truth_across_a_crash_of_the_tool() -> Result<()> {
    let (script, truth) = session();
    let sends = script.iter().filter(|s| matches!(s, Step::Send(_))).count();
    // First: the first call may build the sidecar for a minute, which the stand-in's
    // accept timeout must not see.
    let sidecar_bin = e2e::sidecar::binary()?;
    let mut fake = FakeBarrageGrab::start(script).await?;
    let work = tempfile::tempdir()?;
    let config = write_config(work.path(), &fake.url())?;
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

    let outcome = async {
        let report = fake.script_played(Duration::from_secs(45)).await?;
        ensure!(
            (report.connections, report.sent) == (2, sends),
            "{report:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        let expected_seen: Vec<String> =
            [1, 31, 51, 61, 71, 81].map(|n| id(n).to_string()).to_vec();
        loop {
            let seen = e2e::sidecar::ledger_seen(&ledger, PLATFORM).unwrap_or_default();
            if ledger_gifts(&ledger) == truth && expected_seen.iter().all(|s| seen.contains(s)) {
                return Ok(());
            }
            if let Some(status) = sidecar.try_wait()? {
                bail!("the sidecar exited early with {status}");
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out: ledger {:?}\ntruth {truth:?}\nseen {seen:?}",
                    ledger_gifts(&ledger)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    .await;
    // A late double count would show up now.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    e2e::sidecar::stop(&mut sidecar)?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    if let Err(why) = outcome {
        bail!("{why:#}\n--- sidecar log ---\n{log}");
    }

    let gifts = ledger_gifts(&ledger);
    ensure!(gifts == truth, "ledger {gifts:?} != truth {truth:?}");
    let value: u64 = gifts.values().map(|(_, fen)| fen).sum();
    ensure!(value == 30_510, "ledger holds {value} fen, truth is 30510");
    let seen = e2e::sidecar::ledger_seen(&ledger, PLATFORM).unwrap_or_default();
    for never in [97, 98, 99, 91, 95] {
        let never = id(never).to_string();
        ensure!(
            !seen.contains(&never) && !gifts.contains_key(&never),
            "{never} should not have reached the ledger"
        );
    }
    for expected in [
        "connected to BarrageGrab",
        "lost the connection to BarrageGrab",
        "BarrageGrab not reachable at",
        "bad_data",
        "missing_field",
        "absurd_number",
        "BarrageGrab reports the stream ended",
    ] {
        ensure!(
            log.contains(expected),
            "{expected:?} not in the log:\n{log}"
        );
    }
    ensure!(
        log.matches("connected to BarrageGrab").count() >= 2,
        "no reconnect in the log:\n{log}"
    );
    Ok(())
}

/// Another process holds the ledger's write lock for longer than the busy timeout while the
/// tool streams gifts: the commits are retried, the adapter keeps its connection (BarrageGrab
/// keeps no history, so a dropped connection would lose gifts for good), and afterwards the
/// ledger is exactly the truth, including the gifts sent after the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_locked_by_another_process_mid_stream_loses_and_doubles_nothing() -> Result<()> {
    // ~16 s of gifts: the 8 s lock, taken at 30 %, ends well before the stream does.
    let (script, truth) = gift_stream(ROOM, id(1000), 200, Duration::from_millis(80));
    let sends = script.iter().filter(|s| matches!(s, Step::Send(_))).count();
    let sidecar_bin = e2e::sidecar::binary()?;
    let mut fake = FakeBarrageGrab::start(script).await?;
    let work = tempfile::tempdir()?;
    let config = write_config(work.path(), &fake.url())?;
    let ledger = work.path().join("ledger.sqlite3");
    let log_path = work.path().join("sidecar.log");
    ensure!(sidecar_bin.exists());
    let mut sidecar = e2e::sidecar::spawn(&config, &log_path)?;

    let outcome = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while ledger_gifts(&ledger).len() * 10 < truth.len() * 3 {
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
        let at_release = ledger_gifts(&ledger).len();
        ensure!(
            at_release < truth.len(),
            "all gifts were in before the lock ended ({at_release}): the test proves nothing"
        );
        if let Some(status) = sidecar.try_wait()? {
            bail!("the sidecar exited during the lock with {status}");
        }
        let report = fake.script_played(Duration::from_secs(45)).await?;
        ensure!(
            (report.connections, report.sent) == (1, sends),
            "the connection did not survive the lock: {report:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while ledger_gifts(&ledger) != truth {
            if let Some(status) = sidecar.try_wait()? {
                bail!("the sidecar exited early with {status}");
            }
            let got = ledger_gifts(&ledger);
            ensure!(
                Instant::now() < deadline,
                "timed out: ledger has {} of {} gifts, {} unknown ones",
                got.len(),
                truth.len(),
                got.keys().filter(|k| !truth.contains_key(*k)).count()
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
    ensure!(
        log.matches("connected to BarrageGrab").count() == 1,
        "the adapter reconnected (gifts of the gap would be lost for good):\n{log}"
    );
    Ok(())
}
