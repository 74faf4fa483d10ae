//! The push worker: one thread that owns every target and is the only one to create, start,
//! stop and release their OBS objects.
//!
//! Requests arrive on obs-websocket's threads and frontend events on OBS's UI thread; both only
//! post a job here (requests then wait for the reply, bounded). So a slow `obs_output_stop`
//! (it joins a connect in progress) never holds a lock anybody else needs, the UI never waits
//! on a target, and the order of operations is the order of the jobs.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use obs_wrapper::obs_sys::{
    obs_encoder_get_ref, obs_encoder_release, obs_encoder_t, obs_output_active,
    obs_output_get_audio_encoder, obs_output_get_video_encoder, obs_output_release,
};
use serde_json::Value;

use super::config::{self, EncoderConfig, TargetConfig};
use super::frontend;
use super::output::{Outputs, Shared};
use super::requests::{self, RequestError, Selection};
use super::status::{Happening, RetryPolicy, State};
use crate::guard;
use crate::log::{log_error, log_warn};

/// Counters are sampled this often (the bitrate window is 2 s).
const TICK: Duration = Duration::from_millis(500);
/// How long an obs-websocket thread waits for the worker before answering `internal`.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long OBS's exit waits for the targets to be released.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

enum Job {
    Request {
        ty: String,
        body: Value,
        reply: SyncSender<Value>,
    },
    MainStarted,
    MainStopping,
    Shutdown {
        done: SyncSender<()>,
    },
}

struct Handle {
    jobs: Sender<Job>,
    thread: JoinHandle<()>,
}

static WORKER: Mutex<Option<Handle>> = Mutex::new(None);

fn worker() -> std::sync::MutexGuard<'static, Option<Handle>> {
    WORKER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the worker thread (once).
pub fn spawn() -> std::io::Result<()> {
    let mut slot = worker();
    if slot.is_some() {
        return Ok(());
    }
    let (jobs, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("ai-avatar-push".into())
        .spawn(move || guard::catch("push worker", (), || run(rx)))?;
    *slot = Some(Handle { jobs, thread });
    Ok(())
}

fn post(job: Job) -> bool {
    worker().as_ref().is_some_and(|h| h.jobs.send(job).is_ok())
}

/// Answers one vendor request (called on an obs-websocket thread).
pub fn request(ty: &str, body: &Value) -> Value {
    let (reply, answer) = mpsc::sync_channel(1);
    let job = Job::Request {
        ty: ty.to_string(),
        body: body.clone(),
        reply,
    };
    if !post(job) {
        return requests::error_reply(&RequestError::Internal("push targets are shut down".into()));
    }
    answer.recv_timeout(REPLY_TIMEOUT).unwrap_or_else(|_| {
        requests::error_reply(&RequestError::Internal(format!(
            "{ty} did not complete within {} s",
            REPLY_TIMEOUT.as_secs()
        )))
    })
}

/// OBS's main stream started / is stopping (from the frontend's event callback).
pub fn main_started() {
    post(Job::MainStarted);
}

pub fn main_stopping() {
    post(Job::MainStopping);
}

/// Stops and releases every target and ends the worker; bounded, idempotent.
pub fn shutdown() {
    let Some(handle) = worker().take() else {
        return;
    };
    let (done, finished) = mpsc::sync_channel(1);
    if handle.jobs.send(Job::Shutdown { done }).is_ok()
        && finished.recv_timeout(SHUTDOWN_TIMEOUT).is_ok()
    {
        let _ = handle.thread.join();
    } else {
        log_warn!("push targets did not shut down in time; leaving them to OBS");
    }
}

struct Target {
    shared: Arc<Shared>,
    /// Created at the first start, kept across stop/start, released on removal.
    outputs: Option<Outputs>,
    /// Started and not stopped since: a retryable failure is then retried.
    wanted: bool,
    retry: RetryPolicy,
}

impl Target {
    fn new(config: TargetConfig) -> Self {
        Self {
            shared: Shared::new(config),
            outputs: None,
            wanted: false,
            retry: RetryPolicy::default(),
        }
    }

    fn name(&self) -> &str {
        &self.shared.config.name
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // Signals are disconnected by `Outputs`' drop, so the state is set here.
        let was = self.shared.state();
        self.outputs = None;
        if was != State::Idle {
            self.shared.notify(Happening::StopRequested);
            self.shared.notify(Happening::Stopped {
                code: 0,
                error: None,
            });
        }
    }
}

fn run(jobs: Receiver<Job>) {
    let mut targets: Vec<Target> = Vec::new();
    loop {
        match jobs.recv_timeout(TICK) {
            Ok(Job::Request { ty, body, reply }) => {
                let answer = match handle(&mut targets, &ty, &body) {
                    Ok(statuses) => requests::ok_reply(statuses),
                    Err(e) => requests::error_reply(&e),
                };
                let _ = reply.send(answer);
            }
            Ok(Job::MainStarted) => {
                for t in targets.iter_mut().filter(|t| t.shared.config.with_main) {
                    if let Err(e) = start(t) {
                        log_warn!(
                            "push target '{}': not started with the main stream: {e}",
                            t.name()
                        );
                    }
                }
            }
            Ok(Job::MainStopping) => {
                for t in targets.iter_mut().filter(|t| t.shared.config.with_main) {
                    stop(t);
                }
            }
            Ok(Job::Shutdown { done }) => {
                targets.clear();
                let _ = done.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        for t in &mut targets {
            let (state, retryable) = {
                let rt = t.shared.runtime();
                (rt.state, rt.retryable())
            };
            if let Some(o) = &t.outputs {
                if state.is_running() {
                    o.sample(&t.shared);
                }
            }
            if state == State::Live {
                t.retry.reset();
            }
            if t.retry.poll(t.wanted && retryable, now) {
                if let Err(e) = start_as(t, Happening::Retry) {
                    log_warn!("push target '{}': retry failed: {e}", t.name());
                }
            }
        }
    }
}

fn handle(targets: &mut Vec<Target>, ty: &str, body: &Value) -> Result<Vec<Value>, RequestError> {
    match ty {
        "set_targets" => {
            let configs = config::parse_targets(body)?;
            set_targets(targets, configs);
            Ok(targets.iter().map(|t| t.shared.status()).collect())
        }
        "list" => Ok(targets.iter().map(|t| t.shared.status()).collect()),
        "status" => {
            let sel = requests::selection(ty, body, true)?;
            let picked = select(targets, &sel)?;
            Ok(picked.iter().map(|&i| targets[i].shared.status()).collect())
        }
        "start" => {
            let sel = requests::selection(ty, body, false)?;
            let picked = select(targets, &sel)?;
            // Check what can be checked before touching anything: a failed request changes
            // nothing.
            let needs_main = picked.iter().find(|&&i| {
                let t = &targets[i];
                t.shared.config.encoder == EncoderConfig::Shared && !t.shared.state().is_running()
            });
            if let Some(&i) = needs_main {
                if !main_has_encoders() {
                    return Err(RequestError::NeedsMainStream(targets[i].name().to_string()));
                }
            }
            let mut first_error = None;
            for &i in &picked {
                if let Err(e) = start(&mut targets[i]) {
                    first_error.get_or_insert(e);
                }
            }
            match first_error {
                Some(e) => Err(e),
                None => Ok(picked.iter().map(|&i| targets[i].shared.status()).collect()),
            }
        }
        "stop" => {
            let sel = requests::selection(ty, body, false)?;
            let picked = select(targets, &sel)?;
            for &i in &picked {
                stop(&mut targets[i]);
            }
            Ok(picked.iter().map(|&i| targets[i].shared.status()).collect())
        }
        other => Err(RequestError::BadRequest(format!(
            "unknown request type '{other}'"
        ))),
    }
}

fn select(targets: &[Target], sel: &Selection) -> Result<Vec<usize>, RequestError> {
    match sel {
        Selection::All => Ok((0..targets.len()).collect()),
        Selection::One(name) => targets
            .iter()
            .position(|t| t.name() == name)
            .map(|i| vec![i])
            .ok_or_else(|| RequestError::UnknownTarget(name.clone())),
    }
}

/// Replaces the set: unchanged targets keep running, changed running ones restart with the
/// new settings, removed ones stop; new `with_main` targets join a main stream on air.
fn set_targets(targets: &mut Vec<Target>, configs: Vec<TargetConfig>) {
    let mut old: Vec<Target> = std::mem::take(targets);
    let main_live = main_stream_active();
    for cfg in configs {
        let existing = old
            .iter()
            .position(|t| t.name() == cfg.name)
            .map(|i| old.remove(i));
        let target = match existing {
            Some(t) if t.shared.config == cfg => t,
            Some(t) => {
                let was_running = t.shared.state().is_running();
                drop(t);
                let mut fresh = Target::new(cfg);
                if was_running {
                    let mut status = fresh.shared.status();
                    fresh
                        .shared
                        .emit(&mut status, "settings changed, restarting");
                    if let Err(e) = start(&mut fresh) {
                        log_warn!("push target '{}': restart failed: {e}", fresh.name());
                    }
                }
                fresh
            }
            None => {
                let mut fresh = Target::new(cfg);
                let mut status = fresh.shared.status();
                fresh.shared.emit(&mut status, "added");
                if fresh.shared.config.with_main && main_live {
                    if let Err(e) = start(&mut fresh) {
                        log_warn!(
                            "push target '{}': not started with the main stream: {e}",
                            fresh.name()
                        );
                    }
                }
                fresh
            }
        };
        targets.push(target);
    }
    for removed in old {
        let shared = Arc::clone(&removed.shared);
        drop(removed);
        let mut status = shared.status();
        shared.emit(&mut status, "removed");
    }
}

/// Starts a target that is not running; the state then follows the output's signals.
fn start(t: &mut Target) -> Result<(), RequestError> {
    if t.shared.state().is_running() {
        return Ok(());
    }
    t.wanted = true;
    t.retry.reset();
    start_as(t, Happening::StartRequested)
}

/// [`start`]'s work; `how` is the state change it reports (a request, or a retry).
fn start_as(t: &mut Target, how: Happening) -> Result<(), RequestError> {
    let failed = |t: &Target, error: String| {
        t.shared.notify(Happening::StartRequested);
        t.shared.notify(Happening::StartFailed(error.clone()));
        RequestError::StartFailed {
            name: t.name().to_string(),
            error,
        }
    };
    if t.outputs.is_none() {
        match Outputs::create(&t.shared) {
            Ok(o) => t.outputs = Some(o),
            Err(e) => return Err(failed(t, e)),
        }
    }
    let shared_encoders = t.shared.config.encoder == EncoderConfig::Shared;
    if let Some(o) = t.outputs.as_mut() {
        if o.is_active() {
            // Still flushing after a stop: libobs refuses a start until it has finished. The
            // target stays as it is (stopping), so only the request fails.
            return Err(RequestError::StartFailed {
                name: t.name().to_string(),
                error: "the previous run is still stopping; try again in a moment".into(),
            });
        }
        if shared_encoders {
            let Some((video, audio)) = main_encoders() else {
                return Err(RequestError::NeedsMainStream(t.name().to_string()));
            };
            // SAFETY: inactive output (checked above); strong references from main_encoders.
            unsafe { o.set_encoders(video, audio) };
        }
    }
    t.shared.notify(how);
    let Some(o) = t.outputs.as_ref() else {
        return Ok(());
    };
    if let Err(e) = o.start(&t.shared) {
        log_error!("push target '{}': could not start: {e}", t.name());
        t.shared.notify(Happening::StartFailed(e.clone()));
        return Err(RequestError::StartFailed {
            name: t.name().to_string(),
            error: e,
        });
    }
    Ok(())
}

fn stop(t: &mut Target) {
    t.wanted = false;
    let state = t.shared.state();
    match (&t.outputs, state) {
        (Some(o), s) if s.is_running() || o.is_active() => {
            t.shared.notify(Happening::StopRequested);
            o.stop();
        }
        (_, State::Failed) => {
            t.shared.notify(Happening::StopRequested);
            t.shared.notify(Happening::Stopped {
                code: 0,
                error: None,
            });
        }
        _ => {}
    }
}

/// Whether the main stream has encoders to share (checked without keeping them).
fn main_has_encoders() -> bool {
    main_encoders().is_some_and(|(video, audio)| {
        // SAFETY: the two strong references main_encoders just handed us.
        unsafe {
            obs_encoder_release(video);
            obs_encoder_release(audio);
        }
        true
    })
}

/// Strong references to the main stream's video and audio encoders, if it has them (the main
/// stream has been started at least once in this OBS session).
fn main_encoders() -> Option<(*mut obs_encoder_t, *mut obs_encoder_t)> {
    let main = frontend::get()?.streaming_output();
    if main.is_null() {
        return None;
    }
    // SAFETY: `main` is a reference we own; the encoder getters return borrowed pointers that
    // we turn into strong references before releasing `main`.
    unsafe {
        let video = obs_output_get_video_encoder(main);
        let audio = obs_output_get_audio_encoder(main, 0);
        let refs = if video.is_null() || audio.is_null() {
            None
        } else {
            let (v, a) = (obs_encoder_get_ref(video), obs_encoder_get_ref(audio));
            if v.is_null() || a.is_null() {
                // An encoder being destroyed right now: give back the reference we did get.
                obs_encoder_release(v);
                obs_encoder_release(a);
                None
            } else {
                Some((v, a))
            }
        };
        obs_output_release(main);
        refs
    }
}

fn main_stream_active() -> bool {
    let Some(main) = frontend::get().map(frontend::Frontend::streaming_output) else {
        return false;
    };
    if main.is_null() {
        return false;
    }
    // SAFETY: our reference, released right after.
    unsafe {
        let active = obs_output_active(main);
        obs_output_release(main);
        active
    }
}
