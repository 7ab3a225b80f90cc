//! `goleash report`: the whole history of a watch database, judged again with the settings
//! of its latest session. The text, JSON and HTML renderers all draw from it.

use goleash_core::Signature;
use goleash_core::classify::{Blocking, Verdict};
use goleash_core::trend::{Recovery, TrendState};
use serde::Serialize;

use super::diff::Change;
use super::watch::Settings;
use super::{Creator, ExitCondition, Frame, Site, names};
use crate::history::{AlertVerdict, DumpRole, Profile};

/// `goleash report --format json`.
#[derive(Clone, Debug, Serialize)]
pub struct ReportDoc {
    /// Always [`super::SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The database, as named on the command line.
    pub db: String,
    /// Some of the history was recorded by `goleash demo`: simulated targets.
    pub simulated: bool,
    /// The settings of the latest watch session, with which trends are judged here.
    pub settings: Option<Settings>,
    /// Unix seconds of the first sample.
    pub from: Option<f64>,
    /// Unix seconds of the last sample.
    pub to: Option<f64>,
    /// Per target.
    pub targets: Vec<TargetReport>,
}

impl ReportDoc {
    /// The first stack an alert called a leak, over all targets.
    pub fn alerted_leak(&self) -> Option<&GroupReport> {
        self.targets
            .iter()
            .flat_map(|t| &t.groups)
            .find(|g| g.alerted && g.verdict == Verdict::Leak)
    }
}

/// What a target's history comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetVerdict {
    /// An alert called a stack a leak.
    Leak,
    /// An alert called a stack a suspect.
    Suspect,
    /// The total rose, with no stack to blame.
    Rising,
    /// None of those.
    Ok,
    /// No sample.
    NoData,
}

impl TargetVerdict {
    /// `leak`, `suspect`, `rising`, `ok` or `no data`.
    pub fn name(self) -> &'static str {
        match self {
            TargetVerdict::Leak => "leak",
            TargetVerdict::Suspect => "suspect",
            TargetVerdict::Rising => "rising",
            TargetVerdict::Ok => "ok",
            TargetVerdict::NoData => "no data",
        }
    }
}

/// One target's history.
#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    /// The pprof base.
    pub target: String,
    /// `leak` (a stack leaked), `suspect`, `rising` (the count rises, no stack to blame),
    /// `ok`, or `no data`.
    #[serde(serialize_with = "names::target_verdict")]
    pub verdict: TargetVerdict,
    /// The last count.
    pub goroutines: Option<u64>,
    /// Every sample: `[t, goroutines, process]`.
    pub samples: Vec<(f64, u64, i64)>,
    /// The processes, oldest first.
    pub processes: Vec<Process>,
    /// Load phases inferred from the total, and whether the count came back after each.
    pub phases: Vec<Phase>,
    /// The total's trend in the latest process: `{status, slope_per_minute, p_value}`.
    #[serde(serialize_with = "names::trend")]
    pub trend: TrendState,
    /// Stacks: the ones that rose or were alerted on first, then by largest count.
    pub groups: Vec<GroupReport>,
    /// Alerts raised, in time order.
    pub alerts: Vec<HistoryAlert>,
    /// Profiles and dumps kept.
    pub dumps: Vec<StoredDump>,
    /// The first and the last snapshot kept, compared by stack.
    pub diff: Option<SnapshotDiff>,
}

/// A process of a target.
#[derive(Clone, Debug, Serialize)]
pub struct Process {
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
pub struct Phase {
    /// Unix seconds.
    pub start: f64,
    /// Unix seconds.
    pub end: f64,
    /// The count before it.
    pub baseline: Option<f64>,
    /// Its highest count.
    pub peak: Option<f64>,
    /// Whether the count came back: on the wire `outcome` (`recovered`, `stuck`, `pending`,
    /// `interrupted`, `restarted`, `unaffected`, `no baseline`), `after_secs` (for
    /// `recovered`: seconds from the end of the phase until the count was back) and
    /// `retained` (for `stuck`: goroutines that stayed).
    #[serde(flatten, serialize_with = "names::recovery")]
    pub outcome: Recovery,
}

/// One stack over the history.
#[derive(Clone, Debug, Serialize)]
pub struct GroupReport {
    /// The signature.
    #[serde(serialize_with = "names::signature")]
    pub signature: Signature,
    /// The latest verdict.
    #[serde(serialize_with = "names::verdict")]
    pub verdict: Verdict,
    /// Its evidence.
    pub why: String,
    /// What the goroutines wait for.
    #[serde(serialize_with = "names::blocking")]
    pub blocking: Blocking,
    /// The innermost frame of the program's own code.
    pub leak_site: Option<Site>,
    /// The knowledge-base entry.
    pub pattern: Option<String>,
    /// What usually fixes it.
    pub hint: Option<String>,
    /// Every way out of the wait, read from the source at the leak site of the latest kept
    /// dump that holds the stack; absent when the source was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_conditions: Option<Vec<ExitCondition>>,
    /// Why the source at hand was not used: it does not match the binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_mismatch: Option<String>,
    /// The stack, innermost first.
    pub frames: Vec<Frame>,
    /// The `go` statement.
    pub created_by: Option<Creator>,
    /// Unix seconds when first seen.
    pub first_seen: f64,
    /// Its count in the first profile of the latest process it was seen in.
    pub count_first: u64,
    /// Its count in the last profile.
    pub count_last: u64,
    /// Its highest count.
    pub count_max: u64,
    /// Its trend in the latest process: `{status, slope_per_minute, p_value}`.
    #[serde(serialize_with = "names::trend")]
    pub trend: TrendState,
    /// An alert named it.
    pub alerted: bool,
    /// Its count at every profile: `[t, count]`.
    pub series: Vec<(f64, u64)>,
}

/// An alert in the history.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryAlert {
    /// Unix seconds.
    pub t: f64,
    /// The process.
    pub process: i64,
    /// The stack, or null for the total.
    #[serde(serialize_with = "names::signature_or_null")]
    pub signature: Option<Signature>,
    /// `leak`, `suspect`, `rising`.
    #[serde(serialize_with = "names::alert_verdict")]
    pub verdict: AlertVerdict,
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
pub struct StoredDump {
    /// Its id in the history.
    pub id: i64,
    /// Unix seconds.
    pub t: f64,
    /// `goroutine` or `goroutineleak`.
    #[serde(serialize_with = "names::history_profile")]
    pub profile: Profile,
    /// 0 or 2.
    pub debug: u8,
    /// `first` (of a process), `latest` or `evidence`.
    #[serde(serialize_with = "names::dump_role")]
    pub role: DumpRole,
    /// Why it was kept.
    pub reason: String,
    /// Bytes as served.
    pub bytes: u64,
}

/// The first and last snapshots kept, compared by stack.
#[derive(Clone, Debug, Serialize)]
pub struct SnapshotDiff {
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
    pub rows: Vec<DiffRow>,
}

/// One stack of a [`SnapshotDiff`].
#[derive(Clone, Debug, Serialize)]
pub struct DiffRow {
    /// The signature.
    #[serde(serialize_with = "names::signature")]
    pub signature: Signature,
    /// Its leak site (function).
    pub function: String,
    /// Goroutines before.
    pub count_before: u64,
    /// Goroutines after.
    pub count_after: u64,
    /// `count_after − count_before`.
    pub delta: i64,
    /// `new`, `grew`, `shrank`, `gone`.
    pub change: Change,
    /// The verdict judged on this growth, then by the stack's trend over the watch.
    #[serde(serialize_with = "names::verdict")]
    pub verdict: Verdict,
    /// Its evidence.
    pub why: String,
}
