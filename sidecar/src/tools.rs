//! The `sidecar` subcommands other than `run`: recording a room, simulating one, drafting
//! rundown variants, controlling push targets, and writing a starter folder (`init`).

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::mpsc;

use sidecar::config::Config;
use sidecar::scene_dir::SceneDir;
use sidecar::source::{self, recorder, EventSink};

use crate::{RecordArgs, StreamCmd};

mod init;
pub use init::init;

pub async fn stream(config_path: &std::path::Path, action: StreamCmd) -> anyhow::Result<()> {
    use sidecar::obs::push::{self, StreamAction};
    let mut config = Config::load(config_path)?;
    config.apply_env();
    let (targets, errors) = push_targets(&config, config_path);
    // Handing over a partial set would remove (and stop) the targets left out, say because this
    // shell lacks a key's variable while the running show has it: then only the command runs,
    // on the set the plugin already has.
    let hand_over = errors.is_empty();
    if !hand_over {
        eprintln!(
            "not handing the config's targets to OBS (some cannot be used here); acting on those OBS has"
        );
    }
    let targets = if hand_over { targets } else { Vec::new() };
    let action = match action {
        StreamCmd::List => StreamAction::List,
        StreamCmd::Start(w) => StreamAction::Start(w.which()),
        StreamCmd::Stop(w) => StreamAction::Stop(w.which()),
    };
    let status = push::stream_command(&config.obs, &targets, &action).await?;
    if status.is_empty() {
        println!(
            "no push targets (add [[push]] entries to {})",
            config_path.display()
        );
    }
    for target in status {
        println!("{target}");
    }
    Ok(())
}

/// The config's push targets with their keys; each one that cannot be used is logged and left
/// out (the show and the other platforms go on).
pub fn push_targets(
    config: &Config,
    config_path: &std::path::Path,
) -> (Vec<sidecar::obs::push::WireTarget>, Vec<String>) {
    let dir = config_path.parent().unwrap_or(std::path::Path::new(""));
    let (targets, errors) = sidecar::obs::push::config::resolve_all(&config.push, dir);
    let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    for error in &errors {
        tracing::error!(%error, "push target left out");
    }
    (targets, errors)
}

pub async fn record(args: RecordArgs) -> anyhow::Result<()> {
    let mut config = Config::load(&args.config)?;
    config.apply_env();
    if let Some(kind) = args.source {
        config.source.select(kind)?;
    }
    let sources = config.source.to_run(&config.room)?;
    let (tx, rx) = mpsc::channel(1024);
    let (raw_tx, raw_rx) = mpsc::unbounded_channel();
    let sink = EventSink::new(tx).with_raw_recorder(raw_tx);
    let header = serde_json::json!({
        "version": 2,
        "platform": sources
            .iter()
            .map(|s| format!("{:?}", s.kind()).to_lowercase())
            .collect::<Vec<_>>()
            .join("+"),
        "recorded_at_ms": sidecar::clock::now_ms(),
    });
    let writer = tokio::spawn({
        let out = args.out.clone();
        async move { recorder::record(&out, header, rx, raw_rx).await }
    });
    // Recording has no ledger of its own: every source starts from its live position.
    let mut source = source::spawn_configured(&sources, &|_| None, sink)?;
    tracing::info!(out = %args.out.display(), "recording");
    let limit = async {
        match args.duration {
            Some(secs) => tokio::time::sleep(std::time::Duration::from_secs_f64(secs)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = limit => tracing::info!("recording time is up"),
        _ = tokio::signal::ctrl_c() => tracing::info!("stopping on Ctrl-C"),
        _ = source.wait() => {}
    }
    source.abort();
    let stats = writer.await??;
    println!(
        "recorded: {} ({} events, {} raw frames)",
        args.out.display(),
        stats.events,
        stats.raw_frames
    );
    Ok(())
}

pub fn simulate(room: &std::path::Path, config_path: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    let scenes = SceneDir::load(&config.obs.scenes_dir)?;
    let replay = sidecar::source::replay::Replay::load(room)?;
    let mut llm_config = config.llm.clone();
    llm_config.persona = config.persona.clone();
    let safety = Arc::new(sidecar::llm::safety::show_screen(&llm_config));
    // A throw-away ledger: admission counts exactly as it would live, nothing real is touched.
    let ledger = std::env::temp_dir().join(format!("aivs-simulate-{}.db", std::process::id()));
    let mut out = String::new();
    let result = sidecar::simulate::run(&config, &scenes, safety, replay, &ledger, &mut out);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", ledger.display()));
    }
    print!("{out}");
    result.map(|_| ())
}

/// `sidecar rundown draft`: LLM-written variants into each script file's drafts file.
pub async fn draft_rundown(config: &std::path::Path, per_segment: usize) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let mut llm = config.llm.clone();
    llm.persona = config.persona.clone();
    let client = sidecar::rundown_drafts::drafting_client(&llm).context("setting up the LLM")?;
    let safety = sidecar::llm::safety::show_screen(&llm);
    let dir = &config.rundown.dir;
    let reports = sidecar::rundown_drafts::draft_dir(dir, &client, &safety, per_segment).await?;
    anyhow::ensure!(!reports.is_empty(), "no script files in {}", dir.display());
    for report in &reports {
        println!(
            "{}: {} drafts written (reviewed = false), {} lines dropped, {} requests failed",
            report.drafts_file.display(),
            report.written,
            report.dropped,
            report.failed_requests
        );
    }
    let failed: usize = reports.iter().map(|r| r.failed_requests).sum();
    let written: usize = reports.iter().map(|r| r.written).sum();
    anyhow::ensure!(written > 0 || failed == 0, "every draft request failed");
    Ok(())
}

#[derive(clap::Args)]
pub struct ReportArgs {
    #[arg(long, default_value = "config/default.toml")]
    config: std::path::PathBuf,
    /// From when: 30m, 2h, 1d back from now, or an RFC 3339 time.
    #[arg(long, default_value = "2h")]
    since: String,
    /// Headings in English (default: Chinese).
    #[arg(long, value_parser = ["zh", "en"], default_value = "zh")]
    lang: String,
    /// Output on stdout: text or csv.
    #[arg(long, value_parser = ["text", "csv"], default_value = "text")]
    format: String,
    /// Also write the CSV to this file.
    #[arg(long)]
    csv: Option<std::path::PathBuf>,
    /// Ledger database (overrides ledger.path).
    #[arg(long)]
    ledger: Option<std::path::PathBuf>,
}

/// `sidecar report`: reads the ledger (the config's `[ledger] path`) and the config's tiers.
pub fn report(args: ReportArgs) -> anyhow::Result<()> {
    use sidecar::report::{parse_since, Lang, Report};
    let mut cfg = Config::load(&args.config)?;
    if let Some(path) = args.ledger {
        cfg.ledger.path = path;
    }
    let since = parse_since(&args.since, sidecar::clock::now_ms())?;
    anyhow::ensure!(
        cfg.ledger.path.exists(),
        "no ledger at {} (nothing was recorded yet?)",
        cfg.ledger.path.display()
    );
    let ledger = sidecar::ledger::Ledger::open(&cfg.ledger.path)
        .with_context(|| format!("opening the ledger {}", cfg.ledger.path.display()))?;
    let report = Report::build(
        since,
        &ledger.lines_since(since)?,
        &ledger.gifts_since(since)?,
        &cfg.tier_table(),
    );
    if let Some(path) = &args.csv {
        std::fs::write(path, report.to_csv())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let lang = if args.lang == "en" {
        Lang::En
    } else {
        Lang::Zh
    };
    match args.format.as_str() {
        "csv" => print!("{}", report.to_csv()),
        _ => print!("{}", report.to_text(lang)),
    }
    Ok(())
}

/// `sidecar check-config`: the config, the scenes and triggers it points at, the virtual
/// anchor label, push target names and the script library; every error with file:line.
pub fn check_config(config: &std::path::Path) -> anyhow::Result<()> {
    let cfg = Config::load(config)?;
    let mut scenes = SceneDir::load(&cfg.obs.scenes_dir)?;
    use sidecar::obs::compliance;
    let added = compliance::label_scenes(&mut scenes.scenes, &cfg.compliance);
    println!("{}", compliance::check_config_note(&added, &cfg.compliance));
    let unknown =
        sidecar::obs::push::config::unknown_in_triggers(scenes.triggers.rules(), &cfg.push);
    anyhow::ensure!(unknown.is_empty(), "{}", unknown.join("\n"));
    // The script library is checked whenever it is there, so it can be prepared
    // before the rundown is switched on.
    if cfg.rundown.enabled || cfg.rundown.dir.is_dir() {
        let (library, files) = sidecar::rundown_library::load_dir(&cfg.rundown.dir)?;
        for file in files {
            println!(
                "{}: {} products, {} reviewed drafts, {} waiting for review",
                file.path.display(),
                file.products,
                file.drafts.used,
                file.drafts.waiting
            );
        }
        let state = if cfg.rundown.enabled { "on" } else { "off" };
        println!("rundown ({state}): {} products", library.products().len());
    }
    println!(
        "{}: OK ({} scenes, {} triggers, {} voice sounds in {})",
        config.display(),
        scenes.scenes.scenes.len(),
        scenes.triggers.rules().len(),
        scenes.sounds.len(),
        cfg.obs.scenes_dir.display()
    );
    Ok(())
}
