//! The `source` key in both of its forms.

use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{RoomConfig, SourceEntry, SourceKind};
use crate::SelectError;

/// The single-source form, `[source]`: `kind` picks the adapter, its section holds its
/// settings; sections of other kinds may be present and are not run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    pub douyin: Option<crate::douyin::DouyinConfig>,
    pub douyin_open_platform: Option<crate::open_platform::OpenPlatformConfig>,
    pub barrage_grab: Option<crate::barrage_grab::BarrageGrabConfig>,
    pub bilibili: Option<crate::bilibili::BilibiliConfig>,
}

/// Where live-room events come from.
#[derive(Debug, Clone)]
pub enum SourceSection {
    /// `[source] kind = "…"`: the one `[source.<kind>]` section `kind` names runs (a replay
    /// plays `[room]`). `sections` are the `[source.<kind>]` sections present, in kind order.
    Single {
        kind: SourceKind,
        sections: Vec<SourceEntry>,
    },
    /// `[[source]]` entries: every one runs, at once.
    List(Vec<SourceEntry>),
}

impl Default for SourceSection {
    fn default() -> Self {
        SourceConfig::default().into()
    }
}

impl From<SourceConfig> for SourceSection {
    fn from(c: SourceConfig) -> Self {
        let sections = [
            c.douyin.map(SourceEntry::Douyin),
            c.douyin_open_platform.map(SourceEntry::DouyinOpenPlatform),
            c.barrage_grab.map(SourceEntry::BarrageGrab),
            c.bilibili.map(SourceEntry::Bilibili),
        ];
        Self::Single {
            kind: c.kind,
            sections: sections.into_iter().flatten().collect(),
        }
    }
}

impl SourceSection {
    /// Every source's settings as written, with the config key they sit under
    /// (`source.douyin` in the single form, `source[1]` in the list), for range checks.
    pub fn settings(&self) -> Vec<(String, &SourceEntry)> {
        match self {
            Self::Single { sections, .. } => sections
                .iter()
                .map(|s| (format!("source.{}", s.kind().name()), s))
                .collect(),
            Self::List(entries) => entries
                .iter()
                .enumerate()
                .map(|(i, e)| (format!("source[{i}]"), e))
                .collect(),
        }
    }

    /// Every source's settings, to fill secrets from the environment into each of them.
    pub fn settings_mut(&mut self) -> impl Iterator<Item = &mut SourceEntry> {
        match self {
            Self::Single { sections, .. } => sections.iter_mut(),
            Self::List(entries) => entries.iter_mut(),
        }
    }

    /// Runs only sources of `kind` (the command line's `--source`). The single form switches
    /// its `kind`; the list keeps its entries of that kind. A list without a replay entry
    /// still replays `[room]` when asked to.
    pub fn select(&mut self, kind: SourceKind) -> Result<(), SelectError> {
        match self {
            Self::Single { kind: k, .. } => *k = kind,
            Self::List(entries) => {
                entries.retain(|e| e.kind() == kind);
                if entries.is_empty() {
                    if kind != SourceKind::Replay {
                        return Err(SelectError::NoEntry { kind: kind.name() });
                    }
                    *self = SourceConfig::default().into();
                }
            }
        }
        Ok(())
    }

    /// Points every replay at `file` and/or plays it at `speed` (`--replay`, `--speed`); the
    /// single form's replay is `[room]`, which the caller sets.
    pub fn override_replay(&mut self, file: Option<&std::path::Path>, speed: Option<f64>) {
        for entry in self.settings_mut() {
            if let SourceEntry::Replay(room) = entry {
                if let Some(file) = file {
                    room.replay = file.to_path_buf();
                }
                if let Some(speed) = speed {
                    room.speed = speed;
                }
            }
        }
    }

    /// The sources to run: the single form's one (`room` for a replay), or every entry.
    pub fn to_run(&self, room: &RoomConfig) -> Result<Vec<SourceEntry>, SelectError> {
        match self {
            Self::Single {
                kind: SourceKind::Replay,
                ..
            } => Ok(vec![SourceEntry::Replay(room.clone())]),
            Self::Single { kind, sections } => sections
                .iter()
                .find(|s| s.kind() == *kind)
                .map(|s| vec![s.clone()])
                .ok_or(SelectError::MissingSection { kind: kind.name() }),
            Self::List(entries) if entries.is_empty() => Err(SelectError::NoSource),
            Self::List(entries) => Ok(entries.clone()),
        }
    }
}

/// A table is the single form, an array (of tables) the list.
impl<'de> Deserialize<'de> for SourceSection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Form;
        impl<'de> Visitor<'de> for Form {
            type Value = SourceSection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a [source] table or [[source]] entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SourceSection, A::Error> {
                SourceConfig::deserialize(MapAccessDeserializer::new(map)).map(Into::into)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<SourceSection, A::Error> {
                Vec::<SourceEntry>::deserialize(SeqAccessDeserializer::new(seq))
                    .map(SourceSection::List)
            }
        }
        deserializer.deserialize_any(Form)
    }
}
