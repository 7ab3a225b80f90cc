//! How the trend's direction behaves on simulated services: few false alarms on healthy bursty
//! traffic, slow leaks found within a bounded time, restarts not read as leaks ending.

use goleash_core::trend::{
    Direction, LoadPhase, Recovery, Sample, SegmentStart, Shortfall, TrendOptions, analyze,
    recovery, segments,
};

/// SplitMix64: deterministic noise without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Box–Muller.
    fn normal(&mut self, sd: f64) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        sd * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

const STEP: f64 = 5.0;

type Level = Box<dyn FnMut(f64, &mut Rng) -> f64>;

/// A watch sampling every 5 s for `minutes`, missing 10 % of samples, of a count that is
/// `level(t, rng)` rounded to whole goroutines.
fn watch(seed: u64, minutes: f64, mut level: impl FnMut(f64, &mut Rng) -> f64) -> Vec<Sample> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut t = 0.0;
    while t < minutes * 60.0 {
        let v = level(t, &mut rng).round().max(0.0);
        if rng.uniform() >= 0.1 {
            out.push(Sample::new(t, v));
        }
        t += STEP;
    }
    out
}

fn sawtooth(period_min: f64, amplitude: f64) -> Level {
    Box::new(move |t, r| 100.0 + amplitude * ((t / 60.0) % period_min) / period_min + r.normal(2.0))
}

/// Bursts arriving at random (one per `gap_min` minutes on average), each adding about
/// `size` goroutines that drain like idle keep-alive connections, with a 90 s time
/// constant. Harsher than net/http, which closes them all at 90 s.
fn bursts(gap_min: f64, size: f64) -> Level {
    let mut active: Vec<(f64, f64)> = Vec::new();
    Box::new(move |t, r| {
        if r.uniform() < STEP / (gap_min * 60.0) {
            active.push((t, size * (0.5 + r.uniform())));
        }
        let extra: f64 = active
            .iter()
            .map(|&(t0, n)| n * (-(t - t0) / 90.0).exp())
            .sum();
        100.0 + extra + r.normal(2.0)
    })
}

/// Square spikes `height` high, one per `gap_min` minutes on average, each lasting 30 s to
/// `max_secs`.
fn spikes(gap_min: f64, height: f64, max_secs: f64) -> Level {
    let mut until = f64::NEG_INFINITY;
    Box::new(move |t, r| {
        if t >= until && r.uniform() < STEP / (gap_min * 60.0) {
            until = t + 30.0 + r.uniform() * (max_secs - 30.0);
        }
        100.0 + if t < until { height } else { 0.0 } + r.normal(1.5)
    })
}

/// Mean-reverting noise (AR(1)) with standard deviation `sd` and time constant `tau_secs`.
fn wander(tau_secs: f64, sd: f64) -> Level {
    let phi = (-STEP / tau_secs).exp();
    let mut x = 0.0;
    Box::new(move |_, r| {
        x = phi * x + r.normal(sd * (1.0 - phi * phi).sqrt());
        100.0 + x
    })
}

/// `rate` goroutines per minute leaked from 40, with Gaussian noise.
fn leak(rate: f64, sd: f64) -> Level {
    Box::new(move |t, r| 40.0 + rate * t / 60.0 + r.normal(sd))
}

/// A named series generator.
type Scenario = (&'static str, fn() -> Level);

fn healthy() -> Vec<Scenario> {
    vec![
        ("white noise", || Box::new(|_, r| 100.0 + r.normal(5.0))),
        ("sawtooth 2 min", || sawtooth(2.0, 60.0)),
        ("sawtooth 10 min", || sawtooth(10.0, 60.0)),
        ("square spikes", || spikes(10.0, 200.0, 240.0)),
        ("draining bursts", || bursts(5.0, 200.0)),
        ("frequent draining bursts", || bursts(1.0, 100.0)),
    ]
}

fn direction_with(samples: &[Sample], options: &TrendOptions) -> Direction {
    analyze(samples, options).unwrap().current().direction
}

/// Re-analyses the series as a watch would, every `every` seconds from `from` on, and
/// returns the first time the direction is `Rising`.
fn first_rising(samples: &[Sample], from: f64, every: f64, options: &TrendOptions) -> Option<f64> {
    let mut end = samples.partition_point(|s| s.t < from);
    while end < samples.len() {
        let t = samples[end].t;
        end = samples.partition_point(|s| s.t <= t + every);
        if matches!(
            direction_with(&samples[..end], options),
            Direction::Rising { .. }
        ) {
            return Some(samples[end - 1].t);
        }
    }
    None
}

/// The earliest a segment can be `Rising`: warm-up plus the minimum number of complete
/// windows.
fn earliest(options: &TrendOptions) -> f64 {
    options.warmup_secs + options.min_windows as f64 * options.cooldown_secs
}

/// Every 10 minutes over 2 hours for a few seeds, to keep the debug-build test short;
/// `calibration_table` looks every 2 minutes over 3 hours and 24 seeds.
#[test]
fn healthy_bursty_services_are_never_called_rising() {
    let options = TrendOptions::default();
    for (name, make) in healthy() {
        for seed in 0..3 {
            let series = watch(seed, 120.0, make());
            let alarm = first_rising(&series, earliest(&options), 600.0, &options);
            assert_eq!(alarm, None, "{name}, seed {seed}: Rising at {alarm:?} s");
        }
    }
}

#[test]
fn slow_leak_is_found_within_a_bounded_time() {
    let options = TrendOptions::default();
    let earliest = earliest(&options);
    for seed in 0..6 {
        let series = watch(seed, 60.0, leak(1.0, 3.0));
        let found = first_rising(&series, 0.0, 60.0, &options)
            .unwrap_or_else(|| panic!("seed {seed}: a 1/min leak was never found in an hour"));
        assert!(
            found >= earliest,
            "seed {seed}: Rising at {found} s, before {earliest} s"
        );
        assert!(
            found <= 40.0 * 60.0,
            "seed {seed}: Rising only at {found} s"
        );
        let trend = analyze(&series, &options).unwrap();
        let slope = trend.current().theil_sen.unwrap().slope_per_minute();
        assert!((slope - 1.0).abs() < 0.1, "seed {seed}: slope {slope}/min");
        let (low, high) = trend.current().theil_sen.unwrap().interval_per_minute();
        assert!(
            0.9 < low && high < 1.1,
            "seed {seed}: interval [{low}, {high}]"
        );
    }
}

#[test]
fn leak_under_bursty_traffic_is_found() {
    let options = TrendOptions::default();
    for seed in 0..3 {
        let mut traffic = bursts(5.0, 200.0);
        let series = watch(seed, 150.0, move |t, r| traffic(t, r) + t / 60.0);
        let found = first_rising(&series, earliest(&options), 600.0, &options);
        assert!(found.is_some(), "seed {seed}: not found in 150 minutes");
    }
}

#[test]
fn a_falling_count_is_the_mirror_image() {
    let options = TrendOptions::default();
    let series = watch(1, 60.0, leak(1.0, 3.0));
    let mirrored: Vec<Sample> = series
        .iter()
        .map(|s| Sample::new(s.t, 1000.0 - s.value))
        .collect();
    let (up, down) = (
        direction_with(&series, &options),
        direction_with(&mirrored, &options),
    );
    match (up, down) {
        (Direction::Rising { p_value: a }, Direction::Falling { p_value: b }) => {
            assert!((a - b).abs() <= 1e-12 * a.max(1e-300), "{a} vs {b}");
            assert!(up.confidence().unwrap() > 0.99);
        }
        other => panic!("expected Rising and Falling, got {other:?}"),
    }
}

#[test]
fn too_little_data_says_what_is_missing() {
    let options = TrendOptions::default();
    let short = watch(0, 2.5, leak(5.0, 1.0));
    assert!(matches!(
        direction_with(&short, &options),
        Direction::Insufficient(Shortfall::Samples { need: 10, .. })
    ));
    let brief = watch(0, 20.0, leak(5.0, 1.0));
    let trend = analyze(&brief, &options).unwrap();
    assert_eq!(
        trend.current().direction,
        Direction::Insufficient(Shortfall::Windows { have: 3, need: 6 })
    );
    // The statistics are there for a person to look at all the same.
    assert!(trend.current().theil_sen.unwrap().slope_per_minute() > 4.0);
}

#[test]
fn a_flat_count_is_flat() {
    let options = TrendOptions::default();
    let series: Vec<Sample> = (0..720)
        .map(|i| Sample::new(i as f64 * 5.0, 42.0))
        .collect();
    let trend = analyze(&series, &options).unwrap();
    assert_eq!(trend.current().direction, Direction::Flat);
    assert_eq!(trend.current().mann_kendall.unwrap().p, 1.0);
    assert_eq!(trend.current().direction.confidence(), None);
}

#[test]
fn long_watches_are_decimated() {
    let options = TrendOptions::default();
    // Three days at 5 s with a leak of one goroutine every 20 minutes.
    let series: Vec<Sample> = (0..51_840)
        .map(|i| {
            let t = i as f64 * 5.0;
            Sample::new(t, 300.0 + (t / 1200.0).floor() + (i % 7) as f64)
        })
        .collect();
    let trend = analyze(&series, &options).unwrap();
    let current = trend.current();
    assert_eq!(current.n, 51_840 - 24);
    let fitted = current.mann_kendall.unwrap().n;
    assert!(fitted <= options.max_points && fitted > options.max_points / 2);
    assert!(matches!(current.direction, Direction::Rising { .. }));
    let slope = current.theil_sen.unwrap().slope_per_minute();
    assert!((slope - 0.05).abs() < 0.005, "slope {slope}/min");
}

/// 40 goroutines at start-up, leaking one a minute for `minutes`, then restarting.
fn leak_then_restart(minutes: usize, again: usize) -> Vec<Sample> {
    let mut rng = Rng(7);
    let mut out = Vec::new();
    for (process, span) in [(1, minutes), (2, again)] {
        let offset = out.last().map_or(0.0, |s: &Sample| s.t + 5.0);
        for i in 0..span * 12 {
            let t = i as f64 * 5.0;
            let v = (40.0 + t / 60.0 + rng.normal(1.0)).round();
            out.push(Sample::with_process(offset + t, v, process));
        }
    }
    out
}

#[test]
fn restarts_cut_the_series_and_are_not_a_leak_ending() {
    let options = TrendOptions::default();
    let known = leak_then_restart(70, 45);
    let anonymous: Vec<Sample> = known.iter().map(|s| Sample::new(s.t, s.value)).collect();
    let restart = 70 * 12;
    for (series, cause) in [
        (&known, SegmentStart::ProcessChanged),
        (&anonymous, SegmentStart::InferredRestart),
    ] {
        let cut = segments(series, &options).unwrap();
        assert_eq!(cut.len(), 2, "{cause:?}");
        assert_eq!(cut[1].range, restart..series.len());
        assert_eq!(cut[1].start, cause);
        let analysis = analyze(series, &options).unwrap();
        for trend in &analysis.trends {
            assert!(
                matches!(trend.direction, Direction::Rising { .. }),
                "{cause:?}: {:?}",
                trend.direction
            );
        }
    }
    // Read as one process, the restart looks like the leak ending.
    let blind = TrendOptions {
        infer_restarts: false,
        ..TrendOptions::default()
    };
    assert!(!matches!(
        direction_with(&anonymous, &blind),
        Direction::Rising { .. }
    ));
}

#[test]
fn returning_to_the_floor_or_releasing_leaked_goroutines_is_no_restart() {
    let options = TrendOptions::default();
    // Bursts from a floor at the start-up level fall back to it, not through it.
    let series = watch(3, 60.0, spikes(5.0, 300.0, 120.0));
    assert_eq!(segments(&series, &options).unwrap().len(), 1);
    // 200 goroutines stuck for 20 minutes, then 150 of them released: the count falls
    // through its floor but not back to where it started.
    let series: Vec<Sample> = (0..480)
        .map(|i| {
            let t = i as f64 * 5.0;
            let v = match t {
                t if t < 600.0 => 50.0,
                t if t < 1800.0 => 250.0,
                _ => 100.0,
            };
            Sample::new(t, v)
        })
        .collect();
    assert_eq!(segments(&series, &options).unwrap().len(), 1);
}

/// 50 goroutines at rest; `phases` each add 100 while the load runs, of which `kept` stay
/// and the rest drain over 60 s. Samples every 5 s for `minutes`.
fn load_test(phases: &[(f64, f64, f64)], minutes: f64) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut t = 0.0;
    while t < minutes * 60.0 {
        let mut v = 50.0;
        for &(start, end, kept) in phases {
            if t >= start && t < end {
                v += 100.0;
            } else if t >= end {
                v += kept + (100.0 - kept) * (1.0 - (t - end) / 60.0).max(0.0);
            }
        }
        out.push(Sample::new(t, v.round()));
        t += STEP;
    }
    out
}

#[test]
fn recovery_tells_a_drained_burst_from_a_stuck_one() {
    let options = TrendOptions::default();
    let phases = [
        LoadPhase {
            start: 600.0,
            end: 900.0,
        },
        LoadPhase {
            start: 1800.0,
            end: 2100.0,
        },
    ];
    let series = load_test(&[(600.0, 900.0, 0.0), (1800.0, 2100.0, 30.0)], 60.0);
    let outcomes = recovery(&series, Some(&phases), &options).unwrap();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].baseline, Some(50.0));
    assert_eq!(outcomes[0].peak, Some(150.0));
    match outcomes[0].recovery {
        Recovery::Recovered { after_secs } => assert!((55.0..=60.0).contains(&after_secs)),
        other => panic!("first phase: {other:?}"),
    }
    assert_eq!(outcomes[1].recovery, Recovery::Stuck { retained: 30.0 });

    // Found from the series alone, too.
    let inferred = recovery(&series, None, &options).unwrap();
    let recoveries: Vec<Recovery> = inferred.iter().map(|o| o.recovery).collect();
    assert!(inferred.iter().all(|o| o.inferred));
    assert!(matches!(
        recoveries[..],
        [Recovery::Recovered { .. }, Recovery::Stuck { .. }]
    ));
    assert_eq!(inferred[1].recovery, Recovery::Stuck { retained: 30.0 });
    assert!((inferred[1].phase.start - 1800.0).abs() <= STEP);
}

#[test]
fn recovery_waits_for_the_cool_down_and_knows_its_limits() {
    let options = TrendOptions::default();
    let stuck = [(600.0, 900.0, 30.0)];
    let phase = [LoadPhase {
        start: 600.0,
        end: 900.0,
    }];
    let at = |series: &[Sample], phases: &[LoadPhase]| {
        recovery(series, Some(phases), &options).unwrap()[0].recovery
    };
    // The data ends before the cool-down does.
    assert_eq!(at(&load_test(&stuck, 18.0), &phase), Recovery::Pending);
    // The next load starts before the cool-down ends.
    let back_to_back = [
        LoadPhase {
            start: 600.0,
            end: 900.0,
        },
        LoadPhase {
            start: 1000.0,
            end: 1200.0,
        },
    ];
    let series = load_test(&[(600.0, 900.0, 30.0), (1000.0, 1200.0, 0.0)], 40.0);
    assert_eq!(at(&series, &back_to_back), Recovery::Interrupted);
    // No load effect at all.
    let quiet = load_test(&[], 30.0);
    assert_eq!(at(&quiet, &phase), Recovery::Unaffected);
    // Nothing before the load after warm-up.
    let early = [LoadPhase {
        start: 60.0,
        end: 300.0,
    }];
    assert_eq!(
        at(&load_test(&[(60.0, 300.0, 0.0)], 30.0), &early),
        Recovery::NoBaseline
    );
    // A restart during the cool-down takes the goroutines with it.
    let mut restarted = load_test(&stuck, 30.0);
    for s in &mut restarted {
        s.process = Some(if s.t < 1000.0 { 1 } else { 2 });
    }
    assert_eq!(at(&restarted, &phase), Recovery::Restarted);
    // Inferred phases: a plateau under steady load is not called stuck however long.
    let plateau = load_test(&[(600.0, 1e9, 0.0)], 60.0);
    let inferred = recovery(&plateau, None, &options).unwrap();
    assert_eq!(inferred.len(), 1);
    assert_eq!(inferred[0].recovery, Recovery::Pending);
}

/// How the defaults were chosen: false alarms on healthy series and the time to find
/// leaks, re-analysing every 2 minutes for 3 hours over 24 seeds. Takes a few minutes:
/// `cargo test --release -p goleash-core --test trend_behavior -- --ignored --nocapture`.
#[test]
#[ignore]
fn calibration_table() {
    let options = TrendOptions::default();
    let seeds = 24;
    let mut cases = healthy();
    cases.push(("wander, 2 min", || wander(120.0, 10.0)));
    cases.push(("wander, 10 min", || wander(600.0, 10.0)));
    cases.push(("wander, 30 min", || wander(1800.0, 10.0)));
    for (name, make) in cases {
        let alarms = (0..seeds)
            .filter(|&seed| {
                first_rising(&watch(seed, 180.0, make()), 0.0, 120.0, &options).is_some()
            })
            .count();
        println!("{name}: Rising at some point in {alarms} of {seeds} runs");
    }
    let leaks: [Scenario; 4] = [
        ("leak 1/min, noise sd 3", || leak(1.0, 3.0)),
        ("leak 1/min, noise sd 10", || leak(1.0, 10.0)),
        ("leak 0.2/min, noise sd 3", || leak(0.2, 3.0)),
        ("leak 1/min under draining bursts", || {
            let mut traffic = bursts(5.0, 200.0);
            Box::new(move |t, r| traffic(t, r) + t / 60.0)
        }),
    ];
    for (name, make) in leaks {
        let mut minutes: Vec<f64> = (0..seeds)
            .map(|seed| {
                first_rising(&watch(seed, 180.0, make()), 0.0, 120.0, &options)
                    .map_or(f64::INFINITY, |t| t / 60.0)
            })
            .collect();
        minutes.sort_by(f64::total_cmp);
        println!(
            "{name}: found after {:.0} min (median), {:.0} min (worst)",
            minutes[minutes.len() / 2],
            minutes[minutes.len() - 1]
        );
    }
}

/// A week sampled every minute, as `scan` reads it from Prometheus: the count
/// `level(t, rng)` rounded, with a new process every `restart_days` days.
fn week_at_one_minute(
    seed: u64,
    restart_days: f64,
    mut level: impl FnMut(f64, &mut Rng) -> f64,
) -> Vec<Sample> {
    let mut rng = Rng(seed);
    let process_secs = restart_days * 86_400.0;
    (0..7 * 24 * 60)
        .map(|i| {
            let t = i as f64 * 60.0;
            let since_start = t % process_secs;
            let v = level(since_start, &mut rng).round().max(0.0);
            Sample::with_process(t, v, (t / process_secs) as u64)
        })
        .collect()
}

#[test]
fn a_week_at_one_minute_gets_the_right_verdict_from_merged_windows() {
    let options = TrendOptions::default();
    // Noise and bursts of up to 150 goroutines lasting under the cool-down.
    let flat = week_at_one_minute(11, 7.0, |_, r| {
        let burst = if r.uniform() < 0.05 {
            150.0 * r.uniform()
        } else {
            0.0
        };
        100.0 + burst + r.normal(3.0)
    });
    // Three goroutines an hour: about 500 over the week, under the same noise.
    let climb = week_at_one_minute(12, 7.0, |t, r| 100.0 + 3.0 * t / 3600.0 + r.normal(3.0));
    for (name, series, rising) in [("flat", &flat, false), ("slow climb", &climb, true)] {
        let analysis = analyze(series, &options).unwrap();
        let current = analysis.current();
        assert_eq!(current.windows, (7 * 86_400 - 120) / 300, "{name}");
        // The window statistics see merged windows, so their cost does not grow with the
        // square of the week.
        let levels = current.floors.unwrap().n;
        assert!(levels <= 200 && levels > 150, "{name}: {levels} levels");
        assert_eq!(
            matches!(current.direction, Direction::Rising { .. }),
            rising,
            "{name}: {:?}",
            current.direction
        );
        if !rising {
            assert_eq!(current.direction, Direction::Flat, "{name}");
        }
    }
    // A leak of one goroutine every 10 minutes, restarted every day: every day is a
    // leaking process of its own (288 windows, merged), and no restart ends it.
    let restarted = week_at_one_minute(13, 1.0, |t, r| 40.0 + t / 600.0 + r.normal(2.0));
    let analysis = analyze(&restarted, &options).unwrap();
    assert_eq!(analysis.trends.len(), 7);
    for trend in &analysis.trends {
        assert!(trend.windows > 200, "{}", trend.windows);
        assert!(
            matches!(trend.direction, Direction::Rising { .. }),
            "{:?}",
            trend.direction
        );
    }
    // The same restarts without a leak: each day flat, the sawtooth of restarts no trend.
    let restarted_flat = week_at_one_minute(14, 1.0, |_, r| 40.0 + r.normal(2.0));
    let analysis = analyze(&restarted_flat, &options).unwrap();
    assert_eq!(analysis.trends.len(), 7);
    assert!(
        analysis
            .trends
            .iter()
            .all(|trend| trend.direction == Direction::Flat)
    );
}
