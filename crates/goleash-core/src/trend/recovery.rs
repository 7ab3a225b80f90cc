//! Did the count come back down after the load stopped?

use super::theil_sen::median_in_place;
use super::{Sample, Segment, TrendError, TrendOptions, segments};

/// A stretch of time during which the service was under load: `[start, end]`, in the
/// samples' clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadPhase {
    /// When the load began.
    pub start: f64,
    /// When it stopped.
    pub end: f64,
}

/// How the count behaved after one [`LoadPhase`].
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseOutcome {
    /// The phase: as given, or as inferred from the series.
    pub phase: LoadPhase,
    /// Whether the phase was inferred from the series rather than given.
    pub inferred: bool,
    /// The count before the load: the median over
    /// [`baseline_secs`](TrendOptions::baseline_secs) before the phase (for inferred
    /// phases, after the segment's warm-up). `None` when no sample falls there.
    pub baseline: Option<f64>,
    /// The highest count from the start of the phase to the end of its cool-down window.
    pub peak: Option<f64>,
    /// Whether and how the count came back.
    pub recovery: Recovery,
}

/// How the count of a [`PhaseOutcome`] came back, or did not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Recovery {
    /// The count never rose beyond the baseline's tolerance.
    Unaffected,
    /// It came back to within tolerance of the baseline this many seconds after the load
    /// stopped, inside the cool-down window: healthy.
    Recovered {
        /// Seconds from the end of the phase to the first sample back at baseline.
        after_secs: f64,
    },
    /// The whole cool-down window passed without the count coming back: goroutines started
    /// under load outlived it. The leak candidate.
    Stuck {
        /// The lowest count in the cool-down window minus the baseline: at least this many
        /// goroutines stayed.
        retained: f64,
    },
    /// The cool-down window has not passed yet and the count is not back.
    Pending,
    /// The next phase began before the cool-down window ended and the count was not back.
    Interrupted,
    /// The process restarted between the start of the phase and the end of its cool-down
    /// window, so its goroutines are gone either way.
    Restarted,
    /// No sample before the phase in the same process to compare with.
    NoBaseline,
}

impl Recovery {
    /// `unaffected`, `recovered`, `stuck`, `pending`, `interrupted`, `restarted` or
    /// `no baseline`.
    pub fn name(&self) -> &'static str {
        match self {
            Recovery::Unaffected => "unaffected",
            Recovery::Recovered { .. } => "recovered",
            Recovery::Stuck { .. } => "stuck",
            Recovery::Pending => "pending",
            Recovery::Interrupted => "interrupted",
            Recovery::Restarted => "restarted",
            Recovery::NoBaseline => "no baseline",
        }
    }
}

/// Tells, for each load phase, whether the count came back to its baseline within the
/// cool-down window after the load stopped.
///
/// A count is back when one sample is within tolerance of the baseline: goroutines that
/// never exit put a floor under the count, so a single sample below it proves that no more
/// than the tolerance leaked. The window is
/// [`cooldown_secs`](TrendOptions::cooldown_secs) from the phase's end, cut short by the
/// next phase's start.
///
/// With `phases` unknown (`None`), they are inferred per process segment: the baseline is
/// the median over `baseline_secs` after warm-up (so the watch should start at rest), a
/// phase starts at the first sample above tolerance and is taken to stop at the first
/// sample that falls at least halfway back from the peak to the baseline. Without that
/// fall the load may still be on, and the phase stays [`Recovery::Pending`] however long
/// it lasts: a plateau under steady load is not a leak. After a phase is
/// [`Recovery::Stuck`], the next is measured against the level it kept, so each burst that
/// leaves goroutines behind shows up as its own step.
pub fn recovery(
    samples: &[Sample],
    phases: Option<&[LoadPhase]>,
    options: &TrendOptions,
) -> Result<Vec<PhaseOutcome>, TrendError> {
    let segments = segments(samples, options)?;
    match phases {
        Some(phases) => {
            for (index, p) in phases.iter().enumerate() {
                if !(p.start.is_finite() && p.end.is_finite() && p.start <= p.end) {
                    return Err(TrendError::BadPhase { index });
                }
            }
            Ok(phases
                .iter()
                .map(|p| known_phase(samples, &segments, phases, *p, options))
                .collect())
        }
        None => Ok(segments
            .iter()
            .flat_map(|s| inferred_phases(samples, s, options))
            .collect()),
    }
}

fn known_phase(
    samples: &[Sample],
    segments: &[Segment],
    phases: &[LoadPhase],
    phase: LoadPhase,
    options: &TrendOptions,
) -> PhaseOutcome {
    let next_start = phases
        .iter()
        .map(|p| p.start)
        .filter(|&s| s > phase.end)
        .fold(f64::INFINITY, f64::min);
    let window_end = (phase.end + options.cooldown_secs).min(next_start);
    let outcome = |baseline, peak, recovery| PhaseOutcome {
        phase,
        inferred: false,
        baseline,
        peak,
        recovery,
    };
    // The phase belongs to the process running when it began.
    let Some(segment) = segments
        .iter()
        .rev()
        .find(|s| samples[s.range.start].t <= phase.start)
    else {
        return outcome(None, None, Recovery::NoBaseline);
    };
    let own = &samples[segment.range.clone()];
    let warm = own[0].t + options.warmup_secs;
    let mut before: Vec<f64> = own
        .iter()
        .filter(|s| s.t >= warm && s.t >= phase.start - options.baseline_secs && s.t < phase.start)
        .map(|s| s.value)
        .collect();
    let during = |s: &&Sample| s.t >= phase.start && s.t <= window_end;
    let peak = own.iter().filter(during).map(|s| s.value).reduce(f64::max);
    let restarted = segment.range.end < samples.len() && samples[segment.range.end].t <= window_end;
    if restarted {
        return outcome(None, peak, Recovery::Restarted);
    }
    if before.is_empty() {
        return outcome(None, peak, Recovery::NoBaseline);
    }
    let baseline = median_in_place(&mut before);
    let back = baseline + options.tolerance(baseline);
    let recovery = if peak.is_none_or(|p| p <= back) {
        Recovery::Unaffected
    } else {
        let after: Vec<&Sample> = own
            .iter()
            .filter(|s| s.t >= phase.end && s.t <= window_end)
            .collect();
        let last = own[own.len() - 1].t;
        match after.iter().find(|s| s.value <= back) {
            Some(s) => Recovery::Recovered {
                after_secs: s.t - phase.end,
            },
            None if window_end < phase.end + options.cooldown_secs && last >= window_end => {
                Recovery::Interrupted
            }
            None if last >= window_end => Recovery::Stuck {
                retained: after.iter().map(|s| s.value).fold(f64::INFINITY, f64::min) - baseline,
            },
            None => Recovery::Pending,
        }
    };
    outcome(Some(baseline), peak, recovery)
}

fn inferred_phases(
    samples: &[Sample],
    segment: &Segment,
    options: &TrendOptions,
) -> Vec<PhaseOutcome> {
    let own = &samples[segment.range.clone()];
    let warm = own[0].t + options.warmup_secs;
    let own = &own[own.partition_point(|s| s.t < warm)..];
    let Some(first) = own.first() else {
        return Vec::new();
    };
    let settle = own.partition_point(|s| s.t < first.t + options.baseline_secs);
    let mut baseline = median_in_place(
        &mut own[..settle.max(1)]
            .iter()
            .map(|s| s.value)
            .collect::<Vec<_>>(),
    );
    let mut out = Vec::new();
    let mut i = settle;
    while i < own.len() {
        let back = baseline + options.tolerance(baseline);
        if own[i].value <= back {
            i += 1;
            continue;
        }
        // A phase: from here to the first sample halfway back from the peak.
        let start = own[i].t;
        let mut peak = own[i].value;
        let mut end = None;
        let mut j = i;
        while j < own.len() {
            let v = own[j].value;
            if v <= (peak + baseline) / 2.0 || v <= back {
                end = Some(j);
                break;
            }
            peak = peak.max(v);
            j += 1;
        }
        let phase = |end: f64| LoadPhase { start, end };
        let Some(e) = end else {
            out.push(PhaseOutcome {
                phase: phase(own[own.len() - 1].t),
                inferred: true,
                baseline: Some(baseline),
                peak: Some(peak),
                recovery: Recovery::Pending,
            });
            break;
        };
        let stop = own[e].t;
        let window_end = stop + options.cooldown_secs;
        let within = own[e..].partition_point(|s| s.t <= window_end) + e;
        let recovery = match own[e..within].iter().position(|s| s.value <= back) {
            Some(k) => {
                i = e + k + 1;
                Recovery::Recovered {
                    after_secs: own[e + k].t - stop,
                }
            }
            None if within < own.len() => {
                let kept = own[e..within]
                    .iter()
                    .map(|s| s.value)
                    .fold(f64::INFINITY, f64::min);
                let retained = kept - baseline;
                i = within;
                out.push(PhaseOutcome {
                    phase: phase(stop),
                    inferred: true,
                    baseline: Some(baseline),
                    peak: Some(peak),
                    recovery: Recovery::Stuck { retained },
                });
                baseline = kept;
                continue;
            }
            None => {
                i = own.len();
                Recovery::Pending
            }
        };
        out.push(PhaseOutcome {
            phase: phase(stop),
            inferred: true,
            baseline: Some(baseline),
            peak: Some(peak),
            recovery,
        });
    }
    out
}
