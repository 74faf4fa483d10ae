use serde_json::json;

use super::*;

fn own(name: &str) -> Value {
    json!({
        "name": name, "server": "rtmp://127.0.0.1:1935/live", "key": "secret-key-1234",
        "encoder": { "kind": "own", "width": 1280, "height": 720, "bitrate_kbps": 2500 },
    })
}

fn err_text(v: Value) -> String {
    parse_targets(&json!({ "targets": [v] }))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_full_own_target_gets_its_defaults() {
    let t = parse_targets(&json!({ "targets": [own("a")] })).unwrap();
    assert_eq!(t.len(), 1);
    let t = &t[0];
    assert_eq!(t.protocol, Protocol::Rtmp);
    assert_eq!(t.server_host(), "127.0.0.1:1935");
    assert!(!t.with_main);
    assert_eq!(
        t.encoder,
        EncoderConfig::Own(OwnEncoder {
            width: 1280,
            height: 720,
            bitrate_kbps: 2500,
            keyint_secs: DEFAULT_KEYINT,
            preset: DEFAULT_PRESET.into(),
            audio_bitrate_kbps: DEFAULT_AUDIO_BITRATE,
        })
    );
}

#[test]
fn shared_and_srt_without_key_are_fine() {
    let t = parse_target(
        0,
        &json!({ "name": "s", "server": "srt://10.0.0.1:9000", "encoder": { "kind": "shared" },
                 "with_main": true }),
    )
    .unwrap();
    assert_eq!(t.protocol, Protocol::Srt);
    assert_eq!(t.encoder, EncoderConfig::Shared);
    assert!(t.with_main && !t.key.is_set());
}

#[test]
fn errors_name_the_target_and_the_field() {
    let mut v = own("a");
    v["key"] = json!("");
    assert_eq!(err_text(v), "target 'a': key must not be empty for rtmp");

    let mut v = own("a");
    v["encoder"]["kind"] = json!("gpu");
    assert!(err_text(v).starts_with("target 'a': encoder.kind 'gpu' is unknown"));

    let mut v = own("a");
    v["server"] = json!("http://example/live");
    assert!(err_text(v).starts_with("target 'a': server has an unsupported scheme 'http'"));

    for bad in [
        "rtmp://",
        "rtmp:///live",
        "rtmp://h:99999/live",
        "not a url",
        "rtmp://a b/c",
    ] {
        let mut v = own("a");
        v["server"] = json!(bad);
        assert!(err_text(v).starts_with("target 'a': server "), "{bad}");
    }

    let mut v = own("a");
    v["encoder"]["bitrate_kbps"] = json!(100);
    assert_eq!(
        err_text(v),
        "target 'a': encoder.bitrate_kbps must be an integer from 200 to 50000"
    );

    let mut v = own("a");
    v["encoder"]["width"] = json!(1279);
    assert!(err_text(v).contains("must be even"));

    let mut v = own("a");
    v["encoder"]["preset"] = json!("turbo");
    assert!(err_text(v).starts_with("target 'a': encoder.preset must be one of"));

    assert_eq!(
        err_text(json!({ "name": "", "server": "rtmp://h/a", "key": "k" })),
        "targets[0]: name must be 1 to 64 characters long"
    );
    assert_eq!(
        err_text(json!(["x"])),
        "targets[0]: entry must be an object"
    );
}

#[test]
fn names_must_be_unique_and_the_request_well_formed() {
    let e = parse_targets(&json!({ "targets": [own("a"), own("a")] })).unwrap_err();
    assert_eq!(
        e.to_string(),
        "target 'a': name is used by more than one target"
    );
    assert!(matches!(
        parse_targets(&json!({})),
        Err(ConfigError::BadRequest(_))
    ));
}

#[test]
fn the_key_never_appears_in_errors_or_debug() {
    let mut v = own("a");
    v["key"] = json!("abc def-secret");
    let text = err_text(v.clone());
    assert!(!text.contains("secret"), "{text}");
    let t = parse_target(0, &own("a")).unwrap();
    assert!(!format!("{t:?}").contains("secret-key"));
}

#[test]
fn hints_show_at_most_the_last_four_characters() {
    assert_eq!(StreamKey::new("secret-key-1234").hint(), "••••1234");
    assert_eq!(StreamKey::new("1234567").hint(), "");
    assert_eq!(StreamKey::new("").hint(), "");
    assert_eq!(
        StreamKey::new("k3y").redact("connect rtmp://h/live/k3y failed"),
        "connect rtmp://h/live/•••• failed"
    );
}
