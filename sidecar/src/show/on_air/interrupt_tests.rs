//! Interruptions through the unit: the states it passes, and what becomes of the cut line
//! (resumed from its cut clause, discarded, or heard after all), on tokio's paused clock.

use super::*;
use crate::show::on_air::playback::{Fate, Playback};

const THANKS: &str = "谢谢大哥，送的火箭，爱你！";

/// A gift thank-you of three clauses (1 s, 1 s, 0.5 s) on air; returns its line and utterance.
fn thanks_on_air(rig: &mut Rig, priority: i32) -> (u64, u64) {
    let id = rig.unit.offer(gift(THANKS, priority));
    rig.pump();
    rig.unit.on_clip(
        id,
        Ok(spoken(&[
            ("谢谢大哥，", 1000),
            ("送的火箭，", 1000),
            ("爱你！", 500),
        ])),
    );
    rig.pump();
    assert_eq!(rig.wire.said(), [THANKS]);
    (id, rig.last_utterance())
}

fn progress(rig: &mut Rig, utterance: u64, played_ms: u32) {
    rig.report(Report::Progress {
        utterance,
        played_ms,
        received_ms: played_ms,
    });
}

/// Airs line `id` (its clip `ms` long) and reports it played to the end.
fn air_to_the_end(rig: &mut Rig, id: u64, ms: usize) -> Vec<Outcome> {
    rig.pump(); // asks for its clip
    rig.ready(id, ms);
    rig.pump();
    let utterance = rig.last_utterance();
    rig.finished(utterance, ms as u32, false)
}

/// The text of the `Say` and the milliseconds of audio sent since the last look.
fn say_and_audio_ms(rig: &Rig) -> (String, usize) {
    let sent = rig.wire.take();
    let text = sent
        .iter()
        .find_map(|s| match s {
            Sent::Command(Command::Say { text, .. }) => Some(text.clone()),
            _ => None,
        })
        .expect("a Say");
    let samples: usize = sent
        .iter()
        .map(|s| match s {
            Sent::Audio { len, .. } => *len,
            _ => 0,
        })
        .sum();
    (text, samples * 1000 / avatar_link::SAMPLE_RATE as usize)
}

#[tokio::test(start_paused = true)]
async fn a_cut_thank_you_resumes_from_its_cut_clause_and_is_thanked_only_once_heard() {
    let mut rig = Rig::new();
    let (_, first) = thanks_on_air(&mut rig, 6);
    assert!(matches!(rig.unit.playback, Playback::Playing(_)));
    progress(&mut rig, first, 900); // still in the first clause
    let urgent = rig.unit.offer(line("紧急", 1));
    assert_eq!(
        rig.wire.take(),
        [Sent::Command(Command::Stop { utterance: first })]
    );
    assert!(matches!(rig.unit.playback, Playback::Interrupted { by, .. } if by == urgent));

    // The end report says exactly where it was cut: in the second clause.
    let outcomes = rig.finished(first, 1500, true);
    assert!(verdicts(&outcomes).is_empty(), "neither heard nor given up");
    assert_eq!(rig.unit.playback, Playback::PostInterrupt { by: urgent });

    let outcomes = air_to_the_end(&mut rig, urgent, 300);
    assert_eq!(verdicts(&outcomes), [("紧急".to_string(), None)]);
    rig.wire.take();
    rig.pump();
    assert_eq!(
        say_and_audio_ms(&rig),
        ("送的火箭，爱你！".to_string(), 1500),
        "the first clause is not said again"
    );
    let resumed = rig.last_utterance();
    let outcomes = rig.finished(resumed, 1500, false);
    assert!(
        matches!(&outcomes[0], Outcome::Aired(a) if a.cue.text == "送的火箭，爱你！"),
        "the airtime log has what this utterance said"
    );
    // Heard to the end: the gift (whole line) is thanked now.
    assert_eq!(verdicts(&outcomes), [(THANKS.to_string(), None)]);
    assert_eq!(rig.unit.playback, Playback::Idle);
    assert!(rig.unit.is_idle());
}

#[tokio::test(start_paused = true)]
async fn without_an_end_report_the_last_progress_decides_and_an_unheard_rest_is_not_thanked() {
    let mut rig = Rig::new();
    let (_, first) = thanks_on_air(&mut rig, 6);
    progress(&mut rig, first, 1200);
    let urgent = rig.unit.offer(line("紧急", 1));
    rig.wire.take();
    // The interrupter does not wait for the cut line's end report.
    air_to_the_end(&mut rig, urgent, 300);
    rig.wire.take();
    rig.pump();
    assert_eq!(say_and_audio_ms(&rig).0, "送的火箭，爱你！");
    // A late end report of the cut utterance changes nothing now.
    let late = rig.finished(first, 1900, true);
    assert!(matches!(&late[..], [Outcome::Aired(a)] if a.utterance == first));
    // The rest was cut short by the avatar itself: the gift stays unthanked, and its retry
    // (by the show) is the whole line.
    let resumed = rig.last_utterance();
    let outcomes = rig.finished(resumed, 400, true);
    assert_eq!(
        verdicts(&outcomes),
        [(THANKS.to_string(), Some(Unheard::CutShort))]
    );
}

#[tokio::test(start_paused = true)]
async fn a_resumed_line_cut_again_resumes_from_the_right_clause_of_the_whole_line() {
    let mut rig = Rig::new();
    let (_, first) = thanks_on_air(&mut rig, 6);
    let urgent = rig.unit.offer(line("紧急", 1));
    rig.finished(first, 1500, true);
    air_to_the_end(&mut rig, urgent, 300);
    rig.wire.take();
    rig.pump();
    let resumed = rig.last_utterance();
    rig.wire.take();
    // 1.1 s into "送的火箭，爱你！" is the clause "爱你！".
    let again = rig.unit.offer(line("又急", 1));
    rig.finished(resumed, 1100, true);
    air_to_the_end(&mut rig, again, 300);
    rig.wire.take();
    rig.pump();
    assert_eq!(say_and_audio_ms(&rig), ("爱你！".to_string(), 500));
}

#[tokio::test(start_paused = true)]
async fn a_reply_mostly_heard_is_discarded_and_not_said_again() {
    let mut rig = Rig::new();
    let reply = rig.unit.offer(line("这个问题，我来回答", 9));
    rig.pump();
    rig.unit.on_clip(
        reply,
        Ok(spoken(&[("这个问题，", 1000), ("我来回答", 1000)])),
    );
    rig.pump();
    let cut = rig.last_utterance();
    progress(&mut rig, cut, 1200); // 60 %
    let urgent = rig.unit.offer(line("紧急", 1));
    let outcomes = rig.finished(cut, 1300, true);
    assert_eq!(
        verdicts(&outcomes),
        [("这个问题，我来回答".to_string(), Some(Unheard::Interrupted))]
    );
    rig.wire.take();
    air_to_the_end(&mut rig, urgent, 300);
    rig.pump();
    assert_eq!(rig.wire.said(), ["紧急"], "the reply is not said again");
    assert!(rig.unit.is_idle());
}

#[tokio::test(start_paused = true)]
async fn a_reply_past_its_ttl_is_discarded_however_little_was_heard() {
    let mut rig = Rig::new();
    let mut cue = line("这个问题，我来回答", 9);
    cue.ttl_ms = Some(20);
    let reply = rig.unit.offer(cue);
    rig.pump();
    rig.unit.on_clip(
        reply,
        Ok(spoken(&[("这个问题，", 1000), ("我来回答", 1000)])),
    );
    rig.pump();
    let cut = rig.last_utterance();
    let urgent = rig.unit.offer(line("紧急", 1));
    // The TTL is on the sidecar's own clock (real time), not tokio's.
    std::thread::sleep(Duration::from_millis(30));
    rig.finished(cut, 300, true);
    assert_eq!(rig.unit.fates.get(&reply), Some(&Fate::Discard));
    air_to_the_end(&mut rig, urgent, 300);
    rig.wire.take();
    let let_go = rig.pump();
    assert!(rig.wire.said().is_empty(), "the reply is not said again");
    assert!(verdicts(&let_go)
        .iter()
        .all(|(text, why)| text == "这个问题，我来回答" && why.is_some()));
    assert!(rig.unit.is_idle());
}

#[tokio::test(start_paused = true)]
async fn a_line_that_played_out_before_the_stop_landed_is_heard_and_not_said_again() {
    let mut rig = Rig::new();
    let (_, first) = thanks_on_air(&mut rig, 6);
    progress(&mut rig, first, 1900);
    let urgent = rig.unit.offer(line("紧急", 1));
    let outcomes = rig.finished(first, 2500, false);
    assert!(verdicts(&outcomes).is_empty(), "heard at its turn");
    air_to_the_end(&mut rig, urgent, 300);
    rig.wire.take();
    let let_go = rig.pump();
    assert_eq!(verdicts(&let_go), [(THANKS.to_string(), None)]);
    assert!(rig.wire.take().is_empty(), "nothing said again");
    assert!(rig.unit.is_idle());
}

#[tokio::test(start_paused = true)]
async fn an_avatar_leaving_while_interrupted_keeps_the_order_when_it_is_back() {
    let mut rig = Rig::new();
    let (_, first) = thanks_on_air(&mut rig, 6);
    progress(&mut rig, first, 1200);
    let urgent = rig.unit.offer(line("紧急", 1));
    rig.wire.set_clock(false);
    rig.unit.on_link(LinkEvent::Disconnected {
        client: 1,
        audio_clock: true,
    });
    assert_eq!(rig.unit.playback, Playback::PostInterrupt { by: urgent });
    rig.wire.set_clock(true);
    rig.wire.take();
    air_to_the_end(&mut rig, urgent, 300);
    rig.wire.take();
    rig.pump();
    assert_eq!(say_and_audio_ms(&rig).0, "送的火箭，爱你！");
}

#[tokio::test(start_paused = true)]
async fn a_stopped_line_never_reported_does_not_keep_the_unit_busy() {
    let mut rig = Rig::new();
    let (_, first) = thanks_on_air(&mut rig, 6);
    let urgent = rig.unit.offer(line("紧急", 1));
    air_to_the_end(&mut rig, urgent, 300);
    rig.wire.take();
    rig.pump();
    let resumed = rig.last_utterance();
    rig.finished(resumed, 2500, false);
    assert!(
        !rig.unit.is_idle(),
        "the stopped utterance is still awaited"
    );
    tokio::time::advance(Duration::from_millis(2501) + WATCHDOG_GRACE).await;
    let outcomes = rig.unit.watchdog();
    assert!(matches!(&outcomes[..], [Outcome::Aired(a)] if a.utterance == first && a.interrupted));
    assert!(rig.unit.is_idle());
}
