//! OBS faults, end to end: the real sidecar binary against a real headless OBS 29 that is
//! killed and restarted mid-show, frozen with SIGSTOP while connected, started without the AI
//! Avatar plugin, or told to record into a path nobody can create. Everything is asserted from
//! the outside: OBS's state over obs-websocket, the ledger file, the avatar link (played by
//! `e2e::avatar_client` where OBS cannot play it) and the sidecar's log.
//!
//! Needs the sidecar (built on first use) and, for the restart test, the OBS plugin
//! (`target/debug/libai_avatar.so`, built by `cargo build --workspace`). `E2E_DUMP_LOG=1`
//! prints each sidecar's log at the end of its test.

// The headless OBS is Unix-only (Xvfb, signals).
#![cfg(unix)]

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use e2e::{HeadlessObs, ObsOptions, PluginFiles};
use nix::sys::signal::Signal;

#[path = "obs_faults/support.rs"]
mod support;
use support::{
    gifts_thanked, lines_aired_between, spawn_avatar, wall_ms, write_replay, Sidecar, TOKEN,
};

const MAIN: &str = "Main";
const CELEBRATION: &str = "Celebration";
const AVATAR: &str = "AI Avatar";
const GIFT_TEXT: &str = "Latest gift";
/// Every source of `scenes/show.toml` except the avatar, by scene.
const NON_AVATAR_ITEMS: &[(&str, &str)] = &[
    (MAIN, "Main backdrop"),
    (MAIN, GIFT_TEXT),
    (MAIN, "Virtual anchor label"),
    (CELEBRATION, "Celebration backdrop"),
    (CELEBRATION, "Celebration caption"),
    (CELEBRATION, "Virtual anchor label"),
];
/// `[obs] request_timeout_secs` in config/default.toml, plus the controller's 1 s health-check
/// period, plus slack for a loaded machine.
const FREEZE_NOTICED_WITHIN: Duration = Duration::from_secs(3 + 1 + 2);

/// What of the show's scene set OBS has: missing items (as `scene/source`) and the avatar's
/// link settings, if it exists.
struct Layout {
    missing: Vec<String>,
    avatar_link: Option<(String, String)>,
    avatar_exists: bool,
}

async fn layout(client: &obws::Client) -> Result<Layout> {
    let scenes: Vec<String> = client
        .scenes()
        .list()
        .await?
        .scenes
        .into_iter()
        .map(|s| s.name)
        .collect();
    let mut missing = Vec::new();
    for scene in [MAIN, CELEBRATION] {
        let items: Vec<String> = if scenes.iter().any(|s| s == scene) {
            let list = client.scene_items().list(scene).await?;
            list.into_iter().map(|i| i.source_name).collect()
        } else {
            Vec::new()
        };
        let wanted = NON_AVATAR_ITEMS.iter().filter(|(s, _)| *s == scene);
        for (_, source) in wanted {
            if !items.iter().any(|i| i == source) {
                missing.push(format!("{scene}/{source}"));
            }
        }
    }
    let inputs = client.inputs().list(None).await?;
    let avatar_exists = inputs.iter().any(|i| i.name == AVATAR);
    let avatar_link = if avatar_exists {
        let s = client
            .inputs()
            .settings::<serde_json::Value>(AVATAR)
            .await?
            .settings;
        let field = |k: &str| s[k].as_str().unwrap_or_default().to_string();
        Some((field("link_url"), field("link_token")))
    } else {
        None
    };
    Ok(Layout {
        missing,
        avatar_link,
        avatar_exists,
    })
}

/// Polls `layout` until `done` holds, for at most `within`; OBS errors count as "not yet".
async fn wait_for_layout(
    client: &obws::Client,
    within: Duration,
    done: impl Fn(&Layout) -> bool,
) -> Result<Duration> {
    let begin = Instant::now();
    loop {
        let last = layout(client).await;
        if last.as_ref().is_ok_and(&done) {
            return Ok(begin.elapsed());
        }
        if begin.elapsed() > within {
            let detail = match last {
                Ok(l) => format!("missing {:?}, avatar link {:?}", l.missing, l.avatar_link),
                Err(e) => format!("{e:#}"),
            };
            bail!("OBS not set up within {within:?}: {detail}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn obs_killed_and_restarted_gets_scenes_and_avatar_link_back_within_5_s() -> Result<()> {
    if e2e::obs_tests_skipped("obs_killed_and_restarted") {
        return Ok(());
    }
    e2e::sidecar::binary()?; // build first: the build must not eat into any deadline below
    let work = tempfile::tempdir()?;
    let mut obs = HeadlessObs::start(ObsOptions {
        plugin: Some(PluginFiles::from_workspace("debug")?),
        ..ObsOptions::default()
    })
    .await?;
    let replay = write_replay(work.path(), &[(3_000, "小鹿"), (60_000, "橙子")])?;
    let mut sidecar = Sidecar::start(work.path(), &obs, &replay, &[])?;
    let link = (
        format!("ws://127.0.0.1:{}{}", sidecar.link_port, avatar_link::PATH),
        TOKEN.to_string(),
    );
    let complete = |l: &Layout| l.missing.is_empty() && l.avatar_link.as_ref() == Some(&link);

    let client = obs.connect().await?;
    wait_for_layout(&client, Duration::from_secs(30), complete).await?;
    e2e::disconnect(client).await;

    // Mid-show, OBS dies without a word and comes back bare (see kill_and_restart).
    obs.kill_and_restart().await?;
    let back = Instant::now();
    let client = obs.connect().await?;
    wait_for_layout(&client, Duration::from_secs(15), complete).await?;
    let since_back = back.elapsed();
    eprintln!("scenes and avatar link back {since_back:?} after OBS was back");
    ensure!(
        since_back <= Duration::from_secs(5),
        "scenes and avatar link took {since_back:?} after OBS was back (limit 5 s)"
    );
    sidecar.ensure_running()?;
    let log = sidecar.stop()?;
    ensure!(log.contains("lost OBS connection"), "{log}");
    ensure!(!log.contains(TOKEN), "the link token leaked into the log");
    ensure!(!log.contains(obs.ws_password()), "the OBS password leaked");
    e2e::disconnect(client).await;
    obs.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_obs_is_a_lost_connection_and_the_show_goes_on() -> Result<()> {
    if e2e::obs_tests_skipped("a_frozen_obs_is_a_lost_connection") {
        return Ok(());
    }
    e2e::sidecar::binary()?;
    let work = tempfile::tempdir()?;
    // No plugin: a frozen OBS would freeze the avatar's audio clock with it. The link is
    // played by the test, so what is checked is that OBS alone being frozen holds nothing up.
    let obs = HeadlessObs::start(ObsOptions::default()).await?;
    let last_viewer = "压轴观众";
    let gifts = [
        (5_000, "小鹿"),
        (8_000, "橙子"),
        (11_000, "阿杰"),
        (14_000, "小雨"),
        (17_000, last_viewer),
    ];
    let replay = write_replay(work.path(), &gifts)?;
    let mut sidecar = Sidecar::start(work.path(), &obs, &replay, &[])?;
    let avatar = spawn_avatar(sidecar.link_port);
    let client = obs.connect().await?;
    wait_for_layout(&client, Duration::from_secs(30), |l| l.missing.is_empty()).await?;
    e2e::disconnect(client).await;

    let frozen_at = Instant::now();
    let frozen_ms = wall_ms();
    obs.signal(Signal::SIGSTOP)?;
    let outcome = async {
        let lost = sidecar
            .wait_for_log("lost OBS connection", 0, FREEZE_NOTICED_WITHIN)
            .await?;
        // Keep OBS frozen until every gift of the room has been thanked on air.
        let deadline = Instant::now() + Duration::from_secs(40);
        while gifts_thanked(&sidecar.ledger) < gifts.len() {
            sidecar.ensure_running()?;
            ensure!(
                Instant::now() < deadline,
                "only {} of {} gifts thanked while OBS was frozen:\n{}",
                gifts_thanked(&sidecar.ledger),
                gifts.len(),
                sidecar.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok::<_, anyhow::Error>(lost)
    }
    .await;
    let thawed_ms = wall_ms();
    obs.signal(Signal::SIGCONT)?;
    let lost_at = outcome?;
    eprintln!("OBS frozen for {:?}", frozen_at.elapsed());
    let aired = lines_aired_between(&sidecar.ledger, frozen_ms, thawed_ms)?;
    ensure!(
        aired >= gifts.len() as i64,
        "only {aired} lines aired while OBS was frozen"
    );

    // Thawed: the controller reconnects, the scenes are there, and the latest gift (folded
    // while OBS was unreachable) reaches the text source.
    sidecar
        .wait_for_log("connected to OBS", lost_at, Duration::from_secs(15))
        .await?;
    let client = obs.connect().await?;
    wait_for_layout(&client, Duration::from_secs(5), |l| l.missing.is_empty()).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = client
            .inputs()
            .settings::<serde_json::Value>(GIFT_TEXT)
            .await?
            .settings["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if text.contains(last_viewer) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "latest-gift text is {text:?} after the thaw"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sidecar.ensure_running()?;
    sidecar.stop()?;
    avatar.abort();
    e2e::disconnect(client).await;
    obs.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_avatar_plugin_the_rest_of_the_scenes_is_set_up() -> Result<()> {
    if e2e::obs_tests_skipped("without_the_avatar_plugin") {
        return Ok(());
    }
    e2e::sidecar::binary()?;
    let work = tempfile::tempdir()?;
    let obs = HeadlessObs::start(ObsOptions::default()).await?;
    let replay = write_replay(work.path(), &[(60_000, "小鹿")])?;
    let mut sidecar = Sidecar::start(work.path(), &obs, &replay, &[])?;
    let client = obs.connect().await?;
    wait_for_layout(&client, Duration::from_secs(30), |l| l.missing.is_empty()).await?;
    let layout = layout(&client).await?;
    ensure!(
        !layout.avatar_exists,
        "an AI Avatar source without the plugin?"
    );
    // The rest of the state still applies: the show starts on the main scene.
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.scenes().current_program_scene().await? != MAIN {
        ensure!(
            Instant::now() < deadline,
            "the program never went to {MAIN}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sidecar.ensure_running()?;
    let log = sidecar.stop()?;
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("ai_avatar"))
        .collect();
    ensure!(
        errors.len() == 1,
        "expected one error about the missing ai_avatar kind, got {errors:#?}\n{log}"
    );
    ensure!(
        errors[0].contains("AI Avatar plugin is not loaded") && errors[0].contains("restart OBS"),
        "the error does not say what to do: {}",
        errors[0]
    );
    e2e::disconnect(client).await;
    obs.stop()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_recording_is_reported_and_the_show_goes_on() -> Result<()> {
    if e2e::obs_tests_skipped("a_refused_recording") {
        return Ok(());
    }
    e2e::sidecar::binary()?;
    let work = tempfile::tempdir()?;
    // A recording path below a regular file: no user, root included, can create it.
    let blocker = work.path().join("not-a-directory");
    std::fs::write(&blocker, "")?;
    let bad_path = blocker.join("recordings");
    let obs = HeadlessObs::start(ObsOptions {
        profile_overrides: vec![(
            "SimpleOutput".into(),
            "FilePath".into(),
            bad_path.display().to_string(),
        )],
        ..ObsOptions::default()
    })
    .await?;
    let gifts = [(4_000, "小鹿"), (6_000, "橙子")];
    let replay = write_replay(work.path(), &gifts)?;
    let mut sidecar = Sidecar::start(
        work.path(),
        &obs,
        &replay,
        &["--record", "--exit-when-done"],
    )?;
    let avatar = spawn_avatar(sidecar.link_port);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = sidecar.child.try_wait()? {
            break status;
        }
        ensure!(
            Instant::now() < deadline,
            "the show did not finish:\n{}",
            sidecar.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    avatar.abort();
    let log = sidecar.log();
    ensure!(status.success(), "sidecar exited with {status}:\n{log}");
    let refusals = log.matches("OBS refused to record").count();
    ensure!(refusals == 1, "{refusals} refusal reports:\n{log}");
    ensure!(
        gifts_thanked(&sidecar.ledger) == gifts.len(),
        "gifts not thanked after the refused recording:\n{log}"
    );
    let stdout = std::fs::read_to_string(&sidecar.stdout)?;
    ensure!(stdout.contains("recording: none"), "{stdout}");
    let client = obs.connect().await?;
    ensure!(!client.recording().status().await?.active);
    ensure!(layout(&client).await?.missing.is_empty());
    e2e::disconnect(client).await;
    // OBS may still show its "cannot record" dialog; its exit status says nothing about us.
    if let Err(e) = obs.stop() {
        eprintln!("OBS did not stop cleanly after refusing to record: {e:#}");
    }
    Ok(())
}
