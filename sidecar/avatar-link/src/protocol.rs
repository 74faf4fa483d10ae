//! Messages on the avatar link.
//!
//! Direction `sidecar → avatar`: [`Command`] (JSON text) and [`AudioChunk`] (binary).
//! Direction `avatar → sidecar`: [`Report`] (JSON text).
//!
//! An *utterance* is one line the avatar says. The sidecar announces it with
//! [`Command::Say`], streams its audio as chunks, marks the last chunk, and may cut it short with
//! [`Command::Stop`]. The avatar that owns the audio clock (the OBS source) reports what it has
//! actually played, which is what the scheduler's interruption rule (share already played) uses.

use serde::{Deserialize, Serialize};

/// Protocol revision; bumped on any incompatible change. Sent in both hellos.
pub const PROTOCOL_VERSION: u32 = 1;
/// Sample rate of all audio on the link. Mono, signed 16-bit little-endian.
pub const SAMPLE_RATE: u32 = 48_000;
/// Default loopback port of the sidecar's link server.
pub const DEFAULT_PORT: u16 = 7_780;
/// Path of the WebSocket endpoint.
pub const PATH: &str = "/avatar";
/// Magic byte that starts every binary audio frame, so a stray binary frame is rejected early.
const AUDIO_MAGIC: u8 = 0xA7;
const AUDIO_HEADER_LEN: usize = 1 + 1 + 8 + 4;

/// Sidecar → avatar control messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// First message after the handshake.
    Hello {
        protocol: u32,
        sidecar_version: String,
    },
    /// A new utterance begins; its audio follows as [`AudioChunk`]s with the same id.
    Say {
        utterance: u64,
        /// Scheduler priority (lower is more urgent); informational for the avatar.
        priority: i32,
        text: String,
        /// Expression to show while speaking (e.g. `happy`), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expression: Option<String>,
    },
    /// Cut an utterance short (it was interrupted): drop its unplayed audio with a short fade.
    Stop { utterance: u64 },
    /// Show an expression for a while (`neutral` resets).
    Expression { name: String, duration_ms: u32 },
    /// Play a one-shot reaction motion (e.g. `bounce`, `nod`, `shake`).
    Motion { name: String },
}

/// Avatar → sidecar reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Report {
    /// First message from the avatar. `audio_clock` is true for the output that actually plays
    /// the audio on air (the OBS source); followers (live2d-bridge) only mirror it.
    Hello {
        protocol: u32,
        client: String,
        audio_clock: bool,
    },
    /// The first sample of an utterance went out.
    Started { utterance: u64 },
    /// Periodic playout position of the current utterance.
    Progress {
        utterance: u64,
        played_ms: u32,
        received_ms: u32,
    },
    /// The utterance finished playing (`interrupted` when cut by [`Command::Stop`]).
    Finished {
        utterance: u64,
        played_ms: u32,
        interrupted: bool,
    },
}

/// One piece of an utterance's audio: 48 kHz mono i16.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioChunk {
    pub utterance: u64,
    /// True on the utterance's last chunk (which may be empty).
    pub last: bool,
    pub samples: Vec<i16>,
}

/// Why a binary frame was rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("audio frame too short: {0} bytes, header needs {AUDIO_HEADER_LEN}")]
    TooShort(usize),
    #[error("not an audio frame (magic byte {0:#04x})")]
    BadMagic(u8),
    #[error("audio frame sample rate {0} Hz, the link carries {SAMPLE_RATE} Hz")]
    SampleRate(u32),
    #[error("audio payload of {0} bytes is not whole 16-bit samples")]
    OddLength(usize),
}

impl AudioChunk {
    /// Binary layout: magic u8, flags u8 (bit 0 = last), utterance u64 LE, sample rate u32 LE,
    /// then the samples as i16 LE.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(AUDIO_HEADER_LEN + self.samples.len() * 2);
        out.push(AUDIO_MAGIC);
        out.push(u8::from(self.last));
        out.extend_from_slice(&self.utterance.to_le_bytes());
        out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
        for s in &self.samples {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() < AUDIO_HEADER_LEN {
            return Err(DecodeError::TooShort(bytes.len()));
        }
        if bytes[0] != AUDIO_MAGIC {
            return Err(DecodeError::BadMagic(bytes[0]));
        }
        let last = bytes[1] & 1 == 1;
        let utterance = u64::from_le_bytes(bytes[2..10].try_into().expect("8 bytes"));
        let rate = u32::from_le_bytes(bytes[10..14].try_into().expect("4 bytes"));
        if rate != SAMPLE_RATE {
            return Err(DecodeError::SampleRate(rate));
        }
        let payload = &bytes[AUDIO_HEADER_LEN..];
        if !payload.len().is_multiple_of(2) {
            return Err(DecodeError::OddLength(payload.len()));
        }
        let samples = payload
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        Ok(Self {
            utterance,
            last,
            samples,
        })
    }
}

/// Milliseconds of link audio in `samples` samples.
pub fn samples_to_ms(samples: usize) -> u32 {
    (samples as u64 * 1000 / SAMPLE_RATE as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_chunk_round_trips() {
        let chunk = AudioChunk {
            utterance: 42,
            last: true,
            samples: vec![0, -1, i16::MAX, i16::MIN],
        };
        assert_eq!(AudioChunk::decode(&chunk.encode()).unwrap(), chunk);
    }

    #[test]
    fn malformed_audio_frames_are_rejected_with_a_reason() {
        assert_eq!(AudioChunk::decode(&[1, 2]), Err(DecodeError::TooShort(2)));
        let mut bytes = AudioChunk {
            utterance: 1,
            last: false,
            samples: vec![1],
        }
        .encode();
        bytes.push(0);
        assert_eq!(AudioChunk::decode(&bytes), Err(DecodeError::OddLength(3)));
        bytes[0] = 0;
        assert_eq!(AudioChunk::decode(&bytes), Err(DecodeError::BadMagic(0)));
    }

    #[test]
    fn commands_are_tagged_json() {
        let json = serde_json::to_string(&Command::Stop { utterance: 7 }).unwrap();
        assert_eq!(json, r#"{"type":"stop","utterance":7}"#);
        let back: Report = serde_json::from_str(
            r#"{"type":"finished","utterance":7,"played_ms":10,"interrupted":true}"#,
        )
        .unwrap();
        assert_eq!(
            back,
            Report::Finished {
                utterance: 7,
                played_ms: 10,
                interrupted: true
            }
        );
    }
}
