use std::io::Write;

use proptest::prelude::*;

use super::*;

/// A heartbeat exactly as the web client sends it: length 31, header 16, version 1, op 2, seq 1.
const HEARTBEAT: &[u8] =
    b"\x00\x00\x00\x1f\x00\x10\x00\x01\x00\x00\x00\x02\x00\x00\x00\x01[object Object]";
/// An auth reply: length 26, version 1, op 8, `{"code":0}`.
const AUTH_OK: &[u8] =
    b"\x00\x00\x00\x1a\x00\x10\x00\x01\x00\x00\x00\x08\x00\x00\x00\x01{\"code\":0}";

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        enc.write_all(bytes).unwrap();
    }
    out
}

fn command(json: &str) -> Vec<u8> {
    encode(version::JSON, op::COMMAND, 0, json.as_bytes())
}

fn bodies(decoded: &Decoded) -> Vec<String> {
    decoded
        .packets
        .iter()
        .map(|p| String::from_utf8_lossy(&p.body).into_owned())
        .collect()
}

#[test]
fn encode_matches_hand_made_bytes() {
    assert_eq!(
        encode(version::INT, op::HEARTBEAT, 1, b"[object Object]"),
        HEARTBEAT
    );
    assert_eq!(
        encode(version::INT, op::AUTH_REPLY, 1, b"{\"code\":0}"),
        AUTH_OK
    );
}

#[test]
fn hand_made_packets_decode_back_to_their_fields() {
    let mut message = AUTH_OK.to_vec();
    // A heartbeat reply with popularity 0x00012345, sequence 7.
    message.extend_from_slice(
        b"\x00\x00\x00\x14\x00\x10\x00\x01\x00\x00\x00\x03\x00\x00\x00\x07\x00\x01\x23\x45",
    );
    let decoded = decode_message(&message, &Limits::default());
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    assert_eq!(
        decoded.packets,
        vec![
            Packet {
                version: 1,
                operation: 8,
                sequence: 1,
                body: b"{\"code\":0}".to_vec()
            },
            Packet {
                version: 1,
                operation: 3,
                sequence: 7,
                body: vec![0, 1, 0x23, 0x45]
            },
        ]
    );
}

#[test]
fn a_longer_header_length_is_skipped_over() {
    // Header length 20: four extra header bytes before the body.
    let bytes = b"\x00\x00\x00\x16\x00\x14\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00XXXX{}";
    let decoded = decode_message(bytes, &Limits::default());
    assert!(decoded.errors.is_empty());
    assert_eq!(bodies(&decoded), ["{}"]);
}

#[test]
fn zlib_and_brotli_bodies_hold_several_whole_packets() {
    let inner: Vec<u8> = [
        command(r#"{"cmd":"A"}"#),
        command(r#"{"cmd":"B"}"#),
        command(r#"{"cmd":"C"}"#),
    ]
    .concat();
    for (ver, body) in [
        (version::ZLIB, zlib(&inner)),
        (version::BROTLI, brotli(&inner)),
    ] {
        let mut message = encode(ver, op::COMMAND, 0, &body);
        message.extend(command(r#"{"cmd":"D"}"#));
        let decoded = decode_message(&message, &Limits::default());
        assert!(
            decoded.errors.is_empty(),
            "version {ver}: {:?}",
            decoded.errors
        );
        assert_eq!(
            bodies(&decoded),
            [
                r#"{"cmd":"A"}"#,
                r#"{"cmd":"B"}"#,
                r#"{"cmd":"C"}"#,
                r#"{"cmd":"D"}"#
            ],
            "version {ver}"
        );
        assert!(decoded
            .packets
            .iter()
            .all(|p| p.operation == op::COMMAND && p.version == 0));
    }
}

#[test]
fn decompression_bombs_are_capped_and_the_rest_of_the_message_survives() {
    // 8 MiB of zeros squeezed into a few KiB: twice the default budget.
    let zeros = vec![0u8; 8 * 1024 * 1024];
    for (ver, body) in [
        (version::ZLIB, zlib(&zeros)),
        (version::BROTLI, brotli(&zeros)),
    ] {
        assert!(body.len() < 64 * 1024);
        let mut message = encode(ver, op::COMMAND, 0, &body);
        message.extend(command(r#"{"cmd":"AFTER"}"#));
        let decoded = decode_message(&message, &Limits::default());
        assert_eq!(
            decoded.errors,
            [PacketError::TooLarge {
                limit: 4 * 1024 * 1024
            }],
            "version {ver}"
        );
        assert_eq!(decoded.errors[0].reason(), "decompressed_too_large");
        assert_eq!(bodies(&decoded), [r#"{"cmd":"AFTER"}"#]);
    }
}

#[test]
fn the_budget_is_shared_by_all_bodies_of_a_message() {
    let limits = Limits {
        max_decompressed: 100,
        max_packets: 100,
    };
    let body = zlib(&command(&format!(r#"{{"x":"{}"}}"#, "a".repeat(40)))); // 64 bytes plain
    let message = [
        encode(version::ZLIB, op::COMMAND, 0, &body),
        encode(version::ZLIB, op::COMMAND, 0, &body),
    ]
    .concat();
    let decoded = decode_message(&message, &limits);
    assert_eq!(decoded.packets.len(), 1);
    assert_eq!(decoded.errors, [PacketError::TooLarge { limit: 100 }]);
}

#[test]
fn only_one_level_of_compression_is_followed() {
    let innermost = zlib(&command(r#"{"cmd":"DEEP"}"#));
    let inner = [
        encode(version::ZLIB, op::COMMAND, 0, &innermost),
        command(r#"{"cmd":"SIBLING"}"#),
    ]
    .concat();
    let decoded = decode_message(
        &encode(version::BROTLI, op::COMMAND, 0, &brotli(&inner)),
        &Limits::default(),
    );
    assert_eq!(decoded.errors, [PacketError::NestedCompression]);
    assert_eq!(bodies(&decoded), [r#"{"cmd":"SIBLING"}"#]);
}

#[test]
fn bad_lengths_stop_the_run_but_keep_what_came_before() {
    let good = command(r#"{"cmd":"OK"}"#);
    // Claims 4096 bytes, has 20.
    let too_long = b"\x00\x00\x10\x00\x00\x10\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00{}{}";
    let decoded = decode_message(
        &[good.clone(), too_long.to_vec()].concat(),
        &Limits::default(),
    );
    assert_eq!(bodies(&decoded), [r#"{"cmd":"OK"}"#]);
    assert_eq!(
        decoded.errors,
        [PacketError::BadPacketLength {
            packet_len: 4096,
            available: 20
        }]
    );
    assert_eq!(decoded.errors[0].reason(), "bad_packet_length");

    // Header length 12 (< 16), and a packet length smaller than its header.
    let short_header = b"\x00\x00\x00\x12\x00\x0c\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00{}";
    let decoded = decode_message(short_header, &Limits::default());
    assert!(matches!(
        decoded.errors[..],
        [PacketError::BadHeaderLength { header_len: 12, .. }]
    ));
    let tiny = b"\x00\x00\x00\x08\x00\x10\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00";
    let decoded = decode_message(tiny, &Limits::default());
    assert!(matches!(
        decoded.errors[..],
        [PacketError::BadHeaderLength { packet_len: 8, .. }]
    ));

    let decoded = decode_message(&[good, vec![0, 0, 0]].concat(), &Limits::default());
    assert_eq!(decoded.packets.len(), 1);
    assert_eq!(decoded.errors, [PacketError::Truncated { available: 3 }]);
}

#[test]
fn corrupt_bodies_and_unknown_versions_cost_only_their_packet() {
    let message = [
        encode(version::ZLIB, op::COMMAND, 0, b"definitely not zlib"),
        encode(
            version::BROTLI,
            op::COMMAND,
            0,
            b"\xff\xff\xff\xff not brotli",
        ),
        encode(9, op::COMMAND, 0, b"{}"),
        command(r#"{"cmd":"STILL_HERE"}"#),
    ]
    .concat();
    let decoded = decode_message(&message, &Limits::default());
    assert_eq!(bodies(&decoded), [r#"{"cmd":"STILL_HERE"}"#]);
    let reasons: Vec<_> = decoded.errors.iter().map(PacketError::reason).collect();
    assert_eq!(
        reasons,
        [
            "corrupt_compressed_body",
            "corrupt_compressed_body",
            "unknown_protocol_version"
        ]
    );
}

#[test]
fn packet_count_is_capped_across_compressed_bodies() {
    let limits = Limits {
        max_decompressed: 1 << 20,
        max_packets: 4,
    };
    let inner: Vec<u8> = (0..5)
        .flat_map(|i| command(&format!("{{\"n\":{i}}}")))
        .collect();
    let decoded = decode_message(
        &encode(version::ZLIB, op::COMMAND, 0, &zlib(&inner)),
        &limits,
    );
    // The container counts as one packet, then three inner ones fit.
    assert_eq!(decoded.packets.len(), 3);
    assert_eq!(decoded.errors, [PacketError::TooManyPackets { limit: 4 }]);
}

proptest! {
    #[test]
    fn any_packet_round_trips(ver in 0u16..2, operation: u32, sequence: u32, body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let decoded = decode_message(&encode(ver, operation, sequence, &body), &Limits::default());
        prop_assert!(decoded.errors.is_empty());
        prop_assert_eq!(decoded.packets, vec![Packet { version: ver, operation, sequence, body }]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let decoded = decode_message(&bytes, &Limits::default());
        prop_assert!(decoded.packets.len() + decoded.errors.len() <= Limits::default().max_packets + 1);
    }
}
