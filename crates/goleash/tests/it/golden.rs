//! What people and scripts read from `inspect`, `diff` and `check`, pinned on every stored
//! capture in `tests/data`: the JSON byte for byte (`tests/data/golden/`: schema version 1
//! is a promise to scripts), the text, exit status and messages as insta snapshots (a change
//! in what people read shows up in review, not as a surprise).
//!
//! Source reading is off (`--no-source`): the captures name files of the machine that made
//! them, which may or may not exist where the tests run.
//!
//! `GOLEASH_REGEN_GOLDEN=1` rewrites the JSON files; `INSTA_UPDATE=always` the snapshots.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::go::{Run, run, workspace};

/// Every dump, profile and log stored in `tests/data`, as paths relative to the workspace
/// (the form the documents name their sources in), sorted.
pub fn captures() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "golden") {
                    walk(&path, out);
                }
            } else if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".txt") || n.ends_with(".pb.gz"))
            {
                out.push(path);
            }
        }
    }
    let root = workspace();
    let mut paths = Vec::new();
    walk(&root.join("tests/data"), &mut paths);
    let captures: Vec<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .expect("under the workspace")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(
        captures.len() > 80,
        "only {} captures found",
        captures.len()
    );
    captures
}

/// `goleash ARGS` in the workspace, colour off, standard input from `stdin` when given.
fn goleash(args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_goleash"));
    command
        .current_dir(workspace())
        .env_remove("NO_COLOR")
        .env_remove("GITHUB_ACTIONS")
        .args(args);
    match stdin {
        None => run(&mut command, false),
        Some(path) => {
            let file = std::fs::File::open(workspace().join(path)).expect("the capture opens");
            command.stdin(Stdio::from(file));
            run_with_stdin(&mut command)
        }
    }
}

/// Like [`run`], but keeping the standard input the command was given.
fn run_with_stdin(command: &mut Command) -> Run {
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    Run {
        status: output.status,
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

/// The snapshot of a run people read: exit status, messages, output.
fn shown(run: &Run) -> String {
    format!(
        "exit status {}\n--- stderr\n{}--- stdout\n{}",
        run.code(),
        String::from_utf8_lossy(&run.stderr),
        String::from_utf8_lossy(&run.stdout)
    )
}

/// A snapshot or golden name for a capture path.
fn name_of(path: &str) -> String {
    path.strip_prefix("tests/data/")
        .unwrap_or(path)
        .replace(['/', '.'], "_")
}

/// Compares JSON output with its golden file, or rewrites it with `GOLEASH_REGEN_GOLDEN`;
/// returns the differences found, so that one run names them all.
fn compare_json(golden: &str, run: &Run, differences: &mut Vec<String>) {
    let path = workspace().join("tests/data/golden").join(golden);
    if std::env::var_os("GOLEASH_REGEN_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("a directory")).expect("mkdir golden");
        std::fs::write(&path, &run.stdout).expect("write the golden file");
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_default();
    if expected != run.stdout {
        let first = expected
            .iter()
            .zip(&run.stdout)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(run.stdout.len()));
        let line = 1 + expected[..first].iter().filter(|&&b| b == b'\n').count();
        differences.push(format!(
            "{golden}: differs from line {line} (GOLEASH_REGEN_GOLDEN=1 rewrites it after review)"
        ));
    }
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        snapshot_path => workspace().join("crates/goleash/tests/it/snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn inspect_of_every_stored_capture() {
    let mut differences = Vec::new();
    for path in captures() {
        let name = name_of(&path);
        let json = goleash(&["inspect", "--no-source", "--format", "json", &path], None);
        compare_json(&format!("inspect/{name}.json"), &json, &mut differences);
        let text = goleash(&["inspect", "--no-source", "--color", "never", &path], None);
        assert_eq!(json.code(), text.code(), "{path}: exit status by format");
        snapshot(&format!("inspect__{name}"), &shown(&text));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn check_of_every_stored_capture() {
    let mut differences = Vec::new();
    for path in captures() {
        let name = name_of(&path);
        let json = goleash(&["check", "--no-source", "--format", "json", &path], None);
        compare_json(&format!("check/{name}.json"), &json, &mut differences);
        let text = goleash(&["check", "--no-source", "--color", "never", &path], None);
        assert_eq!(json.code(), text.code(), "{path}: exit status by format");
        snapshot(&format!("check__{name}"), &shown(&text));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Pairs of snapshots of the same programs: across releases, formats and profiles.
pub const PAIRS: [(&str, &str, &str); 7] = [
    (
        "go1_21_to_go1_27",
        "tests/data/go1.21/leakysvc/goroutine_debug2.txt",
        "tests/data/go1.27/leakysvc/goroutine_debug2.txt",
    ),
    (
        "debug0_to_goroutineleak",
        "tests/data/go1.27/leakysvc/goroutine_debug0.pb.gz",
        "tests/data/go1.27/leakysvc/goroutineleak_debug2.txt",
    ),
    (
        "debug1_to_debug2",
        "tests/data/go1.27/leakysvc/goroutine_debug1.txt",
        "tests/data/go1.27/leakysvc/goroutine_debug2.txt",
    ),
    (
        "watchsvc_burst",
        "tests/data/go1.27/watchsvc/goroutine_debug0.pb.gz",
        "tests/data/go1.27/watchsvc/goroutineleak_debug2.txt",
    ),
    (
        "realworld_under_load",
        "tests/data/go1.27/realworld/before_debug2.txt",
        "tests/data/go1.27/realworld/after_debug2.txt",
    ),
    // The idle service's profile holds a goroutine with no frames (not yet started).
    (
        "realworld_debug1_to_debug0",
        "tests/data/go1.27/realworld/before_debug1.txt",
        "tests/data/go1.27/realworld/after_debug0.pb.gz",
    ),
    (
        "profiler_notes",
        "tests/data/corpus/public/go-profiler-notes/1.pprof.lookup.goroutine.debug2.txt",
        "tests/data/corpus/public/go-profiler-notes/2.pprof.lookup.goroutine.debug2.txt",
    ),
];

#[test]
fn diff_and_check_of_stored_pairs() {
    let mut differences = Vec::new();
    for (name, before, after) in PAIRS {
        let json = goleash(
            &["diff", "--no-source", "--format", "json", before, after],
            None,
        );
        compare_json(&format!("diff/{name}.json"), &json, &mut differences);
        let text = goleash(
            &["diff", "--no-source", "--color", "never", before, after],
            None,
        );
        snapshot(&format!("diff__{name}"), &shown(&text));
        let all = goleash(
            &[
                "diff",
                "--no-source",
                "--color",
                "never",
                "--all",
                before,
                after,
            ],
            None,
        );
        snapshot(&format!("diff_all__{name}"), &shown(&all));

        let json = goleash(
            &["check", "--no-source", "--format", "json", before, after],
            None,
        );
        compare_json(&format!("check_pair/{name}.json"), &json, &mut differences);
        let text = goleash(
            &["check", "--no-source", "--color", "never", before, after],
            None,
        );
        snapshot(&format!("check_pair__{name}"), &shown(&text));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// The flags that change what is judged or shown, on captures where they make a
/// difference.
#[test]
fn flags_that_change_the_output() {
    let leakysvc = "tests/data/go1.27/leakysvc/goroutine_debug2.txt";
    let timeout = "tests/data/go1.21/testtimeout/gotest_timeout_2s.txt";
    let cases: [(&str, Vec<&str>, Option<&str>); 8] = [
        (
            "inspect_all_full",
            vec!["inspect", "--all", "--full", leakysvc],
            None,
        ),
        (
            "inspect_quiescent",
            vec!["inspect", "--quiescent", leakysvc],
            None,
        ),
        (
            "inspect_exact_split_labels",
            vec![
                "inspect",
                "--similarity",
                "exact",
                "--split-labels",
                leakysvc,
            ],
            None,
        ),
        ("check_strict", vec!["check", "--strict", leakysvc], None),
        ("check_live", vec!["check", "--live", leakysvc], None),
        ("stdin_passthrough", vec!["inspect", "-"], Some(timeout)),
        (
            "stdin_inspect_quiet",
            vec!["inspect", "-q", "-"],
            Some(timeout),
        ),
        ("stdin_check", vec!["check"], Some(timeout)),
    ];
    for (name, args, stdin) in cases {
        let mut full = args.clone();
        full.extend(["--no-source", "--color", "never"]);
        let text = goleash(&full, stdin);
        snapshot(&format!("flags__{name}"), &shown(&text));
    }
}
