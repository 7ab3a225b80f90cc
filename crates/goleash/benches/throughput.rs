//! Parse + group throughput on large dumps, with `grep -c '^goroutine '` on the same bytes
//! timed in the same run as the baseline, and the peak memory of `goleash` reading the dump
//! from a pipe.
//!
//! The dumps are made by replicating the goroutines of real captures of the leakysvc fixture
//! under Go 1.27.3 (its `?debug=2` dump, and its SIGQUIT dump with `GOTRACEBACK=crash`:
//! runtime goroutines, `gp=` headers, `fp= sp= pc=` frames) with fresh goroutine ids until
//! they reach the target size.
//!
//! ```text
//! cargo bench --bench throughput                # 256 MiB dumps
//! GOLEASH_BENCH_MB=1024 cargo bench --bench throughput
//! ```

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/dumps.rs"]
mod dumps;

struct Source {
    name: &'static str,
    file: &'static str,
}

const SOURCES: &[Source] = &[
    Source {
        name: "debug=2 (level-1 traceback)",
        file: "tests/data/go1.27/leakysvc/goroutine_debug2.txt",
    },
    Source {
        name: "SIGQUIT (level-2 traceback)",
        file: "tests/data/go1.27/leakysvc-crash/sigquit.stderr.txt",
    },
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a shell command and returns its wall time and stdout.
fn run(shell: &str) -> (Duration, String) {
    let start = Instant::now();
    let output = Command::new("bash")
        .arg("-c")
        .arg(shell)
        .stderr(Stdio::inherit())
        .output()
        .expect("run");
    let elapsed = start.elapsed();
    assert!(output.status.success(), "{shell} failed");
    (
        elapsed,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// What one run of a command cost.
#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    /// User and system CPU time of the measured process alone.
    cpu: Duration,
    /// Its peak resident set, in KiB.
    rss_kib: u64,
}

/// Runs `program args` with `stdin` and stdout to `out`, reaping it with `wait4` for its own
/// resource usage (a feeding `cat` is not counted); returns the cost and stdout.
// std's `Child::wait` cannot replace `wait4`: only it returns the child's resource usage.
#[allow(clippy::zombie_processes)]
fn measure(program: &str, args: &[&str], stdin: Stdio, out: &Path) -> (Cost, String) {
    let start = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdin(stdin)
        .stdout(File::create(out).unwrap())
        .spawn()
        .expect("spawn the measured command");
    let mut status = 0;
    // SAFETY: wait4 writes the exit status and resource usage of our own child into the
    // values given; std's Child is not waited on afterwards.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage);
        usage
    };
    let wall = start.elapsed();
    // goleash exits 1 when it finds leaks, which replicated leaky goroutines are, and grep
    // with 1 when nothing matches; 2 is an error for both.
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) <= 1,
        "{program} failed"
    );
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cost = Cost {
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        rss_kib: usage.ru_maxrss as u64,
    };
    (cost, std::fs::read_to_string(out).unwrap())
}

/// `cat FILE | goleash inspect --format json -`.
fn run_goleash(goleash: &str, path: &Path, out: &Path) -> (Cost, String) {
    let mut cat = Command::new("cat")
        .arg(path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("cat");
    let stdin = Stdio::from(cat.stdout.take().unwrap());
    let result = measure(
        goleash,
        &["inspect", "--format", "json", "--quiet", "-"],
        stdin,
        out,
    );
    cat.wait().unwrap();
    result
}

/// `grep -c '^goroutine ' FILE`.
fn run_grep(path: &Path, out: &Path) -> (Cost, String) {
    measure(
        "grep",
        &["-c", "^goroutine ", path.to_str().unwrap()],
        Stdio::null(),
        out,
    )
}

fn best_of<T>(n: usize, mut f: impl FnMut() -> (Cost, T)) -> (Cost, T) {
    let mut best = f();
    for _ in 1..n {
        let next = f();
        if next.0.wall < best.0.wall {
            best = next;
        }
    }
    best
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let mb: u64 = std::env::var("GOLEASH_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let runs: usize = std::env::var("GOLEASH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = workspace().join("target/bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let goleash = env!("CARGO_BIN_EXE_goleash");
    println!("goleash parse + group throughput, {mb} MiB dumps, best of {runs} runs");
    println!(
        "{:<28} {:>10} {:>19} {:>19} {:>12} {:>13} {:>8}",
        "dump",
        "goroutines",
        "grep -c wall/cpu",
        "goleash wall/cpu",
        "ratio w/cpu",
        "goroutines/s",
        "peak RSS"
    );
    let out = dir.join("measured-output");
    for source in SOURCES {
        let stem = source
            .file
            .trim_start_matches("tests/data/")
            .replace('/', "-");
        let path = dir.join(format!("{}-{mb}MiB.txt", stem.trim_end_matches(".txt")));
        let (bytes, goroutines) = if path.exists() {
            let (_, count) = run_grep(&path, &out);
            (
                std::fs::metadata(&path).unwrap().len(),
                count.trim().parse().unwrap(),
            )
        } else {
            dumps::replicate(&workspace().join(source.file), mb << 20, &path)
        };
        // Warm the page cache so both sides read from memory.
        run(&format!("cat {} > /dev/null", path.display()));
        let (grep, grep_out) = best_of(runs, || run_grep(&path, &out));
        assert_eq!(grep_out.trim().parse::<u64>().unwrap(), goroutines);
        let (goleash_cost, json) = best_of(runs, || run_goleash(goleash, &path, &out));
        let json: serde_json::Value = serde_json::from_str(&json).expect("goleash JSON");
        assert_eq!(
            json["goroutines"].as_u64(),
            Some(goroutines),
            "goleash counted every goroutine"
        );
        let rate = |d: Duration| mb_per_s(bytes, d);
        println!(
            "{:<28} {:>10} {:>6.0}/{:>5.0} MB/s {:>6.0}/{:>5.0} MB/s {:>5.2}x/{:>5.2}x {:>13.0} {:>4} MiB",
            source.name,
            goroutines,
            rate(grep.wall),
            rate(grep.cpu),
            rate(goleash_cost.wall),
            rate(goleash_cost.cpu),
            goleash_cost.wall.as_secs_f64() / grep.wall.as_secs_f64(),
            goleash_cost.cpu.as_secs_f64() / grep.cpu.as_secs_f64(),
            goroutines as f64 / goleash_cost.wall.as_secs_f64(),
            goleash_cost.rss_kib / 1024,
        );
    }
    println!(
        "(wall: elapsed; cpu: the process's own user+system time, which other load on the \
         machine disturbs far less; ratio: goleash / grep; peak RSS: goleash's own, reading \
         from the pipe)"
    );
}
