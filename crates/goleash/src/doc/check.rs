//! `goleash check`: the gate's decision on every group judged.

use goleash_core::classify::{Assessment, Growth};
use goleash_core::{Capture, Snapshot};
use serde::Serialize;

use super::{Group, SCHEMA_VERSION, names};
use crate::gate::{Gate, GateOutcome};

/// `goleash check --format json`.
#[derive(Clone, Debug, Serialize)]
pub struct CheckDoc {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Whether the gate passed.
    pub passed: bool,
    /// Suspects fail too.
    pub strict: bool,
    /// Goroutines in the judged snapshots.
    pub goroutines: u64,
    /// Every group judged, with its outcome.
    pub groups: Vec<CheckGroup>,
    /// What to do when the program's source was not found here (`--source DIR`).
    pub source_note: Option<String>,
    /// Each judged snapshot (groups refer to it by `dump`): its input and total.
    #[serde(skip)]
    pub snapshots: Vec<JudgedSnapshot>,
    /// The configuration whose rules suppressed groups, when one was read.
    #[serde(skip)]
    pub config: Option<String>,
    /// `--load`: the load run between the idle and the after snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadRun>,
}

/// `check URL --load CMD`: what the load did to the goroutine count.
#[derive(Clone, Debug, Serialize)]
pub struct LoadRun {
    /// The command, as given.
    pub command: String,
    /// Goroutines in the idle snapshot, before the load.
    pub goroutines_idle: u64,
    /// The most goroutines counted while the load ran.
    pub goroutines_peak: u64,
    /// Goroutines in the snapshot judged, after the load.
    pub goroutines_after: u64,
    /// Seconds the load took.
    pub load_secs: f64,
    /// Seconds waited after it for the count to come back.
    pub settle_secs: f64,
    /// How the wait ended: `back` (the count came back to the idle level), `steady` (it
    /// stopped falling, above it) or `timeout` (`--settle-timeout` passed).
    pub settled: Settled,
}

/// How the wait after a load ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Settled {
    /// The count came back to the idle level.
    Back,
    /// It stopped falling, above the idle level.
    Steady,
    /// The wait's bound passed while it still fell.
    Timeout,
}

/// A snapshot the gate judged.
#[derive(Clone, Debug)]
pub struct JudgedSnapshot {
    /// Its input.
    pub source: String,
    /// Its goroutines.
    pub goroutines: u64,
}

/// One group and what the gate made of it.
#[derive(Clone, Debug, Serialize)]
pub struct CheckGroup {
    /// The group.
    #[serde(flatten)]
    pub group: Group,
    /// The input.
    pub source: String,
    /// Growth against the first input, when several were given.
    pub count_before: Option<u64>,
    /// `fail`, `pass`, `suppressed` or `baselined`.
    #[serde(serialize_with = "names::gate_outcome")]
    pub outcome: GateOutcome,
    /// The suppression rule's reason.
    pub suppressed_because: Option<String>,
    /// How its stack changed since the first input.
    #[serde(skip)]
    pub growth: Option<Growth>,
}

/// One input as the gate judged it: per snapshot, each group's assessment and growth.
pub struct Judged {
    /// How the input is named.
    pub name: String,
    /// What was read.
    pub capture: Capture,
    /// Per snapshot of `capture`, per group.
    pub snapshots: Vec<Vec<(Assessment, Option<Growth>)>>,
}

impl Judged {
    /// Each snapshot with its judged groups.
    pub fn snapshots(&self) -> impl Iterator<Item = (&Snapshot, &[(Assessment, Option<Growth>)])> {
        self.capture
            .snapshots
            .iter()
            .zip(self.snapshots.iter().map(Vec::as_slice))
    }
}

impl CheckDoc {
    /// What `gate` decides for every group of `judged`.
    pub fn build(judged: &[Judged], gate: &Gate) -> CheckDoc {
        let mut doc = CheckDoc {
            schema_version: SCHEMA_VERSION,
            passed: true,
            strict: gate.strict,
            goroutines: 0,
            groups: Vec::new(),
            source_note: None,
            snapshots: Vec::new(),
            config: gate.config.path.as_ref().map(|p| p.display().to_string()),
            load: None,
        };
        for j in judged {
            let tables = &j.capture.tables;
            for (snapshot, assessed) in j.snapshots() {
                let dump = doc.snapshots.len();
                doc.snapshots.push(JudgedSnapshot {
                    source: j.name.clone(),
                    goroutines: snapshot.total,
                });
                doc.goroutines += snapshot.total;
                let base = doc.groups.len();
                for (group, (assessment, growth)) in snapshot.groups.iter().zip(assessed) {
                    let (outcome, suppressed_because) = gate.outcome(tables, group, assessment);
                    doc.passed &= outcome != GateOutcome::Fail;
                    doc.groups.push(CheckGroup {
                        group: Group::of(tables, snapshot, group, assessment, dump, &|g| {
                            Some(base + g)
                        }),
                        source: j.name.clone(),
                        count_before: growth.map(|g| g.before),
                        outcome,
                        suppressed_because,
                        growth: *growth,
                    });
                }
            }
        }
        doc
    }
}
