//! Push targets: the platforms the show is pushed to besides OBS's main stream.
//!
//! The AI Avatar plugin owns the outputs (it creates the RTMP/SRT outputs and encoders inside
//! OBS, reconnects them, keeps one failing target from touching the others); the sidecar only
//! tells it what to push where, over obs-websocket vendor requests ([`vendor`]).
//!
//! * [`config`]: `[[push]]` entries, presets, keys from the environment or a file.
//! * [`vendor`]: the requests (set_targets, list, start, stop) and the status they answer.
//! * [`PushLink`] (here): what the OBS connection does about push: hand the targets over on
//!   every (re)connection and reload, run the show's start/stop commands, and watch the
//!   targets' state so every change (live, reconnecting and why) is logged.

pub mod config;
pub mod vendor;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

pub use config::{PushTarget, WireTarget};
use vendor::{PushError, TargetStatus, Which};

use super::request::{Obs, RequestError};

/// How often the targets' state is read while there are any.
pub const POLL_PERIOD: Duration = Duration::from_secs(5);

/// Something the show asked of the push targets.
#[derive(Debug)]
pub enum PushCommand {
    Start(Which),
    Stop(Which),
    /// The current status of every target (empty when there are none or OBS is away).
    Status(oneshot::Sender<Vec<TargetStatus>>),
}

/// A new set of targets (start, reload), and the names it had to leave out because their key
/// could not be read just now: those keep the settings they have.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushSet {
    pub targets: Vec<WireTarget>,
    pub keep: Vec<String>,
}

/// What the OBS task has to do about push on its next turn.
#[derive(Debug, Default)]
pub struct PushWork {
    pub targets: Option<PushSet>,
    pub commands: Vec<PushCommand>,
}

impl PushWork {
    pub fn is_empty(&self) -> bool {
        self.targets.is_none() && self.commands.is_empty()
    }
}

/// The push side of the OBS connection; kept across reconnections.
#[derive(Debug, Default)]
pub struct PushLink {
    targets: Vec<WireTarget>,
    /// Last state seen per target, to log changes.
    seen: BTreeMap<String, (String, u64)>,
    last: Vec<TargetStatus>,
    no_plugin_logged: bool,
    next_poll: Option<Instant>,
}

impl PushLink {
    pub fn new(targets: Vec<WireTarget>) -> Self {
        Self {
            targets,
            ..Self::default()
        }
    }

    /// A new set while OBS is away: handed over at the next connection.
    pub fn replace(&mut self, set: PushSet) {
        self.targets = self.merged(set);
        self.next_poll = None;
    }

    /// `set`, with the current settings kept for the targets it had to leave out (a key file
    /// unreadable for a moment must not take a live push off air).
    fn merged(&self, set: PushSet) -> Vec<WireTarget> {
        let mut targets = set.targets;
        for name in &set.keep {
            if let Some(old) = self.targets.iter().find(|t| &t.name == name) {
                if !targets.iter().any(|t| &t.name == name) {
                    tracing::warn!(target = %name, "push target kept with its previous settings");
                    targets.push(old.clone());
                }
            }
        }
        targets
    }

    /// On every connection: the plugin gets the set, even an empty one (a restarted OBS has
    /// none; a sidecar started without targets takes back what an earlier run left; an
    /// unchanged set is a no-op for the plugin, running targets keep running).
    pub async fn connected(&mut self, obs: &Obs) -> Result<(), RequestError> {
        self.seen.clear();
        self.hand_over(obs).await
    }

    async fn hand_over(&mut self, obs: &Obs) -> Result<(), RequestError> {
        let result = vendor::set_targets(obs, &self.targets).await;
        if self.targets.is_empty() && matches!(result, Err(PushError::NoPlugin(_))) {
            return Ok(()); // nothing configured, nothing to apply: no plugin API is fine
        }
        let result = result.map(|s| self.observe(s));
        self.settle("set_targets", result)
    }

    /// Runs what the show asked; only a lost connection is an error, and then the commands
    /// not done yet come back with it, to wait for the next connection.
    pub async fn work(
        &mut self,
        obs: &Obs,
        work: PushWork,
    ) -> Result<(), (RequestError, Vec<PushCommand>)> {
        let mut commands = work.commands.into_iter();
        if let Some(set) = work.targets {
            self.targets = self.merged(set);
            if let Err(e) = self.hand_over(obs).await {
                return Err((e, commands.collect()));
            }
            tracing::info!(targets = self.targets.len(), "push targets applied");
        }
        while let Some(command) = commands.next() {
            if let PushCommand::Status(reply) = command {
                if self.targets.is_empty() {
                    let _ = reply.send(Vec::new());
                    continue;
                }
                let result = match vendor::list(obs).await {
                    Err(PushError::Obs(e)) if e.connection_lost() => {
                        let mut rest = vec![PushCommand::Status(reply)];
                        rest.extend(commands);
                        return Err((e, rest));
                    }
                    other => other.map(|s| self.observe(s)),
                };
                let _ = reply.send(if result.is_ok() {
                    self.last.clone()
                } else {
                    Vec::new()
                });
                let _ = self.settle("list", result);
                continue;
            }
            let (what, result) = match &command {
                PushCommand::Start(which) => ("start", vendor::start(obs, which).await),
                PushCommand::Stop(which) => ("stop", vendor::stop(obs, which).await),
                PushCommand::Status(_) => unreachable!("answered above"),
            };
            let result = result.map(|s| self.observe(s));
            if let Err(e) = self.settle(what, result) {
                let mut rest = vec![command];
                rest.extend(commands);
                return Err((e, rest));
            }
        }
        Ok(())
    }

    /// When the targets should be looked at next (None: no targets).
    pub fn next_poll(&mut self) -> Option<Instant> {
        if self.targets.is_empty() {
            return None;
        }
        Some(
            *self
                .next_poll
                .get_or_insert_with(|| Instant::now() + POLL_PERIOD),
        )
    }

    /// Reads every target's state and logs what changed.
    pub async fn poll(&mut self, obs: &Obs) -> Result<(), RequestError> {
        self.next_poll = Some(Instant::now() + POLL_PERIOD);
        let result = vendor::list(obs).await;
        let result = result.map(|s| self.observe(s));
        self.settle("list", result)
    }

    /// The last status read (for a caller that cannot wait for OBS).
    pub fn last(&self) -> &[TargetStatus] {
        &self.last
    }

    fn observe(&mut self, status: Vec<TargetStatus>) {
        for target in &status {
            let now = (target.state.clone(), target.reconnects);
            match self.seen.get(&target.name) {
                Some(before) if *before == now => {}
                before => {
                    let from = before.map_or("-", |b| b.0.as_str());
                    if target.state == "reconnecting" || target.state == "failed" {
                        tracing::warn!(target = %target.name, from, to = %target.state, reconnects = target.reconnects, error = %target.last_error, "push target state");
                    } else {
                        tracing::info!(target = %target.name, from, to = %target.state, reconnects = target.reconnects, "push target state");
                    }
                    self.seen.insert(target.name.clone(), now);
                }
            }
        }
        // A start/stop answers with the targets it touched; keep the others as they were.
        for target in status {
            match self.last.iter_mut().find(|t| t.name == target.name) {
                Some(slot) => *slot = target,
                None => self.last.push(target),
            }
        }
        self.last
            .retain(|t| self.targets.iter().any(|w| w.name == t.name));
    }

    /// A refusal is logged and the show goes on; a lost connection propagates.
    fn settle(&mut self, what: &str, result: Result<(), PushError>) -> Result<(), RequestError> {
        match result {
            Ok(()) => Ok(()),
            Err(PushError::Obs(e)) if e.connection_lost() => Err(e),
            Err(e @ PushError::NoPlugin(_)) => {
                if !std::mem::replace(&mut self.no_plugin_logged, true) {
                    tracing::error!(error = %e, "push targets are configured but cannot be applied");
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(request = what, error = %e, "push request failed; the show goes on");
                Ok(())
            }
        }
    }
}

/// What `sidecar stream` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamAction {
    List,
    Start(Which),
    Stop(Which),
}

/// `sidecar stream …`: one connection to OBS, the config's targets handed to the plugin
/// (unchanged ones keep running, so this is harmless beside a running show), then the action.
/// Answers every target's status afterwards.
pub async fn stream_command(
    config: &super::ObsConfig,
    targets: &[WireTarget],
    action: &StreamAction,
) -> Result<Vec<TargetStatus>, PushError> {
    let obs = Obs::connect(config).await.map_err(PushError::Obs)?;
    if !targets.is_empty() {
        vendor::set_targets(&obs, targets).await?;
    }
    match action {
        StreamAction::List => {}
        StreamAction::Start(which) => {
            vendor::start(&obs, which).await?;
        }
        StreamAction::Stop(which) => {
            vendor::stop(&obs, which).await?;
        }
    }
    vendor::list(&obs).await
}

#[cfg(test)]
mod tests;
