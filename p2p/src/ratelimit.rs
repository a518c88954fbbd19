//! Token buckets for per-peer request limits.

use std::time::{Duration, Instant};

/// A rate: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Requests allowed in a burst.
    pub burst: u32,
    /// Sustained requests per second.
    pub per_second: f64,
}

/// A token bucket. Time is passed in, so it is tested without a clock.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(rate.burst),
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn try_take(&mut self, rate: Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens =
            (self.tokens + elapsed.as_secs_f64() * rate.per_second).min(f64::from(rate.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket has been idle long enough to be full again (and can be dropped).
    pub(crate) fn idle(&self, now: Instant, horizon: Duration) -> bool {
        now.saturating_duration_since(self.last) > horizon
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let rate = Rate {
            burst: 3,
            per_second: 2.0,
        };
        let t0 = Instant::now();
        let mut b = Bucket::new(rate, t0);
        assert!((0..3).all(|_| b.try_take(rate, t0)));
        assert!(!b.try_take(rate, t0));
        assert!(b.try_take(rate, t0 + Duration::from_millis(500)));
        assert!(!b.try_take(rate, t0 + Duration::from_millis(600)));
        assert!(b.try_take(rate, t0 + Duration::from_secs(10)));
    }
}
