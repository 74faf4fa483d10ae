//! Recording OBS's program output when asked (`--record`, `[obs] record`): started once per
//! connection, checked shortly after, and stopped with the path OBS wrote.

use std::time::Duration;

use tokio::time::Instant;

use super::request::{Obs, Refusals, RequestError};
use super::state::Desired;

/// obs-websocket 5.1 accepts StartRecord before OBS tries to open the file; whether OBS really
/// records (writable path, working encoder) shows in the record status shortly after.
const RECORD_CHECK: Duration = Duration::from_secs(2);

/// One connection's recording.
#[derive(Default)]
pub struct Recording {
    /// Recording was asked for on this connection.
    requested: bool,
    /// OBS would not record: not asked again before the next connection.
    refused: bool,
    /// When to check that the recording asked for really started.
    pub check_at: Option<Instant>,
}

impl Recording {
    /// Starts recording unless it runs, was asked for, or was refused on this connection.
    pub async fn start(&mut self, obs: &Obs, refusals: &mut Refusals) -> Result<(), RequestError> {
        if self.requested || self.refused {
            return Ok(());
        }
        self.requested = true;
        let c = obs.client();
        let status = obs.call("GetRecordStatus", c.recording().status()).await;
        let active = refusals
            .settle("GetRecordStatus", status)?
            .is_some_and(|s| s.active);
        if !active {
            match obs.call("StartRecord", c.recording().start()).await {
                Ok(()) => self.check_at = Some(Instant::now() + RECORD_CHECK),
                Err(e) if e.connection_lost() => return Err(e),
                Err(e) => self.refuse(&e.to_string()),
            }
        }
        Ok(())
    }

    fn refuse(&mut self, reason: &str) {
        self.refused = true;
        self.check_at = None;
        tracing::error!(
            %reason,
            "OBS refused to record: check that OBS → Settings → Output → Recording Path exists \
             and is writable and that the recording encoder works (OBS's log says which). The \
             show goes on without a recording; recording is asked for again when OBS reconnects."
        );
    }

    /// After StartRecord: did OBS really start?
    pub async fn check(
        &mut self,
        obs: &Obs,
        desired: &Desired,
        refusals: &mut Refusals,
    ) -> Result<(), RequestError> {
        self.check_at = None;
        if !desired.recording {
            return Ok(());
        }
        let status = obs
            .call("GetRecordStatus", obs.client().recording().status())
            .await;
        match refusals.settle("GetRecordStatus", status)? {
            Some(s) if s.active => tracing::info!("recording started"),
            Some(_) => self.refuse(&format!(
                "the recording is not running {RECORD_CHECK:?} after StartRecord"
            )),
            None => {}
        }
        Ok(())
    }

    /// Stops the recording if one runs; the path OBS wrote.
    pub async fn stop(
        &mut self,
        obs: &Obs,
        refusals: &mut Refusals,
    ) -> Result<Option<String>, RequestError> {
        self.requested = false;
        self.check_at = None;
        let c = obs.client();
        let status = obs.call("GetRecordStatus", c.recording().status()).await;
        if !refusals
            .settle("GetRecordStatus", status)?
            .is_some_and(|s| s.active)
        {
            return Ok(None);
        }
        let stopped = obs.call("StopRecord", c.recording().stop()).await;
        refusals.settle("StopRecord", stopped)
    }
}
