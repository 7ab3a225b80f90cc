//! What reading the program's source costs: `goleash inspect` of a 100k-goroutine dump
//! with its source at hand (`--source`: every blocked stack's file parsed with
//! tree-sitter-go, its exit conditions read), next to the same dump with `--no-source`,
//! timed in the same run, interleaved, best of N. The goal is under 2x.
//!
//! The dump repeats the goroutines of a fresh capture of `fixtures/go/exits` (built with the
//! Go 1.27.3 of `.toolchains/`, run once): goroutines blocked on every kind of way out, whose
//! source is `fixtures/go`.
//!
//! ```text
//! cargo bench --bench exits_cost                    # 100,000 goroutines, best of 3
//! GOLEASH_BENCH_GOROUTINES=1000000 GOLEASH_BENCH_RUNS=5 cargo bench --bench exits_cost
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/dumps.rs"]
mod dumps;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The wall time of `goleash inspect --format json ARGS DUMP`, output discarded.
fn time(binary: &Path, args: &[&str], dump: &Path) -> Duration {
    let start = Instant::now();
    let status = Command::new(binary)
        .args(["inspect", "--format", "json"])
        .args(args)
        .arg(dump)
        .current_dir(workspace())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run goleash");
    // 1: the replicated leaks are leaks.
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "goleash failed: {status}"
    );
    start.elapsed()
}

/// Builds and runs the exits fixture; returns its `?debug=2` capture.
fn fresh_capture() -> PathBuf {
    let toolchains = std::env::var_os("GOLEASH_TOOLCHAINS")
        .map_or_else(|| workspace().join(".toolchains"), PathBuf::from);
    let go = toolchains.join("go-1.27.3/bin/go");
    let dir = std::env::temp_dir().join(format!("goleash-exits-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("exits");
    let built = Command::new(&go)
        .args(["build", "-o"])
        .arg(&binary)
        .arg("./exits")
        .current_dir(workspace().join("fixtures/go"))
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run scripts/toolchains.sh",
                go.display()
            )
        });
    assert!(built.success(), "building fixtures/go/exits failed");
    let ran = Command::new(&binary)
        .arg("-out")
        .arg(&dir)
        .status()
        .expect("run the exits fixture");
    assert!(ran.success(), "the exits fixture failed");
    dir.join("after_debug2.txt")
}

fn main() {
    let goroutines = env_number("GOLEASH_BENCH_GOROUTINES", 100_000);
    let runs = env_number("GOLEASH_BENCH_RUNS", 3).max(1);
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_goleash"));
    let capture = fresh_capture();
    let per_goroutine = std::fs::metadata(&capture).unwrap().len()
        / dumps::records(&std::fs::read_to_string(&capture).unwrap()).len() as u64;
    let dump = std::env::temp_dir().join(format!("goleash-exits-{}.txt", std::process::id()));
    let (bytes, written) = dumps::replicate(&capture, goroutines * per_goroutine, &dump);
    let source = workspace().join("fixtures/go");
    let source = source.to_str().expect("a UTF-8 path");
    let (mut without, mut with) = (Duration::MAX, Duration::MAX);
    for _ in 0..runs {
        without = without.min(time(&binary, &["--no-source"], &dump));
        with = with.min(time(&binary, &["--source", source], &dump));
    }
    let _ = std::fs::remove_file(&dump);
    let _ = std::fs::remove_dir_all(capture.parent().expect("the capture's dir"));
    println!(
        "{written} goroutines ({:.0} MiB), best of {runs}: --no-source {:.3} s, --source {:.3} s: {:.2}x (goal: under 2x)",
        bytes as f64 / (1 << 20) as f64,
        without.as_secs_f64(),
        with.as_secs_f64(),
        with.as_secs_f64() / without.as_secs_f64()
    );
}
