use serde_json::json;

use super::*;

fn decode(doc: serde_json::Value) -> Outcome {
    CommandDecoder::new()
        .command(doc.to_string().as_bytes())
        .unwrap()
}

fn events(doc: serde_json::Value) -> Vec<LiveEvent> {
    match decode(doc) {
        Outcome::Events(events) => events,
        other => panic!("expected events, got {other:?}"),
    }
}

fn one(doc: serde_json::Value) -> LiveEvent {
    let mut all = events(doc);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

fn gift(event: &LiveEvent) -> &Gift {
    match &event.kind {
        EventKind::Gift(g) => g,
        other => panic!("not a gift: {other:?}"),
    }
}

fn danmu(meta15: serde_json::Value, text: &str, uid: u64, sent_ms: u64) -> serde_json::Value {
    json!({
        "cmd": "DANMU_MSG",
        "info": [
            [0, 1, 25, 16777215, sent_ms, 1700000000, 0, "8c5b1b59", 0, 0, 0, "", 0, "{}", "{}", meta15, {"activity_identity": ""}],
            text,
            [uid, "小明", 0, 0, 0, 10000, 1, ""],
            [12, "勋章", "主播", 21452505, 398668, "", 0],
            [23, 0, 5805790, ">50000", 0],
            ["", ""], 0, 0, null, {"ts": 1700000000, "ct": "2A1B"}, 0, 0, null, null, 0, 105
        ]
    })
}

#[test]
fn danmaku_uses_id_str_from_the_extra_json_string() {
    let extra = json!({"send_from_me": false, "mode": 0, "color": 16777215, "content": "你好", "id_str": "a1b2c3d4e5f6"}).to_string();
    let event = one(danmu(
        json!({"mode": 0, "show_player_type": 0, "extra": extra}),
        "你好",
        12345,
        1_700_000_000_123,
    ));
    assert_eq!(event.platform, "bilibili");
    assert_eq!(event.msg_id, "a1b2c3d4e5f6");
    assert_eq!(
        event.kind,
        EventKind::Comment {
            text: "你好".into()
        }
    );
    assert_eq!(
        event.user,
        Some(Viewer {
            id: "12345".into(),
            name: "小明".into(),
            level: 23,
            // info[3]: the fan medal, level 12.
            fan_level: 12,
        })
    );
}

#[test]
fn old_danmaku_get_a_stable_digest_of_uid_text_and_time() {
    let a = one(danmu(json!(null), "哈哈", 7, 1_700_000_000_000));
    let again = one(danmu(json!(null), "哈哈", 7, 1_700_000_000_000));
    let later = one(danmu(json!(null), "哈哈", 7, 1_700_000_000_001));
    let other_user = one(danmu(json!(null), "哈哈", 8, 1_700_000_000_000));
    assert!(
        a.msg_id.starts_with("dm-") && a.msg_id.len() == 3 + 32,
        "{}",
        a.msg_id
    );
    assert_eq!(a.msg_id, again.msg_id);
    assert_ne!(a.msg_id, later.msg_id);
    assert_ne!(a.msg_id, other_user.msg_id);
    // A pinned value: the id must not change between builds, it is stored in the ledger.
    assert_eq!(
        a.msg_id,
        format!("dm-{}", digest(&["7", "哈哈", "1700000000000"]))
    );
}

#[test]
fn danmaku_cmd_suffixes_are_ignored_and_missing_text_is_an_error() {
    let mut doc = danmu(json!(null), "hi", 1, 1);
    doc["cmd"] = json!("DANMU_MSG:4:0:2:2:2:0");
    assert!(matches!(one(doc).kind, EventKind::Comment { .. }));
    let err = CommandDecoder::new()
        .command(br#"{"cmd":"DANMU_MSG","info":[[0],42,[1,"x"]]}"#)
        .unwrap_err();
    assert_eq!(err.reason(), "bad_command_field");
    assert!(err.to_string().contains("info[1]"), "{err}");
}

fn send_gift(
    tid: &str,
    gift_name: &str,
    num: u64,
    price: u64,
    coin_type: &str,
) -> serde_json::Value {
    json!({
        "cmd": "SEND_GIFT",
        "data": {
            "action": "投喂", "batch_combo_id": "batch:gift:combo_id:1:2:3", "coin_type": coin_type,
            "giftId": 31036, "giftName": gift_name, "giftType": 0, "num": num, "price": price,
            "rnd": "1700000000", "tid": tid, "timestamp": 1700000000, "total_coin": price * num,
            "uid": 99, "uname": "送礼的人", "wealth_level": 31, "combo_total_coin": price * num
        }
    })
}

#[test]
fn send_gift_is_an_increment_priced_in_gold() {
    let event = one(send_gift("1700000000123450001", "小花花", 3, 100, "gold"));
    assert_eq!(event.msg_id, "1700000000123450001");
    let g = gift(&event);
    assert_eq!(g.gift_id, "31036");
    assert_eq!(g.gift_name, "小花花");
    assert_eq!(g.count, 3);
    assert_eq!(g.combo, None);
    assert_eq!(g.diamonds, 1); // 100 gold = 0.1 CNY = 1 diamond
    assert_eq!(g.value_fen(), 30); // 3 × 0.1 CNY
    assert_eq!(event.user.as_ref().unwrap().level, 31);

    let big = one(send_gift("t2", "告白气球", 1, 52_000, "gold"));
    assert_eq!(gift(&big).value_fen(), 5_200); // 52 CNY
}

#[test]
fn silver_gifts_are_worth_nothing() {
    let event = one(send_gift("t3", "辣条", 10, 100, "silver"));
    assert_eq!(gift(&event).diamonds, 0);
    assert_eq!(gift(&event).count, 10);
}

#[test]
fn numbers_may_come_as_strings_and_absurd_counts_are_rejected() {
    let mut doc = send_gift("t4", "x", 1, 100, "gold");
    doc["data"]["num"] = json!("2");
    doc["data"]["tid"] = json!(1234567890123u64);
    let event = one(doc);
    assert_eq!(gift(&event).count, 2);
    assert_eq!(event.msg_id, "1234567890123");

    let mut doc = send_gift("t5", "x", 1, 100, "gold");
    doc["data"]["num"] = json!(u64::MAX);
    let err = CommandDecoder::new()
        .command(doc.to_string().as_bytes())
        .unwrap_err();
    assert!(err.to_string().contains("data.num"), "{err}");

    let mut doc = send_gift("t6", "x", 1, 100, "gold");
    doc["data"].as_object_mut().unwrap().remove("tid");
    assert_eq!(
        CommandDecoder::new()
            .command(doc.to_string().as_bytes())
            .unwrap_err()
            .reason(),
        "bad_command_field"
    );
}

#[test]
fn combo_summaries_are_ignored_so_gifts_count_once() {
    let doc = json!({"cmd": "COMBO_SEND", "data": {"action": "投喂", "batch_combo_id": "b", "batch_combo_num": 5,
        "combo_num": 5, "combo_total_coin": 500, "gift_id": 31036, "gift_name": "小花花", "total_num": 5, "uid": 99}});
    assert_eq!(decode(doc), Outcome::Ignored("combo_summary_ignored"));
}

#[test]
fn guard_purchases_are_gifts_priced_per_unit() {
    let doc = json!({"cmd": "GUARD_BUY", "data": {"uid": 5, "username": "舰长大人", "guard_level": 3, "num": 2,
        "price": 198_000, "gift_id": 10003, "gift_name": "舰长", "start_time": 1700000000, "end_time": 1700000000}});
    let event = one(doc.clone());
    let g = gift(&event);
    assert_eq!(
        (g.gift_name.as_str(), g.count, g.diamonds),
        ("舰长", 2, 1_980)
    );
    assert_eq!(g.value_fen(), 2 * 19_800);
    assert!(event.msg_id.starts_with("guard-"));
    assert_eq!(
        event.msg_id,
        one(doc.clone()).msg_id,
        "the fallback id is stable"
    );
    assert_eq!(event.user.as_ref().unwrap().name, "舰长大人");

    let mut with_flow = doc;
    with_flow["data"]["payflow_id"] = json!("2311141234567890123");
    assert_eq!(one(with_flow).msg_id, "guard-2311141234567890123");
}

#[test]
fn super_chats_are_one_paid_gift_carrying_its_message() {
    let doc = json!({"cmd": "SUPER_CHAT_MESSAGE", "roomid": 21452505, "data": {
        "id": 8_765_432, "uid": 42, "price": 30, "rate": 1000, "message": "主播唱首歌吧", "time": 60,
        "start_time": 1700000000, "end_time": 1700000060,
        "gift": {"gift_id": 12000, "gift_name": "醒目留言", "num": 1},
        "user_info": {"uname": "路人甲", "face": "https://i0.hdslb.com/x.jpg", "user_level": 12}}});
    let all = events(doc);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].msg_id, "sc-8765432");
    let g = gift(&all[0]);
    assert_eq!(
        (
            g.gift_id.as_str(),
            g.gift_name.as_str(),
            g.count,
            g.diamonds
        ),
        ("12000", "醒目留言", 1, 300)
    );
    assert_eq!(g.value_fen(), 3_000);
    assert_eq!(g.message.as_deref(), Some("主播唱首歌吧"));
    assert_eq!(
        g.price,
        Some(aivs_core::pricing::Price {
            currency: aivs_core::pricing::Currency::Cny,
            amount: 30
        })
    );
    assert_eq!(all[0].viewer_name(), "路人甲");
    assert_eq!(
        decode(json!({"cmd": "SUPER_CHAT_MESSAGE_JPN", "data": {"id": "8765432", "price": 30}})),
        Outcome::Ignored("super_chat_translation_ignored")
    );
}

#[test]
fn interactions_become_enter_follow_and_share() {
    let word = |msg_type: u64| {
        json!({"cmd": "INTERACT_WORD", "data": {"uid": 77, "uname": "新来的", "msg_type": msg_type,
            "roomid": 21452505, "timestamp": 1700000000, "trigger_time": 1_700_000_000_123_456_789u64}})
    };
    let enter = one(word(1));
    assert_eq!(enter.kind, EventKind::Enter);
    assert_eq!(enter.msg_id, "iw-77-1-1700000000123456789");
    assert_eq!(enter.viewer_name(), "新来的");
    assert_eq!(one(word(2)).kind, EventKind::Follow);
    assert_eq!(one(word(3)).kind, EventKind::Share);
    assert_eq!(decode(word(6)), Outcome::Ignored("interaction_other"));
}

#[test]
fn likes_and_viewer_figures() {
    let like = one(
        json!({"cmd": "LIKE_INFO_V3_CLICK", "data": {"uid": 3, "uname": "点赞的人", "like_text": "为主播点赞了"}}),
    );
    assert_eq!(like.kind, EventKind::Like { count: 1 });
    assert_eq!(like.msg_id, "");

    let mut decoder = CommandDecoder::new();
    let mut stats =
        |doc: serde_json::Value| match decoder.command(doc.to_string().as_bytes()).unwrap() {
            Outcome::Events(mut e) => e.remove(0).kind,
            other => panic!("{other:?}"),
        };
    assert_eq!(
        stats(
            json!({"cmd": "ONLINE_RANK_COUNT", "data": {"count": 120, "count_text": "120", "online_count": 345}})
        ),
        EventKind::ViewerStats {
            online: 345,
            total: 0
        }
    );
    assert_eq!(
        stats(
            json!({"cmd": "WATCHED_CHANGE", "data": {"num": 6789, "text_small": "6789", "text_large": "6789人看过"}})
        ),
        EventKind::ViewerStats {
            online: 345,
            total: 6789
        }
    );
    assert_eq!(
        stats(json!({"cmd": "ONLINE_RANK_COUNT", "data": {"count": 99}})),
        EventKind::ViewerStats {
            online: 99,
            total: 6789
        }
    );
    // Heartbeat replies: a real popularity updates the online figure; the constant 1 does not.
    assert!(decoder
        .heartbeat_reply(&1u32.to_be_bytes())
        .unwrap()
        .is_none());
    let hb = decoder
        .heartbeat_reply(&5000u32.to_be_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(
        hb.kind,
        EventKind::ViewerStats {
            online: 5000,
            total: 6789
        }
    );
    assert_eq!(hb.msg_id, "");
    assert_eq!(
        decoder.heartbeat_reply(&[0, 1]).unwrap_err().reason(),
        "bad_heartbeat_reply"
    );
}

#[test]
fn unknown_and_malformed_commands_are_told_apart() {
    assert_eq!(
        decode(json!({"cmd": "STOP_LIVE_ROOM_LIST", "data": {"room_id_list": [1, 2]}})),
        Outcome::Unknown("STOP_LIVE_ROOM_LIST".into())
    );
    let mut decoder = CommandDecoder::new();
    assert_eq!(
        decoder.command(b"{\"cmd\":").unwrap_err().reason(),
        "malformed_json"
    );
    assert_eq!(
        decoder.command(br#"{"data":{}}"#).unwrap_err().reason(),
        "missing_cmd"
    );
    assert_eq!(
        decoder
            .command(br#"{"cmd":"SEND_GIFT","data":"nope"}"#)
            .unwrap_err()
            .reason(),
        "bad_command_field"
    );
}

#[test]
fn gold_rounds_to_the_nearest_diamond() {
    assert_eq!(gold_to_diamonds(0), 0);
    assert_eq!(gold_to_diamonds(100), 1);
    assert_eq!(gold_to_diamonds(149), 1);
    assert_eq!(gold_to_diamonds(150), 2);
    assert_eq!(gold_to_diamonds(u64::MAX), u64::MAX / 100);
}
