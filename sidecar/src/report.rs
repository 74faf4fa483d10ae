//! `sidecar report --since 2h`: what aired and what was earned, from the ledger alone.
//!
//! It reads the line log (every line's fate with its cause, `aivs-ledger` `airtime.rs`) and
//! the gifts table, so it works on a ledger copied off the streaming machine and while a show
//! runs (WAL: a reader never blocks the writer). Tiers are the config's (`[gifts] tiers`), so
//! a report after a tier change reads the money as the streamer now counts it.
//!
//! Text is Chinese by default (`--lang en` for English); CSV is one long table with a
//! `section` column, so a spreadsheet can filter it without knowing the layout.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ledger::{EarnedGift, LoggedLine};
use crate::tiers::TierTable;

/// Why a `--since` value was refused.
#[derive(Debug, thiserror::Error)]
#[error("--since {0:?}: expected a duration (30m, 2h, 1d) or an RFC 3339 time (2026-05-01T20:00:00+08:00)")]
pub struct SinceError(String);

/// `30m`, `2h`, `1d`, `90s` back from `now_ms`, or an RFC 3339 time: milliseconds since the
/// Unix epoch.
pub fn parse_since(text: &str, now_ms: u64) -> Result<u64, SinceError> {
    let t = text.trim();
    let unit_ms = match t.chars().last() {
        Some('s') => Some(1_000),
        Some('m') => Some(60_000),
        Some('h') => Some(3_600_000),
        Some('d') => Some(86_400_000),
        _ => None,
    };
    if let Some(unit) = unit_ms {
        if let Ok(n) = t[..t.len() - 1].parse::<u64>() {
            return Ok(now_ms.saturating_sub(n.saturating_mul(unit)));
        }
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .and_then(|d| u64::try_from(d.timestamp_millis()).ok())
        .ok_or_else(|| SinceError(text.to_string()))
}

/// Report language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

/// Lines of one kind with one fate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FateCount {
    pub lines: u64,
    pub airtime_ms: u64,
}

/// What was earned on one platform (or one tier of it, or by one giver).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Earned {
    /// Gift messages (ledger rows).
    pub messages: u64,
    /// Gifts (sum of counts).
    pub gifts: u64,
    pub value_fen: u64,
}

impl Earned {
    fn add(&mut self, g: &EarnedGift) {
        self.messages += 1;
        self.gifts += g.count;
        self.value_fen += g.value_fen;
    }
}

/// The summary of a period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub since_ms: u64,
    /// (kind, fate) → lines and airtime.
    pub fates: BTreeMap<(String, String), FateCount>,
    /// Every line let go (not heard, skipped, vetoed, merged, expired, dropped), oldest first.
    pub let_go: Vec<LoggedLine>,
    pub per_platform: BTreeMap<String, Earned>,
    /// (platform, tier number) → earned.
    pub per_tier: BTreeMap<(String, u8), Earned>,
    /// The biggest givers, most first: (platform, name, earned).
    pub top_givers: Vec<(String, String, Earned)>,
}

/// How many givers the report names.
pub const TOP_GIVERS: usize = 10;

impl Report {
    pub fn build(
        since_ms: u64,
        lines: &[LoggedLine],
        gifts: &[EarnedGift],
        tiers: &TierTable,
    ) -> Self {
        let mut report = Report {
            since_ms,
            ..Report::default()
        };
        for line in lines {
            let entry = report
                .fates
                .entry((line.kind.clone(), line.fate.clone()))
                .or_default();
            entry.lines += 1;
            entry.airtime_ms += u64::from(line.played_ms.unwrap_or(0));
            if !matches!(line.fate.as_str(), "aired" | "interrupted") {
                report.let_go.push(line.clone());
            }
        }
        let mut givers: BTreeMap<(String, String), (String, Earned)> = BTreeMap::new();
        for g in gifts {
            report
                .per_platform
                .entry(g.platform.clone())
                .or_default()
                .add(g);
            let tier = tiers.classify(g.value_fen).number();
            report
                .per_tier
                .entry((g.platform.clone(), tier))
                .or_default()
                .add(g);
            let giver = givers
                .entry((g.platform.clone(), g.user_id.clone()))
                .or_insert_with(|| (g.user_name.clone(), Earned::default()));
            giver.0.clone_from(&g.user_name);
            giver.1.add(g);
        }
        let mut top: Vec<_> = givers
            .into_iter()
            .map(|((platform, _), (name, earned))| (platform, name, earned))
            .collect();
        top.sort_by(|a, b| b.2.value_fen.cmp(&a.2.value_fen).then(a.1.cmp(&b.1)));
        top.truncate(TOP_GIVERS);
        report.top_givers = top;
        report
    }

    /// Lines with `fate` (all kinds).
    pub fn lines_with(&self, fate: &str) -> u64 {
        self.fates
            .iter()
            .filter(|((_, f), _)| f == fate)
            .map(|(_, c)| c.lines)
            .sum()
    }

    /// Airtime of everything that went on air.
    pub fn airtime_ms(&self) -> u64 {
        self.fates.values().map(|c| c.airtime_ms).sum()
    }

    pub fn to_text(&self, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        let h = |zh_text: &'static str, en_text: &'static str| if zh { zh_text } else { en_text };
        let mut out = String::new();
        let since = chrono::DateTime::from_timestamp_millis(self.since_ms as i64)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        let _ = writeln!(out, "{} {since}", h("报告 · 自", "Report since"));
        let _ = writeln!(
            out,
            "\n== {} ==  {} {:.1} s",
            h("播出", "On air"),
            h("总时长", "airtime"),
            self.airtime_ms() as f64 / 1000.0
        );
        for ((kind, fate), c) in &self.fates {
            let _ = writeln!(
                out,
                "  {kind:<16} {fate:<12} {:>6} {}  {:>8.1} s",
                c.lines,
                h("条", "lines"),
                c.airtime_ms as f64 / 1000.0
            );
        }
        let _ = writeln!(
            out,
            "\n== {} ==",
            h(
                "未播出（跳过、否决、合并、过期、丢弃、未听到）",
                "Not aired (skipped, vetoed, merged, expired, dropped, not heard)"
            )
        );
        for l in &self.let_go {
            let who = l
                .who
                .as_deref()
                .map(|w| format!(" @{w}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  [{}] {} ({}){who} {}:{} «{}»",
                l.fate, l.kind, l.reason, l.cause_kind, l.cause_ids, l.text
            );
        }
        let _ = writeln!(
            out,
            "\n== {} ==",
            h("收入（按平台）", "Earned per platform")
        );
        for (platform, e) in &self.per_platform {
            let _ = writeln!(
                out,
                "  {platform:<12} {:>6} {}  {:>6} {}  ¥{}",
                e.messages,
                h("条", "messages"),
                e.gifts,
                h("个礼物", "gifts"),
                yuan(e.value_fen)
            );
        }
        let _ = writeln!(out, "\n== {} ==", h("收入（按档位）", "Earned per tier"));
        for ((platform, tier), e) in &self.per_tier {
            let _ = writeln!(
                out,
                "  {platform:<12} {} {tier}  {:>6} {}  ¥{}",
                h("档", "tier"),
                e.messages,
                h("条", "messages"),
                yuan(e.value_fen)
            );
        }
        let _ = writeln!(out, "\n== {} ==", h("礼物榜", "Top givers"));
        for (i, (platform, name, e)) in self.top_givers.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {:>2}. {name} ({platform})  {} {}  ¥{}",
                i + 1,
                e.gifts,
                h("个礼物", "gifts"),
                yuan(e.value_fen)
            );
        }
        out
    }

    /// One long table: `section,platform,kind,fate,tier,name,reason,cause,lines,messages,gifts,value_fen,airtime_ms,text`.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "section,platform,kind,fate,tier,name,reason,cause,lines,messages,gifts,value_fen,airtime_ms,text\n",
        );
        let mut row = |cells: [&str; 14]| {
            let cells: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        };
        for ((kind, fate), c) in &self.fates {
            let (lines, air) = (c.lines.to_string(), c.airtime_ms.to_string());
            row([
                "fates", "", kind, fate, "", "", "", "", &lines, "", "", "", &air, "",
            ]);
        }
        for l in &self.let_go {
            let cause = format!("{}:{}", l.cause_kind, l.cause_ids);
            let platform = l.cause_platform.as_deref().unwrap_or("");
            let who = l.who.as_deref().unwrap_or("");
            row([
                "let_go", platform, &l.kind, &l.fate, "", who, &l.reason, &cause, "1", "", "", "",
                "", &l.text,
            ]);
        }
        for (platform, e) in &self.per_platform {
            let (m, g, v) = earned_cells(e);
            row([
                "platform", platform, "", "", "", "", "", "", "", &m, &g, &v, "", "",
            ]);
        }
        for ((platform, tier), e) in &self.per_tier {
            let (m, g, v) = earned_cells(e);
            let tier = tier.to_string();
            row([
                "tier", platform, "", "", &tier, "", "", "", "", &m, &g, &v, "", "",
            ]);
        }
        for (platform, name, e) in &self.top_givers {
            let (m, g, v) = earned_cells(e);
            row([
                "giver", platform, "", "", "", name, "", "", "", &m, &g, &v, "", "",
            ]);
        }
        out
    }
}

fn earned_cells(e: &Earned) -> (String, String, String) {
    (
        e.messages.to_string(),
        e.gifts.to_string(),
        e.value_fen.to_string(),
    )
}

fn yuan(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// RFC 4180: quoted when it holds a comma, quote or line break. A cell starting with `=`,
/// `+`, `-` or `@` gets a leading `'`: viewer names and comments are not to run as formulas
/// in a spreadsheet.
fn csv_cell(text: &str) -> String {
    let guarded = match text.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{text}"),
        _ => text.to_string(),
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests;
