//! What `goleash test` adds to the wall time of `go test` on the same packages: the
//! execution trace the test binaries write, reading it, and the JSON stream goleash
//! follows. Both commands run the same already-built test binaries (`-count=1`, so
//! neither is served from the test cache), alternating, their order swapped every round
//! so that drift on a shared machine hits both alike.
//!
//! ```text
//! source scripts/env.sh
//! cargo bench --bench gotest_overhead                  # std packages below, Go 1.27, 3 rounds
//! cargo bench --bench gotest_overhead -- --rounds 5 --go /usr/local/go/bin/go \
//!     --dir ~/src/myservice ./... -- -short
//! ```
//!
//! Prints each round's wall times, then the medians and the overhead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Standard library packages whose tests start goroutines, servers and clients, and that
/// pass under goleash test (`os/signal` does not: one of its tests takes its own trace).
const DEFAULT_PACKAGES: &[&str] = &[
    "bufio",
    "context",
    "sync",
    "io",
    "encoding/json",
    "log/slog",
    "database/sql",
    "mime/multipart",
    "net/rpc",
    "net/http/httptest",
    "net/http/httputil",
    "net/http",
    "crypto/tls",
    "os/exec",
];

struct Options {
    go: PathBuf,
    dir: PathBuf,
    rounds: usize,
    packages: Vec<String>,
    flags: Vec<String>,
}

fn default_go() -> PathBuf {
    let dir = std::env::var_os("GOLEASH_TOOLCHAINS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.toolchains"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("go-1.27"))
        })
        .map(|p| p.join("bin/go"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| PathBuf::from("go"))
}

fn options() -> Options {
    let mut options = Options {
        go: default_go(),
        dir: std::env::temp_dir(),
        rounds: 3,
        packages: Vec::new(),
        flags: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            "--go" => options.go = PathBuf::from(args.next().expect("--go PATH")),
            "--dir" => options.dir = PathBuf::from(args.next().expect("--dir DIR")),
            "--rounds" => {
                options.rounds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--rounds N")
            }
            "--" => {
                // cargo bench appends its `--bench` after everything, these flags included.
                options.flags = args.by_ref().filter(|a| a != "--bench").collect();
            }
            _ => options.packages.push(arg),
        }
    }
    if options.packages.is_empty() {
        options.packages = DEFAULT_PACKAGES.iter().map(|s| s.to_string()).collect();
        if options.flags.is_empty() {
            options.flags = vec!["-short".to_string()];
        }
    }
    options
}

/// Runs a command to its end, output discarded; its wall time and exit code.
fn time(command: &mut Command) -> (Duration, Option<i32>) {
    let start = Instant::now();
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    (start.elapsed(), status.code())
}

fn go_test(options: &Options) -> Command {
    let mut command = Command::new(&options.go);
    command
        .current_dir(&options.dir)
        .args(["test", "-count=1"])
        .args(&options.packages)
        .args(&options.flags);
    command
}

fn goleash_test(options: &Options) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_goleash"));
    command
        .current_dir(&options.dir)
        .arg("test")
        .arg("--go")
        .arg(&options.go)
        .args(&options.packages)
        .arg("--")
        .args(&options.flags);
    command
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn main() {
    let options = options();
    let version = Command::new(&options.go)
        .args(["env", "GOVERSION"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{version} on {cores} cores, in {}: go test -count=1 {} {}",
        options.dir.display(),
        options.packages.join(" "),
        options.flags.join(" ")
    );
    // Builds the test binaries once; both commands then run the same ones.
    let (warm, go_code) = time(&mut go_test(&options));
    assert!(
        matches!(go_code, Some(0 | 1)),
        "go test could not run (exit status {go_code:?}): check the packages and flags"
    );
    let (_, code) = time(&mut goleash_test(&options));
    println!(
        "warm-up: {:.1} s (goleash test exit status {code:?})",
        warm.as_secs_f64()
    );
    println!(
        "{:>5}  {:>12}  {:>16}",
        "round", "go test (s)", "goleash test (s)"
    );
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    for round in 1..=options.rounds {
        let (p, t) = if round % 2 == 1 {
            let p = time(&mut go_test(&options)).0;
            (p, time(&mut goleash_test(&options)).0)
        } else {
            let t = time(&mut goleash_test(&options)).0;
            (time(&mut go_test(&options)).0, t)
        };
        println!(
            "{round:>5}  {:>12.2}  {:>16.2}",
            p.as_secs_f64(),
            t.as_secs_f64()
        );
        plain.push(p.as_secs_f64());
        traced.push(t.as_secs_f64());
    }
    let (p, t) = (median(plain), median(traced));
    println!(
        "median: go test {p:.2} s, goleash test {t:.2} s: goleash test adds {:+.1} %",
        (t / p - 1.0) * 100.0
    );
}
