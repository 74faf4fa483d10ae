//! OBS as an output: captions, the celebration scene and the triggers' OBS acts, folded into the OBS controller's
//! desired state (applied when OBS is reachable, never waited on).

use super::Output;
use crate::cue::Act;
use crate::obs::push::vendor::Which;
use crate::obs::push::PushCommand;
use crate::obs::{ObsAction, ObsController};

pub struct ObsOutput {
    obs: ObsController,
}

impl ObsOutput {
    pub fn new(obs: ObsController) -> Self {
        Self { obs }
    }
}

impl Output for ObsOutput {
    fn name(&self) -> &'static str {
        "obs"
    }

    fn apply(&self, act: &Act) {
        match act {
            Act::LatestGiftText(text) => {
                self.obs.send(ObsAction::LatestGift { text: text.clone() })
            }
            Act::Celebrate { caption, secs } => self.obs.send(ObsAction::Celebrate {
                caption: caption.clone(),
                secs: *secs,
            }),
            Act::HoldScene { .. }
            | Act::ReleaseScene { .. }
            | Act::SwitchScene { .. }
            | Act::SourceVisible { .. }
            | Act::SetText { .. }
            | Act::RestartMedia { .. }
            | Act::Filter { .. }
            | Act::InputSettings { .. } => self.obs.send(ObsAction::Act(act.clone())),
            Act::Push { target, start } => {
                let which = target.clone().map_or(Which::All, Which::Named);
                self.obs.send(ObsAction::Push(if *start {
                    PushCommand::Start(which)
                } else {
                    PushCommand::Stop(which)
                }))
            }
            Act::Expression(_)
            | Act::Motion(_)
            | Act::ShowExpression { .. }
            | Act::VoiceSound { .. } => {}
        }
    }
}
