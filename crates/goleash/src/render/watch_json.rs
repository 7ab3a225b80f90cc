//! The events `goleash watch --format json` prints, one JSON object per line, and that the
//! text views show. The contract is in `docs/json.md`.

use serde::Serialize;

use super::json::SiteJson;
use crate::history::Settings;

/// One line of `watch --format json`.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    /// The watch started.
    Start(StartJson),
    /// A target was sampled.
    Sample(SampleJson),
    /// A target's process changed.
    Restart(RestartJson),
    /// A leak, a suspect, or a total that rises.
    Alert(Box<AlertJson>),
    /// A dump was taken and stored as evidence.
    Dump(DumpJson),
    /// A request to a target failed.
    Error(ErrorJson),
    /// A target answers again after failures.
    Recovered(RecoveredJson),
    /// The watch ended.
    Summary(Box<SummaryJson>),
}

/// The trend settings of a watch.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SettingsJson {
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

impl From<&Settings> for SettingsJson {
    fn from(settings: &Settings) -> Self {
        SettingsJson {
            interval_secs: settings.interval_secs,
            warmup_secs: settings.warmup_secs,
            cooldown_secs: settings.cooldown_secs,
            min_windows: settings.min_windows,
            min_rise: settings.min_rise,
            compressed: settings.compressed,
        }
    }
}

/// `start`.
#[derive(Clone, Debug, Serialize)]
pub struct StartJson {
    /// Always 1.
    pub schema_version: u32,
    /// The pprof bases watched.
    pub targets: Vec<String>,
    /// The history database.
    pub db: String,
    /// The settings.
    pub settings: SettingsJson,
    /// The targets are simulated (`goleash demo`).
    pub simulated: bool,
}

/// A count per stack.
#[derive(Clone, Debug, Serialize)]
pub struct GroupCountJson {
    /// The stack's signature.
    pub signature: String,
    /// Goroutines.
    pub count: u64,
}

/// `sample`.
#[derive(Clone, Debug, Serialize)]
pub struct SampleJson {
    /// Always 1.
    pub schema_version: u32,
    /// The target's pprof base.
    pub target: String,
    /// Unix seconds.
    pub t: f64,
    /// Goroutines.
    pub goroutines: u64,
    /// `metrics`, `vars`, `index`, `profile` or `dump`.
    pub source: &'static str,
    /// The process, as numbered in the history.
    pub process: i64,
    /// Milliseconds the request took.
    pub cost_ms: f64,
    /// Per stack, for `profile` and `dump` samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<GroupCountJson>>,
}

/// `restart`.
#[derive(Clone, Debug, Serialize)]
pub struct RestartJson {
    /// Always 1.
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

/// `alert`.
#[derive(Clone, Debug, Serialize)]
pub struct AlertJson {
    /// Always 1.
    pub schema_version: u32,
    /// The target.
    pub target: String,
    /// Unix seconds.
    pub t: f64,
    /// The process.
    pub process: i64,
    /// `group` (one stack) or `total`.
    pub scope: &'static str,
    /// `leak`, `suspect`, or `rising` for a total.
    pub verdict: String,
    /// The evidence, in a sentence.
    pub why: String,
    /// The stack's signature (groups only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocking: Option<String>,
    /// The innermost frame of the program's own code (groups only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak_site: Option<SiteJson>,
    /// The knowledge-base entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// What usually fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// `dump`.
#[derive(Clone, Debug, Serialize)]
pub struct DumpJson {
    /// Always 1.
    pub schema_version: u32,
    /// The target.
    pub target: String,
    /// Unix seconds.
    pub t: f64,
    /// `goroutineleak` or `goroutine` (`?debug=2`).
    pub profile: &'static str,
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
pub struct ErrorJson {
    /// Always 1.
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
pub struct RecoveredJson {
    /// Always 1.
    pub schema_version: u32,
    /// The target.
    pub target: String,
    /// Unix seconds.
    pub t: f64,
    /// How many requests had failed in a row.
    pub after_failures: u32,
}

/// The trend of a target's total.
#[derive(Clone, Debug, Serialize)]
pub struct TrendJson {
    /// `rising`, `flat`, `falling`, `collecting`, `warming up` or `no data`.
    pub status: &'static str,
    /// Theil–Sen slope, goroutines per minute, once judged.
    pub slope_per_minute: Option<f64>,
    /// The p-value of a rise or fall.
    pub p_value: Option<f64>,
}

/// How well a target was sampled on time.
#[derive(Clone, Debug, Serialize)]
pub struct ScheduleJson {
    /// Samples that were due.
    pub due: u64,
    /// Of those, how many started later than half an interval after they were due.
    pub late: u64,
    /// The largest delay, seconds.
    pub max_lag_secs: f64,
}

/// One target in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct TargetSummaryJson {
    /// The pprof base.
    pub target: String,
    /// Samples taken by this watch.
    pub samples: u64,
    /// Of which profiles (per-stack counts).
    pub profiles: u64,
    /// Dumps stored as evidence.
    pub dumps: u64,
    /// Restarts seen.
    pub restarts: u64,
    /// Failed requests.
    pub errors: u64,
    /// Where the count came from: `metrics`, `vars`, `index`, or `profile` alone.
    pub count_source: Option<&'static str>,
    /// The last count.
    pub goroutines: Option<u64>,
    /// Seconds between profiles at the end: at least the interval, and 200 times what the
    /// last profile took, so that profiling costs the target under 0.5 % of a core.
    pub profile_interval_secs: f64,
    /// The total's trend in the current process.
    pub trend: TrendJson,
    /// The alerts of this watch.
    pub alerts: Vec<AlertJson>,
    /// Sampling on time.
    pub schedule: ScheduleJson,
}

/// `summary`.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryJson {
    /// Always 1.
    pub schema_version: u32,
    /// How long the watch ran, seconds.
    pub duration_secs: f64,
    /// The settings.
    pub settings: SettingsJson,
    /// Alerts with the verdict `leak`.
    pub leaks: u64,
    /// Per target.
    pub targets: Vec<TargetSummaryJson>,
}

/// `goleash report --format json`: the whole history of a database.
#[derive(Clone, Debug, Serialize)]
pub struct ReportDoc {
    /// Always 1.
    pub schema_version: u32,
    /// The database, as named on the command line.
    pub db: String,
    /// Some of the history was recorded by `goleash demo`: simulated targets.
    pub simulated: bool,
    /// The settings of the latest watch session, with which trends are judged here.
    pub settings: Option<SettingsJson>,
    /// Unix seconds of the first sample.
    pub from: Option<f64>,
    /// Unix seconds of the last sample.
    pub to: Option<f64>,
    /// Per target.
    pub targets: Vec<TargetReportJson>,
}

/// One target's history.
#[derive(Clone, Debug, Serialize)]
pub struct TargetReportJson {
    /// The pprof base.
    pub target: String,
    /// `leak` (a stack leaked), `suspect`, `rising` (the count rises, no stack to blame),
    /// `ok`, or `no data`.
    pub verdict: &'static str,
    /// The last count.
    pub goroutines: Option<u64>,
    /// Every sample: `[t, goroutines, process]`.
    pub samples: Vec<(f64, u64, i64)>,
    /// The processes, oldest first.
    pub processes: Vec<ProcessJson>,
    /// Load phases inferred from the total, and whether the count came back after each.
    pub phases: Vec<PhaseJson>,
    /// The total's trend in the latest process.
    pub trend: TrendJson,
    /// Stacks: the ones that rose or were alerted on first, then by largest count.
    pub groups: Vec<GroupReportJson>,
    /// Alerts raised, in time order.
    pub alerts: Vec<AlertRowJson>,
    /// Profiles and dumps kept.
    pub dumps: Vec<StoredDumpJson>,
    /// The first and the last snapshot kept, compared by stack.
    pub diff: Option<SnapshotDiffJson>,
}

/// A process of a target.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessJson {
    /// Its number in the history.
    pub id: i64,
    /// Unix seconds of its first sample.
    pub seen: f64,
    /// `process_start_time_seconds`, when served.
    pub start_time: Option<f64>,
    /// Why it was taken to be a new process (`first seen` for the first).
    pub reason: String,
}

/// A load phase.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseJson {
    /// Unix seconds.
    pub start: f64,
    /// Unix seconds.
    pub end: f64,
    /// The count before it.
    pub baseline: Option<f64>,
    /// Its highest count.
    pub peak: Option<f64>,
    /// `recovered`, `stuck`, `pending`, `interrupted`, `restarted`, `unaffected`, `no baseline`.
    pub outcome: &'static str,
    /// For `recovered`: seconds from the end of the phase until the count was back.
    pub after_secs: Option<f64>,
    /// For `stuck`: goroutines that stayed.
    pub retained: Option<f64>,
}

/// One stack over the history.
#[derive(Clone, Debug, Serialize)]
pub struct GroupReportJson {
    /// The signature.
    pub signature: String,
    /// The latest verdict.
    pub verdict: String,
    /// Its evidence.
    pub why: String,
    /// What the goroutines wait for.
    pub blocking: String,
    /// The innermost frame of the program's own code.
    pub leak_site: Option<super::json::SiteJson>,
    /// The knowledge-base entry.
    pub pattern: Option<String>,
    /// What usually fixes it.
    pub hint: Option<String>,
    /// The stack, innermost first.
    pub frames: Vec<super::json::FrameJson>,
    /// The `go` statement.
    pub created_by: Option<super::json::CreatorJson>,
    /// Unix seconds when first seen.
    pub first_seen: f64,
    /// Its count in the first profile of the latest process it was seen in.
    pub count_first: u64,
    /// Its count in the last profile.
    pub count_last: u64,
    /// Its highest count.
    pub count_max: u64,
    /// Its trend in the latest process.
    pub trend: TrendJson,
    /// An alert named it.
    pub alerted: bool,
    /// Its count at every profile: `[t, count]`.
    pub series: Vec<(f64, u64)>,
}

/// An alert in the history.
#[derive(Clone, Debug, Serialize)]
pub struct AlertRowJson {
    /// Unix seconds.
    pub t: f64,
    /// The process.
    pub process: i64,
    /// The stack, or null for the total.
    pub signature: Option<String>,
    /// `leak`, `suspect`, `rising`.
    pub verdict: String,
    /// The evidence.
    pub why: String,
    /// Goroutines a minute.
    pub slope_per_minute: Option<f64>,
    /// The trend's p-value.
    pub p_value: Option<f64>,
    /// Where the trend started.
    pub count_before: Option<u64>,
    /// The count when raised.
    pub count_after: Option<u64>,
}

/// A profile or dump kept in the history.
#[derive(Clone, Debug, Serialize)]
pub struct StoredDumpJson {
    /// Its id in the history.
    pub id: i64,
    /// Unix seconds.
    pub t: f64,
    /// `goroutine` or `goroutineleak`.
    pub profile: String,
    /// 0 or 2.
    pub debug: u8,
    /// `first` (of a process), `latest` or `evidence`.
    pub role: String,
    /// Why it was kept.
    pub reason: String,
    /// Bytes as served.
    pub bytes: u64,
}

/// The first and last snapshots kept, compared by stack.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotDiffJson {
    /// The earlier one's id in `dumps`.
    pub before: i64,
    /// The later one's id.
    pub after: i64,
    /// Goroutines before.
    pub goroutines_before: u64,
    /// Goroutines after.
    pub goroutines_after: u64,
    /// Restarts between the two: goroutines did not carry over.
    pub restarts_between: usize,
    /// Stacks that changed, largest growth first.
    pub rows: Vec<DiffRowJson>,
}

/// One stack of a [`SnapshotDiffJson`].
#[derive(Clone, Debug, Serialize)]
pub struct DiffRowJson {
    /// The signature.
    pub signature: String,
    /// Its leak site (function).
    pub function: String,
    /// Goroutines before.
    pub count_before: u64,
    /// Goroutines after.
    pub count_after: u64,
    /// `count_after − count_before`.
    pub delta: i64,
    /// `new`, `grew`, `shrank`, `gone`.
    pub change: &'static str,
    /// The verdict judged on this growth.
    pub verdict: &'static str,
    /// Its evidence.
    pub why: String,
}
