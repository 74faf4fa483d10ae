//! Gift → visible OBS reaction, measured on what OBS records.
//!
//! `cargo bench -p e2e --bench reaction_latency` (`REACTION_FPS` 60, `REACTION_GIFTS` 40;
//! `REACTION_RELEASE=1` builds and runs the release sidecar instead of the e2e tests' debug
//! build; `REACTION_KEEP=1` keeps the work directory with the logs and the recording).
//!
//! The real sidecar reads a Douyin stand-in (`e2e::fake_douyin`, the real wire format) and
//! drives a private headless OBS. The scene files give the Main scene a hidden red "Flash"
//! box and one trigger: `when.gift = { min_tier = 3 }` → `show_source = "Flash"` for 0.5 s.
//! After a lead-in of viewer-count frames the stand-in sends one tier-3 gift (礼花筒, 19.9 元,
//! no combo) every 1.507 s (not a whole number of frames, so gifts land at every phase of
//! the frame interval), noting when each frame was written to the socket. OBS records its
//! program output; for each gift the latency is the time of the first recorded frame where
//! the Flash box is red, minus that send time. A frame's time is its nominal time in OBS's
//! frame clock (what the recording's timestamps say), put on this program's clock:
//!
//! * **markers** (the figures): meanwhile this program shows and hides a blue "Marker" box
//!   next to Flash itself, over its own obs-websocket connection, every ~0.3 s. OBS takes a
//!   frame's content within its interval `T` after its nominal time (a later frame counts as
//!   lagged in OBS's log, printed). A toggle asked at `sent` and answered at `answered` that
//!   first shows in frame `k` therefore bounds the first frame's nominal time `t0`:
//!   `sent − (k+1)·T ≤ t0 < answered − (k−1)·T`. OBS's frame clock steps against the wall
//!   clock at every lagged frame (the recording has no gap), so each gift is aligned by the
//!   toggles within 2.5 s of it alone, intersected: `t0` is known to within the printed ±
//!   and the figures use the middle. A gift whose toggles disagree (a lagged frame among
//!   them) is left out, and what the sidecar's log says of it is printed;
//! * **duration counter** (a cross-check): right after starting, `GetRecordStatus` is read a
//!   few times; the frames it counted were drawn before it answered, so
//!   `t0 ≤ answered − duration + T`. Latencies from this bound are late or exact: an upper
//!   bound, whatever the encoder's lag.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, ensure, Context, Result};
use e2e::fake_douyin::messages::{self, Common, GiftFields, GiftKind, User};
use e2e::fake_douyin::{FakeDouyin, Scenario, Scripted};
use e2e::media::{self, RgbFrame};
use e2e::{HeadlessObs, ObsOptions};
use obws::requests::scene_items::{Id as ItemId, SetEnabled};
use rand::Rng;

const GIFT_EVERY: Duration = Duration::from_millis(1_507);
/// Markers this close to a gift align it.
const MARKS_AROUND: Duration = Duration::from_millis(2_500);
/// Viewer-count frames before the first gift: time for the sidecar to set OBS up.
const LEAD_FRAMES: usize = 6;
const ROOM_ID: u64 = 7_312_345_678_901_234_567;
/// Tier 3 with the default `tier_max_yuan = [1, 10, 100]`: 199 diamonds = 19.9 元.
const GIFT: GiftKind = GiftKind {
    id: 3720,
    name: "礼花筒",
    diamonds: 199,
    combo: false,
};

/// The bench's trigger, next to the shipped `show.toml`.
const TRIGGER: &str = r#"
[[trigger]]
name = "flash"
when.gift = { min_tier = 3 }
[[trigger.do]]
show_source = "Flash"
in_scene = "Main"
secs = 0.5
"#;

/// Added at the end of the shipped Main scene (drawn on top) after the trigger's red Flash
/// box: the bench's blue marker right of it, hidden.
const MARKER_ITEM: &str = r#"
[[scene.item]]
source = "Marker"
kind = "color"
box = [0.25, 0.0, 0.25, 0.25]
visible = false
settings = { color = 4294901760, width = 400, height = 400 } # ABGR 0xFFFF0000: blue
"#;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| anyhow::anyhow!("{name}={v:?}")),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let fps: u32 = env_or("REACTION_FPS", 60)?;
    let gifts: usize = env_or("REACTION_GIFTS", 40)?;
    let release = std::env::var("REACTION_RELEASE").is_ok_and(|v| v == "1");
    // Built before anything with a timeout starts.
    let binary = sidecar_binary(release)?;
    let work = tempfile::tempdir()?;
    let dir = work.path().to_path_buf();
    if std::env::var("REACTION_KEEP").is_ok_and(|v| v == "1") {
        eprintln!("keeping {}", work.keep().display());
    }
    let obs = HeadlessObs::start(ObsOptions {
        fps,
        recording_dir: Some(dir.join("recordings")),
        ..ObsOptions::default()
    })
    .await?;
    let client = obs.connect().await?;
    let frame = Duration::from_secs(1) / fps;

    client.recording().start().await?;
    let t0_bound = duration_counter_bound(&client, frame).await?;

    let fake = FakeDouyin::start(Scenario::scripted(ROOM_ID, GIFT_EVERY, room(gifts))).await?;
    let config = write_setup(&dir, &fake)?;
    let log_path = dir.join("sidecar.log");
    let mut sidecar = Command::new(&binary)
        .current_dir(e2e::workspace_root())
        .args(["run", "--config"])
        .arg(&config)
        .args(["--obs-port", &obs.ws_port().to_string()])
        .env("AIVS_OBS_PASSWORD", obs.ws_password())
        .env("RUST_LOG", "info,obws=warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .context("starting the sidecar")?;

    // The sidecar adds Flash and Marker to OBS; then the markers run until the last gift's
    // flash is over.
    let marker_id = wait_for_items(&client, Duration::from_secs(30)).await?;
    let ready_at = Instant::now();
    let first_gift_seq = LEAD_FRAMES as u64 + 1;
    let last_gift_seq = first_gift_seq + gifts as u64 - 1;
    let toggles = run_markers(&client, marker_id, || {
        fake.frame_sent_at(last_gift_seq)
            .is_some_and(|t| t.elapsed() > Duration::from_secs(1))
    })
    .await?;
    // The last toggle's frame must be in the recording (the encoder lags the render).
    tokio::time::sleep(Duration::from_millis(700)).await;
    let recording = e2e::stop_recording(&client, Duration::from_secs(30)).await?;
    e2e::sidecar::stop(&mut sidecar)?;
    let log = std::fs::read_to_string(&log_path)?;

    let sent: Vec<Instant> = (first_gift_seq..=last_gift_seq)
        .map(|seq| {
            fake.frame_sent_at(seq)
                .context("a gift frame was never sent")
        })
        .collect::<Result<_>>()?;
    ensure!(
        ready_at < sent[0],
        "OBS had the Flash item only after the first gift (raise LEAD_FRAMES)"
    );
    let frames = strip_frames(&recording, fps)?;
    let obs_stats = obs_frame_stats(&obs.log_text());
    let marks = marker_marks(&frames, &toggles)?;
    // Each gift is aligned by the markers around it alone (OBS's frame clock steps against
    // the wall clock at every lagged frame).
    let mut nominal = Vec::new();
    let mut spread: f64 = 0.0;
    let mut unaligned = Vec::new();
    let mut first_window = None;
    for (i, s) in sent.iter().enumerate() {
        let near: Vec<(usize, &Toggle)> = marks
            .iter()
            .filter(|(_, t)| t.sent.max(*s) - t.sent.min(*s) < MARKS_AROUND)
            .copied()
            .collect();
        let Some(w) = window(&near, frame) else {
            unaligned.push(i);
            continue;
        };
        spread = spread.max(ms(w.hi - w.lo) / 2.0);
        let k = flash_frame(&frames, *s, w.mid(), frame).with_context(|| format!("gift {i}"))?;
        nominal.push(ms_between(*s, w.mid() + frame * k as u32));
        first_window.get_or_insert(w);
    }
    ensure!(
        nominal.len() * 2 >= gifts,
        "only {} of {gifts} gifts could be aligned (OBS: {obs_stats})",
        nominal.len()
    );
    let drawn_by: Vec<f64> = nominal.iter().map(|l| l + ms(frame)).collect();
    let stages = sidecar_stages(&log, &sent, gifts)?;

    println!(
        "gift → visible OBS reaction: {gifts} gifts, OBS at {fps} fps (frame {:.1} ms), {} sidecar",
        ms(frame),
        if release { "release" } else { "debug" }
    );
    let first = first_window.context("no gift aligned")?;
    println!(
        "  alignment: {} marker toggles, ±{:.1} ms at worst; {} gifts left out (a \
         lagged frame within {:.0} s); duration counter vs markers at the start: {:+.1} ms \
         (the counter's bound is {} the markers' window)",
        toggles.len(),
        spread,
        unaligned.len(),
        MARKS_AROUND.as_secs_f64(),
        ms_between(first.hi, t0_bound),
        if t0_bound >= first.lo {
            "consistent with"
        } else {
            "earlier than"
        }
    );
    print_row("to the frame's nominal time", &nominal);
    print_row("to when it was drawn at the latest", &drawn_by);
    if let Some((admitted, fired)) = stages {
        print_row("  send → gift released (log)", &admitted);
        print_row("  send → trigger fired (log)", &fired);
        // Gifts left out are often the ones near a stall: show what the log says of them.
        if !unaligned.is_empty() {
            let left: Vec<String> = unaligned
                .iter()
                .map(|i| format!("{:.1}", fired[*i]))
                .collect();
            println!(
                "  left out, send → trigger fired (log): {} ms",
                left.join(", ")
            );
        }
    }
    println!("  OBS: {obs_stats}");
    obs.stop()?;
    Ok(())
}

fn sidecar_binary(release: bool) -> Result<std::path::PathBuf> {
    if !release {
        return e2e::sidecar::binary();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(e2e::workspace_root())
        .args(["build", "--release", "-p", "sidecar", "--bin", "sidecar"])
        .status()?;
    ensure!(status.success(), "cargo build --release -p sidecar failed");
    Ok(e2e::target_dir().join("release/sidecar"))
}

/// Viewer counts, then one gift a frame, each from a viewer of their own.
fn room(gifts: usize) -> Vec<Vec<Scripted>> {
    let common = |method, msg_id| Common {
        method,
        msg_id,
        room_id: ROOM_ID,
        create_time_ms: 1_750_000_000_000,
    };
    let lead = (0..LEAD_FRAMES as u64).map(|i| {
        let id = 8_100_000 + i;
        let stats = messages::room_user_seq(&common(messages::ROOM_USER_SEQ, id), 120, 3_000);
        vec![Scripted {
            method: messages::ROOM_USER_SEQ,
            msg_id: id,
            payload: stats.into_bytes(),
        }]
    });
    let gifts = (0..gifts as u64).map(|i| {
        let id = 8_200_000 + i;
        let fields = GiftFields {
            kind: GIFT,
            user: User {
                id: 60_000 + i,
                nickname: format!("观众{i:02}"),
            },
            group_id: 9_000 + i,
            group_count: 1,
            repeat_count: 1,
            repeat_end: false,
        };
        vec![Scripted {
            method: messages::GIFT,
            msg_id: id,
            payload: messages::gift(&common(messages::GIFT, id), &fields).into_bytes(),
        }]
    });
    lead.chain(gifts).collect()
}

/// The sidecar's config and scene directory; returns the config's path.
fn write_setup(dir: &Path, fake: &FakeDouyin) -> Result<std::path::PathBuf> {
    let scenes = dir.join("scenes");
    std::fs::create_dir_all(&scenes)?;
    let items = format!("{}{MARKER_ITEM}", e2e::scene_fixtures::FLASH_ITEM);
    std::fs::write(
        scenes.join("show.toml"),
        e2e::scene_fixtures::shipped_show_with_main_items(&items)?,
    )?;
    std::fs::write(scenes.join("bench.toml"), TRIGGER)?;
    let q = |v: &str| serde_json::to_string(v).expect("a string serializes");
    let signer = [env!("CARGO_BIN_EXE_fake-douyin-signer")];
    let path = |p: &Path| q(p.to_str().expect("temp paths are UTF-8"));
    let config = format!(
        "[source]\nkind = \"douyin\"\n\n[source.douyin]\nroom = {room}\nendpoint = {endpoint}\n\
         signer = {{ command = {signer} }}\n\n[ledger]\npath = {ledger}\n\n\
         [obs]\nscenes_dir = {scenes}\n\n[link]\nbind = \"127.0.0.1:0\"\n\n\
         # Tier-3 gifts must not switch the program away from Main (where Flash is).\n\
         [gifts]\ncelebrate_from_tier = 4\n\n[voice.cache]\ndir = {cache}\n",
        room = q(fake.web_rid()),
        endpoint = q(&fake.base_url()),
        signer = serde_json::to_string(&signer)?,
        ledger = path(&dir.join("ledger.sqlite3")),
        scenes = path(&scenes),
        cache = path(&dir.join("cache")),
    );
    let at = dir.join("sidecar.toml");
    std::fs::write(&at, config)?;
    Ok(at)
}

/// `answered − duration + T` over a few `GetRecordStatus` calls, the tightest of them: the
/// latest time the recording's first frame can have been rendered.
async fn duration_counter_bound(client: &obws::Client, frame: Duration) -> Result<Instant> {
    let mut best: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let status = client.recording().status().await?;
        let answered = Instant::now();
        if status.active && status.duration.whole_milliseconds() > 0 {
            let counted = Duration::from_millis(status.duration.whole_milliseconds() as u64);
            let bound = answered - counted + frame;
            best = Some(best.map_or(bound, |b| b.min(bound)));
        }
        tokio::time::sleep(Duration::from_millis(37)).await;
    }
    best.context("the recording never reported a duration")
}

async fn wait_for_items(client: &obws::Client, timeout: Duration) -> Result<i64> {
    let deadline = Instant::now() + timeout;
    let items = client.scene_items();
    loop {
        let id = |source| {
            items.id(ItemId {
                scene: "Main",
                source,
                search_offset: None,
            })
        };
        if let (Ok(_), Ok(marker)) = (id("Flash").await, id("Marker").await) {
            return Ok(marker);
        }
        if Instant::now() > deadline {
            bail!("the sidecar did not add Flash and Marker to OBS's Main scene");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One marker toggle: asked at `sent`, answered at `answered`.
struct Toggle {
    sent: Instant,
    answered: Instant,
}

/// Shows and hides the marker every 250–350 ms until `done`, ending hidden.
async fn run_markers(
    client: &obws::Client,
    item_id: i64,
    done: impl Fn() -> bool,
) -> Result<Vec<Toggle>> {
    let mut toggles = Vec::new();
    let mut shown = false;
    // Until done, and then until the marker is hidden again.
    while !done() || shown {
        let pause = rand::rng().random_range(250..350);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        shown = !shown;
        let sent = Instant::now();
        client
            .scene_items()
            .set_enabled(SetEnabled {
                scene: "Main",
                item_id,
                enabled: shown,
            })
            .await?;
        toggles.push(Toggle {
            sent,
            answered: Instant::now(),
        });
    }
    Ok(toggles)
}

/// A strip through both boxes, 10 % down the canvas: enough to tell red, blue and neither.
fn strip_frames(recording: &Path, fps: u32) -> Result<Vec<RgbFrame>> {
    let video = media::probe_streams(recording)?
        .into_iter()
        .find(|s| s.codec_type == "video")
        .context("the recording has no video")?;
    let (w, h) = (video.width.unwrap_or(0), video.height.unwrap_or(0));
    media::extract_frames_rgb(recording, f64::from(fps), Some((0, h / 10, w / 2, 2)))
}

// The strip is the canvas's left half: Flash covers its first half, Marker its second.
fn flash_red(f: &RgbFrame) -> bool {
    let [r, g, b] = f.pixel(f.width / 5, 0);
    r > 200 && g < 60 && b < 60
}

fn marker_blue(f: &RgbFrame) -> bool {
    let [r, g, b] = f.pixel(f.width * 3 / 4, 0);
    b > 200 && r < 60 && g < 60
}

/// Where the first frame's nominal time lies, on this program's clock.
struct Window {
    lo: Instant,
    hi: Instant,
}

impl Window {
    fn mid(&self) -> Instant {
        self.lo + (self.hi - self.lo) / 2
    }
}

/// The marker's changes in the recording, matched to the toggles in order: (frame, toggle).
fn marker_marks<'a>(
    frames: &[RgbFrame],
    toggles: &'a [Toggle],
) -> Result<Vec<(usize, &'a Toggle)>> {
    let changes: Vec<usize> = (1..frames.len())
        .filter(|&k| marker_blue(&frames[k]) != marker_blue(&frames[k - 1]))
        .collect();
    ensure!(
        !marker_blue(&frames[0]) && changes.len() == toggles.len(),
        "{} marker toggles but {} changes in the recording (frames {changes:?})",
        toggles.len(),
        changes.len()
    );
    Ok(changes.into_iter().zip(toggles).collect())
}

/// Where the first frame's nominal time lies according to these marks, if they agree. OBS
/// takes a frame's content a little after its nominal time (the render thread wakes, then
/// walks the scene) but within its interval, so a lower bound holds only up to one interval.
/// Marks on both sides of a lagged frame disagree: OBS's frame clock steps against the wall
/// clock there (the recording has no gap; the late tick is simply not a frame).
fn window(marks: &[(usize, &Toggle)], frame: Duration) -> Option<Window> {
    let mut lo: Option<Instant> = None;
    let mut hi: Option<Instant> = None;
    for (k, t) in marks {
        let at_k = frame * *k as u32;
        let low = t.sent.checked_sub(at_k + frame)?;
        // Frame k−1 did not show the change yet, and was not drawn before its nominal time.
        let high = t.answered + frame - at_k;
        lo = Some(lo.map_or(low, |l| l.max(low)));
        hi = Some(hi.map_or(high, |h| h.min(high)));
    }
    let (lo, hi) = (lo?, hi?);
    (lo <= hi).then_some(Window { lo, hi })
}

/// The first frame that can have been drawn after `sent` in which Flash is red.
fn flash_frame(frames: &[RgbFrame], sent: Instant, t0: Instant, frame: Duration) -> Result<usize> {
    let from =
        (sent.saturating_duration_since(t0).as_secs_f64() / frame.as_secs_f64()).floor() as usize;
    // Frame `from` is the one whose interval holds the send: its content is drawn within that
    // interval, so a fast reaction can show in it already; the frame before was drawn before.
    ensure!(
        from >= 1 && from < frames.len() && !flash_red(&frames[from - 1]),
        "Flash already red in frame {} before the gift was sent",
        from.saturating_sub(1)
    );
    (from..frames.len())
        .find(|&k| flash_red(&frames[k]))
        .context("Flash never turned red")
}

/// From the sidecar's log (UTC timestamps, this machine's clock): send → the gift released
/// from the combo folder (after the admission commit) and → its trigger fired.
fn sidecar_stages(
    log: &str,
    sent: &[Instant],
    gifts: usize,
) -> Result<Option<(Vec<f64>, Vec<f64>)>> {
    let (now_i, now_s) = (Instant::now(), SystemTime::now());
    let wall_ms = |i: &Instant| {
        let back = now_i.duration_since(*i);
        (now_s - back)
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1e3)
    };
    let stamp = |line: &str| utc_ms(line.split_whitespace().next()?);
    let released: Vec<f64> = log
        .lines()
        .filter(|l| l.contains(" gift ") && l.contains("gift=礼花筒"))
        .filter_map(stamp)
        .collect();
    let fired: Vec<f64> = log
        .lines()
        .filter(|l| l.contains("trigger fired") && l.contains("trigger=flash"))
        .filter_map(stamp)
        .collect();
    if released.len() != gifts || fired.len() != gifts {
        eprintln!(
            "log: {} gifts released, {} triggers fired (of {gifts}); stage figures skipped",
            released.len(),
            fired.len()
        );
        return Ok(None);
    }
    let sent_ms: Vec<f64> = sent.iter().map(wall_ms).collect::<Result<_, _>>()?;
    let since = |v: &[f64]| v.iter().zip(&sent_ms).map(|(t, s)| t - s).collect();
    Ok(Some((since(&released), since(&fired))))
}

/// `2026-12-03T09:12:34.567890Z` → ms since the epoch (UTC, as tracing-subscriber writes it).
fn utc_ms(ts: &str) -> Option<f64> {
    let ts = ts.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (hh, mm) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let ss: f64 = t.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3_600 + mm * 60) as f64 + ss) * 1e3)
}

/// OBS's own count of frames it could not render or encode in time.
fn obs_frame_stats(log: &str) -> String {
    let found: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("lagged frames") || l.contains("skipped frames"))
        .map(str::trim)
        .collect();
    if found.is_empty() {
        "no lagged/skipped frame counts in its log".into()
    } else {
        found.join("; ")
    }
}

fn print_row(name: &str, values: &[f64]) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pct = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "  {name:<34} p50 {:>6.1} ms  p90 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms  min {:>6.1} ms",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        v[v.len() - 1],
        v[0]
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `b − a` in ms, negative when `b` is earlier.
fn ms_between(a: Instant, b: Instant) -> f64 {
    if b >= a {
        ms(b - a)
    } else {
        -ms(a - b)
    }
}
