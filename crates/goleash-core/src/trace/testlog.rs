//! What a test binary reported about its tests, in order: each `=== RUN` and
//! `--- PASS/FAIL/SKIP` as a [`TestEvent`].
//!
//! `go test -json` reports them as its `run`, `pass`, `fail` and `skip` events, which a
//! caller that decodes those turns into [`TestEvent`]s directly. [`test_events`] reads them
//! from a test binary's own verbose output, in either spelling: plain `-test.v` output
//! (`=== RUN   TestX/sub`, results indented by nesting), or the framed output of
//! `-test.v=test2json` (the same lines behind a `^V` byte, which tells them from anything
//! a test prints).

/// What a [`TestEvent`] says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TestAction {
    /// `=== RUN`: the test (or subtest, fuzz target, seed entry, example) starts.
    Run,
    /// `--- PASS`.
    Pass,
    /// `--- FAIL`.
    Fail,
    /// `--- SKIP`.
    Skip,
}

/// What a test binary reported about one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestEvent {
    /// What happened.
    pub action: TestAction,
    /// The full test name: `TestX`, `TestX/sub`, `TestX/sub#01`.
    pub name: String,
}

const RUN: &[u8] = b"=== RUN   ";
const RESULTS: [(&[u8], TestAction); 3] = [
    (b"--- PASS: ", TestAction::Pass),
    (b"--- FAIL: ", TestAction::Fail),
    (b"--- SKIP: ", TestAction::Skip),
];
/// `-test.v=test2json` puts this byte before every line that testing itself writes.
const FRAMING: u8 = 0x16;

/// Reads the test events of one test binary's verbose output, in output order.
///
/// Which spelling the output uses is decided once: framed when any line carries the `^V`
/// framing byte (unframed lines are then output of the tests and skipped), plain otherwise.
pub fn test_events(output: &[u8]) -> Vec<TestEvent> {
    let framed = memchr::memchr(FRAMING, output).is_some();
    let mut events = Vec::new();
    for text in output.split(|&b| b == b'\n') {
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let event = if framed {
            // A test that printed without a final newline leaves the framed line after its
            // text: the framing byte marks where testing's own line starts.
            memchr::memchr_iter(FRAMING, text).find_map(|i| text_event(&text[i + 1..]))
        } else {
            text_event(text)
        };
        if let Some((action, name)) = event.filter(|(_, name)| !name.is_empty()) {
            events.push(TestEvent { action, name });
        }
    }
    events
}

/// `=== RUN   Name`, or a result line `--- PASS: Name (0.00s)` indented by nesting.
fn text_event(text: &[u8]) -> Option<(TestAction, String)> {
    let name = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    if let Some(rest) = text.strip_prefix(RUN) {
        return Some((TestAction::Run, name(rest)));
    }
    let text = text.trim_ascii_start();
    RESULTS.iter().find_map(|&(prefix, action)| {
        let rest = text.strip_prefix(prefix)?;
        // The name ends before the last ` (duration)`.
        let end = memchr::memrchr(b'(', rest).map_or(rest.len(), |i| i.saturating_sub(1));
        Some((action, name(&rest[..end])))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(output: &[u8]) -> Vec<(TestAction, String)> {
        test_events(output)
            .into_iter()
            .map(|e| (e.action, e.name))
            .collect()
    }

    fn run(name: &str) -> (TestAction, String) {
        (TestAction::Run, name.into())
    }

    #[test]
    fn plain_verbose_output() {
        let out = b"=== RUN   TestA\n--- PASS: TestA (0.00s)\n=== RUN   TestB\r\n=== RUN   TestB/sub_(1)\n    b_test.go:9: === RUN   not a run\n--- FAIL: TestB (0.01s)\n    --- SKIP: TestB/sub_(1) (0.00s)\nPASS\n";
        assert_eq!(
            events(out),
            [
                run("TestA"),
                (TestAction::Pass, "TestA".into()),
                run("TestB"),
                run("TestB/sub_(1)"),
                (TestAction::Fail, "TestB".into()),
                (TestAction::Skip, "TestB/sub_(1)".into()),
            ]
        );
    }

    #[test]
    fn framed_output_ignores_what_tests_print() {
        let out = b"\x16=== RUN   TestA\n=== RUN   TestFake\n--- FAIL: TestFake (0.00s)\nno newline\x16=== RUN   TestA/x\n\x16--- PASS: TestA (0.00s)\n";
        assert_eq!(
            events(out),
            [
                run("TestA"),
                run("TestA/x"),
                (TestAction::Pass, "TestA".into())
            ]
        );
    }
}
