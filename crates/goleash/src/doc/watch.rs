//! `goleash watch`: the events it prints as things happen (`--format json` prints one per
//! line), its summary, the live view of its targets, and the sink they all go to.
//!
//! The watch builds these and calls an [`EventSink`]; the renderers implement the sink and
//! read nothing else of the watch.

use std::io;

use goleash_core::Signature;
use goleash_core::classify::{Blocking, Verdict};
use goleash_core::trend::TrendState;
use serde::Serialize;

use super::{ExitCondition, Site, names};
use crate::history::{self, AlertVerdict, Profile, SampleSource};

/// Where a watch's events go.
pub trait EventSink {
    /// Something happened.
    fn event(&mut self, event: &WatchEvent) -> io::Result<()>;
    /// How many targets a live view has room for, when this sink draws one: the watch
    /// describes no more than that to [`EventSink::refresh`]. `None`: it draws none.
    fn live_room(&self) -> Option<usize> {
        None
    }
    /// Redraws the live view.
    fn refresh(&mut self, _live: &LiveDoc) -> io::Result<()> {
        Ok(())
    }
}

/// One line of `watch --format json`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    /// The watch started.
    Start(Start),
    /// A target was sampled.
    Sample(Sample),
    /// A target's process changed.
    Restart(Restart),
    /// A leak, a suspect, or a total that rises.
    Alert(Box<Alert>),
    /// A dump was taken and stored as evidence.
    Dump(DumpEvent),
    /// A request to a target failed.
    Error(Failure),
    /// A target answers again after failures.
    Recovered(Recovered),
    /// `watch --prometheus` read the counts of every series.
    Evaluation(Evaluation),
    /// `watch --prometheus`: a series appeared, came back, or is gone.
    Series(SeriesChange),
    /// The watch ended.
    Summary(Box<Summary>),
}

/// The trend settings of a watch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// Base sampling interval, seconds.
    pub interval_secs: f64,
    /// Warm-up ignored at the start of each process, seconds.
    pub warmup_secs: f64,
    /// Cool-down window, seconds.
    pub cooldown_secs: f64,
    /// Windows a verdict needs.
    pub min_windows: usize,
    /// Smallest rise of the floor that counts, goroutines.
    pub min_rise: f64,
    /// The trend settings differ from the defaults (calibrated for production): verdicts
    /// come sooner and with less evidence.
    pub compressed: bool,
}

impl From<&history::Settings> for Settings {
    fn from(settings: &history::Settings) -> Self {
        Settings {
            interval_secs: settings.interval_secs,
            warmup_secs: settings.warmup_secs,
            cooldown_secs: settings.cooldown_secs,
            min_windows: settings.min_windows,
            min_rise: settings.min_rise,
            compressed: settings.compressed,
        }
    }
}

/// What a watch of its duration can tell: whether the trend windows fit in it, and how.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// `--duration`, seconds; null: until interrupted.
    pub duration_secs: Option<f64>,
    /// The windows (and the interval, unless given) were scaled down to fit the duration.
    pub fitted: bool,
    /// The earliest a trend verdict can come after a process is first seen, seconds: the
    /// warm-up, then the cool-down windows a verdict needs.
    pub earliest_trend_verdict_secs: f64,
    /// Whether a trend verdict can come within the duration; when not, only leaks the
    /// runtime proves can be found.
    pub trend_verdict_possible: bool,
    /// The shortest duration that leaves room for a trend verdict with these settings (or,
    /// with fitted windows, with the narrowest windows fitted), seconds.
    pub shortest_duration_secs: f64,
}

/// `start`.
#[derive(Clone, Debug, Serialize)]
pub struct Start {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The pprof bases watched, or with `--prometheus` the series matched at the start.
    pub targets: Vec<String>,
    /// Where the counts come from, with `--prometheus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
    /// The history database.
    pub db: String,
    /// The settings.
    pub settings: Settings,
    /// What the duration leaves room for.
    pub plan: Plan,
    /// The targets are simulated (`goleash demo`).
    pub simulated: bool,
}

/// The Prometheus a watch reads the counts from.
#[derive(Clone, Debug, Serialize)]
pub struct PrometheusSource {
    /// Its base URL.
    pub url: String,
    /// The series selector.
    pub selector: String,
    /// Where the suspects' profiles are (`{label}` filled from each series).
    pub pprof: String,
}

/// `evaluation`: one read of every series' new samples from Prometheus.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// When it was asked, unix seconds.
    pub t: f64,
    /// How long after it was due it was asked, seconds.
    pub lag_secs: f64,
    /// How long Prometheus took to answer, seconds.
    pub query_secs: f64,
    /// How long recording the new samples took (trends, verdicts, the history), seconds:
    /// goleash's share.
    pub record_secs: f64,
    /// Series that had samples in the range asked.
    pub series: u64,
    /// New samples recorded.
    pub samples: u64,
}

/// Whether a series is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Seen for the first time after the start, or again after it was gone.
    Appeared,
    /// No new sample for three scrape intervals (or three watch intervals, whichever is
    /// longer): the service went away. Not a leak; its history is kept.
    Gone,
}

/// `series`.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesChange {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The series.
    pub target: String,
    /// Unix seconds.
    pub t: f64,
    /// What changed.
    pub presence: Presence,
    /// Its newest sample, unix seconds (null for a series never seen before).
    pub last_sample: Option<f64>,
}

/// How the evaluations of a `watch --prometheus` went.
#[derive(Clone, Debug, Serialize)]
pub struct Evaluations {
    /// The Prometheus, the selector and the template.
    pub source: PrometheusSource,
    /// Evaluations that came due.
    pub due: u64,
    /// Of those, how many were asked later than half an interval after they were due.
    pub late: u64,
    /// The largest delay, seconds.
    pub max_lag_secs: f64,
    /// Evaluations Prometheus did not answer (down, slow, refusing).
    pub errors: u64,
    /// The longest time Prometheus took to answer one, seconds.
    pub max_query_secs: f64,
    /// The mean time Prometheus took to answer one, seconds.
    pub mean_query_secs: f64,
    /// Series gone at the end.
    pub gone: u64,
}

/// A count per stack.
#[derive(Clone, Debug, Serialize)]
pub struct GroupCount {
    /// The stack's signature.
    #[serde(serialize_with = "names::signature")]
    pub signature: Signature,
    /// Goroutines.
    pub count: u64,
}

/// `sample`.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The target's pprof base.
    pub target: String,
    /// Unix seconds.
    pub t: f64,
    /// Goroutines.
    pub goroutines: u64,
    /// Goroutines created since the process started, where the count source says (Go
    /// 1.26+ through client_golang: `go_sched_goroutines_created_goroutines_total`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    /// `metrics`, `vars`, `index`, `profile` or `dump`.
    #[serde(serialize_with = "names::sample_source")]
    pub source: SampleSource,
    /// The process, as numbered in the history.
    pub process: i64,
    /// Milliseconds the request took.
    pub cost_ms: f64,
    /// Per stack, for `profile` and `dump` samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupCount>>,
}

/// `restart`.
#[derive(Clone, Debug, Serialize)]
pub struct Restart {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The target.
    pub target: String,
    /// Unix seconds of the first sample of the new process.
    pub t: f64,
    /// The new process.
    pub process: i64,
    /// How the restart was recognised.
    pub reason: String,
}

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertScope {
    /// One stack.
    Group,
    /// The target's total.
    Total,
}

/// `alert`.
#[derive(Clone, Debug, Serialize)]
pub struct Alert {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The target.
    pub target: String,
    /// Unix seconds.
    pub t: f64,
    /// The process.
    pub process: i64,
    /// `group` (one stack) or `total`.
    pub scope: AlertScope,
    /// `leak`, `suspect`, or `rising` for a total.
    #[serde(serialize_with = "names::alert_verdict")]
    pub verdict: AlertVerdict,
    /// The evidence, in a sentence.
    pub why: String,
    /// The stack's signature (groups only).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "names::signature_or_null"
    )]
    pub signature: Option<Signature>,
    /// The level the count fell back to at the start of the trend: the lowest count of the
    /// first cool-down window after warm-up.
    pub count_before: u64,
    /// The level it falls back to now: the lowest count of the last cool-down window.
    pub count_after: u64,
    /// Theil–Sen slope, goroutines per minute.
    pub slope_per_minute: f64,
    /// The larger of the two one-sided p-values of the trend.
    pub p_value: f64,
    /// `1 − p_value`.
    pub confidence: f64,
    /// What the goroutines wait for (groups only).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "names::blocking_or_null"
    )]
    pub blocking: Option<Blocking>,
    /// The innermost frame of the program's own code (groups only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak_site: Option<Site>,
    /// The knowledge-base entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// What usually fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Goroutines of the stack the runtime marked `(leaked)`: set when the alert is raised
    /// on that proof, at once and without a trend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proven_leaked: Option<u64>,
    /// The stack, innermost frame first (`function file:line`), for an alert on one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stack: Vec<String>,
    /// Every way out of the stack's wait, read from the source at the leak site (as in
    /// `goleash inspect`); absent without source.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exit_conditions: Vec<ExitCondition>,
}

impl Alert {
    /// The event of an alert raised on `target` in `process`.
    pub fn of(target: &str, process: i64, alert: &history::Alert) -> Alert {
        let record = &alert.record;
        let p_value = record.p_value.unwrap_or(1.0);
        let group = alert.group.as_ref();
        Alert {
            schema_version: super::SCHEMA_VERSION,
            target: target.to_string(),
            t: alert.t,
            process,
            scope: match record.signature {
                Some(_) => AlertScope::Group,
                None => AlertScope::Total,
            },
            verdict: record.verdict,
            why: record.why.clone(),
            signature: record.signature,
            count_before: record.count_before.unwrap_or(0),
            count_after: record.count_after.unwrap_or(0),
            slope_per_minute: record.slope_per_minute.unwrap_or(0.0),
            p_value,
            confidence: 1.0 - p_value,
            blocking: group.map(|g| g.blocking),
            leak_site: group.and_then(|g| g.site.as_ref()).map(Site::from),
            pattern: group.and_then(|g| g.pattern.clone()),
            hint: group.and_then(|g| g.hint.clone()),
            proven_leaked: alert.proven_leaked,
            stack: alert.stack.clone(),
            exit_conditions: alert.exits.iter().map(ExitCondition::from).collect(),
        }
    }
}

/// `dump`.
#[derive(Clone, Debug, Serialize)]
pub struct DumpEvent {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The target.
    pub target: String,
    /// Unix seconds.
    pub t: f64,
    /// `goroutineleak` or `goroutine` (`?debug=2`).
    #[serde(serialize_with = "names::history_profile")]
    pub profile: Profile,
    /// Bytes served.
    pub bytes: u64,
    /// Goroutines in it.
    pub goroutines: u64,
    /// Goroutines the runtime marked `(leaked)`.
    pub proven_leaked: u64,
    /// Why it was taken.
    pub reason: String,
}

/// `error`.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The target.
    pub target: String,
    /// Unix seconds.
    pub t: f64,
    /// What went wrong, and a hint on a line of its own.
    pub message: String,
    /// Failures in a row so far.
    pub failures: u32,
    /// Seconds until the next attempt.
    pub retry_in_secs: f64,
}

/// `recovered`.
#[derive(Clone, Debug, Serialize)]
pub struct Recovered {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The target.
    pub target: String,
    /// Unix seconds.
    pub t: f64,
    /// How many requests had failed in a row.
    pub after_failures: u32,
}

/// How well a target was sampled on time.
#[derive(Clone, Debug, Serialize)]
pub struct Schedule {
    /// Samples that were due.
    pub due: u64,
    /// Of those, how many started later than half an interval after they were due.
    pub late: u64,
    /// The largest delay, seconds.
    pub max_lag_secs: f64,
}

/// One target in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct TargetSummary {
    /// The pprof base.
    pub target: String,
    /// Samples taken by this watch.
    pub samples: u64,
    /// Of which profiles (per-stack counts).
    pub profiles: u64,
    /// Dumps stored as evidence.
    pub dumps: u64,
    /// Looks for the runtime's proof answered (goroutineleak profiles; each is also a
    /// sample, and kept as a dump only when it proved something new).
    pub proof_looks: u64,
    /// Restarts seen.
    pub restarts: u64,
    /// Failed requests.
    pub errors: u64,
    /// Where the count came from: `metrics`, `vars`, `index`, or `profile` alone; null
    /// before any answer.
    #[serde(serialize_with = "names::sample_source_or_null")]
    pub count_source: Option<SampleSource>,
    /// The last count.
    pub goroutines: Option<u64>,
    /// Seconds between profiles at the end: at least the interval, and 200 times what the
    /// last profile took, so that profiling costs the target under 0.5 % of a core.
    pub profile_interval_secs: f64,
    /// The total's trend in the current process: `{status, slope_per_minute, p_value}`.
    #[serde(serialize_with = "names::trend")]
    pub trend: TrendState,
    /// The alerts of this watch.
    pub alerts: Vec<Alert>,
    /// Goroutines created and exited a minute in the current process, where the count
    /// source says how many were created; null where it does not.
    pub churn: Option<Churn>,
    /// Stacks of the current process that an earlier watch of this history called leaks,
    /// still there: not alerted on again, but they fail `--fail-on-leak` as this watch's own.
    pub earlier_leaks: u64,
    /// The target served the goroutineleak profile (Go 1.26+) in this watch: any goroutine
    /// the runtime could prove leaked was seen, whatever the trends could tell.
    pub proof_available: bool,
    /// Sampling on time.
    pub schedule: Schedule,
    /// `watch --prometheus`: the series had no new sample at the end (it is not judged a
    /// leak for it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub gone: bool,
}

/// How many goroutines a target created and ended: a busy healthy service ends about as
/// many as it creates; a leaking one ends fewer, whatever its traffic.
#[derive(Clone, Debug, Serialize)]
pub struct Churn {
    /// Created a minute.
    pub created_per_minute: f64,
    /// Exited a minute: created minus the rise of the live count.
    pub exited_per_minute: f64,
    /// Over how many seconds.
    pub over_secs: f64,
}

/// `summary`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// How long the watch ran, seconds.
    pub duration_secs: f64,
    /// The settings.
    pub settings: Settings,
    /// What the duration left room for.
    pub plan: Plan,
    /// Alerts with the verdict `leak`.
    pub leaks: u64,
    /// Leaks an earlier watch of this history found in processes still running, still
    /// there (the targets' `earlier_leaks`).
    pub earlier_leaks: u64,
    /// Per target.
    pub targets: Vec<TargetSummary>,
    /// `watch --prometheus`: its evaluations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluations: Option<Evaluations>,
}

impl Summary {
    /// The summary of targets watched for `duration_secs` with `settings`.
    pub fn new(
        duration_secs: f64,
        settings: Settings,
        plan: Plan,
        targets: Vec<TargetSummary>,
    ) -> Summary {
        Summary {
            schema_version: super::SCHEMA_VERSION,
            duration_secs,
            settings,
            plan,
            leaks: targets
                .iter()
                .flat_map(|t| &t.alerts)
                .filter(|a| a.verdict == AlertVerdict::Group(Verdict::Leak))
                .count() as u64,
            earlier_leaks: targets.iter().map(|t| t.earlier_leaks).sum(),
            targets,
            evaluations: None,
        }
    }

    /// The targets nothing could have called a leak in: no goroutineleak profile to prove
    /// one with, and no trend verdict reached (the run too short for one, or the target
    /// sampled too rarely). "No leak found" says nothing about them.
    pub fn unjudged(&self) -> impl Iterator<Item = &TargetSummary> {
        self.targets
            .iter()
            .filter(|t| !t.proof_available && !matches!(t.trend, TrendState::Judged { .. }))
    }
}

/// What the live view shows, now.
#[derive(Clone, Debug)]
pub struct LiveDoc {
    /// How long the watch has run, seconds.
    pub elapsed_secs: f64,
    /// Its settings.
    pub settings: Settings,
    /// How many targets it watches.
    pub watched: usize,
    /// The targets to show, rising first, then the largest counts: no more than the view
    /// has room for.
    pub targets: Vec<LiveTarget>,
}

/// One target in the live view.
#[derive(Clone, Debug)]
pub struct LiveTarget {
    /// The pprof base.
    pub target: String,
    /// The last count.
    pub goroutines: Option<u64>,
    /// Goroutines a minute: the trend's slope once judged, else the rate over the last
    /// minute of samples.
    pub rate_per_minute: Option<f64>,
    /// The last counts, oldest first.
    pub recent: Vec<u32>,
    /// The total's trend in the current process.
    pub trend: TrendState,
    /// The last failure, while the target does not answer.
    pub error: Option<String>,
    /// The stacks that grow most: rising ones first, then by growth.
    pub growing: Vec<LiveStack>,
}

/// A stack that grows, in the live view.
#[derive(Clone, Debug)]
pub struct LiveStack {
    /// Its count rises the way a leak does.
    pub rising: bool,
    /// The verdict of its latest assessment.
    pub verdict: Verdict,
    /// Its count now.
    pub goroutines: u64,
    /// How much the level it falls back to grew since the first window.
    pub delta: i64,
    /// What its goroutines wait for.
    pub blocking: Blocking,
    /// The innermost frame of the program's own code.
    pub site: Option<Site>,
}
