//! The scheduler: one thread that owns the targets' state and the history database, hands
//! requests to the workers when they come due, and turns what comes back into samples,
//! trends, verdicts and alerts.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use goleash_core::classify::{self, AssessOptions, Assessment, Growth, SourceLookup, Verdict};
use goleash_core::trend::TrendOptions;
use goleash_core::{Capture, Signature, Snapshot};

use super::fetch::{self, Done, Fetched, Job, JobKind, Timeouts};
use super::judge::{Status, first_floor, judge, last_floor};
use super::sources::CountSource;
use super::target::{
    GroupInfo, GroupState, MAX_PROFILES, MAX_SAMPLES, Probe, Target, count_says_restart,
};
use super::view::Sink;
use crate::collect::HttpOptions;
use crate::history::{
    AlertRecord, AlertVerdict, Creator, DumpRecord, DumpRole, Frame, GroupMeta, Profile, Site,
    VerdictUpdate,
};
use crate::render::json::{SCHEMA_VERSION, SiteJson};
use crate::render::watch_json::{
    AlertJson, DumpJson, ErrorJson, GroupCountJson, RecoveredJson, RestartJson, SampleJson,
    ScheduleJson, SettingsJson, StartJson, SummaryJson, TargetSummaryJson, TrendJson, WatchEvent,
};
use crate::store::{ProcessRef, SampleWrite, Store};

/// Requests may cost a target this fraction of what the watch waits between them: the next
/// profile comes no sooner than 200 times the last one took, so profiling stays under
/// 0.5 % of one core of the target whatever its size (a `debug=0` profile of 100k goroutines
/// costs about 170 ms: one every 34 s).
pub const COST_FACTOR: f64 = 200.0;

/// The longest pause between attempts at an unreachable target.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How a watch runs.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Base sampling interval.
    pub interval: Duration,
    /// Stop after this long; `None`: until interrupted.
    pub duration: Option<Duration>,
    /// The trend thresholds.
    pub trend: TrendOptions,
    /// Requests in flight at once, over all targets.
    pub concurrency: usize,
    /// Ask for the goroutineleak profile for evidence dumps.
    pub leak_profile: bool,
    /// Request timeouts.
    pub timeouts: Timeouts,
    /// The targets are simulated (`goleash demo`).
    pub simulated: bool,
}

impl WatchOptions {
    /// The settings as the history and the output record them.
    pub fn settings(&self) -> SettingsJson {
        let defaults = TrendOptions::default();
        SettingsJson {
            interval_secs: self.interval.as_secs_f64(),
            warmup_secs: self.trend.warmup_secs,
            cooldown_secs: self.trend.cooldown_secs,
            min_windows: self.trend.min_windows,
            min_rise: self.trend.min_rise,
            compressed: self.trend.warmup_secs != defaults.warmup_secs
                || self.trend.cooldown_secs != defaults.cooldown_secs
                || self.trend.min_windows != defaults.min_windows
                || self.trend.min_rise != defaults.min_rise,
        }
    }
}

/// How a watch ended.
pub struct Ended {
    /// The summary event, as printed.
    pub summary: SummaryJson,
    /// Whether any target answered at all.
    pub any_sample: bool,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Watches `bases` (pprof base URLs) until `options.duration` passes or `stop` is set.
pub fn run(
    bases: &[String],
    options: &WatchOptions,
    store: &mut Store,
    http: &HttpOptions,
    source: &dyn SourceLookup,
    sink: &mut dyn Sink,
    stop: &AtomicBool,
) -> Result<Ended> {
    options.trend.validate().context("trend options")?;
    let settings = options.settings();
    let started_at = unix_now();
    let session = store.begin_session(
        started_at,
        &serde_json::to_string(&settings)?,
        options.simulated,
    )?;
    let now = Instant::now();
    let mut targets = Vec::with_capacity(bases.len());
    for base in bases {
        let id = store.target(base, started_at)?;
        let mut target = Target::new(
            base.clone(),
            id,
            now,
            options.interval,
            options.leak_profile,
        );
        resume(store, &mut target)?;
        targets.push(target);
    }
    sink.event(&WatchEvent::Start(StartJson {
        schema_version: SCHEMA_VERSION,
        targets: bases.to_vec(),
        db: store.path().display().to_string(),
        settings: settings.clone(),
        simulated: options.simulated,
    }))?;

    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    fetch::start(
        options.concurrency.clamp(1, bases.len().max(1)),
        fetch::clients(bases.len(), http),
        options.timeouts,
        job_rx,
        done_tx,
    );
    let mut engine = Engine {
        options,
        settings,
        store,
        session,
        targets,
        sink,
        source,
        queue: BinaryHeap::new(),
        jobs: job_tx,
    };
    for i in 0..engine.targets.len() {
        engine.schedule(i, now);
    }
    let started = now;
    let deadline = options.duration.map(|d| now + d);
    let refresh_every = Duration::from_millis(500);
    let mut next_refresh = now;
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d) {
            break;
        }
        engine.dispatch_due(now);
        if engine.sink.wants_refresh() && now >= next_refresh {
            engine
                .sink
                .refresh(&engine.targets, &engine.settings, now - started)?;
            next_refresh = now + refresh_every;
        }
        let mut wake = now + Duration::from_millis(200);
        if let Some(Reverse((due, _, _))) = engine.queue.peek() {
            wake = wake.min(*due);
        }
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        if engine.sink.wants_refresh() {
            wake = wake.min(next_refresh);
        }
        match done_rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(done) => {
                engine.handle(done)?;
                while let Ok(done) = done_rx.try_recv() {
                    engine.handle(done)?;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => bail!("every watch worker stopped"),
        }
    }
    let stopped_at = unix_now();
    for target in &engine.targets {
        if let (Some(process), Some((sample, t, body))) = (target.process, &target.latest_profile)
            && *t > target.latest_stored_t
        {
            engine
                .store
                .keep_latest(target.id, process, *sample, *t, body)?;
        }
    }
    engine.store.end_session(session, stopped_at)?;
    let summary = engine.summary(stopped_at - started_at);
    let any_sample = engine.targets.iter().any(|t| t.stats.samples > 0);
    engine
        .sink
        .event(&WatchEvent::Summary(Box::new(summary.clone())))?;
    Ok(Ended {
        summary,
        any_sample,
    })
}

/// Continues a target's history: its latest process and series.
fn resume(store: &mut Store, target: &mut Target) -> Result<()> {
    let resume = store.resume(target.id, MAX_SAMPLES, MAX_PROFILES)?;
    let Some(process) = resume.process else {
        return Ok(());
    };
    target.process = Some(process.id);
    target.start_time = process.start_time;
    target.first_profile_stored = !resume.profile_times.is_empty();
    for &(t, v) in &resume.samples {
        target.push_sample(t, v);
    }
    target.profile_t = resume.profile_times.iter().copied().collect();
    for row in &resume.groups {
        target.described.insert(row.meta.signature);
    }
    for (signature, counts) in resume.group_counts {
        let Some(row) = resume.groups.iter().find(|g| g.meta.signature == signature) else {
            continue;
        };
        let meta = &row.meta;
        target.groups.insert(
            signature,
            GroupState {
                counts: counts
                    .iter()
                    .map(|&c| u32::try_from(c).unwrap_or(u32::MAX))
                    .collect::<VecDeque<_>>(),
                info: GroupInfo {
                    blocking: meta.blocking,
                    site: meta.site.clone(),
                    verdict: meta.verdict,
                    why: meta.why.clone(),
                    pattern: meta.pattern.clone(),
                    hint: meta.hint.clone(),
                },
                status: Status::Empty,
            },
        );
    }
    target.alerted = resume.alerted.into_iter().collect();
    Ok(())
}

struct Engine<'a> {
    options: &'a WatchOptions,
    settings: SettingsJson,
    store: &'a mut Store,
    session: i64,
    targets: Vec<Target>,
    sink: &'a mut dyn Sink,
    source: &'a dyn SourceLookup,
    /// (due, target, generation): the next request of each target not in flight.
    queue: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    jobs: mpsc::Sender<Job>,
}

/// What one answer of a target carries beyond the count.
struct Observed<'c> {
    t: f64,
    goroutines: u64,
    source: &'static str,
    cost: Duration,
    start_time: Option<f64>,
    /// The parsed profile or dump, with its body.
    capture: Option<(&'c Capture, &'c [u8])>,
    /// For dumps: which profile, and why it was taken.
    dump: Option<(Profile, String)>,
}

/// Everything one observation writes, built before the transaction.
#[derive(Default)]
struct Pending {
    metas: Vec<GroupMeta>,
    counts: Vec<(Signature, u64)>,
    verdicts: Vec<VerdictUpdate>,
    dumps: Vec<DumpRecord>,
    alerts: Vec<(AlertRecord, AlertJson)>,
    dump_event: Option<DumpJson>,
}

impl Engine<'_> {
    /// The earliest moment target `i` needs a request.
    fn due(&self, i: usize, now: Instant) -> Instant {
        let t = &self.targets[i];
        let regular = if t.probe == Probe::Nothing {
            t.next_sample.max(t.next_profile)
        } else {
            t.next_sample
        };
        match &t.pending_dump {
            Some(_) => regular.min(t.dump_not_before.max(now)),
            None => regular,
        }
    }

    fn schedule(&mut self, i: usize, now: Instant) {
        let due = self.due(i, now);
        let target = &mut self.targets[i];
        target.generation += 1;
        self.queue.push(Reverse((due, i, target.generation)));
    }

    fn dispatch_due(&mut self, now: Instant) {
        while let Some(&Reverse((due, i, generation))) = self.queue.peek() {
            if due > now {
                break;
            }
            self.queue.pop();
            let target = &self.targets[i];
            if generation != target.generation || target.in_flight {
                continue;
            }
            self.dispatch(i, now);
        }
    }

    fn dispatch(&mut self, i: usize, now: Instant) {
        let interval = self.options.interval;
        let regular_due = {
            let t = &self.targets[i];
            if t.probe == Probe::Nothing {
                t.next_sample.max(t.next_profile)
            } else {
                t.next_sample
            }
        };
        let target = &mut self.targets[i];
        let kind = if target.pending_dump.is_some() && now >= target.dump_not_before {
            JobKind::Dump {
                reason: target.pending_dump.take().unwrap_or_default(),
            }
        } else if now >= regular_due {
            let lag = now - regular_due;
            target.stats.due += 1;
            if lag > interval / 2 {
                target.stats.late += 1;
            }
            target.stats.max_lag = target.stats.max_lag.max(lag);
            target.next_sample = regular_due + target.sample_gap;
            // The count source is found first: it tells which process answers.
            let probed = target.probe != Probe::Unknown;
            if probed && (target.probe == Probe::Nothing || now >= target.next_profile) {
                target.profile_dispatched = regular_due;
                JobKind::Profile {
                    start_time: target.probe == Probe::Source(CountSource::Metrics),
                }
            } else {
                JobKind::Count(match target.probe {
                    Probe::Source(source) => Some(source),
                    _ => None,
                })
            }
        } else {
            // Woken for a dump that is not allowed yet.
            self.schedule(i, now);
            return;
        };
        target.in_flight = true;
        let job = Job {
            target: i,
            base: target.base.clone(),
            kind,
            leak_profile: target.leak_profile,
        };
        // The workers outlive the loop; a send fails only if they all panicked, which
        // the next receive reports.
        let _ = self.jobs.send(job);
    }

    fn handle(&mut self, done: Done) -> Result<()> {
        let i = done.target;
        self.targets[i].in_flight = false;
        let now = Instant::now();
        let interval = self.options.interval;
        let factor = |cost: Duration| cost.mul_f64(COST_FACTOR).max(interval);
        match done.fetched {
            Fetched::Failed {
                message,
                refused,
                reprobe,
            } => self.failed(i, done.t, message, refused, reprobe, now)?,
            Fetched::NoCountSource => {
                let target = &mut self.targets[i];
                target.probe = Probe::Nothing;
                target.next_profile = now;
            }
            Fetched::Count { source, reading } => {
                let target = &mut self.targets[i];
                target.probe = Probe::Source(source);
                target.sample_gap = factor(target.count_costs.push(done.cost));
                self.observe(
                    i,
                    Observed {
                        t: done.t,
                        goroutines: reading.goroutines,
                        source: source.name(),
                        cost: done.cost,
                        start_time: reading.start_time,
                        capture: None,
                        dump: None,
                    },
                )?;
            }
            Fetched::Profile {
                body,
                capture,
                start_time,
            } => {
                let target = &mut self.targets[i];
                target.profile_gap = factor(target.profile_costs.push(done.cost));
                // From when it was due, so that profiles keep to the samples' grid.
                target.next_profile = target.profile_dispatched + target.profile_gap;
                if target.probe == Probe::Nothing {
                    target.sample_gap = target.profile_gap;
                }
                let goroutines = capture.snapshots.last().map_or(0, |s| s.total);
                self.observe(
                    i,
                    Observed {
                        t: done.t,
                        goroutines,
                        source: "profile",
                        cost: done.cost,
                        start_time,
                        capture: Some((&capture, &body)),
                        dump: None,
                    },
                )?;
            }
            Fetched::Dump {
                body,
                capture,
                profile,
                reason,
                no_leak_profile,
            } => {
                let target = &mut self.targets[i];
                if no_leak_profile {
                    target.leak_profile = false;
                }
                target.dump_not_before = now
                    + done.cost.mul_f64(COST_FACTOR).max(Duration::from_secs_f64(
                        2.0 * self.options.trend.cooldown_secs,
                    ));
                target.stats.dumps += 1;
                let goroutines = capture.snapshots.last().map_or(0, |s| s.total);
                self.observe(
                    i,
                    Observed {
                        t: done.t,
                        goroutines,
                        source: "dump",
                        cost: done.cost,
                        start_time: None,
                        capture: Some((&capture, &body)),
                        dump: Some((profile, reason)),
                    },
                )?;
            }
        }
        self.schedule(i, now);
        Ok(())
    }

    fn failed(
        &mut self,
        i: usize,
        t: f64,
        message: String,
        refused: bool,
        reprobe: bool,
        now: Instant,
    ) -> Result<()> {
        let interval = self.options.interval;
        let target = &mut self.targets[i];
        target.failures += 1;
        target.stats.errors += 1;
        target.refused |= refused;
        if reprobe {
            target.probe = Probe::Unknown;
        }
        let backoff = interval
            .saturating_mul(1 << (target.failures - 1).min(16))
            .min(MAX_BACKOFF.max(interval));
        target.next_sample = now + backoff;
        if target.last_error.as_deref() == Some(message.as_str()) {
            return Ok(());
        }
        target.last_error = Some(message.clone());
        let event = WatchEvent::Error(ErrorJson {
            schema_version: SCHEMA_VERSION,
            target: target.base.clone(),
            t,
            message,
            failures: target.failures,
            retry_in_secs: backoff.as_secs_f64(),
        });
        self.sink.event(&event)?;
        Ok(())
    }

    /// Records one answer: the process it came from, the count, the stacks, their trends,
    /// verdicts and alerts, all in one transaction; then tells the sink.
    fn observe(&mut self, i: usize, o: Observed<'_>) -> Result<()> {
        let trend = self.options.trend.clone();
        let judge_gap = self
            .options
            .interval
            .as_secs_f64()
            .max(trend.cooldown_secs / 10.0);
        let latest_every = (2.0 * trend.cooldown_secs).min(60.0);
        let mut events = Vec::new();
        let target = &mut self.targets[i];
        if target.failures > 0 {
            events.push(WatchEvent::Recovered(RecoveredJson {
                schema_version: SCHEMA_VERSION,
                target: target.base.clone(),
                t: o.t,
                after_failures: target.failures,
            }));
        }
        let t = match target.last_t() {
            Some(last) if o.t <= last => last + 0.001,
            _ => o.t,
        };

        let restart = match (target.process, target.start_time, o.start_time) {
            (None, _, _) => None,
            (Some(_), Some(old), Some(new)) if (new - old).abs() > 1.0 => {
                Some("process_start_time_seconds changed".to_string())
            }
            (Some(_), _, _) if target.refused => {
                Some("the target refused connections, then answered again".to_string())
            }
            (Some(_), None, None)
                if count_says_restart(&target.samples, t, o.goroutines, &trend) =>
            {
                Some("the count fell through its floor back to its start-up level".to_string())
            }
            _ => None,
        };
        let process = match (&restart, target.process) {
            (None, Some(id)) => ProcessRef::Known(id),
            (Some(reason), _) => ProcessRef::New {
                reason: reason.clone(),
                start_time: o.start_time,
            },
            (None, None) => ProcessRef::New {
                reason: "first seen".to_string(),
                start_time: o.start_time,
            },
        };
        if restart.is_some() {
            target.new_process();
            target.stats.restarts += 1;
            // The old start time belongs to the old process: keeping it would read the new
            // one's, when it comes, as yet another restart.
            target.start_time = o.start_time;
        } else if o.start_time.is_some() {
            target.start_time = o.start_time;
        }
        target.refused = false;
        target.failures = 0;
        target.last_error = None;
        target.last_source = Some(o.source);
        target.push_sample(t, o.goroutines);
        target.stats.samples += 1;

        let mut pending = Pending::default();
        if let Some((capture, body)) = o.capture
            && let Some(snapshot) = capture.snapshots.last()
        {
            let largest = self.update_groups(i, t, capture, snapshot, &mut pending);
            let target = &mut self.targets[i];
            target.stats.profiles += 1;
            if t - target.groups_judged_at >= judge_gap {
                target.groups_judged_at = t;
                self.judge_groups(i, t, capture, snapshot, &largest, &mut pending);
            }
            if let Some((profile, reason)) = &o.dump {
                self.reassess_from_dump(i, t, capture, snapshot, &largest, &mut pending);
                pending.dumps.push(DumpRecord {
                    profile: *profile,
                    debug: 2,
                    role: DumpRole::Evidence,
                    reason: reason.clone(),
                    body: body.to_vec(),
                });
                pending.dump_event = Some(DumpJson {
                    schema_version: SCHEMA_VERSION,
                    target: self.targets[i].base.clone(),
                    t,
                    profile: profile.name(),
                    bytes: body.len() as u64,
                    goroutines: o.goroutines,
                    proven_leaked: snapshot.groups.iter().map(|g| g.leaked).sum(),
                    reason: reason.clone(),
                });
            } else {
                let target = &mut self.targets[i];
                if !target.first_profile_stored {
                    target.first_profile_stored = true;
                    target.latest_stored_t = t;
                    pending.dumps.push(DumpRecord {
                        profile: Profile::Goroutine,
                        debug: 0,
                        role: DumpRole::First,
                        reason: "the first profile of this process".into(),
                        body: body.to_vec(),
                    });
                } else if t - target.latest_stored_t >= latest_every {
                    target.latest_stored_t = t;
                    pending.dumps.push(DumpRecord {
                        profile: Profile::Goroutine,
                        debug: 0,
                        role: DumpRole::Latest,
                        reason: "the latest profile".into(),
                        body: body.to_vec(),
                    });
                }
            }
        }
        let target = &mut self.targets[i];
        if t - target.total_judged_at >= judge_gap {
            target.total_judged_at = t;
            target.total = judge(&target.total_points(), &trend);
            if target.total.rising() && !target.alerted.contains(&None) {
                target.alerted.insert(None);
                let points = target.total_points();
                let (before, after) = (
                    first_floor(&points, &trend).unwrap_or(0),
                    last_floor(&points, &trend),
                );
                let slope = target.total.slope_per_minute().unwrap_or(0.0);
                let p = target.total.p_value().unwrap_or(1.0);
                let why = format!(
                    "the goroutine count rises by {slope:.1} a minute and the level it falls back to rises with it (p = {p:.2e})"
                );
                let record = AlertRecord {
                    signature: None,
                    verdict: AlertVerdict::Rising,
                    why: why.clone(),
                    slope_per_minute: Some(slope),
                    p_value: Some(p),
                    count_before: Some(before),
                    count_after: Some(after),
                };
                let event = AlertJson {
                    schema_version: SCHEMA_VERSION,
                    target: target.base.clone(),
                    t,
                    process: 0,
                    scope: "total",
                    verdict: AlertVerdict::Rising.name().to_string(),
                    why,
                    signature: None,
                    count_before: before,
                    count_after: after,
                    slope_per_minute: slope,
                    p_value: p,
                    confidence: 1.0 - p,
                    blocking: None,
                    leak_site: None,
                    pattern: None,
                    hint: None,
                };
                pending.alerts.push((record, event));
                // The count alone cannot say which stack grows: profile now, and keep a
                // full dump as evidence.
                target.next_profile = Instant::now();
                if target.pending_dump.is_none() {
                    target.pending_dump =
                        Some(format!("the goroutine count rises by {slope:.1} a minute"));
                }
            }
        }

        let alert_records: Vec<AlertRecord> =
            pending.alerts.iter().map(|(r, _)| r.clone()).collect();
        let written = self.store.write(&SampleWrite {
            target: target.id,
            session: self.session,
            process,
            t,
            goroutines: o.goroutines,
            source: o.source,
            cost_ms: Some(o.cost.as_secs_f64() * 1e3),
            new_groups: &pending.metas,
            counts: &pending.counts,
            verdicts: &pending.verdicts,
            dumps: &pending.dumps,
            alerts: &alert_records,
        })?;
        let target = &mut self.targets[i];
        for m in &pending.metas {
            target.described.insert(m.signature);
        }
        target.process = Some(written.process);
        if o.capture.is_some() && o.dump.is_none() {
            let body = o.capture.map(|(_, b)| b.to_vec()).unwrap_or_default();
            target.latest_profile = Some((written.sample, t, body));
        }
        if let Some(reason) = restart {
            events.push(WatchEvent::Restart(RestartJson {
                schema_version: SCHEMA_VERSION,
                target: target.base.clone(),
                t,
                process: written.process,
                reason,
            }));
        }
        events.push(WatchEvent::Sample(SampleJson {
            schema_version: SCHEMA_VERSION,
            target: target.base.clone(),
            t,
            goroutines: o.goroutines,
            source: o.source,
            process: written.process,
            cost_ms: o.cost.as_secs_f64() * 1e3,
            groups: o.capture.map(|_| {
                pending
                    .counts
                    .iter()
                    .map(|(s, c)| GroupCountJson {
                        signature: s.to_string(),
                        count: *c,
                    })
                    .collect()
            }),
        }));
        for (_, mut alert) in pending.alerts {
            alert.process = written.process;
            target.alerts.push(alert.clone());
            events.push(WatchEvent::Alert(Box::new(alert)));
        }
        if let Some(dump) = pending.dump_event {
            events.push(WatchEvent::Dump(dump));
        }
        for event in &events {
            self.sink.event(event)?;
        }
        Ok(())
    }

    /// Adds a profile's per-stack counts; describes stacks seen for the first time. Returns,
    /// per signature, the index of its largest group in the snapshot.
    fn update_groups(
        &mut self,
        i: usize,
        t: f64,
        capture: &Capture,
        snapshot: &Snapshot,
        pending: &mut Pending,
    ) -> HashMap<Signature, usize> {
        let mut counts: HashMap<Signature, u64> = HashMap::new();
        let mut largest: HashMap<Signature, usize> = HashMap::new();
        for (gi, group) in snapshot.groups.iter().enumerate() {
            *counts.entry(group.signature).or_default() += group.count;
            let best = largest.entry(group.signature).or_insert(gi);
            if snapshot.groups[*best].count < group.count {
                *best = gi;
            }
        }
        let options = AssessOptions::default();
        let target = &mut self.targets[i];
        for (&signature, &gi) in &largest {
            if target.groups.contains_key(&signature) {
                continue;
            }
            let group = &snapshot.groups[gi];
            let assessment = classify::assess(
                &capture.tables,
                snapshot,
                group,
                None,
                &options,
                self.source,
            );
            let info = group_info(capture, &assessment);
            if !target.described.contains(&signature) {
                pending.metas.push(group_meta(capture, snapshot, gi, &info));
            }
            target.groups.insert(
                signature,
                GroupState {
                    counts: VecDeque::new(),
                    info,
                    status: Status::Empty,
                },
            );
        }
        target.push_profile(t, &counts);
        let mut sorted: Vec<(Signature, u64)> = counts.into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        pending.counts = sorted;
        largest
    }

    /// Judges the stacks whose count moved by at least `min_rise` in this process, and
    /// assesses those newly rising with the growth seen.
    fn judge_groups(
        &mut self,
        i: usize,
        t: f64,
        capture: &Capture,
        snapshot: &Snapshot,
        largest: &HashMap<Signature, usize>,
        pending: &mut Pending,
    ) {
        let trend = &self.options.trend;
        let target = &mut self.targets[i];
        let mut newly_rising = Vec::new();
        let signatures: Vec<Signature> = target.groups.keys().copied().collect();
        for signature in signatures {
            let group = &target.groups[&signature];
            let (low, high) = group
                .counts
                .iter()
                .fold((u32::MAX, 0), |(lo, hi), &c| (lo.min(c), hi.max(c)));
            // A floor cannot rise by more than the count ever moved.
            let status = if f64::from(high.saturating_sub(low)) >= trend.min_rise {
                judge(&target.group_points(group), trend)
            } else {
                Status::Empty
            };
            if status.rising() && !target.alerted.contains(&Some(signature)) {
                newly_rising.push(signature);
            }
            if let Some(g) = target.groups.get_mut(&signature) {
                g.status = status;
            }
        }
        for signature in newly_rising {
            let Some(&gi) = largest.get(&signature) else {
                continue;
            };
            self.targets[i].alerted.insert(Some(signature));
            let Some((growth, status, assessment, info)) =
                self.assess_growth(i, signature, capture, snapshot, gi)
            else {
                continue;
            };
            pending.verdicts.push(verdict_update(signature, &info));
            let target = &mut self.targets[i];
            if let Some(g) = target.groups.get_mut(&signature) {
                g.info = info.clone();
            }
            if !matches!(assessment.verdict, Verdict::Leak | Verdict::Suspect) {
                continue;
            }
            pending.alerts.push(group_alert(
                &target.base,
                t,
                signature,
                &info,
                growth,
                &status,
            ));
            if target.pending_dump.is_none() {
                target.pending_dump = Some(format!(
                    "{} grew from {} to {}",
                    info.site_text(),
                    growth.before,
                    growth.after
                ));
            }
        }
    }

    /// Judges group `gi` of `snapshot`, stack `signature` of target `i`, with the growth its
    /// series shows (first and last window floors): what both the trend and a later dump
    /// ask of it. `None` when the target does not follow that stack.
    fn assess_growth(
        &self,
        i: usize,
        signature: Signature,
        capture: &Capture,
        snapshot: &Snapshot,
        gi: usize,
    ) -> Option<(Growth, Status, Assessment, GroupInfo)> {
        let target = &self.targets[i];
        let group = target.groups.get(&signature)?;
        let trend = &self.options.trend;
        let points = target.group_points(group);
        let growth = Growth {
            before: first_floor(&points, trend).unwrap_or(0),
            after: last_floor(&points, trend),
        };
        let assessment = classify::assess(
            &capture.tables,
            snapshot,
            &snapshot.groups[gi],
            Some(growth),
            &AssessOptions::default(),
            self.source,
        );
        let info = group_info(capture, &assessment);
        Some((growth, group.status, assessment, info))
    }

    /// A dump has states, creators and, from the goroutineleak profile, the runtime's proof:
    /// the stacks already alerted on are judged again with it.
    fn reassess_from_dump(
        &mut self,
        i: usize,
        t: f64,
        capture: &Capture,
        snapshot: &Snapshot,
        largest: &HashMap<Signature, usize>,
        pending: &mut Pending,
    ) {
        let alerted: Vec<Signature> = self.targets[i].alerted.iter().flatten().copied().collect();
        for signature in alerted {
            let Some(&gi) = largest.get(&signature) else {
                continue;
            };
            let Some((growth, status, assessment, info)) =
                self.assess_growth(i, signature, capture, snapshot, gi)
            else {
                continue;
            };
            let target = &mut self.targets[i];
            let before = target.groups[&signature].info.clone();
            if info.verdict == before.verdict && info.why == before.why {
                continue;
            }
            pending.verdicts.push(verdict_update(signature, &info));
            if let Some(g) = target.groups.get_mut(&signature) {
                g.info = info.clone();
            }
            let escalated = assessment.verdict == Verdict::Leak && before.verdict != Verdict::Leak;
            if escalated {
                pending.alerts.push(group_alert(
                    &target.base,
                    t,
                    signature,
                    &info,
                    growth,
                    &status,
                ));
            }
        }
    }

    fn summary(&self, duration_secs: f64) -> SummaryJson {
        let targets: Vec<TargetSummaryJson> = self
            .targets
            .iter()
            .map(|t| TargetSummaryJson {
                target: t.base.clone(),
                samples: t.stats.samples,
                profiles: t.stats.profiles,
                dumps: t.stats.dumps,
                restarts: t.stats.restarts,
                errors: t.stats.errors,
                count_source: match t.probe {
                    Probe::Source(s) => Some(s.name()),
                    Probe::Nothing => Some("profile"),
                    Probe::Unknown => None,
                },
                goroutines: t.current(),
                profile_interval_secs: t.profile_gap.as_secs_f64(),
                trend: TrendJson {
                    status: t.total.name(),
                    slope_per_minute: t.total.slope_per_minute(),
                    p_value: t.total.p_value(),
                },
                alerts: t.alerts.clone(),
                schedule: ScheduleJson {
                    due: t.stats.due,
                    late: t.stats.late,
                    max_lag_secs: t.stats.max_lag.as_secs_f64(),
                },
            })
            .collect();
        SummaryJson {
            schema_version: SCHEMA_VERSION,
            duration_secs,
            settings: self.settings.clone(),
            leaks: targets
                .iter()
                .flat_map(|t| &t.alerts)
                .filter(|a| a.verdict == "leak")
                .count() as u64,
            targets,
        }
    }
}

/// How the watch describes a stack.
pub fn group_info(capture: &Capture, assessment: &Assessment) -> GroupInfo {
    GroupInfo {
        blocking: assessment.blocking,
        site: Site::of(&capture.tables, assessment),
        verdict: assessment.verdict,
        why: assessment.why.clone(),
        pattern: assessment.pattern.map(|p| p.id.to_string()),
        hint: assessment.hint().map(str::to_string),
    }
}

/// The row the watch records for a stack seen for the first time, described by `info`.
pub fn group_meta(
    capture: &Capture,
    snapshot: &Snapshot,
    gi: usize,
    info: &GroupInfo,
) -> GroupMeta {
    let tables = &capture.tables;
    let group = &snapshot.groups[gi];
    GroupMeta {
        signature: group.signature,
        blocking: info.blocking,
        site: info.site.clone(),
        frames: tables
            .frames(group.stack)
            .iter()
            .map(|&f| Frame::of(tables, f))
            .collect(),
        created_by: group.created_by.map(|c| Creator::of(tables, c)),
        verdict: info.verdict,
        why: info.why.clone(),
        pattern: info.pattern.clone(),
        hint: info.hint.clone(),
    }
}

fn verdict_update(signature: Signature, info: &GroupInfo) -> VerdictUpdate {
    VerdictUpdate {
        signature,
        verdict: info.verdict,
        why: info.why.clone(),
        pattern: info.pattern.clone(),
        hint: info.hint.clone(),
    }
}

fn group_alert(
    base: &str,
    t: f64,
    signature: Signature,
    info: &GroupInfo,
    growth: Growth,
    status: &Status,
) -> (AlertRecord, AlertJson) {
    let slope = status.slope_per_minute().unwrap_or(0.0);
    let p = status.p_value().unwrap_or(1.0);
    let record = AlertRecord {
        signature: Some(signature),
        verdict: AlertVerdict::Group(info.verdict),
        why: info.why.clone(),
        slope_per_minute: Some(slope),
        p_value: Some(p),
        count_before: Some(growth.before),
        count_after: Some(growth.after),
    };
    let event = AlertJson {
        schema_version: SCHEMA_VERSION,
        target: base.to_string(),
        t,
        process: 0,
        scope: "group",
        verdict: info.verdict.name().to_string(),
        why: info.why.clone(),
        signature: Some(signature.to_string()),
        count_before: growth.before,
        count_after: growth.after,
        slope_per_minute: slope,
        p_value: p,
        confidence: 1.0 - p,
        blocking: Some(info.blocking.name().to_string()),
        leak_site: info.site.as_ref().map(SiteJson::from),
        pattern: info.pattern.clone(),
        hint: info.hint.clone(),
    };
    (record, event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::watch_json::WatchEvent;
    use crate::watch::sources::CountReading;
    use goleash_core::classify::NoSource;

    /// Keeps the events.
    struct Events(Vec<WatchEvent>);

    impl Sink for Events {
        fn event(&mut self, event: &WatchEvent) -> std::io::Result<()> {
            self.0.push(event.clone());
            Ok(())
        }
    }

    fn options() -> WatchOptions {
        WatchOptions {
            interval: Duration::from_secs(1),
            duration: None,
            trend: TrendOptions::default(),
            concurrency: 1,
            leak_profile: true,
            timeouts: Timeouts {
                count: Duration::from_secs(1),
                profile: Duration::from_secs(1),
                dump: Duration::from_secs(1),
            },
            simulated: false,
        }
    }

    fn count(t: f64, goroutines: u64, start_time: f64) -> Done {
        Done {
            target: 0,
            t,
            cost: Duration::from_millis(1),
            fetched: Fetched::Count {
                source: CountSource::Metrics,
                reading: CountReading {
                    goroutines,
                    start_time: Some(start_time),
                },
            },
        }
    }

    #[test]
    fn a_restart_seen_through_refusals_is_not_counted_again_when_the_new_start_time_comes() {
        let dir = std::env::temp_dir().join(format!("goleash-engine-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::open_for_writing(&dir.join("history.db")).unwrap();
        let options = options();
        let session = store.begin_session(0.0, "{}", false).unwrap();
        let id = store.target("http://a/debug/pprof", 0.0).unwrap();
        let now = Instant::now();
        let mut events = Events(Vec::new());
        let (jobs, _ignored) = mpsc::channel();
        let mut engine = Engine {
            options: &options,
            settings: options.settings(),
            store: &mut store,
            session,
            targets: vec![Target::new(
                "http://a/debug/pprof".into(),
                id,
                now,
                options.interval,
                true,
            )],
            sink: &mut events,
            source: &NoSource,
            queue: BinaryHeap::new(),
            jobs,
        };
        engine.handle(count(10.0, 50, 1000.0)).unwrap();
        engine
            .handle(Done {
                target: 0,
                t: 11.0,
                cost: Duration::from_millis(1),
                fetched: Fetched::Failed {
                    message: "connection refused".into(),
                    refused: true,
                    reprobe: false,
                },
            })
            .unwrap();
        // The new process answers a profile first, without its start time (its /metrics
        // request went to a connection of the old process)…
        let dump = "goroutine 1 [running]:\nmain.main()\n\t/src/main.go:3 +0x1\n";
        let capture = goleash_core::read(dump.as_bytes(), &Default::default(), None).unwrap();
        engine
            .handle(Done {
                target: 0,
                t: 12.0,
                cost: Duration::from_millis(1),
                fetched: Fetched::Profile {
                    body: dump.as_bytes().to_vec(),
                    capture,
                    start_time: None,
                },
            })
            .unwrap();
        // …then its start time.
        engine.handle(count(13.0, 5, 1011.0)).unwrap();
        engine.handle(count(14.0, 6, 1011.0)).unwrap();
        let restarts: Vec<String> = events
            .0
            .iter()
            .filter_map(|e| match e {
                WatchEvent::Restart(r) => Some(r.reason.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            restarts,
            vec!["the target refused connections, then answered again"]
        );
    }
    /// The events and summary of a watch of the stored Go 1.27 capture the demo replays
    /// (`tests/data/go1.27/watchsvc`), with counts made up here: a slow leak under bursts,
    /// answered at fixed times, as text and JSON lines. What a watch prints, pinned.
    #[test]
    fn what_a_watch_of_a_stored_capture_prints() {
        use crate::demo::replay::{DumpTemplate, ProfileTemplate};
        use crate::render::style::{ColorChoice, Style};
        use crate::watch::view::{JsonLines, Log};

        const PROFILE: &[u8] =
            include_bytes!("../../../../tests/data/go1.27/watchsvc/goroutine_debug0.pb.gz");
        const DUMP: &str =
            include_str!("../../../../tests/data/go1.27/watchsvc/goroutineleak_debug2.txt");
        const T0: f64 = 1_800_000_000.0;
        let template = ProfileTemplate::parse(PROFILE).unwrap();
        let dumps = DumpTemplate::parse(DUMP).unwrap();
        let ones: HashMap<Signature, u64> = template.signatures().map(|s| (s, 1)).collect();
        let body = template.render(&ones, 0);
        let capture = goleash_core::read(&body[..], &Default::default(), None).unwrap();
        let snapshot = &capture.snapshots[0];
        let by_function =
            |name: &str| {
                snapshot
                    .groups
                    .iter()
                    .find(|g| {
                        capture.tables.frames(g.stack).iter().any(|&f| {
                            capture.tables.str(capture.tables.get_frame(f).function) == name
                        })
                    })
                    .map(|g| g.signature)
                    .unwrap()
            };
        let leak = by_function("main.search.func1");
        let burst = by_function("main.worker");

        let dir = std::env::temp_dir().join(format!("goleash-watch-snap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = Store::open_for_writing(&dir.join("history.db")).unwrap();
        let mut options = options();
        options.interval = Duration::from_millis(500);
        options.trend = TrendOptions {
            warmup_secs: 2.0,
            cooldown_secs: 3.0,
            min_windows: 6,
            min_rise: 5.0,
            ..TrendOptions::default()
        };
        let session = store.begin_session(T0, "{}", false).unwrap();
        let base = "http://127.0.0.1:6060/debug/pprof";
        let id = store.target(base, T0).unwrap();
        let now = Instant::now();
        let mut events = Events(Vec::new());
        let (jobs, _ignored) = mpsc::channel();
        let mut engine = Engine {
            options: &options,
            settings: options.settings(),
            store: &mut store,
            session,
            targets: vec![Target::new(base.into(), id, now, options.interval, true)],
            sink: &mut events,
            source: &NoSource,
            queue: BinaryHeap::new(),
            jobs,
        };
        let start_time = Some(T0 - 100.0);
        for step in 0..160u32 {
            let t = T0 + f64::from(step) * 0.5;
            let mut counts = ones.clone();
            counts.insert(leak, (2.0 * (t - T0)).floor() as u64);
            counts.insert(
                burst,
                if (t - T0).rem_euclid(5.0) < 1.5 {
                    40
                } else {
                    0
                },
            );
            let total: u64 = counts.values().sum();
            let fetched = if step % 4 == 0 {
                let body = template.render(&counts, 0);
                let capture = goleash_core::read(&body[..], &Default::default(), None).unwrap();
                Fetched::Profile {
                    body,
                    capture,
                    start_time,
                }
            } else {
                Fetched::Count {
                    source: CountSource::Metrics,
                    reading: CountReading {
                        goroutines: total,
                        start_time,
                    },
                }
            };
            engine
                .handle(Done {
                    target: 0,
                    t,
                    cost: Duration::from_millis(2),
                    fetched,
                })
                .unwrap();
            if let Some(reason) = engine.targets[0].pending_dump.take() {
                let body = dumps.render(&counts, true).into_bytes();
                let capture = goleash_core::read(&body[..], &Default::default(), None).unwrap();
                engine
                    .handle(Done {
                        target: 0,
                        t: t + 0.1,
                        cost: Duration::from_millis(5),
                        fetched: Fetched::Dump {
                            body,
                            capture,
                            profile: Profile::GoroutineLeak,
                            reason,
                            no_leak_profile: false,
                        },
                    })
                    .unwrap();
            }
        }
        let summary = engine.summary(80.0);
        drop(engine);
        let mut shown: Vec<WatchEvent> = events
            .0
            .into_iter()
            .filter(|e| !matches!(e, WatchEvent::Sample(_)))
            .collect();
        shown.push(WatchEvent::Summary(Box::new(summary)));

        let mut text = Vec::new();
        let mut log = Log::new(&mut text, Style::for_stdout(ColorChoice::Never));
        for event in &shown {
            log.event(event).unwrap();
        }
        insta::assert_snapshot!("watch_text", String::from_utf8(text).unwrap());
        let mut json = Vec::new();
        let mut lines = JsonLines::new(&mut json);
        for event in &shown {
            lines.event(event).unwrap();
        }
        insta::assert_snapshot!("watch_json_lines", String::from_utf8(json).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
