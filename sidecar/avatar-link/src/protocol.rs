//! Messages on the avatar link.
//!
//! Direction `sidecar → avatar`: [`Command`] (JSON text), and binary [`Frame`]s: the voice's
//! [`AudioChunk`]s and sound effects' [`SoundChunk`]s.
//! Direction `avatar → sidecar`: [`Report`] (JSON text).
//!
//! An *utterance* is one line the avatar says. The sidecar announces it with
//! [`Command::Say`], streams its audio as chunks, marks the last chunk, and may cut it short with
//! [`Command::Stop`]. The avatar that owns the audio clock (the OBS source) reports what it has
//! actually played, which is what the scheduler's interruption rule (share already played) uses.
//!
//! A *sound* is a sound effect mixed into the avatar's voice (a trigger's `sound_file`). It needs
//! no announcement: its first [`SoundChunk`] starts it, it plays *over* whatever the avatar is
//! saying, moves no mouth and is never reported back. Its frames have their own magic byte, so
//! an older avatar rejects them as foreign instead of mistaking them for speech.

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
/// Magic byte of a sound effect's binary frame ([`SoundChunk`]); same layout otherwise.
const SOUND_MAGIC: u8 = 0xA8;
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

/// One piece of a sound effect's audio: 48 kHz mono i16, mixed over the voice.
#[derive(Debug, Clone, PartialEq)]
pub struct SoundChunk {
    /// Numbered by the sidecar, unique within its connection (like utterances).
    pub sound: u64,
    /// True on the sound's last chunk (which may be empty).
    pub last: bool,
    pub samples: Vec<i16>,
}

/// Any binary frame on the link.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Voice(AudioChunk),
    Sound(SoundChunk),
}

impl Frame {
    /// Decodes a binary frame of either kind.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (magic, id, last, samples) = decode_pcm(bytes)?;
        Ok(match magic {
            AUDIO_MAGIC => Frame::Voice(AudioChunk {
                utterance: id,
                last,
                samples,
            }),
            _ => Frame::Sound(SoundChunk {
                sound: id,
                last,
                samples,
            }),
        })
    }
}

impl SoundChunk {
    /// Same layout as [`AudioChunk::encode`], with its own magic byte.
    pub fn encode(&self) -> Vec<u8> {
        encode_pcm(SOUND_MAGIC, self.sound, self.last, &self.samples)
    }
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
        encode_pcm(AUDIO_MAGIC, self.utterance, self.last, &self.samples)
    }

    /// Decodes a voice frame; a sound frame is rejected (see [`Frame::decode`] for both).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        match Frame::decode(bytes)? {
            Frame::Voice(chunk) => Ok(chunk),
            Frame::Sound(_) => Err(DecodeError::BadMagic(SOUND_MAGIC)),
        }
    }
}

fn encode_pcm(magic: u8, id: u64, last: bool, samples: &[i16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(AUDIO_HEADER_LEN + samples.len() * 2);
    out.push(magic);
    out.push(u8::from(last));
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// (magic, id, last, samples) of a voice or sound frame.
fn decode_pcm(bytes: &[u8]) -> Result<(u8, u64, bool, Vec<i16>), DecodeError> {
    if bytes.len() < AUDIO_HEADER_LEN {
        return Err(DecodeError::TooShort(bytes.len()));
    }
    let magic = bytes[0];
    if magic != AUDIO_MAGIC && magic != SOUND_MAGIC {
        return Err(DecodeError::BadMagic(magic));
    }
    let last = bytes[1] & 1 == 1;
    let id = u64::from_le_bytes(bytes[2..10].try_into().expect("8 bytes"));
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
    Ok((magic, id, last, samples))
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
    fn sound_frames_round_trip_and_are_not_speech() {
        let sound = SoundChunk {
            sound: 3,
            last: false,
            samples: vec![5, -5],
        };
        let bytes = sound.encode();
        assert_eq!(Frame::decode(&bytes).unwrap(), Frame::Sound(sound));
        assert_eq!(AudioChunk::decode(&bytes), Err(DecodeError::BadMagic(0xA8)));
        let voice = AudioChunk {
            utterance: 3,
            last: true,
            samples: vec![],
        };
        assert_eq!(Frame::decode(&voice.encode()).unwrap(), Frame::Voice(voice));
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
