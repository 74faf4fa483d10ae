//! Real speech for the stand-ins: espeak-ng, converted by sox.

use anyhow::{bail, Context, Result};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// Real speech: `espeak-ng --stdout` (text on stdin, never the command line), converted by sox
/// to mono f32 at `rate`. `pitch` is espeak's 0-99 (50 normal).
pub async fn espeak_speech(
    text: &str,
    voice: &str,
    wpm: u32,
    pitch: u32,
    rate: u32,
) -> Result<Vec<f32>> {
    let wav = run(
        Command::new("espeak-ng").args([
            "-v",
            voice,
            "-s",
            &wpm.clamp(80, 450).to_string(),
            "-p",
            &pitch.min(99).to_string(),
            "--stdout",
        ]),
        text.as_bytes().to_vec(),
    )
    .await
    .context("espeak-ng")?;
    let raw = run(
        Command::new("sox")
            .args([
                "-t",
                "wav",
                "-",
                "-t",
                "raw",
                "-e",
                "floating-point",
                "-b",
                "32",
                "-c",
                "1",
                "-r",
            ])
            .arg(rate.to_string())
            .arg("-"),
        wav,
    )
    .await
    .context("sox")?;
    Ok(raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Runs a filter program: `input` on stdin, stdout returned.
pub(crate) async fn run(command: &mut Command, input: Vec<u8>) -> Result<Vec<u8>> {
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let writer = tokio::spawn(async move {
        let result = stdin.write_all(&input).await;
        drop(stdin);
        result
    });
    let output = child.wait_with_output().await?;
    writer.await??;
    if !output.status.success() {
        bail!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}
