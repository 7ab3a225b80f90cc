//! Can one `goleash watch` keep up with 1,000 services at a 10 s interval on this 2-core
//! machine? The services are `goleash demo --serve 1000`: simulated on loopback, each
//! serving /metrics and goroutine profiles replayed from a real Go 1.27 capture, with
//! bursty traffic (and a slow leak in one in ten). The watch's CPU time and peak memory
//! come from `wait4`; whether every service was sampled on time comes from its summary:
//! a sample is late when it started more than half an interval after it was due.
//!
//! ```text
//! cargo bench --bench watch_scale                          # 1,000 services, 120 s
//! GOLEASH_BENCH_TARGETS=2000 GOLEASH_BENCH_SECS=300 cargo bench --bench watch_scale
//! ```

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let n = support::env_or("GOLEASH_BENCH_TARGETS", 1000) as usize;
    let secs = support::env_or("GOLEASH_BENCH_SECS", 120);
    let interval = 10;
    let goleash = env!("CARGO_BIN_EXE_goleash");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("watch-scale");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();

    let mut served = Command::new(goleash)
        .args(["demo", "--serve", &n.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start goleash demo --serve");
    let urls: Vec<String> = BufReader::new(served.stdout.take().unwrap())
        .lines()
        .take(n)
        .map(Result::unwrap)
        .collect();
    let served = Served(served);
    assert_eq!(urls.len(), n);
    let targets = scratch.join("targets.txt");
    std::fs::File::create(&targets)
        .unwrap()
        .write_all(urls.join("\n").as_bytes())
        .unwrap();

    let started = Instant::now();
    let mut watch = Command::new(goleash)
        .args(["watch", "--format", "json", "--interval"])
        .arg(format!("{interval}s"))
        .arg("--duration")
        .arg(format!("{secs}s"))
        .arg("--db")
        .arg(scratch.join("history.db"))
        .arg("--targets-file")
        .arg(&targets)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start goleash watch");
    let mut stdout = watch.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut output = String::new();
        let _ = stdout.read_to_string(&mut output);
        output
    });
    let (code, cpu, rss_kib) = support::reap(watch);
    let wall = started.elapsed();
    let output = reader.join().unwrap();
    drop(served);
    assert!(code <= 1, "goleash watch failed with {code}");

    let summary: serde_json::Value = output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "summary")
        .expect("the watch printed its summary");
    let per_target = summary["targets"].as_array().unwrap();
    let expected = secs / interval;
    let get = |t: &serde_json::Value, k: &str| t[k].as_u64().unwrap_or(0);
    let samples: Vec<u64> = per_target.iter().map(|t| get(t, "samples")).collect();
    let late: u64 = per_target.iter().map(|t| get(&t["schedule"], "late")).sum();
    let due: u64 = per_target.iter().map(|t| get(&t["schedule"], "due")).sum();
    let max_lag = per_target
        .iter()
        .filter_map(|t| t["schedule"]["max_lag_secs"].as_f64())
        .fold(0.0, f64::max);
    let short = samples.iter().filter(|&&s| s < expected).count();
    let errors: u64 = per_target.iter().map(|t| get(t, "errors")).sum();
    let profiles: u64 = per_target.iter().map(|t| get(t, "profiles")).sum();
    let events = output.lines().count();

    println!("{n} simulated services, interval {interval}s, watched for {secs}s ({wall:.1?} wall)");
    println!(
        "watch CPU: {cpu:.1} s = {:.1}% of one core · peak RSS {:.1} MiB",
        cpu / secs as f64 * 100.0,
        rss_kib as f64 / 1024.0
    );
    println!(
        "samples: {} in all ({} profiles), {:.1} per service (expected {expected}); {} services had fewer",
        samples.iter().sum::<u64>(),
        profiles,
        samples.iter().sum::<u64>() as f64 / n as f64,
        short
    );
    println!(
        "on time: {} of {due} due samples started more than {}s late; largest delay {max_lag:.3}s; {errors} failed requests; {events} JSON events",
        late,
        interval / 2
    );
}
