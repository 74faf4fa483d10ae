//! One cached clip on disk: `<key hex>.pcm`, a 64-byte header then the samples.
//!
//! ```text
//! offset size
//!  0      4  magic "AVSC"
//!  4      2  format version (1), u16 LE
//!  6      2  channels (1), u16 LE
//!  8      4  sample rate (48000), u32 LE
//! 12      4  sample count, u32 LE
//! 16      8  created, unix seconds, u64 LE
//! 24     32  the key (binds the content to the file name: a renamed file is refused)
//! 56      8  checksum of bytes 0..56 and the samples, u64 LE
//! 64    2·n  samples, i16 LE
//! ```
//!
//! The checksum is a fast 64-bit multiply-xor hash, not a cryptographic one: it guards against
//! torn writes, truncation and bit rot (any single changed 8-byte word always changes it),
//! not against someone who can write to the cache directory anyway. Files are written to a
//! temporary name and renamed, so a reader never sees a half-written file under a real name.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use avatar_link::SAMPLE_RATE;

use super::key::CacheKey;
use crate::Clip;

pub(super) const HEADER_LEN: usize = 64;
const MAGIC: &[u8; 4] = b"AVSC";
const FORMAT_VERSION: u16 = 1;
pub(super) const EXTENSION: &str = "pcm";
pub(super) const TEMP_EXTENSION: &str = "tmp";

/// Why a file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FileProblem {
    #[error("shorter than its header")]
    Short,
    #[error("bad magic or unknown format version")]
    Format,
    #[error("holds a clip for another key")]
    WrongKey,
    #[error("size {actual} does not match the header ({expected})")]
    Size { expected: u64, actual: u64 },
    #[error("checksum mismatch")]
    Checksum,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub samples: u32,
    pub created: u64,
    checksum: u64,
}

pub(super) fn path_for(dir: &Path, key: &CacheKey) -> PathBuf {
    dir.join(format!("{}.{EXTENSION}", key.hex()))
}

pub(super) fn encode(key: &CacheKey, clip: &Clip, created: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + clip.samples.len() * 2);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(clip.samples.len() as u32).to_le_bytes());
    out.extend_from_slice(&created.to_le_bytes());
    out.extend_from_slice(&key.0);
    out.extend_from_slice(&[0u8; 8]);
    for s in &clip.samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    let sum = checksum(&out[..56], &out[HEADER_LEN..]);
    out[56..64].copy_from_slice(&sum.to_le_bytes());
    out
}

/// Parses and checks the header alone (used when scanning the directory at open: cheap, and
/// catches truncation; the checksum is verified on every read).
pub(super) fn parse_header(
    key: &CacheKey,
    bytes: &[u8],
    file_len: u64,
) -> Result<Header, FileProblem> {
    if bytes.len() < HEADER_LEN {
        return Err(FileProblem::Short);
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap_or_default());
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap_or_default());
    if &bytes[..4] != MAGIC
        || u16_at(4) != FORMAT_VERSION
        || u16_at(6) != 1
        || u32_at(8) != SAMPLE_RATE
    {
        return Err(FileProblem::Format);
    }
    if bytes[24..56] != key.0 {
        return Err(FileProblem::WrongKey);
    }
    let header = Header {
        samples: u32_at(12),
        created: u64_at(16),
        checksum: u64_at(56),
    };
    let expected = HEADER_LEN as u64 + 2 * u64::from(header.samples);
    if file_len != expected {
        return Err(FileProblem::Size {
            expected,
            actual: file_len,
        });
    }
    Ok(header)
}

/// Decodes a whole file, verifying everything.
pub(super) fn decode(key: &CacheKey, bytes: &[u8]) -> Result<(Clip, Header), FileProblem> {
    let header = parse_header(key, bytes, bytes.len() as u64)?;
    if checksum(&bytes[..56], &bytes[HEADER_LEN..]) != header.checksum {
        return Err(FileProblem::Checksum);
    }
    let samples = bytes[HEADER_LEN..]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    Ok((Clip { samples }, header))
}

/// Writes `bytes` to a fresh temporary file in `dir` and returns its path; [`publish`] then
/// renames it to the key's name. Split in two so the (slow) write happens outside the cache
/// lock and the (fast) rename inside it, ordered with evictions of the same key.
/// No fsync: the cache is disposable, and a file torn by a power cut fails its checksum.
pub(super) fn write_temp(dir: &Path, key: &CacheKey, bytes: &[u8]) -> std::io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(
        "{}.{}.{n}.{TEMP_EXTENSION}",
        key.hex(),
        std::process::id()
    ));
    let result = std::fs::File::create(&temp).and_then(|mut f| f.write_all(bytes));
    match result {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Atomically puts a file written by [`write_temp`] in place.
pub(super) fn publish(temp: &Path, dir: &Path, key: &CacheKey) -> std::io::Result<()> {
    let result = std::fs::rename(temp, path_for(dir, key));
    if result.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    result
}

/// Multiply-xor hash over 8-byte words; each step is a bijection of the state, so changing
/// any one word always changes the result.
fn checksum(header: &[u8], samples: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0x243F_6A88_85A3_08D3;
    let mut feed = |bytes: &[u8]| {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            h = (h ^ u64::from_le_bytes(w.try_into().unwrap_or_default())).wrapping_mul(K);
            h ^= h >> 29;
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K);
            h ^= h >> 29;
        }
    };
    feed(header);
    feed(samples);
    h ^= (header.len() + samples.len()) as u64;
    h = h.wrapping_mul(K);
    h ^ (h >> 32)
}
