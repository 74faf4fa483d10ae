//! The one entry point: [`AudioChecks`].

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::silero::Silero;
use super::{energy, webrtc, Detector, DetectorRun, FormatStats, VadConfig, ANALYSIS_RATE};
use crate::audio::resample;
use crate::{RawAudio, SpeechError};

/// Whether the clip may air.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    Reject(String),
}

/// Everything the checks measured, for logs and per-engine statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    pub duration_ms: u64,
    pub rate: u32,
    pub format: FormatStats,
    pub webrtc: DetectorRun,
    pub energy: DetectorRun,
    pub silero: DetectorRun,
    /// The detector whose ratio decided (webrtc-vad, or the energy detector in its place);
    /// `None` when the format checks rejected the clip first.
    pub primary: Option<Detector>,
    /// Resampling to 16 kHz.
    pub resample_time: Duration,
    /// The whole check.
    pub total_time: Duration,
    pub verdict: Verdict,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Pass
    }

    pub fn run(&self, detector: Detector) -> &DetectorRun {
        match detector {
            Detector::Webrtc => &self.webrtc,
            Detector::Energy => &self.energy,
            Detector::Silero => &self.silero,
        }
    }
}

/// The audio checks, configured once and shared (it is `Send + Sync`; the Silero session is
/// loaded on first use and shared behind a lock).
pub struct AudioChecks {
    config: VadConfig,
    /// Loaded on first use so that constructing the checks never blocks and a show that never
    /// checks a clip never loads ONNX Runtime. The error is kept: it is logged once, and every
    /// report says why Silero did not run.
    silero: OnceLock<Result<Silero, String>>,
}

impl std::fmt::Debug for AudioChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioChecks")
            .field("config", &self.config)
            .field(
                "silero",
                &self.silero.get().map(|s| s.as_ref().map(|m| m.path())),
            )
            .finish()
    }
}

impl AudioChecks {
    pub fn new(config: VadConfig) -> Self {
        Self {
            config,
            silero: OnceLock::new(),
        }
    }

    pub fn config(&self) -> &VadConfig {
        &self.config
    }

    /// The Silero model, loading it on first call.
    pub fn silero(&self) -> Result<&Silero, &str> {
        self.silero
            .get_or_init(|| {
                Silero::load(&self.config.silero_model).map_err(|e| {
                    let detail = e.to_string();
                    if self.config.silero_required {
                        tracing::error!("Silero VAD is required but cannot run: {detail}");
                    } else {
                        tracing::warn!(
                            "Silero VAD unavailable, clips are judged by webrtc-vad alone: {detail}"
                        );
                    }
                    detail
                })
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// Checks a clip: `Ok(report)` when it may air, [`SpeechError::Rejected`] (with the reason
    /// and the figures) when it must not, [`SpeechError::Unavailable`] when Silero is required
    /// and cannot run. Synchronous and CPU-bound: call it from the blocking pool.
    pub fn check(&self, audio: &RawAudio) -> Result<CheckReport, SpeechError> {
        let report = self.inspect(audio)?;
        match &report.verdict {
            Verdict::Pass => Ok(report),
            Verdict::Reject(reason) => Err(SpeechError::Rejected(reason.clone())),
        }
    }

    /// Like [`check`](Self::check) but a rejection is a report too (for statistics and the
    /// benchmark); only a required-but-missing Silero is an error.
    pub fn inspect(&self, audio: &RawAudio) -> Result<CheckReport, SpeechError> {
        let start = Instant::now();
        let format = FormatStats::measure(&audio.samples, audio.rate);
        let mut report = CheckReport {
            duration_ms: audio.duration_ms(),
            rate: audio.rate,
            format,
            webrtc: DetectorRun::NotRun,
            energy: DetectorRun::NotRun,
            silero: DetectorRun::NotRun,
            primary: None,
            resample_time: Duration::ZERO,
            total_time: Duration::ZERO,
            verdict: Verdict::Pass,
        };
        let finish = |mut report: CheckReport, verdict: Verdict| {
            report.verdict = verdict;
            report.total_time = start.elapsed();
            Ok(report)
        };
        if let Some(reason) = report.format.problem(audio.rate, &self.config) {
            return finish(report, Verdict::Reject(reason));
        }

        let t = Instant::now();
        let pcm = match resample(&audio.samples, audio.rate, ANALYSIS_RATE) {
            Ok(pcm) => pcm,
            Err(e) => return finish(report, Verdict::Reject(e.to_string())),
        };
        report.resample_time = t.elapsed();

        report.webrtc = if self.config.webrtc {
            webrtc::voiced_ratio(&pcm, self.config.webrtc_mode)
        } else {
            DetectorRun::NotRun
        };
        // Cheap (one pass of sums), so always measured: a third figure in the statistics.
        report.energy = energy::voiced_ratio(&pcm);
        let (primary, ratio) = match (&report.webrtc, &report.energy) {
            (DetectorRun::Ran { voiced_ratio, .. }, _) => (Detector::Webrtc, *voiced_ratio),
            (_, DetectorRun::Ran { voiced_ratio, .. }) => (Detector::Energy, *voiced_ratio),
            (_, other) => {
                let why = match other {
                    DetectorRun::Unavailable(why) => why.clone(),
                    _ => "no detector ran".into(),
                };
                return finish(report, Verdict::Reject(why));
            }
        };
        report.primary = Some(primary);
        if ratio < self.config.min_voiced_ratio {
            let reason = format!(
                "{primary}: {:.1} % voiced frames < {:.0} % (silent or not speech)",
                ratio * 100.0,
                self.config.min_voiced_ratio * 100.0
            );
            return finish(report, Verdict::Reject(reason));
        }

        // The second opinion only matters for a clip that would otherwise air.
        if self.config.silero {
            report.silero = match self.silero() {
                Ok(model) => model.voiced_ratio(&pcm, self.config.silero_threshold),
                Err(why) => DetectorRun::Unavailable(why.to_string()),
            };
            match &report.silero {
                DetectorRun::Ran { voiced_ratio, .. }
                    if *voiced_ratio < self.config.min_silero_ratio =>
                {
                    let reason = format!(
                        "Silero VAD: {:.1} % speech windows < {:.0} % ({primary} said {:.1} %)",
                        voiced_ratio * 100.0,
                        self.config.min_silero_ratio * 100.0,
                        ratio * 100.0
                    );
                    return finish(report, Verdict::Reject(reason));
                }
                DetectorRun::Unavailable(why) if self.config.silero_required => {
                    return Err(SpeechError::Unavailable {
                        engine: "silero-vad".into(),
                        detail: format!("{why} (required by [voice.vad] silero_required)"),
                    });
                }
                _ => {}
            }
        }
        finish(report, Verdict::Pass)
    }
}
