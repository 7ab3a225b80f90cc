//! The `=== RUN` and `--- PASS/FAIL/SKIP` events of a test binary's verbose output, in
//! order.
//!
//! Three spellings are read: plain `-test.v` output (`=== RUN   TestX/sub`, results
//! indented by nesting), the framed output of `-test.v=test2json` (the same lines behind a
//! `^V` byte, which tells them from anything a test prints), and the JSON events of
//! `go test -json` / `go tool test2json` (`{"Action":"run","Test":"TestX/sub"}`).

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

/// One line of a test binary's report about one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestEvent {
    /// What happened.
    pub action: TestAction,
    /// The full test name: `TestX`, `TestX/sub`, `TestX/sub#01`.
    pub name: String,
    /// The 1-based line of the output it was read from.
    pub line: usize,
}

const RUN: &[u8] = b"=== RUN   ";
const RESULTS: [(&[u8], TestAction); 3] = [
    (b"--- PASS: ", TestAction::Pass),
    (b"--- FAIL: ", TestAction::Fail),
    (b"--- SKIP: ", TestAction::Skip),
];
/// `-test.v=test2json` puts this byte before every line that testing itself writes.
const FRAMING: u8 = 0x16;

/// Reads the test events of one test binary's output, in output order.
///
/// Which spelling the output uses is decided once: JSON when its first non-blank line is a
/// JSON object, framed when any line carries the `^V` framing byte (unframed lines are then
/// output of the tests and skipped), plain otherwise.
pub fn test_events(output: &[u8]) -> Vec<TestEvent> {
    let lines = || {
        output
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .enumerate()
            .map(|(i, l)| (i + 1, l))
    };
    let json = lines()
        .map(|(_, l)| l.trim_ascii())
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with(b"{"));
    let framed = !json && memchr::memchr(FRAMING, output).is_some();
    let mut events = Vec::new();
    for (line, text) in lines() {
        let event = if json {
            json_event(text)
        } else if framed {
            // A test that printed without a final newline leaves the framed line after its
            // text: the framing byte marks where testing's own line starts.
            memchr::memchr_iter(FRAMING, text).find_map(|i| text_event(&text[i + 1..]))
        } else {
            text_event(text)
        };
        if let Some((action, name)) = event.filter(|(_, name)| !name.is_empty()) {
            events.push(TestEvent { action, name, line });
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

/// A JSON event about a test: `run`, `pass`, `fail` or `skip`.
fn json_event(line: &[u8]) -> Option<(TestAction, String)> {
    let fields = json::object_strings(line.trim_ascii())?;
    let field = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let action = match field("Action")?.as_str() {
        "run" => TestAction::Run,
        "pass" => TestAction::Pass,
        "fail" => TestAction::Fail,
        "skip" => TestAction::Skip,
        _ => return None,
    };
    Some((action, field("Test")?.clone()))
}

/// Just enough JSON for test2json's flat event objects.
mod json {
    /// The string-valued fields of a JSON object, decoded; other values are skipped.
    /// `None` when the text is not one well-formed object.
    pub(super) fn object_strings(text: &[u8]) -> Option<Vec<(String, String)>> {
        let mut p = Parser { text, pos: 0 };
        let mut fields = Vec::new();
        p.ws();
        p.expect(b'{')?;
        p.ws();
        if p.eat(b'}') {
            return p.at_end().then_some(fields);
        }
        loop {
            p.ws();
            let key = p.string()?;
            p.ws();
            p.expect(b':')?;
            p.ws();
            if p.peek() == Some(b'"') {
                fields.push((key, p.string()?));
            } else {
                p.skip_value()?;
            }
            p.ws();
            if p.eat(b',') {
                continue;
            }
            p.expect(b'}')?;
            return p.at_end().then_some(fields);
        }
    }

    struct Parser<'a> {
        text: &'a [u8],
        pos: usize,
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.text.get(self.pos).copied()
        }

        fn next(&mut self) -> Option<u8> {
            let b = self.peek()?;
            self.pos += 1;
            Some(b)
        }

        fn eat(&mut self, b: u8) -> bool {
            let hit = self.peek() == Some(b);
            if hit {
                self.pos += 1;
            }
            hit
        }

        fn expect(&mut self, b: u8) -> Option<()> {
            self.eat(b).then_some(())
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.pos += 1;
            }
        }

        fn at_end(&mut self) -> bool {
            self.ws();
            self.pos == self.text.len()
        }

        fn hex4(&mut self) -> Option<u32> {
            let digits = self.text.get(self.pos..self.pos + 4)?;
            self.pos += 4;
            u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
        }

        fn string(&mut self) -> Option<String> {
            self.expect(b'"')?;
            let mut out = Vec::new();
            loop {
                match self.next()? {
                    b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                    b'\\' => {
                        let c = match self.next()? {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => self.unicode_escape()?,
                            _ => return None,
                        };
                        let mut buf = [0; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    b => out.push(b),
                }
            }
        }

        /// After `\u`: one code unit, or a surrogate pair; lone surrogates become U+FFFD
        /// as in Go's decoder.
        fn unicode_escape(&mut self) -> Option<char> {
            let first = self.hex4()?;
            if !(0xd800..0xdc00).contains(&first) {
                return Some(char::from_u32(first).unwrap_or('\u{fffd}'));
            }
            let save = self.pos;
            if self.eat(b'\\') && self.eat(b'u') {
                let second = self.hex4()?;
                if (0xdc00..0xe000).contains(&second) {
                    let c = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
                    return Some(char::from_u32(c).unwrap_or('\u{fffd}'));
                }
            }
            self.pos = save;
            Some('\u{fffd}')
        }

        /// Any value but a string at the top: numbers, literals, nested objects and arrays.
        fn skip_value(&mut self) -> Option<()> {
            let mut depth = 0usize;
            loop {
                match self.peek()? {
                    b'"' => {
                        self.string()?;
                    }
                    b'{' | b'[' => {
                        depth += 1;
                        self.pos += 1;
                    }
                    b'}' | b']' if depth == 0 => return Some(()),
                    b'}' | b']' => {
                        depth -= 1;
                        self.pos += 1;
                    }
                    b',' if depth == 0 => return Some(()),
                    _ => self.pos += 1,
                }
            }
        }
    }
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
        assert_eq!(test_events(out)[2].line, 3);
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

    #[test]
    fn json_events() {
        let out = br#"{"Time":"2024-01-01T00:00:00Z","Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"run","Package":"p","Elapsed":0.5,"Nested":{"a":[1,"}"]},"Test":"TestA/\u00e9\ud83d\ude00\"q\""}
{"Action":"skip","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p"}
{"Action":"run","Test":"TestBad"
"#;
        assert_eq!(
            events(out),
            [
                run("TestA"),
                run("TestA/é😀\"q\""),
                (TestAction::Skip, "TestA".into())
            ]
        );
    }

    #[test]
    fn json_edge_cases() {
        assert_eq!(json::object_strings(b"{}"), Some(vec![]));
        assert_eq!(
            json::object_strings(br#"{"a":"\ud800x"}"#),
            Some(vec![("a".into(), "\u{fffd}x".into())])
        );
        assert_eq!(json::object_strings(br#"{"a":"x"} trailing"#), None);
        assert_eq!(json::object_strings(br#"{"a":"\q"}"#), None);
        assert_eq!(json::object_strings(br#"{"a":[1,2}"#), None);
        assert_eq!(json::object_strings(b"{\"a\":\"\\u12\"}"), None);
    }
}
