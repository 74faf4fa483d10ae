//! What the on-air unit talks to: the avatar ([`AvatarPort`]) and the voice ([`ClipMaker`]).
//! Production implements them with the link hub and [`VoiceClips`]; the unit's tests with
//! recorders.

use std::sync::Arc;

use avatar_link::{AudioChunk, Command};
use tokio::sync::mpsc;

use crate::cue::Cue;
use crate::link::LinkHub;
use crate::speech::voice::SpokenLine;
use crate::speech::{SpeechError, Voice};

/// The avatar as the unit sees it: commands (`Say`, `Stop`) and audio go out, never waited on.
pub trait AvatarPort: Send {
    fn command(&self, command: &Command);
    fn audio(&self, chunk: &AudioChunk);
    /// True when an output that plays audio on air (the OBS source) is connected.
    fn has_audio_clock(&self) -> bool;
}

impl AvatarPort for LinkHub {
    fn command(&self, command: &Command) {
        self.send_command(command);
    }
    fn audio(&self, chunk: &AudioChunk) {
        self.send_audio(chunk);
    }
    fn has_audio_clock(&self) -> bool {
        LinkHub::has_audio_clock(self)
    }
}

/// A clip made for a line (with its clauses, to resume it from one), or why there is none.
pub type ClipResult = Result<Arc<SpokenLine>, SpeechError>;

/// Makes clips off the unit's task; each comes back through [`super::OnAir::on_clip`].
pub trait ClipMaker: Send {
    /// Starts making the clip of line `line_id`. Must not block.
    fn request(&self, line_id: u64, cue: &Cue);
    /// The engine tried first (named when a clip fails).
    fn engine(&self) -> &str;
}

/// The show's voice as a [`ClipMaker`]: each line is synthesised on its own task and the
/// result sent to the channel the show reads.
pub struct VoiceClips {
    pub voice: Arc<Voice>,
    pub done: mpsc::UnboundedSender<(u64, ClipResult)>,
}

impl ClipMaker for VoiceClips {
    /// A panic inside synthesis (an engine bug, a decoder on bad data) counts as a failed clip
    /// instead of leaving the line waiting forever.
    fn request(&self, line_id: u64, cue: &Cue) {
        let voice = self.voice.clone();
        let tx = self.done.clone();
        let (text, prosody) = (cue.text.clone(), cue.prosody);
        tokio::spawn(async move {
            let work =
                tokio::spawn(async move { voice.speak_line(&text, prosody).await.map(Arc::new) });
            let result = work.await.unwrap_or_else(|e| {
                Err(SpeechError::Rejected(format!(
                    "synthesis task ended abnormally: {e}"
                )))
            });
            let _ = tx.send((line_id, result));
        });
    }

    fn engine(&self) -> &str {
        self.voice.primary_engine()
    }
}
