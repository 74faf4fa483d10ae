//! The Edge read-aloud WebSocket messages (the Speech SDK's framing, as Edge uses it).
//!
//! Client → server, two text messages per utterance:
//! * `speech.config`: headers `X-Timestamp`, `Content-Type: application/json; charset=utf-8`,
//!   `Path: speech.config`, then JSON naming the output format;
//! * `ssml`: headers `X-RequestId`, `Content-Type: application/ssml+xml`, `X-Timestamp` (with a
//!   stray `Z`, as Edge sends it), `Path: ssml`, then the SSML document.
//!
//! Server → client: text messages (headers, blank line, body) with `Path` `turn.start`,
//! `response`, `audio.metadata`, `turn.end`; binary messages whose first two bytes are the
//! big-endian length of a header block (`Path: audio`, `Content-Type: audio/mpeg`) followed by
//! audio bytes. A last binary message with `Path: audio`, no `Content-Type` and no data marks
//! the end of the audio.

/// The only output format the endpoint serves to Edge clients (it refuses PCM/RIFF formats and
/// answers nothing for the rest), so the engine decodes MP3.
pub const OUTPUT_FORMAT: &str = "audio-24khz-48kbitrate-mono-mp3";
/// WebSocket message size the service accepts; SSML beyond it is refused.
pub const MAX_MESSAGE_BYTES: usize = 65_536;

/// Edge's own long voice name: `zh-CN-XiaoxiaoNeural` →
/// `Microsoft Server Speech Text to Speech Voice (zh-CN, XiaoxiaoNeural)`; a region with a
/// dialect part (`zh-CN-liaoning-XiaobeiNeural`) moves it into the locale. Long names pass
/// through; anything else is `None`.
pub fn long_voice_name(voice: &str) -> Option<String> {
    const PREFIX: &str = "Microsoft Server Speech Text to Speech Voice (";
    // The name goes into an SSML attribute: nothing that could end it.
    if !voice
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " -(),".contains(c))
    {
        return None;
    }
    if let Some(inner) = voice.strip_prefix(PREFIX) {
        let ok = inner.ends_with(')') && inner.contains(',');
        return ok.then(|| voice.to_string());
    }
    let mut parts = voice.splitn(3, '-');
    let (lang, region, name) = (parts.next()?, parts.next()?, parts.next()?);
    let lang_ok = lang.len() >= 2 && lang.chars().all(|c| c.is_ascii_lowercase());
    let region_ok = region.len() >= 2 && region.chars().all(|c| c.is_ascii_uppercase());
    if !lang_ok || !region_ok || !name.ends_with("Neural") || name.len() <= "Neural".len() {
        return None;
    }
    let (region, name) = match name.split_once('-') {
        Some((dialect, name)) => (format!("{region}-{dialect}"), name),
        None => (region.to_string(), name),
    };
    Some(format!("{PREFIX}{lang}-{region}, {name})"))
}

/// SSML relative rate: 1.25 → `+25%`.
pub fn rate_attr(rate: f32) -> String {
    let rate = if rate.is_finite() {
        rate.clamp(0.5, 2.0)
    } else {
        1.0
    };
    format!("{:+}%", ((rate - 1.0) * 100.0).round() as i32)
}

/// SSML relative pitch in Hz (the only unit Edge's own client sends): semitones around
/// `base_hz`, the voice's typical pitch.
pub fn pitch_attr(semitones: f32, base_hz: f32) -> String {
    let st = if semitones.is_finite() {
        semitones.clamp(-12.0, 12.0)
    } else {
        0.0
    };
    let hz = base_hz * (2f32.powf(st / 12.0) - 1.0);
    format!("{:+}Hz", hz.round() as i32)
}

/// Text as SSML element content: control characters the service chokes on become spaces
/// (vertical tab, form feed…), and markup characters are escaped so viewer text can never
/// become SSML.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The SSML document for one utterance; `escaped_text` must come from [`escape_text`].
pub fn ssml(long_voice: &str, rate: &str, pitch: &str, volume: &str, escaped_text: &str) -> String {
    format!(
        "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' xml:lang='en-US'>\
         <voice name='{long_voice}'><prosody pitch='{pitch}' rate='{rate}' volume='{volume}'>\
         {escaped_text}</prosody></voice></speak>"
    )
}

/// The `speech.config` message.
pub fn speech_config_message(timestamp: &str) -> String {
    format!(
        "X-Timestamp:{timestamp}\r\nContent-Type:application/json; charset=utf-8\r\n\
         Path:speech.config\r\n\r\n\
         {{\"context\":{{\"synthesis\":{{\"audio\":{{\"metadataoptions\":{{\
         \"sentenceBoundaryEnabled\":\"false\",\"wordBoundaryEnabled\":\"true\"}},\
         \"outputFormat\":\"{OUTPUT_FORMAT}\"}}}}}}}}\r\n"
    )
}

/// The `ssml` message.
pub fn ssml_message(request_id: &str, timestamp: &str, ssml: &str) -> String {
    format!(
        "X-RequestId:{request_id}\r\nContent-Type:application/ssml+xml\r\n\
         X-Timestamp:{timestamp}Z\r\nPath:ssml\r\n\r\n{ssml}"
    )
}

/// Value of header `name` in a `Name:value\r\n…` block.
fn header<'a>(block: &'a str, name: &str) -> Option<&'a str> {
    block.split("\r\n").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The `Path` of a text message (headers, blank line, body).
pub fn text_path(message: &str) -> Option<&str> {
    let headers = message.split("\r\n\r\n").next()?;
    header(headers, "Path")
}

/// A binary message, split.
#[derive(Debug, PartialEq, Eq)]
pub struct BinaryFrame<'a> {
    pub path: Option<String>,
    pub content_type: Option<String>,
    pub data: &'a [u8],
}

/// Splits a binary message: 2-byte big-endian header length, header block, audio bytes.
pub fn parse_binary(message: &[u8]) -> Result<BinaryFrame<'_>, String> {
    if message.len() < 2 {
        return Err("binary message without its header length".into());
    }
    let header_len = u16::from_be_bytes([message[0], message[1]]) as usize;
    if 2 + header_len > message.len() {
        return Err(format!(
            "binary header of {header_len} bytes in a {}-byte message",
            message.len()
        ));
    }
    let block = std::str::from_utf8(&message[2..2 + header_len])
        .map_err(|_| "binary message headers are not UTF-8".to_string())?;
    Ok(BinaryFrame {
        path: header(block, "Path").map(str::to_string),
        content_type: header(block, "Content-Type").map(str::to_string),
        data: &message[2 + header_len..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_names_take_edges_long_form() {
        assert_eq!(
            long_voice_name("zh-CN-XiaoxiaoNeural").unwrap(),
            "Microsoft Server Speech Text to Speech Voice (zh-CN, XiaoxiaoNeural)"
        );
        assert_eq!(
            long_voice_name("zh-CN-liaoning-XiaobeiNeural").unwrap(),
            "Microsoft Server Speech Text to Speech Voice (zh-CN-liaoning, XiaobeiNeural)"
        );
        assert_eq!(
            long_voice_name("fil-PH-AngeloNeural").unwrap(),
            "Microsoft Server Speech Text to Speech Voice (fil-PH, AngeloNeural)"
        );
        let long = "Microsoft Server Speech Text to Speech Voice (en-US, AriaNeural)";
        assert_eq!(long_voice_name(long).unwrap(), long);
        assert_eq!(long_voice_name("Xiaoxiao"), None);
        assert_eq!(long_voice_name("zh-CN-Neural"), None);
        assert_eq!(long_voice_name("zh-CN-X' onload='Neural"), None);
    }

    #[test]
    fn prosody_attributes() {
        assert_eq!(rate_attr(1.0), "+0%");
        assert_eq!(rate_attr(1.25), "+25%");
        assert_eq!(rate_attr(0.8), "-20%");
        assert_eq!(rate_attr(f32::NAN), "+0%");
        assert_eq!(pitch_attr(0.0, 200.0), "+0Hz");
        assert_eq!(pitch_attr(12.0, 200.0), "+200Hz");
        assert_eq!(pitch_attr(-12.0, 200.0), "-100Hz");
        assert_eq!(pitch_attr(2.0, 200.0), "+24Hz");
    }

    #[test]
    fn text_cannot_become_markup() {
        let escaped = escape_text("<voice name='x'>&\u{b}哈\"");
        assert_eq!(escaped, "&lt;voice name=&apos;x&apos;&gt;&amp; 哈&quot;");
        let doc = ssml("V", "+0%", "+0Hz", "+0%", &escaped);
        assert_eq!(doc.matches('<').count(), 6, "{doc}");
    }

    #[test]
    fn messages_have_the_edge_framing() {
        let config = speech_config_message("T");
        assert!(config.starts_with("X-Timestamp:T\r\nContent-Type:application/json; charset=utf-8\r\nPath:speech.config\r\n\r\n{"));
        let body = config.split("\r\n\r\n").nth(1).unwrap();
        let json: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
        assert_eq!(
            json["context"]["synthesis"]["audio"]["outputFormat"],
            OUTPUT_FORMAT
        );
        let msg = ssml_message("abc", "T", "<speak/>");
        assert_eq!(
            msg,
            "X-RequestId:abc\r\nContent-Type:application/ssml+xml\r\nX-Timestamp:TZ\r\nPath:ssml\r\n\r\n<speak/>"
        );
        assert_eq!(text_path(&msg), Some("ssml"));
        assert_eq!(
            text_path("X-RequestId:1\r\nPath:turn.end\r\n\r\n{}"),
            Some("turn.end")
        );
    }

    #[test]
    fn binary_frames_split() {
        let headers = b"X-RequestId:1\r\nContent-Type:audio/mpeg\r\nPath:audio\r\n";
        let mut msg = (headers.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(headers);
        msg.extend_from_slice(&[0xFF, 0xF3, 1, 2]);
        let frame = parse_binary(&msg).unwrap();
        assert_eq!(frame.path.as_deref(), Some("audio"));
        assert_eq!(frame.content_type.as_deref(), Some("audio/mpeg"));
        assert_eq!(frame.data, &[0xFF, 0xF3, 1, 2]);
        assert!(parse_binary(&[0]).is_err());
        assert!(parse_binary(&[0, 200, b'P']).is_err());
    }
}
