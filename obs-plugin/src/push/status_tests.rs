use serde_json::json;

use super::*;
use crate::push::config::parse_target;

fn secs(t0: Instant, s: f64) -> Instant {
    t0 + Duration::from_secs_f64(s)
}

#[test]
fn a_normal_run_goes_starting_live_stopping_idle() {
    let t0 = Instant::now();
    let mut rt = Runtime::default();
    assert_eq!(
        rt.apply(Happening::StartRequested, t0).as_deref(),
        Some("start requested")
    );
    assert_eq!(rt.state, State::Starting);
    assert_eq!(
        rt.apply(Happening::Started, t0).as_deref(),
        Some("connected")
    );
    assert_eq!(rt.state, State::Live);
    assert_eq!(
        rt.apply(Happening::Started, t0),
        None,
        "no change, no event"
    );
    rt.apply(Happening::StopRequested, t0);
    assert_eq!(rt.state, State::Stopping);
    assert_eq!(rt.apply(Happening::Stopping, t0), None);
    // A requested stop is "stopped" whatever code the output ends with.
    let r = rt.apply(
        Happening::Stopped {
            code: -4,
            error: None,
        },
        t0,
    );
    assert_eq!(r.as_deref(), Some("stopped"));
    assert_eq!(rt.state, State::Idle);
    assert_eq!(rt.last_error, "");
}

#[test]
fn reconnects_are_counted_and_each_attempt_reported() {
    let t0 = Instant::now();
    let mut rt = Runtime::default();
    rt.apply(Happening::StartRequested, t0);
    rt.apply(Happening::Started, t0);
    for n in 1..=3 {
        let r = rt
            .apply(Happening::Reconnect { timeout_secs: 2 }, t0)
            .unwrap();
        assert!(r.contains(&format!("attempt {n}")), "{r}");
        assert_eq!(rt.state, State::Reconnecting);
    }
    assert_eq!(
        rt.apply(Happening::Reconnected, t0).as_deref(),
        Some("reconnected")
    );
    assert_eq!((rt.state, rt.reconnects), (State::Live, 3));
}

#[test]
fn an_unrequested_stop_is_a_failure_with_a_reason() {
    let t0 = Instant::now();
    let mut rt = Runtime::default();
    rt.apply(Happening::StartRequested, t0);
    let r = rt
        .apply(
            Happening::Stopped {
                code: -2,
                error: None,
            },
            t0,
        )
        .unwrap();
    assert_eq!(rt.state, State::Failed);
    assert_eq!(rt.last_error, "could not connect to the server");
    assert!(r.starts_with("failed: "));
    rt.apply(Happening::StartRequested, t0);
    assert_eq!(rt.last_error, "", "a new start clears the old error");
    rt.apply(
        Happening::Stopped {
            code: -5,
            error: Some("gone".into()),
        },
        t0,
    );
    assert_eq!((rt.state, rt.last_error.as_str()), (State::Failed, "gone"));
}

#[test]
fn counters_survive_obs_resetting_them() {
    let mut c = Counter::default();
    for raw in [10, 50, 0, 5, 20] {
        c.observe(raw);
    }
    assert_eq!(c.total(), 70);
}

#[test]
fn bitrate_is_measured_over_the_last_two_seconds() {
    let t0 = Instant::now();
    let mut rt = Runtime::default();
    assert_eq!(rt.bitrate_kbps(), 0.0);
    // 1 Mbit/s for 4 s, then 2 Mbit/s for 4 s, sampled every 0.5 s.
    let mut bytes = 0u64;
    for i in 1..=16 {
        bytes += if i <= 8 { 62_500 } else { 125_000 };
        rt.sample(secs(t0, i as f64 * 0.5), bytes, i, 0, 0.1);
    }
    let kbps = rt.bitrate_kbps();
    assert!((kbps - 2000.0).abs() < 1.0, "{kbps}");
}

#[test]
fn the_status_object_has_every_field_and_no_key() {
    let t0 = Instant::now();
    let config = parse_target(
        0,
        &json!({ "name": "b", "server": "rtmp://h/live", "key": "very-secret-abcd",
                 "encoder": { "kind": "shared" } }),
    )
    .unwrap();
    let mut rt = Runtime::default();
    rt.apply(Happening::StartRequested, t0);
    rt.apply(Happening::Started, t0);
    rt.apply(
        Happening::Stopped {
            code: -4,
            error: Some("write to very-secret-abcd failed".into()),
        },
        t0,
    );
    let s = rt.status(&config, secs(t0, 1.0));
    let text = s.to_string();
    assert!(!text.contains("very-secret"), "{text}");
    assert_eq!(s["key_hint"], "••••abcd");
    assert_eq!(s["encoder"], "shared");
    assert_eq!(s["state"], "failed");
    for field in [
        "name",
        "server",
        "protocol",
        "key_set",
        "key_hint",
        "encoder",
        "width",
        "height",
        "bitrate_kbps",
        "keyint_secs",
        "with_main",
        "state",
        "last_error",
        "bytes_sent",
        "frames_sent",
        "frames_dropped",
        "reconnects",
        "bitrate_kbps_now",
        "congestion",
        "uptime_secs",
    ] {
        assert!(s.get(field).is_some(), "{field} missing");
    }
}

#[test]
fn a_failed_connect_is_retried_with_growing_delays() {
    let t0 = Instant::now();
    let mut rt = Runtime::default();
    rt.apply(Happening::StartRequested, t0);
    rt.apply(
        Happening::Stopped {
            code: -2,
            error: None,
        },
        t0,
    );
    assert!(rt.retryable());
    let mut policy = RetryPolicy::default();
    assert!(!policy.poll(true, t0), "schedules first");
    assert!(!policy.poll(true, secs(t0, 1.9)));
    assert!(policy.poll(true, secs(t0, 2.0)));
    let r = rt.apply(Happening::Retry, secs(t0, 2.0)).unwrap();
    assert!(
        r.contains("attempt 1") && r.contains("could not connect"),
        "{r}"
    );
    assert_eq!((rt.state, rt.reconnects), (State::Starting, 1));
    rt.apply(
        Happening::Stopped {
            code: -2,
            error: None,
        },
        secs(t0, 2.1),
    );
    assert!(!policy.poll(true, secs(t0, 2.1)));
    assert!(!policy.poll(true, secs(t0, 4.9)), "second delay is 3 s");
    assert!(policy.poll(true, secs(t0, 5.1)));
    rt.apply(Happening::Retry, secs(t0, 5.1));
    assert_eq!(
        rt.apply(Happening::Started, secs(t0, 5.2)).as_deref(),
        Some("reconnected")
    );
    assert_eq!(rt.last_error, "");
    assert!(!policy.poll(false, secs(t0, 6.0)));
}

#[test]
fn refused_keys_and_requested_stops_are_not_retried() {
    let t0 = Instant::now();
    let mut rt = Runtime::default();
    rt.apply(Happening::StartRequested, t0);
    rt.apply(
        Happening::Stopped {
            code: -3,
            error: None,
        },
        t0,
    );
    assert_eq!(rt.state, State::Failed);
    assert!(!rt.retryable());
    rt.apply(Happening::StartRequested, t0);
    rt.apply(Happening::StopRequested, t0);
    rt.apply(
        Happening::Stopped {
            code: -2,
            error: None,
        },
        t0,
    );
    assert_eq!(rt.state, State::Idle);
    assert!(!rt.retryable());
    let mut policy = RetryPolicy::default();
    for i in 0..20 {
        policy.poll(true, secs(t0, 0.0));
        policy.poll(true, secs(t0, 1000.0 * f64::from(i + 1)));
    }
    assert_eq!(policy.delay, RetryPolicy::MAX);
}
