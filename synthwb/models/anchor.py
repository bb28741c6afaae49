"""The classical anchor every path model starts from (../shared/DESIGN.md §4, issue "forecast quality").

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

``ModelSpec.anchor == "har"`` (:class:`HarAnchor`) anchors on a classical variance forecast per
horizon instead: a HAR-RV regression on the realised variance of the finest stored bars over the
last hour, day, week and month (:mod:`synthwb.features.realised`, fitted on the training period
and computed causally at every bar as feature columns), interpolated over the path steps and spread
between the horizons by the feature set's hour-of-week profile (``ModelSpec.anchor_profile``). The
same head corrections apply on top, and an untrained model is that classical forecast.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from synthwb.core.errors import SpecError
from synthwb.features.realised import interp_weights

DAY = 86400.0
WEEK = 7 * DAY
SEASON_HARMONICS = 3        # daily harmonics; plus 1 weekly harmonic and a weekend flag
PARKINSON = 4.0 * math.log(2.0)   # E[log(high/low)^2] = 4 ln 2 * variance (Brownian bar)


def ewma_vol(past: Tensor, halflife: float) -> Tensor:
    """EWMA RMS of log returns ``past`` (B, C), newest last, NaN = skipped -> (B,) per-bar vol.

    Weights ``0.5 ** (age / halflife)`` with the newest return weighing 1, ``age`` counted over
    the returns that are present (a return across a gap is left out, not aged), normalised: the
    estimator of :class:`synthwb.forecast.baselines.GBMEWMA` on the same bars.
    """
    return ewma_ms(past, halflife).clamp_min(1e-16).sqrt()


def ewma_ms(x: Tensor, halflife: float) -> Tensor:
    """Exponentially weighted mean of ``x**2`` over the present (finite) entries, newest last."""
    ok = torch.isfinite(x)
    age = (ok.flip(-1).cumsum(-1).flip(-1) - 1).to(x.dtype)                  # 0 for the newest present
    w = torch.pow(torch.tensor(0.5, dtype=x.dtype, device=x.device), age / max(float(halflife), 1e-9)) * ok
    x2 = torch.where(ok, x, torch.zeros_like(x)).square()
    return (w * x2).sum(-1) / w.sum(-1).clamp_min(1e-30)


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
    """Per-step anchor volatility (B, H) from the context returns and the steps' clock times.

    Two learned blend weights (zero at initialisation, so the anchor starts as the plain EWMA)
    move the log-vol towards a fast EWMA (half-life / 8) and towards the range-based
    (Parkinson) EWMA of the context bars' log(high / low), a far less noisy estimate of the same
    volatility: ``log vol = log s + w_fast (log s_fast - log s) + w_range (log s_range - log s)``,
    each ``w`` bounded to (-2, 2)."""

    def __init__(self, halflife: float, bar_seconds: float, step_seconds: float, horizon: int, seasonal: bool):
        super().__init__()
        self.halflife, self.horizon = float(halflife), int(horizon)
        self.bar_seconds, self.step_seconds = float(bar_seconds), float(step_seconds)
        self.blend = nn.Parameter(torch.zeros(2))                   # fast EWMA, range EWMA
        self.season = nn.Linear(2 * SEASON_HARMONICS + 3, 1) if seasonal else None
        if self.season is not None:
            nn.init.zeros_(self.season.weight)
            nn.init.zeros_(self.season.bias)

    def forward(self, past: Tensor, t0_s: Tensor | None, past_range: Tensor | None = None) -> Tensor:
        past = past.float()
        slow = torch.log(ewma_ms(past, self.halflife).clamp_min(1e-16))             # (B,) log per-bar variance
        fast = torch.log(ewma_ms(past, max(1.0, self.halflife / 8)).clamp_min(1e-16))
        w = 2.0 * torch.tanh(self.blend / 2.0)
        log_v = slow + w[0] * (fast - slow)
        if past_range is not None:
            rng = torch.log((ewma_ms(past_range.float(), self.halflife) / PARKINSON).clamp_min(1e-16))
            log_v = log_v + w[1] * (rng - slow)
        vol = torch.exp(0.5 * log_v) * math.sqrt(self.step_seconds / self.bar_seconds)   # (B,)
        vol = vol[:, None].expand(-1, self.horizon)
        if self.season is not None and t0_s is not None:
            f = season_features(t0_s, self.horizon, self.step_seconds).to(vol.dtype)
            # log-multiplier bounded to [-1.5, 1.5] (x0.22 .. x4.5), zero at initialisation
            vol = vol * torch.exp(1.5 * torch.tanh(self.season(f)[..., 0] / 1.5))
        return vol


class HarAnchor(nn.Module):
    """Per-step anchor volatility (B, H) from a classical variance forecast per horizon
    (``ModelSpec.anchor == "har"``).

    ``anchor_x`` (B, K) holds, for each knot ``h_k`` of :data:`synthwb.features.realised.HAR_KNOTS`,
    the log of the forecast mean variance per day over the next ``h_k`` (the ``har_lv_*`` feature
    columns at the origin bar, unscaled). The mean variance per second to any time ``T`` is
    interpolated linearly in log time between the knots (flat outside them), the cumulative
    variance is ``V(T) = A(T) T``, and step ``j``'s variance is ``V(j dt) - V((j - 1) dt)``
    (floored at a tenth of ``A(j dt) dt``). So at initialisation the anchor's variance summed to
    any knot is exactly the classical forecast for that horizon. A learned intraday / weekly
    log-vol profile (zero at initialisation, as in :class:`Anchor`) multiplies it."""

    def __init__(self, knots_s, step_seconds: float, horizon: int, seasonal: bool, profile=None):
        super().__init__()
        self.horizon, self.step_seconds = int(horizon), float(step_seconds)
        self.knots = tuple(float(k) for k in knots_s)
        self.register_buffer("w", torch.as_tensor(interp_weights(self.knots, step_seconds, horizon),
                                                  dtype=torch.float64), persistent=False)
        self.register_buffer("t_end", (torch.arange(horizon, dtype=torch.float64) + 1.0) * self.step_seconds,
                             persistent=False)
        # the hour-of-week profile (from the spec, not the weights) and each step's knot segment: 0 up to the
        # first knot, k between knots k - 1 and k, K after the last
        flat = profile is None or all(abs(float(x) - 1.0) < 1e-12 for x in profile)
        self.register_buffer("profile", None if flat else torch.as_tensor(profile, dtype=torch.float64),
                             persistent=False)
        self.register_buffer("segment", torch.searchsorted(torch.tensor(self.knots, dtype=torch.float64),
                                                           self.t_end - 1e-6), persistent=False)
        self.season = nn.Linear(2 * SEASON_HARMONICS + 3, 1) if seasonal else None
        if self.season is not None:
            nn.init.zeros_(self.season.weight)
            nn.init.zeros_(self.season.bias)

    def step_variance(self, anchor_x: Tensor) -> Tensor:
        """(B, H) variance per path step from the knots' log daily variances (float64)."""
        if anchor_x.dim() != 2 or anchor_x.shape[1] != len(self.knots):
            raise SpecError(f"the har anchor needs {len(self.knots)} classical forecasts per sample (the "
                            f"har_anchor feature's columns); got shape {tuple(anchor_x.shape)}")
        log_a = anchor_x.double() - math.log(DAY)                          # log variance per second
        a = torch.exp(log_a @ self.w.T)                                     # (B, H) mean variance to T_j
        cum = a * self.t_end
        v = torch.diff(cum, dim=-1, prepend=torch.zeros_like(cum[:, :1]))
        return torch.maximum(v, 0.1 * a * self.step_seconds)

    def shaped_variance(self, anchor_x: Tensor, t0_s: Tensor | None) -> Tensor:
        """:meth:`step_variance` with each knot segment's variance spread over its steps by the hour-of-week
        profile: step ``j`` gets ``v_j p_j`` scaled so that every segment keeps its sum (the variance to each
        knot stays the classical forecast), ``p_j`` the profile at the middle of the step. Between the knots
        (1h, 4h, 24h) the interpolation alone is smooth in time, so a session market's hours (EURUSD: the
        London and New York opens against the Asian night) all got about the same variance."""
        v = self.step_variance(anchor_x)
        if self.profile is None or t0_s is None:
            return v
        mid = t0_s.double()[:, None] + self.t_end[None, :] - 0.5 * self.step_seconds      # (B, H) epoch seconds
        how = torch.remainder(torch.floor(mid / 3600.0).long() + 72, self.profile.numel())  # 0 = Monday 00:00 UTC
        vs = v * self.profile[how]
        seg = self.segment[None, :].expand_as(v)
        n = len(self.knots) + 1
        total = torch.zeros(v.shape[0], n, dtype=v.dtype, device=v.device).scatter_add(1, seg, v)
        shaped = torch.zeros_like(total).scatter_add(1, seg, vs)
        return vs * (total / shaped.clamp_min(1e-300)).gather(1, seg)

    def forward(self, anchor_x: Tensor, t0_s: Tensor | None) -> Tensor:
        vol = self.shaped_variance(anchor_x, t0_s).sqrt().float()
        if self.season is not None and t0_s is not None:
            f = season_features(t0_s, self.horizon, self.step_seconds).to(vol.dtype)
            vol = vol * torch.exp(1.5 * torch.tanh(self.season(f)[..., 0] / 1.5))
        return vol
