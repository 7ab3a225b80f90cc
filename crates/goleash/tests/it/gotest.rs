//! `goleash test` on the module `fixtures/go/testleaks`, with the first release whose
//! traces it reads (Go 1.22) and the newest (Go 1.27): exactly the tests that leak are
//! named, each with the function its goroutine is blocked in; clean tests are never
//! named; failed, panicked and timed-out tests fail the run and are said to have.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::go::{Run, Toolchain, run, scratch, toolchain};

const MODULE: &str = "goleash.test/testleaks";

/// The leaks of the module: (package, test, function the goroutine waits in, state).
const LEAKS: [(&str, &str, &str, &str); 20] = [
    // A timer whose end leads to a send nobody can receive: blocked for ever after it.
    ("aftertimer", "TestAfterThenSend", "func1", "chan receive"),
    ("aftertimer", "TestSleepThenSend", "fetch", "sleep"),
    ("deep", "TestTwoDeep", "consume", "chan receive"),
    // An example runs on the main goroutine; what it starts is still its own.
    ("examples", "ExampleNewCache", "refresh", "chan receive"),
    (
        "failing/errors",
        "TestAssertionFails",
        "waitAll",
        "sync.WaitGroup.Wait",
    ),
    (
        "failing/hangs",
        "TestLeakBeforeHang",
        "collect",
        "chan receive",
    ),
    (
        "failing/panics",
        "TestLeakBeforePanic",
        "awaitSignal",
        "chan receive",
    ),
    ("parallel", "TestParallelLeak", "sendResult", "chan send"),
    ("plain", "TestPlainLeak", "waitForResult", "chan receive"),
    // Servers a test started and never closed; the one TestMain started is no test's.
    ("servers", "TestListenerLeft", "acceptAll", "IO wait"),
    ("servers", "TestServerLeft", "Accept", "IO wait"),
    (
        "subtests",
        "TestCache/evict",
        "lockAndCount",
        "sync.Mutex.Lock",
    ),
    ("subtests", "TestTable/first", "publish", "chan send"),
    ("subtests", "TestTable/second", "publish", "chan send"),
    ("ticker", "TestTickerLeak", "pollForever", "select"),
    // A response body never closed: its connection's readLoop and writeLoop, one leak.
    ("unclosedbody", "TestBodyLeftOpen", "readLoop", "select"),
    ("unclosedbody", "TestBodyLeftOpen", "writeLoop", "select"),
    (
        "unsettled/spawn",
        "TestSpawnAtReturn",
        "warmUp",
        "chan receive",
    ),
    (
        "unsettled/timeout",
        "TestSendAfterTimeout",
        "deliver",
        "chan send",
    ),
    (
        "unsettled/waitgroup",
        "TestOneDoneShort",
        "waitForAll",
        "sync.WaitGroup.Wait",
    ),
];

/// Tests that leave nothing behind (or only goroutines on their way out): never named.
const CLEAN: [&str; 13] = [
    "ExampleCache_Close",
    "TestSharedServer",
    "TestServerClosed",
    "TestPlainClean",
    "TestParallelClean",
    "TestExitsJustAfter",
    "TestTickerStopped",
    "TestHTTPClean",
    "TestBodyClosed",
    "TestPasses",
    "TestCache/hit",
    "TestCache/nested",
    "TestCache/nested/deeper",
];

/// What a test that deadlocks comes to with `release`: Go 1.27's runtime proves it (the
/// goroutineleak profile) and goleash's deadlock watch ends the binary at once; before,
/// `-timeout` does.
fn stopped_as(toolchain: &Toolchain) -> &'static str {
    if toolchain.minor >= 27 {
        "deadlocked"
    } else {
        "timed_out"
    }
}

/// The module's sources for `toolchain`: the paths the traces name.
fn module(toolchain: &'static Toolchain) -> PathBuf {
    toolchain.fixtures().src().join("testleaks")
}

/// `goleash test ARGS` in the module, with the toolchain's `go` and its environment.
fn goleash_test(
    toolchain: &'static Toolchain,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    let go = toolchain.command();
    let mut full = vec!["--go", go.get_program().to_str().expect("a UTF-8 path")];
    full.extend_from_slice(args);
    goleash(toolchain, dir, &full, env)
}

/// `goleash test ARGS` in `dir`, with the environment of the toolchain's `go`.
fn goleash(toolchain: &'static Toolchain, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let go = toolchain.command();
    let mut command = Command::new(env!("CARGO_BIN_EXE_goleash"));
    for (key, value) in go.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .arg("test")
        .args(args)
        .envs(env.iter().copied());
    run(&mut command, false)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn short(function: &str) -> &str {
    function.rsplit('.').next().unwrap_or(function)
}

/// Runs the whole module, failing tests included, and checks the JSON report.
///
/// Besides the leaks: an assertion that fails, a panic, a timeout and an os.Exit (with
/// TESTLEAKS_FAIL=1), and a test that takes a trace of its own, which cannot work under
/// goleash test.
fn whole_module(release: &str) {
    let toolchain = toolchain(release);
    let dir = module(toolchain);
    let result = goleash_test(
        toolchain,
        &dir,
        &["--format", "json", "./...", "--", "-timeout", "3s"],
        &[("TESTLEAKS_FAIL", "1")],
    );
    let stderr = text(&result.stderr);
    assert_eq!(result.code(), 1, "{stderr}");
    let doc: Value = serde_json::from_slice(&result.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{stderr}", text(&result.stdout)));
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["passed"], false);
    // go test's own output is still there, on stderr with JSON on stdout.
    for package in ["deep", "plain", "ticker"] {
        assert!(
            stderr.contains(&format!("ok  \t{MODULE}/{package}\t")),
            "no ok line for {package}:\n{stderr}"
        );
    }
    let stop = match stopped_as(toolchain) {
        "timed_out" => "panic: test timed out after 3s",
        _ => "panic: goleash: deadlock: the runtime proved",
    };
    assert!(stderr.contains(stop), "{stderr}");

    let failing: BTreeSet<(String, String, String, String)> = doc["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["outcome"] == "fail")
        .map(|l| {
            assert_eq!(l["verdict"], "leak", "{l}");
            assert_eq!(l["count"], 1, "{l}");
            assert!(l["hint"].is_string(), "{l}");
            assert!(!l["frames"].as_array().unwrap().is_empty(), "{l}");
            let chain = l["creator_chain"].as_array().unwrap();
            let last = chain
                .last()
                .unwrap_or_else(|| panic!("no creator chain: {l}"));
            // The chain ends at the goroutine that ran the test.
            assert_eq!(last["test"], l["test"], "{l}");
            (
                l["package"].as_str().unwrap().to_string(),
                l["test"].as_str().unwrap().to_string(),
                short(l["leak_site"]["function"].as_str().unwrap()).to_string(),
                l["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, String, String)> = LEAKS
        .iter()
        .map(|(p, t, f, s)| {
            (
                format!("{MODULE}/{p}"),
                t.to_string(),
                f.to_string(),
                s.to_string(),
            )
        })
        .collect();
    // Go 1.22's trace can end with a leaked goroutine woken but not yet run to the block it
    // leaks in (seen on a loaded machine, never with later releases): goleash lists it as
    // not judged, under its test. That, and only that, may stand in for the leak there.
    let missing: Vec<(String, String)> = expected
        .difference(&failing)
        .map(|(package, test, _, _)| (package.clone(), test.clone()))
        .collect();
    assert!(failing.is_subset(&expected), "{}", text(&result.stdout));
    for (package, test) in &missing {
        let listed = release == "1.22"
            && doc["unjudged"].as_array().unwrap().iter().any(|u| {
                u["package"] == package.as_str()
                    && u["test"] == test.as_str()
                    && (u["state"] == "runnable" || u["state"] == "running")
            });
        assert!(listed, "{test} is not reported: {}", text(&result.stdout));
        eprintln!("go{release}: the leak of {test} was still runnable when the trace ended");
    }

    // The leak two goroutines deep: started by startPipeline, which TestTwoDeep started.
    let deep = doc["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["test"] == "TestTwoDeep");
    match deep {
        Some(deep) => {
            let chain: Vec<&str> = deep["creator_chain"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| short(c["function"].as_str().unwrap()))
                .collect();
            assert_eq!(chain, ["startPipeline", "TestTwoDeep"]);
            assert_eq!(deep["creator_chain"][0]["exited"], true);
        }
        None => assert!(missing.iter().any(|(_, t)| t == "TestTwoDeep")),
    }

    // Nothing else fails, and no clean test is named anywhere.
    for leak in doc["leaks"].as_array().unwrap() {
        let test = leak["test"].as_str().unwrap_or_default();
        assert!(!CLEAN.contains(&test), "a clean test is named: {leak}");
    }
    let failures: BTreeSet<(String, String)> = doc["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["test"].as_str().unwrap().to_string(),
                f["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("TestAssertionFails", "failed"),
        ("TestTransfersDeadlock", stopped_as(toolchain)),
        // The first test of failing/channels; its binary is stopped there.
        ("TestReplyBeforeRequest", stopped_as(toolchain)),
        // A lock a package variable holds: the runtime proves nothing, the timeout stops it.
        ("TestAddWhileRefreshing", "timed_out"),
        ("TestExits", "interrupted"),
        ("TestHangs", stopped_as(toolchain)),
        ("TestPanics", "panicked"),
        ("TestStartsTrace", "failed"),
    ]
    .iter()
    .map(|(t, k)| (t.to_string(), k.to_string()))
    .collect();
    assert_eq!(failures, want, "{}", text(&result.stdout));
    let failure = |test: &str| {
        doc["failures"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["test"] == test)
            .unwrap()
            .clone()
    };
    // A failed assertion carries what the test logged.
    let assertion = failure("TestAssertionFails");
    assert!(
        assertion["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("want 2 workers, got 1")),
        "{assertion}"
    );
    // It cannot take a trace while goleash's runs: the report says so, and how to skip it.
    let tracing = failure("TestStartsTrace");
    assert!(
        tracing["message"]
            .as_str()
            .unwrap()
            .contains("-skip '^TestStartsTrace$'"),
        "{tracing}"
    );
    let hang = failure("TestHangs");
    assert_eq!(
        short(hang["at"]["function"].as_str().unwrap()),
        "waitForQuorum"
    );
    assert_eq!(hang["at"]["state"], "chan receive");
    let panic = failure("TestPanics");
    assert!(
        panic["message"]
            .as_str()
            .unwrap()
            .starts_with("assignment to entry in nil map"),
        "{panic}"
    );
    assert_eq!(
        short(panic["at"]["function"].as_str().unwrap()),
        "TestPanics"
    );

    let status = |package: &str| {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["package"] == format!("{MODULE}/{package}"))
            .unwrap_or_else(|| panic!("no package {package}"))
            .clone()
    };
    assert_eq!(status("failing/panics")["status"], "crashed");
    assert_eq!(status("failing/panics")["evidence"], "crash_dump");
    assert_eq!(status("failing/hangs")["status"], stopped_as(toolchain));
    assert_eq!(status("failing/hangs")["evidence"], "trace");
    assert_eq!(status("failing/errors")["status"], "failed");
    // os.Exit in a test: no stopped trace, no dump; the report says leaks were not checked.
    let exits = status("failing/exits");
    assert_eq!(exits["status"], "exited");
    assert_eq!(exits["evidence"], "none");
    assert!(
        exits["problem"]
            .as_str()
            .unwrap()
            .contains("leaks were not checked"),
        "{exits}"
    );
    assert_eq!(status("plain")["status"], "passed");
    for package in doc["packages"].as_array().unwrap() {
        assert!(package["error"].is_null(), "{package}");
    }
    // The goroutines not judged are on their way out: never one of a leak's functions.
    for unjudged in doc["unjudged"].as_array().unwrap() {
        if missing
            .iter()
            .any(|(p, t)| unjudged["package"] == p.as_str() && unjudged["test"] == t.as_str())
        {
            continue;
        }
        let function = short(unjudged["function"].as_str().unwrap());
        assert!(
            LEAKS.iter().all(|(_, _, f, _)| *f != function),
            "a leak was not judged: {unjudged}"
        );
    }
}

/// The packages that pass, some leaking, in text: names first, clean tests never.
fn passing_packages_text(release: &str) {
    let toolchain = toolchain(release);
    let dir = module(toolchain);
    let packages = [
        "./plain",
        "./parallel",
        "./straggler",
        "./ticker",
        "./httpclient",
        "./subtests",
    ];
    let mut args = vec!["--color", "never"];
    args.extend(packages);
    let result = goleash_test(toolchain, &dir, &args, &[]);
    let out = text(&result.stdout);
    assert_eq!(result.code(), 1, "{out}{}", text(&result.stderr));
    for package in [
        "plain",
        "parallel",
        "straggler",
        "ticker",
        "httpclient",
        "subtests",
    ] {
        assert!(
            out.contains(&format!("ok  \t{MODULE}/{package}\t")),
            "{out}"
        );
    }
    let mut tolerated = Vec::new();
    for (test, function) in [
        ("TestPlainLeak", "plain.waitForResult"),
        ("TestParallelLeak", "parallel.sendResult"),
        ("TestTickerLeak", "ticker.pollForever"),
        ("TestCache/evict", "subtests.lockAndCount"),
        ("TestTable/first", "subtests.publish"),
    ] {
        let Some(header) = out.lines().position(|l| l.starts_with(test)) else {
            // Go 1.22 only: see `whole_module`; the goroutine is counted as not judged.
            assert!(
                release == "1.22" && out.contains("not yet started, when the tests ended"),
                "no block for {test}:\n{out}"
            );
            eprintln!("go{release}: the leak of {test} was still runnable when the trace ended");
            tolerated.push(test);
            continue;
        };
        let block: Vec<&str> = out
            .lines()
            .skip(header)
            .take_while(|l| !l.is_empty())
            .collect();
        assert!(
            block.iter().any(|l| l.contains(function)),
            "{test} does not show {function}:\n{out}"
        );
        assert!(block.iter().any(|l| l.contains("fix: ")), "{out}");
    }
    for clean in CLEAN {
        assert!(!out.contains(clean), "{clean} is named:\n{out}");
    }
    // The subtests of a table that leak alike are one block naming them all.
    if !tolerated.contains(&"TestTable/first") {
        assert!(
            out.contains("\n  and the same in 1 more test: TestTable/second\n"),
            "{out}"
        );
        assert_eq!(out.matches("subtests.publish").count(), 1, "{out}");
    }
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "goleash test: FAILED: {} tests leaked goroutines",
            6 - tolerated.len()
        )),
        "{out}"
    );

    // Only clean packages: the run passes.
    let clean = goleash_test(
        toolchain,
        &dir,
        &["--color", "never", "./straggler", "./httpclient"],
        &[],
    );
    let out = text(&clean.stdout);
    assert_eq!(clean.code(), 0, "{out}{}", text(&clean.stderr));
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("goleash test: passed"),
        "{out}"
    );
    for test in CLEAN {
        assert!(!out.contains(test), "{test} is named:\n{out}");
    }
}

#[test]
fn module_go1_22() {
    whole_module("1.22");
}

#[test]
fn module_go1_27() {
    whole_module("1.27");
}

#[test]
fn text_go1_22() {
    passing_packages_text("1.22");
}

#[test]
fn text_go1_27() {
    passing_packages_text("1.27");
}

/// A suppression in `.goleash.toml` and a baseline accept leaks as they do for `check`.
#[test]
fn suppressions_and_baselines() {
    let toolchain = toolchain("1.27");
    let dir = module(toolchain);
    let config = scratch("goleash.toml");
    std::fs::write(
        &config,
        "[[ignore]]\nreason = \"the result waiter is on purpose\"\nfunction = \"goleash.test/testleaks/plain.waitForResult\"\n",
    )
    .unwrap();
    let config_arg = config.to_str().unwrap();
    let suppressed = goleash_test(
        toolchain,
        &dir,
        &["--color", "never", "--config", config_arg, "./plain"],
        &[],
    );
    let out = text(&suppressed.stdout);
    assert_eq!(suppressed.code(), 0, "{out}{}", text(&suppressed.stderr));
    assert!(
        out.contains("suppressed by .goleash.toml: the result waiter is on purpose"),
        "{out}"
    );

    let baseline = scratch("baseline.json");
    let baseline_arg = baseline.to_str().unwrap();
    let written = goleash_test(
        toolchain,
        &dir,
        &["--write-baseline", baseline_arg, "./deep", "./ticker"],
        &[],
    );
    assert_eq!(written.code(), 0, "{}", text(&written.stderr));
    let file: Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    assert_eq!(file["groups"].as_array().unwrap().len(), 2, "{file}");
    let accepted = goleash_test(
        toolchain,
        &dir,
        &[
            "--color",
            "never",
            "--baseline",
            baseline_arg,
            "./deep",
            "./ticker",
        ],
        &[],
    );
    let out = text(&accepted.stdout);
    assert_eq!(accepted.code(), 0, "{out}");
    assert!(
        out.contains("2 leaking stacks accepted by the baseline"),
        "{out}"
    );
    // A stack the baseline does not hold still fails.
    let other = goleash_test(
        toolchain,
        &dir,
        &["--color", "never", "--baseline", baseline_arg, "./plain"],
        &[],
    );
    assert_eq!(other.code(), 1, "{}", text(&other.stdout));
    let _ = std::fs::remove_file(&config);
    let _ = std::fs::remove_file(&baseline);
}

/// What cannot work says why, with exit status 2, before anything is built.
#[test]
fn refusals() {
    let toolchain = toolchain("1.27");
    let dir = module(toolchain);
    let missing = goleash(
        toolchain,
        &dir,
        &["--go", "/nonexistent/go", "./plain"],
        &[],
    );
    assert_eq!(missing.code(), 2);
    assert!(
        text(&missing.stderr).contains("--go PATH"),
        "{}",
        text(&missing.stderr)
    );

    let exec = goleash_test(toolchain, &dir, &["./plain", "--", "-exec", "echo"], &[]);
    assert_eq!(exec.code(), 2);
    assert!(
        text(&exec.stderr).contains("cannot pass -exec"),
        "{}",
        text(&exec.stderr)
    );

    let old = crate::support::go::toolchain("1.21").command();
    let old = old.get_program().to_str().unwrap();
    let too_old = goleash(toolchain, &dir, &["--go", old, "./plain"], &[]);
    assert_eq!(too_old.code(), 2);
    assert!(
        text(&too_old.stderr).contains("Go 1.22 and newer"),
        "{}",
        text(&too_old.stderr)
    );
}

/// A package that does not build fails the run (1); outside a module nothing can run (2).
#[test]
fn packages_that_cannot_run() {
    let toolchain = toolchain("1.27");
    let dir = scratch("edge-module");
    for (file, text) in [
        ("go.mod", "module edge\n\ngo 1.22\n"),
        (
            "broken/b.go",
            "package broken\n\nfunc F() int { return \"x\" }\n",
        ),
        (
            "broken/b_test.go",
            "package broken\n\nimport \"testing\"\n\nfunc TestB(t *testing.T) {}\n",
        ),
        ("notests/n.go", "package notests\n\nfunc F() {}\n"),
        (
            "ok/ok_test.go",
            "package ok\n\nimport \"testing\"\n\nfunc TestOK(t *testing.T) {}\n",
        ),
    ] {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let result = goleash_test(toolchain, &dir, &["--format", "json", "./..."], &[]);
    assert_eq!(result.code(), 1, "{}", text(&result.stderr));
    let doc: Value = serde_json::from_slice(&result.stdout).unwrap();
    let statuses: BTreeSet<(String, String)> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["package"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("edge/broken", "build_failed"),
        ("edge/notests", "no_tests"),
        ("edge/ok", "passed"),
    ]
    .iter()
    .map(|(p, s)| (p.to_string(), s.to_string()))
    .collect();
    assert_eq!(statuses, want);
    assert_eq!(doc["failures"][0]["kind"], "build_failed");
    // The compiler's message reaches the user.
    assert!(
        text(&result.stderr).contains("cannot use \"x\""),
        "{}",
        text(&result.stderr)
    );

    let outside = scratch("no-module");
    std::fs::create_dir_all(&outside).unwrap();
    let result = goleash_test(toolchain, &outside, &["--color", "never", "./..."], &[]);
    let out = text(&result.stdout);
    assert_eq!(result.code(), 2, "{out}{}", text(&result.stderr));
    assert!(out.contains("inside a Go module"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&outside);
}

/// Goroutines that end on their own are `lingering`, with when they end where the source
/// says, and never fail the run; a signal waiter is long-lived by design, never named.
fn self_ending(release: &str) {
    let toolchain = toolchain(release);
    let dir = module(toolchain);
    let result = goleash_test(toolchain, &dir, &["--format", "json", "./selfending"], &[]);
    let out = text(&result.stdout);
    assert_eq!(result.code(), 0, "{out}{}", text(&result.stderr));
    let doc: Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(doc["passed"], true, "{out}");
    let leaks = doc["leaks"].as_array().unwrap();
    let unjudged = doc["unjudged"].as_array().unwrap();
    // (test, function it waits in, the kind of way out that ends it, after how long)
    let lingering: [(&str, &str, &str, Option<f64>); 4] = [
        ("TestTimerWait", "awaitTimeout", "timer", Some(5.0)),
        ("TestSleeps", "snooze", "sleep", Some(5.0)),
        ("TestTimerChannel", "awaitTimer", "timer", None),
        (
            "TestReleasedByClose",
            "awaitRelease",
            "done_channel",
            Some(0.05),
        ),
    ];
    for (test, function, kind, after) in lingering {
        let Some(group) = leaks.iter().find(|l| l["test"] == test) else {
            // Released before the binary ended, or (Go 1.22) still runnable at its end.
            assert!(
                test == "TestReleasedByClose"
                    || release == "1.22" && unjudged.iter().any(|u| u["test"] == test),
                "{test} is not reported: {out}"
            );
            continue;
        };
        assert_eq!(group["verdict"], "lingering", "{group}");
        assert_eq!(group["outcome"], "pass", "{group}");
        assert_eq!(
            short(group["leak_site"]["function"].as_str().unwrap()),
            function
        );
        let exit = group["exit_conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind && e["can_happen"] == true)
            .unwrap_or_else(|| panic!("no {kind} way out: {group}"));
        assert_eq!(exit["after_secs"].as_f64(), after, "{group}");
    }
    assert!(
        leaks.iter().all(|l| l["test"] != "TestSignalWaiter"),
        "{out}"
    );
    // Everything else that was left is one of these.
    for leak in leaks {
        assert!(lingering.iter().any(|(t, ..)| leak["test"] == *t), "{leak}");
    }
    // TestOutlivesTheWatch waits on timers past the deadlock watch's first look (Go 1.27),
    // and its binary passes: the runtime proves nothing of a wait a timer ends.
    let package = &doc["packages"][0];
    assert_eq!(package["status"], "passed", "{out}");
    assert!(package["elapsed"].as_f64().unwrap() > 2.4, "{package}");
    assert!(doc["failures"].as_array().unwrap().is_empty(), "{out}");
}

/// A goroutine waiting on a timer (`time.Sleep`, `<-time.After`) whose end only leads it
/// on to a send nobody can receive any more is a leak, the timer's way out judged by what
/// it leads to; one whose send a live receiver (TestMain's) takes is lingering.
fn timer_then_blocks(release: &str) {
    let toolchain = toolchain(release);
    let dir = module(toolchain);
    let result = goleash_test(toolchain, &dir, &["--format", "json", "./aftertimer"], &[]);
    let out = text(&result.stdout);
    assert_eq!(result.code(), 1, "{out}{}", text(&result.stderr));
    let doc: Value = serde_json::from_slice(&result.stdout).unwrap();
    let leaks = doc["leaks"].as_array().unwrap();
    let group = |test: &str| {
        leaks
            .iter()
            .find(|l| l["test"] == test)
            .unwrap_or_else(|| panic!("{test} is not reported: {out}"))
    };
    // (test, verdict, state, leak site, the timer's kind, can it end the wait, the send)
    let expected = [
        (
            "TestSleepThenSend",
            "leak",
            "sleep",
            "fetch",
            "sleep",
            false,
            Some("`result <- v`"),
        ),
        (
            "TestAfterThenSend",
            "leak",
            "chan receive",
            "func1",
            "timer",
            false,
            Some("`done <- struct{}{}`"),
        ),
        (
            "TestSleepThenMaybeSend",
            "lingering",
            "sleep",
            "fetch",
            "sleep",
            true,
            None,
        ),
        (
            "TestSleepThenSendToShared",
            "lingering",
            "sleep",
            "fetch",
            "sleep",
            true,
            None,
        ),
    ];
    for (test, verdict, state, site, kind, can, send) in expected {
        let g = group(test);
        assert_eq!(g["verdict"], verdict, "{g}");
        assert_eq!(g["state"], state, "{g}");
        assert_eq!(
            short(g["leak_site"]["function"].as_str().unwrap()),
            site,
            "{g}"
        );
        let timer = g["exit_conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} way out: {g}"));
        assert_eq!(timer["can_happen"], can, "{g}");
        let why = timer["why"].as_str().unwrap();
        match send {
            Some(send) => assert!(
                why.contains(&format!("runs on to {send}")) && why.contains("blocks for ever"),
                "{why}"
            ),
            None => assert!(!why.contains("runs on to"), "{why}"),
        }
    }
    assert_eq!(leaks.len(), 4, "{out}");
}

#[test]
fn timer_then_blocks_go1_22() {
    timer_then_blocks("1.22");
}

#[test]
fn timer_then_blocks_go1_27() {
    timer_then_blocks("1.27");
}

#[test]
fn self_ending_go1_22() {
    self_ending("1.22");
}

#[test]
fn self_ending_go1_27() {
    self_ending("1.27");
}

/// A test whose own goroutine deadlocks (a lock order inversion with a goroutine it
/// started) is the finding: timed out, its goroutine a `leak` with its stack and the lock
/// it waits for, the other side of the inversion shown with it, and the run fails.
fn stuck_test(release: &str, without_watch: Option<&str>) {
    let toolchain = toolchain(release);
    let dir = module(toolchain);
    let stopped = match without_watch {
        None => stopped_as(toolchain),
        Some(_) => "timed_out",
    };
    // The deadlock watch looks after a second: a timeout well past that, on a loaded
    // machine too, shows it was the watch that stopped the binary.
    let timeout = if stopped == "deadlocked" { "20s" } else { "2s" };
    let junit = scratch("stuck-junit.xml");
    let mut args = vec![
        "--format",
        "json",
        "--junit",
        junit.to_str().expect("a UTF-8 path"),
    ];
    args.extend(without_watch);
    args.extend(["./failing/deadlocks", "--", "-timeout", timeout]);
    let result = goleash_test(toolchain, &dir, &args, &[("TESTLEAKS_FAIL", "1")]);
    let out = text(&result.stdout);
    assert_eq!(result.code(), 1, "{out}{}", text(&result.stderr));
    let doc: Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(doc["packages"][0]["status"], stopped, "{out}");
    let failures = doc["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{out}");
    let failure = &failures[0];
    assert_eq!(failure["test"], "TestTransfersDeadlock");
    assert_eq!(failure["kind"], stopped);
    let message = failure["message"].as_str().unwrap();
    if stopped == "deadlocked" {
        assert!(
            message.starts_with("the runtime proved its goroutine blocked forever"),
            "{message}"
        );
        let elapsed = doc["packages"][0]["elapsed"].as_f64().unwrap();
        assert!(elapsed < 15.0, "the watch took {elapsed} s");
    } else {
        assert_eq!(message, "test timed out after 2s");
    }
    assert_eq!(
        short(failure["at"]["function"].as_str().unwrap()),
        "transfer"
    );
    let stuck = &failure["stuck"];
    assert_eq!(stuck["verdict"], "leak", "{failure}");
    let frames: Vec<&str> = stuck["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| short(f["function"].as_str().unwrap()))
        .collect();
    assert_eq!(
        frames[..3],
        ["Lock", "transfer", "TestTransfersDeadlock"],
        "{failure}"
    );
    let unlock = stuck["exit_conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "unlock")
        .unwrap_or_else(|| panic!("no unlock: {failure}"));
    assert_eq!(unlock["code"], "to.mu.Lock()", "{unlock}");
    // Who holds what it waits for: every goroutine inside `from.mu.Lock()`'s section of
    // transfer, the test's own and the one it started, each blocked on `to.mu.Lock()`.
    let waits = stuck["waits_on"].as_array().unwrap();
    assert_eq!(waits.len(), 1, "{failure}");
    assert_eq!(waits[0]["kind"], "unlock");
    let peers = waits[0]["peers"].as_array().unwrap();
    // The package's other locker of a ledger, holdForAnHour, never ran in this test.
    assert_eq!(peers.len(), 2, "{failure}");
    assert_eq!(
        short(peers[1]["function"].as_str().unwrap()),
        "holdForAnHour"
    );
    assert_eq!(
        peers[1]["goroutines"],
        Value::Array(Vec::new()),
        "{failure}"
    );
    assert_eq!(peers[0]["role"], "holds");
    assert_eq!(peers[0]["code"], "from.mu.Lock()");
    assert_eq!(peers[0]["line"], 21);
    let holders = peers[0]["goroutines"].as_array().unwrap();
    assert_eq!(holders.len(), 2, "{failure}");
    assert!(holders.iter().all(|g| g["state"] == "sync.Mutex.Lock"
        && g["waits_in"] == "to.mu.Lock()"
        && g["at"]["line"] == 25));
    // Listed as the dump lists them, and a new goroutine may reuse an older one's slot: the
    // test's own is either.
    let (test_holder, started) = match holders[0]["test_goroutine_of"] {
        Value::Null => (&holders[1], &holders[0]),
        _ => (&holders[0], &holders[1]),
    };
    assert_eq!(test_holder["test_goroutine_of"], "TestTransfersDeadlock");
    assert_eq!(started["test_goroutine_of"], Value::Null);
    assert_eq!(started["created_at"]["line"], 38);
    // The inversion, as a ring: the test holds from.mu and waits in to.mu.Lock(); the
    // goroutine it started (line 38) likewise.
    let cycle = stuck["cycle"].as_array().unwrap();
    assert_eq!(cycle.len(), 2, "{failure}");
    assert_eq!(cycle[0]["test_goroutine_of"], "TestTransfersDeadlock");
    assert_eq!(cycle[0]["goroutine"], test_holder["goroutine"]);
    assert_eq!(cycle[1]["goroutine"], started["goroutine"]);
    assert_eq!(cycle[1]["created_at"]["line"], 38);
    for step in cycle {
        assert_eq!(step["role"], "holds", "{step}");
        assert_eq!(step["ends_wait_code"], "from.mu.Lock()", "{step}");
        assert_eq!(step["waits_in"], "to.mu.Lock()", "{step}");
    }
    // The JUnit failure says the ring too.
    let junit = std::fs::read_to_string(&junit).expect("the JUnit report");
    assert!(
        junit.contains("deadlock: TestTransfersDeadlock holds `from.mu.Lock()` (deadlocks_test.go:21), waits in `to.mu.Lock()` (deadlocks_test.go:25); goroutine "),
        "{junit}"
    );
    // The other side: the goroutine it started, blocked on the lock the test holds; the
    // test's own goroutine is not listed again.
    let leaks = doc["leaks"].as_array().unwrap();
    assert_eq!(leaks.len(), 1, "{out}");
    assert_eq!(leaks[0]["test"], "TestTransfersDeadlock");
    assert_eq!(leaks[0]["test_finished"], false);
    assert_eq!(leaks[0]["state"], "sync.Mutex.Lock");
    assert_eq!(
        short(leaks[0]["leak_site"]["function"].as_str().unwrap()),
        "transfer"
    );
}

/// `goleash test --format json` of one test of `failing/channels`, which `-timeout` stops:
/// its failure's `stuck`.
fn stuck_on_channel(toolchain: &'static Toolchain, test: &str) -> Value {
    let dir = module(toolchain);
    let run = format!("^{test}$");
    let timeout = match stopped_as(toolchain) {
        "deadlocked" => "20s",
        _ => "2s",
    };
    let result = goleash_test(
        toolchain,
        &dir,
        &[
            "--format",
            "json",
            "./failing/channels",
            "--",
            "-timeout",
            timeout,
            "-run",
            &run,
        ],
        &[("TESTLEAKS_FAIL", "1")],
    );
    let out = text(&result.stdout);
    assert_eq!(result.code(), 1, "{out}{}", text(&result.stderr));
    let doc: Value = serde_json::from_slice(&result.stdout).unwrap();
    let failures = doc["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{out}");
    assert_eq!(failures[0]["test"], test, "{out}");
    assert_eq!(failures[0]["kind"], stopped_as(toolchain), "{out}");
    let stuck = failures[0]["stuck"].clone();
    assert_eq!(stuck["verdict"], "leak", "{out}");
    stuck
}

/// A test stuck on a channel names who could end the wait and where they are: the server
/// that would reply, itself waiting for the request the test sends only after the reply (a
/// ring); the same server waiting on a channel nobody sends on (no ring); a sender that
/// has already returned (nobody there); a WaitGroup whose Done callers have returned.
fn stuck_on_channels(release: &str) {
    let toolchain = toolchain(release);
    let only = |stuck: &Value| {
        let waits = stuck["waits_on"].as_array().unwrap();
        assert_eq!(waits.len(), 1, "{stuck}");
        let peers = waits[0]["peers"].as_array().unwrap();
        assert_eq!(peers.len(), 1, "{stuck}");
        peers[0].clone()
    };

    let stuck = stuck_on_channel(toolchain, "TestReplyBeforeRequest");
    let peer = only(&stuck);
    assert_eq!(peer["role"], "sends", "{peer}");
    assert_eq!(peer["code"], "replies <- n * 2", "{peer}");
    assert_eq!(short(peer["function"].as_str().unwrap()), "serve");
    let there = peer["goroutines"].as_array().unwrap();
    assert_eq!(there.len(), 1, "{peer}");
    assert_eq!(there[0]["state"], "chan receive", "{peer}");
    assert_eq!(there[0]["waits_in"], "n := <-requests", "{peer}");
    assert_eq!(there[0]["created_at"]["line"], 29, "{peer}");
    let cycle = stuck["cycle"].as_array().unwrap();
    assert_eq!(cycle.len(), 2, "{stuck}");
    assert_eq!(cycle[0]["test_goroutine_of"], "TestReplyBeforeRequest");
    assert_eq!(cycle[0]["role"], "sends");
    assert_eq!(cycle[0]["ends_wait_code"], "requests <- 1");
    assert_eq!(cycle[0]["waits_in"], "<-replies");
    assert_eq!(cycle[1]["goroutine"], there[0]["goroutine"]);
    assert_eq!(cycle[1]["ends_wait_code"], "replies <- n * 2");
    assert_eq!(cycle[1]["waits_in"], "n := <-requests");

    let stuck = stuck_on_channel(toolchain, "TestRequestLost");
    let peer = only(&stuck);
    let there = peer["goroutines"].as_array().unwrap();
    assert_eq!(there.len(), 1, "{peer}");
    assert_eq!(there[0]["waits_in"], "n := <-requests", "{peer}");
    assert_eq!(stuck["cycle"], Value::Array(Vec::new()), "{stuck}");

    // One Done too few: the only place that calls Done is in check, and both checks have
    // returned.
    let stuck = stuck_on_channel(toolchain, "TestOneDoneShort");
    let peer = only(&stuck);
    assert_eq!(peer["role"], "done", "{peer}");
    assert_eq!(peer["code"], "wg.Done()", "{peer}");
    assert_eq!(short(peer["function"].as_str().unwrap()), "check");
    assert_eq!(peer["goroutines"], Value::Array(Vec::new()), "{peer}");

    let stuck = stuck_on_channel(toolchain, "TestProducerReturned");
    let peer = only(&stuck);
    assert_eq!(peer["code"], "results <- 1", "{peer}");
    assert_eq!(peer["goroutines"], Value::Array(Vec::new()), "{peer}");
    assert_eq!(stuck["cycle"], Value::Array(Vec::new()), "{stuck}");
}

/// A test stuck on a lock that a goroutine TestMain started holds: no test started the
/// holder, and the dump the timeout printed names it, blocked where it holds the lock. The
/// lock is a package variable's, so the runtime cannot prove the wait endless: the deadlock
/// watch leaves it to the timeout, with Go 1.27 too.
fn stuck_on_a_lock_main_holds(release: &str) {
    let toolchain = toolchain(release);
    let dir = module(toolchain);
    let result = goleash_test(
        toolchain,
        &dir,
        &[
            "--format",
            "json",
            "./failing/mainholder",
            "--",
            "-timeout",
            "3s",
        ],
        &[("TESTLEAKS_FAIL", "1")],
    );
    let out = text(&result.stdout);
    assert_eq!(result.code(), 1, "{out}{}", text(&result.stderr));
    let doc: Value = serde_json::from_slice(&result.stdout).unwrap();
    let failures = doc["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{out}");
    assert_eq!(failures[0]["test"], "TestAddWhileRefreshing");
    assert_eq!(failures[0]["kind"], "timed_out", "{out}");
    let waits = failures[0]["stuck"]["waits_on"].as_array().unwrap();
    assert_eq!(waits.len(), 1, "{out}");
    let peers = waits[0]["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1, "{out}");
    assert_eq!(peers[0]["role"], "holds");
    assert_eq!(short(peers[0]["function"].as_str().unwrap()), "refresh");
    let holders = peers[0]["goroutines"].as_array().unwrap();
    assert_eq!(holders.len(), 1, "{out}");
    assert_eq!(holders[0]["state"], "chan receive", "{out}");
    assert_eq!(holders[0]["at"]["line"], 23, "{out}");
    assert_eq!(holders[0]["test"], Value::Null, "{out}");
}

#[test]
fn stuck_on_a_lock_main_holds_go1_22() {
    stuck_on_a_lock_main_holds("1.22");
}

#[test]
fn stuck_on_a_lock_main_holds_go1_27() {
    stuck_on_a_lock_main_holds("1.27");
}

#[test]
fn stuck_on_channels_go1_22() {
    stuck_on_channels("1.22");
}

#[test]
fn stuck_on_channels_go1_27() {
    stuck_on_channels("1.27");
}

/// A test behind a transfer that waits behind a sleeper: the names alone would make the
/// test and the transfer a ring, but the sleeper, which ends on its own, is at a place that
/// ends the transfer's wait too: no ring is claimed, and the sleeper is named as a holder.
fn stuck_behind_a_sleeper(release: &str) {
    let toolchain = toolchain(release);
    let dir = module(toolchain);
    let result = goleash_test(
        toolchain,
        &dir,
        &[
            "--format",
            "json",
            "./failing/deadlocks",
            "--",
            "-timeout",
            "3s",
            "-run",
            "^TestTransferBehindASleeper$",
        ],
        &[("TESTLEAKS_FAIL", "1")],
    );
    let out = text(&result.stdout);
    assert_eq!(result.code(), 1, "{out}{}", text(&result.stderr));
    let doc: Value = serde_json::from_slice(&result.stdout).unwrap();
    let failure = &doc["failures"][0];
    assert_eq!(failure["test"], "TestTransferBehindASleeper", "{out}");
    // The sleeper can run: the runtime proves nothing, the timeout stops it.
    assert_eq!(failure["kind"], "timed_out", "{out}");
    let stuck = &failure["stuck"];
    assert_eq!(stuck["cycle"], Value::Array(Vec::new()), "{stuck}");
    let peers = stuck["waits_on"][0]["peers"].as_array().unwrap();
    let sleeper = peers
        .iter()
        .find(|p| short(p["function"].as_str().unwrap()) == "holdForAnHour")
        .unwrap_or_else(|| panic!("no holdForAnHour: {stuck}"));
    assert_eq!(sleeper["role"], "holds", "{sleeper}");
    let there = sleeper["goroutines"].as_array().unwrap();
    assert_eq!(there.len(), 1, "{sleeper}");
    assert_eq!(there[0]["state"], "sleep", "{sleeper}");
}

#[test]
fn stuck_behind_a_sleeper_go1_22() {
    stuck_behind_a_sleeper("1.22");
}

#[test]
fn stuck_behind_a_sleeper_go1_27() {
    stuck_behind_a_sleeper("1.27");
}

#[test]
fn stuck_test_go1_22() {
    stuck_test("1.22", None);
}

#[test]
fn stuck_test_go1_27() {
    stuck_test("1.27", None);
}

/// `--no-settle` leaves the deadlock watch out too: the timeout stops the binary.
#[test]
fn stuck_test_go1_27_no_settle() {
    stuck_test("1.27", Some("--no-settle"));
}

/// So does `--no-deadlock-watch`, which keeps the settle.
#[test]
fn stuck_test_go1_27_no_deadlock_watch() {
    stuck_test("1.27", Some("--no-deadlock-watch"));
}

/// `--count N` (or `-- -count=N`) runs every test N times in one binary: a leak is
/// attributed to the runs that started it, and grouped over them; a test that fails in
/// some runs says which, with the log of its first failing run only, its failing check as
/// its headline.
fn flaky_runs(release: &str) {
    let toolchain = toolchain(release);
    let dir = module(toolchain);
    let result = goleash_test(
        toolchain,
        &dir,
        &["--format", "json", "--count", "200", "./flaky"],
        &[("TESTLEAKS_FAIL", "1")],
    );
    let out = text(&result.stdout);
    assert_eq!(result.code(), 1, "{out}{}", text(&result.stderr));
    let doc: Value = serde_json::from_slice(&result.stdout).unwrap();
    let leaks: Vec<&Value> = doc["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["outcome"] == "fail")
        .collect();
    assert_eq!(leaks.len(), 1, "{out}");
    let leak = leaks[0];
    assert_eq!(leak["test"], "TestFlakyFetch");
    assert_eq!(leak["verdict"], "leak");
    assert_eq!(leak["state"], "chan send");
    assert_eq!(
        short(leak["leak_site"]["function"].as_str().unwrap()),
        "fetch"
    );
    assert_eq!(leak["count"], 3, "{leak}");
    assert_eq!(leak["runs"], 200, "{leak}");
    assert_eq!(
        leak["leaked_in_runs"],
        serde_json::json!([34, 103, 190]),
        "{leak}"
    );
    let failures = doc["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{out}");
    let failure = &failures[0];
    assert_eq!(failure["test"], "TestFlakyCheck");
    assert_eq!(failure["kind"], "failed");
    assert_eq!(failure["runs"], 200);
    assert_eq!(
        failure["failed_in_runs"],
        serde_json::json!([19, 70, 78, 85, 105, 114, 189]),
        "{failure}"
    );
    // Its first failing run's log, not every run's.
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.starts_with("flaky_test.go:37: attempt 19\n")
            && message.ends_with("attempt 19: the cache returned a stale entry"),
        "{message}"
    );
    // The cases keep each run's log with its run.
    assert!(
        doc["leaks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["test"] != "TestFlakyCheck")
    );

    // The same through go test's own flag, in text: the runs, and the failing check.
    let result = goleash_test(
        toolchain,
        &dir,
        &["--color", "never", "./flaky", "--", "-count=50"],
        &[("TESTLEAKS_FAIL", "1")],
    );
    let out = text(&result.stdout);
    assert_eq!(result.code(), 1, "{out}{}", text(&result.stderr));
    // Go 1.22 leaves the goroutine of run 34 never started when the binary's last test
    // ends (the tests and the harness hand the processor to each other, and 50 runs end
    // before a time slice does): the settle lets it block.
    assert!(
        out.contains("TestFlakyFetch  goleash.test/testleaks/flaky  · leaked 1 goroutine, in 1 of 50 runs (run 34)"),
        "{out}"
    );
    assert!(
        out.contains("FAIL     TestFlakyCheck  goleash.test/testleaks/flaky: flaky_test.go:39: attempt 19: the cache returned a stale entry …\n             failed in 1 of 50 runs (run 19)\n"),
        "{out}"
    );
    // Both ways at once is one too many.
    let both = goleash_test(
        toolchain,
        &dir,
        &["--count", "2", "./flaky", "--", "-count=3"],
        &[],
    );
    assert_eq!(both.code(), 2, "{}", text(&both.stderr));
}

#[test]
fn flaky_runs_go1_22() {
    flaky_runs("1.22");
}

#[test]
fn flaky_runs_go1_27() {
    flaky_runs("1.27");
}

/// Goroutines not yet blocked when the binary's last test ends (started as it returns, a
/// waiter of a WaitGroup one Done short, a sender woken after its receiver gave up) are
/// given the settle's bounded time and judged where they block; the settle test itself is
/// never seen, not with -v, not in the report, and it joins a -run pattern.
fn settle(release: &str) {
    let toolchain = toolchain(release);
    let dir = module(toolchain);
    let result = goleash_test(
        toolchain,
        &dir,
        &["--format", "json", "./unsettled/...", "--", "-v"],
        &[],
    );
    let out = text(&result.stdout);
    let stderr = text(&result.stderr);
    assert_eq!(result.code(), 1, "{out}{stderr}");
    assert!(
        !stderr.contains("goleash_settle") && !out.contains("goleash_settle"),
        "{stderr}"
    );
    assert!(stderr.contains("--- PASS: TestSpawnAtReturn"), "{stderr}");
    let doc: Value = serde_json::from_slice(&result.stdout).unwrap();
    let found: BTreeSet<(String, String, String, String)> = doc["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["test"].as_str().unwrap().to_string(),
                short(l["leak_site"]["function"].as_str().unwrap()).to_string(),
                l["state"].as_str().unwrap().to_string(),
                l["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String, String)> = [
        ("TestSpawnAtReturn", "warmUp", "chan receive", "leak"),
        (
            "TestOneDoneShort",
            "waitForAll",
            "sync.WaitGroup.Wait",
            "leak",
        ),
        ("TestSendAfterTimeout", "deliver", "chan send", "leak"),
    ]
    .iter()
    .map(|(t, f, s, v)| (t.to_string(), f.to_string(), s.to_string(), v.to_string()))
    .collect();
    assert_eq!(found, want, "{out}");
    assert_eq!(doc["unjudged"], serde_json::json!([]), "{out}");
    assert_eq!(doc["settle_ms"], 200, "{out}");

    // A -run pattern of the user's still ends with the settle.
    let one = goleash_test(
        toolchain,
        &dir,
        &[
            "--format",
            "json",
            "./unsettled/...",
            "--",
            "-run",
            "TestSpawnAtReturn",
        ],
        &[],
    );
    let doc: Value = serde_json::from_slice(&one.stdout).unwrap();
    let tests: Vec<&str> = doc["leaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["test"].as_str().unwrap())
        .collect();
    assert_eq!(tests, ["TestSpawnAtReturn"], "{}", text(&one.stdout));
    assert_eq!(doc["unjudged"], serde_json::json!([]));
}

#[test]
fn settle_go1_22() {
    settle("1.22");
}

#[test]
fn settle_go1_27() {
    settle("1.27");
}

/// `--until-leak` runs batches of 1, 2, 4 … and stops after the first that leaks: the
/// flaky fetch leaks in the 34th run of a binary, so the batch of 64 (runs 64 to 127) is
/// the first to leak, in run 64 + 33.
#[test]
fn until_leak() {
    let toolchain = toolchain("1.27");
    let dir = module(toolchain);
    let result = goleash_test(
        toolchain,
        &dir,
        &[
            "--format",
            "json",
            "--count",
            "500",
            "--until-leak",
            "./flaky",
        ],
        &[],
    );
    let out = text(&result.stdout);
    assert_eq!(result.code(), 1, "{out}{}", text(&result.stderr));
    let doc: Value = serde_json::from_slice(&result.stdout).unwrap();
    let leak = &doc["leaks"][0];
    assert_eq!(leak["test"], "TestFlakyFetch", "{out}");
    assert_eq!(leak["leaked_in_runs"], serde_json::json!([97]), "{leak}");
    assert_eq!(leak["runs"], 127, "{leak}");
    // Without a leak it stops at N runs, and passes.
    let clean = goleash_test(
        toolchain,
        &dir,
        &[
            "--count",
            "20",
            "--until-leak",
            "./plain",
            "--",
            "-run",
            "TestPlainClean",
        ],
        &[],
    );
    assert_eq!(clean.code(), 0, "{}", text(&clean.stdout));
    // It needs a number of runs.
    let refused = goleash_test(toolchain, &dir, &["--until-leak", "./flaky"], &[]);
    assert_eq!(refused.code(), 2, "{}", text(&refused.stderr));
}
