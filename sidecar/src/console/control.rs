//! What the operator can do, as the console's page sends it and the show carries it out.

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// One control, as JSON: `{"action":"veto","line":12}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Control {
    /// No new line starts (the one on air finishes); gifts are still recorded, and thanked
    /// after `resume`. The operator's own lines still air.
    Pause,
    Resume,
    /// Stop the line on air now; it is not said again (a gift's thanks goes to the text
    /// overlay instead: it is never lost).
    Skip,
    /// Take a waiting line out; it never airs (a gift's thanks goes to the text overlay).
    Veto {
        line: u64,
    },
    /// The avatar says this next, before anything else (EMERGENCY).
    Say {
        text: String,
    },
    /// Switch to the human mic scene (`[console] human_scene`) and pause the AI, or back.
    HumanMic {
        on: bool,
    },
    /// Switch a trigger on or off (by name).
    Trigger {
        name: String,
        enabled: bool,
    },
    /// Start or stop a push target (`None`: every one).
    Push {
        target: Option<String>,
        start: bool,
    },
}

impl Control {
    pub fn name(&self) -> &'static str {
        match self {
            Control::Pause => "pause",
            Control::Resume => "resume",
            Control::Skip => "skip",
            Control::Veto { .. } => "veto",
            Control::Say { .. } => "say",
            Control::HumanMic { .. } => "human_mic",
            Control::Trigger { .. } => "trigger",
            Control::Push { .. } => "push",
        }
    }
}

/// A control on its way to the show, with who sent it and where the answer goes.
#[derive(Debug)]
pub struct ControlRequest {
    pub control: Control,
    pub who: String,
    pub reply: oneshot::Sender<ControlReply>,
}

/// The show's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlReply {
    pub ok: bool,
    pub message: String,
}

impl ControlReply {
    pub fn done(message: impl Into<String>) -> Self {
        Self {
            ok: true,
            message: message.into(),
        }
    }

    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_read_from_the_pages_json() {
        let read = |s: &str| serde_json::from_str::<Control>(s);
        assert_eq!(read(r#"{"action":"pause"}"#).unwrap(), Control::Pause);
        assert_eq!(
            read(r#"{"action":"veto","line":7}"#).unwrap(),
            Control::Veto { line: 7 }
        );
        assert_eq!(
            read(r#"{"action":"push","target":null,"start":true}"#).unwrap(),
            Control::Push {
                target: None,
                start: true
            }
        );
        assert!(read(r#"{"action":"explode"}"#).is_err());
        assert!(read(r#"{"action":"veto"}"#).is_err());
    }
}
