"""Closed forms of the normal law shared by layers that cannot import each other (features,
scoring): the CRPS of N(mu, sigma^2)."""
from __future__ import annotations

import numpy as np
from scipy.stats import norm


def crps_gaussian(mu, sigma, y) -> np.ndarray:
    """Closed-form CRPS of N(mu, sigma^2) against y (Gneiting & Raftery 2007)."""
    mu, sigma, y = (np.asarray(v, dtype=np.float64) for v in (mu, sigma, y))
    z = (y - mu) / sigma
    return sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
