//! The standard normal distribution, to the full precision of `f64`.
//!
//! The p-values of a test that fires a page at 3 a.m. are compared with thresholds like
//! 0.01, and reference values come from scipy; a short textbook approximation (about 1e-7)
//! would be enough for the decision but not for checking against scipy, so `erfc` here is
//! accurate to a few ulps and the quantile is polished with Halley steps on it.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// 2/√π.
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// Below this, `erfc(x) = 1 − erf(x)` is above 0.47 and loses at most a bit to the
/// subtraction; above it the continued fraction converges in at most about 730 terms (a few
/// microseconds), and in under 60 from x = 2.
const SERIES_LIMIT: f64 = 0.5;

/// `erfc(x)` underflows to 0 past this.
const UNDERFLOW: f64 = 27.3;

/// The complementary error function.
pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        // erfc(−x) = 2 − erfc(x): erfc(x) is then below 1, so nothing cancels.
        return 2.0 - erfc(-x);
    }
    if x < SERIES_LIMIT {
        1.0 - erf_series(x)
    } else if x < UNDERFLOW {
        erfc_continued_fraction(x)
    } else {
        0.0
    }
}

/// erf(x) = 2/√π · e^(−x²) · Σ (2x²)ⁿ x / (1·3·5···(2n+1)): every term is positive, so
/// unlike the alternating Maclaurin series nothing cancels.
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    let mut k = 1.0;
    while term > sum * f64::EPSILON * 0.25 {
        term *= 2.0 * x2 / (2.0 * k + 1.0);
        sum += term;
        k += 1.0;
    }
    TWO_OVER_SQRT_PI * (-x2).exp() * sum
}

/// erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), evaluated with the
/// modified Lentz method.
fn erfc_continued_fraction(x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    let mut k = 1.0;
    // See SERIES_LIMIT for the number of terms; the bound only guards against a bug.
    for _ in 0..2000 {
        let a = k * 0.5;
        d = x + a * d;
        if d.abs() < TINY {
            d = TINY;
        }
        d = 1.0 / d;
        c = x + a / c;
        if c.abs() < TINY {
            c = TINY;
        }
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < f64::EPSILON * 0.5 {
            break;
        }
        k += 1.0;
    }
    (-x * x).exp() / (PI.sqrt() * f)
}

/// P(Z > z) for a standard normal Z, accurate in the far tail (no `1 − cdf`).
pub(crate) fn sf(z: f64) -> f64 {
    0.5 * erfc(z * FRAC_1_SQRT_2)
}

/// P(Z ≤ z).
pub(crate) fn cdf(z: f64) -> f64 {
    0.5 * erfc(-z * FRAC_1_SQRT_2)
}

/// The standard normal quantile (scipy's `norm.ppf`), for `p` in (0, 1); ±∞ at 0 and 1.
pub(crate) fn ppf(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p == 0.5 {
        return 0.0;
    }
    // Work in the lower tail so the target probability keeps its relative precision.
    let (q, sign) = if p < 0.5 { (p, -1.0) } else { (1.0 - p, 1.0) };
    // Abramowitz & Stegun 26.2.23 (error < 4.5e-4) as the starting point.
    let t = (-2.0 * q.ln()).sqrt();
    let mut x = t
        - (2.515517 + t * (0.802853 + t * 0.010328))
            / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)));
    // x approximates the upper quantile of q; solve sf(x) = q by Halley's method, which
    // triples the number of correct digits per step.
    for _ in 0..4 {
        let err = sf(x) - q;
        let density = (-0.5 * x * x).exp() / (2.0 * PI).sqrt();
        if density == 0.0 {
            break;
        }
        // f(x) = sf(x) − q, f' = −φ, f'' = xφ.
        let u = err / density;
        let step = u / (1.0 - 0.5 * x * u);
        x += step;
        if step.abs() <= f64::EPSILON * x.abs() {
            break;
        }
    }
    sign * x
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn grid(name: &str) -> Vec<(f64, f64)> {
        let reference: Value =
            serde_json::from_str(include_str!("../../tests/data/trend/reference.json")).unwrap();
        reference["normal"][name]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| (pair[0].as_f64().unwrap(), pair[1].as_f64().unwrap()))
            .collect()
    }

    #[test]
    fn erfc_matches_scipy_to_a_few_ulps() {
        let points = grid("erfc");
        assert!(points.len() > 10);
        for (x, want) in points {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 4e-15,
                "erfc({x}) = {got:e}, scipy {want:e}"
            );
        }
    }

    #[test]
    fn ppf_matches_scipy_and_inverts_cdf() {
        let points = grid("ppf");
        assert!(points.len() > 10);
        for (p, want) in points {
            let got = ppf(p);
            let ok = if want == 0.0 {
                got == 0.0
            } else {
                ((got - want) / want).abs() < 1e-14
            };
            assert!(ok, "ppf({p}) = {got:e}, scipy {want:e}");
            // Below 1e-30 the round trip loses more to the rounding of z² inside cdf.
            if (1e-30..0.5).contains(&p) {
                assert!(((cdf(got) - p) / p).abs() < 1e-13, "cdf(ppf({p}))");
            }
        }
    }

    #[test]
    fn edges() {
        assert!(erfc(f64::NAN).is_nan());
        assert_eq!(erfc(40.0), 0.0);
        assert_eq!(erfc(-40.0), 2.0);
        assert_eq!(ppf(0.0), f64::NEG_INFINITY);
        assert_eq!(ppf(1.0), f64::INFINITY);
        assert!(ppf(1.5).is_nan());
        assert_eq!(sf(0.0), 0.5);
    }
}
