//! The sidecar binary on a short replay with OBS down and a scripted avatar on the link.
//!
//! The avatar here is a plain WebSocket client speaking the real link protocol: it "plays" each
//! utterance ten times faster than real time and reports progress and the end, like the OBS
//! source does. What is checked: OBS being unreachable is reported clearly and retried without
//! losing anything; every gift of the replay is in the ledger exactly once and thanked on air;
//! the big gift interrupts the reply it lands in.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use avatar_link::{AudioChunk, Report};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Connects to the link (retrying while the sidecar starts) and plays utterances at 2x.
async fn scripted_avatar(port: u16, token: &str, stop_after: Duration) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let ws = loop {
        let mut req = format!("ws://127.0.0.1:{port}/avatar")
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => break ws,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("link never came up: {e}"),
        }
    };
    let (mut tx, mut rx) = ws.split();
    let hello = Report::Hello {
        protocol: 1,
        client: "scripted-avatar".into(),
        audio_clock: true,
    };
    tx.send(Message::text(serde_json::to_string(&hello).unwrap()))
        .await
        .unwrap();
    let mut said = Vec::new();
    let mut samples: std::collections::HashMap<u64, usize> = Default::default();
    let end = Instant::now() + stop_after;
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Report>();
    loop {
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    match v["type"].as_str() {
                        Some("say") => said.push(format!("{}|{}", v["utterance"], v["text"].as_str().unwrap())),
                        Some("stop") => said.push(format!("STOP {}", v["utterance"])),
                        _ => {}
                    }
                    if v["type"] == "stop" {
                        let u = v["utterance"].as_u64().unwrap();
                        let _ = done_tx.send(Report::Finished { utterance: u, played_ms: 100, interrupted: true });
                    }
                }
                Some(Ok(Message::Binary(b))) => {
                    let Ok(chunk) = AudioChunk::decode(&b) else {
                    continue; // a sound effect's frame: not part of any line
                };
                    *samples.entry(chunk.utterance).or_default() += chunk.samples.len();
                    if chunk.last {
                        let ms = avatar_link::samples_to_ms(samples[&chunk.utterance]);
                        let done = done_tx.clone();
                        let u = chunk.utterance;
                        tokio::spawn(async move {
                            // Progress halfway, then the end, at 2x speed.
                            tokio::time::sleep(Duration::from_millis(ms as u64 / 4)).await;
                            let _ = done.send(Report::Progress { utterance: u, played_ms: ms / 2, received_ms: ms });
                            tokio::time::sleep(Duration::from_millis(ms as u64 / 4)).await;
                            let _ = done.send(Report::Finished { utterance: u, played_ms: ms, interrupted: false });
                        });
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
            Some(report) = done_rx.recv() => {
                if tx.send(Message::text(serde_json::to_string(&report).unwrap())).await.is_err() { break }
            }
            _ = tokio::time::sleep_until(end.into()) => break,
        }
    }
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_gift_is_lost_while_obs_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.sqlite3");
    let link_port = free_port();
    let dead_obs_port = free_port(); // nothing listens here
    let token = "test-token-123";
    let mut child = Command::new(env!("CARGO_BIN_EXE_sidecar"))
        .current_dir(workspace())
        .args([
            "run",
            "--replay",
            "tests/data/short-room.jsonl",
            "--speed",
            "4",
            "--exit-when-done",
        ])
        .args([
            "--ledger",
            ledger.to_str().unwrap(),
            "--obs-port",
            &dead_obs_port.to_string(),
        ])
        .args(["--link-bind", &format!("127.0.0.1:{link_port}")])
        .env("AIVS_LINK_TOKEN", token)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = scripted_avatar(link_port, token, Duration::from_secs(60)).await;
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                break (status, child);
            }
            assert!(
                Instant::now() < deadline,
                "sidecar did not exit after the replay"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    let (status, child) = status;
    let output = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(status.success(), "sidecar failed:\n{log}");
    assert!(
        log.contains("OBS is not reachable"),
        "no clear OBS message:\n{log}"
    );
    assert!(!log.contains(token), "the link token leaked into the log");

    // Ledger: exactly the replay's unique gifts, each thanked.
    let conn = rusqlite::Connection::open(&ledger).unwrap();
    let replay = std::fs::read_to_string(workspace().join("tests/data/short-room.jsonl")).unwrap();
    let mut expected: Vec<String> = replay
        .lines()
        .filter(|l| l.contains("\"type\":\"gift\""))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]["msg_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    expected.sort();
    expected.dedup();
    let mut stmt = conn
        .prepare("SELECT msg_id, aired_text FROM gifts ORDER BY msg_id")
        .unwrap();
    let rows: Vec<(String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        expected
    );
    for (id, aired) in &rows {
        let aired = aired
            .as_deref()
            .unwrap_or_else(|| panic!("gift {id} never thanked:\n{log}"));
        assert!(!aired.starts_with("(voice failed)"), "{aired}");
    }

    // The big gift cut the reply it landed in. (Whether the reply comes back depends on how much
    // of it was heard, a rule the timeline's unit tests pin down.)
    let reply_pos = said
        .iter()
        .position(|s| s.contains("秘密哦") || s.contains("永远十八岁"))
        .expect("reply said");
    let reply_utterance = said[reply_pos].split('|').next().unwrap().to_string();
    let stop_pos = said
        .iter()
        .position(|s| *s == format!("STOP {reply_utterance}"))
        .unwrap_or_else(|| panic!("the reply was not interrupted: {said:#?}"));
    let big_pos = said
        .iter()
        .position(|s| s.contains("嘉年华"))
        .expect("big gift thanked");
    assert!(reply_pos < stop_pos && stop_pos < big_pos, "{said:#?}");
    let interrupted: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM airtime WHERE interrupted = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(interrupted >= 1);

    // The same run, summarised by `sidecar report`.
    check_report(&ledger, &conn, &replay, &dir.path().join("report.csv"));
}

/// `sidecar report --since 1h` (text) and `--csv`: its totals are the ledger's and the room's.
fn check_report(ledger: &Path, conn: &rusqlite::Connection, replay: &str, csv_path: &Path) {
    let report = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sidecar"))
            .current_dir(workspace())
            .args([
                "report",
                "--since",
                "1h",
                "--ledger",
                ledger.to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "report failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    // Ground truth: the room's unique gift messages, their gifts and diamonds.
    let mut seen = std::collections::BTreeSet::new();
    let (mut messages, mut gifts, mut diamonds) = (0u64, 0u64, 0u64);
    for line in replay.lines().filter(|l| l.contains("\"type\":\"gift\"")) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let e = &v["event"];
        if seen.insert(e["msg_id"].as_str().unwrap().to_string()) {
            let count = e["count"].as_u64().unwrap();
            messages += 1;
            gifts += count;
            diamonds += count * e["diamonds"].as_u64().unwrap();
        }
    }
    let ledger_fen: i64 = conn
        .query_row("SELECT SUM(value_fen) FROM gifts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ledger_fen as u64, diamonds * 10, "douyin: 10 fen a diamond");

    let text = report(&[]);
    assert!(text.contains("收入（按平台）"), "{text}");
    let yuan = format!("¥{}.{:02}", ledger_fen / 100, ledger_fen % 100);
    assert!(text.contains(&yuan), "earned {yuan} not in:\n{text}");
    assert!(report(&["--lang", "en"]).contains("Earned per platform"));

    let stdout_csv = report(&["--csv", csv_path.to_str().unwrap()]);
    let csv = std::fs::read_to_string(csv_path).unwrap();
    let cells = |row: &str| row.split(',').map(str::to_string).collect::<Vec<_>>();
    let header = cells(csv.lines().next().unwrap());
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<Vec<String>> = csv.lines().skip(1).map(cells).collect();
    let sum = |section: &str, column: &str| -> u64 {
        rows.iter()
            .filter(|r| r[0] == section)
            .map(|r| r[col(column)].parse::<u64>().unwrap_or(0))
            .sum()
    };
    let douyin = rows
        .iter()
        .find(|r| r[0] == "platform" && r[1] == "douyin")
        .unwrap_or_else(|| panic!("no douyin row:\n{csv}"));
    assert_eq!(douyin[col("messages")].parse::<u64>().unwrap(), messages);
    assert_eq!(douyin[col("gifts")].parse::<u64>().unwrap(), gifts);
    assert_eq!(
        douyin[col("value_fen")].parse::<u64>().unwrap(),
        ledger_fen as u64
    );
    assert_eq!(sum("tier", "value_fen"), ledger_fen as u64, "tiers add up");
    assert_eq!(sum("tier", "messages"), messages);

    // Lines: the report's fates are the line log's, and every aired utterance is in both
    // the airtime log and the line log.
    let logged: i64 = conn
        .query_row("SELECT COUNT(*) FROM line_log", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sum("fates", "lines"), logged as u64, "{csv}");
    let airtime: i64 = conn
        .query_row("SELECT COUNT(*) FROM airtime", [], |r| r.get(0))
        .unwrap();
    let aired = rows
        .iter()
        .filter(|r| {
            r[0] == "fates" && (r[col("fate")] == "aired" || r[col("fate")] == "interrupted")
        })
        .map(|r| r[col("lines")].parse::<u64>().unwrap())
        .sum::<u64>();
    assert_eq!(aired, airtime as u64, "{csv}");
    let played: i64 = conn
        .query_row("SELECT SUM(played_ms) FROM airtime", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sum("fates", "airtime_ms"), played as u64);
    // Every gift thank-you that aired names its gifts as the cause.
    let uncaused: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM line_log WHERE kind = 'gift' AND (cause_kind NOT IN ('gifts', 'resumed') OR cause_ids = '')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(uncaused, 0);
    let replies: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM line_log WHERE kind = 'reply' AND cause_kind = 'event' AND cause_ids LIKE 'comment:%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(replies >= 1, "a reply caused by its comment");
    assert!(
        stdout_csv.contains("收入"),
        "--csv FILE keeps the text on stdout"
    );
    assert_eq!(
        report(&["--format", "csv"]),
        csv,
        "--format csv prints the same table"
    );
}
