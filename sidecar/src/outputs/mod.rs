//! Outputs: where a cue's effects go.
//!
//! Every output implements [`Output`] and takes the [`Act`]s it knows: the avatar link plays
//! motions, expressions and the sound files triggers mix into the voice ([`avatar`],
//! [`sounds`]), OBS shows captions and switches to the celebration scene ([`obs`]).
//! The show hands every act to every output ([`Outputs::apply`]) at the moment its effect
//! names, and never waits: an output queues or folds what it is given (OBS keeps a
//! desired-state cell, the link a bounded queue per client). A new output (push targets, the
//! console, a Redis bus) is one more implementation registered in [`Outputs`]; a new kind of
//! act is one `Act` variant plus the outputs that apply it.
//!
//! The line's words and audio are not effects: they go to the avatar through the show's
//! on-air path, which waits for the avatar's reports.

pub mod avatar;
pub mod obs;
pub mod sounds;

use crate::cue::{Act, Cue, When};

/// Somewhere a cue's effects can show.
pub trait Output: Send {
    /// A short name for logs.
    fn name(&self) -> &'static str;

    /// Applies `act` if this output knows it; ignores it otherwise. Must not block.
    fn apply(&self, act: &Act);
}

/// The show's outputs, in the order acts reach them.
#[derive(Default)]
pub struct Outputs {
    outputs: Vec<Box<dyn Output>>,
}

impl Outputs {
    pub fn with(mut self, output: impl Output + 'static) -> Self {
        tracing::debug!(output = output.name(), "output registered");
        self.outputs.push(Box::new(output));
        self
    }

    /// Hands `act` to every output.
    pub fn apply(&self, act: &Act) {
        for output in &self.outputs {
            output.apply(act);
        }
    }

    /// Hands every act of `cue` due at `when` to every output.
    pub fn apply_due(&self, cue: &Cue, when: When) {
        for act in cue.acts(when) {
            self.apply(act);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cue::{CueKind, Effect};
    use std::sync::{Arc, Mutex};

    /// Records what it was given.
    struct Recorder(Arc<Mutex<Vec<Act>>>);

    impl Output for Recorder {
        fn name(&self) -> &'static str {
            "recorder"
        }
        fn apply(&self, act: &Act) {
            self.0.lock().unwrap().push(act.clone());
        }
    }

    #[test]
    fn every_output_gets_the_acts_due_now_in_order() {
        let (a, b) = (Arc::default(), Arc::default());
        let outputs = Outputs::default()
            .with(Recorder(Arc::clone(&a)))
            .with(Recorder(Arc::clone(&b)));
        let cue = Cue {
            kind: CueKind::Notice,
            text: "开播啦".into(),
            priority: 0,
            rank: 0,
            paid: false,
            ttl_ms: None,
            prosody: Default::default(),
            cause: Default::default(),
            effects: vec![
                Effect::new(When::OnAir, Act::Motion("wave".into())),
                Effect::new(When::Offered, Act::LatestGiftText("一".into())),
                Effect::new(When::Offered, Act::LatestGiftText("二".into())),
            ],
        };
        outputs.apply_due(&cue, When::Offered);
        let offered = [
            Act::LatestGiftText("一".into()),
            Act::LatestGiftText("二".into()),
        ];
        assert_eq!(*a.lock().unwrap(), offered);
        assert_eq!(*b.lock().unwrap(), offered);
        outputs.apply_due(&cue, When::NotVoiced);
        assert_eq!(a.lock().unwrap().len(), 2, "nothing is due when voiced");
    }
}
