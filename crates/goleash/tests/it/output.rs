//! When the output goes away: a closed pipe (`goleash … | head -1`) is a quiet success, and
//! stops the reading of what would only be copied to it; any other write error is reported,
//! with exit status 2.

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::go::workspace;

const DUMP: &str = "tests/data/go1.27/leakysvc/goroutine_debug2.txt";

fn goleash(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_goleash"));
    command
        .current_dir(workspace())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for the child, killing it after `limit`.
fn wait(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().expect("wait for goleash").is_none() {
        if start.elapsed() > limit {
            child.kill().expect("kill goleash");
            panic!("goleash still ran after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("goleash's output")
}

#[test]
fn a_closed_pipe_is_a_quiet_success() {
    let mut child = goleash(&["inspect", DUMP]).spawn().expect("start goleash");
    // Closed before goleash has read the dump, so writing the report fails.
    drop(child.stdout.take());
    let output = wait(child, Duration::from_secs(60));
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// `yes 'some text' | goleash | head -1` used to run forever: what was copied to the closed
/// pipe was dropped, and the endless input read on.
#[test]
fn a_closed_pipe_stops_the_reading_of_text_that_would_be_copied_to_it() {
    let mut child = goleash(&[])
        .stdin(Stdio::piped())
        .spawn()
        .expect("start goleash");
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || {
        let lines = b"=== RUN   TestX\n".repeat(1000);
        // Until goleash exits and closes its end.
        while stdin.write_all(&lines).is_ok() {}
    });
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    stdout
        .read_exact(&mut first)
        .expect("the first copied byte");
    drop(stdout);
    let output = wait(child, Duration::from_secs(60));
    feeder.join().expect("the feeder ends");
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_reported() {
    let full = || {
        File::options()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full")
    };
    let report = goleash(&["inspect", DUMP])
        .stdout(full())
        .output()
        .expect("run goleash");
    assert_eq!(report.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");

    let mut child = goleash(&["inspect", "-"])
        .stdin(Stdio::piped())
        .stdout(full())
        .spawn()
        .expect("start goleash");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"=== RUN   TestX\n").expect("feed goleash");
    drop(stdin);
    let copied = wait(child, Duration::from_secs(60));
    assert_eq!(copied.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&copied.stderr);
    assert!(
        stderr.contains("copying the text around the dumps of stdin failed")
            && stderr.contains("--quiet")
            && stderr.contains("No space left on device"),
        "{stderr}"
    );

    // With JSON on stdout the text goes to stderr; when that is full too, the error cannot
    // be told, but the exit status still tells it (it was a panic's 101).
    let mut child = goleash(&["inspect", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stderr(full())
        .spawn()
        .expect("start goleash");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"=== RUN   TestX\n").expect("feed goleash");
    drop(stdin);
    let untold = wait(child, Duration::from_secs(60));
    assert_eq!(untold.status.code(), Some(2));
}
