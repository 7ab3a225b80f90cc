//! The trend of one series (a target's total, or one stack's count) as a watch shows it.

use goleash_core::trend::{self, Sample, TrendOptions, Verdict};

/// Where a series stands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Status {
    /// No sample yet.
    Empty,
    /// Inside the process's warm-up: nothing is judged yet.
    Warming {
        /// Seconds of warm-up left.
        left_secs: f64,
    },
    /// Too few cool-down windows for a verdict.
    Collecting {
        /// Complete windows so far.
        windows: usize,
        /// Windows a verdict needs.
        need: usize,
        /// Seconds until the first verdict is possible.
        eta_secs: f64,
    },
    /// Judged by [`trend::analyze`].
    Judged {
        /// The verdict.
        verdict: Verdict,
        /// The Theil–Sen slope, goroutines per minute.
        slope_per_minute: f64,
        /// Complete windows the verdict rests on.
        windows: usize,
    },
}

impl Status {
    /// Whether the series rises the way a leak does.
    pub fn rising(&self) -> bool {
        matches!(
            self,
            Status::Judged {
                verdict: Verdict::Rising { .. },
                ..
            }
        )
    }

    /// The p-value of a rise or fall.
    pub fn p_value(&self) -> Option<f64> {
        match self {
            Status::Judged {
                verdict: Verdict::Rising { p_value } | Verdict::Falling { p_value },
                ..
            } => Some(*p_value),
            _ => None,
        }
    }

    /// The slope, when judged.
    pub fn slope_per_minute(&self) -> Option<f64> {
        match self {
            Status::Judged {
                slope_per_minute, ..
            } => Some(*slope_per_minute),
            _ => None,
        }
    }

    /// `rising`, `flat`, `falling`, `insufficient`, `collecting`, `warming up` or `no data`.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Empty => "no data",
            Status::Warming { .. } => "warming up",
            Status::Collecting { .. } => "collecting",
            Status::Judged { verdict, .. } => match verdict {
                Verdict::Rising { .. } => "rising",
                Verdict::Flat => "flat",
                Verdict::Falling { .. } => "falling",
                Verdict::Insufficient(_) => "insufficient",
            },
        }
    }
}

/// Judges the samples `(t, value)` of one process, oldest first, with strictly increasing
/// times. The statistics run only once the series could possibly have a verdict: until then
/// the answer follows from the times alone, in constant time.
pub fn judge(points: &[(f64, f64)], options: &TrendOptions) -> Status {
    let (Some(&(first, _)), Some(&(last, _))) = (points.first(), points.last()) else {
        return Status::Empty;
    };
    let warm_end = first + options.warmup_secs;
    if last < warm_end {
        return Status::Warming {
            left_secs: warm_end - last,
        };
    }
    let kept = &points[points.partition_point(|p| p.0 < warm_end)..];
    let start = kept.first().map_or(warm_end, |p| p.0);
    let span = last - start;
    let windows = (span / options.cooldown_secs).floor() as usize;
    if windows < options.min_windows || kept.len() < options.min_samples {
        return Status::Collecting {
            windows,
            need: options.min_windows,
            eta_secs: (options.min_windows as f64 * options.cooldown_secs - span).max(0.0),
        };
    }
    // One process: the caller cuts series at restarts, so nothing is to be inferred here.
    let samples: Vec<Sample> = points
        .iter()
        .map(|&(t, v)| Sample::with_process(t, v, 0))
        .collect();
    match trend::analyze(&samples, options) {
        Ok(analysis) => {
            let current = analysis.current();
            Status::Judged {
                verdict: current.verdict,
                slope_per_minute: current.theil_sen.map_or(0.0, |fit| fit.slope_per_minute()),
                windows: current.windows,
            }
        }
        // Times are made strictly increasing and values are counts, so this cannot happen;
        // if it did, saying nothing is safer than a verdict.
        Err(_) => Status::Collecting {
            windows,
            need: options.min_windows,
            eta_secs: 0.0,
        },
    }
}

/// The lowest count of the first complete cool-down window after warm-up: the level the
/// count fell back to when the trend started. `None` before warm-up ends.
pub fn first_floor(points: &[(f64, f64)], trend: &TrendOptions) -> Option<u64> {
    let &(first, _) = points.first()?;
    let warm_end = first + trend.warmup_secs;
    let kept = &points[points.partition_point(|p| p.0 < warm_end)..];
    let &(start, _) = kept.first()?;
    Some(
        kept.iter()
            .take_while(|p| p.0 < start + trend.cooldown_secs)
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min)
            .max(0.0) as u64,
    )
}

/// The lowest count of the last cool-down window: the level the count falls back to now.
pub fn last_floor(points: &[(f64, f64)], trend: &TrendOptions) -> u64 {
    let Some(&(last, _)) = points.last() else {
        return 0;
    };
    points[points.partition_point(|p| p.0 < last - trend.cooldown_secs)..]
        .iter()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min)
        .max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compressed() -> TrendOptions {
        TrendOptions {
            warmup_secs: 2.0,
            cooldown_secs: 3.0,
            ..TrendOptions::default()
        }
    }

    #[test]
    fn waits_out_warm_up_and_windows_before_any_statistics() {
        let options = compressed();
        let points: Vec<(f64, f64)> = (0..8).map(|i| (i as f64 * 0.5, 10.0)).collect();
        assert_eq!(
            judge(&points[..2], &options),
            Status::Warming { left_secs: 1.5 }
        );
        match judge(&points, &options) {
            Status::Collecting {
                windows: 0,
                need: 6,
                eta_secs,
            } => assert!((eta_secs - 16.5).abs() < 1e-9, "{eta_secs}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_steady_leak_rises_and_a_flat_count_does_not() {
        let options = compressed();
        let leak: Vec<(f64, f64)> = (0..100)
            .map(|i| {
                let t = i as f64 * 0.25;
                (t, 20.0 + 2.0 * t + [0.0, 3.0, 1.0][i % 3])
            })
            .collect();
        let status = judge(&leak, &options);
        assert!(status.rising(), "{status:?}");
        let per_minute = status.slope_per_minute().unwrap();
        assert!((per_minute - 120.0).abs() < 10.0, "{per_minute}");
        let flat: Vec<(f64, f64)> = leak.iter().map(|&(t, _)| (t, 20.0)).collect();
        assert_eq!(judge(&flat, &options).name(), "flat");
    }

    #[test]
    fn growth_runs_from_the_first_window_s_floor_to_the_last_one_s() {
        let trend = TrendOptions {
            warmup_secs: 2.0,
            cooldown_secs: 3.0,
            ..TrendOptions::default()
        };
        let points: Vec<(f64, f64)> = (0..20)
            .map(|i| (i as f64 * 0.5, [50.0, 9.0, 12.0, 30.0][i % 4]))
            .collect();
        // From t = 2 to 5: 50, 9, 12, 30, 50, 9.
        assert_eq!(first_floor(&points, &trend), Some(9));
        assert_eq!(first_floor(&[], &trend), None);
        let rising: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 100.0 + i as f64)).collect();
        // The last 3 s: 116 to 119.
        assert_eq!(last_floor(&rising, &trend), 116);
    }
}
