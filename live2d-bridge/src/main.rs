//! `live2d-bridge`: command-line entry point. See the library docs and README for the design.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use live2d_bridge::{Config, LinkConfig, Mapping, VtsConfig};

/// Drives a Live2D model in VTube Studio from the AI streamer's avatar link.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The sidecar's avatar link endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:7780/avatar")]
    link_url: String,
    /// Bearer token of the avatar link (the sidecar's `[link] token` / AIVS_LINK_TOKEN).
    #[arg(long, env = "AIVS_LINK_TOKEN", hide_env_values = true)]
    token: String,
    /// VTube Studio's API endpoint (VTS settings → "Start API").
    #[arg(long, default_value = live2d_bridge::vts::DEFAULT_URL)]
    vts_url: String,
    /// Mapping of expressions and motions to the model's files and hotkeys (see
    /// bridge.example.toml). Without it, the example mapping is used.
    #[arg(long)]
    mapping: Option<PathBuf>,
    /// Where the VTube Studio token is kept so the plugin is approved only once
    /// [default: <config dir>/ai-vstreamer/vts-token].
    #[arg(long)]
    vts_token_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The vtubestudio crate warns "buffer being full" whenever a connection it has
                // already given up is torn down (every shutdown or reconnect); it is noise.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("info,vtubestudio::transport=error")
                }),
        )
        .init();
    let cli = Cli::parse();
    let mapping = match &cli.mapping {
        Some(path) => Mapping::load(path)?,
        None => Mapping::default(),
    };
    let config = Config {
        link: LinkConfig {
            url: cli.link_url,
            token: cli.token,
        },
        vts: VtsConfig {
            url: cli.vts_url,
            token_file: cli
                .vts_token_file
                .unwrap_or_else(live2d_bridge::vts::default_token_file),
        },
        mapping,
    };
    let shutdown = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C; stop the bridge by killing it");
            std::future::pending::<()>().await;
        }
    };
    live2d_bridge::run(config, shutdown)
        .await
        .context("live2d-bridge failed to start")
}
