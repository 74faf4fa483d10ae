//! A cue: one thing for the show to do — a line to say, and the [`Effect`]s that go with it
//! (the avatar's expression and motion, OBS captions and scenes). Rewards, the script and LLM
//! replies produce cues; the scheduler orders them; the show hands each effect to its outputs
//! (the avatar link, OBS…) at the moment the effect names ([`When`]), and every output takes
//! the effects it knows. A new kind of effect is one [`Act`] variant plus the output that
//! applies it.

/// What a cue is for (kept in the airtime log and used for OBS side effects).
#[derive(Debug, Clone, PartialEq)]
pub enum CueKind {
    /// Thanks for one gift batch, or for several merged in a storm (`rewards::storm`);
    /// `msg_ids` are the ledger rows it covers, all of one platform; `viewers` the givers'
    /// screened names, most urgent first (what a merged line reads out).
    GiftThanks {
        platform: String,
        msg_ids: Vec<String>,
        tier: u8,
        viewers: Vec<String>,
        /// It reads out a paid message (a Super Chat): said as written, never merged into a
        /// storm's line.
        reads_message: bool,
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
    /// A line of a streamer's trigger; `firing` identifies the run of its `do` sequence,
    /// which is told when the line ends.
    Triggered {
        trigger: String,
        firing: u64,
    },
    /// A line of the seller's rundown (a segment of `product`'s time, or filler while it is on).
    Rundown {
        product: String,
    },
    /// An answer to a viewer's question about `product` (price, size, how to buy, stock…).
    ProductAnswer {
        product: String,
    },
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
            CueKind::Triggered { .. } => "trigger",
            CueKind::Rundown { .. } => "rundown",
            CueKind::ProductAnswer { .. } => "product_answer",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub kind: CueKind,
    pub text: String,
    /// The priority level (`scheduler::priority`): what the interruption rule compares.
    pub priority: i32,
    /// Order within the level, lower first (a bigger gift of the same tier comes a bit
    /// sooner); the interruption rule ignores it.
    pub rank: i32,
    /// Paid cues are never dropped.
    pub paid: bool,
    /// How long an unpaid cue stays worth saying.
    pub ttl_ms: Option<u64>,
    /// How the line is spoken (from the reply's emotion).
    pub prosody: Prosody,
    /// What else happens, and when.
    pub effects: Vec<Effect>,
}

impl Cue {
    /// The acts due at `when`, in order.
    pub fn acts(&self, when: When) -> impl Iterator<Item = &Act> {
        self.effects
            .iter()
            .filter(move |e| e.at == when)
            .map(|e| &e.act)
    }

    /// The expression to wear while the line is spoken (the avatar shows it with the words).
    pub fn expression(&self) -> Option<&str> {
        self.acts(When::OnAir).find_map(|act| match act {
            Act::Expression(name) => Some(name.as_str()),
            _ => None,
        })
    }
}

/// One thing a cue makes happen besides its words.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub at: When,
    pub act: Act,
}

impl Effect {
    pub fn new(at: When, act: Act) -> Self {
        Self { at, act }
    }
}

/// When an effect happens, relative to its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// As soon as the cue exists (a gift's caption shows at once, whatever is playing).
    Offered,
    /// When the line starts to air.
    OnAir,
    /// When a line that must be said could not be voiced at all (every attempt failed): a gift
    /// is then thanked in text instead.
    NotVoiced,
}

/// What an effect does. Outputs apply the acts they know and ignore the others.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    /// The avatar's expression while the line is spoken (`happy`, `surprised`…).
    Expression(String),
    /// An avatar motion as the line starts (`nod`, `bounce`…).
    Motion(String),
    /// The scene's latest-gift text source shows this.
    LatestGiftText(String),
    /// OBS switches to the celebration scene for `secs` (extended by further celebrations),
    /// with `caption` in its caption source.
    Celebrate {
        caption: String,
        secs: f64,
    },
    /// The avatar wears an expression for `secs`, whatever it is saying.
    ShowExpression {
        name: String,
        secs: f64,
    },
    /// OBS shows `scene` on program until `secs` have passed (or, without `secs`, until a
    /// [`Act::ReleaseScene`] with the same `hold`), then returns to the scene it came from.
    HoldScene {
        scene: String,
        hold: u64,
        secs: Option<f64>,
    },
    ReleaseScene {
        hold: u64,
    },
    /// OBS switches to `scene` and stays (it becomes the scene holds return to).
    SwitchScene {
        scene: String,
    },
    /// Show or hide a source (in `scene`, or in every scene that has it) for `secs`, then
    /// undo it; for good without `secs`.
    SourceVisible {
        source: String,
        scene: Option<String>,
        visible: bool,
        secs: Option<f64>,
    },
    /// A text source shows `text`.
    SetText {
        source: String,
        text: String,
    },
    /// A media source plays from the start (sound effects, clips).
    RestartMedia {
        input: String,
    },
    /// The avatar mixes a sound file (a trigger's `sound_file`, as written) into its voice.
    VoiceSound {
        file: String,
        gain_db: f64,
    },
    /// Enable, disable or (`None`) toggle a source's filter.
    Filter {
        source: String,
        filter: String,
        enabled: Option<bool>,
    },
    /// Merge `settings` into an input's settings.
    InputSettings {
        input: String,
        settings: serde_json::Value,
    },
    /// Start or stop a push target (`None`: every one).
    Push {
        target: Option<String>,
        start: bool,
    },
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
