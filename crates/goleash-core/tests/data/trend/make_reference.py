#!/usr/bin/env python3
"""Reference values for goleash-core's trend statistics, from scipy and pymannkendall.

Run once, in a throwaway venv, and commit the output:

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install scipy pymannkendall
    /tmp/venv/bin/python make_reference.py > reference.json

The Rust test `tests/trend_reference.rs` recomputes every number from the same series.
P-values are taken from scipy's `norm.sf`/`norm.cdf` on pymannkendall's z rather than from
pymannkendall's own `2*(1-cdf(|z|))`, which rounds to 0 below about 1e-16; the script
checks the two agree wherever the latter is meaningful.
"""

import json
import math
import sys
from importlib import metadata

import numpy as np
import pymannkendall as mk
import scipy
from scipy import special, stats

ALPHAS = [0.95, 0.9, 0.99, 0.05, 0.8]


def every(n, step=5.0):
    return [i * step for i in range(n)]


def with_gaps(rng, n, step=5.0, miss=0.2):
    """Times of a 5 s watch that misses a sample now and then (a slow target)."""
    t, out = 0.0, []
    while len(out) < n:
        t += step
        if rng.random() >= miss:
            out.append(t + rng.uniform(-0.5, 0.5))
    return out


def cases():
    rng = np.random.default_rng(20240611)
    yield "random_normal_50", every(50), rng.normal(100, 5, 50)
    yield "random_poisson_ties_200", every(200), rng.poisson(30, 200)
    yield "unequal_spacing_120", with_gaps(rng, 120), rng.normal(0, 1, 120).cumsum()
    yield "short_3", [0.0, 7.0, 9.5], [4.0, 2.0, 9.0]
    yield "short_4_tied", [0.0, 5.0, 10.0, 15.0], [3.0, 3.0, 3.0, 4.0]
    yield "short_5", every(5), [10.0, 12.0, 11.0, 15.0, 14.0]
    yield "constant_20", every(20), [42.0] * 20
    yield "two_levels_60", every(60), rng.integers(0, 2, 60)
    saw = [50 + 10 * (i % 12) for i in range(240)]
    yield "sawtooth_240", every(240), saw
    spikes = 80 + rng.poisson(2, 300)
    for start in (40, 130, 210):
        spikes[start : start + 6] += 150
    yield "bursty_spikes_300", every(300), spikes
    times = with_gaps(rng, 720)
    leak = [40 + t / 60.0 + rng.normal(0, 3) for t in times]
    yield "slow_leak_noise_720", times, np.round(leak)
    down = [500 - 0.5 * i + rng.normal(0, 4) for i in range(150)]
    yield "decreasing_150", every(150, 10.0), down
    yield "strictly_increasing_100", every(100), [3.0 * i + 7 for i in range(100)]
    yield "large_random_1500", every(1500), rng.normal(0, 1, 1500)
    yield "large_ties_1500", with_gaps(rng, 1500), rng.poisson(3, 1500)


def close(a, b, rel=1e-9):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def reference(name, t, v):
    t = [float(x) for x in t]
    v = [float(x) for x in v]
    r = mk.original_test(np.array(v))
    z = float(r.z)
    p_two = float(2 * stats.norm.sf(abs(z)))
    if r.p > 1e-12:
        assert close(r.p, p_two, 1e-6), (name, r.p, p_two)
    theil = []
    for alpha in ALPHAS:
        res = stats.theilslopes(v, t, alpha=alpha)
        theil.append(
            {
                "alpha": alpha,
                "slope": float(res.slope),
                "intercept": float(res.intercept),
                "low_slope": float(res.low_slope),
                "high_slope": float(res.high_slope),
            }
        )
    return {
        "name": name,
        "t": t,
        "v": v,
        "mann_kendall": {
            "s": int(r.s),
            "var_s": float(r.var_s),
            "z": z,
            "p": p_two,
            "p_increasing": float(stats.norm.sf(z)),
            "p_decreasing": float(stats.norm.cdf(z)),
            "tau": float(r.Tau),
        },
        "theil_sen": theil,
    }


def normal_grid():
    xs = [-3.0, -0.5, 0.0, 1e-8, 0.3, 0.84375, 1.0, 1.7, 1.999, 2.0, 2.5, 3.7, 5.0, 8.0,
          12.0, 20.0, 26.0]
    ps = [1e-300, 1e-30, 1e-9, 0.001, 0.005, 0.025, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.9,
          0.975, 0.999, 1 - 1e-10]
    return {
        "erfc": [[x, float(special.erfc(x))] for x in xs],
        "ppf": [[p, float(stats.norm.ppf(p))] for p in ps],
    }


def main():
    out = {
        "generator": "make_reference.py",
        "versions": {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "pymannkendall": metadata.version("pymannkendall"),
        },
        "normal": normal_grid(),
        "series": [reference(*c) for c in cases()],
    }
    json.dump(out, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
