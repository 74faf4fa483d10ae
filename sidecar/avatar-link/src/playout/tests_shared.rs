//! Tests of what the queue gained when it became shared: a follower without a fade, warnings
//! returned as data, sealing without a new session.

use super::*;

#[test]
fn without_a_fade_stop_drops_a_playing_utterance_at_once() {
    let limits = PlayoutLimits {
        fade: 0,
        ..PlayoutLimits::default()
    };
    let mut p = Playout::new(limits);
    let mut out = [f32::NAN; BLOCK_SAMPLES];
    p.push(3, &[16384; 48_000], false);
    p.pull(&mut out);
    assert!(p.has_started(3));
    p.stop(3);
    assert_eq!(p.buffered_samples(), 0);
    assert!(!p.has_started(3));
    p.push(3, &[16384; 480], true);
    let block = p.pull(&mut out);
    assert!(out.iter().all(|&s| s == 0.0));
    assert_eq!(block.audible, 0);
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Finished {
            session: 0,
            utterance: 3,
            played_ms: 10,
            interrupted: true
        }]
    );
    assert!(p.is_idle());
}

#[test]
fn what_deserves_a_warning_is_reported_once() {
    let limits = PlayoutLimits {
        per_utterance: 960,
        starvation: 960,
        ..PlayoutLimits::default()
    };
    let mut p = Playout::new(limits);
    let mut out = [f32::NAN; BLOCK_SAMPLES];
    assert_eq!(p.push(1, &[1; 800], false), None);
    assert_eq!(
        p.push(1, &[1; 800], false),
        Some(Overflow {
            utterance: 1,
            buffered_ms: 20
        })
    );
    assert_eq!(p.push(1, &[1; 800], false), None, "once per utterance");
    for _ in 0..2 {
        let block = p.pull(&mut out);
        assert_eq!(block.audible, BLOCK_SAMPLES);
    }
    let block = p.pull(&mut out);
    assert_eq!((block.audible, block.gave_up.as_slice()), (0, &[][..]));
    let block = p.pull(&mut out);
    assert_eq!(
        block.gave_up,
        vec![GaveUp {
            utterance: 1,
            waited_ms: 20
        }]
    );
    assert_eq!(
        block.gave_up[0].to_string(),
        "utterance 1 got no audio for 20 ms; giving up on it"
    );
}

#[test]
fn sealing_plays_out_in_the_same_session() {
    let mut p = Playout::default();
    let mut out = [f32::NAN; BLOCK_SAMPLES];
    p.push(1, &[100; 240], false);
    p.seal_all();
    let block = p.pull(&mut out);
    assert_eq!(p.session(), 0);
    assert!(matches!(
        block.events.last(),
        Some(PlayoutEvent::Finished {
            utterance: 1,
            interrupted: false,
            ..
        })
    ));
    assert!(!p.announce(1), "a finished id stays retired");
}
