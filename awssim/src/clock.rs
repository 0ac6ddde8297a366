//! Model time: AWS's real timing, run `scale` times as fast (CI runs the model scaled down,
//! benchmarks at 1.0).

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Clock {
    start: Instant,
    scale: f64,
}

impl Clock {
    /// `scale` > 0: 1.0 is AWS's timing, 0.05 runs it 20 times as fast.
    pub fn new(scale: f64) -> Clock {
        assert!(scale > 0.0 && scale.is_finite(), "scale must be > 0");
        Clock {
            start: Instant::now(),
            scale,
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Model seconds since the proxy started.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64() / self.scale
    }

    /// The real duration of `model_seconds`.
    pub fn real(&self, model_seconds: f64) -> Duration {
        Duration::from_secs_f64((model_seconds * self.scale).max(0.0))
    }
}
