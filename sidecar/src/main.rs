//! `sidecar`: runs the show.
//!
//! ```text
//! sidecar run [--config config/default.toml] [--source KIND] [--replay FILE] [--speed X] [--exit-when-done] [--record]
//! sidecar record --out FILE [--config FILE] [--source KIND] [--duration SECS]
//! sidecar replay FILE [--fast | --speed X] [run options…]
//! sidecar check-config [--config FILE]
//! sidecar simulate ROOM.jsonl [--config FILE]
//! sidecar rundown draft [--config FILE] [--per-segment N]
//! sidecar report [--since 2h] [--lang en] [--csv FILE | --format csv] [--config FILE]
//! sidecar stream list | start [NAME | --all] | stop [NAME | --all]   [--config FILE]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rand::Rng;
use tokio::sync::mpsc;
use tracing::Instrument;

use sidecar::config::Config;
use sidecar::config::SourceKind;
use sidecar::ledger::{Ledger, LedgerHandle};
use sidecar::link::{self, LinkHub};
use sidecar::obs::{compliance, ObsAction, ObsController};
use sidecar::scene_dir::SceneDir;
use sidecar::show::{Ending, Show};
use sidecar::source::{self, EventSink};
use sidecar::speech::Voice;

mod tools;

#[derive(Parser)]
#[command(version, about = "Controller of the AI virtual streamer")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the show on a live-room source.
    Run(RunArgs),
    /// Record the configured live room (raw frames and normalized events) to a replay file,
    /// without running the show.
    Record(RecordArgs),
    /// Run the show on a recorded room (like `run --source replay --replay FILE`).
    Replay {
        /// The recorded room (JSON Lines).
        file: PathBuf,
        /// Play as fast as the show takes the events instead of in real time.
        #[arg(long, conflicts_with = "speed")]
        fast: bool,
        #[command(flatten)]
        run: RunArgs,
    },
    /// Write a starter folder: config.toml, scenes, an example room and trigger files (from
    /// the binary itself; asks nothing, overwrites nothing without --force).
    Init {
        dir: PathBuf,
        /// Replace files that exist already.
        #[arg(long)]
        force: bool,
    },
    /// Validate a config file, the scenes and triggers it points at, and exit (non-zero with
    /// every error, file:line, when something is wrong).
    CheckConfig {
        #[arg(long, default_value = "config/default.toml")]
        config: PathBuf,
    },
    /// Run a recorded room through the rules as fast as possible, with no OBS and no audio,
    /// printing per event which triggers fire and what they would do.
    Simulate {
        /// The recorded room (JSON Lines, as `sidecar record` writes).
        room: PathBuf,
        #[arg(long, default_value = "config/default.toml")]
        config: PathBuf,
    },
    /// The seller's rundown (`[rundown]`, script files in `rundown.dir`).
    #[command(subcommand)]
    Rundown(RundownCmd),
    /// What aired and what was earned since a time, from the ledger (text or CSV).
    Report(tools::ReportArgs),
    /// Push targets (`[[push]]`): list them with their state, start or stop them in OBS.
    Stream {
        #[command(subcommand)]
        action: StreamCmd,
        #[arg(long, global = true, default_value = "config/default.toml")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum StreamCmd {
    /// Every target with its state, bitrate, bytes sent, drops and reconnects.
    List,
    /// Start one target by name, or every one with --all.
    Start(Which),
    /// Stop one target by name, or every one with --all.
    Stop(Which),
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct Which {
    /// The target's `name` in `[[push]]`.
    name: Option<String>,
    #[arg(long)]
    all: bool,
}

impl Which {
    fn which(self) -> sidecar::obs::push::vendor::Which {
        match self.name {
            Some(name) if !self.all => sidecar::obs::push::vendor::Which::Named(name),
            _ => sidecar::obs::push::vendor::Which::All,
        }
    }
}

#[derive(Subcommand)]
enum RundownCmd {
    /// Ask the configured LLM (`[llm]`) for new variants of every product's lines and append
    /// them to each script file's `<file>.drafts.toml`, unreviewed: set `reviewed = true` on
    /// the ones to use.
    Draft {
        #[arg(long, default_value = "config/default.toml")]
        config: PathBuf,
        /// Variants asked for each product and segment.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
        per_segment: u16,
    },
}

#[derive(clap::Args)]
struct RecordArgs {
    #[arg(long, default_value = "config/default.toml")]
    config: PathBuf,
    /// Source to record (overrides source.kind; with [[source]] entries, records those of this kind).
    #[arg(long, value_enum)]
    source: Option<SourceKind>,
    /// Replay file to write.
    #[arg(long)]
    out: PathBuf,
    /// Stop after this many seconds (default: until Ctrl-C or the source ends).
    #[arg(long)]
    duration: Option<f64>,
}

#[derive(clap::Args)]
struct RunArgs {
    #[arg(long, default_value = "config/default.toml")]
    config: PathBuf,
    /// Live-room source (overrides source.kind; with [[source]] entries, runs those of this kind).
    #[arg(long, value_enum)]
    source: Option<SourceKind>,
    /// Replay file to play as the room (overrides room.replay).
    #[arg(long)]
    replay: Option<PathBuf>,
    /// Replay speed (overrides room.speed).
    #[arg(long)]
    speed: Option<f64>,
    /// Ledger database (overrides ledger.path).
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// obs-websocket host (overrides obs.host).
    #[arg(long)]
    obs_host: Option<String>,
    /// obs-websocket port (overrides obs.port).
    #[arg(long)]
    obs_port: Option<u16>,
    /// Avatar link address (overrides link.bind).
    #[arg(long)]
    link_bind: Option<std::net::SocketAddr>,
    /// Do not talk to OBS at all.
    #[arg(long)]
    no_obs: bool,
    /// Record OBS's program output while the show runs; prints the file at the end.
    #[arg(long)]
    record: bool,
    /// Exit once the replay is over and every gift has been thanked on air.
    #[arg(long)]
    exit_when_done: bool,
}

/// glibc gives every thread that allocates its own malloc arena (up to 8 per core), and memory
/// freed into one arena is not reused by another: with the blocking pool's many short-lived
/// threads (ledger notes, clip finishing, cache writes) the soak bench saw RSS creep up by
/// fragmentation alone; with two arenas it stayed flat. Allocation here is far from contended
/// enough for more arenas to pay. (Other platforms' allocators have no such setting.)
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it runs before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_cli())
}

async fn run_cli() -> anyhow::Result<()> {
    // Logs on stderr; stdout carries only results meant for scripts (`recording: PATH`).
    // A show also logs to the config's `[log] dir` (read here quietly: errors come later).
    let cli = Cli::parse();
    let log = match &cli.command {
        Cmd::Run(args) | Cmd::Replay { run: args, .. } => Config::load(&args.config).ok(),
        _ => None,
    };
    let _logs = sidecar::logs::init(log.as_ref().map(|c| &c.log));
    match cli.command {
        Cmd::CheckConfig { config } => tools::check_config(&config),
        Cmd::Init { dir, force } => tools::init(&dir, force),
        Cmd::Simulate { room, config } => tools::simulate(&room, &config),
        Cmd::Report(args) => tools::report(args),
        Cmd::Stream { action, config } => tools::stream(&config, action).await,
        Cmd::Rundown(RundownCmd::Draft {
            config,
            per_segment,
        }) => tools::draft_rundown(&config, per_segment.into()).await,
        Cmd::Run(args) => run(args).await,
        Cmd::Record(args) => tools::record(args).await,
        Cmd::Replay {
            file,
            fast,
            run: mut args,
        } => {
            args.source = Some(SourceKind::Replay);
            args.replay = Some(file);
            if fast {
                args.speed = Some(f64::INFINITY);
            }
            run(args).await
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    // Before anything counts: `/metrics` renders what this recorder saw.
    sidecar::console::install_metrics();
    let mut config = Config::load(&args.config)?;
    config.apply_env();
    if let Some(kind) = args.source {
        config.source.select(kind)?;
    }
    config
        .source
        .override_replay(args.replay.as_deref(), args.speed);
    if let Some(p) = args.replay {
        config.room.replay = p;
    }
    if let Some(s) = args.speed {
        anyhow::ensure!(s > 0.0, "--speed must be a positive number");
        config.room.speed = s;
    }
    if let Some(p) = args.ledger {
        config.ledger.path = p;
    }
    if let Some(h) = args.obs_host {
        config.obs.host = h;
    }
    if let Some(p) = args.obs_port {
        config.obs.port = p;
    }
    if let Some(b) = args.link_bind {
        config.link.bind = b;
    }
    if args.no_obs {
        config.obs.enabled = false;
    }
    if config.link.token.is_empty() {
        // No token configured: make a fresh one. It reaches the OBS source through
        // obs-websocket's authenticated channel and is never printed.
        config.link.token = format!("{:032x}", rand::rng().random::<u128>());
    }

    let ledger = Ledger::open(&config.ledger.path)
        .with_context(|| format!("opening ledger {}", config.ledger.path.display()))?;
    let hub = LinkHub::default();
    let (link_tx, link_rx) = mpsc::channel(1024);
    let (link_addr, serve) = link::bind(
        config.link.bind,
        config.link.token.clone(),
        hub.clone(),
        link_tx,
    )
    .await?;
    tokio::spawn(serve);
    tracing::info!(%link_addr, "avatar link listening");

    let scene_dir = SceneDir::load(&config.obs.scenes_dir)
        .with_context(|| format!("loading scenes from {}", config.obs.scenes_dir.display()))?;
    let triggers = scene_dir.triggers.clone();
    let sounds = scene_dir.sounds.clone();
    for error in sidecar::obs::push::config::unknown_in_triggers(triggers.rules(), &config.push) {
        tracing::warn!(%error, "a trigger names a push target that does not exist; that step does nothing");
    }
    config.compliance.log_at_start();
    let obs = if config.obs.enabled {
        let mut scenes = scene_dir.scenes;
        compliance::label_and_log(&mut scenes, &config.compliance);
        let mut overrides = BTreeMap::new();
        overrides.insert(
            scenes.roles.avatar.clone(),
            serde_json::json!({
                "link_url": format!("ws://{link_addr}{}", avatar_link::PATH),
                "link_token": config.link.token,
            }),
        );
        let (push, _) = tools::push_targets(&config, &args.config);
        let (controller, _task) =
            ObsController::spawn_with_push(config.obs.clone(), scenes, overrides, push);
        if args.record || config.obs.record {
            controller.send(ObsAction::StartRecording);
        }
        Some(controller)
    } else {
        tracing::info!("OBS control disabled");
        None
    };

    // ONNX Runtime is optional (Silero's second opinion, Piper voices): without it the checks
    // still run on webrtc-vad, and a Piper engine reports itself unavailable.
    if let Err(e) = sidecar::onnx::init(&config.onnx) {
        tracing::warn!(error = %e, "ONNX Runtime not loaded; Silero VAD and Piper are off");
    }
    let voice = Arc::new(Voice::from_config(&config.voice).context("setting up the voice")?);
    tracing::info!(engine = voice.primary_engine(), "voice ready");
    let mut llm_config = config.llm.clone();
    llm_config.persona = config.persona.clone();
    let llm = if config.llm.enabled {
        let writer = sidecar::llm::ReplyWriter::new(&llm_config).context("setting up the LLM")?;
        tracing::info!(preset = ?llm_config.preset, "LLM replies on");
        Some(writer)
    } else {
        None
    };
    // One screen for the whole show: templates, thanks and LLM replies are screened alike.
    let safety = match &llm {
        Some(writer) => writer.safety().clone(),
        None => Arc::new(sidecar::llm::safety::show_screen(&llm_config)),
    };
    tokio::spawn(prewarm_thanks(
        voice.clone(),
        config.clone(),
        safety.clone(),
    ));
    let (event_tx, event_rx) = mpsc::channel(4096);
    let sink = EventSink::new(event_tx);
    let counters = sink.counters().clone();
    let sources = config.source.to_run(&config.room)?;
    let console = if config.console.enabled {
        let readings = sidecar::console::Readings {
            sources: sink.source_statuses().clone(),
            rejected: counters.clone(),
            voice: voice.clone(),
            hub: hub.clone(),
            obs: obs.clone(),
        };
        let url_file = config.ledger.path.with_file_name("console-url.txt");
        sidecar::console::start(&config.console, &url_file, readings)
            .await
            .map_err(|e| tracing::error!(error = %e, bind = %config.console.bind, "the operator console could not start; the show goes on without it"))
            .ok()
    } else {
        None
    };
    let room = sources
        .iter()
        .map(|s| s.key())
        .collect::<Vec<_>>()
        .join(",");
    let mut source =
        source::spawn_configured(&sources, &|key| ledger.checkpoint(key).ok().flatten(), sink)?;
    // From here on the ledger has one owner, its own thread; everything else sends it jobs.
    let ledger = LedgerHandle::spawn(ledger).context("starting the ledger's thread")?;
    let ending = if args.exit_when_done {
        Ending::WhenDone
    } else {
        Ending::Never
    };
    let rundown = if config.rundown.enabled {
        let (library, files) = sidecar::rundown_library::load_dir(&config.rundown.dir)?;
        tracing::info!(files = files.len(), products = library.products().len(), mode = ?config.rundown.mode, "rundown on");
        Some(sidecar::rundown::Rundown::new(
            library,
            &config.rundown,
            &config.scheduler,
            &config.persona.name,
            safety.clone(),
        ))
    } else {
        None
    };
    let reloads = sidecar::reload::spawn(
        args.config.clone(),
        config.obs.scenes_dir.clone(),
        sidecar::reload::PERIOD,
    );
    let mut show = Show::new(config, ledger, hub, obs.clone(), voice, safety, triggers)
        .with_sounds(sounds)
        .with_reloads(reloads);
    if let Some(writer) = llm {
        show = show.with_llm(writer);
    }
    if let Some(rundown) = rundown {
        show = show.with_rundown(rundown);
    }
    if let Some(tap) = console {
        show = show.with_console(tap);
    }
    let show_span = tracing::info_span!("show", %room);
    let summary = tokio::select! {
        summary = show.run(event_rx, link_rx, ending).instrument(show_span) => summary,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("stopping on Ctrl-C");
            Default::default()
        }
    };
    // The show (and with it the event channel) is gone: sources see their sink closed and
    // wind down (the Open Platform adapter stops its push tasks). Give them a moment.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), source.wait()).await;
    source.abort();
    let rejected = counters.snapshot();
    tracing::info!(?summary, ?rejected, "show over");
    if let Some(why) = &summary.fatal {
        anyhow::bail!("the show stopped because the ledger cannot heal: {why}");
    }
    if let Some(obs) = obs {
        for target in obs.push_status().await {
            println!("push: {target}");
            tracing::info!(target = %target.name, state = %target.state, bytes = target.bytes_sent, dropped = target.frames_dropped, reconnects = target.reconnects, "push target at the end of the show");
        }
        if args.record {
            match obs.stop_recording().await {
                Some(path) => println!("recording: {path}"),
                None => println!("recording: none (OBS was not reachable or not recording)"),
            }
        }
    }
    Ok(())
}

/// Puts every variant of the gift thank-you lines in the audio cache, in the background: the
/// moment a gift arrives is when a fast first word matters most.
async fn prewarm_thanks(
    voice: Arc<Voice>,
    config: Config,
    safety: Arc<sidecar::safety::SafetyScreen>,
) {
    let max_chars = config.voice.textnorm.segment_max_chars;
    let variants = sidecar::rewards::RewardEngine::new(&config.gifts, safety).thank_you_variants();
    let mut lines: Vec<String> = variants
        .iter()
        .flat_map(|line| sidecar::speech::voice::clauses(line, max_chars))
        .map(|clause| clause.text)
        // Clauses that still hold a viewer's name or gift are said differently every time.
        .filter(|clause| !clause.contains('{'))
        .collect();
    lines.sort();
    lines.dedup();
    if lines.is_empty() {
        return;
    }
    let report = voice.prewarm(lines).await;
    tracing::info!(?report, "thank-you lines pre-warmed in the audio cache");
}
