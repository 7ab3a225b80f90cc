//! Where one series stands now (a service's total, or one stack's count, within one
//! process), cheaply enough to ask after every sample of a thousand services.

use super::analysis::merge_windows;
use super::{Direction, Sample, TrendOptions, analyze, mann_kendall, window_extremes};

/// Where a series stands.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TrendState {
    /// No sample yet.
    Empty,
    /// Inside the process's warm-up: nothing is judged yet.
    Warming {
        /// Seconds of warm-up left.
        left_secs: f64,
    },
    /// Too few cool-down windows to tell a direction.
    Collecting {
        /// Complete windows so far.
        windows: usize,
        /// Windows a direction needs.
        need: usize,
        /// Seconds until a direction can first be told.
        eta_secs: f64,
    },
    /// Judged by [`analyze`], or found flat by the window screen in [`state`].
    Judged {
        /// Which way the series goes.
        direction: Direction,
        /// The Theil–Sen slope, goroutines per minute; `None` when the screen answered.
        slope_per_minute: Option<f64>,
        /// Complete windows the direction rests on.
        windows: usize,
    },
}

impl TrendState {
    /// Whether the series rises the way a leak does.
    pub fn rising(&self) -> bool {
        matches!(
            self,
            TrendState::Judged {
                direction: Direction::Rising { .. },
                ..
            }
        )
    }

    /// The p-value of a rise or fall.
    pub fn p_value(&self) -> Option<f64> {
        match self {
            TrendState::Judged {
                direction: Direction::Rising { p_value } | Direction::Falling { p_value },
                ..
            } => Some(*p_value),
            _ => None,
        }
    }

    /// The slope, when judged.
    pub fn slope_per_minute(&self) -> Option<f64> {
        match self {
            TrendState::Judged {
                slope_per_minute, ..
            } => *slope_per_minute,
            _ => None,
        }
    }

    /// `rising`, `flat`, `falling`, `insufficient`, `collecting`, `warming up` or `no data`.
    pub fn name(&self) -> &'static str {
        match self {
            TrendState::Empty => "no data",
            TrendState::Warming { .. } => "warming up",
            TrendState::Collecting { .. } => "collecting",
            TrendState::Judged { direction, .. } => match direction {
                Direction::Rising { .. } => "rising",
                Direction::Flat => "flat",
                Direction::Falling { .. } => "falling",
                Direction::Insufficient(_) => "insufficient",
            },
        }
    }
}

/// Where the samples `(t, value)` of one process stand, oldest first, with strictly
/// increasing times. The statistics run only once the series could possibly have a verdict:
/// until then the answer follows from the times alone, in constant time.
///
/// [`analyze`] costs O(n²) (5 ms for 1,000 points), too much to run on every stack of
/// a thousand services every half minute. Two of its conditions bear on the minima and
/// maxima of the cool-down windows alone, and cost O(n): a rise needs the last window's
/// floor to be a record and the floors to rise by Mann–Kendall; a fall, the mirror image
/// with the ceilings. When neither can hold, the verdict is [`Direction::Flat`] without the
/// O(n²) part, exactly as `analyze` would have said (the tests check it on random series).
pub fn state(points: &[(f64, f64)], options: &TrendOptions) -> TrendState {
    let (Some(&(first, _)), Some(&(last, _))) = (points.first(), points.last()) else {
        return TrendState::Empty;
    };
    let warm_end = first + options.warmup_secs;
    if last < warm_end {
        return TrendState::Warming {
            left_secs: warm_end - last,
        };
    }
    let kept = &points[points.partition_point(|p| p.0 < warm_end)..];
    let start = kept.first().map_or(warm_end, |p| p.0);
    let span = last - start;
    let windows = (span / options.cooldown_secs).floor() as usize;
    if windows < options.min_windows || kept.len() < options.min_samples {
        return TrendState::Collecting {
            windows,
            need: options.min_windows,
            eta_secs: (options.min_windows as f64 * options.cooldown_secs - span).max(0.0),
        };
    }
    let (floors, ceilings) = window_extremes(kept, start, options.cooldown_secs);
    let complete = floors.len();
    let (floors, ceilings) = merge_windows(&floors, &ceilings);
    if !could_rise(&floors, options) && !could_fall(&ceilings, options) {
        return TrendState::Judged {
            direction: Direction::Flat,
            slope_per_minute: None,
            windows: complete,
        };
    }
    // One process: the caller cuts series at restarts, so nothing is to be inferred here.
    let samples: Vec<Sample> = points
        .iter()
        .map(|&(t, v)| Sample::with_process(t, v, 0))
        .collect();
    match analyze(&samples, options) {
        Ok(analysis) => {
            let current = analysis.current();
            TrendState::Judged {
                direction: current.direction,
                slope_per_minute: current.theil_sen.map(|fit| fit.slope_per_minute()),
                windows: current.windows,
            }
        }
        // Times are made strictly increasing and values are counts, so this cannot happen;
        // if it did, saying nothing is safer than a verdict.
        Err(_) => TrendState::Collecting {
            windows,
            need: options.min_windows,
            eta_secs: 0.0,
        },
    }
}

/// Whether the floors allow [`Direction::Rising`]: the last is a record, and they rise.
fn could_rise(floors: &[f64], options: &TrendOptions) -> bool {
    let Some((last, earlier)) = floors.split_last() else {
        return false;
    };
    earlier.iter().all(|f| f <= last)
        && mann_kendall(floors).is_ok_and(|mk| mk.p_increasing <= options.window_alpha)
}

/// Whether the ceilings allow [`Direction::Falling`]: the last is the lowest, and they fall.
fn could_fall(ceilings: &[f64], options: &TrendOptions) -> bool {
    let Some((last, earlier)) = ceilings.split_last() else {
        return false;
    };
    earlier.iter().all(|c| c >= last)
        && mann_kendall(ceilings).is_ok_and(|mk| mk.p_decreasing <= options.window_alpha)
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
            state(&points[..2], &options),
            TrendState::Warming { left_secs: 1.5 }
        );
        match state(&points, &options) {
            TrendState::Collecting {
                windows: 0,
                need: 6,
                eta_secs,
            } => assert!((eta_secs - 16.5).abs() < 1e-9, "{eta_secs}"),
            other => panic!("{other:?}"),
        }
    }

    /// A deterministic stream of pseudo-random numbers in [0, 1).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn the_window_screen_answers_flat_only_where_analyze_says_flat() {
        let options = compressed();
        let mut rng = Lcg(7);
        let (mut screened, mut rising, mut falling) = (0, 0, 0);
        for case in 0..600 {
            // Bursts, leaks, drains and plateaus of random sizes, sampled unevenly.
            let n = 60 + (rng.next() * 140.0) as usize;
            let slope = [0.0, 0.0, 1.5, -1.5, 4.0][case % 5] * rng.next();
            let burst = 30.0 * rng.next();
            let mut t = 0.0;
            let points: Vec<(f64, f64)> = (0..n)
                .map(|_| {
                    t += 0.1 + 0.5 * rng.next();
                    let spike = if rng.next() < 0.3 {
                        burst * rng.next()
                    } else {
                        0.0
                    };
                    (
                        t,
                        (100.0 + slope * t + spike + 3.0 * rng.next())
                            .round()
                            .max(0.0),
                    )
                })
                .collect();
            let status = state(&points, &options);
            let samples: Vec<Sample> = points
                .iter()
                .map(|&(t, v)| Sample::with_process(t, v, 0))
                .collect();
            let Ok(analysis) = analyze(&samples, &options) else {
                continue;
            };
            let direction = analysis.current().direction;
            match status {
                TrendState::Judged {
                    direction: Direction::Flat,
                    slope_per_minute: None,
                    ..
                } => {
                    screened += 1;
                    assert_eq!(direction, Direction::Flat, "case {case}: {points:?}");
                }
                TrendState::Judged { direction: v, .. } => {
                    assert_eq!(v, direction, "case {case}");
                    rising += usize::from(matches!(v, Direction::Rising { .. }));
                    falling += usize::from(matches!(v, Direction::Falling { .. }));
                }
                _ => {}
            }
        }
        // The check means something only if all three answers came up.
        assert!(
            screened > 100 && rising > 20 && falling > 20,
            "{screened} {rising} {falling}"
        );
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
        let status = state(&leak, &options);
        assert!(status.rising(), "{status:?}");
        let per_minute = status.slope_per_minute().unwrap();
        assert!((per_minute - 120.0).abs() < 10.0, "{per_minute}");
        let flat: Vec<(f64, f64)> = leak.iter().map(|&(t, _)| (t, 20.0)).collect();
        assert_eq!(state(&flat, &options).name(), "flat");
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
