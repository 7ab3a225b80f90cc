//! Cutting a series at process restarts, so that a restart is not read as a leak ending.

use std::collections::VecDeque;
use std::ops::Range;

use super::{Sample, TrendError, TrendOptions};

/// A run of samples from one process.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Indices of its samples in the input.
    pub range: Range<usize>,
    /// Why it starts where it does.
    pub start: SegmentStart,
}

/// Why a [`Segment`] starts where it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentStart {
    /// It is the first.
    First,
    /// The sample's process identity differs from the one before.
    ProcessChanged,
    /// The count dropped the way a restart makes it drop (see [`segments`]).
    InferredRestart,
}

/// Cuts `samples` into one [`Segment`] per process.
///
/// When any sample carries a process identity, a segment starts wherever the identity
/// changes (a sample without one continues the segment before it), and nothing is inferred.
///
/// Otherwise, with [`TrendOptions::infer_restarts`], a restart is inferred at a sample
/// that drops both well below the floor the count held for the whole cool-down window
/// before it, and back to about where the segment started: "well below" and "about" both
/// mean by `max(restart_min_drop, restart_drop_fraction × level)`. The floor condition is
/// what tells a restart from the end of a burst: a burst falls back to the floor, a
/// restart falls through it, taking any leaked goroutines with it. The start-level
/// condition tells it from leaked goroutines that finally exit. A restart that comes back
/// no lower than the floor is not found, and needs none: nothing leaked across it. The
/// defaults need a drop of ten goroutines, so infer restarts on the total and pass its
/// identities to the groups' series.
pub fn segments(samples: &[Sample], options: &TrendOptions) -> Result<Vec<Segment>, TrendError> {
    options.validate()?;
    super::check_samples(samples)?;
    if samples.is_empty() {
        return Ok(Vec::new());
    }
    let mut starts = vec![(0, SegmentStart::First)];
    if samples.iter().any(|s| s.process.is_some()) {
        let mut current = None;
        for (i, s) in samples.iter().enumerate() {
            if let Some(p) = s.process {
                if current.is_some_and(|c| c != p) {
                    starts.push((i, SegmentStart::ProcessChanged));
                }
                current = Some(p);
            }
        }
    } else if options.infer_restarts {
        infer_restarts(samples, options, &mut starts);
    }
    let ends = starts.iter().skip(1).map(|s| s.0).chain([samples.len()]);
    Ok(starts
        .iter()
        .zip(ends)
        .map(|(&(begin, start), end)| Segment {
            range: begin..end,
            start,
        })
        .collect())
}

fn infer_restarts(
    samples: &[Sample],
    options: &TrendOptions,
    starts: &mut Vec<(usize, SegmentStart)>,
) {
    let margin = |level: f64| {
        options
            .restart_min_drop
            .max(options.restart_drop_fraction * level.abs())
    };
    let mut begin = 0;
    // Indices of the window's samples whose values increase from front to back: the front
    // is the window's minimum (the classic sliding-minimum deque, O(1) amortized).
    let mut window: VecDeque<usize> = VecDeque::new();
    for i in 0..samples.len() {
        let s = samples[i];
        while window
            .front()
            .is_some_and(|&j| samples[j].t < s.t - options.cooldown_secs)
        {
            window.pop_front();
        }
        let held_a_full_window = s.t - samples[begin].t >= options.cooldown_secs;
        if held_a_full_window && let Some(&j) = window.front() {
            let floor = samples[j].value;
            let start_level = samples[begin].value;
            if s.value <= floor - margin(floor) && s.value <= start_level + margin(start_level) {
                starts.push((i, SegmentStart::InferredRestart));
                begin = i;
                window.clear();
            }
        }
        while window.back().is_some_and(|&j| samples[j].value >= s.value) {
            window.pop_back();
        }
        window.push_back(i);
    }
}
