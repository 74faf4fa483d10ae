use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use avatar_link::lipsync::MouthShape;
use avatar_link::{AudioChunk, Report, SoundChunk};

use super::*;
use crate::avatar::{count_mouth_interior, Expression, RenderConfig};

const T0: u64 = 1_000_000_000;
const SIZE: u32 = 128;

#[derive(Default)]
struct Recorder {
    /// (timestamp, number of samples, peak level)
    audio: Vec<(u64, usize, f32)>,
    /// (timestamp, width, height, mouth-interior pixels)
    video: Vec<(u64, u32, u32, usize)>,
}

impl FrameSink for Recorder {
    fn audio(&mut self, block: &[f32], timestamp_ns: u64) {
        let peak = block.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        self.audio.push((timestamp_ns, block.len(), peak));
    }

    fn video(&mut self, rgba: &[u8], width: u32, height: u32, timestamp_ns: u64) {
        assert_eq!(rgba.len(), (width * height * 4) as usize);
        self.video.push((
            timestamp_ns,
            width,
            height,
            count_mouth_interior(rgba, width, height),
        ));
    }
}

impl FrameSink for Arc<Mutex<Recorder>> {
    fn audio(&mut self, block: &[f32], timestamp_ns: u64) {
        self.lock().unwrap().audio(block, timestamp_ns);
    }

    fn video(&mut self, rgba: &[u8], width: u32, height: u32, timestamp_ns: u64) {
        self.lock()
            .unwrap()
            .video(rgba, width, height, timestamp_ns);
    }
}

fn core() -> ClockCore {
    ClockCore::new(
        RenderConfig {
            width: SIZE,
            height: SIZE,
            show_label: false,
        },
        T0,
        7,
    )
}

/// A loud 440 Hz tone as link samples.
fn tone(ms: usize) -> Vec<i16> {
    (0..ms * 48)
        .map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 48_000.0).sin() * 16_000.0) as i16)
        .collect()
}

fn say(core: &mut ClockCore, utterance: u64, samples: Vec<i16>, expression: Option<Expression>) {
    core.apply(ClockInput::Say {
        utterance,
        expression,
    });
    core.apply(ClockInput::Audio(AudioChunk {
        utterance,
        last: true,
        samples,
    }));
}

#[test]
fn the_mouth_follows_the_audio_and_frames_share_the_audio_timestamps() {
    let mut core = core();
    let mut sink = Recorder::default();
    let mut outcomes = Vec::new();
    // 200 ms of silence, then a 500 ms tone arrives, then 300 ms of silence.
    for _ in 0..20 {
        outcomes.push(core.tick(&mut sink, Render::All));
    }
    say(&mut core, 1, tone(500), None);
    for _ in 0..80 {
        outcomes.push(core.tick(&mut sink, Render::All));
    }

    // Audio: gapless 10 ms blocks on the continuous sample clock.
    assert_eq!(sink.audio.len(), 100);
    for (i, &(ts, len, _)) in sink.audio.iter().enumerate() {
        assert_eq!(len, BLOCK_SAMPLES);
        assert_eq!(ts, T0 + i as u64 * 10_000_000);
    }
    // Video: 30 fps, every frame stamped exactly like the audio block of its tick.
    assert_eq!(sink.video.len(), 30);
    let frame_ticks: Vec<usize> = (0..100).filter(|&i| outcomes[i].frame.is_some()).collect();
    for (frame, &tick) in sink.video.iter().zip(&frame_ticks) {
        assert_eq!(frame.0, sink.audio[tick].0);
        assert_eq!(frame.0, outcomes[tick].timestamp_ns);
    }

    // Before the tone every frame shows a closed mouth (and no mouth interior pixels).
    for (frame, &tick) in sink.video.iter().zip(&frame_ticks).filter(|(_, &t)| t < 20) {
        assert_eq!(outcomes[tick].frame, Some(MouthShape::Closed));
        assert_eq!(frame.3, 0);
    }
    // While the tone plays, the mouth is open, in the shape and in the pixels.
    for (frame, &tick) in sink
        .video
        .iter()
        .zip(&frame_ticks)
        .filter(|(_, &t)| (21..70).contains(&t))
    {
        assert!(
            outcomes[tick].frame > Some(MouthShape::Closed),
            "tick {tick}: {:?}",
            outcomes[tick]
        );
        assert!(frame.3 > 0, "tick {tick}");
    }
    // The audio itself is where the mouth says it is.
    assert!(sink.audio[..20].iter().all(|a| a.2 == 0.0));
    assert!(sink.audio[20..70].iter().all(|a| a.2 > 0.4));
    // Shortly after the tone ends the mouth is closed again.
    assert!(outcomes[80..].iter().all(|o| o.mouth == MouthShape::Closed));
}

#[test]
fn a_sound_is_heard_over_the_voice_but_moves_no_mouth_and_is_not_reported() {
    let mut core = core();
    let mut sink = Recorder::default();
    core.apply(ClockInput::Sound(SoundChunk {
        sound: 1,
        last: true,
        samples: tone(300),
    }));
    let outcomes: Vec<TickOutcome> = (0..40).map(|_| core.tick(&mut sink, Render::All)).collect();
    // Heard for its 300 ms, then silence again.
    assert!(sink.audio[..30].iter().all(|&(_, _, peak)| peak > 0.3));
    assert!(sink.audio[31..].iter().all(|&(_, _, peak)| peak == 0.0));
    // The mouth stays shut and the sidecar hears nothing about it.
    assert!(outcomes.iter().all(|o| o.mouth == MouthShape::Closed));
    assert!(sink.video.iter().all(|v| v.3 == 0));
    assert_eq!(core.drain_reports().count(), 0);

    // Over speech: the two add up, and the mouth follows the speech alone.
    say(&mut core, 1, tone(200), None);
    core.apply(ClockInput::Sound(SoundChunk {
        sound: 2,
        last: true,
        samples: tone(100),
    }));
    let speech_only = {
        let mut solo = self::core();
        let mut solo_sink = Recorder::default();
        say(&mut solo, 1, tone(200), None);
        (0..20)
            .map(|_| solo.tick(&mut solo_sink, Render::All).mouth)
            .collect::<Vec<_>>()
    };
    let before = sink.audio.len();
    let mixed: Vec<MouthShape> = (0..20)
        .map(|_| core.tick(&mut sink, Render::All).mouth)
        .collect();
    assert_eq!(mixed, speech_only);
    let peaks: Vec<f32> = sink.audio[before..].iter().map(|a| a.2).collect();
    assert!(
        peaks[..10].iter().all(|&p| p > 0.9),
        "speech + sound: {peaks:?}"
    );
    assert!(
        peaks[11..20].iter().all(|&p| p > 0.3 && p < 0.6),
        "speech alone: {peaks:?}"
    );
}

#[test]
fn reports_start_progress_and_finish() {
    let mut core = core();
    let mut sink = Recorder::default();
    say(&mut core, 9, tone(350), None);
    let mut reports = Vec::new();
    for _ in 0..40 {
        core.tick(&mut sink, Render::All);
        reports.extend(core.drain_reports());
    }
    assert_eq!(reports.first(), Some(&Report::Started { utterance: 9 }));
    let progress: Vec<u32> = reports
        .iter()
        .filter_map(|r| match r {
            Report::Progress {
                utterance: 9,
                played_ms,
                received_ms: 350,
            } => Some(*played_ms),
            _ => None,
        })
        .collect();
    assert_eq!(progress, vec![100, 200, 300]);
    assert_eq!(
        reports.last(),
        Some(&Report::Finished {
            utterance: 9,
            played_ms: 350,
            interrupted: false
        })
    );
}

#[test]
fn stop_interrupts_and_the_mouth_closes() {
    let mut core = core();
    let mut sink = Recorder::default();
    say(&mut core, 2, tone(2000), Some(Expression::Happy));
    for _ in 0..30 {
        core.tick(&mut sink, Render::All);
    }
    core.apply(ClockInput::Stop { utterance: 2 });
    let mut reports: Vec<Report> = core.drain_reports().collect();
    let mouths: Vec<MouthShape> = (0..15)
        .map(|_| core.tick(&mut sink, Render::All).mouth)
        .collect();
    reports.extend(core.drain_reports());
    assert!(
        reports.contains(&Report::Finished {
            utterance: 2,
            played_ms: 310,
            interrupted: true
        }),
        "{reports:?}"
    );
    assert_eq!(mouths.last(), Some(&MouthShape::Closed));
    // The Stop takes effect in the very next block (30: the 10 ms fade, still audible) and
    // nothing of the utterance is heard after it.
    assert!(sink.audio[29].2 > 0.0 && sink.audio[30].2 > 0.0);
    assert!(sink.audio[31..].iter().all(|a| a.2 == 0.0));
}

#[test]
fn say_expressions_last_as_long_as_the_utterance() {
    let mut core = core();
    let mut sink = Recorder::default();
    say(&mut core, 3, tone(100), Some(Expression::Sad));
    core.tick(&mut sink, Render::All);
    assert_eq!(core.expression(), Expression::Sad);
    for _ in 0..12 {
        core.tick(&mut sink, Render::All);
    }
    assert_eq!(core.expression(), Expression::Neutral);
}

#[test]
fn hidden_sources_render_at_a_reduced_rate_and_configure_resizes() {
    let mut core = core();
    let mut sink = Recorder::default();
    for _ in 0..100 {
        core.tick(&mut sink, Render::Throttled);
    }
    assert_eq!(sink.video.len(), 5);
    assert_eq!(sink.audio.len(), 100, "audio never stops");

    // While catching up, no frames at all.
    for _ in 0..10 {
        assert_eq!(core.tick(&mut sink, Render::None).frame, None);
    }
    assert_eq!(sink.video.len(), 5);
    assert_eq!(sink.audio.len(), 110);

    core.apply(ClockInput::Configure(RenderConfig {
        width: 96,
        height: 80,
        show_label: true,
    }));
    for _ in 0..4 {
        core.tick(&mut sink, Render::All);
    }
    let last = sink.video.last().unwrap();
    assert_eq!((last.1, last.2), (96, 80));
}

#[test]
fn rebase_moves_the_timestamp_base_to_now() {
    let mut core = core();
    let mut sink = Recorder::default();
    core.tick(&mut sink, Render::All);
    core.rebase(T0 + 5_000_000_000);
    let outcome = core.tick(&mut sink, Render::All);
    assert_eq!(outcome.timestamp_ns, T0 + 5_000_000_000);
    assert_eq!(
        core.tick(&mut sink, Render::All).timestamp_ns,
        T0 + 5_010_000_000
    );
}

fn fake_now() -> u64 {
    T0
}

#[test]
fn the_thread_ticks_on_a_steady_schedule_and_stops_promptly() {
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let reports = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let report_sink = Arc::clone(&reports);
    let mut thread = ClockThread::spawn(ClockParams {
        sink: Arc::clone(&recorder),
        config: RenderConfig {
            width: 64,
            height: 64,
            show_label: false,
        },
        inputs: rx,
        reports: Box::new(move |r| report_sink.lock().unwrap().push(r)),
        visible: Arc::new(AtomicBool::new(true)),
        now_ns: fake_now,
    })
    .unwrap();
    tx.send(ClockInput::Say {
        utterance: 1,
        expression: None,
    })
    .unwrap();
    tx.send(ClockInput::Audio(AudioChunk {
        utterance: 1,
        last: true,
        samples: tone(100),
    }))
    .unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    let stopping = Instant::now();
    thread.stop();
    assert!(
        stopping.elapsed() < Duration::from_millis(200),
        "stop took {:?}",
        stopping.elapsed()
    );
    let elapsed = started.elapsed().as_secs_f64();

    let recorder = recorder.lock().unwrap();
    let blocks = recorder.audio.len() as f64;
    // Paced by the schedule: ~100 blocks per second (generous bounds for loaded CI machines).
    assert!(
        (blocks - elapsed * 100.0).abs() < 15.0,
        "{blocks} blocks in {elapsed:.3} s"
    );
    for (i, a) in recorder.audio.iter().enumerate() {
        assert_eq!(a.0, T0 + i as u64 * 10_000_000, "continuous timestamps");
    }
    let reports = reports.lock().unwrap();
    assert_eq!(reports.first(), Some(&Report::Started { utterance: 1 }));
    assert!(reports.contains(&Report::Finished {
        utterance: 1,
        played_ms: 100,
        interrupted: false
    }));
}

#[test]
fn reports_about_a_previous_sidecar_session_are_not_forwarded() {
    let mut core = core();
    let mut sink = Recorder::default();
    say(&mut core, 1, tone(50), None);
    core.tick(&mut sink, Render::All);
    let mut reports: Vec<Report> = core.drain_reports().collect();
    // The sidecar restarts mid-utterance and counts from 1 again.
    core.apply(ClockInput::LinkLost);
    say(&mut core, 1, tone(20), None);
    for _ in 0..10 {
        core.tick(&mut sink, Render::All);
    }
    reports.extend(core.drain_reports());
    assert_eq!(
        reports,
        vec![
            Report::Started { utterance: 1 },
            Report::Started { utterance: 1 },
            Report::Finished {
                utterance: 1,
                played_ms: 20,
                interrupted: false
            },
        ]
    );
    // Both utterances were played in full, the old one first.
    assert_eq!(sink.audio.iter().filter(|a| a.2 > 0.4).count(), 7);
}

/// Records like [`Recorder`] but blocks once, on its 20th audio block, like a stalled machine.
struct StallingSink(Arc<Mutex<Recorder>>, Duration);

impl FrameSink for StallingSink {
    fn audio(&mut self, block: &[f32], timestamp_ns: u64) {
        let n = {
            let mut recorder = self.0.lock().unwrap();
            recorder.audio(block, timestamp_ns);
            recorder.audio.len()
        };
        if n == 20 {
            std::thread::sleep(self.1);
        }
    }

    fn video(&mut self, rgba: &[u8], width: u32, height: u32, timestamp_ns: u64) {
        self.0
            .lock()
            .unwrap()
            .video(rgba, width, height, timestamp_ns);
    }
}

fn run_with_stalling_sink(stall: Duration) -> (Vec<(u64, usize, f32)>, usize, f64) {
    let recorder = Arc::new(Mutex::new(Recorder::default()));
    let (_tx, rx) = mpsc::channel();
    let mut thread = ClockThread::spawn(ClockParams {
        sink: StallingSink(Arc::clone(&recorder), stall),
        config: RenderConfig {
            width: 64,
            height: 64,
            show_label: false,
        },
        inputs: rx,
        reports: Box::new(|_| {}),
        visible: Arc::new(AtomicBool::new(true)),
        now_ns: real_now,
    })
    .unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(700));
    thread.stop();
    let elapsed = started.elapsed().as_secs_f64();
    let recorder = recorder.lock().unwrap();
    (recorder.audio.clone(), recorder.video.len(), elapsed)
}

/// A monotonic nanosecond clock for the thread tests that need real time.
fn real_now() -> u64 {
    use std::sync::OnceLock;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    T0 + EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[test]
fn a_short_delay_is_caught_up_with_continuous_timestamps() {
    let (audio, frames, elapsed) = run_with_stalling_sink(Duration::from_millis(60));
    let blocks = audio.len() as f64;
    assert!(
        (blocks - elapsed * 100.0).abs() < 15.0,
        "caught up: {blocks} blocks in {elapsed:.3} s"
    );
    for pair in audio.windows(2) {
        assert_eq!(
            pair[1].0 - pair[0].0,
            10_000_000,
            "timestamps stay continuous"
        );
    }
    assert!(frames > 0);
}

#[test]
fn a_long_stall_resyncs_by_skipping_the_timestamps_ahead() {
    let (audio, _, elapsed) = run_with_stalling_sink(Duration::from_millis(300));
    // No burst of late blocks: about 30 blocks fewer than the elapsed time would hold.
    let blocks = audio.len() as f64;
    assert!(
        (blocks - (elapsed - 0.3) * 100.0).abs() < 15.0,
        "{blocks} blocks in {elapsed:.3} s"
    );
    let gaps: Vec<u64> = audio
        .windows(2)
        .map(|p| p[1].0 - p[0].0)
        .filter(|&d| d != 10_000_000)
        .collect();
    assert_eq!(gaps.len(), 1, "one jump: {gaps:?}");
    assert!(
        (300_000_000..400_000_000).contains(&gaps[0]),
        "jump of {} ns",
        gaps[0]
    );
}
