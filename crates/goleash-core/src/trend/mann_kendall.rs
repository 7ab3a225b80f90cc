//! The Mann–Kendall trend test, with the tie correction of the variance.

use super::{TrendError, normal};

/// The result of [`mann_kendall`]; the fields are those of `pymannkendall.original_test`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannKendall {
    /// How many values.
    pub n: usize,
    /// S: over all pairs i < j, the number with `x[j] > x[i]` minus the number with
    /// `x[j] < x[i]`.
    pub s: i64,
    /// Var(S) under the null hypothesis of no trend, corrected for ties:
    /// `[n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18` over groups of `t` equal values.
    pub var_s: f64,
    /// S standardized with a continuity correction: `(S − sign(S)) / √Var(S)`, 0 when S is 0
    /// (and when every value is the same, where Var(S) is 0).
    pub z: f64,
    /// Two-sided p-value, P(|Z| ≥ |z|).
    pub p: f64,
    /// One-sided p-value against an increasing trend, P(Z ≥ z).
    pub p_increasing: f64,
    /// One-sided p-value against a decreasing trend, P(Z ≤ z).
    pub p_decreasing: f64,
    /// Kendall's tau as Mann–Kendall tests report it (tau-a): `S / (n(n−1)/2)`. Ties count
    /// as neither concordant nor discordant, so a series of small integer counts with many
    /// ties never reaches ±1.
    pub tau: f64,
}

/// Runs the Mann–Kendall test on `values`, which are in time order.
///
/// Only the order of the values matters, not their spacing in time, so missed samples do
/// not bias it. Costs O(n²) time and O(n) memory: about 0.2 ms for n = 1,000 and 30 ms for 10,000 (see
/// [`TrendOptions::max_points`](super::TrendOptions::max_points) for long series).
///
/// The test assumes the values are independent. Goroutine counts sampled every few seconds
/// are not (a burst spans several samples), which makes small p-values too easy to get;
/// [`analyze`](super::analyze) therefore never decides on this p-value alone.
pub fn mann_kendall(values: &[f64]) -> Result<MannKendall, TrendError> {
    super::check_values(values)?;
    let n = values.len();
    let mut s: i64 = 0;
    for (i, &a) in values.iter().enumerate() {
        for &b in &values[i + 1..] {
            // Branch-free so the inner loop vectorizes; NaN was rejected above.
            s += i64::from(b > a) - i64::from(b < a);
        }
    }
    let var_s = tie_corrected_variance(values);
    let z = if s > 0 {
        (s - 1) as f64 / var_s.sqrt()
    } else if s < 0 {
        (s + 1) as f64 / var_s.sqrt()
    } else {
        0.0
    };
    let pairs = (n * (n - 1)) as f64 / 2.0;
    Ok(MannKendall {
        n,
        s,
        var_s,
        z,
        p: (2.0 * normal::sf(z.abs())).min(1.0),
        p_increasing: normal::sf(z),
        p_decreasing: normal::cdf(z),
        tau: s as f64 / pairs,
    })
}

/// `[n(n−1)(2n+5) − Σ t(t−1)(2t+5)] / 18`, with the integer part exact (i128) so that long
/// series do not lose the tie correction to rounding.
pub(crate) fn tie_corrected_variance(values: &[f64]) -> f64 {
    let term = |t: i128| t * (t - 1) * (2 * t + 5);
    let mut sorted = values.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    let mut ties: i128 = 0;
    let mut run = 1;
    for i in 1..=sorted.len() {
        if i < sorted.len() && sorted[i] == sorted[i - 1] {
            run += 1;
        } else {
            ties += term(run);
            run = 1;
        }
    }
    (term(values.len() as i128) - ties) as f64 / 18.0
}
