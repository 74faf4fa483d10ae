//! The show side of the OBS fault tests: a recorded room, the sidecar binary with its log in
//! a file, the ledger read from outside, and a stand-in avatar on the link.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use e2e::avatar_client::play_avatar;
use e2e::HeadlessObs;

pub const TOKEN: &str = "obs-faults-link-token";

pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A recorded room with one 1-diamond gift per `(at_ms, viewer)`.
pub fn write_replay(dir: &Path, gifts: &[(u64, &str)]) -> Result<PathBuf> {
    let mut text = String::from(
        r#"{"replay": {"version": 1, "room": "e2e", "platform": "douyin", "title": "obs faults"}}"#,
    );
    for (i, (at_ms, viewer)) in gifts.iter().enumerate() {
        let event = serde_json::json!({
            "at_ms": at_ms,
            "event": {
                "platform": "douyin", "msg_id": format!("74000000000000{i:05}"),
                "user": {"id": format!("u{i}"), "name": viewer, "level": 1},
                "type": "gift", "gift_id": "1", "gift_name": "玫瑰", "diamonds": 1, "count": 1
            }
        });
        text.push('\n');
        text.push_str(&event.to_string());
    }
    text.push('\n');
    let path = dir.join("room.jsonl");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The sidecar binary running a show against `obs`, its log in a file.
pub struct Sidecar {
    pub child: Child,
    pub log: PathBuf,
    pub stdout: PathBuf,
    pub link_port: u16,
    pub ledger: PathBuf,
}

impl Sidecar {
    pub fn start(work: &Path, obs: &HeadlessObs, replay: &Path, extra: &[&str]) -> Result<Self> {
        let link_port = e2e::free_port()?;
        let log = work.join("sidecar.log");
        let stdout = work.join("sidecar.stdout");
        let ledger = work.join("ledger.sqlite3");
        let child = Command::new(e2e::sidecar::binary()?)
            .current_dir(e2e::workspace_root())
            .args(["run", "--config", "config/default.toml", "--replay"])
            .arg(replay)
            .arg("--ledger")
            .arg(&ledger)
            .args(["--obs-port", &obs.ws_port().to_string()])
            .args(["--link-bind", &format!("127.0.0.1:{link_port}")])
            .args(extra)
            .env("AIVS_OBS_PASSWORD", obs.ws_password())
            .env("AIVS_LINK_TOKEN", TOKEN)
            .env("RUST_LOG", "info,obws=warn")
            .stdout(File::create(&stdout)?)
            .stderr(File::create(&log)?)
            .spawn()
            .context("starting the sidecar")?;
        Ok(Self {
            child,
            log,
            stdout,
            link_port,
            ledger,
        })
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn dump(&self) {
        if std::env::var_os("E2E_DUMP_LOG").is_some() {
            eprintln!("--- sidecar log ---\n{}", self.log());
        }
    }

    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the sidecar exited ({status}):\n{}", self.log());
        }
        Ok(())
    }

    /// Stops it (SIGINT) and returns its log.
    pub fn stop(&mut self) -> Result<String> {
        e2e::sidecar::stop(&mut self.child)?;
        Ok(self.log())
    }

    /// Waits until the log contains `needle` at or after byte `from`; returns where.
    pub async fn wait_for_log(
        &mut self,
        needle: &str,
        from: usize,
        within: Duration,
    ) -> Result<usize> {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if let Some(at) = log.get(from..).and_then(|tail| tail.find(needle)) {
                return Ok(from + at);
            }
            self.ensure_running()?;
            if Instant::now() > deadline {
                bail!("no {needle:?} in the sidecar log within {within:?}:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.dump();
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How many of the ledger's gifts were thanked on air.
pub fn gifts_thanked(ledger: &Path) -> usize {
    let count = || -> rusqlite::Result<i64> {
        let conn = rusqlite::Connection::open_with_flags(
            ledger,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        conn.busy_timeout(Duration::from_secs(2))?;
        conn.query_row(
            "SELECT COUNT(*) FROM gifts WHERE aired_text IS NOT NULL",
            [],
            |r| r.get(0),
        )
    };
    count().unwrap_or(0) as usize
}

/// Lines the ledger says aired between two wall-clock instants.
pub fn lines_aired_between(ledger: &Path, from_ms: u64, to_ms: u64) -> Result<i64> {
    let conn = rusqlite::Connection::open(ledger)?;
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM airtime WHERE started_ms >= ?1 AND started_ms <= ?2",
        [from_ms as i64, to_ms as i64],
        |r| r.get(0),
    )?)
}

/// Plays the avatar's part on the link for the whole test (aborted at the end).
pub fn spawn_avatar(link_port: u16) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = play_avatar(link_port, TOKEN, Duration::from_secs(300), |_| false).await;
    })
}
