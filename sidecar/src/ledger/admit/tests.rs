use super::*;
use crate::event::{ComboTotal, Gift, Viewer};
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
        }),
        kind: EventKind::Gift(Gift {
            gift_id: "463".into(),
            gift_name: "小心心".into(),
            diamonds: 1,
            count: 0,
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
