//! The avatar as an output: motions go to every connected avatar (the OBS source,
//! live2d-bridge) as link commands. The expression travels with the line's `Say` (the avatar
//! wears it while the words play), so it is not sent again here.

use avatar_link::Command;

use super::Output;
use crate::cue::Act;
use crate::link::LinkHub;

pub struct AvatarOutput {
    hub: LinkHub,
}

impl AvatarOutput {
    pub fn new(hub: LinkHub) -> Self {
        Self { hub }
    }
}

impl Output for AvatarOutput {
    fn name(&self) -> &'static str {
        "avatar"
    }

    fn apply(&self, act: &Act) {
        match act {
            Act::Motion(name) => self
                .hub
                .send_command(&Command::Motion { name: name.clone() }),
            Act::ShowExpression { name, secs } => self.hub.send_command(&Command::Expression {
                name: name.clone(),
                duration_ms: (secs.clamp(0.0, 3600.0) * 1000.0) as u32,
            }),
            _ => {}
        }
    }
}
