//! A consecutive-failure circuit breaker: closed → open after N transient
//! failures in a row → after a pause, half-open lets one probe through, whose
//! outcome closes or re-opens it.

use prometheus::IntGauge;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

pub struct Circuit {
    threshold: u32,
    open_for: Duration,
    inner: Mutex<Inner>,
    gauge: IntGauge,
}

/// Permission to make one call; report its outcome with [`Circuit::record`].
#[derive(Debug)]
pub struct Admitted {
    probe: bool,
}

impl Circuit {
    pub fn new(threshold: u32, open_for: Duration, gauge: IntGauge) -> Circuit {
        gauge.set(0);
        Circuit { threshold, open_for, inner: Mutex::new(Inner::Closed { failures: 0 }), gauge }
    }

    /// Admits a call, or says for how long the circuit stays open.
    pub fn admit(&self) -> Result<Admitted, Duration> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match &mut *inner {
            Inner::Closed { .. } => Ok(Admitted { probe: false }),
            Inner::Open { until } if now < *until => Err(*until - now),
            Inner::Open { .. } => {
                *inner = Inner::HalfOpen { probing: true };
                self.gauge.set(1);
                Ok(Admitted { probe: true })
            }
            Inner::HalfOpen { probing: true } => Err(Duration::from_millis(100)),
            Inner::HalfOpen { probing } => {
                *probing = true;
                Ok(Admitted { probe: true })
            }
        }
    }

    /// Records the outcome of an admitted call. Only transient failures count;
    /// a call that ended without an upstream verdict should pass `None`.
    pub fn record(&self, admitted: Admitted, success: Option<bool>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match (success, &mut *inner) {
            (None, Inner::HalfOpen { probing }) if admitted.probe => *probing = false,
            (None, _) => {}
            (Some(true), _) => {
                *inner = Inner::Closed { failures: 0 };
                self.gauge.set(0);
            }
            (Some(false), Inner::Closed { failures }) => {
                *failures += 1;
                if *failures >= self.threshold {
                    *inner = Inner::Open { until: Instant::now() + self.open_for };
                    self.gauge.set(2);
                }
            }
            (Some(false), Inner::HalfOpen { .. }) => {
                *inner = Inner::Open { until: Instant::now() + self.open_for };
                self.gauge.set(2);
            }
            (Some(false), Inner::Open { .. }) => {}
        }
    }

    pub fn state(&self) -> CircuitState {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match &*inner {
            Inner::Closed { .. } => CircuitState::Closed,
            Inner::Open { until } if Instant::now() < *until => CircuitState::Open,
            Inner::Open { .. } | Inner::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn circuit() -> Circuit {
        Circuit::new(3, Duration::from_secs(60), IntGauge::new("g", "g").unwrap())
    }

    /// A circuit whose pause is already over when it opens.
    fn circuit_without_pause() -> Circuit {
        Circuit::new(3, Duration::ZERO, IntGauge::new("g", "g").unwrap())
    }

    #[test]
    fn it_opens_after_the_threshold_of_consecutive_failures() {
        let c = circuit();
        for _ in 0..3 {
            let a = c.admit().unwrap();
            c.record(a, Some(false));
        }
        assert_eq!(c.state(), CircuitState::Open);
        assert!(c.admit().is_err());
    }

    #[test]
    fn a_success_resets_the_count() {
        let c = circuit();
        for ok in [false, false, true, false, false] {
            let a = c.admit().unwrap();
            c.record(a, Some(ok));
        }
        assert_eq!(c.state(), CircuitState::Closed);
    }

    #[test]
    fn after_the_pause_one_probe_is_let_through_and_its_success_closes_it() {
        let c = circuit_without_pause();
        for _ in 0..3 {
            let a = c.admit().unwrap();
            c.record(a, Some(false));
        }
        let probe = c.admit().unwrap();
        assert!(c.admit().is_err(), "only one probe at a time");
        c.record(probe, Some(true));
        assert_eq!(c.state(), CircuitState::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_it() {
        let c = Circuit::new(3, Duration::from_millis(0), IntGauge::new("g", "g").unwrap());
        for _ in 0..3 {
            let a = c.admit().unwrap();
            c.record(a, Some(false));
        }
        let probe = c.admit().unwrap();
        c.record(probe, Some(false));
        // Re-opened: the next call is a new probe only once the (zero) pause is over.
        assert_ne!(c.state(), CircuitState::Closed);
    }
}
