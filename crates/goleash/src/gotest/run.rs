//! Runs `go test -json` with goleash as its `-exec` program and follows its events.
//!
//! `go test` builds the packages and runs their binaries, up to one per core at a time, as
//! it always does; its JSON events say which package each line of output belongs to. The
//! output is shown as `go test` would show it: with `-v` every line, with `-json` the
//! events themselves, otherwise the `ok` line of a package that passed and the output of
//! what failed in one that did not.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use goleash_core::trace::{TestAction, TestEvent};
use serde::Deserialize;

use super::exec::MARKER;
use super::settle;

/// How to show the output of `go test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Echo {
    /// As `go test` shows it without `-v`: `ok` lines, and what failed.
    Summary,
    /// Every line, as with `go test -v`.
    Verbose,
    /// The JSON events, as with `go test -json`.
    Json,
}

/// What to run.
pub struct RunOptions {
    /// The `go` command.
    pub go: PathBuf,
    /// Package patterns; none means the package in the working directory.
    pub packages: Vec<String>,
    /// Flags for `go test` and the test binaries, as the user gave them.
    pub go_flags: Vec<String>,
    /// Where the traces go.
    pub dir: PathBuf,
    /// How to show `go test`'s output.
    pub echo: Echo,
    /// Show it on stderr rather than stdout (stdout carries JSON).
    pub echo_to_stderr: bool,
}

/// The final action of a test or package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestResult {
    /// `pass`.
    Pass,
    /// `fail`.
    Fail,
    /// `skip` (for a package: no test files).
    Skip,
}

/// Everything `go test` said about one package.
#[derive(Debug, Default)]
pub struct PackageRun {
    /// The import path.
    pub package: String,
    /// The number of the trace the exec wrapper made for its binary, if it ran one.
    pub trace: Option<u64>,
    /// The package's result; `None` if `go test` ended without giving one.
    pub result: Option<TestResult>,
    /// Seconds the binary ran, as `go test` measured them.
    pub elapsed: Option<f64>,
    /// The package could not be built.
    pub build_failed: bool,
    /// `go test` could not even set it up: not in a module, no such package.
    pub setup_failed: bool,
    /// The `run`, `pass`, `fail` and `skip` events of its tests, in order: what
    /// [`goleash_core::trace::attribute`] names the tests from.
    pub test_events: Vec<TestEvent>,
    /// Everything the binary printed, in order.
    pub output: Vec<u8>,
    /// Tests by their final action, in the order they ended.
    pub results: Vec<(String, TestResult)>,
    /// Seconds each test that ended took, as the testing package measured them.
    pub test_elapsed: HashMap<String, f64>,
    /// Tests that started and never ended (a timeout or a crash stopped them).
    pub unfinished: Vec<String>,
    /// What each test logged (`t.Log`, `t.Error`, `t.Fatal`), without the framing lines:
    /// one entry per run of the test (`-count=N` runs it N times), in order.
    pub logs: HashMap<String, Vec<String>>,
    /// The test whose output held the first line starting `panic: `, if any.
    pub panicked_in: Option<String>,
    /// The binary printed the testing package's own last line, `PASS` or `FAIL`: it went
    /// through to the end, and stopped its trace.
    pub finished_normally: bool,
    /// Tests that tried to start an execution trace of their own and could not, because
    /// goleash's was running.
    pub tracing_conflicts: Vec<String>,
}

/// What `runtime/trace.Start` returns while another trace runs (Go 1.22 to 1.25, and the
/// `runtime/trace` of 1.26 and later).
const TRACING_CONFLICTS: [&str; 2] = [
    "tracing is already enabled",
    "execution tracer already enabled",
];

/// One line of `go test -json`.
#[derive(Deserialize, Debug)]
struct Event {
    #[serde(rename = "Action")]
    action: String,
    #[serde(rename = "Package", default)]
    package: Option<String>,
    /// Go 1.24+: build output and failures name the package being built here.
    #[serde(rename = "ImportPath", default)]
    import_path: Option<String>,
    #[serde(rename = "Test", default)]
    test: Option<String>,
    #[serde(rename = "Output", default)]
    output: Option<String>,
    #[serde(rename = "Elapsed", default)]
    elapsed: Option<f64>,
}

#[derive(Default)]
struct Building {
    run: PackageRun,
    /// Output lines, with the test each belongs to, for the summary.
    lines: Vec<(Option<String>, String)>,
    running: HashSet<String>,
    order: Vec<String>,
}

impl PackageRun {
    /// What `test` logged in its run `run` (from 1).
    pub fn log(&self, test: &str, run: u32) -> Option<&str> {
        let logs = self.logs.get(test)?;
        logs.get((run as usize).checked_sub(1)?).map(String::as_str)
    }
}

/// How the `go test` run ended.
pub struct Finished {
    /// `go test`'s own exit code; `None` when a signal ended it.
    pub go_status: Option<i32>,
}

/// Flags that would break the run: goleash needs `-exec` and `-trace` for itself, and `-c`
/// runs nothing.
const REFUSED: [(&str, &str); 4] = [
    (
        "exec",
        "goleash test runs the test binaries through its own -exec program",
    ),
    (
        "trace",
        "goleash test writes its own trace of every test binary",
    ),
    (
        "c",
        "goleash test needs the tests to run, not only to be compiled",
    ),
    (
        "o",
        "goleash test needs the tests to run, not only to be compiled",
    ),
];

/// The flags of `go test` that change what goleash does, found among the user's flags.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UserFlags {
    /// `-v`.
    pub verbose: bool,
    /// `-json`.
    pub json: bool,
    /// `-count` was given (otherwise goleash adds `-count=1`: a cached result runs nothing).
    pub count: bool,
    /// `-timeout 0`: no timeout, so a deadlock, which the runtime cannot see while a trace
    /// runs, never ends.
    pub no_timeout: bool,
}

/// Reads the user's flags up to `-args` (after it, everything is the binary's).
pub fn inspect_flags(flags: &[String]) -> Result<UserFlags> {
    let mut found = UserFlags::default();
    for (i, flag) in flags.iter().enumerate() {
        if flag == "-args" || flag == "--args" {
            break;
        }
        let Some(name) = flag.strip_prefix("--").or_else(|| flag.strip_prefix('-')) else {
            continue;
        };
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (name, None),
        };
        let value = value.or_else(|| {
            // `-timeout 0`: the value is the next argument.
            (name.trim_start_matches("test.") == "timeout")
                .then(|| flags.get(i + 1).map(String::as_str))
                .flatten()
        });
        let name = name.strip_prefix("test.").unwrap_or(name);
        let on = value.is_none_or(|v| v != "false");
        match name {
            "v" => found.verbose = on,
            "json" => found.json = on,
            "count" => found.count = true,
            "timeout" => {
                found.no_timeout = value.is_some_and(|v| v.trim_end_matches(['s', 'm', 'h']) == "0")
            }
            _ => {}
        }
        if let Some((_, why)) = REFUSED.iter().find(|(n, _)| *n == name) {
            bail!("goleash test cannot pass -{name} to go test: {why}");
        }
    }
    Ok(found)
}

/// The `-exec` value: this program, quoted as `go` splits it.
fn exec_value(dir: &Path) -> Result<String> {
    let me = std::env::current_exe().context("finding the goleash executable")?;
    let quote = |p: &Path| -> Result<String> {
        let s = p
            .to_str()
            .context("the path of goleash or of its temporary directory is not UTF-8")?;
        Ok(if !s.contains('\'') {
            format!("'{s}'")
        } else if !s.contains('"') {
            format!("\"{s}\"")
        } else {
            bail!("cannot quote {s} for go test -exec")
        })
    };
    Ok(format!("{} __test-exec {}", quote(&me)?, quote(dir)?))
}

/// Shared by the threads that write to the terminal: a progress line on stderr must be
/// cleared before anything else is written, and redrawn after.
pub struct Terminal {
    state: Mutex<Progress>,
}

#[derive(Default)]
struct Progress {
    enabled: bool,
    shown: bool,
    started: usize,
    done: usize,
    analysing: usize,
}

impl Terminal {
    /// Progress is shown only when stderr is a terminal.
    pub fn new() -> Arc<Terminal> {
        Arc::new(Terminal {
            state: Mutex::new(Progress {
                enabled: io::stderr().is_terminal(),
                ..Progress::default()
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes text to stdout or stderr without tearing the progress line.
    pub fn write(&self, to_stderr: bool, text: &[u8]) {
        let mut state = self.lock();
        state.clear();
        let result = if to_stderr {
            io::stderr().lock().write_all(text)
        } else {
            let mut out = io::stdout().lock();
            out.write_all(text).and_then(|()| out.flush())
        };
        drop(result);
        state.draw();
    }

    /// Updates the counts: `started` and `done` packages, packages being `analysing`.
    pub fn update(&self, f: impl FnOnce(&mut usize, &mut usize, &mut usize)) {
        let mut state = self.lock();
        let Progress {
            started,
            done,
            analysing,
            ..
        } = &mut *state;
        f(started, done, analysing);
        state.draw();
    }

    /// Removes the progress line for good.
    pub fn finish(&self) {
        let mut state = self.lock();
        state.clear();
        state.enabled = false;
    }
}

impl Progress {
    fn clear(&mut self) {
        if self.shown {
            let _ = io::stderr().lock().write_all(b"\r\x1b[K");
            self.shown = false;
        }
    }

    fn draw(&mut self) {
        if !self.enabled {
            return;
        }
        let running = self.started.saturating_sub(self.done);
        let mut line = if self.started == 0 {
            "goleash test: building the test binaries…".to_string()
        } else {
            format!(
                "goleash test: {} of {} started packages done, {running} running",
                self.done, self.started
            )
        };
        if self.analysing > 0 {
            let traces = if self.analysing == 1 {
                "trace"
            } else {
                "traces"
            };
            line.push_str(&format!(", reading {} {traces}", self.analysing));
        }
        let _ = io::stderr()
            .lock()
            .write_all(format!("\r\x1b[K{line}").as_bytes());
        self.shown = true;
    }
}

/// Runs `go test`, calling `done` with each package as soon as `go test` has finished it.
pub fn run(
    options: &RunOptions,
    terminal: &Arc<Terminal>,
    mut done: impl FnMut(PackageRun),
) -> Result<Finished> {
    let flags = inspect_flags(&options.go_flags)?;
    let mut command = Command::new(&options.go);
    command
        .arg("test")
        .arg("-json")
        .arg("-exec")
        .arg(exec_value(&options.dir)?);
    if !flags.count {
        command.arg("-count=1");
    }
    command
        .args(&options.packages)
        .args(&options.go_flags)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::NotFound {
            ": install Go 1.22 or newer, or name it with --go PATH"
        } else {
            ""
        };
        anyhow::anyhow!("cannot run {}: {e}{hint}", options.go.display())
    })?;
    terminal.update(|_, _, _| {});
    let stderr = child.stderr.take().expect("piped");
    let stderr_terminal = Arc::clone(terminal);
    // Build errors, vet reports and `go:` messages, as they come.
    let echo_stderr = std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            stderr_terminal.write(true, &line);
            line.clear();
        }
    });

    let to_stderr = options.echo_to_stderr;
    let echo = if flags.json {
        Echo::Json
    } else if flags.verbose {
        Echo::Verbose
    } else {
        options.echo
    };
    let reader = BufReader::new(child.stdout.take().expect("piped"));
    let mut show = |text: &[u8]| terminal.write(to_stderr, text);
    let unfinished = follow_stream(reader, echo, terminal, &mut show, &mut done)?;
    let status = child.wait().context("waiting for go test")?;
    let _ = echo_stderr.join();
    // Packages `go test` never finished (it was killed): what they printed is all there is.
    for entry in unfinished {
        if echo != Echo::Json {
            show(&shown_output(&entry, Echo::Verbose));
        }
        done(finish(entry));
    }
    Ok(Finished {
        go_status: status.code(),
    })
}

/// The packages of a stored `go test -json` stream, as [`run`] hands them on.
#[cfg(test)]
pub fn replay(events: &[u8]) -> Vec<PackageRun> {
    let terminal = Terminal {
        state: Mutex::new(Progress::default()),
    };
    let mut runs = Vec::new();
    let unfinished = follow_stream(events, Echo::Summary, &terminal, &mut |_| {}, &mut |run| {
        runs.push(run)
    })
    .expect("a stored stream reads");
    runs.extend(unfinished.into_iter().map(finish));
    runs
}

/// Follows the events of `go test -json` in `reader` to its end: shows the output with
/// `show` as `echo` says, and calls `done` with each package `go test` finished. Returns
/// the packages it never finished, in order.
fn follow_stream(
    reader: impl BufRead,
    echo: Echo,
    terminal: &Terminal,
    show: &mut dyn FnMut(&[u8]),
    done: &mut dyn FnMut(PackageRun),
) -> Result<Vec<Building>> {
    let mut building: HashMap<String, Building> = HashMap::new();
    for line in reader.lines() {
        let line = line.context("reading the output of go test")?;
        let Ok(event) = serde_json::from_str::<Event>(&line) else {
            show(format!("{line}\n").as_bytes());
            continue;
        };
        let Some(package) = event.package.clone() else {
            // Go 1.24+ reports build output by the package being built.
            if event.action == "build-output"
                && let Some(text) = &event.output
            {
                if echo == Echo::Json {
                    show(format!("{line}\n").as_bytes());
                } else {
                    show(text.as_bytes());
                }
            }
            if echo == Echo::Json && event.import_path.is_some() && event.action != "build-output" {
                show(format!("{line}\n").as_bytes());
            }
            continue;
        };
        let entry = building.entry(package.clone()).or_insert_with(|| {
            terminal.update(|started, _, _| *started += 1);
            Building {
                run: PackageRun {
                    package: package.clone(),
                    ..PackageRun::default()
                },
                ..Building::default()
            }
        });
        let hidden = follow(entry, &event);
        if echo == Echo::Json && !hidden {
            show(format!("{line}\n").as_bytes());
        }
        if event.test.is_none() && matches!(event.action.as_str(), "pass" | "fail" | "skip") {
            let entry = building.remove(&package).expect("just used");
            terminal.update(|_, done, _| *done += 1);
            if echo != Echo::Json {
                show(&shown_output(&entry, echo));
            }
            done(finish(entry));
        }
    }
    let mut rest: Vec<Building> = building.into_values().collect();
    rest.sort_by(|a, b| a.run.package.cmp(&b.run.package));
    Ok(rest)
}

/// Folds one event into its package; true when it is goleash's own (the exec wrapper's
/// marker, the settle test's events), which the user does not see.
fn follow(entry: &mut Building, event: &Event) -> bool {
    let run = &mut entry.run;
    let test = event.test.clone();
    if test.as_deref() == Some(settle::TEST) {
        // Only its place among the tests matters: the trace's test goroutines are named in
        // the order the tests ran.
        let action = match event.action.as_str() {
            "run" => Some(TestAction::Run),
            "pass" => Some(TestAction::Pass),
            "fail" => Some(TestAction::Fail),
            "skip" => Some(TestAction::Skip),
            _ => None,
        };
        if let Some(action) = action {
            run.test_events.push(TestEvent {
                action,
                name: settle::TEST.to_string(),
            });
        }
        return true;
    }
    match event.action.as_str() {
        "output" => {
            let text = event.output.as_deref().unwrap_or_default();
            if test.is_none()
                && let Some(n) = text.strip_prefix(MARKER)
            {
                run.trace = n.trim().parse().ok();
                return true;
            }
            run.output.extend_from_slice(text.as_bytes());
            if test.is_none() && (text == "PASS\n" || text == "FAIL\n") {
                run.finished_normally = true;
            }
            if test.is_none() && text.contains(" [build failed]") {
                run.build_failed = true;
            }
            if test.is_none() && text.contains(" [setup failed]") {
                run.setup_failed = true;
            }
            if let Some(test) = &test
                && TRACING_CONFLICTS.iter().any(|c| text.contains(c))
                && !run.tracing_conflicts.contains(test)
            {
                run.tracing_conflicts.push(test.clone());
            }
            if run.panicked_in.is_none() && text.starts_with("panic: ") {
                run.panicked_in = Some(test.clone().unwrap_or_default());
            }
            // A line belongs to the run of its test that started last.
            if let Some(test) = &test
                && !is_framing(text)
                && !text.trim_start().starts_with("--- ")
                && let Some(log) = run.logs.get_mut(test).and_then(|runs| runs.last_mut())
            {
                log.push_str(text);
            }
            entry.lines.push((test, text.to_string()));
        }
        "run" | "pass" | "fail" | "skip" if test.is_some() => {
            let name = test.expect("checked");
            let (action, result) = match event.action.as_str() {
                "run" => (TestAction::Run, None),
                "pass" => (TestAction::Pass, Some(TestResult::Pass)),
                "fail" => (TestAction::Fail, Some(TestResult::Fail)),
                _ => (TestAction::Skip, Some(TestResult::Skip)),
            };
            run.test_events.push(TestEvent {
                action,
                name: name.clone(),
            });
            match result {
                None => {
                    run.logs
                        .entry(name.clone())
                        .or_default()
                        .push(String::new());
                    entry.running.insert(name.clone());
                    entry.order.push(name);
                }
                Some(result) => {
                    entry.running.remove(&name);
                    if let Some(elapsed) = event.elapsed {
                        run.test_elapsed.insert(name.clone(), elapsed);
                    }
                    run.results.push((name, result));
                }
            }
        }
        "pass" | "fail" | "skip" => {
            run.result = Some(match event.action.as_str() {
                "pass" => TestResult::Pass,
                "fail" => TestResult::Fail,
                _ => TestResult::Skip,
            });
            run.elapsed = event.elapsed;
        }
        _ => {}
    }
    false
}

fn finish(entry: Building) -> PackageRun {
    let Building {
        mut run,
        running,
        order,
        ..
    } = entry;
    run.unfinished = order
        .into_iter()
        .filter(|t| running.contains(t))
        .collect::<Vec<_>>();
    run.unfinished.dedup();
    run
}

/// Framing lines of verbose output that `go test` without `-v` does not print.
fn is_framing(line: &str) -> bool {
    ["=== RUN", "=== PAUSE", "=== CONT", "=== NAME"]
        .iter()
        .any(|p| line.starts_with(p))
}

/// What `go test` would have shown for a finished package.
fn shown_output(entry: &Building, echo: Echo) -> Vec<u8> {
    let mut out = Vec::new();
    if echo == Echo::Verbose {
        for (_, line) in &entry.lines {
            out.extend_from_slice(line.as_bytes());
        }
        return out;
    }
    let passed = entry.run.result != Some(TestResult::Fail);
    if passed {
        // `ok  pkg 0.01s` or `?  pkg [no test files]`: the package's last line.
        if let Some((_, line)) = entry.lines.iter().rev().find(|(t, _)| t.is_none()) {
            out.extend_from_slice(line.as_bytes());
        }
        return out;
    }
    // Without -v a binary prints nothing about tests that pass; what a failing test logged
    // is printed with its `--- FAIL` line.
    let quiet: HashSet<&str> = entry
        .run
        .results
        .iter()
        .filter(|(_, r)| *r != TestResult::Fail)
        .map(|(t, _)| t.as_str())
        .collect();
    // The binary runs with -test.v, which prints a test's log before its `--- FAIL` line;
    // without -v, go test prints it after. Hold each test's lines until it reports.
    let mut held: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut reported: HashSet<&str> = HashSet::new();
    let mut unreported: Vec<&str> = Vec::new();
    for (test, line) in &entry.lines {
        if is_framing(line) || test.as_deref().is_some_and(|t| quiet.contains(t)) {
            continue;
        }
        if test.is_none() && line == "PASS\n" {
            continue;
        }
        match test.as_deref() {
            Some(t) if !reported.contains(t) => {
                if line.trim_start().starts_with("--- ") {
                    reported.insert(t);
                    out.extend_from_slice(line.as_bytes());
                    for held_line in held.remove(t).unwrap_or_default() {
                        out.extend_from_slice(held_line.as_bytes());
                    }
                } else {
                    if !held.contains_key(t) {
                        unreported.push(t);
                    }
                    held.entry(t).or_default().push(line);
                }
            }
            Some(_) => out.extend_from_slice(line.as_bytes()),
            None => {
                // The package's own lines (a timeout's panic, `FAIL pkg`): tests that never
                // reported never will; their lines go first, as they came.
                for t in unreported.drain(..) {
                    for held_line in held.remove(t).unwrap_or_default() {
                        out.extend_from_slice(held_line.as_bytes());
                    }
                }
                out.extend_from_slice(line.as_bytes());
            }
        }
    }
    for t in unreported {
        for line in held.remove(t).unwrap_or_default() {
            out.extend_from_slice(line.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(flags: &[&str]) -> Vec<String> {
        flags.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_that_matter() {
        let f = inspect_flags(&strings(&["-run", "TestX", "-v", "-count=3"])).unwrap();
        assert_eq!(
            f,
            UserFlags {
                verbose: true,
                json: false,
                count: true,
                no_timeout: false,
            }
        );
        let f = inspect_flags(&strings(&["--test.v=false", "-json"])).unwrap();
        assert!(!f.verbose && f.json && !f.count);
        assert!(
            inspect_flags(&strings(&["-timeout", "0"]))
                .unwrap()
                .no_timeout
        );
        assert!(
            inspect_flags(&strings(&["-test.timeout=0s"]))
                .unwrap()
                .no_timeout
        );
        assert!(
            !inspect_flags(&strings(&["-timeout=10s"]))
                .unwrap()
                .no_timeout
        );
        // After -args everything is the binary's.
        let f = inspect_flags(&strings(&["-args", "-v", "-exec", "x"])).unwrap();
        assert_eq!(f, UserFlags::default());
        for refused in ["-exec=echo", "-trace", "--trace=t.out", "-c", "-o=x"] {
            let e = inspect_flags(&strings(&[refused])).unwrap_err();
            assert!(e.to_string().contains("cannot pass"), "{refused}: {e}");
        }
    }

    fn event(json: &str) -> Event {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn summary_shows_what_go_test_shows() {
        let mut failing = Building::default();
        for line in [
            r#"{"Action":"output","Package":"p","Output":"goleash-test-exec: trace 3\n"}"#,
            r#"{"Action":"run","Package":"p","Test":"TestA"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:5: chatter\n"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}"#,
            r#"{"Action":"pass","Package":"p","Test":"TestA"}"#,
            r#"{"Action":"run","Package":"p","Test":"TestB"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: want 2, got 3\n"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestB","Output":"--- FAIL: TestB (0.00s)\n"}"#,
            r#"{"Action":"fail","Package":"p","Test":"TestB"}"#,
            r#"{"Action":"run","Package":"p","Test":"TestC"}"#,
            r#"{"Action":"output","Package":"p","Output":"FAIL\n"}"#,
            r#"{"Action":"output","Package":"p","Output":"FAIL\tp\t0.01s\n"}"#,
            r#"{"Action":"fail","Package":"p","Elapsed":0.01}"#,
        ] {
            follow(&mut failing, &event(line));
        }
        let shown = String::from_utf8(shown_output(&failing, Echo::Summary)).unwrap();
        assert_eq!(
            shown,
            "--- FAIL: TestB (0.00s)\n    b_test.go:9: want 2, got 3\nFAIL\nFAIL\tp\t0.01s\n"
        );
        let verbose = String::from_utf8(shown_output(&failing, Echo::Verbose)).unwrap();
        assert!(verbose.contains("chatter") && !verbose.contains("goleash-test-exec"));
        let run = finish(failing);
        assert_eq!(run.trace, Some(3));
        assert!(run.finished_normally);
        assert_eq!(run.unfinished, ["TestC"]);
        assert_eq!(
            run.results,
            [
                ("TestA".to_string(), TestResult::Pass),
                ("TestB".to_string(), TestResult::Fail)
            ]
        );
        assert_eq!(run.test_events.len(), 5);

        let mut passing = Building::default();
        for line in [
            r#"{"Action":"run","Package":"q","Test":"TestA"}"#,
            r#"{"Action":"output","Package":"q","Test":"TestA","Output":"=== RUN   TestA\n"}"#,
            r#"{"Action":"pass","Package":"q","Test":"TestA"}"#,
            r#"{"Action":"output","Package":"q","Output":"PASS\n"}"#,
            r#"{"Action":"output","Package":"q","Output":"ok  \tq\t0.01s\n"}"#,
            r#"{"Action":"pass","Package":"q","Elapsed":0.01}"#,
        ] {
            follow(&mut passing, &event(line));
        }
        let shown = String::from_utf8(shown_output(&passing, Echo::Summary)).unwrap();
        assert_eq!(shown, "ok  \tq\t0.01s\n");
    }

    #[test]
    fn each_run_keeps_its_own_log_and_the_settle_test_is_hidden() {
        let mut building = Building::default();
        for line in [
            r#"{"Action":"run","Package":"p","Test":"TestA"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:5: first\n"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}"#,
            r#"{"Action":"pass","Package":"p","Test":"TestA"}"#,
            r#"{"Action":"run","Package":"p","Test":"TestA"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:5: second\n"}"#,
            r#"{"Action":"output","Package":"p","Test":"TestA","Output":"--- FAIL: TestA (0.00s)\n"}"#,
            r#"{"Action":"fail","Package":"p","Test":"TestA"}"#,
            r#"{"Action":"run","Package":"p","Test":"Test_goleash_settle"}"#,
            r#"{"Action":"output","Package":"p","Test":"Test_goleash_settle","Output":"=== RUN   Test_goleash_settle\n"}"#,
            r#"{"Action":"pass","Package":"p","Test":"Test_goleash_settle"}"#,
        ] {
            let hidden = follow(&mut building, &event(line));
            assert_eq!(hidden, line.contains("settle"), "{line}");
        }
        let run = finish(building);
        assert_eq!(run.log("TestA", 1), Some("    a_test.go:5: first\n"));
        assert_eq!(run.log("TestA", 2), Some("    a_test.go:5: second\n"));
        assert_eq!(run.log("TestA", 3), None);
        assert_eq!(run.results.len(), 2);
        // Still among the events the trace's test goroutines are named from.
        assert_eq!(
            run.test_events
                .iter()
                .filter(|e| e.name == settle::TEST)
                .count(),
            2
        );
    }
}
