//! What the trend statistics cost per series:
//! `cargo run --release -p goleash-core --example trend_cost`. The second table is a
//! series as `scan` reads it from Prometheus (one point a minute, 1 to 7 days): its cost
//! should grow with the days, not with their square.

use std::hint::black_box;
use std::time::{Duration, Instant};

use goleash_core::trend::{Sample, TrendOptions, analyze, mann_kendall, theil_sen};

/// The median time of `runs` calls.
fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    println!(
        "{:>7} {:>14} {:>14} {:>14}",
        "n", "mann_kendall", "theil_sen", "analyze"
    );
    for n in [100, 1_000, 10_000, 51_840] {
        // A leak of one per minute sampled every 5 s, with a little deterministic noise.
        let samples: Vec<Sample> = (0..n)
            .map(|i| {
                let t = i as f64 * 5.0;
                Sample::new(t, (40.0 + t / 60.0 + ((i * 7919) % 11) as f64).round())
            })
            .collect();
        let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
        let points: Vec<(f64, f64)> = samples.iter().map(|s| (s.t, s.value)).collect();
        let runs = if n > 5_000 { 3 } else { 21 };
        let mk = time(runs, || {
            black_box(mann_kendall(black_box(&values)).unwrap());
        });
        // Beyond 10,000 points the pairwise slopes alone need gigabytes: that is what
        // max_points is for.
        let ts = (n <= 10_000).then(|| {
            time(runs, || {
                black_box(theil_sen(black_box(&points), 0.95).unwrap());
            })
        });
        let options = TrendOptions::default();
        let all = time(runs, || {
            black_box(analyze(black_box(&samples), &options).unwrap());
        });
        let ts = ts.map_or("-".to_owned(), |d| format!("{d:.2?}"));
        println!(
            "{n:>7} {:>14} {ts:>14} {:>14}",
            format!("{mk:.2?}"),
            format!("{all:.2?}")
        );
    }

    println!();
    println!(
        "{:>5} {:>7} {:>8} {:>14}",
        "days", "points", "windows", "analyze"
    );
    for days in [1, 2, 4, 7] {
        // A flat count with deterministic noise: every statistic runs to the end.
        let samples: Vec<Sample> = (0..days * 24 * 60)
            .map(|i| Sample::new(i as f64 * 60.0, 100.0 + ((i * 7919) % 11) as f64))
            .collect();
        let options = TrendOptions::default();
        let windows = analyze(&samples, &options).unwrap().current().windows;
        let all = time(11, || {
            black_box(analyze(black_box(&samples), &options).unwrap());
        });
        println!(
            "{days:>5} {:>7} {windows:>8} {:>14}",
            samples.len(),
            format!("{all:.2?}")
        );
    }
}
