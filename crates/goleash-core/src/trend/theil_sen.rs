//! The Theil–Sen slope: the median of the slopes between every pair of samples.

use super::{TrendError, mann_kendall::tie_corrected_variance, normal};

/// The result of [`theil_sen`]. Slopes are in value units per time unit of the input
/// (goroutines per second for [`Sample`](super::Sample)s).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TheilSen {
    /// The median of the pairwise slopes.
    pub slope: f64,
    /// `median(value) − slope · median(t)`: the fitted value at `t = 0` (scipy's
    /// `method='separate'`).
    pub intercept: f64,
    /// Lower bound of the confidence interval for the slope.
    pub low_slope: f64,
    /// Upper bound of the confidence interval for the slope.
    pub high_slope: f64,
}

impl TheilSen {
    /// [`slope`](Self::slope) per minute, for times in seconds.
    pub fn slope_per_minute(&self) -> f64 {
        self.slope * 60.0
    }

    /// The confidence interval per minute, for times in seconds.
    pub fn interval_per_minute(&self) -> (f64, f64) {
        (self.low_slope * 60.0, self.high_slope * 60.0)
    }
}

/// Fits a Theil–Sen line to `(t, value)` samples, `t` strictly increasing and not
/// necessarily evenly spaced, as `scipy.stats.theilslopes(value, t, alpha)` does.
///
/// `alpha` is scipy's: the confidence level of the interval for the slope, with values
/// below 0.5 taken as `1 − alpha` (0.95 and 0.05 both give a 95 % interval). The interval
/// is Sen's (1968, eq. 2.6): the order statistics of the sorted slopes at ranks
/// `(N ∓ z·σ)/2`, where N is the number of slopes, z the normal quantile of `alpha/2` and σ²
/// the tie-corrected variance of Kendall's S. Ranks are rounded half to even, like numpy.
///
/// Costs O(n²) time and memory (n(n−1)/2 slopes of 8 bytes: 4 MB for n = 1,000).
pub fn theil_sen(points: &[(f64, f64)], alpha: f64) -> Result<TheilSen, TrendError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(TrendError::BadOption {
            name: "alpha",
            reason: "must be strictly between 0 and 1",
        });
    }
    super::check_points(points)?;
    let n = points.len();
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for (i, &(ti, vi)) in points.iter().enumerate() {
        for &(tj, vj) in &points[i + 1..] {
            slopes.push((vj - vi) / (tj - ti));
        }
    }
    let mid = slopes.len() / 2;
    let alpha = if alpha > 0.5 { 1.0 - alpha } else { alpha };
    let z = normal::ppf(alpha / 2.0);
    // Times are distinct, so only ties among the values reduce the variance.
    let values: Vec<f64> = points.iter().map(|p| p.1).collect();
    let sigma = tie_corrected_variance(&values).sqrt();
    let count = slopes.len() as f64;
    let last = slopes.len() - 1;
    let upper = (((count - z * sigma) / 2.0).round_ties_even().max(0.0) as usize).min(last);
    let lower = (((count + z * sigma) / 2.0).round_ties_even() - 1.0).max(0.0) as usize;
    let lower = lower.min(last);
    let [low_slope, below_mid, at_mid, high_slope] =
        order_statistics(&mut slopes, [lower, mid.saturating_sub(1), mid, upper]);
    // numpy's median: the mean of the two middle values for an even count.
    let slope = if slopes.len() % 2 == 1 {
        at_mid
    } else {
        (below_mid + at_mid) / 2.0
    };
    let mut ts: Vec<f64> = points.iter().map(|p| p.0).collect();
    let mut vs: Vec<f64> = points.iter().map(|p| p.1).collect();
    Ok(TheilSen {
        slope,
        intercept: median_in_place(&mut vs) - slope * median_in_place(&mut ts),
        low_slope,
        high_slope,
    })
}

/// The `ks[i]`-th smallest values; reorders `values`. Selecting in ascending order of rank,
/// each selection only searches the part above the previous one, so four ranks cost about
/// 1.5 passes over the slopes instead of four.
fn order_statistics<const N: usize>(values: &mut [f64], ks: [usize; N]) -> [f64; N] {
    let mut order: [usize; N] = std::array::from_fn(|i| i);
    order.sort_by_key(|&i| ks[i]);
    let mut out = [0.0; N];
    let mut from = 0;
    for i in order {
        let k = ks[i];
        if k >= from {
            values[from..].select_nth_unstable_by(k - from, f64::total_cmp);
            from = k + 1;
        }
        out[i] = values[k];
    }
    out
}

/// numpy's median: the mean of the two middle values for an even count. Reorders `values`,
/// which must not be empty.
pub(crate) fn median_in_place(values: &mut [f64]) -> f64 {
    let mid = values.len() / 2;
    let [low, high] = order_statistics(values, [mid.saturating_sub(1), mid]);
    if values.len() % 2 == 1 {
        high
    } else {
        (low + high) / 2.0
    }
}
