//! Rendering off the audio clock's thread.
//!
//! The clock must emit a 10 ms audio block every 10 ms. Drawing a frame in software takes a few
//! milliseconds in a release build, but tens of milliseconds on a slow PC, at 1024² or in a
//! debug build; done inline, that would push audio blocks late, and a clock that keeps falling
//! behind resyncs, which puts gaps into the voice. So the clock only snapshots the frame state
//! (a few dozen bytes) with its timestamp and hands it to a render thread through a one-slot
//! queue. If the renderer is still busy with the previous frame, the new one is dropped: the
//! picture's frame rate degrades, the voice never does. Frames keep the timestamp of the audio
//! block they were computed from, so lip-sync is unaffected by where they are drawn.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::FrameSink;
use crate::avatar::{AvatarFrameState, AvatarRenderer, RenderConfig};
use crate::guard;

type FrameJob = (AvatarFrameState, RenderConfig, u64);

/// A [`FrameSink`] whose audio goes out on the caller's thread and whose frames are drawn and
/// output on a render thread of its own.
pub struct ThreadedVideo<S> {
    audio: S,
    jobs: Option<SyncSender<FrameJob>>,
    worker: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
}

impl<S: FrameSink + Send + 'static> ThreadedVideo<S> {
    /// `audio_sink` receives the audio blocks, `video_sink` (moved to the render thread) the
    /// frames. For OBS both point at the same source.
    pub fn spawn(audio_sink: S, mut video_sink: S) -> std::io::Result<Self> {
        let (jobs, queue) = sync_channel::<FrameJob>(1);
        let worker = std::thread::Builder::new()
            .name("ai-avatar-render".into())
            .spawn(move || {
                let mut renderer: Option<AvatarRenderer> = None;
                // Ends when the sender is dropped (the clock stopped).
                for (state, config, timestamp_ns) in queue {
                    guard::catch("avatar rendering", (), || {
                        let renderer = match &mut renderer {
                            Some(r) if r.config() == config => r,
                            slot => slot.insert(AvatarRenderer::new(config)),
                        };
                        let (width, height) = (renderer.width(), renderer.height());
                        video_sink.video(renderer.render(&state), width, height, timestamp_ns);
                    });
                }
            })?;
        Ok(Self {
            audio: audio_sink,
            jobs: Some(jobs),
            worker: Some(worker),
            dropped: Arc::default(),
        })
    }

    /// Frames dropped because the renderer was still busy.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl<S: FrameSink> FrameSink for ThreadedVideo<S> {
    fn audio(&mut self, block: &[f32], timestamp_ns: u64) {
        self.audio.audio(block, timestamp_ns);
    }

    fn video(&mut self, rgba: &[u8], width: u32, height: u32, timestamp_ns: u64) {
        // Only reached if a caller bypasses `frame`; output directly rather than lose it.
        self.audio.video(rgba, width, height, timestamp_ns);
    }

    fn frame(
        &mut self,
        renderer: &mut AvatarRenderer,
        state: &AvatarFrameState,
        timestamp_ns: u64,
    ) {
        let Some(jobs) = &self.jobs else { return };
        match jobs.try_send((*state, renderer.config(), timestamp_ns)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The render thread died (it catches panics, so this is unexpected): draw inline.
            Err(TrySendError::Disconnected(_)) => {
                let (width, height) = (renderer.width(), renderer.height());
                self.audio
                    .video(renderer.render(state), width, height, timestamp_ns);
            }
        }
    }
}

impl<S> Drop for ThreadedVideo<S> {
    fn drop(&mut self) {
        self.jobs.take(); // closes the queue: the worker finishes its frame and exits
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Records timestamps; its video output is slow, like a big software render.
    #[derive(Clone, Default)]
    struct SlowSink {
        audio: Arc<Mutex<Vec<u64>>>,
        video: Arc<Mutex<Vec<u64>>>,
        video_delay: Duration,
    }

    impl FrameSink for SlowSink {
        fn audio(&mut self, _block: &[f32], ts: u64) {
            self.audio.lock().unwrap().push(ts);
        }
        fn video(&mut self, _rgba: &[u8], _w: u32, _h: u32, ts: u64) {
            std::thread::sleep(self.video_delay);
            self.video.lock().unwrap().push(ts);
        }
    }

    #[test]
    fn a_slow_renderer_never_delays_audio_and_frames_keep_their_timestamps() {
        let sink = SlowSink {
            video_delay: Duration::from_millis(50),
            ..Default::default()
        };
        let mut threaded = ThreadedVideo::spawn(sink.clone(), sink.clone()).unwrap();
        let mut renderer = AvatarRenderer::new(RenderConfig::default());
        let state = AvatarFrameState::default();
        let start = std::time::Instant::now();
        for tick in 0..30u64 {
            threaded.audio(&[0.0; 480], tick * 10);
            if tick % 3 == 0 {
                threaded.frame(&mut renderer, &state, tick * 10);
            }
        }
        assert!(
            start.elapsed() < Duration::from_millis(40),
            "audio path blocked: {:?}",
            start.elapsed()
        );
        assert!(
            threaded.dropped_frames() > 0,
            "a busy renderer drops frames"
        );
        drop(threaded); // joins the render thread
        assert_eq!(sink.audio.lock().unwrap().len(), 30);
        let video = sink.video.lock().unwrap();
        assert!(
            !video.is_empty() && video.iter().all(|ts| ts % 30 == 0),
            "{video:?}"
        );
    }
}
