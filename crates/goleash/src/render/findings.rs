//! What the CI formats (SARIF, GitHub annotations, `file:line:col` lines) report: the groups
//! of a document that are not fine, each at its leak site.

use goleash_core::classify::{Blocking, Verdict};
use goleash_core::code::Origin;

use crate::doc::Group;
use crate::doc::check::CheckDoc;
use crate::doc::diff::{Change, DiffDoc};
use crate::doc::inspect::InspectDoc;
use crate::doc::test::TestDoc;
use crate::gate::GateOutcome;

/// A place in the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    /// The function.
    pub function: String,
    /// Its file, as the dump names it.
    pub file: String,
    /// The line; 0 when unknown.
    pub line: u32,
    /// Whose code it is: only the program's own (or its dependencies') is in a repository.
    pub origin: Origin,
}

/// Why a finding does not count against the gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// A rule of `.goleash.toml`, with its reason.
    Suppressed(String),
    /// The stack is in the baseline.
    Baselined,
}

/// One group that is not fine.
#[derive(Clone, Debug)]
pub struct Finding {
    /// How sure goleash is.
    pub verdict: Verdict,
    /// Whether it fails the command's gate (leaks do; suspects with `--strict`).
    pub fails: bool,
    /// How many goroutines.
    pub count: u64,
    /// The stack's signature: stable across runs, so a finding can be followed.
    pub signature: String,
    /// The knowledge-base pattern that matched.
    pub pattern: Option<&'static str>,
    /// What the goroutines wait for.
    pub blocking: Blocking,
    /// The evidence.
    pub why: String,
    /// What usually fixes it.
    pub hint: Option<std::borrow::Cow<'static, str>>,
    /// The innermost frame of the program's own code.
    pub site: Option<Place>,
    /// The line of code there, when the source was read.
    pub source: Option<String>,
    /// The frame it waits in.
    pub waits_in: Option<Place>,
    /// The `go` statement that started it.
    pub created_by: Option<Place>,
    /// What it belongs to, when that is not the whole input (a test).
    pub subject: Option<String>,
    /// How its count changed, when two snapshots were compared.
    pub change: Option<(u64, u64)>,
    /// Why the gate accepted it, when it did.
    pub accepted: Option<Accepted>,
}

impl Finding {
    /// A group of a document, not yet told whether it fails.
    fn of_group(group: &Group) -> Finding {
        let place = |function: &str, file: &str, line: u32, origin: Origin| Place {
            function: function.to_string(),
            file: file.to_string(),
            line,
            origin,
        };
        Finding {
            verdict: group.verdict,
            fails: group.verdict == Verdict::Leak,
            count: group.reported_count(),
            signature: group.signature.to_string(),
            pattern: group.pattern,
            blocking: group.blocking,
            why: group.why.clone(),
            hint: group.hint.clone(),
            site: group.leak_site.as_ref().map(|s| {
                place(
                    &s.function,
                    &s.file,
                    s.line,
                    origin_of(&s.function, &s.file),
                )
            }),
            source: group.leak_site.as_ref().and_then(|s| s.source.clone()),
            waits_in: group
                .waits_in
                .and_then(|i| group.frames.get(i))
                .map(|f| place(&f.function, &f.file, f.line, f.origin)),
            created_by: group
                .created_by
                .as_ref()
                .map(|c| place(&c.function, &c.file, c.line, c.origin)),
            subject: None,
            change: None,
            accepted: None,
        }
    }

    /// `TestX: 3 goroutines (1 → 3): still blocked in chan send after its test ended`.
    pub fn message(&self) -> String {
        let goroutines = if self.count == 1 {
            "1 goroutine".to_string()
        } else {
            format!("{} goroutines", super::text::thousands(self.count))
        };
        let change = match self.change {
            Some((before, after)) => format!(" ({before} → {after})"),
            None => String::new(),
        };
        let subject = match &self.subject {
            Some(s) => format!("{s}: "),
            None => String::new(),
        };
        format!("{subject}{goroutines}{change}: {}", self.why)
    }

    /// The function it is reported in: its leak site's, else the one it waits in.
    pub fn function(&self) -> &str {
        self.site
            .as_ref()
            .or(self.waits_in.as_ref())
            .map_or("", |p| p.function.as_str())
    }
}

/// Not fine, and not part of another group's finding.
fn reported(group: &Group) -> bool {
    group.verdict != Verdict::Expected && group.reported_with.is_none()
}

/// The groups of `inspect` that are not fine.
pub fn of_inspect(doc: &InspectDoc) -> Vec<Finding> {
    doc.groups
        .iter()
        .filter(|g| reported(g))
        .map(Finding::of_group)
        .collect()
}

/// The groups of the later snapshot of a diff that are not fine and changed, or leak.
pub fn of_diff(doc: &DiffDoc) -> Vec<Finding> {
    doc.groups
        .iter()
        .filter(|g| g.change != Change::Gone && reported(&g.group))
        .filter(|g| g.delta != 0 || g.group.verdict == Verdict::Leak)
        .map(|g| {
            let mut finding = Finding::of_group(&g.group);
            let growth = g.growth();
            finding.change = Some((growth.before, growth.after));
            finding
        })
        .collect()
}

/// The groups the gate judged that are not fine, with its decision.
pub fn of_check(doc: &CheckDoc) -> Vec<Finding> {
    doc.groups
        .iter()
        .filter(|g| reported(&g.group))
        .map(|g| {
            let mut finding = Finding::of_group(&g.group);
            finding.fails = g.outcome == GateOutcome::Fail;
            finding.change = g.growth.map(|growth| (growth.before, growth.after));
            finding.accepted = match g.outcome {
                GateOutcome::Suppressed => Some(Accepted::Suppressed(
                    g.suppressed_because.clone().unwrap_or_default(),
                )),
                GateOutcome::Baselined => Some(Accepted::Baselined),
                GateOutcome::Fail | GateOutcome::Pass => None,
            };
            finding
        })
        .collect()
}

fn origin_of(function: &str, file: &str) -> Origin {
    goleash_core::code::origin_of(function.as_bytes(), file.as_bytes())
}

/// What the tests left that is not fine, each under its test; the gate's decision on
/// tests that ended (a test that never ended is a failure of its own).
pub fn of_test(doc: &TestDoc) -> Vec<Finding> {
    doc.groups
        .iter()
        .filter(|g| g.test_finished && g.verdict != Verdict::Expected)
        .map(|g| {
            let mut finding = Finding::of_group(&g.shown);
            finding.fails = g.fails();
            finding.subject = Some(format!("{} ({})", g.test_name(), g.package));
            finding.accepted = match g.outcome {
                Some(GateOutcome::Suppressed) => Some(Accepted::Suppressed(
                    g.suppressed_because.clone().unwrap_or_default(),
                )),
                Some(GateOutcome::Baselined) => Some(Accepted::Baselined),
                _ => None,
            };
            finding
        })
        .collect()
}
