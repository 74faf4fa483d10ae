//! Turning a soak's samples into figures and a verdict.
//!
//! **Warm-up** ends at the first sample taken at or after [`default_warmup_secs`],
//! `max(60 s, a third of the run)`, unless a run sets its own: by then what fills once (the
//! clip cache's 32 MiB hot set, SQLite's page cache, the allocator's arenas, the voice's model
//! sessions, the blocking thread pool) has filled, and two thirds of the run are left to
//! measure. RSS growth is judged only from there on.
//!
//! **Open files** at the end are the fewest of the last three samples: a synthesis child's
//! pipes or a link connection being set up come and go between samples, a leak stays.

use super::probe::Sample;

const MIB: f64 = 1024.0 * 1024.0;

/// Limits a soak is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// RSS may grow at most this much (percent) from the warm-up sample to the end, both at
    /// the last sample and on the least-squares line through the post-warm-up samples.
    pub rss_growth_pct: f64,
    /// Open file descriptors at the end may exceed those at warm-up by at most this many.
    pub extra_fds: u64,
    pub max_wal_bytes: u64,
    /// The ledger must have admitted at least this share of what the room sent (whatever it
    /// is, admission must go on after warm-up).
    pub min_admitted_share: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            rss_growth_pct: 10.0,
            extra_fds: 8,
            max_wal_bytes: 128 * 1024 * 1024,
            min_admitted_share: 0.9,
        }
    }
}

/// The figures of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub warm: Sample,
    pub last: Sample,
    /// Samples from warm-up on.
    pub post_warmup: usize,
    pub rss_growth_pct: f64,
    /// Least-squares slope of RSS over the post-warm-up samples.
    pub rss_slope_mib_per_hour: f64,
    /// The fitted line's growth over the post-warm-up span, in percent of the warm-up RSS.
    pub fitted_growth_pct: f64,
    pub max_fds: u64,
    /// Open files at the end: the fewest of the last three samples (see the module docs).
    pub end_fds: u64,
    pub max_threads: u64,
    pub max_wal_bytes: u64,
    /// Events per second the room actually sent, and the ledger admitted, over the run.
    pub sent_per_sec: f64,
    pub admitted_per_sec: f64,
}

/// `max(60 s, a third of the run)`.
pub fn default_warmup_secs(run_secs: f64) -> f64 {
    (run_secs / 3.0).max(60.0)
}

/// The index of the first sample at or after `warmup_secs`; `None` without samples.
pub fn warmup_index(samples: &[Sample], warmup_secs: f64) -> Option<usize> {
    samples
        .iter()
        .position(|s| s.at_secs >= warmup_secs)
        // A run shorter than the warm-up still gets figures, from its last sample.
        .or_else(|| samples.len().checked_sub(1))
}

/// Least-squares slope of `y` over `x`; 0 for fewer than two distinct `x`.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

pub fn summarize(samples: &[Sample], warmup_secs: f64) -> Option<Summary> {
    let w = warmup_index(samples, warmup_secs)?;
    let (warm, last) = (samples[w], *samples.last()?);
    let post = &samples[w..];
    let points: Vec<(f64, f64)> = post
        .iter()
        .map(|s| (s.at_secs / 3600.0, s.rss_kib as f64 / 1024.0))
        .collect();
    let rss_slope_mib_per_hour = slope(&points);
    let warm_mib = warm.rss_kib as f64 / 1024.0;
    let span_hours = (last.at_secs - warm.at_secs) / 3600.0;
    let per_sec = |n: u64| {
        if last.at_secs > 0.0 {
            n as f64 / last.at_secs
        } else {
            0.0
        }
    };
    Some(Summary {
        warm,
        last,
        post_warmup: post.len(),
        rss_growth_pct: (last.rss_kib as f64 - warm.rss_kib as f64) / warm.rss_kib as f64 * 100.0,
        rss_slope_mib_per_hour,
        fitted_growth_pct: rss_slope_mib_per_hour * span_hours / warm_mib * 100.0,
        max_fds: samples.iter().map(|s| s.fds).max().unwrap_or(0),
        end_fds: post.iter().rev().take(3).map(|s| s.fds).min().unwrap_or(0),
        max_threads: samples.iter().map(|s| s.threads).max().unwrap_or(0),
        max_wal_bytes: samples.iter().map(|s| s.wal_bytes).max().unwrap_or(0),
        sent_per_sec: per_sec(last.sent),
        admitted_per_sec: per_sec(last.admitted),
    })
}

impl Summary {
    /// Every limit the run broke, in words (empty: it passed).
    pub fn violations(&self, limits: &Limits) -> Vec<String> {
        let mut out = Vec::new();
        if self.post_warmup < 2 {
            out.push(format!(
                "only {} sample(s) after warm-up: the run is too short to judge",
                self.post_warmup
            ));
        }
        if self.rss_growth_pct > limits.rss_growth_pct {
            out.push(format!(
                "RSS grew {:.1} % after warm-up ({} → {} KiB), limit {} %",
                self.rss_growth_pct, self.warm.rss_kib, self.last.rss_kib, limits.rss_growth_pct
            ));
        }
        if self.fitted_growth_pct > limits.rss_growth_pct {
            out.push(format!(
                "RSS trend {:.1} MiB/h, {:.1} % over the post-warm-up span, limit {} %",
                self.rss_slope_mib_per_hour, self.fitted_growth_pct, limits.rss_growth_pct
            ));
        }
        if self.end_fds > self.warm.fds + limits.extra_fds {
            out.push(format!(
                "open files grew from {} at warm-up to {} at the end (limit +{})",
                self.warm.fds, self.end_fds, limits.extra_fds
            ));
        }
        if self.max_wal_bytes > limits.max_wal_bytes {
            out.push(format!(
                "the WAL reached {:.1} MiB (limit {:.0} MiB)",
                self.max_wal_bytes as f64 / MIB,
                limits.max_wal_bytes as f64 / MIB
            ));
        }
        let admitted_share = self.last.admitted as f64 / self.last.sent.max(1) as f64;
        if admitted_share < limits.min_admitted_share {
            out.push(format!(
                "the ledger admitted {} of {} messages sent ({:.0} %): the sidecar did not keep up",
                self.last.admitted,
                self.last.sent,
                admitted_share * 100.0
            ));
        }
        if self.post_warmup >= 2 && self.last.admitted <= self.warm.admitted {
            out.push(format!(
                "nothing admitted after warm-up ({} in all): ingestion stalled",
                self.last.admitted
            ));
        }
        if self.post_warmup >= 2 && self.last.aired <= self.warm.aired {
            out.push(format!(
                "no line aired after warm-up ({} in all): the show stalled",
                self.last.aired
            ));
        }
        out
    }

    /// The figures, for the bench's output and BENCHMARKS.md.
    pub fn render(&self) -> String {
        format!(
            "warm-up sample at {:.0} s: RSS {:.1} MiB, {} fds, {} threads\n\
             end at {:.0} s: RSS {:.1} MiB, {} fds (fewest of the last 3 samples), {} threads\n\
             RSS growth after warm-up {:+.1} % (fitted {:+.1} %), slope {:+.1} MiB/h over {} samples\n\
             max fds {}, max threads {}, max WAL {:.2} MiB, ledger {:.1} MiB\n\
             sent {:.0} events/s, admitted {:.0} events/s; {} gifts, {} not thanked yet; {} lines aired",
            self.warm.at_secs,
            self.warm.rss_kib as f64 / 1024.0,
            self.warm.fds,
            self.warm.threads,
            self.last.at_secs,
            self.last.rss_kib as f64 / 1024.0,
            self.end_fds,
            self.last.threads,
            self.rss_growth_pct,
            self.fitted_growth_pct,
            self.rss_slope_mib_per_hour,
            self.post_warmup,
            self.max_fds,
            self.max_threads,
            self.max_wal_bytes as f64 / MIB,
            self.last.ledger_bytes as f64 / MIB,
            self.sent_per_sec,
            self.admitted_per_sec,
            self.last.gifts,
            self.last.unthanked,
            self.last.aired,
        )
    }
}

/// The table header matching [`row`].
pub fn header() -> String {
    format!(
        "{:>6} {:>9} {:>6} {:>4} {:>4} {:>9} {:>8} {:>9} {:>9} {:>7} {:>9} {:>6}",
        "t s",
        "RSS MiB",
        "CPU s",
        "fds",
        "thr",
        "ledgerMiB",
        "WAL MiB",
        "sent",
        "admitted",
        "gifts",
        "unthanked",
        "aired"
    )
}

pub fn row(s: &Sample) -> String {
    format!(
        "{:>6.0} {:>9.1} {:>6.1} {:>4} {:>4} {:>9.2} {:>8.2} {:>9} {:>9} {:>7} {:>9} {:>6}",
        s.at_secs,
        s.rss_kib as f64 / 1024.0,
        s.cpu_secs,
        s.fds,
        s.threads,
        s.ledger_bytes as f64 / MIB,
        s.wal_bytes as f64 / MIB,
        s.sent,
        s.admitted,
        s.gifts,
        s.unthanked,
        s.aired
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_secs: f64, rss_mib: f64, fds: u64) -> Sample {
        Sample {
            at_secs,
            rss_kib: (rss_mib * 1024.0) as u64,
            fds,
            sent: (at_secs * 500.0) as u64,
            admitted: (at_secs * 500.0) as u64,
            aired: at_secs as u64,
            ..Sample::default()
        }
    }

    #[test]
    fn warmup_is_a_third_of_the_run_but_at_least_a_minute() {
        assert_eq!(default_warmup_secs(180.0), 60.0);
        assert_eq!(default_warmup_secs(90.0), 60.0);
        assert_eq!(default_warmup_secs(3_600.0), 1_200.0);
        let s: Vec<_> = (0..=12)
            .map(|i| sample(i as f64 * 15.0, 50.0, 10))
            .collect();
        assert_eq!(warmup_index(&s, 60.0), Some(4));
        assert_eq!(warmup_index(&s, 50.0), Some(4));
        // Past the last sample: figures from the last one (and too few samples to judge).
        assert_eq!(warmup_index(&s, 200.0), Some(12));
        assert_eq!(warmup_index(&[], 60.0), None);
    }

    #[test]
    fn slope_is_least_squares() {
        assert_eq!(slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]), 2.0);
        // Noise around a flat line has no slope.
        assert_eq!(slope(&[(0.0, 1.0), (1.0, 2.0), (2.0, 1.0)]), 0.0);
        assert_eq!(slope(&[(1.0, 1.0)]), 0.0);
    }

    #[test]
    fn flat_memory_passes_and_growth_fails() {
        let limits = Limits::default();
        let flat: Vec<_> = (0..=12)
            .map(|i| sample(i as f64 * 15.0, 60.0 + (i % 2) as f64 * 0.5, 11))
            .collect();
        let s = summarize(&flat, 60.0).unwrap();
        assert!(
            s.violations(&limits).is_empty(),
            "{:?}",
            s.violations(&limits)
        );
        assert!(s.rss_slope_mib_per_hour.abs() < 5.0, "{s:?}");

        // 60 → 72 MiB after warm-up: +20 %, 3 fds more per sample.
        let leaking: Vec<_> = (0..=12)
            .map(|i| sample(i as f64 * 15.0, 56.0 + i as f64 * 1.5, 10 + 3 * i))
            .collect();
        let s = summarize(&leaking, 60.0).unwrap();
        let v = s.violations(&limits);
        assert!((s.rss_slope_mib_per_hour - 360.0).abs() < 1e-6, "{s:?}");
        assert!(v.iter().any(|m| m.starts_with("RSS grew")), "{v:?}");
        assert!(v.iter().any(|m| m.starts_with("RSS trend")), "{v:?}");
        assert!(v.iter().any(|m| m.starts_with("open files")), "{v:?}");
    }

    #[test]
    fn a_passing_burst_of_open_files_is_not_a_leak() {
        let mut s: Vec<_> = (0..=12)
            .map(|i| sample(i as f64 * 15.0, 60.0, 22))
            .collect();
        // A sample caught three synthesis children at work.
        s[11].fds = 36;
        let summary = summarize(&s, 60.0).unwrap();
        assert_eq!((summary.max_fds, summary.end_fds), (36, 22));
        assert!(summary.violations(&Limits::default()).is_empty());
        // Still there in the last three samples: a leak.
        s[10].fds = 36;
        s[12].fds = 36;
        let v = summarize(&s, 60.0).unwrap().violations(&Limits::default());
        assert!(v.iter().any(|m| m.starts_with("open files")), "{v:?}");
    }

    #[test]
    fn a_stalled_sidecar_or_a_huge_wal_fails() {
        let mut stalled: Vec<_> = (0..=12)
            .map(|i| sample(i as f64 * 15.0, 60.0, 10))
            .collect();
        for s in &mut stalled {
            s.admitted = 100;
            s.aired = 3;
            s.wal_bytes = 200 << 20;
        }
        let v = summarize(&stalled, 60.0)
            .unwrap()
            .violations(&Limits::default());
        assert!(v.iter().any(|m| m.contains("did not keep up")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("show stalled")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("ingestion stalled")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("WAL reached")), "{v:?}");
    }
}
