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

/// What made a line: the audit trail stored with every line's fate (aired, skipped, merged…),
/// so an operator can answer "why did the avatar say that?" from the ledger alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cause {
    /// A viewer's event (a comment, follow, entry, share) that the line answers.
    Event {
        platform: String,
        kind: String,
        msg_id: String,
    },
    /// Gifts recorded in the ledger (one batch, or a storm's merged batches).
    Gifts {
        platform: String,
        msg_ids: Vec<String>,
    },
    /// A streamer's trigger rule.
    Trigger { name: String },
    /// The seller's rundown (a segment of `product`'s time, or a product answer's schedule).
    Rundown { product: String },
    /// Idle talk in a quiet room.
    Idle,
    /// An operator typed or ordered it.
    Operator { who: String },
    /// Gifts of an earlier run that were never thanked.
    Resumed {
        platform: String,
        msg_ids: Vec<String>,
    },
    /// Nothing outside the show (a notice, a test line).
    #[default]
    System,
}

impl Cause {
    /// The cause of a line answering `event`.
    pub fn of_event(event: &crate::event::LiveEvent) -> Self {
        use crate::event::EventKind;
        Cause::Event {
            platform: event.platform.clone(),
            kind: match &event.kind {
                EventKind::Gift(_) => "gift",
                EventKind::Comment { .. } => "comment",
                EventKind::Like { .. } => "like",
                EventKind::Follow => "follow",
                EventKind::Enter => "enter",
                EventKind::Share => "share",
                EventKind::ViewerStats { .. } => "stats",
            }
            .to_string(),
            msg_id: event.msg_id.clone(),
        }
    }

    /// Its kind, as stored (`event`, `gifts`, `trigger`, `rundown`, `idle`, `operator`,
    /// `resumed`, `system`).
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::Event { .. } => "event",
            Cause::Gifts { .. } => "gifts",
            Cause::Trigger { .. } => "trigger",
            Cause::Rundown { .. } => "rundown",
            Cause::Idle => "idle",
            Cause::Operator { .. } => "operator",
            Cause::Resumed { .. } => "resumed",
            Cause::System => "system",
        }
    }

    /// The platform it came from, when it came from one.
    pub fn platform(&self) -> Option<&str> {
        match self {
            Cause::Event { platform, .. }
            | Cause::Gifts { platform, .. }
            | Cause::Resumed { platform, .. } => Some(platform),
            _ => None,
        }
    }

    /// What identifies it, as stored: `kind:msg_id` of an event, the gifts' msg ids joined
    /// by commas, the trigger's or product's name, the operator's name; empty otherwise.
    pub fn ids(&self) -> String {
        match self {
            Cause::Event { kind, msg_id, .. } => format!("{kind}:{msg_id}"),
            Cause::Gifts { msg_ids, .. } | Cause::Resumed { msg_ids, .. } => msg_ids.join(","),
            Cause::Trigger { name } => name.clone(),
            Cause::Rundown { product } => product.clone(),
            Cause::Operator { who } => who.clone(),
            Cause::Idle | Cause::System => String::new(),
        }
    }
}

/// How a line's life ended (or one step of it, for a line aired more than once), as the
/// ledger's line log stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFate {
    /// An utterance played to its end.
    Aired,
    /// An utterance was cut by a more urgent line.
    Interrupted,
    /// The line was done with but not heard (voice failure, no end report, nothing played).
    NotHeard,
    /// An operator skipped it.
    Skipped,
    /// An operator vetoed it before it aired.
    Vetoed,
    /// It went into a gift storm's merged line.
    Merged,
    /// Its turn came after its expiry.
    Expired,
    /// The timeline let it go (capacity, its class's cap, coalesced by a newer line).
    Dropped,
}

impl LineFate {
    pub const ALL: [LineFate; 8] = [
        LineFate::Aired,
        LineFate::Interrupted,
        LineFate::NotHeard,
        LineFate::Skipped,
        LineFate::Vetoed,
        LineFate::Merged,
        LineFate::Expired,
        LineFate::Dropped,
    ];

    /// As stored.
    pub fn name(self) -> &'static str {
        match self {
            LineFate::Aired => "aired",
            LineFate::Interrupted => "interrupted",
            LineFate::NotHeard => "not_heard",
            LineFate::Skipped => "skipped",
            LineFate::Vetoed => "vetoed",
            LineFate::Merged => "merged",
            LineFate::Expired => "expired",
            LineFate::Dropped => "dropped",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
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
    /// Why the line exists (kept with its fate in the ledger's line log).
    pub cause: Cause,
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
