//! JUnit XML, as CI dashboards read test reports, in the shape gotestsum and
//! go-junit-report write for `go test`: one `testsuite` per package, one `testcase` per
//! test (`classname` the package, `time` in seconds), a failed test as a `failure` with
//! its log, a skipped one as `skipped`. A test that leaked goroutines is a `failure` too,
//! with each leaking stack, its leak site and the fix; goroutines no test started, and a
//! package that failed with no test to blame, get a testcase of their own.

use std::fmt::Write as _;
use std::io::{self, Write};

use goleash_core::trace::FailureKind;

use crate::doc::test::{CaseResult, Leftover, NO_TEST, TestDoc};

/// The testcase a package-level failure is filed under.
const PACKAGE_CASE: &str = "(package)";

/// One `testcase`.
struct Case {
    name: String,
    time: Option<f64>,
    /// `(element, type, message, text)`: `failure`, `error` or `skipped`.
    outcomes: Vec<(&'static str, &'static str, String, String)>,
}

/// Writes the report.
pub fn write(out: &mut dyn Write, doc: &TestDoc) -> io::Result<()> {
    let mut suites = Vec::new();
    let (mut all_tests, mut all_failures, mut all_errors, mut all_time) = (0, 0, 0, 0.0);
    for package in &doc.packages {
        let name = &package.package;
        // One testcase per test, its first run: its failures say in which runs it failed.
        let mut seen = std::collections::HashSet::new();
        let mut cases: Vec<Case> = doc
            .cases
            .iter()
            .filter(|c| &c.package == name && seen.insert(c.test.as_str()))
            .map(|c| Case {
                name: c.test.clone(),
                time: c.elapsed,
                outcomes: match c.result {
                    CaseResult::Skipped => vec![("skipped", "", "skipped".into(), c.log.clone())],
                    _ => Vec::new(),
                },
            })
            .collect();
        let case_of = |cases: &mut Vec<Case>, test: &str| -> usize {
            match cases.iter().position(|c| c.name == test) {
                Some(i) => i,
                None => {
                    cases.push(Case {
                        name: test.to_string(),
                        time: None,
                        outcomes: Vec::new(),
                    });
                    cases.len() - 1
                }
            }
        };
        for failure in doc.failures.iter().filter(|f| &f.package == name) {
            let test = failure.test.as_deref().unwrap_or(PACKAGE_CASE);
            let i = case_of(&mut cases, test);
            let (element, kind) = match failure.kind {
                FailureKind::BuildFailed => ("error", "build failed"),
                FailureKind::Failed => ("failure", "failed"),
                FailureKind::Panicked => ("failure", "panicked"),
                FailureKind::TimedOut => ("failure", "timed out"),
                FailureKind::Deadlocked => ("failure", "deadlocked"),
                FailureKind::Interrupted => ("failure", "interrupted"),
            };
            let mut text = failure.message.clone().unwrap_or_default();
            if let Some(at) = &failure.at {
                let _ = write!(text, "\n{} ({}:{})", at.function, at.file, at.line);
                if let Some(state) = &at.state {
                    let _ = write!(text, ": stuck in {state}");
                }
            }
            if let Some(ring) = failure.stuck.as_ref().and_then(|s| s.ring()) {
                let _ = write!(text, "\ndeadlock: {ring}");
            }
            let message = failure
                .headline()
                .map_or_else(|| kind.to_string(), |line| format!("{kind}: {line}"));
            cases[i].outcomes.push((element, kind, message, text));
        }
        if package.status.failed()
            && package.error.is_none()
            && !doc.failures.iter().any(|f| &f.package == name)
        {
            let i = case_of(&mut cases, PACKAGE_CASE);
            let message = format!("the test binary {}", package.status.name());
            cases[i].outcomes.push((
                "failure",
                "failed",
                message,
                package.problem.clone().unwrap_or_default(),
            ));
        }
        if let Some(error) = &package.error {
            let i = case_of(&mut cases, PACKAGE_CASE);
            cases[i].outcomes.push((
                "error",
                "not checked",
                "goleash could not check the package".into(),
                error.clone(),
            ));
        }
        let leaking: Vec<&Leftover> = doc
            .groups
            .iter()
            .filter(|g| &g.package == name && g.fails())
            .collect();
        let mut tests: Vec<&str> = leaking.iter().map(|g| g.test_name()).collect();
        tests.dedup();
        for test in tests {
            let groups: Vec<&&Leftover> =
                leaking.iter().filter(|g| g.test_name() == test).collect();
            let goroutines: u64 = groups.iter().map(|g| g.count).sum();
            let text = groups
                .iter()
                .map(|g| describe(g))
                .collect::<Vec<_>>()
                .join("\n\n");
            let i = case_of(&mut cases, test);
            let message = format!(
                "leaked {goroutines} goroutine{}",
                if goroutines == 1 { "" } else { "s" }
            );
            cases[i]
                .outcomes
                .push(("failure", "goroutine leak", message, text));
        }
        let count = |element: &str| {
            cases
                .iter()
                .filter(|c| c.outcomes.iter().any(|o| o.0 == element))
                .count()
        };
        let (failures, errors, skipped) = (count("failure"), count("error"), count("skipped"));
        let time = package
            .elapsed
            .unwrap_or_else(|| cases.iter().filter_map(|c| c.time).sum());
        all_tests += cases.len();
        all_failures += failures;
        all_errors += errors;
        all_time += time;
        let mut suite = String::new();
        let _ = writeln!(
            suite,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\">",
            attr(name),
            cases.len(),
            seconds(time)
        );
        for case in &cases {
            let time = case
                .time
                .map_or(String::new(), |t| format!(" time=\"{}\"", seconds(t)));
            if case.outcomes.is_empty() {
                let _ = writeln!(
                    suite,
                    "    <testcase classname=\"{}\" name=\"{}\"{time}></testcase>",
                    attr(name),
                    attr(&case.name)
                );
                continue;
            }
            let _ = writeln!(
                suite,
                "    <testcase classname=\"{}\" name=\"{}\"{time}>",
                attr(name),
                attr(&case.name)
            );
            for (element, kind, message, text) in &case.outcomes {
                let _ = writeln!(
                    suite,
                    "      <{element} message=\"{}\" type=\"{}\">{}</{element}>",
                    attr(message),
                    attr(kind),
                    body(text)
                );
            }
            let _ = writeln!(suite, "    </testcase>");
        }
        let _ = writeln!(suite, "  </testsuite>");
        suites.push(suite);
    }
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        out,
        "<testsuites tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"{all_errors}\" time=\"{}\">",
        seconds(all_time)
    )?;
    for suite in suites {
        out.write_all(suite.as_bytes())?;
    }
    writeln!(out, "</testsuites>")
}

/// A leaking group as its failure's text: what it waits for, where, who started it, the
/// fix.
fn describe(g: &Leftover) -> String {
    let mut text = format!(
        "{} {} × {}: {}",
        g.verdict.name().to_uppercase(),
        g.count,
        g.state,
        g.why
    );
    if let Some(site) = &g.leak_site {
        let _ = write!(text, "\nat {} ({}:{})", site.function, site.file, site.line);
        if let Some(source) = &site.source {
            let _ = write!(text, "\n    {source}");
        }
    }
    for frame in &g.frames {
        let _ = write!(
            text,
            "\n  {}\n      {}:{}",
            frame.function, frame.file, frame.line
        );
    }
    for link in &g.creator_chain {
        let _ = write!(
            text,
            "\ncreated by {} ({}:{})",
            link.function, link.file, link.line
        );
    }
    if let Some(hint) = &g.hint {
        let _ = write!(text, "\nfix: {hint}");
    }
    if g.test.is_none() {
        let _ = write!(text, "\n{NO_TEST}");
    }
    text
}

/// Seconds as the JUnit schema spells them: three decimals at most.
fn seconds(t: f64) -> String {
    format!("{:.3}", t.max(0.0))
}

/// Text XML 1.0 can hold: control characters other than tab and line ends are not allowed,
/// even escaped.
fn clean(text: &str) -> impl Iterator<Item = char> + '_ {
    text.chars()
        .filter(|&c| !(c < ' ' && c != '\t' && c != '\n' && c != '\r'))
}

fn body(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in clean(text) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in clean(text) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_xml_cannot_hold_is_left_out_and_the_rest_escaped() {
        assert_eq!(body("a < b && c\u{1b}[1m"), "a &lt; b &amp;&amp; c[1m");
        assert_eq!(attr("say \"hi\"\nnow"), "say &quot;hi&quot;&#10;now");
        assert_eq!(seconds(0.0123), "0.012");
    }

    /// The stored `testleaks` run: every test is a testcase, the leaking ones fail with
    /// their stacks, and the report is valid against the JUnit schema (checked with
    /// xmllint, which `scripts/test.sh` installs).
    #[test]
    fn the_stored_run_as_junit() {
        let doc = crate::cmd::test::tests::replayed();
        let mut out = Vec::new();
        write(&mut out, &doc).unwrap();
        let xml = String::from_utf8(out).unwrap();
        for (package, test) in &doc.summary.leaking {
            let case = format!("<testcase classname=\"{package}\" name=\"{test}\"");
            let at = xml
                .find(&case)
                .unwrap_or_else(|| panic!("no {case} in\n{xml}"));
            let end = xml[at..].find("</testcase>").unwrap();
            assert!(
                xml[at..at + end].contains("type=\"goroutine leak\""),
                "{test} is not failed for its leak:\n{}",
                &xml[at..at + end]
            );
        }
        assert!(xml.contains("type=\"timed out\""), "{xml}");
        assert!(xml.contains("type=\"panicked\""), "{xml}");
        let passed = doc
            .cases
            .iter()
            .filter(|c| c.result == CaseResult::Passed)
            .count();
        assert!(passed >= 5);
        validate(&xml);
    }

    fn validate(xml: &str) {
        let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/schemas/junit-10.xsd");
        let dir = std::env::temp_dir().join(format!("goleash-junit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("report.xml");
        std::fs::write(&file, xml).unwrap();
        let run = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(&file)
            .output();
        let _ = std::fs::remove_dir_all(&dir);
        let run = run.unwrap_or_else(|e| {
            panic!("cannot run xmllint ({e}): install libxml2-utils, as scripts/test.sh does")
        });
        assert!(
            run.status.success(),
            "not valid against junit-10.xsd: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
}
