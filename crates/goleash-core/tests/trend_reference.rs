//! The trend statistics against values computed once with scipy and pymannkendall
//! (`tests/data/trend/make_reference.py`, output in `reference.json` beside it).

use goleash_core::trend::{mann_kendall, theil_sen};
use serde_json::Value;

const REFERENCE: &str = include_str!("data/trend/reference.json");

/// Relative tolerance for everything computed from the same floating-point operations in
/// the same order as the reference (slopes, medians, S, Var(S)).
const EXACT: f64 = 1e-12;
/// Relative tolerance for values that go through the normal distribution, which scipy
/// and goleash compute with different (each near-exact) algorithms.
const NORMAL: f64 = 1e-9;

fn f(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(f).collect()
}

#[track_caller]
fn assert_close(case: &str, what: &str, got: f64, want: f64, rel: f64) {
    let ok = if want == 0.0 {
        got.abs() <= 1e-300
    } else {
        ((got - want) / want).abs() <= rel
    };
    assert!(
        ok,
        "{case}: {what} = {got:e}, reference {want:e} (tolerance {rel:e})"
    );
}

fn series() -> Vec<Value> {
    let reference: Value = serde_json::from_str(REFERENCE).expect("reference.json parses");
    reference["series"].as_array().expect("series").clone()
}

#[test]
fn reference_covers_the_cases_it_claims() {
    let names: Vec<String> = series()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    for wanted in [
        "ties",
        "unequal_spacing",
        "short_3",
        "constant",
        "sawtooth",
        "slow_leak",
    ] {
        assert!(names.iter().any(|n| n.contains(wanted)), "no {wanted} case");
    }
}

#[test]
fn mann_kendall_matches_pymannkendall() {
    for case in series() {
        let name = case["name"].as_str().unwrap();
        let want = &case["mann_kendall"];
        let got = mann_kendall(&floats(&case["v"])).unwrap();
        assert_eq!(got.n, case["v"].as_array().unwrap().len(), "{name}: n");
        assert_eq!(got.s, want["s"].as_i64().unwrap(), "{name}: S");
        assert_close(name, "var(S)", got.var_s, f(&want["var_s"]), EXACT);
        assert_close(name, "z", got.z, f(&want["z"]), EXACT);
        assert_close(name, "tau", got.tau, f(&want["tau"]), EXACT);
        assert_close(name, "p", got.p, f(&want["p"]), NORMAL);
        assert_close(
            name,
            "p_increasing",
            got.p_increasing,
            f(&want["p_increasing"]),
            NORMAL,
        );
        assert_close(
            name,
            "p_decreasing",
            got.p_decreasing,
            f(&want["p_decreasing"]),
            NORMAL,
        );
    }
}

#[test]
fn theil_sen_matches_scipy_theilslopes() {
    for case in series() {
        let name = case["name"].as_str().unwrap();
        let points: Vec<(f64, f64)> = floats(&case["t"])
            .into_iter()
            .zip(floats(&case["v"]))
            .collect();
        for want in case["theil_sen"].as_array().unwrap() {
            let alpha = f(&want["alpha"]);
            let what = |field: &str| format!("{field} (alpha {alpha})");
            let got = theil_sen(&points, alpha).unwrap();
            assert_close(name, &what("slope"), got.slope, f(&want["slope"]), EXACT);
            assert_close(
                name,
                &what("intercept"),
                got.intercept,
                f(&want["intercept"]),
                EXACT,
            );
            assert_close(
                name,
                &what("low"),
                got.low_slope,
                f(&want["low_slope"]),
                EXACT,
            );
            assert_close(
                name,
                &what("high"),
                got.high_slope,
                f(&want["high_slope"]),
                EXACT,
            );
        }
    }
}
