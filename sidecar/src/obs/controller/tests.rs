//! The controller against an OBS stand-in that accepts and never answers.

use std::path::Path;

use super::*;

fn shipped_scenes() -> SceneSet {
    SceneSet::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenes")).unwrap()
}

#[tokio::test]
async fn a_frozen_obs_never_holds_the_sender() {
    // Accepts TCP (the kernel's backlog, like a SIGSTOPped OBS) and never answers.
    let frozen = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = ObsConfig {
        port: frozen.local_addr().unwrap().port(),
        connect_timeout_secs: 0.3,
        request_timeout_secs: 0.3,
        retry_secs: 0.1,
        retry_max_secs: 0.2,
        ..ObsConfig::default()
    };
    let (obs, task) = ObsController::spawn(config, shipped_scenes(), BTreeMap::new());
    let begin = std::time::Instant::now();
    for i in 0..100_000 {
        obs.send(ObsAction::LatestGift {
            text: format!("gift {i}"),
        });
        obs.send(ObsAction::Celebrate {
            caption: "c".into(),
            secs: 5.0,
        });
    }
    let took = begin.elapsed();
    assert!(took < Duration::from_secs(2), "200k sends took {took:?}");
    assert_eq!(
        obs.shared.snapshot().desired.latest_gift.as_deref(),
        Some("gift 99999")
    );
    // Stopping a recording while OBS cannot answer is answered within about a connect
    // attempt, with "no recording".
    let stopped = tokio::time::timeout(Duration::from_secs(3), obs.stop_recording()).await;
    assert_eq!(stopped.expect("stop_recording must not hang"), None);
    // The last handle gone, the task ends.
    drop(obs);
    tokio::time::timeout(Duration::from_secs(3), task)
        .await
        .expect("task ends once every handle is gone")
        .unwrap();
    drop(frozen);
}
