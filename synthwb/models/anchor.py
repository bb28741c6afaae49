"""The classical anchor every path model starts from (DESIGN.md §4, issue "forecast quality").

A head alone would start from noise: a constant ``init_vol`` and whatever drift its first layer
gives. Anchored models (``ModelSpec.anchor == "ewma"``) instead start from the classical
estimate a quant would take from the same context window:

- volatility: the exponentially weighted RMS of the context bars' log returns (half-life
  ``anchor_halflife`` bars; returns across a data or session gap are left out), rescaled from
  the bar to the path step by sqrt(step / bar), the same estimator as the ``gbm_ewma`` baseline;
- drift: zero in price (log drift ``-vol^2 / 2`` per step: a martingale, as every baseline).

The head's output is read as a *correction* of that anchor: its increments are multiplied by
``anchor_vol / init_vol`` per sample, so a head that outputs its initial values (zero-initialised
last layer: vol = init_vol, drift = 0) reproduces GBM with EWMA volatility exactly. Training
then learns bounded corrections: a vol multiplier per step, a small drift, tails, and (with
``seasonal``) an intraday / weekly log-vol profile over the path steps' clock times, linear in
a few Fourier terms and zero at initialisation.

A post-hoc calibration (``vol_scale`` and ``drift_shrink``, fitted on the validation split by
the trainer) is held in the model as two buffers and applied last.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

DAY = 86400.0
WEEK = 7 * DAY
SEASON_HARMONICS = 3        # daily harmonics; plus 1 weekly harmonic and a weekend flag


def ewma_vol(past: Tensor, halflife: float) -> Tensor:
    """EWMA RMS of log returns ``past`` (B, C), newest last, NaN = skipped -> (B,) per-bar vol.

    Weights ``0.5 ** (age / halflife)`` with the newest return weighing 1, ``age`` counted over
    the returns that are present (a return across a gap is left out, not aged), normalised: the
    estimator of :class:`synthwb.evaluate.baselines.GBMEWMA` on the same bars.
    """
    ok = torch.isfinite(past)
    age = (ok.flip(-1).cumsum(-1).flip(-1) - 1).to(past.dtype)               # 0 for the newest present
    w = torch.pow(torch.tensor(0.5, dtype=past.dtype, device=past.device), age / max(float(halflife), 1e-9)) * ok
    r2 = torch.where(ok, past, torch.zeros_like(past)).square()
    var = (w * r2).sum(-1) / w.sum(-1).clamp_min(1e-30)
    return var.clamp_min(1e-16).sqrt()


def season_features(t0_s: Tensor, horizon: int, step_seconds: float) -> Tensor:
    """Clock-time features (B, H, 2*SEASON_HARMONICS + 3) of path steps 1..H after ``t0_s``
    (epoch seconds, float64): daily sin/cos harmonics, one weekly harmonic, a weekend flag.

    Each step's features describe the middle of the step (the time its increment accrues)."""
    t = t0_s[:, None].double() + (torch.arange(horizon, device=t0_s.device, dtype=torch.float64) + 0.5)[None, :] * step_seconds
    day = torch.remainder(t, DAY) / DAY * (2 * math.pi)
    week = torch.remainder(t + 4 * DAY, WEEK) / WEEK          # 1970-01-01 was a Thursday: 0 = Monday 00:00
    feats = []
    for k in range(1, SEASON_HARMONICS + 1):
        feats += [torch.sin(k * day), torch.cos(k * day)]
    feats += [torch.sin(2 * math.pi * week), torch.cos(2 * math.pi * week), (week >= 5 / 7).double()]
    return torch.stack(feats, dim=-1)


class Anchor(nn.Module):
    """Per-step anchor volatility (B, H) from the context returns and the steps' clock times."""

    def __init__(self, halflife: float, bar_seconds: float, step_seconds: float, horizon: int, seasonal: bool):
        super().__init__()
        self.halflife, self.horizon = float(halflife), int(horizon)
        self.bar_seconds, self.step_seconds = float(bar_seconds), float(step_seconds)
        self.season = nn.Linear(2 * SEASON_HARMONICS + 3, 1) if seasonal else None
        if self.season is not None:
            nn.init.zeros_(self.season.weight)
            nn.init.zeros_(self.season.bias)

    def forward(self, past: Tensor, t0_s: Tensor | None) -> Tensor:
        vol = ewma_vol(past.float(), self.halflife) * math.sqrt(self.step_seconds / self.bar_seconds)   # (B,)
        vol = vol[:, None].expand(-1, self.horizon)
        if self.season is not None and t0_s is not None:
            f = season_features(t0_s, self.horizon, self.step_seconds).to(vol.dtype)
            # log-multiplier bounded to [-1.5, 1.5] (x0.22 .. x4.5), zero at initialisation
            vol = vol * torch.exp(1.5 * torch.tanh(self.season(f)[..., 0] / 1.5))
        return vol
