//! `goleash test`: per package how its test binary did, the tests that failed, and every
//! group of goroutines a test left behind, judged.

use goleash_core::Signature;
use goleash_core::classify::{Blocking, Verdict};
use goleash_core::exits::PeerRole;
use goleash_core::trace::{BinaryOutcome, Evidence, FailureKind};
use serde::Serialize;

use super::{ExitCondition, Frame, Group, SCHEMA_VERSION, Site, names};
use crate::gate::GateOutcome;

/// How goroutines no test started are named.
pub const NO_TEST: &str = "(no test: started outside any test)";

/// `goleash test --format json`.
#[derive(Clone, Debug, Serialize)]
pub struct TestDoc {
    /// Always [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// No test leaked or failed, and every package could be checked.
    pub passed: bool,
    /// Suspects fail too.
    pub strict: bool,
    /// How long, at most, the binaries' last test let what the tests left settle before
    /// it was judged; `None` when it did not run (`--no-settle`, or it could not be added).
    pub settle_ms: Option<u32>,
    /// Every package, in import path order.
    pub packages: Vec<Package>,
    /// Tests that failed.
    pub failures: Vec<Failure>,
    /// Every group a test left behind; the wire lists those that are not fine as `leaks`
    /// and those long-lived by design as `expected`.
    #[serde(flatten, serialize_with = "names::leaks_and_expected")]
    pub groups: Vec<Leftover>,
    /// Goroutines alive at the end whose fate the trace does not tell.
    pub unjudged: Vec<Unjudged>,
    /// Where the trace and the test events disagreed.
    pub warnings: Vec<PackageWarning>,
    /// What the run came to.
    #[serde(skip)]
    pub summary: Summary,
    /// Every test that reported a result, for the JUnit report.
    #[serde(skip)]
    pub cases: Vec<TestCase>,
}

/// What the whole run came to.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Leaking tests that fail the run, as (package, test).
    pub leaking: Vec<(String, String)>,
    /// Failing groups.
    pub leaking_stacks: u64,
    /// Tests that failed (and packages that failed with no test to blame).
    pub failed: u64,
    /// Packages that did not build.
    pub unbuilt: u64,
    /// Packages where goleash could not read what it needed.
    pub errors: Vec<String>,
}

impl Summary {
    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        self.leaking.is_empty() && !self.failed() && self.errors.is_empty()
    }

    /// Whether a test failed or a package did not build.
    pub fn failed(&self) -> bool {
        self.failed > 0 || self.unbuilt > 0
    }
}

/// One package.
#[derive(Clone, Debug, Serialize)]
pub struct Package {
    /// The import path.
    pub package: String,
    /// How its test binary did.
    #[serde(serialize_with = "names::binary_outcome")]
    pub status: BinaryOutcome,
    /// Seconds its binary ran, as `go test` measured them.
    pub elapsed: Option<f64>,
    /// What the judgement rests on.
    #[serde(serialize_with = "names::evidence")]
    pub evidence: Evidence,
    /// Why the evidence is partial or missing, when it is.
    pub problem: Option<String>,
    /// Why goleash could not check it although its binary ran to its end.
    pub error: Option<String>,
    /// Goroutines left behind that are long-lived by design.
    pub expected_goroutines: u64,
}

/// A test that failed.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// Its package.
    pub package: String,
    /// The test; `None` when the package failed as a whole.
    pub test: Option<String>,
    /// How.
    #[serde(serialize_with = "names::failure_kind")]
    pub kind: FailureKind,
    /// The panic, fatal error or timeout, or what the test logged in its first failing run.
    pub message: Option<String>,
    /// The runs of the test (from 1) that failed so.
    pub failed_in_runs: Vec<u32>,
    /// How many times the test ran (`-count=N`).
    pub runs: u32,
    /// Where it was: the panic's line, or where a timed-out test was stuck.
    pub at: Option<At>,
    /// For a test that never ended, its own goroutine judged as a leak is: what it waits
    /// for and whether anything can end that.
    pub stuck: Option<Stuck>,
}

impl Failure {
    /// The line that says why it failed: the last `file_test.go:N:` line of its log (a
    /// `t.Fatal` ends the test, a `t.Error` is the failing check; `t.Logf` lines come
    /// before them), or the message's first line when it has none.
    pub fn headline(&self) -> Option<&str> {
        let message = self.message.as_deref()?;
        let located = |line: &&str| {
            line.trim_start()
                .split_once(": ")
                .and_then(|(at, _)| at.rsplit_once(':'))
                .is_some_and(|(file, line)| {
                    file.ends_with(".go") && line.bytes().all(|b| b.is_ascii_digit())
                })
        };
        message
            .lines()
            .rev()
            .find(located)
            .or_else(|| message.lines().next())
            .map(str::trim)
    }

    /// `failed in 3 of 200 runs (runs 4, 9, 77)`, when the test ran more than once.
    pub fn in_runs(&self) -> Option<String> {
        in_runs("failed", &self.failed_in_runs, self.runs)
    }
}

/// `leaked in 2 of 200 runs (runs 37, 142)`; `None` for a test that ran once.
pub fn in_runs(what: &str, which: &[u32], runs: u32) -> Option<String> {
    const LISTED: usize = 10;
    if runs <= 1 || which.is_empty() {
        return None;
    }
    let mut listed: Vec<String> = which.iter().take(LISTED).map(u32::to_string).collect();
    if which.len() > LISTED {
        listed.push("…".to_string());
    }
    let label = if which.len() == 1 { "run" } else { "runs" };
    Some(format!(
        "{what} in {} of {runs} runs ({label} {})",
        which.len(),
        listed.join(", ")
    ))
}

/// The goroutine of a test that never ended, judged.
#[derive(Clone, Debug, Serialize)]
pub struct Stuck {
    /// `leak` when it waits for something only another goroutine can end.
    #[serde(serialize_with = "names::verdict")]
    pub verdict: Verdict,
    /// The evidence.
    pub why: String,
    /// Its stack, innermost first.
    pub frames: Vec<Frame>,
    /// The ways out the source shows, when it was at hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_conditions: Option<Vec<ExitCondition>>,
    /// Per way out only another goroutine can open: the places in the code it takes, and
    /// the goroutines that were there when the binary was stopped. Empty without the source.
    pub waits_on: Vec<WaitsOn>,
    /// The goroutines that wait on each other in a ring through the test's own, the test's
    /// first, when there is one: each waits for what only the next (the last for the
    /// first) can do from where it is. A lock-order inversion is one.
    pub cycle: Vec<CycleStep>,
    /// The stack as the text shows it.
    #[serde(skip)]
    pub shown: Group,
}

impl Stuck {
    /// The ring in a sentence, when there is one: `TestX holds \`from.mu.Lock()\` (a.go:20),
    /// waits in \`to.mu.Lock()\` (a.go:24); goroutine 10 (created at a.go:37) holds …`.
    pub fn ring(&self) -> Option<String> {
        if self.cycle.is_empty() {
            return None;
        }
        let steps: Vec<String> = self
            .cycle
            .iter()
            .map(|step| {
                let name = match (&step.test_goroutine_of, &step.created_at) {
                    (Some(test), _) => test.clone(),
                    (None, Some(c)) => {
                        format!(
                            "goroutine {} (created at {}:{})",
                            step.goroutine, c.file, c.line
                        )
                    }
                    (None, None) => format!("goroutine {}", step.goroutine),
                };
                let doing = match step.role {
                    PeerRole::Holds => "holds",
                    PeerRole::Unlocks => "would unlock at",
                    PeerRole::Sends => "would send at",
                    PeerRole::Receives => "would receive at",
                    PeerRole::Closes => "would close at",
                    PeerRole::Done => "would call Done at",
                };
                let waits = match (&step.waits_in, &step.waits_at) {
                    (Some(code), Some(at)) => {
                        format!(", waits in `{code}` ({}:{})", at.file, at.line)
                    }
                    (None, Some(at)) => format!(", waits at {}:{}", at.file, at.line),
                    _ => String::new(),
                };
                format!(
                    "{name} {doing} `{}` ({}:{}){waits}",
                    step.ends_wait_code, step.ends_wait_at.file, step.ends_wait_at.line
                )
            })
            .collect();
        Some(steps.join("; "))
    }
}

/// One way out of a stuck test's wait that only another goroutine can open.
#[derive(Clone, Debug, Serialize)]
pub struct WaitsOn {
    /// The way out's kind, as in `exit_conditions`: `unlock`, `channel`, `close`,
    /// `wait_group`.
    pub kind: &'static str,
    /// The statement it waits in.
    pub code: String,
    /// Its file.
    pub file: String,
    /// Its line.
    pub line: u32,
    /// The places that can open it.
    pub peers: Vec<PeerAt>,
}

/// A place in the code that can end a wait, and the goroutines there.
#[derive(Clone, Debug, Serialize)]
pub struct PeerAt {
    /// What a goroutine there does: `holds` (the lock: past its `Lock`, before its
    /// `Unlock`), `unlocks`, `sends`, `receives`, `closes`, `done`.
    #[serde(serialize_with = "peer_role")]
    pub role: PeerRole,
    /// The function.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line of the use (the `Lock`, for `holds`).
    pub line: u32,
    /// The code there.
    pub code: String,
    /// The goroutines in that function when the binary was stopped (for `holds`: inside
    /// the locked section). Empty: none was; it had returned or never started.
    pub goroutines: Vec<PeerGoroutine>,
}

/// Goroutines at a [`PeerAt`] with one stack, and where they were themselves.
#[derive(Clone, Debug, Serialize)]
pub struct PeerGoroutine {
    /// The id of one of them (the stuck test's own, when it is one).
    pub goroutine: u64,
    /// How many there were with that stack.
    pub count: u64,
    /// It is the own goroutine of this test (for the stuck test itself, its name).
    pub test_goroutine_of: Option<String>,
    /// The test that started it, for a goroutine a test started.
    pub test: Option<String>,
    /// The `go` statement that started it.
    pub created_at: Option<Place>,
    /// What it was doing: its wait reason, `running` …
    pub state: String,
    /// Its innermost frame of the program's own code.
    pub at: Option<Place>,
    /// The statement it waits in, when the source shows it.
    pub waits_in: Option<String>,
}

/// One goroutine of a [`Stuck::cycle`].
#[derive(Clone, Debug, Serialize)]
pub struct CycleStep {
    /// Its id.
    pub goroutine: u64,
    /// It is this test's own goroutine.
    pub test_goroutine_of: Option<String>,
    /// The `go` statement that started it.
    pub created_at: Option<Place>,
    /// What, from where it is, it would do to end the previous step's wait (the last
    /// step's, for the first): `holds` a lock, `sends`, `closes` …
    #[serde(serialize_with = "peer_role")]
    pub role: PeerRole,
    /// Where it does that: the code, function, file and line of the use.
    pub ends_wait_at: Place,
    /// The code there.
    pub ends_wait_code: String,
    /// Where it waits itself: its innermost frame of the program's own code.
    pub waits_at: Option<Place>,
    /// The statement it waits in, when the source shows it.
    pub waits_in: Option<String>,
}

fn peer_role<S: serde::Serializer>(role: &PeerRole, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(role.name())
}

/// A function, a file and a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Place {
    /// The function.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line.
    pub line: u32,
}

/// A place, and what the goroutine there was doing.
#[derive(Clone, Debug, Serialize)]
pub struct At {
    /// The function.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line.
    pub line: u32,
    /// What it waited for, when it was blocked.
    pub state: Option<String>,
}

/// A group of goroutines one test left behind.
#[derive(Clone, Debug, Serialize)]
pub struct Leftover {
    /// Its package.
    pub package: String,
    /// The test that started them; `None` when no test did.
    pub test: Option<String>,
    /// That test ended (if not, it timed out or the binary died under it).
    pub test_finished: bool,
    /// The stack's signature.
    #[serde(serialize_with = "names::signature")]
    pub signature: Signature,
    /// How many goroutines.
    pub count: u64,
    /// What they were doing when the binary ended.
    pub state: String,
    /// What they wait for.
    #[serde(serialize_with = "names::blocking")]
    pub blocking: Blocking,
    /// How sure goleash is that they leak.
    #[serde(serialize_with = "names::verdict")]
    pub verdict: Verdict,
    /// The evidence.
    pub why: String,
    /// The stack, innermost first.
    pub frames: Vec<Frame>,
    /// The innermost frame of the program's own code.
    pub leak_site: Option<Site>,
    /// The `go` statements from the test down to them, innermost first.
    pub creator_chain: Vec<Link>,
    /// The runs of the test (from 1) that left such goroutines, ascending.
    pub leaked_in_runs: Vec<u32>,
    /// How many times the test ran (`-count=N`).
    pub runs: u32,
    /// Some goroutine ids.
    pub ids: Vec<u64>,
    /// The knowledge-base entry.
    pub pattern: Option<&'static str>,
    /// What usually fixes it.
    pub hint: Option<std::borrow::Cow<'static, str>>,
    /// The ways out the source shows, when it was at hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_conditions: Option<Vec<ExitCondition>>,
    /// The gate's decision; `None` (the wire's `unfinished`) for a test that never ended.
    #[serde(serialize_with = "names::test_outcome")]
    pub outcome: Option<GateOutcome>,
    /// The suppression rule's reason.
    pub suppressed_because: Option<String>,
    /// The group as the text shows it: its frames with the leak site and the frame it waits
    /// in marked, its creator.
    #[serde(skip)]
    pub shown: Group,
}

impl Leftover {
    /// Whether it fails the run.
    pub fn fails(&self) -> bool {
        self.outcome == Some(GateOutcome::Fail)
    }

    /// `leaked in 2 of 200 runs (runs 37, 142)`, when the test ran more than once.
    pub fn in_runs(&self) -> Option<String> {
        in_runs("leaked", &self.leaked_in_runs, self.runs)
    }

    /// The test it is filed under.
    pub fn test_name(&self) -> &str {
        self.test.as_deref().unwrap_or(NO_TEST)
    }
}

/// One `go` statement of a creator chain.
#[derive(Clone, Debug, Serialize)]
pub struct Link {
    /// The function holding the `go` statement.
    pub function: String,
    /// Its file.
    pub file: String,
    /// The line of the `go` statement.
    pub line: u32,
    /// The goroutine that ran it.
    pub goroutine: Option<u64>,
    /// That goroutine had exited when the binary ended.
    pub exited: bool,
    /// That goroutine ran this test.
    pub test: Option<String>,
}

/// Goroutines alive at the end whose fate the trace does not tell.
#[derive(Clone, Debug, Serialize)]
pub struct Unjudged {
    /// Their package.
    pub package: String,
    /// The test that started them, if one did.
    pub test: Option<String>,
    /// `not started`, `runnable` or `running`.
    pub state: &'static str,
    /// The function they run.
    pub function: String,
    /// How many.
    pub count: u64,
    /// Where one of them was, innermost first: a runnable one's stack where it resumes;
    /// empty for running and never started ones, which the trace shows no stack for.
    pub frames: Vec<Frame>,
}

/// A warning about a package.
#[derive(Clone, Debug, Serialize)]
pub struct PackageWarning {
    /// The package.
    pub package: String,
    /// What happened.
    pub message: String,
}

/// A test that reported a result, with what CI reports show of it.
#[derive(Clone, Debug)]
pub struct TestCase {
    /// Its package.
    pub package: String,
    /// The test (`TestX/sub`).
    pub test: String,
    /// How it ended.
    pub result: CaseResult,
    /// Seconds it took, as the testing package measured them.
    pub elapsed: Option<f64>,
    /// What it logged.
    pub log: String,
}

/// How a test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseResult {
    /// It passed.
    Passed,
    /// It failed.
    Failed,
    /// It was skipped.
    Skipped,
    /// It never ended (a timeout, a crash).
    Unfinished,
}

impl TestDoc {
    /// An empty document of a run.
    pub fn new(strict: bool, summary: Summary) -> TestDoc {
        TestDoc {
            schema_version: SCHEMA_VERSION,
            passed: summary.passed(),
            strict,
            settle_ms: None,
            packages: Vec::new(),
            failures: Vec::new(),
            groups: Vec::new(),
            unjudged: Vec::new(),
            warnings: Vec::new(),
            summary,
            cases: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(message: Option<&str>, failed_in_runs: Vec<u32>, runs: u32) -> Failure {
        Failure {
            package: "p".into(),
            test: Some("TestA".into()),
            kind: FailureKind::Failed,
            message: message.map(str::to_string),
            failed_in_runs,
            runs,
            at: None,
            stuck: None,
        }
    }

    #[test]
    fn the_headline_is_the_failing_check() {
        let logged = failure(
            Some("a_test.go:10: connecting to 127.0.0.1:80\nretrying\na_test.go:14: want 2, got 3"),
            vec![1],
            1,
        );
        assert_eq!(logged.headline(), Some("a_test.go:14: want 2, got 3"));
        // No located line (a panic): the message's first line.
        let panicked = failure(
            Some("runtime error: index out of range\n[recovered]"),
            vec![1],
            1,
        );
        assert_eq!(
            panicked.headline(),
            Some("runtime error: index out of range")
        );
        assert_eq!(failure(None, vec![1], 1).headline(), None);
    }

    #[test]
    fn runs_are_said_only_for_repeated_tests() {
        assert_eq!(failure(None, vec![1], 1).in_runs(), None);
        assert_eq!(
            failure(None, vec![19], 50).in_runs().as_deref(),
            Some("failed in 1 of 50 runs (run 19)")
        );
        let many: Vec<u32> = (1..=12).collect();
        assert_eq!(
            in_runs("leaked", &many, 12).as_deref(),
            Some("leaked in 12 of 12 runs (runs 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, …)")
        );
    }
}
