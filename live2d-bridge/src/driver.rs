//! The frame loop: link input in, one avatar frame out to VTube Studio every ~33 ms.
//!
//! Wall time is measured, not assumed: the follower is advanced by however long the previous
//! frame really took (VTS may be slow to answer, or waiting for the user to approve the plugin),
//! so the mirrored playout stays on the audio clock's schedule whatever the frame rate.

use std::time::Duration;

use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::time::{Instant, MissedTickBehavior};

use crate::follower::FollowerPlayout;
use crate::link_client::LinkInput;
use crate::vts::{AvatarFrame, VtsSink};

/// ~30 frames a second: as smooth as the OBS source's video, and far inside VTS's 1 s limit for
/// renewing injected parameters.
pub const FRAME: Duration = Duration::from_millis(33);

/// Runs until the link's sender is gone.
pub async fn drive(mut inputs: mpsc::UnboundedReceiver<LinkInput>, sink: &mut VtsSink) {
    let mut follower = FollowerPlayout::new();
    let mut ticker = tokio::time::interval(FRAME);
    // After a long stall, carry on at the normal rate instead of firing a burst of frames: the
    // elapsed time is accounted for by `advance` anyway.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last = Instant::now();
    loop {
        ticker.tick().await;
        loop {
            match inputs.try_recv() {
                Ok(LinkInput::Command(command)) => follower.apply(command),
                Ok(LinkInput::Audio(chunk)) => follower.push_audio(chunk),
                Ok(LinkInput::Lost) => follower.link_lost(),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        let now = Instant::now();
        let mouth = follower.advance(now - last);
        last = now;
        let frame = AvatarFrame {
            openness: mouth.openness(),
            expression: follower.expression().to_string(),
            motions: follower.take_motions(),
        };
        sink.update(frame).await;
    }
}
