//! How the trend windows fitted to a short `--duration` behave on real Go services: how
//! often bursty healthy traffic is flagged, and how soon leaks of several rates are called.
//!
//! ```text
//! bash scripts/toolchains.sh                        # Go 1.27.3 for the services
//! cargo bench --bench watch_calibration             # 4 rounds of 50 s, about 4 minutes
//! GOLEASH_CALIB_ROUNDS=10 GOLEASH_CALIB_SECS=50 cargo bench --bench watch_calibration
//! ```
//!
//! Each round is one `goleash watch --duration SECS` with its default settings (so windows
//! fitted to SECS) over services of `fixtures/go/watch/watchsvc` started together: six with
//! healthy traffic of different shapes, and one per leak rate, whose steady requests start
//! pollers nobody stops (`-ticker-every`, which the runtime cannot prove leaked: only the
//! trend can find them). A healthy service is falsely flagged when a trend alert names it;
//! a leak the runtime proves is counted apart, as it is no false alarm (watchsvc's search
//! handler gives up after 20 ms, and on a busy machine its backend is sometimes slower:
//! that goroutine leaks for real). A leak's time to verdict runs from the watch's start to
//! its first `leak` alert on a stack.

mod support;
#[path = "support/watchsvc.rs"]
mod watchsvc;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

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

fn start(binary: &Path, args: &[String]) -> Service {
    let mut child = Command::new(binary)
        .args(["-addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start watchsvc");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});
    Service { child, addr }
}

/// Healthy traffic: bursts of fan-out requests that drain within a second, of several
/// periods, sizes and cycles, and steady requests that never leak.
fn healthy(round: u64) -> Vec<(String, Vec<String>)> {
    let shift = (round % 3) as f64;
    let bursty = |period: f64, max: u32, cycle: f64| {
        (
            format!("bursts every {period}s up to {max}, {cycle}s cycle"),
            vec![
                "-load".into(),
                "bursty".into(),
                "-burst-period".into(),
                format!("{}ms", (period * 1000.0) as u64),
                "-burst-max".into(),
                max.to_string(),
                "-cycle".into(),
                format!("{}s", cycle + shift),
            ],
        )
    };
    vec![
        bursty(1.5, 40, 10.0),
        bursty(2.0, 60, 16.0),
        bursty(3.0, 80, 25.0),
        bursty(4.0, 120, 30.0),
        (
            "steady 20 rps, no leak".into(),
            vec!["-load".into(), "steady".into(), "-rps".into(), "20".into()],
        ),
        (
            "bursts and steady requests".into(),
            vec![
                "-load".into(),
                "mixed".into(),
                "-rps".into(),
                "20".into(),
                "-burst-max".into(),
                "60".into(),
            ],
        ),
    ]
}

/// Leaks: steady 20 requests a second, one in N starting a poller nobody stops.
const LEAK_EVERY: [u32; 4] = [5, 20, 60, 200];

fn leaky(every: u32) -> Vec<String> {
    vec![
        "-load".into(),
        "steady".into(),
        "-rps".into(),
        "20".into(),
        "-ticker-every".into(),
        every.to_string(),
    ]
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn main() {
    let rounds = support::env_or("GOLEASH_CALIB_ROUNDS", 4);
    let secs = support::env_or("GOLEASH_CALIB_SECS", 50);
    let binary = watchsvc::build("watchsvc-calibration");
    let goleash = env!("CARGO_BIN_EXE_goleash");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("watch-calibration");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();

    // Per healthy shape: runs, flagged by a trend, with a proven leak; per leak rate: times
    // to verdict (None: not found).
    let mut flagged: Vec<(String, u64, u64, u64)> = Vec::new();
    let mut found: HashMap<u32, Vec<Option<f64>>> = HashMap::new();
    let mut settings = String::new();
    for round in 0..rounds {
        let shapes = healthy(round);
        let healthy_services: Vec<Service> = shapes
            .iter()
            .map(|(_, args)| start(&binary, args))
            .collect();
        let leak_services: Vec<(u32, Service)> = LEAK_EVERY
            .iter()
            .map(|&every| (every, start(&binary, &leaky(every))))
            .collect();
        let urls: Vec<String> = healthy_services
            .iter()
            .chain(leak_services.iter().map(|(_, s)| s))
            .map(|s| format!("http://{}", s.addr))
            .collect();
        let started = unix_now();
        let mut watch = Command::new(goleash)
            .args(["watch", "--format", "json", "--duration"])
            .arg(format!("{secs}s"))
            .arg("--db")
            .arg(scratch.join(format!("round-{round}.db")))
            .args(&urls)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start goleash watch");
        let mut stdout = watch.stdout.take().unwrap();
        let mut output = String::new();
        stdout.read_to_string(&mut output).unwrap();
        let _ = support::reap(watch);
        let events: Vec<serde_json::Value> = output
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if let Some(start) = events.iter().find(|e| e["event"] == "start") {
            settings = start["settings"].to_string();
        }
        let alerts_of = |addr: &str| -> Vec<&serde_json::Value> {
            let base = format!("http://{addr}/debug/pprof");
            events
                .iter()
                .filter(|e| e["event"] == "alert" && e["target"] == base.as_str())
                .collect()
        };
        for ((name, _), service) in shapes.iter().zip(&healthy_services) {
            let alerts = alerts_of(&service.addr);
            let (proven, trend): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) = alerts
                .into_iter()
                .partition(|a| a["proven_leaked"].as_u64().is_some());
            for alert in &trend {
                eprintln!("round {round}: {name} flagged by a trend: {alert}");
            }
            let (alarm, proof) = (u64::from(!trend.is_empty()), u64::from(!proven.is_empty()));
            match flagged.iter_mut().find(|(n, ..)| n == name) {
                Some(row) => {
                    row.1 += 1;
                    row.2 += alarm;
                    row.3 += proof;
                }
                None => flagged.push((name.clone(), 1, alarm, proof)),
            }
        }
        for (every, service) in &leak_services {
            let first = alerts_of(&service.addr)
                .into_iter()
                .filter(|a| a["scope"] == "group" && a["verdict"] == "leak")
                .filter_map(|a| a["t"].as_f64())
                .map(|t| t - started)
                .reduce(f64::min);
            found.entry(*every).or_default().push(first);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }

    println!("`goleash watch --duration {secs}s`, default settings: {settings}");
    println!();
    println!(
        "| healthy traffic | runs | false alarms (trend) | runs with a leak the runtime proved |"
    );
    println!("|---|---|---|---|");
    for (name, runs, alarms, proven) in &flagged {
        println!("| {name} | {runs} | {alarms} | {proven} |");
    }
    println!();
    println!(
        "| leak (20 rps, one in N starts a poller) | runs | found | median time to verdict | slowest |"
    );
    println!("|---|---|---|---|---|");
    for every in LEAK_EVERY {
        let times = &found[&every];
        let mut hits: Vec<f64> = times.iter().flatten().copied().collect();
        hits.sort_by(f64::total_cmp);
        let per_minute = 20.0 * 60.0 / f64::from(every);
        let (median, slowest) = match (hits.get(hits.len() / 2), hits.last()) {
            (Some(m), Some(s)) => (format!("{m:.0} s"), format!("{s:.0} s")),
            _ => ("-".into(), "-".into()),
        };
        println!(
            "| {per_minute:.0} a minute (N = {every}) | {} | {} | {median} | {slowest} |",
            times.len(),
            hits.len(),
        );
    }
}
