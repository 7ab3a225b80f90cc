//! The scheduler: one thread that owns the targets' state and the history database, hands
//! requests to the workers when they come due, and turns what comes back into samples,
//! trends, verdicts and alerts.
//!
//! This module runs the loop and the schedule; one answer is recorded by [`observe`], the
//! trends it moves and the alerts they raise are [`alerts`], a history is continued by
//! [`resume`], and with `--prometheus` the counts of every series are read by [`evaluate`].

mod alerts;
mod evaluate;
mod observe;
mod resume;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use goleash_core::classify::SourceLookup;
use goleash_core::trend::TrendOptions;

use self::evaluate::FleetWatch;
use self::observe::{DumpTaken, Observed};
use super::fetch::{self, Done, Fetched, Job, JobKind, Timeouts};
use super::fleet::FleetCounts;
use super::sources::CountSource;
use super::target::{Probe, Target};
use super::{live, plan};
use crate::collect::HttpOptions;
use crate::doc::SCHEMA_VERSION;
use crate::doc::watch::{
    self, EventSink, Failure, Schedule, Start, Summary, TargetSummary, WatchEvent,
};
use crate::history::{Profile, SampleSource, Settings};
use crate::store::Store;

/// Requests may cost a target this fraction of what the watch waits between them: the next
/// profile comes no sooner than 200 times the last one took, so profiling stays under
/// 0.5 % of one core of the target whatever its size (a `debug=0` profile of 100k goroutines
/// costs about 170 ms: one every 34 s).
pub const COST_FACTOR: f64 = 200.0;

/// The goroutineleak profile is asked for no sooner than this many times what the last one
/// took. It runs a GC that marks what every goroutine can reach (about 1 s of CPU at 100k
/// goroutines), and a GC works on several cores at once, so its CPU is up to a few times
/// the request's time: four times the gap of a profile keeps it near 0.25 % of a core, and
/// with the profiles the whole watch under 1 %. (At twice the gap, a 120 s watch of 100k
/// goroutines cost the service 1.19 % of a core, the first looks included.)
pub const PROOF_COST_FACTOR: f64 = 4.0 * COST_FACTOR;

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
    /// The windows were fitted to `duration`.
    pub fitted: bool,
    /// Requests in flight at once, over all targets.
    pub concurrency: usize,
    /// Ask for the goroutineleak profile for evidence dumps.
    pub leak_profile: bool,
    /// Look for the runtime's proof at the start and as its cost allows (with
    /// `leak_profile`), rather than only when a trend asks for evidence.
    pub proof_looks: bool,
    /// Request timeouts.
    pub timeouts: Timeouts,
    /// The targets are simulated (`goleash demo`).
    pub simulated: bool,
}

impl WatchOptions {
    /// What the duration leaves room for.
    pub fn plan(&self) -> watch::Plan {
        plan::describe(self.duration, self.interval, &self.trend, self.fitted)
    }

    /// The settings as the history and the output record them.
    pub fn settings(&self) -> Settings {
        let defaults = TrendOptions::default();
        Settings {
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
    pub summary: Summary,
    /// Whether any target answered at all.
    pub any_sample: bool,
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What a watch watches.
pub enum Watched<'a> {
    /// Services at these pprof bases, polled for their counts.
    Services(&'a [String]),
    /// The series of a selector, counted by Prometheus.
    Fleet(&'a FleetCounts),
}

/// Watches `watched` until `options.duration` passes or `stop` is set.
pub fn run(
    watched: &Watched<'_>,
    options: &WatchOptions,
    store: &mut Store,
    http: &HttpOptions,
    source: &dyn SourceLookup,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
) -> Result<Ended> {
    options.trend.validate().context("trend options")?;
    let settings = options.settings();
    let started_at = unix_now();
    // A Prometheus that cannot be read is an error before the history records a session.
    let (polled, fleet): (&[String], _) = match watched {
        Watched::Services(bases) => (bases, None),
        Watched::Fleet(counts) => (&[], Some(FleetWatch::start(counts, options, started_at)?)),
    };
    let session = store.begin_session(started_at, &settings, options.simulated)?;
    let now = Instant::now();
    // The series a fleet watch starts with become targets as their first samples come in.
    let bases: Vec<String> = match &fleet {
        Some(fleet) => fleet.names_at_start(),
        None => polled.to_vec(),
    };
    let mut targets = Vec::with_capacity(bases.len());
    for base in polled {
        let id = store.target(base, started_at)?;
        let mut target = Target::new(
            base.clone(),
            id,
            now,
            options.interval,
            options.leak_profile,
        );
        if !options.proof_looks {
            target.next_proof = None;
        }
        resume::resume(store, &mut target)?;
        targets.push(target);
    }
    sink.event(&WatchEvent::Start(Start {
        schema_version: SCHEMA_VERSION,
        targets: bases.clone(),
        prometheus: fleet.as_ref().map(FleetWatch::source),
        db: store.path().display().to_string(),
        settings: watch::Settings::from(&settings),
        plan: options.plan(),
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
        fleet,
    };
    for i in 0..engine.targets.len() {
        engine.schedule(i, now);
    }
    engine.absorb_first(now)?;
    let started = now;
    let deadline = options.duration.map(|d| now + d);
    let refresh_every = Duration::from_millis(500);
    let mut next_refresh = now;
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d) {
            break;
        }
        if engine.fleet.as_ref().is_some_and(|f| now >= f.next_due) {
            engine.evaluate(now)?;
        }
        engine.dispatch_due(Instant::now());
        let live_room = engine.sink.live_room();
        if let Some(room) = live_room
            && now >= next_refresh
        {
            let view = live::doc(
                &engine.targets,
                &engine.settings,
                &options.trend,
                now - started,
                room,
            );
            engine.sink.refresh(&view)?;
            next_refresh = now + refresh_every;
        }
        let mut wake = now + Duration::from_millis(200);
        if let Some(Reverse((due, _, _))) = engine.queue.peek() {
            wake = wake.min(*due);
        }
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        if let Some(fleet) = &engine.fleet {
            wake = wake.min(fleet.next_due);
        }
        if live_room.is_some() {
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

/// The watch on its one thread: every target's state, the history, and the schedule.
struct Engine<'a> {
    options: &'a WatchOptions,
    settings: Settings,
    store: &'a mut Store,
    session: i64,
    targets: Vec<Target>,
    sink: &'a mut dyn EventSink,
    source: &'a dyn SourceLookup,
    /// (due, target, generation): the next request of each target not in flight.
    queue: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    jobs: mpsc::Sender<Job>,
    /// With `--prometheus`: the series and their evaluations.
    fleet: Option<FleetWatch<'a>>,
}

impl Engine<'_> {
    /// The earliest moment target `i` needs a request.
    fn due(&self, i: usize, now: Instant) -> Instant {
        let t = &self.targets[i];
        if t.counted_by_prometheus() {
            return t.dump_not_before.max(now);
        }
        let regular = if t.probe == Probe::Nothing {
            t.next_sample.max(t.next_profile)
        } else {
            t.next_sample
        };
        let regular = match t.proof_due() {
            Some(proof) => regular.min(proof),
            None => regular,
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
        // A series Prometheus counts is asked for nothing until its trend wants evidence.
        if target.counted_by_prometheus()
            && (target.pending_dump.is_none() || target.pprof.is_none())
        {
            return;
        }
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
        } else if target.proof_due().is_some_and(|proof| now >= proof) {
            // Its answer sets the next one by what it cost; should it fail, the target
            // answers again before another is due.
            target.next_proof = Some(now + interval);
            JobKind::Proof
        } else if !target.counted_by_prometheus() && now >= regular_due {
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
        let Some(base) = target.pprof.clone() else {
            return;
        };
        target.in_flight = true;
        let job = Job {
            target: i,
            base,
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
            Fetched::Failed { message, .. } if self.targets[i].counted_by_prometheus() => {
                self.profile_failed(i, done.t, message)?;
            }
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
                        source: source.into(),
                        cost: done.cost,
                        start_time: reading.start_time,
                        created: reading.created,
                        capture: None,
                        dump: None,
                    },
                )?;
            }
            Fetched::Profile {
                body,
                capture,
                start_time,
                created,
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
                        source: SampleSource::Profile,
                        cost: done.cost,
                        start_time,
                        created,
                        capture: Some((&capture, &body)),
                        dump: None,
                    },
                )?;
            }
            Fetched::NoLeakProfile => {
                let target = &mut self.targets[i];
                target.leak_profile = false;
                target.next_proof = None;
            }
            Fetched::Dump {
                body,
                capture,
                profile,
                reason,
                no_leak_profile,
                proof,
            } => {
                let target = &mut self.targets[i];
                if proof {
                    target.stats.proof_looks += 1;
                }
                if no_leak_profile {
                    target.leak_profile = false;
                    target.next_proof = None;
                }
                if profile == Profile::GoroutineLeak {
                    target.proof_served = true;
                }
                if profile == Profile::GoroutineLeak && self.options.proof_looks {
                    // The leak profile runs a GC that marks what is unreachable: its own
                    // budget, spread over the cores a GC uses.
                    target.next_proof =
                        Some(now + done.cost.mul_f64(PROOF_COST_FACTOR).max(interval));
                }
                if !proof {
                    target.dump_not_before = now
                        + done.cost.mul_f64(COST_FACTOR).max(Duration::from_secs_f64(
                            2.0 * self.options.trend.cooldown_secs,
                        ));
                }
                let goroutines = capture.snapshots.last().map_or(0, |s| s.total);
                self.observe(
                    i,
                    Observed {
                        t: done.t,
                        goroutines,
                        source: SampleSource::Dump,
                        cost: done.cost,
                        start_time: None,
                        created: None,
                        capture: Some((&capture, &body)),
                        dump: Some(DumpTaken {
                            profile,
                            reason,
                            proof,
                        }),
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
        let event = WatchEvent::Error(Failure {
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

    fn summary(&self, duration_secs: f64) -> Summary {
        let targets = self
            .targets
            .iter()
            .map(|t| TargetSummary {
                target: t.base.clone(),
                samples: t.stats.samples,
                profiles: t.stats.profiles,
                dumps: t.stats.dumps,
                proof_looks: t.stats.proof_looks,
                restarts: t.stats.restarts,
                errors: t.stats.errors,
                count_source: match t.probe {
                    _ if t.counted_by_prometheus() => Some(SampleSource::Prometheus),
                    Probe::Source(s) => Some(s.into()),
                    Probe::Nothing => Some(SampleSource::Profile),
                    Probe::Unknown => None,
                },
                goroutines: t.current(),
                profile_interval_secs: t.profile_gap.as_secs_f64(),
                trend: t.total,
                alerts: t.alerts.clone(),
                proof_available: t.proof_served,
                earlier_leaks: t.earlier_leaks(),
                churn: t
                    .churn_per_minute()
                    .map(|(created, exited, secs)| watch::Churn {
                        created_per_minute: created,
                        exited_per_minute: exited,
                        over_secs: secs,
                    }),
                schedule: Schedule {
                    due: t.stats.due,
                    late: t.stats.late,
                    max_lag_secs: t.stats.max_lag.as_secs_f64(),
                },
                gone: t.scrapes.as_ref().is_some_and(|s| s.gone),
            })
            .collect();
        let mut summary = Summary::new(
            duration_secs,
            watch::Settings::from(&self.settings),
            self.options.plan(),
            targets,
        );
        summary.evaluations = self.fleet.as_ref().map(|f| f.evaluations(&self.targets));
        summary
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use goleash_core::Signature;
    use goleash_core::classify::NoSource;

    use super::*;
    use crate::watch::sources::CountReading;

    /// Keeps the events.
    struct Events(Vec<WatchEvent>);

    impl EventSink for Events {
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
            fitted: false,
            concurrency: 1,
            leak_profile: true,
            proof_looks: true,
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
                    created: None,
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
        let session = store
            .begin_session(0.0, &options.settings(), false)
            .unwrap();
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
            fleet: None,
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
                    created: None,
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
    /// A watch of leakysvc's Go 1.27 profile in which unclosed response bodies hold more and
    /// more connections: their readLoops and writeLoops rise together, and the watch raises
    /// one alert for them, on the readLoops, naming both; none on the writeLoops.
    #[test]
    fn held_connections_rise_as_one_alert() {
        use crate::demo::replay::ProfileTemplate;

        const PROFILE: &[u8] =
            include_bytes!("../../../../tests/data/go1.27/leakysvc/goroutine_debug0.pb.gz");
        const T0: f64 = 1_800_000_000.0;
        let template = ProfileTemplate::parse(PROFILE).unwrap();
        let ones: HashMap<Signature, u64> = template.signatures().map(|s| (s, 1)).collect();
        let body = template.render(&ones, 0);
        let capture = goleash_core::read(&body[..], &Default::default(), None).unwrap();
        let tables = &capture.tables;
        let of = |name: &str| {
            capture.snapshots[0]
                .groups
                .iter()
                .find(|g| {
                    tables
                        .frames(g.stack)
                        .iter()
                        .any(|&f| tables.str(tables.get_frame(f).function) == name)
                })
                .map(|g| g.signature)
                .unwrap()
        };
        let (read_loops, write_loops) = (
            of("net/http.(*persistConn).readLoop"),
            of("net/http.(*persistConn).writeLoop"),
        );
        assert_ne!(read_loops, write_loops);

        let dir = std::env::temp_dir().join(format!("goleash-watch-held-{}", std::process::id()));
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
        let session = store.begin_session(T0, &options.settings(), false).unwrap();
        let base = "http://127.0.0.1:6060/debug/pprof";
        let id = store.target(base, T0).unwrap();
        let mut events = Events(Vec::new());
        let (jobs, _ignored) = mpsc::channel();
        let mut engine = Engine {
            options: &options,
            settings: options.settings(),
            store: &mut store,
            session,
            targets: vec![Target::new(
                base.into(),
                id,
                Instant::now(),
                options.interval,
                true,
            )],
            sink: &mut events,
            source: &NoSource,
            queue: BinaryHeap::new(),
            jobs,
            fleet: None,
        };
        for step in 0..120u32 {
            let t = T0 + f64::from(step) * 0.5;
            let held = (t - T0).floor() as u64;
            let mut counts = ones.clone();
            counts.insert(read_loops, held);
            counts.insert(write_loops, held);
            let body = template.render(&counts, 0);
            let capture = goleash_core::read(&body[..], &Default::default(), None).unwrap();
            engine
                .handle(Done {
                    target: 0,
                    t,
                    cost: Duration::from_millis(2),
                    fetched: Fetched::Profile {
                        body,
                        capture,
                        start_time: Some(T0 - 100.0),
                        created: None,
                    },
                })
                .unwrap();
            engine.targets[0].pending_dump = None;
        }
        drop(engine);
        let alerts: Vec<&crate::doc::watch::Alert> = events
            .0
            .iter()
            .filter_map(|e| match e {
                WatchEvent::Alert(a) if a.signature.is_some() => Some(&**a),
                _ => None,
            })
            .collect();
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].signature, Some(read_loops));
        assert!(
            alerts[0]
                .why
                .contains("HTTP client connections held by response bodies never closed, each with its readLoop and its writeLoop"),
            "{}",
            alerts[0].why
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn what_a_watch_of_a_stored_capture_prints() {
        use crate::demo::replay::{DumpTemplate, ProfileTemplate};
        use crate::render::json::JsonLines;
        use crate::render::style::{ColorChoice, Style};
        use crate::render::text::watch::Log;

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
        let session = store.begin_session(T0, &options.settings(), false).unwrap();
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
            fleet: None,
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
                    created: None,
                }
            } else {
                Fetched::Count {
                    source: CountSource::Metrics,
                    reading: CountReading {
                        goroutines: total,
                        start_time,
                        created: None,
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
                            proof: false,
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
