//! The stand-in's HTTP/1.1 answers (uvicorn's headers) and its WAV writers (what soundfile and
//! Python's `wave` module write).

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::http_stub::{Head, Limits};

/// What the stand-in reads of a request at most: a 64 KiB head (uvicorn's h11 limit), a 4 MiB
/// body (the JSON of a `POST /tts`).
pub(super) const LIMITS: Limits = Limits::new(64 << 10, 4 << 20);

/// A complete JSON answer (api_v2's errors: `{"message": …}`, FastAPI's 422 detail).
pub(super) async fn write_json(
    stream: &mut TcpStream,
    status: &str,
    body: &serde_json::Value,
) -> std::io::Result<()> {
    write_simple(
        stream,
        status,
        "application/json",
        body.to_string().as_bytes(),
    )
    .await
}

pub(super) async fn write_simple(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let response = Head::response(status)
        .header("date", uvicorn_date())
        .header("server", "uvicorn")
        .header("content-length", body.len())
        .header("content-type", content_type)
        .with_body(body);
    stream.write_all(&response).await
}

/// The `date` header uvicorn sends.
pub(super) fn uvicorn_date() -> String {
    crate::http_stub::http_date(crate::http_stub::unix_now())
}

pub(super) fn noise_floor(n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| (rand::random::<f32>() - 0.5) * 0.0006)
        .collect()
}

/// Canonical 44-byte mono header (`data_len` 0: what `wave` writes before streaming).
pub(super) fn wav_header_tag(rate: u32, tag: u16, bits: u16, data_len: u32) -> Vec<u8> {
    let block = bits / 8;
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&tag.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    h.extend_from_slice(&block.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

/// A float WAV as libsndfile writes it: WAVEFORMATEX (cbSize 0), `fact`, `PEAK`, `data`.
pub(super) fn float_wav(rate: u32, samples: &[f32], data: &[u8]) -> Vec<u8> {
    let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    let peak_pos = samples.iter().position(|s| s.abs() == peak).unwrap_or(0) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    let riff_len = 4 + (8 + 18) + (8 + 4) + (8 + 16) + (8 + data.len() as u32);
    b.extend_from_slice(&riff_len.to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&18u32.to_le_bytes());
    for v in [3u16, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 4).to_le_bytes());
    for v in [4u16, 32, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(b"fact");
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    b.extend_from_slice(b"PEAK");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(crate::http_stub::unix_now() as u32).to_le_bytes());
    b.extend_from_slice(&peak.to_le_bytes());
    b.extend_from_slice(&peak_pos.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    b
}
