//! Push frames: the binary WebSocket messages of the webcast push server.
//!
//! Pure functions with no I/O, so that fuzz targets and benchmarks can drive them directly:
//! [`decode_frame_to_events`] turns the bytes of one WebSocket message into normalized events
//! in one call. Every size is capped: a gzip payload is inflated through a `take` limit, so a
//! gzip bomb costs at most `max_payload_bytes` of memory and is rejected as
//! [`FrameError::TooLarge`] without being inflated any further.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::GzDecoder;
use prost::Message as _;

use super::normalize::{Normalized, Normalizer};
use super::proto::{PushFrame, Response};
use aivs_core::event::LiveEvent;

/// Default cap on a frame's (decompressed) payload.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 4 * 1024 * 1024;

/// gzip streams start with these bytes (magic + deflate method).
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

/// Why a whole frame could not be used. Single bad messages inside a good frame are not frame
/// errors: they come back as [`DecodedFrame::rejects`].
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("malformed push frame: {0}")]
    BadFrame(prost::DecodeError),
    #[error("malformed response payload: {0}")]
    BadResponse(prost::DecodeError),
    #[error("payload is not valid gzip: {0}")]
    BadGzip(std::io::Error),
    #[error("payload is larger than the {limit}-byte cap")]
    TooLarge { limit: usize },
}

impl FrameError {
    /// The counter name for [`crate::EventSink::reject`].
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::BadFrame(_) => "bad_frame",
            FrameError::BadResponse(_) => "bad_response",
            FrameError::BadGzip(_) => "bad_gzip",
            FrameError::TooLarge { .. } => "too_large",
        }
    }
}

/// What one WebSocket message amounted to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodedFrame {
    /// `msg`, `hb`, `close`, `ack`…; only `msg` frames carry events.
    pub payload_type: String,
    /// To be echoed in the ack.
    pub log_id: u64,
    /// The server wants an ack (sent only after the events are committed).
    pub need_ack: bool,
    /// Resume position (`Response.cursor`); empty for non-`msg` frames.
    pub cursor: String,
    /// Opaque server state (`Response.internalExt`): the ack payload and a resume parameter.
    pub internal_ext: String,
    pub events: Vec<LiveEvent>,
    /// `(reason, detail)` of every message of the frame that could not be used.
    pub rejects: Vec<(&'static str, String)>,
    /// A `WebcastControlMessage` said the stream ended.
    pub stream_ended: bool,
}

/// Decodes the outer [`PushFrame`] of one binary WebSocket message.
pub fn decode_push_frame(bytes: &[u8]) -> Result<PushFrame, FrameError> {
    PushFrame::decode(bytes).map_err(FrameError::BadFrame)
}

/// The value of a frame header, e.g. `compress_type`.
pub fn header<'a>(frame: &'a PushFrame, key: &str) -> Option<&'a str> {
    frame
        .headers_list
        .iter()
        .find(|h| h.key == key)
        .map(|h| h.value.as_str())
}

/// The frame's payload, inflated when it is gzip.
///
/// gzip is taken from the `compress_type=gzip` header; a payload without that header that
/// nevertheless starts with the gzip magic is inflated too (a protobuf `Response` cannot start
/// with byte 0x1f, which would be field 3 with the invalid wire type 7, so this is unambiguous).
pub fn payload_bytes(frame: &PushFrame, max_bytes: usize) -> Result<Cow<'_, [u8]>, FrameError> {
    let gzip = match header(frame, "compress_type") {
        Some(kind) => kind.eq_ignore_ascii_case("gzip"),
        None => frame.payload.starts_with(&GZIP_MAGIC),
    };
    if gzip {
        gunzip_capped(&frame.payload, max_bytes).map(Cow::Owned)
    } else if frame.payload.len() > max_bytes {
        Err(FrameError::TooLarge { limit: max_bytes })
    } else {
        Ok(Cow::Borrowed(&frame.payload))
    }
}

/// Inflates at most `max_bytes`; anything bigger is [`FrameError::TooLarge`], found after
/// inflating `max_bytes + 1` bytes and no more.
pub fn gunzip_capped(data: &[u8], max_bytes: usize) -> Result<Vec<u8>, FrameError> {
    // Room messages compress ~4-8x; start there and let the Vec grow if needed.
    let mut out = Vec::with_capacity(data.len().saturating_mul(6).min(max_bytes));
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    GzDecoder::new(data)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(FrameError::BadGzip)?;
    if out.len() > max_bytes {
        return Err(FrameError::TooLarge { limit: max_bytes });
    }
    Ok(out)
}

/// Decodes the (inflated) payload of a `msg` frame.
pub fn decode_response(bytes: &[u8]) -> Result<Response, FrameError> {
    Response::decode(bytes).map_err(FrameError::BadResponse)
}

/// One WebSocket message in, events out: frame → payload → response → messages → events.
/// Uses the normalizer's payload cap and de-duplication.
pub fn decode_frame_to_events(
    bytes: &[u8],
    normalizer: &mut Normalizer,
) -> Result<DecodedFrame, FrameError> {
    let frame = decode_push_frame(bytes)?;
    let mut out = DecodedFrame {
        log_id: frame.log_id,
        ..DecodedFrame::default()
    };
    if frame.payload_type != "msg" {
        out.payload_type = frame.payload_type;
        return Ok(out);
    }
    let response = decode_response(&payload_bytes(&frame, normalizer.max_payload_bytes())?)?;
    out.payload_type = frame.payload_type;
    out.need_ack = response.need_ack;
    out.cursor = response.cursor;
    out.internal_ext = response.internal_ext;
    out.events.reserve(response.messages_list.len());
    for message in &response.messages_list {
        match normalizer.normalize(message) {
            Normalized::Event(event) => out.events.push(event),
            Normalized::Rejected(reject) => out.rejects.push((reject.reason, reject.detail)),
            Normalized::StreamEnded => out.stream_ended = true,
            Normalized::Duplicate | Normalized::Ignored | Normalized::Unknown => {}
        }
    }
    Ok(out)
}

/// The heartbeat frame: `PushFrame { payloadType: "hb" }`, bytes `3A 02 68 62`.
pub fn encode_heartbeat() -> Vec<u8> {
    PushFrame {
        payload_type: "hb".into(),
        ..PushFrame::default()
    }
    .encode_to_vec()
}

/// The ack of a `msg` frame that asked for one.
pub fn encode_ack(log_id: u64, internal_ext: &str) -> Vec<u8> {
    PushFrame {
        log_id,
        payload_type: "ack".into(),
        payload: internal_ext.as_bytes().to_vec(),
        ..PushFrame::default()
    }
    .encode_to_vec()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::douyin::proto::{self, HeadersList};
    use aivs_core::event::EventKind;
    use flate2::write::GzEncoder;
    use std::io::Write;
    use std::time::Instant;

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    pub(crate) fn chat(msg_id: i64, text: &str) -> proto::Message {
        let chat = proto::ChatMessage {
            common: Some(proto::Common {
                msg_id: msg_id as u64,
                room_id: 7,
                ..Default::default()
            }),
            user: Some(proto::User {
                id: 42,
                nick_name: "小明".into(),
                ..Default::default()
            }),
            content: text.into(),
            ..Default::default()
        };
        proto::Message {
            method: "WebcastChatMessage".into(),
            payload: chat.encode_to_vec(),
            msg_id,
            ..Default::default()
        }
    }

    /// A `msg` frame around `messages`, gzip'd like the real server does.
    pub(crate) fn msg_frame(log_id: u64, messages: Vec<proto::Message>, ext: &str) -> Vec<u8> {
        let response = Response {
            messages_list: messages,
            cursor: format!("cursor-{log_id}"),
            internal_ext: ext.into(),
            need_ack: true,
            ..Default::default()
        };
        PushFrame {
            log_id,
            headers_list: vec![HeadersList {
                key: "compress_type".into(),
                value: "gzip".into(),
            }],
            payload_encoding: "pb".into(),
            payload_type: "msg".into(),
            payload: gzip(&response.encode_to_vec()),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn a_gzip_msg_frame_decodes_to_events_with_ack_state() {
        let bytes = msg_frame(9, vec![chat(1, "你好"), chat(2, "hi")], "ext");
        let decoded = decode_frame_to_events(&bytes, &mut Normalizer::new()).unwrap();
        assert_eq!(decoded.payload_type, "msg");
        assert!(decoded.need_ack);
        assert_eq!((decoded.log_id, decoded.cursor.as_str()), (9, "cursor-9"));
        assert_eq!(decoded.internal_ext, "ext");
        let texts: Vec<_> = decoded
            .events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Comment { text } => text.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, ["你好", "hi"]);
        assert_eq!(decoded.events[0].msg_id, "1");
    }

    #[test]
    fn uncompressed_payloads_decode_too() {
        let response = Response {
            messages_list: vec![chat(5, "plain")],
            ..Default::default()
        };
        let frame = PushFrame {
            payload_type: "msg".into(),
            payload: response.encode_to_vec(),
            ..Default::default()
        };
        let decoded =
            decode_frame_to_events(&frame.encode_to_vec(), &mut Normalizer::new()).unwrap();
        assert_eq!(decoded.events.len(), 1);
        assert!(!decoded.need_ack);
    }

    #[test]
    fn heartbeat_and_ack_frames_have_the_documented_bytes() {
        assert_eq!(encode_heartbeat(), [0x3A, 0x02, 0x68, 0x62]);
        let ack = decode_push_frame(&encode_ack(77, "ext-1")).unwrap();
        assert_eq!(ack.log_id, 77);
        assert_eq!(ack.payload_type, "ack");
        assert_eq!(ack.payload, b"ext-1");
    }

    #[test]
    fn non_msg_frames_carry_no_events() {
        let decoded = decode_frame_to_events(&encode_heartbeat(), &mut Normalizer::new()).unwrap();
        assert_eq!(decoded.payload_type, "hb");
        assert!(decoded.events.is_empty() && !decoded.need_ack);
    }

    #[test]
    fn a_gzip_bomb_is_rejected_quickly_without_inflating_it() {
        // 64 MiB of zeros compress to ~64 KiB: 16 times the cap, in a small WebSocket message.
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let frame = PushFrame {
            payload_type: "msg".into(),
            headers_list: vec![HeadersList {
                key: "compress_type".into(),
                value: "gzip".into(),
            }],
            payload: bomb,
            ..Default::default()
        }
        .encode_to_vec();
        let started = Instant::now();
        let err = decode_frame_to_events(&frame, &mut Normalizer::new()).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { limit } if limit == DEFAULT_MAX_PAYLOAD_BYTES)
        );
        assert_eq!(err.reason(), "too_large");
        assert!(
            started.elapsed().as_secs_f64() < 2.0,
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn the_cap_is_configurable_and_exact() {
        let data = vec![b'x'; 1000];
        assert_eq!(gunzip_capped(&gzip(&data), 1000).unwrap().len(), 1000);
        assert!(matches!(
            gunzip_capped(&gzip(&data), 999),
            Err(FrameError::TooLarge { limit: 999 })
        ));
    }

    #[test]
    fn truncated_and_malformed_frames_are_errors_not_panics() {
        let bytes = msg_frame(3, vec![chat(1, "hello")], "ext");
        let mut normalizer = Normalizer::new();
        for cut in 0..bytes.len() {
            // Every prefix either decodes (a prefix can be a valid shorter frame) or errors.
            let _ = decode_frame_to_events(&bytes[..cut], &mut normalizer);
        }
        let err = decode_frame_to_events(&bytes[..bytes.len() / 2], &mut normalizer).unwrap_err();
        assert!(
            matches!(err, FrameError::BadFrame(_) | FrameError::BadGzip(_)),
            "{err}"
        );
        assert!(matches!(
            decode_push_frame(&[0xff, 0xff, 0xff]),
            Err(FrameError::BadFrame(_))
        ));
        let bad_gzip = PushFrame {
            payload_type: "msg".into(),
            headers_list: vec![HeadersList {
                key: "compress_type".into(),
                value: "gzip".into(),
            }],
            payload: b"\x1f\x8b\x08garbage".to_vec(),
            ..Default::default()
        };
        let err = decode_frame_to_events(&bad_gzip.encode_to_vec(), &mut normalizer).unwrap_err();
        assert_eq!(err.reason(), "bad_gzip");
        let bad_response = PushFrame {
            payload_type: "msg".into(),
            payload: vec![0x0a, 0x05, 0x01],
            ..Default::default()
        };
        let err =
            decode_frame_to_events(&bad_response.encode_to_vec(), &mut normalizer).unwrap_err();
        assert_eq!(err.reason(), "bad_response");
    }
}
