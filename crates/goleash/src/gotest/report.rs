//! What `goleash test` found in one package: how its test binary did, which tests failed,
//! and per test the goroutines it left behind, grouped and judged.

use goleash_core::classify::Assessment;
use goleash_core::trace::{Link, Site, Unjudged};
use goleash_core::{Snapshot, Tables};

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
}

/// How a package's test binary did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOutcome {
    /// Every test passed.
    Passed,
    /// Some test failed; the binary ran to its end.
    Failed,
    /// `-test.timeout` stopped it.
    TimedOut,
    /// It panicked or hit a fatal error.
    Crashed,
    /// It ended without finishing its tests and without a crash report (`os.Exit` in a
    /// test, or a signal).
    Exited,
    /// It did not build.
    BuildFailed,
    /// No test files.
    NoTests,
}

impl BinaryOutcome {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOutcome::Passed => "passed",
            BinaryOutcome::Failed => "failed",
            BinaryOutcome::TimedOut => "timed_out",
            BinaryOutcome::Crashed => "crashed",
            BinaryOutcome::Exited => "exited",
            BinaryOutcome::BuildFailed => "build_failed",
            BinaryOutcome::NoTests => "no_tests",
        }
    }

    /// Whether the package fails the run whatever leaked.
    pub fn failed(self) -> bool {
        !matches!(self, BinaryOutcome::Passed | BinaryOutcome::NoTests)
    }
}

/// What a report rests on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// The trace of a binary that stopped it.
    Trace,
    /// The goroutine dump of a crash, with the trace as far as it went.
    CrashDump,
    /// Nothing: no binary ran, or it left nothing readable.
    None,
}

impl Evidence {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Evidence::Trace => "trace",
            Evidence::CrashDump => "crash_dump",
            Evidence::None => "none",
        }
    }
}

/// A test that failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The test; `None` when the package failed as a whole (it did not build).
    pub test: Option<String>,
    /// How.
    pub kind: FailureKind,
    /// The panic or fatal error, the timeout.
    pub message: Option<String>,
    /// Where it was: the panic's line, or where a timed-out test was stuck.
    pub at: Option<Site>,
}

/// How a test failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// It reported a failure.
    Failed,
    /// It panicked, and the panic ended the binary.
    Panicked,
    /// It was running when `-test.timeout` stopped the binary.
    TimedOut,
    /// It was running when the binary crashed or exited.
    Interrupted,
    /// The package did not build.
    BuildFailed,
}

impl FailureKind {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Failed => "failed",
            FailureKind::Panicked => "panicked",
            FailureKind::TimedOut => "timed_out",
            FailureKind::Interrupted => "interrupted",
            FailureKind::BuildFailed => "build_failed",
        }
    }
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
}

impl Judged {
    /// Whether the group fails the run.
    pub fn fails(&self) -> bool {
        self.outcome == Some(GateOutcome::Fail)
    }
}
