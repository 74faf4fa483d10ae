//! The on-air unit against a recording avatar and a voice whose clips the test hands over,
//! on tokio's paused clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use avatar_link::{AudioChunk, Command, Report};

use super::clips::{CHUNK_SAMPLES, SYNTH_AHEAD, WATCHDOG_GRACE};
use super::*;
use crate::cue::{Act, CueKind, Effect, When};
use crate::link::LinkEvent;
use crate::outputs::{Output, Outputs};
use crate::speech::voice::SpokenLine;
use crate::speech::{Clip, SpeechError};

#[path = "interrupt_tests.rs"]
mod interrupts;

/// What left the unit, in order: avatar commands, audio, and acts handed to the outputs.
#[derive(Debug, Clone, PartialEq)]
enum Sent {
    Command(Command),
    Audio {
        utterance: u64,
        last: bool,
        len: usize,
    },
    Act(Act),
}

#[derive(Clone, Default)]
struct Wire {
    sent: Arc<Mutex<Vec<Sent>>>,
    clock: Arc<AtomicBool>,
    requested: Arc<Mutex<Vec<(u64, String)>>>,
}

impl Wire {
    fn take(&self) -> Vec<Sent> {
        std::mem::take(&mut self.sent.lock().unwrap())
    }
    /// The texts of the `Say`s sent so far (and forgets everything sent).
    fn said(&self) -> Vec<String> {
        self.take()
            .into_iter()
            .filter_map(|s| match s {
                Sent::Command(Command::Say { text, .. }) => Some(text),
                _ => None,
            })
            .collect()
    }
    fn requested(&self) -> Vec<u64> {
        self.requested.lock().unwrap().iter().map(|r| r.0).collect()
    }
    fn set_clock(&self, on: bool) {
        self.clock.store(on, Ordering::SeqCst);
    }
}

impl AvatarPort for Wire {
    fn command(&self, command: &Command) {
        self.sent
            .lock()
            .unwrap()
            .push(Sent::Command(command.clone()));
    }
    fn audio(&self, chunk: &AudioChunk) {
        self.sent.lock().unwrap().push(Sent::Audio {
            utterance: chunk.utterance,
            last: chunk.last,
            len: chunk.samples.len(),
        });
    }
    fn has_audio_clock(&self) -> bool {
        self.clock.load(Ordering::SeqCst)
    }
}

impl ClipMaker for Wire {
    fn request(&self, line_id: u64, cue: &Cue) {
        self.requested
            .lock()
            .unwrap()
            .push((line_id, cue.text.clone()));
    }
    fn engine(&self) -> &str {
        "fake"
    }
}

impl Output for Wire {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn apply(&self, act: &Act) {
        self.sent.lock().unwrap().push(Sent::Act(act.clone()));
    }
}

struct Rig {
    unit: OnAir,
    wire: Wire,
    outputs: Outputs,
}

impl Rig {
    /// An avatar with an audio clock, the seed's interruption rule.
    fn new() -> Self {
        let wire = Wire::default();
        wire.set_clock(true);
        Self {
            unit: OnAir::new(InterruptRules::default(), wire.clone(), wire.clone()),
            outputs: Outputs::default().with(wire.clone()),
            wire,
        }
    }

    /// Pumps until nothing more happens; returns the lines let go on the way.
    fn pump(&mut self) -> Vec<Outcome> {
        std::iter::from_fn(|| self.unit.pump(&self.outputs)).collect()
    }

    fn ready(&mut self, line: u64, ms: usize) {
        self.unit.on_clip(line, Ok(clip(ms)));
    }

    fn report(&mut self, report: Report) -> Vec<Outcome> {
        self.unit.on_link(LinkEvent::Report { client: 1, report })
    }

    fn finished(&mut self, utterance: u64, played_ms: u32, interrupted: bool) -> Vec<Outcome> {
        self.report(Report::Finished {
            utterance,
            played_ms,
            interrupted,
        })
    }

    /// The utterance id of the last `Say`.
    fn last_utterance(&self) -> u64 {
        self.unit
            .playback
            .playing()
            .expect("something on air")
            .utterance
    }
}

/// A clip of one clause, `ms` long.
fn clip(ms: usize) -> Arc<SpokenLine> {
    spoken(&[("", ms)])
}

/// A clip of these clauses, each (text, ms) long, in order.
fn spoken(clauses: &[(&str, usize)]) -> Arc<SpokenLine> {
    let mut samples = Vec::new();
    let clauses = clauses
        .iter()
        .map(|(text, ms)| {
            samples.extend(std::iter::repeat_n(
                1000i16,
                ms * avatar_link::SAMPLE_RATE as usize / 1000,
            ));
            ClauseSpan {
                text: text.to_string(),
                end_sample: samples.len(),
            }
        })
        .collect();
    Arc::new(SpokenLine {
        clip: Arc::new(Clip { samples }),
        clauses,
    })
}

fn line(text: &str, priority: i32) -> Cue {
    Cue {
        kind: CueKind::Reply,
        text: text.into(),
        priority,
        rank: 0,
        paid: false,
        ttl_ms: None,
        prosody: Default::default(),
        cause: Default::default(),
        effects: Vec::new(),
    }
}

fn gift(text: &str, priority: i32) -> Cue {
    Cue {
        kind: CueKind::GiftThanks {
            platform: "douyin".into(),
            msg_ids: vec![text.into()],
            tier: 1,
            viewers: vec!["小明".into()],
            reads_message: false,
        },
        paid: true,
        ..line(text, priority)
    }
}

/// Only the outcomes that say whether a line was heard, as (text, why) with `None` for heard.
fn verdicts(outcomes: &[Outcome]) -> Vec<(String, Option<Unheard>)> {
    outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Heard { cue, .. } => Some((cue.text.clone(), None)),
            Outcome::NotHeard { cue, why } => Some((cue.text.clone(), Some(*why))),
            Outcome::Aired(_) => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_line_airs_once_its_clip_is_ready_and_the_avatar_has_an_audio_clock() {
    let mut rig = Rig::new();
    rig.wire.set_clock(false);
    let mut cue = line("你好", 5);
    cue.effects = vec![
        Effect::new(When::OnAir, Act::Motion("wave".into())),
        Effect::new(When::OnAir, Act::Expression("happy".into())),
    ];
    let id = rig.unit.offer(cue);
    assert!(rig.pump().is_empty());
    assert_eq!(
        rig.wire.requested(),
        vec![id],
        "synthesis asked for at once"
    );
    assert!(rig.wire.take().is_empty(), "no clip yet: nothing sent");

    rig.ready(id, 250);
    rig.pump();
    assert!(rig.wire.take().is_empty(), "no audio clock: nothing sent");

    rig.wire.set_clock(true);
    rig.pump();
    let samples = 250 * avatar_link::SAMPLE_RATE as usize / 1000;
    assert_eq!(
        rig.wire.take(),
        vec![
            // The effects due on air come just before the words.
            Sent::Act(Act::Motion("wave".into())),
            Sent::Act(Act::Expression("happy".into())),
            Sent::Command(Command::Say {
                utterance: 1,
                priority: 5,
                text: "你好".into(),
                expression: Some("happy".into()),
            }),
            Sent::Audio {
                utterance: 1,
                last: false,
                len: CHUNK_SAMPLES
            },
            Sent::Audio {
                utterance: 1,
                last: false,
                len: CHUNK_SAMPLES
            },
            Sent::Audio {
                utterance: 1,
                last: true,
                len: samples - 2 * CHUNK_SAMPLES
            },
        ]
    );
    assert_eq!(rig.wire.requested(), vec![id], "synthesised once");
    assert!(!rig.unit.is_idle());
}

#[tokio::test(start_paused = true)]
async fn lines_air_in_the_timelines_order_and_each_heard_line_is_reported() {
    let mut rig = Rig::new();
    rig.wire.set_clock(false);
    let ids: Vec<u64> = [("三", 3), ("一", 1), ("五", 5), ("一二", 1)]
        .into_iter()
        .map(|(text, priority)| rig.unit.offer(line(text, priority)))
        .collect();
    rig.pump();
    for id in ids {
        rig.ready(id, 100);
    }
    rig.wire.set_clock(true);
    let mut heard = Vec::new();
    let mut aired = Vec::new();
    while !rig.unit.is_idle() {
        rig.pump();
        aired.extend(rig.wire.said());
        let utterance = rig.last_utterance();
        let outcomes = rig.finished(utterance, 100, false);
        assert!(
            matches!(&outcomes[0], Outcome::Aired(a) if a.utterance == utterance && a.played_ms == 100)
        );
        heard.extend(verdicts(&outcomes));
    }
    // Most urgent first; equal priorities in arrival order.
    assert_eq!(aired, ["一", "一二", "三", "五"]);
    let heard_texts: Vec<_> = heard.iter().map(|(t, why)| (t.as_str(), *why)).collect();
    assert_eq!(
        heard_texts,
        [("一", None), ("一二", None), ("三", None), ("五", None)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_late_clip_does_not_hold_back_a_ready_line_behind_it() {
    let mut rig = Rig::new();
    let slow = rig.unit.offer(line("慢", 1));
    let quick = rig.unit.offer(line("快", 2));
    rig.pump();
    rig.ready(quick, 100);
    rig.pump();
    assert_eq!(rig.wire.said(), ["快"], "the ready line airs first");
    rig.ready(slow, 100);
    rig.pump();
    assert!(rig.wire.said().is_empty(), "one line at a time");
    let utterance = rig.last_utterance();
    rig.finished(utterance, 100, false);
    rig.pump();
    assert_eq!(
        rig.wire.said(),
        ["慢"],
        "and the late one as soon as it can"
    );
}

#[tokio::test(start_paused = true)]
async fn only_the_lines_about_to_air_are_synthesised() {
    let mut rig = Rig::new();
    let ids: Vec<u64> = (0..SYNTH_AHEAD + 4)
        .map(|i| rig.unit.offer(gift(&format!("礼物{i}"), 3)))
        .collect();
    rig.pump();
    assert_eq!(rig.wire.requested(), ids[..SYNTH_AHEAD]);
    // A late clip at the head does not stop the window from moving on behind it.
    rig.ready(ids[1], 100);
    rig.pump();
    assert_eq!(rig.wire.said(), ["礼物1"]);
    rig.pump();
    assert_eq!(
        rig.wire.requested(),
        ids[..=SYNTH_AHEAD],
        "the window moved on"
    );
}

#[tokio::test(start_paused = true)]
async fn an_urgent_line_interrupts_and_the_interrupted_one_gets_stop() {
    let mut rig = Rig::new();
    let idle = rig.unit.offer(line("闲聊", 9));
    rig.pump();
    rig.ready(idle, 2000);
    rig.pump();
    assert_eq!(rig.wire.said(), ["闲聊"]);
    let cut = rig.last_utterance();

    // Less urgent by fewer than 5 levels: no interruption.
    rig.unit.offer(line("普通", 6));
    rig.pump();
    assert!(rig.wire.take().is_empty());

    let urgent = rig.unit.offer(gift("大礼", 1));
    assert_eq!(
        rig.wire.take(),
        [Sent::Command(Command::Stop { utterance: cut })]
    );
    assert_eq!(rig.unit.counts().interrupted, 1);
    // The cut line's clip is ready and it is back in the queue, but the interrupter goes first.
    rig.pump();
    assert!(
        rig.wire.take().is_empty(),
        "waits for the interrupter's clip"
    );
    rig.ready(urgent, 500);
    rig.pump();
    assert_eq!(rig.wire.said(), ["大礼"]);

    // The stopped line's late end report is only airtime: neither heard nor unheard.
    let late = rig.finished(cut, 300, true);
    assert!(matches!(&late[..], [Outcome::Aired(a)] if a.utterance == cut && a.interrupted));
    assert!(!rig.unit.is_idle());
    let now = rig.last_utterance();
    let outcomes = rig.finished(now, 500, false);
    assert_eq!(verdicts(&outcomes), [("大礼".to_string(), None)]);
}

#[tokio::test(start_paused = true)]
async fn a_line_mostly_heard_needs_a_wider_gap_to_be_interrupted() {
    let mut rig = Rig::new();
    let id = rig.unit.offer(line("快说完了", 9));
    rig.pump();
    rig.ready(id, 1000);
    rig.pump();
    rig.wire.take();
    let utterance = rig.last_utterance();
    rig.report(Report::Progress {
        utterance,
        played_ms: 900,
        received_ms: 1000,
    });
    rig.unit.offer(line("插话", 3)); // 6 levels: enough early, not at 90 %
    assert!(rig.wire.take().is_empty());
    rig.unit.offer(line("急", 1)); // 8 levels
    assert_eq!(
        rig.wire.take(),
        [Sent::Command(Command::Stop { utterance })]
    );
}

#[tokio::test(start_paused = true)]
async fn a_paid_line_whose_clip_fails_is_not_heard_and_the_next_one_airs() {
    let mut rig = Rig::new();
    let failed = rig.unit.offer(gift("谢谢", 1));
    let next = rig.unit.offer(line("下一句", 2));
    rig.pump();
    rig.unit.on_clip(
        failed,
        Err(SpeechError::Rejected("every engine failed".into())),
    );
    rig.ready(next, 100);
    let let_go = rig.pump();
    assert_eq!(
        verdicts(&let_go),
        [("谢谢".to_string(), Some(Unheard::VoiceFailed))]
    );
    assert_eq!(rig.unit.counts().speech_failures, 1);
    assert_eq!(
        rig.wire.said(),
        ["下一句"],
        "nothing of the failed line was sent"
    );
}

#[tokio::test(start_paused = true)]
async fn the_watchdog_gives_up_on_a_line_whose_end_is_never_reported() {
    let mut rig = Rig::new();
    let id = rig.unit.offer(gift("谢谢大哥", 1));
    rig.pump();
    rig.ready(id, 1000);
    rig.pump();
    rig.wire.take();
    let utterance = rig.last_utterance();

    tokio::time::advance(Duration::from_millis(1000) + WATCHDOG_GRACE - Duration::from_millis(100))
        .await;
    assert!(rig.unit.watchdog().is_empty(), "not before length + grace");
    assert!(rig.wire.take().is_empty());

    tokio::time::advance(Duration::from_millis(200)).await;
    let outcomes = rig.unit.watchdog();
    assert_eq!(
        rig.wire.take(),
        [Sent::Command(Command::Stop { utterance })]
    );
    assert!(
        matches!(&outcomes[0], Outcome::Aired(a) if a.utterance == utterance && !a.interrupted)
    );
    assert_eq!(
        verdicts(&outcomes),
        [("谢谢大哥".to_string(), Some(Unheard::NoEndReport))]
    );
    assert!(rig.unit.is_idle());
    // A report arriving after all is about nothing any more.
    assert!(rig.finished(utterance, 1000, false).is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_end_report_says_whether_the_line_was_heard() {
    // (progress reported, Finished's played_ms, Finished's interrupted) → verdict
    let cases = [
        (None, 1000, false, None),
        (Some(400), 400, true, Some(Unheard::CutShort)),
        (None, 0, false, Some(Unheard::NothingPlayed)),
        (Some(300), 0, false, None), // played, though the end report says 0
    ];
    for (progress, played_ms, interrupted, verdict) in cases {
        let mut rig = Rig::new();
        let id = rig.unit.offer(gift("感谢", 1));
        rig.pump();
        rig.ready(id, 1000);
        rig.pump();
        let utterance = rig.last_utterance();
        if let Some(played_ms) = progress {
            rig.report(Report::Started { utterance });
            rig.report(Report::Progress {
                utterance,
                played_ms,
                received_ms: 1000,
            });
        }
        let outcomes = rig.finished(utterance, played_ms, interrupted);
        assert_eq!(
            verdicts(&outcomes),
            [("感谢".to_string(), verdict)],
            "progress {progress:?}, finished {played_ms} ms, interrupted {interrupted}"
        );
        assert!(rig.unit.is_idle());
    }
}

#[tokio::test(start_paused = true)]
async fn an_avatar_that_leaves_mid_line_gets_the_line_again_when_it_is_back() {
    let mut rig = Rig::new();
    let id = rig.unit.offer(gift("谢谢", 1));
    rig.pump();
    rig.ready(id, 1000);
    rig.pump();
    assert_eq!(rig.wire.said(), ["谢谢"]);
    let gone = rig.last_utterance();

    rig.wire.set_clock(false);
    let outcomes = rig.unit.on_link(LinkEvent::Disconnected {
        client: 1,
        audio_clock: true,
    });
    assert!(outcomes.is_empty(), "neither heard nor given up");
    assert!(
        rig.finished(gone, 0, true).is_empty(),
        "its reports are over"
    );
    rig.pump();
    assert!(rig.wire.take().is_empty(), "no avatar to play to");

    rig.wire.set_clock(true);
    rig.pump();
    assert_eq!(
        rig.wire.said(),
        ["谢谢"],
        "said again, from the clip it had"
    );
    assert_eq!(rig.wire.requested(), vec![id]);
    assert_ne!(rig.last_utterance(), gone, "under a new utterance");
}

#[tokio::test(start_paused = true)]
async fn a_follower_leaving_changes_nothing() {
    let mut rig = Rig::new();
    let id = rig.unit.offer(line("继续", 1));
    rig.pump();
    rig.ready(id, 1000);
    rig.pump();
    rig.wire.take();
    let utterance = rig.last_utterance();
    let outcomes = rig.unit.on_link(LinkEvent::Disconnected {
        client: 2,
        audio_clock: false,
    });
    assert!(outcomes.is_empty());
    assert_eq!(
        verdicts(&rig.finished(utterance, 1000, false)),
        [("继续".to_string(), None)]
    );
}

#[tokio::test(start_paused = true)]
async fn idle_lines_are_due_only_after_a_quiet_spell_with_an_avatar_listening() {
    let mut rig = Rig::new();
    let quiet = Duration::from_secs(30);
    assert!(!rig.unit.due_for_idle_line(quiet));
    tokio::time::advance(quiet + Duration::from_millis(1)).await;
    rig.wire.set_clock(false);
    assert!(!rig.unit.due_for_idle_line(quiet), "nobody to play to");
    rig.wire.set_clock(true);
    assert!(rig.unit.due_for_idle_line(quiet));
    assert!(
        !rig.unit.due_for_idle_line(quiet),
        "once, then the wait starts again"
    );

    // A line that ends restarts the wait too.
    tokio::time::advance(quiet - Duration::from_secs(1)).await;
    let id = rig.unit.offer(line("说话", 5));
    rig.pump();
    rig.ready(id, 100);
    rig.pump();
    let utterance = rig.last_utterance();
    rig.finished(utterance, 100, false);
    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(!rig.unit.due_for_idle_line(quiet));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_drops_unpaid_lines_and_forgets_their_clips() {
    let mut rig = Rig::new();
    rig.wire.set_clock(false);
    let max = InterruptRules::default().max_unpaid;
    let ids: Vec<u64> = (0..=max)
        .map(|i| rig.unit.offer(line(&format!("评论{i}"), 5)))
        .collect();
    assert_eq!(rig.unit.counts().dropped, 1);
    // Handed to the show's line log with why.
    let let_go = rig.unit.take_let_go();
    assert_eq!(let_go.len(), 1);
    assert_eq!(let_go[0].1, crate::scheduler::DropReason::Capacity);
    assert!(rig.unit.take_let_go().is_empty(), "taken once");
    rig.pump();
    // The dropped line's clip is ignored if it comes back after all.
    for id in ids {
        rig.ready(id, 100);
    }
    rig.wire.set_clock(true);
    let mut aired = 0;
    while !rig.unit.is_idle() {
        rig.pump();
        for id in rig.wire.requested() {
            rig.ready(id, 100);
        }
        rig.pump();
        aired += rig.wire.said().len();
        let utterance = rig.last_utterance();
        rig.finished(utterance, 100, false);
    }
    assert_eq!(aired, max);
}

#[tokio::test(start_paused = true)]
async fn a_gift_storm_takes_the_waiting_thanks_out_most_urgent_first() {
    let mut rig = Rig::new();
    let playing = rig.unit.offer(gift("playing", -1));
    rig.pump();
    rig.ready(playing, 500);
    rig.pump();
    assert_eq!(rig.wire.said(), ["playing"]);
    let ahead = SYNTH_AHEAD;
    let total = ahead + 8;
    for i in 0..total {
        rig.unit.offer(gift(
            &format!("g{i:02}"),
            if i == ahead + 5 { -5 } else { -1 },
        ));
    }
    rig.unit.offer(line("a reply", 5));
    rig.pump(); // the next lines to air are being voiced now
                // Eight wait beyond the ones being voiced: not a storm by a measure of more than eight.
    assert!(rig.unit.take_thanks_storm(|n| n > 8).is_empty());
    let taken = rig.unit.take_thanks_storm(|n| n > 6);
    let texts: Vec<String> = taken.iter().map(|c| c.text.clone()).collect();
    // The playing line, the reply and the lines being voiced stay: the big gift (most urgent)
    // and the first seven others. The rest are taken in the order they would have aired.
    let big = format!("g{:02}", ahead + 5);
    let expected: Vec<String> = (ahead - 1..total)
        .map(|i| format!("g{i:02}"))
        .filter(|t| *t != big)
        .collect();
    assert_eq!(texts, expected);
    // What is being voiced is never taken: the merged line will not be merged again.
    assert!(
        rig.unit.take_thanks_storm(|n| n > 0).is_empty(),
        "none left to merge"
    );
    assert_eq!(rig.unit.queued_paid(), ahead);
}
