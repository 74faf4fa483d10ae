//! The stand-in's HTTP/1.1 framing (what uvicorn does) and its WAV writers (what soundfile and
//! Python's `wave` module write).

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(super) struct HttpRequest {
    pub(super) method: String,
    pub(super) target: String,
    pub(super) body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (Content-Length bodies only, as reqwest sends JSON).
pub(super) async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<Option<HttpRequest>> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 << 10 {
            bail!("request head too large");
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let target = request_line.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().context("content-length")?;
            }
        }
    }
    let body_start = head_end + 4;
    while buf.len() < body_start + length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("body cut short");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[body_start..body_start + length].to_vec();
    buf.drain(..body_start + length);
    Ok(Some(HttpRequest {
        method,
        target,
        body,
    }))
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

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
    let head = format!(
        "HTTP/1.1 {status}\r\ndate: {}\r\nserver: uvicorn\r\ncontent-length: {}\r\n\
         content-type: {content_type}\r\n\r\n",
        crate::fake_edge_tts::http_date(crate::fake_edge_tts::unix_now()),
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await
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
    b.extend_from_slice(&(crate::fake_edge_tts::unix_now() as u32).to_le_bytes());
    b.extend_from_slice(&peak.to_le_bytes());
    b.extend_from_slice(&peak_pos.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    b
}
