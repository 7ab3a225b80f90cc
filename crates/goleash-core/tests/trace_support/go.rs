//! Builds and runs the Go fixtures under `fixtures/go` with the toolchains that
//! `scripts/toolchains.sh` installs, and reads traces with Go's own reader for comparison.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use goleash_core::trace::{TestAction, TestEvent};

/// The releases the fixtures run with: the first of the v2 format and the ones where it
/// changed (1.23 coroutines and status stacks, 1.25 sync batches, 1.26 generation markers,
/// written by 1.27).
pub const VERSIONS: [&str; 4] = ["1.22.10", "1.23.9", "1.25.5", "1.27.3"];

/// The release whose `go tool trace` reads every trace for comparison.
pub const READER_VERSION: &str = "1.27.3";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The minor version: 22 for "1.22.10".
pub fn minor(version: &str) -> u32 {
    version.split('.').nth(1).unwrap().parse().unwrap()
}

/// The `go` binary of a release. Fails, never skips, when it is missing: these tests are
/// the only check that real traces parse.
pub fn go(version: &str) -> PathBuf {
    let dir = std::env::var_os("GOLEASH_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".toolchains"));
    let go = dir.join(format!("go-{version}/bin/go"));
    assert!(
        go.is_file(),
        "Go {version} is not installed at {}: run scripts/toolchains.sh, or set \
         GOLEASH_TOOLCHAINS to a directory holding go-{version}/bin/go",
        go.display()
    );
    go
}

/// A `go` command that stays off the network and out of the user's caches.
fn go_command(version: &str) -> Command {
    let mut cmd = Command::new(go(version));
    cmd.env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOSUMDB", "off")
        // Only the fixture that calls from C threads needs cgo (and a C compiler).
        .env("CGO_ENABLED", "0");
    for (var, dir) in [("GOCACHE", "cache"), ("GOPATH", "path")] {
        if std::env::var_os(var).is_none() {
            cmd.env(var, workspace().join("target/go").join(dir));
        }
    }
    cmd
}

/// Where builds and traces go: under `target/`.
pub fn out_dir(version: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("goleash-trace")
        .join(version);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Builds the test binary of `fixtures/go/<package>` with Go `version`, once per test
/// process; with cgo for `tracecgo`.
pub fn build(version: &str, package: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let binary = out_dir(version).join(format!("{package}.test"));
    let key = (version.to_string(), package.to_string());
    if built.contains(&key) {
        return binary;
    }
    let mut cmd = go_command(version);
    if package == "tracecgo" {
        cmd.env("CGO_ENABLED", "1");
    }
    let output = cmd
        .args(["test", "-c", "-o"])
        .arg(&binary)
        .arg(".")
        .current_dir(workspace().join("fixtures/go").join(package))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "go test -c of {package} with Go {version} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    built.push(key);
    binary
}

/// A run of a fixture's test binary.
pub struct Run {
    pub trace_path: PathBuf,
    pub trace: Vec<u8>,
    /// Standard output: the `-test.v` report.
    pub output: Vec<u8>,
    pub success: bool,
}

/// Runs a test binary with `-test.trace` and `args`; `name` names the trace file.
pub fn run(binary: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let trace_path = binary.with_file_name(format!("{name}.trace"));
    let output = Command::new(binary)
        .arg(format!("-test.trace={}", trace_path.display()))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(binary.parent().unwrap())
        .output()
        .unwrap();
    let trace = std::fs::read(&trace_path).unwrap_or_else(|e| {
        panic!(
            "{name} wrote no trace ({e}):\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Run {
        trace_path,
        trace,
        output: output.stdout,
        success: output.status.success(),
    }
}

/// Converts `-test.v=test2json` output to JSON events with `go tool test2json`.
pub fn test2json(version: &str, framed: &[u8]) -> Vec<u8> {
    let mut child = go_command(version)
        .args(["tool", "test2json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let framed = framed.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &framed));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success());
    output.stdout
}

/// The test events of `go test -json` output, decoded as `goleash test` decodes them: the
/// `run`, `pass`, `fail` and `skip` events that name a test.
pub fn json_events(json: &[u8]) -> Vec<TestEvent> {
    json.split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter_map(|event| {
            let action = match event.get("Action")?.as_str()? {
                "run" => TestAction::Run,
                "pass" => TestAction::Pass,
                "fail" => TestAction::Fail,
                "skip" => TestAction::Skip,
                _ => return None,
            };
            let name = event.get("Test")?.as_str()?.to_string();
            Some(TestEvent { action, name })
        })
        .collect()
}

/// A frame as Go's reader prints it.
pub type GoFrame = (String, u32);

/// What Go's reader says about one goroutine.
#[derive(Debug, Default)]
pub struct GoGoroutine {
    /// `Undetermined` (existed before the trace) or `NotExist` (created in it).
    pub first_from: String,
    /// The goroutine running when it was created, for created ones (-1: none).
    pub creator: Option<i64>,
    pub start_stack: Vec<GoFrame>,
    pub creation_stack: Vec<GoFrame>,
    /// The last transition that changed its state (statuses that repeat the state at a
    /// generation boundary are not changes).
    pub last_to: String,
    pub last_reason: String,
    pub last_stack: Vec<GoFrame>,
}

#[derive(Default)]
struct Pending {
    context_g: i64,
    goid: u64,
    from: String,
    to: String,
    reason: String,
    transition_stack: Vec<GoFrame>,
    stack: Vec<GoFrame>,
}

/// Reads a trace with `go tool trace -d=parsed` of Go [`READER_VERSION`] and folds its
/// goroutine state transitions into one record per goroutine. The output is large (stacks
/// are printed in full for every event), so it is read as it streams.
pub fn go_reader(trace: &Path) -> HashMap<u64, GoGoroutine> {
    let mut child = go_command(READER_VERSION)
        .args(["tool", "trace", "-d=parsed"])
        .arg(trace)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut goroutines: HashMap<u64, GoGoroutine> = HashMap::new();
    let mut pending: Option<Pending> = None;
    // Which stack the frame lines belong to: 1 the transition's, 2 the event's.
    let mut section = 0;
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let finish = |p: Pending, goroutines: &mut HashMap<u64, GoGoroutine>| {
        let g = goroutines.entry(p.goid).or_default();
        if g.first_from.is_empty() {
            g.first_from = p.from.clone();
            if p.from == "NotExist" {
                g.creator = Some(p.context_g);
                g.start_stack = p.transition_stack.clone();
                g.creation_stack = p.stack.clone();
            }
        }
        if p.from != p.to {
            g.last_to = p.to;
            g.last_reason = p.reason;
            g.last_stack = p.transition_stack;
        }
    };
    for line in lines {
        let line = line.unwrap();
        if line.starts_with("M=") {
            if let Some(p) = pending.take() {
                finish(p, &mut goroutines);
            }
            section = 0;
            if line.contains(" StateTransition ") && line.contains(" GoID=") {
                pending = Some(parse_transition(&line));
            }
        } else if line == "TransitionStack=" {
            section = 1;
        } else if line == "Stack=" {
            section = 2;
        } else if let Some(p) = pending.as_mut() {
            let stack = match section {
                1 => &mut p.transition_stack,
                2 => &mut p.stack,
                _ => continue,
            };
            if let Some(file_line) = line.strip_prefix("\t\t") {
                let line_no = file_line.rsplit(':').next().unwrap().parse().unwrap();
                stack.last_mut().unwrap().1 = line_no;
            } else if let Some(frame) = line.strip_prefix('\t') {
                let function = frame.rsplit_once(" @ ").unwrap().0;
                stack.push((function.to_string(), 0));
            }
        }
    }
    if let Some(p) = pending.take() {
        finish(p, &mut goroutines);
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "Go's reader failed on {}:\n{}",
        trace.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    goroutines
}

/// `M=1 P=0 G=7 StateTransition Time=123 GoID=9 Running->Waiting Reason="chan receive"`
fn parse_transition(line: &str) -> Pending {
    let field = |name: &str| {
        line.split(' ')
            .find_map(|w| w.strip_prefix(name))
            .unwrap()
            .to_string()
    };
    let (from, to) = line
        .split(' ')
        .find_map(|w| w.split_once("->"))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap();
    let reason = line.split_once(" Reason=").unwrap().1;
    Pending {
        context_g: field("G=").parse().unwrap(),
        goid: field("GoID=").parse().unwrap(),
        from,
        to,
        // Reasons are plain words, quoted with %q.
        reason: reason.trim_matches('"').replace("\\\"", "\""),
        ..Pending::default()
    }
}
