//! `live2d-bridge`: command-line entry point. See the library docs and README for the design.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use live2d_bridge::{Config, LinkConfig, Mapping, VtsConfig};

/// Where the link token comes from when no `--token-file` is given.
const TOKEN_ENV: &str = "AIVS_LINK_TOKEN";

/// Drives a Live2D model in VTube Studio from the AI streamer's avatar link.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The sidecar's avatar link endpoint.
    #[arg(long, default_value = "ws://127.0.0.1:7780/avatar")]
    link_url: String,
    /// File holding the avatar link token (the sidecar's `[link] token`). Without it the token
    /// comes from the environment variable AIVS_LINK_TOKEN. There is deliberately no flag for
    /// the token itself: command lines are visible to every user (`ps`, /proc).
    #[arg(long)]
    token_file: Option<PathBuf>,
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
    let token = match &cli.token_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the link token from {}", path.display()))?
            .trim()
            .to_string(),
        None => std::env::var(TOKEN_ENV).with_context(|| {
            format!("set {TOKEN_ENV} (or --token-file) to the sidecar's link token")
        })?,
    };
    let mapping = match &cli.mapping {
        Some(path) => Mapping::load(path)?,
        None => Mapping::default(),
    };
    let config = Config {
        link: LinkConfig {
            url: cli.link_url,
            token,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_not_a_command_line_option() {
        assert!(Cli::try_parse_from(["live2d-bridge", "--token", "x"]).is_err());
        let cli = Cli::try_parse_from(["live2d-bridge", "--token-file", "/run/t"]).unwrap();
        assert_eq!(
            cli.token_file.as_deref(),
            Some(std::path::Path::new("/run/t"))
        );
    }
}
