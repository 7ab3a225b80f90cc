//! Exit conditions end to end, on `fixtures/go/exits`: a program that blocks goroutines on
//! every kind of way out goleash reads from the source, capturing itself before and after
//! at debug=2, 1 and 0. `goleash diff` must give each site its verdict and exactly the
//! ways out its `// GT:<site> <kind>-<can>` markers name, with the source where the dump
//! says it is, from a copy elsewhere through `--source` once the build's own copy is gone,
//! and from a `-trimpath` build.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::go::{Fixtures, fixtures_dir, run, scratch, toolchain};
use crate::support::truth::{Markers, Truth};

/// The verdict of each site, judged on the growth between the captures.
fn verdict(site: &str) -> &'static str {
    match site {
        "metrics" | "pool" | "stoppable" => "expected",
        "timer-2h" | "new-timer" | "sleep-once" => "lingering",
        "retry-loop" => "suspect",
        "ctx-background" | "cancel-dropped" | "ticker-range" | "ticker-select"
        | "recv-never-sent" | "send-after-timeout" | "field-quit" | "range-never-closed"
        | "labelled-break" | "loop-condition" | "sleep-loop" | "caller-loop" | "waitgroup"
        | "mutex" | "rwmutex" | "cond" | "janitor" | "field-ticker" => "leak",
        other => panic!("no verdict for site {other}"),
    }
}

/// What the fix must say for the sites whose way out is a stop signal that never came: the
/// code each needs, read from the source.
fn fix(site: &str) -> Option<&'static str> {
    Some(match site {
        "ctx-background" => "`ctx` is a parameter of watch: the caller that starts it",
        "cancel-dropped" => {
            "The cancel function of `ctx` is thrown away, so nothing can ever cancel it: keep it"
        }
        "field-quit" => {
            "The goroutine stops when `s.quit` is closed, but nothing in package main closes it and server has no Close or Stop method: the code offers no way to stop it."
        }
        "janitor" => {
            "The goroutine stops when `c.stop` is closed, and `(*cache).Close` closes it: call `Close()` on every cache when done with it"
        }
        "field-ticker" => {
            "`(*poller).Stop` stops `p.ticker`, but Ticker.Stop never closes the ticker's channel, so `for range p.ticker.C` outlives it: the code offers no way to end this goroutine."
        }
        "labelled-break" => {
            "The goroutine stops when `stop` is closed, and nothing closes it: close it when its owner is done"
        }
        _ => return None,
    })
}

const FORMATS: [&str; 3] = ["debug2.txt", "debug1.txt", "debug0.pb.gz"];

/// Runs the exits program, returning the directory holding its captures and truth.
fn capture(binary: &Path, name: &str) -> (PathBuf, Truth) {
    let out = scratch(name);
    std::fs::create_dir_all(&out).expect("create the captures dir");
    let result = run(
        Command::new(binary).arg("-out").arg(&out).current_dir(&out),
        false,
    );
    assert!(
        result.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let truth = Truth::parse(&std::fs::read(out.join("truth.json")).expect("truth.json"));
    (out, truth)
}

/// Builds the exits program from a copy of the fixtures that is removed afterwards, so that
/// the paths its dumps name exist nowhere; with `-trimpath` when asked.
fn build_elsewhere(fixtures: &Fixtures, trimpath: bool) -> PathBuf {
    let src = scratch("exits-src");
    copy(&fixtures.src(), &src);
    let binary = scratch("exits-bin");
    let mut build = fixtures.toolchain.command();
    build.current_dir(&src).arg("build");
    if trimpath {
        build.arg("-trimpath");
    }
    build.arg("-o").arg(&binary).arg("./exits");
    let result = run(&mut build, true);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stdout)
    );
    std::fs::remove_dir_all(&src).expect("remove the build's sources");
    binary
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a dir");
    for entry in std::fs::read_dir(from).expect("read a dir").flatten() {
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            if entry.file_name() != "captures" {
                copy(&source, &dest);
            }
        } else {
            std::fs::copy(&source, &dest).expect("copy a file");
        }
    }
}

fn goleash_diff(before: &Path, after: &Path, source: &[&str]) -> Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_goleash"));
    command
        .env("NO_COLOR", "1")
        .args(["diff", "--format", "json"]);
    command.args(source).arg(before).arg(after);
    let output = command.output().expect("run goleash");
    assert_eq!(
        output.status.code(),
        Some(1),
        "goleash diff finds leaks: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("diff JSON")
}

/// Checks every site of the truth in one diff document.
fn check(doc: &Value, truth: &Truth, markers: &Markers, what: &str) {
    for (site, info) in &truth.sites {
        // By position: the goroutines of `caller-loop` arrive in one function and wait in
        // the one it calls.
        let block = markers.get(site, "block");
        let file = block.file.file_name().unwrap().to_str().unwrap();
        let groups: Vec<&Value> = doc["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| {
                g["count"].as_u64() > Some(0)
                    && g["leak_site"]["file"]
                        .as_str()
                        .is_some_and(|f| f.ends_with(&format!("/{file}")))
                    && g["leak_site"]["line"].as_u64() == Some(u64::from(block.line))
            })
            .collect();
        let count: u64 = groups.iter().map(|g| g["count"].as_u64().unwrap()).sum();
        assert_eq!(count, info.count, "{what}: goroutines at {site}");
        let mut expected: Vec<(String, u64, Value)> = markers
            .of_site(site)
            .filter(|(kind, _)| !matches!(*kind, "block" | "go"))
            .map(|(kind, mark)| {
                let (kind, can) = kind.rsplit_once('-').expect("<kind>-<can>");
                let can = match can {
                    "yes" => Value::Bool(true),
                    "no" => Value::Bool(false),
                    "unknown" => Value::String("unknown".into()),
                    other => panic!("GT:{site}: can_happen {other}"),
                };
                (kind.replace('-', "_"), u64::from(mark.line), can)
            })
            .collect();
        expected.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        assert!(!expected.is_empty(), "{site} marks no way out");
        for g in groups {
            assert_eq!(g["verdict"], verdict(site), "{what}: {site}: {}", g["why"]);
            assert!(g.get("source_mismatch").is_none(), "{what}: {site}: {g}");
            if let Some(fix) = fix(site) {
                let hint = g["hint"].as_str().unwrap_or_default();
                assert!(hint.starts_with(fix), "{what}: {site}: {hint}");
                if site == "ctx-background" && what.contains("debug2") {
                    assert!(hint.contains("(here main.ctxBackground)"), "{what}: {hint}");
                }
            }
            let conditions = g["exit_conditions"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: {site} has no exit_conditions: {g}"));
            let mut found: Vec<(String, u64, Value)> = conditions
                .iter()
                .map(|c| {
                    assert!(!c["why"].as_str().unwrap().is_empty());
                    (
                        c["kind"].as_str().unwrap().to_string(),
                        c["line"].as_u64().unwrap(),
                        c["can_happen"].clone(),
                    )
                })
                .collect();
            found.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
            assert_eq!(
                found,
                expected,
                "{what}: {site}: {}",
                serde_json::to_string_pretty(conditions).unwrap()
            );
        }
    }
}

fn exit_conditions(release: &str) {
    let go = toolchain(release);
    let fixtures = go.fixtures();
    let markers = Markers::read(&fixtures_dir(), "exits");

    // The source where the dumps say it is: the build's copy of the fixtures.
    let (dir, truth) = capture(&fixtures.binary("exits"), &format!("exits-{release}"));
    assert_eq!(truth.go_version, format!("go{}", go.version));
    for format in FORMATS {
        let (before, after) = (
            dir.join(format!("before_{format}")),
            dir.join(format!("after_{format}")),
        );
        let doc = goleash_diff(&before, &after, &[]);
        check(&doc, &truth, &markers, &format!("go{release} {format}"));
    }

    // The build's copy is gone: the checkout in the repository stands in for it, by the
    // longest trailing path (absolute paths) or by module path (-trimpath).
    let checkout = fixtures_dir();
    let checkout = checkout.to_str().expect("a UTF-8 path");
    for trimpath in [false, true] {
        let binary = build_elsewhere(fixtures, trimpath);
        let (dir, truth) = capture(&binary, &format!("exits-{release}-elsewhere"));
        for format in FORMATS {
            let (before, after) = (
                dir.join(format!("before_{format}")),
                dir.join(format!("after_{format}")),
            );
            let what = format!("go{release} {format} trimpath={trimpath}");
            // Without the source nothing is said about ways out.
            let bare = goleash_diff(&before, &after, &[]);
            assert!(
                bare["groups"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|g| g.get("exit_conditions").is_none()),
                "{what}: the build's sources are gone"
            );
            let doc = goleash_diff(&before, &after, &["--source", checkout]);
            check(&doc, &truth, &markers, &what);
        }
    }
}

#[test]
fn exit_conditions_go_1_27() {
    exit_conditions("1.27");
}

#[test]
fn exit_conditions_go_1_21() {
    exit_conditions("1.21");
}
