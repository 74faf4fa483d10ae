//! Decoding what GPT-SoVITS (and its many forks) send back: WAV files, WAV streams and bare PCM.
//!
//! Why not [`super::super::audio::decode_wav`] (hound): api_v2's streaming mode sends a header
//! written by Python's `wave` module for zero frames (RIFF size 36, data size 0) and then
//! appends raw PCM, and other writers put placeholder sizes (`0xFFFFFFFF`, `0x7FFFF000`) in the
//! header; a strict reader rejects or truncates all of these. A placeholder size here means
//! "the data runs to the end of the body" — a body cut short is caught at the HTTP level
//! (`Content-Length` / chunked framing), not here.
//!
//! The other reason is the failure peers air: float32 PCM behind a header that says int16
//! (or the reverse). Read naively, float bytes become loud noise and int16 bytes read as floats
//! become huge or denormal values. Both are detected and reported as
//! [`SpeechError::BadAudio`] instead of being "decoded".

use crate::{RawAudio, SpeechError};

/// WAVE format tags (`wFormatTag`).
const TAG_PCM: u16 = 1;
const TAG_FLOAT: u16 = 3;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

/// Share of float samples allowed beyond ±[`FLOAT_LIMIT`] before the data is called integer
/// PCM in disguise. Real float output clips a little at most.
const FLOAT_OUT_OF_RANGE_MAX: f64 = 0.001;
const FLOAT_LIMIT: f32 = 1.5;

fn bad(detail: impl Into<String>) -> SpeechError {
    SpeechError::BadAudio(detail.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    U8,
    I16,
    I24,
    I32,
    F32,
    F64,
}

impl Encoding {
    fn bytes(self) -> usize {
        match self {
            Encoding::U8 => 1,
            Encoding::I16 => 2,
            Encoding::I24 => 3,
            Encoding::I32 | Encoding::F32 => 4,
            Encoding::F64 => 8,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Format {
    encoding: Encoding,
    channels: usize,
    rate: u32,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse_fmt(body: &[u8]) -> Result<Format, SpeechError> {
    if body.len() < 16 {
        return Err(bad(format!("WAV fmt chunk of {} bytes", body.len())));
    }
    let mut tag = u16_at(body, 0);
    let channels = u16_at(body, 2) as usize;
    let rate = u32_at(body, 4);
    let bits = u16_at(body, 14);
    if tag == TAG_EXTENSIBLE {
        // WAVEFORMATEXTENSIBLE: cbSize(2) validBits(2) channelMask(4) SubFormat GUID(16), whose
        // first two bytes are the plain format tag.
        if body.len() < 40 {
            return Err(bad("WAVE_FORMAT_EXTENSIBLE without a sub-format"));
        }
        tag = u16_at(body, 24);
    }
    let encoding = match (tag, bits) {
        (TAG_PCM, 8) => Encoding::U8,
        (TAG_PCM, 16) => Encoding::I16,
        (TAG_PCM, 24) => Encoding::I24,
        (TAG_PCM, 32) => Encoding::I32,
        (TAG_FLOAT, 32) => Encoding::F32,
        (TAG_FLOAT, 64) => Encoding::F64,
        (tag, bits) => {
            return Err(bad(format!(
                "unsupported WAV encoding (format tag {tag}, {bits} bits)"
            )))
        }
    };
    if channels == 0 || channels > 16 {
        return Err(bad(format!("WAV with {channels} channels")));
    }
    if !(1_000..=384_000).contains(&rate) {
        return Err(bad(format!("WAV sample rate {rate} Hz")));
    }
    Ok(Format {
        encoding,
        channels,
        rate,
    })
}

/// Decodes a WAV body (complete file or streamed header + PCM) to mono f32.
pub fn decode_wav(bytes: &[u8]) -> Result<RawAudio, SpeechError> {
    if bytes.is_empty() {
        return Err(bad("empty body"));
    }
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad(format!(
            "not a WAV file ({} bytes without a RIFF/WAVE header)",
            bytes.len()
        )));
    }
    let mut format = None;
    let mut pos = 12usize;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32_at(bytes, pos + 4) as usize;
        let start = pos + 8;
        let available = bytes.len() - start;
        if id == b"data" {
            let format = format.ok_or_else(|| bad("WAV data chunk before its fmt chunk"))?;
            // 0 or more than present: a streaming writer's placeholder (see module docs).
            let len = if size == 0 || size > available {
                available
            } else {
                size
            };
            return decode_pcm(&bytes[start..start + len], format);
        }
        if size > available {
            return Err(bad(format!(
                "WAV chunk {:?} claims {size} bytes, {available} present",
                String::from_utf8_lossy(id)
            )));
        }
        if id == b"fmt " {
            format = Some(parse_fmt(&bytes[start..start + size])?);
        }
        // Chunks are word-aligned: an odd size is followed by a pad byte.
        pos = start + size + (size & 1);
    }
    Err(bad("WAV without a data chunk"))
}

/// Decodes bare little-endian int16 mono PCM (api_v2's `media_type: "raw"`).
pub fn decode_raw_s16le(bytes: &[u8], rate: u32) -> Result<RawAudio, SpeechError> {
    if bytes.is_empty() {
        return Err(bad("empty body"));
    }
    decode_pcm(
        bytes,
        Format {
            encoding: Encoding::I16,
            channels: 1,
            rate,
        },
    )
}

fn decode_pcm(data: &[u8], format: Format) -> Result<RawAudio, SpeechError> {
    let width = format.encoding.bytes();
    let frame = width * format.channels;
    // A partial last frame (odd byte count from a cut stream chunk) is dropped.
    let usable = data.len() / frame * frame;
    if usable == 0 {
        return Err(bad(format!("no audio frames ({} data bytes)", data.len())));
    }
    let data = &data[..usable];
    let interleaved: Vec<f32> = match format.encoding {
        Encoding::U8 => data.iter().map(|&b| (b as f32 - 128.0) / 128.0).collect(),
        Encoding::I16 => {
            let words: Vec<i16> = data
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            if looks_like_float32(&words) {
                return Err(bad(
                    "int16 audio that is really float32 PCM (header and data disagree): \
                     it would play as noise",
                ));
            }
            words.iter().map(|&w| w as f32 / 32_768.0).collect()
        }
        Encoding::I24 => data
            .chunks_exact(3)
            .map(|c| (i32::from_le_bytes([0, c[0], c[1], c[2]]) >> 8) as f32 / 8_388_608.0)
            .collect(),
        Encoding::I32 => data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32 / 2_147_483_648.0)
            .collect(),
        Encoding::F32 => check_float(
            data.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )?,
        Encoding::F64 => check_float(
            data.chunks_exact(8)
                .map(|c| {
                    f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
        )?,
    };
    let samples = if format.channels == 1 {
        interleaved
    } else {
        interleaved
            .chunks_exact(format.channels)
            .map(|f| f.iter().sum::<f32>() / format.channels as f32)
            .collect()
    };
    Ok(RawAudio {
        samples,
        rate: format.rate,
    })
}

/// Float samples must be finite and (nearly all) within ±1; integer PCM read as floats is not.
fn check_float(mut samples: Vec<f32>) -> Result<Vec<f32>, SpeechError> {
    if samples.iter().any(|s| !s.is_finite()) {
        return Err(bad("float audio with NaN or infinite samples"));
    }
    let wild = samples.iter().filter(|s| s.abs() > FLOAT_LIMIT).count();
    if wild as f64 > samples.len() as f64 * FLOAT_OUT_OF_RANGE_MAX {
        return Err(bad(format!(
            "float audio with {wild} of {} samples far outside [-1, 1]: integer PCM labelled \
             float",
            samples.len()
        )));
    }
    samples.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
    Ok(samples)
}

/// True when 16-bit words are really little-endian float32 samples: then every odd word is the
/// high half of a float (sign, exponent, top mantissa bits) and, for audio in ±1, its exponent
/// sits in a narrow band (2^-27 ..= 1), while the even words (low mantissa bits) are spread
/// out. Genuine int16 speech has no such odd/even split.
pub(crate) fn looks_like_float32(words: &[i16]) -> bool {
    let float_like = |w: i16| (100..=127).contains(&(((w as u16) >> 7) & 0xFF));
    let (mut nonzero, mut high_like, mut low_like) = (0usize, 0usize, 0usize);
    for pair in words.chunks_exact(2) {
        if pair[1] == 0 {
            continue;
        }
        nonzero += 1;
        high_like += usize::from(float_like(pair[1]));
        low_like += usize::from(float_like(pair[0]));
    }
    nonzero >= 32 && high_like * 10 >= nonzero * 9 && low_like * 2 < nonzero
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 0.4 * (i as f32 * 0.07).sin() + 0.05 * (i as f32 * 1.3).sin())
            .collect()
    }

    /// Header exactly as Python's `wave` writes it for zero frames (api_v2's streaming header).
    fn wave_header(rate: u32, tag: u16, bits: u16) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&36u32.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&tag.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * u32::from(bits / 8)).to_le_bytes());
        h.extend_from_slice(&(bits / 8).to_le_bytes());
        h.extend_from_slice(&bits.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&0u32.to_le_bytes());
        h
    }

    fn i16_bytes(s: &[f32]) -> Vec<u8> {
        s.iter()
            .flat_map(|v| ((v * 32767.0) as i16).to_le_bytes())
            .collect()
    }

    fn f32_bytes(s: &[f32]) -> Vec<u8> {
        s.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn streaming_header_with_zero_size_takes_the_rest() {
        let s = tone(3_201);
        let mut body = wave_header(32_000, TAG_PCM, 16);
        body.extend(i16_bytes(&s));
        body.push(0x12); // half a sample from a cut chunk
        let audio = decode_wav(&body).unwrap();
        assert_eq!((audio.samples.len(), audio.rate), (3_201, 32_000));
        assert!((audio.samples[100] - s[100]).abs() < 1e-3);
    }

    #[test]
    fn float_wav_with_extra_chunks_decodes() {
        let s = tone(2_000);
        let data = f32_bytes(&s);
        let mut body = Vec::new();
        body.extend_from_slice(b"RIFF");
        body.extend_from_slice(&(4 + 26 + 12 + 8 + data.len() as u32).to_le_bytes());
        body.extend_from_slice(b"WAVEfmt ");
        body.extend_from_slice(&18u32.to_le_bytes());
        for v in [TAG_FLOAT, 1] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(&24_000u32.to_le_bytes());
        body.extend_from_slice(&96_000u32.to_le_bytes());
        for v in [4u16, 32, 0] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(b"fact");
        body.extend_from_slice(&4u32.to_le_bytes());
        body.extend_from_slice(&2_000u32.to_le_bytes());
        body.extend_from_slice(b"data");
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend(data);
        let audio = decode_wav(&body).unwrap();
        assert_eq!((audio.samples.len(), audio.rate), (2_000, 24_000));
        assert!((audio.samples[500] - s[500]).abs() < 1e-6);
    }

    #[test]
    fn float_data_behind_an_int16_header_is_refused() {
        let mut body = wave_header(32_000, TAG_PCM, 16);
        body.extend(f32_bytes(&tone(8_000)));
        let err = decode_wav(&body).unwrap_err();
        assert!(
            matches!(err, SpeechError::BadAudio(ref m) if m.contains("float32")),
            "{err}"
        );
        // And as bare PCM.
        assert!(decode_raw_s16le(&f32_bytes(&tone(8_000)), 32_000).is_err());
    }

    #[test]
    fn int16_data_behind_a_float_header_is_refused() {
        let mut body = wave_header(32_000, TAG_FLOAT, 32);
        body.extend(i16_bytes(&tone(8_000)));
        assert!(matches!(decode_wav(&body), Err(SpeechError::BadAudio(_))));
    }

    #[test]
    fn genuine_int16_is_not_mistaken_for_float() {
        // Loud, clipped-ish int16 and real speech-like content must pass.
        let loud: Vec<f32> = tone(16_000)
            .iter()
            .map(|v| (v * 2.2).clamp(-1.0, 1.0))
            .collect();
        let words: Vec<i16> = loud.iter().map(|v| (v * 32767.0) as i16).collect();
        assert!(!looks_like_float32(&words));
        assert!(decode_raw_s16le(&i16_bytes(&loud), 16_000).is_ok());
    }

    #[test]
    fn garbage_and_empty_bodies_are_bad_audio() {
        for body in [&b""[..], b"{\"message\":\"x\"}", b"RIFF\0\0\0\0WAVE"] {
            assert!(matches!(decode_wav(body), Err(SpeechError::BadAudio(_))));
        }
    }
}
