"""demo_latent: the hidden state it returns is the one that generated the demo bars.

The checks rebuild the generator's returns from the stored closes alone and compare them with
the latent volatility, against figures computed here independently (Student-t quantiles from
scipy, AR(1) coefficients from the half-lives), not read back from synthwb.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from synthwb.core.errors import SpecError
from synthwb.data.demo import demo_frames, demo_latent

YEARS, SEED = 0.02, 3          # about 10,500 minutes
MEAN_REV_HALF_LIFE_MIN = 30 * 1440.0


@pytest.fixture(scope="module")
def btc():
    _, bars = demo_frames(years=YEARS, seed=SEED, symbols=["BTC"])["BTC"]
    return bars, demo_latent("BTC", years=YEARS, seed=SEED)


def _standardised(bars, lat):
    """The generator's shocks eps_i = r_i / sigma_i, rebuilt from consecutive stored closes."""
    minute = ((bars["ts"].dt.epoch("us").to_numpy() - int(lat.start.timestamp() * 1e6)) // 60_000_000).astype(np.int64)
    d = np.log(bars["close"].to_numpy()) - math.log(lat.level)
    theta = 1.0 - 0.5 ** (1.0 / MEAN_REV_HALF_LIFE_MIN)
    ok = np.diff(minute) == 1                          # both minutes stored
    r = (d[1:] - (1.0 - theta) * d[:-1])[ok]
    i = minute[1:][ok]
    return r, lat.sigma[i]


def test_latent_covers_every_minute(btc):
    bars, lat = btc
    n = int(round(YEARS * 365.25 * 1440))
    assert lat.components.shape == (n, 3) and lat.h.shape == lat.season.shape == (n,)
    np.testing.assert_allclose(lat.components.sum(axis=1), lat.h, atol=1e-12)
    assert bars.height < n                             # outages are dropped from the bars, not the latent state
    assert lat.start.isoformat().startswith("2023-01-01")


def test_shocks_have_the_student_t_scale(btc):
    r, sigma = _standardised(*btc)
    z = r / sigma
    # Student-t(4) scaled to unit variance: median |z| = t_4 quantile(0.75) * sqrt(2/4)
    expected = stats.t.ppf(0.75, 4) * math.sqrt(0.5)
    assert abs(np.median(np.abs(z)) / expected - 1.0) < 0.04
    # the latent volatility explains the size of the returns: what is left is unrelated to it
    assert np.corrcoef(np.log(np.abs(r) + 1e-300), np.log(sigma))[0, 1] > 0.3
    assert abs(np.corrcoef(np.log(np.abs(z) + 1e-300), np.log(sigma))[0, 1]) < 0.05


def test_a_wrong_volatility_is_detected(btc):
    """The checks above can fail: a constant volatility leaves the clustering in the shocks."""
    r, sigma = _standardised(*btc)
    z = r / np.full_like(sigma, np.sqrt(np.mean(sigma ** 2)))
    assert np.corrcoef(np.log(np.abs(z) + 1e-300), np.log(sigma))[0, 1] > 0.3


def test_fast_component_is_ar1_with_its_half_life(btc):
    _, lat = btc
    x = lat.components[:, 0]
    phi_hat = float(np.dot(x[1:], x[:-1]) / np.dot(x[:-1], x[:-1]))
    assert abs(phi_hat - 0.5 ** (1.0 / 30.0)) < 0.01
    np.testing.assert_allclose(lat.phis, 0.5 ** (1.0 / np.array([30.0, 1440.0, 14_400.0])))


def test_same_seed_same_state_other_seed_other_state(btc):
    _, lat = btc
    again = demo_latent("BTC", years=YEARS, seed=SEED)
    np.testing.assert_array_equal(again.h, lat.h)
    assert not np.allclose(demo_latent("BTC", years=YEARS, seed=SEED + 1).h, lat.h)


def test_only_crypto_symbols():
    with pytest.raises(SpecError, match="crypto symbols"):
        demo_latent("SPY", years=YEARS)
