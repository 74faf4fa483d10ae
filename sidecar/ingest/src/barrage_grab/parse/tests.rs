use serde_json::{json, Value};

use super::*;

/// The envelope the tool sends: `Data` is the inner document serialised into a string.
fn envelope(kind: i64, data: &Value) -> String {
    json!({"Type": kind, "ProcessName": "douyin.exe", "Data": data.to_string()}).to_string()
}

fn user() -> Value {
    json!({"Id": 98765432109u64, "ShortId": 1, "DisplayId": "abc", "Nickname": "小明", "Level": 3,
           "PayLevel": 12, "Gender": 1, "HeadImgUrl": "", "SecUid": "MS4w",
           "FansClub": {"ClubName": "", "Level": 0}, "FollowerCount": 5, "FollowStatus": 0})
}

fn event(text: &str) -> LiveEvent {
    match parse(text) {
        Ok(Parsed::Event(ev)) => ev,
        other => panic!("not an event: {other:?}"),
    }
}

fn gift_data(extra: Value) -> Value {
    let mut data = json!({"MsgId": 7312345678901234567i64, "User": user(), "Content": "送出 小心心",
        "RoomId": 7300000000000000001i64, "WebRoomId": 12345, "GiftId": 463, "GiftName": "小心心",
        "GroupId": 1700000000001i64, "GiftCount": 1, "RepeatCount": 1, "DiamondCount": 1,
        "Combo": true, "ImgUrl": "", "ToUser": null});
    for (k, v) in extra.as_object().unwrap() {
        data[k] = v.clone();
    }
    data
}

#[test]
fn chat_becomes_a_comment_with_the_viewer_and_pay_level() {
    let data = json!({"MsgId": 7312345678901230001i64, "User": user(), "Content": "主播好",
                      "RoomId": 1, "WebRoomId": 2});
    let ev = event(&envelope(1, &data));
    assert_eq!(ev.platform, "barrage_grab");
    assert_eq!(ev.msg_id, "7312345678901230001");
    assert_eq!(
        ev.user,
        Some(Viewer {
            id: "98765432109".into(),
            name: "小明".into(),
            level: 12,
            fan_level: 0,
        })
    );
    assert_eq!(
        ev.kind,
        EventKind::Comment {
            text: "主播好".into()
        }
    );
}

#[test]
fn level_falls_back_when_pay_level_is_unknown() {
    let mut u = user();
    u["PayLevel"] = json!(-1);
    let data = json!({"MsgId": 5, "User": u, "Content": "x"});
    assert_eq!(event(&envelope(3, &data)).user_level(), 3);
    u["Level"] = json!(0);
    let data = json!({"MsgId": 5, "User": u, "Content": "x"});
    assert_eq!(event(&envelope(3, &data)).user_level(), 0);
}

#[test]
fn the_fan_club_level_travels_with_the_viewer() {
    let mut u = user();
    u["FansClub"] = json!({"ClubName": "小樱团", "Level": 9});
    let data = json!({"MsgId": 6, "User": u, "Content": "x"});
    assert_eq!(event(&envelope(1, &data)).user.unwrap().fan_level, 9);
    // Not a member (Level 0), or a tool build without the field: 0.
    let data = json!({"MsgId": 7, "User": user(), "Content": "x"});
    assert_eq!(event(&envelope(1, &data)).user.unwrap().fan_level, 0);
}

#[test]
fn each_type_maps_to_its_event() {
    let base = |extra: Value| {
        let mut d = json!({"MsgId": 11, "User": user(), "Content": "", "RoomId": 1});
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        d
    };
    assert_eq!(
        event(&envelope(2, &base(json!({"Count": 7, "Total": 70})))).kind,
        EventKind::Like { count: 7 }
    );
    assert_eq!(event(&envelope(3, &base(json!({})))).kind, EventKind::Enter);
    assert_eq!(
        event(&envelope(4, &base(json!({})))).kind,
        EventKind::Follow
    );
    assert_eq!(
        event(&envelope(8, &base(json!({"ShareType": 1})))).kind,
        EventKind::Share
    );
    let stats = json!({"MsgId": 12, "User": null, "OnlineUserCount": 321, "TotalUserCount": 5000,
                       "OnlineUserCountStr": "321", "TotalUserCountStr": "5000"});
    let ev = event(&envelope(6, &stats));
    assert_eq!(
        ev.kind,
        EventKind::ViewerStats {
            online: 321,
            total: 5000
        }
    );
    assert_eq!(ev.user, None);
    assert_eq!(
        parse(&envelope(7, &base(json!({"Type": 2, "Level": 1})))),
        Ok(Parsed::FansClub)
    );
    assert_eq!(
        parse(&envelope(
            9,
            &json!({"MsgId": 13, "RoomId": 777, "User": null})
        )),
        Ok(Parsed::StreamEnded { room: "777".into() })
    );
}

#[test]
fn combo_gifts_travel_as_running_totals_keyed_by_room_user_gift_and_group() {
    let ev = event(&envelope(
        5,
        &gift_data(json!({"RepeatCount": 3, "GiftCount": 2})),
    ));
    let EventKind::Gift(g) = ev.kind else {
        panic!()
    };
    assert_eq!(g.count, 0, "the ledger resolves the increment");
    assert_eq!(g.diamonds, 1);
    assert_eq!(
        g.combo,
        Some(ComboTotal {
            key: "7300000000000000001-98765432109-463-1700000000001".into(),
            total: 3,
            end: false
        })
    );
    // Versions that send the bundle multiplier: the total counts gifts, not clicks.
    let ev = event(&envelope(
        5,
        &gift_data(json!({"RepeatCount": 2, "GroupCount": 10})),
    ));
    let EventKind::Gift(g) = ev.kind else {
        panic!()
    };
    assert_eq!(g.combo.unwrap().total, 20);
}

#[test]
fn non_combo_gifts_count_the_tools_increment() {
    let data = gift_data(
        json!({"GiftId": 3001, "GiftName": "嘉年华", "DiamondCount": 3000,
                                "Combo": false, "GiftCount": 1, "RepeatCount": 1}),
    );
    let EventKind::Gift(g) = event(&envelope(5, &data)).kind else {
        panic!()
    };
    assert_eq!((g.count, g.diamonds, g.value_fen()), (1, 3000, 30_000));
    assert!(g.combo.is_none());
    // No group id: nothing to key a combo on.
    let data = gift_data(json!({"GroupId": 0, "GiftCount": 4, "RepeatCount": 4}));
    let EventKind::Gift(g) = event(&envelope(5, &data)).kind else {
        panic!()
    };
    assert_eq!((g.count, g.combo), (4, None));
    // Ids sent as strings are fine too.
    let data = gift_data(json!({"MsgId": "42", "GiftId": "463", "GiftName": ""}));
    let ev = event(&envelope(5, &data));
    assert_eq!(ev.msg_id, "42");
    let EventKind::Gift(g) = ev.kind else {
        panic!()
    };
    assert_eq!(g.gift_name, "礼物");
}

#[test]
fn broken_messages_are_rejected_with_a_reason() {
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "bad_envelope"),
        (
            json!({"Type": 1, "ProcessName": "x"}).to_string(),
            "bad_data",
        ),
        (
            json!({"Type": 1, "Data": "{not json"}).to_string(),
            "bad_data",
        ),
        (
            json!({"Type": 1, "Data": {"MsgId": 1}}).to_string(),
            "bad_envelope",
        ),
        (
            json!({"Type": "1", "Data": "{}"}).to_string(),
            "bad_envelope",
        ),
        (envelope(42, &json!({"MsgId": 1})), "unknown_type"),
        (
            envelope(1, &json!({"MsgId": 1, "User": user()})),
            "missing_field",
        ),
        (
            envelope(1, &json!({"User": user(), "Content": "x"})),
            "missing_field",
        ),
        (
            envelope(1, &json!({"MsgId": 0, "User": user(), "Content": "x"})),
            "missing_field",
        ),
        (
            envelope(1, &json!({"MsgId": 1, "Content": "x"})),
            "missing_field",
        ),
        (
            envelope(
                1,
                &json!({"MsgId": 1, "User": {"Nickname": "n"}, "Content": "x"}),
            ),
            "missing_field",
        ),
        (
            envelope(1, &json!({"MsgId": 1.5, "User": user(), "Content": "x"})),
            "bad_data",
        ),
        (
            envelope(2, &json!({"MsgId": 1, "User": user(), "Count": 0})),
            "absurd_number",
        ),
        (
            envelope(2, &json!({"MsgId": 1, "User": user(), "Count": 99_000_000})),
            "absurd_number",
        ),
        (
            envelope(6, &json!({"OnlineUserCount": -5})),
            "absurd_number",
        ),
        (
            envelope(5, &gift_data(json!({"GiftId": null}))),
            "missing_field",
        ),
        (
            envelope(5, &gift_data(json!({"DiamondCount": 1_000_000_000_000i64}))),
            "absurd_number",
        ),
        (
            envelope(5, &gift_data(json!({"DiamondCount": -1}))),
            "absurd_number",
        ),
        (
            envelope(5, &gift_data(json!({"RepeatCount": 5_000_000}))),
            "absurd_number",
        ),
        (
            envelope(
                5,
                &gift_data(json!({"RepeatCount": 100, "GroupCount": 10_000})),
            ),
            "absurd_number",
        ),
        (
            envelope(5, &gift_data(json!({"Combo": false, "GiftCount": 0}))),
            "absurd_number",
        ),
        (
            envelope(5, &gift_data(json!({"Combo": false, "GiftCount": null}))),
            "missing_field",
        ),
        (
            envelope(5, &gift_data(json!({"GiftCount": "many", "Combo": false}))),
            "bad_data",
        ),
    ];
    for (text, reason) in cases {
        let got = parse(&text);
        assert_eq!(
            got.as_ref().map_err(|r| r.reason),
            Err(reason),
            "{text}: {got:?}"
        );
    }
}
