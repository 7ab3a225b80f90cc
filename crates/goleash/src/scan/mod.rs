//! `goleash scan`: read the goroutine count of every series of a fleet from Prometheus,
//! judge each with the trend engine, rank them, and name the leaking stacks of the suspects.
//!
//! Counts come from Prometheus only; the services are asked for nothing but the profiles of
//! the few instances whose counts rise ([`stacks`]).

pub mod stacks;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::{Result, bail};
use goleash_core::trend::{self, Direction as TrendDirection, Sample, SegmentStart, TrendOptions};

use crate::doc::scan::{Direction, Instance};
use crate::prometheus::{ApiError, Labels, MAX_POINTS_PER_SERIES, Prometheus, RangeResult};

/// Samples asked for per range query, over all series: bounds the JSON Prometheus sends
/// and goleash parses at once (about 30 MB) however large the fleet.
const SAMPLES_PER_QUERY: usize = 1_000_000;

/// Points of a rising series kept in the document, for drawing it.
const COUNTS_KEPT: usize = 200;

/// What to read.
pub struct Query<'a> {
    /// The series selector, e.g. `go_goroutines{job="api"}`.
    pub selector: &'a str,
    /// First point, unix seconds.
    pub start: f64,
    /// Last point, unix seconds.
    pub end: f64,
    /// Seconds between points.
    pub step: f64,
}

/// The counts of every series on one grid of times, `start + i × step`.
pub struct Fleet {
    /// Every series.
    pub series: Vec<Series>,
    /// Range queries made.
    pub queries: usize,
    /// What went wrong, with what was salvaged.
    pub problems: Vec<String>,
}

/// One series' points.
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// One per grid time.
    counts: Counts,
    /// `(grid index, process_start_time_seconds)` from the first grid time of each process.
    starts: Vec<(u32, f64)>,
    /// A value that is not a count, and where.
    not_a_count: Option<(f64, f64)>,
}

impl Series {
    /// A series with no point yet, on a grid of `len` times.
    fn empty(labels: Labels, len: usize) -> Series {
        Series {
            labels,
            counts: Counts::new(len),
            starts: Vec::new(),
            not_a_count: None,
        }
    }
}

/// A series' counts on the grid. Nearly every count fits in 16 bits, and stored so a week
/// at one minute for 10,000 series is 200 MB; a series is widened to `f32` (exact up to
/// 16 million) at its first larger count, which a leak of a few hours can reach.
enum Counts {
    Narrow(Vec<u16>),
    Wide(Vec<f32>),
}

/// Where a narrow series has no point.
const NARROW_MISSING: u16 = u16::MAX;

impl Counts {
    fn new(len: usize) -> Counts {
        Counts::Narrow(vec![NARROW_MISSING; len])
    }

    fn len(&self) -> usize {
        match self {
            Counts::Narrow(counts) => counts.len(),
            Counts::Wide(counts) => counts.len(),
        }
    }

    /// `count` (a whole number ≥ 0) at grid index `at`.
    fn set(&mut self, at: usize, count: f64) {
        match self {
            Counts::Narrow(counts) if count < f64::from(NARROW_MISSING) => {
                counts[at] = count as u16
            }
            Counts::Narrow(counts) => {
                let mut wide: Vec<f32> = counts
                    .iter()
                    .map(|&c| {
                        if c == NARROW_MISSING {
                            f32::NAN
                        } else {
                            f32::from(c)
                        }
                    })
                    .collect();
                wide[at] = count as f32;
                *self = Counts::Wide(wide);
            }
            Counts::Wide(counts) => counts[at] = count as f32,
        }
    }

    fn get(&self, at: usize) -> Option<f64> {
        match self {
            Counts::Narrow(counts) => (counts[at] != NARROW_MISSING).then(|| f64::from(counts[at])),
            Counts::Wide(counts) => (!counts[at].is_nan()).then(|| f64::from(counts[at])),
        }
    }
}

impl Query<'_> {
    fn grid_len(&self) -> usize {
        ((self.end - self.start) / self.step).floor() as usize + 1
    }

    fn time(&self, index: usize) -> f64 {
        self.start + index as f64 * self.step
    }

    fn index(&self, t: f64) -> Option<usize> {
        let i = ((t - self.start) / self.step).round();
        (i >= 0.0 && (i as usize) < self.grid_len()).then_some(i as usize)
    }

    /// The grid cut into runs of points, each run one range query: under Prometheus's
    /// points-per-series limit, and under [`SAMPLES_PER_QUERY`] over `series` series.
    fn chunks(&self, series: usize) -> Vec<(usize, usize)> {
        let per_chunk = (SAMPLES_PER_QUERY / series.max(1)).clamp(1, MAX_POINTS_PER_SERIES - 1);
        let len = self.grid_len();
        (0..len)
            .step_by(per_chunk)
            .map(|a| (a, (a + per_chunk).min(len)))
            .collect()
    }
}

/// A plain selector's metric name and its matchers (`{…}` or empty); None for anything
/// else (an expression, a selector without a leading name).
fn split_selector(selector: &str) -> Option<(&str, &str)> {
    let selector = selector.trim();
    let name_len = selector
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(selector.len());
    if name_len == 0 {
        return None;
    }
    let rest = selector[name_len..].trim_start();
    if !(rest.is_empty() || rest.starts_with('{') && rest.ends_with('}')) {
        return None;
    }
    Some((&selector[..name_len], rest))
}

/// The selector for `process_start_time_seconds` of the same targets: `selector` with its
/// metric name replaced. None when the selector has no leading metric name.
pub fn start_time_selector(selector: &str) -> Option<String> {
    split_selector(selector).map(|(_, matchers)| format!("process_start_time_seconds{matchers}"))
}

/// Refuses a selector that cannot be a goroutine count: empty, or of a metric its targets
/// declare a counter, histogram or summary.
pub fn check_selector(prometheus: &Prometheus, selector: &str) -> Result<()> {
    if selector.trim().is_empty() {
        bail!(
            "the selector is empty\n  hint: --match go_goroutines, or e.g. 'go_goroutines{{job=\"api\"}}'"
        );
    }
    let declared = split_selector(selector)
        .and_then(|(metric, _)| Some((metric, prometheus.metric_type(metric)?)));
    if let Some((metric, kind)) = declared
        && matches!(kind.as_str(), "counter" | "histogram" | "summary")
    {
        bail!(
            "{metric} is a {kind}, not a goroutine count: its targets declare it so\n  hint: --match go_goroutines, or the gauge your services export their goroutine count as"
        );
    }
    Ok(())
}

/// Reads every series `query.selector` matches. Fails only when nothing could be read:
/// a failed chunk or a missing start time becomes a problem, and the rest is kept.
pub fn read(prometheus: &Prometheus, query: &Query<'_>) -> Result<Fleet> {
    check_selector(prometheus, query.selector)?;
    let mut problems = Vec::new();
    let (labels, warnings) = prometheus
        .series(query.selector, query.start, query.end)
        .map_err(|e| anyhow::anyhow!("listing the series of {}: {e}", query.selector))?;
    problems.extend(
        warnings
            .into_iter()
            .map(|w| format!("Prometheus warns: {w}")),
    );
    if labels.is_empty() {
        bail!(
            "{} matches no series in {} in the {}s before {}\n  hint: check the metric name and labels in Prometheus's /graph, and --range",
            query.selector,
            prometheus.url(),
            query.end - query.start,
            crate::render::text::report::utc(query.end)
        );
    }
    let len = query.grid_len();
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(labels.len());
    let mut series: Vec<Series> = Vec::with_capacity(labels.len());
    for l in labels {
        index.insert(l.clone(), series.len());
        series.push(Series::empty(l, len));
    }
    let chunks = query.chunks(series.len());
    let mut queries = chunks.len();
    let mut read_any = false;
    let failed = read_chunks(prometheus, query, &chunks, |result| {
        read_any = true;
        problems.extend(
            result
                .warnings
                .into_iter()
                .map(|w| format!("Prometheus warns: {w}")),
        );
        for s in result.series {
            let i = match index.get(&s.labels) {
                Some(&i) => i,
                // A series that appeared after the listing.
                None => {
                    index.insert(s.labels.clone(), series.len());
                    series.push(Series::empty(s.labels.clone(), len));
                    series.len() - 1
                }
            };
            let target = &mut series[i];
            for (t, v) in s.points {
                let Some(at) = query.index(t) else { continue };
                if v.is_nan() {
                    continue;
                }
                if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0) {
                    // The earliest, whichever chunk came first.
                    if target.not_a_count.is_none_or(|(first, _)| t < first) {
                        target.not_a_count = Some((t, v));
                    }
                    continue;
                }
                target.counts.set(at, v);
            }
        }
    });
    problems.extend(
        failed
            .iter()
            .map(|&((a, b), ref e)| chunk_problem(query, a, b, e)),
    );
    if !read_any {
        bail!(
            "no range query of {} succeeded: {}",
            query.selector,
            problems.last().map_or("", String::as_str)
        );
    }
    read_starts(prometheus, query, &mut series, &mut problems, &mut queries);
    Ok(Fleet {
        series,
        queries,
        problems,
    })
}

/// Range queries in flight at once. Prometheus answers one on about one core while
/// goleash decodes another's answer on the other: two keep both busy.
const QUERIES_IN_FLIGHT: usize = 2;

/// `grid.selector` over each chunk of `grid`, asked [`QUERIES_IN_FLIGHT`] at a time. `take`
/// gets every answer on the calling thread, in the order they come; the chunks that failed
/// come back in grid order.
fn read_chunks(
    prometheus: &Prometheus,
    grid: &Query<'_>,
    chunks: &[(usize, usize)],
    mut take: impl FnMut(RangeResult),
) -> Vec<((usize, usize), ApiError)> {
    let next = AtomicUsize::new(0);
    // Answers wait for `take` one at a time, so no more than QUERIES_IN_FLIGHT + 2 are
    // in memory however slow `take` is.
    let (sender, answers) = mpsc::sync_channel(1);
    let mut failed = std::thread::scope(|scope| {
        for _ in 0..QUERIES_IN_FLIGHT.min(chunks.len()) {
            let (sender, next) = (sender.clone(), &next);
            scope.spawn(move || {
                while let Some(&(a, b)) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let answer = prometheus.query_range(
                        grid.selector,
                        grid.time(a),
                        grid.time(b - 1),
                        grid.step,
                    );
                    if sender.send(((a, b), answer)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut failed = Vec::new();
        for (chunk, answer) in answers {
            match answer {
                Ok(result) => take(result),
                Err(e) => failed.push((chunk, e)),
            }
        }
        failed
    });
    failed.sort_by_key(|&(chunk, _)| chunk);
    failed
}

fn chunk_problem(query: &Query<'_>, a: usize, b: usize, e: &ApiError) -> String {
    format!(
        "the points from {} to {} are missing: {e}",
        query.time(a),
        query.time(b - 1)
    )
}

/// `process_start_time_seconds` is read on a coarser grid than the counts: its value is
/// the start time itself, so the process alive at each point places its own start
/// exactly. A process that started and died between two points goes unseen (its counts
/// then count as its predecessor's, where a count reset can still mark its start), so
/// the points are at most an hour apart, or a hundredth of the range if that is less:
/// over a week, a sixtieth of the samples a point a minute would make Prometheus read.
const START_POINTS_SECS: f64 = 3600.0;
/// See [`START_POINTS_SECS`].
const START_POINTS_PER_RANGE: f64 = 100.0;

/// `process_start_time_seconds` of the same targets, matched to the counts by their labels
/// without `__name__`: it tells restarts apart where the counts alone could not.
fn read_starts(
    prometheus: &Prometheus,
    query: &Query<'_>,
    series: &mut [Series],
    problems: &mut Vec<String>,
    queries: &mut usize,
) {
    let Some(selector) = start_time_selector(query.selector) else {
        problems.push(format!(
            "{} has no metric name to swap for process_start_time_seconds: restarts are inferred from the counts",
            query.selector
        ));
        return;
    };
    let key = |labels: &Labels| {
        let mut l = labels.clone();
        l.remove("__name__");
        l
    };
    let index: HashMap<Labels, usize> = series
        .iter()
        .enumerate()
        .map(|(i, s)| (key(&s.labels), i))
        .collect();
    // The last point at the end of the range, where the process judged is alive.
    let step = ((query.end - query.start) / START_POINTS_PER_RANGE)
        .min(START_POINTS_SECS)
        .max(query.step);
    let points = Query {
        selector: &selector,
        start: query.end - ((query.end - query.start) / step).ceil() * step,
        end: query.end,
        step,
    };
    let mut seen: Vec<Vec<f64>> = vec![Vec::new(); series.len()];
    let chunks = points.chunks(series.len());
    *queries += chunks.len();
    let failed = read_chunks(prometheus, &points, &chunks, |result| {
        for s in result.series {
            let Some(&i) = index.get(&key(&s.labels)) else {
                continue;
            };
            seen[i].extend(s.points.iter().map(|&(_, v)| v).filter(|v| v.is_finite()));
        }
    });
    problems.extend(failed.iter().map(|&((a, b), ref e)| {
        format!(
            "process_start_time_seconds: {}; restarts there are inferred from the counts",
            chunk_problem(&points, a, b, e)
        )
    }));
    let len = query.grid_len();
    for (series, mut starts) in series.iter_mut().zip(seen) {
        starts.sort_by(f64::total_cmp);
        starts.dedup();
        series.starts = starts
            .into_iter()
            .filter_map(|start| {
                let at = ((start - query.start) / query.step).ceil().max(0.0) as usize;
                (at < len).then_some((at as u32, start))
            })
            .collect();
    }
}

/// Judges every series of `fleet` and ranks them, most evidence of a leak first: rising
/// by p-value, then by slope; then flat, falling, insufficient and not-a-count series,
/// largest count first.
pub fn judge(fleet: &Fleet, query: &Query<'_>, options: &TrendOptions) -> Vec<Instance> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = fleet.series.len().div_ceil(threads).max(1);
    let mut instances: Vec<Instance> = std::thread::scope(|scope| {
        let handles: Vec<_> = fleet
            .series
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|s| judge_one(s, query, options))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("judging a series does not panic"))
            .collect()
    });
    instances.sort_by(|a, b| {
        let order = |d: Direction| match d {
            Direction::Rising => 0,
            Direction::Flat => 1,
            Direction::Falling => 2,
            Direction::Insufficient => 3,
            Direction::NotACount => 4,
        };
        order(a.direction)
            .cmp(&order(b.direction))
            .then(
                a.p_value
                    .unwrap_or(1.0)
                    .total_cmp(&b.p_value.unwrap_or(1.0)),
            )
            .then(
                b.slope_per_hour
                    .unwrap_or(0.0)
                    .total_cmp(&a.slope_per_hour.unwrap_or(0.0)),
            )
            .then(b.last.unwrap_or(0.0).total_cmp(&a.last.unwrap_or(0.0)))
            .then_with(|| a.labels.cmp(&b.labels))
    });
    for (i, instance) in instances.iter_mut().enumerate() {
        instance.rank = i + 1;
    }
    instances
}

fn judge_one(series: &Series, query: &Query<'_>, options: &TrendOptions) -> Instance {
    let mut samples = Vec::new();
    let mut starts = series.starts.iter().peekable();
    let mut process = None;
    for i in 0..series.counts.len() {
        while let Some(&&(at, start)) = starts.peek() {
            if at as usize > i {
                break;
            }
            process = Some(start.to_bits());
            starts.next();
        }
        if let Some(value) = series.counts.get(i) {
            samples.push(Sample {
                t: query.time(i),
                value,
                process,
            });
        }
    }
    let last = samples.last().map(|s| s.value);
    let max = samples.iter().map(|s| s.value).reduce(f64::max);
    let mut instance = Instance {
        rank: 0,
        labels: series.labels.clone(),
        direction: Direction::Insufficient,
        p_value: None,
        slope_per_hour: None,
        reason: None,
        samples: samples.len(),
        restarts: 0,
        since: samples.first().map(|s| s.t),
        last,
        max,
        counts: None,
        stacks: None,
    };
    if let Some((t, v)) = series.not_a_count {
        instance.direction = Direction::NotACount;
        instance.reason = Some(format!(
            "the value {v} at {t} is not a goroutine count (counts are whole numbers ≥ 0)"
        ));
        return instance;
    }
    let analysis = match trend::analyze(&samples, options) {
        Ok(analysis) => analysis,
        Err(e) => {
            instance.reason = Some(e.to_string());
            return instance;
        }
    };
    instance.restarts = analysis
        .trends
        .iter()
        .filter(|t| t.segment.start != SegmentStart::First)
        .count();
    let current = analysis.current();
    instance.since = Some(samples[current.segment.range.start].t);
    instance.slope_per_hour = current.theil_sen.map(|ts| ts.slope_per_minute() * 60.0);
    (instance.direction, instance.p_value) = match current.direction {
        TrendDirection::Rising { p_value } => (Direction::Rising, Some(p_value)),
        TrendDirection::Falling { p_value } => (Direction::Falling, Some(p_value)),
        TrendDirection::Flat => (Direction::Flat, None),
        TrendDirection::Insufficient(shortfall) => {
            instance.reason = Some(match shortfall {
                trend::Shortfall::Samples { have, need } => {
                    format!("{have} points after warm-up in the newest process, {need} needed")
                }
                trend::Shortfall::Windows { have, need } => format!(
                    "{have} cool-down windows after warm-up in the newest process, {need} needed: read a longer --range"
                ),
            });
            (Direction::Insufficient, None)
        }
    };
    if instance.direction == Direction::Rising {
        instance.counts = Some(thin(&samples));
    }
    instance
}

/// At most [`COUNTS_KEPT`] points: each the first time and the median count of a run.
fn thin(samples: &[Sample]) -> Vec<[f64; 2]> {
    let run = samples.len().div_ceil(COUNTS_KEPT).max(1);
    samples
        .chunks(run)
        .map(|part| {
            let mut values: Vec<f64> = part.iter().map(|s| s.value).collect();
            values.sort_by(f64::total_cmp);
            [part[0].t, values[values.len() / 2]]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_selector_keeps_the_matchers() {
        assert_eq!(
            start_time_selector(r#"go_goroutines{job="api"}"#).as_deref(),
            Some(r#"process_start_time_seconds{job="api"}"#)
        );
        assert_eq!(
            start_time_selector("go_goroutines").as_deref(),
            Some("process_start_time_seconds")
        );
        assert_eq!(start_time_selector(r#"{__name__="go_goroutines"}"#), None);
        assert_eq!(start_time_selector("sum(go_goroutines)"), None);
    }

    #[test]
    fn a_count_too_large_for_16_bits_widens_the_series_and_keeps_its_points() {
        let mut counts = Counts::new(4);
        counts.set(0, 12.0);
        counts.set(1, 65_534.0);
        assert!(matches!(counts, Counts::Narrow(_)));
        counts.set(3, 65_535.0);
        assert!(matches!(counts, Counts::Wide(_)));
        counts.set(2, 0.0);
        let read: Vec<Option<f64>> = (0..counts.len()).map(|i| counts.get(i)).collect();
        assert_eq!(
            read,
            [Some(12.0), Some(65_534.0), Some(0.0), Some(65_535.0)]
        );
        assert_eq!(Counts::new(2).get(1), None);
    }

    #[test]
    fn chunks_stay_under_the_points_limit_and_cover_the_grid() {
        let query = Query {
            selector: "go_goroutines",
            start: 0.0,
            end: 7.0 * 86400.0,
            step: 30.0,
        };
        let len = query.grid_len();
        assert_eq!(len, 20161);
        for series in [1, 3, 10_000] {
            let chunks = query.chunks(series);
            assert_eq!(chunks.first().unwrap().0, 0);
            assert_eq!(chunks.last().unwrap().1, len);
            for pair in chunks.windows(2) {
                assert_eq!(pair[0].1, pair[1].0);
            }
            for &(a, b) in &chunks {
                assert!(b - a < MAX_POINTS_PER_SERIES);
                assert!((b - a) * series <= SAMPLES_PER_QUERY.max(series));
            }
        }
        assert_eq!(query.chunks(1).len(), 2);
    }
}
