//! How long does `goleash scan` take over a fleet's history in a real Prometheus, and how
//! much of it is goleash? A week of `go_goroutines` and `process_start_time_seconds` at one
//! minute for N series (one in a hundred leaking one goroutine per 20 minutes under bursty
//! traffic, the rest bursty and healthy) is backfilled with `promtool tsdb
//! create-blocks-from openmetrics`; Prometheus serves it on loopback; `goleash scan` reads
//! it all. Wall time and peak RSS of the scan come from `wait4`, the split between
//! Prometheus and goleash from the scan's own `timings`.
//!
//! ```text
//! cargo bench --bench scan_fleet                                   # 1,000 series, 7 days
//! GOLEASH_BENCH_SERIES=10000 GOLEASH_BENCH_DAYS=7 cargo bench --bench scan_fleet
//! ```

mod support;

use std::io::{BufWriter, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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

fn write_history(path: &Path, series: u64, start: i64, end: i64) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let instance = |i: u64| {
        format!(
            "job=\"fleet\",instance=\"10.{}.{}.{}:6060\"",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        )
    };
    let mut samples = 0;
    writeln!(out, "# HELP go_goroutines Number of goroutines that currently exist.\n# TYPE go_goroutines gauge").unwrap();
    for i in 0..series {
        let labels = instance(i);
        let leaking = i % 100 == 7;
        for t in (start..end).step_by(60) {
            let leak = if leaking { (t - start) / 1200 } else { 0 };
            writeln!(
                out,
                "go_goroutines{{{labels}}} {} {t}",
                40 + leak + burst(t, i)
            )
            .unwrap();
            samples += 1;
        }
    }
    writeln!(out, "# HELP process_start_time_seconds Start time of the process.\n# TYPE process_start_time_seconds gauge").unwrap();
    for i in 0..series {
        let labels = instance(i);
        for t in (start..end).step_by(60) {
            writeln!(
                out,
                "process_start_time_seconds{{{labels}}} {} {t}",
                start - 60
            )
            .unwrap();
            samples += 1;
        }
    }
    writeln!(out, "# EOF").unwrap();
    out.flush().unwrap();
    samples
}

fn main() {
    let series = support::env_or("GOLEASH_BENCH_SERIES", 1000);
    let days = support::env_or("GOLEASH_BENCH_DAYS", 7) as i64;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("scan-fleet-{series}x{days}d"));
    // The backfill is the slow part (promtool took 160 s for 2 M samples here): a history
    // written within the last day is read again, its range a few minutes short.
    let written = std::fs::metadata(dir.join("done")).and_then(|m| m.modified());
    if written.is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(86_400)) {
        println!("history: reusing {}", dir.join("data").display());
    } else {
        backfill(&dir, series, days);
    }
    serve_and_scan(&dir, series, days);
}

fn backfill(dir: &Path, series: u64, days: i64) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end = now - 60;
    let start = end - days * 86_400;
    let input = dir.join("history.om");
    let began = Instant::now();
    let samples = write_history(&input, series, start, end);
    println!(
        "history: {series} series × {days} days at 1 min: {samples} samples, {} MB of OpenMetrics, written in {:.1}s",
        std::fs::metadata(&input).unwrap().len() >> 20,
        began.elapsed().as_secs_f64()
    );
    let began = Instant::now();
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .output()
        .expect("run promtool (bash scripts/packages.sh installs it)");
    assert!(
        out.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("promtool backfill: {:.1}s", began.elapsed().as_secs_f64());
    std::fs::remove_file(&input).unwrap();
    std::fs::write(dir.join("done"), "").unwrap();
}

fn serve_and_scan(dir: &Path, series: u64, days: i64) {
    let goleash = env!("CARGO_BIN_EXE_goleash");
    let data = dir.join("data");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.join("prometheus.yml"),
        "global:\n  scrape_interval: 1m\n",
    )
    .unwrap();
    let _server = Server(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg("--storage.tsdb.retention.time=3650d")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
        let _ = write!(s, "GET /-/ready HTTP/1.0\r\n\r\n");
        let mut answer = String::new();
        let _ = std::io::Read::read_to_string(&mut s, &mut answer);
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
    }) {
        assert!(Instant::now() < deadline, "Prometheus did not get ready");
        std::thread::sleep(Duration::from_millis(500));
    }

    for (label, step) in [("1 min", "60s"), ("default step", "")] {
        let mut command = Command::new(goleash);
        command.args([
            "scan",
            "--prometheus",
            &url,
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
        let child = command
            .stdout(std::fs::File::create(dir.join("scan.json")).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start goleash scan");
        let (code, cpu, rss_kib) = support::reap(child);
        let wall = began.elapsed().as_secs_f64();
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("scan.json")).unwrap()).unwrap();
        let timings = &doc["timings"];
        let rising = doc["rising"].as_u64().unwrap_or(0);
        println!(
            "scan at {label} (step {}s, {} queries): exit {code}, {wall:.1}s wall, {cpu:.1}s CPU, peak RSS {} MiB; Prometheus {:.1}s, decoding {:.1}s, judging {:.1}s; {} series judged, {rising} rising (expected {})",
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
