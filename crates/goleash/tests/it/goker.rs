//! `goleash test` on the kernels of real blocking bugs in `fixtures/go/goker` (GoKer style:
//! one package per published bug of cockroach, etcd, grpc, kubernetes, moby, hugo, istio,
//! serving and syncthing, plus controls whose goroutines end on their own).
//!
//! Each kernel's `_test.go` says what goleash must report on a `// want:` line:
//! `// want: TestX leak blocked=(*T).m` (the test leaves goroutines blocked in `(*T).m`),
//! `// want: TestX stuck blocked=f` (the test's own goroutine never ends, blocked in `f`),
//! `// want: none` (nothing fails); `runs=N` marks a kernel whose bug shows in some runs
//! only, which needs `--count N`.
//!
//! The CI tests run a fast subset with Go 1.22 and 1.27 and assert every expectation. The
//! bench (`cargo test -p goleash --test it -- goker::bench --ignored --nocapture`) runs
//! every kernel with both, once with `--count 1` and once with the largest `runs=`, and
//! prints per kernel whether it was named and the rate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

use crate::support::go::{Toolchain, fixtures_dir, run, toolchain};

/// Kernels of every class (channel misuse, WaitGroup, mutex and RWMutex deadlocks,
/// sync.Once, sync.Cond, nil channels, polling loops; deadlocks of the test's own goroutine) and controls.
const FAST: [&str; 18] = [
    "cockroach_584",
    "cockroach_1055",
    "etcd_6873",
    "grpc_1460",
    "hugo_5379",
    "istio_16224",
    // A sleep loop polling a flag nobody sets, and its fix: one leak, one control.
    "syncthing_4345",
    "control_pollflag",
    "moby_30408",
    "kubernetes_10182",
    "moby_33293",
    "istio_18454",
    "control_timerwait",
    "control_closeatend",
    "control_signal",
    "control_cancelled",
    // A sleep, then a send a buffer has room for: the goroutine ends, whoever receives.
    "control_buffered",
    "control_exitslate",
];

/// Long enough for the kernels that do finish, short for the ones that deadlock.
const TIMEOUT: &str = "-timeout=3s";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Leak,
    Stuck,
    Nothing,
}

#[derive(Debug)]
struct Want {
    kernel: String,
    test: String,
    expect: Expect,
    /// The blocked function without its package path: `(*gossip).bootstrap`.
    blocked: String,
    /// Runs the bug needs to show (1: every run).
    runs: u32,
}

fn goker_dir() -> PathBuf {
    fixtures_dir().join("goker")
}

/// Reads the `// want:` line of a kernel; a kernel without a well-formed one is a defect.
fn want(kernel: &str) -> Want {
    let dir = goker_dir().join(kernel);
    let source = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.to_string_lossy().ends_with("_test.go"))
        .map(|path| std::fs::read_to_string(path).expect("read a kernel"))
        .collect::<String>();
    let line = source
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("// want:"))
        .unwrap_or_else(|| panic!("{kernel} has no `// want:` line"));
    let words: Vec<&str> = line.split_whitespace().collect();
    if words == ["none"] {
        return Want {
            kernel: kernel.to_string(),
            test: String::new(),
            expect: Expect::Nothing,
            blocked: String::new(),
            runs: 1,
        };
    }
    let (test, expect, options) = match words.as_slice() {
        [test, "leak", options @ ..] => (test, Expect::Leak, options),
        [test, "stuck", options @ ..] => (test, Expect::Stuck, options),
        _ => panic!("{kernel}: malformed want line `{line}`"),
    };
    let option = |name: &str| {
        options
            .iter()
            .find_map(|o| o.strip_prefix(name)?.strip_prefix('='))
    };
    Want {
        kernel: kernel.to_string(),
        test: test.to_string(),
        expect,
        blocked: option("blocked")
            .unwrap_or_else(|| panic!("{kernel}: no blocked= in `{line}`"))
            .to_string(),
        runs: option("runs").map_or(1, |n| n.parse().expect("runs=N is a number")),
    }
}

fn all_kernels() -> Vec<String> {
    let mut kernels: Vec<String> = std::fs::read_dir(goker_dir())
        .expect("fixtures/go/goker exists")
        .map(|entry| entry.expect("a directory entry"))
        .filter(|entry| entry.path().is_dir())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    kernels.sort();
    kernels
}

/// `pkg/path.(*T).m` → `(*T).m`.
fn local_name(function: &str) -> &str {
    let after_path = function.rsplit('/').next().unwrap_or(function);
    after_path
        .split_once('.')
        .map_or(after_path, |(_, name)| name)
}

fn package(kernel: &str) -> String {
    format!("goleashfixtures/goker/{kernel}")
}

fn entries<'a>(doc: &'a Value, key: &str, kernel: &str) -> Vec<&'a Value> {
    let package = package(kernel);
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in the report: {doc}"))
        .iter()
        .filter(|e| e["package"] == package.as_str())
        .collect()
}

/// Whether goleash named the kernel's bug as it wants; why not when it did not.
/// How a stuck test ends: the runtime's deadlock proof stops it at once from Go 1.27 on;
/// before, only `-timeout` does. The bench accepts either, since a deadlock the runtime
/// cannot prove (a lock a live goroutine still holds) times out on 1.27 too.
fn stuck_kinds(release: &str) -> &'static [&'static str] {
    if release == "1.27" {
        &["deadlocked"]
    } else {
        &["timed_out"]
    }
}

const EITHER_STUCK_KIND: &[&str] = &["deadlocked", "timed_out"];

fn score(doc: &Value, want: &Want, stuck_kinds: &[&str]) -> Result<(), String> {
    let failing: Vec<&Value> = entries(doc, "leaks", &want.kernel)
        .into_iter()
        .filter(|l| l["outcome"] == "fail")
        .collect();
    let failures = entries(doc, "failures", &want.kernel);
    let describe = |l: &Value| {
        format!(
            "{} {} {} in {}",
            l["test"].as_str().unwrap_or("(no test)"),
            l["verdict"].as_str().unwrap_or("?"),
            l["outcome"].as_str().unwrap_or("?"),
            local_name(l["leak_site"]["function"].as_str().unwrap_or("?")),
        )
    };
    let seen = || {
        let mut seen: Vec<String> = entries(doc, "leaks", &want.kernel)
            .into_iter()
            .map(describe)
            .collect();
        seen.extend(failures.iter().map(|f| {
            format!(
                "{} {} at {}",
                f["test"].as_str().unwrap_or("?"),
                f["kind"].as_str().unwrap_or("?"),
                local_name(f["at"]["function"].as_str().unwrap_or("?")),
            )
        }));
        seen.extend(
            entries(doc, "unjudged", &want.kernel)
                .into_iter()
                .map(|u| format!("unjudged {}", u["state"])),
        );
        if seen.is_empty() {
            "nothing".to_string()
        } else {
            seen.join("; ")
        }
    };
    let named = match want.expect {
        Expect::Nothing => failing.is_empty() && failures.is_empty(),
        Expect::Leak => failing.iter().any(|l| {
            l["test"] == want.test.as_str()
                && l["verdict"] == "leak"
                && local_name(l["leak_site"]["function"].as_str().unwrap_or_default())
                    == want.blocked
        }),
        Expect::Stuck => failures.iter().any(|f| {
            f["test"] == want.test.as_str()
                && stuck_kinds.contains(&f["kind"].as_str().unwrap_or_default())
                && f["stuck"]["verdict"] == "leak"
                && local_name(f["at"]["function"].as_str().unwrap_or_default()) == want.blocked
        }),
    };
    if named {
        Ok(())
    } else {
        Err(format!("reported {}", seen()))
    }
}

/// `goleash test --format json --count N` over the kernels with the toolchain's `go`.
fn run_kernels(toolchain: &'static Toolchain, kernels: &[String], count: u32) -> Value {
    let src = toolchain.fixtures().src();
    let go = toolchain.command();
    let mut command = Command::new(env!("CARGO_BIN_EXE_goleash"));
    for (key, value) in go.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let count = count.to_string();
    command
        .current_dir(&src)
        .arg("test")
        .args(["--go", go.get_program().to_str().expect("a UTF-8 path")])
        .args(["--format", "json", "--count", &count])
        .args(kernels.iter().map(|k| format!("./goker/{k}")))
        .args(["--", TIMEOUT]);
    let result = run(&mut command, false);
    assert!(
        matches!(result.code(), 0 | 1),
        "goleash test exited {}:\n{}",
        result.code(),
        String::from_utf8_lossy(&result.stderr)
    );
    serde_json::from_slice(&result.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        )
    })
}

fn fast_subset(release: &str) {
    let toolchain = toolchain(release);
    let kernels: Vec<String> = FAST.iter().map(|k| k.to_string()).collect();
    let wants: Vec<Want> = kernels.iter().map(|k| want(k)).collect();
    assert!(
        wants.iter().all(|w| w.runs == 1),
        "the fast subset is deterministic"
    );
    let started = Instant::now();
    let doc = run_kernels(toolchain, &kernels, 1);
    eprintln!(
        "go{release}: {} kernels in {:.1} s",
        kernels.len(),
        started.elapsed().as_secs_f64()
    );
    let missed: Vec<String> = wants
        .iter()
        .filter_map(|w| {
            score(&doc, w, stuck_kinds(release))
                .err()
                .map(|why| format!("{}: {why}", w.kernel))
        })
        .collect();
    assert!(
        missed.is_empty(),
        "go{release} missed:\n{}",
        missed.join("\n")
    );
    // A deadlocked test's package stopped, and said how; the others ran to their end.
    for want in &wants {
        let status = entries(&doc, "packages", &want.kernel)
            .first()
            .map(|p| p["status"].clone())
            .unwrap_or_else(|| panic!("{} is not in the report", want.kernel));
        let expected = match want.expect {
            Expect::Stuck => stuck_kinds(release)[0],
            Expect::Leak => "passed",
            Expect::Nothing => "passed",
        };
        assert_eq!(status, expected, "{}", want.kernel);
    }
}

#[test]
fn fast_subset_go1_22() {
    fast_subset("1.22");
}

#[test]
fn fast_subset_go1_27() {
    fast_subset("1.27");
}

/// Every kernel must carry a well-formed expectation, and the kernels must be the mix the
/// bench claims: at least 30 bugs, some of them deadlocks of the test itself, and controls.
#[test]
fn every_kernel_says_what_it_wants() {
    let wants: Vec<Want> = all_kernels().iter().map(|k| want(k)).collect();
    let of = |expect: Expect| wants.iter().filter(|w| w.expect == expect).count();
    assert!(of(Expect::Leak) + of(Expect::Stuck) >= 30, "{wants:?}");
    assert!(of(Expect::Stuck) >= 5, "{wants:?}");
    assert!(of(Expect::Nothing) >= 5, "{wants:?}");
    for w in &wants {
        let source = goker_dir().join(&w.kernel);
        assert!(
            w.expect == Expect::Nothing || has_test(&source, &w.test),
            "{}: no func {} in its test file",
            w.kernel,
            w.test
        );
    }
}

fn has_test(dir: &Path, test: &str) -> bool {
    std::fs::read_dir(dir)
        .expect("a kernel directory")
        .map(|entry| entry.expect("a directory entry").path())
        .any(|path| {
            std::fs::read_to_string(path)
                .is_ok_and(|text| text.contains(&format!("func {test}(t *testing.T)")))
        })
}

/// The score on every kernel, per toolchain and count. Not a CI test: it takes minutes.
#[test]
#[ignore = "a bench: run it by name with --ignored --nocapture"]
fn bench() {
    let kernels = all_kernels();
    let wants: Vec<Want> = kernels.iter().map(|k| want(k)).collect();
    let most_runs = wants.iter().map(|w| w.runs).max().unwrap_or(1);
    let mut summary = Vec::new();
    for release in ["1.27", "1.22"] {
        let toolchain = toolchain(release);
        for count in [1, most_runs] {
            let started = Instant::now();
            let doc = run_kernels(toolchain, &kernels, count);
            let elapsed = started.elapsed().as_secs_f64();
            let mut named = 0;
            println!("== go{release} --count {count} ({elapsed:.1} s)");
            for w in &wants {
                match score(&doc, w, EITHER_STUCK_KIND) {
                    Ok(()) => {
                        named += 1;
                        println!("named   {}", w.kernel);
                    }
                    Err(why) => println!("MISSED  {} (runs={}): {why}", w.kernel, w.runs),
                }
            }
            let line = format!(
                "go{release} --count {count}: {named}/{} named ({:.1} %) in {elapsed:.1} s",
                wants.len(),
                100.0 * f64::from(named) / wants.len() as f64
            );
            println!("{line}");
            summary.push(line);
        }
    }
    println!("\n{}", summary.join("\n"));
}
