//! Requests-per-minute limiter: a token bucket that queues callers instead of failing them.
//!
//! Providers enforce RPM limits with 429s; hitting them costs a round trip plus a backoff, which
//! is worse than waiting locally for a slot. A slot is *reserved* under the lock (the bucket may
//! go negative), so concurrent callers queue in order without a waker list. Waiting is bounded:
//! a reply that would start later than `max_wait` is useless (the show has answered from a
//! template by then), so such a caller fails at once with the wait it would have needed.
//!
//! Uses `tokio::time::Instant`, so tests can run it on a paused clock.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    /// `None` = unlimited.
    inner: Option<Mutex<Bucket>>,
    max_wait: Duration,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    capacity: f64,
    per_sec: f64,
    last: Instant,
}

impl RateLimiter {
    /// `per_minute == 0` disables limiting. The burst is a tenth of a minute's allowance (at
    /// least one request): a restart must not fire a whole minute of requests at once.
    pub fn new(per_minute: u32, max_wait: Duration) -> Self {
        let inner = (per_minute > 0).then(|| {
            let capacity = (f64::from(per_minute) / 10.0).floor().max(1.0);
            Mutex::new(Bucket {
                tokens: capacity,
                capacity,
                per_sec: f64::from(per_minute) / 60.0,
                last: Instant::now(),
            })
        });
        Self { inner, max_wait }
    }

    /// Waits for a request slot. `Err(wait)` when the slot is further away than `max_wait`
    /// (nothing is reserved then).
    pub async fn acquire(&self) -> Result<(), Duration> {
        let Some(bucket) = &self.inner else {
            return Ok(());
        };
        let wait = {
            let mut b = bucket.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let refill = now.duration_since(b.last).as_secs_f64() * b.per_sec;
            b.tokens = (b.tokens + refill).min(b.capacity);
            b.last = now;
            let wait = if b.tokens >= 1.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64((1.0 - b.tokens) / b.per_sec)
            };
            if wait > self.max_wait {
                return Err(wait);
            }
            b.tokens -= 1.0;
            wait
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_paced_then_refused_beyond_max_wait() {
        // 60/min: burst of 6, then one per second.
        let limiter = RateLimiter::new(60, Duration::from_millis(2_500));
        let start = Instant::now();
        for _ in 0..6 {
            limiter.acquire().await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst does not wait");
        limiter.acquire().await.unwrap();
        let paced = start.elapsed();
        assert!(
            paced >= Duration::from_millis(990) && paced <= Duration::from_millis(1_010),
            "{paced:?}"
        );
        // Two callers at once reserve the next two seconds; a third would wait 3 s: refused,
        // immediately, while the other two still get their slots.
        let before = Instant::now();
        let (a, b, c) = tokio::join!(limiter.acquire(), limiter.acquire(), async {
            let r = limiter.acquire().await;
            (r, before.elapsed())
        });
        assert!(a.is_ok() && b.is_ok());
        let (refused, refused_after) = c;
        let wait = refused.unwrap_err();
        assert!(wait > Duration::from_millis(2_500), "{wait:?}");
        assert_eq!(refused_after, Duration::ZERO, "refusal is immediate");
        assert_eq!(before.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_queue_in_turn() {
        let limiter = std::sync::Arc::new(RateLimiter::new(6, Duration::from_secs(60)));
        // 6/min: burst 1, then one per 10 s.
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let l = limiter.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire().await.unwrap();
                start.elapsed().as_secs()
            }));
        }
        let mut done: Vec<u64> = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        done.sort();
        assert_eq!(done, vec![0, 10, 20]);
    }

    #[tokio::test]
    async fn zero_means_unlimited() {
        let limiter = RateLimiter::new(0, Duration::ZERO);
        for _ in 0..1000 {
            limiter.acquire().await.unwrap();
        }
    }
}
