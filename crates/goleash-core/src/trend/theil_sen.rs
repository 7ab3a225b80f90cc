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
/// Costs O(n²) time, in one pass over the pairs that keeps a few percent of their slopes
/// ([`slope_order_statistics`]).
pub fn theil_sen(points: &[(f64, f64)], alpha: f64) -> Result<TheilSen, TrendError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(TrendError::BadOption {
            name: "alpha",
            reason: "must be strictly between 0 and 1",
        });
    }
    super::check_points(points)?;
    let n = points.len();
    let count = n * (n - 1) / 2;
    let mid = count / 2;
    let alpha = if alpha > 0.5 { 1.0 - alpha } else { alpha };
    let z = normal::ppf(alpha / 2.0);
    // Times are distinct, so only ties among the values reduce the variance.
    let values: Vec<f64> = points.iter().map(|p| p.1).collect();
    let sigma = tie_corrected_variance(&values).sqrt();
    let last = count - 1;
    let upper = ((((count as f64) - z * sigma) / 2.0)
        .round_ties_even()
        .max(0.0) as usize)
        .min(last);
    let lower = ((((count as f64) + z * sigma) / 2.0).round_ties_even() - 1.0).max(0.0) as usize;
    let lower = lower.min(last);
    let [low_slope, below_mid, at_mid, high_slope] =
        slope_order_statistics(points, [lower, mid.saturating_sub(1), mid, upper]);
    // numpy's median: the mean of the two middle values for an even count.
    let slope = if count % 2 == 1 {
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

/// Slope counts up to which every slope is kept and selected among: as quick as anything
/// cleverer at that size.
const ALL_SLOPES_UP_TO: usize = 1 << 15;

/// Slopes sampled to bracket the ranks asked for.
const SLOPE_SAMPLE: usize = 4096;

/// The `ks[i]`-th smallest of the pairwise slopes of `points` (times strictly increasing).
///
/// Above [`ALL_SLOPES_UP_TO`] slopes, a sample of them (drawn the same way every time)
/// brackets the ranks, with three standard deviations of the sample's error either side;
/// one pass over every pair then counts the slopes below the bracket and on its bounds, and
/// keeps only those strictly inside it. Selection then runs on a few percent of the slopes (for n = 1,000, 4 MB of
/// them were stored and selected among before). The answer is exact: a bracket the sample
/// got wrong shows in its counts, and then every slope is kept.
fn slope_order_statistics<const N: usize>(points: &[(f64, f64)], ks: [usize; N]) -> [f64; N] {
    let n = points.len();
    let count = n * (n - 1) / 2;
    let slope = |(ti, vi): (f64, f64), (tj, vj): (f64, f64)| (vj - vi) / (tj - ti);
    if count > ALL_SLOPES_UP_TO {
        let first = ks.iter().copied().min().unwrap_or(0);
        let last = ks.iter().copied().max().unwrap_or(0);
        let mut random = SplitMix64(0x5eed);
        let mut sample = Vec::with_capacity(SLOPE_SAMPLE);
        while sample.len() < SLOPE_SAMPLE {
            let a = (random.next() % n as u64) as usize;
            let b = (random.next() % n as u64) as usize;
            if a != b {
                sample.push(slope(points[a.min(b)], points[a.max(b)]));
            }
        }
        sample.sort_unstable_by(f64::total_cmp);
        let margin = 3 * SLOPE_SAMPLE.isqrt();
        let position = |k: usize| (k as u128 * SLOPE_SAMPLE as u128 / count as u128) as usize;
        let low = position(first)
            .checked_sub(margin)
            .map_or(f64::NEG_INFINITY, |p| sample[p]);
        let high = sample
            .get(position(last) + margin)
            .copied()
            .unwrap_or(f64::INFINITY);
        // Slopes equal to a bound are only counted: a count that holds still gives one
        // slope (0) to most pairs, and the bracket is then [0, 0].
        let (mut below, mut at_low, mut at_high) = (0, 0, 0);
        let distinct = low != high;
        let mut inside = Vec::new();
        // Each row's slopes strictly inside, written without a branch to mispredict.
        let mut row = vec![0.0; n];
        for (i, &from) in points.iter().enumerate() {
            let mut kept = 0;
            for &to in &points[i + 1..] {
                let s = slope(from, to);
                below += usize::from(s < low);
                at_low += usize::from(s == low);
                at_high += usize::from(distinct && s == high);
                row[kept] = s;
                kept += usize::from(s > low && s < high);
            }
            inside.extend_from_slice(&row[..kept]);
        }
        let strictly_inside = inside.len();
        if below <= first && last < below + at_low + strictly_inside + at_high {
            let rank = ks.map(|k| k - below);
            let selected = if inside.is_empty() {
                [low; N]
            } else {
                let in_inside = rank.map(|r| r.saturating_sub(at_low).min(strictly_inside - 1));
                order_statistics(&mut inside, in_inside)
            };
            return std::array::from_fn(|i| match rank[i] {
                r if r < at_low => low,
                r if r < at_low + strictly_inside => selected[i],
                _ => high,
            });
        }
    }
    let mut slopes = Vec::with_capacity(count);
    for (i, &from) in points.iter().enumerate() {
        slopes.extend(points[i + 1..].iter().map(|&to| slope(from, to)));
    }
    order_statistics(&mut slopes, ks)
}

/// A small, fixed generator of pseudo-random numbers (Steele, Lea and Flood's SplitMix64),
/// so that the sample, and with it the cost, is the same on every run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every slope, sorted: the definition the bracketed selection must reproduce.
    fn sorted_slopes(points: &[(f64, f64)]) -> Vec<f64> {
        let mut slopes = Vec::new();
        for (i, &(ti, vi)) in points.iter().enumerate() {
            for &(tj, vj) in &points[i + 1..] {
                slopes.push((vj - vi) / (tj - ti));
            }
        }
        slopes.sort_by(f64::total_cmp);
        slopes
    }

    #[test]
    fn bracketed_selection_gives_the_exact_order_statistics() {
        let mut random = SplitMix64(7);
        let mut uniform = || (random.next() >> 11) as f64 / (1u64 << 53) as f64;
        let n = 400;
        let leak_with_ties: Vec<(f64, f64)> = (0..n)
            .map(|i| {
                (
                    i as f64 * 60.0,
                    (40 + i / 20) as f64 + (uniform() * 8.0).floor(),
                )
            })
            .collect();
        let flat: Vec<(f64, f64)> = (0..n).map(|i| (i as f64, 40.0)).collect();
        let mut outlier = flat.clone();
        outlier[n / 2].1 = 1e9;
        let noise: Vec<(f64, f64)> = (0..n)
            .map(|i| (i as f64 + uniform() * 0.5, uniform() * 1e3 - 5e2))
            .collect();
        for points in [leak_with_ties, flat, outlier, noise] {
            let all = sorted_slopes(&points);
            assert!(all.len() > ALL_SLOPES_UP_TO);
            let last = all.len() - 1;
            // The ranks theil_sen asks for (a bracket of a few percent), then the extremes
            // (a bracket open at both ends).
            let middle = [last * 48 / 100, last / 2 - 1, last / 2, last * 52 / 100];
            assert_eq!(
                slope_order_statistics(&points, middle),
                middle.map(|k| all[k])
            );
            let extremes = [0, 17, last - 3, last];
            assert_eq!(
                slope_order_statistics(&points, extremes),
                extremes.map(|k| all[k])
            );
        }
    }
}
