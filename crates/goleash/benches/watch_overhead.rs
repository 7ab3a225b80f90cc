//! What `goleash watch`, with its default settings, costs a real Go service holding 1k,
//! 10k and 100k goroutines: the service's CPU time (from /proc/PID/stat) over a fixed
//! period without a watch, then over the same period with one, as a share of one core.
//!
//! ```text
//! bash scripts/toolchains.sh                      # Go 1.27.3 for the service
//! cargo bench --bench watch_overhead              # 120 s per phase, 12 minutes in all
//! GOLEASH_BENCH_SECS=300 cargo bench --bench watch_overhead
//! GOLEASH_BENCH_SIZES=100000 cargo bench --bench watch_overhead
//! ```
//!
//! The service is `fixtures/go/watch/watchsvc -hold N`: N goroutines blocked for its life,
//! no load, so that its own CPU is the idle runtime's (the forced GC every two minutes
//! scans every stack) and whatever the watch asks of it.

#[path = "support/cpu.rs"]
mod cpu;
mod support;
#[path = "support/watchsvc.rs"]
mod watchsvc;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Service {
    child: Child,
    addr: String,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_service(binary: &Path, goroutines: usize) -> Service {
    let mut child = Command::new(binary)
        .args(["-addr", "127.0.0.1:0", "-load", "none", "-hold"])
        .arg(goroutines.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start watchsvc");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});
    Service { child, addr }
}

/// The goroutine count the service reports.
fn goroutines(addr: &str) -> u64 {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    use std::io::Write;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("go_goroutines "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes --bench; a plain run of the binary may pass filters. Neither
    // changes what is measured.
    let period = Duration::from_secs(support::env_or("GOLEASH_BENCH_SECS", 120));
    let sizes: Vec<usize> = std::env::var("GOLEASH_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000]);
    let service_binary = watchsvc::build("watchsvc-bench");
    let goleash = env!("CARGO_BIN_EXE_goleash");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("watch-overhead");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();

    println!(
        "service CPU over {} s, idle, then watched by `goleash watch` with its defaults",
        period.as_secs()
    );
    println!(
        "{:>9} {:>12} {:>12} {:>10} {:>9} {:>9} {:>12} {:>11}",
        "goroutines",
        "idle cpu s",
        "watched s",
        "overhead",
        "samples",
        "profiles",
        "profile gap",
        "watch cpu s"
    );
    for &n in &sizes {
        let service = start_service(&service_binary, n);
        let deadline = Instant::now() + Duration::from_secs(120);
        while goroutines(&service.addr) < n as u64 {
            assert!(
                Instant::now() < deadline,
                "the service never held {n} goroutines"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_secs(5));
        let pid = service.child.id();

        let before = cpu::cpu_seconds(pid);
        std::thread::sleep(period);
        let idle = cpu::cpu_seconds(pid) - before;

        let db = scratch.join(format!("history-{n}.db"));
        let before = cpu::cpu_seconds(pid);
        let mut watch = Command::new(goleash)
            .args(["watch", "--format", "json", "--db"])
            .arg(&db)
            .arg("--duration")
            .arg(format!("{}s", period.as_secs()))
            .arg(format!("http://{}", service.addr))
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
        let (_, watch_cpu, _) = support::reap(watch);
        let watched = cpu::cpu_seconds(pid) - before;
        let output = reader.join().unwrap();
        let summary: serde_json::Value = output
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|e| e["event"] == "summary")
            .expect("the watch printed its summary");
        let target = &summary["targets"][0];
        let overhead = (watched - idle) / period.as_secs_f64() * 100.0;
        println!(
            "{:>9} {:>12.2} {:>12.2} {:>9.3}% {:>9} {:>9} {:>11.1}s {:>11.2}",
            n,
            idle,
            watched,
            overhead,
            target["samples"].as_u64().unwrap_or(0),
            target["profiles"].as_u64().unwrap_or(0),
            target["profile_interval_secs"].as_f64().unwrap_or(0.0),
            watch_cpu
        );
    }
}
