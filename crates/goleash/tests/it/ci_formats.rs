//! The formats CI tools read: SARIF 2.1.0 valid against the OASIS schema on every stored
//! capture and at the right lines, GitHub workflow commands, `file:line:col` lines,
//! completions and the manual page.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::go::{Run, run, workspace};
use crate::support::truth::Markers;

pub fn goleash(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_goleash"));
    command
        .current_dir(workspace())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(args)
        .envs(env.iter().copied());
    run(&mut command, false)
}

fn sarif_validator() -> jsonschema::Validator {
    let path = workspace().join("tests/data/schemas/sarif-schema-2.1.0.json");
    let mut schema: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the SARIF schema"))
            .expect("the schema is JSON");
    // The published schema's pattern for `language` has a stray `]`, which strict
    // validators reject as a regular expression; goleash never writes `language`.
    for definition in ["run", "toolComponent"] {
        let language = &mut schema["definitions"][definition]["properties"]["language"]["pattern"];
        assert_eq!(language, "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$");
        *language = Value::from("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    }
    jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
}

fn parse(run: &Run, what: &str) -> Value {
    serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        )
    })
}

/// Fails with every schema violation of `log`.
fn check_valid(validator: &jsonschema::Validator, log: &Value, what: &str) {
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: not valid SARIF 2.1.0:\n{}",
        errors.join("\n")
    );
}

#[test]
fn sarif_of_every_stored_capture_is_valid_sarif_2_1_0() {
    let validator = sarif_validator();
    let mut results = 0;
    for path in crate::golden::captures() {
        for command in ["inspect", "check"] {
            let run = goleash(&[command, "--no-source", "--format", "sarif", &path], &[]);
            if run.code() == 2 && run.stdout.is_empty() {
                // Not a dump at all: an input error before anything was read.
                continue;
            }
            let log = parse(&run, &path);
            check_valid(&validator, &log, &format!("{command} {path}"));
            results += log["runs"][0]["results"].as_array().map_or(0, Vec::len);
        }
    }
    for (name, before, after) in crate::golden::PAIRS {
        for command in ["diff", "check"] {
            let run = goleash(
                &[command, "--no-source", "--format", "sarif", before, after],
                &[],
            );
            check_valid(&validator, &parse(&run, name), &format!("{command} {name}"));
        }
    }
    assert!(results > 100, "only {results} results over every capture");
}

/// The results of a SARIF log that lie in `package` (a directory of `fixtures/go`): every
/// one is at a line the fixture marks as where goroutines block, and the `go` statement
/// related to it at a line marked as one that starts them.
pub fn check_sarif_lines(log: &Value, markers: &Markers, package: &str, what: &str) -> usize {
    let uri_of = |location: &Value| {
        location["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .map(str::to_string)
    };
    let line_of = |location: &Value| location["physicalLocation"]["region"]["startLine"].as_u64();
    let marked = |kind: &str, uri: &str, line: u64| {
        markers.of_kind(kind).any(|m| {
            uri.ends_with(m.file.to_str().expect("a UTF-8 path")) && u64::from(m.line) == line
        })
    };
    let mut checked = 0;
    for result in log["runs"][0]["results"].as_array().expect("results") {
        let location = &result["locations"][0];
        let Some(uri) = uri_of(location).filter(|u| u.contains(&format!("{package}/"))) else {
            continue;
        };
        let line = line_of(location).expect("a line");
        assert!(
            marked("block", &uri, line),
            "{what}: a result at {uri}:{line}, not a line where a goroutine is known to block: {result:#}"
        );
        for related in result["relatedLocations"].as_array().into_iter().flatten() {
            let started = related["message"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("started here"));
            if let (true, Some(uri), Some(line)) = (started, uri_of(related), line_of(related))
                && uri.contains(&format!("{package}/"))
            {
                assert!(
                    marked("go", &uri, line),
                    "{what}: the creator of {result:#} is not at a go statement the fixture marks"
                );
            }
        }
        checked += 1;
    }
    checked
}

#[test]
fn sarif_results_are_at_the_lines_where_the_goroutines_block() {
    let set = workspace().join("tests/data/go1.27/leakysvc");
    let markers: Markers =
        serde_json::from_slice(&std::fs::read(set.join("markers.json")).unwrap()).unwrap();
    let dump = "tests/data/go1.27/leakysvc/goroutine_debug2.txt";
    let run = goleash(
        &[
            "inspect",
            "--format",
            "sarif",
            "--source",
            "fixtures/go",
            dump,
        ],
        &[],
    );
    let log = parse(&run, dump);
    let checked = check_sarif_lines(&log, &markers, "leakysvc", dump);
    assert!(checked >= 15, "only {checked} results in leakysvc");
    // With the source at hand, paths are relative to the repository root, for GitHub.
    let uris: Vec<&str> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str())
        .filter(|u| u.contains("leakysvc/"))
        .collect();
    assert!(
        uris.iter().all(|u| u.starts_with("fixtures/go/leakysvc/")),
        "{uris:?}"
    );
    let base = &log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"];
    assert!(
        base.as_str()
            .is_some_and(|b| b.starts_with("file:///") && b.ends_with('/'))
    );
}

#[test]
fn github_annotations_and_the_job_summary() {
    let dump = "tests/data/go1.27/leakysvc/goroutine_debug2.txt";
    let dir = crate::support::go::scratch("summary");
    std::fs::create_dir_all(&dir).unwrap();
    let summary = dir.join("summary.md");
    // Under Actions, with stdout not a terminal, GitHub annotations are the default.
    let run = goleash(
        &["check", "--source", "fixtures/go", dump],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
        ],
    );
    assert_eq!(run.code(), 1);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("goleash check: FAILED"),
        "the text comes first:\n{out}"
    );
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("::error ")).collect();
    // The program's own leaks are placed on their line; a leak inside the standard library
    // (an unclosed response body's readLoop) has no file of the repository to point at.
    let placed = errors.iter().filter(|l| l.contains(" file=")).count();
    assert!(placed >= 10, "{out}");
    for line in &errors {
        assert!(
            line.starts_with("::error file=fixtures/go/leakysvc/") && line.contains(",line=")
                || line.starts_with("::error title="),
            "{line}"
        );
        assert!(line.contains("title=goroutine leak in "), "{line}");
        let (_, message) = line
            .split_once("::")
            .and_then(|(_, r)| r.split_once("::"))
            .unwrap();
        assert!(
            !message.contains('\n') && message.contains("%0AFix: "),
            "{line}"
        );
    }
    let markdown = std::fs::read_to_string(&summary).expect("the job summary was written");
    assert!(markdown.starts_with("### goleash check"), "{markdown}");
    assert!(markdown.contains("| verdict | goroutines |"), "{markdown}");
    // `--format text` turns the annotations off.
    let plain = goleash(
        &["check", "--format", "text", dump],
        &[("GITHUB_ACTIONS", "true")],
    );
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("::error"));
}

#[test]
fn short_lines_are_file_line_column_verdict_message() {
    let dump = "tests/data/go1.27/leakysvc/goroutine_debug2.txt";
    let run = goleash(
        &[
            "check",
            "--format",
            "short",
            "--source",
            "fixtures/go",
            dump,
        ],
        &[],
    );
    assert_eq!(run.code(), 1);
    let out = String::from_utf8_lossy(&run.stdout);
    let leaks: Vec<&str> = out.lines().filter(|l| l.contains(": leak: ")).collect();
    assert!(leaks.len() >= 10, "{out}");
    for line in out.lines() {
        let mut parts = line.splitn(5, ':');
        let (file, line_no, col) = (parts.next(), parts.next(), parts.next());
        assert!(file.is_some_and(|f| !f.is_empty()), "{line}");
        assert!(
            line_no.is_some_and(|l| l.parse::<u32>().is_ok_and(|n| n > 0)),
            "{line}"
        );
        assert_eq!(col, Some("1"), "{line}");
        let verdict = parts.next().map(str::trim);
        assert!(
            matches!(verdict, Some("leak" | "suspect" | "lingering")),
            "{line}"
        );
    }
}

#[test]
fn completions_and_the_manual_come_from_the_command_line_definitions() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let run = goleash(&["completions", shell], &[]);
        assert_eq!(run.code(), 0, "{shell}");
        let script = String::from_utf8_lossy(&run.stdout);
        for sub in ["inspect", "check", "watch", "test", "--format"] {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
    }
    let man = goleash(&["man"], &[]);
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.starts_with(".ie") && page.contains(".TH goleash 1"),
        "{page}"
    );
    let dir = crate::support::go::scratch("man");
    let run = goleash(&["man", "--dir", dir.to_str().unwrap()], &[]);
    assert_eq!(run.code(), 0);
    for page in [
        "goleash.1",
        "goleash-check.1",
        "goleash-test.1",
        "goleash-watch.1",
    ] {
        let text = std::fs::read_to_string(Path::new(&dir).join(page)).expect(page);
        assert!(
            text.contains(".SH OPTIONS") || text.contains(".SH SUBCOMMANDS"),
            "{page}"
        );
    }
}

/// The GitHub Actions workflow the README shows: valid YAML, a job that runs
/// `goleash test` with the JUnit and SARIF files it then uploads, with flags goleash takes.
#[test]
fn the_readme_workflow_is_valid_and_uses_real_flags() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let marker = "<!-- workflow: checked by crates/goleash/tests/it/ci_formats.rs -->";
    let after = &readme[readme.find(marker).expect("the README shows a workflow")..];
    let start = after.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let yaml = &after[start..start + after[start..].find("```").expect("its end")];
    let docs = yaml_rust2::YamlLoader::load_from_str(yaml).expect("the workflow is YAML");
    let workflow = &docs[0];
    let steps = workflow["jobs"]["leaks"]["steps"]
        .as_vec()
        .expect("a job with steps");
    let run = steps
        .iter()
        .filter_map(|s| s["run"].as_str())
        .find(|r| r.starts_with("goleash test"))
        .expect("a step that runs goleash test");
    let uploaded: Vec<&str> = steps
        .iter()
        .filter_map(|s| {
            s["with"]["sarif_file"]
                .as_str()
                .or_else(|| s["with"]["path"].as_str())
        })
        .collect();
    for file in ["goleash.sarif", "goleash-junit.xml"] {
        assert!(run.contains(file), "{run} does not write {file}");
        assert!(uploaded.contains(&file), "{file} is not uploaded");
    }
    // Every flag of the step is one goleash test takes.
    let help = goleash(&["test", "--help"], &[]);
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in run.split_whitespace().filter(|w| w.starts_with("--")) {
        assert!(help.contains(flag), "goleash test has no {flag}");
    }
}
