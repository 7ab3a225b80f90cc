//! How long does `goleash scan` take over a fleet's history in a real Prometheus, and how
//! much of it is goleash? A week of `go_goroutines` and `process_start_time_seconds` at one
//! minute for N series (one in a hundred leaking one goroutine per 20 minutes under bursty
//! traffic, one in ten restarted once a day, the rest bursty and healthy) is written
//! into a real Prometheus through its remote-write receiver, in time order, and kept under
//! the target directory for a day; Prometheus serves it on loopback; `goleash scan` reads
//! it all. Wall time, CPU and peak RSS of the scan come from `wait4`, Prometheus's CPU from
//! /proc, and the baseline is Prometheus answering the scan's range queries of the counts
//! to a reader that throws the answers away.
//!
//! ```text
//! cargo bench --bench scan_fleet                                   # 1,000 series, 7 days
//! GOLEASH_BENCH_SERIES=10000 GOLEASH_BENCH_DAYS=7 cargo bench --bench scan_fleet
//! ```

#[path = "support/cpu.rs"]
mod cpu;
#[path = "support/prometheus.rs"]
mod prometheus;
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::Prometheus;

/// A history of GOLEASH_BENCH_DAYS may reach further back than the 15 days Prometheus keeps
/// by default.
const RETENTION: &str = "--storage.tsdb.retention.time=3650d";

/// Nothing to scrape: the history comes by remote write.
const CONFIG: &str = "global:\n  scrape_interval: 1m\n";

/// A cheap deterministic noise: bursts of up to 150 goroutines lasting a minute or so.
fn burst(t: i64, seed: u64) -> i64 {
    let h =
        ((t / 60) as u64).wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let h = h.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33;
    if h.is_multiple_of(7) {
        (h % 150) as i64
    } else {
        0
    }
}

/// Series `i`'s labels after `__name__`, sorted by name as remote write wants them.
fn labels(i: u64) -> [(&'static str, String); 2] {
    [
        (
            "instance",
            format!("10.{}.{}.{}:6060", i >> 16, (i >> 8) & 255, i & 255),
        ),
        ("job", "fleet".to_string()),
    ]
}

/// One in a hundred series leaks a goroutine every 20 minutes.
fn leaking(i: u64) -> bool {
    i % 100 == 7
}

/// When the process behind series `i` that runs at `t` started: one in ten restarts once a
/// day (at its own hour), the rest run the whole week.
fn process_start(i: u64, t: i64, start: i64) -> i64 {
    let first = start - 60;
    if i % 10 != 3 {
        return first;
    }
    let offset = (i % 24) as i64 * 3600;
    let since = t - start - offset;
    if since < 0 {
        first
    } else {
        start + offset + since.div_euclid(86_400) * 86_400
    }
}

/// Series `i`'s goroutine count at `t`: 40 at rest, 20 in a process's first five minutes,
/// plus bursts, plus the leak.
fn count(i: u64, t: i64, start: i64) -> f64 {
    let age = t - process_start(i, t, start);
    let base = if age < 300 { 20 } else { 40 };
    let leak = if leaking(i) { (t - start) / 1200 } else { 0 };
    (base + leak + burst(t, i)) as f64
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited protobuf field.
fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    varint(out, number << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// One remote-write `TimeSeries`: labels, then samples `(unix seconds, value)`.
fn time_series(out: &mut Vec<u8>, name: &str, labels: &[(&str, String)], samples: &[(i64, f64)]) {
    let mut series = Vec::with_capacity(64 + samples.len() * 18);
    let mut label = Vec::with_capacity(64);
    for (key, value) in [("__name__", name)]
        .into_iter()
        .chain(labels.iter().map(|(k, v)| (*k, v.as_str())))
    {
        label.clear();
        field(&mut label, 1, key.as_bytes());
        field(&mut label, 2, value.as_bytes());
        field(&mut series, 1, &label);
    }
    let mut sample = Vec::with_capacity(20);
    for &(t, v) in samples {
        sample.clear();
        sample.push(1 << 3 | 1);
        sample.extend_from_slice(&v.to_le_bytes());
        varint(&mut sample, 2 << 3);
        varint(&mut sample, (t * 1000) as u64);
        field(&mut series, 2, &sample);
    }
    field(out, 1, &series);
}

/// `raw` in snappy's block format as one literal: remote write requires snappy, and a
/// literal is valid snappy that costs nothing to make.
fn snappy_literal(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 16);
    varint(&mut out, raw.len() as u64);
    out.push(63 << 2);
    out.extend_from_slice(&(raw.len() as u32 - 1).to_le_bytes());
    out.extend_from_slice(raw);
    out
}

/// The remote-write request of series `shard` (every `shards`-th from `shard`) for the
/// minutes in `[from, to)`.
fn write_request(series: u64, shard: u64, shards: u64, start: i64, from: i64, to: i64) -> Vec<u8> {
    let mut raw = Vec::new();
    let mut counts = Vec::new();
    let mut starts = Vec::new();
    for i in (shard..series).step_by(shards as usize) {
        counts.clear();
        starts.clear();
        for t in (from..to).step_by(60) {
            counts.push((t, count(i, t, start)));
            starts.push((t, process_start(i, t, start) as f64));
        }
        let labels = labels(i);
        time_series(&mut raw, "go_goroutines", &labels, &counts);
        time_series(&mut raw, "process_start_time_seconds", &labels, &starts);
    }
    snappy_literal(&raw)
}

fn main() {
    let series = support::env_or("GOLEASH_BENCH_SERIES", 1000);
    let days = support::env_or("GOLEASH_BENCH_DAYS", 7) as i64;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("scan-fleet-{series}x{days}d"));
    // The backfill is the slow part: a history written within the last day is read again,
    // its range a few minutes short.
    let written = std::fs::metadata(dir.join("done")).and_then(|m| m.modified());
    if written.is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(86_400)) {
        println!("history: reusing {}", dir.join("data").display());
    } else {
        backfill(&dir, series, days);
    }
    serve_and_scan(&dir, series, days);
}

/// Minutes of every series in one round of remote-write requests. Prometheus takes a sample
/// only within an hour of the newest it has (older ones would fall into the part of the
/// head being compacted), so the rounds go forward in time, each shard's request of one
/// round sent before any of the next.
const ROUND_MINUTES: i64 = 30;

/// Writes the history through Prometheus's own remote-write receiver, in time order, so
/// that Prometheus cuts and compacts the blocks itself. `promtool tsdb create-blocks-from
/// openmetrics` made the same blocks but parses its whole input once per two-hour block:
/// 162 s for 2 M samples here, days for a fleet's week.
fn backfill(dir: &Path, series: u64, days: i64) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end = now - 60;
    let start = end - days * 86_400;
    let prometheus = Prometheus::start(
        dir,
        CONFIG,
        &[RETENTION, "--web.enable-remote-write-receiver"],
    );
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build(),
    );
    let url = format!("{}/api/v1/write", prometheus.url);
    let shards = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let began = Instant::now();
    let mut from = start;
    while from < end {
        let to = (from + ROUND_MINUTES * 60).min(end);
        std::thread::scope(|scope| {
            for shard in 0..shards {
                let (agent, url) = (&agent, &url);
                scope.spawn(move || {
                    let body = write_request(series, shard, shards, start, from, to);
                    let mut answer = agent
                        .post(url)
                        .header("Content-Encoding", "snappy")
                        .header("Content-Type", "application/x-protobuf")
                        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                        .send(&body[..])
                        .expect("remote write");
                    let status = answer.status();
                    assert!(
                        status.is_success(),
                        "remote write of {from}..{to}: {status} {}",
                        answer.body_mut().read_to_string().unwrap_or_default()
                    );
                });
            }
        });
        from = to;
    }
    let samples = 2 * series * ((end - start) as u64 / 60);
    println!(
        "history: {series} series × {days} days at 1 min (go_goroutines and process_start_time_seconds): {samples} samples written in {:.1}s ({:.0} k/s)",
        began.elapsed().as_secs_f64(),
        samples as f64 / began.elapsed().as_secs_f64() / 1e3
    );
    drop(prometheus);
    std::fs::write(dir.join("done"), "").unwrap();
}

/// Range queries in flight at once, as `goleash scan` keeps them.
const QUERIES_IN_FLIGHT: usize = 2;

/// The floor under any scan: the range queries of the counts at one minute, in chunks of
/// a million samples as `goleash scan` asks them, two at a time, each answer read and
/// thrown away. Returns the wall seconds and the queries made.
fn prometheus_alone(url: &str, series: u64, days: i64) -> (f64, usize) {
    let end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let start = end - days * 86_400;
    let per_chunk = (1_000_000 / series.max(1)).clamp(1, 10_999) as i64 * 60;
    let chunks: Vec<(i64, i64)> = (start..=end)
        .step_by(per_chunk as usize)
        .map(|a| (a, (a + per_chunk - 60).min(end)))
        .collect();
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(300)))
            .build(),
    );
    let next = std::sync::atomic::AtomicUsize::new(0);
    let began = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..QUERIES_IN_FLIGHT {
            scope.spawn(|| {
                while let Some(&(a, b)) =
                    chunks.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    let mut answer = agent
                        .get(format!(
                            "{url}/api/v1/query_range?query=go_goroutines&start={a}&end={b}&step=60"
                        ))
                        .call()
                        .expect("range query");
                    std::io::copy(&mut answer.body_mut().as_reader(), &mut std::io::sink())
                        .unwrap();
                }
            });
        }
    });
    (began.elapsed().as_secs_f64(), chunks.len())
}

fn serve_and_scan(dir: &Path, series: u64, days: i64) {
    let goleash = env!("CARGO_BIN_EXE_goleash");
    let prometheus = Prometheus::start(dir, CONFIG, &[RETENTION]);
    let url = &prometheus.url;
    let pid = prometheus.child.id();
    let before = cpu::cpu_seconds(pid);
    let (wall, queries) = prometheus_alone(url, series, days);
    println!(
        "baseline, Prometheus alone ({queries} range queries of the counts at 1 min, answers thrown away): {wall:.1}s wall, Prometheus {:.1}s CPU",
        cpu::cpu_seconds(pid) - before
    );
    for (label, step) in [("1 min", "60s"), ("default step", "")] {
        let mut command = Command::new(goleash);
        command.args([
            "scan",
            "--prometheus",
            url,
            "--range",
            &format!("{days}d"),
            "--no-stacks",
            "--format",
            "json",
        ]);
        if !step.is_empty() {
            command.args(["--step", step]);
        }
        let began = Instant::now();
        let before = cpu::cpu_seconds(pid);
        let child = command
            .stdout(std::fs::File::create(dir.join("scan.json")).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start goleash scan");
        let (code, cpu, rss_kib) = support::reap(child);
        let wall = began.elapsed().as_secs_f64();
        let prometheus_cpu = cpu::cpu_seconds(pid) - before;
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("scan.json")).unwrap()).unwrap();
        let timings = &doc["timings"];
        let rising = doc["rising"].as_u64().unwrap_or(0);
        println!(
            "scan at {label} (step {}s, {} queries): exit {code}, {wall:.1}s wall, goleash {cpu:.1}s CPU, peak RSS {} MiB, Prometheus {prometheus_cpu:.1}s CPU; summed over the queries in flight: waiting for Prometheus {:.1}s, decoding {:.1}s; judging {:.1}s; {} series judged, {rising} rising (expected {})",
            doc["step"],
            doc["queries"],
            rss_kib >> 10,
            timings["prometheus_secs"].as_f64().unwrap_or(0.0),
            timings["decode_secs"].as_f64().unwrap_or(0.0),
            timings["judge_secs"].as_f64().unwrap_or(0.0),
            doc["judged"],
            (series + 92) / 100,
        );
    }
}
