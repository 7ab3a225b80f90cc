//! Invariants of the trend statistics over arbitrary inputs.

use goleash_core::trend::{
    Direction, LoadPhase, Sample, TrendError, TrendOptions, analyze, mann_kendall, recovery,
    segments, theil_sen,
};
use proptest::collection::vec;
use proptest::prelude::*;

/// Strictly increasing times from gaps between samples.
fn times(start: f64, gaps: &[f64]) -> Vec<f64> {
    gaps.iter()
        .scan(start, |t, g| {
            *t += g;
            Some(*t)
        })
        .collect()
}

/// A watch's series: uneven gaps (missed samples) and whole-goroutine counts.
fn series() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (3usize..80).prop_flat_map(|n| {
        (
            (0.0f64..1e6, vec(0.5f64..30.0, n)).prop_map(|(s, g)| times(s, &g)),
            vec((0u32..400).prop_map(f64::from), n),
        )
    })
}

fn pairs(t: &[f64], v: &[f64]) -> Vec<(f64, f64)> {
    t.iter().copied().zip(v.iter().copied()).collect()
}

fn samples(t: &[f64], v: &[f64]) -> Vec<Sample> {
    t.iter().zip(v).map(|(&t, &v)| Sample::new(t, v)).collect()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
}

proptest! {
    #[test]
    fn a_straight_line_has_its_rate_as_slope(
        gaps in vec(0.5f64..120.0, 3..60),
        start in 0.0f64..1e5,
        level in -1e3f64..1e3,
        rate in -10.0f64..10.0,
    ) {
        prop_assume!(rate.abs() > 1e-6);
        let t = times(start, &gaps);
        let v: Vec<f64> = t.iter().map(|t| level + rate * t).collect();
        let fit = theil_sen(&pairs(&t, &v), 0.95).unwrap();
        prop_assert!(close(fit.slope, rate, 1e-9), "{} vs {rate}", fit.slope);
        prop_assert!(close(fit.low_slope, rate, 1e-9) && close(fit.high_slope, rate, 1e-9));
        prop_assert!((fit.intercept - level).abs() <= 1e-9 * (1.0 + rate.abs() * t[t.len() - 1]));
        let mk = mann_kendall(&v).unwrap();
        let pairs = (t.len() * (t.len() - 1) / 2) as i64;
        prop_assert_eq!(mk.s, pairs * rate.signum() as i64);
        prop_assert_eq!(mk.tau, rate.signum());
    }

    #[test]
    fn adding_a_constant_moves_only_the_intercept(
        (t, v) in series(),
        shift in -1000i32..1000,
    ) {
        let c = f64::from(shift);
        let moved: Vec<f64> = v.iter().map(|v| v + c).collect();
        prop_assert_eq!(mann_kendall(&v).unwrap(), mann_kendall(&moved).unwrap());
        let (a, b) = (
            theil_sen(&pairs(&t, &v), 0.9).unwrap(),
            theil_sen(&pairs(&t, &moved), 0.9).unwrap(),
        );
        prop_assert_eq!((a.slope, a.low_slope, a.high_slope), (b.slope, b.low_slope, b.high_slope));
        prop_assert!(close(a.intercept + c, b.intercept, 1e-9));
    }

    #[test]
    fn negating_mirrors_every_statistic(
        (t, v) in series(),
    ) {
        let neg: Vec<f64> = v.iter().map(|v| -v).collect();
        let (a, b) = (mann_kendall(&v).unwrap(), mann_kendall(&neg).unwrap());
        prop_assert_eq!(a.s, -b.s);
        prop_assert_eq!(a.var_s, b.var_s);
        prop_assert_eq!(a.z, -b.z);
        prop_assert_eq!(a.p, b.p);
        prop_assert_eq!(a.p_increasing, b.p_decreasing);
        prop_assert_eq!(a.tau, -b.tau);
        let (a, b) = (
            theil_sen(&pairs(&t, &v), 0.95).unwrap(),
            theil_sen(&pairs(&t, &neg), 0.95).unwrap(),
        );
        prop_assert_eq!(a.slope, -b.slope);
        prop_assert_eq!(a.low_slope, -b.high_slope);
        prop_assert_eq!(a.high_slope, -b.low_slope);
    }

    #[test]
    fn never_panics_on_nan_free_input(
        t in vec(any::<f64>().prop_filter("no NaN", |x| !x.is_nan()), 0..60),
        v in vec(any::<f64>().prop_filter("no NaN", |x| !x.is_nan()), 60),
        phases in vec((any::<f64>(), any::<f64>()), 0..4),
        sorted in any::<bool>(),
    ) {
        let mut t = t;
        if sorted {
            t.sort_by(f64::total_cmp);
            t.dedup();
        }
        let s = samples(&t, &v[..t.len()]);
        let phases: Vec<LoadPhase> = phases.iter().map(|&(start, end)| LoadPhase { start, end }).collect();
        let options = TrendOptions::default();
        let _ = analyze(&s, &options);
        let _ = segments(&s, &options);
        let _ = recovery(&s, None, &options);
        let _ = recovery(&s, Some(&phases), &options);
        let _ = mann_kendall(&v[..t.len()]);
        let _ = theil_sen(&pairs(&t, &v), 0.95);
    }

    #[test]
    fn bad_input_is_a_clear_error(
        (t, v) in series(),
        at in any::<prop::sample::Index>(),
    ) {
        let i = at.index(t.len());
        prop_assert_eq!(
            mann_kendall(&v[..2]),
            Err(TrendError::TooFewSamples { have: 2, need: 3 })
        );
        prop_assert_eq!(
            theil_sen(&pairs(&t[..1], &v[..1]), 0.95),
            Err(TrendError::TooFewSamples { have: 1, need: 3 })
        );
        let mut nan = v.clone();
        nan[i] = f64::NAN;
        prop_assert_eq!(mann_kendall(&nan), Err(TrendError::NotFinite { index: i }));
        prop_assert_eq!(
            analyze(&samples(&t, &nan), &TrendOptions::default()),
            Err(TrendError::NotFinite { index: i })
        );
        if i > 0 {
            let mut repeated = t.clone();
            repeated[i] = repeated[i - 1];
            let expected = Some(TrendError::TimeNotIncreasing {
                index: i,
                t: repeated[i],
                previous: repeated[i],
            });
            prop_assert_eq!(theil_sen(&pairs(&repeated, &v), 0.95).err(), expected.clone());
            prop_assert_eq!(
                segments(&samples(&repeated, &v), &TrendOptions::default()).err(),
                expected
            );
        }
    }
}

proptest! {
    // Each case analyses hundreds of samples, slow in a debug build.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn negating_swaps_rising_and_falling(
        gaps in vec(1.0f64..20.0, 200..700),
        rate in -3.0f64..3.0,
        noise in vec(-5.0f64..5.0, 700),
    ) {
        let t = times(0.0, &gaps);
        let v: Vec<f64> = t.iter().zip(&noise).map(|(t, e)| (1000.0 + rate * t / 60.0 + e).round()).collect();
        let neg: Vec<f64> = v.iter().map(|v| -v).collect();
        let options = TrendOptions { infer_restarts: false, ..TrendOptions::default() };
        let up = analyze(&samples(&t, &v), &options).unwrap().current().direction;
        let down = analyze(&samples(&t, &neg), &options).unwrap().current().direction;
        let mirrored = match up {
            Direction::Rising { p_value } => Direction::Falling { p_value },
            Direction::Falling { p_value } => Direction::Rising { p_value },
            other => other,
        };
        prop_assert_eq!(down, mirrored);
    }

    #[test]
    fn never_panics_on_finite_sorted_watches(
        gaps in vec(prop_oneof![1e-9f64..1e-3, 0.1f64..600.0], 3..400),
        v in vec(prop_oneof![0.0f64..1e4, -1e300f64..1e300], 400),
        process_every in prop::option::of(5usize..100),
        max_points in 3usize..50,
    ) {
        let t = times(0.0, &gaps);
        let mut s = samples(&t, &v[..t.len()]);
        if let Some(every) = process_every {
            for (i, s) in s.iter_mut().enumerate() {
                s.process = Some((i / every) as u64);
            }
        }
        let options = TrendOptions { max_points, ..TrendOptions::default() };
        let analysis = analyze(&s, &options).unwrap();
        for trend in &analysis.trends {
            prop_assert!(trend.mann_kendall.is_none_or(|mk| mk.n <= max_points));
        }
        let _ = recovery(&s, None, &options).unwrap();
        let phase = [LoadPhase { start: t[t.len() / 3], end: t[t.len() / 2] }];
        let _ = recovery(&s, Some(&phase), &options).unwrap();
    }
}

#[test]
fn short_series_are_insufficient_not_errors() {
    let s = [Sample::new(0.0, 1.0), Sample::new(5.0, 2.0)];
    let analysis = analyze(&s, &TrendOptions::default()).unwrap();
    assert!(matches!(
        analysis.current().direction,
        Direction::Insufficient(_)
    ));
    assert_eq!(analysis.current().mann_kendall, None);
    assert!(matches!(
        analyze(&[], &TrendOptions::default()),
        Err(TrendError::TooFewSamples { have: 0, .. })
    ));
    let bad = TrendOptions {
        window_alpha: 1.5,
        ..TrendOptions::default()
    };
    assert!(matches!(
        analyze(&s, &bad),
        Err(TrendError::BadOption {
            name: "window_alpha",
            ..
        })
    ));
}
