//! Load-time bounds on every duration and rate in the config.
//!
//! TOML happily spells `nan`, `inf` and `-1`, and serde turns them into an `f64` that then
//! becomes a `Duration::from_secs_f64` panic, a busy loop (`heartbeat_secs = 0`) or a timer that
//! never fires, hours into a show. Each key here must be finite and within a range wide enough
//! for any real setup (tests included) and narrow enough to catch a slip of the unit (ms typed
//! as seconds) or of the sign. The error names the key; `Config::parse` adds the file line.

use super::{Config, SourceEntry};

/// One bound: `key` must hold a finite value in `min..=max` (in `unit`).
struct Bound<'a> {
    key: &'a str,
    value: f64,
    min: f64,
    max: f64,
    unit: &'a str,
}

fn bound<'a>(key: &'a str, value: f64, min: f64, max: f64, unit: &'a str) -> Bound<'a> {
    Bound {
        key,
        value,
        min,
        max,
        unit,
    }
}

/// Seconds given as a float (`retry_secs = 2.5`).
fn secs(key: &str, value: f64, min: f64, max: f64) -> Bound<'_> {
    bound(key, value, min, max, "seconds")
}

/// Whole seconds (`u64` keys: a negative value is already a type error with its line).
fn whole_secs(key: &str, value: u64, min: u64, max: u64) -> Bound<'_> {
    bound(key, value as f64, min as f64, max as f64, "seconds")
}

fn ms(key: &str, value: u64, min: u64, max: u64) -> Bound<'_> {
    bound(key, value as f64, min as f64, max as f64, "ms")
}

/// A count of waiting lines (a class cap): at least one.
fn lines(key: &str, value: usize) -> Bound<'_> {
    bound(key, value as f64, 1.0, 100_000.0, "lines")
}

/// A ratio or probability, `0..=1`.
fn share(key: &str, value: f32) -> Bound<'_> {
    bound(key, value.into(), 0.0, 1.0, "a share between 0 and 1")
}

const DAY: f64 = 86_400.0;
const DAY_WHOLE: u64 = 86_400;

impl Bound<'_> {
    fn check(&self) -> Result<(), (String, String)> {
        let Self {
            key,
            value,
            min,
            max,
            unit,
        } = *self;
        if !value.is_finite() {
            return Err((
                key.into(),
                format!("must be a finite number ({unit}), got {value}"),
            ));
        }
        if !(min..=max).contains(&value) {
            return Err((
                key.into(),
                format!("must be between {min} and {max} ({unit}), got {value}"),
            ));
        }
        Ok(())
    }
}

/// The first key out of its range, with the reason.
pub(super) fn check(config: &Config) -> Result<(), (String, String)> {
    let c = config;
    let (s, g, v, l) = (&c.scheduler, &c.gifts, &c.voice, &c.llm);
    let mut bounds = vec![
        bound("room.speed", c.room.speed, 0.01, 1_000.0, "times real time"),
        secs("obs.retry_secs", c.obs.retry_secs, 0.1, 600.0),
        bound(
            "voice.rate_wpm",
            v.rate_wpm.into(),
            20.0,
            1_000.0,
            "words per minute",
        ),
        bound(
            "voice.loudness_dbfs",
            v.loudness_dbfs.into(),
            -70.0,
            0.0,
            "dBFS",
        ),
        share("scheduler.late_progress", s.late_progress),
        whole_secs("scheduler.reply_ttl_secs", s.reply_ttl_secs, 1, DAY_WHOLE),
        whole_secs("scheduler.idle_after_secs", s.idle_after_secs, 1, DAY_WHOLE),
        whole_secs("scheduler.max_wait_secs", s.max_wait_secs, 1, DAY_WHOLE),
        lines("scheduler.caps.reply.max", s.caps.reply.max),
        lines("scheduler.caps.like.max", s.caps.like.max),
        lines("scheduler.caps.welcome.max", s.caps.welcome.max),
        lines("scheduler.caps.follow.max", s.caps.follow.max),
        lines("scheduler.caps.share.max", s.caps.share.max),
        lines("scheduler.caps.idle.max", s.caps.idle.max),
        bound(
            "gifts.aggregate_after",
            g.aggregate_after as f64,
            0.0,
            100_000.0,
            "waiting lines (0: never merge)",
        ),
        bound(
            "gifts.aggregate_names",
            g.aggregate_names as f64,
            1.0,
            20.0,
            "names",
        ),
        whole_secs(
            "scheduler.welcome_every_secs",
            s.welcome_every_secs,
            0,
            DAY_WHOLE,
        ),
        ms("gifts.combo_idle_ms", g.combo_idle_ms, 10, 600_000),
        ms(
            "gifts.combo_max_hold_ms",
            g.combo_max_hold_ms,
            10,
            3_600_000,
        ),
        secs("gifts.celebration_secs", g.celebration_secs, 0.1, 3_600.0),
    ];
    let tiers = [
        "gifts.tier_max_yuan[0]",
        "gifts.tier_max_yuan[1]",
        "gifts.tier_max_yuan[2]",
    ];
    for (key, yuan) in tiers.into_iter().zip(g.tier_max_yuan) {
        bounds.push(bound(key, yuan, 0.01, 1e9, "yuan"));
    }
    let (gs, edge, vad, rot) = (&v.gpt_sovits, &v.edge_tts, &v.vad, &v.rotation);
    bounds.extend([
        secs("voice.gpt_sovits.timeout_secs", gs.timeout_secs, 0.1, 600.0),
        secs(
            "voice.gpt_sovits.connect_timeout_secs",
            gs.connect_timeout_secs,
            0.1,
            120.0,
        ),
        share("voice.gpt_sovits.top_p", gs.top_p),
        bound(
            "voice.gpt_sovits.temperature",
            gs.temperature.into(),
            0.0,
            10.0,
            "temperature",
        ),
        bound(
            "voice.gpt_sovits.repetition_penalty",
            gs.repetition_penalty.into(),
            0.0,
            10.0,
            "factor",
        ),
        secs("voice.edge_tts.timeout_secs", edge.timeout_secs, 0.1, 600.0),
        secs(
            "voice.edge_tts.connect_timeout_secs",
            edge.connect_timeout_secs,
            0.1,
            120.0,
        ),
        ms(
            "voice.piper.sentence_silence_ms",
            v.piper.sentence_silence_ms.into(),
            0,
            10_000,
        ),
        secs(
            "voice.rotation.attempt_timeout_secs",
            rot.attempt_timeout_secs,
            0.1,
            600.0,
        ),
        secs(
            "voice.rotation.breaker_cooldown_secs",
            rot.breaker_cooldown_secs,
            0.1,
            DAY,
        ),
        bound(
            "voice.rotation.breaker_failures",
            rot.breaker_failures.into(),
            1.0,
            1_000.0,
            "consecutive failures",
        ),
        whole_secs(
            "voice.rotation.recent_secs",
            rot.recent_secs,
            1,
            7 * DAY_WHOLE,
        ),
        bound(
            "voice.rotation.demote_below",
            rot.demote_below,
            0.0,
            1.0,
            "success rate",
        ),
        share("voice.vad.min_voiced_ratio", vad.min_voiced_ratio),
        share("voice.vad.silero_threshold", vad.silero_threshold),
        share("voice.vad.min_silero_ratio", vad.min_silero_ratio),
        ms("voice.vad.min_duration_ms", vad.min_duration_ms, 0, 60_000),
        share("voice.vad.max_clipped_ratio", vad.max_clipped_ratio),
        share("voice.vad.max_dc_offset", vad.max_dc_offset),
        share("voice.vad.max_noise_ratio", vad.max_noise_ratio),
        share("voice.vad.max_garbage_ratio", vad.max_garbage_ratio),
        bound(
            "llm.temperature",
            l.temperature.into(),
            0.0,
            2.0,
            "temperature",
        ),
        ms("llm.connect_timeout_ms", l.connect_timeout_ms, 10, 120_000),
        ms(
            "llm.first_token_timeout_ms",
            l.first_token_timeout_ms,
            10,
            600_000,
        ),
        ms("llm.reply_timeout_ms", l.reply_timeout_ms, 10, 600_000),
        ms(
            "llm.rate_limit_max_wait_ms",
            l.rate_limit_max_wait_ms,
            0,
            600_000,
        ),
        ms("llm.retry_backoff_ms", l.retry_backoff_ms, 0, 60_000),
        ms(
            "llm.first_sentence_budget_ms",
            l.first_sentence_budget_ms,
            10,
            60_000,
        ),
        bound(
            "llm.requests_per_minute",
            l.requests_per_minute.into(),
            0.0,
            1e6,
            "per minute",
        ),
    ]);
    bounds.iter().try_for_each(Bound::check)?;
    check_sources(config)
}

/// Each source's settings, under the key they sit at (`source.douyin.…` in the single form,
/// `source[1].…` in the list).
fn check_sources(config: &Config) -> Result<(), (String, String)> {
    for (at, entry) in config.source.settings() {
        let key = |name: &str| format!("{at}.{name}");
        let keys: Vec<(String, f64, f64, f64, &str)> = match entry {
            SourceEntry::Douyin(d) => vec![
                (
                    key("heartbeat_secs"),
                    d.heartbeat_secs,
                    0.1,
                    600.0,
                    "seconds",
                ),
                (key("stall_secs"), d.stall_secs, 0.1, 3_600.0, "seconds"),
                (
                    key("slow_retry_secs"),
                    d.slow_retry_secs,
                    0.1,
                    DAY,
                    "seconds",
                ),
                (
                    key("signer.timeout_secs"),
                    d.signer.timeout_secs,
                    0.1,
                    300.0,
                    "seconds",
                ),
            ],
            SourceEntry::Bilibili(b) => vec![
                (
                    key("heartbeat_secs"),
                    b.heartbeat_secs,
                    0.1,
                    600.0,
                    "seconds",
                ),
                (key("stall_secs"), b.stall_secs, 0.1, 3_600.0, "seconds"),
            ],
            SourceEntry::DouyinOpenPlatform(o) => vec![(
                key("timestamp_window_secs"),
                o.timestamp_window_secs as f64,
                1.0,
                DAY_WHOLE as f64,
                "seconds",
            )],
            SourceEntry::Replay(room) => {
                vec![(key("speed"), room.speed, 0.01, 1_000.0, "times real time")]
            }
            SourceEntry::BarrageGrab(_) => vec![],
        };
        for (key, value, min, max, unit) in &keys {
            bound(key, *value, *min, *max, unit).check()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;

    fn error(text: &str) -> String {
        Config::parse(text, Path::new("show.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn negative_nan_infinite_and_zero_durations_name_the_key_and_line() {
        let cases = [
            ("[obs]\nhost = \"x\"\nretry_secs = -1\n", "obs.retry_secs", 3),
            ("[obs]\nretry_secs = nan\n", "obs.retry_secs", 2),
            ("\n[obs]\n\nretry_secs = inf\n", "obs.retry_secs", 4),
            ("[room]\nspeed = -inf\n", "room.speed", 2),
            (
                "[source]\nkind = \"bilibili\"\n[source.bilibili]\nroom_id = 1\nheartbeat_secs = 0\n",
                "source.bilibili.heartbeat_secs",
                5,
            ),
            (
                "[source.douyin]\nroom = \"1\"\nheartbeat_secs = 0.0\n",
                "source.douyin.heartbeat_secs",
                3,
            ),
            ("[voice.vad]\nmin_voiced_ratio = 1.5\n", "voice.vad.min_voiced_ratio", 2),
            ("[llm]\ntemperature = nan\n", "llm.temperature", 2),
            ("[llm]\nreply_timeout_ms = 0\n", "llm.reply_timeout_ms", 2),
            ("[gifts]\ncelebration_secs = 1e12\n", "gifts.celebration_secs", 2),
            ("[gifts]\ntier_max_yuan = [1, nan, 100]\n", "gifts.tier_max_yuan[1]", 2),
            ("[voice.gpt_sovits]\ntimeout_secs = -0.5\n", "voice.gpt_sovits.timeout_secs", 2),
            (
                "[voice.rotation]\nattempt_timeout_secs = 0\n",
                "voice.rotation.attempt_timeout_secs",
                2,
            ),
            (
                "[voice.rotation]\nbreaker_cooldown_secs = inf\n",
                "voice.rotation.breaker_cooldown_secs",
                2,
            ),
        ];
        for (text, key, line) in cases {
            let err = error(text);
            assert!(err.contains(&format!("key `{key}`")), "{text:?}: {err}");
            assert!(
                err.contains(&format!("show.toml:{line}:")),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn a_negative_integer_for_an_unsigned_duration_names_the_key_and_line() {
        let err = error("[scheduler]\nreply_ttl_secs = -1\n");
        assert!(
            err.contains("scheduler.reply_ttl_secs") && err.contains("show.toml:2:"),
            "{err}"
        );
    }

    #[test]
    fn the_defaults_are_in_range() {
        // Defaults are in range; an out-of-range default would be a bug, reported as line 0.
        let config = Config::default();
        assert_eq!(super::check(&config), Ok(()));
    }
}
