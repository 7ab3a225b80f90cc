//! Trend windows that fit the run: a `--duration` shorter than the production windows gets
//! windows scaled down to it, down to floors below which no trend verdict is honest, and a
//! watch says when its duration leaves room for none.

use std::time::Duration;

use goleash_core::trend::TrendOptions;

use crate::doc::watch as doc;

/// Cool-down windows the fitted plan spreads over the run: twice the windows a verdict
/// needs, so that a leak that starts or stops mid-run still has six rising floors in a row.
const FITTED_WINDOWS: f64 = 12.0;

/// The narrowest cool-down window fitted to a run. A request, a burst's workers or an idle
/// connection of net/http live a second or two; a window shorter than that could hold a
/// burst up for its whole width and read it as a rising floor.
pub const MIN_COOLDOWN_SECS: f64 = 3.0;

/// The shortest warm-up fitted to a run: a fresh process fills its pools in its first
/// seconds.
const MIN_WARMUP_SECS: f64 = 2.0;

/// Samples of the total a cool-down window gets when the interval is fitted too.
const SAMPLES_PER_WINDOW: f64 = 8.0;

/// The interval's bounds when it is fitted.
const MIN_FITTED_INTERVAL: Duration = Duration::from_millis(250);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What the command line fixed; `None`: free to fit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Asked {
    /// `--duration`.
    pub duration: Option<Duration>,
    /// `--interval`.
    pub interval: Option<Duration>,
    /// `--warmup`.
    pub warmup: Option<Duration>,
    /// `--cooldown`.
    pub cooldown: Option<Duration>,
    /// `--min-windows`.
    pub min_windows: Option<usize>,
    /// `--min-rise`.
    pub min_rise: Option<f64>,
}

/// The interval and trend thresholds a watch runs with.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Base sampling interval.
    pub interval: Duration,
    /// The trend thresholds.
    pub trend: TrendOptions,
    /// The windows (and the interval, unless given) were scaled down to fit `--duration`.
    pub fitted: bool,
}

impl Plan {
    /// The plan for what was asked: the production defaults, each flag given taking its
    /// place; with a `--duration` too short for the defaults and no window flag given, the
    /// windows (and the interval, unless given) fitted to it.
    pub fn for_run(asked: &Asked) -> Plan {
        let mut trend = TrendOptions::default();
        let mut interval = asked.interval.unwrap_or(DEFAULT_INTERVAL);
        let windows_given =
            asked.warmup.is_some() || asked.cooldown.is_some() || asked.min_windows.is_some();
        let mut fitted = false;
        if let Some(duration) = asked.duration
            && !windows_given
        {
            let total = duration.as_secs_f64();
            let warmup = (total * 0.05).clamp(MIN_WARMUP_SECS, trend.warmup_secs);
            let cooldown =
                ((total - warmup) / FITTED_WINDOWS).clamp(MIN_COOLDOWN_SECS, trend.cooldown_secs);
            if cooldown < trend.cooldown_secs || warmup < trend.warmup_secs {
                fitted = true;
                trend.warmup_secs = warmup;
                trend.cooldown_secs = cooldown;
                if asked.interval.is_none() {
                    interval = Duration::from_secs_f64(cooldown / SAMPLES_PER_WINDOW)
                        .clamp(MIN_FITTED_INTERVAL, DEFAULT_INTERVAL);
                }
            }
        }
        if let Some(w) = asked.warmup {
            trend.warmup_secs = w.as_secs_f64();
        }
        if let Some(c) = asked.cooldown {
            trend.cooldown_secs = c.as_secs_f64();
        }
        // The baseline before a load phase scales with the windows (60 s of 300 s).
        trend.baseline_secs = trend.cooldown_secs / 5.0;
        if let Some(n) = asked.min_windows {
            trend.min_windows = n;
        }
        if let Some(r) = asked.min_rise {
            trend.min_rise = r;
        }
        Plan {
            interval,
            trend,
            fitted,
        }
    }
}

/// The earliest a trend verdict can come after a process is first seen: its warm-up, then
/// the cool-down windows a verdict needs.
pub fn earliest_trend_verdict(trend: &TrendOptions) -> f64 {
    trend.warmup_secs + trend.min_windows as f64 * trend.cooldown_secs
}

/// Whether a watch of `duration` (`None`: until interrupted) sampling every `interval` can
/// reach a trend verdict at all: the windows fit, and they hold the samples a verdict needs.
pub fn trend_verdict_possible(
    duration: Option<Duration>,
    interval: Duration,
    trend: &TrendOptions,
) -> bool {
    let Some(duration) = duration else {
        return true;
    };
    let total = duration.as_secs_f64();
    let step = interval.as_secs_f64();
    let after_warmup = total - trend.warmup_secs;
    earliest_trend_verdict(trend) + step <= total && after_warmup / step >= trend.min_samples as f64
}

/// What a watch of `duration` with these settings can tell, as its events say it.
pub fn describe(
    duration: Option<Duration>,
    interval: Duration,
    trend: &TrendOptions,
    fitted: bool,
) -> doc::Plan {
    let step = interval.as_secs_f64();
    let shortest = |trend: &TrendOptions| {
        (earliest_trend_verdict(trend) + step)
            .max(trend.warmup_secs + trend.min_samples as f64 * step)
    };
    let shortest_duration_secs = if fitted {
        shortest(&TrendOptions {
            warmup_secs: MIN_WARMUP_SECS,
            cooldown_secs: MIN_COOLDOWN_SECS,
            ..trend.clone()
        })
    } else {
        shortest(trend)
    };
    doc::Plan {
        duration_secs: duration.map(|d| d.as_secs_f64()),
        fitted,
        earliest_trend_verdict_secs: earliest_trend_verdict(trend),
        trend_verdict_possible: trend_verdict_possible(duration, interval, trend),
        shortest_duration_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    fn fitted(duration: u64) -> Plan {
        Plan::for_run(&Asked {
            duration: secs(duration),
            ..Asked::default()
        })
    }

    #[test]
    fn a_long_or_open_ended_watch_keeps_the_production_windows() {
        let defaults = TrendOptions::default();
        for plan in [Plan::for_run(&Asked::default()), fitted(3 * 3600)] {
            assert!(!plan.fitted);
            assert_eq!(plan.trend, defaults);
            assert_eq!(plan.interval, DEFAULT_INTERVAL);
        }
    }

    #[test]
    fn a_load_test_of_a_minute_gets_windows_that_fit_it() {
        let plan = fitted(50);
        assert!(plan.fitted);
        assert_eq!(plan.trend.warmup_secs, 2.5);
        assert!((plan.trend.cooldown_secs - 47.5 / 12.0).abs() < 1e-9);
        assert_eq!(plan.trend.min_windows, 6);
        assert!(plan.interval < Duration::from_secs(1));
        assert!(trend_verdict_possible(secs(50), plan.interval, &plan.trend));
        // An hour: windows of a few minutes, still within the defaults.
        let hour = fitted(3600);
        assert!(hour.fitted && hour.trend.cooldown_secs < 300.0);
        assert_eq!(hour.trend.warmup_secs, 120.0);
    }

    #[test]
    fn fifteen_seconds_leave_room_for_no_trend_verdict() {
        let plan = fitted(15);
        assert_eq!(plan.trend.cooldown_secs, MIN_COOLDOWN_SECS);
        assert!(!trend_verdict_possible(
            secs(15),
            plan.interval,
            &plan.trend
        ));
        // The production defaults in 15 minutes: none either.
        let defaults = TrendOptions::default();
        assert!(!trend_verdict_possible(
            secs(900),
            DEFAULT_INTERVAL,
            &defaults
        ));
    }

    #[test]
    fn flags_given_are_kept_and_judged_as_given() {
        let plan = Plan::for_run(&Asked {
            duration: secs(50),
            interval: Some(Duration::from_secs(5)),
            ..Asked::default()
        });
        assert!(plan.fitted);
        assert_eq!(plan.interval, Duration::from_secs(5));
        // Ten samples of 5 s do not fill six windows of 4 s with enough samples.
        assert!(!trend_verdict_possible(
            secs(50),
            plan.interval,
            &plan.trend
        ));
        let plan = Plan::for_run(&Asked {
            duration: secs(50),
            cooldown: secs(10),
            ..Asked::default()
        });
        assert!(!plan.fitted);
        assert_eq!(plan.trend.warmup_secs, 120.0);
        assert!(!trend_verdict_possible(
            secs(50),
            plan.interval,
            &plan.trend
        ));
    }
}
