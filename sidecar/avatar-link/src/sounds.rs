//! Sound effects mixed into the avatar's voice: a trigger's `sound_file` ("ding" on a gift)
//! plays *over* the speech, through the same audio output, without waiting for the line to
//! end and without moving the mouth (the mouth envelope reads the voice before the mix).
//!
//! Rules, shared by every output that plays audio:
//! * a sound starts with its first chunk (no announcement) and several play at once, up to
//!   [`MAX_SOUNDS`]; one more is refused rather than cutting one that plays;
//! * a sound ends when its `last` chunk has arrived and its audio is drained, or when it has
//!   waited [`STARVATION_SAMPLES`] for audio that never came (a link that died mid-sound);
//! * its audio is capped ([`MAX_SOUND_SAMPLES`]); the excess is dropped and reported once;
//! * finished ids are remembered ([`RETIRED_MEMORY`]), so a late chunk cannot restart a sound;
//! * the mix is clamped to full scale, so a loud sound over loud speech clips instead of
//!   wrapping around.

use std::collections::VecDeque;

use crate::protocol::SoundChunk;
use crate::SAMPLE_RATE;

/// Sounds playing at once.
pub const MAX_SOUNDS: usize = 8;
/// Longest sound: 30 s (a sound effect, not music; a media source is for longer clips).
pub const MAX_SOUND_SAMPLES: usize = 30 * SAMPLE_RATE as usize;
/// How long a sound may wait for its next chunk: 2 s.
pub const STARVATION_SAMPLES: usize = 2 * SAMPLE_RATE as usize;
/// Finished sound ids remembered per session.
pub const RETIRED_MEMORY: usize = 64;

/// Why a chunk was not (wholly) taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SoundRefused {
    #[error("sound {0}: {MAX_SOUNDS} sounds are already playing; this one is dropped")]
    TooMany(u64),
    #[error("sound {0} is longer than {secs} s; the rest is dropped", secs = MAX_SOUND_SAMPLES / SAMPLE_RATE as usize)]
    TooLong(u64),
}

#[derive(Debug)]
struct Sound {
    session: u64,
    id: u64,
    buffer: VecDeque<i16>,
    received: usize,
    sealed: bool,
    starved: usize,
    overflowed: bool,
}

/// The sounds playing now.
#[derive(Debug, Default)]
pub struct SoundMixer {
    sounds: Vec<Sound>,
    session: u64,
    retired: VecDeque<(u64, u64)>,
}

impl SoundMixer {
    /// Takes a chunk: starts its sound or adds to it. Chunks of finished sounds are ignored.
    pub fn push(&mut self, chunk: &SoundChunk) -> Result<(), SoundRefused> {
        let key = (self.session, chunk.sound);
        if self.retired.contains(&key) {
            return Ok(());
        }
        let index = match self.sounds.iter().position(|s| (s.session, s.id) == key) {
            Some(index) => index,
            None if self.sounds.len() >= MAX_SOUNDS => {
                self.retire(key);
                return Err(SoundRefused::TooMany(chunk.sound));
            }
            None => {
                self.sounds.push(Sound {
                    session: self.session,
                    id: chunk.sound,
                    buffer: VecDeque::new(),
                    received: 0,
                    sealed: false,
                    starved: 0,
                    overflowed: false,
                });
                self.sounds.len() - 1
            }
        };
        let sound = &mut self.sounds[index];
        let room = MAX_SOUND_SAMPLES.saturating_sub(sound.received);
        let taken = chunk.samples.len().min(room);
        sound.buffer.extend(&chunk.samples[..taken]);
        sound.received += taken;
        sound.sealed |= chunk.last;
        if taken < chunk.samples.len() && !sound.overflowed {
            sound.overflowed = true;
            return Err(SoundRefused::TooLong(chunk.sound));
        }
        Ok(())
    }

    /// Adds the next `out.len()` samples of every sound to `out` (the voice's block), clamped
    /// to full scale, and ends the sounds that are done. Returns how many sounds were audible.
    pub fn mix_into(&mut self, out: &mut [f32]) -> usize {
        if self.sounds.is_empty() {
            return 0;
        }
        let mut audible = 0;
        for sound in &mut self.sounds {
            let n = out.len().min(sound.buffer.len());
            if n > 0 {
                audible += 1;
            }
            for (o, s) in out.iter_mut().zip(sound.buffer.drain(..n)) {
                *o += f32::from(s) / 32768.0;
            }
            if n < out.len() && !sound.sealed {
                sound.starved += out.len() - n;
            } else if n > 0 {
                sound.starved = 0;
            }
        }
        if audible > 0 {
            for o in out.iter_mut() {
                *o = o.clamp(-1.0, 1.0);
            }
        }
        let done: Vec<(u64, u64)> = self
            .sounds
            .iter()
            .filter(|s| s.buffer.is_empty() && (s.sealed || s.starved >= STARVATION_SAMPLES))
            .map(|s| (s.session, s.id))
            .collect();
        if !done.is_empty() {
            self.sounds.retain(|s| !done.contains(&(s.session, s.id)));
            for key in done {
                self.retire(key);
            }
        }
        audible
    }

    /// The sidecar connection ended: what has arrived still plays; ids start again.
    pub fn new_session(&mut self) {
        for sound in &mut self.sounds {
            sound.sealed = true;
        }
        self.session += 1;
    }

    /// Sounds playing or waiting for audio.
    pub fn active(&self) -> usize {
        self.sounds.len()
    }

    fn retire(&mut self, key: (u64, u64)) {
        if self.retired.len() >= RETIRED_MEMORY {
            self.retired.pop_front();
        }
        self.retired.push_back(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playout::BLOCK_SAMPLES;

    fn chunk(sound: u64, value: i16, len: usize, last: bool) -> SoundChunk {
        SoundChunk {
            sound,
            last,
            samples: vec![value; len],
        }
    }

    #[test]
    fn a_sound_adds_to_the_voice_and_ends_when_drained() {
        let mut mixer = SoundMixer::default();
        mixer.push(&chunk(1, 8192, 600, true)).unwrap();
        let mut block = vec![0.25; BLOCK_SAMPLES];
        assert_eq!(mixer.mix_into(&mut block), 1);
        assert!(block.iter().all(|&s| (s - 0.5).abs() < 1e-6));
        let mut block = vec![0.0; BLOCK_SAMPLES];
        assert_eq!(mixer.mix_into(&mut block), 1);
        assert!((block[119] - 0.25).abs() < 1e-6 && block[120] == 0.0);
        assert_eq!(mixer.active(), 0, "drained and sealed");
        // A late chunk of the finished sound does not restart it.
        mixer.push(&chunk(1, 8192, 480, true)).unwrap();
        assert_eq!(mixer.active(), 0);
    }

    #[test]
    fn sounds_overlap_and_the_mix_clips_instead_of_wrapping() {
        let mut mixer = SoundMixer::default();
        mixer.push(&chunk(1, 30000, 480, true)).unwrap();
        mixer.push(&chunk(2, 30000, 480, true)).unwrap();
        let mut block = vec![0.5; BLOCK_SAMPLES];
        assert_eq!(mixer.mix_into(&mut block), 2);
        assert!(block.iter().all(|&s| s == 1.0));
    }

    #[test]
    fn too_many_or_too_long_sounds_are_refused_and_say_so() {
        let mut mixer = SoundMixer::default();
        for id in 0..MAX_SOUNDS as u64 {
            mixer.push(&chunk(id, 1, 10, false)).unwrap();
        }
        assert_eq!(
            mixer.push(&chunk(99, 1, 10, false)),
            Err(SoundRefused::TooMany(99))
        );
        // Refused for good: its later chunks are ignored instead of starting it halfway.
        assert_eq!(mixer.push(&chunk(99, 1, 10, true)), Ok(()));
        assert_eq!(mixer.active(), MAX_SOUNDS);
        let mut long = SoundMixer::default();
        assert_eq!(
            long.push(&chunk(1, 1, MAX_SOUND_SAMPLES + 1, false)),
            Err(SoundRefused::TooLong(1))
        );
        assert_eq!(long.push(&chunk(1, 1, 10, true)), Ok(()), "reported once");
    }

    #[test]
    fn a_sound_whose_audio_stops_coming_is_given_up() {
        let mut mixer = SoundMixer::default();
        mixer.push(&chunk(1, 100, 480, false)).unwrap();
        let mut block = vec![0.0; BLOCK_SAMPLES];
        for _ in 0..=STARVATION_SAMPLES / BLOCK_SAMPLES {
            mixer.mix_into(&mut block);
        }
        assert_eq!(mixer.active(), 0);
    }

    #[test]
    fn a_new_session_lets_arrived_audio_finish_and_reuses_ids() {
        let mut mixer = SoundMixer::default();
        mixer.push(&chunk(1, 100, 960, false)).unwrap();
        mixer.new_session();
        mixer.push(&chunk(1, 200, 480, true)).unwrap();
        assert_eq!(mixer.active(), 2, "the old sound 1 and the new sound 1");
        let mut block = vec![0.0; BLOCK_SAMPLES];
        mixer.mix_into(&mut block);
        assert!((block[0] - 300.0 / 32768.0).abs() < 1e-6);
        mixer.mix_into(&mut block);
        assert_eq!(mixer.active(), 0);
    }
}
