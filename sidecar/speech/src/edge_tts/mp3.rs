//! MP3 → mono f32 with symphonia (the only audio format the Edge endpoint serves).

use std::io::Cursor;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as DecodeError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::{RawAudio, SpeechError};

fn bad(detail: impl std::fmt::Display) -> SpeechError {
    SpeechError::BadAudio(format!("MP3: {detail}"))
}

/// Decodes a whole MP3 stream. A few corrupt frames are skipped (the decoder resynchronises);
/// a stream that is mostly corrupt, or decodes to nothing, is [`SpeechError::BadAudio`].
pub fn decode_mp3(bytes: Vec<u8>) -> Result<RawAudio, SpeechError> {
    if bytes.is_empty() {
        return Err(bad("no data"));
    }
    let stream = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3").mime_type("audio/mpeg");
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| bad(format!("not an MP3 stream ({e})")))?;
    let mut reader = probed.format;
    let track = reader
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| bad("no audio track"))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(bad)?;
    let (mut samples, mut rate) = (Vec::new(), 0u32);
    let (mut good, mut corrupt) = (0usize, 0usize);
    loop {
        let packet = match reader.next_packet() {
            Ok(p) => p,
            Err(DecodeError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(DecodeError::ResetRequired) => break,
            Err(e) => return Err(bad(e)),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(DecodeError::DecodeError(_)) | Err(DecodeError::IoError(_)) => {
                corrupt += 1;
                continue;
            }
            Err(e) => return Err(bad(e)),
        };
        let spec = *decoded.spec();
        if rate != 0 && spec.rate != rate {
            return Err(bad(format!("sample rate changes {rate} → {}", spec.rate)));
        }
        rate = spec.rate;
        let channels = spec.channels.count().max(1);
        let mut buffer = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buffer.copy_interleaved_ref(decoded);
        samples.extend(
            buffer
                .samples()
                .chunks_exact(channels)
                .map(|f| f.iter().sum::<f32>() / channels as f32),
        );
        good += 1;
    }
    if good == 0 || samples.is_empty() {
        return Err(bad("no decodable frames"));
    }
    if corrupt > good {
        return Err(bad(format!("{corrupt} corrupt frames, {good} good")));
    }
    if samples.iter().any(|s| !s.is_finite()) {
        return Err(bad("NaN samples"));
    }
    Ok(RawAudio { samples, rate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_bad_audio() {
        assert!(matches!(
            decode_mp3(Vec::new()),
            Err(SpeechError::BadAudio(_))
        ));
        assert!(matches!(
            decode_mp3(b"{\"not\":\"mp3\"}".repeat(100)),
            Err(SpeechError::BadAudio(_))
        ));
    }

    /// A real MP3 made by ffmpeg (installed on the machine, as in CI) from espeak-ng speech.
    #[test]
    fn real_mp3_decodes() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut espeak = Command::new("espeak-ng")
            .args(["-v", "cmn-latn-pinyin", "--stdout"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("espeak-ng");
        espeak
            .stdin
            .take()
            .unwrap()
            .write_all("大家好，欢迎来到直播间".as_bytes())
            .unwrap();
        let wav = espeak.wait_with_output().unwrap().stdout;
        let mut ffmpeg = Command::new("ffmpeg")
            .args([
                "-loglevel",
                "error",
                "-f",
                "wav",
                "-i",
                "-",
                "-ar",
                "24000",
                "-ac",
                "1",
            ])
            .args(["-b:a", "48k", "-f", "mp3", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("ffmpeg");
        let mut stdin = ffmpeg.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&wav));
        let mp3 = ffmpeg.wait_with_output().unwrap().stdout;
        writer.join().unwrap().unwrap();
        let audio = decode_mp3(mp3).unwrap();
        assert_eq!(audio.rate, 24_000);
        assert!(audio.duration_ms() > 1_000, "{} ms", audio.duration_ms());
        let rms = crate::audio::rms_dbfs(&audio.samples);
        assert!(rms > -35.0, "{rms} dBFS");
    }
}
