use aivs_core::event::{EventKind, Gift, LiveEvent, Viewer};
use aivs_core::tiers::Tier;

use super::*;

fn gift(msg: &str, diamonds: u64, count: u32) -> LiveEvent {
    LiveEvent {
        platform: "douyin".into(),
        msg_id: msg.into(),
        user: Some(Viewer {
            id: "u1".into(),
            name: "小明".into(),
            level: 3,
            fan_level: 0,
        }),
        kind: EventKind::Gift(Gift {
            gift_id: "g".into(),
            gift_name: "小心心".into(),
            diamonds,
            count,
            price: None,
            message: None,
            combo: None,
        }),
    }
}

/// Admits one gift on its own; true when it was new.
fn record(ledger: &Ledger, event: LiveEvent, now_ms: u64) -> bool {
    let out = ledger
        .admit(vec![event], None, &|_| Tier::Small, now_ms)
        .unwrap();
    matches!(out[0], Admission::Fresh(_))
}

#[test]
fn a_gift_is_recorded_once_per_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("sub/ledger.sqlite3")).unwrap();
    assert!(record(&ledger, gift("m1", 1, 3), 1));
    assert!(!record(&ledger, gift("m1", 1, 3), 2));
    assert!(record(&ledger, gift("m2", 1, 1), 3));
    let rows = ledger.gifts().unwrap();
    assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 4);
    // A gift's viewer memory is written with it, not behind.
    let viewer_fen: i64 = ledger
        .conn
        .query_row(
            "SELECT gift_fen FROM viewers WHERE user_id = 'u1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(viewer_fen, 40, "viewer memory counts each gift once");
}

#[test]
fn unthanked_gifts_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    {
        let ledger = Ledger::open(&path).unwrap();
        record(&ledger, gift("m1", 1, 1), 1);
        record(&ledger, gift("m2", 1, 1), 2);
        ledger
            .mark_aired("douyin", &["m1".into()], "谢谢", 3)
            .unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    let pending = ledger.unthanked_gifts().unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|e| e.msg_id.as_str())
            .collect::<Vec<_>>(),
        vec!["m2"]
    );
}

#[test]
fn a_paid_message_survives_a_restart_and_old_ledgers_get_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    {
        // A ledger from before messages: the gifts table without the column.
        let ledger = Ledger::open(&path).unwrap();
        ledger
            .conn
            .execute_batch("ALTER TABLE gifts DROP COLUMN message")
            .unwrap();
    }
    {
        let ledger = Ledger::open(&path).unwrap();
        let mut sc = gift("sc-1", 300, 1);
        if let EventKind::Gift(g) = &mut sc.kind {
            g.message = Some("主播唱首歌吧".into());
        }
        record(&ledger, sc, 1);
    }
    let ledger = Ledger::open(&path).unwrap();
    let pending = ledger.unthanked_gifts().unwrap();
    let EventKind::Gift(g) = &pending[0].kind else {
        panic!("a gift")
    };
    assert_eq!(g.message.as_deref(), Some("主播唱首歌吧"));
}

#[test]
fn pruning_forgets_old_ids_and_combos_but_never_gifts() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    let day = maintenance::RETENTION.as_millis() as u64;
    let mut comment = gift("c-old", 1, 1);
    comment.kind = EventKind::Comment { text: "hi".into() };
    ledger
        .admit(vec![comment.clone()], None, &|_| Tier::Small, 1)
        .unwrap();
    record(&ledger, gift("g-old", 1, 1), 2);
    let mut recent = comment.clone();
    recent.msg_id = "c-new".into();
    ledger
        .admit(vec![recent], None, &|_| Tier::Small, day + 10)
        .unwrap();

    let deleted = maintenance::prune(&ledger.conn, day + 5).unwrap();
    assert_eq!(deleted, 2, "the two day-old seen_log rows");
    drop(ledger);
    // Reopened, the window holds only what is left: the old comment id is forgotten; the
    // old gift is still a duplicate (gifts are kept).
    let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    assert_eq!(ledger.recent_ids(), 1);
    let again = ledger
        .admit(vec![comment], None, &|_| Tier::Small, day + 20)
        .unwrap();
    assert!(matches!(again[0], Admission::Fresh(_)));
    assert!(!record(&ledger, gift("g-old", 1, 1), day + 20));
    assert_eq!(ledger.gifts().unwrap().len(), 1);
}

#[test]
fn absurd_values_are_clamped_not_wrapped() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("l.sqlite3")).unwrap();
    record(&ledger, gift("m", u64::MAX, u32::MAX), 1);
    assert_eq!(ledger.gifts().unwrap()[0].value_fen, i64::MAX as u64);
}
