//! Trend statistics for goroutine counts over time: is a service leaking?
//!
//! A watch samples the goroutine count (in total and per group) every few seconds. This
//! module tells which way such a series goes, in a way a person paged at 3 a.m. can trust:
//!
//! - [`mann_kendall`] and [`theil_sen`] are the two classic rank-based tools: whether the
//!   series trends, and how fast. Both match scipy/pymannkendall to rounding (the reference
//!   tests in `tests/trend_reference.rs` check it).
//! - [`analyze`] cuts the series at process restarts ([`segments`]), drops each process's
//!   warm-up, and calls it [`Direction::Rising`] only when the count *and its floor* rise: a
//!   leak raises the level the count falls back to, a burst only raises the peaks.
//! - [`recovery`] answers the question load tests ask: after the load stopped, did the count
//!   come back to where it started within the cool-down window, or did it stay up?
//! - [`state`] says where one process's series stands now ([`TrendState`]: warming up,
//!   collecting windows, or judged), answering "flat" from the window floors alone when the
//!   statistics could not say otherwise, so that a watch can ask after every sample.
//!
//! Every function is pure and takes samples in time order.
//!
//! ```
//! use goleash_core::trend::{Sample, TrendOptions, Direction, analyze};
//!
//! // One sample every 5 s for an hour: 40 goroutines, plus one leaked per minute.
//! let samples: Vec<Sample> = (0..720)
//!     .map(|i| {
//!         let t = i as f64 * 5.0;
//!         Sample::new(t, 40.0 + (t / 60.0).floor() + [0.0, 3.0, 1.0, 4.0][i % 4])
//!     })
//!     .collect();
//! let analysis = analyze(&samples, &TrendOptions::default()).unwrap();
//! let trend = analysis.current();
//! assert!(matches!(trend.direction, Direction::Rising { .. }));
//! let per_minute = trend.theil_sen.unwrap().slope_per_minute();
//! assert!((per_minute - 1.0).abs() < 0.05);
//! ```

mod analysis;
mod mann_kendall;
mod normal;
mod recovery;
mod segment;
mod state;
mod theil_sen;

pub use analysis::{Analysis, Direction, Shortfall, Trend, analyze, window_extremes};
pub use mann_kendall::{MannKendall, mann_kendall};
pub use recovery::{LoadPhase, PhaseOutcome, Recovery, recovery};
pub use segment::{Segment, SegmentStart, segments};
pub use state::{TrendState, first_floor, last_floor, state};
pub use theil_sen::{TheilSen, theil_sen};

/// One observation of a goroutine count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// When, in seconds on any clock that does not go backwards within a series.
    pub t: f64,
    /// The count (total, or one group's; a group absent from a snapshot counts 0).
    pub value: f64,
    /// Which process produced it, when the caller knows: a process start time, a PID, or a
    /// counter bumped whenever the largest goroutine id went down (ids only grow within a
    /// process). A change starts a new [`Segment`]. Give the same identities to a group's
    /// series as to the total it belongs to, so the two are cut at the same places.
    pub process: Option<u64>,
}

impl Sample {
    /// A sample without a process identity.
    pub fn new(t: f64, value: f64) -> Self {
        Sample {
            t,
            value,
            process: None,
        }
    }

    /// A sample from a known process.
    pub fn with_process(t: f64, value: f64, process: u64) -> Self {
        Sample {
            t,
            value,
            process: Some(process),
        }
    }
}

/// Why a series cannot be analysed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TrendError {
    /// Rank statistics need at least three samples to say anything.
    #[error("need at least {need} samples, got {have}")]
    TooFewSamples {
        /// How many were given.
        have: usize,
        /// How many are needed.
        need: usize,
    },
    /// A time or value is NaN or infinite.
    #[error("sample {index} is not a finite number")]
    NotFinite {
        /// Its position in the input.
        index: usize,
    },
    /// Times must strictly increase: a repeated time has no slope to the sample before it.
    #[error("sample {index} at t={t}s does not come after the previous one at t={previous}s")]
    TimeNotIncreasing {
        /// Its position in the input.
        index: usize,
        /// Its time.
        t: f64,
        /// The time of the sample before it.
        previous: f64,
    },
    /// A [`LoadPhase`] ends before it starts or is not finite.
    #[error("load phase {index} is not a finite interval with start ≤ end")]
    BadPhase {
        /// Its position in the input.
        index: usize,
    },
    /// An option is out of range.
    #[error("option {name} {reason}")]
    BadOption {
        /// The option's name.
        name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Thresholds for [`analyze`] and [`recovery`].
///
/// The defaults assume samples every 5 to 60 s of a Go service; the reasoning for each is
/// on its field. They aim at very few false alarms: [`Direction::Rising`] needs
/// two independent kinds of evidence (the samples and the per-window floors) and a minimum
/// effect size, so a healthy service with bursty traffic stays [`Direction::Flat`].
#[derive(Clone, Debug, PartialEq)]
pub struct TrendOptions {
    /// Seconds dropped at the start of each process segment. Default 120: a Go service
    /// fills its pools, caches and listeners during its first minute or two, which is
    /// growth but not a leak.
    pub warmup_secs: f64,
    /// How long after load stops a healthy count may take to come back to baseline, in
    /// seconds. Default 300: net/http's transport closes idle keep-alive connections (two
    /// goroutines each) after 90 s, and most reapers and idle timeouts are in the same
    /// range; 300 s leaves a margin. It is also the width of the windows whose minima
    /// ("floors") [`analyze`] compares, and the window [`recovery`] waits.
    pub cooldown_secs: f64,
    /// Significance level of the one-sided Mann–Kendall test over all samples. Default
    /// 0.01: autocorrelated samples make p-values optimistic, so this is kept strict.
    pub alpha: f64,
    /// Significance level of the one-sided Mann–Kendall test over the window floors.
    /// Default 0.01. The floors are few and nearly independent (a burst shorter than the
    /// cool-down cannot hold two of them up), so this p-value is honest for one look; but a
    /// watch looks again every few seconds for hours, and at 0.05 one healthy series in two
    /// eventually crossed it in simulation. At 0.01 six strictly rising floors are needed
    /// (p = 0.004), or more with dips.
    pub window_alpha: f64,
    /// Confidence level of the Theil–Sen slope interval (scipy's `alpha`). Default 0.95. A
    /// rise also needs the whole interval above zero.
    pub confidence: f64,
    /// Fewest samples after warm-up to tell a direction. Default 10.
    pub min_samples: usize,
    /// Fewest complete cool-down windows after warm-up to tell a direction. Default 6, the
    /// smallest count whose floors can reach the default `window_alpha`: with the default
    /// cool-down a leak is reported at the earliest 30 minutes after warm-up. A burst may
    /// last a whole cool-down, so no test can tell a leak from one in much less than a few
    /// cool-downs.
    pub min_windows: usize,
    /// Smallest rise of the floor, in goroutines, from the first window to the last, for a
    /// rise to count. Default 5: below that, worker pools and idle connections that grow
    /// and shrink by a few goroutines would page people for nothing.
    pub min_rise: f64,
    /// How many times larger than the scatter of the window floors about their trend line
    /// (a robust standard deviation) their rise along it must be. Default 5: a leak lifts
    /// the floors along a line, while a count that merely wanders lifts them unevenly. In
    /// simulation this removed all false alarms on bursty traffic whose bursts drain slowly
    /// and overlap, for a few minutes' later detection of noisy leaks.
    pub min_signal_to_noise: f64,
    /// Most points the O(n²) statistics see. Default 1,000 (a few milliseconds per series,
    /// 4 MB of pairwise slopes; 5 s samples for 83 minutes). A longer segment is cut into
    /// this many runs of consecutive samples and each run replaced by its median time and
    /// median count: medians keep the statistics robust, and fewer, less correlated points
    /// make the p-value more conservative, not less. Window floors and ceilings are always
    /// taken from every sample.
    pub max_points: usize,
    /// Whether to infer restarts from the counts when no sample carries a process identity.
    /// Default true. See [`segments`] for the rule.
    pub infer_restarts: bool,
    /// Least drop, in goroutines, that [`segments`] reads as a restart. Default 10: small
    /// groups come and go by a few goroutines all the time.
    pub restart_min_drop: f64,
    /// Least drop, as a fraction of the level dropped from, that [`segments`] reads as a
    /// restart (the larger of the two applies). Default 0.25: a restart takes the count
    /// back to its start-up level, usually a large fraction below a leaked level.
    pub restart_drop_fraction: f64,
    /// Seconds before a load phase whose median count is its baseline. Default 60.
    pub baseline_secs: f64,
    /// How many goroutines above its baseline a count may be and still count as back. The
    /// tolerance is the larger of this and `return_rel × baseline`. Default 2, so that one
    /// or two goroutines that come and go (a ticker, a signal handler) do not keep a group
    /// from recovering.
    pub return_abs: f64,
    /// The tolerance as a fraction of the baseline. Default 0.05, for large totals whose
    /// background activity varies by more than a couple of goroutines.
    pub return_rel: f64,
}

impl Default for TrendOptions {
    fn default() -> Self {
        TrendOptions {
            warmup_secs: 120.0,
            cooldown_secs: 300.0,
            alpha: 0.01,
            window_alpha: 0.01,
            confidence: 0.95,
            min_samples: 10,
            min_windows: 6,
            min_rise: 5.0,
            min_signal_to_noise: 5.0,
            max_points: 1000,
            infer_restarts: true,
            restart_min_drop: 10.0,
            restart_drop_fraction: 0.25,
            baseline_secs: 60.0,
            return_abs: 2.0,
            return_rel: 0.05,
        }
    }
}

impl TrendOptions {
    /// Checks that every option is in range.
    pub fn validate(&self) -> Result<(), TrendError> {
        let bad = |name, reason| Err(TrendError::BadOption { name, reason });
        let non_negative = [
            ("warmup_secs", self.warmup_secs),
            ("min_rise", self.min_rise),
            ("min_signal_to_noise", self.min_signal_to_noise),
            ("restart_min_drop", self.restart_min_drop),
            ("return_abs", self.return_abs),
            ("return_rel", self.return_rel),
        ];
        for (name, value) in non_negative {
            if !(value.is_finite() && value >= 0.0) {
                return bad(name, "must be a finite number ≥ 0");
            }
        }
        let positive = [
            ("cooldown_secs", self.cooldown_secs),
            ("baseline_secs", self.baseline_secs),
        ];
        for (name, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return bad(name, "must be a finite number > 0");
            }
        }
        let probabilities = [
            ("alpha", self.alpha),
            ("window_alpha", self.window_alpha),
            ("confidence", self.confidence),
            ("restart_drop_fraction", self.restart_drop_fraction),
        ];
        for (name, value) in probabilities {
            if !(value > 0.0 && value < 1.0) {
                return bad(name, "must be strictly between 0 and 1");
            }
        }
        if self.min_windows < 3 {
            return bad("min_windows", "must be at least 3");
        }
        if self.min_samples < 3 {
            return bad("min_samples", "must be at least 3");
        }
        if self.max_points < 3 {
            return bad("max_points", "must be at least 3");
        }
        Ok(())
    }

    /// How far above `baseline` a count may be and still be back at it.
    fn tolerance(&self, baseline: f64) -> f64 {
        self.return_abs.max(self.return_rel * baseline.abs())
    }
}

const MIN_SAMPLES: usize = 3;

fn check_values(values: &[f64]) -> Result<(), TrendError> {
    if values.len() < MIN_SAMPLES {
        return Err(TrendError::TooFewSamples {
            have: values.len(),
            need: MIN_SAMPLES,
        });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(TrendError::NotFinite { index }),
        None => Ok(()),
    }
}

fn check_points(points: &[(f64, f64)]) -> Result<(), TrendError> {
    if points.len() < MIN_SAMPLES {
        return Err(TrendError::TooFewSamples {
            have: points.len(),
            need: MIN_SAMPLES,
        });
    }
    check_times(points.iter().map(|&(t, v)| (t, v)))
}

/// Every time and value finite, times strictly increasing.
fn check_times(points: impl Iterator<Item = (f64, f64)>) -> Result<(), TrendError> {
    let mut previous = f64::NEG_INFINITY;
    for (index, (t, v)) in points.enumerate() {
        if !t.is_finite() || !v.is_finite() {
            return Err(TrendError::NotFinite { index });
        }
        if t <= previous {
            return Err(TrendError::TimeNotIncreasing { index, t, previous });
        }
        previous = t;
    }
    Ok(())
}

fn check_samples(samples: &[Sample]) -> Result<(), TrendError> {
    check_times(samples.iter().map(|s| (s.t, s.value)))
}
