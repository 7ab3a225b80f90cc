//! Settling before judging: one more test, added to every test binary without touching the
//! user's files, that runs after all the others and gives the goroutines they left a bounded
//! chance to reach where they end up.
//!
//! At the end of its last test a binary may hold goroutines that were created but never
//! ran, or that are runnable or running: a `go` statement just before a test returned, a
//! goroutine the scheduler kept waiting while the tests handed the processor to each other
//! (Go 1.22 does that for a whole short binary), a worker woken by a close. The trace then
//! cannot say where they would block. So `goleash test` adds, through `go test -overlay`, a
//! file `zzzz_goleash_settle_test.go` to the external test package (`pkg_test`) of every
//! package that has tests; its one test, [`TEST`], is the binary's last (`go test` runs the
//! package's own test files first, then the external ones, each in file name order) and
//! only sleeps, a millisecond at a time, until nothing is left to run or [`BOUND_MS`] have
//! passed. With Go 1.26 and later it reads the scheduler's own counts
//! (`/sched/goroutines/runnable` and `/running` in `runtime/metrics`); before, it waits until
//! the number of goroutines has not changed for 10 ms.
//!
//! Why this is sound: the added test shares nothing with the package's code (another
//! package, every import under a name of its own, no package state touched), and sleeping
//! frees every processor, so each goroutine that can run does, as it would have a moment
//! later in a longer program. The trace records the settle like any test: goroutines that
//! block during it are judged where they block, those that exit are gone, and those still
//! runnable or running when it ends are listed as still running when the tests ended. The
//! test itself is hidden from the output, the results and the reports; it is part of the
//! events the trace's test goroutines are named from, so that the names stay in step. With
//! `-count=N` it settles once, after the last round (it reads `-test.count`).
//!
//! Before Go 1.25 the vet step of `go test` does not read overlays and fails on the added
//! file: there goleash runs that step itself first (`go vet` with the analyzers `go test`
//! runs, on the same packages) and `go test` with `-vet=off`. If `go vet` finds something,
//! the settle is left out and `go test` runs its own vet, which fails as it would without
//! goleash.
//!
//! It is left out where it cannot work or would show: with an `-overlay` of the user's own,
//! with `-list`, with `-vet` analyzers of the user's before Go 1.25, and when `go list`
//! cannot say which packages have tests.
//! With `-shuffle` the tests run in a random order, so the settle may run before other
//! tests rather than after them all: that costs its wait and changes no verdict (what it
//! would have let settle is judged as without it).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

/// The test's name: a valid test name nobody else is likely to use.
pub const TEST: &str = "Test_goleash_settle";

/// The longest the settle waits, in milliseconds.
pub const BOUND_MS: u32 = 200;

/// How a panic of the deadlock watch starts: the runtime proved a running test's goroutine
/// blocked forever, and the binary was ended for it.
pub const DEADLOCK: &str = "goleash: deadlock";

/// The deadlock watch's function, whose goroutine (while it looks) is goleash's, not a
/// test's.
pub const WATCH: &str = "goleash_deadlock_watch";

/// When the deadlock watch first looks, and how often at most, in milliseconds.
const WATCH_FIRST_MS: u32 = 1000;

/// The deadlock watch waits this many times what its last look took before the next.
const WATCH_COST: u32 = 800;

/// The file the overlay adds to each package's directory.
const FILE: &str = "zzzz_goleash_settle_test.go";

/// What the settle adds to the `go test` command line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settle {
    /// `-overlay=FILE`, and `-run` with the settle test added when the user gave one.
    pub flags: Vec<String>,
    /// The user's flags without their `-run`, which `flags` replaces.
    pub user_flags: Vec<String>,
}

/// The test file for a package named `name`.
fn source(name: &str, watch: bool) -> String {
    format!(
        r#"// Added by goleash test through go test -overlay: the binary's last test, which gives
// the goroutines the other tests left a bounded chance to block or exit before the trace
// ends. It touches nothing of the package.

package {name}_test

import (
	goleash_bytes "bytes"
	goleash_flag "flag"
	goleash_runtime "runtime"
	goleash_debug "runtime/debug"
	goleash_metrics "runtime/metrics"
	goleash_pprof "runtime/pprof"
	goleash_trace "runtime/trace"
	goleash_strconv "strconv"
	goleash_testing "testing"
	goleash_time "time"
)

// The deadlock watch: when the runtime proves that a test's own goroutine can never run
// again (the goroutineleak profile, where the release has it), nothing can end that test
// but -timeout, so the binary ends now the way -timeout ends it: the trace stopped, every
// goroutine's stack printed. It keeps no goroutine between looks (a timer's callback looks
// and arms the next), so tests that count goroutines see none of it.
const goleash_watch = {watch}

func init() {{
	if goleash_watch && goleash_pprof.Lookup("goroutineleak") != nil {{
		goleash_time.AfterFunc({WATCH_FIRST_MS} * goleash_time.Millisecond, {WATCH})
	}}
}}

func {WATCH}() {{
	var profile goleash_bytes.Buffer
	start := goleash_time.Now()
	if goleash_pprof.Lookup("goroutineleak").WriteTo(&profile, 1) != nil {{
		return
	}}
	took := goleash_time.Since(start)
	if goleash_bytes.Contains(profile.Bytes(), []byte("\ttesting.tRunner+0x")) {{
		goleash_trace.Stop()
		goleash_debug.SetTraceback("all")
		panic("{DEADLOCK}: the runtime proved a test's goroutine blocked forever (its goroutineleak profile); goleash test ended the binary instead of waiting for -timeout")
	}}
	// Each look is a garbage collection: at most one in {WATCH_COST} of the binary's time.
	next := {WATCH_COST} * took
	if next < {WATCH_FIRST_MS}*goleash_time.Millisecond {{
		next = {WATCH_FIRST_MS} * goleash_time.Millisecond
	}}
	goleash_time.AfterFunc(next, {WATCH})
}}

var goleash_settle_rounds int

func {TEST}(t *goleash_testing.T) {{
	goleash_settle_rounds++
	if f := goleash_flag.Lookup("test.count"); f != nil {{
		if n, err := goleash_strconv.Atoi(f.Value.String()); err == nil && goleash_settle_rounds < n {{
			return
		}}
	}}
	samples := []goleash_metrics.Sample{{
		{{Name: "/sched/goroutines/runnable:goroutines"}},
		{{Name: "/sched/goroutines/running:goroutines"}},
	}}
	deadline := goleash_time.Now().Add({BOUND_MS} * goleash_time.Millisecond)
	last, quiet := -1, 0
	for goleash_time.Now().Before(deadline) {{
		goleash_time.Sleep(goleash_time.Millisecond)
		goleash_metrics.Read(samples)
		if samples[0].Value.Kind() == goleash_metrics.KindUint64 {{
			// Only this goroutine runs, nothing waits to: settled.
			if samples[0].Value.Uint64() == 0 && samples[1].Value.Uint64() <= 1 {{
				quiet++
			}} else {{
				quiet = 0
			}}
			if quiet >= 3 {{
				return
			}}
			continue
		}}
		if n := goleash_runtime.NumGoroutine(); n == last {{
			quiet++
		}} else {{
			last, quiet = n, 0
		}}
		if quiet >= 10 {{
			return
		}}
	}}
}}
"#
    )
}

/// The analyzers `go test` runs by default, by Go minor release (from its `defaultVetFlags`).
fn default_vet_flags(minor: u32) -> Vec<&'static str> {
    let mut flags = vec![
        "-atomic",
        "-bool",
        "-buildtags",
        "-directive",
        "-errorsas",
        "-ifaceassert",
        "-nilfunc",
        "-printf",
        "-slog",
        "-stringintconv",
    ];
    if minor >= 24 {
        flags.push("-tests");
    }
    flags
}

/// Prepares the settle for a `go test` of `packages` with the user's `flags`, by a `go` of
/// minor release `minor` (`None`: a development build): writes the test file, with the
/// deadlock watch when `watch`, and the overlay into `dir`. `None` when it must be left out.
pub fn prepare(
    go: &Path,
    minor: Option<u32>,
    packages: &[String],
    flags: &[String],
    dir: &Path,
    watch: bool,
) -> Result<Option<Settle>> {
    let user = Flags::of(flags);
    if user.overlay || user.list {
        return Ok(None);
    }
    let vet_reads_overlays = minor.is_none_or(|m| m >= 25);
    let vet_ourselves = !vet_reads_overlays && user.vet.is_none();
    if !vet_reads_overlays && user.vet.as_deref().is_some_and(|v| v != "off") {
        return Ok(None);
    }
    let Some(listed) = packages_with_tests(go, packages, &user.build)? else {
        return Ok(None);
    };
    if listed.is_empty() {
        return Ok(None);
    }
    if vet_ourselves {
        let vetted = Command::new(go)
            .arg("vet")
            .args(default_vet_flags(minor.unwrap_or(u32::MAX)))
            .args(&user.build)
            .args(packages)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .with_context(|| format!("running {} vet", go.display()))?;
        if !vetted.success() {
            return Ok(None);
        }
    }
    let mut replace = serde_json::Map::new();
    for (i, (package_dir, name)) in listed.iter().enumerate() {
        let file = dir.join(format!("settle-{i}.go"));
        std::fs::write(&file, source(name, watch))
            .with_context(|| format!("writing {}", file.display()))?;
        replace.insert(
            package_dir.join(FILE).to_string_lossy().into_owned(),
            serde_json::Value::String(file.to_string_lossy().into_owned()),
        );
    }
    let overlay = dir.join("settle-overlay.json");
    let mut out = std::fs::File::create(&overlay)
        .with_context(|| format!("writing {}", overlay.display()))?;
    serde_json::to_writer(&mut out, &serde_json::json!({ "Replace": replace }))?;
    out.flush()?;
    let mut settle = Settle {
        flags: vec![format!("-overlay={}", overlay.display())],
        user_flags: flags.to_vec(),
    };
    if vet_ourselves {
        settle.flags.push("-vet=off".to_string());
    }
    if let Some((at, len, pattern)) = user.run {
        settle.flags.push(format!("-run={}", with_settle(&pattern)));
        settle.user_flags.drain(at..at + len);
    }
    Ok(Some(settle))
}

/// `-run PATTERN` with the settle test added as an alternative of its first level (the
/// pattern is split at each `/` outside brackets and parentheses, one level per subtest).
fn with_settle(pattern: &str) -> String {
    let mut depth = 0i32;
    let mut split = pattern.len();
    for (i, c) in pattern.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '/' if depth == 0 => {
                split = i;
                break;
            }
            _ => {}
        }
    }
    let (first, rest) = pattern.split_at(split);
    format!("{first}|^{TEST}${rest}")
}

/// The flags of the user's that the settle needs to know.
#[derive(Debug, Default)]
struct Flags {
    /// `-overlay`: theirs; the settle leaves it alone.
    overlay: bool,
    /// `-list`: nothing runs, and the settle test would be listed.
    list: bool,
    /// `-run`: where it is among the flags, how many arguments it takes, its pattern.
    run: Option<(usize, usize, String)>,
    /// `-vet`: the analyzers, or `off`.
    vet: Option<String>,
    /// Flags that decide which files and packages there are, for `go list`.
    build: Vec<String>,
}

impl Flags {
    fn of(flags: &[String]) -> Flags {
        let mut found = Flags::default();
        let mut i = 0;
        while i < flags.len() {
            let flag = &flags[i];
            if flag == "-args" || flag == "--args" {
                break;
            }
            let Some(name) = flag.strip_prefix("--").or_else(|| flag.strip_prefix('-')) else {
                i += 1;
                continue;
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (name, None),
            };
            let name = name.strip_prefix("test.").unwrap_or(name);
            let takes_value =
                matches!(name, "run" | "tags" | "mod" | "modfile" | "overlay" | "vet");
            let (value, len) = match (&inline, takes_value) {
                (Some(v), _) => (Some(v.clone()), 1),
                (None, true) => (flags.get(i + 1).cloned(), 2),
                (None, false) => (None, 1),
            };
            match name {
                "overlay" => found.overlay = true,
                "list" => found.list = true,
                "run" => found.run = value.map(|v| (i, len, v)),
                "vet" => found.vet = value,
                "tags" | "mod" | "modfile" => {
                    if let Some(v) = value {
                        found.build.push(format!("-{name}={v}"));
                    }
                }
                _ => {}
            }
            i += len;
        }
        found
    }
}

/// The directory and package name of every package among `packages` that has tests;
/// `None` when `go list` cannot say (it then fails the same way for `go test`, which tells
/// the user).
fn packages_with_tests(
    go: &Path,
    packages: &[String],
    build: &[String],
) -> Result<Option<Vec<(PathBuf, String)>>> {
    let output = Command::new(go)
        .args(["list", "-e", "-f"])
        .arg("{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}\t{{.Name}}{{end}}")
        .args(build)
        .args(packages)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {} list", go.display()))?;
    if !output.status.success() {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| {
                let (dir, name) = line.split_once('\t')?;
                Some((PathBuf::from(dir), name.to_string()))
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settle_test_joins_a_run_pattern_at_its_first_level() {
        assert_eq!(with_settle("TestA"), format!("TestA|^{TEST}$"));
        assert_eq!(with_settle("TestA/sub"), format!("TestA|^{TEST}$/sub"));
        assert_eq!(
            with_settle("Test(A/B|C)/x"),
            format!("Test(A/B|C)|^{TEST}$/x")
        );
    }

    #[test]
    fn flags_it_needs() {
        let strings = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let f = Flags::of(&strings(&["-v", "-run", "TestX", "-tags=a,b", "-count=3"]));
        assert_eq!(f.run, Some((1, 2, "TestX".to_string())));
        assert_eq!(f.build, ["-tags=a,b"]);
        assert!(!f.overlay && !f.list);
        let f = Flags::of(&strings(&["-test.run=^TestY$", "-list", "."]));
        assert_eq!(f.run, Some((0, 1, "^TestY$".to_string())));
        assert!(f.list);
        // After -args, everything is the binary's.
        let f = Flags::of(&strings(&["-args", "-run", "X"]));
        assert!(f.run.is_none());
    }
}
