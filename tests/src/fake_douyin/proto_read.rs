//! A minimal protobuf field reader: enough for the fake to understand what the client sends
//! (acks and heartbeats are `PushFrame`s) and for its own tests to read back what it encoded.
//! Written from the encoding spec, independent of the sidecar's prost decoders.

use std::fmt;

use crate::protobuf_writer::{WIRE_FIXED32, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT};

/// One field value as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    Fixed32(u32),
}

/// Why bytes are not a protobuf message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The input ended inside a varint, a fixed value or a length-delimited field.
    Truncated { at: usize },
    /// A varint longer than 10 bytes.
    VarintTooLong { at: usize },
    /// Field number 0, or a wire type this reader does not know (groups are long deprecated).
    BadKey { at: usize, key: u64 },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { at } => write!(f, "input ends inside the field at byte {at}"),
            Self::VarintTooLong { at } => write!(f, "varint longer than 10 bytes at byte {at}"),
            Self::BadKey { at, key } => write!(f, "invalid field key {key} at byte {at}"),
        }
    }
}

impl std::error::Error for ReadError {}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ReadError> {
    let start = *pos;
    let mut value = 0u64;
    for i in 0..10 {
        let byte = *buf.get(*pos).ok_or(ReadError::Truncated { at: start })?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ReadError::VarintTooLong { at: start })
}

fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize, at: usize) -> Result<&'a [u8], ReadError> {
    let end = pos.checked_add(n).filter(|e| *e <= buf.len());
    let end = end.ok_or(ReadError::Truncated { at })?;
    let out = &buf[*pos..end];
    *pos = end;
    Ok(out)
}

/// All fields of a message, in wire order.
pub fn fields(buf: &[u8]) -> Result<Vec<(u32, Value<'_>)>, ReadError> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let at = pos;
        let key = varint(buf, &mut pos)?;
        let number = u32::try_from(key >> 3).map_err(|_| ReadError::BadKey { at, key })?;
        if number == 0 {
            return Err(ReadError::BadKey { at, key });
        }
        let value = match (key & 7) as u8 {
            WIRE_VARINT => Value::Varint(varint(buf, &mut pos)?),
            WIRE_FIXED64 => {
                let b = take(buf, &mut pos, 8, at)?;
                Value::Fixed64(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            WIRE_LEN => {
                let len = varint(buf, &mut pos)?;
                let len = usize::try_from(len).map_err(|_| ReadError::Truncated { at })?;
                Value::Len(take(buf, &mut pos, len, at)?)
            }
            WIRE_FIXED32 => {
                let b = take(buf, &mut pos, 4, at)?;
                Value::Fixed32(u32::from_le_bytes(b.try_into().expect("4 bytes")))
            }
            _ => return Err(ReadError::BadKey { at, key }),
        };
        out.push((number, value));
    }
    Ok(out)
}

/// Convenience accessors over a decoded field list (last occurrence wins, as in protobuf).
#[derive(Debug, Clone)]
pub struct Fields<'a>(pub Vec<(u32, Value<'a>)>);

impl<'a> Fields<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, ReadError> {
        fields(buf).map(Self)
    }

    pub fn uint(&self, number: u32) -> u64 {
        self.0
            .iter()
            .rev()
            .find_map(|(n, v)| match v {
                Value::Varint(x) if *n == number => Some(*x),
                _ => None,
            })
            .unwrap_or(0)
    }

    pub fn bytes(&self, number: u32) -> &'a [u8] {
        self.all_bytes(number).last().copied().unwrap_or_default()
    }

    /// Every length-delimited occurrence of `number` (repeated fields).
    pub fn all_bytes(&self, number: u32) -> Vec<&'a [u8]> {
        self.0
            .iter()
            .filter_map(|(n, v)| match v {
                Value::Len(b) if *n == number => Some(*b),
                _ => None,
            })
            .collect()
    }

    /// A string field, lossily (the fake reports what it got rather than failing on it).
    pub fn string(&self, number: u32) -> String {
        String::from_utf8_lossy(self.bytes(number)).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf_writer::ProtoWriter;

    #[test]
    fn reads_back_what_the_writer_wrote() {
        let mut inner = ProtoWriter::new();
        inner.uint(1, 150);
        let mut w = ProtoWriter::new();
        w.uint(2, u64::MAX)
            .string(7, "hb")
            .message(5, &inner)
            .message(5, &inner)
            .string(1028, "x");
        let f = Fields::parse(w.as_bytes()).unwrap();
        assert_eq!(f.uint(2), u64::MAX);
        assert_eq!(f.string(7), "hb");
        assert_eq!(f.all_bytes(5).len(), 2);
        assert_eq!(Fields::parse(f.bytes(5)).unwrap().uint(1), 150);
        assert_eq!(f.string(1028), "x");
        assert_eq!(f.uint(99), 0);
    }

    #[test]
    fn truncation_and_garbage_are_errors() {
        let mut w = ProtoWriter::new();
        w.string(3, "hello");
        let b = w.as_bytes();
        assert_eq!(
            fields(&b[..b.len() - 1]),
            Err(ReadError::Truncated { at: 0 })
        );
        assert!(matches!(fields(&[0x80]), Err(ReadError::Truncated { .. })));
        assert!(matches!(fields(&[0x00]), Err(ReadError::BadKey { .. })));
        assert!(matches!(fields(&[0x0b]), Err(ReadError::BadKey { .. })));
        assert!(matches!(
            fields(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(ReadError::VarintTooLong { .. })
        ));
    }
}
