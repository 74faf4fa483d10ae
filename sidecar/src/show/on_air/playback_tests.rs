//! Each transition of the playback state machine, and the cut line's fate on plain values.
//! (The machine keeps no time of its own; the tests run on the paused clock like the unit's.)

use super::*;

const A: OnAirLine = OnAirLine {
    utterance: 1,
    line_id: 10,
};
const B: OnAirLine = OnAirLine {
    utterance: 2,
    line_id: 20,
};

fn after(start: Playback, events: &[Event]) -> Playback {
    let mut state = start;
    for event in events {
        state.step(*event);
    }
    state
}

#[tokio::test(start_paused = true)]
async fn idle_to_playing_and_back() {
    assert_eq!(
        after(Playback::Idle, &[Event::Started(A)]),
        Playback::Playing(A)
    );
    assert_eq!(after(Playback::Playing(A), &[Event::Ended]), Playback::Idle);
}

#[tokio::test(start_paused = true)]
async fn a_more_urgent_offer_is_decided_on_and_may_be_kept_waiting() {
    let deciding = after(Playback::Playing(A), &[Event::Urgent { by: 20 }]);
    assert_eq!(deciding, Playback::InterruptDecision { playing: A, by: 20 });
    assert_eq!(deciding.playing(), Some(A), "still on air while deciding");
    assert_eq!(
        after(deciding, &[Event::Kept]),
        Playback::Playing(A),
        "the rule said no"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cut_goes_through_interrupted_and_post_interrupt_to_the_interrupter() {
    let cut = after(
        Playback::Playing(A),
        &[Event::Urgent { by: 20 }, Event::Cut],
    );
    assert_eq!(cut, Playback::Interrupted { cut: A, by: 20 });
    assert_eq!(cut.playing(), None, "nothing on air once stopped");
    assert_eq!(cut.interrupter(), Some(20));
    let resolved = after(cut, &[Event::CutResolved(Fate::Resume { from_clause: 1 })]);
    assert_eq!(resolved, Playback::PostInterrupt { by: 20 });
    assert_eq!(resolved.interrupter(), Some(20));
    assert_eq!(after(resolved, &[Event::Started(B)]), Playback::Playing(B));
}

#[tokio::test(start_paused = true)]
async fn the_interrupter_may_start_before_the_cut_line_is_reported() {
    let cut = Playback::Interrupted { cut: A, by: 20 };
    assert_eq!(after(cut, &[Event::Started(B)]), Playback::Playing(B));
    // The late report changes nothing any more.
    assert_eq!(
        after(Playback::Playing(B), &[Event::CutResolved(Fate::Heard)]),
        Playback::Playing(B)
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupter_that_will_not_air_leaves_the_unit_idle() {
    for state in [
        Playback::Interrupted { cut: A, by: 20 },
        Playback::PostInterrupt { by: 20 },
    ] {
        assert_eq!(after(state, &[Event::InterrupterGone]), Playback::Idle);
    }
}

#[tokio::test(start_paused = true)]
async fn events_that_do_not_apply_change_nothing() {
    let cases = [
        (Playback::Idle, Event::Ended),
        (Playback::Idle, Event::Urgent { by: 3 }),
        (Playback::Idle, Event::Cut),
        (Playback::Playing(A), Event::Started(B)),
        (Playback::Playing(A), Event::Kept),
        (Playback::Playing(A), Event::Cut),
        (Playback::Playing(A), Event::InterrupterGone),
        (
            Playback::InterruptDecision { playing: A, by: 2 },
            Event::Ended,
        ),
        (Playback::Interrupted { cut: A, by: 2 }, Event::Ended),
        (
            Playback::PostInterrupt { by: 2 },
            Event::CutResolved(Fate::Heard),
        ),
    ];
    for (state, event) in cases {
        assert_eq!(after(state, &[event]), state, "{state:?} on {event:?}");
    }
}

/// Three clauses of 1 s, 1 s and 0.5 s (48 samples a millisecond).
fn clauses() -> Vec<ClauseSpan> {
    [
        ("谢谢大哥，", 48_000),
        ("送的火箭，", 96_000),
        ("爱你！", 120_000),
    ]
    .into_iter()
    .map(|(text, end_sample)| ClauseSpan {
        text: text.into(),
        end_sample,
    })
    .collect()
}

fn facts(clauses: &[ClauseSpan], played_ms: u32) -> CutFacts<'_> {
    CutFacts {
        requeued: true,
        paid: true,
        expired: false,
        completed: false,
        played_ms,
        clauses,
        first_clause: 0,
    }
}

#[test]
fn a_cut_line_resumes_from_the_clause_that_was_playing() {
    let clauses = clauses();
    for (played_ms, from_clause) in [(0, 0), (999, 0), (1000, 1), (1500, 1), (2400, 2)] {
        assert_eq!(
            fate(facts(&clauses, played_ms)),
            Fate::Resume { from_clause },
            "cut at {played_ms} ms"
        );
    }
    // Counted in the whole line's clauses when the utterance was itself a resumption (its
    // clauses counted from its own start).
    let rest = [
        ClauseSpan {
            text: "送的火箭，".into(),
            end_sample: 48_000,
        },
        ClauseSpan {
            text: "爱你！".into(),
            end_sample: 72_000,
        },
    ];
    let resumed = CutFacts {
        first_clause: 1,
        ..facts(&rest, 1100)
    };
    assert_eq!(fate(resumed), Fate::Resume { from_clause: 1 + 1 });
}

#[test]
fn a_mostly_heard_thank_you_resumes_its_last_clause_and_a_finished_one_is_heard() {
    let clauses = clauses();
    // 96 % heard: still not heard, its last clause is said again.
    assert_eq!(fate(facts(&clauses, 2400)), Fate::Resume { from_clause: 2 });
    assert_eq!(fate(facts(&clauses, 2500)), Fate::Heard, "all of it played");
    let completed = CutFacts {
        completed: true,
        ..facts(&clauses, 0)
    };
    assert_eq!(fate(completed), Fate::Heard, "the avatar played it out");
}

#[test]
fn unpaid_lines_let_go_or_past_their_ttl_are_discarded() {
    let clauses = clauses();
    let let_go = CutFacts {
        requeued: false,
        paid: false,
        ..facts(&clauses, 1500)
    };
    assert_eq!(fate(let_go), Fate::Discard);
    let stale = CutFacts {
        paid: false,
        expired: true,
        ..facts(&clauses, 200)
    };
    assert_eq!(fate(stale), Fate::Discard);
    let paid = CutFacts {
        expired: true,
        ..facts(&clauses, 200)
    };
    assert_eq!(
        fate(paid),
        Fate::Resume { from_clause: 0 },
        "a paid line has no TTL"
    );
    let heard = CutFacts {
        requeued: false,
        paid: false,
        completed: true,
        ..facts(&clauses, 1500)
    };
    assert_eq!(fate(heard), Fate::Heard, "heard beats let go");
}
