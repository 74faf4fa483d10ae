//! The cache key: what makes two clips interchangeable.

use sha2::{Digest, Sha256};

use crate::Prosody;

/// Bump when the post-synthesis chain (trim, loudness, resampling, VAD acceptance) changes
/// what a finished clip sounds like: every clip made by the old chain then misses.
pub const CLIP_PIPELINE_VERSION: u32 = 1;

/// Domain tag and encoding version at the head of the hashed bytes; a change of encoding
/// changes every key instead of silently colliding with old ones.
const DOMAIN: &[u8] = b"aivs-clip-key\0";
const ENCODING_VERSION: u8 = 1;

/// Everything that decides how a clip sounds.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheKeyParts {
    /// The text exactly as sent to the engine (already normalised by `textnorm`).
    pub text: String,
    /// `TtsEngine::name()`.
    pub engine: String,
    /// The voice / speaker id; empty = the engine's default voice.
    pub voice: String,
    /// `TtsEngine::version()`: a new model never serves the old model's clips.
    pub engine_version: String,
    pub prosody: Prosody,
    /// [`CLIP_PIPELINE_VERSION`] of the chain that finished the clip.
    pub pipeline_version: u32,
    /// Loudness target the clip was normalised to (RMS dBFS).
    pub loudness_dbfs: f32,
}

/// SHA-256 of the canonical encoding of [`CacheKeyParts`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    pub(super) fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({}…)", &self.hex()[..12])
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

impl CacheKeyParts {
    /// The key. Encoding (hashed with SHA-256):
    ///
    /// ```text
    /// "aivs-clip-key\0" || u8 1 (encoding version) || field × 8
    /// field = u32 big-endian byte length || bytes
    /// fields, in order: text (UTF-8), engine, voice, engine_version (UTF-8),
    ///                   prosody.rate, prosody.pitch_semitones (f32 bits, big-endian),
    ///                   pipeline_version (u32 big-endian), loudness_dbfs (f32 bits, big-endian)
    /// ```
    ///
    /// Length prefixes make the encoding injective (`"ab"+"c"` ≠ `"a"+"bc"`); floats are
    /// canonicalised first (−0.0 → 0.0, every NaN → one NaN) so equal settings give equal keys.
    pub fn key(&self) -> CacheKey {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update([ENCODING_VERSION]);
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u32).to_be_bytes());
            h.update(bytes);
        };
        field(self.text.as_bytes());
        field(self.engine.as_bytes());
        field(self.voice.as_bytes());
        field(self.engine_version.as_bytes());
        field(&canonical(self.prosody.rate).to_be_bytes());
        field(&canonical(self.prosody.pitch_semitones).to_be_bytes());
        field(&self.pipeline_version.to_be_bytes());
        field(&canonical(self.loudness_dbfs).to_be_bytes());
        CacheKey(h.finalize().into())
    }
}

fn canonical(x: f32) -> u32 {
    if x.is_nan() {
        f32::NAN.to_bits()
    } else if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}
