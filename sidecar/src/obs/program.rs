//! Which scene is on program: the newest hold (a trigger's scene, the celebration) while one
//! is in force, else the scene the program came from (or one a trigger switched to for good).
//!
//! The sidecar only takes back what it put there: if the streamer switched scenes by hand
//! while a hold ran, the program is left where they put it.

use tokio::time::Instant;

use super::scenes::Roles;
use super::state::Desired;

/// What this connection did to the program scene.
#[derive(Default)]
pub struct Program {
    /// The scene a hold put on program.
    put_on: Option<String>,
    /// Where the program was before the first hold, to return to.
    return_to: Option<String>,
    /// The last "switch for good" applied (its request number).
    base_seq: u64,
}

impl Program {
    /// Decides the switches to make now (in order, each with a name for logs), given the
    /// program scene OBS reports.
    pub fn decide(
        &mut self,
        roles: &Roles,
        desired: &Desired,
        current: &str,
    ) -> Vec<(String, &'static str)> {
        let now = Instant::now();
        let mut switches = Vec::new();
        match wanted(roles, desired, now) {
            Some(scene) => {
                if self.return_to.is_none() && self.put_on.is_none() {
                    self.return_to = Some(current.to_string());
                }
                if current != scene {
                    switches.push((scene.clone(), "switch to a held scene"));
                }
                self.put_on = Some(scene);
            }
            None => {
                let base = desired.effects.base_scene.as_ref();
                let back = base
                    .map(|(scene, _)| scene.clone())
                    .or_else(|| self.return_to.take())
                    .unwrap_or_else(|| roles.main.clone());
                match self.put_on.take() {
                    // Only undo our own switch.
                    Some(put) if put == current && put != back => {
                        switches.push((back, "switch back after a hold"))
                    }
                    // A celebration left on program by an earlier run (or connection).
                    None if current == roles.celebration && current != back => {
                        switches.push((back, "switch back to the main scene"))
                    }
                    _ => {}
                }
                self.return_to = None;
                if let Some((scene, seq)) = base {
                    if *seq > self.base_seq {
                        self.base_seq = *seq;
                        if current != scene && switches.is_empty() {
                            switches.push((scene.clone(), "switch to a trigger's scene"));
                        }
                    }
                }
            }
        }
        switches
    }
}

/// The scene the newest hold in force wants, if any.
fn wanted(roles: &Roles, desired: &Desired, now: Instant) -> Option<String> {
    let hold = desired.effects.held_scene(now);
    let celebration = desired
        .celebrating(now)
        .then_some(desired.celebration_since)
        .map(|since| since.unwrap_or(now));
    match (hold, celebration) {
        (Some(h), Some(since)) if since > h.since => Some(roles.celebration.clone()),
        (Some(h), _) => Some(h.scene.clone()),
        (None, Some(_)) => Some(roles.celebration.clone()),
        (None, None) => None,
    }
}
