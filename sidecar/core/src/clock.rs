//! The sidecar's time: Unix milliseconds that never jump.
//!
//! The wall clock is read once, when the process first asks, and from then on advanced by the
//! monotonic clock. Every expiry, combo window, retention cut-off and stored timestamp uses
//! this, so an NTP step, a user changing the date, or a laptop waking from sleep with a
//! corrected clock moves no deadline and prunes nothing early: a wall-clock jump of a day in
//! either direction changes no count. (Timestamps stay close to real time: they drift only by
//! what the wall clock is corrected by during one run.)

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static ORIGIN: OnceLock<(u64, Instant)> = OnceLock::new();

/// Milliseconds since the Unix epoch, monotonic within this process.
pub fn now_ms() -> u64 {
    let (wall, mono) = ORIGIN.get_or_init(|| {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        (wall, Instant::now())
    });
    wall.saturating_add(mono.elapsed().as_millis() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn never_goes_backwards_and_tracks_real_time() {
        let a = super::now_ms();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = super::now_ms();
        assert!(b >= a + 20, "{a} → {b}");
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(b.abs_diff(wall) < 5_000, "close to the wall clock at start");
    }
}
