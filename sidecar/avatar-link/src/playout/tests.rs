use super::*;

const BLOCK: usize = 480;

fn pull(playout: &mut Playout) -> (Vec<f32>, PulledBlock) {
    let mut out = vec![f32::NAN; BLOCK];
    let block = playout.pull(&mut out);
    (out, block)
}

fn constant(value: i16, n: usize) -> Vec<i16> {
    vec![value; n]
}

#[test]
fn plays_utterances_in_arrival_order_with_start_and_finish_events() {
    let mut p = Playout::default();
    p.announce(1);
    p.announce(2);
    p.push(2, &constant(2000, 480), true);
    p.push(1, &constant(1000, 720), true);

    let (out, block) = pull(&mut p);
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Started {
            session: 0,
            utterance: 1
        }]
    );
    assert!(out.iter().all(|&s| s == 1000.0 / 32768.0));
    assert_eq!(block.now_playing.map(|n| n.utterance), Some(1));

    // Second block: the rest of 1 (240 samples), then 2 starts in the same block.
    let (out, block) = pull(&mut p);
    assert_eq!(
        block.events,
        vec![
            PlayoutEvent::Finished {
                session: 0,
                utterance: 1,
                played_ms: 15,
                interrupted: false
            },
            PlayoutEvent::Started {
                session: 0,
                utterance: 2
            },
        ]
    );
    assert_eq!(out[239], 1000.0 / 32768.0);
    assert_eq!(out[240], 2000.0 / 32768.0);

    // 2 drains in the third block and is reported there.
    let (out, block) = pull(&mut p);
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Finished {
            session: 0,
            utterance: 2,
            played_ms: 10,
            interrupted: false
        }]
    );
    assert!(out[..240].iter().all(|&s| s > 0.0) && out[240..].iter().all(|&s| s == 0.0));
    assert!(p.is_idle());
    assert_eq!(p.buffered_samples(), 0);
}

#[test]
fn idle_playout_outputs_silence() {
    let mut p = Playout::default();
    let (out, block) = pull(&mut p);
    assert!(out.iter().all(|&s| s == 0.0));
    assert_eq!(block, PulledBlock::default());
}

#[test]
fn underrun_waits_for_more_audio_instead_of_finishing() {
    let mut p = Playout::default();
    p.push(5, &constant(100, 240), false);
    let (out, block) = pull(&mut p);
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Started {
            session: 0,
            utterance: 5
        }]
    );
    assert!(out[240..].iter().all(|&s| s == 0.0));
    for _ in 0..50 {
        let (out, block) = pull(&mut p);
        assert!(out.iter().all(|&s| s == 0.0));
        assert!(block.events.is_empty());
        assert_eq!(block.now_playing.map(|n| n.utterance), Some(5));
    }
    p.push(5, &constant(100, 480), true);
    let (out, block) = pull(&mut p);
    assert!(out.iter().all(|&s| s > 0.0));
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Finished {
            session: 0,
            utterance: 5,
            played_ms: 15,
            interrupted: false
        }]
    );
}

#[test]
fn a_later_utterance_does_not_overtake_one_waiting_for_audio() {
    let mut p = Playout::default();
    p.announce(1);
    p.push(2, &constant(100, 480), true);
    let (out, block) = pull(&mut p);
    assert!(out.iter().all(|&s| s == 0.0));
    assert!(block.events.is_empty());
    p.push(1, &[], true);
    let (_, block) = pull(&mut p);
    // 1 had no audio at all: it finishes without ever starting, then 2 plays.
    assert_eq!(
        block.events,
        vec![
            PlayoutEvent::Finished {
                session: 0,
                utterance: 1,
                played_ms: 0,
                interrupted: false
            },
            PlayoutEvent::Started {
                session: 0,
                utterance: 2
            },
            PlayoutEvent::Finished {
                session: 0,
                utterance: 2,
                played_ms: 10,
                interrupted: false
            },
        ]
    );
}

#[test]
fn stop_fades_out_over_ten_ms_and_drops_the_rest() {
    let mut p = Playout::default();
    p.push(3, &constant(16384, 48_000), false);
    pull(&mut p);
    p.stop(3);
    assert_eq!(p.buffered_samples(), FADE_SAMPLES);
    let (out, block) = pull(&mut p);
    // Linear ramp from full level down to (almost) zero, then interrupted.
    assert!((out[0] - 0.5).abs() < 1e-3);
    assert!(out.windows(2).all(|w| w[1] < w[0]));
    assert!(out[FADE_SAMPLES - 1] < 0.5 / 400.0);
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Finished {
            session: 0,
            utterance: 3,
            played_ms: 20,
            interrupted: true
        }]
    );
    // Chunks still in flight for the stopped utterance are ignored.
    p.push(3, &constant(16384, 480), true);
    let (out, block) = pull(&mut p);
    assert!(out.iter().all(|&s| s == 0.0));
    assert!(block.events.is_empty());
    assert!(p.is_idle());
}

#[test]
fn a_stop_takes_effect_in_the_next_block_and_is_over_by_its_end() {
    let mut p = Playout::default();
    p.push(1, &constant(16384, 48_000), false);
    // The interrupter's audio is already queued behind it.
    p.push(2, &constant(8192, 4_800), true);
    pull(&mut p);
    pull(&mut p);
    p.stop(1);
    let (fade, block) = pull(&mut p);
    // The very next block is the fade, from full level down to silence within the block.
    assert!((fade[0] - 0.5).abs() < 1e-3, "{}", fade[0]);
    assert!(fade[BLOCK - 1].abs() < 0.5 / 400.0);
    assert_eq!(block.audible, BLOCK);
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Finished {
            session: 0,
            utterance: 1,
            played_ms: 30,
            interrupted: true
        }],
        "reported in the block that ended it"
    );
    // Not one sample of the stopped utterance after that block: the next one plays from its
    // first sample at its own level.
    let (next, block) = pull(&mut p);
    assert!(next.iter().all(|&s| (s - 0.25).abs() < 1e-6));
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Started {
            session: 0,
            utterance: 2
        }]
    );
}

#[test]
fn stop_during_an_underrun_fades_what_is_there_and_finishes() {
    let mut p = Playout::default();
    p.push(4, &constant(16384, 480 + 100), false);
    pull(&mut p);
    p.stop(4);
    let (out, block) = pull(&mut p);
    assert!((out[0] - 0.5).abs() < 1e-3 && out[99] < 0.01 && out[100] == 0.0);
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Finished {
            session: 0,
            utterance: 4,
            played_ms: 12,
            interrupted: true
        }]
    );
}

#[test]
fn stopping_a_queued_utterance_removes_it() {
    let mut p = Playout::default();
    p.push(1, &constant(100, 960), true);
    p.push(2, &constant(100, 960), true);
    p.stop(2);
    let (_, block) = pull(&mut p);
    assert_eq!(
        block.events,
        vec![
            PlayoutEvent::Finished {
                session: 0,
                utterance: 2,
                played_ms: 0,
                interrupted: true
            },
            PlayoutEvent::Started {
                session: 0,
                utterance: 1
            },
        ]
    );
    assert_eq!(p.buffered_samples(), 480);
    // Stop for an id never seen: later chunks for it are dropped.
    p.stop(9);
    p.push(9, &constant(100, 480), true);
    pull(&mut p);
    assert!(p.is_idle());
}

#[test]
fn a_new_session_plays_out_received_audio() {
    let mut p = Playout::default();
    p.push(1, &constant(100, 600), false);
    p.announce(2);
    p.new_session();
    let (_, block) = pull(&mut p);
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Started {
            session: 0,
            utterance: 1
        }]
    );
    let (_, block) = pull(&mut p);
    assert_eq!(
        block.events,
        vec![
            PlayoutEvent::Finished {
                session: 0,
                utterance: 1,
                played_ms: 12,
                interrupted: false
            },
            PlayoutEvent::Finished {
                session: 0,
                utterance: 2,
                played_ms: 0,
                interrupted: false
            },
        ]
    );
}

#[test]
fn starvation_gives_up_eventually() {
    let limits = PlayoutLimits {
        starvation: 4800,
        ..PlayoutLimits::default()
    };
    let mut p = Playout::new(limits);
    p.push(1, &constant(100, 480), false);
    let mut finished = None;
    for block in 0..20 {
        let (_, pulled) = pull(&mut p);
        if let Some(PlayoutEvent::Finished { interrupted, .. }) = pulled.events.last() {
            finished = Some((block, *interrupted));
            break;
        }
    }
    assert_eq!(finished, Some((10, true)));
}

#[test]
fn buffers_are_capped_per_utterance_and_in_total() {
    let limits = PlayoutLimits {
        per_utterance: 1000,
        total: 1500,
        ..PlayoutLimits::default()
    };
    let mut p = Playout::new(limits);
    p.push(1, &constant(1, 800), false);
    p.push(1, &constant(1, 800), false);
    assert_eq!(p.buffered_samples(), 1000);
    p.push(2, &constant(1, 800), true);
    assert_eq!(p.buffered_samples(), 1500);
    // Received counts what was sent, including what was dropped.
    let (_, block) = pull(&mut p);
    assert_eq!(
        block.now_playing,
        Some(NowPlaying {
            session: 0,
            utterance: 1,
            played_ms: 10,
            received_ms: 33
        })
    );
    // Room frees up as audio plays.
    p.push(1, &constant(1, 480), true);
    assert_eq!(p.buffered_samples(), 1500);
}

#[test]
fn progress_reports_played_and_received_time() {
    let mut p = Playout::default();
    p.push(8, &constant(1, 4800), false);
    for _ in 0..4 {
        pull(&mut p);
    }
    let (_, block) = pull(&mut p);
    assert_eq!(
        block.now_playing,
        Some(NowPlaying {
            session: 0,
            utterance: 8,
            played_ms: 50,
            received_ms: 100
        })
    );
}

#[test]
fn a_new_session_may_reuse_ids_without_mixing_them_up() {
    let mut p = Playout::default();
    p.push(1, &constant(100, 960), true);
    pull(&mut p);
    p.stop(1);
    pull(&mut p);
    // The sidecar restarts and counts from 1 again: its utterance 1 is a new one.
    p.new_session();
    assert!(p.announce(1));
    p.push(1, &constant(200, 480), true);
    let (out, block) = pull(&mut p);
    assert_eq!(out[0], 200.0 / 32768.0);
    assert_eq!(
        block.events,
        vec![
            PlayoutEvent::Started {
                session: 1,
                utterance: 1
            },
            PlayoutEvent::Finished {
                session: 1,
                utterance: 1,
                played_ms: 10,
                interrupted: false
            },
        ]
    );
}

#[test]
fn an_old_session_finishes_before_the_new_one_starts() {
    let mut p = Playout::default();
    p.push(1, &constant(100, 600), false);
    p.new_session();
    p.push(1, &constant(200, 480), true);
    let (_, block) = pull(&mut p);
    assert_eq!(
        block.events,
        vec![PlayoutEvent::Started {
            session: 0,
            utterance: 1
        }]
    );
    assert_eq!(block.now_playing.map(|n| n.session), Some(0));
    let (out, block) = pull(&mut p);
    assert_eq!((out[119], out[120]), (100.0 / 32768.0, 200.0 / 32768.0));
    assert_eq!(
        block.events,
        vec![
            PlayoutEvent::Finished {
                session: 0,
                utterance: 1,
                played_ms: 12,
                interrupted: false
            },
            PlayoutEvent::Started {
                session: 1,
                utterance: 1
            },
        ]
    );
}
