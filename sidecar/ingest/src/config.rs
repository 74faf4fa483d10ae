//! `[source]` and `[room]`: which adapter runs and its settings. Each adapter owns its own
//! section type (`douyin::DouyinConfig`, …); this module only gathers them.

use std::path::PathBuf;

use serde::Deserialize;

/// Where live-room events come from: `kind` picks the adapter, its section holds its settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    pub douyin: Option<crate::douyin::DouyinConfig>,
    pub douyin_open_platform: Option<crate::open_platform::OpenPlatformConfig>,
    pub barrage_grab: Option<crate::barrage_grab::BarrageGrabConfig>,
    pub bilibili: Option<crate::bilibili::BilibiliConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
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
