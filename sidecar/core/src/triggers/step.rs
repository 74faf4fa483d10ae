//! Compiled `do` steps, and what each one needs to exist in OBS.

use crate::template::Template;

/// One step of a trigger's sequence.
#[derive(Debug, Clone)]
pub enum Step {
    /// Offer a line to the timeline; with `wait`, the sequence waits until it was said or let go.
    Speak {
        template: Template,
        wait: bool,
    },
    /// Pause the sequence.
    Wait {
        ms: u64,
    },
    Expression {
        name: String,
        ms: u64,
    },
    Motion(String),
    /// Switch the program scene and say when to come back.
    Scene {
        scene: String,
        back: Return,
    },
    /// Show (or hide) a source for `ms`, then undo it; forever without `ms`.
    Visibility {
        source: String,
        scene: Option<String>,
        visible: bool,
        ms: Option<u64>,
    },
    SetText {
        source: String,
        text: Template,
    },
    /// Restart a media source (also how a sound is played).
    RestartMedia(String),
    /// Mix a sound file into the avatar's voice (`file` as written, relative to the scenes
    /// folder; the sidecar decodes it when the scenes are loaded).
    VoiceSound {
        file: String,
        gain_db: f64,
    },
    /// Enable, disable or (`None`) toggle a filter.
    Filter {
        source: String,
        filter: String,
        enabled: Option<bool>,
    },
    InputSettings {
        input: String,
        settings: serde_json::Value,
    },
    /// Start or stop a push target (`None`: all of them).
    Push {
        target: Option<String>,
        start: bool,
    },
}

/// When a scene switch is undone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Return {
    AfterMs(u64),
    /// When the firing's last spoken line ends.
    LineEnd,
    /// Never: the scene stays.
    Stay,
}

/// Something a step needs in OBS.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Needs {
    Scene(String),
    /// An input (any source that is not a scene).
    Input(String),
    /// A source inside a scene.
    Item {
        scene: String,
        source: String,
    },
    Filter {
        source: String,
        filter: String,
    },
}

impl Step {
    pub fn needs(&self) -> Vec<Needs> {
        match self {
            Step::Scene { scene, .. } => vec![Needs::Scene(scene.clone())],
            Step::Visibility {
                source,
                scene: Some(scene),
                ..
            } => vec![
                Needs::Scene(scene.clone()),
                Needs::Item {
                    scene: scene.clone(),
                    source: source.clone(),
                },
            ],
            Step::Visibility { source, .. } => vec![Needs::Input(source.clone())],
            Step::SetText { source, .. } => vec![Needs::Input(source.clone())],
            Step::RestartMedia(input) | Step::InputSettings { input, .. } => {
                vec![Needs::Input(input.clone())]
            }
            Step::Filter { source, filter, .. } => vec![
                Needs::Input(source.clone()),
                Needs::Filter {
                    source: source.clone(),
                    filter: filter.clone(),
                },
            ],
            Step::Speak { .. }
            | Step::Wait { .. }
            | Step::Expression { .. }
            | Step::Motion(_)
            | Step::VoiceSound { .. }
            | Step::Push { .. } => Vec::new(),
        }
    }
}
