//! The Bilibili danmaku packet format: a 16-byte big-endian header and a body.
//!
//! ```text
//! offset 0  u32 packet length (header included)
//!        4  u16 header length (16)
//!        6  u16 protocol version: 0 JSON, 1 heartbeat / integer, 2 zlib, 3 brotli
//!        8  u32 operation: 2 heartbeat, 3 heartbeat reply, 5 command, 7 auth, 8 auth reply
//!       12  u32 sequence
//! ```
//!
//! One WebSocket message holds one or more packets back to back. A version 2 or 3 packet's body
//! is itself a compressed run of whole packets (the server batches commands that way). Only one
//! level of compression is legal: a compressed packet inside a compressed body is rejected, so
//! a hostile body cannot recurse. Everything decompressed comes out of one per-message budget
//! ([`Limits::max_decompressed`]) and the number of packets per message is capped, so a
//! decompression bomb costs at most a few MiB of memory and is reported, not followed.

use std::io::Read;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 16;

/// Protocol versions (header field 3).
pub mod version {
    /// Plain body (JSON for commands).
    pub const JSON: u16 = 0;
    /// Heartbeat / integer body; also used by the client for auth and heartbeat packets.
    pub const INT: u16 = 1;
    /// Body is zlib-compressed packets.
    pub const ZLIB: u16 = 2;
    /// Body is brotli-compressed packets.
    pub const BROTLI: u16 = 3;
}

/// Operations (header field 4).
pub mod op {
    pub const HEARTBEAT: u32 = 2;
    pub const HEARTBEAT_REPLY: u32 = 3;
    pub const COMMAND: u32 = 5;
    pub const AUTH: u32 = 7;
    pub const AUTH_REPLY: u32 = 8;
}

/// Caps applied to one WebSocket message.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes all compressed bodies of one message may expand to, together.
    pub max_decompressed: usize,
    /// Packets one message may hold, counting those inside compressed bodies.
    pub max_packets: usize,
}

impl Default for Limits {
    /// 4 MiB and 10 000 packets: real batches are a few KiB and a few dozen packets.
    fn default() -> Self {
        Self {
            max_decompressed: 4 * 1024 * 1024,
            max_packets: 10_000,
        }
    }
}

/// One decoded packet with a plain (uncompressed) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub version: u16,
    pub operation: u32,
    pub sequence: u32,
    pub body: Vec<u8>,
}

/// Why (part of) a message could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("{available} trailing bytes are too short for a {HEADER_LEN}-byte header")]
    Truncated { available: usize },
    #[error("header length {header_len} is invalid (expected at least {HEADER_LEN}, at most the packet length {packet_len})")]
    BadHeaderLength { header_len: u16, packet_len: u32 },
    #[error("packet length {packet_len} does not fit in the {available} bytes left")]
    BadPacketLength { packet_len: u32, available: usize },
    #[error("unknown protocol version {0}")]
    UnknownVersion(u16),
    #[error("a compressed packet inside a compressed body (only one level is allowed)")]
    NestedCompression,
    #[error("corrupt {codec} body: {detail}")]
    Corrupt { codec: &'static str, detail: String },
    #[error("compressed bodies expand beyond {limit} bytes (decompression bomb?)")]
    TooLarge { limit: usize },
    #[error("more than {limit} packets in one message")]
    TooManyPackets { limit: usize },
}

impl PacketError {
    /// Short reason for [`crate::EventSink::reject`].
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Truncated { .. } => "truncated_packet",
            Self::BadHeaderLength { .. } => "bad_header_length",
            Self::BadPacketLength { .. } => "bad_packet_length",
            Self::UnknownVersion(_) => "unknown_protocol_version",
            Self::NestedCompression => "nested_compression",
            Self::Corrupt { .. } => "corrupt_compressed_body",
            Self::TooLarge { .. } => "decompressed_too_large",
            Self::TooManyPackets { .. } => "too_many_packets",
        }
    }
}

/// What one WebSocket message held: the usable packets, in order, and what was wrong with the
/// rest. A framing error ends the run it occurs in (the following bytes cannot be trusted to
/// start a packet); a bad compressed body only costs that body.
#[derive(Debug, Default)]
pub struct Decoded {
    pub packets: Vec<Packet>,
    pub errors: Vec<PacketError>,
}

/// Encodes one packet.
pub fn encode(version: u16, operation: u32, sequence: u32, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(HEADER_LEN + body.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&(HEADER_LEN as u16).to_be_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&operation.to_be_bytes());
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Decodes one WebSocket message, expanding compressed bodies (one level) within `limits`.
pub fn decode_message(bytes: &[u8], limits: &Limits) -> Decoded {
    let mut state = DecodeState {
        out: Decoded::default(),
        budget: limits.max_decompressed,
        seen: 0,
        limits: *limits,
    };
    state.run(bytes, false);
    state.out
}

struct DecodeState {
    out: Decoded,
    /// Decompressed bytes still allowed for this message.
    budget: usize,
    /// Packets met so far, usable or not (compressed containers included).
    seen: usize,
    limits: Limits,
}

impl DecodeState {
    /// Splits `bytes` into packets. Returns `false` once the packet cap is hit (stop everything).
    fn run(&mut self, mut bytes: &[u8], nested: bool) -> bool {
        while !bytes.is_empty() {
            let (header, body, rest) = match split_packet(bytes) {
                Ok(parts) => parts,
                Err(e) => {
                    self.out.errors.push(e);
                    return true;
                }
            };
            bytes = rest;
            self.seen += 1;
            if self.seen > self.limits.max_packets {
                self.out.errors.push(PacketError::TooManyPackets {
                    limit: self.limits.max_packets,
                });
                return false;
            }
            match header.version {
                version::JSON | version::INT => self.out.packets.push(Packet {
                    version: header.version,
                    operation: header.operation,
                    sequence: header.sequence,
                    body: body.to_vec(),
                }),
                version::ZLIB | version::BROTLI if nested => {
                    self.out.errors.push(PacketError::NestedCompression)
                }
                version::ZLIB | version::BROTLI => {
                    match inflate(header.version, body, self.budget) {
                        Ok(plain) => {
                            self.budget -= plain.len();
                            if !self.run(&plain, true) {
                                return false;
                            }
                        }
                        Err(PacketError::TooLarge { .. }) => {
                            self.out.errors.push(PacketError::TooLarge {
                                limit: self.limits.max_decompressed,
                            });
                            // The budget is spent: later bodies of this message would fail the
                            // same way, so one rejection says it all.
                            self.budget = 0;
                        }
                        Err(e) => self.out.errors.push(e),
                    }
                }
                other => self.out.errors.push(PacketError::UnknownVersion(other)),
            }
        }
        true
    }
}

#[derive(Debug, Clone, Copy)]
struct Header {
    version: u16,
    operation: u32,
    sequence: u32,
}

/// `(header, body, rest)` of the first packet in `bytes`.
fn split_packet(bytes: &[u8]) -> Result<(Header, &[u8], &[u8]), PacketError> {
    if bytes.len() < HEADER_LEN {
        return Err(PacketError::Truncated {
            available: bytes.len(),
        });
    }
    let be32 =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let be16 = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
    let packet_len = be32(0);
    let header_len = be16(4);
    if (header_len as usize) < HEADER_LEN || header_len as u32 > packet_len {
        return Err(PacketError::BadHeaderLength {
            header_len,
            packet_len,
        });
    }
    if packet_len as usize > bytes.len() {
        return Err(PacketError::BadPacketLength {
            packet_len,
            available: bytes.len(),
        });
    }
    let header = Header {
        version: be16(6),
        operation: be32(8),
        sequence: be32(12),
    };
    let (packet, rest) = bytes.split_at(packet_len as usize);
    Ok((header, &packet[header_len as usize..], rest))
}

/// Decompresses `body`, failing once the output would exceed `budget` bytes.
fn inflate(version: u16, body: &[u8], budget: usize) -> Result<Vec<u8>, PacketError> {
    let (codec, reader): (&'static str, Box<dyn Read + '_>) = if version == version::ZLIB {
        ("zlib", Box::new(flate2::read::ZlibDecoder::new(body)))
    } else {
        ("brotli", Box::new(brotli::Decompressor::new(body, 4096)))
    };
    let mut plain = Vec::new();
    reader
        .take(budget as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|e| PacketError::Corrupt {
            codec,
            detail: e.to_string(),
        })?;
    if plain.len() > budget {
        return Err(PacketError::TooLarge { limit: budget });
    }
    Ok(plain)
}

#[cfg(test)]
mod tests;
