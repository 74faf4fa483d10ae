//! The source section's checks and error places, in both of its forms (see
//! [`SourceSection`]).

use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeValue, ValueDeserializer};
use toml::Spanned;

use super::{SourceEntry, SourceKind, SourceSection};

type Invalid = (String, Option<Range<usize>>, String);

/// What serde cannot check: the single form names a kind whose section is there; the list is
/// not empty and no two of its entries share a checkpoint key (each source resumes from its own).
pub(super) fn check(section: &SourceSection) -> Result<(), Invalid> {
    match section {
        SourceSection::Single { kind, sections } => {
            if *kind != SourceKind::Replay && !sections.iter().any(|s| s.kind() == *kind) {
                return Err((
                    "source.kind".into(),
                    None,
                    "this source needs its own [source.<kind>] section with the room to connect to"
                        .into(),
                ));
            }
        }
        SourceSection::List(entries) => {
            if entries.is_empty() {
                return Err((
                    "source".into(),
                    None,
                    "needs at least one [[source]] entry".into(),
                ));
            }
            let binds: Vec<_> = entries
                .iter()
                .map(|e| match e {
                    SourceEntry::DouyinOpenPlatform(o) => Some(o.bind),
                    _ => None,
                })
                .collect();
            for (j, bind) in binds.iter().enumerate() {
                if bind.is_some() && binds[..j].contains(bind) {
                    return Err((
                        format!("source[{j}].bind"),
                        None,
                        "another douyin_open_platform source already listens there".into(),
                    ));
                }
            }
            let keys: Vec<String> = entries.iter().map(SourceEntry::key).collect();
            for (j, key) in keys.iter().enumerate() {
                if let Some(i) = keys[..j].iter().position(|k| k == key) {
                    return Err((
                        format!("source[{j}]"),
                        None,
                        format!(
                            "has the same checkpoint key {key:?} as source[{i}]: two sources \
                             of one kind need different rooms"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Why `[[source]]` entry `index` does not parse, with the key and its place in `text`: the
/// entry is read again from the text, its settings straight from the spanned values. `None` if
/// it parses (the error was elsewhere) or the text has no such entry.
pub(super) fn entry_error(text: &str, index: usize) -> Option<Invalid> {
    let root = toml::de::DeTable::parse(text).ok()?;
    let (_, sources) = root
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == "source")?;
    let DeValue::Array(items) = sources.get_ref() else {
        return None;
    };
    let item = items.get(index)?.clone();
    let at = format!("source[{index}]");
    let span = item.span();
    let DeValue::Table(mut table) = item.into_inner() else {
        return None;
    };
    let Some(kind_key) = table
        .keys()
        .find(|k| k.get_ref().as_ref() == "kind")
        .cloned()
    else {
        let kinds = "replay, douyin, douyin_open_platform, barrage_grab or bilibili";
        return Some((at, Some(span), format!("needs `kind = \"…\"` ({kinds})")));
    };
    let kind = table.remove(&kind_key)?;
    let kind_span = kind.span();
    let kind = match SourceKind::deserialize(ValueDeserializer::from(kind)) {
        Ok(kind) => kind,
        Err(e) => return Some((format!("{at}.kind"), Some(kind_span), e.message().into())),
    };
    let settings = ValueDeserializer::from(Spanned::new(span.clone(), DeValue::Table(table)));
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(settings, &mut track);
    let err = SourceEntry::from_settings(kind, tracked).err()?;
    let path = track.path().to_string();
    let key = if path == "." {
        at
    } else {
        format!("{at}.{path}")
    };
    Some((key, err.span().or(Some(span)), err.message().into()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, ConfigError};
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("show.toml"))
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    fn to_run(text: &str) -> Vec<SourceEntry> {
        let config = parse(text).unwrap();
        config.source.to_run(&config.room).unwrap()
    }

    fn keys(entries: &[SourceEntry]) -> Vec<String> {
        entries.iter().map(SourceEntry::key).collect()
    }

    #[test]
    fn the_single_form_runs_the_one_kind_it_names() {
        let text = "[source]\nkind = \"bilibili\"\n[source.bilibili]\nroom_id = 7\n\
                    [source.douyin]\nroom = \"99\"\n";
        let run = to_run(text);
        assert_eq!(run.len(), 1);
        assert_eq!(run[0].kind(), SourceKind::Bilibili);
        assert_eq!(keys(&run), ["bilibili:7"]);
    }

    #[test]
    fn the_single_form_without_a_kind_replays_the_room() {
        let run =
            to_run("[room]\nreplay = \"x.jsonl\"\nspeed = 2.5\n[source.douyin]\nroom = \"1\"\n");
        let [SourceEntry::Replay(room)] = run.as_slice() else {
            panic!("{run:?}");
        };
        assert_eq!((room.replay.to_str(), room.speed), (Some("x.jsonl"), 2.5));
        // An empty config is the sample room, as before.
        let run = to_run("");
        assert!(matches!(run.as_slice(), [SourceEntry::Replay(r)] if r.speed == 1.0));
    }

    #[test]
    fn the_single_form_still_needs_the_section_of_its_kind() {
        let err = error("[source]\nkind = \"douyin\"\n");
        assert!(
            err.contains("key `source.kind`") && err.contains("show.toml:2:"),
            "{err}"
        );
        let err = error("[source]\nkind = \"douyin\"\n[source.douyin]\nroom = \"1\"\nrooom = 2\n");
        assert!(
            err.contains("key `source.douyin.rooom`") && err.contains("show.toml:5:"),
            "{err}"
        );
        let err = error("[source]\nkind = \"youtube\"\n");
        assert!(
            err.contains("key `source.kind`") && err.contains("show.toml:2:"),
            "{err}"
        );
    }

    const TWO_KINDS: &str =
        "[[source]]\nkind = \"barrage_grab\"\nurl = \"ws://127.0.0.1:9000\"\n\n\
                             [[source]]\nkind = \"bilibili\"\nroom_id = 5\n";

    #[test]
    fn a_list_runs_every_entry() {
        let run = to_run(TWO_KINDS);
        let kinds: Vec<_> = run.iter().map(SourceEntry::kind).collect();
        assert_eq!(kinds, [SourceKind::BarrageGrab, SourceKind::Bilibili]);
        assert_eq!(
            keys(&run),
            ["barrage_grab:ws://127.0.0.1:9000", "bilibili:5"]
        );
        let SourceEntry::BarrageGrab(grab) = &run[0] else {
            unreachable!()
        };
        assert!(grab.reconnect, "unset keys keep their defaults");
    }

    #[test]
    fn two_rooms_of_one_kind_have_their_own_checkpoints() {
        let text = "[[source]]\nkind = \"douyin\"\nroom = \"111\"\n\
                    [[source]]\nkind = \"douyin\"\nroom = \"https://live.douyin.com/222\"\n";
        assert_eq!(keys(&to_run(text)), ["douyin:111", "douyin:222"]);
        let same = "[[source]]\nkind = \"bilibili\"\nroom_id = 5\n\n\
                    [[source]]\nkind = \"bilibili\"\nroom_id = 5\n";
        let err = error(same);
        assert!(
            err.contains("key `source[1]`")
                && err.contains("show.toml:5:")
                && err.contains("source[0]"),
            "{err}"
        );
        let same_port = "[[source]]\nkind = \"douyin_open_platform\"\nroom_id = \"1\"\n\
                         [[source]]\nkind = \"douyin_open_platform\"\nroom_id = \"2\"\n";
        assert!(error(same_port).contains("source[1].bind"));
    }

    #[test]
    fn errors_inside_an_entry_name_its_key_and_line() {
        let cases = [
            // Unknown key.
            (format!("{TWO_KINDS}rom_id = 6\n"), "source[1].rom_id", 8),
            // Wrong type, in the middle of the entry.
            (
                "[[source]]\nkind = \"bilibili\"\nroom_id = \"five\"\nuid = 1\n".to_string(),
                "source[0].room_id",
                3,
            ),
            // Nested key.
            (
                "[[source]]\nkind = \"douyin\"\nroom = \"1\"\n[source.signer]\nkind = 3\n"
                    .to_string(),
                "source[0].signer.kind",
                5,
            ),
            // Unknown kind.
            (
                "\n[[source]]\nkind = \"tiktok\"\n".to_string(),
                "source[0].kind",
                3,
            ),
            // No kind: the entry's header.
            (
                format!("{TWO_KINDS}\n[[source]]\nroom_id = 1\n"),
                "source[2]",
                9,
            ),
            // Out of range, found after parsing.
            (
                format!("{TWO_KINDS}heartbeat_secs = 0\n"),
                "source[1].heartbeat_secs",
                8,
            ),
            (
                "[[source]]\nkind = \"replay\"\nspeed = -1\n".to_string(),
                "source[0].speed",
                3,
            ),
        ];
        for (text, key, line) in cases {
            let err = error(&text);
            assert!(err.contains(&format!("key `{key}`")), "{text:?}: {err}");
            assert!(
                err.contains(&format!("show.toml:{line}:")),
                "{text:?}: {err}"
            );
        }
        assert!(error(&format!("{TWO_KINDS}rom_id = 6\n")).contains("rom_id"));
        assert!(error("source = []\n").contains("key `source`"));
    }

    #[test]
    fn the_documented_list_example_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/default.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find("# [[source]]").expect("the example is there");
        let end = start + text[start..].find("\n[room]").unwrap();
        let example: String = text[start..end]
            .lines()
            .map(|l| l.strip_prefix('#').unwrap_or(l).trim_start())
            .map(|l| l.to_string() + "\n")
            .collect();
        let kinds: Vec<_> = to_run(&example).iter().map(SourceEntry::kind).collect();
        use SourceKind::*;
        assert_eq!(kinds, [Bilibili, BarrageGrab, Douyin, Replay]);
    }

    #[test]
    fn a_replay_entry_plays_its_own_file() {
        let run = to_run("[[source]]\nkind = \"replay\"\nreplay = \"a.jsonl\"\nspeed = 4.0\n");
        let [SourceEntry::Replay(room)] = run.as_slice() else {
            panic!("{run:?}");
        };
        assert_eq!((room.replay.to_str(), room.speed), (Some("a.jsonl"), 4.0));
    }

    #[test]
    fn the_command_line_kind_picks_entries_of_that_kind() {
        let config = parse(TWO_KINDS).unwrap();
        let mut only = config.source.clone();
        only.select(SourceKind::Bilibili).unwrap();
        assert_eq!(keys(&only.to_run(&config.room).unwrap()), ["bilibili:5"]);
        let mut none = config.source.clone();
        assert!(none.select(SourceKind::Douyin).is_err());
        // `sidecar replay FILE` with a list config: the room replay.
        let mut replay = config.source.clone();
        replay.select(SourceKind::Replay).unwrap();
        replay.override_replay(Some(Path::new("b.jsonl")), None);
        let mut room = config.room.clone();
        room.replay = "b.jsonl".into();
        let run = replay.to_run(&room).unwrap();
        assert!(
            matches!(run.as_slice(), [SourceEntry::Replay(r)] if r.replay == Path::new("b.jsonl"))
        );
    }

    #[test]
    fn secrets_from_the_environment_fill_every_entry_of_their_kind() {
        // The only test that sets these variables.
        std::env::set_var("AIVS_BILIBILI_KEY", "env-key");
        std::env::set_var(aivs_ingest::open_platform::APP_SECRET_ENV, "env-secret");
        let text = "[[source]]\nkind = \"bilibili\"\nroom_id = 5\n\
                    [[source]]\nkind = \"bilibili\"\nroom_id = 6\nkey = \"own\"\n\
                    [[source]]\nkind = \"bilibili\"\nroom_id = 7\n\
                    [[source]]\nkind = \"douyin_open_platform\"\nroom_id = \"1\"\n";
        let mut list = parse(text).unwrap();
        let mut single =
            parse("[source]\nkind = \"bilibili\"\n[source.bilibili]\nroom_id = 5\n").unwrap();
        list.apply_env();
        single.apply_env();
        std::env::remove_var("AIVS_BILIBILI_KEY");
        std::env::remove_var(aivs_ingest::open_platform::APP_SECRET_ENV);
        let found: Vec<_> = list
            .source
            .settings()
            .into_iter()
            .map(|(_, e)| match e {
                SourceEntry::Bilibili(b) => b.key.clone().unwrap_or_default(),
                SourceEntry::DouyinOpenPlatform(o) => o.app_secret.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(found, ["env-key", "own", "env-key", "env-secret"]);
        let run = single.source.to_run(&single.room).unwrap();
        assert!(matches!(&run[0], SourceEntry::Bilibili(b) if b.key.as_deref() == Some("env-key")));
    }
}
