//! Incremental Server-Sent-Events parser (the WHATWG `text/event-stream` rules).
//!
//! Network chunks split the stream anywhere: inside a line, between the `\r` and `\n` of a CRLF,
//! inside a multi-byte UTF-8 character. The parser keeps the incomplete tail and only decodes
//! whole lines, so none of that matters to the caller. Lines end at CRLF, LF or CR; `:` starts a
//! comment (servers send them as keep-alives); several `data:` lines of one event are joined
//! with `\n`; a blank line ends the event. Bounded: a line longer than [`MAX_LINE`] is an error,
//! not an ever-growing buffer.

/// Longest line accepted. A chat-completion chunk is a few hundred bytes.
pub const MAX_LINE: usize = 1 << 20;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; empty = the default `message`.
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("event-stream line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("event-stream line is not UTF-8")]
    NotUtf8,
}

/// Feed bytes with [`SseParser::push`], collect events; call [`SseParser::finish`] at EOF.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    /// Fields of the event being built.
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes a chunk; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            if let Some(b'\n') = rest.first() {
                rest = &rest[1..];
            }
        }
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.extend_line(&rest[..pos])?;
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, &mut out)?;
            if rest[pos] == b'\r' {
                match rest.get(pos + 1) {
                    Some(b'\n') => rest = &rest[pos + 2..],
                    Some(_) => rest = &rest[pos + 1..],
                    None => {
                        self.after_cr = true;
                        rest = &[];
                    }
                }
            } else {
                rest = &rest[pos + 1..];
            }
        }
        self.extend_line(rest)?;
        Ok(out)
    }

    /// End of stream. Strictly, an event without its closing blank line is discarded; servers
    /// that close right after `data: [DONE]\n` are common enough that we dispatch it instead.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        let mut out = Vec::new();
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_done(&line, &mut out)?;
        }
        self.line_done(&[], &mut out)?;
        Ok(out.pop())
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + bytes.len() > MAX_LINE {
            return Err(SseError::LineTooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: std::mem::take(&mut self.event),
                    data: std::mem::take(&mut self.data),
                    id: self.id.clone(),
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_string(),
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            // `retry` and unknown fields are ignored, as the spec says.
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(input: &[u8], sizes: &[usize]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < input.len() {
            let n = sizes[i % sizes.len()].max(1).min(input.len() - at);
            events.extend(parser.push(&input[at..at + n]).unwrap());
            at += n;
            i += 1;
        }
        events.extend(parser.finish().unwrap());
        events
    }

    fn datas(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    const STREAM: &str = ": keep-alive\r\n\
        data: {\"a\":\"你好\"}\r\n\r\n\
        event: message\n\
        data: line one\n\
        data: line two\n\n\
        data:no-space\r\r\
        :comment between\n\
        data: [DONE]\n\n";

    #[test]
    fn comments_multiline_crlf_cr_and_done() {
        let events = parse_in_chunks(STREAM.as_bytes(), &[usize::MAX]);
        assert_eq!(
            datas(&events),
            vec![
                "{\"a\":\"你好\"}",
                "line one\nline two",
                "no-space",
                "[DONE]"
            ]
        );
        assert_eq!(events[1].event, "message");
    }

    #[test]
    fn any_chunk_boundary_gives_the_same_events() {
        let whole = parse_in_chunks(STREAM.as_bytes(), &[usize::MAX]);
        for size in 1..12 {
            assert_eq!(parse_in_chunks(STREAM.as_bytes(), &[size]), whole, "{size}");
        }
        // Irregular sizes put boundaries inside CRLF pairs and inside 你好's UTF-8 bytes.
        assert_eq!(parse_in_chunks(STREAM.as_bytes(), &[3, 1, 7, 2, 5]), whole);
    }

    #[test]
    fn split_between_cr_and_lf_is_one_line_end() {
        let mut p = SseParser::new();
        assert!(p.push(b"data: x\r").unwrap().is_empty());
        assert!(p.push(b"\n").unwrap().is_empty());
        let ev = p.push(b"\r\n").unwrap();
        assert_eq!(datas(&ev), vec!["x"]);
    }

    #[test]
    fn eof_without_blank_line_still_dispatches() {
        let mut p = SseParser::new();
        assert!(p.push(b"data: [DONE]\n").unwrap().is_empty());
        assert_eq!(p.finish().unwrap().unwrap().data, "[DONE]");
        let mut p = SseParser::new();
        p.push(b"data: [DONE]").unwrap();
        assert_eq!(p.finish().unwrap().unwrap().data, "[DONE]");
        assert_eq!(SseParser::new().finish().unwrap(), None);
    }

    #[test]
    fn empty_data_field_is_an_event_and_comment_only_is_not() {
        let mut p = SseParser::new();
        let ev = p.push(b": ping\n\ndata\n\n").unwrap();
        assert_eq!(datas(&ev), vec![""]);
    }

    #[test]
    fn oversized_line_and_bad_utf8_are_errors() {
        let mut p = SseParser::new();
        let big = vec![b'a'; MAX_LINE + 1];
        assert_eq!(p.push(&big), Err(SseError::LineTooLong));
        let mut p = SseParser::new();
        assert_eq!(p.push(b"data: \xff\xfe\n"), Err(SseError::NotUtf8));
    }
}
