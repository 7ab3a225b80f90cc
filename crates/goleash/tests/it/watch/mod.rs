//! `goleash watch`, `report` and `demo` end to end: the real binary against real Go
//! services (fixtures/go/watch/watchsvc) and against its own simulated ones.

mod browser;
mod evidence;
mod history;
mod kill;
mod live;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::go::{scratch, toolchain, wait};
use crate::support::service::Service;

/// Trend windows compressed from minutes to seconds, so that a leak can be called in about
/// 20 s: 2 s warm-up, then six 3 s cool-down windows.
pub const COMPRESSED: [&str; 6] = ["--interval", "250ms", "--warmup", "2s", "--cooldown", "3s"];

pub fn goleash() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_goleash"));
    command.env("NO_COLOR", "1");
    command
}

/// watchsvc's arguments for a healthy service under a burst every second of up to 200
/// concurrent requests, growing and shrinking over 10 s: a count that swings hard and
/// never rises.
pub const BURSTY_LOAD: [&str; 8] = [
    "-load",
    "bursty",
    "-burst-max",
    "200",
    "-burst-period",
    "1s",
    "-cycle",
    "10s",
];

/// The fixture service, built once per test run with Go 1.27.
pub fn watchsvc(args: &[&str]) -> Service {
    let binary = toolchain("1.27").fixtures().binary("watch/watchsvc");
    Service::start_with(&binary, args, &[])
}

/// A fresh directory for one test's files.
pub fn workdir(name: &str) -> PathBuf {
    let dir = scratch(name);
    std::fs::create_dir_all(&dir).expect("create the test dir");
    dir
}

/// A `goleash watch --format json` running in the background, its events collected as
/// they are printed.
pub struct Watch {
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
    reader: Option<JoinHandle<()>>,
    stderr: PathBuf,
}

impl Watch {
    pub fn start(db: &Path, args: &[&str]) -> Watch {
        let stderr = scratch("watch-stderr");
        let mut child = goleash()
            .arg("watch")
            .arg("--format")
            .arg("json")
            .arg("--db")
            .arg(db)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("create the stderr file"))
            .spawn()
            .expect("start goleash watch");
        let stdout = child.stdout.take().expect("stdout is piped");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("watch printed a line that is not JSON ({e}): {line}")
                });
                sink.lock().unwrap().push(event);
            }
        });
        Watch {
            child,
            events,
            reader: Some(reader),
            stderr,
        }
    }

    /// Ctrl-C: the watch ends its session and prints its summary.
    pub fn interrupt(&self) {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// The first event `matches` accepts, waiting up to `timeout` for it.
    pub fn wait_for(&self, timeout: Duration, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| matches(e)) {
                return Some(e);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }

    /// Waits for the watch to end by itself (its --duration); returns the exit code and
    /// every event.
    pub fn finish(mut self, timeout: Duration) -> (i32, Vec<Value>) {
        let status = wait(&mut self.child, timeout).unwrap_or_else(|| {
            panic!(
                "goleash watch did not end within {timeout:?}; stderr:\n{}",
                self.stderr()
            )
        });
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the event reader");
        }
        (status.code().unwrap_or(-1), self.events())
    }

    /// Kills the watch with SIGKILL, as a crash or the OOM killer would; returns the
    /// events it printed before it died.
    pub fn kill(mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the event reader");
        }
        self.events()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// The events of one kind.
pub fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The line of `fixtures/go/watch/watchsvc/main.go` that carries `marker`.
pub fn watchsvc_line(marker: &str) -> u64 {
    watchsvc_line_in("main.go", marker)
}

/// The line of `file` of `fixtures/go/watch/watchsvc` that carries `marker`.
pub fn watchsvc_line_in(file: &str, marker: &str) -> u64 {
    let source = crate::support::go::fixtures_dir()
        .join("watch/watchsvc")
        .join(file);
    let text = std::fs::read_to_string(&source).expect("read watchsvc's source");
    text.lines()
        .position(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker:?} in {}", source.display())) as u64
        + 1
}
