//! The sidecar as a Douyin Open Platform push endpoint, end to end: the real
//! `target/debug/sidecar` binary, the loopback stand-in task API and the stand-in pusher
//! ([`e2e::fake_open_platform`]), which signs pushes itself. Checked from the outside: what the
//! task API was asked, the HTTP answers and their timing, the SQLite ledger, and the log.
//!
//! Builds and runs `target/debug/sidecar` (see `e2e::sidecar`). No OBS.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use e2e::fake_open_platform::{now_ms, FakeTaskApi, PushResponse, Pusher, MSG_TYPES};
use serde_json::{json, Value};

const APP_ID: &str = "tt0e2e5f1a2b3c4d5e";
const APP_SECRET: &str = "e2e-app-secret-7d793037a0760186574b0282f2f435e7";
const ACCESS_TOKEN: &str = "e2e-access-token-0.1b8a6f1ee3a8d2f4c9a7e6d5";
const ROOM: &str = "7312345678901234567";
const PATH: &str = "/douyin/push";
const PLATFORM: &str = "douyin_open_platform";
/// The platform's deadline for an answer (3 s for gifts; 2 s is the strict one).
const DEADLINE: Duration = Duration::from_secs(2);

fn write_config(dir: &Path, bind: SocketAddr, api: &FakeTaskApi) -> Result<PathBuf> {
    let path = dir.join("open_platform.toml");
    let scenes_dir = e2e::shipped_scenes_toml();
    std::fs::write(
        &path,
        format!(
            r#"[source]
kind = "douyin_open_platform"

[source.douyin_open_platform]
bind = "{bind}"
path = "{PATH}"
app_id = "{APP_ID}"
app_secret = "{APP_SECRET}"
room_id = "{ROOM}"
api = "{api}"
access_token = "{ACCESS_TOKEN}"
gift_names = {{ "sec_gift_heart" = "小心心", "sec_gift_carnival" = "嘉年华" }}

[ledger]
path = "{ledger}"

[obs]
enabled = false
scenes_dir = {scenes_dir}

[link]
bind = "127.0.0.1:0"
"#,
            api = api.url(),
            ledger = dir.join("ledger.sqlite3").display(),
        ),
    )?;
    Ok(path)
}

fn gift(msg_id: &str, viewer: &str, gift_id: &str, num: u64, value_fen: u64) -> Value {
    json!({
        "msg_id": msg_id, "sec_openid": format!("openid_{viewer}"), "sec_gift_id": gift_id,
        "gift_num": num, "gift_value": value_fen, "avatar_url": "https://p3.douyinpic.com/a.jpeg",
        "nickname": viewer, "timestamp": now_ms(), "test": false
    })
}

/// Polls `ready` every 100 ms until it holds, the sidecar exits, or `limit` passes.
async fn wait_for(
    sidecar: &mut Child,
    limit: Duration,
    what: &str,
    mut ready: impl FnMut() -> bool,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(status) = sidecar.try_wait()? {
            bail!("the sidecar exited with {status} while waiting for {what}");
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn expect(response: &PushResponse, status: u16, what: &str) -> Result<()> {
    ensure!(
        response.status == status,
        "{what}: expected HTTP {status}, got {} {}",
        response.status,
        response.body
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_pushes_land_once_and_forged_stale_or_replayed_ones_never() -> Result<()> {
    // First: the first call may build the sidecar for a minute, which the stand-in's
    // accept timeout must not see.
    let sidecar_bin = e2e::sidecar::binary()?;
    let api = FakeTaskApi::start(ACCESS_TOKEN).await?;
    let work = tempfile::tempdir()?;
    let bind: SocketAddr = format!("127.0.0.1:{}", e2e::free_port()?).parse()?;
    let config = write_config(work.path(), bind, &api)?;
    let ledger = work.path().join("ledger.sqlite3");
    let log_path = work.path().join("sidecar.log");
    let mut sidecar = Command::new(&sidecar_bin)
        .current_dir(e2e::workspace_root())
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .env_remove("AIVS_DOUYIN_APP_SECRET")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .context("starting the sidecar")?;
    let outcome = exercise(&mut sidecar, &api, bind, &ledger).await;
    e2e::sidecar::stop(&mut sidecar)?;
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    if let Err(why) = outcome {
        bail!("{why:#}\n--- sidecar log ---\n{log}");
    }
    for (name, secret) in [("app secret", APP_SECRET), ("access token", ACCESS_TOKEN)] {
        ensure!(
            !log.contains(secret),
            "the {name} leaked into the log:\n{log}"
        );
    }
    ensure!(
        log.contains("bad_signature")
            && log.contains("stale_timestamp")
            && log.contains("replayed"),
        "refusals not counted in the log:\n{log}"
    );
    Ok(())
}

async fn exercise(
    sidecar: &mut Child,
    api: &FakeTaskApi,
    bind: SocketAddr,
    ledger: &Path,
) -> Result<()> {
    // 1. A push task is started for every message type, with the token, room and app.
    let mut wanted: Vec<String> = MSG_TYPES.iter().map(|t| t.to_string()).collect();
    wanted.sort();
    wait_for(
        sidecar,
        Duration::from_secs(20),
        "push tasks to start",
        || {
            let mut started = api.msg_types_of("start");
            started.sort();
            started.dedup();
            started == wanted
        },
    )
    .await?;
    for call in api.calls().iter().filter(|c| c.path.ends_with("/start")) {
        ensure!(call.method == "POST", "{call:?}");
        ensure!(
            call.access_token.as_deref() == Some(ACCESS_TOKEN),
            "{call:?}"
        );
        let body = call.body.as_ref().context("start without a JSON body")?;
        ensure!(
            body["roomid"] == ROOM && body["appid"] == APP_ID,
            "{call:?}"
        );
    }
    wait_for(
        sidecar,
        Duration::from_secs(10),
        "the push endpoint",
        || std::net::TcpStream::connect(bind).is_ok(),
    )
    .await?;

    // 2. Signed pushes of every type are answered 200 within the platform's deadline.
    let pusher = Pusher::new(bind, PATH, ROOM, APP_SECRET);
    let gifts = json!([
        gift("7400000000000000001", "小明", "sec_gift_heart", 1, 10),
        gift("7400000000000000002", "阿花", "sec_gift_heart", 3, 30),
        gift(
            "7400000000000000003",
            "老王",
            "sec_gift_carnival",
            1,
            30_000
        ),
    ]);
    let (captured, response) = pusher.push("live_gift", &gifts).await?;
    expect(&response, 200, "signed gift push")?;
    let comments = json!([{"msg_id": "7400000000000000101", "sec_openid": "openid_阿花",
        "content": "主播唱首歌吧", "avatar_url": "", "nickname": "阿花", "timestamp": now_ms()}]);
    let likes = json!([{"msg_id": "7400000000000000201", "sec_openid": "openid_小明",
        "like_num": 12, "avatar_url": "", "nickname": "小明", "timestamp": now_ms()}]);
    let fans = json!([{"msg_id": "7400000000000000301", "sec_openid": "openid_老王",
        "fansclub_reason_type": 2, "fansclub_level": 1, "avatar_url": "", "nickname": "老王",
        "timestamp": now_ms()}]);
    let mut timings = vec![response.elapsed];
    for (msg_type, items) in [
        ("live_comment", &comments),
        ("live_like", &likes),
        ("live_fansclub", &fans),
    ] {
        let (_, response) = pusher.push(msg_type, items).await?;
        expect(&response, 200, msg_type)?;
        timings.push(response.elapsed);
    }

    // 3. The platform's duplicates: the same batch resent with a new nonce, and an overlapping
    //    batch carrying one new gift. Both 200; the ledger keeps each msg_id once.
    let (_, response) = pusher.push("live_gift", &gifts).await?;
    expect(&response, 200, "resent gift batch")?;
    timings.push(response.elapsed);
    let overlap = json!([
        gifts[2].clone(),
        gift("7400000000000000004", "小明", "sec_gift_unknown", 2, 520),
    ]);
    let (_, response) = pusher.push("live_gift", &overlap).await?;
    expect(&response, 200, "overlapping gift batch")?;
    timings.push(response.elapsed);
    for t in &timings {
        ensure!(*t < DEADLINE, "a push took {t:?}: {timings:?}");
    }

    // 4. What the platform never sends is refused, and nothing of it is recorded.
    let replay = pusher.send(&captured).await?;
    ensure!(
        replay.status == 409,
        "a replayed request was answered {} {}",
        replay.status,
        replay.body
    );
    let forged_items = json!([gift(
        "7400000000000000901",
        "骗子",
        "sec_gift_carnival",
        100,
        3_000_000
    )]);
    let forged = pusher
        .request("live_gift", &forged_items)
        .with_bad_signature();
    expect(&pusher.send(&forged).await?, 403, "forged signature")?;
    let other_secret = Pusher::new(bind, PATH, ROOM, "not-the-app-secret");
    let (_, response) = other_secret.push("live_gift", &forged_items).await?;
    expect(&response, 403, "signed with another secret")?;
    let stale_items = json!([gift(
        "7400000000000000902",
        "旧消息",
        "sec_gift_heart",
        1,
        10
    )]);
    let stale = pusher.request_at(
        "live_gift",
        &stale_items,
        now_ms() - 10 * 60 * 1000,
        "stale-nonce",
    );
    expect(&pusher.send(&stale).await?, 403, "stale timestamp")?;
    let future = pusher.request_at(
        "live_gift",
        &stale_items,
        now_ms() + 10 * 60 * 1000,
        "future-nonce",
    );
    expect(
        &pusher.send(&future).await?,
        403,
        "timestamp from the future",
    )?;
    // Signed but broken or unknown: answered, counted, not recorded.
    let bad_json = pusher.request_raw(
        "live_comment",
        b"[{\"msg_id\": ".to_vec(),
        now_ms(),
        "n-bad-json",
    );
    expect(&pusher.send(&bad_json).await?, 400, "malformed JSON")?;
    let (_, response) = pusher
        .push("live_teleport", &json!([{"msg_id": "x"}]))
        .await?;
    expect(&response, 200, "unknown message type")?;

    // 5. The ledger: each genuine gift exactly once, with its exact value.
    let truth: BTreeMap<String, (u64, u64, u64)> = [
        ("7400000000000000001", (1, 1, 10)),
        ("7400000000000000002", (3, 1, 30)),
        ("7400000000000000003", (1, 3000, 30_000)),
        // 2 gifts worth 520 fen: 26 diamonds each.
        ("7400000000000000004", (2, 26, 520)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    wait_for(
        sidecar,
        Duration::from_secs(10),
        "the gifts in the ledger",
        || e2e::sidecar::ledger_gifts(ledger, PLATFORM) == truth,
    )
    .await
    .with_context(|| format!("ledger {:?}", e2e::sidecar::ledger_gifts(ledger, PLATFORM)))?;
    // A late double count would show up now.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let gifts = e2e::sidecar::ledger_gifts(ledger, PLATFORM);
    ensure!(gifts == truth, "ledger {gifts:?} != truth {truth:?}");
    let value: u64 = gifts.values().map(|(_, _, fen)| fen).sum();
    ensure!(value == 30_560, "ledger holds {value} fen, truth is 30560");
    let seen = e2e::sidecar::ledger_seen(ledger, PLATFORM)?;
    for id in ["7400000000000000101", "7400000000000000201"] {
        ensure!(seen.contains(id), "{id} not in the ledger: {seen:?}");
    }
    ensure!(
        !seen.contains("7400000000000000301") && !seen.contains("x"),
        "fans-club or unknown items reached the show: {seen:?}"
    );

    // 6. The task keeper looked at every task once they all ran (status check, logged).
    wait_for(
        sidecar,
        Duration::from_secs(10),
        "task status checks",
        || {
            let mut checked = api.msg_types_of("get");
            checked.sort();
            checked.dedup();
            checked == wanted
        },
    )
    .await?;
    Ok(())
}

/// Another process holds the ledger's write lock for longer than the busy timeout while the
/// platform pushes gifts from two connections at once: pushes the ledger cannot take within the
/// platform's deadline are answered 503, the platform resends them, and afterwards every push
/// was answered 200, the ledger is exactly the truth (the 503'd pushes that did get committed
/// are recognised when they come again), and a push made after the lock lands too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_locked_by_another_process_mid_storm_loses_and_doubles_nothing() -> Result<()> {
    const PUSHERS: u64 = 2;
    const BATCHES: u64 = 40;
    let sidecar_bin = e2e::sidecar::binary()?;
    let api = FakeTaskApi::start(ACCESS_TOKEN).await?;
    let work = tempfile::tempdir()?;
    let bind: SocketAddr = format!("127.0.0.1:{}", e2e::free_port()?).parse()?;
    let config = write_config(work.path(), bind, &api)?;
    let ledger = work.path().join("ledger.sqlite3");
    let log_path = work.path().join("sidecar.log");
    ensure!(sidecar_bin.exists());
    let mut sidecar = e2e::sidecar::spawn(&config, &log_path)?;
    let outcome = async {
        wait_for(
            &mut sidecar,
            Duration::from_secs(20),
            "the push endpoint",
            || std::net::TcpStream::connect(bind).is_ok(),
        )
        .await?;
        // Each push: 3 gifts of 1, 3 and 52 diamonds; msg ids unique across pushers.
        let batch = |pusher: u64, n: u64| -> Value {
            let id = |k: u64| format!("74100000{pusher:02}{n:05}{k}");
            json!([
                gift(&id(1), "小明", "sec_gift_heart", 1, 10),
                gift(&id(2), "阿花", "sec_gift_heart", 3, 30),
                gift(&id(3), "老王", "sec_gift_unknown", 1, 520),
            ])
        };
        let mut truth: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for pusher in 0..PUSHERS {
            for n in 0..BATCHES {
                for item in batch(pusher, n).as_array().expect("an array") {
                    let (num, fen) = (item["gift_num"].as_u64(), item["gift_value"].as_u64());
                    let (num, fen) = (num.context("num")?, fen.context("value")?);
                    truth.insert(
                        item["msg_id"].as_str().context("msg_id")?.to_string(),
                        (num, fen / 10 / num, fen),
                    );
                }
            }
        }
        let storm: Vec<_> = (0..PUSHERS)
            .map(|pusher| {
                let pusher_client = Pusher::new(bind, PATH, ROOM, APP_SECRET);
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    for n in 0..BATCHES {
                        answers.extend(
                            pusher_client
                                .push_until_accepted(
                                    "live_gift",
                                    &batch(pusher, n),
                                    Duration::from_millis(300),
                                    Duration::from_secs(60),
                                )
                                .await?,
                        );
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    anyhow::Ok(answers)
                })
            })
            .collect();

        wait_for(
            &mut sidecar,
            Duration::from_secs(30),
            "30 % of the gifts in the ledger",
            || e2e::sidecar::ledger_gifts(&ledger, PLATFORM).len() * 10 >= truth.len() * 3,
        )
        .await?;
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
        let at_release = e2e::sidecar::ledger_gifts(&ledger, PLATFORM).len();
        ensure!(
            at_release < truth.len(),
            "every gift was in before the lock ended: the test proves nothing"
        );

        let mut answers = Vec::new();
        for pusher in storm {
            answers.extend(pusher.await??);
        }
        let refused = answers.iter().filter(|a| a.status == 503).count();
        let accepted = answers.iter().filter(|a| a.status == 200).count() as u64;
        ensure!(accepted == PUSHERS * BATCHES, "{answers:?}");
        ensure!(
            refused > 0,
            "no push was answered 503 while the ledger was locked: {answers:?}"
        );
        for a in answers.iter().filter(|a| a.status == 200) {
            ensure!(a.elapsed < DEADLINE, "a 200 took {:?}", a.elapsed);
        }

        // Still live: a push after the lock is accepted at once and lands.
        let after = json!([gift(
            "7410000099000001",
            "新来的",
            "sec_gift_carnival",
            1,
            30_000
        )]);
        let (_, response) = Pusher::new(bind, PATH, ROOM, APP_SECRET)
            .push("live_gift", &after)
            .await?;
        expect(&response, 200, "a push after the lock")?;
        truth.insert("7410000099000001".into(), (1, 3000, 30_000));
        wait_for(
            &mut sidecar,
            Duration::from_secs(20),
            "the ledger to match the truth",
            || e2e::sidecar::ledger_gifts(&ledger, PLATFORM) == truth,
        )
        .await
        .with_context(|| {
            let got = e2e::sidecar::ledger_gifts(&ledger, PLATFORM);
            format!("ledger has {} of {} gifts", got.len(), truth.len())
        })?;
        // A late double count would show up now.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let gifts = e2e::sidecar::ledger_gifts(&ledger, PLATFORM);
        ensure!(gifts == truth, "the ledger moved past the truth");
        if let Some(status) = sidecar.try_wait()? {
            bail!("the sidecar exited with {status}");
        }
        Ok(())
    }
    .await;
    e2e::sidecar::stop(&mut sidecar)?;
    let log = e2e::sidecar::read_log(&log_path);
    if let Err(why) = outcome {
        bail!("{why:#}\n--- sidecar log ---\n{log}");
    }
    e2e::sidecar::ensure_lock_survived(&log)?;
    ensure!(
        log.contains("answering 503 so the platform resends"),
        "no 503 logged:\n{log}"
    );
    Ok(())
}

/// Sends `at_once`, then `trickled` one byte a second, until the sidecar closes the connection
/// (it is never closed from this side); returns how long the connection stayed open.
async fn trickle(addr: SocketAddr, at_once: Vec<u8>, trickled: Vec<u8>) -> Result<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let (mut read, mut write) = tokio::net::TcpStream::connect(addr).await?.into_split();
    write.write_all(&at_once).await?;
    let writer = tokio::spawn(async move {
        for byte in trickled {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if write.write_all(&[byte]).await.is_err() {
                break;
            }
        }
        std::future::pending::<()>().await;
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), read.read_to_end(&mut answer)).await;
    writer.abort();
    ensure!(read.is_ok(), "still connected after 30 s");
    Ok(started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_trickle_are_cut_off_and_pushes_meanwhile_land() -> Result<()> {
    let sidecar_bin = e2e::sidecar::binary()?;
    let api = FakeTaskApi::start(ACCESS_TOKEN).await?;
    let work = tempfile::tempdir()?;
    let bind: SocketAddr = format!("127.0.0.1:{}", e2e::free_port()?).parse()?;
    let config = write_config(work.path(), bind, &api)?;
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
    let outcome = push_among_tricklers(&mut sidecar, bind, &ledger).await;
    e2e::sidecar::stop(&mut sidecar)?;
    if let Err(why) = outcome {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        bail!("{why:#}\n--- sidecar log ---\n{log}");
    }
    Ok(())
}

async fn push_among_tricklers(sidecar: &mut Child, bind: SocketAddr, ledger: &Path) -> Result<()> {
    wait_for(
        sidecar,
        Duration::from_secs(20),
        "the push endpoint",
        || std::net::TcpStream::connect(bind).is_ok(),
    )
    .await?;
    let head = format!("POST {PATH} HTTP/1.1\r\nHost: {bind}\r\nContent-Length: 64\r\n\r\n");
    let slow_head = tokio::spawn(trickle(bind, Vec::new(), head.clone().into_bytes()));
    let slow_body = tokio::spawn(trickle(bind, head.into_bytes(), vec![b' '; 64]));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let pusher = Pusher::new(bind, PATH, ROOM, APP_SECRET);
    let msg_id = "7400000000000000901";
    let gifts = json!([gift(msg_id, "小明", "sec_gift_heart", 1, 10)]);
    let (_, response) = pusher.push("live_gift", &gifts).await?;
    expect(&response, 200, "a push while two clients trickle")?;
    ensure!(
        response.elapsed < DEADLINE,
        "answered after {:?}",
        response.elapsed
    );
    wait_for(
        sidecar,
        Duration::from_secs(5),
        "the gift in the ledger",
        || e2e::sidecar::ledger_gifts(ledger, PLATFORM).contains_key(msg_id),
    )
    .await?;
    // The endpoint's header and body deadlines are 5 s.
    for (what, slow) in [("headers", slow_head), ("body", slow_body)] {
        let open = slow.await??;
        ensure!(
            (Duration::from_secs(4)..Duration::from_secs(8)).contains(&open),
            "a client trickling its {what} stayed connected for {open:?}"
        );
    }
    Ok(())
}
