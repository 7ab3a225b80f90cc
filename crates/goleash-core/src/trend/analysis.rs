//! The leak decision: statistics per process segment, and the direction they show.

use super::theil_sen::median_in_place;
use super::{
    MannKendall, Sample, Segment, TheilSen, TrendError, TrendOptions, mann_kendall, segments,
    theil_sen,
};

/// The trend of every process segment of a series.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// One per [`Segment`], oldest first; never empty.
    pub trends: Vec<Trend>,
}

impl Analysis {
    /// The trend of the newest process: the one to act on.
    pub fn current(&self) -> &Trend {
        self.trends
            .last()
            .expect("analyze returns at least one trend")
    }
}

/// The trend of one process segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Trend {
    /// The samples it covers, warm-up included.
    pub segment: Segment,
    /// Time of the first sample after warm-up. [`TheilSen::intercept`] is the fitted count
    /// at this time (the fit measures time from it).
    pub start: f64,
    /// How many samples were analysed (after warm-up, before decimation).
    pub n: usize,
    /// How many complete cool-down windows those samples fill.
    pub windows: usize,
    /// The Mann–Kendall test over the (decimated) samples; `None` below 3 samples.
    pub mann_kendall: Option<MannKendall>,
    /// The Theil–Sen fit over the (decimated) samples, per second; `None` below 3 samples.
    pub theil_sen: Option<TheilSen>,
    /// The Mann–Kendall test over the windows' minima; `None` below 3 windows.
    pub floors: Option<MannKendall>,
    /// The Mann–Kendall test over the windows' maxima; `None` below 3 windows.
    pub ceilings: Option<MannKendall>,
    /// Which way the count goes.
    pub direction: Direction,
}

/// Which way a [`Trend`] goes, as far as the evidence says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Direction {
    /// The count rises, and so does the level it falls back to: the signature of a leak
    /// (or of load that keeps growing; [`recovery`](super::recovery) tells which once the
    /// load drops).
    Rising {
        /// The larger of the two one-sided p-values the decision rests on (all samples,
        /// window floors): the chance of evidence this strong without a trend.
        p_value: f64,
    },
    /// No rise or fall passes the thresholds.
    Flat,
    /// The mirror image of `Rising`: the count and its peaks fall.
    Falling {
        /// As for `Rising`, over the samples and the window maxima.
        p_value: f64,
    },
    /// Too little data after warm-up to decide.
    Insufficient(Shortfall),
}

impl Direction {
    /// `1 − p_value` for `Rising` and `Falling`, `None` otherwise.
    pub fn confidence(&self) -> Option<f64> {
        match self {
            Direction::Rising { p_value } | Direction::Falling { p_value } => Some(1.0 - p_value),
            Direction::Flat | Direction::Insufficient(_) => None,
        }
    }
}

/// What a [`Direction::Insufficient`] lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortfall {
    /// Fewer samples than [`TrendOptions::min_samples`].
    Samples {
        /// How many there are.
        have: usize,
        /// How many are needed.
        need: usize,
    },
    /// Fewer complete windows than [`TrendOptions::min_windows`].
    Windows {
        /// How many there are.
        have: usize,
        /// How many are needed.
        need: usize,
    },
}

/// Cuts `samples` at restarts ([`segments`]) and computes the [`Trend`] of each segment.
///
/// A segment is [`Direction::Rising`] only if all of these hold, after its warm-up:
///
/// 1. at least [`min_samples`](TrendOptions::min_samples) samples spanning at least
///    [`min_windows`](TrendOptions::min_windows) complete cool-down windows;
/// 2. the one-sided Mann–Kendall test over the samples has p ≤ [`alpha`](TrendOptions::alpha);
/// 3. the Theil–Sen interval for the slope lies wholly above zero;
/// 4. the one-sided Mann–Kendall test over the minima of consecutive cool-down windows has
///    p ≤ [`window_alpha`](TrendOptions::window_alpha);
/// 5. along the Theil–Sen line through those minima, they rise by at least
///    [`min_rise`](TrendOptions::min_rise) and by at least
///    [`min_signal_to_noise`](TrendOptions::min_signal_to_noise) times their scatter about
///    the line;
/// 6. the last window's minimum is at least every earlier window's.
///
/// 2 and 3 say the count rises; 4 to 6 say it is not just the bursts getting bigger or
/// more frequent. A burst or a sawtooth shorter than the cool-down leaves every window's
/// minimum at the baseline, so it cannot pass 4; a leak lifts every later minimum, which is
/// what 6 asks of the newest one (goroutines that never exit never let the floor drop),
/// and what withdraws `Rising` as soon as the floor falls back. `Falling` is the mirror
/// image, with window maxima; negating a series swaps the two.
///
/// Over more than 200 cool-down windows (17 hours at the default cool-down), 4 to 6 are
/// judged on consecutive windows merged into at most 200 wider ones, so that a week costs
/// about seven times a day, not fifty times; [`Trend::windows`] still counts the cool-down
/// windows.
///
/// Known limit: a healthy count that wanders up and down slowly (over tens of minutes) by
/// more than `min_rise` can look like a leak for a while. In simulation with the defaults,
/// a mean-reverting count (standard deviation 10, time constant 10 to 30 minutes) was
/// called `Rising` at some point in 3 to 5 runs of 24 re-analysed every 2 minutes for 3
/// hours. Raise `min_rise` for such series, or use [`recovery`](super::recovery) with the
/// load phases, which tells the two apart.
pub fn analyze(samples: &[Sample], options: &TrendOptions) -> Result<Analysis, TrendError> {
    let segments = segments(samples, options)?;
    if segments.is_empty() {
        return Err(TrendError::TooFewSamples {
            have: 0,
            need: super::MIN_SAMPLES,
        });
    }
    let trends = segments
        .into_iter()
        .map(|segment| segment_trend(samples, segment, options))
        .collect::<Result<_, _>>()?;
    Ok(Analysis { trends })
}

fn segment_trend(
    samples: &[Sample],
    segment: Segment,
    options: &TrendOptions,
) -> Result<Trend, TrendError> {
    let all = &samples[segment.range.clone()];
    let warm = all[0].t + options.warmup_secs;
    let kept = &all[all.partition_point(|s| s.t < warm)..];
    let start = kept.first().map_or(warm, |s| s.t);
    let points: Vec<(f64, f64)> = kept.iter().map(|s| (s.t - start, s.value)).collect();
    let (floors, ceilings) = window_extremes(&points, 0.0, options.cooldown_secs);
    let windows = floors.len();
    let (floors, ceilings) = merge_windows(&floors, &ceilings);

    let (mk, ts) = if points.len() >= super::MIN_SAMPLES {
        let fitted = decimate(&points, options.max_points);
        let values: Vec<f64> = fitted.iter().map(|p| p.1).collect();
        (
            Some(mann_kendall(&values)?),
            Some(theil_sen(&fitted, options.confidence)?),
        )
    } else {
        (None, None)
    };
    let floor_mk = (windows >= 3).then(|| mann_kendall(&floors)).transpose()?;
    let ceiling_mk = (windows >= 3)
        .then(|| mann_kendall(&ceilings))
        .transpose()?;

    let direction = if points.len() < options.min_samples {
        Direction::Insufficient(Shortfall::Samples {
            have: points.len(),
            need: options.min_samples,
        })
    } else if windows < options.min_windows {
        Direction::Insufficient(Shortfall::Windows {
            have: windows,
            need: options.min_windows,
        })
    } else {
        // min_samples and min_windows are at least 3, so every statistic exists here.
        let (mk, ts) = (mk.expect("≥ 3 samples"), ts.expect("≥ 3 samples"));
        let (fl, ce) = (
            floor_mk.expect("≥ 3 windows"),
            ceiling_mk.expect("≥ 3 windows"),
        );
        let rise = steady_change(&floors, options.min_signal_to_noise)?;
        let negated: Vec<f64> = ceilings.iter().map(|c| -c).collect();
        let fall = steady_change(&negated, options.min_signal_to_noise)?;
        if mk.p_increasing <= options.alpha
            && ts.low_slope > 0.0
            && fl.p_increasing <= options.window_alpha
            && rise >= options.min_rise
            && is_record_high(&floors)
        {
            Direction::Rising {
                p_value: mk.p_increasing.max(fl.p_increasing),
            }
        } else if mk.p_decreasing <= options.alpha
            && ts.high_slope < 0.0
            && ce.p_decreasing <= options.window_alpha
            && fall >= options.min_rise
            && is_record_high(&negated)
        {
            Direction::Falling {
                p_value: mk.p_decreasing.max(ce.p_decreasing),
            }
        } else {
            Direction::Flat
        }
    };
    Ok(Trend {
        segment,
        start,
        n: points.len(),
        windows,
        mann_kendall: mk,
        theil_sen: ts,
        floors: floor_mk,
        ceilings: ceiling_mk,
        direction,
    })
}

/// Whether the last level is at least every earlier one. Not strictly: a slow leak in
/// whole goroutines lifts the floor one step every few windows, tying it in between.
fn is_record_high(levels: &[f64]) -> bool {
    let (last, earlier) = levels.split_last().expect("at least min_windows levels");
    earlier.iter().all(|l| l <= last)
}

/// How much `levels` (one per window) rise along their Theil–Sen line from the first to
/// the last, or `−∞` when that rise is less than `signal_to_noise` times the scatter of
/// the levels about the line (1.4826 × the median absolute deviation of the residuals, a
/// robust standard deviation).
fn steady_change(levels: &[f64], signal_to_noise: f64) -> Result<f64, TrendError> {
    let points: Vec<(f64, f64)> = levels
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as f64, v))
        .collect();
    let fit = theil_sen(&points, 0.95)?;
    let mut residuals: Vec<f64> = points.iter().map(|&(i, v)| v - fit.slope * i).collect();
    let center = median_in_place(&mut residuals);
    let mut deviations: Vec<f64> = residuals.iter().map(|r| (r - center).abs()).collect();
    let scatter = 1.4826 * median_in_place(&mut deviations);
    let rise = fit.slope * (levels.len() - 1) as f64;
    Ok(if rise >= signal_to_noise * scatter {
        rise
    } else {
        f64::NEG_INFINITY
    })
}

/// The minimum and maximum of each complete, non-empty window `[start + k·width,
/// start + (k+1)·width)` of time: the windows [`analyze`] judges recovery on. A window is
/// complete once a sample at or past its end exists; a window with no samples (the target
/// was unreachable) is skipped.
pub fn window_extremes(points: &[(f64, f64)], start: f64, width: f64) -> (Vec<f64>, Vec<f64>) {
    let Some(&(last, _)) = points.last() else {
        return (Vec::new(), Vec::new());
    };
    let complete = ((last - start) / width).floor();
    let (mut floors, mut ceilings) = (Vec::new(), Vec::new());
    let mut current: Option<(f64, f64, f64)> = None;
    for &(t, v) in points {
        let k = ((t - start) / width).floor();
        if k >= complete {
            break;
        }
        match &mut current {
            Some((window, low, high)) if *window == k => {
                *low = low.min(v);
                *high = high.max(v);
            }
            _ => {
                if let Some((_, low, high)) = current {
                    floors.push(low);
                    ceilings.push(high);
                }
                current = Some((k, v, v));
            }
        }
    }
    if let Some((_, low, high)) = current {
        floors.push(low);
        ceilings.push(high);
    }
    (floors, ceilings)
}

/// Most window levels the window statistics see. Their Mann–Kendall tests and the
/// Theil–Sen line of [`steady_change`] cost O(levels²): a week of 5-minute windows is 2,016
/// levels, 2 million pairs per statistic and series, where 200 levels are 20,000.
pub(crate) const MAX_WINDOW_LEVELS: usize = 200;

/// The floors and ceilings of consecutive windows merged into at most
/// [`MAX_WINDOW_LEVELS`] wider windows (the minimum of the floors, the maximum of the
/// ceilings), so that the window statistics cost the same however long the series. Short
/// series are returned as they are. A merged window is an exact wider cool-down window: a
/// burst that cannot hold up one window's floor cannot hold up a wider one's, so merging
/// costs resolution, not soundness. The groups are counted from the newest window back, so
/// that the newest level, which the record test compares with all the others, is a whole
/// group; a shorter oldest group has a floor at least as high as a whole one would, which
/// can only make a rise look smaller.
pub(crate) fn merge_windows(floors: &[f64], ceilings: &[f64]) -> (Vec<f64>, Vec<f64>) {
    if floors.len() <= MAX_WINDOW_LEVELS {
        return (floors.to_vec(), ceilings.to_vec());
    }
    let group = floors.len().div_ceil(MAX_WINDOW_LEVELS);
    let merge = |levels: &[f64], pick: fn(f64, f64) -> f64| -> Vec<f64> {
        let mut merged: Vec<f64> = levels
            .rchunks(group)
            .map(|chunk| {
                chunk
                    .iter()
                    .copied()
                    .reduce(pick)
                    .expect("chunks are not empty")
            })
            .collect();
        merged.reverse();
        merged
    };
    (merge(floors, f64::min), merge(ceilings, f64::max))
}

/// At most `max` points: `points` as is when short enough, else `max` runs of consecutive
/// points of (nearly) equal count, each replaced by its median time and median value.
/// Runs of equal count rather than of equal time, so that data around an outage of the
/// target keeps its resolution and no run is empty. Times stay strictly increasing
/// because the runs are disjoint.
fn decimate(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max {
        return points.to_vec();
    }
    (0..max)
        .map(|k| {
            let run = &points[k * points.len() / max..(k + 1) * points.len() / max];
            let mut ts: Vec<f64> = run.iter().map(|p| p.0).collect();
            let mut vs: Vec<f64> = run.iter().map(|p| p.1).collect();
            (median_in_place(&mut ts), median_in_place(&mut vs))
        })
        .collect()
}
