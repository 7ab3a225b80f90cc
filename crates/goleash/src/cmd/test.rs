//! `goleash test`: run a Go test suite and report, per test, the goroutines it left behind.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::Outcome;
use crate::cli::{GateArgs, OutputArgs, OutputFormat, ShowArgs, SourceArgs};
use crate::config::{self, BaselineEntry};
use crate::gotest::document;
use crate::gotest::package;
use crate::gotest::report::PackageReport;
use crate::gotest::run::{self, Echo, PackageRun, RunOptions, Terminal};
use crate::gotest::settle;
use crate::render::style::Style;
use crate::render::text::{self, TextOptions};
use crate::render::{findings, junit};

/// Run Go tests and report every goroutine a test leaves behind, by test, with
/// `t.Parallel` and subtests. No change to the tests.
///
/// Runs `go test` with an execution trace of every test binary. A goroutine still alive
/// when its binary ended is attributed to the test that started it (directly or through
/// other goroutines), grouped by stack, and judged: blocked on something only another
/// goroutine could end is a leak; long-lived by design (the testing package, os/signal,
/// idle HTTP connections) is not; one the trace shows on its way out is not judged. Exit
/// status 1 when a test leaked or failed.
#[derive(Args, Debug)]
#[command(after_help = "EXAMPLES:
    goleash test ./...                         every package of the module
    goleash test ./pkg/... -- -run TestServer  flags after -- go to go test
    goleash test -- -race -count=3 -v          the package here, with go test's -v output
    goleash test --count 200 ./cache           each test 200 times: leaks that show up rarely
    goleash test --format json ./... > leaks.json

SUPPRESSIONS:
    the same .goleash.toml and baseline as goleash check (see README.md)

EXIT STATUS:
    0 no leaks and every test passed, 1 a test leaked or failed, 2 goleash could not run
    the tests or read what they left (usage, no Go 1.22+, unreadable trace)")]
pub struct TestArgs {
    /// Packages, as `go test` takes them (default: the package in this directory).
    pub packages: Vec<String>,
    /// Flags for `go test` and the test binaries, after `--` (`-run`, `-race`, `-v`,
    /// `-timeout` …).
    #[arg(last = true, value_name = "GO TEST FLAGS")]
    pub go_flags: Vec<String>,
    /// Run each test N times in its binary (go test's -count=N), to catch leaks and
    /// failures that show up once in many runs: each is reported with the runs it
    /// happened in ("leaked in 2 of 200 runs").
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub count: Option<u32>,
    /// Judge what the tests left as the binary's last test leaves it, without first letting
    /// goroutines that were not started, runnable or running settle (up to 200 ms per
    /// binary, through a test added with go test -overlay; see docs/architecture.md).
    /// Also leaves out the deadlock watch the same file adds (see --no-deadlock-watch).
    #[arg(long)]
    pub no_settle: bool,
    /// Leave out the deadlock watch: with Go 1.27, a test whose goroutine the runtime
    /// proves blocked forever (its goroutineleak profile, read from the first second on at
    /// most once per 800 times its cost) ends its binary at once and is reported as
    /// deadlocked. Without the watch, and before Go 1.27, such a test runs until -timeout
    /// (10 minutes unless set).
    #[arg(long)]
    pub no_deadlock_watch: bool,
    /// With --count N: run in batches of 1, 2, 4 … runs, and stop after the first batch
    /// in which a test leaked or failed (at most N runs in all); that batch is reported.
    #[arg(long, requires = "count")]
    pub until_leak: bool,
    /// The `go` command to use.
    #[arg(long, default_value = "go", value_name = "PATH")]
    pub go: PathBuf,
    /// Keep the execution traces in DIR (for `go tool trace`) instead of deleting them.
    #[arg(long, value_name = "DIR")]
    pub keep_traces: Option<PathBuf>,
    /// Also write a JUnit XML report to FILE: one testcase per test, packages as
    /// testsuites, leaks as failures (the shape gotestsum and go-junit-report write).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Also write SARIF 2.1.0 to FILE (for code scanning), whatever `--format` says.
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    #[command(flatten)]
    pub show: ShowArgs,
    #[command(flatten)]
    pub gate: GateArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    /// `go test`'s own output goes to stderr when the report is data (json, sarif, short).
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Deletes the trace directory at the end, unless it is the user's.
struct TraceDir {
    path: PathBuf,
    keep: bool,
}

impl TraceDir {
    fn new(keep: Option<&Path>) -> Result<TraceDir> {
        if let Some(dir) = keep {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.canonicalize()?;
            return Ok(TraceDir { path, keep: true });
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("goleash-test-{}-{nanos:08x}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TraceDir { path, keep: false })
    }
}

impl Drop for TraceDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The Go release of `go`: traces can only be read from Go 1.22 on.
fn check_go(go: &Path) -> Result<String> {
    let output = Command::new(go)
        .args(["env", "GOVERSION"])
        .output()
        .map_err(|e| {
            let hint = if e.kind() == io::ErrorKind::NotFound {
                ": install Go 1.22 or newer, or name it with --go PATH"
            } else {
                ""
            };
            anyhow::anyhow!("cannot run {}: {e}{hint}", go.display())
        })?;
    if !output.status.success() {
        bail!(
            "{} env GOVERSION failed: {}",
            go.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
    match go_minor(&version) {
        Some(m) if m < 22 => bail!(
            "{} is {version}: goleash test reads the execution traces of Go 1.22 and newer; \
             name a newer go with --go PATH",
            go.display()
        ),
        // A development build (`devel …`) is as new as it gets.
        _ => Ok(version),
    }
}

/// `22` of `go1.22.10`; `None` for a development build.
fn go_minor(version: &str) -> Option<u32> {
    version
        .strip_prefix("go1.")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|m| m.parse::<u32>().ok())
}

pub fn run(args: &TestArgs) -> Result<Outcome> {
    let gate = args.gate.gate()?;
    // Refuse bad flags before anything is built.
    let user_flags = run::inspect_flags(&args.go_flags)?;
    if args.count.is_some() && user_flags.count {
        bail!("give the number of runs once: --count N, or -count=N after --, not both");
    }
    if user_flags.no_timeout {
        eprintln!(
            "goleash test: warning: with -timeout 0 a deadlocked test binary may never end: the runtime reports no deadlock while a trace runs, and the deadlock watch (Go 1.27) ends only those the runtime proves; give a timeout, and goleash reports the stuck test"
        );
    }
    let version = check_go(&args.go)?;
    let dir = TraceDir::new(args.keep_traces.as_deref())?;
    let mut go_flags = args.go_flags.clone();
    let mut settled = false;
    if !args.no_settle
        && let Some(settle) = settle::prepare(
            &args.go,
            go_minor(&version),
            &args.packages,
            &go_flags,
            &dir.path,
            !args.no_deadlock_watch,
        )?
    {
        go_flags = settle.user_flags;
        go_flags.extend(settle.flags);
        settled = true;
    }
    let with_count = |n: Option<u32>| -> Vec<String> {
        n.map(|n| format!("-count={n}"))
            .into_iter()
            .chain(go_flags.iter().cloned())
            .collect()
    };
    let (mut reports, finished) = match args.count.filter(|_| args.until_leak) {
        // Batches of 1, 2, 4 … runs, up to N in all: the first one that leaks or fails is
        // reported, numbered among all the runs so far.
        Some(total) => {
            let (mut done, mut size) = (0u32, 1u32);
            loop {
                let batch = size.min(total - done);
                let (mut reports, finished) =
                    run_batch(args, with_count(Some(batch)), &gate, &dir)?;
                for report in &mut reports {
                    report.earlier_runs = done;
                }
                done += batch;
                if done >= total || reports.iter().any(PackageReport::fails) {
                    break (reports, finished);
                }
                size = size.saturating_mul(2);
            }
        }
        None => run_batch(args, with_count(args.count), &gate, &dir)?,
    };
    reports.sort_by(|a, b| a.package.cmp(&b.package));

    if reports.is_empty() {
        bail!(
            "go test ran no packages (exit status {}): see its messages above; run goleash test \
             inside a Go module, with package patterns go test accepts",
            finished
                .go_status
                .map_or("unknown".to_string(), |s| s.to_string())
        );
    }
    if let Some(path) = &args.gate.write_baseline {
        return write_baseline(path, &reports);
    }
    let mut doc = document::build(&reports, args.gate.strict);
    doc.settle_ms = settled.then_some(settle::BOUND_MS);
    if let Some(path) = &args.junit {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write the JUnit report to {}", path.display()))?,
        );
        junit::write(&mut file, &doc)
            .and_then(|()| file.flush())
            .with_context(|| format!("writing the JUnit report to {}", path.display()))?;
    }
    if let Some(path) = &args.sarif {
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write the SARIF log to {}", path.display()))?,
        );
        super::write_for_ci(
            &mut file,
            OutputFormat::Sarif,
            "test",
            &findings::of_test(&doc),
            &args.source.files(),
            |_| Ok(()),
        )
        .and_then(|()| Ok(file.flush()?))
        .with_context(|| format!("writing the SARIF log to {}", path.display()))?;
    }
    let style = Style::for_stdout(args.output.color);
    super::print(
        args.output.format(),
        "test",
        &doc,
        || findings::of_test(&doc),
        &args.source.files(),
        |out| {
            let options = TextOptions {
                full: false,
                all: args.show.verbose,
            };
            text::test::write(out, &doc, &style, &options)
        },
    )?;
    let summary = &doc.summary;
    Ok(if !summary.leaking.is_empty() || summary.failed() {
        Outcome::Leaks
    } else if !summary.errors.is_empty() {
        Outcome::InputError
    } else {
        Outcome::Ok
    })
}

/// One `go test` run with `go_flags`: every package's report, as each binary finished.
fn run_batch(
    args: &TestArgs,
    go_flags: Vec<String>,
    gate: &crate::gate::Gate,
    dir: &TraceDir,
) -> Result<(Vec<PackageReport>, run::Finished)> {
    let json_output = args.output.stdout_is_data();
    let terminal = Terminal::new();
    let options = RunOptions {
        go: args.go.clone(),
        packages: args.packages.clone(),
        go_flags,
        dir: dir.path.clone(),
        echo: Echo::Summary,
        echo_to_stderr: json_output,
    };

    // Each package's trace is read as soon as its binary is done, while go test runs the
    // others.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (jobs, queue) = mpsc::channel::<PackageRun>();
    let queue = std::sync::Mutex::new(queue);
    let (results, reports) = mpsc::channel::<PackageReport>();
    let keep = dir.keep;
    let finished = std::thread::scope(|scope| {
        for _ in 0..workers {
            let (queue, results, terminal, dir) = (&queue, results.clone(), &terminal, &dir.path);
            scope.spawn(move || {
                let source = args.source.files();
                let cx = package::Context {
                    dir,
                    gate,
                    source: &source,
                    keep_traces: keep,
                };
                loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(job) = job else { break };
                    let report = package::analyse(&job, &cx);
                    terminal.update(|_, _, analysing| *analysing -= 1);
                    source.report_warnings();
                    if results.send(report).is_err() {
                        break;
                    }
                }
            });
        }
        drop(results);
        let finished = run::run(&options, &terminal, |package| {
            terminal.update(|_, _, analysing| *analysing += 1);
            let _ = jobs.send(package);
        });
        drop(jobs);
        finished
    });
    terminal.finish();
    let finished = finished?;
    Ok((reports.into_iter().collect(), finished))
}

fn write_baseline(path: &Path, reports: &[PackageReport]) -> Result<Outcome> {
    let mut groups = Vec::new();
    for report in reports {
        for test in report.tests.iter().filter(|t| t.finished) {
            groups.extend(test.snapshot.groups.iter().zip(&test.judged).filter_map(
                |(group, judged)| {
                    BaselineEntry::accepting(&report.tables, group, &judged.assessment)
                },
            ));
        }
    }
    config::write_baseline(path, groups, "`goleash test` and `goleash check`")?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
pub(crate) mod tests {
    //! `goleash test`'s report of a stored run of `fixtures/go/testleaks` (Go 1.27.3,
    //! `TESTLEAKS_FAIL=1`, `-timeout 3s`; see `tests/data/README.md`): its events and the
    //! traces the exec wrapper wrote, replayed without Go. The JSON is pinned byte for byte
    //! in `tests/data/golden/test/` (`GOLEASH_REGEN_GOLDEN=1` rewrites it), the text as an
    //! insta snapshot.

    use super::*;
    use crate::analysis::FileSource;
    use crate::config::Config;
    use crate::gate::Gate;
    use crate::render::style::ColorChoice;
    use goleash_core::rules::Baseline;

    fn data() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
    }

    /// The document of the stored run.
    pub(crate) fn replayed() -> crate::doc::test::TestDoc {
        let dir = data().join("go1.27/testleaks");
        let events = std::fs::read(dir.join("events.jsonl")).expect("the stored events");
        let gate = Gate {
            config: Config::default(),
            baseline: Baseline::default(),
            strict: false,
        };
        let source = FileSource::new(true);
        let cx = package::Context {
            dir: &dir.join("traces"),
            gate: &gate,
            source: &source,
            keep_traces: true,
        };
        let mut reports: Vec<PackageReport> = run::replay(&events)
            .iter()
            .map(|run| package::analyse(run, &cx))
            .collect();
        reports.sort_by(|a, b| a.package.cmp(&b.package));
        document::build(&reports, false)
    }

    #[test]
    fn the_report_of_a_stored_run_is_unchanged() {
        let doc = replayed();
        let mut json_out = Vec::new();
        crate::render::json::write(&mut json_out, &doc).unwrap();
        let golden = data().join("golden/test/testleaks_go1_27.json");
        if std::env::var_os("GOLEASH_REGEN_GOLDEN").is_some() {
            std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
            std::fs::write(&golden, &json_out).unwrap();
        }
        let expected = std::fs::read(&golden).unwrap_or_default();
        assert!(
            expected == json_out,
            "the JSON of goleash test changed (GOLEASH_REGEN_GOLDEN=1 rewrites it after review):\n{}",
            String::from_utf8_lossy(&json_out)
        );
        let mut text_out = Vec::new();
        let style = Style::for_stdout(ColorChoice::Never);
        text::test::write(&mut text_out, &doc, &style, &TextOptions::default()).unwrap();
        let text_out = String::from_utf8(text_out).unwrap();
        insta::assert_snapshot!(text_out);
        // Everything said once: -v lists in full the groups that do not fail, which the
        // short text only counts, and the goroutines not judged, which it names in a line.
        let mut verbose = Vec::new();
        let all = TextOptions {
            full: false,
            all: true,
        };
        text::test::write(&mut verbose, &doc, &style, &all).unwrap();
        let verbose = String::from_utf8(verbose).unwrap();
        assert!(text_out.contains("-v lists"), "{text_out}");
        assert!(!verbose.contains("-v lists"), "{verbose}");
        for group in doc.groups.iter().filter(|g| g.test_finished) {
            let header = format!("{} ×  {}", group.count, group.state);
            assert!(verbose.contains(&header), "{header}:\n{verbose}");
            assert!(verbose.contains(&group.why), "{}:\n{verbose}", group.why);
        }
        assert!(!doc.unjudged.is_empty());
        for u in &doc.unjudged {
            assert!(verbose.contains(&u.function), "{}:\n{verbose}", u.function);
            assert!(text_out.contains(&u.function), "{}", u.function);
        }
        insta::assert_snapshot!("verbose", verbose);
    }
}
