use std::collections::BTreeMap;
use std::time::Duration;

use aivs_core::pricing::Pricing;
use rusqlite::Connection;
use tokio::sync::mpsc;

use super::*;
use crate::event::{EventKind, Gift, Viewer};
use crate::ledger::Ledger;
use crate::source::EventSink;

fn gift(id: u32) -> LiveEvent {
    LiveEvent {
        platform: "douyin".into(),
        msg_id: format!("g{id}"),
        user: Some(Viewer {
            id: format!("u{}", id % 7),
            name: "观众".into(),
            level: 0,
            fan_level: 0,
        }),
        kind: EventKind::Gift(Gift {
            gift_id: "rose".into(),
            gift_name: "玫瑰".into(),
            diamonds: 1,
            count: 1,
            price: None,
            message: None,
            combo: None,
        }),
    }
}

fn start(path: &std::path::Path) -> (EventSink, mpsc::Receiver<Intake>, LedgerHandle) {
    let ledger = LedgerHandle::spawn(Ledger::open(path).unwrap()).unwrap();
    let (tx, rx) = mpsc::channel(16);
    let intake = Admitter::new(ledger.clone(), TierTable::default(), Pricing::default()).spawn(rx);
    (EventSink::new(tx), intake, ledger)
}

/// Another process holding the write lock for longer than the busy timeout (5 s): the group
/// is held, unacknowledged, and committed once the lock is gone, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_ledger_holds_the_group_unacknowledged_until_it_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let (sink, mut intake, ledger) = start(&path);
    sink.deliver(vec![gift(0)], Some(("douyin:1".into(), "c0".into())))
        .await
        .unwrap();
    assert!(matches!(intake.recv().await, Some(Intake::Admitted(_))));

    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let locker = std::thread::spawn({
        let path = path.clone();
        move || {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
            locked_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(6_500));
            conn.execute_batch("COMMIT").unwrap();
        }
    });
    locked_rx.recv().unwrap();
    let started = tokio::time::Instant::now();
    let delivers: Vec<_> = (1..=20)
        .map(|i| {
            let sink = sink.clone();
            tokio::spawn(async move {
                let checkpoint = Some(("douyin:1".to_string(), format!("c{i}")));
                sink.deliver(vec![gift(i)], checkpoint).await
            })
        })
        .collect();
    let mut retries = 0;
    let mut fresh = 0;
    while fresh < 20 {
        match tokio::time::timeout(Duration::from_secs(20), intake.recv()).await {
            Ok(Some(Intake::Admitted(group))) => {
                retries += group.retries;
                fresh += group.fresh.len();
            }
            other => panic!("expected admitted groups, got {other:?}"),
        }
    }
    for d in delivers {
        d.await.unwrap().expect("acknowledged after the commit");
    }
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "nothing was acknowledged while the lock was held ({:?})",
        started.elapsed()
    );
    assert!(retries > 0, "the commit was retried");
    locker.join().unwrap();
    let gifts = ledger.call(|l| l.gifts()).await.unwrap();
    assert_eq!(gifts.len(), 21, "every gift exactly once");
    let checkpoint = ledger.call(|l| l.checkpoint("douyin:1")).await.unwrap();
    assert!(checkpoint.is_some());
    assert!(sink.committed_checkpoint("douyin:1").is_some());
}

/// The ledger file deleted under the running show cannot heal: admission says so and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_ledger_file_is_fatal_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let (sink, mut intake, _ledger) = start(&path);
    sink.deliver(vec![gift(1)], None).await.unwrap();
    assert!(matches!(intake.recv().await, Some(Intake::Admitted(_))));
    std::fs::remove_file(&path).unwrap();
    let fatal = loop {
        match tokio::time::timeout(Duration::from_secs(5), intake.recv()).await {
            Ok(Some(Intake::Fatal(why))) => break why,
            Ok(Some(Intake::Admitted(_))) => continue,
            other => panic!("expected a fatal intake, got {other:?}"),
        }
    };
    assert!(
        fatal.contains("ledger.sqlite") && fatal.contains("deleted"),
        "{fatal}"
    );
    // Nothing is acknowledged after that.
    let late =
        tokio::time::timeout(Duration::from_secs(2), sink.deliver(vec![gift(2)], None)).await;
    assert!(!matches!(late, Ok(Ok(()))), "{late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn price_overrides_apply_before_the_gift_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = LedgerHandle::spawn(Ledger::open(&dir.path().join("l.sqlite")).unwrap()).unwrap();
    let (tx, rx) = mpsc::channel(16);
    let overrides = BTreeMap::from([("rose".to_string(), 52)]);
    let pricing = Pricing {
        overrides,
        ..Pricing::default()
    };
    let mut intake = Admitter::new(ledger.clone(), TierTable::default(), pricing).spawn(rx);
    EventSink::new(tx)
        .deliver(vec![gift(1)], None)
        .await
        .unwrap();
    let Some(Intake::Admitted(group)) = intake.recv().await else {
        panic!("admitted")
    };
    let EventKind::Gift(g) = &group.fresh[0].kind else {
        panic!("a gift")
    };
    assert_eq!(g.diamonds, 52);
    let gifts = ledger.call(|l| l.gifts()).await.unwrap();
    assert_eq!(gifts[0].value_fen, 520);
}
