//! The avatar as an output: motions, expressions and voice sounds go to every connected avatar
//! (the OBS source, live2d-bridge) over the link. The expression a line is spoken with travels
//! with the line's `Say` (the avatar wears it while the words play), so it is not sent here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use avatar_link::{Command, SoundChunk};

use super::sounds::{with_gain, SoundBank};
use super::Output;
use crate::cue::Act;
use crate::link::LinkHub;

/// Samples per sound frame on the link: 100 ms, so a sound is a handful of frames.
const SOUND_FRAME_SAMPLES: usize = avatar_link::SAMPLE_RATE as usize / 10;

/// The decoded sound files the output plays from; the show swaps them on reload.
pub type SoundShelf = Arc<RwLock<SoundBank>>;

pub struct AvatarOutput {
    hub: LinkHub,
    sounds: SoundShelf,
    next_sound: AtomicU64,
}

impl AvatarOutput {
    pub fn new(hub: LinkHub, sounds: SoundShelf) -> Self {
        Self {
            hub,
            sounds,
            next_sound: AtomicU64::new(1),
        }
    }

    fn play(&self, file: &str, gain_db: f64) {
        let clip = self
            .sounds
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(file);
        let Some(clip) = clip else {
            // Only after a reload removed it while a sequence still ran.
            tracing::warn!(file, "voice sound not loaded; skipped");
            return;
        };
        let sound = self.next_sound.fetch_add(1, Ordering::Relaxed);
        let frames = clip.chunks(SOUND_FRAME_SAMPLES).count();
        // The gain is applied frame by frame, as each frame's samples are copied out anyway.
        for (i, part) in clip.chunks(SOUND_FRAME_SAMPLES).enumerate() {
            self.hub.send_sound(&SoundChunk {
                sound,
                last: i + 1 == frames,
                samples: with_gain(part, gain_db),
            });
        }
        tracing::debug!(file, sound, ms = clip.len() / 48, "voice sound sent");
    }
}

impl Output for AvatarOutput {
    fn name(&self) -> &'static str {
        "avatar"
    }

    fn apply(&self, act: &Act) {
        match act {
            Act::Motion(name) => self
                .hub
                .send_command(&Command::Motion { name: name.clone() }),
            Act::ShowExpression { name, secs } => self.hub.send_command(&Command::Expression {
                name: name.clone(),
                duration_ms: (secs.clamp(0.0, 3600.0) * 1000.0) as u32,
            }),
            Act::VoiceSound { file, gain_db } => self.play(file, *gain_db),
            _ => {}
        }
    }
}
