//! Does `goleash watch --prometheus` keep up with a fleet at a 15 s interval, and what does
//! it cost? The bench serves one exporter itself: N `go_goroutines` series (and their
//! `process_start_time_seconds`), each with its own `instance` label kept by
//! `honor_labels: true`, one in a thousand leaking a goroutine a minute under bursts, the
//! rest bursty and healthy. A real Prometheus scrapes it every 15 s; `goleash watch
//! --prometheus` reads the fleet every 15 s for a number of evaluations, first at 500 series
//! (the baseline), then at N. Per evaluation: how late it was asked and how long Prometheus
//! took to answer (the watch's `evaluation` events); per watch: CPU and peak RSS (`wait4`).
//!
//! The instances are loopback addresses nothing listens on: a suspect's dump is refused at
//! once, and no request leaves the machine.
//!
//! ```text
//! cargo bench --bench watch_prometheus                         # 5,000 series, 20 evaluations
//! GOLEASH_BENCH_SERIES=5000 GOLEASH_BENCH_EVALS=4 cargo bench --bench watch_prometheus
//! ```

#[path = "support/prometheus.rs"]
mod prometheus;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::Prometheus;

const INTERVAL_SECS: u64 = 15;
const BASELINE_SERIES: u64 = 500;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The exposition of `series` series of job `job` at unix time `t`.
fn exposition(job: &str, series: u64, t: f64, started: f64) -> String {
    let mut out = String::with_capacity(series as usize * 160);
    let instance = |i: u64| format!("127.{}.{}.{}:9", 1 + (i >> 16), (i >> 8) & 255, i & 255);
    out.push_str("# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge\n");
    for i in 0..series {
        let leak = if i % 1000 == 7 {
            ((t - started) / 60.0) as u64
        } else {
            0
        };
        // Bursts of up to 150 goroutines, a different pattern per series.
        let h = ((t as u64 / 15) ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .wrapping_mul(0x2545_f491_4f6c_dd1d)
            >> 33;
        let burst = if h.is_multiple_of(5) { h % 150 } else { 0 };
        out.push_str(&format!(
            "go_goroutines{{job=\"{job}\",instance=\"{}\"}} {}\n",
            instance(i),
            40 + leak + burst
        ));
    }
    out.push_str("# HELP process_start_time_seconds Start time of the process.\n# TYPE process_start_time_seconds gauge\n");
    for i in 0..series {
        out.push_str(&format!(
            "process_start_time_seconds{{job=\"{job}\",instance=\"{}\"}} {started}\n",
            instance(i)
        ));
    }
    out
}

/// Serves `/fleet` (the fleet's series) and `/base` (the baseline's) until the bench ends.
fn serve_exporter(series: u64) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = unix_now();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, series, started);
        }
    });
    port
}

fn answer(mut stream: TcpStream, series: u64, started: f64) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
    }
    let body = if request.contains("/base") {
        exposition("base", BASELINE_SERIES, unix_now(), started)
    } else {
        exposition("fleet", series, unix_now(), started)
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

fn start_prometheus(dir: &Path, exporter: u16) -> Prometheus {
    let job = |name: &str| {
        format!(
            "  - job_name: {name}\n    honor_labels: true\n    metrics_path: /{name}\n    static_configs:\n      - targets: ['127.0.0.1:{exporter}']\n"
        )
    };
    let config = format!(
        "global:\n  scrape_interval: {INTERVAL_SECS}s\nscrape_configs:\n{}{}",
        job("fleet"),
        job("base")
    );
    Prometheus::start(dir, &config, &[])
}

fn get(addr: &str, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Waits until Prometheus has scraped both jobs twice.
fn wait_for_scrapes(addr: &str, series: u64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let query = "/api/v1/query?query=count(count_over_time(go_goroutines%5B1m%5D)%3E%3D2)";
    let want = format!("\"{}\"", series + BASELINE_SERIES);
    while !get(addr, query).contains(&want) {
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape the exporter twice: {}",
            get(addr, query)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    values
        .get(((values.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

fn watch(dir: &Path, prometheus: &str, job: &str, series: u64, evals: u64) {
    let out = dir.join(format!("watch-{job}.jsonl"));
    let db = dir.join(format!("watch-{job}.db"));
    let _ = std::fs::remove_file(&db);
    let began = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_goleash"))
        .args([
            "watch",
            "--prometheus",
            &format!("http://{prometheus}"),
            "--match",
            &format!("go_goroutines{{job=\"{job}\"}}"),
            "--interval",
            &format!("{INTERVAL_SECS}s"),
            "--duration",
            &format!("{}s", evals * INTERVAL_SECS + 5),
            "--format",
            "json",
            "--db",
        ])
        .arg(&db)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start goleash watch");
    let (code, cpu, rss_kib) = support::reap(child);
    let wall = began.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&out).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let evaluations: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "evaluation")
        .collect();
    let mut lags: Vec<f64> = evaluations
        .iter()
        .filter_map(|e| e["lag_secs"].as_f64())
        .collect();
    let mut queries: Vec<f64> = evaluations
        .iter()
        .filter_map(|e| e["query_secs"].as_f64())
        .collect();
    let mut records: Vec<f64> = evaluations
        .iter()
        .filter_map(|e| e["record_secs"].as_f64())
        .collect();
    let samples: u64 = evaluations
        .iter()
        .filter_map(|e| e["samples"].as_u64())
        .sum();
    let summary = events
        .iter()
        .find(|e| e["event"] == "summary")
        .cloned()
        .unwrap_or_default();
    let totals = &summary["evaluations"];
    let late = totals["late"].as_u64().unwrap_or(0);
    println!(
        "{series:>5} series: exit {code}, {} evaluations after the first ({} late, lag p50 {:.3}s max {:.3}s), Prometheus answered in p50 {:.3}s max {:.3}s, recording took p50 {:.3}s max {:.3}s; {samples} samples recorded; {wall:.0}s wall, {cpu:.1}s CPU ({:.2}% of a core), peak RSS {} MiB; {} targets in the summary",
        evaluations.len(),
        late,
        percentile(&mut lags, 0.5),
        totals["max_lag_secs"].as_f64().unwrap_or(f64::NAN),
        percentile(&mut queries, 0.5),
        totals["max_query_secs"].as_f64().unwrap_or(f64::NAN),
        percentile(&mut records, 0.5),
        percentile(&mut records, 1.0),
        100.0 * cpu / wall,
        rss_kib >> 10,
        summary["targets"].as_array().map_or(0, Vec::len),
    );
    if !evaluations.is_empty() {
        let per: Vec<String> = evaluations
            .iter()
            .map(|e| {
                format!(
                    "{:.3}/{:.3}/{:.3}",
                    e["lag_secs"].as_f64().unwrap_or(f64::NAN),
                    e["query_secs"].as_f64().unwrap_or(f64::NAN),
                    e["record_secs"].as_f64().unwrap_or(f64::NAN)
                )
            })
            .collect();
        println!(
            "       per evaluation, lag/query/record seconds: {}",
            per.join(" ")
        );
    }
}

fn main() {
    let series = support::env_or("GOLEASH_BENCH_SERIES", 5000);
    let evals = support::env_or("GOLEASH_BENCH_EVALS", 20);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("watch-prometheus-{series}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exporter = serve_exporter(series);
    let prometheus = start_prometheus(&dir, exporter);
    let addr = prometheus.url.trim_start_matches("http://").to_string();
    wait_for_scrapes(&addr, series);
    println!(
        "watch --prometheus every {INTERVAL_SECS}s, {evals} evaluations; Prometheus scrapes {} series every {INTERVAL_SECS}s",
        series + BASELINE_SERIES
    );
    watch(&dir, &addr, "base", BASELINE_SERIES, evals);
    watch(&dir, &addr, "fleet", series, evals);
}
