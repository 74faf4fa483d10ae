//! Sound files that triggers mix into the avatar's voice (`sound_file = "sounds/ding.wav"`).
//!
//! Every file is read and decoded when the scenes are loaded (at start, on each reload and in
//! `check-config`), so a missing or broken file is reported before the show needs it, naming
//! the trigger, its file and line, and playing one costs no disk access or decoding at the
//! moment a gift lands. The audio is kept as the link's samples (48 kHz mono i16), at most
//! [`MAX_SOUND_SAMPLES`](avatar_link::sounds::MAX_SOUND_SAMPLES) long.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use avatar_link::sounds::MAX_SOUND_SAMPLES;
use avatar_link::SAMPLE_RATE;

use crate::speech::audio::{decode_wav, resample};
use crate::triggers::{Rule, Step};

/// The decoded sound files, by the name the triggers wrote.
#[derive(Debug, Clone, Default)]
pub struct SoundBank {
    clips: BTreeMap<String, Arc<[i16]>>,
}

impl SoundBank {
    /// Decodes every `sound_file` of `rules`, relative to `dir`. Errors read
    /// `file:line: trigger "name": …`, one per unusable file and step.
    pub fn load(dir: &Path, rules: &[Arc<Rule>]) -> Result<Self, Vec<String>> {
        let mut clips = BTreeMap::new();
        let mut errors = Vec::new();
        for rule in rules {
            for (step, line) in &rule.steps {
                let Step::VoiceSound { file, .. } = step else {
                    continue;
                };
                if clips.contains_key(file) {
                    continue;
                }
                match decode_file(&dir.join(file)) {
                    Ok(samples) => {
                        clips.insert(file.clone(), samples);
                    }
                    Err(why) => errors.push(format!(
                        "{}:{line}: trigger {:?}: sound_file {file:?}: {why}",
                        rule.file, rule.name
                    )),
                }
            }
        }
        if errors.is_empty() {
            Ok(Self { clips })
        } else {
            Err(errors)
        }
    }

    /// The samples of `file` (as a trigger wrote it).
    pub fn get(&self, file: &str) -> Option<Arc<[i16]>> {
        self.clips.get(file).cloned()
    }

    pub fn len(&self) -> usize {
        self.clips.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }
}

/// A WAV file as link samples.
fn decode_file(path: &Path) -> Result<Arc<[i16]>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (mono, rate) = decode_wav(&bytes).map_err(|e| e.to_string())?;
    let limit = MAX_SOUND_SAMPLES as u64 * u64::from(rate) / u64::from(SAMPLE_RATE);
    if mono.len() as u64 > limit {
        return Err(format!(
            "{:.1} s long; a voice sound may be {} s at most (play longer clips from a media source with `sound`)",
            mono.len() as f64 / f64::from(rate.max(1)),
            MAX_SOUND_SAMPLES / SAMPLE_RATE as usize
        ));
    }
    if mono.is_empty() {
        return Err("it has no audio".into());
    }
    let resampled = resample(&mono, rate, SAMPLE_RATE).map_err(|e| e.to_string())?;
    Ok(resampled
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
        .collect())
}

/// `samples` made `gain_db` louder or softer, saturating instead of wrapping.
pub fn with_gain(samples: &[i16], gain_db: f64) -> Vec<i16> {
    if gain_db == 0.0 {
        return samples.to_vec();
    }
    let gain = 10f64.powf(gain_db / 20.0);
    samples
        .iter()
        .map(|&s| (f64::from(s) * gain).clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triggers::TriggerSet;

    fn write_wav(path: &Path, rate: u32, channels: u16, secs: f64) {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..(secs * f64::from(rate)) as u32 {
            let v = ((f64::from(i) * 880.0 * std::f64::consts::TAU / f64::from(rate)).sin()
                * 10_000.0) as i16;
            for _ in 0..channels {
                w.write_sample(v).unwrap();
            }
        }
        w.finalize().unwrap();
    }

    fn rules(sound: &str) -> TriggerSet {
        let text = format!(
            "[[trigger]]\nname = \"ding\"\nwhen.follow = true\n[[trigger.do]]\nsound_file = {sound:?}\n"
        );
        TriggerSet::parse(&[("t.toml".into(), text)]).unwrap()
    }

    #[test]
    fn any_rate_and_channel_count_becomes_link_samples() {
        let dir = tempfile::tempdir().unwrap();
        write_wav(&dir.path().join("ding.wav"), 22_050, 2, 0.5);
        let bank = SoundBank::load(dir.path(), rules("ding.wav").rules()).unwrap();
        let clip = bank.get("ding.wav").unwrap();
        assert!((clip.len() as i64 - 24_000).abs() < 100, "{}", clip.len());
        let peak = clip.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((9_000..11_000).contains(&peak), "{peak}");
        assert_eq!(with_gain(&[10_000, -20_000], 6.0), vec![19_952, -32_768]);
    }

    #[test]
    fn a_missing_broken_or_too_long_file_names_the_trigger_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let err = SoundBank::load(dir.path(), rules("none.wav").rules()).unwrap_err();
        assert!(
            err[0].starts_with("t.toml:4: trigger \"ding\": sound_file \"none.wav\": cannot read"),
            "{err:?}"
        );
        std::fs::write(dir.path().join("bad.wav"), b"RIFF nonsense").unwrap();
        let err = SoundBank::load(dir.path(), rules("bad.wav").rules()).unwrap_err();
        assert!(err[0].contains("not a WAV file"), "{err:?}");
        write_wav(&dir.path().join("long.wav"), 8_000, 1, 31.0);
        let err = SoundBank::load(dir.path(), rules("long.wav").rules()).unwrap_err();
        assert!(err[0].contains("31.0 s long"), "{err:?}");
    }
}
