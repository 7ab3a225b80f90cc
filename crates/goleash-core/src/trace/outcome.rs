//! How a test binary ended and how its tests failed: what `goleash test` says of each
//! package beside the goroutines it left.

/// How a package's test binary did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOutcome {
    /// Every test passed.
    Passed,
    /// Some test failed; the binary ran to its end.
    Failed,
    /// `-test.timeout` stopped it.
    TimedOut,
    /// `goleash test`'s deadlock watch stopped it: the runtime proved a running test's
    /// goroutine blocked forever.
    Deadlocked,
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
            BinaryOutcome::Deadlocked => "deadlocked",
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

/// How a test failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// It reported a failure.
    Failed,
    /// It panicked, and the panic ended the binary.
    Panicked,
    /// It was running when `-test.timeout` stopped the binary.
    TimedOut,
    /// Its own goroutine was proven blocked forever by the runtime (the goroutineleak
    /// profile), and the binary was stopped for it.
    Deadlocked,
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
            FailureKind::Deadlocked => "deadlocked",
            FailureKind::Interrupted => "interrupted",
            FailureKind::BuildFailed => "build_failed",
        }
    }
}
