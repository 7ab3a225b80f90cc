//! Where dumps come from: files, standard input, or a live service over HTTP.

use std::fmt;
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use goleash_core::{Capture, ParseError, ReadOptions, Snapshot};

use crate::cli::HttpArgs;

use crate::collect::{self, Client};

/// One input named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-`, or no argument).
    Stdin,
    /// A file.
    File(PathBuf),
    /// A live service (`http://host:port`, its pprof base or a profile URL).
    Url(String),
}

impl Input {
    /// Reads a command-line argument.
    pub fn from_arg(arg: &str) -> Input {
        if arg == "-" {
            Input::Stdin
        } else if collect::is_url(arg) {
            Input::Url(arg.to_string())
        } else {
            Input::File(PathBuf::from(arg))
        }
    }

    /// The arguments, or stdin when there are none.
    pub fn from_args(args: &[String]) -> Result<Vec<Input>> {
        if args.is_empty() {
            if io::stdin().is_terminal() {
                bail!(
                    "no input: give a dump file, `-` for standard input, or a service URL like http://127.0.0.1:6060"
                );
            }
            return Ok(vec![Input::Stdin]);
        }
        Ok(args.iter().map(|a| Input::from_arg(a)).collect())
    }

    /// How the input is named in messages.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "stdin".into(),
            Input::File(path) => path.display().to_string(),
            Input::Url(url) => url.clone(),
        }
    }
}

/// Where text around the dumps of a piped stream goes: it is passed through as it arrives,
/// so `go test` output reads as it would without goleash; to stderr when stdout carries
/// JSON, to keep that parseable.
pub fn passthrough(json_on_stdout: bool) -> Box<dyn Write> {
    if json_on_stdout {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    }
}

/// Copying the text around the dumps failed: the output is broken, not the input, so a
/// command stops instead of going on to its next input. A closed pipe (`goleash | head`) is
/// still a quiet success: the cause stays in the error's chain for `main` to find.
#[derive(Debug)]
pub struct PassthroughFailed {
    input: String,
}

impl fmt::Display for PassthroughFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "copying the text around the dumps of {} failed (--quiet turns the copying off)",
            self.input
        )
    }
}

impl PassthroughFailed {
    /// Whether `error` is one.
    pub fn is(error: &anyhow::Error) -> bool {
        error.downcast_ref::<PassthroughFailed>().is_some()
    }
}

/// A full debug=2 dump of a live service. `goroutineleak?debug=2` is the same dump with the
/// runtime's `(leaked)` proof on the goroutines it found leaked, so it is asked for first
/// when allowed; services without it answer 404 and get the plain goroutine profile.
pub fn fetch_dump(client: &Client, url: &str, leak_profile: bool) -> Result<Vec<u8>> {
    let names_a_profile = url.contains("/debug/pprof/") && url.contains("debug=");
    if leak_profile && !names_a_profile {
        let leak_url = collect::profile_url(url, "goroutineleak", 2);
        match client.get(&leak_url) {
            Ok(body) => return Ok(body),
            Err(e) if matches!(e.kind, collect::FetchErrorKind::Status(404)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(client.get(&collect::profile_url(url, "goroutine", 2))?)
}

/// Reads an input that should hold one snapshot; when it holds several, the last is used.
pub fn read_snapshot(input: &Input, options: &ReadOptions, http: &HttpArgs) -> Result<Capture> {
    let capture = read(input, options, &http.client(), None, http.leak_profile())?;
    if capture.snapshots.is_empty() {
        bail!(
            "{}: no goroutine dump in it (only race reports)",
            input.name()
        );
    }
    if capture.snapshots.len() > 1 {
        eprintln!(
            "goleash: note: {} holds {} dumps; comparing the last",
            input.name(),
            capture.snapshots.len()
        );
    }
    Ok(capture)
}

/// The snapshot [`read_snapshot`] reads: the last of its input.
pub fn last(capture: &Capture) -> &Snapshot {
    capture
        .snapshots
        .last()
        .expect("read_snapshot checked that there is one")
}

/// Reads and groups one input. `passthrough` gets the lines that are not part of a dump;
/// when writing them fails, the error is a [`PassthroughFailed`].
pub fn read(
    input: &Input,
    options: &ReadOptions,
    client: &Client,
    passthrough: Option<goleash_core::Passthrough<'_>>,
    leak_profile: bool,
) -> Result<Capture> {
    let name = input.name();
    let mut go_test = GoTestOutput::default();
    let result = match input {
        Input::Stdin => goleash_core::read(
            GoTestSniffer::new(io::stdin().lock(), &mut go_test),
            options,
            passthrough,
        ),
        Input::File(path) => {
            let file = File::open(path).with_context(|| {
                let text = path.display().to_string();
                if !path.exists() && text.contains(':') && !text.contains('/') {
                    format!("cannot open {text}\n  hint: to read from a live service, give its URL: http://{text}")
                } else {
                    format!("cannot open {text}")
                }
            })?;
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let reader = crate::progress::Progress::wrap(file, &name, size);
            goleash_core::read(
                GoTestSniffer::new(reader, &mut go_test),
                options,
                passthrough,
            )
        }
        Input::Url(url) => {
            let body = fetch_dump(client, url, leak_profile)?;
            goleash_core::read(&body[..], options, passthrough)
        }
    };
    match result {
        Ok(capture) => Ok(capture),
        // Tests that pass print no dump; that is no leak, and no reason to break the pipe
        // `go test ./... 2>&1 | goleash check` advertises. When go test failed, the pipe has
        // hidden its exit status, so the error stays and the build still fails.
        Err(ParseError::NoDump { .. }) if go_test.seen && !go_test.failed => {
            eprintln!(
                "goleash: {name}: go test output with no goroutine dump in it: no leak to report"
            );
            Ok(Capture::default())
        }
        Err(e @ ParseError::NoDump { .. }) if go_test.failed => {
            Err(anyhow::Error::new(e).context(format!(
                "reading {name}: go test failed (FAIL), and printed no goroutine dump to judge"
            )))
        }
        Err(ParseError::Sink(e)) => {
            Err(anyhow::Error::new(e).context(PassthroughFailed { input: name }))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {name}"))),
    }
}

/// What [`GoTestSniffer`] saw of `go test`'s own lines.
#[derive(Debug, Default)]
struct GoTestOutput {
    /// A result line: `ok  \tpkg`, `FAIL\tpkg`, `--- PASS:`, `=== RUN` …
    seen: bool,
    /// A failure: `FAIL`, `FAIL\tpkg`, `--- FAIL:`.
    failed: bool,
}

/// Longest line prefix kept to recognise `go test`'s lines; the rest of a line is skipped.
const SNIFF_PREFIX: usize = 64;

/// Passes bytes through unchanged while looking at the start of each line for the result
/// lines of `go test` (also `-v`, and several packages), with bounded memory.
struct GoTestSniffer<'o, R> {
    inner: R,
    line: Vec<u8>,
    output: &'o mut GoTestOutput,
}

impl<'o, R> GoTestSniffer<'o, R> {
    fn new(inner: R, output: &'o mut GoTestOutput) -> Self {
        GoTestSniffer {
            inner,
            line: Vec::with_capacity(SNIFF_PREFIX),
            output,
        }
    }

    fn end_line(&mut self) {
        let line = self.line.trim_ascii_end();
        let failed =
            line == b"FAIL" || line.starts_with(b"FAIL\t") || line.starts_with(b"--- FAIL: ");
        let passed = line == b"PASS"
            || line.starts_with(b"ok  \t")
            || line.starts_with(b"?   \t")
            || line.starts_with(b"--- PASS: ")
            || line.starts_with(b"--- SKIP: ")
            || line.starts_with(b"=== RUN   ");
        self.output.seen |= failed || passed;
        self.output.failed |= failed;
        self.line.clear();
    }
}

impl<R: io::Read> io::Read for GoTestSniffer<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            if byte == b'\n' {
                self.end_line();
            } else if self.line.len() < SNIFF_PREFIX {
                self.line.push(byte);
            }
        }
        if n == 0 && !self.line.is_empty() {
            self.end_line();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sniff(text: &[u8]) -> GoTestOutput {
        let mut output = GoTestOutput::default();
        let mut copy = Vec::new();
        // A small buffer, so that lines are split across reads.
        let mut reader = io::BufReader::with_capacity(3, GoTestSniffer::new(text, &mut output));
        reader.read_to_end(&mut copy).expect("read");
        assert_eq!(copy, text, "the bytes pass unchanged");
        drop(reader);
        output
    }

    #[test]
    fn go_test_result_lines_are_recognised_and_failures_told_apart() {
        let stored = include_bytes!("../../../tests/data/go1.27/realworld/go_test_v_passing.txt");
        let passing = sniff(stored);
        assert!(passing.seen && !passing.failed);

        let failing = sniff(b"=== RUN   TestX\n--- FAIL: TestX (0.00s)\nFAIL\nFAIL\tpkg\t0.01s");
        assert!(failing.seen && failing.failed);

        // A log line that merely mentions a result is not one, however long the line.
        let mut log = b"2026/12/02 level=info msg=\"ok  \tpkg\" FAIL ".to_vec();
        log.extend(std::iter::repeat_n(b'x', 10_000));
        let other = sniff(&log);
        assert!(!other.seen && !other.failed);
    }
}
