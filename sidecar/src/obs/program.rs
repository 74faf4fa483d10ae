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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn roles() -> Roles {
        Roles {
            main: "Main".into(),
            celebration: "Celebration".into(),
            latest_gift_text: "T".into(),
            celebration_text: None,
            avatar: "A".into(),
        }
    }

    fn hold(desired: &mut Desired, hold: u64, scene: &str, secs: Option<f64>) {
        desired
            .effects
            .hold(hold, scene.into(), secs, Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_returns_to_where_the_program_came_from() {
        let (roles, mut desired, mut program) = (roles(), Desired::default(), Program::default());
        assert!(program.decide(&roles, &desired, "Game").is_empty());
        hold(&mut desired, 1, "Spotlight", Some(2.0));
        let go = program.decide(&roles, &desired, "Game");
        assert_eq!(go, [("Spotlight".to_string(), "switch to a held scene")]);
        assert!(program.decide(&roles, &desired, "Spotlight").is_empty());
        tokio::time::advance(Duration::from_secs(2)).await;
        let back = program.decide(&roles, &desired, "Spotlight");
        assert_eq!(back, [("Game".to_string(), "switch back after a hold")]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_newest_hold_wins_and_a_manual_switch_is_left_alone() {
        let (roles, mut desired, mut program) = (roles(), Desired::default(), Program::default());
        hold(&mut desired, 1, "A", None);
        assert_eq!(program.decide(&roles, &desired, "Main")[0].0, "A");
        tokio::time::advance(Duration::from_millis(10)).await;
        hold(&mut desired, 2, "B", Some(1.0));
        assert_eq!(program.decide(&roles, &desired, "A")[0].0, "B");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            program.decide(&roles, &desired, "B")[0].0,
            "A",
            "back to the older hold"
        );
        // The streamer switches by hand while A is held; when A is released, nothing is undone.
        desired.effects.release(1, Instant::now());
        assert!(program.decide(&roles, &desired, "Their scene").is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_celebration_competes_with_holds_by_age() {
        let (roles, mut desired, mut program) = (roles(), Desired::default(), Program::default());
        hold(&mut desired, 1, "Spotlight", Some(10.0));
        tokio::time::advance(Duration::from_millis(10)).await;
        let now = Instant::now();
        desired.celebration_since = Some(now);
        desired.celebration_until = Some(now + Duration::from_secs(3));
        assert_eq!(
            program.decide(&roles, &desired, "Spotlight")[0].0,
            "Celebration"
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(
            program.decide(&roles, &desired, "Celebration")[0].0,
            "Spotlight"
        );
    }
}
