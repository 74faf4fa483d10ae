//! What kind of line a line is, what the timeline may do to the waiting unpaid lines of each
//! kind (`[scheduler.caps]`), and the drop counters by (class, reason).
//!
//! Caps are per class so that one chatty kind cannot crowd out the others: three hundred
//! entrants a minute leave one welcome waiting (the newest), not twelve, and the replies to
//! comments keep their room. Paid lines have a class too (for the counters) but no cap: they
//! are never dropped.

use serde::Deserialize;

use crate::cue::CueKind;

/// The kind of a line, set by the caller from what the line is for (`From<&CueKind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineClass {
    /// A gift thank-you (paid).
    Gift,
    /// A reply to a comment (template, LLM sentence or deflection): the class that ages.
    Reply,
    /// Thanks for likes.
    Like,
    Welcome,
    Follow,
    Share,
    /// Idle talk and ambience when the room is quiet.
    Idle,
    /// Operator and system notices.
    Notice,
    /// Anything else (lines made without a class).
    Other,
}

impl LineClass {
    pub const COUNT: usize = 9;
    pub const ALL: [LineClass; Self::COUNT] = [
        LineClass::Gift,
        LineClass::Reply,
        LineClass::Like,
        LineClass::Welcome,
        LineClass::Follow,
        LineClass::Share,
        LineClass::Idle,
        LineClass::Notice,
        LineClass::Other,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            LineClass::Gift => "gift",
            LineClass::Reply => "reply",
            LineClass::Like => "like",
            LineClass::Welcome => "welcome",
            LineClass::Follow => "follow",
            LineClass::Share => "share",
            LineClass::Idle => "idle",
            LineClass::Notice => "notice",
            LineClass::Other => "other",
        }
    }
}

impl From<&CueKind> for LineClass {
    fn from(kind: &CueKind) -> Self {
        match kind {
            CueKind::GiftThanks { .. } => LineClass::Gift,
            // A product answer is a reply to a comment: it ages like one.
            CueKind::Reply | CueKind::Deflect | CueKind::ProductAnswer { .. } => LineClass::Reply,
            CueKind::Follow => LineClass::Follow,
            CueKind::Share => LineClass::Share,
            CueKind::Welcome => LineClass::Welcome,
            CueKind::Idle => LineClass::Idle,
            CueKind::Notice => LineClass::Notice,
            // The streamer's own lines and the seller's rundown: their caps are the rules'
            // cooldowns and the rundown's pacing, not the timeline's.
            CueKind::Triggered { .. } | CueKind::Rundown { .. } => LineClass::Other,
        }
    }
}

/// Why an unpaid line left the queue without airing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// More than `max_queued_unpaid` unpaid lines waited: the least urgent went.
    Capacity,
    /// Its class was at its cap (`drop_oldest`): the oldest of the class went.
    ClassCap,
    /// A newer line of its class took its place (`coalesce`).
    Coalesced,
    /// Its turn came after its expiry (`reply_ttl_secs` and the like).
    Expired,
}

impl DropReason {
    pub const COUNT: usize = 4;
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Capacity,
        DropReason::ClassCap,
        DropReason::Coalesced,
        DropReason::Expired,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DropReason::Capacity => "capacity",
            DropReason::ClassCap => "class_cap",
            DropReason::Coalesced => "coalesced",
            DropReason::Expired => "expired",
        }
    }
}

/// Lines dropped, by (class, reason). A fixed table, so `Stats` stays `Copy`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DropCounts([[u64; DropReason::COUNT]; LineClass::COUNT]);

impl DropCounts {
    pub fn get(&self, class: LineClass, reason: DropReason) -> u64 {
        self.0[class.index()][reason as usize]
    }

    pub(crate) fn add(&mut self, class: LineClass, reason: DropReason) {
        self.0[class.index()][reason as usize] += 1;
    }

    /// Drops for `reason`, all classes together.
    pub fn total(&self, reason: DropReason) -> u64 {
        LineClass::ALL.iter().map(|&c| self.get(c, reason)).sum()
    }

    /// The non-zero counters, for logs and the end-of-show summary.
    pub fn nonzero(&self) -> impl Iterator<Item = (LineClass, DropReason, u64)> + '_ {
        LineClass::ALL.into_iter().flat_map(move |c| {
            DropReason::ALL
                .into_iter()
                .map(move |r| (c, r, self.get(c, r)))
                .filter(|&(_, _, n)| n > 0)
        })
    }
}

/// What happens when a class is at its cap and another line of it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapPolicy {
    /// The new line takes the place (and turn) of the oldest waiting one of its class, which is
    /// dropped as `coalesced`: a new welcome replaces the waiting welcome, likes fold into one.
    Coalesce,
    /// The oldest waiting line of the class is dropped as `class_cap`; the new one queues.
    DropOldest,
}

/// One class's cap (`[scheduler.caps] welcome = { max = 1, policy = "coalesce" }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassCap {
    /// Lines of the class that may wait at once (at least 1).
    pub max: usize,
    /// A missing policy is `drop_oldest`.
    pub policy: CapPolicy,
}

impl Default for ClassCap {
    fn default() -> Self {
        Self {
            max: 12,
            policy: CapPolicy::DropOldest,
        }
    }
}

impl ClassCap {
    const fn new(max: usize, policy: CapPolicy) -> Self {
        Self { max, policy }
    }
}

/// `[scheduler.caps]`: the cap of each unpaid class. Gifts have none (paid lines are never
/// dropped); neither have notices (they are rare and the most urgent unpaid lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CapsConfig {
    pub reply: ClassCap,
    pub like: ClassCap,
    pub welcome: ClassCap,
    pub follow: ClassCap,
    pub share: ClassCap,
    pub idle: ClassCap,
}

impl Default for CapsConfig {
    fn default() -> Self {
        use CapPolicy::*;
        Self {
            reply: ClassCap::new(10, DropOldest),
            like: ClassCap::new(1, Coalesce),
            welcome: ClassCap::new(1, Coalesce),
            follow: ClassCap::new(3, DropOldest),
            share: ClassCap::new(2, DropOldest),
            idle: ClassCap::new(1, Coalesce),
        }
    }
}

/// The caps as the timeline looks them up: one slot per [`LineClass`].
pub type ClassCaps = [Option<ClassCap>; LineClass::COUNT];

impl CapsConfig {
    pub fn table(&self) -> ClassCaps {
        let mut caps = [None; LineClass::COUNT];
        caps[LineClass::Reply.index()] = Some(self.reply);
        caps[LineClass::Like.index()] = Some(self.like);
        caps[LineClass::Welcome.index()] = Some(self.welcome);
        caps[LineClass::Follow.index()] = Some(self.follow);
        caps[LineClass::Share.index()] = Some(self.share);
        caps[LineClass::Idle.index()] = Some(self.idle);
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cue_kind_has_its_class_and_the_table_indexes_match() {
        let gift = CueKind::GiftThanks {
            platform: "douyin".into(),
            msg_ids: vec![],
            tier: 1,
            viewers: vec![],
            reads_message: false,
        };
        assert_eq!(LineClass::from(&gift), LineClass::Gift);
        assert_eq!(LineClass::from(&CueKind::Deflect), LineClass::Reply);
        assert_eq!(LineClass::from(&CueKind::Idle), LineClass::Idle);
        assert_eq!(LineClass::from(&CueKind::Notice), LineClass::Notice);
        for (i, class) in LineClass::ALL.into_iter().enumerate() {
            assert_eq!(class.index(), i, "{}", class.name());
        }
        let caps = CapsConfig::default().table();
        assert_eq!(
            caps[LineClass::Gift.index()],
            None,
            "paid lines have no cap"
        );
        assert_eq!(
            caps[LineClass::Welcome.index()].map(|c| c.policy),
            Some(CapPolicy::Coalesce)
        );
    }

    #[test]
    fn caps_read_from_toml_with_a_missing_policy_dropping_the_oldest() {
        let caps: CapsConfig =
            toml::from_str("welcome = { max = 2 }\nreply = { max = 4, policy = \"coalesce\" }\n")
                .unwrap();
        assert_eq!(caps.welcome, ClassCap::new(2, CapPolicy::DropOldest));
        assert_eq!(caps.reply, ClassCap::new(4, CapPolicy::Coalesce));
        assert_eq!(
            caps.like,
            CapsConfig::default().like,
            "unset keys keep defaults"
        );
        assert!(toml::from_str::<CapsConfig>("gift = { max = 1 }").is_err());
    }

    #[test]
    fn drop_counts_add_up_by_class_and_reason() {
        let mut d = DropCounts::default();
        d.add(LineClass::Welcome, DropReason::Coalesced);
        d.add(LineClass::Welcome, DropReason::Coalesced);
        d.add(LineClass::Reply, DropReason::Expired);
        assert_eq!(d.get(LineClass::Welcome, DropReason::Coalesced), 2);
        assert_eq!(d.total(DropReason::Expired), 1);
        assert_eq!(
            d.nonzero().collect::<Vec<_>>(),
            [
                (LineClass::Reply, DropReason::Expired, 1),
                (LineClass::Welcome, DropReason::Coalesced, 2)
            ]
        );
    }
}
