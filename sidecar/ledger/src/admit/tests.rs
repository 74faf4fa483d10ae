use super::super::recent::id_hash;
use super::*;
use aivs_core::event::{ComboTotal, Gift, Viewer};
use proptest::prelude::*;

fn classify(_fen: u64) -> Tier {
    Tier::Small
}

fn combo_gift(msg: &str, key: &str, total: u64, end: bool) -> LiveEvent {
    LiveEvent {
        platform: "douyin".into(),
        msg_id: msg.into(),
        user: Some(Viewer {
            id: "u1".into(),
            name: "小明".into(),
            level: 0,
            fan_level: 0,
        }),
        kind: EventKind::Gift(Gift {
            gift_id: "463".into(),
            gift_name: "小心心".into(),
            diamonds: 1,
            count: 0,
            price: None,
            message: None,
            combo: Some(ComboTotal {
                key: key.into(),
                total,
                end,
            }),
        }),
    }
}

fn counted(admissions: &[Admission]) -> u64 {
    admissions
        .iter()
        .map(|a| match a {
            Admission::Fresh(LiveEvent {
                kind: EventKind::Gift(g),
                ..
            }) => u64::from(g.count),
            _ => 0,
        })
        .sum()
}

fn ledger_total(ledger: &Ledger) -> u64 {
    ledger.gifts().unwrap().iter().map(|g| g.count).sum()
}

#[test]
fn running_totals_become_increments_and_summaries_add_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    let batch = vec![
        combo_gift("a1", "k", 1, false),
        combo_gift("a3", "k", 3, false), // a2 lost upstream: still counted through a3's total
        combo_gift("a2", "k", 2, false), // late: adds nothing
        combo_gift("a3", "k", 3, false), // duplicate
        combo_gift("end", "k", 5, true), // summary: the last two taps never arrived alone
    ];
    let out = ledger.admit(batch, None, &classify, 1).unwrap();
    assert_eq!(
        out.iter()
            .map(|a| match a {
                Admission::Fresh(LiveEvent {
                    kind: EventKind::Gift(g),
                    ..
                }) => g.count as i64,
                Admission::Fresh(_) => unreachable!("only gifts here"),
                Admission::Duplicate => -1,
                Admission::NothingNew => 0,
            })
            .collect::<Vec<_>>(),
        vec![1, 2, 0, -1, 2]
    );
    assert_eq!(ledger_total(&ledger), 5);
}

#[test]
fn a_combo_half_counted_before_a_restart_continues_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    {
        let ledger = Ledger::open(&path).unwrap();
        let batch = (1..=7)
            .map(|n| combo_gift(&format!("m{n}"), "k", n, false))
            .collect();
        ledger
            .admit(batch, Some(("douyin:1", "cursor-7")), &classify, 1)
            .unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(
        ledger.checkpoint("douyin:1").unwrap().as_deref(),
        Some("cursor-7")
    );
    // The platform resends from an older cursor, then the combo goes on.
    let batch = (5..=10)
        .map(|n| combo_gift(&format!("m{n}"), "k", n, false))
        .collect();
    let out = ledger.admit(batch, None, &classify, 2).unwrap();
    assert_eq!(counted(&out), 3);
    assert_eq!(ledger_total(&ledger), 10);
}

#[test]
fn other_events_are_deduplicated_by_message_id_too() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    let comment = LiveEvent {
        platform: "douyin".into(),
        msg_id: "c1".into(),
        user: None,
        kind: EventKind::Comment { text: "hi".into() },
    };
    let stats = LiveEvent {
        msg_id: String::new(),
        kind: EventKind::ViewerStats {
            online: 1,
            total: 2,
        },
        ..comment.clone()
    };
    let out = ledger
        .admit(
            vec![comment.clone(), comment, stats.clone(), stats],
            None,
            &classify,
            1,
        )
        .unwrap();
    assert!(matches!(out[0], Admission::Fresh(_)));
    assert_eq!(out[1], Admission::Duplicate);
    assert!(matches!(out[2], Admission::Fresh(_)) && matches!(out[3], Admission::Fresh(_)));
}

fn comment(msg: &str, user: &str) -> LiveEvent {
    LiveEvent {
        platform: "douyin".into(),
        msg_id: msg.into(),
        user: Some(Viewer {
            id: user.into(),
            name: format!("观众{user}"),
            level: 0,
            fan_level: 0,
        }),
        kind: EventKind::Comment { text: "hi".into() },
    }
}

fn stored_viewer_events(ledger: &Ledger, user: &str) -> Option<i64> {
    ledger
        .conn
        .query_row(
            "SELECT events FROM viewers WHERE user_id = ?1",
            [user],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
}

#[test]
fn the_duplicate_window_is_rebuilt_from_the_log_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    {
        let ledger = Ledger::open(&path).unwrap();
        let out = ledger
            .admit(
                vec![comment("c1", "u"), comment("c2", "u")],
                None,
                &classify,
                1,
            )
            .unwrap();
        assert!(out.iter().all(|a| matches!(a, Admission::Fresh(_))));
    }
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(ledger.recent_ids(), 2);
    let out = ledger
        .admit(
            vec![comment("c2", "u"), comment("c3", "u")],
            None,
            &classify,
            2,
        )
        .unwrap();
    assert_eq!(out[0], Admission::Duplicate);
    assert!(matches!(out[1], Admission::Fresh(_)));
}

#[test]
fn a_failed_transaction_leaves_no_trace_and_the_resend_is_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    // Make the checkpoint write (the group's last statement) fail.
    ledger
        .conn
        .execute_batch("ALTER TABLE checkpoints RENAME TO away")
        .unwrap();
    let batch = || vec![combo_gift("g1", "k", 3, false), comment("c1", "u")];
    assert!(ledger
        .admit(batch(), Some(("douyin:1", "c")), &classify, 1)
        .is_err());
    assert_eq!(ledger.recent_ids(), 0, "the window forgot the group");
    assert_eq!(ledger_total(&ledger), 0, "rolled back");
    ledger
        .conn
        .execute_batch("ALTER TABLE away RENAME TO checkpoints")
        .unwrap();
    let out = ledger
        .admit(batch(), Some(("douyin:1", "c")), &classify, 2)
        .unwrap();
    assert_eq!(counted(&out), 3);
    assert!(matches!(out[1], Admission::Fresh(_)));
    assert_eq!(ledger_total(&ledger), 3);
}

#[test]
fn a_gift_is_never_dropped_on_a_window_hash_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    // What a 64-bit collision would look like: the window "knows" ids it never admitted.
    for id in ["g-new", "c-new"] {
        ledger.recent.borrow_mut().insert(id_hash("douyin", id));
    }
    let mut gift = combo_gift("g-new", "k", 0, false);
    if let EventKind::Gift(g) = &mut gift.kind {
        g.combo = None;
        g.count = 2;
    }
    let out = ledger
        .admit(
            vec![gift.clone(), comment("c-new", "u")],
            None,
            &classify,
            1,
        )
        .unwrap();
    assert_eq!(
        counted(&out),
        2,
        "the gift is checked against `gifts` and counted"
    );
    assert_eq!(
        out[1],
        Admission::Duplicate,
        "for other events the window decides"
    );
    // And once recorded, its resend is a duplicate.
    let out = ledger.admit(vec![gift], None, &classify, 2).unwrap();
    assert_eq!(out[0], Admission::Duplicate);
    assert_eq!(ledger_total(&ledger), 2);
}

#[test]
fn viewer_memory_is_written_behind_but_gifts_at_once() {
    use super::super::viewers::GATHER_MS;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    let ledger = Ledger::open(&path).unwrap();
    ledger
        .admit(
            vec![comment("c1", "chatty"), comment("c2", "chatty")],
            None,
            &classify,
            1_000,
        )
        .unwrap();
    assert_eq!(stored_viewer_events(&ledger, "chatty"), None, "pending");
    let memory = ledger
        .viewer_memory("douyin", "chatty", 0)
        .unwrap()
        .unwrap();
    assert_eq!(memory.events, 2, "reads see what is pending");

    // A gift's viewer is written in the gift's transaction, with what was pending for them.
    ledger
        .admit(vec![comment("c3", "giver")], None, &classify, 1_001)
        .unwrap();
    let mut gift = combo_gift("g1", "k", 4, false);
    gift.user.as_mut().unwrap().id = "giver".into();
    ledger.admit(vec![gift], None, &classify, 1_002).unwrap();
    assert_eq!(stored_viewer_events(&ledger, "giver"), Some(2));

    // The chatty viewer is written by a later group once it has gathered long enough.
    ledger
        .admit(
            vec![comment("c4", "other")],
            None,
            &classify,
            1_000 + GATHER_MS,
        )
        .unwrap();
    assert_eq!(stored_viewer_events(&ledger, "chatty"), Some(2));
    assert_eq!(
        ledger
            .viewer_memory("douyin", "chatty", 0)
            .unwrap()
            .unwrap()
            .events,
        2
    );

    // What is still pending is written when the ledger closes.
    drop(ledger);
    let ledger = Ledger::open(&path).unwrap();
    assert_eq!(stored_viewer_events(&ledger, "other"), Some(1));
    let fen: i64 = ledger
        .conn
        .query_row(
            "SELECT gift_fen FROM viewers WHERE user_id = 'giver'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(fen, 40);
}

#[test]
fn a_ledger_with_the_old_seen_table_keeps_its_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.sqlite3");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE seen (platform TEXT NOT NULL, msg_id TEXT NOT NULL,
                at_ms INTEGER NOT NULL, PRIMARY KEY (platform, msg_id)) WITHOUT ROWID;
             INSERT INTO seen VALUES ('douyin', 'old-1', 5), ('douyin', 'old-2', 6);",
        )
        .unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    let out = ledger
        .admit(
            vec![comment("old-2", "u"), comment("new", "u")],
            None,
            &classify,
            7,
        )
        .unwrap();
    assert_eq!(out[0], Admission::Duplicate);
    assert!(matches!(out[1], Admission::Fresh(_)));
    let tables: i64 = ledger
        .conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'seen'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
}

/// One combo of the generated ground truth: `taps` messages with running totals, each tap a
/// bundle of `group` gifts, and maybe an end summary.
#[derive(Debug, Clone)]
struct TruthCombo {
    taps: u64,
    group: u64,
    summary: bool,
}

fn storm() -> impl Strategy<Value = (Vec<TruthCombo>, Vec<u32>, Vec<u32>, Vec<u32>)> {
    (
        prop::collection::vec(
            (
                1u64..12,
                prop_oneof![Just(1u64), Just(10), Just(1314)],
                any::<bool>(),
            )
                .prop_map(|(taps, group, summary)| TruthCombo {
                    taps,
                    group,
                    summary,
                }),
            1..8,
        ),
        // Per-message random keys: order jitter, duplication, batch cuts / restarts.
        prop::collection::vec(any::<u32>(), 128),
        prop::collection::vec(any::<u32>(), 128),
        prop::collection::vec(any::<u32>(), 128),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For random interleavings, duplicates, intermediate losses, reconnect resends and
    /// restarts, what the ledger holds equals the ground truth.
    #[test]
    fn the_ledger_total_equals_ground_truth((combos, jitter, dup, cut) in storm()) {
        let truth: u64 = combos.iter().map(|c| c.taps * c.group).sum();
        // Messages in sending order: (position, event, is_last_of_its_combo).
        let mut messages = Vec::new();
        for (ci, combo) in combos.iter().enumerate() {
            for tap in 1..=combo.taps {
                messages.push((
                    combo_gift(&format!("c{ci}t{tap}"), &format!("k{ci}"), tap * combo.group, false),
                    tap == combo.taps && !combo.summary,
                ));
            }
            if combo.summary {
                messages.push((
                    combo_gift(&format!("c{ci}end"), &format!("k{ci}"), combo.taps * combo.group, true),
                    true,
                ));
            }
        }
        // Interleave combos and reorder nearby messages (sort by index + jitter).
        let mut order: Vec<(u64, usize)> = (0..messages.len())
            .map(|i| (i as u64 * 4 + u64::from(jitter[i % jitter.len()] % 9), i))
            .collect();
        order.sort();
        let mut stream = Vec::new();
        for (k, (_, i)) in order.iter().enumerate() {
            let (event, last) = &messages[*i];
            let r = dup[k % dup.len()];
            // Lose some intermediate messages (never the one carrying a combo's final total).
            if !last && r % 7 == 0 {
                continue;
            }
            stream.push(event.clone());
            if r % 5 == 0 {
                stream.push(event.clone()); // duplicate delivery
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite3");
        let mut ledger = Ledger::open(&path).unwrap();
        let mut at = 0;
        let mut step = 0;
        while at < stream.len() {
            let r = cut[step % cut.len()];
            step += 1;
            let len = 1 + (r as usize % 6).min(stream.len() - at - 1);
            // A reconnect resends the last few messages before going on.
            let from = if r % 4 == 0 { at.saturating_sub(3) } else { at };
            ledger.admit(stream[from..at + len].to_vec(), None, &classify, step as u64).unwrap();
            at += len;
            if r % 11 == 0 {
                drop(ledger); // the sidecar is killed and restarted
                ledger = Ledger::open(&path).unwrap();
            }
        }
        prop_assert_eq!(ledger_total(&ledger), truth);
    }
}
