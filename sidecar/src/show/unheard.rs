//! Gifts whose thank-you was not heard: how often they are tried again, and when to give up.
//!
//! A gift is marked thanked in the ledger only when its line was played to the end on the
//! avatar's audio clock. When the line could not be voiced (every engine failed), the avatar
//! never reported its end (watchdog), or the avatar went away with nothing played, the gift
//! stays unthanked and its line is offered again after a pause, up to [`MAX_ATTEMPTS`] times.
//! After that it is thanked in a text overlay instead, and the ledger notes that it was not
//! spoken. Unheard lines are keyed by their gifts, so a retried line keeps its count.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::cue::{Cue, CueKind};

/// Voiced attempts for one gift line before it is thanked in text instead.
pub const MAX_ATTEMPTS: u32 = 3;
/// Pause before a retry, times the attempt number: a voice that just failed gets a moment
/// (and its circuit breaker a chance to send the line to another engine).
const RETRY_PAUSE: Duration = Duration::from_secs(2);

/// Why a line was not heard (logged, and kept in the ledger after the last attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unheard {
    VoiceFailed,
    NoEndReport,
    NothingPlayed,
    CutShort,
    /// Interrupted by a more urgent line and not said again (an unpaid line mostly heard, or
    /// past its TTL).
    Interrupted,
    /// The operator skipped it on air, or vetoed it before: never tried again.
    Skipped,
    Vetoed,
}

impl Unheard {
    pub fn reason(self) -> &'static str {
        match self {
            Unheard::VoiceFailed => "no engine could voice the line",
            Unheard::NoEndReport => "the avatar never reported the end of the line",
            Unheard::NothingPlayed => "the avatar played none of it",
            Unheard::CutShort => "the avatar cut it short",
            Unheard::Interrupted => "interrupted, and not said again",
            Unheard::Skipped => "skipped by the operator",
            Unheard::Vetoed => "vetoed by the operator",
        }
    }
}

/// What to do with an unheard gift line.
#[derive(Debug, PartialEq)]
pub enum Next {
    /// Offer it again at this time.
    RetryAt(Instant),
    /// Attempts are used up: thank in text, mark it in the ledger as not spoken.
    GiveUp { attempts: u32 },
}

/// Attempts per gift line, and the lines waiting for their retry.
#[derive(Default)]
pub struct UnheardGifts {
    attempts: HashMap<String, u32>,
    waiting: Vec<(Instant, Cue)>,
}

impl UnheardGifts {
    /// Notes that `cue` (a gift line) was not heard; returns what happens next. A retry is
    /// kept here until [`UnheardGifts::due`] hands it back.
    pub fn not_heard(&mut self, cue: &Cue, why: Unheard, now: Instant) -> Next {
        if matches!(why, Unheard::Skipped | Unheard::Vetoed) {
            // The operator decided it is not to be said: thanked in text at once.
            if let Some(key) = key(cue) {
                self.attempts.remove(&key);
            }
            return Next::GiveUp { attempts: 0 };
        }
        let Some(key) = key(cue) else {
            return Next::GiveUp { attempts: 0 };
        };
        let attempts = self.attempts.entry(key.clone()).or_insert(0);
        *attempts += 1;
        let n = *attempts;
        if n >= MAX_ATTEMPTS {
            self.attempts.remove(&key);
            return Next::GiveUp { attempts: n };
        }
        let at = now + RETRY_PAUSE * n;
        self.waiting.push((at, cue.clone()));
        Next::RetryAt(at)
    }

    /// The line was heard: forget its attempts.
    pub fn heard(&mut self, cue: &Cue) {
        if let Some(key) = key(cue) {
            self.attempts.remove(&key);
        }
    }

    /// The line was merged into another (a gift storm): its attempts start again there.
    pub fn forget(&mut self, cue: &Cue) {
        self.heard(cue);
    }

    /// Lines whose retry time has come.
    pub fn due(&mut self, now: Instant) -> Vec<Cue> {
        let (due, later): (Vec<_>, Vec<_>) = self.waiting.drain(..).partition(|(at, _)| *at <= now);
        self.waiting = later;
        due.into_iter().map(|(_, cue)| cue).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// A gift line is identified by the ledger rows it thanks.
fn key(cue: &Cue) -> Option<String> {
    match &cue.kind {
        CueKind::GiftThanks {
            platform, msg_ids, ..
        } => Some(format!("{platform}\u{1f}{}", msg_ids.join("\u{1f}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gift(id: &str) -> Cue {
        Cue {
            kind: CueKind::GiftThanks {
                platform: "douyin".into(),
                msg_ids: vec![id.into()],
                tier: 1,
                viewers: vec!["小明".into()],
                reads_message: false,
            },
            text: "谢谢".into(),
            priority: 3,
            rank: 0,
            paid: true,
            ttl_ms: None,
            prosody: Default::default(),
            cause: Default::default(),
            effects: Vec::new(),
        }
    }

    #[test]
    fn retried_with_growing_pauses_then_given_up_after_the_cap() {
        let mut u = UnheardGifts::default();
        let t0 = Instant::now();
        let cue = gift("g1");
        assert_eq!(
            u.not_heard(&cue, Unheard::VoiceFailed, t0),
            Next::RetryAt(t0 + RETRY_PAUSE)
        );
        assert!(u.due(t0).is_empty(), "not before its pause");
        assert_eq!(u.due(t0 + RETRY_PAUSE), vec![cue.clone()]);
        assert_eq!(
            u.not_heard(&cue, Unheard::VoiceFailed, t0),
            Next::RetryAt(t0 + RETRY_PAUSE * 2)
        );
        assert_eq!(
            u.not_heard(&cue, Unheard::VoiceFailed, t0),
            Next::GiveUp {
                attempts: MAX_ATTEMPTS
            }
        );
        // A new failure of the same gift after giving up starts over (it is a new line).
        assert!(matches!(
            u.not_heard(&cue, Unheard::VoiceFailed, t0),
            Next::RetryAt(_)
        ));
    }

    #[test]
    fn a_heard_line_forgets_its_attempts_and_other_gifts_count_apart() {
        let mut u = UnheardGifts::default();
        let t0 = Instant::now();
        let (a, b) = (gift("a"), gift("b"));
        u.not_heard(&a, Unheard::VoiceFailed, t0);
        u.not_heard(&a, Unheard::VoiceFailed, t0);
        u.heard(&a);
        assert_eq!(
            u.not_heard(&a, Unheard::VoiceFailed, t0),
            Next::RetryAt(t0 + RETRY_PAUSE)
        );
        assert_eq!(
            u.not_heard(&b, Unheard::VoiceFailed, t0),
            Next::RetryAt(t0 + RETRY_PAUSE)
        );
    }

    #[test]
    fn a_line_the_operator_skipped_or_vetoed_is_thanked_in_text_at_once() {
        let mut u = UnheardGifts::default();
        let t0 = Instant::now();
        let cue = gift("g1");
        u.not_heard(&cue, Unheard::VoiceFailed, t0);
        for why in [Unheard::Skipped, Unheard::Vetoed] {
            assert_eq!(u.not_heard(&cue, why, t0), Next::GiveUp { attempts: 0 });
        }
        assert_eq!(
            u.due(t0 + RETRY_PAUSE * 10).len(),
            1,
            "only the earlier retry"
        );
    }
}
