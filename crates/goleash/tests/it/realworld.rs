//! goleash on a service it was not written against: `fixtures/go/realworld`, an order
//! service whose leaks are the subtle kind real services ship (a deadline beside an
//! unbuffered send, an errgroup-style early return, a subscription never ended, `cancel`
//! on the error path only, a `time.Tick` loop per request) among goroutines that live long
//! by design (a worker pool, a broker, a cache janitor, a rate limiter's refill). Every
//! leak must be called a leak at the line its goroutines wait on, in the numbers the
//! requests made, and nothing long-lived may be.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::support::go::{run, toolchain};
use crate::support::http::{Connection, get};
use crate::support::service::{Service, idle_dump};
use crate::support::truth::Markers;

/// Requests of each leaky kind.
const ROUNDS: u64 = 6;

/// The sites that leak, and how many goroutines [`drive`] leaves at each. A subscription
/// that got an event before its request ended waits to hand it on; one that did not waits
/// for the next: either way, one goroutine per request.
const LEAKS: &[(&str, u64)] = &[
    ("rw-quote", ROUNDS),
    // The shard that fails answers first; the other two are left sending.
    ("rw-search", 2 * ROUNDS),
    ("rw-session", ROUNDS),
    ("rw-track", ROUNDS),
];
const SUBSCRIBER_SITES: [&str; 2] = ["rw-subscriber", "rw-subscriber-send"];

/// Long-lived by design.
const HEALTHY: [&str; 4] = ["rw-worker", "rw-broker", "rw-janitor", "rw-refill"];

pub(crate) fn goleash(args: &[&str]) -> (i32, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_goleash"))
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run goleash");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let doc = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "goleash {args:?}: not JSON ({e}):\n{}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (output.status.code().expect("goleash exited"), doc)
}

/// Calls every handler as clients would: the leaky ones [`ROUNDS`] times, the healthy
/// paths (orders, searches every shard answers, quotes in time) as often.
fn drive(addr: &str) {
    let mut client = Connection::open(addr);
    for i in 0..ROUNDS {
        for path in [
            format!("/api/watch?i={i}"),
            format!("/api/order?id=o{i}"),
            format!("/api/quote?key=k{i}"),
            format!("/api/quote?key=fast{i}&timeout_ms=2000"),
            format!("/api/search?q=bad{i}"),
            format!("/api/search?q=shoes{i}"),
            format!("/api/session?user=u{i}"),
            format!("/api/track?id=o{i}"),
        ] {
            let status = client.get(&path).status;
            assert!(
                status < 500 || status == 502 || status == 504,
                "{path}: {status}"
            );
        }
    }
    // The backend answers in 80 ms: by then every abandoned sender is blocked for good.
    std::thread::sleep(Duration::from_millis(600));
}

/// The marker site of a group's leak site, if it has one.
fn site_of<'m>(group: &Value, markers: &'m Markers) -> Option<&'m str> {
    let file = group["leak_site"]["file"].as_str()?;
    let line = group["leak_site"]["line"].as_u64()?;
    markers.block_site(file, line)
}

/// Goroutines per site and verdict, in a document's groups; groups at no marked site are
/// listed by verdict and function.
pub(crate) fn tally(doc: &Value, markers: &Markers) -> BTreeMap<(String, String), u64> {
    let mut tally = BTreeMap::new();
    for group in doc["groups"].as_array().expect("groups") {
        let verdict = group["verdict"].as_str().expect("a verdict").to_string();
        let site = site_of(group, markers).map_or_else(
            || format!("unmarked {}", group["frames"][0]["function"]),
            str::to_string,
        );
        *tally.entry((site, verdict)).or_insert(0) += group["count"].as_u64().unwrap_or(0);
    }
    tally
}

/// Every group at each of `sites` (long-lived by design) is `expected`, and nothing else.
pub(crate) fn assert_only_expected(
    tally: &BTreeMap<(String, String), u64>,
    sites: &[&str],
    what: &str,
) {
    for site in sites {
        let verdicts: Vec<&String> = tally
            .keys()
            .filter(|(s, _)| s == site)
            .map(|(_, v)| v)
            .collect();
        assert_eq!(verdicts, ["expected"], "{what}: {site}: {tally:#?}");
    }
}

/// The verdicts `goleash check` must give: every leak site a leak with all its goroutines,
/// the subscriptions a leak at one of their two lines, each healthy loop expected, and no
/// other group a leak or a suspect.
fn assert_verdicts(doc: &Value, markers: &Markers, what: &str) {
    let tally = tally(doc, markers);
    for (site, count) in LEAKS {
        assert_eq!(
            tally.get(&(site.to_string(), "leak".into())),
            Some(count),
            "{what}: {site} is not a leak of {count}: {tally:#?}"
        );
    }
    let subscribers: u64 = SUBSCRIBER_SITES
        .iter()
        .filter_map(|s| tally.get(&(s.to_string(), "leak".into())))
        .sum();
    assert_eq!(subscribers, ROUNDS, "{what}: subscriptions: {tally:#?}");
    assert_only_expected(&tally, &HEALTHY, what);
    let leaky: Vec<&str> = LEAKS
        .iter()
        .map(|(s, _)| *s)
        .chain(SUBSCRIBER_SITES)
        .collect();
    for ((site, verdict), count) in &tally {
        if verdict == "leak" || verdict == "suspect" {
            assert!(
                leaky.contains(&site.as_str()),
                "{what}: a false alarm, {count} goroutines at {site} called {verdict}: {tally:#?}"
            );
        }
    }
}

fn service(release: &str) {
    let fixtures = toolchain(release).fixtures();
    let markers = Markers::read(&fixtures.src(), "realworld");
    let dir = fixtures.captures_dir(&format!("realworld-{release}"));
    let service = Service::start(&fixtures.binary("realworld"), &[]);
    let addr = service.addr.clone();
    let save = |name: &str| {
        let path = dir.join(name);
        let body = get(&addr, "/debug/pprof/goroutine?debug=2").body;
        std::fs::write(&path, body).expect("write a capture");
        path.to_string_lossy().into_owned()
    };
    // The baseline is the idle service: its workers, broker and janitor in their waits.
    let before = dir.join("before.txt");
    std::fs::write(&before, idle_dump(&addr)).expect("write a capture");
    let before = before.to_string_lossy().into_owned();
    drive(&addr);
    let after = save("after.txt");

    let (code, doc) = goleash(&["check", &before, &after, "--format", "json"]);
    assert_eq!(code, 1, "check before after must fail: {doc}");
    assert_verdicts(&doc, &markers, "check before after");

    let url = format!("http://{addr}");
    let (code, doc) = goleash(&["check", &url, "--format", "json"]);
    assert_eq!(code, 1, "check URL must fail: {doc}");
    assert_verdicts(&doc, &markers, "check URL");

    // Before any request, the service is healthy: the gate passes.
    let (code, doc) = goleash(&["check", &before, "--format", "json"]);
    assert_eq!(code, 0, "check of the idle service must pass: {doc}");
    drop(service);
}

#[test]
fn service_go_1_27() {
    service("1.27");
}

#[test]
fn service_go_1_22() {
    service("1.22");
}

/// Tests that must come out clean: they leave nothing behind.
const CLEAN_TESTS: [&str; 6] = [
    "TestOrderQueued",
    "TestQuoteInTime",
    "TestSearchAllShards",
    "TestSubscribeAndUnsubscribe",
    "TestCacheJanitorSweeps",
    "TestLimiterRefills",
];

/// `goleash test --format json ./<package>/` in the fixtures of Go `release`: its exit code
/// and document.
pub(crate) fn goleash_test(release: &str, package: &str) -> (i32, Value) {
    let toolchain = toolchain(release);
    let fixtures = toolchain.fixtures();
    let go = toolchain.command();
    let mut command = Command::new(env!("CARGO_BIN_EXE_goleash"));
    for (key, value) in go.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command.current_dir(fixtures.src()).args([
        "test",
        "--go",
        go.get_program().to_str().expect("a UTF-8 path"),
        "--format",
        "json",
        &format!("./{package}/"),
    ]);
    let result = run(&mut command, false);
    let doc = serde_json::from_slice(&result.stdout).unwrap_or_else(|e| {
        panic!(
            "goleash test ./{package}/: not JSON ({e}): {}",
            String::from_utf8_lossy(&result.stderr)
        )
    });
    (result.code(), doc)
}

fn test_suite(release: &str) {
    let markers = Markers::read(&toolchain(release).fixtures().src(), "realworld");
    let (code, doc) = goleash_test(release, "realworld");
    assert_eq!(code, 1, "{doc}");
    let failing: BTreeMap<String, (String, u64)> = doc["leaks"]
        .as_array()
        .expect("leaks")
        .iter()
        .filter(|l| l["outcome"] == "fail")
        .map(|l| {
            let site = site_of(l, &markers).unwrap_or("unmarked").to_string();
            let test = l["test"].as_str().expect("a test").to_string();
            (test, (site, l["count"].as_u64().unwrap_or(0)))
        })
        .collect();
    assert_eq!(
        failing.get("TestSessionOpened"),
        Some(&("rw-session".to_string(), 1)),
        "{failing:?}"
    );
    assert_eq!(
        failing.get("TestWatchTimesOut"),
        Some(&("rw-subscriber".to_string(), 1)),
        "{failing:?}"
    );
    // The backend's answer nobody waits for any more: caught at the send, or still asleep
    // in the backend on the way to it, a leak either way.
    for test in ["TestQuoteTimeout", "TestSearchShardError"] {
        assert!(
            failing.contains_key(test),
            "{test} is not failing: {failing:?}"
        );
    }
    // A trace may end before a goroutine its test stopped has run to its end (seen with Go
    // 1.22): goleash lists such a goroutine as not judged, which is no alarm.
    for test in CLEAN_TESTS {
        let reported = doc["leaks"]
            .as_array()
            .is_some_and(|a| a.iter().any(|l| l["test"] == test));
        assert!(!reported, "{test} left nothing, yet is reported: {doc}");
    }
}

#[test]
fn test_suite_go_1_27() {
    test_suite("1.27");
}

#[test]
fn test_suite_go_1_22() {
    test_suite("1.22");
}

/// Two types with a `done` field, each closed by its own `close` method: the way out of a
/// wait on one is that type's method only, not every `close(x.done)` of the package.
#[test]
fn a_field_is_its_own_types_not_every_field_of_that_name() {
    let workspace = crate::support::go::workspace();
    let capture = workspace.join("tests/data/go1.27/realworld/before_debug2.txt");
    let source = workspace.join("fixtures/go");
    let (code, doc) = goleash(&[
        "inspect",
        "--source",
        source.to_str().expect("a UTF-8 path"),
        "--format",
        "json",
        capture.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(code, 0, "{doc}");
    let markers = Markers::read(&source, "realworld");
    for (site, waited, owner, other) in [
        (
            "rw-refill",
            "<-l.done",
            "(*limiter).close",
            "(*cache).close",
        ),
        (
            "rw-janitor",
            "<-c.done",
            "(*cache).close",
            "(*limiter).close",
        ),
    ] {
        let group = doc["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| site_of(g, &markers) == Some(site))
            .unwrap_or_else(|| panic!("no group at {site}: {doc}"));
        let condition = group["exit_conditions"]
            .as_array()
            .expect("exit conditions")
            .iter()
            .find(|c| c["code"] == waited)
            .unwrap_or_else(|| panic!("{site}: no way out through {waited}: {group}"));
        let why = condition["why"].as_str().expect("why");
        assert!(why.contains(owner), "{site}: {why}");
        assert!(!why.contains(other), "{site}: {why}");
    }
}

/// `go test ./... 2>&1 | goleash check` on tests that pass: go test prints no dump, and
/// the gate passes with go test's output passed through, instead of an input error.
#[test]
fn piped_go_test_output_without_a_dump_passes_the_gate() {
    use std::io::Write;
    use std::process::Stdio;

    let fixtures = toolchain("1.27").fixtures();
    let go_test = fixtures.go_test("realworld", &["-count=1", "-v"], &[]);
    assert_eq!(
        go_test.code(),
        0,
        "{}",
        String::from_utf8_lossy(&go_test.stdout)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_goleash"))
        .env("NO_COLOR", "1")
        .arg("check")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start goleash");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&go_test.stdout)
        .expect("feed goleash");
    let output = child.wait_with_output().expect("goleash ends");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("ok  \tgoleashfixtures/realworld\t"),
        "{stdout}"
    );
    assert!(stdout.contains("passed"), "{stdout}");
    assert!(stderr.contains("no goroutine dump"), "{stderr}");
}

/// A subscription whose request threw away the function that ends it (`sub, _ :=
/// a.broker.subscribe(…)`): the fix names that function and the call that dropped it, for
/// the goroutine waiting on the channel the function closes; not for the one blocked
/// handing an event on, which closing that channel would not wake.
#[test]
fn a_dropped_unsubscribe_is_named_in_the_fix() {
    let dump = crate::support::go::workspace().join("tests/data/go1.27/realworld/after_debug2.txt");
    let source = crate::support::go::workspace().join("fixtures/go");
    let (code, doc) = goleash(&[
        "inspect",
        &dump.to_string_lossy(),
        "--source",
        &source.to_string_lossy(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{doc}");
    let at = |line: u64| {
        doc["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| {
                g["leak_site"]["function"] == "main.(*broker).subscribe.func1"
                    && g["leak_site"]["line"] == line
            })
            .unwrap_or_else(|| panic!("no subscriber group at parts.go:{line}: {doc}"))
    };
    let waiting = at(129);
    let hint = waiting["hint"].as_str().expect("a fix");
    assert!(
        hint.contains("only the function subscribe returns (its second result) closes it")
            && hint
                .contains("`sub, _ := a.broker.subscribe(\"orders\")` (api.go:103) throws it away"),
        "{hint}"
    );
    // One goroutine, and many from many requests, each said in its own number.
    assert_eq!(
        waiting["why"],
        "blocked in chan receive after the goroutine that started it exited"
    );
    let sending = at(130);
    let many = sending["count"].as_u64().expect("count");
    assert!(many > 1, "{sending}");
    assert_eq!(
        sending["why"],
        format!("{many} blocked in chan send after the goroutines that started them exited")
            .as_str()
    );
    assert!(
        !sending["hint"]
            .as_str()
            .is_some_and(|h| h.contains("subscribe returns")),
        "{sending}"
    );
}

/// `--source` naming the package's own directory (`fixtures/go/realworld`, not the module
/// root) finds the files of a dump taken on another machine: the directory's name is the
/// last part of their path.
#[test]
fn source_may_name_the_package_directory() {
    let dump = crate::support::go::workspace().join("tests/data/go1.27/realworld/after_debug2.txt");
    let package = crate::support::go::workspace().join("fixtures/go/realworld");
    let (_, doc) = goleash(&[
        "inspect",
        &dump.to_string_lossy(),
        "--source",
        &package.to_string_lossy(),
        "--format",
        "json",
    ]);
    let read: Vec<&Value> = doc["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter(|g| g["exit_conditions"].is_array())
        .collect();
    assert!(
        read.iter()
            .any(|g| g["leak_site"]["function"] == "main.(*app).handleQuote.func1"),
        "the source was not read: {doc}"
    );
}

/// Runs goleash with `stdin` as its standard input: its exit code, stdout and stderr.
fn goleash_with_input(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_goleash"))
        .env("NO_COLOR", "1")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run goleash");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let output = child.wait_with_output().expect("goleash exited");
    (
        output.status.code().expect("an exit code"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A dump from another machine, read where none of its program's files is: the document
/// says so and what `--source` needs, in the text's closing note and in JSON, with nothing
/// on stderr; with the right `--source`, or `--no-source`, it says nothing.
#[test]
fn a_dump_without_its_source_says_how_to_give_it() {
    let workspace = crate::support::go::workspace();
    let capture =
        std::fs::read_to_string(workspace.join("tests/data/go1.27/realworld/after_debug2.txt"))
            .expect("the stored capture");
    // The paths of a build machine that is not this one.
    let elsewhere = capture.replace("/work/wt/qa/", "/build-machine-that-is-not-here/");
    let fixtures = workspace.join("fixtures/go");
    let wrong = workspace.join("docs");
    let (code, text, stderr) = goleash_with_input(&["inspect", "-"], elsewhere.as_bytes());
    assert_eq!((code, stderr.as_str()), (0, ""), "{text}");
    let last = text.lines().last().expect("output");
    assert!(
        last.contains("note: none of the program's files is here (such as /build-machine-that-is-not-here/fixtures/go/realworld/")
            && last.contains("`--source DIR`"),
        "{text}"
    );
    for command in ["inspect", "check"] {
        let json = |extra: &[&str]| -> Value {
            let mut args = vec![command, "-", "--format", "json"];
            args.extend_from_slice(extra);
            let (_, out, stderr) = goleash_with_input(&args, elsewhere.as_bytes());
            assert_eq!(stderr, "", "{command} {extra:?}");
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{command}: {e}: {out}"))
        };
        let note = json(&[]);
        assert!(
            note["source_note"]
                .as_str()
                .is_some_and(|n| n.contains("`--source DIR`")),
            "{command}: {}",
            note["source_note"]
        );
        let named_wrong = json(&["--source", &wrong.to_string_lossy()]);
        assert!(
            named_wrong["source_note"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!(
                    "none of the program's files is in {}",
                    wrong.display()
                ))),
            "{command}: {}",
            named_wrong["source_note"]
        );
        assert_eq!(
            json(&["--source", &fixtures.to_string_lossy()])["source_note"],
            Value::Null,
            "{command}"
        );
        assert_eq!(
            json(&["--no-source"])["source_note"],
            Value::Null,
            "{command}"
        );
    }
}
