//! What `goleash test` found in one package: how its test binary did, which tests failed,
//! and per test the goroutines it left behind, grouped and judged.

use goleash_core::classify::Assessment;
use goleash_core::trace::{BinaryOutcome, Evidence, FailureKind, Link, Site, Unjudged};
use goleash_core::{Snapshot, StackId, Tables};

use super::run::TestResult;
use crate::gate::GateOutcome;

/// What goleash found in one package.
pub struct PackageReport {
    /// The import path.
    pub package: String,
    /// How its test binary did.
    pub status: BinaryOutcome,
    /// Seconds its binary ran, as `go test` measured them.
    pub elapsed: Option<f64>,
    /// Tests that failed, and how.
    pub failures: Vec<Failure>,
    /// What the judgement rests on.
    pub evidence: Evidence,
    /// Why the evidence is partial or missing, when it is.
    pub problem: Option<String>,
    /// Why goleash could not check the package although its binary ran to its end.
    pub error: Option<String>,
    /// The strings, frames and stacks the groups refer to.
    pub tables: Tables,
    /// Per test, the goroutines it left behind.
    pub tests: Vec<TestLeftovers>,
    /// Goroutines alive at the end that the trace cannot judge.
    pub unjudged: Vec<Unjudged>,
    /// Where the trace and the test events disagreed, and why a crash's dump could not be
    /// read.
    pub warnings: Vec<String>,
    /// Every test that started, in the order they ended (those that never did last).
    pub runs: Vec<TestRun>,
    /// Every goroutine the crash's dump printed (a timeout's, the deadlock watch's): id,
    /// stack, wait reason. Those the tests did not start are among them.
    pub dumped: Vec<(u64, StackId, Option<String>)>,
    /// The goroutines the dump marks `(leaked)`, when the runtime's leak detection ran
    /// (the deadlock watch's): `None` when it did not, and nothing is proven either way.
    pub proven_leaked: Option<Vec<u64>>,
    /// Runs of every test before this binary's (`--until-leak` runs batches): its runs are
    /// numbered after them.
    pub earlier_runs: u32,
}

impl PackageReport {
    /// Whether it fails the run: a test leaked, or the package failed.
    pub fn fails(&self) -> bool {
        self.status.failed()
            || self
                .tests
                .iter()
                .any(|t| t.judged.iter().any(Judged::fails))
    }
}

/// One run of a test as `go test` reported it.
#[derive(Clone, Debug)]
pub struct TestRun {
    /// The test (`TestX/sub`).
    pub test: String,
    /// Its result; `None` when it never ended.
    pub result: Option<TestResult>,
    /// Seconds it took.
    pub elapsed: Option<f64>,
    /// What it logged in this run.
    pub log: String,
}

/// A test that failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The test; `None` when the package failed as a whole (it did not build).
    pub test: Option<String>,
    /// How.
    pub kind: FailureKind,
    /// The panic or fatal error, the timeout, or what the first failing run logged.
    pub message: Option<String>,
    /// The runs (from 1) that failed so.
    pub failed_runs: Vec<u32>,
    /// Where it was: the panic's line, or where a timed-out test was stuck.
    pub at: Option<Site>,
}

/// The goroutines one test left behind.
pub struct TestLeftovers {
    /// The test (`TestX/sub`); `None` for goroutines no test started.
    pub test: Option<String>,
    /// The test ended. Goroutines of a test that never did (it timed out, or the binary
    /// died under it) are shown with its failure, not judged as leaks.
    pub finished: bool,
    /// Its goroutines, grouped by stack.
    pub snapshot: Snapshot,
    /// Per group of `snapshot`.
    pub judged: Vec<Judged>,
}

/// A group's verdict and where it came from.
pub struct Judged {
    /// The classification.
    pub assessment: Assessment,
    /// The gate's decision; `None` for goroutines of a test that never finished.
    pub outcome: Option<GateOutcome>,
    /// The reason of the suppression rule that matched.
    pub suppressed_because: Option<String>,
    /// Who started the group's first goroutine, and who started that one, up to the test.
    pub chain: Vec<Link>,
    /// The runs of the test (from 1) that started its goroutines, ascending.
    pub runs: Vec<u32>,
}

impl Judged {
    /// Whether the group fails the run.
    pub fn fails(&self) -> bool {
        self.outcome == Some(GateOutcome::Fail)
    }
}
