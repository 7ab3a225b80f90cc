//! What a watch records about the stacks and alerts of its targets: the domain of the
//! history, below both the watch that writes it and the store that keeps it.
//!
//! These are neither wire types nor storage: the store has its own encoding of them
//! (`store::codes`), and the JSON documents convert from them at their boundary, so the
//! public JSON and the database can each change without the other.

use goleash_core::classify::{Assessment, Blocking, Verdict};
use goleash_core::exits::ExitCondition;
use goleash_core::trend::TrendOptions;
use goleash_core::{FrameId, Group, Signature, Tables};

/// The trend settings of a watch session, with which its verdicts were reached and its
/// history is judged again.
#[derive(Clone, Debug, PartialEq)]
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

impl Settings {
    /// The trend options the session ran with.
    pub fn trend(&self) -> TrendOptions {
        let mut trend = TrendOptions {
            warmup_secs: self.warmup_secs,
            min_windows: self.min_windows,
            min_rise: self.min_rise,
            ..TrendOptions::default()
        };
        if self.cooldown_secs != trend.cooldown_secs {
            trend.cooldown_secs = self.cooldown_secs;
            // The baseline before a load phase scales with the windows (60 s of 300 s).
            trend.baseline_secs = self.cooldown_secs / 5.0;
        }
        trend
    }
}

/// Where a sample's count came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SampleSource {
    /// Prometheus `go_goroutines` on `/metrics`.
    Metrics,
    /// An expvar on `/debug/vars`.
    Vars,
    /// The `/debug/pprof/` index page.
    Index,
    /// The `debug=0` goroutine profile.
    Profile,
    /// A `debug=2` dump.
    Dump,
    /// Prometheus, which scraped the count (`watch --prometheus`).
    Prometheus,
}

impl SampleSource {
    /// The name used in JSON and text.
    pub fn name(self) -> &'static str {
        match self {
            SampleSource::Metrics => "metrics",
            SampleSource::Vars => "vars",
            SampleSource::Index => "index",
            SampleSource::Profile => "profile",
            SampleSource::Dump => "dump",
            SampleSource::Prometheus => "prometheus",
        }
    }
}

/// The innermost frame of the program's own code in a stack: where it leaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    /// The function.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line.
    pub line: u32,
    /// The source line, when the file was readable.
    pub source: Option<String>,
}

impl Site {
    /// The leak site of an assessment, with the line of source read there.
    pub fn of(tables: &Tables, assessment: &Assessment) -> Option<Site> {
        assessment.leak_site.map(|f| {
            let frame = tables.get_frame(f);
            Site {
                function: tables.str(frame.function).into_owned(),
                file: tables.str(frame.file).into_owned(),
                line: frame.line,
                source: assessment.exits.as_ref().map(|s| s.text.clone()),
            }
        })
    }
}

/// One frame of a recorded stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The function as Go prints it.
    pub function: String,
    /// The source file; empty when unknown.
    pub file: String,
    /// The line; 0 when unknown.
    pub line: u32,
    /// The `+0x` offset, when printed.
    pub offset: Option<u32>,
    /// The call was inlined.
    pub inlined: bool,
}

impl Frame {
    /// Frame `id` of `tables`.
    pub fn of(tables: &Tables, id: FrameId) -> Frame {
        let frame = tables.get_frame(id);
        Frame {
            function: tables.str(frame.function).into_owned(),
            file: tables.str(frame.file).into_owned(),
            line: frame.line,
            offset: frame.offset,
            inlined: frame.inlined,
        }
    }
}

/// The `go` statement that started a stack's goroutines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creator {
    /// The function holding the `go` statement.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line of the `go` statement.
    pub line: u32,
}

impl Creator {
    /// The `created by` frame `id` of `tables`.
    pub fn of(tables: &Tables, id: FrameId) -> Creator {
        let frame = tables.get_frame(id);
        Creator {
            function: tables.str(frame.function).into_owned(),
            file: tables.str(frame.file).into_owned(),
            line: frame.line,
        }
    }
}

/// What a stack is as the watch follows it: its latest assessment.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupInfo {
    /// What its goroutines wait for.
    pub blocking: Blocking,
    /// The innermost frame of the program's own code.
    pub site: Option<Site>,
    /// The verdict of its latest assessment.
    pub verdict: Verdict,
    /// Its evidence.
    pub why: String,
    /// The knowledge-base entry.
    pub pattern: Option<String>,
    /// What usually fixes it.
    pub hint: Option<String>,
}

impl GroupInfo {
    /// A stack as `assessment` describes it.
    pub fn of(tables: &Tables, assessment: &Assessment) -> GroupInfo {
        GroupInfo {
            blocking: assessment.blocking,
            site: Site::of(tables, assessment),
            verdict: assessment.verdict,
            why: assessment.why.clone(),
            pattern: assessment.pattern.map(|p| p.id.to_string()),
            hint: assessment.hint().map(String::from),
        }
    }

    /// `main.search.func1 main.go:52`, or the blocking operation when the site is unknown:
    /// how the reason of an evidence dump names the stack.
    pub fn site_text(&self) -> String {
        match &self.site {
            Some(site) => {
                let file = site.file.rsplit('/').next().unwrap_or(&site.file);
                format!("{} {file}:{}", site.function, site.line)
            }
            None => self.blocking.name().to_string(),
        }
    }
}

/// What a stack is, recorded when its signature is first seen, with the verdict of its
/// latest assessment.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupMeta {
    /// The stack's signature.
    pub signature: Signature,
    /// What its goroutines wait for.
    pub blocking: Blocking,
    /// The leak site.
    pub site: Option<Site>,
    /// The stack, innermost frame first.
    pub frames: Vec<Frame>,
    /// The `go` statement.
    pub created_by: Option<Creator>,
    /// The verdict.
    pub verdict: Verdict,
    /// Its evidence.
    pub why: String,
    /// The knowledge-base entry's id.
    pub pattern: Option<String>,
    /// What usually fixes it.
    pub hint: Option<String>,
}

impl GroupMeta {
    /// The row recorded for `group`, a stack seen for the first time, described by `info`.
    pub fn of(tables: &Tables, group: &Group, info: &GroupInfo) -> GroupMeta {
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
}

/// A new verdict for a known stack.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictUpdate {
    /// The stack.
    pub signature: Signature,
    /// The verdict.
    pub verdict: Verdict,
    /// Its evidence.
    pub why: String,
    /// The knowledge-base entry's id.
    pub pattern: Option<String>,
    /// What usually fixes it.
    pub hint: Option<String>,
}

impl VerdictUpdate {
    /// Stack `signature` is now as `info` describes it.
    pub fn of(signature: Signature, info: &GroupInfo) -> VerdictUpdate {
        VerdictUpdate {
            signature,
            verdict: info.verdict,
            why: info.why.clone(),
            pattern: info.pattern.clone(),
            hint: info.hint.clone(),
        }
    }
}

/// What an alert says: a stack's verdict, or that the total count rises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertVerdict {
    /// A stack was judged so.
    Group(Verdict),
    /// The total rises, whichever stack it is.
    Rising,
}

impl AlertVerdict {
    /// The name used in JSON and text.
    pub fn name(self) -> &'static str {
        match self {
            AlertVerdict::Group(verdict) => verdict.name(),
            AlertVerdict::Rising => "rising",
        }
    }
}

/// A leak, suspicion or rising count found by a watch.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRecord {
    /// The stack, or `None` for the total.
    pub signature: Option<Signature>,
    /// What it says.
    pub verdict: AlertVerdict,
    /// The evidence.
    pub why: String,
    /// Theil–Sen slope.
    pub slope_per_minute: Option<f64>,
    /// The trend's p-value.
    pub p_value: Option<f64>,
    /// The count where the trend started.
    pub count_before: Option<u64>,
    /// The count now.
    pub count_after: Option<u64>,
}

/// An alert as a watch raises it: what the history records of it, and for an alert on a
/// stack, what the stack is.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// When, unix seconds.
    pub t: f64,
    /// What is recorded.
    pub record: AlertRecord,
    /// The stack, for an alert on one.
    pub group: Option<GroupInfo>,
    /// Goroutines of the stack the runtime marked `(leaked)`, for an alert raised on that
    /// proof.
    pub proven_leaked: Option<u64>,
    /// The stack's frames, innermost first, as `function file:line`; empty when not at
    /// hand.
    pub stack: Vec<String>,
    /// The ways out of the stack's wait, read from the source when the alert was raised;
    /// empty without source. Not recorded: a report reads them again where it is made.
    pub exits: Vec<ExitCondition>,
}

/// Which pprof profile a body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `/debug/pprof/goroutine`.
    Goroutine,
    /// `/debug/pprof/goroutineleak` (Go 1.26+): the runtime marks the leaked goroutines.
    GoroutineLeak,
}

impl Profile {
    /// The name pprof serves it under, as JSON and text show it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Goroutine => "goroutine",
            Profile::GoroutineLeak => "goroutineleak",
        }
    }
}

/// Why a body is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DumpRole {
    /// The first profile of a process.
    First,
    /// The latest profile of a target; it replaces the previous one.
    Latest,
    /// A full dump taken when something rose.
    Evidence,
}

impl DumpRole {
    /// The name used in JSON and text.
    pub fn name(self) -> &'static str {
        match self {
            DumpRole::First => "first",
            DumpRole::Latest => "latest",
            DumpRole::Evidence => "evidence",
        }
    }
}

/// A profile or dump body to keep.
#[derive(Clone, Debug, PartialEq)]
pub struct DumpRecord {
    /// Which profile.
    pub profile: Profile,
    /// 0 or 2.
    pub debug: u8,
    /// Why it is kept.
    pub role: DumpRole,
    /// Why it was taken.
    pub reason: String,
    /// The body as served (the store compresses it).
    pub body: Vec<u8>,
}
