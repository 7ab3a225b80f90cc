//! What the live view shows of the targets: the document the watch hands its sink.

use std::cmp::Reverse;
use std::time::Duration;

use goleash_core::trend::{TrendOptions, first_floor, last_floor};

use super::target::Target;
use crate::doc::Site;
use crate::doc::watch::{LiveDoc, LiveStack, LiveTarget, Settings};
use crate::history;

/// Counts of the total shown per target, the latest.
const RECENT_COUNTS: usize = 40;
/// Stacks shown per target.
const STACKS: usize = 3;

/// The view of `targets` after `elapsed`: those that rise first, then the largest counts, no
/// more than `room` of them.
pub fn doc(
    targets: &[Target],
    settings: &history::Settings,
    trend: &TrendOptions,
    elapsed: Duration,
    room: usize,
) -> LiveDoc {
    let mut order: Vec<&Target> = targets.iter().collect();
    order.sort_by_key(|t| (!t.total.rising(), Reverse(t.current())));
    LiveDoc {
        elapsed_secs: elapsed.as_secs_f64(),
        settings: Settings::from(settings),
        watched: targets.len(),
        targets: order
            .into_iter()
            .take(room)
            .map(|t| live_target(t, settings, trend))
            .collect(),
    }
}

fn live_target(target: &Target, settings: &history::Settings, trend: &TrendOptions) -> LiveTarget {
    // Growth of the level each stack falls back to, not of its peaks: bursts come and go.
    let mut growing: Vec<LiveStack> = target
        .groups
        .values()
        .filter_map(|g| {
            let points = target.group_points(g);
            let before = first_floor(&points, trend)?;
            Some(LiveStack {
                rising: g.status.rising(),
                verdict: g.info.verdict,
                goroutines: g.current(),
                delta: last_floor(&points, trend) as i64 - before as i64,
                blocking: g.info.blocking,
                site: g.info.site.as_ref().map(Site::from),
            })
        })
        .filter(|g| g.rising || g.delta as f64 >= settings.min_rise)
        .collect();
    growing.sort_by_key(|g| (!g.rising, Reverse(g.delta)));
    growing.truncate(STACKS);
    LiveTarget {
        target: target.base.clone(),
        goroutines: target.current(),
        rate_per_minute: target
            .total
            .slope_per_minute()
            .or_else(|| recent_rate(target)),
        recent: target
            .samples
            .iter()
            .rev()
            .take(RECENT_COUNTS)
            .rev()
            .map(|&(_, v)| v)
            .collect(),
        trend: target.total,
        error: target.last_error.clone(),
        growing,
    }
}

/// The rate over the last minute of samples, goroutines per minute.
fn recent_rate(target: &Target) -> Option<f64> {
    let &(t1, v1) = target.samples.back()?;
    let &(t0, v0) = target.samples.iter().find(|(t, _)| *t >= t1 - 60.0)?;
    (t1 - t0 >= 1.0).then(|| (f64::from(v1) - f64::from(v0)) / (t1 - t0) * 60.0)
}
