"""CRPS family: against a brute-force O(n^2) reference, properscoring, and torch autograd."""
from __future__ import annotations

import numpy as np
import properscoring as ps
import pytest
import torch

from synthwb.core.errors import SpecError
from synthwb.scoring.crps import (
    crps_almost_fair,
    crps_almost_fair_torch,
    crps_ensemble,
    crps_ensemble_torch,
    crps_fair,
    crps_gaussian,
)


def brute(x: np.ndarray, y: float, spread_div: float | None = None) -> float:
    """mean|x_i - y| - sum_ij |x_i - x_j| / spread_div (default 2 n^2), written out in O(n^2)."""
    n = len(x)
    div = 2 * n * n if spread_div is None else spread_div
    a = sum(abs(xi - y) for xi in x) / n
    b = sum(abs(xi - xj) for xi in x for xj in x) / div
    return a - b


def test_hand_case():
    # x = {0, 2}, y = 1: mean|x-y| = 1, sum_ij|xi-xj| = 4, / (2*4) = 0.5  -> 0.5
    assert crps_ensemble([0.0, 2.0], 1.0) == pytest.approx(0.5)
    # single member: CRPS = |x - y|
    assert crps_ensemble([3.0], 1.0) == pytest.approx(2.0)
    # fair: spread / (2 n (n-1)) = 4 / 4 = 1 -> 0.0
    assert crps_fair([0.0, 2.0], 1.0) == pytest.approx(0.0)


def test_against_brute_force_and_properscoring():
    rng = np.random.default_rng(1)
    for n in (1, 2, 3, 7, 50):
        x = rng.standard_t(3, size=(6, n)) * 10 + 50
        y = rng.normal(50, 10, size=6)
        ours = crps_ensemble(x, y)
        ref = np.array([brute(x[i], y[i]) for i in range(6)])
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours, ps.crps_ensemble(y, x), rtol=1e-12, atol=1e-12)


def test_axis_and_leading_dims():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 40, 4))  # ensemble on axis 1
    y = rng.normal(size=(3, 4))
    ours = crps_ensemble(x, y, axis=1)
    assert ours.shape == (3, 4)
    ref = ps.crps_ensemble(y, np.moveaxis(x, 1, -1))
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_large_levels_keep_precision():
    rng = np.random.default_rng(3)
    x = 95_000 + rng.normal(0, 300, size=1000)
    y = 95_123.0
    assert crps_ensemble(x, y) == pytest.approx(brute(x - 95_000, y - 95_000), rel=1e-10)


def test_almost_fair_is_mix_and_matches_brute():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 9))
    y = rng.normal(size=5)
    n = 9
    for a in (0.0, 0.3, 0.95, 1.0):
        eps = (1 - a) / n
        # Lang et al. 2024: 1/(2M(M-1)) sum_{j != k} (|x_j - y| + |x_k - y| - (1 - eps)|x_j - x_k|)
        ref = []
        for i in range(5):
            s = sum(abs(x[i, j] - y[i]) + abs(x[i, k] - y[i]) - (1 - eps) * abs(x[i, j] - x[i, k])
                    for j in range(n) for k in range(n) if j != k)
            ref.append(s / (2 * n * (n - 1)))
        np.testing.assert_allclose(crps_almost_fair(x, y, alpha=a), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(crps_almost_fair(x, y, alpha=0.0), crps_ensemble(x, y), rtol=1e-12)
    np.testing.assert_allclose(crps_almost_fair(x, y, alpha=1.0), crps_fair(x, y), rtol=1e-12)
    with pytest.raises(SpecError):
        crps_almost_fair(x, y, alpha=1.5)


def test_nan_propagates():
    assert np.isnan(crps_ensemble([1.0, np.nan], 0.0))
    assert np.isnan(crps_ensemble([1.0, 2.0], np.nan))


def test_gaussian_limit():
    rng = np.random.default_rng(5)
    x = rng.normal(1.0, 2.0, size=200_000)
    assert crps_ensemble(x, 0.5) == pytest.approx(float(crps_gaussian(1.0, 2.0, 0.5)), rel=5e-3)


def test_torch_matches_numpy_and_gradcheck():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(4, 30))
    y = rng.normal(size=4)
    t = crps_ensemble_torch(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(t.numpy(), crps_ensemble(x, y), rtol=1e-12)
    ta = crps_almost_fair_torch(torch.tensor(x), torch.tensor(y), alpha=0.95)
    np.testing.assert_allclose(ta.numpy(), crps_almost_fair(x, y, alpha=0.95), rtol=1e-12)

    xs = torch.tensor(rng.normal(size=(3, 6)), dtype=torch.float64, requires_grad=True)
    ys = torch.tensor(rng.normal(size=3), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: crps_ensemble_torch(a, b), (xs, ys))
    assert torch.autograd.gradcheck(lambda a, b: crps_almost_fair_torch(a, b, 0.95), (xs, ys))


def test_torch_gradient_by_hand():
    # x = {0, 2}, y = 1: d/dx0 of mean|x-y| = -1/2; spread term (|x1-x0|)/4 -> d/dx0 = -1/4
    # CRPS = 0.5*(|x0-y|+|x1-y|) - |x1-x0|/4 -> d/dx0 = -0.5 + 0.25 = -0.25, d/dx1 = +0.25
    x = torch.tensor([[0.0, 2.0]], dtype=torch.float64, requires_grad=True)
    crps_ensemble_torch(x, torch.tensor([1.0], dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[-0.25, 0.25]])
