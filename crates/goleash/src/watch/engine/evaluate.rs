//! `watch --prometheus`: each evaluation reads the samples Prometheus scraped of every series
//! since the last one, and records them as the targets' samples. A series seen for the first
//! time becomes a target; one that stops being scraped is told gone. A Prometheus that is
//! down or refuses is told once, the watch goes on, and the next answer reads back what the
//! failed ones missed.
//!
//! The evaluation runs on the scheduler's thread: every count comes in its one answer, so
//! the only requests it could overlap with are the suspects' dumps, which wait in the
//! workers' channel meanwhile.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

use super::observe::Observed;
use super::{Engine, WatchOptions, resume, unix_now};
use crate::doc::SCHEMA_VERSION;
use crate::doc::watch::{
    self, Evaluations, Failure, Presence, PrometheusSource, Recovered, SeriesChange, WatchEvent,
};
use crate::history::SampleSource;
use crate::prometheus::Labels;
use crate::watch::fleet::{Evaluation, FleetCounts, SeriesPoints, series_name};
use crate::watch::target::Target;

/// How far back the first evaluation reads: one sample of every series even at the
/// one-minute scrape interval Prometheus defaults to.
const FIRST_RANGE_SECS: f64 = 60.0;

/// The most an evaluation reads back after Prometheus failed: bounds one answer (5,000
/// series scraped every 15 s: 300,000 samples).
const MAX_RANGE_SECS: f64 = 900.0;

/// A series is gone after this many of its scrape intervals (or of the watch's intervals,
/// when longer) without a sample.
const GONE_AFTER_GAPS: f64 = 3.0;

/// The series of a fleet watch and how its evaluations go.
pub(super) struct FleetWatch<'a> {
    counts: &'a FleetCounts,
    /// When the next evaluation is due.
    pub(super) next_due: Instant,
    /// The evaluation read before the watch started: it names the series watched.
    first: Option<Evaluation>,
    /// When the last evaluation Prometheus answered was asked, unix seconds.
    answered_at: f64,
    /// The target of each series.
    index: HashMap<Labels, usize>,
    /// Evaluations that failed in a row.
    failures: u32,
    /// The last message told, so that repeats are not told again.
    last_error: Option<String>,
    /// The problems of the last answer (warnings, start times not read).
    problems: Vec<String>,
    due: u64,
    late: u64,
    max_lag: Duration,
    errors: u64,
    answered: u64,
    query_total: Duration,
    query_max: Duration,
}

impl<'a> FleetWatch<'a> {
    /// Reads the series `counts` matches now: a Prometheus that does not answer, or a
    /// selector that matches nothing, is an error before the watch starts.
    pub(super) fn start(
        counts: &'a FleetCounts,
        options: &WatchOptions,
        at: f64,
    ) -> Result<FleetWatch<'a>> {
        let interval = options.interval;
        let range = FIRST_RANGE_SECS.max(2.0 * interval.as_secs_f64());
        let asked = Instant::now();
        let first = counts
            .evaluate(at, range)
            .map_err(|e| anyhow!("reading {} from Prometheus: {e}", counts.selector))?;
        let query = asked.elapsed();
        if first.series.is_empty() {
            bail!(
                "{} matches no series scraped by {} in the last {range}s\n  hint: check the metric name and labels in Prometheus's /graph",
                counts.selector,
                counts.prometheus.url()
            );
        }
        Ok(FleetWatch {
            counts,
            next_due: Instant::now() + interval,
            first: Some(first),
            answered_at: at,
            index: HashMap::new(),
            failures: 0,
            last_error: None,
            problems: Vec::new(),
            due: 1,
            late: 0,
            max_lag: Duration::ZERO,
            errors: 0,
            answered: 1,
            query_total: query,
            query_max: query,
        })
    }

    /// The names of the series the first evaluation read.
    pub(super) fn names_at_start(&self) -> Vec<String> {
        self.first
            .iter()
            .flat_map(|e| &e.series)
            .map(|s| series_name(&s.labels))
            .collect()
    }

    /// Where the counts come from, as the output says.
    pub(super) fn source(&self) -> PrometheusSource {
        PrometheusSource {
            url: self.counts.prometheus.url().to_string(),
            selector: self.counts.selector.clone(),
            pprof: self.counts.template.text().to_string(),
        }
    }

    /// How the evaluations went, for the summary; `targets` tells how many series are gone.
    pub(super) fn evaluations(&self, targets: &[Target]) -> Evaluations {
        Evaluations {
            source: self.source(),
            due: self.due,
            late: self.late,
            max_lag_secs: self.max_lag.as_secs_f64(),
            errors: self.errors,
            max_query_secs: self.query_max.as_secs_f64(),
            mean_query_secs: self.query_total.as_secs_f64() / self.answered.max(1) as f64,
            gone: targets
                .iter()
                .filter(|t| t.scrapes.as_ref().is_some_and(|s| s.gone))
                .count() as u64,
        }
    }
}

impl Engine<'_> {
    /// Records the evaluation read before the watch started.
    pub(super) fn absorb_first(&mut self, now: Instant) -> Result<()> {
        let Some((first, at)) = self
            .fleet
            .as_mut()
            .and_then(|f| Some((f.first.take()?, f.answered_at)))
        else {
            return Ok(());
        };
        self.absorb(first, at, now, true)?;
        Ok(())
    }

    /// Reads every series' new samples from Prometheus and records them.
    pub(super) fn evaluate(&mut self, now: Instant) -> Result<()> {
        let interval = self.options.interval;
        let Some(fleet) = self.fleet.as_mut() else {
            return Ok(());
        };
        let lag = now.saturating_duration_since(fleet.next_due);
        fleet.due += 1;
        if lag > interval / 2 {
            fleet.late += 1;
        }
        fleet.max_lag = fleet.max_lag.max(lag);
        fleet.next_due += interval;
        if fleet.next_due <= now {
            // Evaluations missed are not run back to back: the next one reads what they
            // would have.
            fleet.next_due = now + interval;
        }
        let at = unix_now();
        let range = (at - fleet.answered_at + interval.as_secs_f64())
            .clamp(2.0 * interval.as_secs_f64(), MAX_RANGE_SECS);
        let asked = Instant::now();
        let answer = fleet.counts.evaluate(at, range);
        let query = asked.elapsed();
        let url = fleet.counts.prometheus.url().to_string();
        let evaluation = match answer {
            Ok(evaluation) => evaluation,
            Err(e) => {
                fleet.failures += 1;
                fleet.errors += 1;
                let message = format!(
                    "reading {} from Prometheus: {e}\n  the watch goes on with the history it has, and reads back what it missed once Prometheus answers",
                    fleet.counts.selector
                );
                if fleet.last_error.as_deref() == Some(message.as_str()) {
                    return Ok(());
                }
                fleet.last_error = Some(message.clone());
                let failures = fleet.failures;
                self.sink.event(&WatchEvent::Error(Failure {
                    schema_version: SCHEMA_VERSION,
                    target: url,
                    t: at,
                    message,
                    failures,
                    retry_in_secs: interval.as_secs_f64(),
                }))?;
                return Ok(());
            }
        };
        fleet.answered += 1;
        fleet.query_total += query;
        fleet.query_max = fleet.query_max.max(query);
        fleet.answered_at = at;
        fleet.last_error = None;
        if fleet.failures > 0 {
            let after_failures = std::mem::take(&mut fleet.failures);
            self.sink.event(&WatchEvent::Recovered(Recovered {
                schema_version: SCHEMA_VERSION,
                target: url,
                t: at,
                after_failures,
            }))?;
        }
        let series = evaluation.series.len() as u64;
        let recording = Instant::now();
        let samples = self.absorb(evaluation, at, now, false)?;
        let record = recording.elapsed();
        self.sink.event(&WatchEvent::Evaluation(watch::Evaluation {
            schema_version: SCHEMA_VERSION,
            t: at,
            lag_secs: lag.as_secs_f64(),
            query_secs: query.as_secs_f64(),
            record_secs: record.as_secs_f64(),
            series,
            samples,
        }))?;
        Ok(())
    }

    /// Records an evaluation asked at `at`; returns how many samples were new.
    fn absorb(
        &mut self,
        evaluation: Evaluation,
        at: f64,
        now: Instant,
        first: bool,
    ) -> Result<u64> {
        let Some(url) = self
            .fleet
            .as_ref()
            .map(|f| f.counts.prometheus.url().to_string())
        else {
            return Ok(0);
        };
        let told = self
            .fleet
            .as_mut()
            .map(|f| std::mem::replace(&mut f.problems, evaluation.problems.clone()))
            .unwrap_or_default();
        // A problem that lasts (a warning on every answer) is told when it starts.
        for problem in evaluation.problems.iter().filter(|p| !told.contains(p)) {
            self.sink.event(&WatchEvent::Error(Failure {
                schema_version: SCHEMA_VERSION,
                target: url.clone(),
                t: at,
                message: problem.clone(),
                failures: 0,
                retry_in_secs: 0.0,
            }))?;
        }
        let mut answered = HashSet::new();
        let mut samples = 0;
        for series in evaluation.series {
            let i = self.series_target(&series.labels, at, now, first)?;
            answered.insert(i);
            let unfilled = match (&self.targets[i].pprof, self.fleet.as_ref()) {
                (None, Some(fleet)) => fleet.counts.pprof(&series.labels).err(),
                _ => None,
            };
            samples += self.record(i, series, at)?;
            if let Some(why) = unfilled
                && self.targets[i].pending_dump.take().is_some()
            {
                self.tell(i, at, format!("no stacks for this suspect: {why}"))?;
            }
            self.schedule(i, now);
        }
        let watch_gap = self.options.interval.as_secs_f64();
        for i in (0..self.targets.len()).filter(|i| !answered.contains(i)) {
            let target = &mut self.targets[i];
            let Some(scrapes) = target.scrapes.as_mut() else {
                continue;
            };
            if scrapes.gone
                || !scrapes.newest.is_finite()
                || at - scrapes.newest <= GONE_AFTER_GAPS * scrapes.gap.max(watch_gap)
            {
                continue;
            }
            scrapes.gone = true;
            let event = WatchEvent::Series(SeriesChange {
                schema_version: SCHEMA_VERSION,
                target: target.base.clone(),
                t: at,
                presence: Presence::Gone,
                last_sample: Some(scrapes.newest),
            });
            self.sink.event(&event)?;
        }
        Ok(samples)
    }

    /// The target of the series with `labels`: a new one for a series not seen before (told
    /// as appeared, unless the watch is starting), continuing its history.
    fn series_target(
        &mut self,
        labels: &Labels,
        at: f64,
        now: Instant,
        first: bool,
    ) -> Result<usize> {
        let Some(fleet) = self.fleet.as_mut() else {
            bail!("a series was recorded by a watch that reads no Prometheus");
        };
        if let Some(&i) = fleet.index.get(labels) {
            return Ok(i);
        }
        let counts = fleet.counts;
        let name = series_name(labels);
        let id = self.store.target(&name, at)?;
        let mut target = Target::scraped(
            name.clone(),
            id,
            now,
            self.options.interval,
            counts.pprof(labels).ok(),
            self.options.leak_profile,
        );
        resume::resume(self.store, &mut target)?;
        let i = self.targets.len();
        self.targets.push(target);
        if let Some(fleet) = self.fleet.as_mut() {
            fleet.index.insert(labels.clone(), i);
        }
        if !first {
            self.sink.event(&WatchEvent::Series(SeriesChange {
                schema_version: SCHEMA_VERSION,
                target: name,
                t: at,
                presence: Presence::Appeared,
                last_sample: None,
            }))?;
        }
        Ok(i)
    }

    /// Records the new samples of one series; returns how many there were.
    fn record(&mut self, i: usize, series: SeriesPoints, at: f64) -> Result<u64> {
        let target = &mut self.targets[i];
        let Some(scrapes) = target.scrapes.as_mut() else {
            return Ok(0);
        };
        if scrapes.gone {
            scrapes.gone = false;
            let event = WatchEvent::Series(SeriesChange {
                schema_version: SCHEMA_VERSION,
                target: target.base.clone(),
                t: at,
                presence: Presence::Appeared,
                last_sample: Some(scrapes.newest),
            });
            self.sink.event(&event)?;
        }
        if let Some((t, v)) = series.not_a_count {
            let target = &mut self.targets[i];
            if let Some(scrapes) = target.scrapes.as_mut()
                && !scrapes.not_a_count_told
            {
                scrapes.not_a_count_told = true;
                self.tell(
                    i,
                    t,
                    format!(
                        "the value {v} at {t} is not a goroutine count (counts are whole numbers ≥ 0): left out"
                    ),
                )?;
            }
        }
        let mut recorded = 0;
        for point in series.points {
            let target = &mut self.targets[i];
            let newest = target.scrapes.as_ref().map_or(f64::INFINITY, |s| s.newest);
            // Samples already read, and any scraped before a dump this watch took itself.
            if point.t <= newest || target.last_t().is_some_and(|last| point.t <= last) {
                continue;
            }
            if let Some(scrapes) = target.scrapes.as_mut() {
                if newest.is_finite() {
                    scrapes.gap = point.t - newest;
                }
                scrapes.newest = point.t;
            }
            self.observe(
                i,
                Observed {
                    t: point.t,
                    goroutines: point.goroutines,
                    source: SampleSource::Prometheus,
                    cost: Duration::ZERO,
                    start_time: point.start_time,
                    created: None,
                    capture: None,
                    dump: None,
                },
            )?;
            recorded += 1;
        }
        Ok(recorded)
    }

    /// Tells a problem of one series (`error`), without counting it as a failed request.
    fn tell(&mut self, i: usize, t: f64, message: String) -> Result<()> {
        let target = &self.targets[i].base;
        let event = WatchEvent::Error(Failure {
            schema_version: SCHEMA_VERSION,
            target: target.clone(),
            t,
            message: format!("{target}: {message}"),
            failures: 0,
            retry_in_secs: 0.0,
        });
        self.sink.event(&event)?;
        Ok(())
    }

    /// A suspect's dump failed (the service went away, its pprof endpoint is elsewhere):
    /// told, and asked again no sooner than a dump's gap; its counts still come from
    /// Prometheus.
    pub(super) fn profile_failed(&mut self, i: usize, t: f64, message: String) -> Result<()> {
        let target = &mut self.targets[i];
        target.stats.errors += 1;
        let gap = Duration::from_secs_f64(2.0 * self.options.trend.cooldown_secs)
            .max(self.options.interval);
        target.dump_not_before = Instant::now() + gap;
        let gone = target.scrapes.as_ref().is_some_and(|s| s.gone);
        if target.pending_dump.is_none() && !gone {
            target.pending_dump = Some("the stacks of a suspect, asked again".to_string());
        }
        let event = WatchEvent::Error(Failure {
            schema_version: SCHEMA_VERSION,
            target: target.base.clone(),
            t,
            message: format!("{}: no stacks for this suspect yet: {message}", target.base),
            failures: 0,
            retry_in_secs: gap.as_secs_f64(),
        });
        self.sink.event(&event)?;
        Ok(())
    }
}
