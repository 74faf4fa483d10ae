//! A cue: one thing for the show to do — a line to say, with the avatar's reaction and any
//! OBS effect that goes with it. Rewards and scripts produce cues; the scheduler orders them.

/// What a cue is for (kept in the airtime log and used for OBS side effects).
#[derive(Debug, Clone, PartialEq)]
pub enum CueKind {
    /// Thanks for one gift batch; `msg_ids` are the ledger rows it covers.
    GiftThanks {
        platform: String,
        msg_ids: Vec<String>,
        tier: u8,
        caption: String,
    },
    Reply,
    /// A neutral deflection for a comment the safety screen flags as political: aired as is,
    /// never handed to the LLM.
    Deflect,
    Follow,
    Share,
    Welcome,
    Idle,
    /// Operator or system announcement.
    Notice,
}

impl CueKind {
    pub fn name(&self) -> &'static str {
        match self {
            CueKind::GiftThanks { .. } => "gift",
            CueKind::Reply => "reply",
            CueKind::Deflect => "deflect",
            CueKind::Follow => "follow",
            CueKind::Share => "share",
            CueKind::Welcome => "welcome",
            CueKind::Idle => "idle",
            CueKind::Notice => "notice",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub kind: CueKind,
    pub text: String,
    pub priority: i32,
    /// Paid cues are never dropped.
    pub paid: bool,
    /// How long an unpaid cue stays worth saying.
    pub ttl_ms: Option<u64>,
    pub expression: Option<String>,
    pub motion: Option<String>,
    /// Switch OBS to the celebration scene for this long (seconds) when the gift arrives.
    pub celebrate_secs: Option<f64>,
    /// How the line is spoken (from the reply's emotion).
    pub prosody: Prosody,
}

/// How to say it. Derived from the reply's emotion (seed 002: excited is faster and higher,
/// shy softer and slower); engines map it onto their own controls (SSML prosody, speed_factor,
/// espeak's words per minute) and ignore what they cannot express.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prosody {
    /// Speaking rate relative to the voice's normal rate (1.0 = normal, 1.2 = 20 % faster).
    pub rate: f32,
    /// Pitch shift in semitones (0 = normal).
    pub pitch_semitones: f32,
}

impl Default for Prosody {
    fn default() -> Self {
        Self {
            rate: 1.0,
            pitch_semitones: 0.0,
        }
    }
}
