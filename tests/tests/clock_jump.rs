//! The wall clock jumps a day back and a day forward mid-show (an NTP step, a user fixing the
//! date): the real sidecar runs under libfaketime, whose offset file the test rewrites while
//! the show runs; the monotonic clock is left alone, as on a real machine.
//!
//! What must hold (issue 8 §5): no count changes, and no timer breaks. A combo whose gifts
//! straddle the backward jump is still folded and thanked once, at the usual time (with
//! wall-clock deadlines it would wait a day); every gift is thanked; the ledger's timestamps
//! never go backwards.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use e2e::avatar_client::play_avatar;
use e2e::fake_barrage_grab::{envelope, gift, kind, user, FakeBarrageGrab, GiftMsg, Step};

const LINK_TOKEN: &str = "link-secret";
const ROOM: u64 = 7_300_000_000_000_000_013;
const PLATFORM: &str = "barrage_grab";
const DAY_SECS: i64 = 86_400;

/// libfaketime's multi-threaded preload library, wherever the distribution put it.
fn libfaketime() -> Result<PathBuf> {
    let candidates = std::fs::read_dir("/usr/lib")?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("faketime/libfaketimeMT.so.1"))
        .chain([PathBuf::from("/usr/lib/faketime/libfaketimeMT.so.1")]);
    for path in candidates {
        if path.exists() {
            return Ok(path);
        }
    }
    bail!("libfaketime is not installed (scripts/install-deps.sh installs the faketime package)")
}

/// Runs `program` under the fake clock with the offset file as it is now.
fn under_fake_clock(command: &mut Command, lib: &Path, offset_file: &Path) {
    command
        .env("LD_PRELOAD", lib)
        .env("FAKETIME_TIMESTAMP_FILE", offset_file)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
}

fn set_offset(file: &Path, offset: &str) -> Result<()> {
    // Written whole and renamed, so the preload library never reads half a line.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, format!("{offset}\n"))?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

/// The clock a program started under the fake clock sees, in Unix seconds.
fn fake_now(lib: &Path, offset_file: &Path) -> Result<i64> {
    let mut date = Command::new("date");
    date.arg("+%s");
    under_fake_clock(&mut date, lib, offset_file);
    let out = date.output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

fn combo(msg_id: u64, group: u64, repeat: i64) -> GiftMsg {
    GiftMsg {
        msg_id,
        room_id: ROOM,
        gift_id: 463,
        gift_name: "小心心",
        diamonds: 1,
        group_id: group,
        gift_count: 1,
        repeat_count: repeat,
        combo: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_back_and_a_day_forward_change_no_count_and_no_timer() -> Result<()> {
    let lib = libfaketime()?;
    e2e::sidecar::binary()?;
    let work = tempfile::tempdir()?;
    let offset = work.path().join("faketime-offset");
    set_offset(&offset, "+0")?;
    // The preload library really moves the wall clock of a child, and only when told to.
    let real = chrono_now();
    ensure!(
        (fake_now(&lib, &offset)? - real).abs() < 5,
        "faketime +0 is not now"
    );
    set_offset(&offset, "-1d")?;
    ensure!(
        (fake_now(&lib, &offset)? - (real - DAY_SECS)).abs() < 5,
        "faketime does not move the clock"
    );
    set_offset(&offset, "+0")?;

    let (ana, bo, chen) = (
        user(7_001, "阿娜", 1),
        user(7_002, "波波", 1),
        user(7_003, "晨晨", 1),
    );
    let gift_step = |g: GiftMsg, who: &serde_json::Value| {
        Step::Send(envelope(kind::GIFT, &gift(&g, who.clone())))
    };
    let half = Duration::from_millis(500);
    let script = vec![
        Step::Pause(Duration::from_millis(2_500)),
        gift_step(combo(91_001, 11, 1), &ana),
        Step::Pause(Duration::from_millis(1_000)), // the clock goes back a day meanwhile
        gift_step(combo(91_002, 11, 2), &ana),
        Step::Pause(half),
        gift_step(combo(91_003, 11, 3), &ana),
        Step::Pause(Duration::from_millis(3_500)),
        gift_step(combo(91_004, 0, 1), &bo),
        Step::Pause(Duration::from_millis(1_000)), // and forward a day
        gift_step(combo(91_005, 12, 1), &chen),
        Step::Pause(half),
        gift_step(combo(91_006, 12, 2), &chen),
    ];
    let mut grab = FakeBarrageGrab::start(script).await?;
    let link_port = e2e::free_port()?;
    let (config, ledger) =
        e2e::sidecar::barrage_grab_show(work.path(), &grab.url(), link_port, LINK_TOKEN, "")?;
    let log_path = work.path().join("sidecar.log");
    let mut sidecar = e2e::sidecar::spawn_with(&config, &log_path, |command| {
        under_fake_clock(command, &lib, &offset)
    })?;

    let jumps = async {
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        set_offset(&offset, "-1d")?;
        tokio::time::sleep(Duration::from_millis(5_000)).await;
        set_offset(&offset, "+1d")?;
        Ok::<_, anyhow::Error>(())
    };
    let outcome = async {
        let playing = play_avatar(link_port, LINK_TOKEN, Duration::from_secs(30), |heard| {
            ["阿娜", "波波", "晨晨"]
                .iter()
                .all(|who| heard.iter().any(|h| h.finished && h.text.contains(who)))
        });
        let (heard, jumped) = tokio::join!(playing, jumps);
        jumped?;
        let heard = heard?;
        grab.script_played(Duration::from_secs(5)).await?;
        Ok::<_, anyhow::Error>(heard)
    }
    .await;
    // Let the last "thanked" notes reach the ledger before stopping.
    tokio::time::sleep(Duration::from_millis(500)).await;
    e2e::sidecar::stop(&mut sidecar)?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let heard = outcome.with_context(|| format!("sidecar log:\n{log}"))?;

    // The combo across the backward jump was folded into one thank-you, and nothing was
    // thanked twice.
    let for_ana: Vec<_> = heard.iter().filter(|h| h.text.contains("阿娜")).collect();
    ensure!(
        for_ana.len() == 1,
        "阿娜's combo thanked {} times: {heard:#?}",
        for_ana.len()
    );
    // Counts: every message once, each with its increment of 1.
    let gifts = e2e::sidecar::ledger_gifts(&ledger, PLATFORM);
    ensure!(
        gifts.len() == 6,
        "{} gift messages in the ledger: {gifts:?}",
        gifts.len()
    );
    ensure!(gifts.values().all(|&(count, _, _)| count == 1), "{gifts:?}");
    let thanks = e2e::sidecar::ledger_thanks(&ledger, PLATFORM);
    ensure!(
        thanks.values().all(Option::is_some),
        "unthanked: {thanks:?}\n{log}"
    );
    // Stored times follow the monotonic clock: in admission order, and none a day off.
    let times = received_times(&ledger)?;
    ensure!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "times went backwards: {times:?}"
    );
    let spread = times.last().unwrap_or(&0) - times.first().unwrap_or(&0);
    ensure!(
        spread < 60_000,
        "stored times spread over {spread} ms: {times:?}"
    );
    ensure!(!log.contains("thanked in the text overlay"), "{log}");
    Ok(())
}

/// `received_ms` of every gift, in admission order.
fn received_times(ledger: &Path) -> Result<Vec<i64>> {
    let conn =
        rusqlite::Connection::open_with_flags(ledger, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT received_ms FROM gifts ORDER BY rowid")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
