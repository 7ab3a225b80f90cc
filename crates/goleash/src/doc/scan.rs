//! `goleash scan`: every series of a fleet judged from Prometheus, ranked, with the leaking
//! stacks of the suspects.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Group;

/// `goleash scan --format json`.
#[derive(Clone, Debug, Serialize)]
pub struct ScanDoc {
    /// Always [`SCHEMA_VERSION`](super::SCHEMA_VERSION).
    pub schema_version: u32,
    /// The Prometheus server asked.
    pub prometheus: String,
    /// The series selector.
    pub selector: String,
    /// The range read, unix seconds.
    pub start: f64,
    /// Its end, unix seconds.
    pub end: f64,
    /// Seconds between the points asked for.
    pub step: f64,
    /// Range queries made (the range is split under the points-per-series limit).
    pub queries: usize,
    /// Series the selector matched.
    pub series: usize,
    /// Series that got a direction (rising, flat or falling).
    pub judged: usize,
    /// Series whose count rises the way a leak makes it rise.
    pub rising: usize,
    /// What went wrong on the way, with what was salvaged: failed or partial queries,
    /// series that are not goroutine counts, suspects whose profiles could not be read.
    pub problems: Vec<String>,
    /// Every series, most evidence of a leak first.
    pub instances: Vec<Instance>,
    /// Where the time went.
    pub timings: Timings,
}

/// Seconds spent, by whom.
#[derive(Clone, Debug, Serialize)]
pub struct Timings {
    /// Waiting for Prometheus's answers: its query time and the transfer.
    pub prometheus_secs: f64,
    /// Decoding them into series.
    pub decode_secs: f64,
    /// Judging every series with the trend engine.
    pub judge_secs: f64,
    /// Reading and judging the suspects' profiles (waits between two profiles included).
    pub stacks_secs: f64,
}

/// Where one series stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Count and floor rise: a leak, or load that keeps growing.
    Rising,
    /// Nothing passes the thresholds.
    Flat,
    /// Count and peaks fall.
    Falling,
    /// Too little data after warm-up in the newest process.
    Insufficient,
    /// The values are not a goroutine count (negative, fractional or infinite).
    NotACount,
}

/// One series, judged.
#[derive(Clone, Debug, Serialize)]
pub struct Instance {
    /// 1 for the most evidence of a leak.
    pub rank: usize,
    /// Its labels, `__name__` included.
    pub labels: BTreeMap<String, String>,
    /// The trend of its newest process.
    pub direction: Direction,
    /// For rising and falling: the larger of the two one-sided p-values behind it.
    pub p_value: Option<f64>,
    /// Theil–Sen slope of the newest process after warm-up, goroutines per hour.
    pub slope_per_hour: Option<f64>,
    /// Why it is insufficient or not a count.
    pub reason: Option<String>,
    /// Points read.
    pub samples: usize,
    /// Process restarts within the range (from `process_start_time_seconds` where served,
    /// else inferred from count drops).
    pub restarts: usize,
    /// The newest process's first point, unix seconds.
    pub since: Option<f64>,
    /// The last count.
    pub last: Option<f64>,
    /// The largest count.
    pub max: Option<f64>,
    /// For rising series: the count over the range, at most 200 `[t, count]` points (the
    /// median of each stretch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counts: Option<Vec<[f64; 2]>>,
    /// For the suspects whose stacks were looked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stacks: Option<Stacks>,
}

impl Instance {
    /// `instance="10.0.0.7:6060" job="api"`: its labels without the metric name.
    pub fn series_name(&self) -> String {
        self.labels
            .iter()
            .filter(|(k, _)| k.as_str() != "__name__")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// How the leaking stacks of a suspect were named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The goroutineleak profile proved them leaked.
    Proven,
    /// Compared with a healthy replica of the same job: the stacks it has fewer of.
    Replica,
    /// Compared with a second profile of the suspect taken a short interval later.
    Interval,
}

/// The leaking stacks of one suspect.
#[derive(Clone, Debug, Serialize)]
pub struct Stacks {
    /// Its pprof base, from the template.
    pub pprof: Option<String>,
    /// How they were named; null when no profile could be read.
    pub method: Option<Method>,
    /// For `replica`: the replica's pprof base.
    pub compared_with: Option<String>,
    /// The stacks that leak or grew, most goroutines first. `dump` is 0 (the suspect's
    /// profile); `count_before` is the count in the replica or the first profile.
    pub groups: Vec<StackGroup>,
    /// Why no stacks were named: the template not filled, the instance gone, …
    pub error: Option<String>,
}

/// One stack of a suspect.
#[derive(Clone, Debug, Serialize)]
pub struct StackGroup {
    /// As in `inspect`.
    #[serde(flatten)]
    pub group: Group,
    /// Goroutines with this stack in what it was compared with (null for `proven`).
    pub count_before: Option<u64>,
}
