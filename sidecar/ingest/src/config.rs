//! `[source]` / `[[source]]` and `[room]`: which adapters run and their settings. Each adapter
//! owns its settings type (`douyin::DouyinConfig`, …); this module only gathers them.
//!
//! Two forms, see [`SourceSection`]: the original single `[source] kind = "…"` with a
//! `[source.<kind>]` section (and `[room]` for a replay), and a list of `[[source]]` entries,
//! each `kind = "…"` with that kind's settings inline, all running at once.

use std::path::PathBuf;

use serde::de::{Deserializer, Error as _};
use serde::Deserialize;

use crate::spec::Startable;

mod section;

pub use section::{SourceConfig, SourceSection};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", clap(rename_all = "snake_case"))]
pub enum SourceKind {
    /// A recorded room (`room.replay`).
    #[default]
    Replay,
    /// Douyin's web live-room WebSocket (`[source.douyin]`).
    Douyin,
    /// Douyin Open Platform live-data push to a webhook (`[source.douyin_open_platform]`).
    DouyinOpenPlatform,
    /// DouyinBarrageGrab's local WebSocket (`[source.barrage_grab]`).
    BarrageGrab,
    /// Bilibili live danmaku (`[source.bilibili]`).
    Bilibili,
}

impl SourceKind {
    /// The name used in the config (`kind = "douyin_open_platform"`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Douyin => "douyin",
            Self::DouyinOpenPlatform => "douyin_open_platform",
            Self::BarrageGrab => "barrage_grab",
            Self::Bilibili => "bilibili",
        }
    }
}

/// One configured source: a kind and its settings. Adding a platform adds a variant here and
/// its arms in [`Self::from_settings`] and [`Self::spec`]; the rest is the adapter's module.
#[derive(Debug, Clone)]
pub enum SourceEntry {
    Replay(RoomConfig),
    Douyin(crate::douyin::DouyinConfig),
    DouyinOpenPlatform(crate::open_platform::OpenPlatformConfig),
    BarrageGrab(crate::barrage_grab::BarrageGrabConfig),
    Bilibili(crate::bilibili::BilibiliConfig),
}

impl SourceEntry {
    /// Reads `kind`'s settings (the entry without its `kind` key) from `settings`. The config
    /// loader also calls this on the entry's text again to say which key and line is wrong.
    pub fn from_settings<'de, D: Deserializer<'de>>(
        kind: SourceKind,
        settings: D,
    ) -> Result<Self, D::Error> {
        Ok(match kind {
            SourceKind::Replay => Self::Replay(Deserialize::deserialize(settings)?),
            SourceKind::Douyin => Self::Douyin(Deserialize::deserialize(settings)?),
            SourceKind::DouyinOpenPlatform => {
                Self::DouyinOpenPlatform(Deserialize::deserialize(settings)?)
            }
            SourceKind::BarrageGrab => Self::BarrageGrab(Deserialize::deserialize(settings)?),
            SourceKind::Bilibili => Self::Bilibili(Deserialize::deserialize(settings)?),
        })
    }

    pub(crate) fn spec(&self) -> &dyn Startable {
        match self {
            Self::Replay(c) => c,
            Self::Douyin(c) => c,
            Self::DouyinOpenPlatform(c) => c,
            Self::BarrageGrab(c) => c,
            Self::Bilibili(c) => c,
        }
    }

    pub fn kind(&self) -> SourceKind {
        self.spec().kind()
    }

    /// The ledger key of this source's checkpoint (see [`crate::SourceSpec::key`]).
    pub fn key(&self) -> String {
        self.spec().key()
    }
}

/// A `[[source]]` table: `kind = "…"` and that kind's settings beside it.
impl<'de> Deserialize<'de> for SourceEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(deserializer)?;
        let kind = table
            .remove("kind")
            .ok_or_else(|| D::Error::missing_field("kind"))?;
        let kind = SourceKind::deserialize(kind).map_err(D::Error::custom)?;
        Self::from_settings(kind, toml::Value::Table(table)).map_err(D::Error::custom)
    }
}

/// `[room]` (with the single-source form), or a `kind = "replay"` entry: a recorded room.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomConfig {
    /// Replay file (JSON Lines) to play as the live room.
    pub replay: PathBuf,
    /// Playback speed of the replay (1.0 = real time).
    pub speed: f64,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            replay: PathBuf::from("config/rooms/sample-room.jsonl"),
            speed: 1.0,
        }
    }
}
