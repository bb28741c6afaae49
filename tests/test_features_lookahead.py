"""No look-ahead, for EVERY registered feature: appending future bars leaves past values unchanged.

Also: each feature makes exactly the columns it declares, and nothing non-finite leaves it.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from synthwb.features.compute import compute_features
from synthwb.features.microstructure import resample_with_micro
from synthwb.features.registry import FEATURES, FeatureContext, FeatureSpec, makes_of

T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOURS, CUT = 120, 80  # 120 hourly bars from 1-minute bars; the past is the first 80


def _fine(seed: int, n_hours: int = HOURS) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_hours * 60
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.0015, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, n))
    vol = rng.uniform(0, 5, n) * (rng.uniform(size=n) > 0.05)
    ts = pl.datetime_range(T0, T0 + timedelta(minutes=n - 1), "1m", eager=True, time_zone="UTC")
    return pl.DataFrame({"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": vol}
                        ).with_columns(pl.col("ts").dt.cast_time_unit("us"))


FINE = _fine(1)
REF_FINE = _fine(2)
FIT_END = T0 + timedelta(hours=50)


def _compute(name: str, hours: int) -> tuple[pl.DataFrame, FeatureSpec]:
    end = T0 + timedelta(hours=hours)
    fine = FINE.filter(pl.col("ts") < end)
    ref = resample_with_micro(REF_FINE.filter(pl.col("ts") < end), "1h", "crypto").select(
        "ts", "open", "high", "low", "close", "volume")
    coarse = resample_with_micro(fine, "1h", "crypto").select("ts", "open", "high", "low", "close", "volume")
    entry = FEATURES.get(name)
    refs = ["ETH"] if entry.meta.get("refs") else []
    spec = FeatureSpec(freq="1h", features=[{"name": name, "params": {}}], references=refs, dropna=False)
    ctx = FeatureContext("crypto", "1h", fine=fine, references={"ETH": ref} if refs else {}, fit_end=FIT_END)
    return compute_features(coarse, spec, ctx), spec


@pytest.mark.parametrize("name", FEATURES.names())
def test_no_look_ahead(name):
    short, spec = _compute(name, CUT)
    full, _ = _compute(name, HOURS)
    cols = spec.columns()
    assert cols, name
    assert short.height == CUT and full.height == HOURS
    assert short["ts"].to_list() == full["ts"][:CUT].to_list()
    past = full.head(CUT)
    for c in cols:
        a, b = short[c].to_numpy().astype(float), past[c].to_numpy().astype(float)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{name}.{c}: warm-up changed")
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=f"{name}.{c}")
    # and the last rows carry real values (the comparison above is not vacuous)
    assert past.tail(10).select(cols).null_count().sum_horizontal()[0] == 0, name


@pytest.mark.parametrize("name", FEATURES.names())
def test_makes_declared_columns_and_only_finite(name):
    full, spec = _compute(name, HOURS)
    entry = FEATURES.get(name)
    assert spec.columns() == makes_of(entry, entry.defaults(), spec.references)
    assert full.columns == ["ts", "open", "high", "low", "close", "volume", *spec.columns()]
    vals = full.select(spec.columns()).drop_nulls().to_numpy()
    assert len(vals) > 0 and np.isfinite(vals).all(), name


def test_truncating_at_every_hour_keeps_the_last_value():
    """A stronger check on a price-only family: the value at bar t equals the last value of
    the frame computed on bars 0..t."""
    spec = FeatureSpec(freq="1h", features=["macd", "rsi", "bollinger", "stochastic", "psar"], dropna=False)
    coarse = resample_with_micro(FINE, "1h", "crypto").select("ts", "open", "high", "low", "close", "volume")
    full = compute_features(coarse, spec)
    for t in (40, 60, 99):
        part = compute_features(coarse.head(t + 1), spec)
        for c in spec.columns():
            assert part[c][-1] == pytest.approx(full[c][t], rel=1e-9), c
